//! The serve loop: one pass at start, then every interval, never overlapping itself,
//! skipping missed ticks, woken early by `POST /api/v1/sync`, and followed up soon after a
//! pass that left deliveries waiting for an earlier attempt to settle.

use std::sync::Arc;
use std::time::Duration;

use indicatif::ProgressBar;
use tokio::sync::{watch, Mutex, Notify};
use tokio::time::{Instant, MissedTickBehavior};

use super::{App, PassOptions, Scope, SyncReport, Trigger};
use crate::error::Result;

/// How long after a waiting delivery's bound its follow-up pass runs: enough for clocks a
/// little apart, short against any interval.
const FOLLOW_UP_MARGIN: Duration = Duration::from_secs(1);
/// When a follow-up pass could not run (the database away), how soon it is tried again.
const RETRY_FOLLOW_UP: Duration = Duration::from_secs(30);

/// What the loop does with each pass's report once the pass is over (the serve command tells
/// the alert webhook): the pass itself returns its report and tells no one.
pub type AfterPass = Arc<dyn Fn(&SyncReport) + Send + Sync>;

pub struct Scheduler {
    engine: App,
    after_pass: AfterPass,
    /// `None`: no periodic passes, only requested ones (`serve --no-sync`).
    interval: Option<Duration>,
    wake: Notify,
    /// A run asked for through the API and not started yet. An async lock: opening its row
    /// is database I/O, during which no async thread may be blocked.
    requested: Mutex<Option<i64>>,
}

/// A pass to run soon for people whose deliveries were waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FollowUp {
    at: Instant,
    /// The people whose deliveries were waiting, each once.
    people: Vec<crate::ids::PersonId>,
}

impl FollowUp {
    /// Both plans in one: everyone either names, at the earlier of their times.
    fn merge(a: Option<FollowUp>, b: Option<FollowUp>) -> Option<FollowUp> {
        match (a, b) {
            (Some(mut a), Some(b)) => {
                a.at = a.at.min(b.at);
                a.people.extend(b.people);
                a.people.sort_unstable();
                a.people.dedup();
                Some(a)
            }
            (a, b) => a.or(b),
        }
    }
}

