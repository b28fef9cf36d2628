//! `gisttrack serve`: the HTTP API, the sync loop, and a graceful stop on SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::cli::ApiTokenArgs;
use crate::cli::EngineArgs;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::http::{server, AppState};
use crate::metrics::Metrics;
use crate::sync::scheduler::Scheduler;
use crate::sync::App;

/// How long a stop may take before in-flight work is abandoned (leases are still released).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on: HOST:PORT, where HOST is an address or a name (localhost).
    #[arg(
        long,
        env = "GISTTRACK_LISTEN",
        default_value = "127.0.0.1:3000",
        value_name = "HOST:PORT",
        value_parser = parse_listen
    )]
    pub listen: String,

    /// Time between sync passes (e.g. 3h, 90m, 2s); one pass also runs at start.
    #[arg(long, env = "GISTTRACK_SYNC_INTERVAL", default_value = "3h", value_parser = parse_interval, value_name = "DURATION")]
    pub interval: Duration,

    /// Serve without the periodic sync loop (POST /api/v1/sync still runs a pass).
    #[arg(long)]
    pub no_sync: bool,

    #[command(flatten)]
    pub token: ApiTokenArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub common: crate::cli::CommonArgs,
}

/// `HOST:PORT` with a port number; the host is resolved when `serve` binds.
fn parse_listen(text: &str) -> std::result::Result<String, String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or("expected HOST:PORT, e.g. 127.0.0.1:3000 or localhost:3000")?;
    if host.trim_matches(['[', ']']).is_empty() {
        return Err("the host is empty; e.g. 127.0.0.1:3000 or 0.0.0.0:3000".into());
    }
    port.parse::<u16>()
        .map_err(|_| format!("{port:?} is not a port number (0 to 65535)"))?;
    Ok(text.to_string())
}

fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    let interval = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if interval < Duration::from_secs(1) {
        return Err("the interval must be at least 1s".into());
    }
    Ok(interval)
}

pub fn run(args: ServeArgs, ctx: &super::Context) -> Result<Exit> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Registered before the first log line, so a SIGTERM that follows any output is a clean stop.
    let stop_requested = runtime.block_on(async { shutdown_signal() })?;
    let api_token = args.token.strong_api_token()?;
    let engine = super::sync_engine(|| ctx.open(), &args.engine, Arc::new(Metrics::default()))?;
    let listen = runtime.block_on(resolve(&args.listen))?;
    warn_about(&engine, api_token.is_some(), listen);
    let interval = (!args.no_sync).then_some(args.interval);
    let scheduler = engine.pipedrive.is_some().then(|| {
        let alerts = super::Alerts::from_args(&args.engine);
        let store = engine.store.clone();
        let after_pass =
            Arc::new(move |report: &crate::sync::SyncReport| alerts.after_pass(&store, report));
        Scheduler::new(engine.clone(), interval, after_pass)
    });
    let site = crate::site::Site::from_api_urls(
        &args.engine.upstream.github_api_url,
        &args.engine.upstream.pipedrive_api_url,
    );
    let state = AppState::new(engine, scheduler, api_token)
        .with_site(site)
        .with_listen(listen);
    let outcome = runtime.block_on(serve_until_stopped(listen, state, interval, stop_requested));
    // A request stuck in a slow upstream call must not hold the process.
    runtime.shutdown_timeout(Duration::from_millis(500));
    outcome.map(|()| Exit::Ok)
}

/// The address to bind: the first one the host name resolves to.
async fn resolve(listen: &str) -> Result<SocketAddr> {
    let mut addresses = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {listen}: {e}")))?;
    addresses.next().ok_or_else(|| {
        Error::Config(format!(
            "cannot listen on {listen}: it resolves to no address"
        ))
    })
}

/// What an operator must know before the first request: what stays off, what is exposed.
fn warn_about(engine: &App, has_api_token: bool, listen: SocketAddr) {
    if engine.pipedrive.is_none() {
        log::warn!(
            "PIPEDRIVE_TOKEN is not set: serving reads only. Adding people, the sync loop and \
             POST /api/v1/sync stay off until it is set."
        );
    }
    if !has_api_token && !listen.ip().is_loopback() {
        log::warn!(
            "!!! listening on {listen} WITHOUT an API token: anyone who can reach it can add and \
             delete people, through the API and the dashboard. Set GISTTRACK_API_TOKEN. !!!"
        );
    }
}

/// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests and the
/// delivery under way finish (within the grace period), and releases this process's leases.
async fn serve_until_stopped(
    listen: SocketAddr,
    state: AppState,
    interval: Option<Duration>,
    stop_requested: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {listen}: {e}")))?;
    let max_connections = server::connection_limit(state.engine.settings.concurrency);
    announce(listener.local_addr()?, &state, interval);
    let (stop, stopped) = watch::channel(false);
    let sync_loop = state
        .scheduler
        .clone()
        .map(|s| tokio::spawn(s.run(stopped.clone())));
    let engine = state.engine.clone();
    let mut server_stopped = stopped;
    let server = tokio::spawn(server::serve(
        listener,
        crate::routes::routes(state),
        max_connections,
        async move {
            let _ = server_stopped.wait_for(|stop| *stop).await;
        },
    ));

    stop_requested.await;
    log::info!(
        "stopping: no new connections; finishing in-flight requests and the delivery under way"
    );
    engine.shutdown.store(true, Ordering::SeqCst);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        let _ = server.await;
        if let Some(sync_loop) = sync_loop {
            let _ = sync_loop.await;
        }
    })
    .await;
    if drained.is_err() {
        log::warn!("in-flight work did not finish within {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    match crate::blocking::run(move || engine.release_leases()).await {
        Ok(n) if n > 0 => log::info!("released {n} lease(s)"),
        Ok(_) => {}
        Err(err) => log::warn!("could not release leases: {err}; they expire on their own"),
    }
    log::info!("stopped");
    Ok(())
}

/// The readiness line (tests and operators wait for it) and what the loop will do.
fn announce(address: SocketAddr, state: &AppState, interval: Option<Duration>) {
    log::info!(
        "gisttrack {} listening on http://{address} (API docs: http://{address}/documentation/index.html), store: {:?}",
        env!("CARGO_PKG_VERSION"),
        state.store().target()
    );
    match (&state.scheduler, interval) {
        (Some(_), Some(every)) => log::info!(
            "syncing at start and every {}",
            humantime::format_duration(every)
        ),
        (Some(_), None) => {
            log::info!("the periodic sync loop is off (--no-sync); POST /api/v1/sync runs a pass")
        }
        (None, _) => {}
    }
}

/// Resolves on SIGTERM or SIGINT; the handlers are registered when this is called.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
