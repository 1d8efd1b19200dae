//! A continuation invocation: one look at the service deployment(s) the first invocation started, and one
//! report. Never sleeps: CodePipeline re-invokes the function while the token says "in progress".
//!
//! One DescribeServiceDeployments call per look; at the end, DescribeServiceRevisions (the image digests
//! ECS resolved) and DescribeServices (what runs now) on success, or the diagnostics on failure.

use aws_sdk_ecs::types::{ServiceDeployment, ServiceRevision};
use tracing::{info, warn};

use crate::checkpoint::Checkpoint;
use crate::cleanup;
use crate::clients::Clients;
use crate::clock::iso8601;
use crate::clock::now;
use crate::deploy::task_definition_variables;
use crate::deployment::{self, Context, Verdict};
use crate::ecs;
use crate::error::Error;
use crate::event::{Job, params};
use crate::report::{Outcome, Progress, Success};
use crate::rollout;
use crate::services;
use crate::text::{short_arn, task_definition_arn, variable_name};
use crate::token::{FollowToken, LegacyToken, Mode, OnTimeout, Target, Token};

/// Judges the rollout named by the continuation token.
pub async fn run(clients: &Clients, job: &Job, token_text: &str, checkpoint: &Checkpoint) -> Result<Outcome, Error> {
    match Token::decode(token_text)? {
        Token::V3(token) => {
            // The services are named by the action's configuration, which every continuation job carries.
            let params = params::parse(job.user_parameters.as_deref())?;
            services::follow(clients, &params, token, checkpoint).await
        }
        Token::V2(token) => follow(clients, token, checkpoint).await,
        Token::V1(token) => legacy(clients, token, checkpoint).await,
    }
}

async fn follow(clients: &Clients, token: FollowToken, checkpoint: &Checkpoint) -> Result<Outcome, Error> {
    let mut next = token.next();
    let now = now();
    let target = &token.targets[0];
    let sd_id = short_arn(&target.sd).to_owned();
    let external_id = Some(task_definition_arn(&target.sd, &target.rev));
    let again = |next: &FollowToken, summary: String, percent: i32| -> Result<Outcome, Error> {
        Ok(Outcome::InProgress(Progress { token: next.encode()?, summary, percent, external_id: external_id.clone() }))
    };
    if now < token.deadline {
        // If ECS is too slow to answer before the Lambda deadline, look again next time.
        let summary =
            format!("Following service deployment {sd_id} of {}; ECS was slow to answer, checking again", target.rev);
        checkpoint.fallback(again(&next, summary, target.pct)?);
    }
    checkpoint.step(format!("checking service deployment {sd_id} of {}", target.rev));
    let sd = match ecs::describe_service_deployment(&clients.ecs, &target.sd).await {
        Ok(Some(sd)) => sd,
        Ok(None) => return Err(gone(clients, target).await),
        Err(e) if e.is_transient() && now < token.deadline => {
            warn!(error = %e, "ECS did not answer this look; looking again next time");
            let summary = format!(
                "Following service deployment {sd_id} of {}: ECS did not answer this look ({e}); checking again",
                target.rev
            );
            return again(&next, summary, target.pct);
        }
        Err(e) => return Err(e),
    };
    let cx = Context { revision: &target.rev, previous: target.prev.as_deref(), now, seen: target.seen() };
    let verdict = match token.mode {
        Mode::Undo => deployment::judge_rollback(&sd, &cx),
        Mode::Deploy | Mode::Revert => deployment::judge(&sd, &cx),
    };
    info!(service_deployment = %sd_id, status = deployment::status(&sd), "judged the service deployment");
    match verdict {
        Verdict::Succeeded { notes } => Ok(Outcome::Succeeded(succeeded(clients, &token, &sd, notes).await)),
        Verdict::InProgress { pause: Some(pause), line, .. } if token.paused => {
            Ok(Outcome::Succeeded(paused(&token, &sd, &pause, &line)))
        }
        Verdict::InProgress { percent, line, seen, .. } if now < token.deadline => {
            next.targets[0].remember(&seen);
            let minutes_left = ((token.deadline - now).max(0) + 59) / 60;
            again(&next, format!("{line}; timeout in {minutes_left} min."), percent)
        }
        Verdict::InProgress { line, pause, .. } => Err(timed_out(clients, &token, &sd, &line, pause).await),
        Verdict::Failed { message, .. } => {
            // The verdict stands even if the diagnostics below run out of time.
            checkpoint.fallback(Outcome::Failed(Error::Rollout(message.clone())));
            checkpoint.step(format!("collecting the stopped tasks and events of service deployment {sd_id}"));
            Err(Error::Rollout(diagnose(clients, target, &sd, &message).await))
        }
    }
}

