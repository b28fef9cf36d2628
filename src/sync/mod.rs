//! One sync pass — discovery from GitHub, then exactly-once delivery to Pipedrive — used by
//! `gisttrack sync`, the `serve` loop and `POST /api/v1/sync` alike.

pub mod activity;
mod delivery;
mod discovery;
mod feed;
pub mod lease;
pub mod look;
mod orgs;
pub mod plan;
mod report;
pub mod scheduler;
mod settings;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use indicatif::ProgressBar;

use crate::clients::{ApiError, GithubApi, PipedriveApi};
use crate::db::people::{self, Person};
use crate::db::sync_runs::{self, RunCounts};
use crate::db::Store;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::ids::PersonId;
use crate::login::Login;
use crate::metrics::Metrics;
use crate::time::format_ms;

pub use crate::db::sync_runs::RunTrigger as Trigger;

/// Writes held back unsent for a rate limit (a delivery, a person's creation) tried again
/// before they count as failed.
pub(crate) const MAX_THROTTLED: u32 = 10;
pub use activity::{ActivityOwner, ActivitySettings};
pub use discovery::record_listing;
use report::log_report;
pub use report::{Delivered, PlannedActivity, SyncReport};
pub use settings::{default_in_flight_bound, SyncSettings};

/// The most workers one process runs (`--concurrency`). GitHub allows 100 concurrent requests
/// per token; a worker spends part of its time on Pipedrive and the database, so a little
/// more is still useful, and much more only buys secondary rate limits.
pub const MAX_CONCURRENCY: usize = 256;

/// The application context: the store, the clients, their settings, the metrics and the stop
/// flag, which the commands, the service layer, the pass and the HTTP state all work with;
/// cheap to clone into the serve loop and handlers.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub github: Arc<dyn GithubApi>,
    /// `None` without a Pipedrive token: only dry runs and reads work.
    pub pipedrive: Option<Arc<dyn PipedriveApi>>,
    pub settings: SyncSettings,
    pub metrics: Arc<Metrics>,
    /// Set on SIGTERM: workers finish the delivery under way and stop.
    pub shutdown: Arc<AtomicBool>,
}

/// Whom a pass covers.
#[derive(Debug, Clone, Default)]
pub enum Scope {
    /// Every tracked person.
    #[default]
    Everyone,
    /// These logins; each must be tracked.
    Named(Vec<Login>),
    /// These people if they are still tracked: a follow-up for waiting deliveries.
    Waiting(Vec<PersonId>),
}

#[derive(Debug, Clone)]
pub struct PassOptions {
    pub scope: Scope,
    /// Ask GitHub, print what would be created, write nothing anywhere.
    pub dry_run: bool,
    /// Retry failed deliveries now instead of waiting for their backoff.
    pub retry_failed: bool,
    /// Read the chosen people's activities in full at their next look, not only what changed
    /// since the last one (`--reread-history`: a belt to the looks' braces).
    pub look_in_full: bool,
    pub trigger: Trigger,
    /// A `sync_runs` row opened in advance (the serve loop announces its id before running).
    pub run_id: Option<i64>,
}

impl PassOptions {
    pub fn new(trigger: Trigger) -> PassOptions {
        PassOptions {
            scope: Scope::Everyone,
            dry_run: false,
            retry_failed: false,
            look_in_full: false,
            trigger,
            run_id: None,
        }
    }
}

/// An upstream service a pass may leave alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Github,
    Pipedrive,
}

/// State shared by the workers of one pass.
struct Pass<'a> {
    engine: &'a App,
    options: &'a PassOptions,
    owner: &'a str,
    started_at: i64,
    report: Mutex<SyncReport>,
    github_stopped: AtomicBool,
    pipedrive_stopped: AtomicBool,
    owner_names: look::OwnerNames,
}

