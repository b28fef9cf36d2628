//! Adds and deletes of one GitHub account racing each other through the real server, on each
//! backend: whatever their interleaving, Pipedrive gets at most one person per account, every
//! gist becomes one activity, and no answer is a 5xx other than 502 or 503.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::server::Server;
use support::{assert_each_gist_once, backends, roomy_fake, sync_report, FakeApis};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Statuses seen, by code.
type Tally = Arc<Mutex<BTreeMap<u16, u32>>>;

fn add(url: &str, login: &str, tally: &Tally) {
    let status = agent()
        .post(format!("{url}/api/v1/people"))
        .send_form([("username", login)])
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    *tally.lock().unwrap().entry(status).or_default() += 1;
}

fn delete(url: &str, login: &str, tally: &Tally) {
    let status = agent()
        .delete(format!("{url}/api/v1/people/{login}"))
        .call()
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    *tally.lock().unwrap().entry(status).or_default() += 1;
}

/// Live Pipedrive persons per name.
fn persons_by_name(fake: &FakeApis) -> BTreeMap<String, usize> {
    let mut by_name = BTreeMap::new();
    for person in fake.live_persons() {
        *by_name.entry(person.name).or_default() += 1;
    }
    by_name
}

fn assert_no_server_errors(tally: &Tally, backend: &str) {
    let tally = tally.lock().unwrap();
    let bad: Vec<_> = tally
        .iter()
        .filter(|(status, _)| **status == 0 || (**status >= 500 && !matches!(**status, 502 | 503)))
        .collect();
    assert!(bad.is_empty(), "[{backend}] answers {tally:?}");
}

#[test]
fn adds_of_one_user_at_once_make_one_pipedrive_person() {
    const USERS: usize = 12;
    const AT_ONCE: usize = 8;
    for db in backends() {
        let fake = roomy_fake();
        let logins = fake.add_users("quiet", USERS, 2);
        for login in &logins {
            // No public e-mail: nothing to find the person by but gisttrack's own record.
            fake.hide_email(login);
        }
        let server = Server::start(&db, &fake, &["--no-sync"], &[]);
        let tally: Tally = Arc::default();
        for login in &logins {
            std::thread::scope(|scope| {
                for _ in 0..AT_ONCE {
                    scope.spawn(|| add(&server.url, login, &tally));
                }
            });
        }
        eprintln!(
            "[{}] concurrent add answers: {:?}",
            db.backend,
            tally.lock().unwrap()
        );
        let persons = persons_by_name(&fake);
        for login in &logins {
            let name = format!("{login} Example");
            assert_eq!(
                persons.get(&name).copied().unwrap_or(0),
                1,
                "[{}] {login}: one Pipedrive person ({:?}) {:?}",
                db.backend,
                tally.lock().unwrap(),
                persons
            );
        }
        assert_no_server_errors(&tally, db.backend);
        let created = tally.lock().unwrap().get(&201).copied().unwrap_or(0);
        assert_eq!(
            created as usize, USERS,
            "[{}] one add of each won",
            db.backend
        );
    }
}

/// A knob for a longer soak by hand: `GISTTRACK_STORM_SECS=30 GISTTRACK_STORM_USERS=5
/// GISTTRACK_STORM_WORKERS=20 cargo test --test races storm -- --nocapture`.
fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn a_storm_of_adds_and_deletes_leaves_one_person_and_one_activity_per_gist() {
    let seconds = knob("GISTTRACK_STORM_SECS", 6);
    let users = knob("GISTTRACK_STORM_USERS", 1) as usize;
    let workers = knob("GISTTRACK_STORM_WORKERS", 6) as usize;
    for db in backends() {
        let fake = roomy_fake();
        let logins = fake.add_users("stormy", users, 4);
        for login in &logins {
            fake.hide_email(login);
        }
        let server = Server::start(&db, &fake, &["--no-sync"], &[]);
        let tally: Tally = Arc::default();
        let stop = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_secs(seconds);
        std::thread::scope(|scope| {
            for worker in 0..workers {
                let (url, tally, stop, logins) = (&server.url, &tally, &stop, &logins);
                scope.spawn(move || {
                    let mut round = worker;
                    while !stop.load(Ordering::SeqCst) {
                        let login = &logins[round % logins.len()];
                        if worker % 2 == 0 {
                            add(url, login, tally);
                        } else {
                            delete(url, login, tally);
                        }
                        round += 1;
                    }
                });
            }
            while Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            stop.store(true, Ordering::SeqCst);
        });
        eprintln!(
            "[{}] storm answers: {:?}",
            db.backend,
            tally.lock().unwrap()
        );
        assert_no_server_errors(&tally, db.backend);
        let persons = persons_by_name(&fake);
        for login in &logins {
            assert_eq!(
                persons
                    .get(&format!("{login} Example"))
                    .copied()
                    .unwrap_or(0),
                1,
                "[{}] {login}: one person after the storm ({:?})",
                db.backend,
                tally.lock().unwrap()
            );
            // Tracked again (whoever won last), then synced: each gist once, on that person.
            add(&server.url, login, &tally);
        }
        drop(server);
        let (ok, report, stderr) = sync_report(&db, &fake, &[]);
        assert!(ok, "[{}] {report} {stderr}", db.backend);
        for login in &logins {
            assert_each_gist_once(&fake, login);
        }
        assert_eq!(fake.live_persons().len(), users, "[{}]", db.backend);
    }
}

