//! Apply: carry the plan out — register each new revision once, then move every target at once — and the
//! rollbacks a look decides on (stop a deployment with a rollback, or update a target back to its previous
//! revision). What started is written down in the [`Tracker`] that every later look follows.

use aws_sdk_ecs::types::{DeploymentLifecycleHookAction, Service};
use futures_util::future::join_all;
use tracing::{info, warn};

use super::describe::all;
use super::plan::{Move, NewRevision, Plan};
use crate::aws::clients::Reaches;
use crate::aws::ecs;
use crate::clock::now;
use crate::config::{DEFAULT_TIMEOUT_MINUTES, MAX_TIMEOUT_MINUTES, Params, Target, Wait};
use crate::error::{Error, FailureKind};
use crate::guard::Guard;
use crate::judge::deployment;
use crate::text::{clip, family_and_revision, short_arn};
use crate::token::{CAUSE_CHARS, Failure, Op, Slot, State, Tracker, VERSION};

/// What one target's move started.
#[derive(Debug, Clone, Default)]
pub struct Started {
    /// The service deployment followed (ARN; empty: none, or a service followed by its `ecs-svc/…` deployment).
    pub sd: String,
    /// The `ecs-svc/…` deployment id.
    pub dep: Option<String>,
    /// The revision its deployment goes to, and the one a rollback takes it back to (ARNs).
    pub rev: Option<String>,
    pub prev: Option<String>,
    pub state: Option<State>,
    /// What happened, for the summary.
    pub headline: String,
}

/// The outcome of carrying a plan out.
pub struct Applied {
    pub tracker: Tracker,
    pub started: Vec<Started>,
    /// Per new revision: its ARN, the members carried over that our SDK does not model, and whether this
    /// delivery registered it.
    pub registered: Vec<(String, Vec<String>, bool)>,
    /// The timeout's note (lengthened for the configured bakes, or too short for them).
    pub timeout_note: Option<String>,
    /// A move ECS refused, when the others went on (`atomic`: they go back): its words and failure type.
    pub refused: Option<(String, FailureKind)>,
}

