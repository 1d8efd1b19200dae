#![no_main]
//! imagedefinitions.json / imageDetail.json: parsed into valid updates or refused with a message.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for container in [None, Some("web")] {
        if let Ok(updates) = ecs_deployer::images::parse(data, container) {
            assert!(!updates.is_empty());
            assert!(updates.iter().all(|u| !u.container.is_empty() && !u.image.is_empty() && u.image.len() <= 255));
        }
    }
});
