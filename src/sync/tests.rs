//! The exactly-once core in-process: the real store (SQLite), GitHub and Pipedrive in memory
//! with faults injected at the request they hit, and a clock moved by hand, so a table of
//! failure paths runs in milliseconds. Each case says what one pass leaves, and what the next
//! one (after the in-flight bound) makes of it.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use indicatif::ProgressBar;

use super::{App, PassOptions, SyncReport, SyncSettings, Trigger};
use crate::clients::memory::{activities_per_gist, Fault, MemoryGithub, MemoryPipedrive, Route};
use crate::config::DatabaseTarget;
use crate::db::gists::DeliveryState;
use crate::db::people;
use crate::db::Store;
use crate::error::Error;
use crate::login::Login;
use crate::metrics::Metrics;
use crate::service;
use crate::time::ManualClock;

/// The store, the fakes and the clock a case runs on.
struct World {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    github: Arc<MemoryGithub>,
    pipedrive: Arc<MemoryPipedrive>,
    store: Store,
}

const BOUND: Duration = Duration::from_secs(60);
const LEASE: Duration = Duration::from_secs(120);

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::starting_at(1_800_000_000_000));
        let store = Store::open(&DatabaseTarget::Sqlite(dir.path().join("core.db")))
            .unwrap()
            .with_clock(clock.clone())
            .with_owner("node-a");
        World {
            _dir: dir,
            pipedrive: Arc::new(MemoryPipedrive::new(clock.clone())),
            github: Arc::new(MemoryGithub::default()),
            clock,
            store,
        }
    }

    /// The engine of a process named `owner` on this world's store.
    fn engine(&self, owner: &str) -> App {
        App {
            store: self.store.clone().with_owner(owner),
            github: self.github.clone(),
            pipedrive: Some(self.pipedrive.clone()),
            settings: SyncSettings {
                in_flight_bound: BOUND,
                lease_ttl: LEASE,
                ..SyncSettings::default()
            },
            metrics: Arc::new(Metrics::default()),
            shutdown: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A user with `gists` gists, added (the person created by this add).
    fn tracked(&self, login: &str, gists: usize) {
        self.github
            .add_user(login, None, gists, self.clock_now() - 60_000);
        service::add_person(&self.engine("node-a"), login, true).unwrap();
    }

    fn clock_now(&self) -> i64 {
        use crate::time::Clock;
        self.clock.now_ms()
    }

    fn pass(&self, owner: &str) -> SyncReport {
        self.engine(owner)
            .run_pass(&PassOptions::new(Trigger::Cli), &ProgressBar::hidden())
            .unwrap()
    }

    /// The delivery states of a user's gists.
    fn states(&self, login: &str) -> Vec<DeliveryState> {
        let mut conn = self.store.conn().unwrap();
        let person = people::get_by_login(&mut conn, &Login::parse(login).unwrap()).unwrap();
        crate::db::gists::list_for_person(&mut conn, person.id, None)
            .unwrap()
            .into_iter()
            .map(|(gist, _)| gist.delivery_state)
            .collect()
    }

    /// Every gist of the user has exactly one activity.
    fn each_once(&self, login: &str) -> bool {
        let per_gist = activities_per_gist(&self.pipedrive.activities());
        self.github
            .gist_ids(login)
            .iter()
            .all(|id| per_gist.get(id) == Some(&1))
    }
}

/// What a case expects.
struct Expect {
    /// After the first pass: activities landed, POSTs sent, the one gist's state.
    first: (usize, u64, DeliveryState),
    /// After the bound has passed and a second pass (by another process, when the first died).
    then: (usize, u64),
}

#[test]
fn each_failure_of_an_activity_write_ends_as_the_rule_says() {
    use DeliveryState::*;
    let cases = [
        (
            "no fault",
            None,
            Expect {
                first: (1, 1, Delivered),
                then: (1, 1),
            },
        ),
        (
            "written, answer lost: waits, then found",
            Some(Fault::LostAfterWrite),
            Expect {
                first: (1, 1, Sending),
                then: (1, 1),
            },
        ),
        (
            "lands after the client gave up: waits, then found",
            Some(Fault::LandsLater(Duration::from_secs(30))),
            Expect {
                first: (0, 1, Sending),
                then: (1, 1),
            },
        ),
        (
            "Pipedrive's own 500, nothing written: looked for, sent again in the pass",
            Some(Fault::ServerError),
            Expect {
                first: (1, 2, Delivered),
                then: (1, 2),
            },
        ),
        (
            "Pipedrive's own 500 after the write: found in the pass",
            Some(Fault::ServerErrorAfterWrite),
            Expect {
                first: (1, 1, Delivered),
                then: (1, 1),
            },
        ),
        (
            "a refusal: failed, retried after its backoff, looked for first",
            Some(Fault::Refused(422)),
            Expect {
                first: (0, 1, Failed),
                then: (1, 2),
            },
        ),
        (
            "held back for a rate limit: sent after the pause",
            Some(Fault::Throttled),
            Expect {
                first: (1, 2, Delivered),
                then: (1, 2),
            },
        ),
        (
            "the process dies after the write: taken over, found",
            Some(Fault::Crash { written: true }),
            Expect {
                first: (1, 1, Sending),
                then: (1, 1),
            },
        ),
        (
            "the process dies before the write: taken over, sent once",
            Some(Fault::Crash { written: false }),
            Expect {
                first: (0, 1, Sending),
                then: (1, 2),
            },
        ),
    ];
    for (case, fault, expect) in cases {
        let world = World::new();
        world.tracked("octo", 1);
        if let Some(fault) = fault {
            world.pipedrive.inject(Route::CreateActivity, fault);
        }
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.pass("node-a")));
        let died = first.is_err();
        assert_eq!(died, matches!(fault, Some(Fault::Crash { .. })), "{case}");
        let (landed, posts, state) = expect.first;
        assert_eq!(world.pipedrive.activities().len(), landed, "{case}: landed");
        assert_eq!(world.pipedrive.posts(), posts, "{case}: posts");
        assert_eq!(world.states("octo"), [state], "{case}: state");

        // Past the bound, the backoff and a dead process's lease: a pass of a live process.
        world
            .clock
            .advance(LEASE + BOUND + Duration::from_secs(120));
        let second = world.pass(if died { "node-b" } else { "node-a" });
        let (landed, posts) = expect.then;
        assert_eq!(
            world.pipedrive.activities().len(),
            landed,
            "{case}: {second:?}"
        );
        assert_eq!(world.pipedrive.posts(), posts, "{case}: posts after");
        assert_eq!(world.states("octo"), [Delivered], "{case}: {second:?}");
        assert!(world.each_once("octo"), "{case}");
    }
}

