//! Time as gisttrack stores it: Unix epoch milliseconds, printed as RFC 3339.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far apart two clocks are allowed to be (ours, GitHub's, Pipedrive's) wherever times
/// stamped by one are compared with times stamped by another.
pub const CLOCK_SLACK_MS: i64 = 5 * 60 * 1000;

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where the sync engine and the service layer take the time from, and how they wait: the
/// system's, or (in tests) one that moves only when told, so hours of leases, backoffs and
/// in-flight bounds pass in no time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Unix milliseconds.
    fn now_ms(&self) -> i64;
    /// Waits `pause`.
    fn sleep(&self, pause: Duration);
}

/// The system's clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn sleep(&self, pause: Duration) {
        std::thread::sleep(pause);
    }
}

/// A clock for tests: it starts at a given time and moves only when advanced; a sleep moves
/// it on by the pause instead of waiting (time never goes back).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn starting_at(ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(ms))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn sleep(&self, pause: Duration) {
        self.advance(pause);
        // Let the other threads run, as a real pause would.
        std::thread::yield_now();
    }
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
