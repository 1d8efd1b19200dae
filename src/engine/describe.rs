//! Describe: what every target runs now, read concurrently and in as few calls as ECS allows (DescribeServices
//! takes 10 services of one cluster; DescribeServiceDeployments and DescribeServiceRevisions 20 ARNs).

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{DeploymentControllerType, Service, ServiceDeployment};
use futures_util::future::join_all;

use crate::aws::clients::{Reach, Reaches};
use crate::aws::ecs::{self, Described};
use crate::config::Target;
use crate::error::{AwsError, AwsErrorKind, Error};

/// Runs every future at once; the first error (in order) wins.
pub async fn all<T>(
    futures: impl IntoIterator<Item = impl Future<Output = Result<T, Error>>>,
) -> Result<Vec<T>, Error> {
    join_all(futures).await.into_iter().collect()
}

/// Every target's service, in the targets' order: in each target's account and region, one DescribeServices
/// per cluster (10 services a call), all at once. A missing service is a configuration error naming it.
pub async fn services(reaches: &Reaches, targets: &[Target]) -> Result<Vec<Service>, Error> {
    let groups = reaches.groups(targets.len());
    if groups.len() == 1 {
        return services_in(&groups[0].0.ecs, targets).await;
    }
    let answers = all(groups.iter().map(|(reach, which)| async move {
        let mine: Vec<Target> = which.iter().map(|i| targets[*i].clone()).collect();
        services_in(&reach.ecs, &mine).await
    }))
    .await?;
    let mut out: Vec<Option<Service>> = vec![None; targets.len()];
    for ((_, which), found) in groups.iter().zip(answers) {
        for (i, service) in which.iter().zip(found) {
            out[*i] = Some(service);
        }
    }
    out.into_iter().zip(targets).map(|(s, t)| s.ok_or_else(|| missing(t))).collect()
}

/// Resources of targets (`(target, ARN)`), grouped by the clients of the targets' accounts and regions (in
/// order of first appearance), each ARN once per group.
pub fn by_place<'r>(reaches: &'r Reaches, items: &[(usize, String)]) -> Vec<(&'r Reach, Vec<String>)> {
    let mut out: Vec<(usize, &Reach, Vec<String>)> = Vec::new();
    for (i, arn) in items {
        let place = reaches.place(*i);
        match out.iter_mut().find(|(p, ..)| *p == place) {
            Some((_, _, list)) if list.contains(arn) => {}
            Some((_, _, list)) => list.push(arn.clone()),
            None => out.push((place, reaches.target(*i), vec![arn.clone()])),
        }
    }
    out.into_iter().map(|(_, r, list)| (r, list)).collect()
}

/// The services of targets that share one account and region.
async fn services_in(ecs: &aws_sdk_ecs::Client, targets: &[Target]) -> Result<Vec<Service>, Error> {
    let mut clusters: Vec<&str> = targets.iter().map(|t| t.cluster.as_str()).collect();
    clusters.dedup();
    let mut seen = Vec::new();
    clusters.retain(|c| {
        let new = !seen.contains(c);
        seen.push(*c);
        new
    });
    let answers = all(clusters.iter().map(|cluster| {
        let names: Vec<String> = targets.iter().filter(|t| t.cluster == *cluster).map(|t| t.service.clone()).collect();
        async move { Ok((*cluster, ecs::describe_services(ecs, cluster, &names).await?)) }
    }))
    .await?;
    let mut by_cluster: BTreeMap<&str, std::vec::IntoIter<Result<Service, Error>>> =
        answers.into_iter().map(|(c, a)| (c, a.into_iter())).collect();
    targets
        .iter()
        .map(|t| by_cluster.get_mut(t.cluster.as_str()).and_then(Iterator::next).unwrap_or_else(|| Err(missing(t))))
        .collect()
}

fn missing(t: &Target) -> Error {
    Error::ServiceMissing { cluster: t.cluster.clone(), service: t.service.clone(), reason: "not described".into() }
}

