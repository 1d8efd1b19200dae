//! Look: what ECS says of every target now — one DescribeServiceDeployments call for up to 20 targets (every
//! target that has a service deployment, so that the final look has them all), and DescribeServices only for
//! services ECS reports no service deployments for, and for targets whose announced change is to be found.

use super::decide::Look;
use super::describe;
use crate::aws::clients::Reaches;
use crate::config::Target;
use crate::error::Error;
use crate::token::{State, Tracker};

/// One look: per target, what ECS answered of its deployment, and its service when it was described.
pub struct Looked {
    pub looks: Vec<Option<Look>>,
    pub services: Vec<Option<aws_sdk_ecs::types::Service>>,
}

pub async fn look(reaches: &Reaches, t: &Tracker, targets: &[Target]) -> Result<Looked, Error> {
    let n = t.t.len();
    // An announced UpdateService's slot holds the deployment the service followed before it: nothing to look at.
    let arns: Vec<Option<String>> = (0..n)
        .map(|i| match t.t[i].state() {
            State::Applying | State::Returning => None,
            _ => t.deployment_arn(i, targets),
        })
        .collect();
    let wanted: Vec<(usize, String)> = arns.iter().enumerate().filter_map(|(i, a)| a.clone().map(|a| (i, a))).collect();
    let needs_service = |i: usize| {
        let slot = &t.t[i];
        let legacy = arns[i].is_none() && slot.state().moving() && slot.1 != 0;
        legacy || matches!(slot.state(), State::Applying | State::Returning | State::Stopping)
    };
    let described: Vec<usize> = (0..n).filter(|i| needs_service(*i)).collect();
    let described_targets: Vec<Target> = described.iter().map(|i| targets[*i].clone()).collect();
    let (found, services) = tokio::join!(describe::deployments(reaches, &wanted), async {
        if described_targets.is_empty() {
            Ok(Vec::new())
        } else {
            describe::services(&reaches.subset(&described), &described_targets).await
        }
    });
    let (mut found, services) = (found?, services?);
    let mut by_target: Vec<Option<aws_sdk_ecs::types::Service>> = vec![None; n];
    for (i, service) in described.into_iter().zip(services) {
        by_target[i] = Some(service);
    }
    let looks = (0..n)
        .map(|i| match &arns[i] {
            Some(arn) => match found.remove(arn) {
                Some(sd) => Some(Look::Deployment(Box::new(sd))),
                None if t.t[i].state().moving() || t.t[i].state().pending() => Some(Look::Missing),
                None => None,
            },
            None if t.t[i].state().moving() => by_target[i].clone().map(|s| Look::Service(Box::new(s))),
            None => None,
        })
        .collect();
    Ok(Looked { looks, services: by_target })
}
