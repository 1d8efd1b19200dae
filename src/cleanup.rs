//! `keepRevisions`: after a final success, deregister the family's ACTIVE revisions beyond the newest N.
//!
//! Never deregistered: the revision now running, the one this deploy replaced, every revision the service's
//! listed SUCCESSFUL service deployments ran (ECS rolls back to the last deployment that completed, which can
//! be older than the one replaced), and every revision the service's deployments still use. Failures are
//! warning lines in the summary, never a failed job. A deregistered revision can no longer be deployed, so N
//! bounds how far back a rollback by revision can go.

use tracing::{info, warn};

use crate::clients::Clients;
use crate::ecs;
use crate::text::{family_and_revision, short_arn};

/// At most this many revisions are deregistered by one job (each is one call); the rest go next time.
pub const MAX_PER_JOB: usize = 25;

/// Which ACTIVE revisions go: beyond the newest `keep`, not protected, oldest first, at most [`MAX_PER_JOB`].
/// `active` is newest first. Pure.
pub fn choose(active: &[String], keep: usize, protected: &[String]) -> (Vec<String>, usize) {
    let candidates: Vec<&String> = active.iter().skip(keep).filter(|arn| !protected.contains(arn)).collect();
    let chosen: Vec<String> = candidates.iter().rev().take(MAX_PER_JOB).map(|a| (*a).clone()).collect();
    let left = candidates.len() - chosen.len();
    (chosen, left)
}

/// Runs the clean-up for one service and family; returns the summary lines.
pub async fn run(
    clients: &Clients,
    cluster: &str,
    service: &str,
    running: &str,
    replaced: Option<&str>,
    keep: u32,
) -> Vec<String> {
    let ecs = &clients.ecs;
    let (family, _) = family_and_revision(running);
    let active = match ecs::active_revisions(ecs, &family).await {
        Ok(active) => active,
        Err(e) => {
            return vec![format!(
                "warning: keepRevisions: could not list the revisions of {family} ({e}); none deregistered"
            )];
        }
    };
    let mut protected: Vec<String> = vec![running.to_owned()];
    protected.extend(replaced.map(str::to_owned));
    match ecs::protected_revisions(ecs, cluster, service).await {
        Ok(in_use) => protected.extend(in_use),
        Err(e) => {
            return vec![format!(
                "warning: keepRevisions: could not tell which revisions the service's deployments use ({e}); none \
                 deregistered"
            )];
        }
    }
    let (chosen, left) = choose(&active, keep as usize, &protected);
    let mut done = Vec::new();
    let mut lines = Vec::new();
    for arn in &chosen {
        match ecs::deregister(ecs, arn).await {
            Ok(()) => done.push(short_arn(arn).to_owned()),
            Err(e) => {
                warn!(task_definition = %arn, error = %e, "could not deregister");
                lines.push(format!("warning: keepRevisions: could not deregister {} ({e})", short_arn(arn)));
            }
        }
    }
    info!(family = %family, deregistered = done.len(), "cleaned up old revisions");
    let kept = active.len() - done.len();
    let mut head = format!(
        "keepRevisions {keep}: deregistered {} old revision(s) of {family}{}; {kept} ACTIVE remain",
        done.len(),
        if done.is_empty() { String::new() } else { format!(" ({})", done.join(", ")) }
    );
    if left > 0 {
        head.push_str(&format!(", {left} more go on later deploys (at most {MAX_PER_JOB} per job)"));
    }
    lines.insert(0, head);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revs(numbers: &[u32]) -> Vec<String> {
        numbers.iter().map(|n| format!("arn:aws:ecs:eu-west-1:1:task-definition/web:{n}")).collect()
    }

    #[test]
    fn which_revisions_go() {
        let active = revs(&[12, 11, 10, 9, 8, 7, 6]);
        for (keep, protected, gone) in [
            (3, revs(&[12, 11]), revs(&[6, 7, 8, 9])),
            (3, revs(&[12, 11, 7]), revs(&[6, 8, 9])), // a successful deployment's revision stays
            (1, revs(&[12, 11, 9]), revs(&[6, 7, 8, 10])), // the replaced one stays though beyond N
            (7, revs(&[12]), Vec::new()),              // nothing beyond N
            (10, revs(&[12]), Vec::new()),
            (1, revs(&[12, 11, 10, 9, 8, 7, 6]), Vec::new()), // everything protected
        ] {
            assert_eq!(choose(&active, keep, &protected), (gone, 0), "keep {keep}");
        }
        let many = revs(&(1..=60).rev().collect::<Vec<_>>());
        let (gone, left) = choose(&many, 5, &revs(&[60]));
        assert_eq!((gone.len(), left), (MAX_PER_JOB, 55 - MAX_PER_JOB));
        assert_eq!(gone[0], revs(&[1])[0], "oldest first");
    }
}
