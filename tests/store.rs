//! The store's functions on each backend: people, the gist ledger, leases, visits, runs.

mod support;

use diesel::Connection;
use gisttrack::clients::{GistId, GithubUrl, RemoteFile, RemoteGist};
use gisttrack::config::DatabaseTarget;
use gisttrack::db::gists::{self, DeliveryState};
use gisttrack::db::people::{self, NewPerson, Page, Person};
use gisttrack::db::sync_runs::{RunCounts, RunTrigger};
use gisttrack::db::{sync_runs, Store};
use gisttrack::ids::{ActivityId, GithubUserId, PipedrivePersonId};
use gisttrack::login::Login;
use gisttrack::sync::record_listing;
use gisttrack::Error;
use support::{backends, TestDb};

fn open(db: &TestDb) -> Store {
    Store::open(&DatabaseTarget::parse(&db.url).unwrap()).unwrap()
}

fn add(store: &Store, login: &str, github_id: i64, backfill: bool, added_at: i64) -> Person {
    let key = login.to_lowercase();
    people::insert(
        &mut store.conn().unwrap(),
        &NewPerson {
            github_login: login,
            github_login_key: &key,
            github_id: Some(GithubUserId(github_id)),
            name: None,
            email: None,
            pipedrive_person_id: Some(PipedrivePersonId(github_id)),
            backfill,
            added_at,
            activities_looked_at: None,
        },
    )
    .unwrap()
}

fn link(url: &str) -> GithubUrl {
    GithubUrl::parse(url, None).unwrap()
}

fn remote(id: &str, created_at: i64, description: &str) -> RemoteGist {
    RemoteGist {
        id: GistId::parse(id).unwrap(),
        description: Some(description.into()),
        html_url: link(&format!("https://gist.github.com/{id}")),
        pull_url: link(&format!("https://gist.github.com/{id}.git")),
        created_at,
        updated_at: created_at,
        files: vec![RemoteFile {
            name: "a.rs".into(),
            raw_url: Some(link(&format!(
                "https://gist.githubusercontent.com/u/{id}/raw/a.rs"
            ))),
            language: Some("Rust".into()),
            size: 1,
        }],
    }
}

