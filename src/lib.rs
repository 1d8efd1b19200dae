//! A CodePipeline "Invoke" action that deploys a build's images to Amazon ECS services: one engine for one
//! service or ten.
//!
//! The module map, bottom up (a module uses only those in the layers below it):
//! 1. [`text`], [`clock`], [`aws::error`]: text and ARN helpers; the clock; AWS errors classified.
//! 2. The pure domain: [`images`] (the image files), [`config::overrides`], [`taskdef`] (a new revision from its
//!    base), [`taskdef_file`], [`carry`] (members our SDK does not model), [`diff`], [`guard`] (the allow-lists),
//!    [`judge`] (a deployment as ECS reports it).
//! 3. [`config`] (UserParameters and the deploy file → the action and its targets; [`config::keys`]: the one
//!    table of key rules), [`token`] (what an action started, v4; v1–v3 still read), [`event`] (the job),
//!    [`error`] (the job's error type).
//! 4. The AWS edges: [`aws`] (clients, ECS, ECR), [`artifact`] (the ranged zip reader), [`release`] (the
//!    artifact, read once), [`report`] (PutJob*).
//! 5. The engine's steps: [`engine`] (describe → plan → apply → look → decide → finish, and the summaries).
//! 6. [`handler`]: one invocation, end to end; [`checkpoint`]: answering before the Lambda deadline;
//!    [`logging`]: process set-up.

pub mod artifact;
pub mod aws;
pub mod carry;
pub mod checkpoint;
pub mod clock;
pub mod config;
pub mod diff;
pub mod engine;
pub mod error;
pub mod event;
pub mod guard;
pub mod handler;
pub mod images;
pub mod judge;
pub mod logging;
pub mod release;
pub mod report;
pub mod taskdef;
pub mod taskdef_file;
pub mod text;
pub mod token;

pub use aws::clients::Clients;
pub use handler::Handler;
