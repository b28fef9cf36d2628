//! The local commands driven through the real binary, on SQLite and (when configured) MySQL.

mod support;

use std::process::Output;

use support::{backends, fails, json, ok, roomy_fake, run, FakeApis, TestDb};

/// What a finished command said and how it ended: (stdout, stderr, exit code).
fn said(out: &Output) -> (String, String, i32) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().expect("exited, not killed"),
    )
}

#[test]
fn add_list_show_delete_round_trip() {
    let fake = FakeApis::start();
    fake.add_user("octocat", 2);
    for db in backends() {
        assert!(ok(&db, None, &["list"]).contains("No users are tracked"));
        let added = json(&db, Some(&fake), &["add", "OctoCat"]);
        assert_eq!(
            added[0]["github_username"], "octocat",
            "GitHub's case is kept"
        );
        let pipedrive_id = added[0]["pipedrive_id"].as_i64().expect("pipedrive id");

        let people = json(&db, None, &["list"]);
        assert_eq!(people.as_array().unwrap().len(), 1);
        assert_eq!(people[0]["pipedrive_id"], pipedrive_id);
        assert_eq!(people[0]["gists_known"], 0);
        assert!(people[0]["last_visit"].is_null());

        let table = ok(&db, None, &["list"]);
        assert!(
            table.contains("octocat") && table.contains("USER"),
            "{table}"
        );

        let shown = json(&db, None, &["show", "OCTOCAT"]);
        assert_eq!(shown["github_username"], "octocat");
        assert!(shown["gists"].as_array().unwrap().is_empty());
        assert!(
            !json(&db, None, &["list"])[0]["last_visit"].is_null(),
            "show records a visit"
        );

        ok(&db, None, &["delete", "octocat"]);
        assert!(json(&db, None, &["list"]).as_array().unwrap().is_empty());
        let err = fails(&db, None, &["delete", "octocat"]);
        assert!(err.contains("octocat is not tracked"), "{err}");
        fake.lock().pipedrive.persons.clear();
    }
}

#[test]
fn bad_logins_are_refused_before_any_io() {
    let fake = FakeApis::start();
    fake.add_user("octocat", 0);
    for db in backends() {
        for bad in [
            "-leading",
            "a--b",
            "has space",
            "../../etc/passwd",
            "x';DROP TABLE people;--",
            "ünïcode",
            &"a".repeat(40),
        ] {
            let out = run(&db, Some(&fake), &["add", "--", bad]);
            assert!(!out.status.success(), "{bad} accepted");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                stderr.lines().count(),
                1,
                "one-line error for {bad}: {stderr}"
            );
            assert!(stderr.contains("invalid GitHub username"), "{stderr}");
            fails(&db, None, &["show", "--", bad]);
            fails(&db, None, &["delete", "--", bad]);
        }
        assert_eq!(fake.lock().github.total_requests, 0, "GitHub was not asked");
        assert!(fake.lock().pipedrive.persons.is_empty());
        assert!(json(&db, None, &["list"]).as_array().unwrap().is_empty());
    }
}

#[test]
fn adding_unknown_or_tracked_users_changes_nothing() {
    let fake = FakeApis::start();
    fake.add_user("octocat", 0);
    for db in backends() {
        let err = fails(&db, Some(&fake), &["add", "nosuchuser"]);
        assert_eq!(err, "gisttrack: GitHub has no user nosuchuser\n");
        assert!(
            fake.lock().pipedrive.persons.is_empty(),
            "no Pipedrive person for a 404"
        );

        ok(&db, Some(&fake), &["add", "octocat"]);
        let persons = fake.lock().pipedrive.persons.len();
        let requests = fake.lock().pipedrive.total_requests;
        let out = run(&db, Some(&fake), &["add", "OCTOCAT"]);
        // Said once, in GitHub's spelling, and not a failure.
        assert_eq!(
            said(&out),
            ("octocat is already tracked\n".into(), String::new(), 0)
        );
        assert_eq!(fake.lock().pipedrive.persons.len(), persons);
        assert_eq!(
            fake.lock().pipedrive.total_requests,
            requests,
            "Pipedrive untouched"
        );
        assert_eq!(json(&db, None, &["list"]).as_array().unwrap().len(), 1);
        fake.lock().pipedrive.persons.clear();
    }
}