#[test]
fn an_add_killed_mid_creation_is_taken_over_and_never_makes_a_second_person() {
    use support::fake::{PipedriveFault, PipedriveRoute};
    let short = [
        ("GISTTRACK_HTTP_TIMEOUT", "2s"),
        ("GISTTRACK_IN_FLIGHT_BOUND", "6s"),
    ];
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("killed", 2);
        fake.hide_email("killed");
        // Written at once, answered after a long while: the add is killed before it hears.
        fake.lock().pipedrive.faults.push_back((
            PipedriveRoute::CreatePerson,
            PipedriveFault::SlowAfterWrite(Duration::from_secs(30)),
        ));
        let mut first = support::command(&db, Some(&fake))
            .envs(short)
            .args(["add", "killed"])
            .spawn()
            .unwrap();
        support::server::wait_until("the person to be written", || {
            !fake.live_persons().is_empty()
        });
        first.kill().unwrap();
        first.wait().unwrap();

        // At once: the dead add's claim is taken over, and its creation may still land.
        let out = support::command(&db, Some(&fake))
            .envs(short)
            .args(["add", "killed"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("(an earlier request got no answer)"),
            "[{}] {stderr}",
            db.backend
        );

        // Found again once the bound has passed, one person ever: `sync::tests`, in-process.
    }
}

/// A lock another process holds for longer than statements wait (`--lock-wait`): the write
/// that meets it is answered 503 with `Retry-After` (the CLI: exit 69), changes nothing, and
/// goes through once the lock is gone.
#[test]
fn a_lock_held_past_the_wait_is_a_503_that_changes_nothing() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, MysqlConnection, SqliteConnection};
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("locky", 1);
        support::ok(&db, Some(&fake), &["add", "locky"]);
        let short_wait = [("GISTTRACK_LOCK_WAIT", "1s")];
        let server = Server::start(&db, &fake, &["--no-sync"], &short_wait);
        // Held as another program would hold it: the whole file, or the person's row.
        let holder: Box<dyn std::any::Any> = match db.sqlite_path() {
            Some(path) => {
                let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
                conn.batch_execute("BEGIN IMMEDIATE").unwrap();
                Box::new(conn)
            }
            None => {
                let mut conn = MysqlConnection::establish(&db.url).unwrap();
                conn.batch_execute(
                    "BEGIN; SELECT id FROM people WHERE github_login_key = 'locky' FOR UPDATE",
                )
                .unwrap();
                Box::new(conn)
            }
        };
        let answer = agent()
            .delete(format!("{}/api/v1/people/locky", server.url))
            .call()
            .unwrap();
        assert_eq!(answer.status().as_u16(), 503, "[{}]", db.backend);
        assert!(
            answer.headers().contains_key("retry-after"),
            "[{}] says when to try again",
            db.backend
        );
        let body: serde_json::Value = answer.into_body().read_json().unwrap();
        assert_eq!(body["code"], "database_busy", "[{}] {body}", db.backend);

        let mut cli = support::command(&db, None);
        let out = cli
            .env("GISTTRACK_LOCK_WAIT", "1s")
            .args(["delete", "locky"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(69), "[{}]", db.backend);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("gisttrack: the database is busy"),
            "[{}] {stderr}",
            db.backend
        );

        drop(holder);
        let people = support::json(&db, None, &["list"]);
        assert_eq!(
            people.as_array().map(Vec::len),
            Some(1),
            "[{}] still tracked",
            db.backend
        );
        let answer = agent()
            .delete(format!("{}/api/v1/people/locky", server.url))
            .call()
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "[{}]", db.backend);
    }
}
