//! Where archive bytes come from: S3 ranged GETs in production, a byte slice in tests and fuzzing.

use aws_sdk_s3::primitives::ByteStream;

use super::ArtifactError;
use crate::aws::error::{AwsError, AwsErrorKind};

/// Random access to an object's bytes.
#[allow(async_fn_in_trait)] // used with concrete types only; no Send bound needed
pub trait ByteSource {
    /// The last `len` bytes (or more, up to all of them) and the object's size.
    async fn tail(&mut self, len: u64) -> Result<(Vec<u8>, u64), ArtifactError>;
    /// Bytes `[start, end)`; callers keep `end` within the size `tail` reported.
    async fn range(&mut self, start: u64, end: u64) -> Result<Vec<u8>, ArtifactError>;
}

/// An in-memory archive.
pub struct SliceSource<'a> {
    pub bytes: &'a [u8],
    /// Reads made, as `(start, end)`.
    pub reads: Vec<(u64, u64)>,
    /// Answer the first read with the whole object, as a store that ignores `Range` does.
    whole: bool,
    /// Answer ranged reads with at most this many bytes, as a store that cuts answers short.
    cap: Option<usize>,
}

impl<'a> SliceSource<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, reads: Vec::new(), whole: false, cap: None }
    }

    /// A source whose `tail` hands over the whole object.
    pub fn whole(bytes: &'a [u8]) -> Self {
        Self { whole: true, ..Self::new(bytes) }
    }

    /// A source whose ranged reads return at most `cap` bytes.
    pub fn capped(bytes: &'a [u8], cap: usize) -> Self {
        Self { cap: Some(cap), ..Self::new(bytes) }
    }
}

impl ByteSource for SliceSource<'_> {
    async fn tail(&mut self, len: u64) -> Result<(Vec<u8>, u64), ArtifactError> {
        let size = self.bytes.len() as u64;
        let start = if self.whole { 0 } else { size.saturating_sub(len) };
        self.reads.push((start, size));
        Ok((self.bytes[start as usize..].to_vec(), size))
    }

    async fn range(&mut self, start: u64, end: u64) -> Result<Vec<u8>, ArtifactError> {
        self.reads.push((start, end));
        let end = end.min(self.bytes.len() as u64);
        let mut bytes = self.bytes.get(start as usize..end as usize).unwrap_or_default().to_vec();
        if let Some(cap) = self.cap {
            bytes.truncate(cap);
        }
        Ok(bytes)
    }
}

/// An S3 object read with ranged GETs. When the server ignores `Range` (S3 never does; some S3-compatible
/// stores do), the wanted window is cut out of the streamed whole object without buffering the rest.
pub struct S3Object<'a> {
    client: &'a aws_sdk_s3::Client,
    bucket: &'a str,
    key: &'a str,
}

impl<'a> S3Object<'a> {
    pub fn new(client: &'a aws_sdk_s3::Client, bucket: &'a str, key: &'a str) -> Self {
        Self { client, bucket, key }
    }

    /// GETs `range` and returns the bytes of the window it asks for (`start` known, or a suffix of `len`).
    async fn get(&mut self, range: String, window: Window) -> Result<(Vec<u8>, u64), ArtifactError> {
        let out = self
            .client
            .get_object()
            .bucket(self.bucket)
            .key(self.key)
            .range(range)
            .send()
            .await
            .map_err(|e| ArtifactError::Fetch(AwsError::new(e)))?;
        let partial = out.content_range().map(parse_content_range);
        let body = out.body;
        let (skip, take, size) = match partial {
            Some(Some((first, last, size))) => {
                if window.resolve(size) != (first, last + 1) {
                    return Err(bad_response("a different byte range than the one asked for"));
                }
                (0, last + 1 - first, size)
            }
            Some(None) => return Err(bad_response("an unreadable Content-Range header")),
            None => {
                // 200 with the whole object: cut the window out of the stream.
                let size = out.content_length.and_then(|n| u64::try_from(n).ok()).ok_or_else(|| {
                    bad_response("the whole object without a Content-Length (the server ignored the Range header)")
                })?;
                let (start, end) = window.resolve(size);
                (start, end - start, size)
            }
        };
        let bytes = read_window(body, skip, take).await?;
        Ok((bytes, size))
    }
}

#[derive(Clone, Copy)]
enum Window {
    Suffix(u64),
    Span(u64, u64),
}

impl Window {
    fn resolve(self, size: u64) -> (u64, u64) {
        match self {
            Window::Suffix(len) => (size.saturating_sub(len), size),
            Window::Span(start, end) => (start.min(size), end.min(size)),
        }
    }
}

impl ByteSource for S3Object<'_> {
    async fn tail(&mut self, len: u64) -> Result<(Vec<u8>, u64), ArtifactError> {
        match self.get(format!("bytes=-{len}"), Window::Suffix(len)).await {
            // An empty object cannot satisfy a suffix range: S3 answers 416.
            Err(ArtifactError::Fetch(e)) if e.code.as_deref() == Some("InvalidRange") => Ok((Vec::new(), 0)),
            other => other,
        }
    }

    async fn range(&mut self, start: u64, end: u64) -> Result<Vec<u8>, ArtifactError> {
        if start == end {
            return Ok(Vec::new());
        }
        let (bytes, _) = self.get(format!("bytes={start}-{}", end - 1), Window::Span(start, end)).await?;
        Ok(bytes)
    }
}

/// `bytes 0-99/1234` → (0, 99, 1234).
fn parse_content_range(header: &str) -> Option<(u64, u64, u64)> {
    let rest = header.trim().strip_prefix("bytes ")?;
    let (span, size) = rest.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let (first, last, size) = (first.parse().ok()?, last.parse::<u64>().ok()?, size.parse().ok()?);
    (first <= last && last < size).then_some((first, last, size))
}

/// Reads `take` bytes after skipping `skip`, then drops the rest of the stream unread.
async fn read_window(mut body: ByteStream, mut skip: u64, take: u64) -> Result<Vec<u8>, ArtifactError> {
    let mut out = Vec::with_capacity(take.min(8 << 20) as usize);
    while (out.len() as u64) < take {
        let Some(chunk) = body.try_next().await.map_err(|e| {
            ArtifactError::Fetch(AwsError::unexpected(
                AwsErrorKind::Unavailable,
                format!("reading the object failed: {e}"),
            ))
        })?
        else {
            break;
        };
        let mut chunk = &chunk[..];
        let skipped = skip.min(chunk.len() as u64);
        chunk = &chunk[skipped as usize..];
        skip -= skipped;
        let wanted = (take - out.len() as u64).min(chunk.len() as u64) as usize;
        out.extend_from_slice(&chunk[..wanted]);
    }
    if (out.len() as u64) < take {
        return Err(ArtifactError::ShortRead { wanted: take, got: out.len() as u64 });
    }
    Ok(out)
}

fn bad_response(what: &str) -> ArtifactError {
    ArtifactError::Fetch(AwsError::unexpected(AwsErrorKind::Other, format!("S3 answered with {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 0-99/1234"), Some((0, 99, 1234)));
        assert_eq!(parse_content_range("bytes 5-5/6"), Some((5, 5, 6)));
        for bad in ["bytes */1234", "bytes 9-1/20", "bytes 0-20/20", "0-1/2", "bytes a-b/c"] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }
}
