//! The ranged zip reader on archives written by an independent writer (the `zip` crate) and hand-built ones
//! (ZIP64, data descriptors, comments, damage): what it returns, what it refuses, and how much it reads.

mod common;

use std::io::Write;

use common::zip_of;
use ecs_deployer::artifact::zip::ZipError;
use ecs_deployer::artifact::{ArtifactError, SliceSource, TAIL_BYTES, read_file, read_file_with};

const FILE: &str = "imagedefinitions.json";
const CONTENT: &[u8] = br#"[{"name":"web","imageUri":"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2222222"}]"#;

async fn read<'a>(archive: &'a [u8], name: &str) -> (Result<Vec<u8>, ArtifactError>, SliceSource<'a>) {
    let mut source = SliceSource::new(archive);
    let result = read_file(&mut source, name).await;
    (result, source)
}

fn bytes_read(source: &SliceSource<'_>) -> u64 {
    source.reads.iter().map(|(a, b)| b - a).sum()
}

/// Pseudo-random bytes that do not compress (and hold no zip signatures by accident often enough to matter).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A hand-built archive, for the structures the `zip` crate will not write on demand.
struct Raw {
    zip64: bool,
    data_descriptor: bool,
    comment: Vec<u8>,
    /// Deflate the entries (else store them).
    deflate: bool,
}

impl Raw {
    fn build(&self, entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, content) in entries {
            let data = if self.deflate { miniz_oxide::deflate::compress_to_vec(content, 6) } else { content.to_vec() };
            let crc = crc32fast::hash(content);
            let offset = out.len() as u64;
            let flags: u16 = if self.data_descriptor { 8 } else { 0 } | 0x800;
            let method: u16 = if self.deflate { 8 } else { 0 };
            let (local_crc, local_c, local_u) =
                if self.data_descriptor { (0, 0, 0) } else { (crc, data.len() as u32, content.len() as u32) };
            let mut local_extra = Vec::new();
            if self.zip64 {
                local_extra.extend_from_slice(&1u16.to_le_bytes());
                local_extra.extend_from_slice(&16u16.to_le_bytes());
                local_extra.extend_from_slice(&(content.len() as u64).to_le_bytes());
                local_extra.extend_from_slice(&(data.len() as u64).to_le_bytes());
            }
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            out.extend_from_slice(&45u16.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0, 0, 0x21, 0]);
            out.extend_from_slice(&local_crc.to_le_bytes());
            let (lc, lu) = if self.zip64 && !self.data_descriptor { (u32::MAX, u32::MAX) } else { (local_c, local_u) };
            out.extend_from_slice(&lc.to_le_bytes());
            out.extend_from_slice(&lu.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(local_extra.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&local_extra);
            out.extend_from_slice(&data);
            if self.data_descriptor {
                out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
                out.extend_from_slice(&crc.to_le_bytes());
                if self.zip64 {
                    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
                    out.extend_from_slice(&(content.len() as u64).to_le_bytes());
                } else {
                    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                    out.extend_from_slice(&(content.len() as u32).to_le_bytes());
                }
            }
            let mut extra = Vec::new();
            if self.zip64 {
                extra.extend_from_slice(&1u16.to_le_bytes());
                extra.extend_from_slice(&24u16.to_le_bytes());
                extra.extend_from_slice(&(content.len() as u64).to_le_bytes());
                extra.extend_from_slice(&(data.len() as u64).to_le_bytes());
                extra.extend_from_slice(&offset.to_le_bytes());
            }
            let big = |v: u64| if self.zip64 { u32::MAX } else { v as u32 };
            central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            central.extend_from_slice(&45u16.to_le_bytes());
            central.extend_from_slice(&45u16.to_le_bytes());
            central.extend_from_slice(&flags.to_le_bytes());
            central.extend_from_slice(&method.to_le_bytes());
            central.extend_from_slice(&[0, 0, 0x21, 0]);
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&big(data.len() as u64).to_le_bytes());
            central.extend_from_slice(&big(content.len() as u64).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes());
            central.extend_from_slice(&0u32.to_le_bytes());
            central.extend_from_slice(&big(offset).to_le_bytes());
            central.extend_from_slice(name.as_bytes());
            central.extend_from_slice(&extra);
        }
        let cd_offset = out.len() as u64;
        out.extend_from_slice(&central);
        let count = entries.len() as u64;
        if self.zip64 {
            let record = out.len() as u64;
            out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            out.extend_from_slice(&44u64.to_le_bytes());
            out.extend_from_slice(&45u16.to_le_bytes());
            out.extend_from_slice(&45u16.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&(central.len() as u64).to_le_bytes());
            out.extend_from_slice(&cd_offset.to_le_bytes());
            out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&record.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
        }
        let (n, size, offset) = if self.zip64 {
            (u16::MAX, u32::MAX, u32::MAX)
        } else {
            (count as u16, central.len() as u32, cd_offset as u32)
        };
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&(self.comment.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.comment);
        out
    }
}

