//! Driving a deployment from the pipeline: continue one that waits at a pause hook, roll the service back,
//! or promote an existing revision. Each reads like a script of named steps and ends by handing the service
//! deployment to the follow, as a deploy does.

use aws_sdk_ecs::types::{DeploymentLifecycleHookAction, Service, ServiceDeployment};
use tracing::info;

use crate::checkpoint::Checkpoint;
use crate::clients::Clients;
use crate::clock::now;
use crate::deploy::{self, Release};
use crate::deployment;
use crate::ecs;
use crate::error::Error;
use crate::event::Params;
use crate::event::params::Wait;
use crate::report::{Outcome, Progress, Success};
use crate::text::{short_arn, task_definition_arn};
use crate::token::{Mode, Target};

/// `action: "continue"`: ContinueServiceDeployment at the hook that waits, then follow as a deploy does.
pub async fn continue_deployment(
    clients: &Clients,
    params: &Params,
    checkpoint: &Checkpoint,
) -> Result<Outcome, Error> {
    let ecs = &clients.ecs;
    let target = format!("service {} in cluster {}", params.service, params.cluster);
    checkpoint.step(format!("describing {target}"));
    let service = ecs::describe_service(ecs, &params.cluster, &params.service).await?;
    let arn = match &params.service_deployment_arn {
        Some(arn) => arn.clone(),
        None => service.current_service_deployment().map(str::to_owned).ok_or_else(|| Error::Control {
            what: format!("{target} has no current service deployment to continue"),
            fix: "deploy first, with \"wait\": \"paused\"",
        })?,
    };
    checkpoint.step(format!("describing service deployment {}", short_arn(&arn)));
    let sd = ecs::describe_service_deployment(ecs, &arn).await?.ok_or_else(|| Error::Control {
        what: format!("service deployment {arn} is not known to ECS"),
        fix: "pass the ServiceDeploymentArn output variable of the deploy action",
    })?;
    let (revision, previous) = revisions_of(ecs, &sd).await;
    let status = deployment::status(&sd);
    if !matches!(status, "PENDING" | "IN_PROGRESS") {
        return Err(Error::Rollout(format!(
            "Service deployment {} of {revision} has ended ({status}), so there is nothing to continue. {}",
            short_arn(&arn),
            ended(&sd, &revision, previous.as_deref())
        )));
    }
    let hook = choose_hook(&sd, params.hook_id.as_deref(), &revision)?;
    checkpoint.step(format!("continuing service deployment {} at hook {hook}", short_arn(&arn)));
    ecs::continue_deployment(ecs, &arn, &hook, DeploymentLifecycleHookAction::Continue).await?;
    info!(service_deployment = %arn, hook = %hook, "continued the deployment");
    let headline = format!(
        "Continued service deployment {} of {revision} at pause hook {hook} ({})",
        short_arn(&arn),
        sd.lifecycle_stage().map(|s| s.as_str()).unwrap_or("?")
    );
    let release = Release::new(params, None, &service, Mode::Deploy);
    follow_from(params, &release, &sd, &revision, previous.as_deref(), headline)
}

