//! Process-wide counters, rendered in the Prometheus text format by `serve`'s `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub sync_passes: Counter,
    pub sync_pass_failures: Counter,
    pub gists_found: Counter,
    pub activities_created: Counter,
    pub delivery_failures: Counter,
    pub github_requests: Counter,
    pub github_rate_limit_waits: Counter,
    pub pipedrive_requests: Counter,
    pub pipedrive_rate_limit_waits: Counter,
    http_requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
}

impl Metrics {
    /// Counts one answered HTTP request by route pattern (never the raw path: bounded labels).
    pub fn http_request(&self, method: &'static str, route: &str, status: u16) {
        let mut map = self.http_requests.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((method, route.to_string(), status)).or_default() += 1;
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, &Counter); 9] = [
            (
                "gisttrack_sync_passes_total",
                "Sync passes run.",
                &self.sync_passes,
            ),
            (
                "gisttrack_sync_pass_failures_total",
                "Sync passes that ended with failures.",
                &self.sync_pass_failures,
            ),
            (
                "gisttrack_gists_found_total",
                "New gists discovered.",
                &self.gists_found,
            ),
            (
                "gisttrack_activities_created_total",
                "Pipedrive activities created.",
                &self.activities_created,
            ),
            (
                "gisttrack_delivery_failures_total",
                "Failed activity deliveries.",
                &self.delivery_failures,
            ),
            (
                "gisttrack_github_requests_total",
                "Requests sent to GitHub.",
                &self.github_requests,
            ),
            (
                "gisttrack_github_rate_limit_waits_total",
                "Waits for a GitHub rate limit.",
                &self.github_rate_limit_waits,
            ),
            (
                "gisttrack_pipedrive_requests_total",
                "Requests sent to Pipedrive.",
                &self.pipedrive_requests,
            ),
            (
                "gisttrack_pipedrive_rate_limit_waits_total",
                "Waits for a Pipedrive rate limit.",
                &self.pipedrive_rate_limit_waits,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.get()
            );
        }
        let _ = writeln!(
            out,
            "# HELP gisttrack_http_requests_total HTTP requests answered, by route and status.\n# TYPE gisttrack_http_requests_total counter"
        );
        let map = self.http_requests.lock().unwrap_or_else(|e| e.into_inner());
        for ((method, route, status), n) in map.iter() {
            let _ = writeln!(
                out,
                "gisttrack_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_labels() {
        let metrics = Metrics::default();
        metrics.activities_created.add(3);
        metrics.http_request("GET", "/api/v1/people", 200);
        metrics.http_request("GET", "/api/v1/people", 200);
        let text = metrics.render();
        assert!(text.contains("gisttrack_activities_created_total 3"));
        assert!(text.contains(
            "gisttrack_http_requests_total{method=\"GET\",route=\"/api/v1/people\",status=\"200\"} 2"
        ));
    }
}
