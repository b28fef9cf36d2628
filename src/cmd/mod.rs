//! One module per subcommand; this one opens what they share and dispatches.

pub mod add;
pub mod completions;
pub mod delete;
pub mod doctor;
pub mod list;
pub mod org;
pub mod relink;
pub mod serve;
pub mod show;
pub mod sync;

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use crate::cli::{Cli, Command, EngineArgs, UpstreamArgs};
use crate::clients::github::{GithubClient, GithubSettings};
use crate::clients::pipedrive::{PipedriveClient, PipedriveSettings};
use crate::clients::{GithubApi, PipedriveApi};
use crate::config::{DatabaseTarget, Secret};
use crate::db::Store;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::output::OutputFormat;
use crate::sync::SyncReport;
use crate::sync::{ActivitySettings, App, SyncSettings};

/// What every command gets besides its own arguments: where the store is (opened only
/// when the command needs it, after its own checks) and how to print.
pub struct Context {
    target: DatabaseTarget,
    lock_wait: std::time::Duration,
    pub output: OutputFormat,
}

impl Context {
    pub fn open(&self) -> Result<Store> {
        Store::open_with(&self.target, self.lock_wait)
    }

    /// The store for a command that only reads or removes: `None`, said once on standard
    /// error, when the SQLite file does not exist, rather than creating an empty one where a
    /// mistyped `DATABASE_URL` points.
    pub fn open_existing(&self) -> Result<Option<Store>> {
        if let Some(path) = self.missing_sqlite_file() {
            eprintln!(
                "gisttrack: no database at {path} yet, so nothing is tracked there \
                 (`gisttrack add` creates it; check DATABASE_URL if you meant another)"
            );
            return Ok(None);
        }
        self.open().map(Some)
    }

    /// The SQLite file the target names, as printable text, when it does not exist.
    fn missing_sqlite_file(&self) -> Option<String> {
        match &self.target {
            DatabaseTarget::Sqlite(path) if !path.exists() => {
                Some(crate::output::safe::one_line(&path.display().to_string()))
            }
            _ => None,
        }
    }

    /// The user `login` names in an existing store; not tracked when there is no store yet.
    /// An invalid login is refused first; a missing store is one error line naming both.
    pub fn store_tracking(&self, login: &str) -> Result<Store> {
        let login = crate::login::Login::parse(login)?;
        match self.missing_sqlite_file() {
            Some(path) => Err(Error::NoStoreYet {
                login: login.as_str().to_string(),
                path,
            }),
            None => self.open(),
        }
    }

    pub fn target(&self) -> &DatabaseTarget {
        &self.target
    }
}

/// SIGINT and SIGTERM, caught so a command finishes the work under way and says what is
/// left instead of dying mid-request. The first signal sets the stop flag the work checks;
/// a second one ends the process at once (safe: a request cut short waits like any lost
/// answer).
pub struct Interrupt {
    signal: Arc<AtomicI32>,
}

impl Interrupt {
    /// Catches both signals from now on; `notice` (a whole line, `gisttrack: stopping...`)
    /// is printed on stderr at the first.
    pub fn catch(stop: Arc<AtomicBool>, notice: &'static str) -> Result<Interrupt> {
        use tokio::signal::unix::{signal, SignalKind};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Registered here, before the work starts, so no signal can slip through.
        let (mut interrupt, mut terminate) = runtime.block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })?;
        let received = Arc::new(AtomicI32::new(0));
        let seen = received.clone();
        std::thread::spawn(move || {
            runtime.block_on(async move {
                loop {
                    let signal = tokio::select! {
                        _ = interrupt.recv() => libc::SIGINT,
                        _ = terminate.recv() => libc::SIGTERM,
                    };
                    if seen.swap(signal, Ordering::SeqCst) != 0 {
                        eprintln!("gisttrack: stopped at once");
                        std::process::exit(i32::from(crate::exit::for_signal(signal).code()));
                    }
                    stop.store(true, Ordering::SeqCst);
                    eprintln!("{notice} (Ctrl-C again stops at once)");
                }
            })
        });
        Ok(Interrupt { signal: received })
    }

    /// The signal that arrived first, if any, as the exit status it calls for.
    pub fn received(&self) -> Option<Exit> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(crate::exit::for_signal(signal)),
        }
    }
}

/// What to do about an empty `--activity-type` (`doctor` shows it apart from the error).
pub const ACTIVITY_TYPE_REMEDY: &str =
    "give a Pipedrive activity type key such as task, call or meeting";

