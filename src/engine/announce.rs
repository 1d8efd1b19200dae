//! Report first, then change: no invocation changes anything until CodePipeline has taken a report for its job.
//!
//! The last moment before an invocation's first change, it reports progress for its own job with a token that
//! announces the change ([`vouch`]); CodePipeline taking that report is the proof that the job is real (a
//! forged job id is refused with JobNotFoundException, one answered already with InvalidJobStateException:
//! either way nothing changes). The next job, handed the token, finds out how the change went ([`discover`]):
//! each announced target is seen changed, or not yet. A change not seen after a bounded wait is made again by
//! that job, under its own announcement; a second announcement never seen made ends the action. A change that
//! ECS refused after its announcement is remembered by the process ([`Protocol::remember`]), so that the next
//! job on the same process reports ECS's words.

use std::collections::VecDeque;
use std::sync::Mutex;

use aws_sdk_ecs::types::Service;
use tracing::{error, info, warn};

use super::decide::Look;
use crate::aws::clients::Clients;
use crate::config::Target;
use crate::error::{Error, FailureKind};
use crate::judge::deployment;
use crate::report::{self, Delivery, Outcome, Progress};
use crate::text::{family_and_revision, short_arn};
use crate::token::{State, Tracker};

/// How many failed changes a process remembers.
const REMEMBERED: usize = 64;

/// The protocol's switch (`REPORT_BEFORE_CHANGE`), and what this process remembers of changes ECS refused after
/// their announcement.
#[derive(Debug)]
pub struct Protocol {
    pub on: bool,
    failures: Mutex<VecDeque<(String, String, FailureKind)>>,
}

impl Default for Protocol {
    fn default() -> Self {
        Self::new(true)
    }
}

impl Protocol {
    pub fn new(on: bool) -> Self {
        Self { on, failures: Mutex::new(VecDeque::new()) }
    }

    /// `REPORT_BEFORE_CHANGE`: on unless `false`, `off`, `no` or `0`.
    pub fn from_env() -> Self {
        let value = std::env::var("REPORT_BEFORE_CHANGE").unwrap_or_default();
        Self::new(!matches!(value.trim().to_ascii_lowercase().as_str(), "false" | "off" | "no" | "0"))
    }

    /// A change announced by the action `origin` that ECS refused.
    pub fn remember(&self, origin: &str, error: &Error) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() == REMEMBERED {
            failures.pop_front();
        }
        failures.push_back((origin.to_owned(), error.message(), error.kind()));
    }

    /// Why a change of the action `origin` did not happen, when this process saw it refused.
    pub fn recall(&self, origin: &str) -> Option<(String, FailureKind)> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.iter().rev().find(|(o, ..)| o == origin).map(|(_, m, k)| (m.clone(), *k))
    }
}

/// Whether CodePipeline took the announcement.
pub enum Vouched {
    Yes,
    /// It did not: this outcome ends the invocation, and nothing changes.
    No(Outcome),
}

/// Reports progress for `job` with `tracker` (the announced changes), before any change.
pub async fn vouch(clients: &Clients, job: &str, tracker: &Tracker, summary: String) -> Result<Vouched, Error> {
    let progress = Outcome::InProgress(Progress {
        token: tracker.encode()?,
        summary,
        percent: super::decide::percent(tracker),
        external_id: None,
    });
    report_first(clients, job, &progress).await
}

/// Reports `outcome` for `job` (progress, or a final verdict that a change follows), before any change.
pub async fn report_first(clients: &Clients, job: &str, outcome: &Outcome) -> Result<Vouched, Error> {
    let delivery = match report::send(&clients.pipeline, job, outcome).await {
        Ok(delivery) => delivery,
        Err(e) => {
            // Nothing changed: the invocation fails, so that Lambda delivers the job again.
            error!(error = %e.message(), "the announcement could not be delivered; nothing changes");
            return Ok(Vouched::No(Outcome::Undelivered(e.message())));
        }
    };
    match delivery {
        Delivery::Delivered => {
            info!("CodePipeline took the report for this job; making the changes it announced");
            Ok(Vouched::Yes)
        }
        Delivery::AlreadyFinished => {
            warn!("this job was answered already (a duplicate delivery): nothing changes");
            Ok(Vouched::No(Outcome::Reported("duplicate: nothing changed")))
        }
        Delivery::UnknownJob => {
            error!(job_id = %job, "CodePipeline does not know this job: a forged invocation; nothing changes");
            Ok(Vouched::No(Outcome::Reported("unknown job: nothing changed")))
        }
    }
}

