//! Finish: what a final report needs beyond the look — the image digests ECS resolved (one
//! DescribeServiceRevisions for every target), a failed target's stopped tasks and service events, and the
//! clean-up of old revisions (`keepRevisions`).

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{ContainerImage, ServiceDeployment};
use futures_util::future::join_all;
use tracing::{info, warn};

use super::decide::Look;
use super::describe;
use crate::aws::clients::Reaches;
use crate::aws::ecs;
use crate::config::Target;
use crate::guard::Guard;
use crate::judge::rollout;
use crate::text::{family_and_revision, short_arn};
use crate::token::{State, Tracker};

/// Per target, the images ECS resolved for the revision its deployment left it on (the target revision; for a
/// deployment rolled back, `undone`, the one it rolled back to), by the look's answers.
pub async fn digests(
    reaches: &Reaches,
    looks: &[Option<Look>],
    undone: &[bool],
) -> Vec<Option<Result<(String, Vec<ContainerImage>), String>>> {
    let revision = |(look, undone): (&Option<Look>, &bool)| match look {
        Some(Look::Deployment(sd)) if *undone => sd
            .rollback()
            .and_then(|r| r.service_revision_arn())
            .map(str::to_owned)
            .or_else(|| describe::revision_arns(sd).1),
        Some(Look::Deployment(sd)) => sd.target_service_revision().and_then(|r| r.arn()).map(str::to_owned),
        _ => None,
    };
    let undone = |i: usize| undone.get(i).unwrap_or(&false);
    let wanted: Vec<(usize, String)> =
        looks.iter().enumerate().filter_map(|(i, l)| revision((l, undone(i))).map(|r| (i, r))).collect();
    let described = if wanted.is_empty() {
        Ok(Vec::new())
    } else {
        describe::service_revisions(reaches, &wanted).await.map_err(|e| e.to_string())
    };
    looks
        .iter()
        .enumerate()
        .map(|(i, look)| {
            let arn = revision((look, undone(i)))?;
            Some(match &described {
                Ok(revisions) => Ok((
                    arn.clone(),
                    revisions
                        .iter()
                        .find(|r| r.service_revision_arn() == Some(arn.as_str()))
                        .map(|r| r.container_images().to_vec())
                        .unwrap_or_default(),
                )),
                Err(e) => Err(e.clone()),
            })
        })
        .collect()
}

/// A failed target's failure message with its stopped tasks and the service's events after it. The stopped
/// tasks are those its `ecs-svc/…` deployment started (`dep`, or the service's deployment of `revision`).
pub async fn diagnose(
    ecs: &aws_sdk_ecs::Client,
    target: &Target,
    dep: Option<String>,
    revision: Option<String>,
    sd: Option<&ServiceDeployment>,
    since: Option<aws_smithy_types::DateTime>,
    message: &str,
) -> String {
    let cluster = sd.and_then(|s| s.cluster_arn()).map(str::to_owned).unwrap_or_else(|| target.cluster.clone());
    let service = sd.and_then(|s| s.service_arn()).map(str::to_owned).unwrap_or_else(|| target.service.clone());
    let described = ecs::describe_service(ecs, &cluster, &service).await;
    let mut notes = Vec::new();
    let events = match &described {
        Ok(s) => s.events(),
        Err(e) => {
            notes.push(format!("service events unavailable: {e}"));
            &[]
        }
    };
    let dep = dep.or_else(|| {
        let service = described.as_ref().ok()?;
        let revision = revision.as_deref()?;
        service
            .deployments()
            .iter()
            .find(|d| d.task_definition() == Some(revision))
            .and_then(|d| d.id())
            .map(str::to_owned)
    });
    let stopped = match &dep {
        Some(dep) => {
            let (stopped, more) = ecs::stopped_tasks(ecs, &cluster, dep).await;
            notes.extend(more);
            stopped
        }
        None => Vec::new(),
    };
    let since = sd.and_then(|s| s.created_at()).copied().or(since);
    rollout::explain(message, &stopped, events, since, &notes)
}

/// At most this many revisions are deregistered by one job (each is one call); the rest go next time.
pub const MAX_PER_JOB: usize = 25;
/// The account-wide look at what runs stops beyond this many services (then nothing is deregistered).
pub const MAX_SERVICES_SCANNED: usize = 2000;

/// Why a revision beyond the newest N stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kept {
    /// A service in the account and region runs it or is deploying it.
    InUse,
    /// One of this action's services ran it before the action (what a rollback goes back to).
    Replaced,
    /// The newest successful deployment of one of this action's services started from it or deployed it: ECS
    /// rolls a failed deployment back to it.
    RollbackTarget,
}

