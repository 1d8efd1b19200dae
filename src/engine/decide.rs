//! Decide: where every target stands after one look, and what the action does about it. Pure: the tracker,
//! what ECS answered for each target, and the clock in; the next tracker, the rollbacks to start and the end
//! out.
//!
//! Per target, a look moves it along one of these:
//! - Moving → Done (its deployment succeeded), Back (ECS rolled it back), Undoing (ECS is rolling it back),
//!   Stopped (stopped without a rollback: it stays, partly, on the release), BackFailed (ECS's rollback failed),
//!   Failed (ECS no longer knows its deployment);
//! - Undoing → Back (ROLLBACK_SUCCESSFUL), Done (it finished before the rollback took effect), BackFailed;
//! - Reverting (updated back to its previous revision) → Back, BackFailed.
//!
//! Then the action: the rollback action succeeds when every target is Back; otherwise the first failure ends
//! the action at once, or, with `atomic`, every target this action moved goes back first (the rollback phase,
//! with a deadline of its own) and the one failure comes when nothing moves any more. At the deadline, a
//! deployment still going is rolled back (`onTimeout`, the default for a release) or left (the default for a
//! revert); one waiting at a pause hook is never stopped, except to keep `atomic` all-or-nothing.

use aws_sdk_ecs::types::{Service, ServiceDeployment};

use super::apply::Fix;
use crate::config::Target;
use crate::judge::deployment::{self, Context, Pause, Verdict};
use crate::judge::rollout;
use crate::text::clip;
use crate::token::{CAUSE_CHARS, Failure, OnTimeout, Op, State, Tracker};

/// What ECS answered for one target this look.
#[derive(Debug, Clone)]
pub enum Look {
    /// DescribeServiceDeployments' answer for the deployment the target follows.
    Deployment(Box<ServiceDeployment>),
    /// DescribeServices' answer: a service ECS reports no service deployments for, by its `ecs-svc/…` deployment.
    Service(Box<Service>),
    /// ECS no longer knows the deployment.
    Missing,
}

/// How the action ends this look.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// Look again next time.
    Again,
    /// Every target reached where the action takes it.
    Succeeded,
    /// `wait: "paused"`: every target waits at a pause hook, or is done.
    Paused,
    Failed(Why),
}

/// Why the action failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Why {
    /// A target failed (the tracker's `failed`), or a rollback did.
    Failure,
    /// The deadline passed with targets still going: rolled back (`onTimeout: "rollback"`) or left.
    TimedOut { left: bool },
    /// The rollback phase's own deadline passed: what still goes back is left to finish on its own.
    RollbackTimedOut,
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub tracker: Tracker,
    /// Per target: what this look said of it.
    pub lines: Vec<Option<String>>,
    /// Per target: the whole failure message, when this look saw it fail.
    pub failures: Vec<Option<String>>,
    /// Per target: the pause hook it waits at.
    pub pauses: Vec<Option<Pause>>,
    /// Per target: notes of its success (an early success, …).
    pub notes: Vec<Vec<String>>,
    /// Per target: its deployment's strategy, and its target revision's running and requested tasks.
    pub strategies: Vec<String>,
    pub tasks: Vec<(i32, i32)>,
    /// Per target: it went back by its own deployment's rollback (ROLLBACK_SUCCESSFUL), not by a revert.
    pub undone: Vec<bool>,
    /// The rollbacks to start now.
    pub fixes: Vec<Fix>,
    pub end: End,
}

impl Decision {
    /// A decision with nothing looked at (the first report).
    pub fn empty(tracker: Tracker) -> Self {
        let n = tracker.t.len();
        Self {
            tracker,
            lines: vec![None; n],
            failures: vec![None; n],
            pauses: vec![None; n],
            notes: vec![Vec::new(); n],
            strategies: vec![String::new(); n],
            tasks: vec![(0, 0); n],
            undone: vec![false; n],
            fixes: Vec::new(),
            end: End::Again,
        }
    }
}

