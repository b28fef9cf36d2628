//! `make bench` (serve): read throughput and latency of the real `gisttrack serve` with 10,000
//! tracked people, driven from this second process over loopback, next to the same server's
//! trivial `/healthz` route measured in the same run (the ceiling), and its resident memory.
//!
//! Targets: reads reach at least 50% of the ceiling, p99 under 5 ms, under 30 MiB resident.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gisttrack::clients::{RemoteFile, RemoteGist};
use gisttrack::config::DatabaseTarget;
use gisttrack::db::{people, Store};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed(store: &Store, count: usize) {
    let now = gisttrack::time::now_ms();
    store
        .transaction(|conn| {
            for n in 0..count {
                let login = format!("dev{n:05}");
                let key = login.clone();
                let person = people::insert(
                    conn,
                    &people::NewPerson {
                        github_login: &login,
                        github_login_key: &key,
                        github_id: Some(gisttrack::ids::GithubUserId(n as i64 + 1)),
                        name: Some("Bench Person"),
                        email: None,
                        pipedrive_person_id: Some(gisttrack::ids::PipedrivePersonId(n as i64 + 1)),
                        backfill: true,
                        added_at: now - 86_400_000,
                        pipedrive_history_read: true,
                    },
                )?;
                let listed: Vec<RemoteGist> = (0..2)
                    .map(|g| RemoteGist {
                        id: format!("{n:05}g{g}"),
                        description: Some(format!("gist {g} of {login}")),
                        html_url: format!("https://gist.github.com/{login}/{n:05}g{g}"),
                        pull_url: format!("https://gist.github.com/{n:05}g{g}.git"),
                        created_at: now - 3_600_000,
                        updated_at: now - 3_600_000,
                        files: vec![RemoteFile {
                            name: "main.rs".into(),
                            raw_url: format!(
                                "https://gist.githubusercontent.com/{login}/{n:05}g{g}/raw/main.rs"
                            ),
                            language: Some("Rust".into()),
                            size: 100,
                        }],
                    })
                    .collect();
                gisttrack::sync::record_listing(conn, &person, &listed, now - 60_000)?;
            }
            Ok(())
        })
        .unwrap();
}

struct Load {
    /// Server CPU time per request.
    server_cpu: Duration,
    requests: usize,
    seconds: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
}

