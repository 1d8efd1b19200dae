//! Just enough of the zip format to pull one small file out of a possibly huge archive without reading it
//! all: the end records (with ZIP64 and archive comments), the central directory (parsed incrementally, so
//! memory stays flat whatever the number of entries), one local header, and stored or deflated data.
//!
//! Sans-I/O: callers hand in bytes at the offsets these functions ask for.

use miniz_oxide::inflate::{self, TINFLStatus};

/// Size of the end of central directory record without its comment.
pub const EOCD_LEN: u64 = 22;
/// How far from the end the EOCD record can start: the record plus the longest comment.
pub const EOCD_SEARCH: u64 = EOCD_LEN + u16::MAX as u64;
pub const ZIP64_LOCATOR_LEN: u64 = 20;
const ZIP64_EOCD_LEN: u64 = 56;
/// Fixed part of a central directory file header.
const CENTRAL_HEADER_LEN: usize = 46;
/// Fixed part of a local file header.
pub const LOCAL_HEADER_LEN: u64 = 30;
/// The largest central directory we agree to read (~300 000 entries of typical path lengths).
pub const MAX_DIRECTORY_BYTES: u64 = 32 << 20;

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    #[error("is not a zip file (no end of central directory record)")]
    NotZip,
    #[error("is a corrupt zip file: {0}")]
    Corrupt(String),
    #[error("is truncated: it is {size} bytes but its zip structures refer to byte {wanted}")]
    Truncated { size: u64, wanted: u64 },
    #[error("has a central directory of {0} bytes; more than {MAX_DIRECTORY_BYTES} bytes is refused")]
    DirectoryTooLarge(u64),
    #[error("is a multi-disk (split) zip archive, which is not supported")]
    MultiDisk,
    #[error("stores {name} encrypted; store it unencrypted")]
    Encrypted { name: String },
    #[error("compresses {name} with method {method}; only stored (0) and deflate (8) are supported")]
    UnsupportedMethod { name: String, method: u16 },
    #[error("declares {name} as {size} bytes; more than {limit} bytes is refused")]
    EntryTooLarge { name: String, size: u64, limit: usize },
    #[error("inflates {name} beyond {limit} bytes (a zip bomb?); refused")]
    InflatesTooLarge { name: String, limit: usize },
    #[error("has a damaged {name}: {problem}")]
    BadEntryData { name: String, problem: String },
}

fn corrupt(what: impl Into<String>) -> ZipError {
    ZipError::Corrupt(what.into())
}

/// Where the central directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directory {
    pub offset: u64,
    pub size: u64,
    pub entries: u64,
}

/// What the end of the archive says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Classic {
        eocd_offset: u64,
        directory: Directory,
    },
    /// The real numbers are in a ZIP64 end record at `record_offset`, which ends before `eocd_offset`.
    Zip64 {
        eocd_offset: u64,
        record_offset: u64,
    },
}

