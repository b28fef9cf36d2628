//! Every setting's default, in one place: clap shows and parses these, and the settings that
//! code builds without a command line (the clients', the sync engine's, the store's) start
//! from the same values.

use std::time::Duration;

pub const GITHUB_API_URL: &str = "https://api.github.com";
pub const PIPEDRIVE_API_URL: &str = "https://api.pipedrive.com";
/// How long one request to GitHub or Pipedrive may take.
pub const HTTP_TIMEOUT: &str = "20s";
/// The longest rate-limit pause worth waiting for.
pub const RATE_LIMIT_MAX_WAIT: &str = "60s";
/// How long a statement waits for a lock another process holds.
pub const LOCK_WAIT: &str = "15s";
/// Users worked on at once by one process.
pub const CONCURRENCY: u16 = 4;

/// One of the durations above (each is checked by a test to parse).
pub fn duration(text: &str) -> Duration {
    humantime::parse_duration(text).unwrap_or_else(|e| panic!("the default {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_default_duration_parses() {
        for text in [
            super::HTTP_TIMEOUT,
            super::RATE_LIMIT_MAX_WAIT,
            super::LOCK_WAIT,
        ] {
            assert!(humantime::parse_duration(text).is_ok(), "{text}");
        }
    }
}