/// One look's decision.
pub fn decide(mut t: Tracker, targets: &[Target], looks: Vec<Option<Look>>, now: i64) -> Decision {
    let n = t.t.len();
    let mut lines = vec![None; n];
    let mut failures = vec![None; n];
    let mut pauses = vec![None; n];
    let mut notes = vec![Vec::new(); n];
    let mut strategies = vec![String::new(); n];
    let mut tasks = vec![(0, 0); n];
    let mut undone = vec![false; n];
    for (i, look) in looks.into_iter().enumerate().take(n) {
        let Some(look) = look else { continue };
        let state = t.t[i].state();
        let rev = t.revision(i, false, targets).unwrap_or_else(|| "(unknown revision)".into());
        let prev = t.revision(i, true, targets);
        let mut fail = |t: &mut Tracker, message: String| {
            if t.failed.is_none() {
                t.failed = Some(Failure(i, clip(&message, CAUSE_CHARS), 'J'));
            }
            failures[i] = Some(message);
        };
        match look {
            Look::Missing if !state.moving() => {}
            Look::Missing => {
                let message = format!("service deployment {} of {rev} is no longer known to ECS", t.t[i].id());
                t.t[i].set(if state == State::Moving { State::Failed } else { State::BackFailed });
                lines[i] = Some(message.clone());
                fail(&mut t, message);
            }
            Look::Service(service) => {
                if !state.moving() {
                    continue;
                }
                let id = t.t[i].deployment_id().unwrap_or_default();
                // The deadline is the tracker's to judge, for every kind of target alike.
                match rollout::judge(&service, &id, now, i64::MAX, t.timeout) {
                    rollout::Verdict::Completed => {
                        t.t[i].set(if state.reverting() { State::Back } else { State::Done });
                        t.t[i].10 = 100;
                        lines[i] = Some(format!(
                            "Deployment {id} of {rev} completed: {} of {} tasks running",
                            service.running_count(),
                            service.desired_count()
                        ));
                    }
                    rollout::Verdict::InProgress { percent, running, desired } => {
                        t.t[i].10 = percent.max(t.t[i].10);
                        lines[i] =
                            Some(format!("Rolling out {rev} (deployment {id}): {running} of {desired} tasks running"));
                    }
                    rollout::Verdict::Failed { reason, failed_tasks } => {
                        let message = format!(
                            "ECS marked deployment {id} of {rev} FAILED: {reason} ({failed_tasks} tasks failed). {}",
                            now_running(&service)
                        );
                        t.t[i].set(if state.reverting() { State::BackFailed } else { State::Stopped });
                        lines[i] = Some(message.clone());
                        fail(&mut t, message);
                    }
                    rollout::Verdict::Superseded { by } => {
                        let message = format!(
                            "Deployment {id} of {rev} did not finish: it {by}. Another deploy or a rollback replaced it. {}",
                            now_running(&service)
                        );
                        t.t[i].set(if state.reverting() { State::BackFailed } else { State::Failed });
                        lines[i] = Some(message.clone());
                        fail(&mut t, message);
                    }
                    rollout::Verdict::TimedOut { .. } => {}
                }
            }
            Look::Deployment(sd) => {
                strategies[i] = deployment::strategy(sd.deployment_configuration()).to_owned();
                tasks[i] = sd
                    .target_service_revision()
                    .map(|r| (r.running_task_count(), r.requested_task_count()))
                    .unwrap_or((0, 0));
                if !state.moving() {
                    continue;
                }
                let going_back = state.reverting();
                // A revert's deployment goes to `prev`: judged as a deployment of that revision.
                let (revision, previous) = match state {
                    State::Reverting => {
                        (prev.clone().unwrap_or_else(|| "(unknown revision)".into()), Some(rev.clone()))
                    }
                    _ => (rev.clone(), prev.clone()),
                };
                let cx =
                    Context { revision: &revision, previous: previous.as_deref(), now, seen: t.t[i].seen(t.started) };
                let verdict = match state {
                    State::Undoing => deployment::judge_rollback(&sd, &cx),
                    _ => deployment::judge(&sd, &cx),
                };
                match verdict {
                    Verdict::Succeeded { notes: said } => {
                        undone[i] = state == State::Undoing;
                        t.t[i].set(if going_back { State::Back } else { State::Done });
                        t.t[i].10 = 100;
                        lines[i] = Some(format!(
                            "{} {}",
                            deployment::strategy(sd.deployment_configuration()),
                            if going_back { "rolled back" } else { "succeeded" }
                        ));
                        notes[i] = said;
                    }
                    Verdict::InProgress { percent, line, pause, seen } => {
                        t.t[i].remember(&seen, t.started);
                        t.t[i].10 = percent;
                        lines[i] = Some(line);
                        pauses[i] = pause;
                    }
                    Verdict::Failed { status, message } => {
                        let next = match (state, status.as_str()) {
                            // It finished before the rollback took effect: it runs the release.
                            (State::Undoing, "SUCCESSFUL") => State::Done,
                            (State::Undoing | State::Reverting, _) => State::BackFailed,
                            (_, "ROLLBACK_SUCCESSFUL") => State::Back,
                            (_, "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS") => State::Undoing,
                            (_, "ROLLBACK_FAILED") => State::BackFailed,
                            _ => State::Stopped,
                        };
                        t.t[i].set(next);
                        lines[i] = Some(clip(&message, CAUSE_CHARS));
                        if going_back && t.op != Op::Rollback {
                            // A rollback of the atomic phase that did not end well: said per target at the end.
                            failures[i] = Some(message);
                        } else {
                            fail(&mut t, message);
                        }
                    }
                }
            }
        }
    }
    let (fixes, end) = end(&mut t, &pauses, now);
    Decision { tracker: t, lines, failures, pauses, notes, strategies, tasks, undone, fixes, end }
}