/// Registers the plan's revisions (each once), then moves every target at once. `guarded`: look for a revision
/// this job registered already before registering, and again after (a delivery of the same job that ran before
/// or beside this one); the older one wins.
pub async fn apply(
    reaches: &Reaches,
    guard: &Guard,
    params: &Params,
    plan: &Plan,
    services: &[Service],
    job: &str,
    guarded: bool,
) -> Result<Applied, Error> {
    let registered = all(plan.revisions.iter().map(|r| async move {
        // A revision is registered in the account and region of the targets that get it.
        let ecs = &reaches.target(r.targets.first().copied().unwrap_or(0)).ecs;
        if guarded {
            register_once(ecs, &r.base, &r.edit, job).await
        } else {
            let out = ecs::register(ecs, &r.base, &r.edit, job).await?;
            Ok((out.arn, out.carried, true))
        }
    }))
    .await?;
    let started_at = now();
    let moves = join_all(plan.targets.iter().zip(&params.targets).zip(services).enumerate().map(
        |(i, ((tp, target), service))| {
            let registered = &registered;
            let ecs = &reaches.target(i).ecs;
            async move {
                let rev = match &tp.mv {
                    Move::Release(r) => Some(registered[*r].0.clone()),
                    _ => tp.rev.clone(),
                };
                let headline = match &tp.mv {
                    Move::Release(r) => {
                        let (arn, carried, _) = &registered[*r];
                        release_headline(&plan.revisions[*r], arn, &tp.running, target, carried)
                    }
                    _ => tp.why.clone(),
                };
                let mut started = Started { rev: rev.clone(), prev: tp.prev.clone(), headline, ..Started::default() };
                match &tp.mv {
                    Move::Release(_) | Move::Update { revert: false, .. } => {
                        let (to, force) = match &tp.mv {
                            Move::Update { to, force, .. } => (to.clone(), *force),
                            _ => (rev.clone().unwrap_or_default(), params.force_new_deployment),
                        };
                        if let Move::Release(r) = tp.mv
                            && !registered[r].2
                            && let Some(adopted) = own_deployment(ecs, target, service, &to).await?
                        {
                            return Ok(Started {
                                headline: format!("{} (found this job's deployment of it)", tp.why),
                                ..adopted
                            });
                        }
                        let updated = ecs::update_service(ecs, &target.cluster, &target.service, &to, force).await?;
                        let (sd, dep) = followed(ecs, target, &updated, &to, started_at).await?;
                        started.sd = sd;
                        started.dep = dep;
                        started.state = Some(State::Moving);
                    }
                    // The rollback action's moves are the rollbacks a look starts: one routine ([`fix`]), below.
                    Move::Update { revert: true, to, .. } => {
                        started.rev = Some(tp.running.clone());
                        started.prev = Some(to.clone());
                        started.state = Some(State::Reverting);
                    }
                    Move::Stop { sd } => {
                        started.sd = sd.clone();
                        started.state = Some(State::Undoing);
                    }
                    Move::Continue { sd, hook, .. } => {
                        ecs::continue_deployment(ecs, sd, hook, DeploymentLifecycleHookAction::Continue).await?;
                        info!(service_deployment = %sd, hook = %hook, "continued the deployment");
                        started.sd = sd.clone();
                        started.state = Some(State::Moving);
                    }
                    Move::Adopt { sd } => {
                        started.sd = sd.clone();
                        started.dep = ecs::primary_deployment(service, &tp.running).map(str::to_owned);
                        started.state = Some(State::Moving);
                    }
                    Move::Done => started.state = Some(State::Done),
                    Move::Failed(_) => started.state = Some(State::Failed),
                }
                Ok::<Started, Error>(started)
            }
        },
    ))
    .await;
    let (timeout, timeout_note) = timeout(params, services);
    let mut tracker = tracker(reaches, params, plan.op, services, started_at, timeout, job);
    let mut started = Vec::new();
    let mut errors: Vec<(usize, Error)> = Vec::new();
    for (i, result) in moves.into_iter().enumerate() {
        match result {
            Ok(s) => started.push(s),
            Err(e) => {
                errors.push((i, e));
                started.push(Started { state: Some(State::Failed), ..Started::default() });
            }
        }
    }
    let targets = &params.targets;
    for (i, s) in started.iter().enumerate() {
        let slot = slot(&mut tracker.fams, s, &plan.targets[i].running, targets);
        tracker.t.push(slot);
        if let Move::Failed(message) = &plan.targets[i].mv
            && tracker.failed.is_none()
        {
            tracker.failed = Some(Failure(i, clip(message, CAUSE_CHARS), 'J'));
        }
    }
    let fixes: Vec<Fix> = plan
        .targets
        .iter()
        .enumerate()
        .filter_map(|(i, tp)| match tp.mv {
            Move::Stop { .. } => Some(Fix::Stop(i)),
            Move::Update { revert: true, .. } => Some(Fix::Revert(i)),
            _ => None,
        })
        .collect();
    for (i, line, kind) in fix(reaches, guard, &mut tracker, targets, &fixes).await {
        started[i].headline = format!("{}: {line}", started[i].headline);
        if let (Some(kind), None) = (kind, &tracker.failed) {
            tracker.failed = Some(Failure(i, clip(&line, CAUSE_CHARS), kind_char(kind)));
        }
    }
    let mut refused = None;
    if let Some((i, error)) = errors.into_iter().next() {
        let moved: Vec<&str> = started
            .iter()
            .zip(targets)
            .filter(|(s, _)| s.state.is_some_and(State::moving))
            .map(|(_, t)| t.service.as_str())
            .collect();
        if !tracker.atomic || moved.is_empty() {
            if moved.is_empty() {
                return Err(error);
            }
            let text = format!(
                "{} (service {}). Updated before it failed, and left deploying: {}.",
                error.message(),
                targets[i].service,
                moved.join(", ")
            );
            return Err(Error::Ended { kind: error.kind(), text });
        }
        // atomic: the services already moving go back before the one report.
        warn!(service = %targets[i].service, error = %error, "a move failed; rolling the others back (atomic)");
        tracker.failed = Some(Failure(
            i,
            clip(&format!("{}: {}", targets[i].service, error.message()), CAUSE_CHARS),
            kind_char(error.kind()),
        ));
        refused = Some((error.message(), error.kind()));
    }
    Ok(Applied { tracker, started, registered, timeout_note, refused })
}

