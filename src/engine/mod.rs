//! The one engine: every action, for one target or ten, as a script of named steps.
//!
//! A first job: read the release → describe → plan → verify → (a dry run reports the plan here) → apply →
//! report. Every later job: look → decide → (rollbacks) → finish → report. One service is a list of one; the
//! action (deploy, promote, rollback, continue) only changes what plan gives each target.
//!
//! - [`describe`]: what the targets run, batched and concurrent;
//! - [`plan`]: what each target gets (pure);
//! - [`apply`]: register once, move every target at once; the rollbacks a look decides on;
//! - [`look`]: one look at every target's deployment;
//! - [`decide`]: where each target stands, and what the action does about it (pure);
//! - [`finish`]: digests, diagnostics, clean-up;
//! - [`summary`]: the words and output variables of every report.

pub mod announce;
pub mod apply;
pub mod before;
pub mod decide;
pub mod describe;
pub mod finish;
pub mod look;
pub mod plan;
pub mod schedules;
pub mod summary;

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{Service, ServiceDeployment};
use tracing::{error, info, warn};

use self::announce::{Protocol, Vouched};
use self::decide::{Decision, End, Look};
use self::plan::{Current, Move, Plan, TargetPlan};
use self::summary::Summary;
use crate::aws::clients::{Clients, Reaches};
use crate::aws::ecr::{self, ImageCheck};
use crate::aws::ecs;
use crate::checkpoint::Checkpoint;
use crate::clock::now;
use crate::config::{self, Action, Params, Target, Wait};
use crate::diff;
use crate::error::Error;
use crate::event::Job;
use crate::guard::Guard;
use crate::judge::deployment;
use crate::release;
use crate::report::{Outcome, Progress, Success};
use crate::taskdef;
use crate::text::short_arn;
use crate::token::{MAX_LEN, Op, Tracker};

/// What every step of one invocation uses.
pub struct Ctx<'a> {
    pub clients: &'a Clients,
    pub guard: &'a Guard,
    pub job: &'a Job,
    pub checkpoint: &'a Checkpoint,
    /// Report first, then change (`REPORT_BEFORE_CHANGE`), and the changes this process saw refused.
    pub protocol: &'a Protocol,
    /// Every target's clients (its account and region), once the job knows its targets ([`Ctx::reach_targets`]).
    reaches: std::sync::OnceLock<Reaches>,
    home: Reaches,
}

/// The action a job belongs to: the job that started it (what it registers carries that job's id), and how
/// many jobs announced its changes.
#[derive(Debug, Clone)]
pub struct Origin {
    pub job: String,
    pub tries: u8,
}

impl<'a> Ctx<'a> {
    pub fn new(
        clients: &'a Clients,
        guard: &'a Guard,
        job: &'a Job,
        checkpoint: &'a Checkpoint,
        protocol: &'a Protocol,
    ) -> Self {
        let home = Reaches::home(clients, 0);
        Self { clients, guard, job, checkpoint, protocol, reaches: std::sync::OnceLock::new(), home }
    }

    /// Every target's clients: the function's own, or those of the role and region a target names (STS
    /// AssumeRole once per distinct role for the job, before anything changes).
    async fn reach_targets(&self, targets: &[Target]) -> Result<(), Error> {
        if self.reaches.get().is_some() {
            return Ok(());
        }
        let access: Vec<crate::config::Access> = targets.iter().map(|t| t.access.clone()).collect();
        let reaches = if access.iter().all(crate::config::Access::is_home) {
            Reaches::home(self.clients, targets.len())
        } else {
            self.checkpoint.step("assuming the target accounts' roles (STS AssumeRole)".to_owned());
            self.clients
                .reaches(
                    &access,
                    &self.job.id,
                    self.job.account_id.as_deref(),
                    self.guard,
                    self.checkpoint.seconds_left(),
                )
                .await?
        };
        let _ = self.reaches.set(reaches);
        Ok(())
    }

    pub fn reaches(&self) -> &Reaches {
        self.reaches.get().unwrap_or(&self.home)
    }

    /// Target `i`'s ECS client.
    fn ecs_of(&self, i: usize) -> &aws_sdk_ecs::Client {
        &self.reaches().target(i).ecs
    }
}

/// One job: the first of an action (by its `action`), or a later one (by its token).
pub async fn run(cx: &Ctx<'_>) -> Result<Outcome, Error> {
    if let Some(token) = &cx.job.continuation_token {
        return follow(cx, token).await;
    }
    let params = config::parse(cx.job.user_parameters.as_deref())?;
    let origin = Origin { job: cx.job.id.clone(), tries: 1 };
    match params.action {
        Action::Deploy if params.task_definition.is_some() => promote(cx, params, &origin).await,
        Action::Deploy => release(cx, params, &origin).await,
        Action::Rollback => rollback(cx, params, &origin).await,
        Action::Continue => continue_deployments(cx, params, &origin).await,
    }
}

fn what(targets: &[Target]) -> String {
    match targets {
        [one] => one.describe(),
        many => format!("{} services", many.len()),
    }
}

/// Describe: every target's service (ACTIVE, ECS controller).
async fn services(cx: &Ctx<'_>, targets: &[Target]) -> Result<Vec<Service>, Error> {
    cx.reach_targets(targets).await?;
    cx.checkpoint.step(format!("describing {}", what(targets)));
    let services = describe::services(cx.reaches(), targets).await?;
    services.iter().try_for_each(describe::check)?;
    Ok(services)
}

fn running(service: &Service) -> String {
    service.task_definition().unwrap_or_default().to_owned()
}

