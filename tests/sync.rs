//! The sync engine end to end: the real binary against the fake APIs and a real database.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::fake::{GistOrder, GithubFault, PipedriveFault, PipedriveRoute};
use support::{
    assert_each_gist_once, backends, fails, json, ok, roomy_fake, sync_report, FakeApis, TestDb,
};

#[test]
fn every_page_is_delivered_once_and_resyncs_edits_and_new_gists_behave() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("pager", 250);
        ok(&db, Some(&fake), &["add", "pager"]);
        let (success, report, _) = sync_report(&db, &fake, &[]);
        assert!(success, "{report}");
        assert_eq!(report["new_gists"], 250, "all three pages were read");
        assert_eq!(report["activities_created"], 250);
        assert_eq!(fake.activity_count(), 250);
        assert_each_gist_once(&fake, "pager");
        assert_eq!(
            fake.lock().pipedrive.bodies_with_person_id,
            0,
            "v2 bodies link through participants"
        );
        assert_eq!(
            fake.lock().pipedrive.tokens_in_query,
            0,
            "the token never travels in a URL"
        );
        assert_eq!(fake.lock().github.requests_without_user_agent, 0);

        // An unchanged re-sync: a 304 with a token costs nothing and creates nothing.
        let counted = fake.github_counted();
        let (success, report, _) = sync_report(&db, &fake, &[]);
        assert!(success);
        assert_eq!(report["users_unchanged"], 1);
        assert_eq!(report["activities_created"], 0);
        assert_eq!(
            fake.github_counted(),
            counted,
            "unchanged re-sync costs 0 counted requests"
        );
        assert_eq!(fake.activity_count(), 250);

        // An edit refreshes the row but is never a second activity. (GitHub lists recently
        // updated gists first, so the edit changes the first page and its ETag.)
        fake.lock().github.order = GistOrder::NewestUpdated;
        let edited = fake.gist_ids("pager")[7].clone();
        fake.edit_gist("pager", &edited);
        let (_, report, _) = sync_report(&db, &fake, &[]);
        assert_eq!(report["new_gists"], 0);
        assert_eq!(report["activities_created"], 0);
        assert_eq!(fake.activities_for_gist(&edited), 1);
        let all = json(&db, None, &["show", "--all", "pager"]);
        let row = all["gists"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == edited.as_str())
            .unwrap()
            .clone();
        assert!(
            row["description"].as_str().unwrap().ends_with("(edited)"),
            "{row}"
        );

        // A new gist is exactly one new activity.
        let new_id = fake.add_gist("pager");
        let (_, report, _) = sync_report(&db, &fake, &[]);
        assert_eq!(report["new_gists"], 1);
        assert_eq!(report["activities_created"], 1);
        assert_eq!(fake.activities_for_gist(&new_id), 1);
        assert_eq!(fake.activity_count(), 251);
    }
}

#[test]
fn the_activity_names_the_gist_and_links_every_file() {
    let fake = roomy_fake();
    fake.add_user("octocat", 1);
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "octocat"]);
    ok(&db, Some(&fake), &["sync", "--activity-type", "call"]);
    let state = fake.lock();
    let activity = &state.pipedrive.activities[0];
    let person = state.pipedrive.persons[0].id;
    assert_eq!(activity.person_id, Some(person));
    assert_eq!(activity.activity_type, "call");
    assert!(!activity.done);
    assert!(
        activity.subject.starts_with("Gist: Gist "),
        "{}",
        activity.subject
    );
    assert!(
        activity.note.contains("/raw/")
            && activity.note.contains("main.rs")
            && activity.note.contains("README.md")
    );
    assert!(
        activity.note.contains(".git\""),
        "links the pull URL: {}",
        activity.note
    );
    assert!(activity.note.contains("gisttrack:gist:"));
}

