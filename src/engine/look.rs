//! Look: what ECS says of every target's deployment now — one DescribeServiceDeployments call for up to 20
//! targets (every target that has a service deployment, so that the final look has them all), and
//! DescribeServices only for services ECS reports no service deployments for.

use std::collections::BTreeMap;

use super::decide::Look;
use super::describe;
use crate::aws::ecs;
use crate::config::Target;
use crate::error::Error;
use crate::text::short_arn;
use crate::token::Tracker;

/// One look: per target, what ECS answered (`None`: nothing to look at, it is not moving and has no deployment).
pub async fn look(ecs: &aws_sdk_ecs::Client, t: &Tracker, targets: &[Target]) -> Result<Vec<Option<Look>>, Error> {
    let arns: Vec<Option<String>> = (0..t.t.len()).map(|i| t.deployment_arn(i, targets)).collect();
    let wanted: Vec<String> = arns.iter().flatten().cloned().collect();
    let legacy: Vec<usize> =
        (0..t.t.len()).filter(|i| arns[*i].is_none() && t.t[*i].state().moving() && t.t[*i].1 != 0).collect();
    let legacy_targets: Vec<Target> = legacy.iter().map(|i| targets[*i].clone()).collect();
    let (found, services) = tokio::join!(describe::deployments(ecs, &wanted), async {
        if legacy_targets.is_empty() { Ok(Vec::new()) } else { describe::services(ecs, &legacy_targets).await }
    });
    let (mut found, services) = (found?, services?);
    let mut by_target: BTreeMap<usize, Look> = BTreeMap::new();
    for (i, service) in legacy.into_iter().zip(services) {
        by_target.insert(i, Look::Service(Box::new(service)));
    }
    Ok((0..t.t.len())
        .map(|i| match &arns[i] {
            Some(arn) => Some(match found.remove(arn) {
                Some(sd) => Look::Deployment(Box::new(sd)),
                None if t.t[i].state().moving() => Look::Missing,
                None => return None,
            }),
            None => by_target.remove(&i),
        })
        .collect())
}

/// A target's service, by the names its tracker slot follows (`cluster`, `service` as UserParameters wrote them).
pub async fn service(ecs: &aws_sdk_ecs::Client, target: &Target) -> Result<aws_sdk_ecs::types::Service, Error> {
    ecs::describe_service(ecs, short_arn(&target.cluster), &target.service).await
}
