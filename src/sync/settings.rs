//! How a pass behaves: concurrency, bounds and leases, retries, activity settings; shared by
//! the CLI and `serve`.

use std::time::Duration;

use super::*;

/// How a pass behaves; shared by the CLI and `serve`.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// People worked on at once within this process.
    pub concurrency: usize,
    pub lease_ttl: Duration,
    pub activity: ActivitySettings,
    /// First pause before a failed delivery is retried by a later pass (doubles per attempt).
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Tries within one pass for a delivery Pipedrive answered with a 500 or 503.
    pub delivery_tries: u32,
    /// How long after it was sent a request with no answer (or a gateway's) may still land:
    /// until then it is not looked for, let alone sent again.
    pub in_flight_bound: Duration,
    /// The owner of the persons gisttrack creates (`--person-owner`; else Pipedrive's
    /// default, the token's user).
    pub person_owner: Option<crate::ids::PipedriveUserId>,
    /// Accounts never tracked through an organization (case-folded logins; `--exclude`).
    pub exclude: std::collections::BTreeSet<String>,
    /// Members who leave a followed organization stop being tracked (`--drop-leavers`).
    pub drop_leavers: bool,
}

/// The default in-flight bound for an HTTP timeout: a server may finish a request well after
/// its client gave up, so three timeouts, and never under a minute.
pub fn default_in_flight_bound(http_timeout: Duration) -> Duration {
    (http_timeout * 3).max(Duration::from_secs(60))
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            concurrency: crate::defaults::CONCURRENCY as usize,
            lease_ttl: Duration::from_secs(120),
            activity: ActivitySettings::default(),
            retry_base: Duration::from_secs(60),
            retry_cap: Duration::from_secs(6 * 3600),
            delivery_tries: 3,
            in_flight_bound: default_in_flight_bound(crate::defaults::duration(
                crate::defaults::HTTP_TIMEOUT,
            )),
            person_owner: None,
            exclude: Default::default(),
            drop_leavers: false,
        }
    }
}
