//! Decisions without I/O: what a delivery may do with each ledger row. Every path that could
//! end in sending an activity again goes through [`step_for`].

use crate::db::gists::DeliveryState;

/// What the ledger says about one gist's earlier attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub state: DeliveryState,
    /// Requests sent so far.
    pub count: i32,
    /// When the last request was sent (Unix ms).
    pub last_started_at: Option<i64>,
}

/// The next step for one gist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Never sent: send.
    Send,
    /// Sent before and over: look for its marker among the person's activities, and send only
    /// if it is not there.
    Reconcile,
    /// A request may still land (no answer came back, a gateway answered, or its process
    /// died): leave it alone until `until`, then reconcile.
    Wait { until: i64 },
}

/// The rule. A row in `sending` is an attempt whose outcome nobody saw: it can land until its
/// start plus `in_flight_bound_ms` (a server may finish a request well after its client gave
/// up), and a list of the person's activities read before then can miss it, so it waits.
/// Any other row that was attempted before has a known end (an answer came back) and is
/// reconciled at once. `None` for rows that are not deliverable (delivered, skipped).
pub fn step_for(attempts: Attempts, now: i64, in_flight_bound_ms: i64) -> Option<Step> {
    match attempts.state {
        DeliveryState::Delivered | DeliveryState::Skipped => None,
        DeliveryState::Sending => {
            let until = attempts.last_started_at.unwrap_or(0) + in_flight_bound_ms;
            Some(if until > now {
                Step::Wait { until }
            } else {
                Step::Reconcile
            })
        }
        DeliveryState::Pending | DeliveryState::Failed if attempts.count == 0 => Some(Step::Send),
        DeliveryState::Pending | DeliveryState::Failed => Some(Step::Reconcile),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: DeliveryState, count: i32, last_started_at: Option<i64>) -> Attempts {
        Attempts {
            state,
            count,
            last_started_at,
        }
    }

    #[test]
    fn each_ledger_state_has_one_next_step() {
        use DeliveryState::*;
        let bound = 60_000;
        let now = 1_000_000;
        let table = [
            (row(Pending, 0, None), Some(Step::Send)),
            (row(Failed, 0, None), Some(Step::Send)),
            (row(Pending, 2, Some(1)), Some(Step::Reconcile)),
            (row(Failed, 1, Some(now - 5)), Some(Step::Reconcile)),
            (
                row(Sending, 1, Some(now - 1_000)),
                Some(Step::Wait {
                    until: now - 1_000 + bound,
                }),
            ),
            (row(Sending, 1, Some(now - bound)), Some(Step::Reconcile)),
            (
                row(Sending, 3, Some(now - bound - 1)),
                Some(Step::Reconcile),
            ),
            (row(Sending, 1, None), Some(Step::Reconcile)),
            (row(Delivered, 1, Some(now)), None),
            (row(Skipped, 0, None), None),
        ];
        for (attempts, expected) in table {
            assert_eq!(step_for(attempts, now, bound), expected, "{attempts:?}");
        }
    }

    #[test]
    fn an_attempt_that_may_still_land_waits_exactly_until_the_bound() {
        let started = 10_000;
        let sending = row(DeliveryState::Sending, 1, Some(started));
        assert_eq!(
            step_for(sending, started + 59_999, 60_000),
            Some(Step::Wait {
                until: started + 60_000
            })
        );
        assert_eq!(
            step_for(sending, started + 60_000, 60_000),
            Some(Step::Reconcile)
        );
    }
}
