//! `gisttrack serve`: the HTTP API, the sync loop, and a graceful stop on SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::api::{self, ApiState};
use crate::cli::EngineArgs;
use crate::config::Secret;
use crate::db::{people, Store};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::sync::lease;
use crate::sync::scheduler::Scheduler;

/// How long a stop may take before in-flight work is abandoned (leases are still released).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "GISTTRACK_LISTEN",
        default_value = "127.0.0.1:3000",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,

    /// Time between sync passes (e.g. 3h, 90m, 2s); one pass also runs at start.
    #[arg(long, env = "GISTTRACK_SYNC_INTERVAL", default_value = "3h", value_parser = parse_interval, value_name = "DURATION")]
    pub interval: Duration,

    /// Serve without the periodic sync loop (POST /api/v1/sync still runs a pass).
    #[arg(long)]
    pub no_sync: bool,

    /// Require `Authorization: Bearer <token>` on every /api/v1 route.
    #[arg(
        long,
        env = "GISTTRACK_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = Secret::from_arg
    )]
    pub api_token: Option<Secret>,

    #[command(flatten)]
    pub engine: EngineArgs,
}

fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    let interval = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if interval < Duration::from_secs(1) {
        return Err("the interval must be at least 1s".into());
    }
    Ok(interval)
}

pub fn run(args: ServeArgs, open: impl FnOnce() -> Result<Store>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Registered before the first log line, so a SIGTERM that follows any output is a clean stop.
    let stop_requested = runtime.block_on(async { shutdown_signal() })?;
    let store = open()?;
    let metrics = Arc::new(Metrics::default());
    let engine = super::sync_engine(store.clone(), &args.engine, metrics)?;
    let api_token = Secret::present(&args.api_token);
    if engine.pipedrive.is_none() {
        log::warn!(
            "PIPEDRIVE_TOKEN is not set: serving reads only. Adding people, the sync loop and \
             POST /api/v1/sync stay off until it is set."
        );
    }
    if api_token.is_none() && !args.listen.ip().is_loopback() {
        log::warn!(
            "!!! listening on {} WITHOUT an API token: anyone who can reach it can add and delete \
             people. Set GISTTRACK_API_TOKEN. !!!",
            args.listen
        );
    }
    let interval = (!args.no_sync).then_some(args.interval);
    let scheduler = engine
        .pipedrive
        .is_some()
        .then(|| Scheduler::new(engine.clone(), interval));
    let state = ApiState::new(engine.clone(), scheduler.clone(), api_token);

    let outcome = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", args.listen)))?;
        let address = listener.local_addr()?;
        log::info!(
            "gisttrack {} listening on http://{address} (API docs: http://{address}/documentation/index.html), store: {:?}",
            env!("CARGO_PKG_VERSION"),
            store.target()
        );
        match (&scheduler, interval) {
            (Some(_), Some(every)) => log::info!("syncing at start and every {}", humantime::format_duration(every)),
            (Some(_), None) => log::info!("the periodic sync loop is off (--no-sync); POST /api/v1/sync runs a pass"),
            (None, _) => {}
        }

        let (stop_tx, stop_rx) = watch::channel(false);
        let sync_loop = scheduler.map(|s| tokio::spawn(s.run(stop_rx.clone())));
        let mut server_stop = stop_rx.clone();
        let server = tokio::spawn(
            warp::serve(api::routes(state))
                .incoming(listener)
                .graceful(async move {
                    let _ = server_stop.wait_for(|stop| *stop).await;
                })
                .run(),
        );

        stop_requested.await;
        log::info!("stopping: no new connections; finishing in-flight requests and the delivery under way");
        engine.shutdown.store(true, Ordering::SeqCst);
        let _ = stop_tx.send(true);
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
        let released = crate::blocking::run(move || {
            store
                .conn()
                .and_then(|mut conn| people::release_all(&mut conn, lease::process_owner()))
        })
        .await;
        match released {
            Ok(n) if n > 0 => log::info!("released {n} lease(s)"),
            Ok(_) => {}
            Err(err) => log::warn!("could not release leases: {err}; they expire on their own"),
        }
        log::info!("stopped");
        Ok(())
    });
    // A request stuck in a slow upstream call must not hold the process.
    runtime.shutdown_timeout(Duration::from_millis(500));
    outcome
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
