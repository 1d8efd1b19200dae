//! Several services released together (`services`).
//!
//! The deploy: every service described at once; one new revision per distinct running revision, registered
//! once and concurrently; every service updated at once; then one continuation token for all of them. Each
//! later look: one DescribeServiceDeployments call for every service still moving (ECS takes 20 ARNs a call,
//! and there are at most 10 services). With `atomic`, the first failure rolls the others back —
//! StopServiceDeployment ROLLBACK for those still deploying, UpdateService to the previous revision for those
//! that finished — and the rollbacks are followed to their end before the one report.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::Service;
use futures_util::future::join_all;
use tracing::{info, warn};

use crate::checkpoint::Checkpoint;
use crate::clients::Clients;
use crate::clock::now;
use crate::deploy::{self, task_definition_variables};
use crate::deployment::{self, Context, Verdict};
use crate::diff;
use crate::ecr;
use crate::ecs;
use crate::error::Error;
use crate::event::params::{DEFAULT_TIMEOUT_MINUTES, MAX_TIMEOUT_MINUTES, ServiceTarget, Wait};
use crate::event::{Job, Params};
use crate::guard::Guard;
use crate::images::ImageUpdate;
use crate::overrides::{OverrideError, Overrides};
use crate::report::{Outcome, Progress, Success};
use crate::taskdef::{self, Plan};
use crate::text::{arn_prefix, clip, short_arn, variable_name};
use crate::token::{self, CAUSE_CHARS, MAX_LEN, SERVICES_VERSION, ServicesToken, Slot, SlotState};

/// Runs every future at once; the first error (in order) wins.
async fn all<T>(futures: impl IntoIterator<Item = impl Future<Output = Result<T, Error>>>) -> Result<Vec<T>, Error> {
    join_all(futures).await.into_iter().collect()
}

