//! Delivery: each due gist becomes exactly one Pipedrive activity, on the person's Pipedrive
//! person, owned by its owner. Before anything is sent to a person the CRM is looked at
//! (`sync::look`): what is already there is recorded, not sent again; a merged person is
//! followed to its survivor; a deleted one leaves the user unlinked, and nothing is sent.
//! Attempts whose outcome is unknown wait until they can no longer land.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::activity::{self, Recipient};
use super::look::{Look, Looked, CLOCK_SLACK_MS};
use super::plan::{self, Step};
use super::{Pass, Service, MAX_THROTTLED};
use crate::clients::{
    backoff, ActivitySummary, ApiError, Created, GistId, PersonLookup, PipedriveApi, WriteOutcome,
};
use crate::db::gists::{self, DeliveryState, Gist, GistFile, RowState};
use crate::db::link_history::{self, LinkReason, NewLinkEvent};
use crate::db::people::{self, Person};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::ids::{ActivityId, PipedrivePersonId};
use crate::time::format_ms;

/// A due gist and the step the rule gives it.
type Due = (Gist, Vec<GistFile>, Step);

/// How one person's deliveries ended.
enum Sent {
    /// As far as they could go in this pass.
    Done,
    /// Pipedrive refused an activity because the person is gone (deleted or merged after the
    /// look): look again, which follows it.
    PersonGone,
}

pub(super) fn deliver(pass: &Pass<'_>, person: &Person) -> Result<()> {
    let engine = pass.engine;
    let pipedrive = engine.pipedrive_api()?;
    if pass.stopped(Service::Pipedrive) || person.unlinked_at.is_some() {
        // Unlinked people get nothing until relinked: `list`, `show` and `doctor` say so.
        return Ok(());
    }
    let pipedrive_person = linked_person(person)?;
    let due = due_now(pass, person)?;
    let mut steps = steps_now(pass, due);
    if !steps.iter().any(|(_, _, step)| sendable(step)) {
        // Nothing can be sent now: no reads either.
        wait_out(pass, person, &steps);
        return Ok(());
    }
    let ledger = ledger_ids(pass, person)?;
    let mut current = person.clone();
    let mut target = pipedrive_person;
    // A person deleted between the look and a write is looked at once more, which follows it.
    for _ in 0..2 {
        let look = match pass
            .looking(pipedrive)
            .look(
                &current,
                target,
                &ledger,
                attempts_since(steps.iter().map(|(g, _, s)| (g, s))),
            )
            .map_err(|err| pass.upstream_failed(Service::Pipedrive, err))?
        {
            Looked::At(look) => look,
            Looked::Merged { from, look } => {
                follow_merge(pass, &current, from, &look)?;
                look
            }
            Looked::Deleted { from } => return unlink(pass, &current, from),
        };
        steps = record_look(pass, &current, &look, steps)?;
        current.activities_looked_at = Some(look.started_at);
        // What this look read is what the pass reports (the digest names the owner).
        current.pipedrive_owner_id = look.to.owner;
        current.pipedrive_owner_name = look.owner_name.clone();
        target = look.to.person;
        match send(
            pass,
            pipedrive,
            &current,
            &look.to,
            std::mem::take(&mut steps),
        )? {
            Sent::Done => return Ok(()),
            Sent::PersonGone => {
                // Whatever was not sent is due again, as the rule now says.
                steps = steps_now(pass, due_now(pass, person)?);
            }
        }
    }
    Ok(())
}

/// The person's rows due now, with their files.
fn due_now(pass: &Pass<'_>, person: &Person) -> Result<Vec<(Gist, Vec<GistFile>)>> {
    let mut conn = pass.engine.store.conn()?;
    let due = gists::due_for_delivery(&mut conn, person.id, pass.now(), pass.options.retry_failed)?;
    gists::with_files(&mut conn, due)
}