#[test]
fn server_errors_and_rate_limits_still_give_one_activity_per_gist() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("flaky", 5);
        ok(&db, Some(&fake), &["add", "flaky"]);
        {
            let mut state = fake.lock();
            state.github.faults.push_back(GithubFault::ServerError);
            let faults = &mut state.pipedrive.faults;
            faults.push_back((PipedriveRoute::CreateActivity, PipedriveFault::ServerError));
            faults.push_back((
                PipedriveRoute::CreateActivity,
                PipedriveFault::TooManyRequests {
                    retry_after: Some(1),
                },
            ));
            faults.push_back((PipedriveRoute::ListActivities, PipedriveFault::ServerError));
        }
        let (success, report, stderr) = sync_report(&db, &fake, &[]);
        assert!(success, "{report} {stderr}");
        assert_eq!(
            report["activities_created"].as_u64().unwrap()
                + report["activities_reconciled"].as_u64().unwrap(),
            5
        );
        assert_eq!(fake.activity_count(), 5);
        assert_each_gist_once(&fake, "flaky");
        assert_eq!(
            fake.lock().pipedrive.sent_during_penalty,
            0,
            "nothing sent before Retry-After"
        );
    }
}

#[test]
fn a_persistent_failure_is_visible_and_retried_later() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("stubborn", 1);
        ok(&db, Some(&fake), &["add", "stubborn"]);
        for _ in 0..3 {
            fake.lock()
                .pipedrive
                .faults
                .push_back((PipedriveRoute::CreateActivity, PipedriveFault::ServerError));
        }
        let (success, report, _) = sync_report(&db, &fake, &[]);
        assert!(
            !success,
            "a failed delivery makes sync exit non-zero: {report}"
        );
        assert_eq!(report["failed"], 1);
        let people = json(&db, None, &["list"]);
        assert_eq!(people[0]["deliveries_failed"], 1);
        let shown = json(&db, None, &["show", "--all", "stubborn"]);
        assert_eq!(shown["gists"][0]["delivery"], "failed");
        assert!(shown["gists"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("500"));
        assert!(!shown["gists"][0]["next_attempt_at"].is_null());
        for width in ["120", "250"] {
            let table = support::command(&db, None)
                .env("COLUMNS", width)
                .args(["show", "--all", "stubborn"])
                .output()
                .unwrap();
            let table = String::from_utf8_lossy(&table.stdout);
            let row = table
                .lines()
                .find(|l| l.contains(" failed "))
                .unwrap_or_else(|| panic!("{table}"));
            // The next try in full, at any width the row fits in.
            let next = shown["gists"][0]["next_attempt_at"].as_str().unwrap();
            let next = format!("{} {} UTC", &next[..10], &next[11..19]);
            assert!(row.contains(&next), "at {width}: {table}");
            if width == "250" {
                assert!(row.contains("500"), "and why: {table}");
            }
        }

        // Backoff: the next pass leaves it alone; --retry-failed replays it now.
        let (_, report, _) = sync_report(&db, &fake, &[]);
        assert_eq!(report["activities_created"], 0);
        let (success, report, _) = sync_report(&db, &fake, &["--retry-failed"]);
        assert!(success, "{report}");
        assert_eq!(report["activities_created"], 1);
        assert_eq!(fake.activity_count(), 1);
        assert_eq!(json(&db, None, &["list"])[0]["deliveries_failed"], 0);
    }
}

#[test]
fn concurrent_syncs_deliver_each_gist_once_and_ask_github_once_per_user() {
    for db in backends() {
        let fake = roomy_fake();
        let logins = fake.add_users("crowd", 12, 3);
        let mut add = vec!["add"];
        add.extend(logins.iter().map(String::as_str));
        ok(&db, Some(&fake), &add);
        fake.lock().github.latency = Duration::from_millis(150);
        fake.lock().pipedrive.latency = Duration::from_millis(10);
        let children: Vec<_> = (0..3)
            .map(|_| support::spawn(&db, Some(&fake), &["sync", "--concurrency", "2"]))
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            support::assert_success(&out, &format!("[{}] concurrent sync", db.backend));
        }
        assert_eq!(fake.activity_count(), 36);
        for login in &logins {
            assert_each_gist_once(&fake, login);
            assert_eq!(
                fake.lock().github.list_requests[login.as_str()],
                1,
                "{login} listed once in the pass"
            );
        }
    }
}