impl Load {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// Keep-alive clients hammering `path_for(i)` for `duration`.
fn load(
    base: &str,
    server: u32,
    clients: usize,
    duration: Duration,
    path_for: Arc<dyn Fn(usize) -> String + Send + Sync>,
) -> Load {
    let cpu_before = cpu_time(server);
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let base = base.to_string();
            let path_for = path_for.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                let mut latencies = Vec::with_capacity(100_000);
                let mut errors = 0;
                let mut i = c * 7919;
                while started.elapsed() < duration {
                    let url = format!("{base}{}", path_for(i));
                    i += 1;
                    let t = Instant::now();
                    match agent.get(&url).call() {
                        Ok(mut response) => {
                            let ok = response.status().as_u16() == 200;
                            let _ = response.body_mut().read_to_vec();
                            if !ok {
                                errors += 1;
                            }
                        }
                        Err(_) => errors += 1,
                    }
                    latencies.push(t.elapsed());
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for handle in handles {
        let (latencies, e) = handle.join().unwrap();
        all.extend(latencies);
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Load {
        server_cpu: (cpu_time(server) - cpu_before) / all.len().max(1) as u32,
        requests: all.len(),
        seconds,
        p50: at(0.50),
        p99: at(0.99),
        errors,
    }
}

/// CPU time the process has used (user + system), from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// The round with the median throughput.
fn median(mut rounds: Vec<Load>) -> Load {
    rounds.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let middle = rounds.len() / 2;
    rounds.swap_remove(middle)
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let people_count: usize = env_or("BENCH_PEOPLE", 10_000);
    let seconds: u64 = env_or("BENCH_SECONDS", 3);
    let clients: usize = env_or("BENCH_CLIENTS", 4);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve-bench.db");
    let store = Store::open(&DatabaseTarget::Sqlite(db.clone())).unwrap();
    let seeding = Instant::now();
    seed(&store, people_count);
    drop(store);
    println!(
        "serve benchmark: {people_count} people seeded in {:.1?}",
        seeding.elapsed()
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_gisttrack"))
        .env_clear()
        .env("HOME", dir.path())
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .args([
            "serve",
            "--no-sync",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while ureq::get(format!("{base}/readyz")).call().is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let duration = Duration::from_secs(seconds);
    let pid = server.id();
    let count = people_count;
    let healthz: Arc<dyn Fn(usize) -> String + Send + Sync> = Arc::new(|_| "/healthz".to_string());
    let peek: Arc<dyn Fn(usize) -> String + Send + Sync> =
        Arc::new(move |i| format!("/api/v1/people/dev{:05}?peek=true", (i * 7) % count));
    let first_page: Arc<dyn Fn(usize) -> String + Send + Sync> =
        Arc::new(|_| "/api/v1/people?per_page=100".to_string());
    let pages = count.div_ceil(100);
    let any_page: Arc<dyn Fn(usize) -> String + Send + Sync> =
        Arc::new(move |i| format!("/api/v1/people?per_page=100&page={}", i % pages + 1));

    // Warm the caches and the connection pool first.
    load(&base, pid, clients, Duration::from_secs(1), peek.clone());
    // Routes take turns over several rounds so that drift in a shared machine's load hits
    // them alike; each figure is the median round.
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    let mut runs: [Vec<Load>; 4] = Default::default();
    for _ in 0..rounds {
        for (slot, route) in [&healthz, &peek, &first_page, &any_page]
            .into_iter()
            .enumerate()
        {
            runs[slot].push(load(&base, pid, clients, duration, route.clone()));
        }
    }
    let [ceiling, person, list, deep] = runs.map(median);
    let rss = rss_kib(server.id(), "VmRSS:");
    let peak = rss_kib(server.id(), "VmHWM:");
    let _ = server.kill();
    let _ = server.wait();

    println!(
        "{clients} keep-alive clients, {seconds}s per route per round, median of {rounds} rounds\n"
    );
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>12} {:>12} {:>7}",
        "route", "req/s", "p50", "p99", "of ceiling", "server CPU", "errors"
    );
    for (name, l) in [
        ("GET /healthz (trivial warp route: ceiling)", &ceiling),
        ("GET /api/v1/people/{username}?peek=true", &person),
        ("GET /api/v1/people?per_page=100", &list),
        ("  same, random page 1..100 (OFFSET grows)", &deep),
    ] {
        println!(
            "{:<44} {:>10.0} {:>10.2?} {:>10.2?} {:>11.0}% {:>10.0?}/req {:>3}",
            name,
            l.rate(),
            l.p50,
            l.p99,
            100.0 * l.rate() / ceiling.rate(),
            l.server_cpu,
            l.errors
        );
    }
    println!(
        "\nserve resident memory with {people_count} people: {:.1} MiB now, {:.1} MiB peak",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );

    let mut ok = true;
    let mut check = |name: &str, pass: bool| {
        println!("target {name}: {}", if pass { "met" } else { "MISSED" });
        ok &= pass;
    };
    check(
        "person read >= 50% of the ceiling",
        person.rate() >= 0.5 * ceiling.rate(),
    );
    check(
        "people page read >= 50% of the ceiling",
        list.rate() >= 0.5 * ceiling.rate(),
    );
    check(
        "person read p99 < 5 ms",
        person.p99 < Duration::from_millis(5),
    );
    check(
        "people page read p99 < 5 ms",
        list.p99 < Duration::from_millis(5),
    );
    check(
        "no errors",
        person.errors + list.errors + deep.errors + ceiling.errors == 0,
    );
    check("resident memory < 30 MiB", peak < 30 * 1024);
    if !ok {
        std::process::exit(1);
    }
}