/// A release of the build's images.
async fn release(cx: &Ctx<'_>, params: Params, origin: &Origin) -> Result<Outcome, Error> {
    // Read the release: the artifact, read once.
    let release::Release { params, updates, files } =
        release::read(cx.clients, cx.guard, cx.job, &params, cx.checkpoint).await?;
    let targets = &params.targets;
    // Describe: the services, and the revisions they run.
    let services = services(cx, targets).await?;
    cx.checkpoint.step("describing the running task definitions".to_owned());
    let running_tds =
        describe::task_definitions(cx.reaches(), services.iter().enumerate().map(|(i, s)| (i, running(s)))).await?;
    // beforeDeploy.taskDefinition: another family's revision for the task, which gets the image file's images
    // for its containers (the services get the others).
    let migration = match params.before_deploy.as_ref().and_then(|b| b.task_definition.as_deref()) {
        Some(wanted) => {
            cx.checkpoint.step(format!("describing the beforeDeploy task definition {wanted}"));
            let td =
                ecs::active_task_definition(cx.ecs_of(0), wanted).await.map_err(|e| named_revision_error(e, wanted))?;
            cx.guard.check_family(td.td.family().unwrap_or_default())?;
            Some(td)
        }
        None => None,
    };
    let (updates, migration_updates) =
        split_updates(&params, &files, &running_tds, &services, updates, migration.as_ref());
    // Plan: the new revisions (one per distinct base), and what each target gets.
    let inputs = plan::Release {
        params: &params,
        updates: &updates,
        files: &files,
        services: &services,
        running: &running_tds,
        job: &origin.job,
        places: &(0..targets.len()).map(|i| cx.reaches().place(i)).collect::<Vec<_>>(),
    };
    let (revisions, gets) = plan::release(&inputs)?;
    let runs_already: Vec<usize> = (0..targets.len()).filter(|i| gets[*i].is_none()).collect();
    let current = current_deployments(cx, &services, &runs_already).await?;
    let mut plans = Vec::new();
    for (i, service) in services.iter().enumerate() {
        let running = running(service);
        let mut notes = Vec::new();
        if let Some(status) = running_tds[&running].retired() {
            notes.push(format!(
                "note: the running revision {} is {status}; the new one is built on it",
                short_arn(&running)
            ));
        }
        let tp = match gets[i] {
            Some(r) => {
                let rev = &revisions[r];
                notes.splice(0..0, image_lines(&rev.edit));
                notes.extend(rev.edit.overrides.describe());
                notes.extend(rev.edit.warnings());
                TargetPlan {
                    mv: Move::Release(r),
                    running: running.clone(),
                    rev: None,
                    prev: Some(running.clone()),
                    why: String::new(),
                    notes,
                }
            }
            None => {
                let own = taskdef::registered_by(&running_tds[&running].tags, &origin.job);
                let (sd, source) = current.get(&i).cloned().unwrap_or((None, None));
                let now = match (&sd, service.current_service_deployment()) {
                    (Some(sd), _) => Current::Deployment(sd),
                    (None, Some(_)) => Current::Unknown,
                    (None, None) => Current::Legacy,
                };
                let (mv, why) = plan::already_running(service, now, own, params.force_new_deployment);
                let prev = match &mv {
                    Move::Adopt { .. } => source,
                    Move::Update { .. } => Some(running.clone()),
                    _ => None,
                };
                TargetPlan { mv, running: running.clone(), rev: Some(running.clone()), prev, why, notes }
            }
        };
        plans.push(tp);
    }
    let mut plan = Plan { op: Op::Release, targets: plans, revisions };
    // The beforeDeploy task: on the first moving target's new revision, or the migration revision.
    let task_plan = match &params.before_deploy {
        Some(before) => {
            let source = match migration {
                Some(td) if migration_updates.is_empty() => {
                    cx.guard.check_revision(&td.td)?;
                    Some((before::Source::Existing(td.td.task_definition_arn().unwrap_or_default().to_owned()), td.td))
                }
                Some(td) => {
                    let edit = taskdef::edit(&td.td, &migration_updates)?;
                    let base_td = td.td.clone();
                    plan.revisions.push(plan::NewRevision {
                        source: short_arn(td.td.task_definition_arn().unwrap_or_default()).to_owned(),
                        file: None,
                        images: edit.new_images(),
                        edit,
                        base: td,
                        targets: Vec::new(),
                        place: cx.reaches().place(0),
                    });
                    Some((before::Source::Revision(plan.revisions.len() - 1), base_td))
                }
                None => plan.targets.iter().find_map(|tp| match tp.mv {
                    Move::Release(r) => Some((before::Source::Revision(r), plan.revisions[r].base.td.clone())),
                    _ => None,
                }),
            };
            match source {
                Some((source, td)) if plan.targets.iter().any(|t| t.mv.changes()) => {
                    Some(before::plan(before, (&targets[0], &services[0]), &td, source, &origin.job)?)
                }
                _ => None,
            }
        }
        None => None,
    };
    // Verify: the families and the images the release sets, against the allow-lists and ECR.
    for revision in &plan.revisions {
        cx.guard.check_family(revision.base.td.family().unwrap_or_default())?;
    }
    let verified = verify(cx, &params, plan.new_images()).await?;
    let scheduled = look_at_schedules(cx, &params).await?;
    if params.dry_run {
        let mut success = dry_run(&params, &running_tds, &plan, &verified, task_plan.as_ref());
        if let Some((items, found)) = scheduled {
            let families: Vec<String> = plan
                .revisions
                .iter()
                .filter(|r| !r.targets.is_empty())
                .filter_map(|r| r.base.td.family())
                .map(str::to_owned)
                .collect();
            success.summary.push('\n');
            success.summary.push_str(&schedules::preview(&items, &found, &families).join("\n"));
        }
        return Ok(Outcome::Succeeded(success));
    }
    check_fits(&params, &services, &plan, task_plan.as_ref())?;
    // What each registration keeps that our SDK does not model (found without a call).
    let mut notes: Vec<Vec<String>> = plan.targets.iter().map(|t| t.notes.clone()).collect();
    for revision in plan.revisions.iter().filter(|r| !r.targets.is_empty()) {
        let carried = ecs::carried_members(cx.ecs_of(0), &revision.base, &revision.edit, &origin.job).await;
        if !carried.is_empty() {
            for &i in &revision.targets {
                notes[i].push(format!(
                    "kept task definition members this function's SDK does not model: {}",
                    carried.join(", ")
                ));
            }
        }
    }
    // Apply: register once, move every target at once.
    let extra = ecr::describe(&verified);
    if targets.len() == 1 {
        notes[0].extend(extra.iter().cloned());
    }
    let extra = if targets.len() == 1 { Vec::new() } else { extra };
    if let Some(task_plan) = &task_plan {
        return before::start(cx, origin, &params, &services, &plan, task_plan, &notes, &extra).await;
    }
    if params.before_deploy.is_some() {
        notes[0].push("beforeDeploy: not run, as no service changes".to_owned());
    }
    carry_out(cx, origin, &params, &services, &plan, &notes, &extra).await
}

/// The image file's images, split between the services and the beforeDeploy task's own revision
/// (`beforeDeploy.taskDefinition`): an image for a container only that revision has goes to it alone; one for a
/// container the services have too goes to both.
fn split_updates(
    params: &Params,
    files: &BTreeMap<String, crate::taskdef_file::FileTaskDefinition>,
    running: &BTreeMap<String, ecs::Described>,
    services: &[Service],
    updates: Vec<crate::images::ImageUpdate>,
    migration: Option<&ecs::Described>,
) -> (Vec<crate::images::ImageUpdate>, Vec<crate::images::ImageUpdate>) {
    let Some(migration) = migration else { return (updates, Vec::new()) };
    let has = |td: &aws_sdk_ecs::types::TaskDefinition, name: &str| {
        td.container_definitions().iter().any(|c| c.name() == Some(name))
    };
    let services_have = |name: &str| {
        params.targets.iter().zip(services).any(|(t, s)| match &t.task_definition_file {
            Some(file) => files.get(file).is_some_and(|f| has(&f.td, name)),
            None => running.get(&running_arn(s)).is_some_and(|d| has(&d.td, name)),
        })
    };
    let theirs: Vec<_> = updates.iter().filter(|u| has(&migration.td, &u.container)).cloned().collect();
    let ours: Vec<_> =
        updates.into_iter().filter(|u| services_have(&u.container) || !has(&migration.td, &u.container)).collect();
    (ours, theirs)
}

fn running_arn(service: &Service) -> String {
    running(service)
}

/// Apply the plan and report it. With the protocol on, in its order: announce the changes (the job's one
/// report), then make them; the next job finds out how they went. Off, as before it: change, then report.
async fn carry_out(
    cx: &Ctx<'_>,
    origin: &Origin,
    params: &Params,
    services: &[Service],
    plan: &Plan,
    notes: &[Vec<String>],
    extra: &[String],
) -> Result<Outcome, Error> {
    let reaches = cx.reaches();
    let changing =
        format!("changing {} (ECS may have applied some changes; check the services)", what(&params.targets));
    if cx.protocol.on && plan.targets.iter().any(|t| t.mv.changes()) {
        let tracker = apply::announced(cx.reaches(), params, plan, services, &origin.job, origin.tries);
        let view = Summary { t: &tracker, targets: &params.targets, single: params.single };
        let mut extra = extra.to_vec();
        if params.wait != Wait::No {
            let (minutes, note) = apply::timeout(params, services);
            extra.push(note.unwrap_or_else(|| format!("timeout {minutes} min")));
        }
        let summary = view.announcement(plan, notes, &extra);
        cx.checkpoint
            .step(format!("announcing the changes to {} (reporting to CodePipeline first)", what(&params.targets)));
        if let Vouched::No(outcome) = announce::vouch(cx.clients, &cx.job.id, &tracker, summary).await? {
            return Ok(outcome);
        }
        cx.checkpoint.fallback(Outcome::Reported("in progress: announced"));
        cx.checkpoint.step(changing);
        match apply::apply(reaches, cx.guard, params, plan, services, &origin.job, origin.tries > 1).await {
            Ok(applied) => {
                if let Some((message, kind)) = applied.refused {
                    error!(error = %message, "ECS refused a change this job announced; the next job reports it");
                    cx.protocol.remember(&origin.job, &Error::Ended { kind, text: message });
                }
            }
            Err(e) => {
                error!(error = %e.message(), "ECS refused a change this job announced; the next job reports it");
                cx.protocol.remember(&origin.job, &e);
            }
        }
        return Ok(Outcome::Reported("in progress: the announced changes were made"));
    }
    cx.checkpoint.step(changing);
    let applied = apply::apply(reaches, cx.guard, params, plan, services, &origin.job, true).await?;
    report_started(cx, params, services, applied.tracker, &applied.started, notes, extra, applied.timeout_note).await
}