impl Scheduler {
    pub fn new(engine: App, interval: Option<Duration>, after_pass: AfterPass) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            engine,
            after_pass,
            interval,
            wake: Notify::new(),
            requested: Mutex::new(None),
        })
    }

    /// Asks for a pass and returns the id of the run that will cover the request: one already
    /// asked for and not started, or a new one. A pass under way never covers it, since it
    /// chose its people before the request came.
    pub async fn request_pass(&self) -> Result<i64> {
        let mut requested = self.requested.lock().await;
        if let Some(id) = *requested {
            return Ok(id);
        }
        let engine = self.engine.clone();
        let id = crate::blocking::run(move || engine.open_run(Trigger::Api)).await?;
        *requested = Some(id);
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
        let mut follow_up: Option<FollowUp> = None;
        loop {
            let Some(trigger) = self
                .next_trigger(ticker.as_mut(), follow_up.as_ref(), &mut stop)
                .await
            else {
                break;
            };
            // A follow-up pass takes its people; whatever it leaves waiting comes back below.
            let taken = match trigger {
                Trigger::FollowUp => follow_up.take(),
                _ => None,
            };
            let options = match &taken {
                Some(due) => Self::follow_up_options(due),
                None => self.pass_options(trigger).await,
            };
            let (engine, after_pass) = (self.engine.clone(), self.after_pass.clone());
            let outcome = crate::blocking::run(move || {
                let report = engine.run_pass(&options, &ProgressBar::hidden())?;
                after_pass(&report);
                Ok(report)
            })
            .await;
            let now = self.engine.store.now_ms();
            follow_up = Self::after_pass(outcome, follow_up, taken, now);
        }
        self.close_unstarted().await;
    }

    /// What starts the next pass: the interval, a request, a follow-up; `None` to stop.
    async fn next_trigger(
        &self,
        ticker: Option<&mut tokio::time::Interval>,
        follow_up: Option<&FollowUp>,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Trigger> {
        let tick = async {
            match ticker {
                Some(ticker) => {
                    ticker.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let follow_up_due = async {
            match follow_up {
                Some(due) => tokio::time::sleep_until(due.at).await,
                None => std::future::pending::<()>().await,
            }
        };
        let trigger = tokio::select! {
            _ = tick => Trigger::Loop,
            _ = self.wake.notified() => Trigger::Api,
            _ = follow_up_due => Trigger::FollowUp,
            _ = stop.changed() => return None,
        };
        (!*stop.borrow()).then_some(trigger)
    }

    /// The follow-up after a pass: the one pending, merged with whom this pass left
    /// waiting. Merged, never replaced: a pass that stopped early (a shutdown, a service left
    /// alone) did not see everyone, and must not drop a follow-up it never got to. The
    /// people a failed follow-up pass took are tried again a little later.
    fn after_pass(
        outcome: Result<SyncReport>,
        pending: Option<FollowUp>,
        taken: Option<FollowUp>,
        now: i64,
    ) -> Option<FollowUp> {
        match outcome {
            Ok(report) => {
                if !report.ok() {
                    log::warn!(
                        "sync run {} ended with {}",
                        report.run_id.unwrap_or_default(),
                        report.trouble()
                    );
                }
                FollowUp::merge(pending, Self::plan_follow_up(&report, now))
            }
            Err(err) => {
                log::error!("sync pass failed: {err}; it is tried again");
                // The deliveries still wait; look again a little later, not at once.
                let retry = |due: FollowUp| FollowUp {
                    at: Instant::now() + RETRY_FOLLOW_UP,
                    ..due
                };
                FollowUp::merge(pending.map(retry), taken.map(retry))
            }
        }
    }

    /// A run asked for but never started (the server is stopping) is closed with why.
    async fn close_unstarted(&self) {
        let Some(run_id) = self.requested.lock().await.take() else {
            return;
        };
        let engine = self.engine.clone();
        let closed = crate::blocking::run(move || {
            engine.close_unstarted_run(run_id, "not run: the server stopped first")
        })
        .await;
        if let Err(err) = closed {
            log::warn!("could not close sync run {run_id}: {err}");
        }
    }

    /// A periodic or requested pass over everyone, under the requested run's id if there is one.
    async fn pass_options(&self, trigger: Trigger) -> PassOptions {
        let requested = self.requested.lock().await.take();
        let mut options = PassOptions::new(if requested.is_some() {
            Trigger::Api
        } else {
            trigger
        });
        options.run_id = requested;
        options
    }

    fn follow_up_options(due: &FollowUp) -> PassOptions {
        log::info!(
            "sync: a follow-up pass for {} people whose deliveries have settled",
            due.people.len()
        );
        let mut options = PassOptions::new(Trigger::FollowUp);
        options.scope = Scope::Waiting(due.people.clone());
        options
    }

    /// When the first delivery a pass left waiting settles, a pass for everyone it left
    /// waiting (those not settled yet then are reported again, and followed up again).
    fn plan_follow_up(report: &SyncReport, now: i64) -> Option<FollowUp> {
        let first = report.first_settle_at()?;
        let mut people: Vec<_> = report.waiting.iter().map(|(id, _)| *id).collect();
        people.sort_unstable();
        people.dedup();
        let wait = Duration::from_millis((first - now).max(0) as u64);
        Some(FollowUp {
            at: Instant::now() + wait + FOLLOW_UP_MARGIN,
            people,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PersonId;

    fn due(in_ms: u64, people: &[i64]) -> FollowUp {
        FollowUp {
            at: Instant::now() + Duration::from_millis(in_ms),
            people: people.iter().copied().map(PersonId).collect(),
        }
    }

    #[test]
    fn a_pass_that_left_nobody_waiting_keeps_the_pending_follow_up() {
        let pending = due(5_000, &[1, 2]);
        let report = SyncReport::default();
        let after = Scheduler::after_pass(Ok(report), Some(pending.clone()), None, 0);
        assert_eq!(
            after,
            Some(pending),
            "a pass that stopped early drops no one"
        );
    }

    #[test]
    fn follow_ups_merge_everyone_at_the_earlier_time() {
        let merged =
            FollowUp::merge(Some(due(5_000, &[3, 1])), Some(due(1_000, &[2, 3]))).expect("merged");
        assert_eq!(merged.people, [PersonId(1), PersonId(2), PersonId(3)]);
        assert!(merged.at <= Instant::now() + Duration::from_millis(1_000));
        let mut report = SyncReport::default();
        report.waiting.push((PersonId(9), 60_000));
        let after = Scheduler::after_pass(Ok(report), Some(due(5_000, &[4])), None, 0).unwrap();
        assert_eq!(after.people, [PersonId(4), PersonId(9)]);
    }

    #[test]
    fn the_people_a_failed_follow_up_took_are_followed_up_again() {
        let failed = Err(crate::error::Error::DatabaseUnavailable("down".into()));
        let after = Scheduler::after_pass(failed, None, Some(due(0, &[7])), 0).expect("kept");
        assert_eq!(after.people, [PersonId(7)]);
        assert!(
            after.at > Instant::now() + RETRY_FOLLOW_UP / 2,
            "a little later"
        );
    }
}
