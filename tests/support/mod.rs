//! Test support: a fresh database per test on each backend, the fake APIs, and the real
//! `gisttrack` binary driven as a user runs it.

#![allow(dead_code)]

pub mod browser;
pub mod fake;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::{Connection, MysqlConnection, RunQueryDsl};

pub use fake::{FakeApis, GITHUB_TOKEN, PIPEDRIVE_TOKEN};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A database of its own for one test, dropped afterwards.
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    pub home: tempfile::TempDir,
    mysql: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let home = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", home.path().join("gisttrack.db").display());
        TestDb {
            url,
            backend: "sqlite",
            home,
            mysql: None,
        }
    }

    /// A new MySQL database when `GISTTRACK_TEST_MYSQL_URL` is set. When it is set but the
    /// server cannot be reached the test fails: CI must never skip the MySQL suite silently.
    pub fn mysql() -> Option<TestDb> {
        let server = std::env::var("GISTTRACK_TEST_MYSQL_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let server = server.trim_end_matches('/').to_string();
        let name = format!(
            "gisttrack_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            fastrand::u32(..)
        );
        let mut admin = MysqlConnection::establish(&server).unwrap_or_else(|e| {
            panic!("GISTTRACK_TEST_MYSQL_URL={server} is set but unreachable: {e}")
        });
        diesel::sql_query(format!("CREATE DATABASE `{name}`"))
            .execute(&mut admin)
            .unwrap();
        Some(TestDb {
            url: format!("{server}/{name}"),
            backend: "mysql",
            home: tempfile::tempdir().unwrap(),
            mysql: Some((server, name)),
        })
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.url.strip_prefix("sqlite://").map(PathBuf::from)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.mysql {
            if std::env::var_os("GISTTRACK_TEST_KEEP_DB").is_none() {
                if let Ok(mut admin) = MysqlConnection::establish(server) {
                    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS `{name}`"))
                        .execute(&mut admin);
                }
            }
        }
    }
}

/// SQLite always, MySQL too when configured.
pub fn backends() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::mysql());
    dbs
}

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gisttrack"))
}

/// The binary with a clean environment: the test's database, a private HOME, and the fakes.
pub fn command(db: &TestDb, fake: Option<&FakeApis>) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", db.home.path())
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .env("GISTTRACK_HTTP_TIMEOUT", "2s")
        .stdin(Stdio::null());
    if let Some(fake) = fake {
        cmd.env("GITHUB_API_URL", &fake.github_url)
            .env("GITHUB_TOKEN", GITHUB_TOKEN)
            .env("PIPEDRIVE_API_URL", &fake.pipedrive_url)
            .env("PIPEDRIVE_TOKEN", PIPEDRIVE_TOKEN);
    }
    cmd
}

/// Runs the binary to completion.
pub fn run(db: &TestDb, fake: Option<&FakeApis>, args: &[&str]) -> Output {
    command(db, fake)
        .args(args)
        .output()
        .expect("run gisttrack")
}

