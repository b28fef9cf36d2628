//! Linking a GitHub user to the one Pipedrive person that stands for them: the person they
//! had before (tracked earlier), one found again after a creation whose answer was lost,
//! one found by e-mail, or a new one; never created twice.

use crate::clients::{ApiError, PipedriveApi, WriteOutcome};
use crate::db::person_creations::{self, PersonCreation};
use crate::error::{Error, Result};
use crate::ids::PipedrivePersonId;
use crate::time::now_ms;

use super::{Engine, MAX_THROTTLED};

/// How far around an unanswered creation to look for the person it may have made: Pipedrive
/// stamps `add_time` with its own clock, which need not agree with ours.
const CLOCK_SLACK_MS: i64 = 5 * 60 * 1000;

/// Where a user's Pipedrive person came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Created by this add: it has no activities yet.
    Created,
    /// Created by an earlier add whose answer was lost, and found again.
    FoundAfterLostAnswer,
    /// An existing person with the user's e-mail.
    MatchedByEmail,
    /// The person the user had when they were tracked before.
    Previous,
}

/// The Pipedrive person for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linked {
    pub pipedrive_id: PipedrivePersonId,
    pub origin: Origin,
}

impl Linked {
    /// Whether the person's activities must be read for gisttrack's markers before the first
    /// delivery: always, unless this very add created the person.
    pub fn may_have_history(&self) -> bool {
        self.origin != Origin::Created
    }
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
/// login is refused, and afterwards the person it may have made is looked for first. The
/// caller forgets the remembered creation once the link is stored (see [`forget`]).
pub fn link_person(
    engine: &Engine,
    pipedrive: &dyn PipedriveApi,
    who: Candidate<'_>,
) -> Result<Linked> {
    let bound = engine.settings.in_flight_bound.as_millis() as i64;
    let earlier = person_creations::find(&mut *engine.store.conn()?, who.login_key)?;
    if let Some(earlier) = &earlier {
        let settles_at = earlier.started_at + bound;
        if settles_at > now_ms() {
            return Err(unsettled(
                who,
                "an earlier attempt got no answer",
                settles_at,
            ));
        }
        if let Some(pipedrive_id) = find_again(pipedrive, earlier, bound)? {
            log::info!(
                "found the Pipedrive person {pipedrive_id} an unanswered attempt created for {}",
                who.login
            );
            return Ok(Linked {
                pipedrive_id,
                origin: Origin::FoundAfterLostAnswer,
            });
        }
    }
    if let Some(email) = who.email {
        let found = pipedrive
            .find_person_by_email(email)
            .map_err(Error::Pipedrive)?;
        if let Some(pipedrive_id) = found {
            return Ok(Linked {
                pipedrive_id,
                origin: Origin::MatchedByEmail,
            });
        }
    }
    create(engine, pipedrive, who, earlier)
}

/// The person an earlier creation made, among those Pipedrive added while it could land.
fn find_again(
    pipedrive: &dyn PipedriveApi,
    earlier: &PersonCreation,
    bound: i64,
) -> Result<Option<PipedrivePersonId>> {
    let window = (
        earlier.started_at - CLOCK_SLACK_MS,
        earlier.started_at + bound + CLOCK_SLACK_MS,
    );
    pipedrive
        .find_recent_person(&earlier.name, earlier.email.as_deref(), window)
        .map_err(Error::Pipedrive)
}

fn create(
    engine: &Engine,
    pipedrive: &dyn PipedriveApi,
    who: Candidate<'_>,
    mut earlier: Option<PersonCreation>,
) -> Result<Linked> {
    let bound = engine.settings.in_flight_bound.as_millis() as i64;
    for _ in 0..=MAX_THROTTLED {
        pipedrive.wait_turn();
        let creation = begin(engine, who, earlier.as_ref())?;
        let err = match pipedrive.create_person(who.name, who.email) {
            Ok(created) => {
                return Ok(Linked {
                    pipedrive_id: created.id,
                    origin: Origin::Created,
                })
            }
            Err(err) => err,
        };
        match err.write_outcome() {
            WriteOutcome::NotWritten if matches!(err, ApiError::Throttled { .. }) => {
                earlier = Some(creation);
            }
            WriteOutcome::NotWritten => {
                forget(engine, who.login_key);
                return Err(Error::Pipedrive(err));
            }
            // Pipedrive answered, so the request is over: whether it made the person shows now.
            WriteOutcome::Finished => {
                return match find_again(pipedrive, &creation, bound) {
                    Ok(Some(pipedrive_id)) => Ok(Linked {
                        pipedrive_id,
                        origin: Origin::FoundAfterLostAnswer,
                    }),
                    Ok(None) => {
                        forget(engine, who.login_key);
                        Err(Error::Pipedrive(err))
                    }
                    Err(_) => Err(no_clear_answer(who, &creation, bound, &err)),
                };
            }
            WriteOutcome::MayStillLand => return Err(no_clear_answer(who, &creation, bound, &err)),
        }
    }
    // Every try was held back unsent: nothing can land, so nothing is left to wait for.
    forget(engine, who.login_key);
    Err(Error::Pipedrive(ApiError::RateLimited(
        "Pipedrive kept answering 429 to creating the person".into(),
    )))
}

/// Records the creation about to be sent, just before it is; refused when another add of
/// the same login got there first.
fn begin(
    engine: &Engine,
    who: Candidate<'_>,
    earlier: Option<&PersonCreation>,
) -> Result<PersonCreation> {
    let creation = PersonCreation {
        github_login_key: who.login_key.to_string(),
        name: who.name.to_string(),
        email: who.email.map(str::to_string),
        started_at: now_ms(),
    };
    let recorded = engine.store.write(|conn| match earlier {
        Some(earlier) => person_creations::renew(conn, earlier, creation.started_at),
        None => person_creations::record(conn, &creation),
    })?;
    if recorded {
        Ok(creation)
    } else {
        let bound = engine.settings.in_flight_bound.as_millis() as i64;
        Err(unsettled(
            who,
            "another add of the same user is under way",
            creation.started_at + bound,
        ))
    }
}

fn no_clear_answer(
    who: Candidate<'_>,
    creation: &PersonCreation,
    bound: i64,
    err: &ApiError,
) -> Error {
    unsettled(
        who,
        &format!("no clear answer: {err}"),
        creation.started_at + bound,
    )
}

fn unsettled(who: Candidate<'_>, reason: &str, settles_at: i64) -> Error {
    Error::PersonCreationUnsettled {
        login: who.login.to_string(),
        reason: reason.to_string(),
        settles_at,
    }
}

/// The creation's outcome is settled (the link is stored, or the person was certainly not
/// made).
pub fn forget(engine: &Engine, login_key: &str) {
    if let Err(err) = engine
        .store
        .write(|conn| person_creations::forget(conn, login_key))
    {
        log::warn!("could not clear the pending person creation for {login_key}: {err}");
    }
}
