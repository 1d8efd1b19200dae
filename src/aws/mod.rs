//! The AWS edges: the clients, and one module per AWS service holding every call the function makes to it,
//! each error wrapped with the action and the resource ([`error`] classifies them and imports nothing of ours).

pub mod clients;
pub mod ecr;
pub mod ecs;
pub mod error;
pub mod logs;
pub mod schedules;
