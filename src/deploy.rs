//! The first invocation of a job: read the image file, register the new revision, update the service.
//!
//! Read top to bottom, `run` is the deploy: each step names what it does and on which resource, and wraps
//! every AWS error with both.

use aws_sdk_ecs::types::{DeploymentControllerType, Service, Tag, TaskDefinition, TaskDefinitionField};
use tracing::info;

use crate::artifact::{self, S3Object};
use crate::checkpoint::Checkpoint;
use crate::clients::Clients;
use crate::error::{AwsError, AwsErrorKind, Error, aws};
use crate::event::{InputArtifact, Job, Params};
use crate::images::{self, ImageUpdate};
use crate::report::{Outcome, Progress, Success};
use crate::rollout::short_task_definition;
use crate::taskdef::{self, Plan};
use crate::token::{self, Token};

/// Deploys the job's images to the service named in its parameters.
pub async fn run(clients: &Clients, job: &Job, params: &Params, checkpoint: &Checkpoint) -> Result<Outcome, Error> {
    let artifact = job.artifact(params.artifact.as_deref())?;
    checkpoint.step(format!("reading {} from input artifact {artifact}", params.file_name));
    let updates = read_image_file(clients, job, artifact, params).await?;

    let target = format!("service {} in cluster {}", params.service, params.cluster);
    checkpoint.step(format!("describing {target}"));
    let service = describe_service(&clients.ecs, &params.cluster, &params.service).await?;
    check_service(&service)?;
    let current = service.task_definition().unwrap_or_default().to_owned();

    checkpoint.step(format!("describing task definition {current}"));
    let (base, tags) = describe_task_definition(&clients.ecs, &current).await?;
    let plan = taskdef::plan(&base, &updates)?;

    if taskdef::registered_by(&tags, &job.id) {
        info!(task_definition = %current, "this job already registered the service's revision (a retry or duplicate delivery); not deploying again");
        return Ok(adopt_current(&service, params, &plan, &current, "already deployed by this job"));
    }
    if !plan.changes_anything() && !params.force_new_deployment {
        info!(task_definition = %current, "the service already runs these images; nothing to deploy");
        return Ok(adopt_current(&service, params, &plan, &current, "the service already runs these images"));
    }

    let new_arn = if plan.changes_anything() {
        checkpoint.step(format!("registering a new revision of {}", short_task_definition(&current)));
        register(&clients.ecs, &base, &tags, &plan, &job.id).await?
    } else {
        current.clone()
    };

    checkpoint.step(format!("updating {target} to {new_arn} (ECS may have applied the update; check the service)"));
    let updated = update_service(&clients.ecs, params, &new_arn).await?;
    let deployment = primary_deployment(&updated, &new_arn);
    info!(task_definition = %new_arn, deployment = deployment.unwrap_or("?"), "service updated");

    let headline = if new_arn == current {
        format!("Forced a new deployment of {} on {target}", short_task_definition(&new_arn))
    } else {
        format!(
            "Registered {} (from {}) and updated {target}",
            short_task_definition(&new_arn),
            short_task_definition(&current)
        )
    };
    outcome(&updated, params, &plan, &new_arn, deployment, headline)
}

/// When the service already runs the revision: follow its deployment if it is still rolling, else succeed.
fn adopt_current(service: &Service, params: &Params, plan: &Plan, current: &str, why: &str) -> Outcome {
    let deployment = primary_deployment(service, current);
    let rolling = service.deployments().iter().any(|d| {
        d.id() == deployment && d.rollout_state() == Some(&aws_sdk_ecs::types::DeploymentRolloutState::InProgress)
    });
    let headline = format!("Nothing new to deploy: {why} ({})", short_task_definition(current));
    if params.wait && rolling {
        outcome(service, params, plan, current, deployment, headline).unwrap_or_else(Outcome::Failed)
    } else {
        Outcome::Succeeded(success(&headline, plan, current, deployment))
    }
}

/// The report after the service points at `arn`: final when not waiting, else a continuation.
fn outcome(
    service: &Service,
    params: &Params,
    plan: &Plan,
    arn: &str,
    deployment: Option<&str>,
    headline: String,
) -> Result<Outcome, Error> {
    if !params.wait {
        return Ok(Outcome::Succeeded(success(&headline, plan, arn, deployment)));
    }
    let deployment = deployment.ok_or_else(|| Error::NoPrimaryDeployment { service: params.service.clone() })?;
    let started_at = now();
    let token = Token {
        v: token::VERSION,
        cluster: service.cluster_arn().unwrap_or(&params.cluster).to_owned(),
        service: service.service_arn().unwrap_or(&params.service).to_owned(),
        deployment_id: deployment.to_owned(),
        task_definition_arn: arn.to_owned(),
        started_at,
        deadline: started_at + i64::from(params.timeout_minutes) * 60,
        timeout_minutes: params.timeout_minutes,
        polls: 0,
    };
    let summary = format!(
        "{headline}; following deployment {deployment} (timeout {} min).\n{}",
        params.timeout_minutes,
        describe_plan(plan)
    );
    Ok(Outcome::InProgress(Progress { token: token.encode()?, summary, percent: 0, external_id: Some(arn.to_owned()) }))
}

fn success(headline: &str, plan: &Plan, arn: &str, deployment: Option<&str>) -> Success {
    let mut variables = task_definition_variables(arn);
    if let Some(id) = deployment {
        variables.push(("DeploymentId".into(), id.to_owned()));
    }
    Success { summary: format!("{headline}.\n{}", describe_plan(plan)), external_id: Some(arn.to_owned()), variables }
}