/// What a target's release headline says: the revision registered, what it was built on, and what was kept.
fn release_headline(rev: &NewRevision, arn: &str, running: &str, target: &Target, carried: &[String]) -> String {
    let headline = match &rev.file {
        Some(name) => {
            let family = rev.base.td.family().unwrap_or("?");
            let ran = family_and_revision(running).0;
            let new_family = if ran == family {
                String::new()
            } else {
                format!("; a new family for this service, which ran family {ran}")
            };
            format!(
                "Registered {} from {name} (the service ran {}{new_family}) and updated {}",
                short_arn(arn),
                short_arn(running),
                target.describe()
            )
        }
        None if arn == running => format!("Forced a new deployment of {} on {}", short_arn(arn), target.describe()),
        None => format!("Registered {} (from {}) and updated {}", short_arn(arn), rev.source, target.describe()),
    };
    if !carried.is_empty() {
        tracing::info!(members = ?carried, "the new revision kept members this function's SDK does not model");
    }
    headline
}

/// The tracker of what an action announces before it changes anything (report first, then change): every
/// target that is to change is pending, what it goes to and comes from written down for the next job to find.
pub fn announced(
    reaches: &Reaches,
    params: &Params,
    plan: &Plan,
    services: &[Service],
    job: &str,
    tries: u8,
) -> Tracker {
    let (timeout, _) = timeout(params, services);
    let mut t = tracker(reaches, params, plan.op, services, now(), timeout, job);
    t.tries = tries;
    let targets = &params.targets;
    for (i, (tp, service)) in plan.targets.iter().zip(services).enumerate() {
        // What the service follows before the change: the next job knows the change by another one.
        let before = service.current_service_deployment().map(|sd| short_arn(sd).to_owned()).unwrap_or_default();
        let mut index = |arn: &str| {
            let (family, number) = family_and_revision(arn);
            (Tracker::family_index(&mut t.fams, &family, targets), number.parse().unwrap_or(0))
        };
        let running = index(&tp.running);
        let rev = tp.rev.as_deref().map(&mut index).unwrap_or(running);
        let prev = tp.prev.as_deref().map(&mut index).unwrap_or((rev.0, 0));
        let sd = |arn: &str| short_arn(arn).to_owned();
        let slot = match &tp.mv {
            Move::Release(r) => {
                let family = plan.revisions[*r].base.td.family().unwrap_or_default();
                let rf = Tracker::family_index(&mut t.fams, family, targets);
                Slot::new(before, 0, (rf, 0), running, State::Applying)
            }
            Move::Update { to, revert: false, .. } => {
                let to = index(to);
                Slot::new(before, 0, to, running, State::Applying)
            }
            Move::Update { to, revert: true, .. } => {
                let to = index(to);
                Slot::new(before, 0, running, to, State::Returning)
            }
            Move::Stop { sd: arn } => Slot::new(sd(arn), 0, rev, prev, State::Stopping),
            Move::Continue { sd: arn, stage, .. } => {
                let mut slot = Slot::new(sd(arn), 0, rev, prev, State::Continuing);
                let seen =
                    crate::judge::deployment::Seen { stage: stage.clone(), since: t.started, ..Default::default() };
                slot.remember(&seen, t.started);
                slot
            }
            Move::Adopt { sd: arn } => Slot::new(sd(arn), 0, running, prev, State::Moving),
            Move::Done => Slot::new(String::new(), 0, running, (running.0, 0), State::Done),
            Move::Failed(message) => {
                if t.failed.is_none() {
                    t.failed = Some(Failure(i, clip(message, CAUSE_CHARS), 'J'));
                }
                Slot::new(String::new(), 0, running, (running.0, 0), State::Failed)
            }
        };
        t.t.push(slot);
    }
    t
}

/// The failure type a tracker keeps, as one character.
pub fn kind_char(kind: FailureKind) -> char {
    match kind {
        FailureKind::Permission => 'P',
        FailureKind::Configuration => 'C',
        FailureKind::SystemUnavailable => 'S',
        FailureKind::RevisionUnavailable | FailureKind::JobFailed => 'J',
    }
}

