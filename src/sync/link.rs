//! Linking a GitHub user to the one Pipedrive person that stands for them: found by e-mail,
//! found again after a creation whose answer was lost, or created; never created twice.

use crate::clients::{ApiError, PipedriveApi, WriteOutcome};
use crate::db::person_creations::{self, PersonCreation};
use crate::error::{Error, Result};
use crate::ids::PipedrivePersonId;
use crate::time::{format_ms, now_ms};

use super::Engine;

/// How far before an unanswered creation to look for the person it may have made: Pipedrive
/// stamps `update_time` with its own clock, which need not agree with ours.
const CLOCK_SLACK_MS: i64 = 5 * 60 * 1000;

/// The Pipedrive person for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linked {
    pub pipedrive_id: PipedrivePersonId,
    /// Made for this user by gisttrack (now or by an earlier, unanswered attempt): it carries
    /// no activities of an earlier life, and is taken back if tracking does not start.
    pub created: bool,
}

/// Who is being linked.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The login's case-folded key (what an unanswered creation is remembered by).
    pub login_key: &'a str,
    pub login: &'a str,
    pub name: &'a str,
    pub email: Option<&'a str>,
}

/// Finds or creates the person. A creation whose outcome is unknown is remembered (before
/// the request, so a crash is covered too); until it can no longer land, linking the same
/// login is refused, and afterwards the person it may have made is looked for first.
/// The caller forgets the remembered creation once the link is stored (see [`forget`]).
pub fn link_person(
    engine: &Engine,
    pipedrive: &dyn PipedriveApi,
    who: Candidate<'_>,
) -> Result<Linked> {
    let bound = engine.settings.in_flight_bound.as_millis() as i64;
    let earlier = person_creations::find(&mut *engine.store.conn()?, who.login_key)?;
    if let Some(earlier) = earlier {
        let settles_at = earlier.started_at + bound;
        if settles_at > now_ms() {
            return Err(Error::PersonCreationUnsettled {
                login: who.login.to_string(),
                reason: "an earlier attempt got no answer".into(),
                retry_after: format_ms(settles_at),
            });
        }
        let found = pipedrive
            .find_recent_person(
                &earlier.name,
                earlier.email.as_deref(),
                earlier.started_at - CLOCK_SLACK_MS,
            )
            .map_err(Error::Pipedrive)?;
        if let Some(pipedrive_id) = found {
            log::info!(
                "found the Pipedrive person {pipedrive_id} an unanswered attempt created for {}",
                who.login
            );
            return Ok(Linked {
                pipedrive_id,
                created: true,
            });
        }
    }
    if let Some(email) = who.email {
        if let Some(pipedrive_id) = pipedrive
            .find_person_by_email(email)
            .map_err(Error::Pipedrive)?
        {
            return Ok(Linked {
                pipedrive_id,
                created: false,
            });
        }
    }
    create(engine, pipedrive, who)
}

fn create(engine: &Engine, pipedrive: &dyn PipedriveApi, who: Candidate<'_>) -> Result<Linked> {
    let started_at = now_ms();
    let creation = PersonCreation {
        github_login_key: who.login_key.to_string(),
        name: who.name.to_string(),
        email: who.email.map(str::to_string),
        started_at,
    };
    engine
        .store
        .write(|conn| person_creations::record(conn, &creation))?;
    let err = match pipedrive.create_person(who.name, who.email) {
        Ok(created) => {
            return Ok(Linked {
                pipedrive_id: created.id,
                created: true,
            })
        }
        Err(err) => err,
    };
    match err.write_outcome() {
        WriteOutcome::NotWritten => {
            forget(engine, who.login_key);
            Err(Error::Pipedrive(err))
        }
        // Pipedrive answered, so the request is over: whether it made the person shows now.
        WriteOutcome::Finished => {
            match pipedrive.find_recent_person(who.name, who.email, started_at - CLOCK_SLACK_MS) {
                Ok(Some(pipedrive_id)) => Ok(Linked {
                    pipedrive_id,
                    created: true,
                }),
                Ok(None) => {
                    forget(engine, who.login_key);
                    Err(Error::Pipedrive(err))
                }
                Err(_) => Err(unsettled(engine, who, started_at, &err)),
            }
        }
        WriteOutcome::MayStillLand => Err(unsettled(engine, who, started_at, &err)),
    }
}

fn unsettled(engine: &Engine, who: Candidate<'_>, started_at: i64, err: &ApiError) -> Error {
    Error::PersonCreationUnsettled {
        login: who.login.to_string(),
        reason: format!("no clear answer: {err}"),
        retry_after: format_ms(started_at + engine.settings.in_flight_bound.as_millis() as i64),
    }
}

/// The creation's outcome is settled (the link is stored, or the person was removed again).
pub fn forget(engine: &Engine, login_key: &str) {
    if let Err(err) = engine
        .store
        .write(|conn| person_creations::forget(conn, login_key))
    {
        log::warn!("could not clear the pending person creation for {login_key}: {err}");
    }
}
