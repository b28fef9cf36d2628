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

#[test]
fn a_storm_of_adds_and_deletes_leaves_one_person_and_one_activity_per_gist() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("stormy", 4);
        fake.hide_email("stormy");
        let server = Server::start(&db, &fake, &["--no-sync"], &[]);
        let tally: Tally = Arc::default();
        let stop = AtomicBool::new(false);
        // GISTTRACK_STORM_SECS makes it longer, for a soak by hand.
        let seconds = std::env::var("GISTTRACK_STORM_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(6);
        let deadline = Instant::now() + Duration::from_secs(seconds);
        std::thread::scope(|scope| {
            for worker in 0..6 {
                let (url, tally, stop) = (&server.url, &tally, &stop);
                scope.spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if worker % 2 == 0 {
                            add(url, "stormy", tally);
                        } else {
                            delete(url, "stormy", tally);
                        }
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
        assert_eq!(
            persons.get("stormy Example").copied().unwrap_or(0),
            1,
            "[{}] one person after the storm ({:?}) persons {:?}",
            db.backend,
            tally.lock().unwrap(),
            persons
        );
        // Tracked again (whoever won last), then synced: each gist once, on that person.
        add(&server.url, "stormy", &tally);
        drop(server);
        let (ok, report, stderr) = sync_report(&db, &fake, &[]);
        assert!(ok, "[{}] {report} {stderr}", db.backend);
        assert_each_gist_once(&fake, "stormy");
        assert_eq!(fake.live_persons().len(), 1, "[{}]", db.backend);
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
