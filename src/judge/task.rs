//! Judging the beforeDeploy task (pure): from DescribeTasks, whether it is still going, succeeded (every task
//! stopped, the named container and every essential one exited 0) or failed, and why; and the tail of its log
//! kept short and free of the values it was given.

use aws_sdk_ecs::types::Task;

use crate::clock::span;
use crate::text::{clip, short_arn};

/// Where the beforeDeploy task stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskVerdict {
    /// Some task has not stopped: one line per task.
    Going { lines: Vec<String> },
    /// Every task stopped, and every container that decides exited 0.
    Succeeded { lines: Vec<String> },
    /// It failed: why, and the task and container whose log explains it (when a container ran).
    Failed { why: String, logs_of: Option<(String, String)> },
}

/// What decides: the named container, and the other essential ones.
pub struct Deciding<'a> {
    pub container: &'a str,
    pub essential: &'a [String],
}

/// The task's id: the last segment of its ARN.
pub fn task_id(task: &Task) -> &str {
    short_arn(task.task_arn().unwrap_or("?"))
}

/// One line: `beforeDeploy task 1a2b…: RUNNING (2m 10s)`.
pub fn line(task: &Task, now: i64) -> String {
    let status = task.last_status().unwrap_or("PROVISIONING");
    let since = task.created_at().map(|t| t.secs()).unwrap_or(now);
    match status {
        "STOPPED" => {
            let ran = match (task.started_at(), task.stopped_at()) {
                (Some(a), Some(b)) => format!(", ran {}", span(b.secs() - a.secs())),
                _ => String::new(),
            };
            format!("beforeDeploy task {}: STOPPED{ran}", task_id(task))
        }
        _ => format!("beforeDeploy task {}: {status} ({})", task_id(task), span(now - since)),
    }
}

/// The verdict on this action's tasks (`missing`: ids ECS no longer reports).
pub fn judge(tasks: &[Task], missing: &[String], deciding: &Deciding, now: i64) -> TaskVerdict {
    if let Some(id) = missing.first() {
        return TaskVerdict::Failed {
            why: format!(
                "beforeDeploy task {id} is no longer known to ECS (stopped tasks stay visible for about an hour), so \
                 how it ended is unknown"
            ),
            logs_of: None,
        };
    }
    let lines: Vec<String> = tasks.iter().map(|t| line(t, now)).collect();
    if tasks.is_empty() || tasks.iter().any(|t| t.last_status() != Some("STOPPED")) {
        return TaskVerdict::Going { lines };
    }
    for task in tasks {
        if let Some(failed) = judge_stopped(task, deciding) {
            return failed;
        }
    }
    TaskVerdict::Succeeded { lines }
}

/// A stopped task: `None` when every container that decides exited 0.
fn judge_stopped(task: &Task, deciding: &Deciding) -> Option<TaskVerdict> {
    let id = task_id(task).to_owned();
    let stop = match (task.stop_code().map(|c| c.as_str()), task.stopped_reason()) {
        (Some(code), Some(reason)) => format!("{code}: {}", clip(reason, 400)),
        (Some(code), None) => code.to_owned(),
        (None, Some(reason)) => clip(reason, 400),
        (None, None) => "no reason given".to_owned(),
    };
    let failed_to_start = task.stop_code().is_some_and(|c| c.as_str() == "TaskFailedToStart");
    let order = std::iter::once(deciding.container).chain(deciding.essential.iter().map(String::as_str));
    for name in order {
        let Some(container) = task.containers().iter().find(|c| c.name() == Some(name)) else {
            return Some(TaskVerdict::Failed {
                why: format!("beforeDeploy task {id} has no container {name} ({stop})"),
                logs_of: None,
            });
        };
        let reason = container.reason().map(|r| format!(" ({})", clip(r, 300))).unwrap_or_default();
        match container.exit_code() {
            Some(0) if !failed_to_start => {}
            Some(code) => {
                let by = match task.stop_code().map(|c| c.as_str()) {
                    Some("EssentialContainerExited") | None => String::new(),
                    Some(_) => format!(" after the task was stopped ({stop})"),
                };
                return Some(TaskVerdict::Failed {
                    why: format!("beforeDeploy task {id}: container {name} exited with code {code}{reason}{by}"),
                    logs_of: Some((id, name.to_owned())),
                });
            }
            None => {
                return Some(TaskVerdict::Failed {
                    why: format!("beforeDeploy task {id} stopped before container {name} ran: {stop}{reason}"),
                    logs_of: None,
                });
            }
        }
    }
    None
}

