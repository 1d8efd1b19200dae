//! One error type for everything that can end a job, and how each maps to a CodePipeline failure type and
//! a message a person can act on.

use std::error::Error as StdError;
use std::fmt;

use aws_sdk_codepipeline::types::FailureType;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::artifact::ArtifactError;
use crate::event::{ArtifactChoiceError, EventError, InputArtifact, ParamsError};
use crate::images::ImageFileError;
use crate::text::truncate;
use crate::token::TokenError;

/// CodePipeline's `failureDetails.message` limit.
pub const MAX_FAILURE_MESSAGE: usize = 5000;

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
    #[error("task definition {task_definition} has no container named {missing}; its containers are: {available}")]
    UnknownContainers { task_definition: String, missing: String, available: String },
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
    /// A release to several services that cannot be done as asked (images, containers, the token's size).
    #[error("{0}")]
    Services(String),
    /// A continue, rollback or promotion that cannot be done as asked.
    #[error("{what}")]
    Control { what: String, fix: &'static str },
    #[error("the Lambda function ran out of time while {step}; raise its timeout or retry the stage")]
    OutOfTime { step: String },
}

/// The failure types of PutJobFailureResult, chosen per error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Configuration,
    Permission,
    RevisionUnavailable,
    SystemUnavailable,
    JobFailed,
}

impl FailureKind {
    pub fn failure_type(self) -> FailureType {
        match self {
            Self::Configuration => FailureType::ConfigurationError,
            Self::Permission => FailureType::PermissionError,
            Self::RevisionUnavailable => FailureType::RevisionUnavailable,
            Self::SystemUnavailable => FailureType::SystemUnavailable,
            Self::JobFailed => FailureType::JobFailed,
        }
    }
}