#[test]
fn a_dry_run_writes_nothing_anywhere() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("dry", 3);
        ok(&db, Some(&fake), &["add", "dry"]);
        let out = support::command(&db, Some(&fake))
            .env_remove("PIPEDRIVE_TOKEN")
            .args(["-o", "json", "sync", "--dry-run"])
            .output()
            .unwrap();
        support::assert_success(&out, "sync --dry-run");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["planned"].as_array().unwrap().len(), 3);
        assert!(report["run_id"].is_null());
        assert_eq!(fake.activity_count(), 0);
        let shown = json(&db, None, &["show", "--all", "dry"]);
        assert!(
            shown["gists"].as_array().unwrap().is_empty(),
            "no ledger rows"
        );
        assert!(
            shown["last_sync"].is_null(),
            "the ETag and sync time did not move"
        );
        let table = ok(&db, Some(&fake), &["sync", "--dry-run"]);
        assert!(table.contains("ACTIVITY SUBJECT"), "{table}");
        // The real pass afterwards still sees everything.
        let (_, report, _) = sync_report(&db, &fake, &[]);
        assert_eq!(report["activities_created"], 3);
    }
}

#[test]
fn only_new_tracks_gists_created_after_the_add() {
    let fake = roomy_fake();
    fake.add_user("fresh", 4);
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "--only-new", "fresh"]);
    let (_, report, _) = sync_report(&db, &fake, &[]);
    assert_eq!(report["new_gists"], 4);
    assert_eq!(report["activities_created"], 0);
    let shown = json(&db, None, &["show", "--all", "fresh"]);
    assert!(shown["gists"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["delivery"] == "skipped"));
    std::thread::sleep(Duration::from_millis(1100));
    let new_id = fake.add_gist("fresh");
    let (_, report, _) = sync_report(&db, &fake, &[]);
    assert_eq!(report["activities_created"], 1);
    assert_eq!(fake.activities_for_gist(&new_id), 1);
}

#[test]
fn a_distant_github_rate_limit_stops_github_work_for_the_pass() {
    let fake = roomy_fake();
    fake.add_user("first", 1);
    fake.add_user("second", 1);
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "first", "second"]);
    let before = fake.lock().github.total_requests;
    fake.lock()
        .github
        .faults
        .push_back(GithubFault::PrimaryLimit { reset_in: 3600 });
    let (success, report, stderr) = sync_report(&db, &fake, &["--concurrency", "1"]);
    assert!(!success);
    let errors = report["errors"].to_string();
    assert!(errors.contains("hourly budget"), "{errors}");
    assert_eq!(
        fake.lock().github.total_requests - before,
        1,
        "stopped asking GitHub after the limit"
    );
    assert!(
        stderr.contains("--rate-limit-max-wait") && stderr.contains("next sync"),
        "says what happens next: {stderr}"
    );
}

#[test]
fn a_secondary_limit_is_waited_out() {
    let fake = roomy_fake();
    fake.add_user("patient", 2);
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "patient"]);
    fake.lock().github.faults.push_back(GithubFault::Secondary {
        retry_after: Some(1),
    });
    let started = Instant::now();
    let (success, report, _) = sync_report(&db, &fake, &[]);
    assert!(success, "{report}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for retry-after"
    );
    assert_eq!(report["activities_created"], 2);
}

#[test]
fn pipedrive_refusals_are_named_and_stop_pipedrive_work() {
    let fake = roomy_fake();
    fake.add_user("blocked", 3);
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "blocked"]);

    let out = support::command(&db, Some(&fake))
        .env("PIPEDRIVE_TOKEN", "wrong-token")
        .args(["sync"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Pipedrive rejected the token"), "{stderr}");
    assert!(
        !stderr.contains("wrong-token"),
        "the token is never printed"
    );

    let posts = fake.lock().pipedrive.activity_posts;
    fake.lock()
        .pipedrive
        .faults
        .push_back((PipedriveRoute::CreateActivity, PipedriveFault::BlockedHtml));
    let (success, report, _) = sync_report(&db, &fake, &[]);
    assert!(!success);
    assert!(report["errors"].to_string().contains("403"), "{report}");
    assert_eq!(
        report["failed"], 1,
        "one failed delivery, counted once: {report}"
    );
    assert_eq!(
        report["errors"].as_array().unwrap().len(),
        1,
        "reported once: {report}"
    );
    assert_eq!(
        fake.lock().pipedrive.activity_posts,
        posts,
        "no further POSTs after the 403 page"
    );
    let (success, _, _) = sync_report(&db, &fake, &["--retry-failed"]);
    assert!(success);
    assert_each_gist_once(&fake, "blocked");
}

#[test]
fn the_burst_limit_is_respected() {
    let fake = FakeApis::start();
    fake.add_user("bursty", 30);
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "bursty"]);
    let (success, report, stderr) = sync_report(&db, &fake, &[]);
    assert!(success, "{report} {stderr}");
    assert_eq!(fake.activity_count(), 30);
    assert_eq!(
        fake.lock().pipedrive.sent_during_penalty,
        0,
        "never sent while told to wait"
    );
}