/// Finds the end record in `tail`, the last `tail.len()` bytes of an archive of `size` bytes.
///
/// The tail should cover [`EOCD_SEARCH`] + [`ZIP64_LOCATOR_LEN`] bytes, or the whole archive when it is
/// smaller; a shorter tail gives `NotZip` when what it holds is not enough to be sure (read more and retry).
pub fn find_end(tail: &[u8], size: u64) -> Result<End, ZipError> {
    let tail_start = size.checked_sub(tail.len() as u64).ok_or_else(|| corrupt("tail longer than archive"))?;
    if (tail.len() as u64) < EOCD_LEN {
        return Err(ZipError::NotZip);
    }
    // Scan backwards: the last signature whose comment length reaches exactly the end of the archive.
    let lowest = tail.len().saturating_sub(EOCD_SEARCH as usize);
    let mut pos = tail.len() - EOCD_LEN as usize;
    let found = loop {
        if u32le(tail, pos) == EOCD_SIG && pos + EOCD_LEN as usize + usize::from(u16le(tail, pos + 20)) == tail.len() {
            break pos;
        }
        if pos == lowest {
            return Err(ZipError::NotZip);
        }
        pos -= 1;
    };
    let r = &tail[found..];
    let eocd_offset = tail_start + found as u64;
    let (disk, directory_disk) = (u16le(r, 4), u16le(r, 6));
    let (disk_entries, entries) = (u16le(r, 8), u16le(r, 10));
    let (dir_size, dir_offset) = (u32le(r, 12), u32le(r, 16));
    let wants_zip64 = entries == u16::MAX || dir_size == u32::MAX || dir_offset == u32::MAX || disk_entries == u16::MAX;
    if wants_zip64 && (found as u64) < ZIP64_LOCATOR_LEN && tail_start > 0 {
        // The ZIP64 locator would be before this tail.
        return Err(ZipError::NotZip);
    }
    if wants_zip64 && found as u64 >= ZIP64_LOCATOR_LEN {
        let l = found - ZIP64_LOCATOR_LEN as usize;
        if u32le(tail, l) == ZIP64_LOCATOR_SIG {
            if u32le(tail, l + 16) > 1 {
                return Err(ZipError::MultiDisk);
            }
            let record_offset = u64le(tail, l + 8);
            let locator_offset = eocd_offset - ZIP64_LOCATOR_LEN;
            if record_offset.checked_add(ZIP64_EOCD_LEN).is_none_or(|end| end > locator_offset) {
                return Err(corrupt("ZIP64 end record offset points past its locator"));
            }
            return Ok(End::Zip64 { eocd_offset, record_offset });
        }
    }
    if disk != 0 || directory_disk != 0 || disk_entries != entries {
        return Err(ZipError::MultiDisk);
    }
    let directory = Directory { offset: u64::from(dir_offset), size: u64::from(dir_size), entries: u64::from(entries) };
    check_directory(directory, eocd_offset)?;
    Ok(End::Classic { eocd_offset, directory })
}

/// Parses a ZIP64 end of central directory record (at least 56 bytes).
pub fn parse_zip64_end(record: &[u8], record_offset: u64) -> Result<Directory, ZipError> {
    if record.len() < ZIP64_EOCD_LEN as usize || u32le(record, 0) != ZIP64_EOCD_SIG {
        return Err(corrupt("no ZIP64 end record where the locator points"));
    }
    if u32le(record, 16) != 0 || u32le(record, 20) != 0 || u64le(record, 24) != u64le(record, 32) {
        return Err(ZipError::MultiDisk);
    }
    let directory = Directory { entries: u64le(record, 32), size: u64le(record, 40), offset: u64le(record, 48) };
    check_directory(directory, record_offset)?;
    Ok(directory)
}

fn check_directory(d: Directory, ends_before: u64) -> Result<(), ZipError> {
    if d.size > MAX_DIRECTORY_BYTES {
        return Err(ZipError::DirectoryTooLarge(d.size));
    }
    // The directory ends where the end record begins: bytes between them are how two readers come to see
    // two archives (some readers then take every offset as shifted).
    match d.offset.checked_add(d.size) {
        Some(end) if end == ends_before => {}
        Some(end) if end < ends_before => {
            return Err(corrupt(format!(
                "{} bytes lie between the central directory and the end record",
                ends_before - end
            )));
        }
        _ => return Err(corrupt("central directory overlaps the end record")),
    }
    if d.entries > d.size / CENTRAL_HEADER_LEN as u64 {
        return Err(corrupt(format!("{} entries cannot fit in a {}-byte central directory", d.entries, d.size)));
    }
    Ok(())
}

/// One central directory entry, sizes and offset already widened by its ZIP64 extra field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub flags: u16,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub header_offset: u64,
}

