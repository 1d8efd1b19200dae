//! A CodePipeline "Invoke" action that deploys a build's images to an Amazon ECS service.
//!
//! Where things live:
//! - [`event`]: the `CodePipeline.job` event and its `UserParameters` (parsing and validation only)
//! - [`artifact`]: reading the image file out of the artifact zip with ranged S3 reads
//! - [`images`]: parsing `imagedefinitions.json` / `imageDetail.json`
//! - [`taskdef`]: the new task definition revision (pure); [`carry`]: members our SDK does not model, kept
//! - [`deploy`]: the first invocation's steps (read → describe → plan → register → update → hand over)
//! - [`control`]: driving a deployment from the pipeline: continue at a pause hook, roll back, promote
//! - [`follow`]: a continuation invocation's look at the service deployment
//! - [`guard`]: the allow-lists of images and artifact buckets
//! - [`deployment`]: judging one ECS service deployment, every strategy (pure)
//! - [`rollout`]: judging a v1 token's deployment from DescribeServices; explaining a failure (pure)
//! - [`ecs`]: every ECS call, each error wrapped with action and resource
//! - [`ecr`]: `verifyImages`, the ECR lookups of the images a release sets
//! - [`token`]: the continuation token (v2, and v1 still read)
//! - [`report`]: PutJobSuccessResult / PutJobFailureResult
//! - [`error`]: one error type and its CodePipeline failure type
//! - [`handler`]: one invocation, end to end; [`checkpoint`]: answering before the Lambda deadline
//! - [`clients`], [`logging`]: process set-up; [`text`]: text and ARN helpers; [`clock`]: the clock

pub mod artifact;
pub mod carry;
pub mod checkpoint;
pub mod cleanup;
pub mod clients;
pub mod clock;
pub mod control;
pub mod deploy;
pub mod deployment;
pub mod diff;
pub mod ecr;
pub mod ecs;
pub mod error;
pub mod event;
pub mod follow;
pub mod guard;
pub mod handler;
pub mod images;
pub mod logging;
pub mod overrides;
pub mod report;
pub mod rollout;
pub mod services;
pub mod taskdef;
pub mod taskdef_file;
pub mod text;
pub mod token;

pub use clients::Clients;
pub use handler::Handler;