impl Kept {
    fn reason(self) -> &'static str {
        match self {
            Self::InUse => "run or being deployed by a service in this account and region",
            Self::Replaced => "run by this action's services before it",
            Self::RollbackTarget => "what ECS would roll back to (the newest successful deployment's revisions)",
        }
    }
}

/// Which ACTIVE revisions go: beyond the newest `keep`, not protected, oldest first, at most [`MAX_PER_JOB`].
/// `active` is newest first. Returns them, how many more would go, and per reason the revisions kept. Pure.
pub fn choose(
    active: &[String],
    keep: usize,
    protected: &BTreeMap<String, Kept>,
) -> (Vec<String>, usize, BTreeMap<Kept, usize>) {
    let mut kept = BTreeMap::new();
    let mut candidates = Vec::new();
    for arn in active.iter().skip(keep) {
        match protected.get(arn) {
            Some(reason) => *kept.entry(*reason).or_insert(0) += 1,
            None => candidates.push(arn.clone()),
        }
    }
    let chosen: Vec<String> = candidates.iter().rev().take(MAX_PER_JOB).cloned().collect();
    let left = candidates.len() - chosen.len();
    (chosen, left, kept)
}

/// What `keepRevisions` takes, decided before anything is deregistered (reads only).
#[derive(Debug, Default)]
pub struct CleanUp {
    keep: u32,
    families: Vec<FamilyCleanUp>,
    /// Why nothing goes (the account's services could not be read).
    warning: Option<String>,
}

#[derive(Debug)]
struct FamilyCleanUp {
    family: String,
    /// A target of the family: its account and region are the family's.
    target: usize,
    active: usize,
    chosen: Vec<String>,
    left: usize,
    kept: BTreeMap<Kept, usize>,
    warning: Option<String>,
}

impl CleanUp {
    /// Whether anything is to be deregistered.
    pub fn deregisters(&self) -> bool {
        self.families.iter().any(|f| !f.chosen.is_empty())
    }

    /// The revisions to deregister, for the tracker: by family index, revision numbers.
    pub fn announced(&self, fams: &mut Vec<String>, targets: &[Target]) -> Vec<(usize, Vec<u32>)> {
        self.families
            .iter()
            .filter(|f| !f.chosen.is_empty())
            .map(|f| {
                let numbers = f.chosen.iter().filter_map(|arn| family_and_revision(arn).1.parse().ok()).collect();
                (Tracker::family_index(fams, &f.family, targets), numbers)
            })
            .collect()
    }

    /// The summary's lines before deregistering: what is about to go, and what stays and why.
    pub fn lines_before(&self) -> Vec<String> {
        let mut lines = self.warning.iter().cloned().collect::<Vec<_>>();
        for f in &self.families {
            let shown: Vec<&str> = f.chosen.iter().map(|a| short_arn(a)).collect();
            lines.push(format!(
                "keepRevisions {}: about to deregister {} old revision(s) of {}{}",
                self.keep,
                f.chosen.len(),
                f.family,
                if shown.is_empty() { String::new() } else { format!(" ({})", shown.join(", ")) }
            ));
            lines.extend(kept_lines(f));
        }
        lines
    }
}

fn kept_lines(f: &FamilyCleanUp) -> Vec<String> {
    let mut lines: Vec<String> = f.warning.iter().cloned().collect();
    lines.extend(f.kept.iter().map(|(reason, count)| {
        format!("keepRevisions: kept {count} older revision(s) of {}: {}", f.family, reason.reason())
    }));
    lines
}

/// `keepRevisions`: after a final success, each family this action deployed keeps its newest `keep` ACTIVE
/// revisions and every protected one; the rest go. In each account and region the action's targets are in, on
/// its own. Reads only: [`clean_up`] deregisters.
pub async fn clean_up_plan(reaches: &Reaches, guard: &Guard, t: &Tracker, targets: &[Target], keep: u32) -> CleanUp {
    let mut plan = CleanUp { keep, ..CleanUp::default() };
    for (reach, which) in reaches.groups(targets.len()) {
        clean_up_plan_in(&reach.ecs, guard, t, targets, &which, &mut plan).await;
    }
    plan
}