#[test]
fn people_are_unique_by_login_case_insensitively_and_by_github_id() {
    for db in backends() {
        let store = open(&db);
        let octo = add(&store, "OctoCat", 1, true, 0);
        let mut conn = store.conn().unwrap();
        let again = people::insert(
            &mut conn,
            &NewPerson {
                github_login: "octocat",
                github_login_key: "octocat",
                github_id: Some(GithubUserId(2)),
                name: None,
                email: None,
                pipedrive_person_id: None,
                backfill: true,
                added_at: 0,
                activities_looked_at: None,
            },
        );
        assert!(
            matches!(again, Err(Error::AlreadyTracked(_))),
            "{}",
            db.backend
        );
        let found = people::find_by_login(&mut conn, &Login::parse("OCTOCAT").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(found.id, octo.id);
        assert_eq!(
            people::find_by_github_id(&mut conn, GithubUserId(1))
                .unwrap()
                .unwrap()
                .id,
            octo.id
        );
        assert!(matches!(
            people::get_by_login(&mut conn, &Login::parse("ghost").unwrap()),
            Err(Error::NotTracked(_))
        ));
        people::rename(&mut conn, octo.id, &Login::parse("Mona").unwrap()).unwrap();
        assert!(
            people::find_by_login(&mut conn, &Login::parse("mona").unwrap())
                .unwrap()
                .is_some()
        );
    }
}

#[test]
fn the_ledger_inserts_new_gists_refreshes_known_ones_and_skips_old_ones_without_backfill() {
    for db in backends() {
        let store = open(&db);
        let backfilled = add(&store, "old", 1, true, 1_000);
        let fresh_only = add(&store, "new", 2, false, 1_000);
        let mut conn = store.conn().unwrap();
        let listing = vec![
            remote("g1", 500, "before"),
            remote("g2", 2_000, "after"),
            remote("g1", 500, "dupe"),
        ];
        let inserted = record_listing(&mut conn, &backfilled, &listing, 5_000)
            .unwrap()
            .new;
        assert_eq!(inserted, 2, "a repeated id in one listing is one row");
        let inserted = record_listing(&mut conn, &fresh_only, &listing[..2], 5_000)
            .unwrap()
            .new;
        assert_eq!(inserted, 2);
        let states = |person: &Person, conn: &mut _| -> Vec<(String, DeliveryState)> {
            let mut rows: Vec<_> = gists::list_for_person(conn, person.id, None)
                .unwrap()
                .into_iter()
                .map(|(g, files)| {
                    assert_eq!(files.len(), 1);
                    (g.github_gist_id.to_string(), g.delivery_state)
                })
                .collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows
        };
        assert_eq!(
            states(&backfilled, &mut conn),
            [
                ("g1".into(), DeliveryState::Pending),
                ("g2".into(), DeliveryState::Pending)
            ]
        );
        assert_eq!(
            states(&fresh_only, &mut conn),
            [
                ("g1".into(), DeliveryState::Skipped),
                ("g2".into(), DeliveryState::Pending)
            ],
            "only gists created after the add are delivered"
        );

        let mut edited = remote("g2", 2_000, "edited");
        edited.updated_at = 3_000;
        edited.files.push(RemoteFile {
            name: "b.rs".into(),
            raw_url: Some(link("https://x/b.rs")),
            language: None,
            size: 2,
        });
        let inserted = record_listing(&mut conn, &backfilled, &[edited], 6_000)
            .unwrap()
            .new;
        assert_eq!(inserted, 0, "an edit is not a new gist");
        let rows = gists::list_for_person(&mut conn, backfilled.id, Some(5_500)).unwrap();
        assert!(rows.is_empty(), "an edit keeps the first-seen time");
        let rows = gists::list_for_person(&mut conn, backfilled.id, None).unwrap();
        let (g2, files) = rows
            .iter()
            .find(|(g, _)| g.github_gist_id.as_str() == "g2")
            .unwrap();
        assert_eq!(g2.description.as_deref(), Some("edited"));
        assert_eq!(files.len(), 2);
    }
}

#[test]
fn a_large_delivery_batch_gets_every_gists_files_across_query_chunks() {
    for db in backends() {
        let store = open(&db);
        let prolific = add(&store, "prolific", 1, true, 0);
        let mut conn = store.conn().unwrap();
        // More gists than one `IN (...)` chunk holds, each with a file named after it.
        let listing: Vec<RemoteGist> = (0..1_203)
            .map(|n| {
                let mut gist = remote(&format!("p{n:04}"), 10 + n, "many");
                gist.files[0].name = format!("file{n:04}.rs");
                gist
            })
            .collect();
        record_listing(&mut conn, &prolific, &listing, 5_000).unwrap();
        let due = gists::due_for_delivery(&mut conn, prolific.id, 5_000, false).unwrap();
        assert_eq!(due.len(), 1_203);
        let paired = gists::with_files(&mut conn, due).unwrap();
        assert_eq!(paired.len(), 1_203, "no gist lost at a chunk boundary");
        for (gist, files) in &paired {
            let number = gist.github_gist_id.as_str().trim_start_matches('p');
            let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(
                names,
                [format!("file{number}.rs")],
                "{}",
                gist.github_gist_id
            );
        }
    }
}

#[test]
fn looks_relinks_and_unlinks_are_recorded_only_under_the_lease() {
    use gisttrack::ids::{PipedriveOrgId, PipedriveUserId};
    for db in backends() {
        let store = open(&db);
        let octo = add(&store, "octo", 7, true, 0);
        let mut conn = store.conn().unwrap();
        let looked = people::Looked {
            owner_id: Some(PipedriveUserId(8)),
            owner_name: Some("Alex Owner"),
            org_id: Some(PipedriveOrgId(3)),
            activities_looked_at: 1_000,
        };
        assert!(
            !people::record_look(&mut conn, octo.id, "worker", &looked).unwrap(),
            "[{}] not without the lease",
            db.backend
        );
        assert!(claim(&mut conn, octo.id, "worker", 500, 60_000, None, None).unwrap());
        assert!(people::record_look(&mut conn, octo.id, "worker", &looked).unwrap());
        let stored = people::get(&mut conn, octo.id).unwrap();
        assert_eq!(stored.pipedrive_owner_id, Some(PipedriveUserId(8)));
        assert_eq!(stored.pipedrive_owner_name.as_deref(), Some("Alex Owner"));
        assert_eq!(stored.pipedrive_org_id, Some(PipedriveOrgId(3)));
        assert_eq!(stored.activities_looked_at, Some(1_000));

        assert!(people::unlink(&mut conn, octo.id, "worker", 2_000).unwrap());
        assert_eq!(people::count_unlinked(&mut conn).unwrap(), 1);
        assert!(people::relink(&mut conn, octo.id, "worker", PipedrivePersonId(4242)).unwrap());
        let stored = people::get(&mut conn, octo.id).unwrap();
        assert_eq!(stored.pipedrive_person_id, Some(PipedrivePersonId(4242)));
        assert_eq!(stored.unlinked_at, None, "linked again");
        assert_eq!(
            stored.activities_looked_at, None,
            "[{}] a new person's activities are read in full",
            db.backend
        );
        assert_eq!(
            stored.pipedrive_owner_id, None,
            "read again at the next look"
        );
    }
}

#[test]
fn deliveries_move_through_their_states_and_failures_wait_for_their_time() {
    for db in backends() {
        let store = open(&db);
        let person = add(&store, "deliver", 1, true, 0);
        let mut conn = store.conn().unwrap();
        record_listing(
            &mut conn,
            &person,
            &[
                remote("a", 10, "a"),
                remote("b", 20, "b"),
                remote("c", 30, "c"),
            ],
            100,
        )
        .unwrap();
        let due = gists::due_for_delivery(&mut conn, person.id, 1_000, false).unwrap();
        assert_eq!(
            due.iter()
                .map(|g| g.github_gist_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "c"],
            "oldest first"
        );
        let (a, b, c) = (&due[0], &due[1], &due[2]);
        assert!(claim(&mut conn, person.id, "me", 1_000, 1_000_000, None, None).unwrap());
        let attempt = |gist: &gists::Gist, seen: gists::RowState, owner: &'static str, now| {
            gists::NewAttempt {
                gist: gist.id,
                seen,
                person: person.id,
                lease_owner: owner,
                now,
                settles_at: now + 60_000,
            }
        };

        let marked = attempt(a, a.row_state(), "me", 1_000);
        assert!(gists::mark_sending(&mut conn, &marked).unwrap());
        gists::mark_delivered(&mut conn, a.id, ActivityId(77)).unwrap();
        assert!(
            !gists::mark_sending(&mut conn, &attempt(a, a.row_state(), "me", 1_001)).unwrap(),
            "a row changed since it was read (here: delivered) is never sent again"
        );
        assert!(
            !gists::mark_sending(&mut conn, &attempt(b, b.row_state(), "someone else", 1_000))
                .unwrap(),
            "only the lease holder sends"
        );
        assert!(
            !gists::mark_sending(&mut conn, &attempt(b, b.row_state(), "me", 2_000_000)).unwrap(),
            "nor after its lease expired"
        );

        // A mark whose request never left (held back for a rate limit) is taken back whole.
        assert!(gists::mark_sending(&mut conn, &attempt(b, b.row_state(), "me", 1_000)).unwrap());
        gists::unmark_sending(&mut conn, b.id, &b.row_state()).unwrap();
        let back = gists::due_for_delivery(&mut conn, person.id, 1_000, false).unwrap();
        assert_eq!(back[0].row_state(), b.row_state());

        assert!(gists::mark_sending(&mut conn, &attempt(b, b.row_state(), "me", 1_000)).unwrap());
        gists::mark_failed(&mut conn, b.id, "boom", 5_000).unwrap();
        // Left `sending`, as after a crash; settles a minute after it started.
        assert!(gists::mark_sending(&mut conn, &attempt(c, c.row_state(), "me", 1_000)).unwrap());
        let c_now = gists::due_for_delivery(&mut conn, person.id, 2_000, false).unwrap();
        assert_eq!(
            c_now[0].next_attempt_at,
            Some(61_000),
            "when it settles is stored"
        );

        let due: Vec<String> = gists::due_for_delivery(&mut conn, person.id, 2_000, false)
            .unwrap()
            .into_iter()
            .map(|g| g.github_gist_id.to_string())
            .collect();
        assert_eq!(
            due,
            ["c"],
            "the failed one waits; the interrupted one is read (the rule decides it waits)"
        );
        let due = gists::due_for_delivery(&mut conn, person.id, 6_000, false).unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].attempts, 1);
        assert_eq!(
            gists::due_for_delivery(&mut conn, person.id, 2_000, true)
                .unwrap()
                .len(),
            2,
            "--retry-failed"
        );

        let counts = gists::counts_for(&mut conn, person.id).unwrap();
        assert_eq!((counts.known, counts.pending, counts.failed), (3, 1, 1));
        let all = gists::counts(&mut conn).unwrap();
        assert_eq!(all[&person.id].known, 3);
    }
}

