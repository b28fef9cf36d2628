//! Delivery: each due gist becomes exactly one Pipedrive activity. Attempts whose outcome is
//! unknown wait until they can no longer land, then are reconciled by their marker; a person
//! gisttrack did not create has their history read once before the first delivery.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::plan::{self, Step};
use super::{activity, Pass, Service, MAX_THROTTLED};
use crate::clients::{backoff, ActivitySummary, ApiError, Created, PipedriveApi, WriteOutcome};
use crate::db::gists::{self, DeliveryState, Gist, GistFile, RowState};
use crate::db::people::{self, Person};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::ids::{ActivityId, PipedrivePersonId};
use crate::time::{format_ms, now_ms};

pub(super) fn deliver(pass: &Pass<'_>, person: &Person) -> Result<()> {
    let engine = pass.engine;
    let pipedrive = engine.pipedrive_api()?;
    if pass.stopped(Service::Pipedrive) {
        return Ok(());
    }
    let due = engine.store.write(|conn| {
        let due = gists::due_for_delivery(conn, person.id, now_ms(), pass.options.retry_failed)?;
        gists::with_files(conn, due)
    })?;
    if due.is_empty() {
        return Ok(());
    }
    let pipedrive_person = linked_person(person)?;
    let bound = pass.in_flight_bound_ms();
    let now = now_ms();
    let mut steps: Vec<(Gist, Vec<GistFile>, Step)> = due
        .into_iter()
        .filter_map(|(gist, files)| {
            let step = plan::step_for(gist.row_state(), now, bound)?;
            Some((gist, files, step))
        })
        .collect();

    // One read of the person's activities serves every gist that needs it: the history of a
    // person gisttrack did not create, and any earlier attempt that is over.
    let history_unread = !person.pipedrive_history_read;
    if history_unread || steps.iter().any(|(_, _, s)| *s == Step::Reconcile) {
        let existing = pipedrive
            .person_activities(pipedrive_person)
            .map_err(|err| pass.upstream_failed(Service::Pipedrive, err))?;
        steps = record_found(pass, steps, &existing)?;
        if history_unread {
            engine
                .store
                .write(|conn| people::mark_history_read(conn, person.id))?;
        }
    }

    for (gist, files, step) in steps {
        if engine.shutdown.load(Ordering::SeqCst) || pass.stopped(Service::Pipedrive) {
            break;
        }
        if let Step::Wait { until } = step {
            pass.waiting(person.id, until);
            continue;
        }
        let new = activity::build(
            &activity::GistText::of(&gist, &files),
            &person.github_login,
            pipedrive_person,
            &engine.settings.activity,
            now_ms(),
        );
        deliver_one(pass, pipedrive, pipedrive_person, person, &gist, &new)?;
    }
    Ok(())
}

/// The person's Pipedrive id. `add` always links one, but the column allows none (a row
/// written by hand or by another tool): nothing is sent for such a person, and it is said.
fn linked_person(person: &Person) -> Result<PipedrivePersonId> {
    person
        .pipedrive_person_id
        .ok_or_else(|| Error::NotLinked(person.github_login.clone()))
}

/// Records every due gist whose marker is already in Pipedrive as delivered (it landed: a
/// lost answer, a request that finished late, an earlier install) and returns the rest.
fn record_found(
    pass: &Pass<'_>,
    steps: Vec<(Gist, Vec<GistFile>, Step)>,
    existing: &[ActivitySummary],
) -> Result<Vec<(Gist, Vec<GistFile>, Step)>> {
    let mut rest = Vec::with_capacity(steps.len());
    for (gist, files, step) in steps {
        match find(existing, &gist) {
            Some(activity_id) => {
                pass.engine
                    .store
                    .write(|conn| gists::mark_delivered(conn, gist.id, activity_id))?;
                pass.record(|r| r.counts.activities_reconciled += 1);
            }
            None => rest.push((gist, files, step)),
        }
    }
    Ok(rest)
}

fn renew_lease(pass: &Pass<'_>, person: &Person) -> Result<()> {
    let ttl = pass.engine.settings.lease_ttl.as_millis() as i64;
    let renewed = pass
        .engine
        .store
        .write(|conn| people::renew(conn, person.id, pass.owner, now_ms(), ttl))?;
    if renewed {
        Ok(())
    } else {
        Err(Error::LeaseLost(person.github_login.clone()))
    }
}

