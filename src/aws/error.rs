//! How an AWS call failed, classified for what to do about it, with the code, message and request id kept for
//! people. Imports nothing of ours: every layer above may use it.

use std::error::Error as StdError;

use aws_sdk_codepipeline::types::FailureType;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

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
    pub fn failure_kind(self) -> FailureKind {
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
    pub text: String,
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