impl Entry {
    /// The name for messages (names are UTF-8 or CP437; both are ASCII for the names we look for).
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// Parses the central directory from consecutive chunks, handing each entry to a callback; only a partial
/// entry is buffered between chunks.
#[derive(Debug)]
pub struct DirectoryParser {
    directory: Directory,
    pending: Vec<u8>,
    consumed: u64,
    seen: u64,
}

impl DirectoryParser {
    pub fn new(directory: Directory) -> Self {
        Self { directory, pending: Vec::new(), consumed: 0, seen: 0 }
    }

    /// Feeds the next bytes of the directory.
    pub fn feed(&mut self, chunk: &[u8], mut on_entry: impl FnMut(Entry)) -> Result<(), ZipError> {
        self.pending.extend_from_slice(chunk);
        let mut at = 0;
        while let Some((entry, len)) = parse_central(&self.pending[at..])? {
            self.seen += 1;
            if self.seen > self.directory.entries {
                return Err(corrupt("central directory holds more entries than its end record says"));
            }
            at += len;
            if entry.header_offset >= self.directory.offset {
                return Err(corrupt(format!("entry {} starts inside the central directory", entry.display_name())));
            }
            on_entry(entry);
        }
        self.pending.drain(..at);
        self.consumed += chunk.len() as u64;
        Ok(())
    }

