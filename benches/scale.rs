//! `make bench` (scale): the real binary against the fakes with a simulated round trip, each
//! figure next to its bound measured in the same run.
//!
//! * Bulk import: 1,000 users at 20 ms, against the serial bound of two requests per user.
//!   Target: at least 3x under it.
//! * An unchanged pass over 20,000 and 100,000 people at 40 ms with `--concurrency 32`,
//!   against the bound people x round trip / concurrency. Targets: within 1.3x of it, no
//!   counted GitHub request, under 48 MiB resident.
//! * Three processes sharing a pass over 50,000 people on MySQL at 50 ms, against one.
//!   Targets: no gist list asked twice, and the three take under half the time of one.
//!
//! `BENCH_SCALE` (default 1.0) scales every count down for a quick look.

#[path = "../tests/support/fake.rs"]
mod fake;
mod support;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use support::{env_or, measure, mib, BenchDb, Measured, Targets};

const CONCURRENCY: usize = 32;

fn scaled(n: usize) -> usize {
    ((n as f64 * env_or("BENCH_SCALE", 1.0)) as usize).max(10)
}

/// The binary with a clean environment, on `db`, against `apis`.
fn gisttrack(db: &BenchDb, apis: &fake::FakeApis, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gisttrack"));
    command
        .env_clear()
        .env("HOME", std::env::temp_dir())
        .env("DATABASE_URL", &db.url)
        .env("GITHUB_API_URL", &apis.github_url)
        .env("GITHUB_TOKEN", fake::GITHUB_TOKEN)
        .env("PIPEDRIVE_API_URL", &apis.pipedrive_url)
        .env("PIPEDRIVE_TOKEN", fake::PIPEDRIVE_TOKEN)
        .env("RUST_LOG", "warn")
        .args(args);
    command
}

fn fakes(latency: Duration) -> fake::FakeApis {
    let apis = fake::FakeApis::start();
    let mut state = apis.lock();
    state.pipedrive.burst_limit = usize::MAX / 2;
    state.github.hourly_limit = i64::MAX / 2;
    state.github.latency = latency;
    state.pipedrive.latency = latency;
    drop(state);
    apis
}

fn set_latency(apis: &fake::FakeApis, latency: Duration) {
    let mut state = apis.lock();
    state.github.latency = latency;
    state.pipedrive.latency = latency;
}

fn json_of(run: &Measured) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}\n{}", run.stdout, run.stderr))
}