/// The scheduled tasks the action names, as they are now: a name that does not exist is refused here, before
/// anything changes.
async fn look_at_schedules(
    cx: &Ctx<'_>,
    params: &Params,
) -> Result<Option<(Vec<schedules::Item>, Vec<schedules::Found>)>, Error> {
    let items = schedules::items_of(&params.schedules);
    if items.is_empty() {
        return Ok(None);
    }
    cx.checkpoint.step(format!("looking up {} scheduled task(s)", items.len()));
    let found = schedules::look(cx.reaches().target(0), &items).await?;
    Ok(Some((items, found)))
}

/// The current service deployments of the targets that already run the release, and each one's source revision.
async fn current_deployments(
    cx: &Ctx<'_>,
    services: &[Service],
    which: &[usize],
) -> Result<BTreeMap<usize, (Option<ServiceDeployment>, Option<String>)>, Error> {
    let arns: Vec<(usize, String)> =
        which.iter().filter_map(|i| services[*i].current_service_deployment().map(|a| (*i, a.to_owned()))).collect();
    if arns.is_empty() {
        return Ok(which.iter().map(|i| (*i, (None, None))).collect());
    }
    cx.checkpoint.step("checking the services' current deployments".to_owned());
    let found = describe::deployments(cx.reaches(), &arns).await?;
    let sources: Vec<(usize, String)> = arns
        .iter()
        .filter_map(|(i, a)| found.get(a).and_then(|sd| describe::revision_arns(sd).1).map(|s| (*i, s)))
        .collect();
    let tds = if sources.is_empty() {
        BTreeMap::new()
    } else {
        describe::revision_task_definitions(cx.reaches(), &sources).await.unwrap_or_default()
    };
    Ok(which
        .iter()
        .map(|i| {
            let sd = services[*i].current_service_deployment().and_then(|a| found.get(a)).cloned();
            let source = sd.as_ref().and_then(|sd| describe::revision_arns(sd).1).and_then(|r| tds.get(&r).cloned());
            (*i, (sd, source))
        })
        .collect())
}

/// One line per container (old image → new image).
fn image_lines(edit: &taskdef::Edit) -> Vec<String> {
    edit.changes
        .iter()
        .map(|c| match c.from.as_deref() {
            Some(from) if from == c.to => format!("{}: {} (unchanged)", c.container, c.to),
            Some(from) => format!("{}: {from} → {}", c.container, c.to),
            None => format!("{}: (no image) → {}", c.container, c.to),
        })
        .collect()
}

/// The images a release sets (each once): each must be allowed, and is looked up in ECR unless `verifyImages`
/// is false.
async fn verify(cx: &Ctx<'_>, params: &Params, images: Vec<String>) -> Result<Vec<ImageCheck>, Error> {
    for image in &images {
        cx.guard.check_image(image)?;
    }
    if params.verify_images && !images.is_empty() {
        let count = if images.len() == 1 { "1 image".to_owned() } else { format!("{} images", images.len()) };
        cx.checkpoint.step(format!("looking up {count} in ECR"));
    }
    ecr::verify(cx.reaches(), images, params.verify_images).await
}

/// `dryRun`: what a deploy would do, per target, with the task definition diff; nothing changed.
fn dry_run(
    params: &Params,
    running: &BTreeMap<String, ecs::Described>,
    plan: &Plan,
    verified: &[ImageCheck],
    task: Option<&before::TaskPlan>,
) -> Success {
    let one = params.targets.len() == 1;
    let mut lines = vec![if one {
        format!(
            "Dry run: nothing was registered, updated or tagged. {} runs {}.",
            params.targets[0].describe(),
            short_arn(&plan.targets[0].running)
        )
    } else {
        format!("Dry run for {} services: nothing was registered, updated or tagged.", params.targets.len())
    }];
    for (i, tp) in plan.targets.iter().enumerate() {
        let name = &params.targets[i].service;
        let indent = if one { "" } else { "  " };
        match &tp.mv {
            Move::Release(r) => {
                let rev = &plan.revisions[*r];
                let before = running.get(&tp.running).and_then(|d| d.raw.as_ref());
                lines.push(if one {
                    format!(
                        "A deploy would register a new revision of {} with these changes and move the service to it:",
                        rev.base.td.family().unwrap_or("?")
                    )
                } else {
                    format!(
                        "{name} ({}): a new revision of {} would be registered:",
                        short_arn(&tp.running),
                        rev.base.td.family().unwrap_or("?")
                    )
                });
                lines.extend(
                    diff::planned(before, rev.base.raw.as_ref(), &rev.edit).into_iter().map(|l| format!("{indent}{l}")),
                );
                lines.extend(rev.edit.overrides.describe().into_iter().map(|l| format!("{indent}{l}")));
                lines.extend(rev.edit.warnings().into_iter().map(|l| format!("{indent}{l}")));
            }
            Move::Update { force: true, .. } => lines.push(if one {
                format!(
                    "A deploy would force a new deployment of {} (no change to the task definition).",
                    short_arn(&tp.running)
                )
            } else {
                format!("{name} ({}): a new deployment of it would be forced", short_arn(&tp.running))
            }),
            _ if one => lines.push("A deploy would change nothing: the service already runs these images.".into()),
            _ => lines.push(format!("{name} ({}): already runs these images", short_arn(&tp.running))),
        }
    }
    if let Some(task) = task {
        let revision = match &task.source {
            before::Source::Existing(arn) => short_arn(arn).to_owned(),
            before::Source::Revision(r) if plan.revisions[*r].targets.is_empty() => {
                let rev = &plan.revisions[*r];
                lines.push(format!(
                    "A new revision of {} (from {}) would be registered for the beforeDeploy task:",
                    rev.base.td.family().unwrap_or("?"),
                    rev.source
                ));
                lines.extend(
                    diff::planned(rev.base.raw.as_ref(), rev.base.raw.as_ref(), &rev.edit)
                        .into_iter()
                        .map(|l| format!("  {l}")),
                );
                format!("the new revision of {}", rev.base.td.family().unwrap_or("?"))
            }
            before::Source::Revision(r) => {
                format!("the new revision of {}", plan.revisions[*r].base.td.family().unwrap_or("?"))
            }
        };
        lines.extend(task.describe(&revision).into_iter().map(|l| format!("{l} (nothing is run in a dry run)")));
    } else if params.before_deploy.is_some() {
        lines.push("beforeDeploy: would not run, as no service would change".to_owned());
    }
    lines.extend(ecr::describe(verified));
    let mut variables = if one { summary::task_definition_variables(&plan.targets[0].running) } else { Vec::new() };
    variables.push(("DryRun".into(), "true".into()));
    Success { summary: lines.join("\n"), external_id: one.then(|| plan.targets[0].running.clone()), variables }
}