/// Releases the build's images to every service of `services`.
pub async fn deploy(
    clients: &Clients,
    guard: &Guard,
    job: &Job,
    params: &Params,
    checkpoint: &Checkpoint,
) -> Result<Outcome, Error> {
    let ecs = &clients.ecs;
    let (params, updates, _) = deploy::read_release(clients, guard, job, params, checkpoint).await?;
    let params = &params;
    let targets = params.targets();

    checkpoint.step(format!("describing {} services", targets.len()));
    let services = all(targets.iter().map(|t| ecs::describe_service(ecs, &t.cluster, &t.service))).await?;
    for service in &services {
        deploy::check_service(service)?;
    }
    let running: Vec<String> = services.iter().map(|s| s.task_definition().unwrap_or_default().to_owned()).collect();
    let mut distinct = running.clone();
    distinct.sort();
    distinct.dedup();
    checkpoint.step(format!("describing {} task definitions", distinct.len()));
    let bases = all(distinct.iter().map(|arn| ecs::describe_task_definition(ecs, arn))).await?;
    let plans = plan(&targets, &running, &distinct, &bases, &updates, &params.overrides)?;
    let new_images = plans.iter().flat_map(Plan::new_images).collect();
    let verified = ecr::describe(&deploy::check_new_images(clients, guard, params, checkpoint, new_images).await?);
    let families: Vec<String> = bases.iter().map(|b| b.td.family().unwrap_or_default().to_owned()).collect();
    check_token_fits(&services, &targets, &families)?;

    let base_of = |i: usize| distinct.iter().position(|d| *d == running[i]).unwrap_or(0);
    if params.dry_run {
        let mut done = dry_run(&targets, &running, &bases, &plans, base_of);
        done.summary = std::iter::once(done.summary).chain(verified).collect::<Vec<_>>().join("\n");
        return Ok(Outcome::Succeeded(done));
    }

    checkpoint.step("registering the new revisions".to_owned());
    let registered = all(bases.iter().zip(&plans).zip(&distinct).map(|((base, plan), current)| async move {
        if plan.changes_anything() {
            Ok(deploy::register_once(ecs, base, plan, &job.id).await?.0)
        } else {
            Ok(current.clone())
        }
    }))
    .await?;

    checkpoint
        .step(format!("updating {} services (ECS may have applied some updates; check the services)", targets.len()));
    let started = now();
    let updated = all(targets.iter().enumerate().map(|(i, t)| {
        let (to, from) = (registered[base_of(i)].clone(), running[i].clone());
        async move {
            if to == from && !params.force_new_deployment {
                return Ok(None); // it already runs the release
            }
            let service = ecs::update_service(ecs, &t.cluster, &t.service, &to, params.force_new_deployment).await?;
            let sd = match service.current_service_deployment() {
                Some(sd) => Some(sd.to_owned()),
                None => ecs::find_service_deployment(ecs, &t.cluster, &t.service, &to, started).await?,
            };
            let sd = sd.ok_or_else(|| Error::NoPrimaryDeployment { service: t.service.clone() })?;
            Ok(Some(sd))
        }
    }))
    .await?;

    let arn_base = arn_prefix(&running[0]).unwrap_or_default().to_owned();
    let mut token = ServicesToken {
        v: SERVICES_VERSION,
        arn: arn_base,
        fams: families,
        t: Vec::new(),
        started,
        deadline: 0,
        timeout: 0,
        on_timeout: params.on_timeout,
        polls: 0,
        atomic: params.atomic,
        failed: None,
        rolling: false,
    };
    let timeout = services
        .iter()
        .map(|s| {
            deployment::timeout_minutes(
                params.timeout_minutes,
                DEFAULT_TIMEOUT_MINUTES,
                MAX_TIMEOUT_MINUTES,
                s.deployment_configuration(),
            )
            .0
        })
        .max()
        .unwrap_or(DEFAULT_TIMEOUT_MINUTES);
    token.timeout = timeout;
    token.deadline = started + i64::from(timeout) * 60;
    let mut lines = Vec::new();
    for (i, (target, sd)) in targets.iter().zip(&updated).enumerate() {
        let fam = base_of(i);
        let rev = revision_number(&registered[fam]);
        let prev = revision_number(&running[i]);
        let (id, state) = match sd {
            Some(sd) => {
                if sd_arn(&token.arn, target, short_arn(sd)) != *sd {
                    warn!(service_deployment = %sd, "the service deployment ARN is not the expected one");
                }
                (short_arn(sd).to_owned(), SlotState::Deploying)
            }
            None => (String::new(), SlotState::Succeeded),
        };
        let prev = if id.is_empty() { 0 } else { prev };
        token.t.push(Slot(id, fam, rev, prev, state, String::new(), 0, 0, 0));
        lines.push(match sd {
            Some(_) => format!("{}: {} → {}", target.service, short_arn(&running[i]), short_arn(&registered[fam])),
            None => format!("{}: already runs {} (nothing to deploy)", target.service, short_arn(&running[i])),
        });
        if sd.is_some() {
            lines.extend(plans[fam].overrides.describe().into_iter().map(|l| format!("  {l}")));
        }
    }
    lines.extend(verified);
    info!(services = targets.len(), "services updated");
    let head = format!("Released to {} services", targets.len());
    if params.wait == Wait::No || token.t.iter().all(|s| s.state() == SlotState::Succeeded) {
        let summary = std::iter::once(format!("{head}.")).chain(lines).collect::<Vec<_>>().join("\n");
        return Ok(Outcome::Succeeded(Success { summary, external_id: None, variables: variables(&token, &targets) }));
    }
    let summary = std::iter::once(format!("{head}; following them together (timeout {timeout} min)."))
        .chain(lines)
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Outcome::InProgress(Progress { token: token.encode()?, summary, percent: 0, external_id: None }))
}

