//! The first invocation of a job: read the release, describe the service, plan the revision, register it
//! (once per job, even when the job is delivered twice at the same moment), update the service, and hand
//! over the service deployment to follow.
//!
//! Read top to bottom, `run` is the deploy: each step names what it does and on which resource, and every
//! AWS error is wrapped with both (in [`crate::ecs`]).

use aws_sdk_ecs::types::{DeploymentControllerType, DeploymentRolloutState, Service};
use tracing::{info, warn};

use crate::artifact::{Archive, S3Object, TAIL_BYTES};
use crate::checkpoint::Checkpoint;
use crate::cleanup;
use crate::clients::Clients;
use crate::clock::now;
use crate::deployment;
use crate::diff;
use crate::ecr;
use crate::ecs;
use crate::error::{AwsError, AwsErrorKind, Error};
use crate::event::params;
use crate::event::params::Wait;
use crate::event::params::{DEFAULT_TIMEOUT_MINUTES, MAX_TIMEOUT_MINUTES};
use crate::event::{Job, Params};
use crate::guard::Guard;
use crate::images::{self, ImageUpdate};
use crate::report::{Outcome, Progress, Success};
use crate::taskdef::{self, Plan};
use crate::taskdef_file::{self, FileTaskDefinition};
use crate::text::{family_and_revision, short_arn};
use crate::token::{self, FollowToken, LegacyToken, Mode, Target};

/// Deploys the job's images to the service named in its parameters.
pub async fn run(
    clients: &Clients,
    guard: &Guard,
    job: &Job,
    params: &Params,
    checkpoint: &Checkpoint,
) -> Result<Outcome, Error> {
    let ecs = &clients.ecs;
    let (params, updates, file) = read_release(clients, guard, job, params, checkpoint).await?;
    let params = &params;

    let target = format!("service {} in cluster {}", params.service, params.cluster);
    checkpoint.step(format!("describing {target}"));
    let service = ecs::describe_service(ecs, &params.cluster, &params.service).await?;
    check_service(&service)?;
    let current = service.task_definition().unwrap_or_default().to_owned();

    checkpoint.step(format!("describing task definition {current}"));
    let running = ecs::describe_task_definition(ecs, &current).await?;
    // The revision to build on: the running one, or the task definition file's.
    let base = match &file {
        Some((_, f)) => ecs::Described { td: f.td.clone(), tags: f.tags.clone(), raw: Some(f.raw.clone()) },
        None => running.clone(),
    };
    let mut plan = Plan { overrides: params.overrides.clone(), ..taskdef::plan(&base.td, &updates)? };
    plan.overrides.check(&base.td).map_err(|e| Error::Params(e.into()))?;
    // A task definition file's images are all new; otherwise the ones that differ from what runs.
    let new_images = match &file {
        Some((name, _)) => check_file_images(name, &base, &plan, &params.file_name)?,
        None => plan.new_images(),
    };
    plan.verified = check_new_images(clients, guard, params, checkpoint, new_images).await?;
    if params.dry_run {
        return Ok(Outcome::Succeeded(dry_run(&service, &running, &base, &plan, params)));
    }
    let release = Release::new(params, Some(&plan), &service, Mode::Deploy);

    if taskdef::registered_by(&running.tags, &job.id) {
        info!(task_definition = %current, "this job already registered the service's revision (a retry or duplicate delivery); not deploying again");
        return adopt(clients, &service, &release, "already deployed by this job").await;
    }
    if !plan.changes_anything() && !params.force_new_deployment && file.is_none() {
        checkpoint.step(format!("checking the current deployment of {target}"));
        match last_deployment(clients, &service).await? {
            Last::Ended { failed: None } => {
                info!(task_definition = %current, "the service already runs these images; nothing to deploy");
                return adopt(clients, &service, &release, "the service already runs these images").await;
            }
            Last::Running => {
                return adopt(clients, &service, &release, "the service is already deploying these images").await;
            }
            Last::Ended { failed: Some(status) } => {
                // A pipeline "Retry" after a failed deploy: deploy the wanted revision again.
                info!(task_definition = %current, status = %status, "the service's last deployment did not succeed; deploying again");
                checkpoint.step(format!("updating {target} (forcing a new deployment; ECS may have applied it)"));
                let updated = ecs::update_service(ecs, &params.cluster, &params.service, &current, true).await?;
                let headline = format!(
                    "The service's last deployment of {} ended {status}; started a new deployment of it on {target}",
                    short_arn(&current)
                );
                return started(clients, &updated, &release, &current, headline).await;
            }
        }
    }

    let release = Release { previous: Some(current.clone()), ..release };
    let (new_arn, ours, carried) = if plan.changes_anything() || file.is_some() {
        checkpoint.step(format!("registering a new revision of {}", short_arn(&current)));
        register_once(ecs, &base, &plan, &job.id).await?
    } else {
        (current.clone(), true, Vec::new())
    };
    if !ours {
        // Another delivery of this job registered the revision: it may have updated the service too.
        checkpoint.step(format!("describing {target}"));
        let service = ecs::describe_service(ecs, &params.cluster, &params.service).await?;
        if service.task_definition() == Some(new_arn.as_str()) {
            info!(task_definition = %new_arn, "another delivery of this job already updated the service; following its deployment");
            return adopt(clients, &service, &release, "deployed by another delivery of this job").await;
        }
    }

    checkpoint.step(format!("updating {target} to {new_arn} (ECS may have applied the update; check the service)"));
    let updated =
        ecs::update_service(ecs, &params.cluster, &params.service, &new_arn, params.force_new_deployment).await?;
    let mut headline = if new_arn == current {
        format!("Forced a new deployment of {} on {target}", short_arn(&new_arn))
    } else {
        match &file {
            Some((name, f)) => {
                let family = f.td.family().unwrap_or("?");
                let new_family = if family_and_revision(&current).0 == family {
                    String::new()
                } else {
                    format!("; a new family for this service, which ran family {}", family_and_revision(&current).0)
                };
                format!(
                    "Registered {} from {name} (the service ran {}{new_family}) and updated {target}",
                    short_arn(&new_arn),
                    short_arn(&current)
                )
            }
            None => format!("Registered {} (from {}) and updated {target}", short_arn(&new_arn), short_arn(&current)),
        }
    };
    if !carried.is_empty() {
        headline.push_str(&format!(
            " (kept task definition members this function's SDK does not model: {})",
            carried.join(", ")
        ));
    }
    started(clients, &updated, &release, &new_arn, headline).await
}