#[test]
fn add_has_one_rule_for_exit_codes_on_the_command_line_and_in_a_file() {
    let fake = FakeApis::start();
    fake.add_user("octocat", 0);
    fake.add_user("hubot", 0);
    for db in backends() {
        let add = |args: &[&str]| {
            let out = support::command(&db, Some(&fake))
                .current_dir(db.home.path())
                .arg("add")
                .args(args)
                .output()
                .unwrap();
            said(&out)
        };
        ok(&db, Some(&fake), &["add", "octocat"]);
        assert_eq!(
            add(&["octocat"]),
            ("octocat is already tracked\n".into(), String::new(), 0),
            "[{}] already tracked is no failure",
            db.backend
        );

        // Duplicates fold in any spelling; the new user is added, the tracked one said so.
        let (stdout, stderr, code) = add(&["octocat", "OCTOCAT", "hubot"]);
        let hubot = json(&db, None, &["show", "--peek", "hubot"])["pipedrive_id"].clone();
        assert_eq!(
            (stdout, stderr, code),
            (
                format!("Tracking hubot (Pipedrive person {hubot})\noctocat is already tracked\n"),
                String::new(),
                0
            ),
            "[{}]",
            db.backend
        );

        // An unknown or invalid login is invalid input, 2, in the order given.
        assert_eq!(
            add(&["nosuchuser"]),
            (
                String::new(),
                "gisttrack: GitHub has no user nosuchuser\n".into(),
                2
            )
        );
        assert_eq!(
            add(&["nosuchuser", "a--b", "hubot"]),
            (
                "hubot is already tracked\n".into(),
                "gisttrack: GitHub has no user nosuchuser\n\
                 gisttrack: invalid GitHub username \"a--b\": it cannot contain '--'\n"
                    .into(),
                2
            )
        );

        // The same rule for a file, whose errors name their line (a byte-order mark first).
        std::fs::write(
            db.home.path().join("users.txt"),
            "\u{feff}octocat\nOCTOCAT\n\nnosuchuser\na--b  # typo\nhubot\n",
        )
        .unwrap();
        assert_eq!(
            add(&["--from-file", "users.txt"]),
            (
                "Added 0, already tracked 2, refused 2, not done 0.\n".into(),
                "gisttrack: users.txt:4: GitHub has no user nosuchuser\n\
                 gisttrack: users.txt:5: invalid GitHub username \"a--b\": it cannot contain '--'\n"
                    .into(),
                2
            )
        );
        let out = support::command(&db, Some(&fake))
            .current_dir(db.home.path())
            .args(["-o", "json", "add", "--from-file", "users.txt"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["refused"][0]["line"], 4, "{report}");
        assert_eq!(report["refused"][1]["login"], "a--b", "{report}");

        // A list that cannot be read is no input (66), not configuration.
        assert_eq!(
            add(&["--from-file", "missing.txt"]),
            (
                String::new(),
                "gisttrack: cannot read missing.txt: No such file or directory (os error 2)\n"
                    .into(),
                66
            )
        );
        assert_eq!(json(&db, None, &["list"]).as_array().unwrap().len(), 2);
        fake.lock().pipedrive.persons.clear();
    }
}

#[test]
fn usage_shows_only_what_must_be_typed() {
    let fake = FakeApis::start();
    let db = TestDb::sqlite();
    // As after pasting the demo's `export` line: every option has a value in the environment.
    let out = support::command(&db, Some(&fake))
        .arg("add")
        .output()
        .unwrap();
    assert_eq!(
        said(&out),
        (
            String::new(),
            "error: the following required arguments were not provided:\n  <LOGIN>...\n\n\
             Usage: gisttrack add [OPTIONS] <LOGIN>...\n       \
             gisttrack add [OPTIONS] --from-file <FILE>\n\n\
             For more information, try '--help'.\n"
                .into(),
            2
        )
    );
    let out = support::command(&db, Some(&fake))
        .args(["sync", "--no-such-flag"])
        .output()
        .unwrap();
    let (_, stderr, code) = said(&out);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("\nUsage: gisttrack sync [OPTIONS] [LOGIN]...\n"),
        "{stderr}"
    );
}

