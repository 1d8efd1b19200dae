#![no_main]
//! The zip reader with ranged reads: any bytes give the file (≤ 100 KiB) or an error, never a panic, a hang
//! or a read outside the object.
use libfuzzer_sys::fuzz_target;

#[path = "sync.rs"]
mod sync;
use sync::block_on;

use ecs_deployer::artifact::{SliceSource, read_file};

fuzz_target!(|data: &[u8]| {
    let mut source = SliceSource::new(data);
    let result = block_on(read_file(&mut source, "imagedefinitions.json"));
    if let Ok(content) = result {
        assert!(content.len() <= ecs_deployer::images::MAX_FILE_BYTES);
    }
    assert!(source.reads.iter().all(|(a, b)| a <= b && *b <= data.len() as u64));
    assert!(source.reads.len() <= 64);
});
