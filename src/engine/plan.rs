//! Plan: what each target gets, decided from what was read and described, before anything changes. Pure data:
//! the dry run prints it, the tests assert on it, and apply carries it out.
//!
//! A release builds one new revision per distinct base (the revision a target runs, or its task definition
//! file) and set of overrides, registered once for every target that gets it. A target that already runs what
//! the release would register gets no new revision: the deployment that put it there decides
//! ([`already_running`]) — never "it already runs" by itself.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{DeploymentRolloutState, Service, ServiceDeployment};

use crate::aws::ecs::Described;
use crate::config::Params;
use crate::config::overrides::OverrideError;
use crate::diff;
use crate::error::Error;
use crate::images::ImageUpdate;
use crate::judge::deployment::{self, Context, Verdict};
use crate::taskdef::{self, Edit};
use crate::taskdef_file::{self, FileTaskDefinition};
use crate::text::short_arn;
use crate::token::Op;

/// What one target gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Move {
    /// The plan's new revision (by index), registered once for every target that gets it, then UpdateService.
    Release(usize),
    /// UpdateService to an existing revision: a promotion, a deployment again of what runs (`force`), or a revert
    /// (the rollback action).
    Update { to: String, force: bool, revert: bool },
    /// StopServiceDeployment ROLLBACK of the deployment in progress (the rollback action).
    Stop { sd: String },
    /// ContinueServiceDeployment at a pause hook (waiting at `stage`).
    Continue { sd: String, hook: String, stage: String },
    /// Follow the deployment already going that puts the release there.
    Adopt { sd: String },
    /// Nothing to change: it runs the release, and the deployment that put it there succeeded.
    Done,
    /// This job's own deployment of the release already failed (a redelivery): its failure, never success.
    Failed(String),
}

impl Move {
    /// Whether carrying it out changes anything.
    pub fn changes(&self) -> bool {
        matches!(self, Self::Release(_) | Self::Update { .. } | Self::Stop { .. } | Self::Continue { .. })
    }
}

/// One target's part of the plan.
#[derive(Debug, Clone)]
pub struct TargetPlan {
    pub mv: Move,
    /// The revision it runs now (ARN).
    pub running: String,
    /// The revision its followed deployment goes to (ARN; a release's is known once registered).
    pub rev: Option<String>,
    /// The revision it runs at the end of a rollback: what it ran before the action, or a stopped
    /// deployment's source (ARN; `None`: nothing this action changed to go back from).
    pub prev: Option<String>,
    /// For the summary: what this target gets, and why.
    pub why: String,
    /// Lines under it (image changes, overrides, notes such as an INACTIVE base).
    pub notes: Vec<String>,
}

/// A revision to register: `base` with `edit`.
#[derive(Debug, Clone)]
pub struct NewRevision {
    pub base: Described,
    /// What it is built on: `web:7`, or the task definition file's name.
    pub source: String,
    pub file: Option<String>,
    pub edit: Edit,
    /// The images it sets that ECS has not run for it before (checked against the allow-list and ECR).
    pub images: Vec<String>,
    /// The targets it goes to.
    pub targets: Vec<usize>,
    /// The account and region it is registered in (targets elsewhere get a revision of their own).
    pub place: usize,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub op: Op,
    pub targets: Vec<TargetPlan>,
    pub revisions: Vec<NewRevision>,
}

impl Plan {
    /// Every image the plan sets that is new: each once, in order.
    pub fn new_images(&self) -> Vec<String> {
        let mut images: Vec<String> = self.revisions.iter().flat_map(|r| r.images.iter().cloned()).collect();
        images.sort();
        images.dedup();
        images
    }
}

/// What a release is planned from.
pub struct Release<'a> {
    pub params: &'a Params,
    pub updates: &'a [ImageUpdate],
    pub files: &'a BTreeMap<String, FileTaskDefinition>,
    pub services: &'a [Service],
    /// The revisions the services run, by ARN.
    pub running: &'a BTreeMap<String, Described>,
    /// The job the action belongs to (what this job registered carries its id).
    pub job: &'a str,
    /// Per target, its account and region (the same number: the same place).
    pub places: &'a [usize],
}