/// What every outcome of a deploy (a release, a promotion, a rollback by revision) needs to know.
pub(crate) struct Release<'a> {
    pub params: &'a Params,
    /// The image changes, when the release has them.
    pub plan: Option<&'a Plan>,
    pub timeout: u32,
    pub timeout_note: Option<String>,
    /// The revision the service ran before this deploy changed it (`None` when this deploy changed nothing).
    pub previous: Option<String>,
    pub mode: Mode,
}

impl<'a> Release<'a> {
    /// The timeout comes from `timeoutMinutes`, or from the service's deployment configuration.
    pub fn new(params: &'a Params, plan: Option<&'a Plan>, service: &Service, mode: Mode) -> Self {
        let (timeout, timeout_note) = deployment::timeout_minutes(
            params.timeout_minutes,
            DEFAULT_TIMEOUT_MINUTES,
            MAX_TIMEOUT_MINUTES,
            service.deployment_configuration(),
        );
        Self { params, plan, timeout, timeout_note, previous: None, mode }
    }

    /// The continuation token that follows `target` from `now` until this release's timeout.
    pub fn token(&self, target: Target, now: i64) -> FollowToken {
        FollowToken {
            v: token::VERSION,
            targets: vec![target],
            started: now,
            deadline: now + i64::from(self.timeout) * 60,
            timeout: self.timeout,
            on_timeout: self.params.on_timeout,
            polls: 0,
            mode: self.mode,
            paused: self.params.wait == Wait::Paused,
            keep: if self.mode == Mode::Deploy { self.params.keep_revisions } else { None },
        }
    }
}

/// Registers the plan's revision at most once per job: a revision this job already registered is reused,
/// and when a concurrent delivery of the same job registered one at the same moment, the older one wins
/// and ours is deregistered. Returns the revision, whether this delivery registered it, and the members
/// carried over that our SDK does not model.
pub(crate) async fn register_once(
    ecs: &aws_sdk_ecs::Client,
    base: &ecs::Described,
    plan: &Plan,
    job_id: &str,
) -> Result<(String, bool, Vec<String>), Error> {
    let family = base.td.family().unwrap_or_default();
    let current = u64::try_from(base.td.revision()).unwrap_or(0);
    if let Some(found) = ecs::revisions_of_job(ecs, family, current, job_id, None).await?.into_iter().next() {
        info!(task_definition = %found, "this job registered a revision already (an earlier attempt); reusing it");
        return Ok((found, false, Vec::new()));
    }
    let ecs::Registered { arn: ours, carried } = ecs::register(ecs, base, plan, job_id).await?;
    let all = ecs::revisions_of_job(ecs, family, current, job_id, Some(&ours)).await?;
    match all.into_iter().next() {
        Some(winner) if winner != ours => {
            warn!(ours = %ours, kept = %winner, "a concurrent delivery of this job registered a revision too; keeping the older one");
            if let Err(e) = ecs::deregister(ecs, &ours).await {
                warn!(error = %e, "could not deregister the duplicate revision");
            }
            Ok((winner, false, carried))
        }
        _ => Ok((ours, true, carried)),
    }
}