impl Pass<'_> {
    /// The time, as the store stamps it.
    fn now(&self) -> i64 {
        self.engine.store.now_ms()
    }

    /// How this pass looks at a person's Pipedrive person before delivering.
    fn looking<'p>(&'p self, pipedrive: &'p dyn PipedriveApi) -> look::Looking<'p> {
        look::Looking {
            pipedrive,
            clock: self.engine.store.clock(),
            settings: &self.engine.settings.activity,
            names: &self.owner_names,
        }
    }

    fn record(&self, update: impl FnOnce(&mut SyncReport)) {
        update(&mut self.report.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// A person that could not be synced: counted and reported once (in the report; the
    /// log line is for `serve`, whose report is its log).
    fn error(&self, login: &str, err: Error) {
        let line = format!("{login}: {err}");
        log::info!("sync: {line}");
        self.record(|r| {
            r.counts.failed += 1;
            r.exit = r.exit.worst(Exit::from(&err));
            r.failed_users.insert(login.to_string());
            r.errors.push(line);
        });
    }

    /// The same failure for several people at once (claiming a chunk of them failed): counted
    /// for each, reported in one line.
    fn error_many(&self, logins: &[&str], err: Error) {
        const NAMED: usize = 5;
        let mut who = logins
            .iter()
            .take(NAMED)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if logins.len() > NAMED {
            who.push_str(&format!(" and {} more", logins.len() - NAMED));
        }
        let line = format!("{who}: {err}");
        log::info!("sync: {line}");
        self.record(|r| {
            r.counts.failed += logins.len() as i32;
            r.exit = r.exit.worst(Exit::from(&err));
            r.failed_users.extend(logins.iter().map(|l| l.to_string()));
            r.errors.push(line);
        });
    }

    /// The tracked people could not be read: the pass ends with the people it has.
    fn stop_reading(&self, err: Error) {
        let line = format!("reading the tracked people: {err}");
        log::info!("sync: {line}");
        self.record(|r| {
            r.exit = r.exit.worst(Exit::from(&err));
            r.errors.push(line);
        });
    }

    /// A delivery that may still land is left until `until`.
    fn waiting(&self, person_id: PersonId, until: i64) {
        self.record(|r| {
            r.counts.deliveries_waiting += 1;
            r.waiting.push((person_id, until));
        });
    }

    fn in_flight_bound_ms(&self) -> i64 {
        self.engine.settings.in_flight_bound.as_millis() as i64
    }

    fn flag(&self, service: Service) -> &AtomicBool {
        match service {
            Service::Github => &self.github_stopped,
            Service::Pipedrive => &self.pipedrive_stopped,
        }
    }

    /// Whether the service is left alone for the rest of the pass.
    fn stopped(&self, service: Service) -> bool {
        self.flag(service).load(Ordering::SeqCst)
    }

    /// Takes note of an upstream failure: one that concerns the whole service (a refused
    /// token, a rate limit, a block) leaves it alone for the rest of the pass, the decision
    /// logged once. The caller reports the failure itself, once, where it happened.
    fn note_failure(&self, service: Service, error: &ApiError) {
        if error.stops_service() && !self.flag(service).swap(true, Ordering::SeqCst) {
            log::info!("sync: {error}; no more requests to that service in this pass");
        }
    }

    /// [`Pass::note_failure`], and the failure as the error to report.
    fn upstream_failed(&self, service: Service, error: ApiError) -> Error {
        self.note_failure(service, &error);
        match service {
            Service::Github => Error::Github(error),
            Service::Pipedrive => Error::Pipedrive(error),
        }
    }

    /// Stops a service for a reason no single item failed for (a spent daily budget), and
    /// reports it once.
    fn stop_reporting(&self, service: Service, reason: ApiError) {
        if !self.flag(service).swap(true, Ordering::SeqCst) {
            log::info!("sync: {reason}");
            let name = match service {
                Service::Github => "GitHub",
                Service::Pipedrive => "Pipedrive",
            };
            self.record(|r| {
                r.exit = r.exit.worst(Exit::from(&reason));
                r.errors.push(format!("{name}: {reason}"));
            });
        }
    }
}

impl App {
    /// Opens the `sync_runs` row for a pass about to run, first closing rows that passes of
    /// processes that died on this host left open.
    pub fn open_run(&self, trigger: Trigger) -> Result<i64> {
        self.store.write(|conn| {
            let abandoned: Vec<i64> = sync_runs::open_runs(conn)?
                .into_iter()
                .filter(|(_, owner)| lease::is_dead_local_owner(owner))
                .map(|(id, _)| id)
                .collect();
            sync_runs::close_abandoned(conn, &abandoned, self.store.now_ms())?;
            sync_runs::start(conn, trigger, self.store.owner(), self.store.now_ms())
        })
    }

    /// The Pipedrive client, or the one error that says it is not configured.
    pub fn pipedrive_api(&self) -> Result<&dyn PipedriveApi> {
        self.pipedrive
            .as_deref()
            .ok_or(Error::MissingPipedriveToken)
    }

    /// Releases every lease this process holds (at shutdown, so others need not wait for
    /// them to expire).
    pub fn release_leases(&self) -> Result<usize> {
        self.store
            .write(|conn| people::release_all(conn, self.store.owner()))
    }

    /// Runs one pass over the chosen people. Per-person failures are counted in the report,
    /// never stop the others; only a failure to start (bad input, no database) is an `Err`.
    /// Either way the pass's `sync_runs` row is closed with what happened.
    pub fn run_pass(&self, options: &PassOptions, progress: &ProgressBar) -> Result<SyncReport> {
        if !options.dry_run {
            self.pipedrive_api()?;
        }
        let people = self.source_for(options);
        // A run asked for in advance is closed whatever happens; otherwise a pass that cannot
        // start (an untracked login, no database) opens no row at all.
        let run_id = match (options.dry_run, options.run_id, &people) {
            (true, _, _) => None,
            (false, Some(run_id), _) => Some(run_id),
            (false, None, Ok(_)) => Some(self.open_run(options.trigger)?),
            (false, None, Err(_)) => None,
        };
        let outcome =
            people.and_then(|(source, n)| self.pass(options, run_id, source, n, progress));
        if let Some(run_id) = run_id {
            self.close_run(run_id, &outcome);
        }
        if let Ok(report) = &outcome {
            log_report(report);
        }
        outcome
    }

    /// Closes a run that was asked for but never started.
    pub fn close_unstarted_run(&self, run_id: i64, why: &str) -> Result<()> {
        self.store.write(|conn| {
            sync_runs::finish(
                conn,
                run_id,
                RunCounts::default(),
                Some(why),
                self.store.now_ms(),
            )
        })
    }

    fn close_run(&self, run_id: i64, outcome: &Result<SyncReport>) {
        let (counts, summary) = match outcome {
            Ok(report) => (
                report.counts,
                (!report.errors.is_empty()).then(|| report.errors.join("\n")),
            ),
            Err(err) => (
                RunCounts::default(),
                Some(format!("the pass did not run: {err}")),
            ),
        };
        let closed = self.store.write(|conn| {
            let now = self.store.now_ms();
            sync_runs::finish(conn, run_id, counts, summary.as_deref(), now)
        });
        if let Err(err) = closed {
            log::warn!("could not record the end of sync run {run_id}: {err}");
        }
    }

    /// Where the pass's people come from, and how many there are.
    fn source_for(&self, options: &PassOptions) -> Result<(feed::Source, u64)> {
        let mut conn = self.store.conn()?;
        let listed = match &options.scope {
            Scope::Everyone => None,
            Scope::Named(logins) => Some(
                logins
                    .iter()
                    .map(|login| people::get_by_login(&mut conn, login))
                    .collect::<Result<Vec<_>>>()?,
            ),
            Scope::Waiting(ids) => Some(people::find_all(&mut conn, ids)?),
        };
        if options.look_in_full && !options.dry_run {
            let ids: Option<Vec<PersonId>> =
                listed.as_ref().map(|l| l.iter().map(|p| p.id).collect());
            self.store
                .write(|conn| people::look_in_full(conn, ids.as_deref()))?;
        }
        Ok(match listed {
            None => (feed::Source::everyone(), people::count(&mut conn)? as u64),
            Some(listed) => {
                let n = listed.len() as u64;
                (feed::Source::Listed(listed.into()), n)
            }
        })
    }

    fn pass(
        &self,
        options: &PassOptions,
        run_id: Option<i64>,
        source: feed::Source,
        people: u64,
        progress: &ProgressBar,
    ) -> Result<SyncReport> {
        let clock = Instant::now();
        let owner = self.store.owner();
        self.metrics.sync_passes.inc();
        progress.set_length(people);

        let pass = Pass {
            engine: self,
            options,
            owner,
            started_at: self.store.now_ms(),
            report: Mutex::new(SyncReport {
                run_id,
                dry_run: options.dry_run,
                ..SyncReport::default()
            }),
            github_stopped: AtomicBool::new(false),
            pipedrive_stopped: AtomicBool::new(false),
            owner_names: look::OwnerNames::default(),
        };
        // New members of followed organizations first, so this pass delivers their gists.
        if matches!(options.scope, Scope::Everyone) && !options.dry_run {
            let added = orgs::follow(&pass);
            progress.set_length(people + added as u64);
        }
        let workers = self.settings.concurrency.clamp(1, MAX_CONCURRENCY);
        let feed = feed::Feed::new(&pass, source, workers);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    while !self.shutdown.load(Ordering::SeqCst) {
                        let Some(work) = feed.next() else { break };
                        progress.set_message(work.person.github_login.clone());
                        sync_person(&pass, work);
                        progress.inc(1);
                    }
                });
            }
        });
        progress.finish_and_clear();

        if !options.dry_run {
            self.store.touch();
        }
        let mut report = pass.report.into_inner().unwrap_or_else(|e| e.into_inner());
        report.duration_ms = clock.elapsed().as_millis() as u64;
        self.metrics.sync_pass(clock.elapsed());
        report.waiting_until = report.first_settle_at().map(format_ms);
        if !report.ok() {
            self.metrics.sync_pass_failures.inc();
        }
        Ok(report)
    }
}

