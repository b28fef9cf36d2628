//! The exactly-once promise under faults, end to end with the real binary, the fakes and a real
//! database on each backend: writes still in flight, processes killed mid-request, people with
//! a history in Pipedrive, person creations whose answer was lost, and an unreadable ledger.

mod support;

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use support::fake::{PipedriveFault, PipedriveRoute};
use support::{
    assert_each_gist_once, backends, fails, json, ok, roomy_fake, run, sync_report,
    sync_report_with, FakeApis, TestDb,
};

/// A short HTTP timeout, and an in-flight bound short enough to outwait yet long enough
/// that the "at once" steps (a process start or two) fit inside it on a loaded machine.
const SHORT: &[(&str, &str)] = &[
    ("GISTTRACK_HTTP_TIMEOUT", "1s"),
    ("GISTTRACK_IN_FLIGHT_BOUND", "8s"),
];

fn sync_short(db: &TestDb, fake: &FakeApis) -> (bool, Value, String) {
    sync_report_with(db, fake, SHORT, &[])
}

/// Sleeps until an RFC 3339 time from a report has passed.
fn sleep_past(rfc3339: &Value) {
    let until = humantime::parse_rfc3339(rfc3339.as_str().expect("a time")).unwrap();
    if let Ok(left) = until.duration_since(SystemTime::now()) {
        std::thread::sleep(left + Duration::from_millis(200));
    }
}

fn count(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {report}"))
}

#[test]
fn a_write_that_lands_after_the_clients_timeout_is_looked_for_not_sent_again() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("slowpoke", 3);
        ok(&db, Some(&fake), &["add", "slowpoke"]);
        {
            let faults = &mut fake.lock().pipedrive.faults;
            // Committed 3 s after it arrives: the client (1 s timeout) has given up by then.
            faults.push_back((
                PipedriveRoute::CreateActivity,
                PipedriveFault::CommitLate(Duration::from_secs(3)),
            ));
            // Written, then a gateway's 502: the answer is lost.
            faults.push_back((
                PipedriveRoute::CreateActivity,
                PipedriveFault::LostAfterWrite,
            ));
        }
        let (success, first, stderr) = sync_short(&db, &fake);
        assert!(success, "waiting is not failing: {first} {stderr}");
        assert_eq!(count(&first, "activities_created"), 1, "{first}");
        assert_eq!(count(&first, "deliveries_waiting"), 2, "{first}");
        assert_eq!(count(&first, "failed"), 0, "{first}");
        assert!(stderr.contains("may still land"), "{stderr}");
        let waiting = json(&db, None, &["show", "--all", "slowpoke"]);
        let unsettled: Vec<&Value> = waiting["gists"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["delivery"] == "sending")
            .collect();
        assert_eq!(unsettled.len(), 2, "{waiting}");
        assert!(
            unsettled.iter().all(
                |g| g["last_error"].as_str().unwrap().contains("may still land")
                    && !g["next_attempt_at"].is_null()
            ),
            "show says why they wait and until when: {waiting}"
        );
        let table = support::command(&db, None)
            .env("COLUMNS", "250")
            .args(["show", "--all", "slowpoke"])
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&table.stdout);
        let waiting: Vec<&str> = table.lines().filter(|l| l.contains(" waiting ")).collect();
        assert_eq!(waiting.len(), 2, "the table says it too: {table}");
        assert!(
            waiting
                .iter()
                .all(|l| l.contains("UTC") && l.contains("may still land")),
            "with when it is looked for, and why: {table}"
        );

        // At once again: both may still land, so nothing is listed or sent for them.
        let (_, second, _) = sync_short(&db, &fake);
        assert_eq!(count(&second, "deliveries_waiting"), 2, "{second}");
        assert_eq!(count(&second, "activities_created"), 0, "{second}");

        // Once they can no longer land, they are found, not resent.
        sleep_past(&second["waiting_until"]);
        let (success, third, stderr) = sync_short(&db, &fake);
        assert!(success, "{third} {stderr}");
        assert_eq!(count(&third, "activities_reconciled"), 2, "{third}");
        assert_eq!(count(&third, "activities_created"), 0, "{third}");
        assert_eq!(count(&third, "deliveries_waiting"), 0, "{third}");
        assert!(third["waiting_until"].is_null());
        assert_eq!(
            fake.activity_count(),
            3,
            "[{}] 3 gists, 3 activities",
            db.backend
        );
        assert_eq!(
            fake.lock().pipedrive.activity_posts_received,
            3,
            "no POST was ever repeated"
        );
        assert_each_gist_once(&fake, "slowpoke");
        let shown = json(&db, None, &["show", "--all", "slowpoke"]);
        assert!(shown["gists"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["delivery"] == "delivered" && g["last_error"].is_null()));
    }
}