fn claim(
    conn: &mut gisttrack::db::DbConnection,
    person_id: gisttrack::ids::PersonId,
    owner: &str,
    now: i64,
    ttl_ms: i64,
    not_synced_since: Option<i64>,
    dead_owner: Option<&str>,
) -> gisttrack::Result<bool> {
    people::claim(
        conn,
        person_id,
        &people::Claim {
            owner,
            now,
            ttl_ms,
            not_synced_since,
            dead_owner,
        },
    )
}

#[test]
fn leases_exclude_others_expire_and_yield_to_a_dead_local_owner() {
    for db in backends() {
        let store = open(&db);
        let person = add(&store, "leased", 1, true, 0);
        let mut conn = store.conn().unwrap();
        assert!(claim(&mut conn, person.id, "a", 1_000, 500, None, None).unwrap());
        assert!(
            !claim(&mut conn, person.id, "b", 1_100, 500, None, None).unwrap(),
            "held by a"
        );
        assert!(
            claim(&mut conn, person.id, "a", 1_100, 500, None, None).unwrap(),
            "the owner may reclaim"
        );
        assert!(people::renew(&mut conn, person.id, "a", 1_400, 500).unwrap());
        assert!(!people::renew(&mut conn, person.id, "b", 1_400, 500).unwrap());
        assert!(
            !claim(&mut conn, person.id, "b", 1_800, 500, None, None).unwrap(),
            "renewed until 1900"
        );
        assert!(
            claim(&mut conn, person.id, "b", 2_000, 500, None, None).unwrap(),
            "expired"
        );
        assert!(
            claim(&mut conn, person.id, "c", 2_100, 500, None, Some("b")).unwrap(),
            "b is known dead"
        );
        people::release(&mut conn, person.id, "c").unwrap();
        assert!(people::get(&mut conn, person.id)
            .unwrap()
            .lease_owner
            .is_none());

        // A person synced by a concurrent pass after this pass began is not claimed again.
        assert!(claim(&mut conn, person.id, "d", 3_000, 500, None, None).unwrap());
        assert!(people::mark_listed(&mut conn, person.id, "d", Some("W/\"etag\""), 3_100).unwrap());
        people::release(&mut conn, person.id, "d").unwrap();
        assert!(!claim(&mut conn, person.id, "e", 3_200, 500, Some(2_900), None).unwrap());
        assert!(claim(&mut conn, person.id, "e", 3_200, 500, Some(3_150), None).unwrap());
        assert!(
            !people::mark_listed(&mut conn, person.id, "d", None, 3_300).unwrap(),
            "only the holder records a listing"
        );
        assert_eq!(
            people::get(&mut conn, person.id)
                .unwrap()
                .gists_etag
                .as_deref(),
            Some("W/\"etag\"")
        );
        assert_eq!(people::release_all(&mut conn, "e").unwrap(), 1);
    }
}