fn raw() -> Raw {
    Raw { zip64: false, data_descriptor: false, comment: Vec::new(), deflate: true }
}

#[tokio::test]
async fn stored_and_deflated_entries_of_a_tiny_archive_take_one_read() {
    for deflate in [false, true] {
        let archive = zip_of(&[("README.md", b"hello", deflate), (FILE, CONTENT, deflate)]);
        let (result, source) = read(&archive, FILE).await;
        assert_eq!(result.unwrap(), CONTENT);
        assert_eq!(source.reads.len(), 1, "the whole small archive comes with the first read");
    }
}

#[tokio::test]
async fn a_large_archive_costs_two_small_reads() {
    let blob = noise(3 << 20, 7);
    let archive = zip_of(&[("app.tar", &blob, false), (FILE, CONTENT, true), ("z.bin", &noise(300_000, 9), false)]);
    let (result, source) = read(&archive, FILE).await;
    assert_eq!(result.unwrap(), CONTENT);
    assert_eq!(source.reads.len(), 2, "{:?}", source.reads);
    assert!(bytes_read(&source) <= TAIL_BYTES + 2048, "{}", bytes_read(&source));
}

#[tokio::test]
async fn zip64_structures() {
    for data_descriptor in [false, true] {
        let archive = Raw { zip64: true, data_descriptor, ..raw() }.build(&[("a.txt", b"aaaa"), (FILE, CONTENT)]);
        let (result, _) = read(&archive, FILE).await;
        assert_eq!(result.unwrap(), CONTENT, "data descriptor: {data_descriptor}");
    }
    // The `zip` crate's own ZIP64 entries.
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().large_file(true);
    writer.start_file(FILE, options).unwrap();
    writer.write_all(CONTENT).unwrap();
    let archive = writer.finish().unwrap().into_inner();
    assert_eq!(read(&archive, FILE).await.0.unwrap(), CONTENT);
}

#[tokio::test]
async fn data_descriptors_and_stored_entries() {
    for deflate in [false, true] {
        let archive = Raw { data_descriptor: true, deflate, ..raw() }.build(&[(FILE, CONTENT)]);
        assert_eq!(read(&archive, FILE).await.0.unwrap(), CONTENT);
    }
    let mut writer = zip::ZipWriter::new_stream(Vec::new());
    writer.start_file(FILE, zip::write::SimpleFileOptions::default()).unwrap();
    writer.write_all(CONTENT).unwrap();
    let archive = writer.finish().unwrap().into_inner();
    assert_eq!(read(&archive, FILE).await.0.unwrap(), CONTENT);
}

#[tokio::test]
async fn archive_comments_up_to_the_longest() {
    for len in [0, 1, 1000, 65_535] {
        let comment: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let archive = Raw { comment, ..raw() }.build(&[(FILE, CONTENT)]);
        assert_eq!(read(&archive, FILE).await.0.unwrap(), CONTENT, "comment of {len}");
    }
    // A comment that itself holds an end-record signature must not fool the search.
    let mut comment = b"PK\x05\x06".to_vec();
    comment.extend_from_slice(&[0; 30]);
    let archive = Raw { comment, ..raw() }.build(&[(FILE, CONTENT)]);
    assert_eq!(read(&archive, FILE).await.0.unwrap(), CONTENT);
}