async fn clean_up_plan_in(
    ecs: &aws_sdk_ecs::Client,
    guard: &Guard,
    t: &Tracker,
    targets: &[Target],
    which: &[usize],
    plan: &mut CleanUp,
) {
    // Only the families this action deployed, and with ALLOWED_FAMILIES only those it names.
    let mut families: Vec<(String, usize)> = Vec::new();
    for &i in which {
        let slot = &t.t[i];
        if slot.state() == State::Done && slot.3 != 0 {
            let family = t.family(slot.2, targets);
            if !families.iter().any(|(f, _)| *f == family) && guard.check_family(&family).is_ok() {
                families.push((family, i));
            }
        }
    }
    if families.is_empty() {
        return;
    }
    let protected = match protected(ecs, t, targets, which).await {
        Ok(p) => p,
        Err(e) => {
            plan.warning = Some(format!(
                "warning: keepRevisions: could not tell which revisions the account's services run ({e}); none \
                 deregistered"
            ));
            return;
        }
    };
    for (family, target) in families {
        let (active, warning) = match ecs::active_revisions(ecs, &family).await {
            Ok(active) => (active, None),
            Err(e) => (
                Vec::new(),
                Some(format!(
                    "warning: keepRevisions: could not list the revisions of {family} ({e}); none deregistered"
                )),
            ),
        };
        let (chosen, left, kept) = choose(&active, plan.keep as usize, &protected);
        plan.families.push(FamilyCleanUp { family, target, active: active.len(), chosen, left, kept, warning });
    }
}

/// Deregisters what the clean-up chose; returns the summary's lines. Problems are warnings, never a failure.
pub async fn clean_up(reaches: &Reaches, plan: CleanUp) -> Vec<String> {
    let mut lines: Vec<String> = plan.warning.iter().cloned().collect();
    for f in &plan.families {
        let ecs = &reaches.target(f.target).ecs;
        let mut done = Vec::new();
        let mut warnings = Vec::new();
        for arn in &f.chosen {
            match ecs::deregister(ecs, arn).await {
                Ok(()) => done.push(short_arn(arn).to_owned()),
                Err(e) => {
                    warn!(task_definition = %arn, error = %e, "could not deregister");
                    warnings.push(format!("warning: keepRevisions: could not deregister {} ({e})", short_arn(arn)));
                }
            }
        }
        info!(family = %f.family, deregistered = done.len(), "cleaned up old revisions");
        lines.push(head(plan.keep, &f.family, &done, f.active - done.len(), f.left));
        lines.extend(kept_lines(f));
        lines.extend(warnings);
    }
    lines
}

/// After a clean-up announced by the job before: which of the announced revisions are gone now.
pub async fn cleaned_up(reaches: &Reaches, t: &Tracker, targets: &[Target], keep: u32) -> Vec<String> {
    let mut lines = Vec::new();
    for (fam, numbers) in &t.clean {
        let family = t.family(*fam, targets);
        let owner = t.t.iter().position(|s| s.2 == *fam).unwrap_or(0);
        let ecs = &reaches.target(owner).ecs;
        let active = match ecs::active_revisions(ecs, &family).await {
            Ok(active) => active,
            Err(e) => {
                lines.push(format!(
                    "warning: keepRevisions: could not list the revisions of {family} to check the clean-up ({e})"
                ));
                continue;
            }
        };
        let still: Vec<u32> = numbers
            .iter()
            .copied()
            .filter(|n| active.iter().any(|a| family_and_revision(a).1 == n.to_string()))
            .collect();
        let done: Vec<String> =
            numbers.iter().filter(|n| !still.contains(n)).map(|n| format!("{family}:{n}")).collect();
        lines.push(head(keep, &family, &done, active.len(), 0));
        if !still.is_empty() {
            let shown: Vec<String> = still.iter().map(|n| format!("{family}:{n}")).collect();
            lines.push(format!(
                "warning: keepRevisions: {} stayed ACTIVE (deregistering failed; the function's log says why)",
                shown.join(", ")
            ));
        }
    }
    lines
}

fn head(keep: u32, family: &str, done: &[String], remain: usize, left: usize) -> String {
    let mut head = format!(
        "keepRevisions {keep}: deregistered {} old revision(s) of {family}{}; {remain} ACTIVE remain",
        done.len(),
        if done.is_empty() { String::new() } else { format!(" ({})", done.join(", ")) },
    );
    if left > 0 {
        head.push_str(&format!(", {left} more go on later deploys (at most {MAX_PER_JOB} per job)"));
    }
    head
}