#[test]
fn each_failure_of_a_person_creation_ends_with_one_person() {
    let cases = [
        (
            "answer lost: refused until it settles, then found again",
            Fault::LostAfterWrite,
            true,
        ),
        (
            "Pipedrive's own 500, nothing written: created by the next add",
            Fault::ServerError,
            false,
        ),
        (
            "Pipedrive's own 500 after the write: found at once",
            Fault::ServerErrorAfterWrite,
            false,
        ),
        ("a refusal: nothing left behind", Fault::Refused(400), false),
        (
            "a rate limit: created after the pause",
            Fault::Throttled,
            false,
        ),
        (
            "the process dies after the write: found again",
            Fault::Crash { written: true },
            true,
        ),
    ];
    for (case, fault, waits) in cases {
        let world = World::new();
        world.github.add_user("quiet", None, 1, 0);
        world.pipedrive.inject(Route::CreatePerson, fault);
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            service::add_person(&world.engine("node-a"), "quiet", true)
        }));
        let linked_at_once = matches!(first, Ok(Ok(_)));
        if waits {
            // At once, another process: refused, with the true reason.
            let again = service::add_person(&world.engine("node-b"), "quiet", true);
            match again {
                Err(Error::PersonCreationUnsettled { reason, .. }) => {
                    assert!(reason.contains("no answer"), "{case}: {reason}")
                }
                // The dead process's claim holds until it expires.
                Err(Error::AccountBusy { .. }) => {}
                other => panic!("{case}: {other:?}"),
            }
        }
        if !linked_at_once {
            world.clock.advance(LEASE + BOUND + Duration::from_secs(10));
            service::add_person(&world.engine("node-b"), "quiet", true)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
        }
        let created = world
            .pipedrive
            .persons()
            .iter()
            .filter(|p| p.by_api)
            .count();
        assert_eq!(created, 1, "{case}: one person, ever");
        world.pass("node-b");
        assert!(world.each_once("quiet"), "{case}");
    }
}

