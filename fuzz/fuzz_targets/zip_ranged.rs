#![no_main]
//! The zip reader with ranged reads, the first read's size drawn from the input (1 to 65 536 bytes), so
//! that short first reads, end records found only after reading more, directories read in ranges and
//! stores that answer short all happen: any bytes give the file (≤ 100 KiB) or an error, never a panic, a
//! hang or a read outside the object; and a store that answers short never yields a file.
use libfuzzer_sys::fuzz_target;

#[path = "sync.rs"]
mod sync;
use sync::block_on;

use ecs_deployer::artifact::{SliceSource, read_file_with};

fuzz_target!(|input: &[u8]| {
    let [a, b, mode, data @ ..] = input else { return };
    let tail = 1 + u64::from(u16::from_le_bytes([*a, *b]));
    let short = mode & 1 == 1;
    let mut source = if short { SliceSource::capped(data, usize::from(*mode >> 1)) } else { SliceSource::new(data) };
    let result = block_on(read_file_with(&mut source, "imagedefinitions.json", tail));
    if let Ok(content) = &result {
        assert!(content.len() <= ecs_deployer::images::MAX_FILE_BYTES);
    }
    assert!(source.reads.iter().all(|(a, b)| a <= b && *b <= data.len() as u64));
    assert!(source.reads.len() <= 64);
    if !short {
        // The first read's size never changes the answer.
        let mut default = SliceSource::new(data);
        let expected = block_on(ecs_deployer::artifact::read_file(&mut default, "imagedefinitions.json"));
        assert_eq!(result.as_ref().ok(), expected.as_ref().ok(), "first read of {tail} bytes");
    }
});
