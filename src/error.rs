//! One error type for everything that can end a job, and how each maps to a CodePipeline failure type and
//! a message a person can act on.

use std::error::Error as StdError;
use std::fmt;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::artifact::ArtifactError;
pub use crate::aws::error::{AwsError, AwsErrorKind, FailureKind, HasStatus};
use crate::config::ParamsError;
use crate::event::{ArtifactChoiceError, EventError, InputArtifact};
use crate::images::ImageFileError;
use crate::text::truncate;
use crate::token::TokenError;

pub use crate::text::MAX_FAILURE_MESSAGE;

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Event(EventError),
    #[error(transparent)]
    Params(#[from] ParamsError),
    #[error(transparent)]
    ArtifactChoice(#[from] ArtifactChoiceError),
    #[error("input artifact {artifact} {source}")]
    Artifact { artifact: Box<InputArtifact>, file: String, source: Box<ArtifactError> },
    #[error("{file} in input artifact \"{artifact}\" {source}")]
    ImageFile { artifact: String, file: String, source: ImageFileError },
    #[error("{action} for {resource} failed: {source}")]
    Aws { action: &'static str, resource: String, source: AwsError },
    #[error("service \"{service}\" was not found in cluster \"{cluster}\" ({reason})")]
    ServiceMissing { cluster: String, service: String, reason: String },
    #[error("service {service} is {status}; only an ACTIVE service can be deployed to")]
    ServiceNotActive { service: String, status: String },
    #[error(
        "service {service} uses the {controller} deployment controller; this action deploys services that use the \
         ECS (rolling update) controller (use CodeDeploy's blue/green action for CODE_DEPLOY services)"
    )]
    Controller { service: String, controller: String },
    #[error("the service's task definition {arn} is {status}; it was retired, so no release is built from it")]
    TaskDefinitionInactive { arn: String, status: String },
    #[error(transparent)]
    UnknownContainers(#[from] crate::taskdef::UnknownContainers),
    #[error(
        "UpdateService for {service} named no service deployment and no PRIMARY deployment, so the rollout cannot be \
         followed"
    )]
    NoPrimaryDeployment { service: String },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("{0}")]
    Rollout(String),
    /// An image or artifact outside the allow-lists.
    #[error(transparent)]
    Refused(#[from] crate::guard::Refusal),
    /// `verifyImages`: an image that is not in its ECR repository (or whose repository does not exist).
    #[error("image {image} was not found in ECR: {problem}")]
    ImageNotInEcr { image: String, problem: String },
    /// `taskDefinitionFile` that cannot be registered as it is.
    #[error("the task definition file {file} {problem}")]
    TaskDefinitionFile { file: String, problem: String },
    /// A release that cannot be done as asked (images, containers, the token's size).
    #[error("{0}")]
    Plan(String),
    /// How an action ended when it failed after something had moved (the atomic rollback's one report).
    #[error("{text}")]
    Ended { kind: FailureKind, text: String },
    /// A continue, rollback or promotion that cannot be done as asked.
    #[error("{what}")]
    Control { what: String, fix: &'static str },
    #[error("the Lambda function ran out of time while {step}; raise its timeout or retry the stage")]
    OutOfTime { step: String },
    /// STS AssumeRole for a target's account failed (before anything changed).
    #[error(transparent)]
    AssumeRole(Box<AssumeRoleError>),
}

/// STS AssumeRole for a target's account failed.
#[derive(Debug, thiserror::Error)]
#[error("STS AssumeRole of {role} (to reach a target in account {account}) failed: {source}")]
pub struct AssumeRoleError {
    pub role: String,
    pub account: String,
    /// Whether UserParameters gave an external id.
    pub external_id: bool,
    /// The function's role, as STS named the caller.
    pub caller: String,
    #[source]
    pub source: AwsError,
}

impl Error {
    pub fn kind(&self) -> FailureKind {
        use FailureKind::*;
        match self {
            Self::Event(_) | Self::Params(_) | Self::ArtifactChoice(_) | Self::Token(_) => Configuration,
            Self::ServiceMissing { .. } | Self::ServiceNotActive { .. } | Self::Controller { .. } => Configuration,
            Self::TaskDefinitionInactive { .. }
            | Self::UnknownContainers(_)
            | Self::Control { .. }
            | Self::Plan(_)
            | Self::TaskDefinitionFile { .. }
            | Self::ImageNotInEcr { .. } => Configuration,
            Self::Refused(_) => Configuration,
            Self::Artifact { source, .. } if source.is_missing_file() => Configuration,
            Self::Artifact { source, .. } => match source.as_ref() {
                ArtifactError::Fetch(aws) => match aws.kind {
                    AwsErrorKind::NotFound => RevisionUnavailable,
                    kind => kind.failure_kind(),
                },
                _ => JobFailed,
            },
            Self::ImageFile { source, .. } => match source {
                ImageFileError::NeedsContainerName | ImageFileError::UnexpectedContainerName => Configuration,
                _ => JobFailed,
            },
            Self::Aws { source, .. } => source.kind.failure_kind(),
            Self::NoPrimaryDeployment { .. } | Self::Rollout(_) => JobFailed,
            Self::Ended { kind, .. } => *kind,
            Self::OutOfTime { .. } => SystemUnavailable,
            Self::AssumeRole(e) => match e.source.kind {
                AwsErrorKind::NotFound | AwsErrorKind::Other => Configuration,
                kind => kind.failure_kind(),
            },
        }
    }

    /// Throttling, 5xx or a timeout after the SDK's retries: worth looking again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Aws { source, .. } if source.kind == AwsErrorKind::Unavailable)
    }

    /// What the person reading the pipeline should do, when we know.
    pub fn fix(&self) -> Option<String> {
        match self {
            Self::Artifact { artifact, source, .. } => match source.as_ref() {
                ArtifactError::Fetch(aws) => match aws.kind {
                    AwsErrorKind::AccessDenied => Some(format!(
                        "the artifact is read with the pipeline's artifact credentials, not the function's role: give the \
                     pipeline's service role s3:GetObject on arn:aws:s3:::{}/* and, when the artifact store uses a \
                     customer-managed KMS key, kms:Decrypt on that key",
                        artifact.bucket
                    )),
                    AwsErrorKind::NotFound => Some(
                        "the artifact object is gone (expired or deleted); re-run the pipeline to rebuild it".into(),
                    ),
                    AwsErrorKind::Unavailable => Some(RETRY_STAGE.into()),
                    AwsErrorKind::Other => None,
                },
                _ => None,
            },
            Self::Aws { action, source, .. } => match source.kind {
                AwsErrorKind::AccessDenied if source.text.contains("iam:PassRole") => Some(
                    "allow the function's role iam:PassRole on the task definition's task and execution roles, with \
                     the condition iam:PassedToService = ecs-tasks.amazonaws.com"
                        .into(),
                ),
                AwsErrorKind::AccessDenied if *action == "DescribeImages" => Some(
                    "allow the function's role ecr:DescribeImages on this repository (template.yaml grants it on the \
                     account's repositories in the statement with Sid VerifyImages; its parameter \
                     ImageRepositoryArns names others, and a repository in another account must also allow the role \
                     in its repository policy), or set \"verifyImages\": false to deploy without looking the images \
                     up"
                    .into(),
                ),
                AwsErrorKind::AccessDenied if action.starts_with("PutJob") => {
                    Some(format!("allow the function's role codepipeline:{action} on *"))
                }
                AwsErrorKind::AccessDenied => Some(format!(
                    "allow the function's role ecs:{action} on this resource{}",
                    template_statement(action)
                        .map(|sid| format!(" (template.yaml grants it in the statement with Sid {sid})"))
                        .unwrap_or_default()
                )),
                AwsErrorKind::Unavailable => Some(RETRY_STAGE.into()),
                _ if source.code.as_deref() == Some("ClusterNotFoundException") => Some(
                    "check \"cluster\" in UserParameters: the cluster must exist in the function's account and region"
                        .into(),
                ),
                _ => None,
            },
            Self::ServiceMissing { .. } => Some(
                "check \"cluster\" and \"service\" in UserParameters: the service must exist in that cluster, in the \
                 function's account and region"
                    .into(),
            ),
            Self::TaskDefinitionInactive { .. } => Some(
                "point the service at an ACTIVE revision (aws ecs update-service --task-definition …) or register the \
                 revision again, then retry the stage"
                    .into(),
            ),
            Self::Control { fix, .. } => Some((*fix).to_owned()),
            Self::Refused(crate::guard::Refusal::Image { .. }) => Some(
                "build and push the image to an allowed registry, or, if this deploy is legitimate, add its registry \
                 (and repository prefix) to ALLOWED_IMAGES (template parameter AllowedImages)"
                    .into(),
            ),
            Self::Refused(crate::guard::Refusal::Family { .. }) => Some(
                "deploy a revision of an allowed family, or, if this deploy is legitimate, add the family to \
                 ALLOWED_FAMILIES (template parameter AllowedFamilies; an entry ending in * allows a prefix)"
                    .into(),
            ),
            Self::Refused(crate::guard::Refusal::Role { .. }) => Some(
                "name a role the function may assume, or, if this deploy is legitimate, add the role to \
                 ALLOWED_ROLE_ARNS (template parameter TargetRoleArns, which also lets the function's role assume it)"
                    .into(),
            ),
            Self::AssumeRole(e) => Some(match e.source.kind {
                AwsErrorKind::AccessDenied => format!(
                    "the role's trust policy must let the function's role assume it, and the function's role needs \
                     sts:AssumeRole on it (template parameter TargetRoleArns). Deploy target-account-role.yaml in \
                     the role's account with FunctionRoleArn={}, or add to the trust policy of {}: \
                     {{\"Effect\": \"Allow\", \"Principal\": {{\"AWS\": \"{}\"}}, \"Action\": \"sts:AssumeRole\"{}}}",
                    e.caller,
                    e.role,
                    e.caller,
                    if e.external_id {
                        ", \"Condition\": {\"StringEquals\": {\"sts:ExternalId\": \"<the externalId of UserParameters>\"}}"
                    } else {
                        ""
                    }
                ),
                AwsErrorKind::Unavailable => RETRY_STAGE.into(),
                _ => "check \"roleArn\" and \"externalId\" in UserParameters".into(),
            }),
            Self::Refused(crate::guard::Refusal::Bucket { .. }) => Some(
                "invoke this function only from the pipeline whose artifact bucket is allowed, or add the bucket to \
                 ALLOWED_ARTIFACT_BUCKETS (template parameter AllowedArtifactBuckets)"
                    .into(),
            ),
            Self::ImageNotInEcr { .. } => Some(
                "push the image (did the build's docker push run, to this repository and with this tag?) or correct \
                 the image file; \"verifyImages\": false deploys without this check (needed for an image served \
                 through an ECR pull-through cache rule, which is in ECR only after its first pull)"
                    .into(),
            ),
            Self::UnknownContainers(_) => {
                Some("make the build's image file use the task definition's container names".into())
            }
            _ => None,
        }
    }

    /// The failure message for PutJobFailureResult: what failed, where, why, and the fix (≤ 5000 chars).
    pub fn message(&self) -> String {
        let mut text = self.to_string();
        if let Some(fix) = self.fix() {
            text.push_str(". Fix: ");
            text.push_str(&fix);
        }
        truncate(text, MAX_FAILURE_MESSAGE)
    }
}

/// The template's IAM statement that grants an ECS action (README: the function's role).
fn template_statement(action: &str) -> Option<&'static str> {
    match action {
        "DescribeServices" | "UpdateService" | "ListServiceDeployments" => Some("ReadAndUpdateTheService"),
        "DescribeServiceDeployments" | "StopServiceDeployment" | "ContinueServiceDeployment" => {
            Some("ServiceDeployments")
        }
        "DescribeServiceRevisions" => Some("ServiceRevisions"),
        "DescribeTaskDefinition" | "RegisterTaskDefinition" | "ListTaskDefinitions" => Some("TaskDefinitions"),
        "DeregisterTaskDefinition" => Some("DeregisterRevisions"),
        _ => None,
    }
}

const RETRY_STAGE: &str = "AWS kept answering with throttling, server errors or timeouts after the SDK's retries; \
                           retry the stage";

impl From<EventError> for Error {
    fn from(e: EventError) -> Self {
        Self::Event(e)
    }
}

/// Shorthand for wrapping SDK errors with the step and resource.
pub fn aws<E>(action: &'static str, resource: impl fmt::Display) -> impl FnOnce(E) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static + HasStatus,
{
    move |err| Error::Aws { action, resource: resource.to_string(), source: AwsError::new(err) }
}
