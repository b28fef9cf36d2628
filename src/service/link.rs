//! Linking a GitHub account to the one Pipedrive person that stands for it, as claim, decide,
//! act: under the account's claim (`service::claim`), what is known of it (tracked, departed
//! with its person, a creation whose answer was lost) is read once, a decision without I/O is
//! taken from that ([`decide`]), and only then are requests made ([`link`]). Whatever adds
//! and deletes race, at most one Pipedrive person is created for an account.

use super::claim::Claim;
use crate::clients::{ApiError, NewPipedrivePerson, PersonField, PipedriveApi, WriteOutcome};
use crate::db::departed::{self, Departed};
use crate::db::people;
use crate::db::person_creations::{self, PersonCreation};
use crate::db::Store;
use crate::error::{Error, Result};
use crate::ids::{GithubUserId, PipedriveOrgId, PipedrivePersonId, PipedriveUserId};
use crate::login::Login;
use crate::sync::MAX_THROTTLED;

/// How far around an unanswered creation to look for the person it may have made: Pipedrive
/// stamps `add_time` with its own clock, which need not agree with ours.
use crate::time::CLOCK_SLACK_MS;

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
    /// Whether the link came from a creation (this one, or one whose answer was lost): only
    /// then is the record of a creation in doubt settled by storing it.
    pub fn settles_a_creation(&self) -> bool {
        matches!(self.origin, Origin::Created | Origin::FoundAfterLostAnswer)
    }

    /// When the person's activities can count as read: a person this very add created has
    /// none, so its first look asks only for what changed since; any other is read in full.
    pub fn activities_looked_at(&self, now: i64) -> Option<i64> {
        (self.origin == Origin::Created).then_some(now)
    }
}

/// Who is being linked.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub github_id: GithubUserId,
    /// The login's case-folded key.
    pub login_key: &'a str,
    pub login: &'a str,
    pub name: &'a str,
    pub email: Option<&'a str>,
    /// The owner a person created for them gets (`--person-owner`).
    pub owner: Option<PipedriveUserId>,
    /// The organization a person created for them is linked to.
    pub org: Option<PipedriveOrgId>,
}

/// What the store knows of an account, read once under its claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// The login the account is tracked under, if it is (under this login, or another one
    /// before a rename).
    pub tracked_as: Option<String>,
    /// It was tracked, and stopped: its person, and until when a delivery may still land.
    pub departed: Option<Departed>,
    /// A person creation for it whose outcome nobody saw.
    pub creation: Option<PersonCreation>,
}

impl Known {
    pub fn read(store: &Store, github_id: GithubUserId, login: &Login) -> Result<Known> {
        let mut conn = store.conn()?;
        let tracked = match people::find_by_github_id(&mut conn, github_id)? {
            Some(person) => Some(person),
            None => people::find_by_login(&mut conn, login)?,
        };
        Ok(Known {
            tracked_as: tracked.map(|p| p.github_login),
            departed: departed::find(&mut conn, github_id)?,
            creation: person_creations::find(&mut conn, github_id, &login.key())?,
        })
    }
}