#[test]
fn a_sync_killed_with_posts_in_flight_and_restarted_at_once_doubles_nothing() {
    for db in backends() {
        let fake = roomy_fake();
        let logins = ["kill0", "kill1", "kill2", "kill3"];
        for login in logins {
            fake.add_user(login, 1);
        }
        let mut add = vec!["add"];
        add.extend(logins);
        ok(&db, Some(&fake), &add);
        for _ in logins {
            fake.lock().pipedrive.faults.push_back((
                PipedriveRoute::CreateActivity,
                PipedriveFault::CommitLate(Duration::from_secs(3)),
            ));
        }
        let mut child = support::command(&db, Some(&fake))
            .env("GISTTRACK_HTTP_TIMEOUT", "2s")
            .env("GISTTRACK_IN_FLIGHT_BOUND", "10s")
            .args(["sync", "--concurrency", "4"])
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while fake.lock().pipedrive.activity_posts_received < 4 {
            assert!(Instant::now() < deadline, "sync never reached Pipedrive");
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap(); // SIGKILL: the leases and the `sending` rows stay behind
        child.wait().unwrap();
        assert_eq!(fake.activity_count(), 0, "nothing has landed yet");

        // Cron starts the next sync at once: the dead owner's leases are taken over, but its
        // requests may still land, so nothing is listed or sent for them.
        let env = [
            ("GISTTRACK_HTTP_TIMEOUT", "2s"),
            ("GISTTRACK_IN_FLIGHT_BOUND", "10s"),
        ];
        let (success, next, stderr) = sync_report_with(&db, &fake, &env, &[]);
        assert!(success, "{next} {stderr}");
        assert_eq!(
            count(&next, "users_skipped"),
            0,
            "dead leases taken over: {next}"
        );
        assert_eq!(count(&next, "deliveries_waiting"), 4, "{next}");
        assert_eq!(count(&next, "activities_created"), 0, "{next}");

        // The held requests land on their own; the first pass after the bound finds them.
        sleep_past(&next["waiting_until"]);
        let (success, last, stderr) = sync_report_with(&db, &fake, &env, &[]);
        assert!(success, "{last} {stderr}");
        assert_eq!(count(&last, "activities_reconciled"), 4, "{last}");
        assert_eq!(count(&last, "activities_created"), 0, "{last}");
        assert_eq!(fake.activity_count(), 4, "[{}] one per gist", db.backend);
        assert_eq!(fake.lock().pipedrive.activity_posts_received, 4);
        for login in logins {
            assert_each_gist_once(&fake, login);
        }
    }
}

#[test]
fn an_answer_pipedrive_gave_itself_is_reconciled_and_retried_in_the_same_pass() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("answered", 2);
        ok(&db, Some(&fake), &["add", "answered"]);
        {
            let faults = &mut fake.lock().pipedrive.faults;
            // Written, then Pipedrive's own 500: over, so it is looked for at once and found.
            faults.push_back((
                PipedriveRoute::CreateActivity,
                PipedriveFault::ServerErrorAfterWrite,
            ));
            // A 500 with nothing written: looked for, not found, sent again at once.
            faults.push_back((PipedriveRoute::CreateActivity, PipedriveFault::ServerError));
        }
        let (success, report, stderr) = sync_short(&db, &fake);
        assert!(success, "{report} {stderr}");
        assert_eq!(count(&report, "activities_reconciled"), 1, "{report}");
        assert_eq!(count(&report, "activities_created"), 1, "{report}");
        assert_eq!(count(&report, "deliveries_waiting"), 0, "{report}");
        assert_eq!(fake.activity_count(), 2);
        assert_each_gist_once(&fake, "answered");
    }
}