/// Each due row with the step the rule gives it now (rows it gives none are left out).
fn steps_now(pass: &Pass<'_>, due: Vec<(Gist, Vec<GistFile>)>) -> Vec<Due> {
    let (now, bound) = (pass.now(), pass.in_flight_bound_ms());
    due.into_iter()
        .filter_map(|(gist, files)| {
            let step = plan::step_for(gist.row_state(), now, bound)?;
            Some((gist, files, step))
        })
        .collect()
}

/// When the earliest attempt the look must find (if it landed) began.
pub(super) fn attempts_since<'a>(
    rows: impl IntoIterator<Item = (&'a Gist, &'a Step)>,
) -> Option<i64> {
    rows.into_iter()
        .filter(|(_, step)| matches!(step, Step::Reconcile))
        .filter_map(|(gist, _)| gist.attempt_started_at)
        .min()
}

fn sendable(step: &Step) -> bool {
    matches!(step, Step::Send | Step::Reconcile)
}

fn wait_out(pass: &Pass<'_>, person: &Person, steps: &[Due]) {
    for (_, _, step) in steps {
        if let Step::Wait { until } = step {
            pass.waiting(person.id, *until);
        }
    }
}

/// Every GitHub gist id of the person's ledger: the proof that a survivor is theirs.
fn ledger_ids(pass: &Pass<'_>, person: &Person) -> Result<HashSet<GistId>> {
    let known = gists::known(&mut *pass.engine.store.conn()?, person.id)?;
    Ok(known.into_iter().map(|k| k.github_gist_id).collect())
}

/// The person's Pipedrive id. `add` always links one, but the column allows none (a row
/// written by hand or by another tool): nothing is sent for such a person, and it is said.
fn linked_person(person: &Person) -> Result<PipedrivePersonId> {
    person
        .pipedrive_person_id
        .ok_or_else(|| Error::NotLinked(person.github_login.clone()))
}

/// The person was merged into `look`'s: linked there, with the change in their history.
fn follow_merge(
    pass: &Pass<'_>,
    person: &Person,
    from: PipedrivePersonId,
    look: &Look,
) -> Result<()> {
    let survivor = look.to.person;
    change_link(
        pass,
        person,
        from,
        Some(survivor),
        LinkReason::Merged,
        |conn| people::relink(conn, person.id, pass.owner, survivor),
    )?;
    log::info!(
        "sync: {}: Pipedrive person {from} was merged into {survivor}; delivering there",
        person.github_login
    );
    pass.record(|r| r.counts.users_relinked += 1);
    Ok(())
}

/// The person is gone with no survivor: the user is unlinked (nothing is sent until they are
/// relinked), with the change in their history, and said once, by this pass.
fn unlink(pass: &Pass<'_>, person: &Person, from: PipedrivePersonId) -> Result<()> {
    let now = pass.now();
    change_link(pass, person, from, None, LinkReason::Deleted, |conn| {
        people::unlink(conn, person.id, pass.owner, now)
    })?;
    let err = Error::Unlinked {
        login: person.github_login.clone(),
        pipedrive_id: from,
    };
    let line = format!("{}: {err}", person.github_login);
    log::info!("sync: {line}");
    pass.record(|r| {
        r.counts.users_unlinked += 1;
        r.exit = r.exit.worst(Exit::PartlyFailed);
        r.failed_users.insert(person.github_login.clone());
        r.unlinked_users.push(person.github_login.clone());
        r.errors.push(line);
    });
    Ok(())
}

/// Moves the person's link (`update`, false when the lease was lost) and records the change
/// in their history, in one transaction.
fn change_link(
    pass: &Pass<'_>,
    person: &Person,
    from: PipedrivePersonId,
    to: Option<PipedrivePersonId>,
    reason: LinkReason,
    update: impl Fn(&mut crate::db::DbConnection) -> Result<bool>,
) -> Result<()> {
    let changed = pass.engine.store.transaction(|conn| {
        if !update(conn)? {
            return Ok(false);
        }
        link_history::record(
            conn,
            &NewLinkEvent {
                github_id: person.github_id,
                github_login: &person.github_login,
                from_pipedrive_id: Some(from),
                to_pipedrive_id: to,
                reason,
                at: pass.now(),
            },
        )?;
        Ok(true)
    })?;
    if !changed {
        return Err(Error::LeaseLost(person.github_login.clone()));
    }
    Ok(())
}

