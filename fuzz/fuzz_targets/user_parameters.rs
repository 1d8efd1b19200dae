#![no_main]
//! UserParameters: any string is a valid Params or a ConfigurationError naming the problem, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match ecs_deployer::event::params::parse(Some(text)) {
            Ok(p) => assert!(p.timeout_minutes.is_none_or(|t| (1..=1440).contains(&t)) && !p.cluster.is_empty() && !p.service.is_empty()),
            Err(e) => assert!(e.to_string().len() < 2000),
        }
    }
});
