//! The exactly-once core under random schedules, in-process: several threads, standing for
//! several processes sharing one real database (SQLite, and MySQL when configured), add and
//! delete users, run passes, add gists, merge persons in Pipedrive, inject lost answers, late
//! commits, Pipedrive's own errors, refusals, rate limits and processes that die mid-request,
//! and move the clock, against GitHub and Pipedrive in memory. After every step: each GitHub
//! account has had at most one Pipedrive person created for it, and each gist at most one
//! activity. At the end, with the faults gone and the clock past every bound: every gist has
//! exactly one activity.
//!
//! It prints its seed; `GISTTRACK_SCHEDULE_SEED=<seed>` replays the same operations (their
//! interleaving is the threads'). `GISTTRACK_SCHEDULE_SECS` sets how long each backend runs
//! (`make soak` runs it for as long as you like).

mod support;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gisttrack::clients::memory::{
    activities_per_gist, Fault, MemoryGithub, MemoryPipedrive, Route,
};
use gisttrack::config::DatabaseTarget;
use gisttrack::db::Store;
use gisttrack::error::Error;
use gisttrack::ids::PipedriveUserId;
use gisttrack::metrics::Metrics;
use gisttrack::sync::{App, PassOptions, SyncSettings, Trigger};
use gisttrack::time::{Clock, ManualClock};
use indicatif::ProgressBar;
use support::backends;

const BOUND: Duration = Duration::from_secs(60);
const LEASE: Duration = Duration::from_secs(120);
const WORKERS: u64 = 4;

/// The accounts; some without a public e-mail (nothing to find their person by but the
/// claim's own record).
const ACCOUNTS: [(&str, bool); 6] = [
    ("ada", true),
    ("bo", false),
    ("cy-x", true),
    ("dee", false),
    ("eve", false),
    ("fox", true),
];

struct World {
    clock: Arc<ManualClock>,
    github: Arc<MemoryGithub>,
    pipedrive: Arc<MemoryPipedrive>,
    store: Store,
    /// Bumped when a process "dies": its successor runs under a new name, as a restarted
    /// process does.
    generations: Vec<AtomicU64>,
    /// Held shared by every step and exclusively to move the clock: time moves between
    /// steps, never inside one. Inside a step it would stand for a process frozen for minutes
    /// between recording an attempt and sending it, which no in-flight bound can cover.
    gate: std::sync::RwLock<()>,
}

impl World {
    fn engine(&self, node: usize) -> App {
        let generation = self.generations[node].load(Ordering::SeqCst);
        App {
            store: self
                .store
                .clone()
                .with_owner(&format!("node{node}-g{generation}")),
            github: self.github.clone(),
            pipedrive: Some(self.pipedrive.clone()),
            settings: SyncSettings {
                in_flight_bound: BOUND,
                lease_ttl: LEASE,
                concurrency: 2,
                retry_base: Duration::from_secs(30),
                ..SyncSettings::default()
            },
            metrics: Arc::new(Metrics::default()),
            shutdown: Arc::new(AtomicBool::new(false)),
        }
    }

    fn pass(&self, node: usize) {
        let options = PassOptions::new(Trigger::Cli);
        let _ = self.engine(node).run_pass(&options, &ProgressBar::hidden());
    }

    /// The invariants that hold after every step.
    fn check(&self, step: &str) {
        let mut created: HashMap<String, usize> = HashMap::new();
        for person in self.pipedrive.persons().iter().filter(|p| p.by_api) {
            *created.entry(person.name.clone()).or_default() += 1;
        }
        for (name, n) in &created {
            assert!(
                *n <= 1,
                "after {step}: {n} Pipedrive persons created for {name}: persons {:?}",
                self.pipedrive
                    .persons()
                    .iter()
                    .map(|p| (p.id, p.name.clone(), p.deleted, p.by_api, p.added_at))
                    .collect::<Vec<_>>()
            );
        }
        for (gist, n) in activities_per_gist(&self.pipedrive.activities()) {
            if n > 1 {
                let marker = format!("gisttrack:gist:{}<", gist.as_str());
                let on: Vec<_> = self
                    .pipedrive
                    .activities()
                    .into_iter()
                    .filter(|a| a.note.contains(&marker))
                    .map(|a| (a.id, a.person, a.updated_at))
                    .collect();
                let history: Vec<_> = (1000..1006)
                    .flat_map(|id| {
                        gisttrack::db::link_history::for_account(
                            &mut self.store.conn().unwrap(),
                            gisttrack::ids::GithubUserId(id),
                        )
                        .unwrap()
                        .into_iter()
                        .map(move |e| (id, e.reason, e.from_pipedrive_id, e.to_pipedrive_id, e.at))
                    })
                    .collect();
                panic!(
                    "after {step}: {n} activities for gist {}: {on:?}; links {history:?}; persons {:?}",
                    gist.as_str(),
                    self.pipedrive
                        .persons()
                        .iter()
                        .map(|p| (p.id, p.name.clone(), p.deleted, p.by_api))
                        .collect::<Vec<_>>()
                );
            }
        }
    }
}

