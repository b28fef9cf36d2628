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
            2,
        ),
        (
            "an unreadable list",
            vec![],
            vec!["add", "--from-file", "/nonexistent/users.txt"],
            66,
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
            "activity type key",
        ),
    ];
    for (name, env, status, exit_code, remedy) in cases {
        let (exit, report) = doctor(&db, &fake, env);
        assert_eq!(exit, exit_code, "{name} {env:?}: {report}");
        assert_eq!(report["exit_code"], exit_code);
        let check = part(&report, name);
        assert_eq!(check["status"], status, "{check}");
        let remedy_text = check["remedy"].as_str().unwrap();
        assert!(remedy_text.contains(remedy), "{check}");
        assert!(
            !check["detail"].as_str().unwrap().contains(remedy_text),
            "the detail does not repeat the remedy: {check}"
        );
    }
}

#[test]
fn doctor_says_each_thing_once_and_wraps_prose_not_values() {
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    // (part, environment, detail, remedy), compared whole.
    let cases = [
        (
            "github",
            ("GITHUB_TOKEN", "wrong"),
            "GitHub rejected the token (401)",
            "check GITHUB_TOKEN",
        ),
        (
            "pipedrive",
            ("PIPEDRIVE_TOKEN", "wrong"),
            "Pipedrive rejected the token (401)",
            "check PIPEDRIVE_TOKEN",
        ),
        (
            "settings",
            ("GISTTRACK_ACTIVITY_TYPE", " "),
            "--activity-type (GISTTRACK_ACTIVITY_TYPE) is empty",
            "give a Pipedrive activity type key such as task, call or meeting",
        ),
    ];
    for (name, variable, detail, remedy) in cases {
        let (_, report) = doctor(&db, &fake, &[variable]);
        let check = part(&report, name);
        assert_eq!(
            (check["detail"].as_str(), check["remedy"].as_str()),
            (Some(detail), Some(remedy)),
            "{check}"
        );
    }
    // A long path in a narrow terminal: the prose around it wraps, the path stays whole.
    let deep = db
        .home
        .path()
        .join("a/deep/folder/for/the/store/gisttrack.db");
    let url = format!("sqlite://{}", deep.display());
    let out = run_with(
        &db,
        Some(&fake),
        &[
            ("DATABASE_URL", &url),
            ("COLUMNS", "80"),
            ("GITHUB_TOKEN", "wrong"),
        ],
        &["doctor"],
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.lines().any(|line| line.contains(&url)),
        "the URL on one line:\n{table}"
    );
    assert!(
        table.lines().all(|line| line.chars().count() <= 80) && table.lines().count() > 8,
        "prose wrapped within 80 columns:\n{table}"
    );
    assert!(table.contains("What to do: check GITHUB_TOKEN"), "{table}");
    assert!(!deep.exists(), "doctor creates nothing");
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

/// A built example (`cargo test` builds them; `make cover` builds them first).
fn example(name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/debug/examples")
        .join(name);
    // Anything else is a broken build, not a skip.
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The tracked people the demo serves on `port`, once it serves.
fn demo_people(port: u16) -> Value {
    let url = format!("http://127.0.0.1:{port}/api/v1/people");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = ureq::get(&url)
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json::<Value>().ok());
        if let Some(people) = answer {
            return people;
        }
        assert!(Instant::now() < deadline, "the demo never served");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads `reader`'s lines until one contains `until`; what it read.
fn read_until(reader: impl std::io::Read, until: &str) -> String {
    use std::io::{BufRead, BufReader};
    let mut printed = String::new();
    for line in BufReader::new(reader).lines() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.contains(until) {
            break;
        }
    }
    printed
}

/// Ctrl-C: the terminal signals the whole process group.
fn ctrl_c(group_leader: &std::process::Child) {
    let group = format!("-{}", group_leader.id());
    let sent = std::process::Command::new("kill")
        .args(["-s", "INT", "--", &group])
        .status()
        .unwrap();
    assert!(sent.success());
}

fn wait_for(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "{what} ignored Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn make_demo_tracks_samples_serves_and_ends_cleanly_on_ctrl_c() {
    use std::os::unix::process::CommandExt;
    example("demo");
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    // The real `make demo`; CARGO=true because cargo test has built everything it runs.
    let mut make = std::process::Command::new("make")
        .args(["--no-print-directory", "demo", "CARGO=true"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("MFLAGS")
        .env("DEMO_PORT", port.to_string())
        .env("DEMO_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let stderr = make.stderr.take().unwrap();
    let errors = std::thread::spawn(move || read_until(stderr, "\u{0}"));
    let printed = read_until(make.stdout.take().unwrap(), "add nosuchuser");
    assert!(
        printed.contains("gisttrack list") && printed.contains("export DATABASE_URL="),
        "{printed}"
    );
    assert_eq!(demo_people(port).as_array().unwrap().len(), 3);
    ctrl_c(&make);
    wait_for(&mut make, "make demo");
    let errors = errors.join().unwrap();
    assert!(
        !errors.contains("Interrupt") && !errors.contains("***"),
        "make reports no error:\n{errors}"
    );
    let url = format!("http://127.0.0.1:{port}/api/v1/people");
    assert!(ureq::get(&url).call().is_err(), "serve stopped with it");
}

#[test]
fn a_second_demo_refuses_to_start_while_the_first_holds_its_port_or_database() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let demo = example("demo");
    let work = tempfile::tempdir().unwrap();
    let start = |port: u16, data: &std::path::Path| {
        let mut command = std::process::Command::new(&demo);
        command
            .arg(support::binary())
            .env("DEMO_PORT", port.to_string())
            .env("DEMO_DATA_DIR", data)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0);
        command
    };
    let (port, data) = (free_port(), work.path().join("demo"));
    let mut first = start(port, &data).spawn().unwrap();
    read_until(first.stdout.take().unwrap(), "add nosuchuser");
    assert_eq!(demo_people(port).as_array().unwrap().len(), 3);
    let database = data.join("demo.db");
    let inode = std::fs::metadata(&database).unwrap().ino();
    let files = || {
        let mut names: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = files();

    // The same port, a folder of its own: refused before the folder is made.
    let elsewhere = work.path().join("elsewhere");
    let out = start(port, &elsewhere).output().unwrap();
    let in_use = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap_err();
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out),
        format!(
            "demo: port {port} is in use ({in_use}): another demo or server is running there; \
             stop it, or give this demo another port with DEMO_PORT=...\n"
        )
    );
    assert!(!elsewhere.exists(), "nothing created");

    // Another port, the same database: refused before anything is deleted.
    let out = start(free_port(), &data).output().unwrap();
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out),
        format!(
            "demo: {} (its database) is in use by another demo; stop that one first, or give \
             this demo its own folder with DEMO_DATA_DIR=...\n",
            data.display()
        )
    );
    assert_eq!(files(), before, "nothing deleted or created");
    assert_eq!(std::fs::metadata(&database).unwrap().ino(), inode);
    assert_eq!(
        demo_people(port).as_array().unwrap().len(),
        3,
        "still served"
    );

    ctrl_c(&first);
    let status = wait_for(&mut first, "the demo");
    assert_eq!(status.code(), Some(0), "a clean end, not death by SIGINT");
}