#[tokio::test]
async fn where_the_file_is_looked_for() {
    let nested =
        zip_of(&[("build/output/imagedefinitions.json", CONTENT, true), ("src/main.rs", b"fn main(){}", true)]);
    assert_eq!(read(&nested, FILE).await.0.unwrap(), CONTENT, "the one entry of that name in a folder");
    assert_eq!(read(&nested, "build/output/imagedefinitions.json").await.0.unwrap(), CONTENT);

    let both = zip_of(&[("build/imagedefinitions.json", b"[1]", true), (FILE, CONTENT, true)]);
    assert_eq!(read(&both, FILE).await.0.unwrap(), CONTENT, "the root comes first");

    let two = zip_of(&[("a/imagedefinitions.json", CONTENT, true), ("b/imagedefinitions.json", CONTENT, true)]);
    let err = read(&two, FILE).await.0.unwrap_err();
    assert!(matches!(err, ArtifactError::Ambiguous { .. }), "{err}");
    assert!(err.to_string().contains("a/imagedefinitions.json, b/imagedefinitions.json"), "{err}");

    let duplicated = Raw { ..raw() }.build(&[(FILE, CONTENT), (FILE, b"[]")]);
    assert!(matches!(read(&duplicated, FILE).await.0.unwrap_err(), ArtifactError::DuplicateEntries { count: 2, .. }));

    let traversal =
        Raw { ..raw() }.build(&[("../imagedefinitions.json", CONTENT), ("/etc/imagedefinitions.json", CONTENT)]);
    let err = read(&traversal, FILE).await.0.unwrap_err();
    assert!(matches!(err, ArtifactError::FileNotFound { .. }), "traversal names are never followed: {err}");

    let missing = zip_of(&[("README.md", b"x", true), ("Dockerfile", b"FROM scratch", true)]);
    let err = read(&missing, FILE).await.0.unwrap_err().to_string();
    assert!(
        err.contains(
            "has no imagedefinitions.json at its root or in any folder (2 entries, such as Dockerfile, README.md)"
        ),
        "{err}"
    );

    let unicode = zip_of(&[("ünïcödé/ファイル.txt", b"x", true), ("imagedefinitions.json", CONTENT, true)]);
    assert_eq!(read(&unicode, FILE).await.0.unwrap(), CONTENT);
}

#[tokio::test]
async fn many_entries_and_a_directory_larger_than_the_first_read() {
    let names: Vec<String> =
        (0..10_000).map(|i| format!("node_modules/package-{i:05}/lib/some/deep/path/index.js")).collect();
    let mut entries: Vec<(&str, &[u8], bool)> = names.iter().map(|n| (n.as_str(), &b""[..], false)).collect();
    entries.push((FILE, CONTENT, true));
    let archive = zip_of(&entries);
    let (result, source) = read(&archive, FILE).await;
    assert_eq!(result.unwrap(), CONTENT);
    let directory_bytes = 10_001 * (46 + 60);
    assert!(bytes_read(&source) < TAIL_BYTES + directory_bytes as u64 + 4096, "{}", bytes_read(&source));
    assert!(source.reads.len() >= 3, "the directory is read in pieces: {:?}", source.reads);
}

#[tokio::test]
async fn refusals() {
    let good = zip_of(&[(FILE, CONTENT, true), ("padding.bin", &noise(200_000, 3), false)]);
    type Expect = fn(&ZipError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("empty object", Vec::new(), |e| matches!(e, ZipError::NotZip)),
        ("not a zip", b"#!/bin/sh\necho this is a shell script, not a zip\n".to_vec(), |e| {
            matches!(e, ZipError::NotZip)
        }),
        ("last bytes cut", good[..good.len() - 10].to_vec(), |e| matches!(e, ZipError::NotZip)),
        ("front cut", good[100_000..].to_vec(), |e| matches!(e, ZipError::Corrupt(_) | ZipError::Truncated { .. })),
        ("oversized file", zip_of(&[(FILE, &vec![b' '; 100 * 1024 + 1], true)]), |e| {
            matches!(e, ZipError::EntryTooLarge { size: 102_401, .. })
        }),
        ("bomb", bomb(), |e| matches!(e, ZipError::InflatesTooLarge { .. })),
        ("crc", flip_crc(zip_of(&[(FILE, CONTENT, true)])), |e| matches!(e, ZipError::BadEntryData { .. })),
        ("encrypted", set_flags(zip_of(&[(FILE, CONTENT, false)]), 1), |e| matches!(e, ZipError::Encrypted { .. })),
        ("bzip2", set_method(zip_of(&[(FILE, CONTENT, false)]), 12), |e| {
            matches!(e, ZipError::UnsupportedMethod { method: 12, .. })
        }),
        ("broken directory", break_directory(zip_of(&[(FILE, CONTENT, true)])), |e| matches!(e, ZipError::Corrupt(_))),
        ("huge directory", huge_directory(), |e| matches!(e, ZipError::DirectoryTooLarge(_))),
    ];
    for (name, archive, expected) in cases {
        let (result, source) = read(&archive, FILE).await;
        match result {
            Err(ArtifactError::Zip(e)) => assert!(expected(&e), "{name}: {e}"),
            other => panic!("{name}: {other:?}"),
        }
        if name == "oversized file" {
            assert_eq!(source.reads.len(), 1, "refused before its data is fetched");
        }
    }
}