/// A service this action can deploy to: ACTIVE, with the ECS deployment controller and a task definition.
pub fn check(service: &Service) -> Result<(), Error> {
    let name = service.service_name().unwrap_or("?").to_owned();
    match service.status() {
        Some("ACTIVE") | None => {}
        Some(status) => return Err(Error::ServiceNotActive { service: name, status: status.to_owned() }),
    }
    match service.deployment_controller().map(|c| c.r#type()) {
        None | Some(DeploymentControllerType::Ecs) => {}
        Some(other) => return Err(Error::Controller { service: name, controller: other.as_str().to_owned() }),
    }
    if service.task_definition().is_none_or(str::is_empty) {
        return Err(Error::Aws {
            action: "DescribeServices",
            resource: format!("service {name}"),
            source: AwsError::unexpected(AwsErrorKind::Other, "the service has no task definition"),
        });
    }
    Ok(())
}

/// The distinct task definitions named, described concurrently (with tags and raw JSON), by ARN.
/// Each in the account and region of the target it belongs to (`(target, ARN)`).
pub async fn task_definitions(
    reaches: &Reaches,
    items: impl IntoIterator<Item = (usize, String)>,
) -> Result<BTreeMap<String, Described>, Error> {
    let items: Vec<(usize, String)> = items.into_iter().collect();
    let groups = by_place(reaches, &items);
    let wanted: Vec<(&Reach, &String)> =
        groups.iter().flat_map(|(r, arns)| arns.iter().map(move |a| (*r, a))).collect();
    let described = all(wanted.iter().map(|(reach, arn)| ecs::describe_task_definition(&reach.ecs, arn))).await?;
    Ok(wanted.into_iter().map(|(_, a)| a.clone()).zip(described).collect())
}

/// Service deployments by ARN (one DescribeServiceDeployments per 20); those ECS no longer knows are left out.
/// Each asked of the account and region of the target it belongs to (`(target, ARN)`).
pub async fn deployments(
    reaches: &Reaches,
    items: &[(usize, String)],
) -> Result<BTreeMap<String, ServiceDeployment>, Error> {
    if items.is_empty() {
        return Ok(BTreeMap::new());
    }
    let groups = by_place(reaches, items);
    let found = all(groups.iter().map(|(reach, arns)| ecs::describe_service_deployments(&reach.ecs, arns))).await?;
    Ok(found.into_iter().flatten().filter_map(|d| Some((d.service_deployment_arn()?.to_owned(), d))).collect())
}

/// The task definition of each service revision named (one DescribeServiceRevisions per 20), by revision ARN.
pub async fn revision_task_definitions(
    reaches: &Reaches,
    items: &[(usize, String)],
) -> Result<BTreeMap<String, String>, Error> {
    if items.is_empty() {
        return Ok(BTreeMap::new());
    }
    let revisions = service_revisions(reaches, items).await?;
    Ok(revisions
        .iter()
        .filter_map(|r| Some((r.service_revision_arn()?.to_owned(), r.task_definition()?.to_owned())))
        .collect())
}

/// Service revisions by ARN, each asked of its own account and region (one DescribeServiceRevisions per 20).
pub async fn service_revisions(
    reaches: &Reaches,
    items: &[(usize, String)],
) -> Result<Vec<aws_sdk_ecs::types::ServiceRevision>, Error> {
    let groups = by_place(reaches, items);
    Ok(all(groups.iter().map(|(reach, arns)| ecs::describe_service_revisions(&reach.ecs, arns)))
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// A service deployment's target revision and its main source revision (the one with the most tasks asked).
pub fn revision_arns(sd: &ServiceDeployment) -> (Option<String>, Option<String>) {
    let target = sd.target_service_revision().and_then(|r| r.arn()).map(str::to_owned);
    let source = sd
        .source_service_revisions()
        .iter()
        .max_by_key(|r| r.requested_task_count())
        .and_then(|r| r.arn())
        .map(str::to_owned);
    (target, source)
}