fn must_succeed(run: &Measured, what: &str) {
    assert!(
        run.success,
        "{what} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
}

fn bulk_import(targets: &mut Targets) {
    let users = scaled(1_000);
    let latency = Duration::from_millis(20);
    let apis = fakes(latency);
    let logins: Vec<String> = (0..users).map(|n| format!("import{n:05}")).collect();
    for login in &logins {
        apis.add_user(login, 0);
        // Without a public e-mail an add is two requests: the GitHub user, the new person.
        apis.hide_email(login);
    }
    let db = BenchDb::sqlite();
    drop(db.store());
    let list = std::env::temp_dir().join(format!("gisttrack-import-{}.txt", std::process::id()));
    std::fs::write(&list, logins.join("\n")).unwrap();
    let list_arg = list.display().to_string();
    let run = measure(gisttrack(
        &db,
        &apis,
        &["-o", "json", "add", "--from-file", &list_arg],
    ));
    must_succeed(&run, "the bulk import");
    let report = json_of(&run);
    assert_eq!(report["added"].as_array().map(Vec::len), Some(users));
    let serial_bound = latency * 2 * users as u32;
    let under = serial_bound.as_secs_f64() / run.wall.as_secs_f64();

    // With public e-mails every add first searches Pipedrive, whose search API allows 10
    // requests per 2 s on every plan: that, not the concurrency, sets the pace.
    let with_email = scaled(40);
    let emails: Vec<String> = (0..with_email).map(|n| format!("mailed{n:04}")).collect();
    for login in &emails {
        apis.add_user(login, 0);
    }
    std::fs::write(&list, emails.join("\n")).unwrap();
    let mailed = measure(gisttrack(
        &db,
        &apis,
        &["-o", "json", "add", "--from-file", &list_arg],
    ));
    must_succeed(&mailed, "the bulk import with e-mails");
    let _ = std::fs::remove_file(&list);

    println!("\nbulk import (add --from-file, default --concurrency 4), {latency:?} per answer");
    println!(
        "  {users} users without a public e-mail: {:.2?}, serial bound {serial_bound:?} (2 requests each): {under:.1}x under it",
        run.wall
    );
    println!(
        "  {with_email} users with a public e-mail: {:.2?} ({:.1} users/s; Pipedrive's search limit allows 5/s)",
        mailed.wall,
        with_email as f64 / mailed.wall.as_secs_f64()
    );
    targets.check(
        "bulk import at least 3x under the serial bound",
        under >= 3.0,
    );
}

/// One unchanged pass over `people` tracked users: (wall, bound, peak RSS KiB, counted).
fn unchanged_pass(
    db: &BenchDb,
    people: usize,
    latency: Duration,
    prefix: &str,
) -> (Measured, Duration, u64) {
    let apis = fakes(Duration::ZERO);
    for n in 0..people {
        apis.add_user(&format!("{prefix}{n:06}"), 0);
    }
    support::seed_people(&db.store(), prefix, people, 0);
    let concurrency = CONCURRENCY.to_string();
    // The first pass lists everyone once and keeps their ETags.
    let first = measure(gisttrack(
        db,
        &apis,
        &["sync", "--concurrency", &concurrency],
    ));
    must_succeed(&first, "the first pass");
    set_latency(&apis, latency);
    let counted = apis.github_counted();
    let run = measure(gisttrack(
        db,
        &apis,
        &["-o", "json", "sync", "--concurrency", &concurrency],
    ));
    must_succeed(&run, "the unchanged pass");
    let report = json_of(&run);
    assert_eq!(
        report["users_unchanged"].as_u64(),
        Some(people as u64),
        "{report}"
    );
    let bound = latency * people as u32 / CONCURRENCY as u32;
    (run, bound, apis.github_counted() - counted)
}

fn resync(targets: &mut Targets) {
    let latency = Duration::from_millis(40);
    println!("\nunchanged pass (every list a free 304), {latency:?} per answer, --concurrency {CONCURRENCY}, SQLite");
    println!(
        "  {:>8} {:>10} {:>10} {:>10} {:>12} {:>10}",
        "people", "wall", "bound", "x bound", "peak RSS", "counted"
    );
    let sizes: Vec<usize> = match std::env::var("BENCH_RESYNC_PEOPLE") {
        Ok(list) => list
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect(),
        Err(_) => vec![scaled(20_000), scaled(100_000)],
    };
    for people in sizes {
        let db = BenchDb::sqlite();
        let (run, bound, counted) = unchanged_pass(&db, people, latency, "scale");
        let ratio = run.wall.as_secs_f64() / bound.as_secs_f64();
        println!(
            "  {people:>8} {:>10.2?} {:>10.2?} {ratio:>10.2} {:>9.1} MiB {counted:>10}",
            run.wall,
            bound,
            mib(run.peak_rss_kib)
        );
        targets.check(
            &format!("{people} people within 1.3x of the bound"),
            ratio <= 1.3,
        );
        targets.check(
            &format!("{people} people under 48 MiB"),
            (1..48 * 1024).contains(&run.peak_rss_kib),
        );
        targets.check(
            &format!("{people} people: no counted GitHub request"),
            counted == 0,
        );
    }
}

fn list_requests(apis: &fake::FakeApis) -> HashMap<String, u64> {
    apis.lock().github.list_requests.clone()
}

fn replicas(targets: &mut Targets) {
    let Some(db) = BenchDb::mysql() else {
        return;
    };
    let people = scaled(50_000);
    let latency = Duration::from_millis(50);
    let apis = fakes(Duration::ZERO);
    for n in 0..people {
        apis.add_user(&format!("share{n:06}"), 0);
    }
    support::seed_people(&db.store(), "share", people, 0);
    let concurrency = CONCURRENCY.to_string();
    let sync = ["-o", "json", "sync", "--concurrency", concurrency.as_str()];
    must_succeed(&measure(gisttrack(&db, &apis, &sync)), "the first pass");
    set_latency(&apis, latency);

    let before = list_requests(&apis);
    let one = measure(gisttrack(&db, &apis, &sync));
    must_succeed(&one, "one process");
    let after_one = list_requests(&apis);

    let runs: Vec<Measured> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| measure(gisttrack(&db, &apis, &sync))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let after_three = list_requests(&apis);
    for run in &runs {
        must_succeed(run, "one of three processes");
    }
    let three = runs.iter().map(|r| r.wall).max().unwrap();
    let delta = |from: &HashMap<String, u64>, to: &HashMap<String, u64>| {
        let mut total = 0;
        let mut twice = 0;
        for (login, n) in to {
            let d = n - from.get(login).copied().unwrap_or(0);
            total += d;
            twice += (d > 1) as u64;
        }
        (total, twice)
    };
    let (one_lists, _) = delta(&before, &after_one);
    let (three_lists, twice) = delta(&after_one, &after_three);
    let shares: Vec<u64> = runs
        .iter()
        .map(|r| json_of(r)["users_checked"].as_u64().unwrap_or(0))
        .collect();
    let ratio = three.as_secs_f64() / one.wall.as_secs_f64();
    println!("\nreplicas on MySQL: {people} people, {latency:?} per answer, --concurrency {CONCURRENCY} each");
    println!(
        "  one process:    {:>8.2?}, {one_lists} gist lists",
        one.wall
    );
    println!(
        "  three processes: {three:>8.2?}, {three_lists} gist lists ({twice} asked twice), shares {shares:?}: {ratio:.2}x the time of one"
    );
    targets.check(
        "replicas: no gist list asked twice",
        twice == 0 && three_lists == people as u64,
    );
    targets.check(
        "replicas: three processes take under half the time of one",
        ratio < 0.5,
    );
}

fn main() {
    // BENCH_ONLY=import|resync|replicas runs one part.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |part: &str| only.is_empty() || only == part;
    let mut targets = Targets::default();
    if wanted("import") {
        bulk_import(&mut targets);
    }
    if wanted("resync") {
        resync(&mut targets);
    }
    if wanted("replicas") {
        replicas(&mut targets);
    }
    targets.finish();
}