/// Records the look: every gist already in Pipedrive as delivered, the person's owner and
/// organization, and when their activities were read. Returns the steps still to take.
fn record_look(pass: &Pass<'_>, person: &Person, look: &Look, steps: Vec<Due>) -> Result<Vec<Due>> {
    let looked = people::Looked {
        owner_id: look.to.owner,
        owner_name: look.owner_name.as_deref(),
        org_id: look.to.org,
        activities_looked_at: look.started_at,
    };
    let (held, reconciled) = pass.engine.store.transaction(|conn| {
        if !people::record_look(conn, person.id, pass.owner, &looked)? {
            return Ok((false, 0));
        }
        let reconciled = gists::mark_found(conn, person.id, &look.found)?;
        Ok((true, reconciled))
    })?;
    if !held {
        return Err(Error::LeaseLost(person.github_login.clone()));
    }
    pass.record(|r| r.counts.activities_reconciled += reconciled as i32);
    Ok(steps
        .into_iter()
        .filter(|(gist, _, _)| !look.found.contains_key(&gist.github_gist_id))
        .collect())
}

/// Sends what the look did not find, in order; rows that may still land wait.
fn send(
    pass: &Pass<'_>,
    pipedrive: &dyn PipedriveApi,
    person: &Person,
    to: &Recipient,
    steps: Vec<Due>,
) -> Result<Sent> {
    let engine = pass.engine;
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
            to,
            &engine.settings.activity,
            pass.now(),
        );
        let target = Target {
            pipedrive,
            pipedrive_person: to.person,
            person,
            gist: &gist,
        };
        if let Sent::PersonGone = deliver_one(pass, &target, &new)? {
            return Ok(Sent::PersonGone);
        }
    }
    Ok(Sent::Done)
}

fn renew_lease(pass: &Pass<'_>, person: &Person) -> Result<()> {
    let ttl = pass.engine.settings.lease_ttl.as_millis() as i64;
    let renewed = pass
        .engine
        .store
        .write(|conn| people::renew(conn, person.id, pass.owner, pass.now(), ttl))?;
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
    target: &Target<'_>,
    new: &crate::clients::NewActivity,
) -> Result<Sent> {
    let (pipedrive, person, gist) = (target.pipedrive, target.person, target.gist);
    let mut row = gist.row_state();
    let mut tries = Tries::default();
    loop {
        if !may_send(pass, target, row, &tries)? {
            return Ok(Sent::Done);
        }
        pipedrive.wait_turn();
        renew_lease(pass, person)?;
        let Some(sent) = mark_sending(pass, person, gist, row)? else {
            return Ok(Sent::Done); // changed under us (another process, a lost lease): leave it
        };
        match pipedrive.create_activity(new) {
            Ok(created) => {
                delivered(pass, target, created)?;
                return Ok(Sent::Done);
            }
            Err(err) => match after_failure(pass, target, (row, sent), err, &mut tries)? {
                After::Again(again) => row = again,
                After::Over => return Ok(Sent::Done),
                After::PersonGone => return Ok(Sent::PersonGone),
            },
        }
    }
}

/// What follows a failed attempt.
enum After {
    /// Decide again from this row.
    Again(RowState),
    /// This delivery is over for the pass (waiting, failed).
    Over,
    /// Nothing was written because the person is gone: the row is as it was.
    PersonGone,
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
    match plan::step_for(row, pass.now(), pass.in_flight_bound_ms()) {
        None => Ok(false),
        Some(Step::Wait { until }) => {
            pass.waiting(target.person.id, until);
            Ok(false)
        }
        Some(Step::Reconcile) if tries.answered > 0 => {
            pass.engine.store.clock().sleep(backoff(
                Duration::from_millis(200),
                tries.answered,
                Duration::from_secs(5),
            ));
            let settled = settled_by_looking(pass, target, row)?;
            Ok(!settled)
        }
        Some(_) => Ok(true),
    }
}