/// One plan per distinct running revision: the images of the file whose containers it has, and the container
/// overrides of those containers. Every image and every container override must go to some service, and every
/// service must get some image.
fn plan(
    targets: &[ServiceTarget],
    running: &[String],
    distinct: &[String],
    bases: &[ecs::Described],
    updates: &[ImageUpdate],
    overrides: &Overrides,
) -> Result<Vec<Plan>, Error> {
    let names = |b: &ecs::Described| -> Vec<String> {
        b.td.container_definitions().iter().filter_map(|c| c.name()).map(str::to_owned).collect()
    };
    let listing = || {
        targets
            .iter()
            .zip(running)
            .map(|(t, r)| {
                let base = &bases[distinct.iter().position(|d| d == r).unwrap_or(0)];
                format!("{} ({}): {}", t.service, short_arn(r), names(base).join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let unused: Vec<&str> = updates
        .iter()
        .filter(|u| !bases.iter().any(|b| names(b).contains(&u.container)))
        .map(|u| u.container.as_str())
        .collect();
    if !unused.is_empty() {
        return Err(Error::Services(format!(
            "the image file names container(s) {} that no service's task definition has; the services' containers \
             are: {}",
            unused.join(", "),
            listing()
        )));
    }
    if let Some(name) = overrides.containers.keys().find(|n| !bases.iter().any(|b| names(b).contains(n))) {
        return Err(Error::Params(
            OverrideError {
                path: format!("containers.{name}"),
                problem: format!("names no container of the services' task definitions; they are: {}", listing()),
            }
            .into(),
        ));
    }
    let mut plans = Vec::new();
    for base in bases {
        let mine: Vec<ImageUpdate> = updates.iter().filter(|u| names(base).contains(&u.container)).cloned().collect();
        let overrides = overrides.for_containers_of(&base.td);
        overrides.check(&base.td).map_err(|e| Error::Params(e.into()))?;
        plans.push(Plan { overrides, ..taskdef::plan(&base.td, &mine)? });
    }
    for (target, r) in targets.iter().zip(running) {
        let plan = &plans[distinct.iter().position(|d| d == r).unwrap_or(0)];
        if plan.changes.is_empty() {
            return Err(Error::Services(format!(
                "service {} gets no image: its task definition {} has none of the containers the image file names \
                 ({}); the services' containers are: {}",
                target.service,
                short_arn(r),
                updates.iter().map(|u| u.container.as_str()).collect::<Vec<_>>().join(", "),
                listing()
            )));
        }
    }
    Ok(plans)
}

/// Refuses, before anything changes, a set of services whose continuation token could outgrow CodePipeline's
/// 2048 characters at some later look (the longest values every member can take).
fn check_token_fits(services: &[Service], targets: &[ServiceTarget], families: &[String]) -> Result<(), Error> {
    let worst = ServicesToken {
        v: SERVICES_VERSION,
        arn: services.first().and_then(|s| s.service_arn()).and_then(arn_prefix).unwrap_or_default().to_owned(),
        fams: families.to_vec(),
        t: targets
            .iter()
            .map(|_| {
                Slot(
                    "x".repeat(32),
                    families.len(),
                    999_999,
                    999_999,
                    SlotState::RollbackFailed,
                    "S".repeat(token::STAGE_CHARS),
                    10_000,
                    99_999,
                    100,
                )
            })
            .collect(),
        started: i64::from(u32::MAX),
        deadline: i64::from(u32::MAX),
        timeout: MAX_TIMEOUT_MINUTES,
        on_timeout: token::OnTimeout::Rollback,
        polls: u32::MAX,
        atomic: true,
        failed: Some((targets.len(), "x".repeat(CAUSE_CHARS + 3))),
        rolling: true,
    };
    let len = serde_json::to_string(&worst).map(|s| s.len()).unwrap_or(usize::MAX);
    if len > MAX_LEN {
        return Err(Error::Services(format!(
            "these {} services (task definition families {}) could need a continuation token of {len} characters, \
             and CodePipeline allows {MAX_LEN}; release them in two actions, or shorten the family names",
            targets.len(),
            families.join(", ")
        )));
    }
    Ok(())
}

/// `dryRun` for several services: per service, what a deploy would change.
fn dry_run(
    targets: &[ServiceTarget],
    running: &[String],
    bases: &[ecs::Described],
    plans: &[Plan],
    base_of: impl Fn(usize) -> usize,
) -> Success {
    let mut lines = vec![format!("Dry run for {} services: nothing was registered, updated or tagged.", targets.len())];
    for (i, target) in targets.iter().enumerate() {
        let (base, plan) = (&bases[base_of(i)], &plans[base_of(i)]);
        if !plan.changes_anything() {
            lines.push(format!("{} ({}): already runs these images", target.service, short_arn(&running[i])));
            continue;
        }
        lines.push(format!(
            "{} ({}): a new revision of {} would be registered:",
            target.service,
            short_arn(&running[i]),
            base.td.family().unwrap_or("?")
        ));
        let diff = diff::planned(base.raw.as_ref(), base.raw.as_ref(), plan);
        lines.extend(diff.into_iter().map(|l| format!("  {l}")));
    }
    Success { summary: lines.join("\n"), external_id: None, variables: vec![("DryRun".into(), "true".into())] }
}

/// One look at every service still moving.
pub async fn follow(
    clients: &Clients,
    params: &Params,
    token: ServicesToken,
    checkpoint: &Checkpoint,
) -> Result<Outcome, Error> {
    let ecs = &clients.ecs;
    let targets = params.targets();
    if targets.len() != token.t.len() {
        return Err(Error::Token(token::TokenError::Unreadable(format!(
            "it follows {} services and UserParameters names {}",
            token.t.len(),
            targets.len()
        ))));
    }
    let now = now();
    let mut next = token.next();
    let arns: Vec<String> = targets.iter().zip(&token.t).map(|(t, s)| sd_arn(&token.arn, t, &s.0)).collect();
    let moving: Vec<usize> = (0..token.t.len())
        .filter(|i| matches!(token.t[*i].state(), SlotState::Deploying | SlotState::RollingBack | SlotState::Reverting))
        .collect();
    let again = |next: &ServicesToken, summary: String| -> Result<Outcome, Error> {
        let percent = percent(next);
        Ok(Outcome::InProgress(Progress { token: next.encode()?, summary, percent, external_id: None }))
    };
    if now < token.deadline {
        checkpoint.fallback(again(&next, "Following the services; ECS was slow to answer, checking again".into())?);
    }
    checkpoint.step(format!("checking the service deployments of {} services", moving.len()));
    let wanted: Vec<String> = moving.iter().map(|i| arns[*i].clone()).collect();
    let looked = if wanted.is_empty() {
        Vec::new()
    } else {
        match ecs::describe_service_deployments(ecs, &wanted).await {
            Ok(found) => found,
            Err(e) if e.is_transient() && now < token.deadline => {
                warn!(error = %e, "ECS did not answer this look; looking again next time");
                return again(
                    &next,
                    format!("Following {} services: ECS did not answer this look ({e}); checking again", targets.len()),
                );
            }
            Err(e) => return Err(e),
        }
    };
    let mut lines = BTreeMap::new();
    for &i in &moving {
        let slot = &token.t[i];
        let (rev, prev) =
            (family_revision(&token, slot.1, slot.2), (slot.3 != 0).then(|| family_revision(&token, slot.1, slot.3)));
        let Some(sd) = looked.iter().find(|d| d.service_deployment_arn() == Some(arns[i].as_str())) else {
            let state =
                if slot.state() == SlotState::Deploying { SlotState::Failed } else { SlotState::RollbackFailed };
            next.t[i].4 = state;
            let cause = format!("service deployment {} is no longer known to ECS", slot.0);
            if state == SlotState::Failed && next.failed.is_none() {
                next.failed = Some((i, cause.clone()));
            }
            lines.insert(i, cause);
            continue;
        };
        let cx = Context { revision: &rev, previous: prev.as_deref(), now, seen: slot.seen(token.started) };
        let verdict = match slot.state() {
            SlotState::RollingBack => deployment::judge_rollback(sd, &cx),
            _ => deployment::judge(sd, &cx),
        };
        let (done, failed) = match slot.state() {
            SlotState::Deploying => (SlotState::Succeeded, SlotState::Failed),
            _ => (SlotState::RolledBack, SlotState::RollbackFailed),
        };
        match verdict {
            Verdict::Succeeded { .. } => {
                next.t[i].4 = done;
                next.t[i].8 = 100;
                lines.insert(
                    i,
                    format!(
                        "{} {}",
                        deployment::strategy(sd.deployment_configuration()),
                        if done == SlotState::Succeeded { "succeeded" } else { "rolled back" }
                    ),
                );
            }
            Verdict::InProgress { percent, line, seen, .. } => {
                next.t[i].remember(&seen, token.started);
                next.t[i].8 = percent;
                lines.insert(i, line);
            }
            Verdict::Failed { message, status } => {
                let first_failure = failed == SlotState::Failed;
                // A failed deployment ECS is rolling back itself (circuit breaker, alarm, hook): with atomic, its
                // rollback is followed like the others, so that the report can say every service is back.
                next.t[i].4 = match (first_failure, status.as_str()) {
                    (true, "ROLLBACK_SUCCESSFUL") => SlotState::RolledBack,
                    (true, "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS") if token.atomic => SlotState::RollingBack,
                    _ => failed,
                };
                if first_failure && next.failed.is_none() {
                    next.failed = Some((i, clip(&message, CAUSE_CHARS)));
                }
                lines.insert(i, clip(&message, CAUSE_CHARS));
            }
        }
    }
    decide(clients, &targets, next, lines, now).await
}

/// After a look: the report, and the rollbacks `atomic` asks for.
async fn decide(
    clients: &Clients,
    targets: &[ServiceTarget],
    mut next: ServicesToken,
    lines: BTreeMap<usize, String>,
    now: i64,
) -> Result<Outcome, Error> {
    let states: Vec<SlotState> = next.t.iter().map(Slot::state).collect();
    let name = |i: usize| targets[i].service.clone();
    let rolling =
        |t: &ServicesToken| t.t.iter().any(|s| matches!(s.state(), SlotState::RollingBack | SlotState::Reverting));

    if let Some((failed, cause)) = next.failed.clone() {
        if !next.atomic {
            return Err(Error::Rollout(final_failure(targets, &next, &lines)));
        }
        if !next.rolling {
            next.rolling = true;
            start_rollbacks(clients, targets, &mut next, failed).await;
        }
        if rolling(&next) {
            let summary = format!(
                "{} failed ({}); rolling the services back (atomic):\n{}",
                name(failed),
                clip(&cause, 200),
                status_lines(targets, &next, &lines)
            );
            return Ok(Outcome::InProgress(Progress {
                token: next.encode()?,
                summary,
                percent: percent(&next),
                external_id: None,
            }));
        }
        return Err(Error::Rollout(final_failure(targets, &next, &lines)));
    }
    if states.iter().all(|s| *s == SlotState::Succeeded) {
        let summary = format!(
            "All {} services succeeded ({} checks).\n{}",
            targets.len(),
            next.polls,
            status_lines(targets, &next, &lines)
        );
        return Ok(Outcome::Succeeded(Success { summary, external_id: None, variables: variables(&next, targets) }));
    }
    if now >= next.deadline {
        let mut notes = Vec::new();
        for (i, slot) in next.t.iter().enumerate().filter(|(_, s)| s.state() == SlotState::Deploying) {
            let arn = sd_arn(&next.arn, &targets[i], &slot.0);
            notes.push(match next.on_timeout {
                token::OnTimeout::Leave => format!("{}: left running (onTimeout: \"leave\")", name(i)),
                token::OnTimeout::Rollback => match ecs::roll_back(&clients.ecs, &arn).await {
                    Ok(()) => format!("{}: rolled back (StopServiceDeployment ROLLBACK accepted)", name(i)),
                    Err(e) => format!("{}: rolling back failed ({e}); roll it back by hand", name(i)),
                },
            });
        }
        return Err(Error::Rollout(format!(
            "The services did not all finish within {} minutes.\n{}\n{}",
            next.timeout,
            notes.join("\n"),
            status_lines(targets, &next, &lines)
        )));
    }
    let minutes_left = ((next.deadline - now).max(0) + 59) / 60;
    let summary = format!(
        "Following {} services; timeout in {minutes_left} min.\n{}",
        targets.len(),
        status_lines(targets, &next, &lines)
    );
    Ok(Outcome::InProgress(Progress { token: next.encode()?, summary, percent: percent(&next), external_id: None }))
}

/// `atomic`: every other service back to where it was.
async fn start_rollbacks(clients: &Clients, targets: &[ServiceTarget], token: &mut ServicesToken, failed: usize) {
    let ecs = &clients.ecs;
    let arn = token.arn.clone();
    let fams = token.fams.clone();
    let moves = join_all(token.t.iter().enumerate().filter(|(i, _)| *i != failed).map(|(i, slot)| {
        let target = &targets[i];
        let sd = sd_arn(&arn, target, &slot.0);
        let previous = (slot.3 != 0).then(|| format!("{arn}:task-definition/{}:{}", fams[slot.1], slot.3));
        let state = slot.state();
        async move {
            match (state, previous) {
                (SlotState::Deploying, _) => match ecs::roll_back(ecs, &sd).await {
                    Ok(()) => (i, SlotState::RollingBack, None),
                    Err(e) => {
                        warn!(service = %target.service, error = %e, "could not roll back");
                        (i, SlotState::RollbackFailed, None)
                    }
                },
                (SlotState::Succeeded, Some(previous)) => {
                    match ecs::update_service(ecs, &target.cluster, &target.service, &previous, false).await {
                        Ok(service) => {
                            let sd = match service.current_service_deployment() {
                                Some(sd) => Some(sd.to_owned()),
                                None => ecs::find_service_deployment(
                                    ecs,
                                    &target.cluster,
                                    &target.service,
                                    &previous,
                                    now(),
                                )
                                .await
                                .ok()
                                .flatten(),
                            };
                            match sd {
                                Some(sd) => (i, SlotState::Reverting, Some(short_arn(&sd).to_owned())),
                                None => (i, SlotState::RollbackFailed, None),
                            }
                        }
                        Err(e) => {
                            warn!(service = %target.service, error = %e, "could not update back");
                            (i, SlotState::RollbackFailed, None)
                        }
                    }
                }
                (other, _) => (i, other, None),
            }
        }
    }))
    .await;
    for (i, state, new_id) in moves {
        let slot = &mut token.t[i];
        slot.4 = state;
        if let Some(id) = new_id {
            // Follow the revert: its revision is the previous one, and the release's is what it replaces.
            slot.0 = id;
            (slot.2, slot.3) = (slot.3, slot.2);
            slot.5.clear();
            slot.8 = 0;
        }
    }
}

/// The one failure report: the failed service with its cause, then every other service with its end.
fn final_failure(targets: &[ServiceTarget], token: &ServicesToken, lines: &BTreeMap<usize, String>) -> String {
    let (i, cause) = token.failed.clone().unwrap_or_default();
    let mut text = format!("Service {} failed: {cause}", targets.get(i).map(|t| t.service.as_str()).unwrap_or("?"));
    match token.t.get(i).map(Slot::state) {
        Some(SlotState::RolledBack) => text.push_str("\nECS rolled it back to its previous revision."),
        Some(SlotState::RollbackFailed) => text.push_str("\nECS's rollback of it failed: check it by hand."),
        _ => {}
    }
    let of = |state: SlotState| -> Vec<String> {
        targets
            .iter()
            .zip(&token.t)
            .enumerate()
            .filter(|(j, (_, s))| *j != i && s.state() == state)
            .map(|(_, (t, s))| match state {
                // After a revert the slot's revisions are swapped: the names say enough.
                SlotState::RolledBack | SlotState::RollbackFailed => t.service.clone(),
                _ => format!("{} ({})", t.service, family_revision(token, s.1, s.2)),
            })
            .collect()
    };
    for (state, what) in [
        (SlotState::RolledBack, "Rolled back to their previous revisions (atomic)"),
        (SlotState::RollbackFailed, "Rollback failed, check by hand"),
        (SlotState::Succeeded, "Went through, now on the new release"),
        (SlotState::Deploying, "Still deploying, left as they are"),
        (SlotState::Failed, "Failed too"),
    ] {
        let list = of(state);
        if !list.is_empty() {
            text.push_str(&format!("\n{what}: {}.", list.join(", ")));
        }
    }
    if !token.atomic {
        text.push_str("\nWithout \"atomic\": true, the other services are not rolled back.");
    }
    let details: Vec<String> =
        lines.iter().filter(|(j, _)| **j != i).map(|(j, l)| format!("{}: {l}", targets[*j].service)).collect();
    if !details.is_empty() {
        text.push_str(&format!("\nLast look:\n{}", details.join("\n")));
    }
    text
}

/// One line per service: its state and, when looked at, what ECS said.
fn status_lines(targets: &[ServiceTarget], token: &ServicesToken, lines: &BTreeMap<usize, String>) -> String {
    targets
        .iter()
        .zip(&token.t)
        .enumerate()
        .map(|(i, (t, s))| {
            let state = match s.state() {
                SlotState::Deploying => "deploying",
                SlotState::Succeeded => "succeeded",
                SlotState::Failed => "FAILED",
                SlotState::RollingBack => "rolling back",
                SlotState::Reverting => "reverting to its previous revision",
                SlotState::RolledBack => "rolled back",
                SlotState::RollbackFailed => "rollback FAILED",
            };
            let rev = family_revision(token, s.1, s.2);
            match lines.get(&i) {
                Some(line) => format!("{} ({rev}): {state}: {line}", t.service),
                None => format!("{} ({rev}): {state}", t.service),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The slowest service's percent (finished ones count as 100).
fn percent(token: &ServicesToken) -> i32 {
    let moving = |s: &Slot| matches!(s.state(), SlotState::Deploying | SlotState::RollingBack | SlotState::Reverting);
    token.t.iter().map(|s| if moving(s) { s.8 } else { 100 }).min().unwrap_or(0).clamp(0, 100)
}

/// Output variables per service, prefixed by its name (`<cluster>_<service>_` when two share a name), and the
/// single-service names when there is one.
fn variables(token: &ServicesToken, targets: &[ServiceTarget]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, (target, slot)) in targets.iter().zip(&token.t).enumerate() {
        let service = short_arn(&target.service);
        let shared = targets.iter().enumerate().any(|(j, t)| j != i && short_arn(&t.service) == service);
        let prefix = if shared {
            variable_name(&format!("{}_{service}", short_arn(&target.cluster)))
        } else {
            variable_name(service)
        };
        let arn = format!("{}:task-definition/{}", token.arn, family_revision(token, slot.1, slot.2));
        out.push((format!("{prefix}_TaskDefinitionArn"), arn.clone()));
        if !slot.0.is_empty() {
            out.push((format!("{prefix}_ServiceDeploymentArn"), sd_arn(&token.arn, target, &slot.0)));
        }
        if slot.3 != 0 {
            out.push((
                format!("{prefix}_PreviousTaskDefinitionArn"),
                format!("{}:task-definition/{}", token.arn, family_revision(token, slot.1, slot.3)),
            ));
        }
        if targets.len() == 1 {
            out.extend(task_definition_variables(&arn));
        }
    }
    out
}

fn family_revision(token: &ServicesToken, fam: usize, rev: u32) -> String {
    format!("{}:{rev}", token.fams.get(fam).map(String::as_str).unwrap_or("?"))
}

fn revision_number(arn: &str) -> u32 {
    arn.rsplit(':').next().and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// `…:service-deployment/<cluster>/<service>/<id>` from the account's ARN prefix and the service's names.
fn sd_arn(prefix: &str, target: &ServiceTarget, id: &str) -> String {
    format!("{prefix}:service-deployment/{}/{}/{id}", short_arn(&target.cluster), short_arn(&target.service))
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{ContainerDefinition, TaskDefinition};

    use super::*;

    fn target(cluster: &str, service: &str) -> ServiceTarget {
        ServiceTarget { cluster: cluster.into(), service: service.into() }
    }

    fn described(family: &str, containers: &[&str]) -> ecs::Described {
        let mut td = TaskDefinition::builder().family(family).revision(1);
        for c in containers {
            td = td.container_definitions(ContainerDefinition::builder().name(*c).image(format!("r/{c}:1")).build());
        }
        ecs::Described { td: td.build(), tags: Vec::new(), raw: None }
    }

    fn update(container: &str) -> ImageUpdate {
        ImageUpdate { container: container.into(), image: format!("r/{container}:2") }
    }

    fn service(arn: &str) -> Service {
        Service::builder().service_arn(arn).build()
    }

    #[test]
    fn ten_services_with_64_character_names_fit_and_longer_families_are_refused_at_the_start() {
        let svc = service("arn:aws-us-gov:ecs:us-gov-west-1:123456789012:service/c/s");
        let targets: Vec<_> = (0..10).map(|i| target(&"c".repeat(64), &format!("{i}{}", "s".repeat(63)))).collect();
        let families: Vec<String> = (0..10).map(|i| format!("{i}{}", "f".repeat(63))).collect();
        check_token_fits(std::slice::from_ref(&svc), &targets, &families).unwrap();
        let long: Vec<String> = (0..10).map(|i| format!("{i}{}", "f".repeat(120))).collect();
        let refused = check_token_fits(std::slice::from_ref(&svc), &targets, &long).unwrap_err().to_string();
        assert!(refused.contains("CodePipeline allows 2048; release them in two actions"), "{refused}");
    }

    #[test]
    fn images_go_to_the_services_that_have_their_containers() {
        let targets = [target("prod", "web"), target("prod", "worker"), target("prod", "cron")];
        let running = ["arn:td/web:1".to_owned(), "arn:td/worker:4".to_owned(), "arn:td/worker:4".to_owned()];
        let distinct = ["arn:td/web:1".to_owned(), "arn:td/worker:4".to_owned()];
        let bases = [described("web", &["web", "envoy"]), described("worker", &["worker"])];
        let none = Overrides::default();
        let plans = plan(&targets, &running, &distinct, &bases, &[update("web"), update("worker")], &none).unwrap();
        assert_eq!(plans.len(), 2, "one plan (one revision) per distinct running revision");
        assert_eq!(plans[0].changes.iter().map(|c| c.container.as_str()).collect::<Vec<_>>(), ["web"]);
        assert_eq!(plans[1].changes.iter().map(|c| c.container.as_str()).collect::<Vec<_>>(), ["worker"]);

        let all = [update("web"), update("worker"), update("gpu")];
        let unused = plan(&targets, &running, &distinct, &bases, &all, &none);
        let message = unused.unwrap_err().to_string();
        assert!(message.contains("container(s) gpu that no service's task definition has"), "{message}");
        assert!(
            message.contains("web (web:1): web, envoy; worker (worker:4): worker; cron (worker:4): worker"),
            "{message}"
        );
        let starved = plan(&targets, &running, &distinct, &bases, &[update("web")], &none).unwrap_err().to_string();
        assert!(starved.starts_with("service worker gets no image"), "{starved}");
    }

    #[test]
    fn container_overrides_go_to_the_services_that_have_the_containers() {
        let targets = [target("prod", "web"), target("prod", "worker")];
        let running = ["arn:td/web:1".to_owned(), "arn:td/worker:4".to_owned()];
        let bases = [described("web", &["web", "envoy"]), described("worker", &["worker", "envoy"])];
        let updates = [update("web"), update("worker")];
        let overrides = |v: serde_json::Value| Overrides::parse(v.as_object().unwrap()).unwrap();
        let envoy = overrides(serde_json::json!({"containers": {"envoy": {"environment": {"LOG": "debug"}},
                                                                 "worker": {"command": ["run", "--fast"]}}}));
        let plans = plan(&targets, &running, &running, &bases, &updates, &envoy).unwrap();
        let keys = |p: &Plan| p.overrides.containers.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            (keys(&plans[0]), keys(&plans[1])),
            (vec!["envoy".to_owned()], vec!["envoy".to_owned(), "worker".to_owned()])
        );

        let typo = overrides(serde_json::json!({"containers": {"wrker": {"command": ["run"]}}}));
        let message = plan(&targets, &running, &running, &bases, &updates, &typo).unwrap_err().to_string();
        assert!(
            message.contains("\"containers.wrker\" names no container of the services' task definitions"),
            "{message}"
        );
        assert!(message.contains("worker (worker:4): worker, envoy"), "{message}");
    }

    #[test]
    fn output_variables_per_service() {
        let token = ServicesToken {
            v: SERVICES_VERSION,
            arn: "arn:aws:ecs:eu-west-1:111111111111".into(),
            fams: vec!["web".into(), "jobs".into()],
            t: vec![
                Slot("A1".into(), 0, 8, 7, SlotState::Succeeded, String::new(), 0, 0, 100),
                Slot("B2".into(), 1, 3, 2, SlotState::Succeeded, String::new(), 0, 0, 100),
                Slot(String::new(), 1, 3, 0, SlotState::Succeeded, String::new(), 0, 0, 100),
            ],
            started: 0,
            deadline: 0,
            timeout: 60,
            on_timeout: token::OnTimeout::Rollback,
            polls: 0,
            atomic: false,
            failed: None,
            rolling: false,
        };
        let targets = [target("prod", "web.v2"), target("blue", "jobs"), target("green", "jobs")];
        let vars: BTreeMap<String, String> = variables(&token, &targets).into_iter().collect();
        assert_eq!(vars["web_v2_TaskDefinitionArn"], "arn:aws:ecs:eu-west-1:111111111111:task-definition/web:8");
        assert_eq!(
            vars["web_v2_PreviousTaskDefinitionArn"],
            "arn:aws:ecs:eu-west-1:111111111111:task-definition/web:7"
        );
        assert_eq!(
            vars["blue_jobs_ServiceDeploymentArn"],
            "arn:aws:ecs:eu-west-1:111111111111:service-deployment/blue/jobs/B2"
        );
        assert!(
            vars.contains_key("green_jobs_TaskDefinitionArn") && !vars.contains_key("green_jobs_ServiceDeploymentArn")
        );
        assert!(!vars.contains_key("TaskDefinitionArn"), "single-service names only for one service");
        assert_eq!(percent(&token), 100);
    }
}