/// Refuses, before anything changes, targets whose continuation token could outgrow CodePipeline's 2048
/// characters at some later look (every member at its longest).
fn check_fits(
    params: &Params,
    services: &[Service],
    plan: &Plan,
    task: Option<&before::TaskPlan>,
) -> Result<(), Error> {
    let mut fams = Vec::new();
    for tp in &plan.targets {
        let families = [&tp.running]
            .into_iter()
            .chain(tp.rev.iter())
            .chain(tp.prev.iter())
            .map(|arn| crate::text::family_and_revision(arn).0)
            .chain(match tp.mv {
                Move::Release(r) => plan.revisions[r].base.td.family().map(str::to_owned),
                _ => None,
            });
        for family in families {
            Tracker::family_index(&mut fams, &family, &params.targets);
        }
    }
    if let Some(task) = task {
        Tracker::family_index(&mut fams, &task.family, &params.targets);
    }
    let mut worst = worst_tracker(params, services, fams);
    worst.task = task.map(|task| crate::token::TaskRun {
        state: crate::token::TaskState::Running,
        cluster: task.cluster_written.clone(),
        ids: vec!["x".repeat(32); task.request.count as usize],
        fam: worst.fams.len().saturating_sub(1),
        rev: crate::token::MAX_REVISION,
        container: task.container.clone(),
        essential: task.essential.clone(),
        count: task.request.count as u32,
        minutes: task.minutes,
        started: i64::from(u32::MAX),
    });
    let items = schedules::items_of(&params.schedules);
    if params.schedules_from_file {
        worst.sn = items.iter().map(schedules::Item::encode).collect();
    }
    if !items.is_empty() {
        // A schedule moves one target; a rule up to five (EventBridge's limit of targets per rule).
        let n = params.schedules.schedules.len() + 5 * params.schedules.rules.len();
        let last = worst.fams.len().saturating_sub(1);
        worst.mv = Some(vec![
            crate::token::Moved(
                items.len() - 1,
                last,
                crate::token::MAX_REVISION,
                crate::token::MAX_REVISION
            );
            n
        ]);
    }
    let len = worst.encode().map(|s| s.len()).unwrap_or(usize::MAX);
    let len =
        if len == usize::MAX { serde_json::to_string(&worst).map(|s| s.len()).unwrap_or(usize::MAX) } else { len };
    if len > MAX_LEN {
        return Err(Error::Plan(format!(
            "these {} services (task definition families {}) could need a continuation token of {len} characters, and \
             CodePipeline allows {MAX_LEN}; release them in two actions, or shorten the names",
            params.targets.len(),
            worst.fams.iter().enumerate().map(|(i, _)| worst.family(i, &params.targets)).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

fn worst_tracker(params: &Params, services: &[Service], fams: Vec<String>) -> Tracker {
    use crate::token::{CAUSE_CHARS, Failure, MAX_REVISION, STAGE_CHARS, Slot, State, VERSION};
    let last = fams.len().saturating_sub(1);
    Tracker {
        v: VERSION,
        job: "x".repeat(36),
        op: Op::Release,
        arn: services
            .first()
            .and_then(|s| s.service_arn())
            .and_then(crate::text::arn_prefix)
            .unwrap_or_default()
            .to_owned(),
        fams,
        t: params
            .targets
            .iter()
            .map(|_| {
                let mut s = Slot::new(
                    "x".repeat(32),
                    9_999_999_999_999_999_999,
                    (last, MAX_REVISION),
                    (last, MAX_REVISION),
                    State::BackFailed,
                );
                s.7 = "S".repeat(STAGE_CHARS);
                (s.8, s.9, s.10) = (10_000, 99_999, 100);
                s
            })
            .collect(),
        names: if params.targets_from_file {
            params.targets.iter().map(|t| (t.cluster.clone(), t.service.clone())).collect()
        } else {
            Vec::new()
        },
        started: i64::from(u32::MAX),
        deadline: i64::from(u32::MAX),
        timeout: config::MAX_TIMEOUT_MINUTES,
        on_timeout: crate::token::OnTimeout::Rollback,
        polls: u32::MAX,
        paused: true,
        atomic: true,
        keep: Some(100),
        failed: Some(Failure(params.targets.len(), "x".repeat(CAUSE_CHARS + 1), 'J')),
        back: Some(i64::from(u32::MAX)),
        nowait: true,
        expired: true,
        tries: 2,
        clean: vec![(last, (1..=25).map(|r| MAX_REVISION - r).collect())],
        task: None,
        sn: Vec::new(),
        mv: None,
    }
}

/// The first report, once the moves started: final when nothing is to be followed, else the token.
#[allow(clippy::too_many_arguments)]
async fn report_started(
    cx: &Ctx<'_>,
    params: &Params,
    services: &[Service],
    tracker: Tracker,
    started: &[apply::Started],
    notes: &[Vec<String>],
    extra: &[String],
    timeout_note: Option<String>,
) -> Result<Outcome, Error> {
    let targets = &params.targets;
    // What was known before any look: a move that failed, an own deployment that failed (a redelivery).
    let mut d = decide::decide(tracker, targets, vec![None; started.len()], now());
    let fix_lines = if d.fixes.is_empty() {
        Vec::new()
    } else {
        let lines = apply::fix(cx.reaches(), cx.guard, &mut d.tracker, targets, &d.fixes).await;
        if d.end == End::Again {
            d.end = decide::settle(&d.tracker);
        }
        lines.into_iter().map(|(i, l, _)| format!("{}: {l}", targets[i].service)).collect()
    };
    let strategies: Vec<&str> = services.iter().map(|s| deployment::strategy(s.deployment_configuration())).collect();
    let view = Summary { t: &d.tracker, targets, single: params.single };
    let follow = params.wait != Wait::No;
    let headlines: Vec<String> = started.iter().map(|s| s.headline.clone()).collect();
    let summary = view.started(&headlines, &strategies, notes, extra, timeout_note.as_deref(), follow);
    info!(services = targets.len(), "the moves started");
    match d.end.clone() {
        End::Failed(why) => {
            let (kind, text) = view.failed(&d, &why, &fix_lines);
            Err(Error::Ended { kind, text })
        }
        End::Again if follow => {
            let token = d.tracker.encode()?;
            Ok(Outcome::InProgress(Progress { token, summary, percent: 0, external_id: view.external_id(0) }))
        }
        _ => Ok(Outcome::Succeeded(Success {
            summary,
            external_id: view.external_id(0),
            variables: view.variables_now(),
        })),
    }
}

/// `taskDefinition` with `deploy`: every target to that existing revision, reading and registering nothing.
async fn promote(cx: &Ctx<'_>, params: Params, origin: &Origin) -> Result<Outcome, Error> {
    let wanted = params.task_definition.clone().unwrap_or_default();
    let services = services(cx, &params.targets).await?;
    let named = named_revisions(cx, &wanted, params.targets.len()).await?;
    let td = named[0].clone();
    let arns: Vec<String> = named.iter().map(|d| d.td.task_definition_arn().unwrap_or(&wanted).to_owned()).collect();
    let runs_already: Vec<usize> =
        (0..services.len()).filter(|i| running(&services[*i]) == arns[*i] && !params.force_new_deployment).collect();
    let current = current_deployments(cx, &services, &runs_already).await?;
    let mut plans = Vec::new();
    for (i, (service, target)) in services.iter().zip(&params.targets).enumerate() {
        let arn = &arns[i];
        let running = running(service);
        let tp = if runs_already.contains(&i) {
            let (sd, source) = current.get(&i).cloned().unwrap_or((None, None));
            let now = match (&sd, service.current_service_deployment()) {
                (Some(sd), _) => Current::Deployment(sd),
                (None, Some(_)) => Current::Unknown,
                (None, None) => Current::Legacy,
            };
            let (mv, why) = plan::already_running(service, now, false, false);
            let why = match mv {
                Move::Done => format!("Nothing new to deploy: {} already runs {}", target.describe(), short_arn(arn)),
                _ => why,
            };
            let prev = if matches!(mv, Move::Adopt { .. }) { source } else { None };
            TargetPlan { mv, running: running.clone(), rev: Some(running), prev, why, notes: Vec::new() }
        } else {
            TargetPlan {
                mv: Move::Update { to: arn.clone(), force: params.force_new_deployment, revert: false },
                why: format!(
                    "Promoted {} to {} (it ran {}; nothing registered)",
                    short_arn(arn),
                    target.describe(),
                    short_arn(&running)
                ),
                rev: Some(arn.clone()),
                prev: Some(running.clone()),
                running,
                notes: Vec::new(),
            }
        };
        plans.push(tp);
    }
    let plan = Plan { op: Op::Promote, targets: plans, revisions: Vec::new() };
    // The beforeDeploy task: on the promoted revision, or the one beforeDeploy names.
    let task_plan = match &params.before_deploy {
        Some(before) if plan.targets.iter().any(|t| t.mv.changes()) => {
            let run = match &before.task_definition {
                Some(other) => {
                    cx.checkpoint.step(format!("describing the beforeDeploy task definition {other}"));
                    let d = ecs::active_task_definition(cx.ecs_of(0), other)
                        .await
                        .map_err(|e| named_revision_error(e, other))?;
                    guard_revision(cx, &d)?;
                    d
                }
                None => td.clone(),
            };
            let source = before::Source::Existing(run.td.task_definition_arn().unwrap_or(&arns[0]).to_owned());
            Some(before::plan(before, (&params.targets[0], &services[0]), &run.td, source, &origin.job)?)
        }
        _ => None,
    };
    check_fits(&params, &services, &plan, task_plan.as_ref())?;
    look_at_schedules(cx, &params).await?;
    let notes = vec![Vec::new(); params.targets.len()];
    if let Some(task_plan) = &task_plan {
        return before::start(cx, origin, &params, &services, &plan, task_plan, &notes, &[]).await;
    }
    carry_out(cx, origin, &params, &services, &plan, &notes, &[]).await
}

/// An existing revision named in UserParameters, described in each target's account and region (a
/// `family:revision` names one revision per account): ACTIVE, and within the allow-lists.
async fn named_revisions(cx: &Ctx<'_>, wanted: &str, targets: usize) -> Result<Vec<ecs::Described>, Error> {
    cx.checkpoint.step(format!("describing task definition {wanted}"));
    let groups = cx.reaches().groups(targets);
    let described = describe::all(groups.iter().map(|(reach, _)| async move {
        ecs::active_task_definition(&reach.ecs, wanted).await.map_err(|e| named_revision_error(e, wanted))
    }))
    .await?;
    let mut out: Vec<Option<ecs::Described>> = vec![None; targets];
    for ((_, which), td) in groups.iter().zip(described) {
        guard_revision(cx, &td)?;
        for i in which {
            out[*i] = Some(td.clone());
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// Every way onto a service passes the same guard: the images of the revision it will run, and its family.
fn guard_revision(cx: &Ctx<'_>, td: &ecs::Described) -> Result<(), Error> {
    Ok(cx.guard.check_revision(&td.td)?)
}

/// A revision to deploy that ECS does not have, or has retired, is a configuration error naming it.
fn named_revision_error(error: Error, wanted: &str) -> Error {
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

/// `action: "rollback"`: each target back — its deployment in progress stopped with ECS's rollback, or, with
/// nothing in progress, updated to the revision before what it runs (or to `taskDefinition`).
async fn rollback(cx: &Ctx<'_>, params: Params, origin: &Origin) -> Result<Outcome, Error> {
    let services = services(cx, &params.targets).await?;
    let named: Option<Vec<String>> = match &params.task_definition {
        Some(wanted) => Some(
            named_revisions(cx, wanted, params.targets.len())
                .await?
                .iter()
                .map(|d| d.td.task_definition_arn().unwrap_or(wanted).to_owned())
                .collect(),
        ),
        None => None,
    };
    // The current deployments, with the revisions they deploy and replace.
    let currents: Vec<(usize, String)> = services
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.current_service_deployment().map(|a| (i, a.to_owned())))
        .collect();
    cx.checkpoint.step("checking the services' current deployments".to_owned());
    let current = describe::deployments(cx.reaches(), &currents).await?;
    let in_progress = |s: &Service| {
        s.current_service_deployment()
            .and_then(|a| current.get(a))
            .filter(|sd| matches!(deployment::status(sd), "PENDING" | "IN_PROGRESS" | "STOP_REQUESTED"))
    };
    // With nothing in progress: the newest successful deployment, what it deployed and what it replaced.
    let idle: Vec<usize> =
        (0..services.len()).filter(|i| named.is_none() && in_progress(&services[*i]).is_none()).collect();
    let mut last = BTreeMap::new();
    for &i in &idle {
        let (cluster, service) = (&params.targets[i].cluster, &params.targets[i].service);
        let cluster = services[i].cluster_arn().unwrap_or(cluster);
        let service_arn = services[i].service_arn().unwrap_or(service);
        if let Some(arn) = ecs::last_successful_deployment(cx.ecs_of(i), cluster, service_arn).await? {
            last.insert(i, arn);
        }
    }
    let last_sds =
        describe::deployments(cx.reaches(), &last.iter().map(|(i, a)| (*i, a.clone())).collect::<Vec<_>>()).await?;
    let revision_arns: Vec<(usize, String)> = currents
        .iter()
        .filter_map(|(i, a)| current.get(a).map(|sd| (*i, sd)))
        .chain(last.iter().filter_map(|(i, a)| last_sds.get(a).map(|sd| (*i, sd))))
        .flat_map(|(i, sd)| {
            let (t, s) = describe::revision_arns(sd);
            t.into_iter().chain(s).map(move |r| (i, r))
        })
        .collect();
    let tds = describe::revision_task_definitions(cx.reaches(), &revision_arns).await?;
    let td_of = |arn: Option<String>| arn.and_then(|a| tds.get(&a).cloned());
    let mut plans = Vec::new();
    for (i, (service, target)) in services.iter().zip(&params.targets).enumerate() {
        let running = running(service);
        if let Some(sd) = in_progress(service).filter(|_| named.is_none()) {
            let arn = sd.service_deployment_arn().unwrap_or_default().to_owned();
            let (to, from) = describe::revision_arns(sd);
            let (rev, prev) = (td_of(to), td_of(from));
            plans.push(TargetPlan {
                why: format!(
                    "Asked ECS to roll back service deployment {} of {} (StopServiceDeployment ROLLBACK)",
                    short_arn(&arn),
                    rev.as_deref().map(short_arn).unwrap_or("(unknown revision)")
                ),
                mv: Move::Stop { sd: arn },
                running,
                rev,
                prev,
                notes: Vec::new(),
            });
            continue;
        }
        if let Some(sd) = service.current_service_deployment().and_then(|a| current.get(a))
            && matches!(deployment::status(sd), "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS")
            && named.is_none()
        {
            return Err(Error::Control {
                what: format!(
                    "ECS is rolling back service deployment {} of {} itself ({}); this action starts a rollback of its \
                     own and does not take one it did not start as its result",
                    short_arn(sd.service_deployment_arn().unwrap_or("?")),
                    target.describe(),
                    deployment::status(sd)
                ),
                fix: "wait for ECS's rollback to end, then run the rollback action again to go back from what the \
                      service runs then, or name the revision in \"taskDefinition\"",
            });
        }
        let to = match &named {
            Some(arns) => arns[i].clone(),
            None => {
                let sd = last.get(&i).and_then(|a| last_sds.get(a));
                let (t, s) = sd.map(describe::revision_arns).unwrap_or((None, None));
                let (t, s) = (td_of(t), td_of(s));
                plan::revert_target(&running, t.as_deref(), s.as_deref()).ok_or_else(|| Error::Control {
                    what: format!(
                        "service {} has no successful service deployment that replaced an earlier revision",
                        target.service
                    ),
                    fix: "name the revision to roll back to in \"taskDefinition\"",
                })?
            }
        };
        if to == running {
            return Err(Error::Control {
                what: format!("{} already runs {}, the revision to roll back to", target.describe(), short_arn(&to)),
                fix: "name another revision in \"taskDefinition\", or there is nothing to roll back",
            });
        }
        plans.push(TargetPlan {
            why: format!(
                "Rolled back {} from {} to {} (the task definition only: other service settings stay as they are)",
                target.describe(),
                short_arn(&running),
                short_arn(&to)
            ),
            mv: Move::Update { to: to.clone(), force: false, revert: true },
            rev: Some(running.clone()),
            prev: Some(to),
            running,
            notes: Vec::new(),
        });
    }
    // Every way onto a service passes the same guard: what each target goes back to (a stop's source too).
    let back: Vec<(usize, String)> = plans
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.prev.clone().map(|p| (i, p)))
        .filter(|(_, p)| !named.as_ref().is_some_and(|n| n.contains(p)))
        .collect();
    if cx.guard.checks_revisions() && !back.is_empty() {
        for td in describe::task_definitions(cx.reaches(), back).await?.values() {
            guard_revision(cx, td)?;
        }
    }
    let plan = Plan { op: Op::Rollback, targets: plans, revisions: Vec::new() };
    check_fits(&params, &services, &plan, None)?;
    look_at_schedules(cx, &params).await?;
    let notes = vec![Vec::new(); params.targets.len()];
    carry_out(cx, origin, &params, &services, &plan, &notes, &[]).await
}

/// `action: "continue"`: each target's deployment waiting at a pause hook continued, then followed as a deploy.
async fn continue_deployments(cx: &Ctx<'_>, params: Params, origin: &Origin) -> Result<Outcome, Error> {
    let services = services(cx, &params.targets).await?;
    let arns: Vec<String> = services
        .iter()
        .zip(&params.targets)
        .map(|(s, t)| match &params.service_deployment_arn {
            Some(arn) => Ok(arn.clone()),
            None => s.current_service_deployment().map(str::to_owned).ok_or_else(|| Error::Control {
                what: format!("{} has no current service deployment to continue", t.describe()),
                fix: "deploy first, with \"wait\": \"paused\"",
            }),
        })
        .collect::<Result<_, _>>()?;
    cx.checkpoint.step("describing the service deployments to continue".to_owned());
    let owned: Vec<(usize, String)> = arns.iter().cloned().enumerate().collect();
    let found = describe::deployments(cx.reaches(), &owned).await?;
    let revision_arns: Vec<(usize, String)> = owned
        .iter()
        .filter_map(|(i, a)| found.get(a).map(|sd| (*i, sd)))
        .flat_map(|(i, sd)| {
            let (t, s) = describe::revision_arns(sd);
            t.into_iter().chain(s).map(move |r| (i, r))
        })
        .collect();
    let tds = describe::revision_task_definitions(cx.reaches(), &revision_arns).await.unwrap_or_default();
    let mut plans = Vec::new();
    for (service, arn) in services.iter().zip(&arns) {
        let sd = found.get(arn).ok_or_else(|| Error::Control {
            what: format!("service deployment {arn} is not known to ECS"),
            fix: "pass the ServiceDeploymentArn output variable of the deploy action",
        })?;
        let (t, s) = describe::revision_arns(sd);
        let (rev, prev) = (t.and_then(|a| tds.get(&a).cloned()), s.and_then(|a| tds.get(&a).cloned()));
        let revision = rev.as_deref().map(short_arn).unwrap_or("(unknown revision)").to_owned();
        let status = deployment::status(sd);
        if !matches!(status, "PENDING" | "IN_PROGRESS") {
            return Err(Error::Rollout(format!(
                "Service deployment {} of {revision} has ended ({status}), so there is nothing to continue. {}",
                short_arn(arn),
                ended(sd, &revision, prev.as_deref().map(short_arn))
            )));
        }
        let hook = choose_hook(sd, params.hook_id.as_deref(), &revision)?;
        plans.push(TargetPlan {
            why: format!(
                "Continued service deployment {} of {revision} at pause hook {hook} ({})",
                short_arn(arn),
                sd.lifecycle_stage().map(|s| s.as_str()).unwrap_or("?")
            ),
            mv: Move::Continue {
                sd: arn.clone(),
                hook,
                stage: sd.lifecycle_stage().map(|s| s.as_str()).unwrap_or_default().to_owned(),
            },
            running: running(service),
            rev,
            prev,
            notes: Vec::new(),
        });
    }
    let plan = Plan { op: Op::Continue, targets: plans, revisions: Vec::new() };
    check_fits(&params, &services, &plan, None)?;
    look_at_schedules(cx, &params).await?;
    let notes = vec![Vec::new(); params.targets.len()];
    carry_out(cx, origin, &params, &services, &plan, &notes, &[]).await
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

/// The hook to continue: the named one, which must await action, or the only one that does.
fn choose_hook(sd: &ServiceDeployment, wanted: Option<&str>, revision: &str) -> Result<String, Error> {
    let hooks = sd.lifecycle_hook_details();
    let id = short_arn(sd.service_deployment_arn().unwrap_or("?"));
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
                what: format!("service deployment {id} has no lifecycle hook {wanted} ({})", listed()),
                fix: "pass the HookId output variable of the deploy action, or leave hookId out",
            });
        };
        return match state(hook) {
            "AWAITING_ACTION" => Ok(wanted.to_owned()),
            other => Err(Error::Rollout(format!(
                "Pause hook {wanted} of service deployment {id} ({revision}) no longer waits: it is {other} ({}); \
                 nothing was continued.",
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
            what: format!("no hook of service deployment {id} awaits action ({})", listed()),
            fix: "continue only a deployment that waits at a pause hook (deploy with \"wait\": \"paused\")",
        }),
        _ => Err(Error::Control {
            what: format!("several hooks of service deployment {id} await action ({})", listed()),
            fix: "set \"hookId\" to the one to continue",
        }),
    }
}

/// How many more looks a job takes, and how far apart, for announced changes it does not see made yet (the
/// job announcing them may still be making them).
const WAIT_LOOKS: usize = 3;
const WAIT_BETWEEN: std::time::Duration = std::time::Duration::from_secs(3);

/// A later job: one look at every target (finding out how announced changes went), the decision, the changes
/// it starts (announced first), and its report.
async fn follow(cx: &Ctx<'_>, token: &str) -> Result<Outcome, Error> {
    let params = config::parse(cx.job.user_parameters.as_deref())?;
    let tracker = Tracker::decode_for(token, &params)?;
    let targets = tracker.targets(&params.targets);
    cx.reach_targets(&targets).await?;
    let mut next = tracker.next();
    if next.task.as_ref().is_some_and(|k| k.state != crate::token::TaskState::Done) {
        return before::follow(cx, &params, next, &targets).await;
    }
    let now = now();
    let still_time = now < next.deadline && next.back.is_none_or(|b| now < b);
    if still_time {
        let fallback = again(
            &next,
            &targets,
            &params,
            "Following the deployments; ECS was slow to answer, checking again".into(),
        )?;
        cx.checkpoint.fallback(fallback);
    }
    cx.checkpoint.step(format!("checking the deployments of {}", what(&targets)));
    let mut looked = match look::look(cx.reaches(), &next, &targets).await {
        Ok(looked) => looked,
        Err(e) if e.is_transient() && still_time => {
            warn!(error = %e, "ECS did not answer this look; looking again next time");
            let summary = format!("Following {}: ECS did not answer this look ({e}); checking again", what(&targets));
            return again(&next, &targets, &params, summary);
        }
        Err(e) => return Err(e),
    };
    // Announced changes: how they went.
    let announced = next.t.iter().any(|s| s.state().pending());
    if announced {
        let was_pending: Vec<usize> = (0..next.t.len()).filter(|i| next.t[*i].state().pending()).collect();
        let mut not_yet = announce::discover(&mut next, &targets, &looked.looks, &looked.services);
        for _ in 0..WAIT_LOOKS {
            if not_yet.is_empty()
                || cx.protocol.recall(&next.job).is_some()
                || !cx.checkpoint.has_time(WAIT_BETWEEN * 3)
            {
                break;
            }
            info!(targets = not_yet.len(), "the announced changes are not seen made yet; looking again");
            tokio::time::sleep(WAIT_BETWEEN).await;
            looked = look::look(cx.reaches(), &next, &targets).await?;
            not_yet = announce::discover(&mut next, &targets, &looked.looks, &looked.services);
        }
        if !not_yet.is_empty() {
            // `None`: ECS refused them; the targets failed, decided below.
            if let Some(outcome) = not_seen(cx, &params, &mut next, &targets, &not_yet).await? {
                return Ok(outcome);
            }
        }
        // What was found started is judged by a look at the deployment it follows now (not the one this look
        // saw before it was found), unless the action ends once started.
        for &i in &was_pending {
            looked.looks[i] = None;
        }
        let unlooked = (0..next.t.len()).any(|i| {
            next.t[i].state().moving()
                && !next.t[i].id().is_empty()
                && !matches!(looked.looks[i], Some(Look::Deployment(_)))
        });
        if unlooked && !next.nowait {
            let services = std::mem::take(&mut looked.services);
            looked = match look::look(cx.reaches(), &next, &targets).await {
                Ok(looked) => looked,
                Err(e) if e.is_transient() && still_time => {
                    warn!(error = %e, "ECS did not answer the look at what started; looking again next time");
                    let summary =
                        format!("Following {}: ECS did not answer this look ({e}); checking again", what(&targets));
                    return again(&next, &targets, &params, summary);
                }
                Err(e) => return Err(e),
            };
            looked.services = services;
        }
    }
    let mut d = decide::decide(next, &targets, looked.looks.clone(), now);
    if announced && d.tracker.nowait && d.tracker.failed.is_none() && d.end == End::Again {
        // `wait: false`: the changes are made; the action ends here.
        let view = Summary { t: &d.tracker, targets: &targets, single: params.single };
        let strategies = strategies(&looked);
        let summary = view.started(&view.headlines(), &strategies, &vec![Vec::new(); targets.len()], &[], None, false);
        return Ok(Outcome::Succeeded(Success {
            summary,
            external_id: view.external_id(0),
            variables: view.variables_now(),
        }));
    }
    let mut fix_lines = Vec::new();
    if !d.fixes.is_empty() {
        if cx.protocol.on {
            return announce_fixes(cx, &params, d, &targets).await;
        }
        cx.checkpoint.step(format!("rolling back {} deployment(s)", d.fixes.len()));
        for (i, line, _) in apply::fix(cx.reaches(), cx.guard, &mut d.tracker, &targets, &d.fixes).await {
            fix_lines.push(format!("{}: {line}", targets[i].service));
        }
        if d.end == End::Again {
            d.end = decide::settle(&d.tracker);
        }
    }
    let view = Summary { t: &d.tracker, targets: &targets, single: params.single };
    match d.end.clone() {
        End::Again if announced => {
            let strategies = strategies(&looked);
            let summary =
                view.started(&view.headlines(), &strategies, &vec![Vec::new(); targets.len()], &[], None, true);
            again(&d.tracker, &targets, &params, summary)
        }
        End::Again => again(&d.tracker, &targets, &params, view.progress(&d, &fix_lines)),
        End::Paused => Ok(Outcome::Succeeded(view.paused(&d))),
        End::Succeeded => {
            cx.checkpoint.fallback(Outcome::Succeeded(view.succeeded(&d, &Vec::new(), &[])));
            cx.checkpoint.step("reading the image digests ECS resolved".to_owned());
            let digests = finish::digests(cx.reaches(), &looked.looks, &d.undone).await;
            // The scheduled tasks, then the clean-up: with report first, both announced together, made by this
            // job and found made by the next.
            let items = schedules::items(&params, &d.tracker);
            let found = if items.is_empty() {
                Vec::new()
            } else {
                cx.checkpoint.step(format!("looking at {} scheduled task(s)", items.len()));
                schedules::look(cx.reaches().target(0), &items).await?
            };
            let families = schedules::families(&d.tracker, &targets);
            let sched =
                (!items.is_empty() && d.tracker.mv.is_none()).then(|| schedules::plan(&items, &found, &families));
            let clean = match (d.tracker.keep, d.tracker.op) {
                (Some(keep), Op::Release) if d.tracker.clean.is_empty() => {
                    cx.checkpoint.step("cleaning up old revisions (keepRevisions)".to_owned());
                    Some(finish::clean_up_plan(cx.reaches(), cx.guard, &d.tracker, &targets, keep).await)
                }
                _ => None,
            };
            let moves = sched.as_ref().is_some_and(|p| !p.moves.is_empty());
            if cx.protocol.on && (moves || clean.as_ref().is_some_and(finish::CleanUp::deregisters)) {
                return announce_finish(cx, &params, d, &targets, clean, sched, &items, &found).await;
            }
            let cleanup = match (clean, d.tracker.keep, d.tracker.op) {
                (Some(plan), ..) => finish::clean_up(cx.reaches(), plan).await,
                (None, Some(keep), Op::Release) => finish::cleaned_up(cx.reaches(), &d.tracker, &targets, keep).await,
                _ => Vec::new(),
            };
            let (sched_lines, variable, failed) = match (&sched, &d.tracker.mv) {
                (Some(plan), _) => {
                    let made = schedules::apply(cx.reaches().target(0), plan, &items, &found).await;
                    let mut t = d.tracker.clone();
                    let moved = schedules::announced(plan, &mut t, &targets);
                    schedules::outcome(&moved, &made, &items, &t, &targets, &plan.left)
                }
                (None, Some(moved)) => {
                    let seen = schedules::seen(moved, &found, &d.tracker, &targets);
                    let recalled = cx.protocol.recall(&d.tracker.job).map(|(m, _)| m);
                    let made: Vec<Result<(), String>> = seen
                        .iter()
                        .map(|s| match s {
                            true => Ok(()),
                            false => Err(recalled.clone().unwrap_or_else(|| "not seen moved".to_owned())),
                        })
                        .collect();
                    schedules::outcome(moved, &made, &items, &d.tracker, &targets, &[])
                }
                _ => (Vec::new(), None, None),
            };
            if let Some(error) = failed {
                return Err(error);
            }
            let mut success = view.succeeded(&d, &digests, &[sched_lines, cleanup].concat());
            success.variables.extend(variable);
            Ok(Outcome::Succeeded(success))
        }
        End::Failed(why) => {
            let (kind, text) = view.failed(&d, &why, &fix_lines);
            // The verdict stands even if the diagnostics below run out of time.
            cx.checkpoint.fallback(Outcome::Failed(Error::Ended { kind, text: text.clone() }));
            let text = match diagnosable(&d, &why, &looked.looks) {
                Some((i, sd, since)) => {
                    cx.checkpoint.step("collecting the stopped tasks and events of the failed deployment".to_owned());
                    let since = since.or(Some(aws_smithy_types::DateTime::from_secs(d.tracker.started)));
                    let revision = d.tracker.revision_arn(i, false, &targets);
                    let dep = d.tracker.t[i].deployment_id();
                    finish::diagnose(cx.ecs_of(i), &targets[i], dep, revision, sd, since, &text).await
                }
                None => text,
            };
            Err(Error::Ended { kind, text })
        }
    }
}

/// The report that says the action goes on, with the tracker for the next job.
fn again(t: &Tracker, targets: &[Target], params: &Params, summary: String) -> Result<Outcome, Error> {
    let view = Summary { t, targets, single: params.single };
    Ok(Outcome::InProgress(Progress {
        token: t.encode()?,
        summary,
        percent: decide::percent(t),
        external_id: view.external_id(0),
    }))
}

/// Each target's deployment strategy, as this look saw it.
fn strategies(looked: &look::Looked) -> Vec<&str> {
    looked
        .looks
        .iter()
        .zip(&looked.services)
        .map(|(l, s)| match (l, s) {
            (Some(Look::Deployment(sd)), _) => deployment::strategy(sd.deployment_configuration()),
            (_, Some(service)) => deployment::strategy(service.deployment_configuration()),
            _ => "ROLLING",
        })
        .collect()
}

/// Announced changes this job does not see made: ECS refused them (this process saw it), or they were
/// announced twice and never made (the action fails), or the job makes them itself, announcing them first.
/// `None`: the refused targets are marked failed, for the decision.
async fn not_seen(
    cx: &Ctx<'_>,
    params: &Params,
    t: &mut Tracker,
    targets: &[Target],
    not_yet: &[usize],
) -> Result<Option<Outcome>, Error> {
    let names: Vec<&str> = not_yet.iter().map(|i| targets[*i].service.as_str()).collect();
    if let Some((message, kind)) = cx.protocol.recall(&t.job) {
        for &i in not_yet {
            t.t[i].set(crate::token::State::Failed);
        }
        if t.failed.is_none() {
            let cause = format!("{}: {message}", names.join(", "));
            t.failed = Some(crate::token::Failure(
                not_yet[0],
                crate::text::clip(&cause, crate::token::CAUSE_CHARS),
                apply::kind_char(kind),
            ));
        }
        if !t.atomic || t.t.len() == 1 {
            return Err(Error::Ended {
                kind,
                text: format!("ECS refused the changes job {} announced for {}: {message}", t.job, names.join(", ")),
            });
        }
        return Ok(None);
    }
    if t.tries >= 2 {
        return Err(Error::Ended {
            kind: crate::error::FailureKind::JobFailed,
            text: format!(
                "The changes announced for {} (report first, then change) were announced twice and never seen made.                  The function's log for this action's jobs (job_id {} and later) says why: most often a permission                  the function's role lacks (iam:PassRole on the task's roles, ecs:RegisterTaskDefinition,                  ecs:UpdateService on the service). Nothing more was changed; fix the cause and retry the stage.",
                names.join(", "),
                t.job
            ),
        });
    }
    warn!(targets = ?names, "the announced changes were not made; making them under this job's own announcement");
    let origin = Origin { job: t.job.clone(), tries: t.tries.max(1) + 1 };
    let registers = not_yet.iter().any(|i| t.t[*i].state() == crate::token::State::Applying && t.t[*i].3 == 0);
    if registers {
        // A release's registration: read, describe and plan it again (what moved already is adopted).
        let mut params = params.clone();
        params.targets = targets.to_vec();
        params.wait = started_wait(t);
        return release(cx, params, &origin).await.map(Some);
    }
    t.tries = origin.tries;
    let view = Summary { t, targets, single: params.single };
    let summary = format!(
        "Making the changes announced before, which were not seen made:\n{}",
        view.status_lines(&vec![None; targets.len()])
    );
    if let Vouched::No(outcome) = announce::vouch(cx.clients, &cx.job.id, t, summary).await? {
        return Ok(Some(outcome));
    }
    cx.checkpoint.fallback(Outcome::Reported("in progress: announced"));
    for (i, error) in apply::redo(cx.reaches(), cx.guard, t, targets, not_yet, params.hook_id.as_deref()).await {
        error!(service = %targets[i].service, error = %error.message(), "ECS refused a change this job announced");
        cx.protocol.remember(&t.job, &error);
    }
    Ok(Some(Outcome::Reported("in progress: the announced changes were made")))
}

/// The rollbacks a look decided on, announced first: the next job finds them started.
async fn announce_fixes(cx: &Ctx<'_>, params: &Params, mut d: Decision, targets: &[Target]) -> Result<Outcome, Error> {
    let mut announced = d.tracker.clone();
    for fix in &d.fixes {
        match *fix {
            apply::Fix::Stop(i) => announced.t[i].set(crate::token::State::Stopping),
            apply::Fix::Revert(i) => announced.t[i].set(crate::token::State::Returning),
        }
    }
    if matches!(d.end, End::Failed(decide::Why::TimedOut { left: false })) {
        announced.expired = true;
    }
    let view = Summary { t: &announced, targets, single: params.single };
    let summary = format!("{}\n{}", view.progress(&d, &[]), view.rollbacks_announced(&d.fixes));
    if let Vouched::No(outcome) = announce::vouch(cx.clients, &cx.job.id, &announced, summary).await? {
        return Ok(outcome);
    }
    cx.checkpoint.fallback(Outcome::Reported("in progress: announced"));
    cx.checkpoint.step(format!("rolling back {} deployment(s)", d.fixes.len()));
    for (i, line, kind) in apply::fix(cx.reaches(), cx.guard, &mut d.tracker, targets, &d.fixes).await {
        if let Some(kind) = kind {
            error!(service = %targets[i].service, error = %line, "a rollback this job announced did not start");
            cx.protocol
                .remember(&announced.job, &Error::Ended { kind, text: format!("{}: {line}", targets[i].service) });
        }
    }
    Ok(Outcome::Reported("in progress: the announced rollbacks were started"))
}

/// The scheduled tasks' moves and `keepRevisions`, announced first: the next job reports the final success
/// with what moved and what went.
#[allow(clippy::too_many_arguments)]
async fn announce_finish(
    cx: &Ctx<'_>,
    params: &Params,
    d: Decision,
    targets: &[Target],
    clean: Option<finish::CleanUp>,
    sched: Option<schedules::SchedulePlan>,
    items: &[schedules::Item],
    found: &[schedules::Found],
) -> Result<Outcome, Error> {
    let mut announced = d.tracker.clone();
    let mut lines = vec![Summary { t: &announced, targets, single: params.single }.status_lines(&d.lines)];
    if let Some(plan) = &sched {
        announced.mv = Some(schedules::announced(plan, &mut announced, targets));
        lines.push("About to move the scheduled tasks to the new revisions:".to_owned());
        lines.extend(
            plan.moves
                .iter()
                .map(|m| format!("{}: {} → {}", items[m.item].describe(), short_arn(&m.from), short_arn(&m.to))),
        );
        lines.extend(plan.left.iter().cloned());
    }
    if let Some(plan) = clean.as_ref().filter(|p| p.deregisters()) {
        announced.clean = plan.announced(&mut announced.fams, targets);
        lines.extend(plan.lines_before());
    }
    let clean = clean.filter(finish::CleanUp::deregisters);
    if let Vouched::No(outcome) = announce::vouch(cx.clients, &cx.job.id, &announced, lines.join("\n")).await? {
        return Ok(outcome);
    }
    cx.checkpoint.fallback(Outcome::Reported("in progress: announced"));
    if let Some(plan) = &sched {
        cx.checkpoint.step(format!("moving {} scheduled task(s)", plan.moves.len()));
        for result in schedules::apply(cx.reaches().target(0), plan, items, found).await {
            if let Err(why) = result {
                error!(error = %why, "a scheduled task announced was not moved; the next job reports it");
                cx.protocol
                    .remember(&announced.job, &Error::Ended { kind: crate::error::FailureKind::JobFailed, text: why });
            }
        }
    }
    if let Some(plan) = clean {
        cx.checkpoint.step("deregistering old revisions (keepRevisions)".to_owned());
        let lines = finish::clean_up(cx.reaches(), plan).await;
        info!(lines = lines.len(), "cleaned up the announced revisions");
    }
    Ok(Outcome::Reported("in progress: the announced finish was made"))
}

/// The failed target whose stopped tasks and events explain the failure (when this look saw it fail, or one
/// target timed out), its deployment, and since when its events matter.
fn diagnosable<'a>(
    d: &Decision,
    why: &decide::Why,
    looks: &'a [Option<Look>],
) -> Option<(usize, Option<&'a ServiceDeployment>, Option<aws_smithy_types::DateTime>)> {
    let i = match (why, &d.tracker.failed) {
        (decide::Why::TimedOut { .. }, _) if d.tracker.t.len() == 1 => 0,
        (_, Some(failure)) if d.failures.get(failure.0).is_some_and(Option::is_some) => failure.0,
        _ => return None,
    };
    match looks.get(i)? {
        Some(Look::Deployment(sd)) => Some((i, Some(sd.as_ref()), None)),
        Some(Look::Service(service)) => {
            let dep = d.tracker.t[i].deployment_id();
            let created = service.deployments().iter().find(|x| x.id() == dep.as_deref()).and_then(|x| x.created_at());
            Some((i, None, created.copied()))
        }
        _ => Some((i, None, None)),
    }
}

/// The `wait` an action was started with (the deploy file may have set it, which later jobs do not read).
pub(crate) fn started_wait(t: &Tracker) -> Wait {
    if t.nowait {
        Wait::No
    } else if t.paused {
        Wait::Paused
    } else {
        Wait::Yes
    }
}