#[test]
fn visits_shift_the_window_and_pages_come_in_login_order_with_counts() {
    for db in backends() {
        let store = open(&db);
        let first = add(&store, "bravo", 1, true, 0);
        add(&store, "alpha", 2, true, 0);
        add(&store, "charlie", 3, true, 0);
        let mut conn = store.conn().unwrap();
        let visit = people::record_visit(&mut conn, first.id, 100)
            .unwrap()
            .unwrap();
        assert_eq!(
            (visit.previous_visited_at, visit.last_visited_at),
            (None, Some(100))
        );
        let visit = people::record_visit(&mut conn, first.id, 200)
            .unwrap()
            .unwrap();
        assert_eq!(
            (visit.previous_visited_at, visit.last_visited_at),
            (Some(100), Some(200))
        );

        record_listing(&mut conn, &first, &[remote("x", 1, "x")], 50).unwrap();
        let page = people::page_with_counts(
            &mut conn,
            Page::Offset {
                offset: 1,
                limit: 1,
            },
        )
        .unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].0.github_login, "bravo");
        assert_eq!((page[0].1.known, page[0].1.pending), (1, 1));
        assert!(people::page_with_counts(
            &mut conn,
            Page::Offset {
                offset: 9,
                limit: 5
            }
        )
        .unwrap()
        .is_empty());
        let after = people::page_with_counts(
            &mut conn,
            Page::After {
                key: "alpha".into(),
                limit: 5,
            },
        )
        .unwrap();
        let after: Vec<&str> = after.iter().map(|(p, _)| p.github_login.as_str()).collect();
        assert_eq!(
            after,
            ["bravo", "charlie"],
            "keyset: the people after a login"
        );
        let names: Vec<String> = people::list(&mut conn)
            .unwrap()
            .into_iter()
            .map(|p| p.github_login)
            .collect();
        assert_eq!(names, ["alpha", "bravo", "charlie"]);
        assert_eq!(people::count(&mut conn).unwrap(), 3);

        people::delete(&mut conn, first.id).unwrap();
        assert_eq!(people::count(&mut conn).unwrap(), 2);
        assert!(
            gists::counts(&mut conn).unwrap().is_empty(),
            "its gists went with it"
        );
    }
}