#[test]
fn order_does_not_matter_and_renames_are_followed() {
    let fake = roomy_fake();
    fake.add_user("mover", 120);
    fake.lock().github.order = GistOrder::Shuffled;
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "mover"]);
    ok(&db, Some(&fake), &["sync"]);
    assert_eq!(fake.activity_count(), 120);
    fake.lock().github.user_mut("mover").unwrap().login = "moved".into();
    let new_id = fake.add_gist("moved");
    let (success, report, stderr) = sync_report(&db, &fake, &[]);
    assert!(success, "{report} {stderr}");
    assert_eq!(fake.activities_for_gist(&new_id), 1);
    assert_eq!(fake.activity_count(), 121);
    assert_eq!(json(&db, None, &["list"])[0]["github_username"], "moved");
}

#[test]
fn sync_of_an_untracked_user_is_refused() {
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    let err = fails(&db, Some(&fake), &["sync", "ghost"]);
    assert!(err.contains("ghost is not tracked"), "{err}");
    assert_eq!(fake.lock().github.total_requests, 0);
}

#[test]
fn every_pass_is_recorded_in_sync_runs() {
    let fake = roomy_fake();
    fake.add_user("logged", 2);
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "logged"]);
    ok(&db, Some(&fake), &["sync"]);
    ok(&db, Some(&fake), &["sync", "--dry-run"]);
    let store =
        gisttrack::db::Store::open(&gisttrack::config::DatabaseTarget::parse(&db.url).unwrap())
            .unwrap();
    let runs = gisttrack::db::sync_runs::recent(&mut store.conn().unwrap(), 10).unwrap();
    assert_eq!(runs.len(), 1, "dry runs are not recorded");
    assert_eq!(runs[0].trigger_kind, gisttrack::sync::Trigger::Cli);
    assert_eq!(runs[0].counts.activities_created, 2);
    assert!(runs[0].finished_at.is_some());
}

#[test]
fn a_github_enterprise_base_url_works_with_its_api_v3_path() {
    let fake = roomy_fake();
    fake.add_user("enterprise", 150);
    let db = TestDb::sqlite();
    let ghes = format!("{}/api/v3", fake.github_url);
    let run = |args: &[&str]| {
        support::command(&db, Some(&fake))
            .env("GITHUB_API_URL", &ghes)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["add", "enterprise"]).status.success());
    let out = run(&["sync"]);
    support::assert_success(&out, "sync");
    assert_eq!(
        fake.activity_count(),
        150,
        "both pages followed under /api/v3"
    );
}

#[test]
fn a_secondary_limit_longer_than_the_wait_cap_stops_github_work() {
    let fake = roomy_fake();
    fake.add_user("capped", 1);
    let db = TestDb::sqlite();
    ok(&db, Some(&fake), &["add", "capped"]);
    fake.lock()
        .github
        .faults
        .push_back(GithubFault::Secondary { retry_after: None });
    let started = Instant::now();
    let out = support::command(&db, Some(&fake))
        .env("GISTTRACK_RATE_LIMIT_MAX_WAIT", "5s")
        .args(["-o", "json", "sync"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The limit asks for at least a minute; anything well short of it means it was not waited out.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "did not sit out the minute"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["errors"]
            .to_string()
            .contains("secondary rate limit"),
        "{report}"
    );
}

#[test]
fn a_pipedrive_429_without_retry_after_waits_for_the_window_reset() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("windowed", 2);
        ok(&db, Some(&fake), &["add", "windowed"]);
        fake.lock().pipedrive.faults.push_back((
            PipedriveRoute::CreateActivity,
            PipedriveFault::TooManyRequests { retry_after: None },
        ));
        let (success, report, _) = sync_report(&db, &fake, &[]);
        assert!(success, "{report}");
        assert_eq!(fake.activity_count(), 2);
        assert_eq!(
            fake.lock().pipedrive.sent_during_penalty,
            0,
            "waited for x-ratelimit-reset"
        );
    }
}