impl Error {
    pub fn kind(&self) -> FailureKind {
        use FailureKind::*;
        match self {
            Self::Event(_) | Self::Params(_) | Self::ArtifactChoice(_) | Self::Token(_) => Configuration,
            Self::ServiceMissing { .. } | Self::ServiceNotActive { .. } | Self::Controller { .. } => Configuration,
            Self::TaskDefinitionInactive { .. }
            | Self::UnknownContainers { .. }
            | Self::Control { .. }
            | Self::Services(_)
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
            Self::OutOfTime { .. } => SystemUnavailable,
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
            Self::UnknownContainers { .. } => {
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

/// How an AWS call failed, as far as what to do about it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    AccessDenied,
    /// Throttling, 5xx, timeouts, connection failures: the SDK retried and gave up.
    Unavailable,
    NotFound,
    Other,
}

impl AwsErrorKind {
    fn failure_kind(self) -> FailureKind {
        match self {
            Self::AccessDenied => FailureKind::Permission,
            Self::Unavailable => FailureKind::SystemUnavailable,
            Self::NotFound => FailureKind::Configuration,
            Self::Other => FailureKind::JobFailed,
        }
    }
}

/// An AWS SDK error, classified, with the code, message and request id kept for people.
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub struct AwsError {
    pub kind: AwsErrorKind,
    pub code: Option<String>,
    text: String,
    #[source]
    source: Box<dyn StdError + Send + Sync>,
}

impl AwsError {
    /// Classifies any SDK error (`SdkError<E, HttpResponse>` of any service).
    pub fn new<T>(err: T) -> Self
    where
        T: ProvideErrorMetadata + StdError + Send + Sync + 'static + HasStatus,
    {
        let code = err.code().map(str::to_owned);
        let status = err.http_status();
        let kind = classify(code.as_deref(), err.message(), status, err.is_transport_failure());
        let text = match &code {
            Some(code) => {
                let mut text = format!("{code}: {}", err.message().unwrap_or("(no message)"));
                if let Some(status) = status {
                    text.push_str(&format!(" (HTTP {status}"));
                    if let Some(id) = err.meta().extra("aws_request_id") {
                        text.push_str(&format!(", request id {id}"));
                    }
                    text.push(')');
                }
                text
            }
            None => match (err.service_error_text(), status) {
                (Some(text), Some(status)) => format!("{text} (HTTP {status})"),
                (_, Some(status)) => format!("HTTP {status}: {}", DisplayErrorContext(&err)),
                _ => DisplayErrorContext(&err).to_string(),
            },
        };
        Self { kind, code, text, source: Box::new(err) }
    }

    /// An error for a response we could not use although the call succeeded.
    pub fn unexpected(kind: AwsErrorKind, text: impl Into<String>) -> Self {
        let text = text.into();
        Self { kind, code: None, source: text.clone().into(), text }
    }
}

/// What classification needs from an SDK error beyond its metadata.
pub trait HasStatus {
    fn http_status(&self) -> Option<u16>;
    /// Timeouts, connection failures and unreadable responses.
    fn is_transport_failure(&self) -> bool;
    /// The modeled service error's own text, when it is one.
    fn service_error_text(&self) -> Option<String>;
}

impl<E: StdError> HasStatus
    for aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>
{
    fn http_status(&self) -> Option<u16> {
        self.raw_response().map(|r| r.status().as_u16())
    }

    fn is_transport_failure(&self) -> bool {
        use aws_smithy_runtime_api::client::result::SdkError::*;
        matches!(self, TimeoutError(_) | DispatchFailure(_) | ResponseError(_))
    }

    fn service_error_text(&self) -> Option<String> {
        self.as_service_error().map(|e| e.to_string())
    }
}

fn classify(code: Option<&str>, message: Option<&str>, status: Option<u16>, transport: bool) -> AwsErrorKind {
    const DENIED: [&str; 11] = [
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidToken",
        "KMS.AccessDeniedException",
    ];
    const UNAVAILABLE: [&str; 12] = [
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServerException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    ];
    const NOT_FOUND: [&str; 6] = [
        "NoSuchKey",
        "NoSuchBucket",
        "NotFound",
        "ClusterNotFoundException",
        "ServiceNotFoundException",
        "ServiceNotActiveException",
    ];
    let not_authorized = message.is_some_and(|m| m.contains("not authorized to perform"));
    match code {
        Some(c) if DENIED.contains(&c) => AwsErrorKind::AccessDenied,
        Some("ClientException") if not_authorized => AwsErrorKind::AccessDenied,
        Some(c) if UNAVAILABLE.contains(&c) => AwsErrorKind::Unavailable,
        Some(c) if NOT_FOUND.contains(&c) => AwsErrorKind::NotFound,
        _ if transport => AwsErrorKind::Unavailable,
        _ => match status {
            Some(403) => AwsErrorKind::AccessDenied,
            Some(404) => AwsErrorKind::NotFound,
            Some(429 | 500..=599) => AwsErrorKind::Unavailable,
            _ => AwsErrorKind::Other,
        },
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        use AwsErrorKind::*;
        for (code, message, status, transport, expected) in [
            (Some("AccessDeniedException"), None, Some(400), false, AccessDenied),
            (Some("AccessDenied"), None, Some(403), false, AccessDenied),
            (
                Some("ClientException"),
                Some("User x is not authorized to perform: iam:PassRole"),
                Some(400),
                false,
                AccessDenied,
            ),
            (Some("ClientException"), Some("Container.image should not be null"), Some(400), false, Other),
            (Some("ThrottlingException"), Some("Rate exceeded"), Some(400), false, Unavailable),
            (Some("SlowDown"), None, Some(503), false, Unavailable),
            (Some("ServerException"), None, Some(500), false, Unavailable),
            (None, None, Some(502), false, Unavailable),
            (None, None, None, true, Unavailable),
            (Some("NoSuchKey"), None, Some(404), false, NotFound),
            (None, None, Some(404), false, NotFound),
            (None, None, Some(403), false, AccessDenied),
            (Some("ClusterNotFoundException"), None, Some(400), false, NotFound),
            (Some("InvalidParameterException"), None, Some(400), false, Other),
        ] {
            assert_eq!(classify(code, message, status, transport), expected, "{code:?} {message:?} {status:?}");
        }
    }
}