/// Pass 1 of a release: the new revisions, and for each target the one it gets (`None`: it already runs what
/// the release would register, and [`already_running`] decides its move).
pub fn release(r: &Release<'_>) -> Result<(Vec<NewRevision>, Vec<Option<usize>>), Error> {
    let targets = &r.params.targets;
    let running: Vec<&str> = r.services.iter().map(|s| s.task_definition().unwrap_or_default()).collect();
    let bases: Vec<(Described, String, Option<String>)> = targets
        .iter()
        .zip(&running)
        .map(|(t, arn)| match &t.task_definition_file {
            Some(name) => {
                let f = &r.files[name];
                (
                    Described { td: f.td.clone(), tags: f.tags.clone(), raw: Some(f.raw.clone()) },
                    name.clone(),
                    Some(name.clone()),
                )
            }
            None => (r.running[*arn].clone(), short_arn(arn).to_owned(), None),
        })
        .collect();
    let names = |d: &Described| -> Vec<String> {
        d.td.container_definitions().iter().filter_map(|c| c.name()).map(str::to_owned).collect()
    };
    let listing = || {
        targets
            .iter()
            .zip(&bases)
            .map(|(t, (b, source, _))| format!("{} ({source}): {}", t.service, names(b).join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    // Every image and every top-level container override goes to some target (`services`: by container name;
    // one `service` gets every image, and a container it lacks is named with its containers).
    let single = r.params.single;
    if !single {
        let unused: Vec<&str> = r
            .updates
            .iter()
            .filter(|u| !bases.iter().any(|(b, ..)| names(b).contains(&u.container)))
            .map(|u| u.container.as_str())
            .collect();
        if !unused.is_empty() {
            return Err(Error::Plan(format!(
                "the image file names container(s) {} that no service's task definition has; the services' \
                 containers are: {}",
                unused.join(", "),
                listing()
            )));
        }
        if let Some(name) =
            r.params.overrides.containers.keys().find(|n| !bases.iter().any(|(b, ..)| names(b).contains(n)))
        {
            return Err(Error::Params(
                OverrideError {
                    path: format!("containers.{name}"),
                    problem: format!("names no container of the services' task definitions; they are: {}", listing()),
                }
                .into(),
            ));
        }
    }
    let mut revisions: Vec<NewRevision> = Vec::new();
    let mut gets = Vec::new();
    for (i, (target, (base, source, file))) in targets.iter().zip(&bases).enumerate() {
        let containers = names(base);
        if let Some(own) = target.own_containers.iter().find(|c| !containers.contains(c)) {
            return Err(Error::Params(
                OverrideError {
                    path: format!("services[{i}].containers.{own}"),
                    problem: format!(
                        "names no container of {}'s task definition ({source}); its containers are: {}",
                        target.service,
                        containers.join(", ")
                    ),
                }
                .into(),
            ));
        }
        let mine: Vec<ImageUpdate> = if single {
            r.updates.to_vec()
        } else {
            r.updates.iter().filter(|u| containers.contains(&u.container)).cloned().collect()
        };
        let overrides = if single { target.overrides.clone() } else { target.overrides.for_containers_of(&base.td) };
        overrides.check(&base.td).map_err(|e| Error::Params(e.into()))?;
        let edit = Edit { overrides, ..taskdef::edit(&base.td, &mine).map_err(Error::from)? };
        if mine.is_empty() && file.is_none() && edit.overrides.is_empty() {
            return Err(Error::Plan(format!(
                "service {} gets no image: its task definition {source} has none of the containers the image file \
                 names ({}); the services' containers are: {}",
                target.service,
                r.updates.iter().map(|u| u.container.as_str()).collect::<Vec<_>>().join(", "),
                listing()
            )));
        }
        let images = match file {
            Some(name) => file_images(name, base, &edit, &r.params.file_name)?,
            None => edit.new_images(),
        };
        let current = &r.running[running[i]];
        if runs_already(current, base, &edit, file.is_some(), r.job) {
            gets.push(None);
            continue;
        }
        let place = r.places.get(i).copied().unwrap_or(0);
        let key = |n: &NewRevision| n.source == *source && n.edit == edit && n.place == place;
        let index = match revisions.iter().position(key) {
            Some(index) => index,
            None => {
                revisions.push(NewRevision {
                    base: base.clone(),
                    source: source.clone(),
                    file: file.clone(),
                    edit: edit.clone(),
                    images,
                    targets: Vec::new(),
                    place,
                });
                revisions.len() - 1
            }
        };
        revisions[index].targets.push(i);
        gets.push(Some(index));
    }
    Ok((revisions, gets))
}

/// Whether the revision a target runs is already what the release would register: this job registered it (a
/// redelivery), or it holds the same task definition (the images, the overrides, the file), member by member.
fn runs_already(current: &Described, base: &Described, edit: &Edit, from_file: bool, job: &str) -> bool {
    if taskdef::registered_by(&current.tags, job) {
        return true;
    }
    match (&current.raw, &base.raw) {
        (Some(now), Some(base)) => diff::task_definitions(now, &diff::apply(base, edit)).is_empty(),
        // Test doubles keep no raw answer: the images and overrides decide.
        _ => !from_file && !edit.changes_anything(),
    }
}

/// A task definition file's images once the image file's are applied, none left as a placeholder.
fn file_images(name: &str, base: &Described, edit: &Edit, image_file: &str) -> Result<Vec<String>, Error> {
    let mut images = Vec::new();
    for container in base.td.container_definitions() {
        let cname = container.name().unwrap_or("?");
        let image = edit.changes.iter().find(|c| c.container == cname).map(|c| c.to.as_str()).or(container.image());
        match image {
            Some(image) if !taskdef_file::is_placeholder(image) => images.push(image.to_owned()),
            other => {
                return Err(Error::TaskDefinitionFile {
                    file: name.to_owned(),
                    problem: format!(
                        "leaves container \"{cname}\" with the placeholder image {:?}: {image_file} names no image for it",
                        other.unwrap_or("")
                    ),
                });
            }
        }
    }
    Ok(images)
}

/// How a service's current deployment stands, for a target whose release (or promoted revision) it runs already.
pub enum Current<'a> {
    /// Its current service deployment, as described.
    Deployment(&'a ServiceDeployment),
    /// No service deployments (a Classic Load Balancer, or deployments older than service deployments).
    Legacy,
    /// ECS no longer knows the current deployment.
    Unknown,
}

/// Pass 2: the move of a target that runs the release already, decided by the deployment that put it there.
/// `own`: this job put it there (a redelivery), so a failure of it is this job's failure, not one to retry.
pub fn already_running(service: &Service, current: Current<'_>, own: bool, force: bool) -> (Move, String) {
    let running = service.task_definition().unwrap_or_default();
    let rev = short_arn(running);
    if force {
        return (
            Move::Update { to: running.to_owned(), force: true, revert: false },
            format!("Forced a new deployment of {rev}"),
        );
    }
    let status = match current {
        Current::Deployment(sd) => deployment::status(sd).to_owned(),
        Current::Unknown => "SUCCESSFUL".to_owned(),
        Current::Legacy => {
            let primary = service.deployments().iter().find(|d| d.status() == Some("PRIMARY"));
            match primary.and_then(|d| d.rollout_state()) {
                Some(DeploymentRolloutState::Failed) => "FAILED".to_owned(),
                Some(DeploymentRolloutState::InProgress) => "IN_PROGRESS".to_owned(),
                _ => "SUCCESSFUL".to_owned(),
            }
        }
    };
    match (status.as_str(), current) {
        ("SUCCESSFUL" | "ROLLBACK_SUCCESSFUL", _) => {
            (Move::Done, format!("Nothing new to deploy: the service already runs these images ({rev})"))
        }
        ("PENDING" | "IN_PROGRESS", Current::Deployment(sd)) => (
            Move::Adopt { sd: sd.service_deployment_arn().unwrap_or_default().to_owned() },
            format!("Nothing new to register: the service is already deploying these images ({rev})"),
        ),
        ("PENDING" | "IN_PROGRESS", _) => (
            Move::Adopt { sd: String::new() },
            format!("Nothing new to register: the service is already deploying these images ({rev})"),
        ),
        (status, Current::Deployment(sd)) if own => {
            let cx = Context { revision: rev, previous: None, now: crate::clock::now(), seen: Default::default() };
            let message = match deployment::judge(sd, &cx) {
                Verdict::Failed { message, .. } => message,
                _ => format!("This job's deployment of {rev} ended {status}"),
            };
            (Move::Failed(message), String::new())
        }
        (status, _) if own => (Move::Failed(format!("This job's deployment of {rev} ended {status}")), String::new()),
        (status, _) => (
            Move::Update { to: running.to_owned(), force: true, revert: false },
            format!("The service's last deployment of {rev} ended {status}; started a new deployment of it"),
        ),
    }
}

/// The revision the rollback action reverts to, when no deployment is in progress: the last successful
/// deployment's target revision, or that deployment's source when the service runs its target. `None`: the
/// service has no successful deployment that replaced another.
pub fn revert_target(running: &str, last_target: Option<&str>, last_source: Option<&str>) -> Option<String> {
    match last_target {
        Some(target) if target != running => Some(target.to_owned()),
        Some(_) => last_source.map(str::to_owned),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revert_target_is_the_last_success_or_its_source() {
        // (running, last successful target, its source) → revert to
        for (running, target, source, expected) in [
            ("web:43", Some("web:43"), Some("web:42"), Some("web:42")), // 42→43 succeeded, 43 runs
            ("web:44", Some("web:43"), Some("web:42"), Some("web:43")), // 43→44 stopped, 44 left running
            ("web:43", Some("web:43"), None, None),                     // nothing before it
            ("web:43", None, None, None),
        ] {
            assert_eq!(revert_target(running, target, source).as_deref(), expected, "{running} {target:?}");
        }
    }
}
