#![no_main]
//! Lambda event payloads: a job, a malformed job with its id, or not a job; error text never quotes the
//! artifact credentials.
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

use ecs_deployer::event::{EventError, parse};

const CREDENTIALS: &str = "/CodePipeline.job/data/artifactCredentials";

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    let mut secrets = Vec::new();
    let mut blanked = value.clone();
    if let Some(credentials) = blanked.pointer_mut(CREDENTIALS) {
        blank(credentials, &mut secrets);
    }
    match parse(value) {
        Ok(job) => assert!(ecs_deployer::event::is_job_id(&job.id)),
        Err(EventError::Malformed { job_id, problem }) => {
            assert!(ecs_deployer::event::is_job_id(&job_id));
            // A credential leaks when the message shows it, and would not show it had the credentials been
            // other strings (the same text can stand in the message for other reasons: a field name, …).
            let without = match parse(blanked) {
                Err(EventError::Malformed { problem, .. }) => problem,
                _ => String::new(),
            };
            // Text inside the redaction marker itself is not a leak either.
            for secret in secrets.iter().filter(|s| s.len() >= 8 && !"** redacted **".contains(s.as_str())) {
                assert!(!problem.contains(secret.as_str()) || without.contains(secret.as_str()), "{secret:?} leaked");
            }
        }
        Err(EventError::NotAJob(_)) => {}
    }
});

/// Replaces every string under the credentials with a placeholder of the same length, collecting them.
fn blank(value: &mut Value, secrets: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            secrets.push(std::mem::replace(s, "#".repeat(s.len())));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| blank(v, secrets)),
        Value::Object(map) => map.values_mut().for_each(|v| blank(v, secrets)),
        _ => {}
    }
}