/// `wait: "paused"`: the deployment waits at a pause hook, which is this action's success.
fn paused(token: &FollowToken, sd: &ServiceDeployment, pause: &deployment::Pause, line: &str) -> Success {
    let target = &token.targets[0];
    let arn = task_definition_arn(&target.sd, &target.rev);
    let mut variables = vec![
        ("ServiceDeploymentArn".to_owned(), target.sd.clone()),
        ("HookId".to_owned(), pause.hook_id.clone()),
        ("LifecycleStage".to_owned(), pause.stage.clone()),
        ("TaskDefinitionArn".to_owned(), arn.clone()),
        ("Strategy".to_owned(), deployment::strategy(sd.deployment_configuration()).to_owned()),
    ];
    if let Some(expires) = pause.expires_at {
        variables.push(("HookExpiresAt".into(), iso8601(expires)));
    }
    let summary = format!(
        "Service deployment {} of {} is {}.\nContinue it from a later action with {{\"action\": \"continue\", \
         \"serviceDeploymentArn\": \"#{{<namespace>.ServiceDeploymentArn}}\", \"hookId\": \"#{{<namespace>.HookId}}\"}}, \
         or roll it back with {{\"action\": \"rollback\"}}.\nLast look: {line}",
        short_arn(&target.sd),
        target.rev,
        pause.describe()
    );
    Success { summary, external_id: Some(arn), variables }
}