/// The action's end this look, and the rollbacks it starts.
fn end(t: &mut Tracker, pauses: &[Option<Pause>], now: i64) -> (Vec<Fix>, End) {
    let states: Vec<State> = t.t.iter().map(|s| s.state()).collect();
    let moving = states.iter().any(|s| s.moving());
    if t.op == Op::Rollback {
        if states.iter().all(|s| *s == State::Back) {
            return (Vec::new(), End::Succeeded);
        }
        if !moving {
            return (Vec::new(), End::Failed(Why::Failure));
        }
        if now >= t.deadline {
            return match t.on_timeout {
                OnTimeout::Leave => (Vec::new(), End::Failed(Why::TimedOut { left: true })),
                // Asked for explicitly: the revert itself is rolled back (it puts the revision it left back).
                OnTimeout::Rollback => {
                    let fixes = moving_ones(t).into_iter().map(Fix::Stop).collect();
                    (fixes, End::Failed(Why::TimedOut { left: false }))
                }
            };
        }
        return (Vec::new(), End::Again);
    }
    if t.expired && !t.atomic {
        // The rollbacks of the deadline were announced and are seen started: the action ends, timed out.
        return (Vec::new(), End::Failed(Why::TimedOut { left: false }));
    }
    if t.failed.is_some() {
        if !t.atomic {
            return (Vec::new(), End::Failed(Why::Failure));
        }
        return atomic_phase(t, now);
    }
    if states.iter().all(|s| *s == State::Done) {
        return (Vec::new(), End::Succeeded);
    }
    let at_pause = |i: usize| pauses.get(i).is_some_and(Option::is_some);
    if t.paused && (0..states.len()).all(|i| states[i] == State::Done || at_pause(i)) {
        return (Vec::new(), End::Paused);
    }
    if now < t.deadline {
        return (Vec::new(), End::Again);
    }
    match (t.on_timeout, t.atomic) {
        (OnTimeout::Leave, _) => (Vec::new(), End::Failed(Why::TimedOut { left: true })),
        (OnTimeout::Rollback, false) => {
            // A deployment waiting at a pause hook is never stopped: its hook's own timeout decides.
            let fixes = moving_ones(t).into_iter().filter(|i| !at_pause(*i)).map(Fix::Stop).collect();
            (fixes, End::Failed(Why::TimedOut { left: false }))
        }
        (OnTimeout::Rollback, true) => {
            let first = moving_ones(t).first().copied().unwrap_or(0);
            let cause = format!("it did not finish within {} minutes", t.timeout);
            t.failed = Some(Failure(first, cause, 'J'));
            atomic_phase(t, now)
        }
    }
}

