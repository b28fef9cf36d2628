//! Decisions without I/O: what a listing means for the ledger ([`listing`]), and what a
//! delivery may do with each ledger row ([`step_for`], which every path that could end in
//! sending an activity again goes through). The pass and the dry run both act on these.

use std::collections::{HashMap, HashSet};

use crate::clients::RemoteGist;
use crate::db::gists::{DeliveryState, KnownGist, RowState};
use crate::ids::GistRowId;

/// What one complete listing changes in a person's ledger.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListingPlan<'a> {
    /// Gists seen for the first time, with the state each starts in: pending, or skipped
    /// when it existed before the person was added without backfill (never delivered).
    pub new: Vec<(&'a RemoteGist, DeliveryState)>,
    /// Known gists whose description or update time changed: refreshed, never delivered again.
    pub refreshed: Vec<(GistRowId, &'a RemoteGist)>,
}

impl ListingPlan<'_> {
    /// The new gists that will become activities.
    pub fn deliverable(&self) -> impl Iterator<Item = &RemoteGist> {
        self.new
            .iter()
            .filter(|(_, state)| *state == DeliveryState::Pending)
            .map(|(gist, _)| *gist)
    }
}

/// Whose listing it is, as far as the plan cares.
#[derive(Debug, Clone, Copy)]
pub struct Tracking {
    /// Deliver gists that existed before the person was added.
    pub backfill: bool,
    /// When tracking began (Unix ms).
    pub added_at: i64,
}

/// Folds a listing against what the ledger knows: a new id is a new row, a known id is at
/// most refreshed, and an id listed twice (pages shifting under a listing) counts once.
pub fn listing<'a>(
    listed: &'a [RemoteGist],
    known: &[KnownGist],
    tracking: Tracking,
) -> ListingPlan<'a> {
    let known: HashMap<&str, &KnownGist> = known
        .iter()
        .map(|k| (k.github_gist_id.as_str(), k))
        .collect();
    let mut seen = HashSet::new();
    let mut plan = ListingPlan::default();
    for gist in listed {
        if !seen.insert(gist.id.as_str()) {
            continue;
        }
        match known.get(gist.id.as_str()) {
            None => {
                let state = if tracking.backfill || gist.created_at >= tracking.added_at {
                    DeliveryState::Pending
                } else {
                    DeliveryState::Skipped
                };
                plan.new.push((gist, state));
            }
            Some(k) if k.updated_at != gist.updated_at || k.description != gist.description => {
                plan.refreshed.push((k.id, gist));
            }
            Some(_) => {}
        }
    }
    plan
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

/// The rule. A row in `sending` is an attempt whose outcome nobody saw: it can land until it
/// settles (its start plus the in-flight bound; a server may finish a request well after
/// its client gave up), and a list of the person's activities read before then can miss
/// it, so it waits. The later of this process's bound and the one recorded by the process
/// that sent it counts. Any other row attempted before has a known end (an answer came
/// back) and is looked for at once. `None` for rows that are not deliverable.
pub fn step_for(row: RowState, now: i64, in_flight_bound_ms: i64) -> Option<Step> {
    match row.state {
        DeliveryState::Delivered | DeliveryState::Skipped => None,
        DeliveryState::Sending => {
            let own = row.attempt_started_at.unwrap_or(0) + in_flight_bound_ms;
            let until = own.max(row.next_attempt_at.unwrap_or(0));
            Some(if until > now {
                Step::Wait { until }
            } else {
                Step::Reconcile
            })
        }
        DeliveryState::Pending | DeliveryState::Failed if row.attempts == 0 => Some(Step::Send),
        DeliveryState::Pending | DeliveryState::Failed => Some(Step::Reconcile),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::{GistId, GithubUrl};

    fn remote(id: &str, created_at: i64, updated_at: i64, description: &str) -> RemoteGist {
        RemoteGist {
            id: GistId::parse(id).unwrap(),
            description: Some(description.into()),
            html_url: GithubUrl::parse(&format!("https://gist.github.com/{id}"), None).unwrap(),
            pull_url: GithubUrl::parse(&format!("https://gist.github.com/{id}.git"), None).unwrap(),
            created_at,
            updated_at,
            files: Vec::new(),
        }
    }

    fn known(row: i64, id: &str, updated_at: i64, description: &str) -> KnownGist {
        KnownGist {
            id: GistRowId(row),
            github_gist_id: GistId::parse(id).unwrap(),
            updated_at,
            description: Some(description.into()),
        }
    }

    #[test]
    fn a_listing_is_new_refreshed_or_unchanged_per_gist() {
        let listed = [
            remote("new", 50, 50, "fresh"),
            remote("edited", 10, 60, "now edited"),
            remote("touched", 10, 70, "same"),
            remote("same", 10, 10, "same"),
            remote("new", 50, 50, "fresh"),
        ];
        let ledger = [
            known(1, "edited", 10, "before"),
            known(2, "touched", 10, "same"),
            known(3, "same", 10, "same"),
            known(4, "deletedOnGithub", 10, "kept"),
        ];
        let plan = listing(
            &listed,
            &ledger,
            Tracking {
                backfill: true,
                added_at: 100,
            },
        );
        assert_eq!(
            plan.new,
            [(&listed[0], DeliveryState::Pending)],
            "listed twice, new once"
        );
        assert_eq!(
            plan.refreshed,
            [(GistRowId(1), &listed[1]), (GistRowId(2), &listed[2])]
        );
        assert_eq!(plan.deliverable().count(), 1);
    }

    #[test]
    fn without_backfill_only_gists_created_after_the_add_are_delivered() {
        let listed = [
            remote("old", 99, 99, "x"),
            remote("at", 100, 100, "x"),
            remote("later", 101, 101, "x"),
        ];
        let plan = listing(
            &listed,
            &[],
            Tracking {
                backfill: false,
                added_at: 100,
            },
        );
        let states: Vec<(&str, DeliveryState)> =
            plan.new.iter().map(|(g, s)| (g.id.as_str(), *s)).collect();
        assert_eq!(
            states,
            [
                ("old", DeliveryState::Skipped),
                ("at", DeliveryState::Pending),
                ("later", DeliveryState::Pending)
            ]
        );
        let ids: Vec<&str> = plan.deliverable().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["at", "later"]);
    }

    fn row(state: DeliveryState, attempts: i32, attempt_started_at: Option<i64>) -> RowState {
        RowState {
            state,
            attempts,
            attempt_started_at,
            next_attempt_at: None,
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
    fn the_sender_s_recorded_bound_counts_when_it_is_later() {
        let started = 1_000;
        // (bound the sender recorded, now, expected wait) with this process's bound a minute.
        let table = [
            (started + 300_000, started + 120_000, started + 300_000),
            (started + 10_000, started + 30_000, started + 60_000),
        ];
        for (recorded, now, until) in table {
            let mut sending = row(DeliveryState::Sending, 1, Some(started));
            sending.next_attempt_at = Some(recorded);
            assert_eq!(
                step_for(sending, now, 60_000),
                Some(Step::Wait { until }),
                "{recorded}"
            );
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