#[test]
fn sync_runs_are_opened_and_closed() {
    for db in backends() {
        let store = open(&db);
        let mut conn = store.conn().unwrap();
        let first = sync_runs::start(&mut conn, RunTrigger::Cli, "me", 10).unwrap();
        let second = sync_runs::start(&mut conn, RunTrigger::Loop, "me", 10).unwrap();
        assert_ne!(
            first, second,
            "two runs in the same millisecond are two rows"
        );
        let counts = RunCounts {
            users_checked: 3,
            users_skipped: 1,
            activities_created: 2,
            activities_reconciled: 4,
            deliveries_waiting: 5,
            ..Default::default()
        };
        sync_runs::finish(&mut conn, first, counts, Some("a: boom"), 20).unwrap();
        let runs = sync_runs::recent(&mut conn, 10).unwrap();
        assert_eq!(
            runs.iter().map(|r| r.id).collect::<Vec<_>>(),
            [second, first]
        );
        assert_eq!(runs[1].finished_at, Some(20));
        assert_eq!(runs[1].counts, counts, "every count is stored");
        assert_eq!(runs[1].error_summary.as_deref(), Some("a: boom"));
        assert_eq!(runs[1].trigger_kind, RunTrigger::Cli);
        assert!(runs[0].finished_at.is_none());
    }
}

#[test]
fn several_processes_may_migrate_a_new_database_at_once() {
    for db in backends() {
        let children: Vec<_> = (0..4)
            .map(|_| support::spawn(&db, None, &["list"]))
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            support::assert_success(&out, &format!("[{}] migrating process", db.backend));
        }
    }
}

/// The MySQL test database, or a visible note that the MySQL-only test did not run.
fn mysql_only(test: &str) -> Option<TestDb> {
    let db = TestDb::mysql();
    if db.is_none() {
        eprintln!("{test}: skipped, GISTTRACK_TEST_MYSQL_URL is not set (CI sets it)");
    }
    db
}