#[test]
fn help_lists_the_options_that_work_before_the_command() {
    let db = TestDb::sqlite();
    let out = support::command(&db, None)
        .env("DATABASE_URL", "mysql://app:db-secret@db/gt")
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Usage: gisttrack [OPTIONS] <COMMAND>"),
        "{help}"
    );
    for option in [
        "--database-url <URL>",
        "-o, --output <OUTPUT>",
        "--log-format",
    ] {
        assert!(help.contains(option), "{option} in:\n{help}");
    }
    assert!(!help.contains("db-secret"), "{help}");
    // And they work there.
    let listed = ok(
        &db,
        None,
        &["--database-url", &db.url, "-o", "json", "list"],
    );
    assert_eq!(listed.trim(), "[]");
}

#[test]
fn a_failed_write_is_one_line_and_a_failure_but_a_closed_pipe_is_not() {
    let db = TestDb::sqlite();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = support::command(&db, None)
        .args(["completions", "bash"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(
        said(&out),
        (
            String::new(),
            "gisttrack: cannot write the output: No space left on device (os error 28)\n".into(),
            74
        )
    );
    // A reader that went away (`| head`) before anything was written: nothing to report.
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just made by pipe() and are owned here alone.
    let (read, write) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    drop(read);
    let out = support::command(&db, None)
        .args(["completions", "bash"])
        .stdout(write)
        .output()
        .unwrap();
    assert_eq!(said(&out), (String::new(), String::new(), 0));
}

#[test]
fn add_reuses_the_pipedrive_person_with_the_same_email() {
    let fake = FakeApis::start();
    fake.add_user("octocat", 0);
    for db in backends() {
        fake.lock()
            .pipedrive
            .persons
            .push(support::fake::FakePerson::new(
                4242,
                "Existing",
                &["OCTOCAT@example.com"],
            ));
        let added = json(&db, Some(&fake), &["add", "octocat"]);
        assert_eq!(added[0]["pipedrive_id"], 4242);
        assert_eq!(
            fake.lock().pipedrive.persons.len(),
            1,
            "no duplicate person"
        );
        fake.lock().pipedrive.persons.clear();
    }
}

#[test]
fn add_and_sync_need_a_pipedrive_token() {
    let fake = FakeApis::start();
    fake.add_user("octocat", 1);
    let db = TestDb::sqlite();
    for args in [vec!["add", "octocat"], vec!["sync"]] {
        let out = support::command(&db, Some(&fake))
            .env_remove("PIPEDRIVE_TOKEN")
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("PIPEDRIVE_TOKEN") && stderr.contains("--pipedrive-token"),
            "{stderr}"
        );
    }
    assert_eq!(fake.lock().github.total_requests, 0);
}

#[test]
fn show_lists_gists_first_seen_since_the_previous_visit() {
    let fake = FakeApis::start();
    for db in backends() {
        let login = format!("octo-{}", db.backend);
        fake.add_user(&login, 3);
        ok(&db, Some(&fake), &["add", &login]);
        ok(&db, Some(&fake), &["sync"]);
        let first = json(&db, None, &["show", &login]);
        assert_eq!(
            first["gists"].as_array().unwrap().len(),
            3,
            "first visit shows everything"
        );
        let gist = &first["gists"][0];
        for key in [
            "id",
            "description",
            "html_url",
            "pull_url",
            "discovered_at",
            "activity_id",
        ] {
            assert!(gist.get(key).is_some(), "gist JSON has {key}: {gist}");
        }
        assert!(gist["files"][0]["raw_url"]
            .as_str()
            .unwrap()
            .starts_with("https://gist.githubusercontent.com/"));
        assert_eq!(gist["delivery"], "delivered");

        assert!(json(&db, None, &["show", &login])["gists"]
            .as_array()
            .unwrap()
            .is_empty());

        let new_id = fake.add_gist(&login);
        ok(&db, Some(&fake), &["sync"]);
        let peek = json(&db, None, &["show", "--peek", &login]);
        assert_eq!(peek["gists"].as_array().unwrap().len(), 1);
        assert_eq!(peek["gists"][0]["id"], new_id.as_str());
        let visit = json(&db, None, &["show", &login]);
        assert_eq!(
            visit["gists"].as_array().unwrap().len(),
            1,
            "peek did not record the visit"
        );
        assert!(json(&db, None, &["show", &login])["gists"]
            .as_array()
            .unwrap()
            .is_empty());
        assert_eq!(
            json(&db, None, &["show", "--all", &login])["gists"]
                .as_array()
                .unwrap()
                .len(),
            4
        );

        let table = ok(&db, None, &["show", "--all", &login]);
        assert!(table.contains(&new_id), "{table}");
    }
}

#[test]
fn database_errors_are_one_clear_line_without_the_password() {
    let db = TestDb::sqlite();
    let out = support::command(&db, None)
        .env("DATABASE_URL", "mysql://root:hunter2@127.0.0.1:1/gisttrack")
        .arg("list")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("MySQL") && stderr.contains("127.0.0.1:1") && stderr.contains("gisttrack"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let out = support::command(&db, None)
        .env("DATABASE_URL", "postgres://x/y")
        .arg("list")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL scheme"));
}

#[test]
fn the_seed_variables_select_mysql() {
    let db = TestDb::sqlite();
    let out = support::command(&db, None)
        .env_remove("DATABASE_URL")
        .env("DATABASE_HOST", "127.0.0.1")
        .env("DATABASE_PORT", "1")
        .env("DATABASE_NAME", "seeddb")
        .env("DATABASE_USERNAME", "app")
        .env("DATABASE_PASSWORD", "s3cret")
        .arg("list")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("MySQL database seeddb on 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"));
}

#[test]
fn the_default_store_is_an_sqlite_file_under_xdg_data_home() {
    let db = TestDb::sqlite();
    let fake = roomy_fake();
    fake.add_user("octocat", 0);
    let data = db.home.path().join("xdg");
    let out = support::command(&db, Some(&fake))
        .env_remove("DATABASE_URL")
        .env("XDG_DATA_HOME", &data)
        .args(["add", "octocat"])
        .output()
        .unwrap();
    support::assert_success(&out, "add on the default store");
    assert!(data.join("gisttrack/gisttrack.db").exists());

    let out = support::command(&db, Some(&fake))
        .env_remove("DATABASE_URL")
        .env_remove("XDG_DATA_HOME")
        .args(["add", "octocat"])
        .output()
        .unwrap();
    support::assert_success(&out, "add on the store under HOME");
    assert!(db
        .home
        .path()
        .join(".local/share/gisttrack/gisttrack.db")
        .exists());
}

#[test]
fn help_never_shows_secret_values() {
    let db = TestDb::sqlite();
    for sub in ["add", "sync", "serve"] {
        let out = support::command(&db, None)
            .env("PIPEDRIVE_TOKEN", "pd-secret-value")
            .env("GITHUB_TOKEN", "gh-secret-value")
            .env("DATABASE_URL", "mysql://u:db-secret-value@h/d")
            .args([sub, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("PIPEDRIVE_TOKEN"), "{help}");
        assert!(
            !help.contains("secret-value"),
            "{sub} --help leaks a secret:\n{help}"
        );
    }
}

#[test]
fn list_output_is_pinned_as_json_and_as_a_table() {
    let fake = FakeApis::start();
    fake.add_user("alice", 1);
    fake.add_user("bob", 0);
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "bob", "alice"]);
    ok(&db, Some(&fake), &["sync"]);
    ok(&db, None, &["show", "alice"]);
    let json = ok(&db, None, &["-o", "json", "list"]);
    support::assert_snapshot("list.json", &support::mask_times(&json));
    // Piped, so plain columns at any terminal width.
    let table = ok(&db, None, &["list"]);
    support::assert_snapshot("list.txt", &support::mask_times(&table));
}

