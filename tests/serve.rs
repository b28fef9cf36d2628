//! `gisttrack serve` end to end: the real binary on loopback, the fake APIs, a real database.

mod support;

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::fake::{PipedriveFault, PipedriveRoute};
use support::server::{wait_until, Server};
use support::{assert_each_gist_once, backends, roomy_fake, TestDb};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn get(url: &str) -> (u16, Value) {
    let mut response = agent().get(url).call().unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn post_form(url: &str, body: &str) -> (u16, Value) {
    let mut response = agent()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn the_loop_syncs_and_visits_advance_across_several_visits() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("looper", 2);
        let server = Server::start(&db, &fake, &["--interval", "1s"], &[]);
        let (status, body) = post_form(&format!("{}/api/v1/people", server.url), "username=looper");
        assert_eq!(status, 201, "{body}");
        wait_until("the loop to deliver the first gists", || {
            fake.activity_count() == 2
        });

        let person = format!("{}/api/v1/people/looper", server.url);
        let (_, first) = get(&person);
        assert_eq!(first["gists"].as_array().unwrap().len(), 2);
        let (_, second) = get(&person);
        assert!(second["gists"].as_array().unwrap().is_empty());

        let new_id = fake.add_gist("looper");
        wait_until("the loop to pick up the new gist", || {
            fake.activities_for_gist(&new_id) == 1
        });
        let (_, third) = get(&person);
        assert_eq!(third["gists"].as_array().unwrap().len(), 1);
        assert_eq!(third["gists"][0]["id"], new_id.as_str());
        assert!(get(&person).1["gists"].as_array().unwrap().is_empty());
        assert_each_gist_once(&fake, "looper");

        let (_, runs) = get(&format!("{}/api/v1/sync/runs", server.url));
        assert!(
            runs.as_array().unwrap().len() >= 2,
            "the loop ran repeatedly: {runs}"
        );
        assert!(runs
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["trigger"] == "loop"));
        let log = server.log();
        assert!(
            log.contains("GET /api/v1/people/looper 200"),
            "one access-log line per request: {log}"
        );
        assert!(
            !log.contains(support::PIPEDRIVE_TOKEN) && !log.contains(support::GITHUB_TOKEN),
            "no token in logs"
        );
    }
}

const API_TOKEN: &str = "tok-0123456789abcdef";

/// `serve --no-sync` asking for [`API_TOKEN`], with `env` besides.
fn serve_with_token(db: &TestDb, fake: &support::FakeApis, env: &[(&str, &str)]) -> Server {
    let mut env = env.to_vec();
    env.push(("GISTTRACK_API_TOKEN", API_TOKEN));
    Server::start(db, fake, &["--no-sync"], &env)
}