#[test]
fn delete_and_add_again_sends_nothing_twice_and_looks_before_every_write() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("octocat", 3);
        ok(&db, Some(&fake), &["add", "octocat"]);
        let (_, first, _) = sync_report(&db, &fake, &[]);
        assert_eq!(count(&first, "activities_created"), 3);
        let since = || fake.lock().pipedrive.activity_listing_since.clone();
        assert_eq!(
            since().len(),
            1,
            "one look before the writes, not one per gist"
        );

        ok(&db, None, &["delete", "octocat"]);
        let again = json(&db, Some(&fake), &["add", "octocat"]);
        assert_eq!(
            again[0]["pipedrive_id"],
            first_person(&fake),
            "the same Pipedrive person, matched by e-mail"
        );
        let (success, second, stderr) = sync_report(&db, &fake, &[]);
        assert!(success, "{second} {stderr}");
        assert_eq!(count(&second, "new_gists"), 3);
        assert_eq!(count(&second, "activities_created"), 0, "{second}");
        assert_eq!(count(&second, "activities_reconciled"), 3, "{second}");
        assert_eq!(fake.activity_count(), 3);
        assert_eq!(since().len(), 2, "one read, not one per gist");
        assert_eq!(
            since()[1],
            None,
            "a person found, not created, is read in full"
        );

        // A pass with nothing to deliver reads nothing from Pipedrive.
        let reads = fake.lock().pipedrive.person_reads;
        ok(&db, Some(&fake), &["sync"]);
        assert_eq!(
            since().len(),
            2,
            "[{}] no look for an unchanged user",
            db.backend
        );
        assert_eq!(fake.lock().pipedrive.person_reads, reads);

        // A new gist later: looked for (one read), then sent. (That a person unchanged for a
        // while is asked only for what changed since: `sync::tests`, on a clock moved by hand.)
        let new_id = fake.add_gist("octocat");
        let (_, third, _) = sync_report(&db, &fake, &[]);
        assert_eq!(count(&third, "activities_created"), 1);
        assert_eq!(fake.activities_for_gist(&new_id), 1);
        assert_eq!(since().len(), 3);
        assert_each_gist_once(&fake, "octocat");
    }
}

fn first_person(fake: &FakeApis) -> Value {
    fake.live_persons()[0].id.into()
}

#[test]
fn a_second_database_on_the_same_pipedrive_sends_nothing_twice() {
    let fake = roomy_fake();
    fake.add_user("shared", 4);
    let databases = backends();
    let first = &databases[0];
    let second = TestDb::sqlite();
    let second = databases.get(1).unwrap_or(&second);
    ok(first, Some(&fake), &["add", "shared"]);
    ok(first, Some(&fake), &["sync"]);
    assert_eq!(fake.activity_count(), 4);

    ok(second, Some(&fake), &["add", "shared"]);
    let (success, report, stderr) = sync_report(second, &fake, &[]);
    assert!(success, "{report} {stderr}");
    assert_eq!(count(&report, "activities_created"), 0, "{report}");
    assert_eq!(count(&report, "activities_reconciled"), 4, "{report}");
    assert_eq!(fake.activity_count(), 4);
    assert_eq!(fake.live_persons().len(), 1);
    assert_each_gist_once(&fake, "shared");
}