#[test]
fn no_log_level_shows_a_token() {
    let fake = FakeApis::start();
    fake.add_user("octocat", 2);
    let db = TestDb::sqlite();
    // HTTP clients hex-dump requests at trace, splitting a token across lines: look for any
    // six characters of one, and for the header names themselves.
    let fragments: Vec<String> = [support::GITHUB_TOKEN, support::PIPEDRIVE_TOKEN]
        .iter()
        .flat_map(|token| {
            let chars: Vec<char> = token.chars().collect();
            chars
                .windows(6)
                .map(|w| w.iter().collect::<String>())
                .collect::<Vec<_>>()
        })
        .chain(["api-token".to_string(), "uthorization".to_string()])
        .collect();
    for args in [
        vec!["add", "octocat"],
        vec!["sync"],
        vec!["sync", "--dry-run"],
    ] {
        let out = support::command(&db, Some(&fake))
            .env("RUST_LOG", "trace")
            .args(&args)
            .output()
            .unwrap();
        support::assert_success(&out, &format!("{args:?} at trace"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("DEBUG") && stderr.contains("GitHub GET"),
            "debug logging is on: {stderr}"
        );
        for fragment in &fragments {
            assert!(
                !stderr.contains(fragment.as_str()),
                "{args:?} printed {fragment:?}:\n{stderr}"
            );
        }
    }
}

#[test]
fn a_mysql_password_with_unencoded_characters_is_never_echoed() {
    let db = TestDb::sqlite();
    for url in [
        "mysql://app:p@ss/w0rd#x@127.0.0.1:1/gisttrack",
        "mysql://app:s3cr?t@127.0.0.1:1/gisttrack",
    ] {
        let out = support::command(&db, None)
            .env("DATABASE_URL", url)
            .arg("list")
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("percent-encoded"), "{stderr}");
        for piece in ["p@ss", "w0rd", "s3cr", "app:"] {
            assert!(!stderr.contains(piece), "{url} leaks {piece}: {stderr}");
        }
    }
}