#[test]
fn the_api_token_is_enforced_by_the_binary() {
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    // At trace, so that any crate logging request headers would show the token.
    let server = serve_with_token(&db, &fake, &[("RUST_LOG", "trace")]);
    assert_eq!(get(&format!("{}/api/v1/people", server.url)).0, 401);
    let mut response = agent()
        .get(format!("{}/api/v1/people", server.url))
        .header("authorization", &format!("Bearer {API_TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.body_mut().read_to_string().unwrap(), "[]");
    assert_eq!(get(&format!("{}/healthz", server.url)).0, 200);
    let log = server.log();
    assert!(log.contains("GET /api/v1/people 200"), "{log}");
    for secret in [
        API_TOKEN,
        "uthorization",
        support::PIPEDRIVE_TOKEN,
        support::GITHUB_TOKEN,
    ] {
        assert!(!log.contains(secret), "the log shows {secret}:\n{log}");
    }
}

#[test]
fn a_public_address_without_a_token_is_warned_about() {
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    let mut cmd = support::command(&db, Some(&fake));
    let out = cmd
        .env("RUST_LOG", "info")
        .env_remove("PIPEDRIVE_TOKEN")
        .args(["serve", "--listen", "0.0.0.0:0", "--interval", "1h"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server {
        child: out,
        url: String::new(),
        log: Arc::new(Mutex::new(Vec::new())),
    };
    let stderr = server.child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        // The readiness line, not the warning that also names the address.
        let done = line.contains("listening on http://");
        seen.push(line);
        if done {
            break;
        }
    }
    let text = seen.join("\n");
    assert!(text.contains("WITHOUT an API token"), "{text}");
    assert_eq!(
        text.matches("PIPEDRIVE_TOKEN is not set").count(),
        1,
        "said once: {text}"
    );
    let (status, _) = server.terminate();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "{status}: {}", rest.join("\n"));
}

#[test]
fn hostile_input_never_gives_a_5xx_nor_changes_data() {
    let fake = roomy_fake();
    fake.add_user("keeper", 1);
    let db = TestDb::sqlite();
    let server = Server::start(&db, &fake, &["--no-sync"], &[]);
    assert_eq!(
        post_form(&format!("{}/api/v1/people", server.url), "username=keeper").0,
        201
    );
    let before = get(&format!("{}/api/v1/people", server.url)).1;

    let long = "a".repeat(10_000);
    let paths = [
        format!("/api/v1/people/{long}"),
        "/api/v1/people/%F0%9F%92%A9".to_string(),
        "/api/v1/people/..%2F..%2Fetc%2Fpasswd".to_string(),
        "/api/v1/people/../../etc/passwd".to_string(),
        "/api/v1/people/keeper'%20OR%20'1'='1".to_string(),
        "/api/v1/people/keeper;DROP%20TABLE%20people".to_string(),
        "/api/v1/people?page=-1".to_string(),
        "/api/v1/people?per_page=99999999999999999999".to_string(),
        "/api/v1/people/nobody?all=%00&peek=%FF".to_string(),
        "/documentation/../../Cargo.toml".to_string(),
    ];
    for path in &paths {
        for method in ["GET", "DELETE", "POST", "PUT"] {
            let request = ureq::http::Request::builder()
                .method(method)
                .uri(format!("{}{path}", server.url))
                .body(())
                .unwrap();
            // A dropped connection (a crash) fails here, as a 5xx or a 2xx does below.
            let mut response = agent()
                .run(request)
                .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"));
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            assert!(
                (400..500).contains(&status),
                "{method} {path} gave {status}: {text}"
            );
            let error: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{method} {path}: not a JSON error: {text:?}"));
            assert!(error["code"].is_string(), "{method} {path}: {error}");
        }
    }
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", b"{\"username\": 42}".to_vec()),
        ("application/json", b"[[[[[[[[[[".to_vec()),
        (
            "application/json",
            format!("{{\"username\": \"{long}\"}}").into_bytes(),
        ),
        (
            "application/x-www-form-urlencoded",
            b"username=%ZZ".to_vec(),
        ),
        (
            "application/x-www-form-urlencoded",
            "username=k\u{e9}eper".as_bytes().to_vec(),
        ),
        (
            "application/x-www-form-urlencoded",
            b"username=x%27%3B%20DROP%20TABLE%20people%3B--".to_vec(),
        ),
        ("text/plain", vec![0xff, 0xfe, 0x00, 0x01]),
    ];
    for (content_type, body) in bodies {
        let mut response = agent()
            .post(format!("{}/api/v1/people", server.url))
            .header("content-type", content_type)
            .send(&body[..])
            .unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        assert!(
            (400..500).contains(&status),
            "{content_type} body gave {status}: {text}"
        );
        let error: Value = serde_json::from_str(&text).unwrap();
        assert!(error["code"].is_string());
    }
    assert_eq!(
        get(&format!("{}/api/v1/people", server.url)).1,
        before,
        "nothing changed"
    );
    assert_eq!(fake.lock().pipedrive.persons.len(), 1);
}

#[test]
fn the_cli_and_serve_share_one_sqlite_file() {
    let fake = roomy_fake();
    for n in 0..6 {
        fake.add_user(&format!("shared{n}"), 2);
    }
    let db = TestDb::sqlite();
    let server = Server::start(&db, &fake, &["--interval", "1s"], &[]);
    let handles: Vec<_> = (0..6)
        .map(|n| {
            let url = db.url.clone();
            let home = db.home.path().to_path_buf();
            let (gh, pd) = (fake.github_url.clone(), fake.pipedrive_url.clone());
            std::thread::spawn(move || {
                let run = |args: &[&str]| {
                    let out = std::process::Command::new(support::binary())
                        .env_clear()
                        .env("HOME", &home)
                        .env("DATABASE_URL", &url)
                        .env("GITHUB_API_URL", &gh)
                        .env("GITHUB_TOKEN", support::GITHUB_TOKEN)
                        .env("PIPEDRIVE_API_URL", &pd)
                        .env("PIPEDRIVE_TOKEN", support::PIPEDRIVE_TOKEN)
                        .args(args)
                        .output()
                        .unwrap();
                    support::assert_success(&out, &format!("{args:?}"));
                };
                let login = format!("shared{n}");
                run(&["add", &login]);
                run(&["sync", &login]);
                run(&["show", &login]);
                run(&["list"]);
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    wait_until("every gist delivered", || fake.activity_count() == 12);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(fake.activity_count(), 12, "nothing doubled by the loop");
    for n in 0..6 {
        assert_each_gist_once(&fake, &format!("shared{n}"));
    }
    assert_eq!(
        get(&format!("{}/api/v1/people", server.url))
            .1
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert!(
        !server.log().contains("database is locked"),
        "{}",
        server.log()
    );
}

#[test]
fn sigterm_during_a_pass_stops_cleanly_and_loses_nothing() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("busy", 6);
        support::ok(&db, Some(&fake), &["add", "busy"]);
        fake.lock().pipedrive.latency = Duration::from_millis(400);
        let mut server = Server::start(&db, &fake, &["--interval", "1h"], &[]);
        wait_until("the pass to start delivering", || {
            fake.lock().pipedrive.activity_posts >= 1
        });
        let (status, took) = server.terminate();
        assert!(status.success(), "exit code {status}: {}", server.log());
        assert!(took < Duration::from_secs(10), "stopped in {took:?}");
        assert!(fake.activity_count() < 6, "stopped mid-pass");
        let log = server.log();
        assert!(log.contains("stopped"), "{log}");

        let store =
            gisttrack::db::Store::open(&gisttrack::config::DatabaseTarget::parse(&db.url).unwrap())
                .unwrap();
        let person = gisttrack::db::people::find_by_login(
            &mut store.conn().unwrap(),
            &gisttrack::login::Login::parse("busy").unwrap(),
        )
        .unwrap()
        .unwrap();
        assert!(person.lease_owner.is_none(), "the lease was released");

        fake.lock().pipedrive.latency = Duration::ZERO;
        support::ok(&db, Some(&fake), &["sync"]);
        assert_eq!(fake.activity_count(), 6);
        assert_each_gist_once(&fake, "busy");
    }
}

#[test]
fn an_upstream_failure_during_add_leaves_nothing_behind() {
    let fake = roomy_fake();
    fake.add_user("fragile", 0);
    let db = TestDb::sqlite();
    let server = Server::start(&db, &fake, &["--no-sync"], &[]);
    fake.lock()
        .pipedrive
        .faults
        .push_back((PipedriveRoute::CreatePerson, PipedriveFault::BlockedHtml));
    let (status, body) = post_form(&format!("{}/api/v1/people", server.url), "username=fragile");
    assert_eq!(status, 502, "{body}");
    assert!(get(&format!("{}/api/v1/people", server.url))
        .1
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn serve_listens_on_a_host_name_and_logs_a_clients_garbage_below_error() {
    use std::io::{Read, Write};
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    let server = Server::start_at(&db, &fake, "localhost:0", &["--no-sync"], &[]);
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    assert_eq!(get(&format!("{}/healthz", server.url)).0, 200);
    let mut raw = std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"GARB\x01AGE / HTTP/1.1\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    // The server closes the connection after it has logged what it thought of it.
    let _ = raw.read_to_end(&mut answer);
    assert_eq!(
        get(&format!("{}/readyz", server.url)).0,
        200,
        "still serving"
    );
    // The access log of a request made after the garbage: the garbage's own line, if any,
    // is in the log by then.
    wait_until("the request after the garbage to be logged", || {
        server.log().contains("GET /readyz")
    });
    let log = server.log();
    assert!(
        !log.contains("ERROR"),
        "a client's garbage is not a server error:\n{log}"
    );
}

#[test]
fn a_corrupt_table_makes_readyz_fail_as_the_data_routes_do() {
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
    #[derive(QueryableByName)]
    struct Root {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        rootpage: i32,
    }
    #[derive(QueryableByName)]
    struct PageSize {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        page_size: i32,
    }
    let fake = roomy_fake();
    fake.add_user("broken", 2);
    let db = TestDb::sqlite();
    support::ok(&db, Some(&fake), &["add", "broken"]);
    support::ok(&db, Some(&fake), &["sync"]);
    let path = db.sqlite_path().unwrap();
    // The root pages of the gists table and of its indexes (a count reads only an index).
    let (roots, page_size) = {
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        let roots: Vec<Root> =
            diesel::sql_query("SELECT rootpage FROM sqlite_master WHERE tbl_name = 'gists'")
                .load(&mut conn)
                .unwrap();
        let size: PageSize = diesel::sql_query("PRAGMA page_size")
            .get_result(&mut conn)
            .unwrap();
        (roots, size.page_size as u64)
    };
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        for root in roots {
            file.seek(SeekFrom::Start((root.rootpage as u64 - 1) * page_size))
                .unwrap();
            file.write_all(&vec![0xEE; page_size as usize]).unwrap();
        }
    }
    let server = Server::start(&db, &fake, &["--no-sync"], &[]);
    let (status, body) = get(&format!("{}/api/v1/people", server.url));
    assert_eq!(status, 503, "the data cannot be read: {body}");
    let (status, body) = get(&format!("{}/readyz", server.url));
    assert_eq!(status, 503, "readiness says so too: {body}");
    assert_eq!(get(&format!("{}/healthz", server.url)).0, 200);
}

#[test]
fn writes_to_a_database_file_deleted_under_serve_are_refused_not_lost() {
    let fake = roomy_fake();
    fake.add_user("first", 0);
    fake.add_user("second", 0);
    let db = TestDb::sqlite();
    let server = Server::start(&db, &fake, &["--no-sync"], &[]);
    assert_eq!(
        post_form(&format!("{}/api/v1/people", server.url), "username=first").0,
        201
    );
    let path = db.sqlite_path().unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let (status, body) = post_form(&format!("{}/api/v1/people", server.url), "username=second");
    assert_eq!(status, 503, "not acknowledged into a deleted file: {body}");
    assert_eq!(body["code"], "database_unavailable");
    assert_eq!(get(&format!("{}/readyz", server.url)).0, 503);
    assert!(!path.exists(), "no empty database was made in its place");
}

#[test]
fn serve_follows_up_on_a_delivery_that_may_still_land_without_waiting_for_the_interval() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("later", 1);
        support::ok(&db, Some(&fake), &["add", "later"]);
        fake.lock().pipedrive.faults.push_back((
            PipedriveRoute::CreateActivity,
            PipedriveFault::CommitLate(Duration::from_secs(2)),
        ));
        let server = Server::start(
            &db,
            &fake,
            &["--interval", "3h"],
            &[
                ("GISTTRACK_HTTP_TIMEOUT", "1s"),
                ("GISTTRACK_IN_FLIGHT_BOUND", "3s"),
            ],
        );
        wait_until("the follow-up pass", || {
            let (_, runs) = get(&format!("{}/api/v1/sync/runs", server.url));
            runs.as_array().is_some_and(|runs| {
                runs.iter()
                    .any(|r| r["trigger"] == "follow_up" && !r["finished_at"].is_null())
            })
        });
        let (_, runs) = get(&format!("{}/api/v1/sync/runs", server.url));
        let follow_up = runs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["trigger"] == "follow_up")
            .unwrap();
        assert_eq!(follow_up["activities_reconciled"], 1, "{runs}");
        assert_eq!(follow_up["activities_created"], 0, "{runs}");
        let first = runs.as_array().unwrap().last().unwrap();
        assert_eq!(
            first["deliveries_waiting"], 1,
            "the first pass left it waiting: {runs}"
        );
        let (_, person) = get(&format!("{}/api/v1/people/later?all=true", server.url));
        assert_eq!(person["gists"][0]["delivery"], "delivered", "{person}");
        assert_eq!(fake.lock().pipedrive.activity_posts_received, 1);
        assert_each_gist_once(&fake, "later");
    }
}

/// A TCP relay to MariaDB that the test can cut and restore, to make the database go away.
#[cfg(unix)]
mod relay {
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    pub struct Relay {
        pub port: u16,
        up: Arc<AtomicBool>,
        streams: Arc<Mutex<Vec<TcpStream>>>,
    }

    impl Relay {
        pub fn start(target: &str) -> Relay {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let up = Arc::new(AtomicBool::new(true));
            let streams = Arc::new(Mutex::new(Vec::new()));
            let (flag, held, target) = (up.clone(), streams.clone(), target.to_string());
            std::thread::spawn(move || {
                for client in listener.incoming().map_while(Result::ok) {
                    if !flag.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(&target) else {
                        continue;
                    };
                    for stream in [&client, &server] {
                        held.lock().unwrap().push(stream.try_clone().unwrap());
                    }
                    for (mut from, mut to) in [
                        (client.try_clone().unwrap(), server.try_clone().unwrap()),
                        (server, client),
                    ] {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
            });
            Relay { port, up, streams }
        }

        /// Cuts every connection and refuses new ones.
        pub fn down(&self) {
            self.up.store(false, Ordering::SeqCst);
            for stream in self.streams.lock().unwrap().drain(..) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }

        pub fn up(&self) {
            self.up.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn the_database_going_away_gives_503_and_recovers_without_a_restart() {
    let Some(db) = TestDb::mysql() else {
        // Needs a server to take away (a SQLite file going away has its own test).
        eprintln!(
            "the_database_going_away_gives_503_and_recovers_without_a_restart: skipped, \
             GISTTRACK_TEST_MYSQL_URL is not set (CI sets it)"
        );
        return;
    };
    let fake = roomy_fake();
    fake.add_user("steady", 1);
    support::ok(&db, Some(&fake), &["add", "steady"]);
    let mut server_address = gisttrack::config::DatabaseTarget::parse(&db.url)
        .unwrap()
        .host();
    if !server_address.contains(':') {
        server_address.push_str(":3306");
    }
    let relay = relay::Relay::start(&server_address);
    let (server_url, name) = db.url.rsplit_once('/').unwrap();
    let host_part = server_url
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"))
        .unwrap_or_else(|| "mysql://".into());
    let relayed = format!("{host_part}127.0.0.1:{}/{name}", relay.port);
    let server = Server::start(&db, &fake, &["--no-sync"], &[("DATABASE_URL", &relayed)]);
    assert_eq!(get(&format!("{}/readyz", server.url)).0, 200);
    assert_eq!(get(&format!("{}/api/v1/people", server.url)).0, 200);

    relay.down();
    let (status, body) = get(&format!("{}/api/v1/people/steady?peek=true", server.url));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "database_unavailable");
    // The rendered list may be reused for a second; after that it needs the database too.
    std::thread::sleep(Duration::from_millis(1100));
    let (status, body) = get(&format!("{}/api/v1/people", server.url));
    assert_eq!(status, 503, "{body}");
    assert_eq!(get(&format!("{}/readyz", server.url)).0, 503);
    assert_eq!(
        get(&format!("{}/healthz", server.url)).0,
        200,
        "the process itself is fine"
    );

    relay.up();
    wait_until("recovery", || {
        get(&format!("{}/readyz", server.url)).0 == 200
    });
    let (status, people) = get(&format!("{}/api/v1/people", server.url));
    assert_eq!(status, 200);
    assert_eq!(people[0]["github_username"], "steady");
}

/// Sends raw bytes and returns the status line and body of the answer.
fn raw_request(server: &Server, request: &[u8]) -> (String, String) {
    use std::io::{Read, Write};
    let mut raw = std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or("").to_string();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[test]
fn bodies_over_the_limit_are_refused_declared_or_streamed() {
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    let server = Server::start(&db, &fake, &["--no-sync"], &[]);
    // Declared too large, nothing sent: answered from the header, without waiting for it.
    let started = std::time::Instant::now();
    let (status, body) = raw_request(
        &server,
        b"POST /api/v1/people HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    );
    assert!(status.contains("413"), "{status} {body}");
    assert!(
        !status.contains("100 Continue"),
        "the upload is not invited: {status}"
    );
    assert!(body.contains("payload_too_large"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(3), "at once");
    // Chunked, no length given: cut off once past the limit.
    let mut chunked = b"POST /api/v1/people HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..20 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b'a'; 0x400]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, body) = raw_request(&server, &chunked);
    assert!(status.contains("413"), "{status} {body}");
    assert!(body.contains("payload_too_large"), "{body}");
    assert!(json_people(&server).is_empty(), "nothing created");
}

fn json_people(server: &Server) -> Vec<Value> {
    let (status, people) = get(&format!("{}/api/v1/people", server.url));
    assert_eq!(status, 200, "{people}");
    people.as_array().cloned().expect("a JSON array")
}

#[test]
fn wrong_tokens_are_throttled_per_address_while_the_right_one_passes_at_once() {
    use support::server::exchange_from;
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    let server = serve_with_token(&db, &fake, &[]);
    let people = |source: &str, token: &str| {
        exchange_from(
            source,
            &server,
            &format!("GET /api/v1/people HTTP/1.1\r\nAuthorization: Bearer {token}"),
            "",
        )
    };
    let missing = exchange_from("127.0.0.2", &server, "GET /api/v1/people HTTP/1.1", "");
    assert_eq!(missing.status, 401, "{missing:?}");
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"gisttrack\"")
    );

    // Guesses from one address: the first ten are looked at and refused, the rest are not
    // looked at.
    let mut statuses = Vec::new();
    for guess in 0..40 {
        let answer = people("127.0.0.2", &format!("guess-{guess:016}"));
        if answer.status == 401 {
            assert_eq!(
                answer.header("www-authenticate"),
                Some("Bearer realm=\"gisttrack\""),
                "{answer:?}"
            );
        } else {
            assert_eq!(answer.status, 429, "{answer:?}");
            let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry), "{answer:?}");
            let body: Value = serde_json::from_str(&answer.body).unwrap();
            assert_eq!(body["code"], "too_many_attempts", "{answer:?}");
        }
        statuses.push(answer.status);
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 401).count(),
        10,
        "{statuses:?}"
    );
    assert!(statuses[10..].iter().all(|&s| s == 429), "{statuses:?}");
    assert_eq!(
        people("127.0.0.2", API_TOKEN).status,
        429,
        "a throttled address's attempt is not looked at, even the right one"
    );

    // Another client with the right token: answered at once, not held back.
    let started = std::time::Instant::now();
    let answer = people("127.0.0.1", API_TOKEN);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, "[]");
    eprintln!(
        "the right token from another address while one is throttled: 200 in {:?}",
        started.elapsed()
    );
    assert!(
        !server.log().contains(API_TOKEN),
        "the token is never logged"
    );
}

#[test]
fn a_short_or_blank_api_token_is_refused_with_exit_78_and_an_empty_one_means_none() {
    let db = TestDb::sqlite();
    let short = "the API token (--api-token or GISTTRACK_API_TOKEN) is shorter than 16 \
                 characters, which could be guessed: set a random one of at least 16 \
                 characters (e.g. from `openssl rand -hex 32`)";
    let blank = "the API token (--api-token or GISTTRACK_API_TOKEN) is only whitespace, which \
                 would leave the API open: set a random one of at least 16 characters (e.g. \
                 from `openssl rand -hex 32`), or unset it to serve without one";
    for (token, message) in [
        ("x", short),
        ("fifteen-chars-!", short),
        ("  fifteen-chars-!  ", short),
        (" ", blank),
        ("\t \n", blank),
    ] {
        let out = support::command(&db, None)
            .env("GISTTRACK_API_TOKEN", token)
            .args(["serve", "--listen", "127.0.0.1:0", "--no-sync"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(78), "{token:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("gisttrack: {message}\n"),
            "{token:?}"
        );
        assert!(out.stdout.is_empty());
    }
    assert!(
        !db.sqlite_path().unwrap().exists(),
        "refused before the database is opened"
    );
    let out = support::command(&db, None)
        .args(["serve", "--listen", "127.0.0.1:0", "--api-token", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "on the command line too");

    // Sixteen characters are enough, and an empty variable is no token (as for every secret).
    let fake = roomy_fake();
    let server = Server::start(
        &db,
        &fake,
        &["--no-sync"],
        &[("GISTTRACK_API_TOKEN", "sixteen-chars-ok")],
    );
    assert_eq!(get(&format!("{}/api/v1/people", server.url)).0, 401);
    drop(server);
    let server = Server::start(&db, &fake, &["--no-sync"], &[("GISTTRACK_API_TOKEN", "")]);
    assert_eq!(get(&format!("{}/api/v1/people", server.url)).0, 200);
}