/// `ecs-svc/<digits>` → the digits (0: none).
fn dep_digits(dep: Option<&str>) -> u64 {
    dep.and_then(|d| d.strip_prefix("ecs-svc/")).and_then(|d| d.parse().ok()).unwrap_or(0)
}

/// The tracker's slot for what a target's move started.
fn slot(fams: &mut Vec<String>, s: &Started, running: &str, targets: &[Target]) -> Slot {
    let mut revision = |arn: Option<&str>| -> (usize, u32) {
        match arn {
            Some(arn) => {
                let (family, number) = family_and_revision(arn);
                (Tracker::family_index(fams, &family, targets), number.parse().unwrap_or(0))
            }
            None => (0, 0),
        }
    };
    let rev = revision(Some(s.rev.as_deref().unwrap_or(running)));
    let prev = revision(s.prev.as_deref());
    let prev = if s.prev.is_some() { prev } else { (rev.0, 0) };
    Slot::new(short_arn(&s.sd).to_owned(), dep_digits(s.dep.as_deref()), rev, prev, s.state.unwrap_or(State::Failed))
}

/// An empty tracker for the action, started now.
fn tracker(
    reaches: &Reaches,
    params: &Params,
    op: Op,
    services: &[Service],
    started: i64,
    timeout: u32,
    job: &str,
) -> Tracker {
    let reverting = op == Op::Rollback;
    Tracker {
        v: VERSION,
        job: job.to_owned(),
        op,
        arn: reaches.home_prefix(services, &params.targets),
        fams: Vec::new(),
        t: Vec::new(),
        names: if params.targets_from_file {
            params.targets.iter().map(|t| (t.cluster.clone(), t.service.clone())).collect()
        } else {
            Vec::new()
        },
        started,
        deadline: started + i64::from(timeout) * 60,
        timeout,
        on_timeout: params.on_timeout_for(reverting),
        polls: 0,
        paused: params.wait == Wait::Paused,
        atomic: params.atomic,
        keep: if op == Op::Release { params.keep_revisions } else { None },
        failed: None,
        back: None,
        nowait: params.wait == Wait::No,
        expired: false,
        tries: 0,
        clean: Vec::new(),
        task: None,
        sn: if params.schedules_from_file {
            super::schedules::items_of(&params.schedules).iter().map(super::schedules::Item::encode).collect()
        } else {
            Vec::new()
        },
        mv: None,
    }
}

/// The timeout: `timeoutMinutes`, or long enough for the slowest target's configured bakes, and why when it is
/// not simply the one asked for.
pub fn timeout(params: &Params, services: &[Service]) -> (u32, Option<String>) {
    services
        .iter()
        .map(|s| {
            deployment::timeout_minutes(
                params.timeout_minutes,
                DEFAULT_TIMEOUT_MINUTES,
                MAX_TIMEOUT_MINUTES,
                s.deployment_configuration(),
            )
        })
        .max_by_key(|(minutes, _)| *minutes)
        .unwrap_or((DEFAULT_TIMEOUT_MINUTES, None))
}

/// The service deployment UpdateService started (from its answer, else ListServiceDeployments), and the
/// PRIMARY `ecs-svc/…` deployment running `arn`.
async fn followed(
    ecs: &aws_sdk_ecs::Client,
    target: &Target,
    updated: &Service,
    arn: &str,
    since: i64,
) -> Result<(String, Option<String>), Error> {
    let dep = ecs::primary_deployment(updated, arn).map(str::to_owned);
    let sd = match updated.current_service_deployment() {
        Some(sd) => Some(sd.to_owned()),
        None => ecs::find_service_deployment(ecs, &target.cluster, &target.service, arn, since).await?,
    };
    match (sd, dep) {
        (Some(sd), dep) => Ok((sd, dep)),
        (None, Some(dep)) => Ok((String::new(), Some(dep))),
        (None, None) => Err(Error::NoPrimaryDeployment { service: target.service.clone() }),
    }
}

