//! Reading the image file out of the build's artifact (a zip in S3) with as few bytes as possible: one
//! suffix-range GET for the end of the archive (usually covering the whole central directory, and the whole
//! archive when it is small), then one ranged GET for the file's own bytes.

pub mod source;
pub mod zip;

use std::collections::BTreeSet;

use crate::aws::error::AwsError;
use crate::images::MAX_FILE_BYTES;
pub use source::{ByteSource, S3Object, SliceSource};
use zip::{Directory, DirectoryParser, End, Entry, ZipError};

/// The first read: the end record's search window plus room for a typical central directory.
pub const TAIL_BYTES: u64 = 128 * 1024;
/// Later reads of a central directory that did not fit in the tail.
const DIRECTORY_CHUNK: u64 = 1 << 20;
/// Slack read after an entry's data so the local header's extra field usually fits in the same GET.
const LOCAL_EXTRA_SLACK: u64 = 1024;
/// How many entry names a "not found" message lists.
const NAMES_SHOWN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error(transparent)]
    Zip(#[from] ZipError),
    #[error("has no {file}{nested} ({count} entries{names})")]
    FileNotFound { file: String, nested: &'static str, count: u64, names: String },
    #[error("has {count} entries named {file}; refusing to guess which one is meant")]
    DuplicateEntries { file: String, count: usize },
    #[error(
        "has {file} in several folders ({paths}); set \"fileName\" in UserParameters to the path of the one to deploy"
    )]
    Ambiguous { file: String, paths: String },
    #[error("could not be read: {0}")]
    Fetch(#[source] AwsError),
    #[error("could not be read: the server sent {got} bytes for a {wanted}-byte range")]
    ShortRead { wanted: u64, got: u64 },
}

impl ArtifactError {
    /// The file we were told to read is not there (a configuration problem rather than a broken artifact).
    pub fn is_missing_file(&self) -> bool {
        matches!(self, Self::FileNotFound { .. } | Self::Ambiguous { .. })
    }
}

/// Reads `file_name` out of the zip behind `source`; the content is at most [`MAX_FILE_BYTES`].
///
/// Lookup: the exact path first; when the name has no folder and is not at the root, the one entry with that
/// name in any (safe) folder.
pub async fn read_file<S: ByteSource>(source: &mut S, file_name: &str) -> Result<Vec<u8>, ArtifactError> {
    read_file_with(source, file_name, TAIL_BYTES).await
}

/// [`read_file`] with the first read's size as a parameter (the fuzz targets vary it so that every path —
/// a tail too short for the end record, directories read in chunks — is taken).
pub async fn read_file_with<S: ByteSource>(
    source: &mut S,
    file_name: &str,
    tail_bytes: u64,
) -> Result<Vec<u8>, ArtifactError> {
    Archive::open(source, tail_bytes).await?.read(file_name).await
}

/// An archive opened once to read several files (the deploy file and the image file): the tail read at
/// opening is kept, so files inside it (and a central directory inside it) cost no further GET.
pub struct Archive<'a, S> {
    reader: Reader<'a, S>,
    directory: Directory,
}

impl<'a, S: ByteSource> Archive<'a, S> {
    pub async fn open(source: &'a mut S, tail_bytes: u64) -> Result<Self, ArtifactError> {
        let mut reader = Reader { source, tail: Vec::new(), tail_start: 0, size: 0 };
        let (tail, size) = reader.source.tail(tail_bytes.max(1)).await?;
        reader.size = size;
        reader.tail_start = size - tail.len() as u64;
        reader.tail = tail;
        let directory = reader.directory().await?;
        Ok(Self { reader, directory })
    }

    /// One file's content (at most [`MAX_FILE_BYTES`]); lookup as in [`read_file`].
    pub async fn read(&mut self, file_name: &str) -> Result<Vec<u8>, ArtifactError> {
        let entry = self.reader.find(self.directory, file_name).await?;
        self.reader.extract(&entry).await
    }
}

struct Reader<'a, S> {
    source: &'a mut S,
    /// The last bytes of the object, kept to answer later reads without another GET.
    tail: Vec<u8>,
    tail_start: u64,
    size: u64,
}

