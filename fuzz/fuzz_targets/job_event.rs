#![no_main]
//! Lambda event payloads: a job, a malformed job with its id, or not a job; error text never quotes the
//! artifact credentials.
use libfuzzer_sys::fuzz_target;

use ecs_deployer::event::{EventError, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let secrets: Vec<String> = value
        .pointer("/CodePipeline.job/data/artifactCredentials")
        .and_then(|c| c.as_object())
        .map(|c| c.values().filter_map(|v| v.as_str()).filter(|s| s.len() >= 8).map(str::to_owned).collect())
        .unwrap_or_default();
    match parse(value) {
        Ok(job) => assert!(ecs_deployer::event::is_job_id(&job.id)),
        Err(EventError::Malformed { job_id, problem }) => {
            assert!(ecs_deployer::event::is_job_id(&job_id));
            assert!(secrets.iter().all(|s| !problem.contains(s.as_str())));
        }
        Err(EventError::NotAJob(_)) => {}
    }
});