/// The final success: the digests ECS resolved and what runs now, as output variables and summary.
async fn succeeded(clients: &Clients, token: &FollowToken, sd: &ServiceDeployment, notes: Vec<String>) -> Success {
    let target = &token.targets[0];
    // After a rollback this action asked for, what runs is the revision rolled back to.
    let (running, revision_arn) = match token.mode {
        Mode::Undo => (
            target.prev.as_deref().unwrap_or(&target.rev),
            sd.rollback().and_then(|r| r.service_revision_arn()).map(str::to_owned),
        ),
        Mode::Deploy | Mode::Revert => {
            (target.rev.as_str(), sd.target_service_revision().and_then(|r| r.arn()).map(str::to_owned))
        }
    };
    let arn = task_definition_arn(&target.sd, running);
    let mut lines = Vec::new();
    let strategy = deployment::strategy(sd.deployment_configuration());
    let summary_head = if token.mode == Mode::Undo {
        format!(
            "Rolled back to {running}: ECS rolled back service deployment {} of {} ({} checks).",
            short_arn(&target.sd),
            target.rev,
            token.polls + 1
        )
    } else {
        let (running, requested) =
            sd.target_service_revision().map(|t| (t.running_task_count(), t.requested_task_count())).unwrap_or((0, 0));
        format!(
            "Service deployment {} of {} ({strategy}) succeeded: {running} of {requested} tasks running ({} checks).",
            short_arn(&target.sd),
            target.rev,
            token.polls + 1
        )
    };
    let (revisions, service) = tokio::join!(
        async {
            match &revision_arn {
                Some(r) => Some(ecs::describe_service_revisions(&clients.ecs, std::slice::from_ref(r)).await),
                None => None,
            }
        },
        async {
            let cluster = sd.cluster_arn().unwrap_or_default();
            let service = sd.service_arn().unwrap_or_default();
            ecs::describe_service(&clients.ecs, cluster, service).await
        }
    );
    let mut variables = task_definition_variables(&arn);
    if let Some(dep) = &target.dep {
        variables.push(("DeploymentId".into(), dep.clone()));
    }
    variables.push(("ServiceDeploymentArn".into(), target.sd.clone()));
    if let Some(r) = &revision_arn {
        variables.push(("ServiceRevisionArn".into(), r.clone()));
    }
    match token.mode {
        Mode::Undo => variables.push(("RolledBackFrom".into(), task_definition_arn(&target.sd, &target.rev))),
        Mode::Revert => {
            if let Some(prev) = &target.prev {
                variables.push(("RolledBackFrom".into(), task_definition_arn(&target.sd, prev)));
            }
        }
        Mode::Deploy => {}
    }
    if let (Some(prev), false) = (&target.prev, token.mode == Mode::Undo) {
        variables.push(("PreviousTaskDefinitionArn".into(), task_definition_arn(&target.sd, prev)));
    }
    variables.push(("Strategy".into(), strategy.to_owned()));
    match revisions {
        Some(Ok(revisions)) => {
            for image in revisions.iter().flat_map(ServiceRevision::container_images) {
                let name = image.container_name().unwrap_or("?");
                let shown = image.image().unwrap_or("?");
                match image.image_digest() {
                    Some(digest) => {
                        variables.push((variable_name(&format!("ImageDigest_{name}")), digest.to_owned()));
                        lines.push(format!("{name}: {shown} = {digest}"));
                    }
                    None => lines.push(format!("{name}: {shown} (ECS resolved no digest)")),
                }
            }
        }
        Some(Err(e)) => lines.push(format!("(image digests unavailable: {e})")),
        None => lines.push("(ECS named no target service revision, so no image digests)".into()),
    }
    match service {
        Ok(service) => {
            if let Some(current) = service.current_service_deployment().filter(|c| *c != target.sd) {
                lines.push(format!(
                    "Note: the service has since moved on to service deployment {} (it runs {} now).",
                    short_arn(current),
                    short_arn(service.task_definition().unwrap_or("?"))
                ));
            }
        }
        Err(e) => lines.push(format!("(the service's current state is unavailable: {e})")),
    }
    lines.extend(notes);
    if let (Some(keep), Mode::Deploy, Some((cluster, service))) =
        (token.keep, token.mode, cluster_and_service(&target.sd))
    {
        let replaced = target.prev.as_deref().map(|p| task_definition_arn(&target.sd, p));
        lines.extend(cleanup::run(clients, cluster, service, &arn, replaced.as_deref(), keep).await);
    }
    let summary = std::iter::once(summary_head).chain(lines).collect::<Vec<_>>().join("\n");
    Success { summary, external_id: Some(arn), variables }
}

