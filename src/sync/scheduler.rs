//! The serve loop: one pass at start, then every interval, never overlapping itself,
//! skipping missed ticks, and woken early by `POST /api/v1/sync`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::ProgressBar;
use tokio::sync::{watch, Notify};
use tokio::time::MissedTickBehavior;

use super::{Engine, PassOptions, Trigger};
use crate::error::Result;

#[derive(Debug, Default)]
struct LoopState {
    /// The run under way, if any.
    running: Option<i64>,
    /// A run asked for through the API and not started yet.
    requested: Option<i64>,
}

pub struct Scheduler {
    engine: Engine,
    /// `None`: no periodic passes, only requested ones (`serve --no-sync`).
    interval: Option<Duration>,
    wake: Notify,
    state: Mutex<LoopState>,
}

impl Scheduler {
    pub fn new(engine: Engine, interval: Option<Duration>) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            engine,
            interval,
            wake: Notify::new(),
            state: Mutex::new(LoopState::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LoopState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for a pass now and returns the id of the run that will cover the request: the
    /// one under way, one already asked for, or a new one. Blocking (opens a run row).
    pub fn request_pass(&self) -> Result<i64> {
        // The lock is held across the insert so two requests at once share one run.
        let mut state = self.state();
        if let Some(id) = state.running.or(state.requested) {
            return Ok(id);
        }
        let id = self.engine.open_run(Trigger::Api)?;
        state.requested = Some(id);
        self.wake.notify_one();
        Ok(id)
    }

    /// Runs until `stop` turns true; a pass under way finishes its current delivery first.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut ticker = self.interval.map(|every| {
            let mut ticker = tokio::time::interval(every);
            // Without Skip, a pass longer than the interval would be followed by a burst of catch-up passes.
            ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
            ticker
        });
        loop {
            let tick = async {
                match ticker.as_mut() {
                    Some(ticker) => {
                        ticker.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let trigger = tokio::select! {
                _ = tick => Trigger::Loop,
                _ = self.wake.notified() => Trigger::Api,
                _ = stop.changed() => break,
            };
            if *stop.borrow() {
                break;
            }
            let this = self.clone();
            if let Err(err) = crate::blocking::run(move || this.pass(trigger)).await {
                log::error!("sync pass failed: {err}; the next tick tries again");
            }
            self.state().running = None;
        }
    }

    fn pass(&self, trigger: Trigger) -> Result<()> {
        let requested = self.state().requested.take();
        let (run_id, trigger) = match requested {
            Some(id) => (id, Trigger::Api),
            None => (self.engine.open_run(trigger)?, trigger),
        };
        self.state().running = Some(run_id);
        let options = PassOptions {
            logins: Vec::new(),
            dry_run: false,
            retry_failed: false,
            trigger,
            run_id: Some(run_id),
        };
        let report = self.engine.run_pass(&options, &ProgressBar::hidden())?;
        if !report.ok() {
            log::warn!("sync run {run_id} ended with {} failure(s)", report.failed);
        }
        Ok(())
    }
}