#[test]
fn a_spent_pipedrive_day_stops_writes_at_once_without_pressing_into_a_block() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("daily", 5);
        ok(&db, Some(&fake), &["add", "daily"]);
        // Five more requests today: the look's three reads (the person, its owner's name,
        // its activities), then two POSTs, the second of which is answered with none left.
        fake.lock().pipedrive.daily_left = Some(5);
        let (success, report, _) = sync_report(&db, &fake, &[]);
        assert!(!success, "a stopped service is reported: {report}");
        assert_eq!(report["activities_created"], 2, "{report}");
        assert!(
            report["errors"].to_string().contains("daily budget"),
            "{report}"
        );
        assert_eq!(
            fake.lock().pipedrive.sent_after_daily_spent,
            0,
            "[{}] nothing sent once the answer said the day was spent",
            db.backend
        );
        assert_eq!(json(&db, None, &["list"])[0]["deliveries_pending"], 3);

        // A new day that starts spent: the daily 429 stops the pass after one request.
        let (success, report, _) = sync_report(&db, &fake, &[]);
        assert!(!success);
        assert!(
            report["errors"].to_string().contains("daily budget"),
            "{report}"
        );
        assert_eq!(
            fake.lock().pipedrive.sent_after_daily_spent,
            1,
            "no retries into a block"
        );

        fake.lock().pipedrive.daily_left = None;
        ok(&db, Some(&fake), &["sync", "--retry-failed"]);
        assert_each_gist_once(&fake, "daily");
    }
}

#[test]
fn person_searches_are_paced_under_the_search_apis_own_limit() {
    for db in backends() {
        let fake = roomy_fake();
        let logins = fake.add_users("searched", 14, 0);
        let mut add = vec!["add"];
        add.extend(logins.iter().map(String::as_str));
        let started = Instant::now();
        ok(&db, Some(&fake), &add);
        assert_eq!(
            fake.lock().pipedrive.searches_over_limit,
            0,
            "never over 10 per 2 s"
        );
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "14 searches cannot all fit in one window"
        );
        assert_eq!(fake.live_persons().len(), 14);
    }
}

#[test]
fn github_429_limits_are_waited_out_or_left_bounded() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("throttled", 1);
        ok(&db, Some(&fake), &["add", "throttled"]);
        fake.lock()
            .github
            .faults
            .push_back(GithubFault::PrimaryLimit429 { reset_in: Some(1) });
        let (success, report, stderr) = sync_report(&db, &fake, &[]);
        assert!(
            success,
            "a 429 with a near reset is waited out: {report} {stderr}"
        );
        assert_eq!(report["activities_created"], 1);

        // No reset header: backing off a minute exceeds the wait cap, so GitHub is left alone
        // for the pass after one request, instead of being asked once a second.
        fake.add_gist("throttled");
        fake.lock()
            .github
            .faults
            .push_back(GithubFault::PrimaryLimit429 { reset_in: None });
        let before = fake.lock().github.total_requests;
        let started = Instant::now();
        let out = support::command(&db, Some(&fake))
            .env("GISTTRACK_RATE_LIMIT_MAX_WAIT", "5s")
            .args(["-o", "json", "sync"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(fake.lock().github.total_requests - before, 1);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            report["errors"].to_string().contains("rate limit"),
            "{report}"
        );
    }
}

#[test]
fn a_gist_without_description_or_languages_is_delivered_plainly() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("sparse", 1);
        let id = fake.gist_ids("sparse")[0].clone();
        fake.strip_gist("sparse", &id);
        ok(&db, Some(&fake), &["add", "sparse"]);
        ok(&db, Some(&fake), &["sync"]);
        let subject = fake.lock().pipedrive.activities[0].subject.clone();
        assert_eq!(subject, "Gist: README.md", "the first file names it");
        let shown = json(&db, None, &["show", "--all", "sparse"]);
        let gist = &shown["gists"][0];
        assert!(gist["description"].is_null(), "{gist}");
        assert!(gist["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["language"].is_null()));
        assert_eq!(gist["delivery"], "delivered");
    }
}

