//! Reporting a job's outcome to CodePipeline: PutJobSuccessResult (final, or with a continuation token) or
//! PutJobFailureResult, within CodePipeline's field limits.

use aws_sdk_codepipeline::operation::put_job_failure_result::PutJobFailureResultError;
use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultError;
use aws_sdk_codepipeline::types::{ExecutionDetails, FailureDetails};
use aws_smithy_runtime_api::client::result::SdkError;
use tracing::{error, info, warn};

use crate::aws::error::AwsError;
use crate::error::Error;
use crate::text::truncate;

/// `executionDetails.summary` limit.
pub const MAX_SUMMARY: usize = 2048;
/// `externalExecutionId` limit.
const MAX_EXTERNAL_ID: usize = 1500;

/// How a job ends (or goes on).
#[derive(Debug)]
pub enum Outcome {
    /// The action is complete.
    Succeeded(Success),
    /// The rollout is still going: CodePipeline invokes the function again with the token.
    InProgress(Progress),
    Failed(Error),
    /// The report went out already, before a change (report first, then change): nothing more to send.
    Reported(&'static str),
    /// The report before a change could not be delivered (nothing changed): the invocation fails, so that
    /// Lambda delivers the job again.
    Undelivered(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    pub summary: String,
    pub external_id: Option<String>,
    /// Output variables, e.g. `TaskDefinitionArn`, for later actions as `#{Namespace.Key}`.
    pub variables: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub token: String,
    pub summary: String,
    pub percent: i32,
    pub external_id: Option<String>,
}

impl Outcome {
    /// What the report says (the summary or the failure message).
    pub fn text(&self) -> String {
        match self {
            Self::Succeeded(s) => s.summary.clone(),
            Self::InProgress(p) => p.summary.clone(),
            Self::Failed(e) => e.message(),
            Self::Reported(what) => (*what).to_owned(),
            Self::Undelivered(why) => why.clone(),
        }
    }

    /// A word for logs and the invocation's response.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Succeeded(_) => "succeeded",
            Self::InProgress(_) => "in progress",
            Self::Failed(_) => "failed",
            Self::Reported(what) => what,
            Self::Undelivered(_) => "not delivered",
        }
    }
}

/// Whether the report reached CodePipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// CodePipeline already has a final result for this job (a duplicate delivery): nothing more to do.
    AlreadyFinished,
    /// CodePipeline does not know the job: nobody is waiting for an answer.
    UnknownJob,
}

/// Sends the outcome. An `Err` means the report could not be delivered and a retry may succeed.
pub async fn send(client: &aws_sdk_codepipeline::Client, job_id: &str, outcome: &Outcome) -> Result<Delivery, Error> {
    let result = match outcome {
        Outcome::Reported(_) => return Ok(Delivery::Delivered),
        Outcome::Undelivered(why) => {
            return Err(Error::Aws {
                action: "PutJobSuccessResult",
                resource: format!("job {job_id}"),
                source: AwsError::unexpected(crate::aws::error::AwsErrorKind::Unavailable, why.clone()),
            });
        }
        Outcome::Succeeded(s) => {
            let mut request = client.put_job_success_result().job_id(job_id).execution_details(details(
                &s.summary,
                s.external_id.as_deref(),
                None,
            ));
            for (key, value) in &s.variables {
                request = request.output_variables(key, value);
            }
            request.send().await.map(drop).map_err(Rejection::Success)
        }
        Outcome::InProgress(p) => client
            .put_job_success_result()
            .job_id(job_id)
            .continuation_token(&p.token)
            .execution_details(details(&p.summary, p.external_id.as_deref(), Some(p.percent)))
            .send()
            .await
            .map(drop)
            .map_err(Rejection::Success),
        Outcome::Failed(error) => {
            let kind = error.kind();
            let failure = FailureDetails::builder()
                .r#type(kind.failure_type())
                .message(error.message())
                .build()
                .expect("type and message are set");
            client
                .put_job_failure_result()
                .job_id(job_id)
                .failure_details(failure)
                .send()
                .await
                .map(drop)
                .map_err(Rejection::Failure)
        }
    };
    match result {
        Ok(()) => {
            info!(outcome = outcome.label(), "reported the job's result to CodePipeline");
            Ok(Delivery::Delivered)
        }
        Err(rejection) if rejection.job_already_finished() => {
            warn!("CodePipeline already has a final result for this job (duplicate delivery); not reporting again");
            Ok(Delivery::AlreadyFinished)
        }
        Err(rejection) if rejection.job_not_found() => {
            // Anyone allowed to invoke the function can send a job id CodePipeline never issued: say loudly
            // what its report said.
            error!(
                said = %truncate(outcome.text(), 2000),
                "CodePipeline does not know this job id: the invocation did not come from a pipeline's job (or the \
                 job expired)"
            );
            Ok(Delivery::UnknownJob)
        }
        Err(rejection) => Err(rejection.into_error(job_id)),
    }
}

fn details(summary: &str, external_id: Option<&str>, percent: Option<i32>) -> ExecutionDetails {
    let summary = if summary.is_empty() { "done".to_owned() } else { truncate(summary.to_owned(), MAX_SUMMARY) };
    ExecutionDetails::builder()
        .summary(summary)
        .set_external_execution_id(external_id.map(|id| truncate(id.to_owned(), MAX_EXTERNAL_ID)))
        .set_percent_complete(percent.map(|p| p.clamp(0, 100)))
        .build()
}

enum Rejection {
    Success(SdkError<PutJobSuccessResultError, aws_smithy_runtime_api::http::Response>),
    Failure(SdkError<PutJobFailureResultError, aws_smithy_runtime_api::http::Response>),
}

impl Rejection {
    fn job_already_finished(&self) -> bool {
        match self {
            Self::Success(e) => e.as_service_error().is_some_and(|e| e.is_invalid_job_state_exception()),
            Self::Failure(e) => e.as_service_error().is_some_and(|e| e.is_invalid_job_state_exception()),
        }
    }

    fn job_not_found(&self) -> bool {
        match self {
            Self::Success(e) => e.as_service_error().is_some_and(|e| e.is_job_not_found_exception()),
            Self::Failure(e) => e.as_service_error().is_some_and(|e| e.is_job_not_found_exception()),
        }
    }

    fn into_error(self, job_id: &str) -> Error {
        let (action, source) = match self {
            Self::Success(e) => ("PutJobSuccessResult", AwsError::new(e)),
            Self::Failure(e) => ("PutJobFailureResult", AwsError::new(e)),
        };
        Error::Aws { action, resource: format!("job {job_id}"), source }
    }
}
