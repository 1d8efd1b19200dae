#![no_main]
//! The zip reader when the whole object comes with the first answer (a store that ignores Range): the same
//! file as with ranged reads of the same bytes, or both refuse; and nothing more is read.
use libfuzzer_sys::fuzz_target;

#[path = "sync.rs"]
mod sync;
use sync::block_on;

use ecs_deployer::artifact::{SliceSource, read_file};

fuzz_target!(|data: &[u8]| {
    for name in ["imagedefinitions.json", "build/imageDetail.json"] {
        let mut whole = SliceSource::whole(data);
        let from_whole = block_on(read_file(&mut whole, name));
        let mut ranged = SliceSource::new(data);
        let from_ranges = block_on(read_file(&mut ranged, name));
        assert_eq!(from_whole.as_ref().ok(), from_ranges.as_ref().ok(), "{name}");
        assert_eq!(from_whole.is_err(), from_ranges.is_err(), "{name}");
        assert_eq!(whole.reads.len(), 1, "the one answer holds everything");
    }
});
