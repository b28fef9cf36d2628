//! Running gisttrack in production: exit codes cron can act on, strict configuration, help
//! that shows what applies, `doctor`, failure alerts and JSON logs. The real binary, the fakes
//! and a real database.

mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::fake::{PipedriveFault, PipedriveRoute, Receiver};
use support::{backends, ok, roomy_fake, FakeApis, TestDb};

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn run_with(db: &TestDb, fake: Option<&FakeApis>, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = support::command(db, fake);
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.args(args).output().unwrap()
}

#[test]
fn each_kind_of_failure_has_its_exit_code() {
    let fake = roomy_fake();
    fake.add_user("octocat", 1);
    let db = TestDb::sqlite();
    // (what, environment, arguments, exit code)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>, i32);
    let cases: Vec<Case<'_>> = vec![
        ("an invalid login", vec![], vec!["show", "--", "-bad"], 2),
        ("a usage error", vec![], vec!["list", "--no-such-flag"], 2),
        ("an untracked user", vec![], vec!["show", "ghost"], 2),
        (
            "a database that is down",
            vec![("DATABASE_URL", "mysql://root:pw@127.0.0.1:1/gt")],
            vec!["list"],
            69,
        ),
        (
            "GitHub unreachable",
            vec![("GITHUB_API_URL", "http://127.0.0.1:1")],
            vec!["add", "octocat"],
            69,
        ),
        (
            "a refused Pipedrive token",
            vec![("PIPEDRIVE_TOKEN", "wrong")],
            vec!["add", "octocat"],
            77,
        ),
        (
            "a refused GitHub token",
            vec![("GITHUB_TOKEN", "wrong")],
            vec!["add", "octocat"],
            77,
        ),
        (
            "a missing Pipedrive token",
            vec![("PIPEDRIVE_TOKEN", "")],
            vec!["add", "octocat"],
            78,
        ),
        (
            "an unknown DATABASE_URL scheme",
            vec![("DATABASE_URL", "postgres://x/y")],
            vec!["list"],
            78,
        ),
        (
            "an empty activity type",
            vec![],
            vec!["sync", "--activity-type", ""],
            78,
        ),
        (
            "an unknown GitHub user",
            vec![],
            vec!["add", "nosuchuser"],
            1,
        ),
    ];
    for (what, env, args, expected) in cases {
        let out = run_with(&db, Some(&fake), &env, &args);
        assert_eq!(code(&out), expected, "{what}: {}", stderr(&out));
        let err = stderr(&out);
        // clap's own usage errors come with the usage; every other failure is one line.
        let lines = if what == "a usage error" { 5 } else { 1 };
        assert!(
            err.lines().count() <= lines && !err.is_empty(),
            "{what}: {err}"
        );
    }
}

#[test]
fn a_failed_delivery_exits_1_and_is_printed_once_with_what_happens_next() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("stuck", 1);
        ok(&db, Some(&fake), &["add", "stuck"]);
        for _ in 0..3 {
            fake.lock()
                .pipedrive
                .faults
                .push_back((PipedriveRoute::CreateActivity, PipedriveFault::ServerError));
        }
        let out = run_with(&db, Some(&fake), &[], &["sync"]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(
            err.matches("Internal server error").count(),
            1,
            "printed once:\n{err}"
        );
        assert!(
            err.contains("retry") && err.contains("--retry-failed"),
            "{err}"
        );
        assert!(!err.contains("WARN"), "no log line repeats it: {err}");
    }
}