/// `atomic`: every target this action moved goes back (the rollback phase, with its own deadline), and the
/// one failure comes when nothing moves any more.
fn atomic_phase(t: &mut Tracker, now: i64) -> (Vec<Fix>, End) {
    let fixes = match t.back {
        None => {
            t.back = Some(now + i64::from(t.timeout) * 60);
            rollbacks(t)
        }
        // A target that finished before its rollback took effect is updated back.
        Some(_) => rollbacks(t).into_iter().filter(|f| matches!(f, Fix::Revert(_))).collect(),
    };
    if t.back.is_some_and(|back| now >= back) && t.t.iter().any(|s| s.state().moving()) {
        return (Vec::new(), End::Failed(Why::RollbackTimedOut));
    }
    let end = if fixes.is_empty() { settle(t) } else { End::Again };
    (fixes, end)
}

/// What still goes on once the rollbacks started (or failed to): look again while anything moves.
pub fn settle(t: &Tracker) -> End {
    if t.t.iter().any(|s| s.state().moving()) { End::Again } else { End::Failed(Why::Failure) }
}

/// The atomic routine: every target this action moved goes back — a deployment still going is stopped with a
/// rollback, one that ended on the release (succeeded, or stopped without a rollback) is updated back to its
/// previous revision. Targets this action did not change (no previous revision) stay.
pub fn rollbacks(t: &Tracker) -> Vec<Fix> {
    t.t.iter()
        .enumerate()
        .filter_map(|(i, s)| match s.state() {
            State::Moving if !s.id().is_empty() => Some(Fix::Stop(i)),
            State::Moving | State::Done | State::Stopped if s.5 != 0 && (s.2, s.3) != (s.4, s.5) => {
                Some(Fix::Revert(i))
            }
            _ => None,
        })
        .collect()
}

fn moving_ones(t: &Tracker) -> Vec<usize> {
    t.t.iter().enumerate().filter(|(_, s)| s.state().moving()).map(|(i, _)| i).collect()
}

fn now_running(service: &Service) -> String {
    match service.task_definition() {
        Some(arn) => format!("The service now runs {}.", crate::text::short_arn(arn)),
        None => String::new(),
    }
}

/// The slowest target's percent (finished ones count as 100).
pub fn percent(t: &Tracker) -> i32 {
    percent_at(t, crate::clock::now())
}

/// How far the action is at `now`: with a beforeDeploy task, the task is its first 30 % (by the time it has
/// had), the services the rest. Never backwards.
pub fn percent_at(t: &Tracker, now: i64) -> i32 {
    let percent = |s: &crate::token::Slot| match s.state() {
        state if state.moving() => s.percent(),
        state if state.pending() || state == State::Queued => 0,
        _ => 100,
    };
    let services = t.t.iter().map(percent).min().unwrap_or(0).clamp(0, 100);
    match &t.task {
        Some(task) if task.state != crate::token::TaskState::Done => {
            crate::judge::task::percent(task.started, task.minutes, now)
        }
        Some(_) => 30 + services * 70 / 100,
        None => services,
    }
}
