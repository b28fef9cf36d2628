//! One sync pass — discovery from GitHub, then exactly-once delivery to Pipedrive — used by
//! `gisttrack sync`, the `serve` loop and `POST /api/v1/sync` alike.

pub mod activity;
mod delivery;
mod discovery;
pub mod lease;
pub mod scheduler;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde::Serialize;

use crate::clients::{ApiError, GithubApi, PipedriveApi};
use crate::db::people::{self, Person};
use crate::db::sync_runs::{self, RunTotals};
use crate::db::Store;
use crate::error::{Error, Result};
use crate::login::Login;
use crate::metrics::Metrics;
use crate::time::now_ms;

/// How a pass behaves; shared by the CLI and `serve`.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// People worked on at once within this process.
    pub concurrency: usize,
    pub lease_ttl: Duration,
    pub activity_type: String,
    pub activity_done: bool,
    /// First pause before a failed delivery is retried by a later pass (doubles per attempt).
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Tries within one pass for a delivery whose outcome was unknown (5xx, timeout).
    pub delivery_tries: u32,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            concurrency: 4,
            lease_ttl: Duration::from_secs(120),
            activity_type: "task".into(),
            activity_done: false,
            retry_base: Duration::from_secs(60),
            retry_cap: Duration::from_secs(6 * 3600),
            delivery_tries: 3,
        }
    }
}

/// Everything a pass needs; cheap to clone into the serve loop and handlers.
#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub github: Arc<dyn GithubApi>,
    /// `None` without a Pipedrive token: only dry runs and reads work.
    pub pipedrive: Option<Arc<dyn PipedriveApi>>,
    pub settings: SyncSettings,
    pub metrics: Arc<Metrics>,
    /// Set on SIGTERM: workers finish the delivery under way and stop.
    pub shutdown: Arc<AtomicBool>,
}

/// What started a pass (recorded in `sync_runs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Cli,
    Loop,
    Api,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Loop => "loop",
            Trigger::Api => "api",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PassOptions {
    /// Only these people; all when empty.
    pub logins: Vec<Login>,
    /// Ask GitHub, print what would be created, write nothing anywhere.
    pub dry_run: bool,
    /// Retry failed deliveries now instead of waiting for their backoff.
    pub retry_failed: bool,
    pub trigger: Trigger,
    /// A `sync_runs` row opened in advance (the serve loop announces its id before running).
    pub run_id: Option<i64>,
}

/// An activity a dry run would create.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlannedActivity {
    pub github_username: String,
    pub gist_id: String,
    pub subject: String,
}

/// The outcome of one pass.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SyncReport {
    /// The `sync_runs` row (absent for dry runs).
    pub run_id: Option<i64>,
    pub dry_run: bool,
    pub users_checked: u32,
    /// Users whose gist list had not changed (a free 304).
    pub users_unchanged: u32,
    /// Users another process was syncing, or had just synced, during this pass.
    pub users_skipped: u32,
    pub new_gists: u32,
    pub activities_created: u32,
    /// Deliveries found already done in Pipedrive (a lost answer) and recorded, not resent.
    pub activities_reconciled: u32,
    pub failed: u32,
    pub errors: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<PlannedActivity>,
    pub duration_ms: u64,
}

impl SyncReport {
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.errors.is_empty()
    }
}

/// State shared by the workers of one pass.
struct Pass<'a> {
    engine: &'a Engine,
    options: &'a PassOptions,
    owner: &'a str,
    started_at: i64,
    report: Mutex<SyncReport>,
    github_stopped: AtomicBool,
    pipedrive_stopped: AtomicBool,
}

