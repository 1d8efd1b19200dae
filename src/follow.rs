//! A continuation invocation: one look at the rollout the first invocation started, and one report.
//!
//! Never sleeps: CodePipeline re-invokes the function while the token says "in progress".

use aws_sdk_ecs::types::{DesiredStatus, Service, Task};
use tracing::info;

use crate::checkpoint::Checkpoint;
use crate::clients::Clients;
use crate::deploy::{describe_service, now, task_definition_variables};
use crate::error::{Error, aws};
use crate::report::{Outcome, Progress, Success};
use crate::rollout::{self, Verdict, short_task_definition};
use crate::token::Token;

/// Judges the rollout named by the continuation token.
pub async fn run(clients: &Clients, token_text: &str, checkpoint: &Checkpoint) -> Result<Outcome, Error> {
    let token = Token::decode(token_text)?;
    let next = token.next();
    let revision = short_task_definition(&token.task_definition_arn).to_owned();
    let deployment = &token.deployment_id;
    if now() < token.deadline {
        // If ECS is too slow to answer before the Lambda deadline, look again next time.
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
    let service = describe_service(&clients.ecs, &token.cluster, &token.service).await?;
    let verdict = rollout::judge(&service, deployment, now(), token.deadline, token.timeout_minutes);
    info!(deployment = %deployment, verdict = ?verdict, "judged the rollout");
    let headline = match verdict {
        Verdict::Completed => {
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
        Verdict::InProgress { percent, running, desired } => {
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
        Verdict::Failed { reason, failed_tasks } => format!(
            "ECS marked deployment {deployment} of {revision} FAILED: {reason} ({failed_tasks} tasks failed). {}",
            now_running(&service)
        ),
        Verdict::Superseded { by } => format!(
            "Deployment {deployment} of {revision} did not finish: it {by}. Another deploy or a rollback replaced it. {}",
            now_running(&service)
        ),
        Verdict::TimedOut { minutes } => format!(
            "Deployment {deployment} of {revision} timed out after {minutes} minutes: {} of {} tasks running. Raise \
             \"timeoutMinutes\" if the service needs longer.",
            service.running_count(),
            service.desired_count()
        ),
    };
    // The verdict stands even if the diagnostics below run out of time.
    checkpoint.fallback(Outcome::Failed(Error::Rollout(headline.clone())));
    checkpoint.step(format!("collecting stopped tasks of deployment {deployment}"));
    let (stopped, notes) = stopped_tasks(clients, &token).await;
    let created = service.deployments().iter().find(|d| d.id() == Some(deployment)).and_then(|d| d.created_at());
    let since = created.copied().unwrap_or(aws_smithy_types::DateTime::from_secs(token.started_at));
    Err(Error::Rollout(rollout::explain(&headline, &stopped, service.events(), Some(since), &notes)))
}

fn now_running(service: &Service) -> String {
    match service.task_definition() {
        Some(arn) => format!("The service now runs {}.", short_task_definition(arn)),
        None => String::new(),
    }
}

/// The deployment's stopped tasks, where ECS still has them; problems become notes, never the verdict.
async fn stopped_tasks(clients: &Clients, token: &Token) -> (Vec<Task>, Vec<String>) {
    let listed = clients
        .ecs
        .list_tasks()
        .cluster(&token.cluster)
        .started_by(&token.deployment_id)
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .map_err(aws("ListTasks", format!("stopped tasks of {}", token.deployment_id)));
    let arns = match listed {
        Ok(out) => out.task_arns().iter().take(10).cloned().collect::<Vec<_>>(),
        Err(e) => return (Vec::new(), vec![format!("stopped tasks unavailable: {e}")]),
    };
    if arns.is_empty() {
        return (Vec::new(), vec!["ECS lists no stopped tasks for this deployment".into()]);
    }
    match clients.ecs.describe_tasks().cluster(&token.cluster).set_tasks(Some(arns)).send().await {
        Ok(out) => (out.tasks().to_vec(), Vec::new()),
        Err(e) => {
            let e: Error = aws("DescribeTasks", format!("stopped tasks of {}", token.deployment_id))(e);
            (Vec::new(), vec![format!("stopped task details unavailable: {e}")])
        }
    }
}
