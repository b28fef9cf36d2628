//! One module per subcommand; this one opens what they share and dispatches.

pub mod add;
pub mod completions;
pub mod delete;
pub mod list;
pub mod serve;
pub mod show;
pub mod sync;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::{Cli, Command, EngineArgs, UpstreamArgs};
use crate::clients::github::{GithubClient, GithubSettings};
use crate::clients::pipedrive::{PipedriveClient, PipedriveSettings};
use crate::clients::{GithubApi, PipedriveApi};
use crate::config::{DatabaseTarget, Secret};
use crate::db::Store;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::sync::{ActivitySettings, Engine, SyncSettings};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let output = cli.output;
    if let Command::Completions(args) = cli.command {
        return completions::run(args);
    }
    let database_url = cli.database_url();
    let target = DatabaseTarget::resolve(database_url.as_ref().map(Secret::expose), &|key| {
        std::env::var(key).ok()
    })?;
    let open = || Store::open(&target);
    match cli.command {
        Command::Add(args) => add::run(args, open, output),
        Command::List(args) => list::run(args, &open()?, output),
        Command::Show(args) => show::run(args, &open()?, output),
        Command::Delete(args) => delete::run(args, &open()?, output),
        Command::Sync(args) => sync::run(args, open, output),
        Command::Serve(args) => serve::run(args, open),
        Command::Completions(_) => unreachable!("handled above"),
    }
}

/// The two API clients; Pipedrive is `None` without a token.
pub fn clients(
    upstream: &UpstreamArgs,
    metrics: &Arc<Metrics>,
) -> (Arc<dyn GithubApi>, Option<Arc<dyn PipedriveApi>>) {
    let mut github = GithubSettings::new(&upstream.github_api_url, upstream.tokens.github());
    github.max_wait = upstream.rate_limit_max_wait;
    github.timeout = upstream.http_timeout;
    let github: Arc<dyn GithubApi> = Arc::new(GithubClient::new(github, metrics.clone()));
    let pipedrive = upstream.tokens.pipedrive().map(|token| {
        let mut settings = PipedriveSettings::new(&upstream.pipedrive_api_url, token);
        settings.max_wait = upstream.rate_limit_max_wait;
        settings.timeout = upstream.http_timeout;
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
) -> Result<Engine> {
    let settings = SyncSettings {
        in_flight_bound: upstream.in_flight_bound()?,
        ..SyncSettings::default()
    };
    let (github, pipedrive) = clients(upstream, &metrics);
    Ok(Engine {
        store: open()?,
        github,
        pipedrive,
        settings,
        metrics,
        shutdown: Arc::new(AtomicBool::new(false)),
    })
}

/// A sync engine configured from the command line.
pub fn sync_engine(
    open: impl FnOnce() -> Result<Store>,
    args: &EngineArgs,
    metrics: Arc<Metrics>,
) -> Result<Engine> {
    let mut engine = engine(open, &args.upstream, metrics)?;
    engine.settings.concurrency = args.concurrency as usize;
    engine.settings.activity = ActivitySettings {
        activity_type: args.activity_type.clone(),
        done: args.activity_done,
    };
    Ok(engine)
}