/// A delivery of a job that registered `arn` already (an earlier or concurrent delivery of the same job): the
/// deployment it started, if it started one.
async fn own_deployment(
    ecs: &aws_sdk_ecs::Client,
    target: &Target,
    service: &Service,
    arn: &str,
) -> Result<Option<Started>, Error> {
    let runs = service.task_definition() == Some(arn);
    let sd = match (runs, service.current_service_deployment()) {
        (true, Some(sd)) => Some(sd.to_owned()),
        _ => ecs::find_service_deployment(ecs, &target.cluster, &target.service, arn, 0).await?,
    };
    Ok(sd.map(|sd| {
        info!(service_deployment = %sd, "another delivery of this job already deployed its revision; following that");
        Started {
            sd,
            dep: ecs::primary_deployment(service, arn).map(str::to_owned),
            rev: Some(arn.to_owned()),
            prev: service.task_definition().filter(|t| *t != arn).map(str::to_owned),
            state: Some(State::Moving),
            headline: String::new(),
        }
    }))
}

/// Registers `edit` on `base` at most once per job: a revision this job already registered is reused, and when
/// a concurrent delivery of the same job registered one at the same moment, the older one wins and ours is
/// deregistered. Returns the revision, the members carried over that our SDK does not model, and whether this
/// delivery registered it.
pub async fn register_once(
    ecs: &aws_sdk_ecs::Client,
    base: &ecs::Described,
    edit: &crate::taskdef::Edit,
    job: &str,
) -> Result<(String, Vec<String>, bool), Error> {
    let family = base.td.family().unwrap_or_default();
    let current = u64::try_from(base.td.revision()).unwrap_or(0);
    if let Some(found) = ecs::revisions_of_job(ecs, family, current, job, None).await?.into_iter().next() {
        info!(task_definition = %found, "this job registered a revision already (an earlier attempt); reusing it");
        return Ok((found, Vec::new(), false));
    }
    let ecs::Registered { arn: ours, carried } = ecs::register(ecs, base, edit, job).await?;
    let all = ecs::revisions_of_job(ecs, family, current, job, Some(&ours)).await?;
    match all.into_iter().next() {
        Some(winner) if winner != ours => {
            warn!(ours = %ours, kept = %winner, "a concurrent delivery of this job registered a revision too; keeping the older one");
            if let Err(e) = ecs::deregister(ecs, &ours).await {
                warn!(error = %e, "could not deregister the duplicate revision");
            }
            Ok((winner, carried, false))
        }
        _ => Ok((ours, carried, true)),
    }
}

/// A rollback a look decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// StopServiceDeployment ROLLBACK of the target's deployment.
    Stop(usize),
    /// UpdateService back to the target's previous revision.
    Revert(usize),
}