/// Runs the binary and asserts it succeeded; returns stdout.
pub fn ok(db: &TestDb, fake: Option<&FakeApis>, args: &[&str]) -> String {
    let out = run(db, fake, args);
    assert_success(&out, &format!("[{}] gisttrack {args:?}", db.backend));
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts a finished `gisttrack` process succeeded; on failure shows what it printed.
pub fn assert_success(out: &std::process::Output, context: &str) {
    assert!(
        out.status.success(),
        "{context} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the binary, asserts it failed, returns stderr.
pub fn fails(db: &TestDb, fake: Option<&FakeApis>, args: &[&str]) -> String {
    let out = run(db, fake, args);
    assert!(
        !out.status.success(),
        "[{}] gisttrack {args:?} should have failed:\nstdout: {}",
        db.backend,
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// Parses `-o json` output.
pub fn json(db: &TestDb, fake: Option<&FakeApis>, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["-o", "json"];
    full.extend_from_slice(args);
    let stdout = ok(db, fake, &full);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

pub fn spawn(db: &TestDb, fake: Option<&FakeApis>, args: &[&str]) -> Child {
    command(db, fake)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gisttrack")
}

/// A fake with a burst limit high enough that only the rate-limit tests meet it.
pub fn roomy_fake() -> FakeApis {
    let fake = FakeApis::start();
    fake.lock().pipedrive.burst_limit = 100_000;
    fake
}

/// `sync -o json` with extra environment, whatever its exit code: (success, report, stderr).
pub fn sync_report_with(
    db: &TestDb,
    fake: &FakeApis,
    env: &[(&str, &str)],
    args: &[&str],
) -> (bool, serde_json::Value, String) {
    let mut full = vec!["-o", "json", "sync"];
    full.extend_from_slice(args);
    let mut cmd = command(db, Some(fake));
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.args(&full).output().expect("run gisttrack");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.success(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `sync -o json`, whatever its exit code: (success, report, stderr).
pub fn sync_report(
    db: &TestDb,
    fake: &FakeApis,
    args: &[&str],
) -> (bool, serde_json::Value, String) {
    sync_report_with(db, fake, &[], args)
}

/// Every gist of `login` has exactly one activity in the fake Pipedrive.
pub fn assert_each_gist_once(fake: &FakeApis, login: &str) {
    for id in fake.gist_ids(login) {
        assert_eq!(
            fake.activities_for_gist(&id),
            1,
            "gist {id} of {login} has exactly one activity"
        );
    }
}

/// Compares `current` with the committed `tests/snapshots/{name}`; `UPDATE_SNAPSHOTS=1`
/// rewrites it after an intended change.
pub fn assert_snapshot(name: &str, current: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, current).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "{name} changed: review it, then run UPDATE_SNAPSHOTS=1 cargo test to refresh {}\n--- committed\n{committed}\n--- now\n{current}",
        path.display()
    );
}

/// Replaces RFC 3339 times (JSON) and `YYYY-MM-DD HH:MM:SS UTC` times (tables) with a
/// placeholder of the same width, so output can be snapshotted.
pub fn mask_times(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let is_digit = |b: Option<&u8>| b.is_some_and(u8::is_ascii_digit);
    while i < bytes.len() {
        let date = (0..10).all(|k| match k {
            4 | 7 => bytes.get(i + k) == Some(&b'-'),
            _ => is_digit(bytes.get(i + k)),
        });
        if date && matches!(bytes.get(i + 10), Some(b'T') | Some(b' ')) {
            let mut end = i + 10;
            while end < bytes.len()
                && !matches!(bytes[end], b'"' | b'\n')
                && !(bytes[end] == b' ' && bytes.get(end + 1) == Some(&b' '))
            {
                if bytes[end] == b'Z' || text[end..].starts_with("UTC") {
                    end += if bytes[end] == b'Z' { 1 } else { 3 };
                    break;
                }
                end += 1;
            }
            out.push_str(&"T".repeat(end - i));
            i = end;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `n` users named `{prefix}{i}` on the fake GitHub (without gists) and tracked in the
/// database directly, as many `add`s would leave them (linked, history read): for tests
/// about passes over more people than `add` one by one would be quick to set up.
pub fn seed_tracked(db: &TestDb, fake: &FakeApis, prefix: &str, n: usize) -> Vec<String> {
    use gisttrack::db::people;
    use gisttrack::ids::{GithubUserId, PipedrivePersonId};
    let store =
        gisttrack::db::Store::open(&gisttrack::config::DatabaseTarget::parse(&db.url).unwrap())
            .unwrap();
    let logins: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let ids: Vec<i64> = logins.iter().map(|login| fake.add_user(login, 0)).collect();
    store
        .transaction(|conn| {
            for (login, id) in logins.iter().zip(&ids) {
                people::insert(
                    conn,
                    &people::NewPerson {
                        github_login: login,
                        github_login_key: login,
                        github_id: Some(GithubUserId(*id)),
                        name: None,
                        email: None,
                        pipedrive_person_id: Some(PipedrivePersonId(*id)),
                        backfill: true,
                        added_at: gisttrack::time::now_ms(),
                        activities_looked_at: Some(gisttrack::time::now_ms()),
                    },
                )?;
            }
            Ok(())
        })
        .unwrap();
    logins
}