impl Pass<'_> {
    fn record(&self, update: impl FnOnce(&mut SyncReport)) {
        update(&mut self.report.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn error(&self, login: &str, message: impl std::fmt::Display) {
        let line = format!("{login}: {message}");
        log::warn!("sync: {line}");
        self.record(|r| {
            r.failed += 1;
            r.errors.push(line);
        });
    }

    /// Leaves a service alone for the rest of the pass. The caller reports the error that
    /// caused it (once, where it happened); this only logs the decision, once.
    fn stop(&self, service: &AtomicBool, error: &ApiError) {
        if !service.swap(true, Ordering::SeqCst) {
            log::warn!("sync: {error}; no more requests to that service in this pass");
        }
    }

    fn stopped(service: &AtomicBool) -> bool {
        service.load(Ordering::SeqCst)
    }
}

impl Engine {
    /// Opens the `sync_runs` row for a pass about to run.
    pub fn open_run(&self, trigger: Trigger) -> Result<i64> {
        sync_runs::start(
            &mut *self.store.conn()?,
            trigger.as_str(),
            lease::process_owner(),
            now_ms(),
        )
    }

    /// Runs one pass over the chosen people. Per-person failures are counted in the report,
    /// never stop the others; only a failure to start (bad input, no database) is an `Err`.
    pub fn run_pass(&self, options: &PassOptions, progress: &ProgressBar) -> Result<SyncReport> {
        let clock = Instant::now();
        if self.pipedrive.is_none() && !options.dry_run {
            return Err(Error::MissingPipedriveToken);
        }
        let people = {
            let mut conn = self.store.conn()?;
            if options.logins.is_empty() {
                people::list(&mut conn)?
            } else {
                options
                    .logins
                    .iter()
                    .map(|login| people::get_by_login(&mut conn, login))
                    .collect::<Result<Vec<Person>>>()?
            }
        };
        let owner = lease::process_owner();
        let started_at = now_ms();
        let run_id = match (options.dry_run, options.run_id) {
            (true, _) => None,
            (false, Some(run_id)) => Some(run_id),
            (false, None) => Some(self.open_run(options.trigger)?),
        };
        self.metrics.sync_passes.inc();
        progress.set_length(people.len() as u64);

        let pass = Pass {
            engine: self,
            options,
            owner,
            started_at,
            report: Mutex::new(SyncReport {
                run_id,
                dry_run: options.dry_run,
                ..SyncReport::default()
            }),
            github_stopped: AtomicBool::new(false),
            pipedrive_stopped: AtomicBool::new(false),
        };
        let queue = Mutex::new(VecDeque::from(people));
        let workers = self.settings.concurrency.clamp(1, 64);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    if self.shutdown.load(Ordering::SeqCst) {
                        break;
                    }
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some(person) = next else { break };
                    progress.set_message(person.github_login.clone());
                    sync_person(&pass, person);
                    progress.inc(1);
                });
            }
        });
        progress.finish_and_clear();

        if !options.dry_run {
            self.store.touch();
        }
        let mut report = pass.report.into_inner().unwrap_or_else(|e| e.into_inner());
        report.duration_ms = clock.elapsed().as_millis() as u64;
        if let Some(run_id) = run_id {
            let totals = RunTotals {
                users_checked: report.users_checked as i32,
                users_unchanged: report.users_unchanged as i32,
                new_gists: report.new_gists as i32,
                activities_created: report.activities_created as i32,
                failures: report.failed as i32,
                error_summary: (!report.errors.is_empty()).then(|| report.errors.join("\n")),
            };
            sync_runs::finish(&mut *self.store.conn()?, run_id, &totals, now_ms())?;
        }
        if !report.ok() {
            self.metrics.sync_pass_failures.inc();
        }
        log::info!(
            "sync pass done: users_checked={} unchanged={} skipped={} new_gists={} activities_created={} reconciled={} failed={} in {}ms",
            report.users_checked,
            report.users_unchanged,
            report.users_skipped,
            report.new_gists,
            report.activities_created,
            report.activities_reconciled,
            report.failed,
            report.duration_ms
        );
        Ok(report)
    }
}

/// Claims one person, discovers, delivers, releases. Never panics the pass: errors are reported.
fn sync_person(pass: &Pass<'_>, mut person: Person) {
    let engine = pass.engine;
    if pass.options.dry_run {
        discovery::preview(pass, &person);
        return;
    }
    match claim(pass, &person) {
        Ok(true) => {}
        Ok(false) => {
            pass.record(|r| r.users_skipped += 1);
            return;
        }
        Err(err) => {
            pass.error(&person.github_login, err);
            return;
        }
    }
    if let Err(err) = discovery::discover(pass, &mut person) {
        pass.error(&person.github_login, err);
    }
    if let Err(err) = delivery::deliver(pass, &person) {
        pass.error(&person.github_login, err);
    }
    if let Err(err) = engine
        .store
        .conn()
        .and_then(|mut conn| people::release(&mut conn, person.id, pass.owner))
    {
        log::warn!(
            "sync: could not release the lease on {}: {err}",
            person.github_login
        );
    }
}

/// Takes the person's lease; a lease left by a dead process on this host is taken over at once.
fn claim(pass: &Pass<'_>, person: &Person) -> Result<bool> {
    let ttl = pass.engine.settings.lease_ttl.as_millis() as i64;
    let mut conn = pass.engine.store.conn()?;
    let claim_over = |conn: &mut crate::db::DbConnection, dead_owner: Option<&str>| {
        people::claim(
            conn,
            person.id,
            pass.owner,
            now_ms(),
            ttl,
            Some(pass.started_at),
            dead_owner,
        )
    };
    if claim_over(&mut conn, None)? {
        return Ok(true);
    }
    let current = people::get(&mut conn, person.id)?;
    match current.lease_owner.as_deref() {
        Some(owner) if lease::is_dead_local_owner(owner) => {
            log::info!(
                "sync: taking over {}'s lease from dead process {owner}",
                person.github_login
            );
            claim_over(&mut conn, Some(owner))
        }
        _ => Ok(false),
    }
}