/// Discovers, delivers and releases one claimed person. Never panics the pass: errors are
/// reported.
fn sync_person(pass: &Pass<'_>, work: feed::Work) {
    let feed::Work {
        mut person,
        has_unfinished,
        claimed_at,
    } = work;
    if pass.options.dry_run {
        discovery::preview(pass, &person);
        return;
    }
    match keep_lease(pass, &person, claimed_at) {
        Ok(true) => {}
        Ok(false) => {
            pass.record(|r| r.counts.users_skipped += 1);
            return;
        }
        Err(err) => {
            pass.error(&person.github_login, err);
            return;
        }
    }
    match discovery::discover(pass, &mut person, has_unfinished) {
        // Unchanged, nothing to deliver, and the lease released with the sync time.
        Ok(discovery::Discovered::Done) => return,
        // Another process holds the person now: it delivers too.
        Err(err @ Error::LeaseLost(_)) => pass.error(&person.github_login, err),
        outcome => {
            let deliver = match outcome {
                Ok(discovery::Discovered::New(n)) => has_unfinished || n > 0,
                Ok(_) => has_unfinished,
                Err(err) => {
                    pass.error(&person.github_login, err);
                    has_unfinished
                }
            };
            if deliver {
                if let Err(err) = delivery::deliver(pass, &person) {
                    pass.error(&person.github_login, err);
                }
            }
        }
    }
    if let Err(err) = pass
        .engine
        .store
        .write(|conn| people::release(conn, person.id, pass.owner))
    {
        log::warn!(
            "sync: could not release the lease on {}: {err}",
            person.github_login
        );
    }
}

/// A lease taken a while ago (its person waited in the queue behind slow ones) is renewed
/// before work starts; false when it was lost meanwhile.
fn keep_lease(pass: &Pass<'_>, person: &Person, claimed_at: i64) -> Result<bool> {
    let ttl_ms = pass.engine.settings.lease_ttl.as_millis() as i64;
    let now = pass.now();
    if now - claimed_at < ttl_ms / 4 {
        return Ok(true);
    }
    pass.engine
        .store
        .write(|conn| people::renew(conn, person.id, pass.owner, now, ttl_ms))
}