/// How the service's current deployment ended, when nothing new is to be deployed.
enum Last {
    Running,
    Ended { failed: Option<String> },
}

async fn last_deployment(clients: &Clients, service: &Service) -> Result<Last, Error> {
    if let Some(arn) = service.current_service_deployment() {
        let Some(sd) = ecs::describe_service_deployment(&clients.ecs, arn).await? else {
            return Ok(Last::Ended { failed: None });
        };
        return Ok(match deployment::status(&sd) {
            "SUCCESSFUL" => Last::Ended { failed: None },
            status @ ("STOPPED"
            | "ROLLBACK_SUCCESSFUL"
            | "ROLLBACK_FAILED"
            | "STOP_REQUESTED"
            | "ROLLBACK_REQUESTED"
            | "ROLLBACK_IN_PROGRESS") => Last::Ended { failed: Some(status.to_owned()) },
            _ => Last::Running,
        });
    }
    // Deployments created before service deployments existed: the PRIMARY deployment's rollout state.
    let primary = service.deployments().iter().find(|d| d.status() == Some("PRIMARY"));
    Ok(match primary.and_then(|d| d.rollout_state()) {
        Some(DeploymentRolloutState::Failed) => Last::Ended { failed: Some("FAILED".into()) },
        Some(DeploymentRolloutState::InProgress) => Last::Running,
        _ => Last::Ended { failed: None },
    })
}

/// The service already runs the revision: follow its current deployment when it is still going, else succeed.
async fn adopt(clients: &Clients, service: &Service, release: &Release<'_>, why: &str) -> Result<Outcome, Error> {
    let current = service.task_definition().unwrap_or_default();
    let headline = format!("Nothing new to deploy: {why} ({})", short_arn(current));
    let running = match service.current_service_deployment() {
        Some(arn) => ecs::describe_service_deployment(&clients.ecs, arn)
            .await?
            .is_some_and(|sd| !matches!(deployment::status(&sd), "SUCCESSFUL")),
        None => service
            .deployments()
            .iter()
            .any(|d| d.status() == Some("PRIMARY") && d.rollout_state() != Some(&DeploymentRolloutState::Completed)),
    };
    if release.params.wait != Wait::No && running {
        return started(clients, service, release, current, headline).await;
    }
    let deployment = ecs::primary_deployment(service, current);
    Ok(Outcome::Succeeded(success(&headline, release, current, deployment, service.current_service_deployment())))
}

/// The report once the service points at `arn`: final when not waiting, else the token to follow.
pub(crate) async fn started(
    clients: &Clients,
    service: &Service,
    release: &Release<'_>,
    arn: &str,
    headline: String,
) -> Result<Outcome, Error> {
    let params = release.params;
    let deployment = ecs::primary_deployment(service, arn).map(str::to_owned);
    let mut sd = service.current_service_deployment().map(str::to_owned);
    if sd.is_none() {
        sd = ecs::find_service_deployment(&clients.ecs, &params.cluster, &params.service, arn, now()).await?;
    }
    info!(task_definition = %arn, service_deployment = sd.as_deref().unwrap_or("?"), deployment = deployment.as_deref().unwrap_or("?"), "service updated");
    if params.wait == Wait::No {
        let mut done = success(&headline, release, arn, deployment.as_deref(), sd.as_deref());
        if let (Some(keep), Mode::Deploy) = (params.keep_revisions, release.mode) {
            let lines =
                cleanup::run(clients, &params.cluster, &params.service, arn, release.previous.as_deref(), keep).await;
            done.summary = std::iter::once(done.summary).chain(lines).collect::<Vec<_>>().join("\n");
        }
        return Ok(Outcome::Succeeded(done));
    }
    let started_at = now();
    let (token, following) = match (&sd, &deployment) {
        (Some(sd), _) => {
            let previous = release.previous.as_deref().map(|p| short_arn(p).to_owned());
            let target = Target::new(sd.clone(), short_arn(arn).to_owned(), previous, deployment.clone(), started_at);
            let token = release.token(target, started_at);
            let strategy = deployment::strategy(service.deployment_configuration());
            (token.encode()?, format!("following {strategy} service deployment {}", short_arn(sd)))
        }
        // No service deployment (older services, or a controller that reports none): DescribeServices.
        (None, Some(id)) => {
            let token = LegacyToken {
                v: 1,
                cluster: service.cluster_arn().unwrap_or(&params.cluster).to_owned(),
                service: service.service_arn().unwrap_or(&params.service).to_owned(),
                deployment_id: id.clone(),
                task_definition_arn: arn.to_owned(),
                started_at,
                deadline: started_at + i64::from(release.timeout) * 60,
                timeout_minutes: release.timeout,
                polls: 0,
            };
            (token.encode()?, format!("following deployment {id}"))
        }
        (None, None) => return Err(Error::NoPrimaryDeployment { service: params.service.clone() }),
    };
    let mut summary = format!("{headline}; {following} (timeout {} min).", release.timeout);
    if let Some(note) = &release.timeout_note {
        summary.push('\n');
        summary.push_str(note);
    }
    if let Some(plan) = release.plan {
        summary.push('\n');
        summary.push_str(&describe_plan(plan));
    }
    Ok(Outcome::InProgress(Progress { token, summary, percent: 0, external_id: Some(arn.to_owned()) }))
}