/// After a failed attempt: decide again, stop, or (the person is gone) look again.
fn after_failure(
    pass: &Pass<'_>,
    target: &Target<'_>,
    (before, sent): (RowState, RowState),
    err: ApiError,
    tries: &mut Tries,
) -> Result<After> {
    let store = &pass.engine.store;
    let gist = target.gist;
    match (err.write_outcome(), &err) {
        (WriteOutcome::MayStillLand, _) => {
            park_unsettled(pass, target.person, gist, sent, &err)?;
            Ok(After::Over)
        }
        (WriteOutcome::NotWritten, ApiError::Throttled { .. })
            if tries.throttled < MAX_THROTTLED =>
        {
            store.write(|conn| gists::unmark_sending(conn, gist.id, &before))?;
            tries.throttled += 1;
            Ok(After::Again(before))
        }
        // Refused: when it is for the person being gone (merged or deleted since the look),
        // nothing was written, and the next look follows the person.
        (WriteOutcome::NotWritten, ApiError::Rejected { status, .. })
            if matches!(status, 400 | 404 | 410) && person_gone(target) =>
        {
            store.write(|conn| gists::unmark_sending(conn, gist.id, &before))?;
            Ok(After::PersonGone)
        }
        (WriteOutcome::Finished, _) if tries.answered + 1 < pass.engine.settings.delivery_tries => {
            let message = err.to_string();
            store.write(|conn| gists::mark_answered(conn, gist.id, &message))?;
            tries.answered += 1;
            Ok(After::Again(RowState {
                state: DeliveryState::Pending,
                next_attempt_at: None,
                ..sent
            }))
        }
        _ => fail(pass, target.person, gist, sent.attempts, &err).map(|()| After::Over),
    }
}

/// Whether the person an activity was refused for is gone (a read to tell; a failed read
/// counts as not gone, so the refusal is reported as it is).
fn person_gone(target: &Target<'_>) -> bool {
    matches!(
        target.pipedrive.person(target.pipedrive_person),
        Ok(PersonLookup::Gone)
    )
}

/// Records the attempt about to be sent; `None` when the row or the lease changed since it
/// was read. Returns the row as it now stands.
fn mark_sending(
    pass: &Pass<'_>,
    person: &Person,
    gist: &Gist,
    seen: RowState,
) -> Result<Option<RowState>> {
    let now = pass.now();
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

fn delivered(pass: &Pass<'_>, target: &Target<'_>, created: Created<ActivityId>) -> Result<()> {
    let gist = target.gist;
    pass.engine
        .store
        .write(|conn| gists::mark_delivered(conn, gist.id, created.id))?;
    pass.engine.metrics.activities_created.inc();
    let delivered = super::Delivered {
        login: target.person.github_login.clone(),
        pipedrive_person: target.pipedrive_person,
        owner: target.person.pipedrive_owner_name.clone(),
        description: gist.description.clone(),
        html_url: gist.html_url.clone(),
    };
    pass.record(|r| {
        r.counts.activities_created += 1;
        r.delivered.push(delivered);
    });
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
fn settled_by_looking(pass: &Pass<'_>, target: &Target<'_>, row: RowState) -> Result<bool> {
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
    // What the attempt left would have changed after it started.
    let since = row
        .attempt_started_at
        .map(|started| started - CLOCK_SLACK_MS);
    match pipedrive.person_activities(pipedrive_person, since) {
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
        Err(list_err) => fail(pass, person, gist, row.attempts, &list_err).map(|()| true),
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
        gists::mark_failed(
            conn,
            gist.id,
            &message,
            pass.now() + pause.as_millis() as i64,
        )
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