/// The deadline passed while the deployment was still going.
async fn timed_out(
    clients: &Clients,
    token: &FollowToken,
    sd: &ServiceDeployment,
    line: &str,
    pause: Option<deployment::Pause>,
) -> Error {
    let target = &token.targets[0];
    let head = format!(
        "Service deployment {} of {} did not finish within {} minutes",
        short_arn(&target.sd),
        target.rev,
        token.timeout
    );
    if let Some(pause) = pause {
        return Error::Rollout(format!(
            "{head}: it is {}. This action does not stop a deployment that waits at a pause hook: the hook's own \
             timeout decides. Continue it (aws ecs continue-service-deployment --service-deployment-arn {} --hook-id \
             {} --action CONTINUE) or roll it back, or raise timeoutMinutes.\nLast look: {line}",
            pause.describe(),
            target.sd,
            pause.hook_id
        ));
    }
    match token.on_timeout {
        OnTimeout::Leave => Error::Rollout(format!(
            "{head}; it was left running (onTimeout: \"leave\") and may still finish or fail on its own: aws ecs \
             describe-service-deployments --service-deployment-arns {}\nLast look: {line}",
            target.sd
        )),
        OnTimeout::Rollback => match ecs::roll_back(&clients.ecs, &target.sd).await {
            Ok(()) => {
                let to = target
                    .prev
                    .as_deref()
                    .map(|p| format!(" (the service ran {p} before this deploy)"))
                    .unwrap_or_default();
                Error::Rollout(format!(
                    "{head}, so it was rolled back (onTimeout: \"rollback\"): StopServiceDeployment with stopType \
                     ROLLBACK was accepted and ECS is returning the service to its last completed deployment{to}. \
                     Watch it with: aws ecs describe-service-deployments --service-deployment-arns {}\nLast look: {line}",
                    target.sd
                ))
            }
            Err(e) => {
                let state = deployment::status(sd);
                Error::Rollout(format!(
                    "{head} and rolling it back failed ({e}); it is still {state}. Stop or roll it back by hand: aws \
                     ecs stop-service-deployment --service-deployment-arn {} --stop-type ROLLBACK\nLast look: {line}",
                    target.sd
                ))
            }
        },
    }
}

/// ECS no longer knows the deployment: say what the service runs now.
async fn gone(clients: &Clients, target: &Target) -> Error {
    let Some((cluster, service)) = cluster_and_service(&target.sd) else {
        return Error::Rollout(format!("Service deployment {} is no longer known to ECS.", target.sd));
    };
    let now_runs = match ecs::describe_service(&clients.ecs, cluster, service).await {
        Ok(s) => format!(
            "the service's current service deployment is {} and it runs {}",
            s.current_service_deployment().map(short_arn).unwrap_or("(none)"),
            short_arn(s.task_definition().unwrap_or("(unknown)"))
        ),
        Err(e) => format!("the service could not be described ({e})"),
    };
    Error::Rollout(format!(
        "Service deployment {} of {} is no longer known to ECS (replaced or expired from its history); {now_runs}.",
        short_arn(&target.sd),
        target.rev
    ))
}

/// `…:service-deployment/<cluster>/<service>/<id>` → (cluster, service).
fn cluster_and_service(arn: &str) -> Option<(&str, &str)> {
    let path = arn.split_once(":service-deployment/")?.1;
    let mut parts = path.split('/');
    Some((parts.next()?, parts.next()?))
}

/// The failure message with the stopped tasks and the service's events after it.
async fn diagnose(clients: &Clients, target: &Target, sd: &ServiceDeployment, message: &str) -> String {
    let cluster =
        sd.cluster_arn().map(str::to_owned).or_else(|| cluster_and_service(&target.sd).map(|c| c.0.to_owned()));
    let service =
        sd.service_arn().map(str::to_owned).or_else(|| cluster_and_service(&target.sd).map(|c| c.1.to_owned()));
    let (Some(cluster), Some(service)) = (cluster, service) else {
        return message.to_owned();
    };
    let tasks = async {
        match &target.dep {
            Some(dep) => ecs::stopped_tasks(&clients.ecs, &cluster, dep).await,
            None => (Vec::new(), Vec::new()),
        }
    };
    let (stopped, service) = tokio::join!(tasks, ecs::describe_service(&clients.ecs, &cluster, &service));
    let (stopped, mut notes) = stopped;
    let events = match &service {
        Ok(s) => s.events(),
        Err(e) => {
            notes.push(format!("service events unavailable: {e}"));
            &[]
        }
    };
    rollout::explain(message, &stopped, events, sd.created_at().copied(), &notes)
}