fn success(
    headline: &str,
    release: &Release<'_>,
    arn: &str,
    deployment: Option<&str>,
    service_deployment: Option<&str>,
) -> Success {
    let mut variables = task_definition_variables(arn);
    if let Some(id) = deployment {
        variables.push(("DeploymentId".into(), id.to_owned()));
    }
    if let Some(sd) = service_deployment {
        variables.push(("ServiceDeploymentArn".into(), sd.to_owned()));
    }
    if let Some(previous) = &release.previous {
        variables.push(("PreviousTaskDefinitionArn".into(), previous.clone()));
        if release.mode == Mode::Revert {
            variables.push(("RolledBackFrom".into(), previous.clone()));
        }
    }
    let mut summary = format!("{headline}.");
    if let Some(plan) = release.plan {
        summary.push('\n');
        summary.push_str(&describe_plan(plan));
    }
    Success { summary, external_id: Some(arn.to_owned()), variables }
}

/// `TaskDefinitionArn`, `TaskDefinitionFamily`, `TaskDefinitionRevision`.
pub fn task_definition_variables(arn: &str) -> Vec<(String, String)> {
    let (family, revision) = family_and_revision(arn);
    vec![
        ("TaskDefinitionArn".into(), arn.to_owned()),
        ("TaskDefinitionFamily".into(), family),
        ("TaskDefinitionRevision".into(), revision),
    ]
}

/// One line per container (old image → new image), then warnings.
fn describe_plan(plan: &Plan) -> String {
    let mut lines = image_lines(plan);
    lines.extend(ecr::describe(&plan.verified));
    lines.extend(plan.overrides.describe());
    lines.extend(plan.warnings());
    lines.join("\n")
}

fn image_lines(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .map(|c| match c.from.as_deref() {
            Some(from) if from == c.to => format!("{}: {} (unchanged)", c.container, c.to),
            Some(from) => format!("{}: {from} → {}", c.container, c.to),
            None => format!("{}: (no image) → {}", c.container, c.to),
        })
        .collect()
}

