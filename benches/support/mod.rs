//! What the benchmarks share: databases seeded in bulk, a MySQL database of their own, the
//! real binary run and measured (wall time, peak resident memory), and target checks.

#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, MysqlConnection, RunQueryDsl};
use gisttrack::config::DatabaseTarget;
use gisttrack::db::Store;

pub fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A database for one benchmark run: a SQLite file in a temporary folder, or a MySQL
/// database created for the run and dropped after it.
pub struct BenchDb {
    pub url: String,
    pub backend: &'static str,
    _dir: tempfile::TempDir,
    mysql: Option<(String, String)>,
}

impl BenchDb {
    pub fn sqlite() -> BenchDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        BenchDb {
            url,
            backend: "SQLite",
            _dir: dir,
            mysql: None,
        }
    }

    /// On `GISTTRACK_BENCH_MYSQL_URL` (else `GISTTRACK_TEST_MYSQL_URL`, else the local
    /// MariaDB at 127.0.0.1:3306); `None`, said once, when no server answers.
    pub fn mysql() -> Option<BenchDb> {
        let server = std::env::var("GISTTRACK_BENCH_MYSQL_URL")
            .or_else(|_| std::env::var("GISTTRACK_TEST_MYSQL_URL"))
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
        let server = server.trim_end_matches('/').to_string();
        let Ok(mut admin) = MysqlConnection::establish(&server) else {
            println!("(no MySQL at {server}: the MySQL figures are left out)");
            return None;
        };
        let name = format!(
            "gisttrack_bench_{}_{}",
            std::process::id(),
            fastrand::u32(..)
        );
        diesel::sql_query(format!("CREATE DATABASE `{name}`"))
            .execute(&mut admin)
            .unwrap();
        Some(BenchDb {
            url: format!("{server}/{name}"),
            backend: "MySQL",
            _dir: tempfile::tempdir().unwrap(),
            mysql: Some((server, name)),
        })
    }

    pub fn target(&self) -> DatabaseTarget {
        DatabaseTarget::parse(&self.url).unwrap()
    }

    pub fn store(&self) -> Store {
        Store::open(&self.target()).unwrap()
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.mysql {
            if let Ok(mut admin) = MysqlConnection::establish(server) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS `{name}`"))
                    .execute(&mut admin);
            }
        }
    }
}

/// Tracks `count` people named `{prefix}{n:06}` (linked, history read, never visited: every
/// gist is new), each with `gists` delivered gists of one file, in multi-row statements: 100,000 people take
/// seconds, not the minutes `add` would.
pub fn seed_people(store: &Store, prefix: &str, count: usize, gists: usize) {
    const ROWS: usize = 1_000;
    let now = gisttrack::time::now_ms();
    let quote = |text: &str| format!("'{}'", text.replace('\'', "''"));
    for start in (0..count).step_by(ROWS) {
        let range = start..(start + ROWS).min(count);
        let mut people = Vec::new();
        let mut gist_rows = Vec::new();
        let mut files = Vec::new();
        for n in range {
            let login = format!("{prefix}{n:06}");
            let id = n as i64 + 1;
            people.push(format!(
                "({id}, {login}, {key}, {github_id}, 'Bench Person', NULL, {id}, 1, {added}, {added}, {gists})",
                login = quote(&login),
                key = quote(&login.to_lowercase()),
                github_id = 1000 + n,
                added = now - 86_400_000,
            ));
            for g in 0..gists {
                let gist_row = (n * gists + g) as i64 + 1;
                let gist_id = format!("{n:06}g{g}");
                gist_rows.push(format!(
                    "({gist_row}, {id}, {gist_id}, {description}, {html}, {pull}, {created}, {created}, {seen}, 'delivered', {activity}, 1)",
                    gist_id = quote(&gist_id),
                    description = quote(&format!("gist {g} of {login}")),
                    html = quote(&format!("https://gist.github.com/{login}/{gist_id}")),
                    pull = quote(&format!("https://gist.github.com/{gist_id}.git")),
                    created = now - 3_600_000,
                    seen = now - 60_000,
                    activity = gist_row,
                ));
                files.push(format!(
                    "({gist_row}, {gist_row}, 'main.rs', {raw}, 'Rust', 100)",
                    raw = quote(&format!(
                        "https://gist.githubusercontent.com/{login}/{gist_id}/raw/main.rs"
                    )),
                ));
            }
        }
        store
            .transaction(|conn| {
                diesel::sql_query(format!(
                    "INSERT INTO people (id, github_login, github_login_key, github_id, name, email, \
                     pipedrive_person_id, backfill, added_at, activities_looked_at, new_count) VALUES {}",
                    people.join(", ")
                ))
                .execute(conn)?;
                if !gist_rows.is_empty() {
                    diesel::sql_query(format!(
                        "INSERT INTO gists (id, person_id, github_gist_id, description, html_url, \
                         pull_url, github_created_at, github_updated_at, first_seen_at, \
                         delivery_state, activity_id, attempts) VALUES {}",
                        gist_rows.join(", ")
                    ))
                    .execute(conn)?;
                    diesel::sql_query(format!(
                        "INSERT INTO gist_files (id, gist_id, name, raw_url, language, size) VALUES {}",
                        files.join(", ")
                    ))
                    .execute(conn)?;
                }
                Ok(())
            })
            .unwrap();
    }
}