/// `TaskDefinitionArn`, `TaskDefinitionFamily`, `TaskDefinitionRevision`.
pub fn task_definition_variables(arn: &str) -> Vec<(String, String)> {
    let (family, revision) = taskdef::family_and_revision(arn);
    vec![
        ("TaskDefinitionArn".into(), arn.to_owned()),
        ("TaskDefinitionFamily".into(), family),
        ("TaskDefinitionRevision".into(), revision),
    ]
}

/// One line per container (old image → new image), then warnings.
fn describe_plan(plan: &Plan) -> String {
    let mut lines: Vec<String> = plan
        .changes
        .iter()
        .map(|c| match c.from.as_deref() {
            Some(from) if from == c.to => format!("{}: {} (unchanged)", c.container, c.to),
            Some(from) => format!("{}: {from} → {}", c.container, c.to),
            None => format!("{}: (no image) → {}", c.container, c.to),
        })
        .collect();
    lines.extend(plan.warnings());
    lines.join("\n")
}

async fn read_image_file(
    clients: &Clients,
    job: &Job,
    artifact: &InputArtifact,
    params: &Params,
) -> Result<Vec<ImageUpdate>, Error> {
    let s3 = clients.artifact_s3(&job.credentials);
    let mut object = S3Object::new(&s3, &artifact.bucket, &artifact.key);
    let bytes = artifact::read_file(&mut object, &params.file_name).await.map_err(|source| Error::Artifact {
        artifact: Box::new(artifact.clone()),
        file: params.file_name.clone(),
        source: Box::new(source),
    })?;
    images::parse(&bytes, params.container_name.as_deref()).map_err(|source| Error::ImageFile {
        artifact: artifact.name.clone(),
        file: params.file_name.clone(),
        source,
    })
}

/// DescribeServices for one service; a missing service is a configuration error, not an empty answer.
pub async fn describe_service(ecs: &aws_sdk_ecs::Client, cluster: &str, service: &str) -> Result<Service, Error> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(aws("DescribeServices", format!("service {service} in cluster {cluster}")))?;
    if let Some(found) = out.services().first() {
        return Ok(found.clone());
    }
    let reason = out
        .failures()
        .first()
        .map(|f| {
            format!("{}{}", f.reason().unwrap_or("MISSING"), f.detail().map(|d| format!(": {d}")).unwrap_or_default())
        })
        .unwrap_or_else(|| "ECS returned neither the service nor a failure".into());
    Err(Error::ServiceMissing { cluster: cluster.to_owned(), service: service.to_owned(), reason })
}

fn check_service(service: &Service) -> Result<(), Error> {
    let name = service.service_name().unwrap_or("?").to_owned();
    match service.status() {
        Some("ACTIVE") | None => {}
        Some(status) => {
            return Err(Error::ServiceNotActive { service: name, status: status.to_owned() });
        }
    }
    match service.deployment_controller().map(|c| c.r#type()) {
        None | Some(DeploymentControllerType::Ecs) => {}
        Some(other) => {
            return Err(Error::Controller { service: name, controller: other.as_str().to_owned() });
        }
    }
    if service.task_definition().is_none_or(str::is_empty) {
        return Err(Error::Aws {
            action: "DescribeServices",
            resource: format!("service {name}"),
            source: AwsError::unexpected(AwsErrorKind::Other, "the service has no task definition"),
        });
    }
    Ok(())
}

async fn describe_task_definition(ecs: &aws_sdk_ecs::Client, arn: &str) -> Result<(TaskDefinition, Vec<Tag>), Error> {
    let out = ecs
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(aws("DescribeTaskDefinition", format!("task definition {arn}")))?;
    let tags = out.tags().to_vec();
    let td = out.task_definition.ok_or_else(|| Error::Aws {
        action: "DescribeTaskDefinition",
        resource: format!("task definition {arn}"),
        source: AwsError::unexpected(AwsErrorKind::Other, "the answer holds no task definition"),
    })?;
    match td.status().map(|s| s.as_str()) {
        Some("ACTIVE") | None => Ok((td, tags)),
        Some(status) => Err(Error::TaskDefinitionInactive { arn: arn.to_owned(), status: status.to_owned() }),
    }
}

async fn register(
    ecs: &aws_sdk_ecs::Client,
    base: &TaskDefinition,
    tags: &[Tag],
    plan: &Plan,
    job_id: &str,
) -> Result<String, Error> {
    let family = base.family().unwrap_or("?").to_owned();
    let out = taskdef::register_request(ecs.register_task_definition(), base, tags, plan, job_id)
        .send()
        .await
        .map_err(aws("RegisterTaskDefinition", format!("task definition family {family}")))?;
    out.task_definition().and_then(|td| td.task_definition_arn()).map(str::to_owned).ok_or_else(|| Error::Aws {
        action: "RegisterTaskDefinition",
        resource: format!("task definition family {family}"),
        source: AwsError::unexpected(AwsErrorKind::Other, "the answer holds no task definition ARN"),
    })
}

async fn update_service(ecs: &aws_sdk_ecs::Client, params: &Params, arn: &str) -> Result<Service, Error> {
    let out = ecs
        .update_service()
        .cluster(&params.cluster)
        .service(&params.service)
        .task_definition(arn)
        .force_new_deployment(params.force_new_deployment)
        .send()
        .await
        .map_err(aws("UpdateService", format!("service {} in cluster {}", params.service, params.cluster)))?;
    Ok(out.service.unwrap_or_else(|| Service::builder().build()))
}

/// The id of the PRIMARY deployment, when it runs `arn`.
fn primary_deployment<'a>(service: &'a Service, arn: &str) -> Option<&'a str> {
    service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY") && d.task_definition() == Some(arn))
        .and_then(|d| d.id())
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