#[test]
fn a_deadlock_victim_is_retried_and_succeeds() {
    use diesel::{Connection, MysqlConnection, RunQueryDsl};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    let Some(db) = mysql_only("a_deadlock_victim_is_retried_and_succeeds") else {
        return;
    };
    let store = open(&db);
    let a = add(&store, "lock-a", 1, true, 0).id;
    let b = add(&store, "lock-b", 2, true, 0).id;
    let barrier = Arc::new(Barrier::new(2));
    let rival = {
        let (url, barrier) = (db.url.clone(), barrier.clone());
        std::thread::spawn(move || {
            let mut conn = MysqlConnection::establish(&url).unwrap();
            conn.transaction(|c| {
                diesel::sql_query(format!("UPDATE people SET name = 'rival' WHERE id = {b}"))
                    .execute(c)?;
                // A heavier transaction, so InnoDB picks the store's as the victim.
                for n in 0..200 {
                    diesel::sql_query(format!(
                        "INSERT INTO sync_runs (trigger_kind, owner, started_at) VALUES ('cli', 'rival', {n})"
                    ))
                    .execute(c)?;
                }
                barrier.wait();
                std::thread::sleep(std::time::Duration::from_millis(300));
                diesel::sql_query(format!("UPDATE people SET name = 'rival' WHERE id = {a}"))
                    .execute(c)?;
                Ok::<_, diesel::result::Error>(())
            })
        })
    };
    let tries = AtomicUsize::new(0);
    let outcome = store.transaction(|conn| {
        let attempt = tries.fetch_add(1, Ordering::SeqCst);
        diesel::sql_query(format!("UPDATE people SET name = 'store' WHERE id = {a}"))
            .execute(conn)?;
        if attempt == 0 {
            barrier.wait();
        }
        diesel::sql_query(format!("UPDATE people SET name = 'store' WHERE id = {b}"))
            .execute(conn)?;
        Ok(())
    });
    assert!(rival.join().unwrap().is_ok(), "the heavier transaction won");
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(
        tries.load(Ordering::SeqCst),
        2,
        "the deadlock victim was run again"
    );
    assert_eq!(
        people::get(&mut store.conn().unwrap(), a)
            .unwrap()
            .name
            .as_deref(),
        Some("store")
    );
}

#[test]
fn a_lock_wait_timeout_is_retried_and_succeeds() {
    use diesel::{Connection, MysqlConnection, RunQueryDsl};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    let Some(db) = mysql_only("a_lock_wait_timeout_is_retried_and_succeeds") else {
        return;
    };
    let store = open(&db);
    let a = add(&store, "held", 1, true, 0).id;
    let barrier = Arc::new(Barrier::new(2));
    let holder = {
        let (url, barrier) = (db.url.clone(), barrier.clone());
        std::thread::spawn(move || {
            let mut conn = MysqlConnection::establish(&url).unwrap();
            conn.transaction(|c| {
                diesel::sql_query(format!("UPDATE people SET name = 'holder' WHERE id = {a}"))
                    .execute(c)?;
                barrier.wait();
                std::thread::sleep(std::time::Duration::from_millis(1600));
                Ok::<_, diesel::result::Error>(())
            })
        })
    };
    barrier.wait();
    let tries = AtomicUsize::new(0);
    let outcome = store.write(|conn| {
        tries.fetch_add(1, Ordering::SeqCst);
        diesel::sql_query("SET SESSION innodb_lock_wait_timeout = 1").execute(conn)?;
        diesel::sql_query(format!("UPDATE people SET name = 'waiter' WHERE id = {a}"))
            .execute(conn)?;
        Ok(())
    });
    holder.join().unwrap().unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(
        tries.load(Ordering::SeqCst) >= 2,
        "the timed-out statement was run again"
    );
}

#[test]
fn the_pool_drops_a_connection_whose_transaction_broke() {
    use diesel::r2d2::ManageConnection;
    use diesel::{Connection, MysqlConnection, RunQueryDsl};
    use gisttrack::db::{ConnectionManager, DbConnection};
    let Some(db) = mysql_only("the_pool_drops_a_connection_whose_transaction_broke") else {
        return;
    };
    let target = DatabaseTarget::parse(&db.url).unwrap();
    let manager = ConnectionManager::new(&target, gisttrack::db::default_lock_wait());
    let mut conn = manager.connect().unwrap();
    assert!(!manager.has_broken(&mut conn));
    let DbConnection::Mysql(mysql) = &mut *conn else {
        unreachable!()
    };
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let own: Id = diesel::sql_query("SELECT CONNECTION_ID() AS id")
        .get_result(mysql)
        .unwrap();
    let mut killer = MysqlConnection::establish(&db.url).unwrap();
    // The connection dies inside a transaction, so its rollback fails too.
    let _ = conn.transaction(|_| {
        diesel::sql_query(format!("KILL {}", own.id))
            .execute(&mut killer)
            .unwrap();
        Err::<(), _>(diesel::result::Error::RollbackTransaction)
    });
    assert!(
        manager.has_broken(&mut conn),
        "a connection with a broken transaction is not handed out again"
    );
}