/// Marks the people after the first `from` (in row order) visited now, after their gists were
/// seen: none of their gists is new.
pub fn visit_last(store: &Store, from: usize) {
    let now = gisttrack::time::now_ms();
    let mut conn = store.conn().unwrap();
    diesel::sql_query(format!(
        "UPDATE people SET last_visited_at = {now}, new_count = 0 WHERE id > {from}"
    ))
    .execute(&mut **conn)
    .unwrap();
}

/// A finished run of the real binary.
pub struct Measured {
    pub wall: Duration,
    pub success: bool,
    /// Peak resident memory, KiB.
    pub peak_rss_kib: u64,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to the end and measures it: wall time, and its peak resident memory (the
/// child's own VmHWM, sampled every 5 ms).
pub fn measure(mut command: Command) -> Measured {
    let started = Instant::now();
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gisttrack");
    let pid = child.id() as libc::pid_t;
    let mut child = child;

    // Read the pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut out, &mut text).ok();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut err, &mut text).ok();
        text
    });
    // The kernel's own peak for the child (`ru_maxrss`) counts the memory of this process
    // too: the child starts as a copy of it before `exec`, and this process holds the fakes.
    // So the child's VmHWM (its peak since exec) is read from /proc until it exits.
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        std::thread::spawn(move || loop {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let Some(hwm) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            else {
                break; // a zombie has no memory left to report
            };
            peak.fetch_max(hwm, std::sync::atomic::Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        })
    };
    // SAFETY: an all-zero siginfo is a valid value for waitid to fill in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // Wait for the exit but leave the child unreaped, so its pid is not reused while the
    // sampler may still read /proc/{pid}.
    // SAFETY: `pid` is our own child; `info` is a valid pointer.
    let waited = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    assert_eq!(waited, 0, "waitid");
    let wall = started.elapsed();
    sampler.join().unwrap();
    let mut status: libc::c_int = 0;
    // SAFETY: `pid` is our own child, exited and not yet reaped.
    let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(reaped, pid, "waitpid");
    // Reaped; dropping `child` does not wait again.
    drop(child);
    Measured {
        wall,
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        peak_rss_kib: peak.load(std::sync::atomic::Ordering::Relaxed),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// The targets a benchmark checks, printed as it goes and summed up at the end.
#[derive(Default)]
pub struct Targets {
    missed: Vec<String>,
}

impl Targets {
    pub fn check(&mut self, name: &str, met: bool) {
        println!("target {name}: {}", if met { "met" } else { "MISSED" });
        if !met {
            self.missed.push(name.to_string());
        }
    }

    /// Exits non-zero when a target was missed.
    pub fn finish(self) {
        if !self.missed.is_empty() {
            println!("missed: {}", self.missed.join("; "));
            std::process::exit(1);
        }
    }
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
