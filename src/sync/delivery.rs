//! Delivery: each due gist becomes exactly one Pipedrive activity, reconciled by its marker
//! whenever an earlier attempt's outcome is unknown.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{activity, Pass};
use crate::clients::{backoff, ActivitySummary, ApiError, PipedriveApi};
use crate::db::gists::{self, DeliveryState, Gist};
use crate::db::people::{self, Person};
use crate::error::{Error, Result};
use crate::service;
use crate::time::now_ms;

pub(super) fn deliver(pass: &Pass<'_>, person: &Person) -> Result<()> {
    let engine = pass.engine;
    let Some(pipedrive) = engine.pipedrive.as_deref() else {
        return Ok(());
    };
    if Pass::stopped(&pass.pipedrive_stopped) {
        return Ok(());
    }
    let due = {
        let mut conn = engine.store.conn()?;
        let due =
            gists::due_for_delivery(&mut conn, person.id, now_ms(), pass.options.retry_failed)?;
        gists::with_files(&mut conn, due)?
    };
    if due.is_empty() {
        return Ok(());
    }
    let pipedrive_person = match person.pipedrive_person_id {
        Some(id) => id,
        None => {
            // `add` always links a Pipedrive person, but the column allows none (a row written
            // by hand or by another tool): link one here rather than lose the activities.
            let id = service::pipedrive_person_for(
                pipedrive,
                person.name.as_deref().unwrap_or(&person.github_login),
                person.email.as_deref(),
            )
            .map_err(|err| stop_on(pass, err))?;
            people::set_pipedrive_person(&mut *engine.store.conn()?, person.id, id)?;
            id
        }
    };

    let mut existing: Option<Vec<ActivitySummary>> = None;
    for (gist, files) in due {
        if engine.shutdown.load(Ordering::SeqCst) || Pass::stopped(&pass.pipedrive_stopped) {
            break;
        }
        let ttl = engine.settings.lease_ttl.as_millis() as i64;
        if !people::renew(
            &mut *engine.store.conn()?,
            person.id,
            pass.owner,
            now_ms(),
            ttl,
        )? {
            return Err(Error::Incomplete(
                "lost the lease during delivery; another process took over".into(),
            ));
        }
        // An earlier attempt may have reached Pipedrive even though we never saw the answer.
        if gist.attempts > 0 || gist.state() == DeliveryState::Sending {
            if existing.is_none() {
                existing = Some(
                    pipedrive
                        .person_activities(pipedrive_person)
                        .map_err(|err| stop_on(pass, err))?,
                );
            }
            if let Some(found) = find(existing.as_deref().unwrap_or_default(), &gist) {
                gists::mark_delivered(&mut *engine.store.conn()?, gist.id, found)?;
                pass.record(|r| r.activities_reconciled += 1);
                continue;
            }
        }
        let new = activity::build(
            &person.github_login,
            &gist,
            &files,
            pipedrive_person,
            &engine.settings.activity_type,
            engine.settings.activity_done,
            now_ms(),
        );
        send_one(pass, pipedrive, pipedrive_person, &gist, &new)?;
    }
    Ok(())
}

/// Sends one activity, retrying an unknown outcome only after checking it did not land.
fn send_one(
    pass: &Pass<'_>,
    pipedrive: &dyn PipedriveApi,
    pipedrive_person: i64,
    gist: &Gist,
    new: &crate::clients::NewActivity,
) -> Result<()> {
    let engine = pass.engine;
    let tries = engine.settings.delivery_tries.max(1);
    let mut attempts = gist.attempts;
    for attempt in 0..tries {
        // Committed before the request: a crash from here on leaves `sending`, never a silent resend.
        if !gists::mark_sending(&mut *engine.store.conn()?, gist.id, now_ms())? {
            return Ok(());
        }
        attempts += 1;
        let err = match pipedrive.create_activity(new) {
            Ok(activity_id) => {
                gists::mark_delivered(&mut *engine.store.conn()?, gist.id, activity_id)?;
                engine.metrics.activities_created.inc();
                pass.record(|r| r.activities_created += 1);
                return Ok(());
            }
            Err(err) => err,
        };
        if err.outcome_unknown() && attempt + 1 < tries {
            log::warn!(
                "sync: activity for gist {} may not have landed ({err}); checking",
                gist.github_gist_id
            );
            std::thread::sleep(backoff(
                Duration::from_millis(200),
                attempt,
                Duration::from_secs(5),
            ));
            match pipedrive.person_activities(pipedrive_person) {
                Ok(existing) => {
                    if let Some(found) = find(&existing, gist) {
                        gists::mark_delivered(&mut *engine.store.conn()?, gist.id, found)?;
                        pass.record(|r| r.activities_reconciled += 1);
                        return Ok(());
                    }
                    continue;
                }
                Err(list_err) => {
                    fail(pass, gist, attempts, &list_err)?;
                    stop_if_service_wide(pass, &list_err);
                    return Ok(());
                }
            }
        }
        // Reported once, on the gist, by `fail`; the pass only needs to know to stop.
        fail(pass, gist, attempts, &err)?;
        stop_if_service_wide(pass, &err);
        return Ok(());
    }
    Ok(())
}

/// Parks the gist as failed, visible with its error, due again after a growing pause.
fn fail(pass: &Pass<'_>, gist: &Gist, attempts: i32, err: &ApiError) -> Result<()> {
    let settings = &pass.engine.settings;
    let pause = backoff(
        settings.retry_base,
        (attempts.max(1) - 1) as u32,
        settings.retry_cap,
    );
    let message = err.to_string();
    gists::mark_failed(
        &mut *pass.engine.store.conn()?,
        gist.id,
        &message,
        now_ms() + pause.as_millis() as i64,
    )?;
    pass.engine.metrics.delivery_failures.inc();
    pass.record(|r| {
        r.failed += 1;
        r.errors
            .push(format!("gist {}: {message}", gist.github_gist_id));
    });
    Ok(())
}

fn find(existing: &[ActivitySummary], gist: &Gist) -> Option<i64> {
    existing
        .iter()
        .find(|a| activity::has_marker(&a.note, &gist.github_gist_id))
        .map(|a| a.id)
}

/// Stops Pipedrive work for the pass when the error is service-wide (token refused, rate
/// limited, blocked).
fn stop_if_service_wide(pass: &Pass<'_>, err: &ApiError) {
    if err.stops_service() {
        pass.stop(&pass.pipedrive_stopped, err);
    }
}

/// Stops if service-wide and converts the error, for the caller to report.
fn stop_on(pass: &Pass<'_>, err: ApiError) -> Error {
    stop_if_service_wide(pass, &err);
    Error::Pipedrive(err)
}
