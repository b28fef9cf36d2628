//! `gisttrack add --from-file`: bulk import through the real binary, against the fakes and a
//! real database.

mod support;

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{backends, json, ok, roomy_fake, FakeApis, TestDb};

/// Runs `add -o json --from-file FILE` (or `-` with `stdin`) with extra environment.
fn import(
    db: &TestDb,
    fake: &FakeApis,
    list: &str,
    from_stdin: bool,
    env: &[(&str, &str)],
) -> (Output, Value) {
    let file = db.home.path().join("logins.txt");
    std::fs::write(&file, list).unwrap();
    let source = if from_stdin {
        "-".to_string()
    } else {
        file.display().to_string()
    };
    let mut command = support::command(db, Some(fake));
    command
        .args([
            "-o",
            "json",
            "add",
            "--from-file",
            &source,
            "--concurrency",
            "8",
        ])
        .envs(env.iter().copied())
        .stdin(if from_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if from_stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(list.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, report)
}

fn logins(report: &Value, list: &str) -> Vec<String> {
    report[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| match entry {
            Value::String(login) => login.clone(),
            other => other
                .get("github_username")
                .or_else(|| other.get("login"))
                .and_then(Value::as_str)
                .unwrap()
                .to_string(),
        })
        .collect()
}

/// Each GitHub user has exactly one Pipedrive person (by name, as the fake keeps them).
fn assert_one_person_each(fake: &FakeApis, users: &[&str]) {
    let persons = fake.live_persons();
    for user in users {
        let theirs = persons
            .iter()
            .filter(|p| p.name == format!("{user} Example"))
            .count();
        assert_eq!(theirs, 1, "{user} has one Pipedrive person: {persons:?}");
    }
}

#[test]
fn a_list_is_checked_folded_and_added_with_each_refusal_named_once() {
    for db in backends() {
        let fake = roomy_fake();
        for user in ["ada", "grace", "linus", "Margaret"] {
            fake.add_user(user, 1);
        }
        ok(&db, Some(&fake), &["add", "linus"]);
        let list = "# the platform team\n\nada\ngrace   # lead\n\nADA\nlinus\nmargaret\nnot a login\nghost\nnot a login\n";
        for from_stdin in [false, true] {
            let (out, report) = import(&db, &fake, list, from_stdin, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "an invalid line and an unknown user are invalid input: {stderr}"
            );
            let refused = logins(&report, "refused");
            assert_eq!(refused, ["not a login", "ghost"], "each once: {report}");
            // Each named once, with its line, in the list's order.
            let source = match from_stdin {
                true => "stdin".to_string(),
                false => db.home.path().join("logins.txt").display().to_string(),
            };
            assert_eq!(
                stderr,
                format!(
                    "gisttrack: {source}:9: invalid GitHub username \"not a login\": only \
                     letters, digits, '-' and '_' are allowed\n\
                     gisttrack: {source}:10: GitHub has no user ghost\n"
                ),
            );
            assert!(report["not_done"].as_array().unwrap().is_empty());
            if !from_stdin {
                assert_eq!(
                    logins(&report, "added"),
                    ["ada", "grace", "Margaret"],
                    "{report}"
                );
                assert_eq!(logins(&report, "already_tracked"), ["linus"], "{report}");
            } else {
                // The same list again: nothing added twice, nothing refused that was done.
                assert!(logins(&report, "added").is_empty(), "{report}");
                assert_eq!(
                    logins(&report, "already_tracked"),
                    ["ada", "grace", "linus", "margaret"],
                    "{report}"
                );
            }
        }
        assert_one_person_each(&fake, &["ada", "grace", "linus", "Margaret"]);
        assert_eq!(
            fake.live_persons().len(),
            4,
            "none for ghost or the bad line"
        );
        assert_eq!(json(&db, None, &["list"]).as_array().unwrap().len(), 4);
    }
}

#[test]
fn an_interrupted_import_run_again_finishes_without_a_second_person() {
    for db in backends() {
        let fake = roomy_fake();
        let users = fake.add_users("crowd", 40, 0);
        fake.lock().pipedrive.latency = Duration::from_millis(40);
        let list = users.join("\n");
        let file = db.home.path().join("crowd.txt");
        std::fs::write(&file, &list).unwrap();
        let mut child = support::command(&db, Some(&fake))
            .env("GISTTRACK_IN_FLIGHT_BOUND", "2s")
            .args([
                "add",
                "--from-file",
                &file.display().to_string(),
                "--concurrency",
                "4",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while fake.live_persons().len() < 8 {
            assert!(Instant::now() < deadline, "the import never got going");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Killed mid-import, with creations under way.
        child.kill().unwrap();
        child.wait().unwrap();
        let tracked_before = json(&db, None, &["list"]).as_array().unwrap().len();
        assert!(
            tracked_before < users.len(),
            "[{}] interrupted early enough",
            db.backend
        );
        // A creation whose answer the killed process never read can still land for 2 s;
        // the re-run finds the person it made instead of creating another.
        std::thread::sleep(Duration::from_millis(2_500));
        let (out, report) = import(
            &db,
            &fake,
            &list,
            false,
            &[("GISTTRACK_IN_FLIGHT_BOUND", "2s")],
        );
        support::assert_success(&out, &format!("[{}] the re-run", db.backend));
        let done = logins(&report, "added").len() + logins(&report, "already_tracked").len();
        assert_eq!(done, users.len(), "[{}] {report}", db.backend);
        assert!(logins(&report, "already_tracked").len() >= tracked_before);
        let names: Vec<&str> = users.iter().map(String::as_str).collect();
        assert_one_person_each(&fake, &names);
        assert_eq!(fake.live_persons().len(), users.len(), "[{}]", db.backend);
    }
}

#[test]
fn an_import_stopped_by_githubs_budget_says_what_is_left_and_when() {
    for db in backends() {
        let fake = roomy_fake();
        let users = fake.add_users("late", 12, 0);
        // Each add looks the user up once: five fit in what is left of the hour.
        fake.lock().github.hourly_limit = 5;
        let list = users.join("\n");
        let env = [("GISTTRACK_RATE_LIMIT_MAX_WAIT", "1s")];
        let (out, report) = import(&db, &fake, &list, false, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(69),
            "a service to come back to: {stderr}"
        );
        assert_eq!(logins(&report, "added").len(), 5, "{report}");
        assert_eq!(logins(&report, "not_done").len(), 7, "{report}");
        assert!(
            logins(&report, "refused").is_empty(),
            "nothing refused: {report}"
        );
        assert!(report["resume_after"].is_string(), "{report}");
        assert!(
            stderr.contains("7 logins not done: run the same command again after 20"),
            "{stderr}"
        );
        assert_eq!(
            fake.live_persons().len(),
            5,
            "nothing left behind for the rest"
        );

        // The hour is over (and this one has room for the rest).
        {
            let mut state = fake.lock();
            state.github.hourly_limit = 100;
            state.github.used.clear();
            state.github.reset_at = support::fake::now_secs() + 3600;
        }
        let (out, report) = import(&db, &fake, &list, false, &[]);
        support::assert_success(&out, "the run after the reset");
        assert_eq!(logins(&report, "added").len(), 7, "{report}");
        assert_eq!(logins(&report, "already_tracked").len(), 5, "{report}");
        let names: Vec<&str> = users.iter().map(String::as_str).collect();
        assert_one_person_each(&fake, &names);
    }
}