#[test]
fn the_most_serious_failure_of_a_pass_decides_its_code() {
    let fake = roomy_fake();
    fake.add_user("first", 1);
    fake.add_user("second", 1);
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "first", "second"]);
    // One delivery fails on its own (1), then Pipedrive refuses the token (77).
    {
        let faults = &mut fake.lock().pipedrive.faults;
        for _ in 0..3 {
            faults.push_back((PipedriveRoute::CreateActivity, PipedriveFault::ServerError));
        }
    }
    let first = run_with(
        &db,
        Some(&fake),
        &[],
        &["sync", "--concurrency", "1", "first"],
    );
    assert_eq!(code(&first), 1, "{}", stderr(&first));
    let both = run_with(
        &db,
        Some(&fake),
        &[("PIPEDRIVE_TOKEN", "revoked")],
        &["sync", "--retry-failed", "--concurrency", "1"],
    );
    assert_eq!(code(&both), 77, "{}", stderr(&both));
    assert!(
        stderr(&both).contains("PIPEDRIVE_TOKEN"),
        "{}",
        stderr(&both)
    );
}

#[test]
fn help_states_the_exit_codes_and_shows_only_what_applies() {
    let db = TestDb::sqlite();
    let help = |args: &[&str], env: &[(&str, &str)]| {
        let out = run_with(&db, None, env, args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for args in [
        vec!["--help"],
        vec!["sync", "--help"],
        vec!["add", "--help"],
    ] {
        let text = help(&args, &[]);
        assert!(
            text.contains("Exit codes:") && text.contains("78"),
            "{args:?}: {text}"
        );
    }
    let serve = help(&["serve", "--help"], &[]);
    assert!(
        !serve.contains("--output"),
        "-o does not apply to serve:\n{serve}"
    );
    assert!(serve.contains("--database-url") && serve.contains("--notify-url"));
    let completions = help(&["completions", "--help"], &[]);
    assert!(
        !completions.contains("--output") && !completions.contains("--database-url"),
        "{completions}"
    );
    assert!(help(&["list", "--help"], &[]).contains("--output"));
    let unset = help(&["serve", "--help"], &[]);
    assert!(
        unset.contains("[env: GISTTRACK_LISTEN]") && !unset.contains("GISTTRACK_LISTEN=]"),
        "an unset variable is named without an empty value:\n{unset}"
    );
    let set = help(
        &["serve", "--help"],
        &[("GISTTRACK_LISTEN", "0.0.0.0:8080")],
    );
    assert!(set.contains("GISTTRACK_LISTEN=0.0.0.0:8080"), "{set}");
    // The old place of -o, before the command, still works.
    let db_list = run_with(&db, None, &[], &["-o", "json", "list"]);
    assert_eq!(String::from_utf8_lossy(&db_list.stdout).trim(), "[]");
}

#[test]
fn a_malformed_database_url_is_refused_and_creates_no_file() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    for (url, says) in [
        ("mysql:/db/gisttrack", "not a mysql URL"),
        ("sqlite::memory:", "in-memory"),
        ("sqlite:", "names no SQLite file"),
    ] {
        let out = support::command(&db, None)
            .env("DATABASE_URL", url)
            .current_dir(dir.path())
            .arg("list")
            .output()
            .unwrap();
        assert_eq!(code(&out), 78, "{url}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{url}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("sqlite://PATH") || url.contains("memory"),
            "shows the accepted forms"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file named after the URL"
    );
}

fn doctor(db: &TestDb, fake: &FakeApis, env: &[(&str, &str)]) -> (i32, Value) {
    let out = run_with(db, Some(fake), env, &["doctor", "-o", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor JSON ({e}): {}", stderr(&out)));
    (code(&out), report)
}

fn part<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["part"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[test]
fn doctor_reports_each_part_and_spends_no_github_budget() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("octocat", 1);
        ok(&db, Some(&fake), &["add", "octocat"]);
        let counted = fake.github_counted();

        let (exit, report) = doctor(&db, &fake, &[]);
        assert_eq!(exit, 0, "{report}");
        assert_eq!(report["ok"], true);
        assert!(part(&report, "database")["detail"]
            .as_str()
            .unwrap()
            .contains("1 people"));
        assert!(part(&report, "github")["detail"]
            .as_str()
            .unwrap()
            .contains("token accepted"));
        let pipedrive = part(&report, "pipedrive")["detail"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(pipedrive.contains("Acme"), "{pipedrive}");
        let config = part(&report, "configuration")["detail"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(config.contains("PIPEDRIVE_TOKEN set"), "{config}");
        for secret in [support::GITHUB_TOKEN, support::PIPEDRIVE_TOKEN] {
            assert!(!report.to_string().contains(secret), "{secret} shown");
        }
        assert_eq!(
            fake.github_counted(),
            counted,
            "[{}] no counted request",
            db.backend
        );

        let table = ok(&db, Some(&fake), &["doctor"]);
        assert!(
            table.contains("PART") && table.contains("pipedrive"),
            "{table}"
        );
    }
}

#[test]
fn doctor_names_the_failing_part_and_a_remedy() {
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["list"]);
    // (part, environment, status, exit code, what the remedy names)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, i32, &'a str);
    let cases: [Case<'_>; 5] = [
        (
            "github",
            &[("GITHUB_TOKEN", "wrong")],
            "error",
            77,
            "GITHUB_TOKEN",
        ),
        (
            "pipedrive",
            &[("PIPEDRIVE_TOKEN", "wrong")],
            "error",
            77,
            "PIPEDRIVE_TOKEN",
        ),
        (
            "github",
            &[("GITHUB_API_URL", "http://127.0.0.1:1")],
            "error",
            69,
            "GITHUB_API_URL",
        ),
        (
            "database",
            &[("DATABASE_URL", "mysql://root@127.0.0.1:1/gt")],
            "error",
            69,
            "DATABASE_URL",
        ),
        (
            "settings",
            &[("GISTTRACK_ACTIVITY_TYPE", " ")],
            "error",
            78,
            "option",
        ),
    ];
    for (name, env, status, exit_code, remedy) in cases {
        let (exit, report) = doctor(&db, &fake, env);
        assert_eq!(exit, exit_code, "{name} {env:?}: {report}");
        assert_eq!(report["exit_code"], exit_code);
        let check = part(&report, name);
        assert_eq!(check["status"], status, "{check}");
        assert!(
            check["remedy"].as_str().unwrap().contains(remedy),
            "{check}"
        );
    }
}

#[test]
fn doctor_works_without_any_token_and_says_what_is_off() {
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    let out = support::command(&db, Some(&fake))
        .env_remove("GITHUB_TOKEN")
        .env_remove("PIPEDRIVE_TOKEN")
        .args(["doctor", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(part(&report, "pipedrive")["status"], "off");
    assert_eq!(part(&report, "github")["status"], "off");
    assert!(part(&report, "pipedrive")["remedy"]
        .as_str()
        .unwrap()
        .contains("PIPEDRIVE_TOKEN"));
    assert_eq!(fake.github_counted(), 0);
}

fn failing_deliveries(fake: &FakeApis, n: usize) {
    for _ in 0..n {
        fake.lock()
            .pipedrive
            .faults
            .push_back((PipedriveRoute::CreateActivity, PipedriveFault::ServerError));
    }
}

#[test]
fn alerts_go_out_once_per_failing_pass_and_once_on_recovery() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("alerted", 1);
        ok(&db, Some(&fake), &["add", "alerted"]);
        let receiver = Receiver::start();
        let notify = [("GISTTRACK_NOTIFY_URL", receiver.url.as_str())];

        failing_deliveries(&fake, 3);
        assert_eq!(code(&run_with(&db, Some(&fake), &notify, &["sync"])), 1);
        let sent = receiver.taken();
        assert_eq!(
            sent.len(),
            1,
            "[{}] one message per failing pass: {sent:?}",
            db.backend
        );
        let message = &sent[0];
        assert_eq!(message["status"], "failing");
        assert_eq!(message["failed"], 1);
        assert_eq!(message["users"], serde_json::json!(["alerted"]));
        assert!(
            message["text"].as_str().unwrap().contains("alerted"),
            "{message}"
        );
        for secret in [support::GITHUB_TOKEN, support::PIPEDRIVE_TOKEN] {
            assert!(!message.to_string().contains(secret));
        }

        failing_deliveries(&fake, 3);
        run_with(&db, Some(&fake), &notify, &["sync", "--retry-failed"]);
        assert_eq!(receiver.taken().len(), 1, "failing again: another message");

        assert_eq!(
            code(&run_with(
                &db,
                Some(&fake),
                &notify,
                &["sync", "--retry-failed"]
            )),
            0
        );
        let resolved = receiver.taken();
        assert_eq!(resolved.len(), 1, "{resolved:?}");
        assert_eq!(resolved[0]["status"], "resolved");

        assert_eq!(code(&run_with(&db, Some(&fake), &notify, &["sync"])), 0);
        assert!(receiver.taken().is_empty(), "nothing while all is well");
    }
}

#[test]
fn a_dead_or_slow_webhook_never_fails_or_holds_up_a_pass() {
    let fake = roomy_fake();
    fake.add_user("alerted", 1);
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "alerted"]);
    failing_deliveries(&fake, 3);
    let dead = [(
        "GISTTRACK_NOTIFY_URL",
        "http://127.0.0.1:1/hook/secret-path",
    )];
    let out = run_with(&db, Some(&fake), &dead, &["sync"]);
    assert_eq!(code(&out), 1, "the pass's own status: {}", stderr(&out));
    assert!(
        stderr(&out).contains("notification webhook"),
        "logged: {}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("secret-path"),
        "never the URL's path"
    );

    let receiver = Receiver::start();
    *receiver.delay.lock().unwrap() = Duration::from_secs(30);
    failing_deliveries(&fake, 3);
    let started = Instant::now();
    let slow = [("GISTTRACK_NOTIFY_URL", receiver.url.as_str())];
    let out = run_with(&db, Some(&fake), &slow, &["sync", "--retry-failed"]);
    assert_eq!(code(&out), 1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "held up only by the webhook's timeout"
    );
    assert_eq!(receiver.taken().len(), 1, "the slow webhook was called");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let fake = roomy_fake();
    fake.add_user("logged", 1);
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "logged"]);
    let out = run_with(
        &db,
        Some(&fake),
        &[("RUST_LOG", "info"), ("GISTTRACK_LOG_FORMAT", "json")],
        &["sync"],
    );
    assert_eq!(code(&out), 0);
    let err = stderr(&out);
    assert!(err.lines().count() >= 1, "{err}");
    for line in err.lines() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["time", "level", "target", "message"] {
            assert!(value[key].is_string(), "{key} in {line}");
        }
    }
    assert!(err.contains("sync pass done"), "{err}");
}

#[test]
fn the_demo_tracks_samples_serves_and_stops_everything_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debug/examples/demo");
    if !demo.exists() {
        // `cargo test` builds the examples; anything else is a broken build, not a skip.
        panic!("{} was not built", demo.display());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let work = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(&demo)
        .arg(support::binary())
        .env("DEMO_PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .current_dir(work.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("add nosuchuser") {
            break;
        }
    }
    assert!(
        printed.contains("gisttrack list") && printed.contains("export DATABASE_URL="),
        "{printed}"
    );
    let url = format!("http://127.0.0.1:{port}/api/v1/people");
    let deadline = Instant::now() + Duration::from_secs(30);
    let people = loop {
        let answer = ureq::get(&url)
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json::<Value>().ok());
        if let Some(people) = answer {
            break people;
        }
        assert!(Instant::now() < deadline, "the demo never served");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(people.as_array().unwrap().len(), 3, "{people}");
    // Ctrl-C: the terminal signals the whole group.
    let pgid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-s", "INT", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the demo ignored Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ureq::get(&url).call().is_err(), "serve stopped with it");
}