/// An empty activity type would be sent as `"type": ""`: refused as configuration.
pub fn check_activity_type(args: &EngineArgs) -> Result<()> {
    if args.activity_type.trim().is_empty() {
        return Err(Error::Config(format!(
            "--activity-type (GISTTRACK_ACTIVITY_TYPE) is empty: {ACTIVITY_TYPE_REMEDY}"
        )));
    }
    Ok(())
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<Exit> {
    if let Command::Completions(args) = cli.command {
        return completions::run(args);
    }
    let database_url = cli.database_url();
    let target = DatabaseTarget::resolve(database_url.as_ref().map(Secret::expose), &|key| {
        std::env::var(key).ok()
    })?;
    let ctx = Context {
        target,
        lock_wait: cli.lock_wait(),
        output: cli.output(),
    };
    match cli.command {
        Command::Add(args) => add::run(args, &ctx),
        Command::List(args) => list::run(args, &ctx),
        Command::Show(args) => show::run(args, &ctx),
        Command::Delete(args) => delete::run(args, &ctx),
        Command::Sync(args) => sync::run(args, &ctx),
        Command::Serve(args) => serve::run(args, &ctx),
        Command::Doctor(args) => doctor::run(args, &ctx),
        Command::Relink(args) => relink::run(args, &ctx),
        Command::Org(args) => org::run(args, &ctx),
        Command::Completions(_) => unreachable!("handled above"),
    }
}

/// The upstream URLs checked before anything uses them (see [`crate::config::check_api_url`]).
pub fn check_upstream_urls(upstream: &UpstreamArgs) -> Result<()> {
    crate::config::check_api_url(
        "GITHUB_API_URL (--github-api-url)",
        &upstream.github_api_url,
    )?;
    crate::config::check_api_url(
        "PIPEDRIVE_API_URL (--pipedrive-api-url)",
        &upstream.pipedrive_api_url,
    )
}

/// The two API clients; Pipedrive is `None` without a token.
pub fn clients(
    upstream: &UpstreamArgs,
    metrics: &Arc<Metrics>,
) -> (Arc<dyn GithubApi>, Option<Arc<dyn PipedriveApi>>) {
    let mut github = GithubSettings::new(&upstream.github_api_url, upstream.tokens.github_token());
    github.max_wait = upstream.rate_limit_max_wait;
    github.timeout = upstream.timing.http_timeout;
    let github: Arc<dyn GithubApi> = Arc::new(GithubClient::new(github, metrics.clone()));
    let pipedrive = upstream.tokens.pipedrive_token().map(|token| {
        let mut settings = PipedriveSettings::new(&upstream.pipedrive_api_url, token);
        settings.max_wait = upstream.rate_limit_max_wait;
        settings.timeout = upstream.timing.http_timeout;
        Arc::new(PipedriveClient::new(settings, metrics.clone())) as Arc<dyn PipedriveApi>
    });
    (github, pipedrive)
}

/// The engine `add` and `sync` share, with the settings `add` needs. The settings are
/// checked before the store is opened, so a configuration error writes nothing.
pub fn engine(
    open: impl FnOnce() -> Result<Store>,
    upstream: &UpstreamArgs,
    metrics: Arc<Metrics>,
) -> Result<App> {
    check_upstream_urls(upstream)?;
    let settings = SyncSettings {
        in_flight_bound: upstream.timing.in_flight_bound()?,
        person_owner: upstream.person_owner.map(crate::ids::PipedriveUserId),
        ..SyncSettings::default()
    };
    let (github, pipedrive) = clients(upstream, &metrics);
    Ok(App {
        store: open()?,
        github,
        pipedrive,
        settings,
        metrics,
        shutdown: Arc::new(AtomicBool::new(false)),
    })
}

/// Who hears about a pass's outcome once it is over (`--notify-url` for failures,
/// `--digest-url` for what is new), for `sync` and `serve`: the pass returns its report, and
/// its caller tells them.
#[derive(Clone, Default)]
pub struct Alerts {
    failures: Option<Arc<Notifier>>,
    digest: Option<Arc<crate::digest::Digest>>,
}

impl Alerts {
    pub fn from_args(args: &EngineArgs) -> Alerts {
        let site = crate::site::Site::from_api_urls(
            &args.upstream.github_api_url,
            &args.upstream.pipedrive_api_url,
        );
        Alerts {
            failures: args
                .notify
                .notify_url()
                .map(|url| Arc::new(Notifier::new(url))),
            digest: args
                .notify
                .digest_url()
                .map(|url| Arc::new(crate::digest::Digest::new(url, site))),
        }
    }

    pub fn after_pass(&self, store: &Store, report: &SyncReport) {
        if let Some(notifier) = &self.failures {
            notifier.after_pass(store, report);
        }
        if let Some(digest) = &self.digest {
            digest.after_pass(report);
        }
    }
}

/// A sync engine configured from the command line.
pub fn sync_engine(
    open: impl FnOnce() -> Result<Store>,
    args: &EngineArgs,
    metrics: Arc<Metrics>,
) -> Result<App> {
    check_activity_type(args)?;
    let mut rules = SyncSettings::default();
    args.orgs.apply(&mut rules)?;
    let mut engine = engine(open, &args.upstream, metrics)?;
    engine.settings.exclude = rules.exclude;
    engine.settings.drop_leavers = rules.drop_leavers;
    engine.settings.concurrency = args.workers.concurrency as usize;
    engine.settings.activity = ActivitySettings {
        activity_type: args.activity_type.clone(),
        done: args.activity_done,
        owner: args.activity_owner,
        link_open_deal: args.link_open_deal,
    };
    Ok(engine)
}
