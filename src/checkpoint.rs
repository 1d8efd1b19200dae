//! What an invocation has done so far, so that it can still answer when the Lambda deadline comes first.

use std::sync::Mutex;

use crate::error::Error;
use crate::report::Outcome;

#[derive(Debug, Default)]
pub struct Checkpoint {
    step: Mutex<String>,
    fallback: Mutex<Option<Outcome>>,
    /// When the work must be done (milliseconds since the epoch; 0: no deadline known).
    deadline_ms: u64,
}

impl Checkpoint {
    /// A checkpoint whose work must be done by `deadline_ms` (0: no deadline known).
    pub fn until(deadline_ms: u64) -> Self {
        Self { deadline_ms, ..Self::default() }
    }

    /// Whether `needed` fits before the work's deadline.
    pub fn has_time(&self, needed: std::time::Duration) -> bool {
        self.deadline_ms == 0 || crate::clock::now_ms() + needed.as_millis() as u64 <= self.deadline_ms
    }

    /// Seconds left before the work's deadline (an hour when none is known).
    pub fn seconds_left(&self) -> u64 {
        match self.deadline_ms {
            0 => 3600,
            d => d.saturating_sub(crate::clock::now_ms()) / 1000,
        }
    }

    /// Records the step under way (named in the failure when time runs out).
    pub fn step(&self, step: impl Into<String>) {
        *self.step.lock().unwrap_or_else(|e| e.into_inner()) = step.into();
    }

    /// What to report if time runs out from here on.
    pub fn fallback(&self, outcome: Outcome) {
        *self.fallback.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
    }

    /// The outcome to report when the deadline comes first.
    pub fn on_deadline(&self) -> Outcome {
        let fallback = self.fallback.lock().unwrap_or_else(|e| e.into_inner()).take();
        fallback.unwrap_or_else(|| {
            let step = self.step.lock().unwrap_or_else(|e| e.into_inner()).clone();
            Outcome::Failed(Error::OutOfTime { step })
        })
    }
}
