//! Judging a v1 token's rollout from one DescribeServices answer, and explaining any failed deployment with
//! its stopped tasks and the service's events. Pure.

use std::fmt::Write;

use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service, ServiceEvent, Task};
use aws_smithy_types::DateTime;

use crate::text::{MAX_FAILURE_MESSAGE, clip, short_arn, truncate};

/// Where our deployment stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Completed,
    /// Still rolling: running/desired of our deployment, capped at 99 until done.
    InProgress {
        percent: i32,
        running: i32,
        desired: i32,
    },
    /// ECS marked it FAILED (the deployment circuit breaker), with its reason.
    Failed {
        reason: String,
        failed_tasks: i32,
    },
    /// No longer the PRIMARY deployment, or gone: rolled back or replaced by another deploy.
    Superseded {
        by: String,
    },
    TimedOut {
        minutes: u32,
    },
}

/// Judges deployment `id` of `service` at `now` (seconds) against the token's `deadline`.
pub fn judge(service: &Service, id: &str, now: i64, deadline: i64, timeout_minutes: u32) -> Verdict {
    let deployments = service.deployments();
    let primary = deployments.iter().find(|d| d.status() == Some("PRIMARY"));
    let Some(ours) = deployments.iter().find(|d| d.id() == Some(id)) else {
        return Verdict::Superseded { by: describe_replacement(primary, "is no longer listed by the service") };
    };
    if ours.rollout_state() == Some(&DeploymentRolloutState::Failed) {
        let reason = ours.rollout_state_reason().unwrap_or("ECS gave no reason").to_owned();
        return Verdict::Failed { reason, failed_tasks: ours.failed_tasks() };
    }
    if ours.status() != Some("PRIMARY") {
        let state = format!("is now {}", ours.status().unwrap_or("not PRIMARY"));
        return Verdict::Superseded { by: describe_replacement(primary, &state) };
    }
    let done = match ours.rollout_state() {
        Some(DeploymentRolloutState::Completed) => true,
        Some(_) => false,
        // No rollout state (Classic Load Balancer, older services): the services-stable rule, on our deployment.
        None => deployments.len() == 1 && service.running_count() == service.desired_count(),
    };
    if done {
        return Verdict::Completed;
    }
    if now >= deadline {
        return Verdict::TimedOut { minutes: timeout_minutes };
    }
    let (running, desired) = (ours.running_count(), ours.desired_count());
    let percent = if desired > 0 { (i64::from(running) * 100 / i64::from(desired)).clamp(0, 99) as i32 } else { 0 };
    Verdict::InProgress { percent, running, desired }
}

fn describe_replacement(primary: Option<&Deployment>, what: &str) -> String {
    match primary {
        Some(p) => format!(
            "{what}; the service's PRIMARY deployment is now {} of {} (rollout {})",
            p.id().unwrap_or("(no id)"),
            short_arn(p.task_definition().unwrap_or("(unknown)")),
            p.rollout_state().map(|s| s.as_str()).unwrap_or("state unknown"),
        ),
        None => format!("{what}; the service has no PRIMARY deployment"),
    }
}