#[test]
fn after_restoring_a_backup_the_next_pass_finds_what_was_sent_since() {
    use diesel::RunQueryDsl;
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("restored", 2);
        ok(&db, Some(&fake), &["add", "restored"]);
        let store =
            gisttrack::db::Store::open(&gisttrack::config::DatabaseTarget::parse(&db.url).unwrap())
                .unwrap();
        // A backup taken before the deliveries: its ledger knows the gists, not their
        // activities, and its person row an older look.
        let backup: (i64,) = {
            use diesel::sql_types::BigInt;
            #[derive(diesel::QueryableByName)]
            struct Looked {
                #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
                activities_looked_at: Option<i64>,
            }
            let looked: Looked = diesel::sql_query("SELECT activities_looked_at FROM people")
                .get_result(&mut **store.conn().unwrap())
                .unwrap();
            (looked.activities_looked_at.unwrap_or(0),)
        };
        ok(&db, Some(&fake), &["sync"]);
        assert_eq!(fake.activity_count(), 2);
        diesel::sql_query(
            "UPDATE gists SET delivery_state = 'pending', activity_id = NULL, attempts = 0",
        )
        .execute(&mut **store.conn().unwrap())
        .unwrap();
        diesel::sql_query(format!(
            "UPDATE people SET activities_looked_at = {}",
            backup.0
        ))
        .execute(&mut **store.conn().unwrap())
        .unwrap();
        let (_, report, _) = sync_report(&db, &fake, &[]);
        assert_eq!(count(&report, "activities_created"), 0, "{report}");
        assert_eq!(count(&report, "activities_reconciled"), 2, "{report}");
        assert_each_gist_once(&fake, "restored");
    }
}

#[test]
fn a_person_creation_whose_answer_was_lost_is_found_again_not_made_twice() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("quiet", 1);
        fake.hide_email("quiet"); // nothing to match on but the name
        fake.lock()
            .pipedrive
            .faults
            .push_back((PipedriveRoute::CreatePerson, PipedriveFault::LostAfterWrite));
        let add = |args: &[&str]| {
            let mut cmd = support::command(&db, Some(&fake));
            cmd.envs(SHORT.iter().copied()).args(args);
            cmd.output().unwrap()
        };
        let out = add(&["add", "quiet"]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("add quiet again after"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert_eq!(fake.live_persons().len(), 1, "Pipedrive made the person");
        assert!(json(&db, None, &["list"]).as_array().unwrap().is_empty());

        // At once: the creation may still be under way, so no second one is attempted, and
        // the refusal says why truly.
        let out = add(&["add", "quiet"]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("(an earlier request got no answer)"),
            "{stderr}"
        );
        assert_eq!(fake.live_persons().len(), 1, "no second creation");
        // Finding it again once the bound has passed: `sync::tests`, in-process, on a clock
        // moved by hand.
    }
}

#[test]
fn a_person_creation_pipedrive_refused_leaves_nothing_and_blocks_nothing() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("refused", 0);
        fake.lock()
            .pipedrive
            .faults
            .push_back((PipedriveRoute::CreatePerson, PipedriveFault::ServerError));
        let err = fails(&db, Some(&fake), &["add", "refused"]);
        assert!(err.contains("500"), "{err}");
        assert!(fake.live_persons().is_empty());
        // The 500 was Pipedrive's own answer: nothing to wait for, the next add just works.
        ok(&db, Some(&fake), &["add", "refused"]);
        assert_eq!(fake.live_persons().len(), 1);
    }
}