#[test]
fn a_merge_is_followed_and_a_deletion_unlinks_until_relinked() {
    use crate::ids::PipedriveUserId;
    use crate::service::relink::{relink_person, RelinkTo};
    let world = World::new();
    world.tracked("merged", 2);
    world.tracked("deleted", 1);
    world.pass("node-a");
    let person_of = |login: &str| {
        let mut conn = world.store.conn().unwrap();
        people::get_by_login(&mut conn, &Login::parse(login).unwrap())
            .unwrap()
            .pipedrive_person_id
            .unwrap()
    };
    let survivor = world
        .pipedrive
        .add_person("merged Example", PipedriveUserId(8));
    world.pipedrive.merge(person_of("merged"), survivor);
    world.pipedrive.delete(person_of("deleted"));
    world.github.add_gist("merged", world.clock_now());
    let pending = world.github.add_gist("deleted", world.clock_now());
    let posts = world.pipedrive.posts();
    let report = world.pass("node-a");
    assert_eq!(report.counts.users_relinked, 1, "{report:?}");
    assert_eq!(report.counts.users_unlinked, 1, "{report:?}");
    assert_eq!(person_of("merged"), survivor);
    assert!(world.each_once("merged"), "moved and new, each once");
    assert_eq!(
        world.pipedrive.posts(),
        posts + 1,
        "nothing sent to the deleted one"
    );

    // Unlinked: later passes leave them alone; a relink resumes, once.
    world.pass("node-a");
    assert_eq!(world.pipedrive.posts(), posts + 1);
    relink_person(&world.engine("node-a"), "deleted", RelinkTo::Create).unwrap();
    world.pass("node-a");
    world.pass("node-a");
    let per_gist = activities_per_gist(&world.pipedrive.activities());
    assert_eq!(per_gist.get(&pending), Some(&1));
    assert_eq!(world.pipedrive.posts(), posts + 2);
}

#[test]
fn adding_back_a_user_whose_delivery_may_still_land_waits_for_it_then_finds_it() {
    let world = World::new();
    world.tracked("hasty", 1);
    world.pipedrive.inject(
        Route::CreateActivity,
        Fault::LandsLater(Duration::from_secs(30)),
    );
    let first = world.pass("node-a");
    assert_eq!(first.counts.deliveries_waiting, 1, "{first:?}");
    let engine = world.engine("node-a");
    service::delete_person(&engine.store, &engine.settings, "hasty").unwrap();
    match service::add_person(&engine, "hasty", true) {
        Err(Error::DeliveryUnsettled { .. }) => {}
        other => panic!("refused while the delivery may land: {other:?}"),
    }
    world.clock.advance(BOUND + Duration::from_secs(1));
    service::add_person(&engine, "hasty", true).unwrap();
    let report = world.pass("node-a");
    assert_eq!(report.counts.activities_reconciled, 1, "{report:?}");
    assert_eq!(report.counts.activities_created, 0, "{report:?}");
    assert_eq!(world.pipedrive.posts(), 1, "nothing sent twice");
    assert!(world.each_once("hasty"));
}

/// The person of a login, as the store has it.
fn person_of(world: &World, login: &str) -> crate::ids::PipedrivePersonId {
    let mut conn = world.store.conn().unwrap();
    people::get_by_login(&mut conn, &Login::parse(login).unwrap())
        .unwrap()
        .pipedrive_person_id
        .unwrap()
}