/// What went wrong, most useful first, within CodePipeline's 5000-character failure message.
pub fn explain(
    headline: &str,
    stopped: &[Task],
    events: &[ServiceEvent],
    since: Option<DateTime>,
    notes: &[String],
) -> String {
    let mut text = headline.to_owned();
    if !stopped.is_empty() {
        text.push_str("\nStopped tasks of this deployment:");
        // Tasks that stopped the same way are one line: the reason matters, not the count of repeats.
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for task in stopped {
            let id = task.task_arn().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("?");
            let outcome = task_outcome(task);
            match groups.iter_mut().find(|(o, _)| *o == outcome) {
                Some((_, ids)) => ids.push(id),
                None => groups.push((outcome, vec![id])),
            }
        }
        for (outcome, ids) in groups.iter().take(5) {
            let shown: Vec<&str> = ids.iter().take(3).copied().collect();
            let more = if ids.len() > 3 { format!(" and {} more", ids.len() - 3) } else { String::new() };
            let _ = match ids.len() {
                1 => write!(text, "\n- task {}{outcome}", ids[0]),
                n => write!(text, "\n- {n} tasks{outcome} (tasks {}{more})", shown.join(", ")),
            };
        }
        if groups.len() > 5 {
            let _ = write!(
                text,
                "\n- and {} tasks that stopped in other ways",
                groups[5..].iter().map(|(_, i)| i.len()).sum::<usize>()
            );
        }
    }
    let recent: Vec<&ServiceEvent> =
        events.iter().filter(|e| since.is_none_or(|s| e.created_at().is_none_or(|t| *t >= s))).take(8).collect();
    if !recent.is_empty() {
        text.push_str("\nRecent service events (newest first):");
        for e in recent {
            let when = e.created_at().map(|t| t.to_string()).unwrap_or_default();
            let _ = write!(text, "\n- {when} {}", clip(e.message().unwrap_or(""), 300));
        }
    }
    for note in notes {
        let _ = write!(text, "\n({note})");
    }
    truncate(text, MAX_FAILURE_MESSAGE)
}