/// Delivers one gist, each try decided by [`plan::step_for`] from the row as it now stands:
/// sent when never sent; after an answer Pipedrive gave itself (a 500 or 503, so the request
/// is over) looked for and sent again, within `delivery_tries`; after no answer, or a
/// gateway's, left `sending` until it settles. A write the client held back for a rate
/// limit never left, so its mark is taken back and it is tried again after the pause.
fn deliver_one(
    pass: &Pass<'_>,
    pipedrive: &dyn PipedriveApi,
    pipedrive_person: PipedrivePersonId,
    person: &Person,
    gist: &Gist,
    new: &crate::clients::NewActivity,
) -> Result<()> {
    let target = Target {
        pipedrive,
        pipedrive_person,
        person,
        gist,
    };
    let mut row = gist.row_state();
    let mut tries = Tries::default();
    loop {
        if !may_send(pass, &target, row, &tries)? {
            return Ok(());
        }
        pipedrive.wait_turn();
        renew_lease(pass, person)?;
        let Some(sent) = mark_sending(pass, person, gist, row)? else {
            return Ok(()); // changed under us (another process, a lost lease): leave it
        };
        match pipedrive.create_activity(new) {
            Ok(created) => return delivered(pass, gist, created),
            Err(err) => match after_failure(pass, &target, (row, sent), err, &mut tries)? {
                Some(again) => row = again,
                None => return Ok(()),
            },
        }
    }
}

/// What one delivery is for.
#[derive(Clone, Copy)]
struct Target<'a> {
    pipedrive: &'a dyn PipedriveApi,
    pipedrive_person: PipedrivePersonId,
    person: &'a Person,
    gist: &'a Gist,
}

/// Tries spent by one delivery, by kind.
#[derive(Debug, Default)]
struct Tries {
    /// Attempts Pipedrive answered with an error of its own.
    answered: u32,
    /// Attempts the client held back for a rate limit (never sent).
    throttled: u32,
}

/// Asks the rule whether the row may be sent now. After an answered error the request is
/// over and is looked for first (the person's activities were read before the first try).
fn may_send(pass: &Pass<'_>, target: &Target<'_>, row: RowState, tries: &Tries) -> Result<bool> {
    match plan::step_for(row, now_ms(), pass.in_flight_bound_ms()) {
        None => Ok(false),
        Some(Step::Wait { until }) => {
            pass.waiting(target.person.id, until);
            Ok(false)
        }
        Some(Step::Reconcile) if tries.answered > 0 => {
            std::thread::sleep(backoff(
                Duration::from_millis(200),
                tries.answered,
                Duration::from_secs(5),
            ));
            let settled = settled_by_looking(pass, target, row.attempts)?;
            Ok(!settled)
        }
        Some(_) => Ok(true),
    }
}

/// After a failed attempt: the row to decide from again, or `None` when this delivery is
/// over (waiting, failed).
fn after_failure(
    pass: &Pass<'_>,
    target: &Target<'_>,
    (before, sent): (RowState, RowState),
    err: ApiError,
    tries: &mut Tries,
) -> Result<Option<RowState>> {
    let store = &pass.engine.store;
    let gist = target.gist;
    match (err.write_outcome(), &err) {
        (WriteOutcome::MayStillLand, _) => {
            park_unsettled(pass, target.person, gist, sent, &err)?;
            Ok(None)
        }
        (WriteOutcome::NotWritten, ApiError::Throttled { .. })
            if tries.throttled < MAX_THROTTLED =>
        {
            store.write(|conn| gists::unmark_sending(conn, gist.id, &before))?;
            tries.throttled += 1;
            Ok(Some(before))
        }
        (WriteOutcome::Finished, _) if tries.answered + 1 < pass.engine.settings.delivery_tries => {
            let message = err.to_string();
            store.write(|conn| gists::mark_answered(conn, gist.id, &message))?;
            tries.answered += 1;
            Ok(Some(RowState {
                state: DeliveryState::Pending,
                next_attempt_at: None,
                ..sent
            }))
        }
        _ => fail(pass, target.person, gist, sent.attempts, &err).map(|()| None),
    }
}

