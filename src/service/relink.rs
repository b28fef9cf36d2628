//! Relinking a user to a Pipedrive person by hand: after theirs was deleted (they are
//! unlinked), or to move them to another person. Claim, decide, act, as `add` does, under the
//! account's claim and the person's sync lease, so no pass delivers to the old person while
//! the link changes; the next pass looks at the new person's activities in full before it
//! sends anything there.

use std::collections::HashSet;

use super::claim::Claim;
use super::link::{self, Candidate, Step};
use crate::clients::{GistId, PersonLookup};
use crate::db::claims::ClaimPurpose;
use crate::db::gists;
use crate::db::link_history::{self, LinkReason, NewLinkEvent};
use crate::db::people::{self, Claim as Lease, Person};
use crate::db::person_creations;
use crate::error::{Error, Result};
use crate::ids::PipedrivePersonId;
use crate::login::Login;
use crate::sync::look::{Looked, Looking, OwnerNames};
use crate::sync::App;

/// Where to link a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelinkTo {
    /// The survivor of a merge, proven by carrying the user's markers (looked for again).
    Survivor,
    /// This existing person.
    Person(PipedrivePersonId),
    /// A new person, created once.
    Create,
}

/// What a relink did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relinked {
    /// The login as GitHub spells it.
    pub login: String,
    /// The person the user is linked to now.
    pub pipedrive_id: PipedrivePersonId,
    /// False when the user was already linked there (a double click, a retry): nothing
    /// changed.
    pub changed: bool,
}

/// Links the user to another Pipedrive person.
pub fn relink_person(engine: &App, input: &str, to: RelinkTo) -> Result<Relinked> {
    let login = Login::parse(input)?;
    let pipedrive = engine.pipedrive_api()?;
    let person = people::get_by_login(&mut *engine.store.conn()?, &login)?;
    let terms = super::claim_terms(&engine.settings);
    let claim = match person.github_id {
        Some(github_id) => Some(Claim::take(
            &engine.store,
            terms,
            github_id,
            ClaimPurpose::Relink,
            &person.github_login,
        )?),
        None => None,
    };
    let holder = SyncLease::take(engine, &person)?;
    let person = people::get(&mut *engine.store.conn()?, person.id)?;
    // A delivery to the old person that may still land would not be seen on the new one.
    let bound = engine.settings.in_flight_bound.as_millis() as i64;
    let in_flight = gists::settles_at(&mut *engine.store.conn()?, person.id, bound)?;
    if let Some(settles_at) = in_flight.filter(|t| *t > engine.store.now_ms()) {
        return Err(Error::DeliveryUnsettled {
            login: person.github_login.clone(),
            settles_at,
        });
    }
    let from = person.pipedrive_person_id;
    // A person is created only for a user whose own is gone: asked twice (a double click, a
    // retry after a lost answer), the second finds them linked and changes nothing.
    if let (RelinkTo::Create, Some(current), None) = (to, from, person.unlinked_at) {
        holder.renew()?;
        if let PersonLookup::Found(_) = pipedrive.person(current).map_err(Error::Pipedrive)? {
            return Ok(Relinked {
                login: person.github_login,
                pipedrive_id: current,
                changed: false,
            });
        }
    }
    let created = matches!(to, RelinkTo::Create);
    holder.renew()?;
    let target = match to {
        RelinkTo::Person(id) => match pipedrive.person(id).map_err(Error::Pipedrive)? {
            PersonLookup::Found(_) => {
                // Two tracked users on one person would mix their activities for good.
                let taken = people::stands_for_another(&mut *engine.store.conn()?, id, &person)?;
                if let Some(other) = taken {
                    return Err(Error::PersonTaken {
                        login: person.github_login.clone(),
                        pipedrive_id: id,
                        other,
                    });
                }
                id
            }
            PersonLookup::Gone => return Err(Error::NoSuchPipedrivePerson(id)),
        },
        RelinkTo::Survivor => survivor(engine, &person)?,
        RelinkTo::Create => {
            let Some(claim) = &claim else {
                return Err(Error::NotLinked(person.github_login.clone()));
            };
            create(engine, claim, &person)?
        }
    };
    holder.renew()?;
    if from == Some(target) && person.unlinked_at.is_none() {
        return Ok(Relinked {
            login: person.github_login,
            pipedrive_id: target,
            changed: false,
        });
    }
    let record = |conn: &mut crate::db::DbConnection| {
        if !people::relink(conn, person.id, &holder.owner, target)? {
            return Err(Error::LeaseLost(person.github_login.clone()));
        }
        people::release(conn, person.id, &holder.owner)?;
        link_history::record(
            conn,
            &NewLinkEvent {
                github_id: person.github_id,
                github_login: &person.github_login,
                from_pipedrive_id: from,
                to_pipedrive_id: Some(target),
                reason: LinkReason::Relinked,
                at: engine.store.now_ms(),
            },
        )?;
        if let (true, Some(github_id)) = (created, person.github_id) {
            person_creations::forget(conn, github_id, &person.github_login_key)?;
        }
        Ok(())
    };
    match claim {
        Some(claim) => claim.finish(record)?,
        None => engine.store.transaction(record)?,
    }
    engine.store.touch();
    log::info!(
        "{} relinked from Pipedrive person {} to {target}",
        person.github_login,
        from.map_or_else(|| "none".to_string(), |id| id.to_string())
    );
    Ok(Relinked {
        login: person.github_login,
        pipedrive_id: target,
        changed: true,
    })
}

