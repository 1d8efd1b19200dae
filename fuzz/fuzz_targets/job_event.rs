#![no_main]
//! Lambda event payloads: a job, a malformed job with its id, or not a job; error text never quotes the
//! artifact credentials.
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

use ecs_deployer::event::{EventError, parse};

const CREDENTIALS: &str = "/CodePipeline.job/data/artifactCredentials";

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    let mut blanked = value.clone();
    if let Some(credentials) = blanked.pointer_mut(CREDENTIALS) {
        blank(credentials);
    }
    match parse(value) {
        Ok(job) => assert!(ecs_deployer::event::is_job_id(&job.id)),
        Err(EventError::Malformed { job_id, problem }) => {
            assert!(ecs_deployer::event::is_job_id(&job_id));
            // The message depends on the event's shape only, never on the credentials' values.
            match parse(blanked) {
                Err(EventError::Malformed { problem: without, .. }) => assert_eq!(problem, without),
                other => panic!("blanking the credentials changed the outcome: {:?}", other.map(|j| j.id)),
            }
        }
        Err(EventError::NotAJob(_)) => {}
    }
});

/// Replaces every non-empty string under the credentials with another one.
fn blank(value: &mut Value) {
    match value {
        Value::String(s) if !s.is_empty() => *s = "#".repeat(s.len()),
        Value::Array(items) => items.iter_mut().for_each(blank),
        Value::Object(map) => map.values_mut().for_each(blank),
        _ => {}
    }
}