/// A realistic gist (GitHub's ids are 32 hex digits) with a description too long for a table.
fn wide_gist(fake: &FakeApis, login: &str) -> (String, String) {
    let id = "aa5a315d61ae9438b18d0123456789ab".to_string();
    let mut state = fake.lock();
    let gist = &mut state.github.user_mut(login).unwrap().gists[0];
    gist.id = id.clone();
    gist.description =
        Some("Benchmarks for the parser, with notes on\nwhy the second pass allocates ".repeat(3));
    (id.clone(), format!("https://gist.github.com/{login}/{id}"))
}

/// Every time on the line is whole: wherever a year starts (`2026-`), all of
/// `2026-11-29 11:00:35 UTC` follows.
fn whole_times(line: &str) -> bool {
    let bytes = line.as_bytes();
    (0..bytes.len().saturating_sub(4)).all(|at| {
        let starts_year = bytes[at..at + 4].iter().all(u8::is_ascii_digit)
            && bytes[at + 4] == b'-'
            && (at == 0 || !bytes[at - 1].is_ascii_alphanumeric());
        !starts_year || {
            let time = line.get(at..at + 23).unwrap_or("");
            let t = time.as_bytes();
            time.len() == 23
                && t[7] == b'-'
                && t[10] == b' '
                && t[13] == b':'
                && t[16] == b':'
                && time.ends_with(" UTC")
        }
    })
}