/// The merge's survivor, looked for as a pass would; an error when none carries the user's
/// markers (or their person is still there).
fn survivor(engine: &App, person: &Person) -> Result<PipedrivePersonId> {
    let pipedrive = engine.pipedrive_api()?;
    let current = person
        .pipedrive_person_id
        .ok_or_else(|| Error::NoSurvivor(person.github_login.clone()))?;
    let ledger: HashSet<GistId> = gists::known(&mut *engine.store.conn()?, person.id)?
        .into_iter()
        .map(|k| k.github_gist_id)
        .collect();
    let names = OwnerNames::default();
    let looking = Looking {
        pipedrive,
        clock: engine.store.clock(),
        settings: &engine.settings.activity,
        names: &names,
    };
    match looking
        .look(person, current, &ledger, None)
        .map_err(Error::Pipedrive)?
    {
        Looked::At(look) => Ok(look.to.person),
        Looked::Merged { look, .. } => Ok(look.to.person),
        Looked::Deleted { .. } => Err(Error::NoSurvivor(person.github_login.clone())),
    }
}

/// A new person for the user, created once under the account's claim.
fn create(engine: &App, claim: &Claim<'_>, person: &Person) -> Result<PipedrivePersonId> {
    let pipedrive = engine.pipedrive_api()?;
    let github_id = person
        .github_id
        .ok_or_else(|| Error::NotLinked(person.github_login.clone()))?;
    let bound = engine.settings.in_flight_bound.as_millis() as i64;
    // An earlier creation for the account whose answer was lost is found again first.
    let earlier = person_creations::find(
        &mut *engine.store.conn()?,
        github_id,
        &person.github_login_key,
    )?;
    let mut steps = Vec::new();
    if let Some(earlier) = earlier {
        let until = earlier.started_at + bound;
        if until > engine.store.now_ms() {
            return Err(link::Refusal::CreationUnsettled { until }
                .into_error(&Login::parse(&person.github_login)?, &person.github_login));
        }
        steps.push(Step::FindAgain(earlier));
    }
    steps.push(Step::Create);
    let who = Candidate {
        github_id,
        login_key: &person.github_login_key,
        login: &person.github_login,
        name: person.name.as_deref().unwrap_or(&person.github_login),
        email: person.email.as_deref(),
        owner: engine.settings.person_owner,
        org: None,
    };
    Ok(link::link(pipedrive, claim, who, steps, bound)?.pipedrive_id)
}

/// The person's sync lease, held while the link changes so no pass delivers meanwhile;
/// given back when dropped unless the relink's transaction gave it back.
/// Its holder name is its own (`<this process>/relink/<n>`): a pass of this very process must
/// not count as the relink. A relink killed mid-way holds it until it expires.
struct SyncLease<'e> {
    engine: &'e App,
    person: crate::ids::PersonId,
    login: String,
    owner: String,
}

impl<'e> SyncLease<'e> {
    /// Extends the lease before a request made under it (a survivor search can take a while).
    fn renew(&self) -> Result<()> {
        let store = &self.engine.store;
        let ttl = self.engine.settings.lease_ttl.as_millis() as i64;
        let renewed = store
            .write(|conn| people::renew(conn, self.person, &self.owner, store.now_ms(), ttl))?;
        renewed
            .then_some(())
            .ok_or_else(|| Error::LeaseLost(self.login.clone()))
    }

    fn take(engine: &'e App, person: &Person) -> Result<SyncLease<'e>> {
        // Its own holder name: a pass of this very process must not count as this relink.
        let owner = format!("{}/relink/{}", engine.store.owner(), fastrand::u64(..));
        let now = engine.store.now_ms();
        let terms = Lease {
            owner: &owner,
            now,
            ttl_ms: engine.settings.lease_ttl.as_millis() as i64,
            not_synced_since: None,
            dead_owner: None,
        };
        if !engine
            .store
            .write(|conn| people::claim(conn, person.id, &terms))?
        {
            return Err(Error::SyncBusy(person.github_login.clone()));
        }
        Ok(SyncLease {
            engine,
            person: person.id,
            login: person.github_login.clone(),
            owner,
        })
    }
}

impl Drop for SyncLease<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Err(err) = self
            .engine
            .store
            .write(|conn| people::release(conn, self.person, &self.owner))
        {
            log::warn!("could not give back the sync lease taken for a relink: {err}");
        }
    }
}
