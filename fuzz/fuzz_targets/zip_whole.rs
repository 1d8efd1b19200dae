#![no_main]
//! The zip reader when the whole object is at hand (a store that ignores Range): same guarantees.
use libfuzzer_sys::fuzz_target;

#[path = "sync.rs"]
mod sync;
use sync::block_on;

use ecs_deployer::artifact::{SliceSource, read_file};

fuzz_target!(|data: &[u8]| {
    let mut source = SliceSource::whole(data);
    let names = ["imagedefinitions.json", "build/imageDetail.json"];
    for name in names {
        if let Ok(content) = block_on(read_file(&mut source, name)) {
            assert!(content.len() <= ecs_deployer::images::MAX_FILE_BYTES);
        }
    }
    assert_eq!(source.reads.iter().filter(|(a, _)| *a != 0).count(), 0, "everything came from the one read");
});