/// An entry that declares 1000 bytes and inflates to 1 MiB.
fn bomb() -> Vec<u8> {
    let content = vec![0u8; 1 << 20];
    let mut archive = Raw { ..raw() }.build(&[(FILE, &content)]);
    patch_sizes(&mut archive, 1000);
    archive
}

fn find(archive: &[u8], signature: u32) -> usize {
    archive.windows(4).position(|w| w == signature.to_le_bytes()).unwrap()
}

fn patch_sizes(archive: &mut [u8], uncompressed: u32) {
    let central = find(archive, 0x0201_4b50);
    archive[central + 24..central + 28].copy_from_slice(&uncompressed.to_le_bytes());
}

fn flip_crc(mut archive: Vec<u8>) -> Vec<u8> {
    let central = find(&archive, 0x0201_4b50);
    archive[central + 16] ^= 0xff;
    archive
}

fn set_flags(mut archive: Vec<u8>, flags: u16) -> Vec<u8> {
    let central = find(&archive, 0x0201_4b50);
    archive[central + 8..central + 10].copy_from_slice(&flags.to_le_bytes());
    archive
}

fn set_method(mut archive: Vec<u8>, method: u16) -> Vec<u8> {
    let central = find(&archive, 0x0201_4b50);
    archive[central + 10..central + 12].copy_from_slice(&method.to_le_bytes());
    archive
}

fn break_directory(mut archive: Vec<u8>) -> Vec<u8> {
    let central = find(&archive, 0x0201_4b50);
    archive[central] = b'X';
    archive
}

/// An end record claiming a 100 MiB central directory (with a ZIP64 record saying so).
fn huge_directory() -> Vec<u8> {
    let mut archive = vec![0u8; 64];
    let record = archive.len() as u64;
    archive.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
    archive.extend_from_slice(&44u64.to_le_bytes());
    archive.extend_from_slice(&[45, 0, 45, 0]);
    archive.extend_from_slice(&[0; 8]);
    archive.extend_from_slice(&10u64.to_le_bytes());
    archive.extend_from_slice(&10u64.to_le_bytes());
    archive.extend_from_slice(&(100u64 << 20).to_le_bytes());
    archive.extend_from_slice(&0u64.to_le_bytes());
    archive.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
    archive.extend_from_slice(&0u32.to_le_bytes());
    archive.extend_from_slice(&record.to_le_bytes());
    archive.extend_from_slice(&1u32.to_le_bytes());
    archive.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    archive.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    archive.extend_from_slice(&[0xff; 8]);
    archive.extend_from_slice(&[0, 0]);
    archive
}

#[tokio::test]
async fn any_first_read_size_gives_the_same_file() {
    // A first read shorter than the end record's search window reads the rest of the window; a directory
    // before the first read is read in ranges. Either way the same bytes come out.
    let mut comment: Vec<u8> = (0..65_535).map(|i| b'a' + (i % 26) as u8).collect();
    comment[100..104].copy_from_slice(b"PK\x05\x06");
    let archives = vec![
        ("tiny", zip_of(&[(FILE, CONTENT, true)])),
        ("padded", zip_of(&[("pad.bin", &noise(300_000, 9), false), (FILE, CONTENT, true), ("z.txt", b"z", true)])),
        ("zip64", Raw { zip64: true, ..raw() }.build(&[("a.txt", b"aaaa"), (FILE, CONTENT)])),
        ("zip64 with a data descriptor", Raw { zip64: true, data_descriptor: true, ..raw() }.build(&[(FILE, CONTENT)])),
        ("longest comment", Raw { comment, ..raw() }.build(&[(FILE, CONTENT)])),
    ];
    for (name, archive) in &archives {
        for tail in [1, 21, 22, 23, 64, 1000, 65_557, 65_577, 200_000, TAIL_BYTES] {
            let mut source = SliceSource::new(archive);
            let content = read_file_with(&mut source, FILE, tail).await;
            assert_eq!(content.as_deref().ok(), Some(CONTENT), "{name}, first read of {tail}: {content:?}");
            assert!(source.reads.iter().all(|(a, b)| a <= b && *b <= archive.len() as u64), "{name} {tail}");
        }
    }
}