/// Reads the release out of the artifact (from an allowed bucket) in one pass: the deploy file (when
/// `deployFile` names one), merged into the parameters, then the image file the merged parameters name, then
/// the task definition file — all from one opened archive, so that one tail GET serves them when they are in it.
pub(crate) async fn read_release(
    clients: &Clients,
    guard: &Guard,
    job: &Job,
    params: &Params,
    checkpoint: &Checkpoint,
) -> Result<(Params, Vec<ImageUpdate>, Option<(String, FileTaskDefinition)>), Error> {
    let artifact = job.artifact(params.artifact.as_deref())?;
    guard.check_bucket(&artifact.bucket)?;
    let s3 = clients.artifact_s3(&job.credentials);
    let mut object = S3Object::new(&s3, &artifact.bucket, &artifact.key);
    let first = params.deploy_file.as_deref().unwrap_or(&params.file_name);
    checkpoint.step(format!("reading {first} from input artifact {artifact}"));
    let failed = |file: &str| {
        let file = file.to_owned();
        move |source| Error::Artifact { artifact: Box::new(artifact.clone()), file, source: Box::new(source) }
    };
    let mut archive = Archive::open(&mut object, TAIL_BYTES).await.map_err(failed(first))?;
    let params = match &params.deploy_file {
        Some(file) => {
            let content = archive.read(file).await.map_err(failed(file))?;
            let merged = params::with_deploy_file(job.user_parameters.as_deref(), file, &content)?;
            info!(deploy_file = %file, "merged the deploy file into UserParameters");
            merged
        }
        None => params.clone(),
    };
    checkpoint.step(format!("reading {} from input artifact {artifact}", params.file_name));
    let bytes = archive.read(&params.file_name).await.map_err(failed(&params.file_name))?;
    let updates = images::parse(&bytes, params.container_name.as_deref()).map_err(|source| Error::ImageFile {
        artifact: artifact.name.clone(),
        file: params.file_name.clone(),
        source,
    })?;
    let file = match &params.task_definition_file {
        Some(name) => {
            checkpoint.step(format!("reading {name} from input artifact {artifact}"));
            let content = archive.read(name).await.map_err(failed(name))?;
            let parsed = taskdef_file::parse(&content)
                .map_err(|e| Error::TaskDefinitionFile { file: name.clone(), problem: e.problem })?;
            Some((name.clone(), parsed))
        }
        None => None,
    };
    Ok((params, updates, file))
}

/// A task definition file's images once the image file's are applied, none left as a placeholder.
fn check_file_images(name: &str, base: &ecs::Described, plan: &Plan, image_file: &str) -> Result<Vec<String>, Error> {
    let mut images = Vec::new();
    for container in base.td.container_definitions() {
        let cname = container.name().unwrap_or("?");
        let image = plan.changes.iter().find(|c| c.container == cname).map(|c| c.to.as_str()).or(container.image());
        match image {
            Some(image) if !taskdef_file::is_placeholder(image) => images.push(image.to_owned()),
            other => {
                return Err(Error::TaskDefinitionFile {
                    file: name.to_owned(),
                    problem: format!(
                        "leaves container \"{cname}\" with the placeholder image {:?}: {image_file} names no image for it",
                        other.unwrap_or("")
                    ),
                });
            }
        }
    }
    Ok(images)
}

/// The images a release sets (images carried over unchanged were deployed before): each must be allowed, and
/// is looked up in ECR unless `verifyImages` is false.
pub(crate) async fn check_new_images(
    clients: &Clients,
    guard: &Guard,
    params: &Params,
    checkpoint: &Checkpoint,
    mut images: Vec<String>,
) -> Result<Vec<ecr::ImageCheck>, Error> {
    images.sort();
    images.dedup();
    for image in &images {
        guard.check_image(image)?;
    }
    if params.verify_images && !images.is_empty() {
        let count = if images.len() == 1 { "1 image".to_owned() } else { format!("{} images", images.len()) };
        checkpoint.step(format!("looking up {count} in ECR"));
    }
    ecr::verify(clients, images, params.verify_images).await
}

/// `dryRun`: what a deploy would do, with the task definition diff; nothing registered, updated or tagged.
fn dry_run(
    service: &Service,
    running: &ecs::Described,
    base: &ecs::Described,
    plan: &Plan,
    params: &Params,
) -> Success {
    let current = service.task_definition().unwrap_or_default();
    let target = format!("service {} in cluster {}", params.service, params.cluster);
    let mut lines =
        vec![format!("Dry run: nothing was registered, updated or tagged. {target} runs {}.", short_arn(current))];
    let diff = diff::planned(running.raw.as_ref(), base.raw.as_ref(), plan);
    if plan.changes_anything() {
        lines.push(format!(
            "A deploy would register a new revision of {} with these changes and move the service to it:",
            base.td.family().unwrap_or("?")
        ));
        lines.extend(diff);
        lines.extend(ecr::describe(&plan.verified));
        lines.extend(plan.overrides.describe());
    } else if params.force_new_deployment {
        lines.push(format!(
            "A deploy would force a new deployment of {} (no change to the task definition).",
            short_arn(current)
        ));
    } else {
        lines.push("A deploy would change nothing: the service already runs these images.".into());
    }
    lines.extend(plan.warnings());
    let mut variables = task_definition_variables(current);
    variables.push(("DryRun".into(), "true".into()));
    Success { summary: lines.join("\n"), external_id: Some(current.to_owned()), variables }
}

pub(crate) fn check_service(service: &Service) -> Result<(), Error> {
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