/// The revisions no clean-up may take: what any service in the account and region runs or deploys (every
/// cluster, every service, paged and bounded), what this action's services ran before it, and each one's
/// newest successful deployment's revisions.
async fn protected(
    ecs: &aws_sdk_ecs::Client,
    t: &Tracker,
    targets: &[Target],
    which: &[usize],
) -> Result<BTreeMap<String, Kept>, crate::error::Error> {
    let mut protected = BTreeMap::new();
    for (i, slot) in t.t.iter().enumerate() {
        if slot.5 != 0 {
            protected.insert(t.revision_arn(i, true, targets).unwrap_or_default(), Kept::Replaced);
        }
    }
    // ECS's rollback target: each service's newest successful deployment, its target and source revisions.
    let last = join_all(
        which.iter().map(|i| ecs::last_successful_deployment(ecs, &targets[*i].cluster, &targets[*i].service)),
    )
    .await;
    let last: Vec<String> = last.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
    let deployments: Vec<ServiceDeployment> =
        if last.is_empty() { Vec::new() } else { ecs::describe_service_deployments(ecs, &last).await? };
    let revisions: Vec<String> = deployments
        .iter()
        .flat_map(|sd| {
            let (target, source) = describe::revision_arns(sd);
            target.into_iter().chain(source)
        })
        .collect();
    let revisions =
        if revisions.is_empty() { Vec::new() } else { ecs::describe_service_revisions(ecs, &revisions).await? };
    for td in revisions.iter().filter_map(|r| r.task_definition()) {
        protected.entry(td.to_owned()).or_insert(Kept::RollbackTarget);
    }
    // Every service of the account and region: what it runs or is deploying (PRIMARY and ACTIVE deployments).
    let clusters = ecs::list_clusters(ecs, MAX_SERVICES_SCANNED).await?;
    let mut scanned = 0;
    for cluster in clusters {
        let services = ecs::list_services(ecs, &cluster, MAX_SERVICES_SCANNED).await?;
        scanned += services.len();
        if scanned > MAX_SERVICES_SCANNED {
            return Err(crate::error::Error::Plan(format!(
                "the account has more than {MAX_SERVICES_SCANNED} services"
            )));
        }
        for service in ecs::describe_services(ecs, &cluster, &services).await?.into_iter().flatten() {
            for td in service.deployments().iter().filter_map(|d| d.task_definition()) {
                protected.insert(td.to_owned(), Kept::InUse);
            }
            if let Some(td) = service.task_definition() {
                protected.insert(td.to_owned(), Kept::InUse);
            }
        }
    }
    Ok(protected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revs(numbers: &[u32]) -> Vec<String> {
        numbers.iter().map(|n| format!("arn:aws:ecs:eu-west-1:1:task-definition/web:{n}")).collect()
    }

    fn kept(numbers: &[(u32, Kept)]) -> BTreeMap<String, Kept> {
        numbers.iter().map(|(n, k)| (revs(&[*n])[0].clone(), *k)).collect()
    }

    #[test]
    fn which_revisions_go() {
        let active = revs(&[12, 11, 10, 9, 8, 7, 6]);
        for (keep, protected, gone, counts) in [
            (3, kept(&[(12, Kept::InUse), (11, Kept::Replaced)]), revs(&[6, 7, 8, 9]), vec![]),
            (3, kept(&[(7, Kept::RollbackTarget)]), revs(&[6, 8, 9]), vec![(Kept::RollbackTarget, 1)]),
            (1, kept(&[(9, Kept::Replaced)]), revs(&[6, 7, 8, 10, 11]), vec![(Kept::Replaced, 1)]),
            (7, kept(&[]), Vec::new(), vec![]),
            (
                1,
                kept(&[
                    (11, Kept::InUse),
                    (10, Kept::InUse),
                    (9, Kept::InUse),
                    (8, Kept::InUse),
                    (7, Kept::InUse),
                    (6, Kept::InUse),
                ]),
                Vec::new(),
                vec![(Kept::InUse, 6)],
            ),
        ] {
            let (chosen, left, reasons) = choose(&active, keep, &protected);
            assert_eq!((chosen, left), (gone, 0), "keep {keep}");
            assert_eq!(reasons.into_iter().collect::<Vec<_>>(), counts, "keep {keep}");
        }
        let many = revs(&(1..=60).rev().collect::<Vec<_>>());
        let (gone, left, _) = choose(&many, 5, &BTreeMap::new());
        assert_eq!((gone.len(), left), (MAX_PER_JOB, 55 - MAX_PER_JOB));
        assert_eq!(gone[0], revs(&[1])[0], "oldest first");
    }
}