#[test]
fn tables_fit_70_and_100_columns_leaving_out_empty_columns_first() {
    let fake = FakeApis::start();
    fake.add_user("octocat", 2);
    let (id, url) = wide_gist(&fake, "octocat");
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "octocat"]);
    ok(&db, Some(&fake), &["sync"]);
    // Every gist is delivered: WHY is empty and NEXT TRY all "-" in every row.
    for width in [70usize, 100] {
        for args in [&["show", "--all", "octocat"][..], &["list"][..]] {
            let out = support::command(&db, None)
                .env("COLUMNS", width.to_string())
                .args(args)
                .output()
                .unwrap();
            support::assert_success(&out, &format!("{args:?} at {width}"));
            let table = String::from_utf8(out.stdout).unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let context = format!("{args:?} at {width} columns:\n{table}\n{stderr}");
            for line in table.lines() {
                assert!(line.chars().count() <= width, "{context}");
                assert!(whole_times(line), "a time split: {line:?}\n{context}");
            }
            if args[0] == "show" {
                assert!(
                    table.contains(&url),
                    "the URL whole, on one line: {context}"
                );
                let shows_ids = table.lines().any(|l| l.contains("GIST"));
                let bare_id = table.lines().any(|l| l.replace(&url, "").contains(&id));
                assert_eq!(shows_ids, bare_id, "the id whole or not at all: {context}");
                assert!(
                    !table.contains("why the second pass allocates Benchmarks"),
                    "{context}"
                );
                // Empty columns go first, and hide nothing, so they are not named below.
                let header = table.lines().find(|l| l.contains(" URL")).unwrap_or("");
                assert!(
                    !header.contains("WHY") && !header.contains("NEXT TRY"),
                    "{context}"
                );
                if width == 100 {
                    assert!(
                        header.contains("DESCRIPTION") && header.contains("DELIVERY"),
                        "the description, cut short, stays with where the delivery stands: {context}"
                    );
                    assert!(table.contains("Benchmarks for the"), "{context}");
                }
            } else {
                assert!(table.contains("octocat"), "{context}");
            }
            // What was left out is said once, with where to find it.
            let expected = match (args[0], width) {
                ("show", 70) => Some("GIST, DESCRIPTION, FILES, FIRST SEEN, DELIVERY, ACTIVITY"),
                ("show", 100) => Some("GIST, FILES, FIRST SEEN, ACTIVITY"),
                ("list", 70) => Some("PIPEDRIVE ID, LAST VISIT"),
                _ => None,
            };
            match expected {
                Some(left_out) => assert_eq!(
                    stderr.trim(),
                    format!(
                        "({left_out} left out to fit {width} columns; -o json shows every field)"
                    ),
                    "{context}"
                ),
                None => assert!(stderr.is_empty(), "{context}"),
            }
        }
    }
    // 120 columns keeps FIRST SEEN too, the description shortened rather than wrapped.
    let out = support::command(&db, None)
        .env("COLUMNS", "120")
        .args(["show", "--all", "octocat"])
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    let row = table.lines().find(|l| l.contains(&url)).unwrap_or("");
    assert!(
        row.contains("Benchmarks for …") && row.contains(" UTC "),
        "{table}"
    );
    // The order columns go in is the one --help documents.
    let help = ok(&db, None, &["show", "--help"]);
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains(
            "first those empty in every row shown, then in this order: GIST, FILES, ACTIVITY, \
             FIRST SEEN, WHY, NEXT TRY, DESCRIPTION, DELIVERY."
        ),
        "{help}"
    );
    // Without COLUMNS a pipe gets every column in full.
    let piped = ok(&db, None, &["show", "--all", "octocat"]);
    assert!(
        piped.contains(&id) && piped.contains("why the second pass allocates Benchmarks"),
        "{piped}"
    );
}