/// The `NAME=value` pairs of the lines that start with `prefix` (`export A=1 B=2`, a
/// Dockerfile's `ENV A=1 B=2`), as a shell would take them.
fn assignments(text: &str, prefix: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.strip_prefix(prefix))
        .flat_map(|line| line.split_whitespace())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_fake_apis_come_with_a_database_of_their_own() {
    let home = tempfile::tempdir().unwrap();
    let mut fakes = std::process::Command::new(example("fake_apis"))
        .env("FAKE_GITHUB_ADDR", "127.0.0.1:0")
        .env("FAKE_PIPEDRIVE_ADDR", "127.0.0.1:0")
        .env("HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let printed = read_until(fakes.stdout.take().unwrap(), "Users:");
    let exports = assignments(&printed, "export ");
    let database = exports
        .iter()
        .find(|(k, _)| k == "DATABASE_URL")
        .and_then(|(_, v)| v.strip_prefix("sqlite://"))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("no DATABASE_URL of its own:\n{printed}"));
    let out = std::process::Command::new(support::binary())
        .env_clear()
        .env("HOME", home.path())
        .envs(exports.iter().map(|(k, v)| (k, v)))
        .args(["add", "octocat"])
        .output()
        .unwrap();
    support::assert_success(&out, "add with the pasted exports");
    assert!(database.exists(), "{}", database.display());
    assert!(
        !home.path().join(".local/share/gisttrack").exists(),
        "the default database is left alone"
    );
    signal(&fakes, "INT");
    wait_for(&mut fakes, "fake_apis");
    assert!(!database.exists(), "its database goes with it");
}