/// One random step of one worker; what it was, for the failure message.
fn step(world: &World, rng: &mut fastrand::Rng, node: usize) -> String {
    let (login, _) = ACCOUNTS[rng.usize(..ACCOUNTS.len())];
    let engine = world.engine(node);
    let choice = rng.u32(..100);
    let _shared = (choice < 84).then(|| world.gate.read().unwrap_or_else(|e| e.into_inner()));
    match choice {
        0..=19 => {
            let _ = gisttrack::service::add_person(&engine, login, true);
            format!("node{node}: add {login}")
        }
        20..=27 => {
            let _ = gisttrack::service::delete_person(&engine.store, &engine.settings, login);
            format!("node{node}: delete {login}")
        }
        28..=49 => {
            world.pass(node);
            format!("node{node}: a pass")
        }
        50..=59 => {
            world.github.add_gist(login, world.clock.now_ms());
            format!("a new gist of {login}")
        }
        60..=63 => {
            // A salesperson merges the user's person, while it is there, into one of theirs.
            let person = {
                let mut conn = world.store.conn().unwrap();
                gisttrack::db::people::find_by_login(
                    &mut conn,
                    &gisttrack::login::Login::parse(login).unwrap(),
                )
                .ok()
                .flatten()
                .and_then(|p| p.pipedrive_person_id)
            };
            let live = person.filter(|id| {
                world
                    .pipedrive
                    .persons()
                    .iter()
                    .any(|p| p.id == *id && !p.deleted)
            });
            match live {
                Some(person) => {
                    let survivor = world
                        .pipedrive
                        .add_person(&format!("{login} Example"), PipedriveUserId(8));
                    world.pipedrive.merge(person, survivor);
                    format!("merge {login}'s person {person} into {survivor}")
                }
                None => "no merge".into(),
            }
        }
        64..=83 => {
            let route = [
                Route::CreateActivity,
                Route::CreatePerson,
                Route::ListActivities,
            ][rng.usize(..3)];
            let fault = match rng.u32(..7) {
                0 => Fault::LostAfterWrite,
                1 => Fault::LandsLater(Duration::from_secs(rng.u64(1..50))),
                2 => Fault::ServerError,
                3 => Fault::ServerErrorAfterWrite,
                4 => Fault::Refused(422),
                5 => Fault::Throttled,
                _ => Fault::Crash {
                    written: rng.bool(),
                },
            };
            world.pipedrive.inject(route, fault);
            format!("fault {fault:?} on {route:?}")
        }
        _ => {
            let by = Duration::from_secs(rng.u64(1..(2 * BOUND.as_secs())));
            let _alone = world.gate.write().unwrap_or_else(|e| e.into_inner());
            world.clock.advance(by);
            format!("the clock moves {by:?}")
        }
    }
}