#[test]
fn an_unknown_delivery_state_is_named_and_nothing_is_sent_for_it() {
    use diesel::RunQueryDsl;
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("odd", 2);
        ok(&db, Some(&fake), &["add", "--only-new", "odd"]);
        ok(&db, Some(&fake), &["sync"]); // both recorded as skipped
        let store =
            gisttrack::db::Store::open(&gisttrack::config::DatabaseTarget::parse(&db.url).unwrap())
                .unwrap();
        let odd = fake.gist_ids("odd")[0].clone();
        diesel::sql_query(format!(
            "UPDATE gists SET delivery_state = 'retrying' WHERE github_gist_id = '{odd}'"
        ))
        .execute(&mut **store.conn().unwrap())
        .unwrap();

        let (success, report, _) = sync_report(&db, &fake, &[]);
        assert!(!success);
        let errors = report["errors"].to_string();
        assert!(
            errors.contains(&odd) && errors.contains("retrying"),
            "names the gist and the value: {errors}"
        );
        assert_eq!(fake.lock().pipedrive.activity_posts_received, 0);
        let err = fails(&db, None, &["show", "--all", "odd"]);
        assert!(err.contains(&odd) && err.contains("retrying"), "{err}");
        let listed = json(&db, None, &["list"]);
        assert_eq!(
            listed[0]["gists_known"], 2,
            "the list still works: {listed}"
        );
    }
}

#[test]
fn an_in_flight_bound_shorter_than_the_http_timeout_is_refused() {
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    let out = support::command(&db, Some(&fake))
        .env("GISTTRACK_HTTP_TIMEOUT", "20s")
        .env("GISTTRACK_IN_FLIGHT_BOUND", "5s")
        .arg("sync")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--in-flight-bound"), "{stderr}");
    let out = run(&db, Some(&fake), &["sync", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("GISTTRACK_IN_FLIGHT_BOUND"), "{help}");
}

#[test]
fn a_write_held_back_for_a_rate_limit_starts_its_in_flight_clock_when_it_leaves() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("patient", 1);
        ok(&db, Some(&fake), &["add", "patient"]);
        {
            let faults = &mut fake.lock().pipedrive.faults;
            for _ in 0..2 {
                faults.push_back((
                    PipedriveRoute::CreateActivity,
                    PipedriveFault::TooManyRequests {
                        retry_after: Some(2),
                    },
                ));
            }
            faults.push_back((
                PipedriveRoute::CreateActivity,
                PipedriveFault::CommitLate(Duration::from_secs(3)),
            ));
        }
        let started = SystemTime::now();
        let (success, first, stderr) = sync_short(&db, &fake);
        assert!(success, "{first} {stderr}");
        assert_eq!(count(&first, "deliveries_waiting"), 1, "{first}");
        // Two 2 s pauses came before the request left; its bound counts from then.
        let until = humantime::parse_rfc3339(first["waiting_until"].as_str().unwrap()).unwrap();
        assert!(
            until.duration_since(started).unwrap() >= Duration::from_secs(8 + 4),
            "waiting_until {} counts from when the request left",
            first["waiting_until"]
        );
        let (_, second, _) = sync_short(&db, &fake);
        assert_eq!(count(&second, "deliveries_waiting"), 1, "{second}");
        assert_eq!(count(&second, "activities_created"), 0, "{second}");
        // What a pass after the bound makes of it: `sync::tests`, in-process.
    }
}

#[test]
fn a_cdn_error_page_after_the_write_is_waited_out_not_retried() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("edge", 1);
        ok(&db, Some(&fake), &["add", "edge"]);
        fake.lock().pipedrive.faults.push_back((
            PipedriveRoute::CreateActivity,
            PipedriveFault::GatewayPageAfterWrite(524),
        ));
        let (success, first, stderr) = sync_short(&db, &fake);
        assert!(success, "{first} {stderr}");
        assert_eq!(count(&first, "deliveries_waiting"), 1, "{first}");
        assert_eq!(
            fake.lock().pipedrive.activity_posts_received,
            1,
            "not retried at once"
        );
        let (_, second, _) = sync_short(&db, &fake);
        assert_eq!(
            count(&second, "deliveries_waiting"),
            1,
            "still waiting: {second}"
        );
        assert_eq!(fake.lock().pipedrive.activity_posts_received, 1);
    }
}