/// The hook to continue: the named one, which must await action, or the only one that does.
fn choose_hook(sd: &ServiceDeployment, wanted: Option<&str>, revision: &str) -> Result<String, Error> {
    let hooks = sd.lifecycle_hook_details();
    fn state(h: &aws_sdk_ecs::types::DeploymentLifecycleHookDetail) -> &str {
        h.status().map(|s| s.as_str()).unwrap_or("?")
    }
    let listed = || {
        let list: Vec<String> =
            hooks.iter().map(|h| format!("{} ({})", h.hook_id().unwrap_or("?"), state(h))).collect();
        if list.is_empty() {
            "it reports no lifecycle hooks".to_owned()
        } else {
            format!("its hooks: {}", list.join(", "))
        }
    };
    if let Some(wanted) = wanted {
        let Some(hook) = hooks.iter().find(|h| h.hook_id() == Some(wanted)) else {
            return Err(Error::Control {
                what: format!("service deployment {} has no lifecycle hook {wanted} ({})", short_arn(id(sd)), listed()),
                fix: "pass the HookId output variable of the deploy action, or leave hookId out",
            });
        };
        return match state(hook) {
            "AWAITING_ACTION" => Ok(wanted.to_owned()),
            other => Err(Error::Rollout(format!(
                "Pause hook {wanted} of service deployment {} ({revision}) no longer waits: it is {other} ({}); \
                 nothing was continued.",
                short_arn(id(sd)),
                match other {
                    "SUCCEEDED" => "it was continued already",
                    "FAILED" => "it was rolled back",
                    "TIMED_OUT" => "its timeout expired and applied its timeout action",
                    _ => "it is not waiting for an action",
                }
            ))),
        };
    }
    let waiting: Vec<&str> =
        hooks.iter().filter(|h| state(h) == "AWAITING_ACTION").filter_map(|h| h.hook_id()).collect();
    match waiting.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(Error::Control {
            what: format!("no hook of service deployment {} awaits action ({})", short_arn(id(sd)), listed()),
            fix: "continue only a deployment that waits at a pause hook (deploy with \"wait\": \"paused\")",
        }),
        _ => Err(Error::Control {
            what: format!("several hooks of service deployment {} await action ({})", short_arn(id(sd)), listed()),
            fix: "set \"hookId\" to the one to continue",
        }),
    }
}

/// `action: "rollback"`: roll back a deployment in progress, or deploy the previous (or the given) revision.
pub async fn rollback(clients: &Clients, params: &Params, checkpoint: &Checkpoint) -> Result<Outcome, Error> {
    let ecs = &clients.ecs;
    let target = format!("service {} in cluster {}", params.service, params.cluster);
    checkpoint.step(format!("describing {target}"));
    let service = ecs::describe_service(ecs, &params.cluster, &params.service).await?;
    let current_td = service.task_definition().unwrap_or_default().to_owned();
    let release = Release::new(params, None, &service, Mode::Undo);
    if let Some(arn) = service.current_service_deployment() {
        checkpoint.step(format!("describing service deployment {}", short_arn(arn)));
        if let Some(sd) = ecs::describe_service_deployment(ecs, arn).await? {
            let status = deployment::status(&sd);
            // In progress (or paused): ECS's own rollback, which also restores the service's other settings.
            // Already rolling back, or rolled back by ECS (a failure, or a pause hook that expired): report it.
            let rolling_back = matches!(status, "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS" | "ROLLBACK_SUCCESSFUL");
            if (matches!(status, "PENDING" | "IN_PROGRESS" | "STOP_REQUESTED") || rolling_back)
                && params.task_definition.is_none()
            {
                let (revision, previous) = revisions_of(ecs, &sd).await;
                let headline = if rolling_back {
                    format!(
                        "Service deployment {} of {revision} is already {status} (ECS rolled it back itself); to go \
                         further back, name the revision in \"taskDefinition\"",
                        short_arn(arn)
                    )
                } else {
                    checkpoint.step(format!("rolling back service deployment {}", short_arn(arn)));
                    ecs::roll_back(ecs, arn).await?;
                    info!(service_deployment = %arn, "asked ECS to roll the deployment back");
                    format!(
                        "Asked ECS to roll back service deployment {} of {revision} (StopServiceDeployment ROLLBACK)",
                        short_arn(arn)
                    )
                };
                return follow_from(params, &release, &sd, &revision, previous.as_deref(), headline);
            }
        }
    }
    // Nothing in progress: deploy an older revision.
    let wanted = match &params.task_definition {
        Some(td) => td.clone(),
        None => {
            checkpoint.step(format!("finding the revision before the last successful deployment of {target}"));
            previous_revision(ecs, params, &service).await?
        }
    };
    checkpoint.step(format!("describing task definition {wanted}"));
    let td = ecs::describe_task_definition(ecs, &wanted).await.map_err(|e| promotion_error(e, &wanted))?.td;
    let wanted_arn = td.task_definition_arn().unwrap_or(&wanted).to_owned();
    if wanted_arn == current_td {
        return Err(Error::Control {
            what: format!("{target} already runs {}, the revision to roll back to", short_arn(&wanted_arn)),
            fix: "name another revision in \"taskDefinition\", or there is nothing to roll back",
        });
    }
    checkpoint.step(format!("updating {target} to {wanted_arn} (ECS may have applied the update; check the service)"));
    let updated = ecs::update_service(ecs, &params.cluster, &params.service, &wanted_arn, false).await?;
    let release = Release { previous: Some(current_td.clone()), mode: Mode::Revert, ..release };
    let headline = format!(
        "Rolled back {target} from {} to {} (the task definition only: other service settings stay as they are)",
        short_arn(&current_td),
        short_arn(&wanted_arn)
    );
    deploy::started(clients, &updated, &release, &wanted_arn, headline).await
}