/// What a salesperson does for a user left unlinked (a merge before any activity leaves
/// nothing to prove the survivor is theirs): looks for the survivor again, else links them to
/// the person in the CRM that carries most of their activities, else to a new one.
fn relink_the_unlinked(world: &World) {
    use gisttrack::service::relink::{relink_person, RelinkTo};
    let people = gisttrack::service::list_people(&world.store, None).unwrap();
    for person in people.iter().filter(|p| p.unlinked_at.is_some()) {
        let login = &person.github_username;
        let engine = world.engine(0);
        if relink_person(&engine, login, RelinkTo::Survivor).is_ok() {
            continue;
        }
        let ids = world.github.gist_ids(login);
        let mut carrying: HashMap<gisttrack::ids::PipedrivePersonId, usize> = HashMap::new();
        for activity in world.pipedrive.activities() {
            if gisttrack::sync::activity::markers(&activity.note).any(|g| ids.contains(&g)) {
                *carrying.entry(activity.person).or_default() += 1;
            }
        }
        let live = |id: &gisttrack::ids::PipedrivePersonId| {
            world
                .pipedrive
                .persons()
                .iter()
                .any(|p| p.id == *id && !p.deleted)
        };
        // None carries any: the person theirs was last merged into (every merge here makes
        // one, named as theirs), never a second one created.
        let merged_into = world
            .pipedrive
            .persons()
            .iter()
            .filter(|p| !p.deleted && p.name == format!("{login} Example"))
            .map(|p| p.id)
            .max();
        let to = carrying
            .into_iter()
            .filter(|(id, _)| live(id))
            .max_by_key(|(_, n)| *n)
            .map(|(id, _)| id)
            .or(merged_into)
            .map_or(RelinkTo::Create, RelinkTo::Person);
        relink_person(&engine, login, to).unwrap_or_else(|e| panic!("relinking {login}: {e}"));
    }
}

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_schedules_never_send_twice_and_deliver_everything_once() {
    let seed = knob("GISTTRACK_SCHEDULE_SEED", fastrand::u64(..));
    let seconds = knob("GISTTRACK_SCHEDULE_SECS", 15);
    // Every step on stderr, to follow a failure.
    let trace = knob("GISTTRACK_SCHEDULE_TRACE", 0) == 1;
    println!(
        "schedule seed {seed} ({seconds}s per backend): GISTTRACK_SCHEDULE_SEED={seed} replays it"
    );
    // A process dying mid-request is an injected panic: not worth a backtrace each time.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info.to_string();
        // The pass's own worker threads carry it up as "a scoped thread panicked".
        if !text.contains("(injected)") && !text.contains("a scoped thread panicked") {
            default_hook(info);
        }
    }));
    for db in backends() {
        let clock = Arc::new(ManualClock::starting_at(1_800_000_000_000));
        let store = Store::open(&DatabaseTarget::parse(&db.url).unwrap())
            .unwrap()
            .with_clock(clock.clone());
        let world = World {
            github: Arc::new(MemoryGithub::default()),
            pipedrive: Arc::new(MemoryPipedrive::new(clock.clone())),
            store,
            generations: (0..WORKERS).map(|_| AtomicU64::new(0)).collect(),
            gate: Default::default(),
            clock,
        };
        for (login, email) in ACCOUNTS {
            let email = email.then(|| format!("{login}@example.com"));
            world
                .github
                .add_user(login, email.as_deref(), 2, world.clock.now_ms() - 60_000);
        }
        let steps = AtomicU64::new(0);
        let deadline = Instant::now() + Duration::from_secs(seconds);
        std::thread::scope(|scope| {
            for worker in 0..WORKERS {
                let (world, steps) = (&world, &steps);
                scope.spawn(move || {
                    let mut rng = fastrand::Rng::with_seed(
                        seed ^ (worker + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    );
                    let node = worker as usize;
                    while Instant::now() < deadline {
                        let taken = std::panic::catch_unwind(AssertUnwindSafe(|| {
                            step(world, &mut rng, node)
                        }));
                        let what = match taken {
                            Ok(what) => what,
                            Err(_) => {
                                // The process died: a new one takes its place, under a new name.
                                world.generations[node].fetch_add(1, Ordering::SeqCst);
                                format!("node{node} died mid-request")
                            }
                        };
                        if trace {
                            eprintln!("t={} {what}", world.clock.now_ms());
                        }
                        world.check(&format!("[{}] seed {seed}: {what}", db.backend));
                        steps.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });

        // Quiet: no more faults; every account tracked; passes until nothing is left.
        world.pipedrive.clear_faults();
        for (login, _) in ACCOUNTS {
            let mut tries = 0;
            loop {
                world.clock.advance(LEASE + BOUND);
                match gisttrack::service::add_person(&world.engine(0), login, true) {
                    Ok(_) | Err(Error::AlreadyTracked(_)) => break,
                    Err(err) => {
                        tries += 1;
                        assert!(
                            tries < 10,
                            "[{}] seed {seed}: {login} cannot be added: {err}",
                            db.backend
                        );
                    }
                }
            }
        }
        for _ in 0..6 {
            world
                .clock
                .advance(LEASE + BOUND + Duration::from_secs(6 * 3600));
            relink_the_unlinked(&world);
            let options = PassOptions {
                retry_failed: true,
                ..PassOptions::new(Trigger::Cli)
            };
            let _ = world.engine(0).run_pass(&options, &ProgressBar::hidden());
        }
        world.check("the quiet passes");
        let per_gist = activities_per_gist(&world.pipedrive.activities());
        for (login, _) in ACCOUNTS {
            for gist in world.github.gist_ids(login) {
                assert_eq!(
                    per_gist.get(&gist),
                    Some(&1),
                    "[{}] seed {seed}: gist {} of {login} delivered once in the end",
                    db.backend,
                    gist.as_str()
                );
            }
        }
        println!(
            "[{}] {} steps, {} activities, {} persons created, {} POSTs",
            db.backend,
            steps.load(Ordering::Relaxed),
            world.pipedrive.activities().len(),
            world
                .pipedrive
                .persons()
                .iter()
                .filter(|p| p.by_api)
                .count(),
            world.pipedrive.posts()
        );
    }
}
