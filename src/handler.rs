//! One invocation: parse the job, run the engine on it, report exactly once, and answer Lambda.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use tracing::{Instrument, error, info, info_span, warn};

use crate::aws::clients::Clients;
use crate::checkpoint::Checkpoint;
use crate::clock::now_ms;
use crate::engine::announce::Protocol;
use crate::engine::{self, Ctx};
use crate::event::{self, EventError, Job};
use crate::guard::Guard;
use crate::report::{self, Delivery, Outcome};

/// How many answered job ids a process remembers to ignore duplicate deliveries.
const REMEMBERED_JOBS: usize = 512;
/// Time kept back from the Lambda deadline to deliver the report.
const MAX_REPORT_RESERVE: Duration = Duration::from_secs(5);
/// Time kept back from the Lambda deadline to answer Lambda itself after the report.
const ANSWER_RESERVE: Duration = Duration::from_millis(250);

/// The function: clients built once, the allow-lists, the protocol (report first, then change), and the jobs
/// this process has answered.
pub struct Handler {
    clients: Clients,
    guard: Guard,
    protocol: Protocol,
    answered: Mutex<VecDeque<String>>,
}

impl Handler {
    /// A handler without allow-lists, reporting before every change (tests); the process uses
    /// [`Handler::with_settings`] with the environment's.
    pub fn new(clients: Clients) -> Self {
        Self::with_settings(clients, Guard::default(), Protocol::default())
    }

    pub fn with_settings(clients: Clients, guard: Guard, protocol: Protocol) -> Self {
        Self { clients, guard, protocol, answered: Mutex::new(VecDeque::new()) }
    }

    /// Handles one Lambda invocation. Returns `Err` only when no job could be answered: the event is not a
    /// job, or the report could not be delivered (so that Lambda's retry gets another chance).
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
        let deadline_ms = deadline(event.context.deadline);
        let job = match event::parse(event.payload) {
            Ok(job) => job,
            Err(EventError::NotAJob(why)) => {
                error!(problem = %why, "the event is not a CodePipeline job; there is no job to report to");
                return Err(Diagnostic { error_type: "NotACodePipelineJob".into(), error_message: why });
            }
            Err(EventError::Malformed { job_id, problem }) => {
                let span = info_span!("job", job_id = %job_id);
                let error = EventError::Malformed { job_id: job_id.clone(), problem };
                return self.answer(&job_id, Outcome::Failed(error.into()), deadline_ms).instrument(span).await;
            }
        };
        let span = info_span!("job", job_id = %job.id);
        async {
            if self.was_answered(&job.id) {
                info!("this process already answered this job (duplicate delivery); nothing to do");
                return Ok(json!({"jobId": job.id, "outcome": "duplicate"}));
            }
            info!(continuation = job.continuation_token.is_some(), "job received");
            let checkpoint =
                Checkpoint::until(budget(deadline_ms).map(|b| now_ms() + b.as_millis() as u64).unwrap_or(0));
            let work = self.work(&job, &checkpoint);
            let outcome = match budget(deadline_ms) {
                Some(budget) => tokio::time::timeout(budget, work).await.unwrap_or_else(|_| {
                    warn!("the Lambda deadline is near; reporting what is known");
                    checkpoint.on_deadline()
                }),
                None => work.await,
            };
            self.answer(&job.id, outcome, deadline_ms).await
        }
        .instrument(span)
        .await
    }

    async fn work(&self, job: &Job, checkpoint: &Checkpoint) -> Outcome {
        let cx = Ctx::new(&self.clients, &self.guard, job, checkpoint, &self.protocol);
        engine::run(&cx).await.unwrap_or_else(Outcome::Failed)
    }

    /// Reports the outcome, retries included, before the Lambda deadline; remembers the job once CodePipeline
    /// has (or already had) an answer.
    async fn answer(&self, job_id: &str, outcome: Outcome, deadline_ms: u64) -> Result<Value, Diagnostic> {
        if let Outcome::Failed(e) = &outcome {
            warn!(failure_type = ?e.kind(), message = %e.message(), "the job failed");
        }
        let send = report::send(&self.clients.pipeline, job_id, &outcome);
        let sent = match remaining(deadline_ms) {
            Some(left) => match tokio::time::timeout(left.saturating_sub(ANSWER_RESERVE), send).await {
                Ok(sent) => sent,
                Err(_) => {
                    error!(
                        "CodePipeline did not take the report before the Lambda deadline; failing the invocation so that Lambda retries"
                    );
                    return Err(Diagnostic {
                        error_type: "ReportNotDelivered".into(),
                        error_message: "CodePipeline did not answer the report before the Lambda deadline".into(),
                    });
                }
            },
            None => send.await,
        };
        match sent {
            Ok(delivery) => {
                self.remember(job_id);
                let outcome = if delivery == Delivery::Delivered { outcome.label() } else { "not reported" };
                Ok(json!({"jobId": job_id, "outcome": outcome}))
            }
            Err(e) => {
                error!(error = %e.message(), "could not report the result to CodePipeline; failing the invocation so that Lambda retries");
                Err(Diagnostic { error_type: "ReportNotDelivered".into(), error_message: e.message() })
            }
        }
    }

    fn was_answered(&self, job_id: &str) -> bool {
        self.answered.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|id| id == job_id)
    }

    fn remember(&self, job_id: &str) {
        let mut answered = self.answered.lock().unwrap_or_else(|e| e.into_inner());
        if answered.len() == REMEMBERED_JOBS {
            answered.pop_front();
        }
        answered.push_back(job_id.to_owned());
    }
}

/// Lambda's `Lambda-Runtime-Deadline-Ms` is "the date that the function times out in Unix time milliseconds"
/// (Lambda developer guide, "Using the Lambda runtime API"). A value before 2020 is no such date: `cargo
/// lambda watch` sends the timeout itself (600000). Taken as a date it would lie in 1970 and every job would
/// be cut short, so it counts as no deadline known (0).
fn deadline(raw: u64) -> u64 {
    const EARLIEST_PLAUSIBLE_MS: u64 = 1_577_836_800_000; // 2020-01-01T00:00:00Z
    if raw != 0 && raw < EARLIEST_PLAUSIBLE_MS {
        warn!(deadline_ms = raw, "the Runtime API's deadline is not a date; working without a deadline");
        return 0;
    }
    raw
}

/// Time left until the invocation's deadline (ms since the epoch; 0: no deadline known).
fn remaining(deadline_ms: u64) -> Option<Duration> {
    (deadline_ms != 0).then(|| Duration::from_millis(deadline_ms.saturating_sub(now_ms())))
}

/// Time for the work before the report must go out.
fn budget(deadline_ms: u64) -> Option<Duration> {
    let remaining = remaining(deadline_ms)?;
    Some(remaining.saturating_sub(MAX_REPORT_RESERVE.min(remaining / 3)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_that_is_not_a_date_counts_as_none() {
        let in_a_minute = now_ms() + 60_000;
        for (raw, expected) in [(0, 0), (600_000, 0), (1_577_836_799_999, 0), (in_a_minute, in_a_minute)] {
            assert_eq!(deadline(raw), expected, "{raw}");
        }
        assert_eq!(remaining(deadline(600_000)), None);
        assert!(budget(in_a_minute).is_some_and(|b| b > Duration::from_secs(50)));
    }
}