#[test]
fn reading_commands_never_create_a_store_where_a_mistyped_url_points() {
    let db = TestDb::sqlite();
    let path = db.sqlite_path().unwrap();
    for args in [
        &["list"][..],
        &["-o", "json", "list"],
        &["show", "octocat"],
        &["delete", "octocat"],
    ] {
        let out = run(&db, None, args);
        let (stdout, stderr, _) = said(&out);
        assert!(
            stderr.contains(&format!("no database at {} yet", path.display())),
            "{args:?}: {stderr}"
        );
        if args.contains(&"list") {
            assert!(out.status.success(), "{args:?}: {stderr}");
            assert!(
                stdout.contains("No users are tracked yet") || stdout.trim() == "[]",
                "{stdout}"
            );
        } else {
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            assert!(stderr.contains("octocat is not tracked"), "{stderr}");
            assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
        }
        assert!(!path.exists(), "{args:?} created {}", path.display());
    }
}

#[test]
fn credentials_in_an_api_url_are_refused_without_being_repeated() {
    let db = TestDb::sqlite();
    let fake = roomy_fake();
    fake.add_user("octocat", 0);
    for (variable, value) in [
        (
            "GITHUB_API_URL",
            "https://user:hunter2-secret@api.github.example",
        ),
        (
            "PIPEDRIVE_API_URL",
            "https://hunter2-secret@acme.pipedrive.example",
        ),
        (
            "GITHUB_API_URL",
            "https://api.github.example/?access_token=hunter2-secret",
        ),
        (
            "PIPEDRIVE_API_URL",
            "https://acme.pipedrive.example/#hunter2-secret",
        ),
    ] {
        for args in [&["add", "octocat"][..], &["doctor"], &["add", "--help"]] {
            let out = support::command(&db, Some(&fake))
                .env(variable, value)
                .args(args)
                .output()
                .unwrap();
            let (stdout, stderr, code) = said(&out);
            assert!(
                !stdout.contains("hunter2") && !stderr.contains("hunter2"),
                "{variable} {args:?}: {stdout}{stderr}"
            );
            if args.contains(&"--help") {
                assert_eq!(code, 0);
                continue;
            }
            assert_eq!(code, 78, "{variable} {args:?}: {stderr}");
            assert!(
                stderr.contains(&format!("{variable} (")) && stderr.contains("never in a URL"),
                "{stderr}"
            );
        }
    }
    assert!(!db.sqlite_path().unwrap().exists(), "nothing was written");
}

#[test]
fn a_refused_database_login_is_a_configuration_error_not_an_outage() {
    // Needs a MySQL server that answers; without one the outage case below still runs.
    let db = TestDb::sqlite();
    if let Ok(server) = std::env::var("GISTTRACK_TEST_MYSQL_URL") {
        let host = server
            .trim_end_matches('/')
            .rsplit('@')
            .next()
            .unwrap()
            .to_string();
        let out = support::command(&db, None)
            .env(
                "DATABASE_URL",
                format!("mysql://nobody-here:hunter2@{host}/test"),
            )
            .arg("list")
            .output()
            .unwrap();
        let (_, stderr, code) = said(&out);
        assert_eq!(code, 78, "{stderr}");
        assert!(
            stderr.contains("Access denied") && !stderr.contains("hunter2"),
            "{stderr}"
        );
    }
    let out = support::command(&db, None)
        .env("DATABASE_URL", "mysql://root@127.0.0.1:1/test")
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(
        said(&out).2,
        69,
        "nothing answering is an outage: try again later"
    );
}