/// The task definition of the service revision that the last SUCCESSFUL service deployment replaced (the
/// source revision with the most requested tasks when it lists several).
async fn previous_revision(ecs: &aws_sdk_ecs::Client, params: &Params, service: &Service) -> Result<String, Error> {
    let cluster = service.cluster_arn().unwrap_or(&params.cluster);
    let service_arn = service.service_arn().unwrap_or(&params.service);
    let last = ecs::last_successful_deployment(ecs, cluster, service_arn).await?;
    let none = || Error::Control {
        what: format!(
            "service {} has no successful service deployment that replaced an earlier revision",
            params.service
        ),
        fix: "name the revision to roll back to in \"taskDefinition\"",
    };
    let Some(arn) = last else { return Err(none()) };
    let sd = ecs::describe_service_deployment(ecs, &arn).await?.ok_or_else(none)?;
    let source = sd.source_service_revisions().iter().max_by_key(|r| r.requested_task_count()).and_then(|r| r.arn());
    let Some(source) = source else { return Err(none()) };
    let revisions = ecs::describe_service_revisions(ecs, &[source.to_owned()]).await?;
    revisions.first().and_then(|r| r.task_definition()).map(str::to_owned).ok_or_else(none)
}

/// `action: "deploy"` with `taskDefinition`: deploy that existing revision, reading and registering nothing.
pub async fn promote(clients: &Clients, params: &Params, checkpoint: &Checkpoint) -> Result<Outcome, Error> {
    let ecs = &clients.ecs;
    let wanted = params.task_definition.as_deref().unwrap_or_default();
    let target = format!("service {} in cluster {}", params.service, params.cluster);
    checkpoint.step(format!("describing {target}"));
    let service = ecs::describe_service(ecs, &params.cluster, &params.service).await?;
    checkpoint.step(format!("describing task definition {wanted}"));
    let td = ecs::describe_task_definition(ecs, wanted).await.map_err(|e| promotion_error(e, wanted))?.td;
    let arn = td.task_definition_arn().unwrap_or(wanted).to_owned();
    let current = service.task_definition().unwrap_or_default().to_owned();
    let mut release = Release::new(params, None, &service, Mode::Deploy);
    if arn == current && !params.force_new_deployment {
        let headline = format!("Nothing new to deploy: {target} already runs {}", short_arn(&arn));
        let mut variables = deploy::task_definition_variables(&arn);
        variables
            .extend(service.current_service_deployment().map(|sd| ("ServiceDeploymentArn".to_owned(), sd.to_owned())));
        return Ok(Outcome::Succeeded(Success { summary: format!("{headline}."), external_id: Some(arn), variables }));
    }
    release.previous = Some(current.clone());
    checkpoint.step(format!("updating {target} to {arn} (ECS may have applied the update; check the service)"));
    let updated = ecs::update_service(ecs, &params.cluster, &params.service, &arn, params.force_new_deployment).await?;
    let headline =
        format!("Promoted {} to {target} (it ran {}; nothing registered)", short_arn(&arn), short_arn(&current));
    deploy::started(clients, &updated, &release, &arn, headline).await
}

