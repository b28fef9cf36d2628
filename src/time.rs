//! Time as gisttrack stores it: Unix epoch milliseconds, printed as RFC 3339.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Formats Unix milliseconds as an RFC 3339 UTC timestamp with milliseconds.
pub fn format_ms(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

/// Parses GitHub's `2010-04-14T02:15:15Z` into Unix milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
}

/// Formats Unix milliseconds as an RFC 3339 UTC timestamp to the second, the form Pipedrive's
/// `updated_since` takes.
pub fn format_seconds(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// The UTC date of a time as `YYYY-MM-DD`, the form Pipedrive wants for `due_date`.
pub fn utc_date(ms: i64) -> String {
    format_ms(ms)[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_github_timestamps() {
        let ms = parse_rfc3339("2010-04-14T02:15:15Z").unwrap();
        assert_eq!(format_ms(ms), "2010-04-14T02:15:15.000Z");
        assert_eq!(utc_date(ms), "2010-04-14");
        assert_eq!(format_seconds(ms + 999), "2010-04-14T02:15:15Z");
        assert_eq!(parse_rfc3339("not a date"), None);
    }
}