#[test]
fn a_delete_holds_its_person_so_no_attempt_is_marked_behind_its_back() {
    use std::sync::mpsc;
    use std::time::Duration;
    for db in backends() {
        let store = open(&db);
        let person = add(&store, "racer", 9, true, 0);
        let gist = {
            let mut conn = store.conn().unwrap();
            record_listing(&mut conn, &person, &[remote("r", 10, "r")], 100).unwrap();
            assert!(claim(&mut conn, person.id, "worker", 1_000, 1 << 40, None, None).unwrap());
            gists::due_for_delivery(&mut conn, person.id, 1_000, false)
                .unwrap()
                .remove(0)
        };
        // A delete that has taken its lock and is slow to finish…
        let (locked_tx, locked_rx) = mpsc::channel();
        let deleter = {
            let store = store.clone();
            std::thread::spawn(move || {
                store
                    .transaction(|conn| {
                        // As service::delete_person locks: the person, then their gists.
                        assert!(people::lock(conn, person.id)?);
                        gists::lock_for_person(conn, person.id)?;
                        let _ = locked_tx.send(());
                        std::thread::sleep(Duration::from_millis(500));
                        people::delete(conn, person.id)
                    })
                    .unwrap()
            })
        };
        locked_rx.recv().unwrap();
        // …and a worker that saw the gist due and its lease held, marking its attempt.
        let marked = gists::mark_sending(
            &mut store.conn().unwrap(),
            &gists::NewAttempt {
                gist: gist.id,
                seen: gist.row_state(),
                person: person.id,
                lease_owner: "worker",
                now: 2_000,
                settles_at: 62_000,
            },
        );
        assert!(
            deleter.join().unwrap(),
            "[{}] the delete went through",
            db.backend
        );
        assert!(
            !marked.unwrap_or(false),
            "[{}] the mark waited for the delete and found nothing to mark: nothing is sent",
            db.backend
        );
    }
}

/// Each person's `new_count` as stored, next to a count of their gists new since the last
/// visit, for everyone.
fn stored_and_recounted(conn: &mut gisttrack::db::DbConnection) -> Vec<(String, i64, i64)> {
    let everyone = people::list(conn).unwrap();
    let ids: Vec<_> = everyone.iter().map(|p| p.id).collect();
    let recount = gists::new_counts(conn, &ids).unwrap();
    everyone
        .into_iter()
        .map(|p| {
            let counted = recount.get(&p.id).copied().unwrap_or(0);
            (p.github_login, p.new_count, counted)
        })
        .collect()
}

