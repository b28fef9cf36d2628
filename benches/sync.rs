//! `make bench` (sync): one pass over N users against the fake APIs with a simulated latency.
//!
//! Baselines measured in the same run: the same pass with one worker (how the seed worked,
//! one user after another), next to the serial bound N x latency. Targets: an unchanged
//! re-sync costs 0 counted GitHub requests; 300 users at 20 ms finish at least 3x under the
//! serial bound.

#[path = "../tests/support/fake.rs"]
mod fake;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gisttrack::clients::github::{GithubClient, GithubSettings};
use gisttrack::clients::pipedrive::{PipedriveClient, PipedriveSettings};
use gisttrack::config::{DatabaseTarget, Secret};
use gisttrack::db::Store;
use gisttrack::metrics::Metrics;
use gisttrack::sync::{App, PassOptions, SyncReport, SyncSettings, Trigger};
use indicatif::ProgressBar;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Setup {
    _dir: tempfile::TempDir,
    engine: App,
}

fn setup(apis: &fake::FakeApis, users: usize, concurrency: usize, backfill: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let target = DatabaseTarget::Sqlite(dir.path().join("bench.db"));
    let store = Store::open(&target).unwrap();
    let metrics = Arc::new(Metrics::default());
    let github = Arc::new(GithubClient::new(
        GithubSettings::new(&apis.github_url, Secret::new(fake::GITHUB_TOKEN)),
        metrics.clone(),
    ));
    let pipedrive = Arc::new(PipedriveClient::new(
        PipedriveSettings::new(
            &apis.pipedrive_url,
            Secret::new(fake::PIPEDRIVE_TOKEN).unwrap(),
        ),
        metrics.clone(),
    ));
    let engine = App {
        store: store.clone(),
        github: github.clone(),
        pipedrive: Some(pipedrive.clone()),
        settings: SyncSettings {
            concurrency,
            ..SyncSettings::default()
        },
        metrics,
        shutdown: Arc::new(AtomicBool::new(false)),
    };
    for n in 0..users {
        gisttrack::service::add_person(&engine, &format!("bench{n}"), backfill).unwrap();
    }
    Setup { _dir: dir, engine }
}

/// A pass's wall time, counted GitHub requests, Pipedrive requests and report.
fn pass(apis: &fake::FakeApis, engine: &App) -> (Duration, u64, u64, SyncReport) {
    let counted = apis.github_counted();
    let pipedrive = apis.lock().pipedrive.total_requests;
    let options = PassOptions::new(Trigger::Cli);
    let started = Instant::now();
    let report = engine.run_pass(&options, &ProgressBar::hidden()).unwrap();
    let wall = started.elapsed();
    assert!(report.ok(), "bench pass failed: {:?}", report.errors);
    let pipedrive = apis.lock().pipedrive.total_requests - pipedrive;
    (wall, apis.github_counted() - counted, pipedrive, report)
}

fn main() {
    let users: usize = env_or("BENCH_USERS", 300);
    let latency = Duration::from_millis(env_or("BENCH_LATENCY_MS", 20));
    let default_concurrency = SyncSettings::default().concurrency;
    let apis = fake::FakeApis::start();
    apis.lock().pipedrive.burst_limit = 1_000_000;
    for n in 0..users {
        apis.add_user(&format!("bench{n}"), 1);
    }
    let serial_bound = latency * users as u32;
    println!("sync benchmark: {users} users, {latency:?} per upstream answer, serial bound {serial_bound:?}");

    // Discovery: every user's list changed (first pass; existing gists are not delivered).
    let serial = setup(&apis, users, 1, false);
    let concurrent = setup(&apis, users, default_concurrency, false);
    apis.lock().github.latency = latency;
    apis.lock().pipedrive.latency = latency;
    let (serial_wall, serial_counted, _, _) = pass(&apis, &serial.engine);
    let (wall, counted, first_pipedrive, report) = pass(&apis, &concurrent.engine);
    assert_eq!(report.counts.users_checked as usize, users);
    // Re-sync: nothing changed, so every list answer is a free 304.
    let (resync_wall, resync_counted, resync_pipedrive, resync) = pass(&apis, &concurrent.engine);
    assert_eq!(resync.counts.users_unchanged as usize, users);

    // Delivery: one new gist per user, one activity each.
    for n in 0..users {
        apis.add_gist(&format!("bench{n}"));
    }
    let (deliver_wall, deliver_counted, deliver_pipedrive, delivered) =
        pass(&apis, &concurrent.engine);
    assert_eq!(delivered.counts.activities_created as usize, users);

    let ratio = |d: Duration| serial_bound.as_secs_f64() / d.as_secs_f64();
    println!();
    println!(
        "{:<44} {:>10} {:>14} {:>18} {:>14}",
        "pass", "wall", "x under bound", "counted GitHub req", "Pipedrive req"
    );
    println!(
        "{:<44} {:>10.2?} {:>14} {:>18} {:>14}",
        "serial bound (seed model: N x latency)", serial_bound, "1.00", users, "-"
    );
    println!(
        "{:<44} {:>10.2?} {:>14.2} {:>18} {:>14}",
        "first pass, 1 worker (measured baseline)",
        serial_wall,
        ratio(serial_wall),
        serial_counted,
        "-"
    );
    println!(
        "{:<44} {:>10.2?} {:>14.2} {:>18} {:>14}",
        format!("first pass, {default_concurrency} workers (default)"),
        wall,
        ratio(wall),
        counted,
        first_pipedrive
    );
    println!(
        "{:<44} {:>10.2?} {:>14.2} {:>18} {:>14}",
        "unchanged re-sync (304s)",
        resync_wall,
        ratio(resync_wall),
        resync_counted,
        resync_pipedrive
    );
    println!(
        "{:<44} {:>10.2?} {:>14.2} {:>18} {:>14}",
        "pass with 1 new gist per user (+activity)",
        deliver_wall,
        ratio(deliver_wall),
        deliver_counted,
        deliver_pipedrive
    );
    // What looking before every write costs: before it, a delivering pass made one POST per
    // activity; now each person with something to deliver is read, and so are their changed
    // activities, and the owners' names once per pass.
    println!(
        "Pipedrive requests for {users} deliveries: {deliver_pipedrive} ({:.2} per person; 1.00 before looking before every write)",
        deliver_pipedrive as f64 / users as f64
    );
    println!();
    println!(
        "speed-up over the measured 1-worker baseline: {:.2}x",
        serial_wall.as_secs_f64() / wall.as_secs_f64()
    );
    let mut ok = true;
    let mut check = |name: &str, pass: bool| {
        println!("target {name}: {}", if pass { "met" } else { "MISSED" });
        ok &= pass;
    };
    check(
        "unchanged re-sync costs 0 counted GitHub requests",
        resync_counted == 0,
    );
    check(
        "unchanged re-sync and a first pass without deliveries cost 0 Pipedrive requests",
        resync_pipedrive == 0 && first_pipedrive == 0,
    );
    check(
        "a delivering pass costs at most 3 Pipedrive requests per person, plus 1 (the users)",
        deliver_pipedrive <= 3 * users as u64 + 1,
    );
    check(
        "first pass at least 3x under the serial bound",
        ratio(wall) >= 3.0,
    );
    if !ok {
        std::process::exit(1);
    }
}
