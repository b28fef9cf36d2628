//! Delivery: each due gist becomes exactly one Pipedrive activity. Attempts whose outcome is
//! unknown wait until they can no longer land, then are reconciled by their marker; a person
//! gisttrack did not create has their history read once before the first delivery.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::plan::{self, Attempts, Step};
use super::{activity, link, Pass};
use crate::clients::{backoff, ActivitySummary, ApiError, Created, PipedriveApi, WriteOutcome};
use crate::db::gists::{self, Gist, GistFile};
use crate::db::people::{self, Person};
use crate::error::{Error, Result};
use crate::ids::{ActivityId, PipedrivePersonId};
use crate::time::{format_ms, now_ms};

pub(super) fn deliver(pass: &Pass<'_>, person: &Person) -> Result<()> {
    let engine = pass.engine;
    let pipedrive = engine.pipedrive_api()?;
    if Pass::stopped(&pass.pipedrive_stopped) {
        return Ok(());
    }
    let due = engine.store.write(|conn| {
        let due = gists::due_for_delivery(conn, person.id, now_ms(), pass.options.retry_failed)?;
        gists::with_files(conn, due)
    })?;
    if due.is_empty() {
        return Ok(());
    }
    let pipedrive_person = linked_person(pass, pipedrive, person)?;
    let bound = pass.in_flight_bound_ms();
    let now = now_ms();
    let mut steps: Vec<(Gist, Vec<GistFile>, Step)> = due
        .into_iter()
        .filter_map(|(gist, files)| {
            let step = plan::step_for(attempts_of(&gist), now, bound)?;
            Some((gist, files, step))
        })
        .collect();

    // One read of the person's activities serves every gist that needs it: the history of a
    // person gisttrack did not create, and any earlier attempt that is over.
    let history_unread = !person.pipedrive_history_read;
    if history_unread || steps.iter().any(|(_, _, s)| *s == Step::Reconcile) {
        let existing = pipedrive
            .person_activities(pipedrive_person)
            .map_err(|err| stop_on(pass, err))?;
        steps = record_found(pass, steps, &existing)?;
        if history_unread {
            engine
                .store
                .write(|conn| people::mark_history_read(conn, person.id))?;
        }
    }

    for (gist, files, step) in steps {
        if engine.shutdown.load(Ordering::SeqCst) || Pass::stopped(&pass.pipedrive_stopped) {
            break;
        }
        if let Step::Wait { until } = step {
            pass.waiting(person.id, until);
            continue;
        }
        renew_lease(pass, person)?;
        let new = activity::build(
            &activity::GistText::of(&gist, &files),
            &person.github_login,
            pipedrive_person,
            &engine.settings.activity,
            now_ms(),
        );
        send_one(pass, pipedrive, pipedrive_person, person, &gist, &new)?;
    }
    Ok(())
}

pub(super) fn attempts_of(gist: &Gist) -> Attempts {
    Attempts {
        state: gist.delivery_state,
        count: gist.attempts,
        last_started_at: gist.attempt_started_at,
    }
}

