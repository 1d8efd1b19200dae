//! Judging what ECS reports (pure): one service deployment, every strategy ([`deployment`]); a deployment of a
//! service that ECS reports no service deployments for, and the stopped-task and event explanation ([`rollout`]);
//! the beforeDeploy task ([`task`]).

pub mod deployment;
pub mod rollout;
pub mod task;
