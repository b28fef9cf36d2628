//! Process-wide counters and histograms, rendered in the Prometheus text format by `serve`'s
//! `/metrics` (with the delivery gauges the handler reads from the database).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

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

/// Upper bounds (seconds) of an HTTP request's duration buckets.
const REQUEST_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];
/// Upper bounds (seconds) of a sync pass's duration buckets.
const PASS_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 10800.0];

/// A Prometheus histogram: cumulative bucket counts, the sum and the count.
#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], seconds: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; bounds.len()];
        }
        for (bucket, bound) in self.buckets.iter_mut().zip(bounds) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    /// `labels` is empty or `key="value",` (with the trailing comma).
    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        for (n, bound) in bounds.iter().enumerate() {
            let count = self.buckets.get(n).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {count}");
        }
        let labels = labels.trim_end_matches(',');
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{}le=\"+Inf\"}} {}",
            if labels.is_empty() { "" } else { "," },
            self.count
        );
        let braces = |l: &str| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum);
        let _ = writeln!(out, "{name}_count{} {}", braces(labels), self.count);
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
    http_requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    http_durations: Mutex<BTreeMap<&'static str, Histogram>>,
    pass_durations: Mutex<Histogram>,
}

/// A value read when `/metrics` is scraped, not counted by the process.
#[derive(Debug, Clone, Copy)]
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub value: i64,
}

impl Metrics {
    /// Counts one answered HTTP request by route pattern (never the raw path) and method
    /// (any unusual one as `OTHER`), and its duration: labels stay bounded whatever clients
    /// send.
    pub fn http_request(&self, method: &str, route: &'static str, status: u16, took: Duration) {
        let method = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
            .into_iter()
            .find(|known| *known == method)
            .unwrap_or("OTHER");
        *lock(&self.http_requests)
            .entry((method, route, status))
            .or_default() += 1;
        lock(&self.http_durations)
            .entry(route)
            .or_default()
            .observe(REQUEST_BUCKETS, took.as_secs_f64());
    }

    /// Records how long a sync pass took.
    pub fn sync_pass(&self, took: Duration) {
        lock(&self.pass_durations).observe(PASS_BUCKETS, took.as_secs_f64());
    }

    fn counters(&self) -> [(&'static str, &'static str, &Counter); 9] {
        [
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
        ]
    }

    /// The Prometheus text exposition, with `gauges` read at scrape time.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        for (name, help, counter) in self.counters() {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.get()
            );
        }
        for gauge in gauges {
            let (name, help, value) = (gauge.name, gauge.help, gauge.value);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        self.render_http(&mut out);
        let name = "gisttrack_sync_pass_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} How long sync passes took.\n# TYPE {name} histogram"
        );
        lock(&self.pass_durations).render(&mut out, name, "", PASS_BUCKETS);
        out
    }

    fn render_http(&self, out: &mut String) {
        let name = "gisttrack_http_requests_total";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP requests answered, by route and status.\n# TYPE {name} counter"
        );
        for ((method, route, status), n) in lock(&self.http_requests).iter() {
            let _ = writeln!(
                out,
                "{name}{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let name = "gisttrack_http_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} How long HTTP requests took to answer, by route.\n# TYPE {name} histogram");
        for (route, histogram) in lock(&self.http_durations).iter() {
            histogram.render(out, name, &format!("route=\"{route}\","), REQUEST_BUCKETS);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_labels_and_histograms() {
        let metrics = Metrics::default();
        metrics.activities_created.add(3);
        let ms = Duration::from_millis;
        metrics.http_request("GET", "/api/v1/people", 200, ms(2));
        metrics.http_request("GET", "/api/v1/people", 200, ms(30));
        metrics.http_request("BREW", "/api/v1/people", 405, ms(1));
        metrics.sync_pass(Duration::from_secs(3));
        let text = metrics.render(&[Gauge {
            name: "gisttrack_deliveries_pending",
            help: "Gists waiting for their activity.",
            value: 7,
        }]);
        for line in [
            "gisttrack_activities_created_total 3",
            "# TYPE gisttrack_deliveries_pending gauge\ngisttrack_deliveries_pending 7",
            "gisttrack_http_requests_total{method=\"GET\",route=\"/api/v1/people\",status=\"200\"} 2",
            "gisttrack_http_requests_total{method=\"OTHER\",route=\"/api/v1/people\",status=\"405\"} 1",
            "gisttrack_http_request_duration_seconds_bucket{route=\"/api/v1/people\",le=\"0.0025\"} 2",
            "gisttrack_http_request_duration_seconds_bucket{route=\"/api/v1/people\",le=\"0.05\"} 3",
            "gisttrack_http_request_duration_seconds_bucket{route=\"/api/v1/people\",le=\"+Inf\"} 3",
            "gisttrack_http_request_duration_seconds_count{route=\"/api/v1/people\"} 3",
            "gisttrack_sync_pass_duration_seconds_bucket{le=\"1\"} 0",
            "gisttrack_sync_pass_duration_seconds_bucket{le=\"5\"} 1",
            "gisttrack_sync_pass_duration_seconds_bucket{le=\"+Inf\"} 1",
            "gisttrack_sync_pass_duration_seconds_sum 3",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
