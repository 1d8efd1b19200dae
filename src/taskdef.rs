//! The new task definition revision: the service's current one with new images. Pure.
//!
//! Every field RegisterTaskDefinition accepts is carried over from DescribeTaskDefinition's answer (not a
//! short fixed list), with the tags, so a deploy changes the images and nothing else.

use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::{Tag, TaskDefinition};

use crate::config::overrides::Overrides;
use crate::images::{self, ImageUpdate, Pin};

/// The tag that marks a revision with the CodePipeline job that registered it (makes retries idempotent).
pub const JOB_TAG: &str = "codepipeline-ecs-deployer:job-id";
/// ECS allows 50 tags per resource.
const MAX_TAGS: usize = 50;

/// One container's image change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub container: String,
    pub from: Option<String>,
    pub to: String,
}

/// What a new revision changes on its base: the images, and the overrides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Edit {
    pub changes: Vec<Change>,
    /// Changes beyond the images (`containers`, `cpu`, …), applied to the request body.
    pub overrides: Overrides,
}

/// A container the image file names that the task definition does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task definition {task_definition} has no container named {missing}; its containers are: {available}")]
pub struct UnknownContainers {
    pub task_definition: String,
    pub missing: String,
    pub available: String,
}

impl Edit {
    /// Whether any image differs from what the base revision runs, or anything else is overridden.
    pub fn changes_anything(&self) -> bool {
        self.changes.iter().any(|c| c.from.as_deref() != Some(c.to.as_str())) || !self.overrides.is_empty()
    }

    /// The images this plan sets that the base revision does not run.
    pub fn new_images(&self) -> Vec<String> {
        self.changes.iter().filter(|c| c.from.as_deref() != Some(c.to.as_str())).map(|c| c.to.clone()).collect()
    }

    /// Warnings for the execution summary: floating tags break "one commit → one image → one revision".
    pub fn warnings(&self) -> Vec<String> {
        self.changes
            .iter()
            .filter_map(|c| match images::pin(&c.to) {
                Pin::Untagged => Some(format!(
                    "warning: {} has no tag (Docker reads it as \"latest\"); tag images with the commit SHA so every \
                     revision names one image and can be rolled back to",
                    c.container
                )),
                Pin::Tag("latest") => Some(format!(
                    "warning: {} uses the tag \"latest\", which moves; tag images with the commit SHA so every \
                     revision names one image and can be rolled back to",
                    c.container
                )),
                _ => None,
            })
            .collect()
    }
}

/// Checks every named container exists in `base` and records the image changes.
pub fn edit(base: &TaskDefinition, updates: &[ImageUpdate]) -> Result<Edit, UnknownContainers> {
    let containers = base.container_definitions();
    let missing: Vec<&str> = updates
        .iter()
        .map(|u| u.container.as_str())
        .filter(|name| !containers.iter().any(|c| c.name() == Some(*name)))
        .collect();
    if !missing.is_empty() {
        let quote = |names: Vec<&str>| names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
        return Err(UnknownContainers {
            task_definition: arn_or_family(base),
            missing: quote(missing),
            available: quote(containers.iter().filter_map(|c| c.name()).collect()),
        });
    }
    let changes = updates
        .iter()
        .map(|u| Change {
            container: u.container.clone(),
            from: containers
                .iter()
                .find(|c| c.name() == Some(u.container.as_str()))
                .and_then(|c| c.image())
                .map(str::to_owned),
            to: u.image.clone(),
        })
        .collect();
    Ok(Edit { changes, ..Edit::default() })
}

/// Fills a RegisterTaskDefinition request: `base` with the plan's images, `base_tags` plus the job tag.
pub fn register_request(
    request: RegisterTaskDefinitionFluentBuilder,
    base: &TaskDefinition,
    base_tags: &[Tag],
    plan: &Edit,
    job_id: &str,
) -> RegisterTaskDefinitionFluentBuilder {
    let containers = base
        .container_definitions()
        .iter()
        .map(|c| match plan.changes.iter().find(|ch| c.name() == Some(ch.container.as_str())) {
            Some(change) => {
                let mut c = c.clone();
                c.image = Some(change.to.clone());
                c
            }
            None => c.clone(),
        })
        .collect();
    // Elastic Inference is retired, but a revision that still names accelerators must keep them.
    #[allow(deprecated)]
    let request = request.set_inference_accelerators(non_empty(base.inference_accelerators()));
    request
        .set_family(base.family().map(str::to_owned))
        .set_task_role_arn(base.task_role_arn().map(str::to_owned))
        .set_execution_role_arn(base.execution_role_arn().map(str::to_owned))
        .set_network_mode(base.network_mode().cloned())
        .set_container_definitions(Some(containers))
        .set_volumes(non_empty(base.volumes()))
        .set_placement_constraints(non_empty(base.placement_constraints()))
        .set_requires_compatibilities(non_empty(base.requires_compatibilities()))
        .set_cpu(base.cpu().map(str::to_owned))
        .set_memory(base.memory().map(str::to_owned))
        .set_tags(tags(base_tags, job_id))
        .set_pid_mode(base.pid_mode().cloned())
        .set_ipc_mode(base.ipc_mode().cloned())
        .set_proxy_configuration(base.proxy_configuration().cloned())
        .set_ephemeral_storage(base.ephemeral_storage().cloned())
        .set_runtime_platform(base.runtime_platform().cloned())
        .set_enable_fault_injection(base.enable_fault_injection())
}

/// The base revision's tags (less the `aws:` ones, which ECS reserves) with this job's tag set.
fn tags(base: &[Tag], job_id: &str) -> Option<Vec<Tag>> {
    let mut tags: Vec<Tag> = base
        .iter()
        .filter(|t| t.key().is_some_and(|k| !k.to_ascii_lowercase().starts_with("aws:") && k != JOB_TAG))
        .cloned()
        .collect();
    if tags.len() < MAX_TAGS {
        tags.push(Tag::builder().key(JOB_TAG).value(job_id).build());
    } else {
        tracing::warn!(
            "the task definition has {MAX_TAGS} tags already; the new revision is not tagged with the job id"
        );
    }
    Some(tags)
}

/// Whether a revision's tags say `job_id` registered it.
pub fn registered_by(tags: &[Tag], job_id: &str) -> bool {
    tags.iter().any(|t| t.key() == Some(JOB_TAG) && t.value() == Some(job_id))
}

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn arn_or_family(td: &TaskDefinition) -> String {
    td.task_definition_arn().or(td.family()).unwrap_or("(unnamed)").to_owned()
}