#[test]
fn replicas_divide_a_pass_read_in_batches_and_list_each_user_once() {
    for db in backends() {
        let fake = roomy_fake();
        // More than two of the batches a pass reads at a time.
        let logins = support::seed_tracked(&db, &fake, "many", 1_203);
        fake.lock().github.latency = Duration::from_millis(10);
        let children: Vec<_> = (0..3)
            .map(|_| {
                support::spawn(
                    &db,
                    Some(&fake),
                    &["-o", "json", "sync", "--concurrency", "8"],
                )
            })
            .collect();
        let mut checked = Vec::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            support::assert_success(&out, &format!("[{}] one of three syncs", db.backend));
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            checked.push(report["users_checked"].as_u64().unwrap());
        }
        let state = fake.lock();
        // Each user once, but for those a replica that started its pass late found synced
        // before it began (it rightly looks again): a few, never a second pass's worth.
        let mut listed = 0;
        for login in &logins {
            let times = state.github.list_requests.get(login.as_str()).copied();
            assert!(
                matches!(times, Some(1 | 2)),
                "[{}] {login}: {times:?}",
                db.backend
            );
            listed += times.unwrap_or(0);
        }
        assert!(
            listed <= 1_203 + 1_203 / 20,
            "[{}] {listed} listings for 1,203 users",
            db.backend
        );
        assert_eq!(
            checked.iter().sum::<u64>(),
            listed,
            "[{}] {checked:?}",
            db.backend
        );
        assert!(
            checked.iter().all(|&n| n > 0),
            "[{}] each process took a share: {checked:?}",
            db.backend
        );
        drop(state);
        // An unchanged re-sync by one process: every list answer a free 304.
        let counted = fake.github_counted();
        let (success, report, _) = sync_report(&db, &fake, &["--concurrency", "32"]);
        assert!(success, "{report}");
        assert_eq!(report["users_unchanged"], 1_203, "{report}");
        assert_eq!(fake.github_counted(), counted, "no counted GitHub request");
    }
}

#[test]
fn a_pass_stopped_by_githubs_budget_goes_on_where_it_stopped_in_the_next() {
    for db in backends() {
        let fake = roomy_fake();
        let logins = support::seed_tracked(&db, &fake, "budget", 100);
        fake.lock().github.hourly_limit = 40;
        let env = [("GISTTRACK_RATE_LIMIT_MAX_WAIT", "1s")];
        let mut checked_per_pass = Vec::new();
        for pass in 1..=3 {
            let counted = fake.github_counted();
            let (success, report, stderr) = support::sync_report_with(&db, &fake, &env, &[]);
            let counted = fake.github_counted() - counted;
            checked_per_pass.push((report["users_checked"].as_u64().unwrap(), counted));
            if pass < 3 {
                assert!(
                    !success,
                    "[{}] pass {pass} stopped at the budget: {report}",
                    db.backend
                );
                assert!(stderr.contains("GitHub"), "{stderr}");
                // The hour is over: a fresh budget.
                let mut state = fake.lock();
                state.github.used.clear();
                state.github.reset_at = support::fake::now_secs() + 3600;
            } else {
                assert!(
                    success,
                    "[{}] the third pass finishes: {report} {stderr}",
                    db.backend
                );
            }
            // Every counted request went to a user never listed before: the users a pass
            // already covered cost nothing again (authenticated 304s are free).
            assert!(
                counted <= 40,
                "[{}] pass {pass}: {checked_per_pass:?}",
                db.backend
            );
        }
        let total: u64 = checked_per_pass.iter().map(|(_, counted)| counted).sum();
        assert_eq!(
            total, 100,
            "[{}] one counted listing per user in all: {checked_per_pass:?}",
            db.backend
        );
        let people = json(&db, None, &["list"]);
        assert!(
            people
                .as_array()
                .unwrap()
                .iter()
                .all(|p| !p["last_sync"].is_null()),
            "[{}] everyone synced after three passes",
            db.backend
        );
        assert_eq!(people.as_array().unwrap().len(), logins.len());
    }
}
