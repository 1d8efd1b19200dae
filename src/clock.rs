//! The clock: seconds since the Unix epoch, in one place so that every deadline uses the same one.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Milliseconds since the Unix epoch (Lambda's deadline unit).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `2026-11-24T10:00:00Z` for seconds since the epoch.
pub fn iso8601(secs: i64) -> String {
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

/// A duration as people read it: `45s`, `2m 10s`, `1h 5m`.
pub fn span(secs: i64) -> String {
    let secs = secs.max(0);
    match (secs / 3600, (secs % 3600) / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn spans() {
        assert_eq!(super::span(45), "45s");
        assert_eq!(super::span(130), "2m 10s");
        assert_eq!(super::span(3900), "1h 5m");
        assert_eq!(super::span(-5), "0s");
    }
}