#[test]
fn the_dashboard_answers_the_favicon_without_a_404() {
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    let server = support::server::Server::start(&db, &fake, &["--no-sync"], &[]);
    let answer = ureq::get(&format!("{}/favicon.ico", server.url))
        .call()
        .unwrap();
    assert_eq!(answer.status(), 204);
    assert!(answer.headers().contains_key("cache-control"));
    support::server::wait_until("the access log line", || {
        server.log().contains("GET /favicon.ico 204")
    });
    assert!(!server.log().contains(" 404 "), "{}", server.log());
}

#[test]
fn the_image_keeps_sqlite_in_its_volume_and_takes_the_seed_variables() {
    let dockerfile = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"),
    )
    .unwrap();
    // The final stage's ENV, continuation lines joined.
    let joined = dockerfile.replace("\\\n", " ");
    let image_env = assignments(&joined, "ENV ");
    assert!(
        !image_env.iter().any(|(k, _)| k == "DATABASE_URL"),
        "{image_env:?}"
    );
    let volume = joined
        .lines()
        .find_map(|line| line.strip_prefix("VOLUME "))
        .unwrap()
        .trim()
        .to_string();
    let db = TestDb::sqlite();
    let in_image = |extra: &[(&str, &str)]| {
        let mut command = support::command(&db, None);
        command.env_remove("DATABASE_URL");
        command.envs(image_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command.envs(extra.iter().copied());
        command.args(["-o", "json", "doctor"]).output().unwrap()
    };
    let out = in_image(&[]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let config = part(&report, "configuration")["detail"].as_str().unwrap();
    assert!(
        config.starts_with(&format!("database sqlite://{volume}/gisttrack.db (SQLite)")),
        "{config}"
    );
    // The seed's way, as the Go service's operators configure it.
    let seed = [
        ("DATABASE_HOST", "127.0.0.1"),
        ("DATABASE_PORT", "1"),
        ("DATABASE_NAME", "gisttrack"),
        ("DATABASE_USERNAME", "app"),
        ("DATABASE_PASSWORD", "s3cret"),
    ];
    let out = in_image(&seed);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let config = part(&report, "configuration")["detail"].as_str().unwrap();
    assert!(
        config.starts_with("database mysql://***@127.0.0.1:1/gisttrack (MySQL)"),
        "{config}"
    );
    // Both ways at once is ambiguous: refused, naming both, before anything is opened.
    let mut both = seed.to_vec();
    both.push(("DATABASE_URL", "sqlite:///var/lib/gisttrack/gisttrack.db"));
    let out = in_image(&both);
    assert_eq!(code(&out), 78);
    assert_eq!(
        stderr(&out),
        "gisttrack: DATABASE_URL (or --database-url) and DATABASE_HOST, DATABASE_PORT, \
         DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD are both set: use one or the other \
         (an empty DATABASE_URL counts as unset)\n"
    );
}

/// Sends `signal` (`INT`, `TERM`) to a process, as Ctrl-C or `systemctl stop` would.
fn signal(child: &std::process::Child, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn sync_stopped_by_a_signal_finishes_the_delivery_under_way_and_says_what_is_left() {
    for (name, exit_code, json) in [("INT", 130, true), ("TERM", 143, false)] {
        for db in backends() {
            let fake = roomy_fake();
            let users: Vec<String> = ["first", "second", "third"]
                .iter()
                .map(|u| format!("{u}-{}", name.to_lowercase()))
                .collect();
            for user in &users {
                fake.add_user(user, 4);
            }
            let names: Vec<&str> = users.iter().map(String::as_str).collect();
            ok(&db, Some(&fake), &[&["add"], &names[..]].concat());
            // Slow enough that the signal lands while the first user's gists are delivered.
            fake.lock().pipedrive.latency = Duration::from_millis(400);
            let mut args = vec!["sync", "--concurrency", "1"];
            if json {
                args.splice(0..0, ["-o", "json"]);
            }
            let child = support::command(&db, Some(&fake))
                .args(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            support::server::wait_until("the first activity", || fake.activity_count() >= 1);
            let at_signal = fake.activity_count();
            signal(&child, name);
            let out = child.wait_with_output().unwrap();
            let created = fake.activity_count();
            let context = format!("[{}] SIG{name}: {}", db.backend, stderr(&out));
            assert_eq!(code(&out), exit_code, "{context}");
            assert!(
                created <= at_signal + 1,
                "only the delivery under way finished: {created} after {at_signal}; {context}"
            );
            assert!(
                created < 4,
                "stopped before the first user was done; {context}"
            );
            let pending = 4 - created;
            // Done, left, and which sync takes it up.
            assert_eq!(
                stderr(&out),
                format!(
                    "gisttrack: stopping after the delivery under way, then saying what is left \
                     (Ctrl-C again stops at once)\n\
                     gisttrack: interrupted by SIG{name} after the work under way; the next sync \
                     checks the 2 user(s) not reached and delivers the {pending} pending gist(s)\n"
                ),
                "{context}"
            );
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let summary: Vec<(String, String)> = if json {
                let report: Value = serde_json::from_str(&stdout).unwrap();
                assert_eq!(report["interrupted"], format!("SIG{name}"), "{report}");
                [
                    "users_checked",
                    "activities_created",
                    "users_not_checked",
                    "deliveries_pending",
                ]
                .iter()
                .map(|k| (k.to_string(), report[k].to_string()))
                .collect()
            } else {
                // Piped: one header line and one line of values.
                let lines: Vec<&str> = stdout.lines().collect();
                let split = |line: &str| {
                    line.split("  ")
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect::<Vec<_>>()
                };
                let fields: Vec<(String, String)> =
                    split(lines[0]).into_iter().zip(split(lines[1])).collect();
                [
                    "USERS CHECKED",
                    "ACTIVITIES CREATED",
                    "NOT CHECKED",
                    "PENDING",
                ]
                .iter()
                .map(|k| {
                    let value = fields.iter().find(|(h, _)| h == k);
                    (
                        k.to_string(),
                        value.map(|(_, v)| v.clone()).unwrap_or_default(),
                    )
                })
                .collect()
            };
            let values: Vec<String> = summary.into_iter().map(|(_, v)| v).collect();
            assert_eq!(
                values,
                ["1", &created.to_string(), "2", &pending.to_string()],
                "{stdout}\n{context}"
            );
            // The next sync finishes the job, each gist once.
            ok(&db, Some(&fake), &["sync"]);
            for user in &users {
                support::assert_each_gist_once(&fake, user);
            }
            assert_eq!(fake.activity_count(), 12, "{context}");
        }
    }
}