#[test]
fn a_user_without_an_email_deleted_and_added_again_keeps_their_pipedrive_person() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("private", 2);
        fake.hide_email("private");
        ok(&db, Some(&fake), &["add", "private"]);
        ok(&db, Some(&fake), &["sync"]);
        ok(&db, None, &["delete", "private"]);
        let again = json(&db, Some(&fake), &["add", "private"]);
        assert_eq!(
            fake.live_persons().len(),
            1,
            "[{}] no second person",
            db.backend
        );
        assert_eq!(again[0]["pipedrive_id"], first_person(&fake));
        let (success, report, stderr) = sync_report(&db, &fake, &[]);
        assert!(success, "{report} {stderr}");
        assert_eq!(count(&report, "activities_created"), 0, "{report}");
        assert_eq!(count(&report, "activities_reconciled"), 2, "{report}");
        assert_each_gist_once(&fake, "private");
    }
}

#[test]
fn delete_counts_an_attempt_without_a_recorded_settle_time_with_the_bound_in_effect() {
    use diesel::RunQueryDsl;
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("legacy", 1);
        ok(&db, Some(&fake), &["add", "legacy"]);
        let store =
            gisttrack::db::Store::open(&gisttrack::config::DatabaseTarget::parse(&db.url).unwrap())
                .unwrap();
        fake.lock().pipedrive.faults.push_back((
            PipedriveRoute::CreateActivity,
            PipedriveFault::LostAfterWrite,
        ));
        let (_, report, _) = sync_short(&db, &fake);
        assert_eq!(count(&report, "deliveries_waiting"), 1, "{report}");
        // As a version that did not record settle times left it.
        let started = gisttrack::time::now_ms() - 1_000;
        diesel::sql_query(format!(
            "UPDATE gists SET next_attempt_at = NULL, attempt_started_at = {started}"
        ))
        .execute(&mut **store.conn().unwrap())
        .unwrap();
        let out = support::command(&db, None)
            .env("GISTTRACK_IN_FLIGHT_BOUND", "300s")
            .args(["delete", "legacy"])
            .output()
            .unwrap();
        support::assert_success(&out, "delete");
        let departed = gisttrack::db::departed::find(
            &mut store.conn().unwrap(),
            gisttrack::ids::GithubUserId(fake.lock().github.user("legacy").unwrap().id),
        )
        .unwrap()
        .expect("remembered");
        assert_eq!(
            departed.settles_at,
            Some(started + 300_000),
            "[{}] the bound in effect, not the default",
            db.backend
        );
    }
}

#[test]
fn adding_back_a_user_whose_delivery_may_still_land_waits_for_it() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("hasty", 1);
        ok(&db, Some(&fake), &["add", "hasty"]);
        fake.lock().pipedrive.faults.push_back((
            PipedriveRoute::CreateActivity,
            PipedriveFault::CommitLate(Duration::from_secs(3)),
        ));
        let (_, first, _) = sync_short(&db, &fake);
        assert_eq!(count(&first, "deliveries_waiting"), 1);
        ok(&db, None, &["delete", "hasty"]);
        let out = support::command(&db, Some(&fake))
            .envs(SHORT.iter().copied())
            .args(["add", "hasty"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "refused while the delivery may land");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("may still land") && stderr.contains("again after"),
            "{stderr}"
        );
        assert!(
            json(&db, None, &["list"]).as_array().unwrap().is_empty(),
            "nothing added"
        );
        // Added once it settled, and found, not resent: `sync::tests`, in-process.
    }
}

#[test]
fn reread_history_is_still_taken_and_changes_nothing() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("alice", 1);
        ok(&db, Some(&fake), &["add", "alice"]);
        ok(&db, Some(&fake), &["sync", "--reread-history"]);
        let err = fails(&db, Some(&fake), &["sync", "--reread-history", "ghost"]);
        assert!(err.contains("ghost is not tracked"), "{err}");
        assert_each_gist_once(&fake, "alice");
    }
}
