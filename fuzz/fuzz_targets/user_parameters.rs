#![no_main]
//! UserParameters: any string is a valid Params or a ConfigurationError naming the problem, never a panic.
//! The bytes after the first 0xFF, when there is one, are a deploy file merged into them (`deployFile`):
//! the merged parameters are complete (every target's cluster and service set, 1 to 10 targets) or a
//! ConfigurationError.
use ecs_deployer::config::{Params, parse, with_deploy_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (user, file) = match data.iter().position(|b| *b == 0xFF) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(text) = std::str::from_utf8(user) else { return };
    match parse(Some(text)) {
        Ok(p) => {
            assert!(p.timeout_minutes.is_none_or(|t| (1..=1440).contains(&t)));
            assert!(p.deploy_file.is_some() || complete(&p));
            if let (Some(name), Some(content)) = (&p.deploy_file, file) {
                match with_deploy_file(Some(text), name, content) {
                    Ok(merged) => assert!(complete(&merged)),
                    Err(e) => assert!(e.to_string().len() < 2000),
                }
            }
        }
        Err(e) => assert!(e.to_string().len() < 2000),
    }
});

fn complete(p: &Params) -> bool {
    (1..=10).contains(&p.targets.len()) && p.targets.iter().all(|t| !t.cluster.is_empty() && !t.service.is_empty())
}