#[test]
fn a_marker_seen_before_its_gist_is_known_is_found_once_it_is() {
    let world = World::new();
    let t0 = world.clock_now();
    world
        .github
        .add_user("octo", Some("octo@x.example"), 1, t0 - 60_000);
    service::add_person(&world.engine("node-a"), "octo", true).unwrap();
    world.pass("node-a");
    // A second install on the same GitHub and Pipedrive.
    let dir = tempfile::tempdir().unwrap();
    let other = App {
        store: Store::open(&DatabaseTarget::Sqlite(dir.path().join("b.db")))
            .unwrap()
            .with_clock(world.clock.clone())
            .with_owner("node-b"),
        ..world.engine("node-b")
    };
    let pass_b = || {
        other
            .run_pass(&PassOptions::new(Trigger::Cli), &ProgressBar::hidden())
            .unwrap()
    };
    service::add_person(&other, "octo", true).unwrap();
    pass_b();
    // g1: the second install's delivery is refused (failed, due again later); the first
    // install delivers it, then g2 too.
    world.github.add_gist("octo", world.clock_now());
    world
        .pipedrive
        .inject(Route::CreateActivity, Fault::Refused(422));
    pass_b();
    world.clock.advance(Duration::from_secs(1));
    world.pass("node-a");
    world.github.add_gist("octo", world.clock_now());
    world.pass("node-a");
    world.clock.advance(Duration::from_secs(6 * 60));
    // The second install lists nothing (GitHub fails) but g1 is due: its look sees g2's
    // marker before g2 is in its ledger; its next pass lists g2.
    world.github.fail_next(1);
    pass_b();
    world.clock.advance(Duration::from_secs(60));
    pass_b();
    assert!(
        world.each_once("octo"),
        "{:?}",
        activities_per_gist(&world.pipedrive.activities())
    );
}

#[test]
fn relink_create_asked_twice_makes_one_person() {
    use crate::service::relink::{relink_person, RelinkTo};
    let world = World::new();
    world.tracked("octo", 1);
    world.pass("node-a");
    world.pipedrive.delete(person_of(&world, "octo"));
    world.github.add_gist("octo", world.clock_now());
    world.pass("node-a");
    let engine = world.engine("node-a");
    // A double click, or a client retrying after a lost answer.
    let one = relink_person(&engine, "octo", RelinkTo::Create).unwrap();
    let two = relink_person(&engine, "octo", RelinkTo::Create).unwrap();
    assert!(one.changed);
    assert_eq!(one.pipedrive_id, two.pipedrive_id);
    assert!(
        !two.changed,
        "the second finds them linked and changes nothing"
    );
    let live = world
        .pipedrive
        .persons()
        .iter()
        .filter(|p| p.by_api && !p.deleted)
        .count();
    assert_eq!(live, 1);
}

#[test]
fn a_creation_in_doubt_outlives_a_delete_and_is_found_by_the_relink_after_the_next_add() {
    use crate::service::relink::{relink_person, RelinkTo};
    let world = World::new();
    world.tracked("octo", 1);
    world.pass("node-a");
    world.pipedrive.delete(person_of(&world, "octo"));
    world.github.add_gist("octo", world.clock_now());
    world.pass("node-a");
    let engine = world.engine("node-a");
    world
        .pipedrive
        .inject(Route::CreatePerson, Fault::LostAfterWrite);
    assert!(matches!(
        relink_person(&engine, "octo", RelinkTo::Create),
        Err(Error::PersonCreationUnsettled { .. })
    ));
    world.clock.advance(BOUND + Duration::from_secs(1));
    service::delete_person(&engine.store, &engine.settings, "octo").unwrap();
    // Added again, they are linked to the person they had; the pass finds it gone, and the
    // user unlinked, sends nothing.
    service::add_person(&engine, "octo", true).unwrap();
    world.pass("node-a");
    let unlinked = crate::db::people::find_by_login(
        &mut world.store.conn().unwrap(),
        &crate::login::Login::parse("octo").unwrap(),
    )
    .unwrap()
    .unwrap();
    assert!(unlinked.unlinked_at.is_some());
    // Asked to create one, relink finds what the lost creation made.
    relink_person(&engine, "octo", RelinkTo::Create).unwrap();
    let live: Vec<_> = world
        .pipedrive
        .persons()
        .into_iter()
        .filter(|p| p.by_api && !p.deleted)
        .map(|p| p.id)
        .collect();
    assert_eq!(live.len(), 1, "found again, not made twice: {live:?}");
    assert_eq!(person_of(&world, "octo"), live[0]);
    world.pass("node-a");
    assert!(world.each_once("octo"));
}