/// A v1 token: one `ecs-svc/…` deployment judged from DescribeServices, as the first release did.
async fn legacy(clients: &Clients, token: LegacyToken, checkpoint: &Checkpoint) -> Result<Outcome, Error> {
    let next = token.next();
    let revision = short_arn(&token.task_definition_arn).to_owned();
    let deployment = &token.deployment_id;
    if now() < token.deadline {
        checkpoint.fallback(Outcome::InProgress(Progress {
            token: next.encode()?,
            summary: format!(
                "Rolling out {revision} (deployment {deployment}); ECS was slow to answer, checking again"
            ),
            percent: 0,
            external_id: Some(token.task_definition_arn.clone()),
        }));
    }
    checkpoint.step(format!("checking deployment {deployment} of service {}", token.service));
    let service = match ecs::describe_service(&clients.ecs, &token.cluster, &token.service).await {
        Ok(service) => service,
        Err(e) if e.is_transient() && now() < token.deadline => {
            return Ok(Outcome::InProgress(Progress {
                token: next.encode()?,
                summary: format!("Rolling out {revision}: ECS did not answer this look ({e}); checking again"),
                percent: 0,
                external_id: Some(token.task_definition_arn.clone()),
            }));
        }
        Err(e) => return Err(e),
    };
    let verdict = rollout::judge(&service, deployment, now(), token.deadline, token.timeout_minutes);
    info!(deployment = %deployment, verdict = ?verdict, "judged the rollout");
    let headline = match verdict {
        rollout::Verdict::Completed => {
            let mut variables = task_definition_variables(&token.task_definition_arn);
            variables.push(("DeploymentId".into(), deployment.clone()));
            let summary = format!(
                "Deployment {deployment} of {revision} completed: {} of {} tasks running on service {} ({} checks).",
                service.running_count(),
                service.desired_count(),
                service.service_name().unwrap_or(&token.service),
                next.polls
            );
            return Ok(Outcome::Succeeded(Success {
                summary,
                external_id: Some(token.task_definition_arn.clone()),
                variables,
            }));
        }
        rollout::Verdict::InProgress { percent, running, desired } => {
            let summary = format!(
                "Rolling out {revision} (deployment {deployment}): {running} of {desired} tasks running; timeout in {} min.",
                ((token.deadline - now()).max(0) + 59) / 60
            );
            return Ok(Outcome::InProgress(Progress {
                token: next.encode()?,
                summary,
                percent,
                external_id: Some(token.task_definition_arn.clone()),
            }));
        }
        rollout::Verdict::Failed { reason, failed_tasks } => format!(
            "ECS marked deployment {deployment} of {revision} FAILED: {reason} ({failed_tasks} tasks failed). {}",
            now_running(&service)
        ),
        rollout::Verdict::Superseded { by } => format!(
            "Deployment {deployment} of {revision} did not finish: it {by}. Another deploy or a rollback replaced it. {}",
            now_running(&service)
        ),
        rollout::Verdict::TimedOut { minutes } => format!(
            "Deployment {deployment} of {revision} timed out after {minutes} minutes: {} of {} tasks running. Raise \
             \"timeoutMinutes\" if the service needs longer.",
            service.running_count(),
            service.desired_count()
        ),
    };
    // The verdict stands even if the diagnostics below run out of time.
    checkpoint.fallback(Outcome::Failed(Error::Rollout(headline.clone())));
    checkpoint.step(format!("collecting stopped tasks of deployment {deployment}"));
    let (stopped, notes) = ecs::stopped_tasks(&clients.ecs, &token.cluster, deployment).await;
    let created = service.deployments().iter().find(|d| d.id() == Some(deployment)).and_then(|d| d.created_at());
    let since = created.copied().unwrap_or(aws_smithy_types::DateTime::from_secs(token.started_at));
    Err(Error::Rollout(rollout::explain(&headline, &stopped, service.events(), Some(since), &notes)))
}

fn now_running(service: &aws_sdk_ecs::types::Service) -> String {
    match service.task_definition() {
        Some(arn) => format!("The service now runs {}.", short_arn(arn)),
        None => String::new(),
    }
}
