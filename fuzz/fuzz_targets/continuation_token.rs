#![no_main]
//! Continuation tokens, of any version this function reads: decoded into a tracker that encodes back (as v4) to
//! a token decoded to the same tracker, or refused.
use ecs_deployer::config::Target;
use ecs_deployer::token::Tracker;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let targets = [Target::named("prod", "web")];
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(tracker) = Tracker::decode(text, &targets)
        && let Ok(again) = tracker.encode()
    {
        assert_eq!(Tracker::decode(&again, &targets).unwrap(), tracker);
    }
});