#[test]
fn a_look_reads_only_what_changed_unless_the_person_did() {
    use crate::ids::PipedriveUserId;
    let world = World::new();
    world.tracked("steady", 1);
    world.pass("node-a");
    let reads = || world.pipedrive.activity_reads();
    assert_eq!(reads().len(), 1, "one look");
    // The person was created within the clocks' slack of that look: the next is in full
    // too. Quiet since: the one after asks only for what changed since the last look.
    for _ in 0..2 {
        world.clock.advance(Duration::from_secs(3600));
        world.github.add_gist("steady", world.clock_now());
        world.pass("node-a");
    }
    assert!(reads()[2].is_some(), "incremental: {:?}", reads());
    // Someone's person merged into theirs: theirs changed, so it is read in full.
    world.clock.advance(Duration::from_secs(3600));
    let other = world.pipedrive.add_person("Someone", PipedriveUserId(8));
    world.pipedrive.merge(other, person_of(&world, "steady"));
    world.github.add_gist("steady", world.clock_now());
    world.pass("node-a");
    assert_eq!(reads()[3], None, "in full after a change: {:?}", reads());
    assert!(world.each_once("steady"));
}

/// An organization's Pipedrive organization is created once whatever its creation meets: an
/// answer lost after the write is found again by name, a refusal leaves nothing to find and
/// the next add creates it, a 500 after the write is found at once, and a 500 with nothing to
/// find (Pipedrive's search may lag its write) holds creation back until the bound has passed.
#[test]
fn an_organization_creation_that_fails_any_way_never_makes_a_second() {
    use crate::service::orgs;
    let cases: [(&str, Fault, bool); 4] = [
        ("answer lost after the write", Fault::LostAfterWrite, false),
        ("refused", Fault::Refused(400), false),
        (
            "Pipedrive's 500, nothing written",
            Fault::ServerError,
            false,
        ),
        (
            "Pipedrive's 500 after the write",
            Fault::ServerErrorAfterWrite,
            true,
        ),
    ];
    for (case, fault, first_add_succeeds) in cases {
        let world = World::new();
        world.github.add_org("acme", Some("Acme Inc"));
        world
            .github
            .add_user("ann", Some("ann@acme.example"), 1, world.clock_now());
        world.github.add_member("acme", "ann", false);
        world.github.add_member("acme", "ci[bot]", true);
        world.pipedrive.inject(Route::CreateOrganization, fault);
        let engine = world.engine("node-a");
        let first = orgs::add_org(&engine, "acme");
        assert_eq!(first.is_ok(), first_add_succeeds, "{case}: {first:?}");
        if !first_add_succeeds {
            assert!(
                world.pipedrive.persons().is_empty(),
                "{case}: no member yet"
            );
            if matches!(fault, Fault::ServerError) {
                assert!(
                    matches!(
                        orgs::add_org(&engine, "acme"),
                        Err(crate::error::Error::OrgCreationUnsettled { .. })
                    ),
                    "{case}: not again before the bound"
                );
            }
            world.clock.advance(BOUND + Duration::from_secs(1));
            let again = orgs::add_org(&engine, "acme").unwrap();
            assert!(again.already_followed, "{case}");
        }
        let organizations = world.pipedrive.organizations();
        assert_eq!(organizations.len(), 1, "{case}: {organizations:?}");
        let persons = world.pipedrive.persons();
        assert_eq!(persons.len(), 1, "{case}: the bot is never tracked");
        assert_eq!(persons[0].org, Some(organizations[0].0), "{case}");
        let report = world
            .engine("node-a")
            .run_pass(&PassOptions::new(Trigger::Cli), &ProgressBar::hidden());
        assert_eq!(report.unwrap().counts.activities_created, 1, "{case}");
    }
}