/// ` (EssentialContainerExited): Essential container in task exited; container web: exit code 1, …`
fn task_outcome(task: &Task) -> String {
    let mut text = String::new();
    if let Some(code) = task.stop_code() {
        let _ = write!(text, " ({})", code.as_str());
    }
    let _ = write!(text, ": {}", clip(task.stopped_reason().unwrap_or("no stopped reason"), 300));
    for c in task.containers() {
        let exit = c.exit_code().map(|e| format!("exit code {e}"));
        let parts: Vec<String> = exit.into_iter().chain(c.reason().map(|r| clip(r, 200))).collect();
        if !parts.is_empty() {
            let _ = write!(text, "; container {}: {}", c.name().unwrap_or("?"), parts.join(", "));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{Container, TaskStopCode};

    fn deployment(
        id: &str,
        status: &str,
        state: Option<DeploymentRolloutState>,
        running: i32,
        desired: i32,
    ) -> Deployment {
        Deployment::builder()
            .id(id)
            .status(status)
            .task_definition(format!("arn:aws:ecs:eu-west-1:111111111111:task-definition/web:{}", id.len()))
            .set_rollout_state(state)
            .rollout_state_reason("ECS deployment circuit breaker: tasks failed to start.")
            .running_count(running)
            .desired_count(desired)
            .failed_tasks(3)
            .build()
    }

    fn service(deployments: Vec<Deployment>, running: i32, desired: i32) -> Service {
        Service::builder().set_deployments(Some(deployments)).running_count(running).desired_count(desired).build()
    }

    #[test]
    fn verdicts() {
        use DeploymentRolloutState::*;
        let ours = "ecs-svc/1";
        let cases: Vec<(&str, Service, i64, Verdict)> = vec![
            ("completed", service(vec![deployment(ours, "PRIMARY", Some(Completed), 2, 2)], 2, 2), 0, Verdict::Completed),
            (
                "in progress",
                service(vec![deployment(ours, "PRIMARY", Some(InProgress), 1, 4), deployment("ecs-svc/0", "ACTIVE", Some(Completed), 4, 4)], 5, 4),
                0,
                Verdict::InProgress { percent: 25, running: 1, desired: 4 },
            ),
            (
                "all running but not yet steady",
                service(vec![deployment(ours, "PRIMARY", Some(InProgress), 4, 4)], 4, 4),
                0,
                Verdict::InProgress { percent: 99, running: 4, desired: 4 },
            ),
            (
                "past the deadline",
                service(vec![deployment(ours, "PRIMARY", Some(InProgress), 1, 4)], 1, 4),
                100,
                Verdict::TimedOut { minutes: 5 },
            ),
            (
                "completed after the deadline is still completed",
                service(vec![deployment(ours, "PRIMARY", Some(Completed), 4, 4)], 4, 4),
                100,
                Verdict::Completed,
            ),
            (
                "circuit breaker rolled back",
                service(vec![deployment("ecs-svc/2", "PRIMARY", Some(InProgress), 0, 2), deployment(ours, "ACTIVE", Some(Failed), 0, 2)], 2, 2),
                0,
                Verdict::Failed { reason: "ECS deployment circuit breaker: tasks failed to start.".into(), failed_tasks: 3 },
            ),
            (
                "replaced by another deploy",
                service(vec![deployment("ecs-svc/22", "PRIMARY", Some(InProgress), 0, 2), deployment(ours, "ACTIVE", Some(InProgress), 1, 2)], 2, 2),
                0,
                Verdict::Superseded {
                    by: "is now ACTIVE; the service's PRIMARY deployment is now ecs-svc/22 of web:10 (rollout IN_PROGRESS)".into(),
                },
            ),
            (
                "gone",
                service(vec![deployment("ecs-svc/22", "PRIMARY", Some(Completed), 2, 2)], 2, 2),
                0,
                Verdict::Superseded {
                    by: "is no longer listed by the service; the service's PRIMARY deployment is now ecs-svc/22 of web:10 (rollout COMPLETED)".into(),
                },
            ),
            ("no rollout state, steady", service(vec![deployment(ours, "PRIMARY", None, 2, 2)], 2, 2), 0, Verdict::Completed),
            (
                "no rollout state, old tasks still draining",
                service(vec![deployment(ours, "PRIMARY", None, 2, 2), deployment("ecs-svc/0", "ACTIVE", None, 1, 0)], 3, 2),
                0,
                Verdict::InProgress { percent: 99, running: 2, desired: 2 },
            ),
            (
                "no rollout state, short of tasks",
                service(vec![deployment(ours, "PRIMARY", None, 1, 2)], 1, 2),
                0,
                Verdict::InProgress { percent: 50, running: 1, desired: 2 },
            ),
            (
                "no rollout state, past the deadline",
                service(vec![deployment(ours, "PRIMARY", None, 1, 2)], 1, 2),
                100,
                Verdict::TimedOut { minutes: 5 },
            ),
            ("desired zero", service(vec![deployment(ours, "PRIMARY", Some(InProgress), 0, 0)], 0, 0), 0, Verdict::InProgress { percent: 0, running: 0, desired: 0 }),
        ];
        for (name, svc, now, expected) in cases {
            assert_eq!(judge(&svc, ours, now, 100, 5), expected, "{name}");
        }
    }

    #[test]
    fn explanations_put_reasons_first_and_fit() {
        let task = Task::builder()
            .task_arn("arn:aws:ecs:eu-west-1:111111111111:task/prod/0123abcd")
            .stop_code(TaskStopCode::EssentialContainerExited)
            .stopped_reason("Essential container in task exited")
            .containers(
                Container::builder()
                    .name("web")
                    .exit_code(1)
                    .reason("CannotPullContainerError: pull access denied")
                    .build(),
            )
            .build();
        let event = |secs: i64, message: &str| {
            ServiceEvent::builder().created_at(DateTime::from_secs(secs)).message(message).build()
        };
        let events = vec![
            event(200, "(service web) deployment failed: tasks failed to start."),
            event(50, "(service web) has reached a steady state."),
        ];
        let text = explain(
            "Deployment ecs-svc/1 failed: circuit breaker.",
            std::slice::from_ref(&task),
            &events,
            Some(DateTime::from_secs(100)),
            &["stopped tasks: none".into()],
        );
        let expected = "Deployment ecs-svc/1 failed: circuit breaker.\nStopped tasks of this deployment:\n\
            - task 0123abcd (EssentialContainerExited): Essential container in task exited; container web: exit code 1, CannotPullContainerError: pull access denied\n\
            Recent service events (newest first):\n- 1970-01-01T00:03:20Z (service web) deployment failed: tasks failed to start.\n(stopped tasks: none)";
        assert_eq!(text, expected);
        let many = vec![task; 50];
        let long_events: Vec<_> = (0..100).map(|i| event(300 + i, &"x".repeat(1000))).collect();
        let text = explain(&"h".repeat(4000), &many, &long_events, None, &[]);
        assert!(text.chars().count() <= MAX_FAILURE_MESSAGE && text.len() <= MAX_FAILURE_MESSAGE);
        assert!(text.starts_with("hhhh"));
    }
}