/// The person's Pipedrive id. `add` always links one, but the column allows none (a row
/// written by hand or by another tool): link one here rather than lose the activities.
fn linked_person(
    pass: &Pass<'_>,
    pipedrive: &dyn PipedriveApi,
    person: &Person,
) -> Result<PipedrivePersonId> {
    if let Some(id) = person.pipedrive_person_id {
        return Ok(id);
    }
    let who = link::Candidate {
        login_key: &person.github_login_key,
        login: &person.github_login,
        name: person.name.as_deref().unwrap_or(&person.github_login),
        email: person.email.as_deref(),
    };
    let linked = link::link_person(pass.engine, pipedrive, who).inspect_err(|err| {
        if let Error::Pipedrive(api) = err {
            if api.stops_service() {
                pass.stop(&pass.pipedrive_stopped, api);
            }
        }
    })?;
    pass.engine
        .store
        .write(|conn| people::set_pipedrive_person(conn, person.id, linked.pipedrive_id))?;
    link::forget(pass.engine, &person.github_login_key);
    Ok(linked.pipedrive_id)
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

/// Sends one activity. An answer Pipedrive gave itself (a 500 or 503) ends the request, so it
/// is looked for and sent again at once, within `delivery_tries`; no answer, or a gateway's,
/// leaves the row `sending` until it can no longer land.
fn send_one(
    pass: &Pass<'_>,
    pipedrive: &dyn PipedriveApi,
    pipedrive_person: PipedrivePersonId,
    person: &Person,
    gist: &Gist,
    new: &crate::clients::NewActivity,
) -> Result<()> {
    let store = &pass.engine.store;
    let tries = pass.engine.settings.delivery_tries.max(1);
    let mut attempts = gist.attempts;
    for attempt in 0..tries {
        let started = now_ms();
        // Committed before the request: a crash from here on leaves `sending`, never a resend.
        if !store.write(|conn| gists::mark_sending(conn, gist.id, started))? {
            return Ok(());
        }
        attempts += 1;
        let err = match pipedrive.create_activity(new) {
            Ok(created) => return delivered(pass, gist, created),
            Err(err) => err,
        };
        match err.write_outcome() {
            WriteOutcome::MayStillLand => return park_unsettled(pass, person, gist, started, &err),
            WriteOutcome::Finished if attempt + 1 < tries => {
                std::thread::sleep(backoff(
                    Duration::from_millis(200),
                    attempt,
                    Duration::from_secs(5),
                ));
                if settled_by_looking(pass, pipedrive, pipedrive_person, gist, attempts)? {
                    return Ok(());
                }
            }
            WriteOutcome::Finished | WriteOutcome::NotWritten => {
                return fail(pass, gist, attempts, &err);
            }
        }
    }
    Ok(())
}

fn delivered(pass: &Pass<'_>, gist: &Gist, created: Created<ActivityId>) -> Result<()> {
    pass.engine
        .store
        .write(|conn| gists::mark_delivered(conn, gist.id, created.id))?;
    pass.engine.metrics.activities_created.inc();
    pass.record(|r| r.counts.activities_created += 1);
    if created.daily_writes_left == Some(0) {
        pass.stop_pipedrive(ApiError::RateLimited(
            "Pipedrive's daily budget is spent; the remaining deliveries wait for a later pass"
                .into(),
        ));
    }
    Ok(())
}

/// No answer, or a gateway's: the request may still land, so the row stays `sending` (with
/// why, and until when, for `show`) and is left alone until then.
fn park_unsettled(
    pass: &Pass<'_>,
    person: &Person,
    gist: &Gist,
    started: i64,
    err: &ApiError,
) -> Result<()> {
    let until = started + pass.in_flight_bound_ms();
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
fn settled_by_looking(
    pass: &Pass<'_>,
    pipedrive: &dyn PipedriveApi,
    pipedrive_person: PipedrivePersonId,
    gist: &Gist,
    attempts: i32,
) -> Result<bool> {
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
        Err(list_err) => fail(pass, gist, attempts, &list_err).map(|()| true),
    }
}

/// Parks the gist as failed, visible with its error, due again after a growing pause; a
/// service-wide refusal also stops Pipedrive work for the pass.
fn fail(pass: &Pass<'_>, gist: &Gist, attempts: i32, err: &ApiError) -> Result<()> {
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
        r.errors
            .push(format!("gist {}: {message}", gist.github_gist_id));
    });
    if err.stops_service() {
        pass.stop(&pass.pipedrive_stopped, err);
    }
    Ok(())
}

fn find(existing: &[ActivitySummary], gist: &Gist) -> Option<ActivityId> {
    existing
        .iter()
        .find(|a| activity::has_marker(&a.note, &gist.github_gist_id))
        .map(|a| a.id)
}

/// Stops Pipedrive work for the pass when the error is service-wide, and converts it for
/// the caller to report.
fn stop_on(pass: &Pass<'_>, err: ApiError) -> Error {
    if err.stops_service() {
        pass.stop(&pass.pipedrive_stopped, &err);
    }
    Error::Pipedrive(err)
}