impl<S: ByteSource> Reader<'_, S> {
    /// Bytes `[start, end)`, from the tail when it has them.
    async fn read(&mut self, start: u64, end: u64) -> Result<Vec<u8>, ArtifactError> {
        if end > self.size || start > end {
            return Err(ZipError::Truncated { size: self.size, wanted: end }.into());
        }
        if start >= self.tail_start {
            let from = (start - self.tail_start) as usize;
            return Ok(self.tail[from..from + (end - start) as usize].to_vec());
        }
        let bytes = self.source.range(start, end).await?;
        if bytes.len() as u64 != end - start {
            return Err(ArtifactError::ShortRead { wanted: end - start, got: bytes.len() as u64 });
        }
        Ok(bytes)
    }

    async fn directory(&mut self) -> Result<Directory, ArtifactError> {
        // Where the end record can be: within EOCD_SEARCH bytes of the end, with a ZIP64 locator before it.
        let window = (zip::EOCD_SEARCH + zip::ZIP64_LOCATOR_LEN).min(self.size);
        loop {
            let search_from = self.tail.len().saturating_sub(window as usize);
            match zip::find_end(&self.tail[search_from..], self.size) {
                Err(ZipError::NotZip) if (self.tail.len() as u64) < window => self.extend_tail(window).await?,
                Err(e) => return Err(e.into()),
                Ok(End::Classic { directory, .. }) => return Ok(directory),
                Ok(End::Zip64 { eocd_offset, record_offset }) => {
                    let record = self.read(record_offset, eocd_offset).await?;
                    return Ok(zip::parse_zip64_end(&record, record_offset)?);
                }
            }
        }
    }

    /// Grows the kept tail to the last `len` bytes with one ranged read (a first read shorter than the end
    /// record's search window).
    async fn extend_tail(&mut self, len: u64) -> Result<(), ArtifactError> {
        let start = self.size - len;
        let mut bytes = self.read(start, self.tail_start).await?;
        bytes.extend_from_slice(&self.tail);
        self.tail = bytes;
        self.tail_start = start;
        Ok(())
    }

    /// Streams the central directory and picks the entry to read.
    async fn find(&mut self, directory: Directory, file_name: &str) -> Result<Entry, ArtifactError> {
        let nested_suffix = (!file_name.contains('/')).then(|| format!("/{file_name}"));
        let mut exact = Vec::new();
        let mut nested = Vec::new();
        let mut shown = BTreeSet::new();
        let mut parser = DirectoryParser::new(directory);
        let mut offset = directory.offset;
        let end = directory.offset + directory.size;
        while offset < end {
            let chunk_end =
                if offset >= self.tail_start { end } else { end.min(offset + DIRECTORY_CHUNK).min(self.tail_start) };
            let chunk = self.read(offset, chunk_end).await?;
            parser.feed(&chunk, |entry| {
                let name = normalized(&entry.name);
                if name == file_name {
                    exact.push(entry);
                } else if nested_suffix.as_ref().is_some_and(|s| name.ends_with(s.as_str())) && is_safe_path(&name) {
                    nested.push(entry);
                } else if shown.len() < NAMES_SHOWN {
                    shown.insert(crate::text::clip(&name, 100));
                }
            })?;
            offset = chunk_end;
        }
        parser.finish()?;
        let file = file_name.to_owned();
        match (exact.len(), nested.len()) {
            (1, _) => Ok(exact.remove(0)),
            (0, 1) => Ok(nested.remove(0)),
            (0, 0) => {
                let names = if shown.is_empty() {
                    String::new()
                } else {
                    let list: Vec<_> = shown.into_iter().collect();
                    format!(", such as {}", list.join(", "))
                };
                let nested = if nested_suffix.is_some() { " at its root or in any folder" } else { "" };
                Err(ArtifactError::FileNotFound { file, nested, count: directory.entries, names })
            }
            (0, _) => {
                let paths: Vec<_> = nested.iter().take(NAMES_SHOWN).map(|e| normalized(&e.name)).collect();
                Err(ArtifactError::Ambiguous { file, paths: paths.join(", ") })
            }
            (count, _) => Err(ArtifactError::DuplicateEntries { file, count }),
        }
    }

    async fn extract(&mut self, entry: &Entry) -> Result<Vec<u8>, ArtifactError> {
        zip::check_extractable(entry, MAX_FILE_BYTES)?;
        let start = entry.header_offset;
        let header_end = start + zip::LOCAL_HEADER_LEN;
        let guess_end =
            (header_end + entry.name.len() as u64 + entry.compressed_size + LOCAL_EXTRA_SLACK).min(self.size);
        let mut bytes = self.read(start, guess_end.max(header_end)).await?;
        let data_start = zip::local_data_start(entry, &bytes)?;
        let data_end = data_start + entry.compressed_size;
        if data_end > bytes.len() as u64 {
            let rest = self.read(start + bytes.len() as u64, start + data_end).await?;
            bytes.extend_from_slice(&rest);
        }
        Ok(zip::extract(entry, &bytes[data_start as usize..data_end as usize], MAX_FILE_BYTES)?)
    }
}

/// Entry names use `/`; some Windows tools write `\`.
fn normalized(name: &[u8]) -> String {
    String::from_utf8_lossy(name).replace('\\', "/")
}

/// A relative path without `..`, `.` or empty components (never follow a traversal name).
fn is_safe_path(name: &str) -> bool {
    !name.starts_with('/') && name.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}
