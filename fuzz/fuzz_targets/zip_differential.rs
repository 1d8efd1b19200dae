#![no_main]
//! Our zip reader against an independent one, the `zip` crate. For any bytes:
//! - when both read `imagedefinitions.json`, the bytes are the same;
//! - when we read it, the `zip` crate reads the same bytes (by its full path when we found it in a folder:
//!   we look the name up in folders too when it is not at the root, the `zip` crate wants the exact path);
//! - when the `zip` crate reads it and we do not, it is for a deliberate difference, never because we missed
//!   a file that is there or misread its data:
//!   - the file is larger than 100 KiB (CodePipeline's limit for image files), or the entry declares more;
//!   - the archive names the file twice (the `zip` crate takes one of them);
//!   - the archive's structures disagree with each other and we refuse it where the `zip` crate makes sense
//!     of it: an end record followed by other bytes (we want its comment to reach the end of the object),
//!     a central directory elsewhere than its end record says or holding other entries or bytes than it
//!     says, an entry whose local header names another file or method, an entry whose data is not the size
//!     its directory entry declares (the `zip` crate checks only the CRC), a disk number other than the
//!     first's, structures that point past the object.
//!
//! A CRC mismatch or a broken deflate stream where the `zip` crate reads the file would be our misreading.
use std::io::Read;

use libfuzzer_sys::fuzz_target;

#[path = "sync.rs"]
mod sync;
use sync::block_on;

use ecs_deployer::artifact::zip::ZipError;
use ecs_deployer::artifact::{ArtifactError, SliceSource, read_file};
use ecs_deployer::images::MAX_FILE_BYTES;

const NAME: &str = "imagedefinitions.json";

/// What the `zip` crate reads for `name`, or why it refuses.
fn theirs(data: &[u8], name: &str) -> Result<Vec<u8>, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(data)).map_err(|e| e.to_string())?;
    let mut file = archive.by_name(name).map_err(|e| e.to_string())?;
    let mut content = Vec::new();
    file.by_ref().take(MAX_FILE_BYTES as u64 * 4).read_to_end(&mut content).map_err(|e| e.to_string())?;
    Ok(content)
}

/// The names the `zip` crate lists, normalized as we read them.
fn names(data: &[u8]) -> Option<Vec<String>> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(data)).ok()?;
    Some(archive.file_names().filter_map(Result::ok).map(|n| n.replace('\\', "/")).collect())
}

fuzz_target!(|data: &[u8]| {
    let ours = block_on(read_file(&mut SliceSource::new(data), NAME));
    let exact = theirs(data, NAME);
    let listed = names(data).unwrap_or_default();
    let duplicates = listed.iter().filter(|n| *n == NAME).count() > 1;
    let nested: Vec<&String> = listed.iter().filter(|n| n.ends_with(&format!("/{NAME}"))).collect();
    match (&ours, &exact) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "both read {NAME} but not the same bytes"),
        (Err(_), Ok(b)) if b.len() > MAX_FILE_BYTES || duplicates => {}
        (Err(ArtifactError::Zip(structure)), Ok(_)) if disagrees_with_itself(structure) => {}
        (Err(e), Ok(b)) => panic!("the zip crate reads {} bytes of {NAME}; we refuse: {e}", b.len()),
        (Ok(a), Err(why)) => {
            assert!(nested.len() == 1, "we read {} bytes the zip crate refuses ({why}); entries: {listed:?}", a.len());
            let b = theirs(data, nested[0]);
            assert_eq!(Some(a), b.as_ref().ok(), "we read the nested {}; the zip crate: {b:?}", nested[0]);
        }
        (Err(_), Err(_)) => {}
    }
});

/// Refusals of archives whose structures contradict each other, or that declare too much.
fn disagrees_with_itself(error: &ZipError) -> bool {
    matches!(
        error,
        ZipError::NotZip
            | ZipError::Corrupt(_)
            | ZipError::MultiDisk
            | ZipError::Truncated { .. }
            | ZipError::DirectoryTooLarge(_)
            | ZipError::EntryTooLarge { .. }
    ) || matches!(error, ZipError::BadEntryData { problem, .. }
        if problem.contains("compressed bytes for") || problem.contains("where the directory says"))
}