/// A revision to deploy that ECS does not have, or has retired, is a configuration error naming it.
fn promotion_error(error: Error, wanted: &str) -> Error {
    match error {
        Error::TaskDefinitionInactive { status, .. } => Error::Control {
            what: format!("task definition {wanted} is {status}; only an ACTIVE revision can be deployed"),
            fix: "name an ACTIVE revision in \"taskDefinition\" (aws ecs list-task-definitions --family-prefix …)",
        },
        Error::Aws { ref source, .. } if source.code.as_deref() == Some("ClientException") => Error::Control {
            what: format!("task definition {wanted} does not exist ({error})"),
            fix: "set \"taskDefinition\" to an existing revision: an ARN or family:revision",
        },
        other => other,
    }
}

/// The revision a deployment deploys and the one it replaces (`family:revision`), from its service revisions.
async fn revisions_of(ecs: &aws_sdk_ecs::Client, sd: &ServiceDeployment) -> (String, Option<String>) {
    let target = sd.target_service_revision().and_then(|r| r.arn()).map(str::to_owned);
    let source = sd.source_service_revisions().iter().max_by_key(|r| r.requested_task_count()).and_then(|r| r.arn());
    let arns: Vec<String> = target.iter().cloned().chain(source.map(str::to_owned)).collect();
    let described = if arns.is_empty() {
        Vec::new()
    } else {
        ecs::describe_service_revisions(ecs, &arns).await.unwrap_or_default()
    };
    let td_of = |arn: Option<&str>| {
        described
            .iter()
            .find(|r| r.service_revision_arn() == arn)
            .and_then(|r| r.task_definition())
            .map(|td| short_arn(td).to_owned())
    };
    let revision = td_of(target.as_deref()).unwrap_or_else(|| "(unknown revision)".to_owned());
    (revision, td_of(source))
}

fn id(sd: &ServiceDeployment) -> &str {
    sd.service_deployment_arn().unwrap_or("?")
}

/// What happened to a deployment that has ended.
fn ended(sd: &ServiceDeployment, revision: &str, previous: Option<&str>) -> String {
    let cx = deployment::Context { revision, previous, now: now(), seen: Default::default() };
    match deployment::judge(sd, &cx) {
        deployment::Verdict::Failed { message, .. } => message,
        deployment::Verdict::Succeeded { .. } => format!("It succeeded: the service runs {revision}."),
        deployment::Verdict::InProgress { line, .. } => line,
    }
}

/// The report after continuing or rolling back `sd`: final when not waiting, else the token to follow it.
fn follow_from(
    params: &Params,
    release: &Release<'_>,
    sd: &ServiceDeployment,
    revision: &str,
    previous: Option<&str>,
    headline: String,
) -> Result<Outcome, Error> {
    let arn = sd.service_deployment_arn().unwrap_or_default().to_owned();
    let td =
        task_definition_arn(&arn, if release.mode == Mode::Undo { previous.unwrap_or(revision) } else { revision });
    if params.wait == Wait::No {
        let mut variables = vec![("ServiceDeploymentArn".to_owned(), arn.clone())];
        variables.extend(deploy::task_definition_variables(&td));
        return Ok(Outcome::Succeeded(Success { summary: format!("{headline}."), external_id: Some(td), variables }));
    }
    let started = now();
    let token =
        release.token(Target::new(arn, revision.to_owned(), previous.map(str::to_owned), None, started), started);
    let summary = format!("{headline}; following it (timeout {} min).", release.timeout);
    Ok(Outcome::InProgress(Progress { token: token.encode()?, summary, percent: 0, external_id: Some(td) }))
}