/// How far the task phase is, 0–29 % of the action (it grows with the time it has had; the services take the
/// rest).
pub fn percent(started: i64, minutes: u32, now: i64) -> i32 {
    let total = i64::from(minutes.max(1)) * 60;
    ((now - started).clamp(0, total) * 29 / total) as i32
}

/// The last lines of a log that fit in `budget` characters: each line clipped, every value the task was given
/// (its environment overrides, which may be secrets) replaced by `***`.
pub fn tail(lines: &[String], given: &[String], budget: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut used = 0;
    for line in lines.iter().rev() {
        let mut line = line.trim_end().to_owned();
        for value in given.iter().filter(|v| v.len() >= 3) {
            line = line.replace(value.as_str(), "***");
        }
        let line = clip(&line, 300);
        if used + line.len() + 1 > budget {
            break;
        }
        used += line.len() + 1;
        out.push(line);
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{Container, TaskStopCode};
    use aws_smithy_types::DateTime;

    use super::*;

    fn container(name: &str, exit: Option<i32>, reason: Option<&str>) -> Container {
        Container::builder().name(name).set_exit_code(exit).set_reason(reason.map(str::to_owned)).build()
    }

    fn task(status: &str, stop: Option<(TaskStopCode, &str)>, containers: Vec<Container>) -> Task {
        Task::builder()
            .task_arn("arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef")
            .last_status(status)
            .created_at(DateTime::from_secs(1_000))
            .started_at(DateTime::from_secs(1_010))
            .stopped_at(DateTime::from_secs(1_100))
            .set_stop_code(stop.as_ref().map(|s| s.0.clone()))
            .set_stopped_reason(stop.map(|s| s.1.to_owned()))
            .set_containers(Some(containers))
            .build()
    }

    const EXITED: Option<(TaskStopCode, &str)> =
        Some((TaskStopCode::EssentialContainerExited, "Essential container in task exited"));

    #[test]
    fn every_way_a_task_ends() {
        let essential = vec!["sidecar".to_owned()];
        let deciding = Deciding { container: "app", essential: &essential };
        let ok = container("sidecar", Some(0), None);
        let cases: Vec<(&str, Task, Result<&str, &str>)> = vec![
            ("running", task("RUNNING", None, vec![]), Ok("RUNNING (2m 10s)")),
            ("provisioning", task("PROVISIONING", None, vec![]), Ok("PROVISIONING (2m 10s)")),
            (
                "exit 0",
                task("STOPPED", EXITED, vec![container("app", Some(0), None), ok.clone()]),
                Ok("STOPPED, ran 1m 30s"),
            ),
            (
                "exit 3",
                task("STOPPED", EXITED, vec![container("app", Some(3), None), ok.clone()]),
                Err("container app exited with code 3"),
            ),
            (
                "a sidecar fails",
                task(
                    "STOPPED",
                    EXITED,
                    vec![container("app", Some(0), None), container("sidecar", Some(1), Some("boom"))],
                ),
                Err("container sidecar exited with code 1 (boom)"),
            ),
            (
                "never started: image",
                task(
                    "STOPPED",
                    Some((
                        TaskStopCode::TaskFailedToStart,
                        "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
                    )),
                    vec![container("app", None, Some("CannotPullContainerError: not found")), ok.clone()],
                ),
                Err(
                    "stopped before container app ran: TaskFailedToStart: CannotPullContainerError: pull image manifest has been retried 5 time(s) (CannotPullContainerError: not found)",
                ),
            ),
            (
                "never started: network",
                task(
                    "STOPPED",
                    Some((TaskStopCode::TaskFailedToStart, "ResourceInitializationError: unable to pull secrets")),
                    vec![container("app", None, None), ok.clone()],
                ),
                Err(
                    "stopped before container app ran: TaskFailedToStart: ResourceInitializationError: unable to pull secrets",
                ),
            ),
            (
                "stopped by someone",
                task(
                    "STOPPED",
                    Some((TaskStopCode::UserInitiated, "Task stopped by user")),
                    vec![container("app", Some(143), None), ok.clone()],
                ),
                Err(
                    "container app exited with code 143 after the task was stopped (UserInitiated: Task stopped by user)",
                ),
            ),
            (
                "spot",
                task(
                    "STOPPED",
                    Some((TaskStopCode::SpotInterruption, "Your Spot Task was interrupted.")),
                    vec![container("app", Some(137), None)],
                ),
                Err("exited with code 137 after the task was stopped (SpotInterruption"),
            ),
            ("no such container", task("STOPPED", EXITED, vec![ok.clone()]), Err("has no container app")),
        ];
        for (name, t, expected) in cases {
            let verdict = judge(std::slice::from_ref(&t), &[], &deciding, 1_130);
            match (verdict, expected) {
                (TaskVerdict::Going { lines } | TaskVerdict::Succeeded { lines }, Ok(words)) => {
                    assert!(
                        lines[0].starts_with("beforeDeploy task 0123456789abcdef0123456789abcdef: "),
                        "{name}: {lines:?}"
                    );
                    assert!(lines[0].ends_with(words), "{name}: {lines:?}");
                }
                (TaskVerdict::Failed { why, logs_of }, Err(words)) => {
                    assert!(why.contains(words), "{name}: {why}");
                    assert_eq!(logs_of.is_some(), why.contains("exited with code"), "{name}");
                }
                (other, _) => panic!("{name}: {other:?}"),
            }
        }
        let stopped = task("STOPPED", EXITED, vec![container("app", Some(0), None), ok]);
        assert!(matches!(
            judge(&[stopped.clone(), task("RUNNING", None, vec![])], &[], &deciding, 1_130),
            TaskVerdict::Going { .. }
        ));
        assert!(matches!(judge(&[stopped.clone(), stopped], &[], &deciding, 1_130), TaskVerdict::Succeeded { .. }));
        let TaskVerdict::Failed { why, .. } = judge(&[], &["abc".into()], &deciding, 0) else { panic!() };
        assert!(why.contains("abc is no longer known to ECS"), "{why}");
    }

    #[test]
    fn percent_grows_with_time_and_stays_under_the_services_share() {
        assert_eq!(percent(1_000, 10, 1_000), 0);
        assert_eq!(percent(1_000, 10, 1_300), 14);
        assert_eq!(percent(1_000, 10, 9_999), 29);
        assert_eq!(percent(1_000, 10, 900), 0);
    }

    #[test]
    fn the_log_tail_fits_and_hides_the_given_values() {
        let lines: Vec<String> = (1..=30).map(|i| format!("line {i}: connecting with s3cr3t-pw")).collect();
        let kept = tail(&lines, &["s3cr3t-pw".into(), "x".into()], 10_000);
        assert_eq!(kept.len(), 30);
        assert!(kept.iter().all(|l| !l.contains("s3cr3t") && l.ends_with("***")), "{kept:?}");
        let kept = tail(&lines, &[], 100);
        assert_eq!(kept.last().unwrap(), "line 30: connecting with s3cr3t-pw");
        assert!(kept.iter().map(|l| l.len() + 1).sum::<usize>() <= 100 && kept.len() == 2, "{kept:?}");
        let long = vec!["y".repeat(1_000)];
        assert_eq!(tail(&long, &[], 10_000)[0].chars().count(), 301, "300 and the mark");
    }
}