#[test]
fn the_stored_new_count_equals_a_recount_after_random_listings_visits_and_deletes() {
    let seed = std::env::var("GISTTRACK_NEW_COUNT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("GISTTRACK_NEW_COUNT_SEED={seed}");
    for db in backends() {
        let mut rng = fastrand::Rng::with_seed(seed);
        let store = open(&db);
        let logins = ["ann", "bob", "cid", "dee"];
        let mut next_github_id = 1;
        for login in logins {
            add(&store, login, next_github_id, rng.bool(), 0);
            next_github_id += 1;
        }
        let mut conn = store.conn().unwrap();
        let mut gist_serial = 0;
        // A clock that goes back as well as forward: processes' clocks disagree.
        let mut now = 1_000_i64;
        for step in 0..300 {
            now += rng.i64(-40..100);
            let login = logins[rng.usize(..logins.len())];
            let Some(person) =
                people::find_by_login(&mut conn, &Login::parse(login).unwrap()).unwrap()
            else {
                add(&store, login, next_github_id, rng.bool(), now);
                next_github_id += 1;
                continue;
            };
            match rng.u8(..10) {
                // A listing: the gists known so far, some of them new, in the transaction
                // that records it (as a pass does).
                0..=4 => {
                    let known = gists::known(&mut conn, person.id).unwrap();
                    let mut listing: Vec<RemoteGist> = known
                        .iter()
                        .map(|g| remote(g.github_gist_id.as_str(), g.updated_at, "same"))
                        .collect();
                    for _ in 0..rng.usize(0..4) {
                        gist_serial += 1;
                        listing.push(remote(&format!("g{gist_serial}"), now - 500, "new"));
                    }
                    conn.transaction::<_, Error, _>(|conn| {
                        record_listing(conn, &person, &listing, now).map(|_| ())
                    })
                    .unwrap();
                }
                5..=6 => {
                    people::record_visit(&mut conn, person.id, now).unwrap();
                }
                7..=8 => {
                    // A visit that read the person first: refused once another visit, or a
                    // listing that found new gists, came between.
                    let stale = rng.bool().then_some(now - 1).or(person.last_visited_at);
                    let new_seen = person.new_count - i64::from(rng.u8(..4) == 0);
                    let recorded =
                        people::record_visit_after(&mut conn, person.id, stale, new_seen, now)
                            .unwrap();
                    assert_eq!(
                        recorded,
                        stale == person.last_visited_at && new_seen == person.new_count,
                        "step {step} on {}",
                        db.backend
                    );
                }
                _ => {
                    people::delete(&mut conn, person.id).unwrap();
                }
            }
            for (login, stored, counted) in stored_and_recounted(&mut conn) {
                assert_eq!(
                    stored, counted,
                    "{login}'s new_count after step {step} on {} (seed {seed})",
                    db.backend
                );
            }
        }
        let total: i64 = stored_and_recounted(&mut conn)
            .iter()
            .map(|(_, n, _)| n)
            .sum();
        println!("{}: {total} new gists at the end", db.backend);
    }
}

/// A database from before `new_count`: the migration that adds it counts each person's gists
/// new since their visit, so "most new first" is right from the first page.
#[test]
fn the_migration_fills_new_count_from_the_gists_and_visits_already_there() {
    use diesel::migration::MigrationSource;
    use diesel::{MysqlConnection, SqliteConnection};
    use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
    const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
    const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");

    fn before_new_count<DB, C>(conn: &mut C, source: EmbeddedMigrations)
    where
        DB: diesel::backend::Backend,
        C: MigrationHarness<DB> + Connection<Backend = DB>,
        EmbeddedMigrations: MigrationSource<DB>,
    {
        let ours = source
            .migrations()
            .unwrap()
            .into_iter()
            .find(|m| m.name().to_string().ends_with("new_counts"))
            .expect("the new_counts migration");
        conn.revert_migration(&*ours).unwrap();
    }

    for db in backends() {
        let store = open(&db);
        let never = add(&store, "never", 1, true, 0);
        let visited = add(&store, "visited", 2, true, 0);
        let quiet = add(&store, "quiet", 3, true, 0);
        let mut conn = store.conn().unwrap();
        record_listing(
            &mut conn,
            &never,
            &[remote("n1", 1, "a"), remote("n2", 1, "b")],
            100,
        )
        .unwrap();
        record_listing(&mut conn, &visited, &[remote("v1", 1, "a")], 100).unwrap();
        people::record_visit(&mut conn, visited.id, 150).unwrap();
        let visited = people::get(&mut conn, visited.id).unwrap();
        record_listing(
            &mut conn,
            &visited,
            &[remote("v1", 1, "a"), remote("v2", 1, "b")],
            200,
        )
        .unwrap();
        record_listing(&mut conn, &quiet, &[], 100).unwrap();
        drop(conn);
        drop(store);
        match db.sqlite_path() {
            Some(path) => before_new_count(
                &mut SqliteConnection::establish(path.to_str().unwrap()).unwrap(),
                SQLITE,
            ),
            None => before_new_count(&mut MysqlConnection::establish(&db.url).unwrap(), MYSQL),
        }
        let store = open(&db);
        let mut conn = store.conn().unwrap();
        let mut stored: Vec<(String, i64)> = stored_and_recounted(&mut conn)
            .into_iter()
            .map(|(login, stored, _)| (login, stored))
            .collect();
        stored.sort();
        assert_eq!(
            stored,
            [
                ("never".to_string(), 2),
                ("quiet".to_string(), 0),
                ("visited".to_string(), 1)
            ],
            "{}",
            db.backend
        );
    }
}