    /// Checks that the whole directory was fed and parsed.
    pub fn finish(self) -> Result<(), ZipError> {
        if self.consumed != self.directory.size || !self.pending.is_empty() || self.seen != self.directory.entries {
            return Err(corrupt(format!(
                "central directory holds {} entries in {} bytes; its end record says {} in {}",
                self.seen, self.consumed, self.directory.entries, self.directory.size
            )));
        }
        Ok(())
    }
}

/// One central directory header at the start of `b`, or `None` when `b` holds only part of it.
fn parse_central(b: &[u8]) -> Result<Option<(Entry, usize)>, ZipError> {
    if b.len() < CENTRAL_HEADER_LEN {
        return Ok(None);
    }
    if u32le(b, 0) != CENTRAL_SIG {
        return Err(corrupt("bad central directory entry signature"));
    }
    let (name_len, extra_len, comment_len) =
        (usize::from(u16le(b, 28)), usize::from(u16le(b, 30)), usize::from(u16le(b, 32)));
    let len = CENTRAL_HEADER_LEN + name_len + extra_len + comment_len;
    if b.len() < len {
        return Ok(None);
    }
    let name = b[CENTRAL_HEADER_LEN..CENTRAL_HEADER_LEN + name_len].to_vec();
    let extra = &b[CENTRAL_HEADER_LEN + name_len..CENTRAL_HEADER_LEN + name_len + extra_len];
    let mut entry = Entry {
        name,
        flags: u16le(b, 8),
        method: u16le(b, 10),
        crc32: u32le(b, 16),
        compressed_size: u64::from(u32le(b, 20)),
        uncompressed_size: u64::from(u32le(b, 24)),
        header_offset: u64::from(u32le(b, 42)),
    };
    if u16le(b, 34) != 0 && u16le(b, 34) != u16::MAX {
        return Err(ZipError::MultiDisk);
    }
    apply_zip64_extra(&mut entry, extra, u16le(b, 34) == u16::MAX)?;
    Ok(Some((entry, len)))
}

/// Replaces 0xFFFFFFFF sizes and offset with the values of the ZIP64 extra field (id 1), in spec order.
fn apply_zip64_extra(entry: &mut Entry, mut extra: &[u8], disk_in_extra: bool) -> Result<(), ZipError> {
    const MAX32: u64 = u32::MAX as u64;
    let wanted = [entry.uncompressed_size == MAX32, entry.compressed_size == MAX32, entry.header_offset == MAX32];
    if !wanted.contains(&true) && !disk_in_extra {
        return Ok(());
    }
    while extra.len() >= 4 {
        let (id, len) = (u16le(extra, 0), usize::from(u16le(extra, 2)));
        let body = extra.get(4..4 + len).ok_or_else(|| corrupt("extra field runs past its entry"))?;
        if id == 1 {
            let mut values = body.chunks_exact(8).map(|c| u64le(c, 0));
            let mut next = |wanted: bool, field: &mut u64| -> Result<(), ZipError> {
                if wanted {
                    *field = values.next().ok_or_else(|| corrupt("ZIP64 extra field is too short"))?;
                }
                Ok(())
            };
            next(wanted[0], &mut entry.uncompressed_size)?;
            next(wanted[1], &mut entry.compressed_size)?;
            next(wanted[2], &mut entry.header_offset)?;
            return Ok(());
        }
        extra = &extra[4 + len..];
    }
    Err(corrupt(format!("{} needs a ZIP64 extra field and has none", entry.display_name())))
}

/// How many bytes after `entry.header_offset` its data starts, from the local header's first
/// [`LOCAL_HEADER_LEN`] bytes; checks the header agrees with the central directory.
pub fn local_data_start(entry: &Entry, header: &[u8]) -> Result<u64, ZipError> {
    if header.len() < LOCAL_HEADER_LEN as usize || u32le(header, 0) != LOCAL_SIG {
        return Err(corrupt(format!(
            "no local header for {} where the central directory points",
            entry.display_name()
        )));
    }
    if u16le(header, 8) != entry.method {
        return Err(corrupt(format!("local header of {} disagrees with the central directory", entry.display_name())));
    }
    let (name_len, extra_len) = (u64::from(u16le(header, 26)), u64::from(u16le(header, 28)));
    let local_name = header.get(LOCAL_HEADER_LEN as usize..(LOCAL_HEADER_LEN + name_len) as usize);
    if local_name.is_some_and(|n| n != entry.name.as_slice()) {
        return Err(corrupt(format!("local header of {} names another file", entry.display_name())));
    }
    Ok(LOCAL_HEADER_LEN + name_len + extra_len)
}

/// Checks an entry can be extracted within `limit` bytes before any of its data is fetched.
pub fn check_extractable(entry: &Entry, limit: usize) -> Result<(), ZipError> {
    let name = entry.display_name();
    if entry.flags & 1 != 0 {
        return Err(ZipError::Encrypted { name });
    }
    if entry.method != 0 && entry.method != 8 {
        return Err(ZipError::UnsupportedMethod { name, method: entry.method });
    }
    if entry.uncompressed_size > limit as u64 {
        return Err(ZipError::EntryTooLarge { name, size: entry.uncompressed_size, limit });
    }
    // Deflate never needs much more than the input it encodes; anything larger is not an honest entry.
    let bound = limit as u64 + limit as u64 / 8 + 1024;
    if entry.compressed_size > bound || (entry.method == 0 && entry.compressed_size != entry.uncompressed_size) {
        return Err(ZipError::BadEntryData {
            name,
            problem: format!(
                "{} compressed bytes for {} bytes of content",
                entry.compressed_size, entry.uncompressed_size
            ),
        });
    }
    Ok(())
}

/// Decompresses an entry's data (exactly `compressed_size` bytes) and verifies its size and CRC-32.
pub fn extract(entry: &Entry, data: &[u8], limit: usize) -> Result<Vec<u8>, ZipError> {
    check_extractable(entry, limit)?;
    let name = entry.display_name();
    let content = match entry.method {
        0 => data.to_vec(),
        _ => inflate::decompress_to_vec_with_limit(data, limit).map_err(|e| match e.status {
            TINFLStatus::HasMoreOutput => ZipError::InflatesTooLarge { name: name.clone(), limit },
            status => {
                ZipError::BadEntryData { name: name.clone(), problem: format!("deflate stream error ({status:?})") }
            }
        })?,
    };
    if content.len() as u64 != entry.uncompressed_size {
        return Err(ZipError::BadEntryData {
            name,
            problem: format!("{} bytes of content where the directory says {}", content.len(), entry.uncompressed_size),
        });
    }
    if crc32fast::hash(&content) != entry.crc32 {
        return Err(ZipError::BadEntryData { name, problem: "CRC-32 mismatch".into() });
    }
    Ok(content)
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