/// Finds out how the announced changes went, from this look: each announced target whose change is seen made
/// now follows what it started. Returns the targets not seen changed yet. Pure.
///
/// - UpdateService (a release, a promotion, a revert): the service runs the announced revision (a release's:
///   the family's next one), by a deployment created after the announcement;
/// - StopServiceDeployment: the deployment is stopping or rolling back (or ended), or the service was updated
///   back to its previous revision instead (a stop ECS refused);
/// - ContinueServiceDeployment: no hook of the deployment awaits action at the stage it waited at.
pub fn discover(
    t: &mut Tracker,
    targets: &[Target],
    looks: &[Option<Look>],
    services: &[Option<Service>],
) -> Vec<usize> {
    let mut not_yet = Vec::new();
    for i in 0..t.t.len() {
        let state = t.t[i].state();
        if !state.pending() {
            continue;
        }
        let service = services.get(i).and_then(Option::as_ref);
        let look = looks.get(i).and_then(Option::as_ref);
        let seen = match state {
            State::Applying => moved_to(t, i, targets, service, false).map(|(id, dep, rf, rev)| {
                let slot = &mut t.t[i];
                (slot.2, slot.3) = (rf, rev);
                slot.follow(id, dep, State::Moving, slot.9);
            }),
            State::Returning => moved_to(t, i, targets, service, true).map(|(id, dep, ..)| {
                let slot = &mut t.t[i];
                slot.follow(id, dep, State::Reverting, slot.9);
            }),
            // The service updated back instead (a stop ECS refused) supersedes the deployment: that first.
            State::Stopping => match moved_to(t, i, targets, service, true) {
                Some((id, dep, ..)) => {
                    let slot = &mut t.t[i];
                    slot.follow(id, dep, State::Reverting, slot.9);
                    Some(())
                }
                None => match look {
                    Some(Look::Deployment(sd))
                        if !matches!(deployment::status(sd), "PENDING" | "IN_PROGRESS" | "SUCCESSFUL") =>
                    {
                        t.t[i].set(State::Undoing);
                        Some(())
                    }
                    _ => None,
                },
            },
            State::Continuing => match look {
                Some(Look::Deployment(sd)) => {
                    let stage = sd.lifecycle_stage().map(|s| s.as_str()).unwrap_or_default();
                    let waits = deployment::awaiting(sd, stage).is_some();
                    let same_stage = t.t[i].seen(t.started).stage == stage;
                    let going = matches!(deployment::status(sd), "PENDING" | "IN_PROGRESS");
                    // Still waiting at the same hook of the same stage: not continued yet.
                    (!(waits && same_stage && going)).then(|| {
                        t.t[i].set(State::Moving);
                    })
                }
                Some(Look::Missing) => {
                    t.t[i].set(State::Moving);
                    Some(())
                }
                _ => None,
            },
            _ => Some(()),
        };
        match seen {
            Some(()) => {
                info!(target_index = i, state = ?t.t[i].state(), followed = %t.t[i].id(), "found the announced change made")
            }
            None => not_yet.push(i),
        }
    }
    if not_yet.is_empty() {
        t.tries = 0;
    }
    not_yet
}

/// The service runs what target `i` was announced to move to (`back`: its previous revision), by a deployment
/// started after the announcement (another service deployment than the one it followed then, or, without
/// service deployments, a PRIMARY deployment created since): its service deployment id, `ecs-svc/…` digits,
/// family index and revision.
fn moved_to(
    t: &mut Tracker,
    i: usize,
    targets: &[Target],
    service: Option<&Service>,
    back: bool,
) -> Option<(String, u64, usize, u32)> {
    let service = service?;
    let running = service.task_definition()?;
    let (family, number) = family_and_revision(running);
    let number: u32 = number.parse().ok()?;
    let slot = &t.t[i];
    let (fam, rev) = if back { (slot.4, slot.5) } else { (slot.2, slot.3) };
    if t.family(fam, targets) != family {
        return None;
    }
    let expected = match rev {
        // A release's new revision: registered after the announcement, so newer than what ran.
        0 => number > slot.5 || t.family(slot.4, targets) != family,
        rev => number == rev,
    };
    let before = slot.0.as_str();
    let primary = service
        .deployments()
        .iter()
        .filter(|d| d.task_definition() == Some(running))
        .max_by_key(|d| d.status() == Some("PRIMARY"));
    let fresh = match service.current_service_deployment() {
        Some(now) => short_arn(now) != before,
        None => primary.is_some_and(|p| {
            p.status() == Some("PRIMARY") && p.created_at().is_none_or(|at| at.secs() >= t.started - 60)
        }),
    };
    if !(expected && fresh) {
        return None;
    }
    let id = service.current_service_deployment().map(|sd| short_arn(sd).to_owned()).unwrap_or_default();
    let dep =
        primary.and_then(|p| p.id()).and_then(|d| d.strip_prefix("ecs-svc/")).and_then(|d| d.parse().ok()).unwrap_or(0);
    let rf = Tracker::family_index(&mut t.fams, &family, targets);
    Some((id, dep, rf, number))
}