/// What to do about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Refuse(Refusal),
    /// Try these in order; the first that yields a person is the link.
    Link(Vec<Step>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    AlreadyTracked {
        tracked_as: String,
    },
    /// A delivery to its person, sent before it stopped being tracked, may still land.
    DeliveryUnsettled {
        until: i64,
    },
    /// An earlier creation got no answer and may still land.
    CreationUnsettled {
        until: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The person it had when it was tracked before: it holds its activities.
    Reuse(PipedrivePersonId),
    /// The person an earlier creation whose answer was lost may have made.
    FindAgain(PersonCreation),
    /// An existing person with the user's e-mail.
    SearchByEmail,
    Create,
}

/// The decision, from what is known alone. Nothing is created while an earlier request for
/// the account may still land, and an earlier person is always preferred to a new one.
pub fn decide(known: &Known, email: Option<&str>, now: i64, in_flight_bound_ms: i64) -> Decision {
    if let Some(tracked_as) = &known.tracked_as {
        return Decision::Refuse(Refusal::AlreadyTracked {
            tracked_as: tracked_as.clone(),
        });
    }
    if let Some(until) = known
        .departed
        .as_ref()
        .and_then(|d| d.settles_at)
        .filter(|t| *t > now)
    {
        return Decision::Refuse(Refusal::DeliveryUnsettled { until });
    }
    if let Some(until) = known
        .creation
        .as_ref()
        .map(|creation| creation.started_at + in_flight_bound_ms)
        .filter(|until| *until > now)
    {
        return Decision::Refuse(Refusal::CreationUnsettled { until });
    }
    // The earlier person is reused (it holds the activities), even one found gone: the next
    // pass's look follows its merge or leaves the user unlinked. A settled creation in doubt
    // stays recorded (`relink --create` looks for its person first), since this link did not
    // come from it; which of the two is the user's is not a guess to make here.
    if let Some(previous) = known.departed.as_ref().and_then(|d| d.pipedrive_person_id) {
        return Decision::Link(vec![Step::Reuse(previous)]);
    }
    let mut steps = Vec::new();
    if let Some(creation) = &known.creation {
        steps.push(Step::FindAgain(creation.clone()));
    }
    if email.is_some() {
        steps.push(Step::SearchByEmail);
    }
    steps.push(Step::Create);
    Decision::Link(steps)
}

impl Refusal {
    /// The refusal as the user reads it; `asked` is the login as they typed it.
    pub fn into_error(self, asked: &Login, login: &str) -> Error {
        match self {
            Refusal::AlreadyTracked { tracked_as } if tracked_as == asked.as_str() => {
                Error::AlreadyTracked(tracked_as)
            }
            Refusal::AlreadyTracked { tracked_as } => {
                Error::AlreadyTracked(format!("{asked} (tracked as {tracked_as})"))
            }
            Refusal::DeliveryUnsettled { until } => Error::DeliveryUnsettled {
                login: login.to_string(),
                settles_at: until,
            },
            Refusal::CreationUnsettled { until } => Error::PersonCreationUnsettled {
                login: login.to_string(),
                reason: "an earlier request got no answer".into(),
                settles_at: until,
            },
        }
    }
}

/// Carries out a decision's steps under the claim, renewed before each request. A creation
/// whose outcome is unknown is recorded before it is sent (so a crash is covered too) and
/// stays recorded; the caller forgets it in the transaction that stores the link.
pub fn link(
    pipedrive: &dyn PipedriveApi,
    claim: &Claim<'_>,
    who: Candidate<'_>,
    steps: Vec<Step>,
    in_flight_bound_ms: i64,
) -> Result<Linked> {
    for step in steps {
        match step {
            Step::Reuse(pipedrive_id) => {
                return Ok(Linked {
                    pipedrive_id,
                    origin: Origin::Previous,
                })
            }
            Step::FindAgain(earlier) => {
                claim.renew()?;
                if let Some(pipedrive_id) =
                    find_again(claim, pipedrive, &earlier, in_flight_bound_ms)?
                {
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
            Step::SearchByEmail => {
                let Some(email) = who.email else { continue };
                claim.renew()?;
                let found = pipedrive
                    .find_persons(PersonField::Email, email)
                    .map_err(Error::Pipedrive)?;
                if let Some(&pipedrive_id) = found.first() {
                    return Ok(Linked {
                        pipedrive_id,
                        origin: Origin::MatchedByEmail,
                    });
                }
            }
            Step::Create => return create(pipedrive, claim, who, in_flight_bound_ms),
        }
    }
    Err(Error::Internal(format!(
        "no way to link {} to a Pipedrive person was decided",
        who.login
    )))
}

/// The person an earlier creation made, among those Pipedrive added while it could land with
/// its name (and e-mail): never one already linked to another GitHub account (two accounts
/// may share a display name).
fn find_again(
    claim: &Claim<'_>,
    pipedrive: &dyn PipedriveApi,
    earlier: &PersonCreation,
    bound: i64,
) -> Result<Option<PipedrivePersonId>> {
    let window = (
        earlier.started_at - CLOCK_SLACK_MS,
        earlier.started_at + bound + CLOCK_SLACK_MS,
    );
    let candidates = pipedrive
        .persons_added_between(&earlier.name, earlier.email.as_deref(), window)
        .map_err(Error::Pipedrive)?;
    let mut conn = claim.store().conn()?;
    for candidate in candidates {
        match people::account_linked_to(&mut conn, candidate)? {
            Some(account) if Some(account) != earlier.github_id => continue,
            _ => return Ok(Some(candidate)),
        }
    }
    Ok(None)
}

fn create(
    pipedrive: &dyn PipedriveApi,
    claim: &Claim<'_>,
    who: Candidate<'_>,
    bound: i64,
) -> Result<Linked> {
    for _ in 0..=MAX_THROTTLED {
        pipedrive.wait_turn();
        let creation = PersonCreation {
            github_login_key: who.login_key.to_string(),
            name: who.name.to_string(),
            email: who.email.map(str::to_string),
            started_at: claim.store().now_ms(),
            github_id: Some(who.github_id),
        };
        // Recorded under the claim, or not at all: only the holder ever sends a creation.
        claim.store().transaction(|conn| {
            claim.renew_in(conn)?;
            person_creations::record(conn, &creation)
        })?;
        let new = NewPipedrivePerson {
            name: who.name,
            email: who.email,
            owner_id: who.owner,
            org_id: who.org,
        };
        let err = match pipedrive.create_person(&new) {
            Ok(created) => {
                return Ok(Linked {
                    pipedrive_id: created.id,
                    origin: Origin::Created,
                })
            }
            Err(err) => err,
        };
        match err.write_outcome() {
            // Held back unsent for a rate limit: nothing can land; try again after the pause.
            WriteOutcome::NotWritten if matches!(err, ApiError::Throttled { .. }) => {}
            WriteOutcome::NotWritten => {
                forget(claim, who);
                return Err(Error::Pipedrive(err));
            }
            // Pipedrive answered, so the request is over: whether it made the person shows now.
            WriteOutcome::Finished => {
                return match find_again(claim, pipedrive, &creation, bound) {
                    Ok(Some(pipedrive_id)) => Ok(Linked {
                        pipedrive_id,
                        origin: Origin::FoundAfterLostAnswer,
                    }),
                    Ok(None) => {
                        forget(claim, who);
                        Err(Error::Pipedrive(err))
                    }
                    Err(_) => Err(no_clear_answer(who, &creation, bound, &err)),
                };
            }
            WriteOutcome::MayStillLand => return Err(no_clear_answer(who, &creation, bound, &err)),
        }
    }
    // Every try was held back unsent: nothing can land, so nothing is left to wait for.
    forget(claim, who);
    Err(Error::Pipedrive(ApiError::RateLimited(
        "Pipedrive kept answering 429 to creating the person".into(),
    )))
}

/// The creation certainly made nothing: its record goes, while the claim holds (a failure to
/// say so only makes the next add look for a person that is not there).
fn forget(claim: &Claim<'_>, who: Candidate<'_>) {
    let forgotten = claim.store().transaction(|conn| {
        claim.renew_in(conn)?;
        person_creations::forget(conn, who.github_id, who.login_key)
    });
    if let Err(err) = forgotten {
        log::warn!(
            "could not clear the pending person creation for {}: {err}",
            who.login
        );
    }
}

fn no_clear_answer(
    who: Candidate<'_>,
    creation: &PersonCreation,
    bound: i64,
    err: &ApiError,
) -> Error {
    Error::PersonCreationUnsettled {
        login: who.login.to_string(),
        reason: format!("no clear answer: {err}"),
        settles_at: creation.started_at + bound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: i64 = 60_000;
    const NOW: i64 = 10_000_000;

    fn creation(started_at: i64) -> PersonCreation {
        PersonCreation {
            github_login_key: "octo".into(),
            name: "Octo".into(),
            email: None,
            started_at,
            github_id: Some(GithubUserId(7)),
        }
    }

    fn departed(person: Option<i64>, settles_at: Option<i64>) -> Departed {
        Departed {
            github_id: GithubUserId(7),
            pipedrive_person_id: person.map(PipedrivePersonId),
            settles_at,
            departed_at: NOW - 1,
        }
    }

    #[test]
    fn each_known_state_has_one_decision() {
        use Step::*;
        let settled = creation(NOW - BOUND);
        let table: Vec<(&str, Known, Option<&str>, Decision)> = vec![
            (
                "new, no e-mail",
                Known::default(),
                None,
                Decision::Link(vec![Create]),
            ),
            (
                "new, with e-mail",
                Known::default(),
                Some("o@x"),
                Decision::Link(vec![SearchByEmail, Create]),
            ),
            (
                "tracked",
                Known {
                    tracked_as: Some("Octo".into()),
                    ..Known::default()
                },
                Some("o@x"),
                Decision::Refuse(Refusal::AlreadyTracked {
                    tracked_as: "Octo".into(),
                }),
            ),
            (
                "departed, settled: its person again, never a search",
                Known {
                    departed: Some(departed(Some(42), Some(NOW - 1))),
                    ..Known::default()
                },
                Some("o@x"),
                Decision::Link(vec![Reuse(PipedrivePersonId(42))]),
            ),
            (
                "departed with a delivery that may still land",
                Known {
                    departed: Some(departed(Some(42), Some(NOW + 5))),
                    ..Known::default()
                },
                None,
                Decision::Refuse(Refusal::DeliveryUnsettled { until: NOW + 5 }),
            ),
            (
                "a creation that may still land",
                Known {
                    creation: Some(creation(NOW - BOUND + 1)),
                    ..Known::default()
                },
                Some("o@x"),
                Decision::Refuse(Refusal::CreationUnsettled { until: NOW + 1 }),
            ),
            (
                "a settled creation is looked for before anything else",
                Known {
                    creation: Some(settled.clone()),
                    ..Known::default()
                },
                Some("o@x"),
                Decision::Link(vec![FindAgain(settled.clone()), SearchByEmail, Create]),
            ),
            (
                "departed with a person, and a creation that may still land: it waits",
                Known {
                    departed: Some(departed(Some(42), None)),
                    creation: Some(creation(NOW - BOUND + 1)),
                    ..Known::default()
                },
                None,
                Decision::Refuse(Refusal::CreationUnsettled { until: NOW + 1 }),
            ),
            (
                "departed with a person, and a settled creation: the person, the record kept",
                Known {
                    departed: Some(departed(Some(42), None)),
                    creation: Some(settled.clone()),
                    ..Known::default()
                },
                None,
                Decision::Link(vec![Reuse(PipedrivePersonId(42))]),
            ),
            (
                "departed without a person, and a settled creation",
                Known {
                    departed: Some(departed(None, None)),
                    creation: Some(settled.clone()),
                    ..Known::default()
                },
                None,
                Decision::Link(vec![FindAgain(settled), Create]),
            ),
        ];
        for (case, known, email, expected) in table {
            assert_eq!(decide(&known, email, NOW, BOUND), expected, "{case}");
        }
    }

    #[test]
    fn a_refusal_names_the_login_as_asked_and_as_tracked() {
        let asked = Login::parse("OCTO").unwrap();
        let err = Refusal::AlreadyTracked {
            tracked_as: "octo".into(),
        }
        .into_error(&asked, "octo");
        assert_eq!(err.to_string(), "OCTO (tracked as octo) is already tracked");
        let err = Refusal::CreationUnsettled { until: 0 }.into_error(&asked, "octo");
        assert!(
            err.to_string().contains("an earlier request got no answer"),
            "{err}"
        );
    }
}