/// Starts the rollbacks, all at once. A stop that ECS refuses falls back to updating the service to its
/// previous revision; a target whose rollback cannot start is BackFailed, with why. Returns a line per fix.
pub async fn fix(
    reaches: &Reaches,
    guard: &Guard,
    tracker: &mut Tracker,
    targets: &[Target],
    fixes: &[Fix],
) -> Vec<(usize, String, Option<FailureKind>)> {
    let at = now();
    let jobs = fixes.iter().map(|f| {
        let tracker = &*tracker;
        async move {
            let i = match f {
                Fix::Stop(i) | Fix::Revert(i) => *i,
            };
            let target = &targets[i];
            let ecs = &reaches.target(i).ecs;
            let stopped = match (f, tracker.deployment_arn(i, targets)) {
                (Fix::Stop(_), Some(sd)) => match ecs::roll_back(ecs, &sd).await {
                    Ok(()) => {
                        info!(service_deployment = %sd, "asked ECS to roll the deployment back");
                        return (i, Ok((None, State::Undoing)), "StopServiceDeployment ROLLBACK accepted".to_owned());
                    }
                    Err(e) => {
                        warn!(service = %target.service, error = %e, "could not stop the deployment; updating the service back instead");
                        Some(e)
                    }
                },
                _ => None,
            };
            let Some(prev) = tracker.revision_arn(i, true, targets) else {
                let kind = stopped.as_ref().map(Error::kind);
                let why = stopped.map(|e| e.message()).unwrap_or_else(|| "its previous revision is not known".into());
                return (i, Err(kind), format!("could not be rolled back ({why}); roll it back by hand"));
            };
            // Every way onto a service passes the same guard: the revision it goes back to too.
            let guarded = match guard.checks_revisions() {
                false => Ok(()),
                true => match ecs::describe_task_definition(ecs, &prev).await {
                    Ok(td) => guard.check_revision(&td.td).map_err(Error::from),
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = guarded {
                return (i, Err(Some(e.kind())), format!("not rolled back: {}", e.message()));
            }
            match ecs::update_service(ecs, &target.cluster, &target.service, &prev, false).await {
                Ok(updated) => match followed(ecs, target, &updated, &prev, at).await {
                    Ok((sd, dep)) => {
                        info!(service = %target.service, task_definition = %prev, "updated the service back");
                        let note = stopped.map(|e| format!(" (the stop was refused: {})", clip(&e.to_string(), 200))).unwrap_or_default();
                        (i, Ok((Some((sd, dep)), State::Reverting)), format!("updated back to {}{note}", short_arn(&prev)))
                    }
                    Err(e) => (i, Err(Some(e.kind())), format!("updated back to {}, but its deployment cannot be followed ({e})", short_arn(&prev))),
                },
                Err(e) => (i, Err(Some(e.kind())), format!("rolling back failed: {}", e.message())),
            }
        }
    });
    let done = join_all(jobs).await;
    let mut lines = Vec::new();
    for (i, result, line) in done {
        let slot = &mut tracker.t[i];
        let mut kind = None;
        match result {
            Ok((None, state)) => slot.set(state),
            Ok((Some((sd, dep)), state)) => {
                slot.follow(short_arn(&sd).to_owned(), dep_digits(dep.as_deref()), state, at - tracker.started)
            }
            Err(k) => {
                slot.set(State::BackFailed);
                kind = Some(k.unwrap_or(FailureKind::JobFailed));
            }
        }
        lines.push((i, line, kind));
    }
    lines
}

/// Makes, again, the changes announced for `which` that were not seen made (the job that announced them did
/// not make them): under this job's own announcement. Returns what ECS refused.
pub async fn redo(
    reaches: &Reaches,
    guard: &Guard,
    t: &mut Tracker,
    targets: &[Target],
    which: &[usize],
    hook: Option<&str>,
) -> Vec<(usize, Error)> {
    let mut refused = Vec::new();
    let mut fixes = Vec::new();
    for &i in which {
        let target = &targets[i];
        let ecs = &reaches.target(i).ecs;
        match t.t[i].state() {
            State::Stopping => fixes.push(Fix::Stop(i)),
            State::Returning => fixes.push(Fix::Revert(i)),
            State::Applying => {
                let Some(to) = t.revision_arn(i, false, targets) else { continue };
                let force = t.t[i].2 == t.t[i].4 && t.t[i].3 == t.t[i].5;
                if let Err(e) = ecs::update_service(ecs, &target.cluster, &target.service, &to, force).await {
                    refused.push((i, e));
                }
            }
            State::Continuing => {
                let Some(sd) = t.deployment_arn(i, targets) else { continue };
                let continued = async {
                    let found = ecs::describe_service_deployment(ecs, &sd).await?;
                    let waiting = found.as_ref().and_then(|d| {
                        let stage = d.lifecycle_stage().map(|s| s.as_str()).unwrap_or_default();
                        crate::judge::deployment::awaiting(d, stage)
                    });
                    match (hook, waiting) {
                        (Some(hook), _) => {
                            ecs::continue_deployment(ecs, &sd, hook, DeploymentLifecycleHookAction::Continue).await
                        }
                        (None, Some(pause)) => {
                            ecs::continue_deployment(ecs, &sd, &pause.hook_id, DeploymentLifecycleHookAction::Continue)
                                .await
                        }
                        (None, None) => Ok(()),
                    }
                };
                if let Err(e) = continued.await {
                    refused.push((i, e));
                }
            }
            _ => {}
        }
    }
    for (i, line, kind) in fix(reaches, guard, t, targets, &fixes).await {
        if let Some(kind) = kind {
            refused.push((i, Error::Ended { kind, text: format!("{}: {line}", targets[i].service) }));
        }
    }
    refused
}