/// Records the attempt about to be sent; `None` when the row or the lease changed since it
/// was read. Returns the row as it now stands.
fn mark_sending(
    pass: &Pass<'_>,
    person: &Person,
    gist: &Gist,
    seen: RowState,
) -> Result<Option<RowState>> {
    let now = now_ms();
    let attempt = gists::NewAttempt {
        gist: gist.id,
        seen,
        person: person.id,
        lease_owner: pass.owner,
        now,
        settles_at: now + pass.in_flight_bound_ms(),
    };
    let marked = pass
        .engine
        .store
        .write(|conn| gists::mark_sending(conn, &attempt))?;
    Ok(marked.then_some(RowState {
        state: DeliveryState::Sending,
        attempts: seen.attempts + 1,
        attempt_started_at: Some(now),
        next_attempt_at: Some(attempt.settles_at),
    }))
}

fn delivered(pass: &Pass<'_>, gist: &Gist, created: Created<ActivityId>) -> Result<()> {
    pass.engine
        .store
        .write(|conn| gists::mark_delivered(conn, gist.id, created.id))?;
    pass.engine.metrics.activities_created.inc();
    pass.record(|r| r.counts.activities_created += 1);
    if created.daily_writes_left == Some(0) {
        pass.stop_reporting(
            Service::Pipedrive,
            ApiError::RateLimited(
                "Pipedrive's daily budget is spent; the remaining deliveries wait for a later pass"
                    .into(),
            ),
        );
    }
    Ok(())
}

/// No answer, or a gateway's: the request may still land, so the row stays `sending` (with
/// why, and until when, for `show`) and is left alone until it settles.
fn park_unsettled(
    pass: &Pass<'_>,
    person: &Person,
    gist: &Gist,
    sent: RowState,
    err: &ApiError,
) -> Result<()> {
    let until = sent.next_attempt_at.unwrap_or_default();
    let note = format!(
        "{err}; the request may still land, so it is looked for, not resent, after {}",
        format_ms(until)
    );
    log::info!("sync: activity for gist {}: {note}", gist.github_gist_id);
    pass.engine
        .store
        .write(|conn| gists::mark_unsettled(conn, gist.id, &note, until))?;
    pass.waiting(person.id, until);
    Ok(())
}

/// After an answer Pipedrive gave itself: true when that settles the delivery (the activity
/// is there after all and is recorded, or the look failed and the delivery with it); false
/// when it is not there and may be sent again.
fn settled_by_looking(pass: &Pass<'_>, target: &Target<'_>, attempts: i32) -> Result<bool> {
    let Target {
        pipedrive,
        pipedrive_person,
        person,
        gist,
    } = *target;
    log::info!(
        "sync: activity for gist {} may have landed; looking",
        gist.github_gist_id
    );
    match pipedrive.person_activities(pipedrive_person) {
        Ok(existing) => match find(&existing, gist) {
            Some(found) => {
                pass.engine
                    .store
                    .write(|conn| gists::mark_delivered(conn, gist.id, found))?;
                pass.record(|r| r.counts.activities_reconciled += 1);
                Ok(true)
            }
            None => Ok(false),
        },
        Err(list_err) => fail(pass, person, gist, attempts, &list_err).map(|()| true),
    }
}

/// Parks the gist as failed, visible with its error, due again after a growing pause; a
/// service-wide refusal also stops Pipedrive work for the pass.
fn fail(
    pass: &Pass<'_>,
    person: &Person,
    gist: &Gist,
    attempts: i32,
    err: &ApiError,
) -> Result<()> {
    let settings = &pass.engine.settings;
    let pause = backoff(
        settings.retry_base,
        (attempts.max(1) - 1) as u32,
        settings.retry_cap,
    );
    let message = err.to_string();
    pass.engine.store.write(|conn| {
        gists::mark_failed(conn, gist.id, &message, now_ms() + pause.as_millis() as i64)
    })?;
    pass.engine.metrics.delivery_failures.inc();
    // Reported once, on the gist; the pass only needs to know to stop.
    pass.record(|r| {
        r.counts.failed += 1;
        r.exit = r.exit.worst(Exit::from(err));
        r.failed_users.insert(person.github_login.clone());
        r.errors
            .push(format!("gist {}: {message}", gist.github_gist_id));
    });
    pass.note_failure(Service::Pipedrive, err);
    Ok(())
}

fn find(existing: &[ActivitySummary], gist: &Gist) -> Option<ActivityId> {
    existing
        .iter()
        .find(|a| activity::has_marker(&a.note, &gist.github_gist_id))
        .map(|a| a.id)
}
