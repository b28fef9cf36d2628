//! Following GitHub organizations: the rules of `org add|list|delete` (for the CLI, the HTTP
//! API and the dashboard), the one Pipedrive organization each is mirrored to, and the member
//! rules a sync pass applies too (bots and excluded accounts left out, leavers marked).

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use super::claim::Claim;
use crate::clients::{ApiError, MemberListing, OrgMember, PipedriveApi, WriteOutcome};
use crate::db::claims::ClaimPurpose;
use crate::db::orgs::{self, FollowedOrg, Membership, SkipReason};
use crate::db::{people, Store};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::ids::{GithubUserId, PipedriveOrgId};
use crate::login::Login;
use crate::sync::{App, SyncSettings, MAX_THROTTLED};
use crate::time::format_ms;

/// A followed organization as `org list` and `GET /api/v1/orgs` show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgSummary {
    /// The GitHub login of the organization, in GitHub's case.
    pub org: String,
    #[schema(value_type = i64)]
    pub github_id: GithubUserId,
    /// The name its Pipedrive organization has.
    pub name: String,
    /// Null until the Pipedrive organization is found or created.
    #[schema(value_type = Option<i64>)]
    pub pipedrive_org_id: Option<PipedriveOrgId>,
    /// Public members tracked through it now.
    pub members: i64,
    /// Members who left its public list (still tracked unless `--drop-leavers`).
    pub left: Vec<String>,
    /// Members never tracked through it, and why.
    pub skipped: Vec<SkippedMember>,
    pub followed_at: String,
    pub members_listed_at: Option<String>,
}

/// A member left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SkippedMember {
    pub login: String,
    pub reason: SkipReason,
}

/// A member that could not be tracked this time (tried again by the next pass).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailedMember {
    pub login: String,
    pub error: String,
}

/// What a look at an organization's members changed.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct MemberChanges {
    /// Newly tracked.
    pub added: Vec<String>,
    /// New members who were tracked already (their Pipedrive person is left as it is).
    pub already_tracked: Vec<String>,
    pub skipped: Vec<SkippedMember>,
    /// No longer on the public list.
    pub left: Vec<String>,
    /// Leavers no longer tracked (`--drop-leavers`).
    pub dropped: Vec<String>,
    pub failed: Vec<FailedMember>,
    /// The most serious kind of failure met, for the exit status.
    #[serde(skip)]
    pub exit: Exit,
}

/// The outcome of `org add`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgAdded {
    pub org: OrgSummary,
    /// It was followed before this add (which then only picks up what is new).
    pub already_followed: bool,
    #[serde(flatten)]
    pub changes: MemberChanges,
}

/// The outcome of `org delete`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgDeleted {
    pub org: String,
    /// Members no longer tracked (`--members`).
    pub members_deleted: Vec<String>,
}

/// The accounts never tracked through an organization (`--exclude`, `--exclude-file`,
/// `GISTTRACK_EXCLUDE`), as case-folded logins.
pub fn exclusions<'a>(logins: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    logins
        .into_iter()
        .flat_map(|l| l.split(','))
        .map(|l| l.trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Why a member is not tracked through an organization, if it is not.
pub fn skip_reason(member: &OrgMember, exclude: &BTreeSet<String>) -> Option<SkipReason> {
    if member.bot || OrgMember::is_bot(None, &member.login) {
        Some(SkipReason::Bot)
    } else if exclude.contains(&member.login.to_ascii_lowercase()) {
        Some(SkipReason::Excluded)
    } else {
        None
    }
}

/// Follows a GitHub organization: checked on GitHub (unknown: refused by name), linked to one
/// Pipedrive organization (found by its exact name, else created once), and every current
/// public member tracked under the rules of `add`. Adding it again picks up what is new and
/// creates nothing twice.
pub fn add_org(engine: &App, input: &str) -> Result<OrgAdded> {
    let asked = Login::parse(input)?;
    engine.pipedrive_api()?;
    let remote = engine
        .github
        .org(asked.as_str())
        .map_err(Error::Github)?
        .ok_or_else(|| Error::GithubOrgNotFound(asked.to_string()))?;
    let login = Login::parse(&remote.login).unwrap_or_else(|_| asked.clone());
    let now = engine.store.now_ms();
    let new = FollowedOrg {
        github_id: remote.id,
        login: login.to_string(),
        login_key: login.key(),
        name: remote.name.clone().unwrap_or_else(|| login.to_string()),
        pipedrive_org_id: None,
        members_etag: None,
        org_creation_started_at: None,
        followed_at: now,
        members_listed_at: None,
    };
    // One transaction: a follow of the same organization committing between these reads
    // must not look like an earlier organization under its login (and be deleted).
    let already_followed = engine.store.transaction(|conn| {
        if orgs::find(conn, remote.id)?.is_some() {
            return Ok(true);
        }
        // Another organization had this login before (renamed, deleted): the login belongs
        // to this one now.
        if let Some(earlier) = orgs::find_by_key(conn, &new.login_key)? {
            if earlier.github_id == remote.id {
                return Ok(true);
            }
            orgs::delete(conn, earlier.github_id)?;
        }
        match orgs::insert(conn, &new) {
            Ok(()) => Ok(false),
            // Followed by an add that ran at the same moment.
            Err(Error::Database(err)) if crate::db::is_unique_violation(&err) => Ok(true),
            Err(err) => Err(err),
        }
    })?;
    engine.store.touch();
    let org = settle_pipedrive_org(engine, remote.id)?;
    let changes = match engine
        .github
        .org_members(&org.login, None)
        .map_err(Error::Github)?
    {
        MemberListing::Changed { etag, members } => {
            let changes = apply_members(engine, &org, &members)?;
            let keep = changes.failed.is_empty().then_some(etag).flatten();
            engine.store.write(|conn| {
                orgs::mark_listed(conn, org.github_id, keep.as_deref(), engine.store.now_ms())
            })?;
            changes
        }
        MemberListing::NotModified => MemberChanges::default(),
        MemberListing::OrgGone => return Err(Error::GithubOrgNotFound(asked.to_string())),
    };
    engine.store.touch();
    let summary = summarize(&engine.store, org.github_id)?;
    Ok(OrgAdded {
        org: summary,
        already_followed,
        changes,
    })
}

/// The organization's Pipedrive organization, found or created under the organization's
/// claim: its id stored, or an error that leaves the organization followed for the next add
/// or pass to try again. A creation whose answer was lost is looked for by exact name before
/// another is ever sent, and none is sent while it may still land.
pub fn settle_pipedrive_org(engine: &App, github_id: GithubUserId) -> Result<FollowedOrg> {
    let current = |store: &Store| {
        orgs::find(&mut *store.conn()?, github_id)?
            .ok_or_else(|| Error::OrgNotFollowed(github_id.to_string()))
    };
    let org = current(&engine.store)?;
    if org.pipedrive_org_id.is_some() {
        return Ok(org);
    }
    let pipedrive = engine.pipedrive_api()?;
    let terms = super::claim::Terms {
        ttl: engine.settings.lease_ttl,
        patience: std::time::Duration::from_secs(2),
    };
    let claim = Claim::take(
        &engine.store,
        terms,
        github_id,
        ClaimPurpose::Add,
        &org.login,
    )?;
    // Read again under the claim: another add may have settled it meanwhile.
    let org = current(&engine.store)?;
    if org.pipedrive_org_id.is_some() {
        claim.finish(|_| Ok(()))?;
        return Ok(org);
    }
    let id = find_or_create(engine, pipedrive, &claim, &org)?;
    claim.finish(|conn| orgs::set_pipedrive_org(conn, github_id, id))?;
    engine.store.touch();
    current(&engine.store)
}

fn find_or_create(
    engine: &App,
    pipedrive: &dyn PipedriveApi,
    claim: &Claim<'_>,
    org: &FollowedOrg,
) -> Result<PipedriveOrgId> {
    let store = &engine.store;
    let bound = engine.settings.in_flight_bound.as_millis() as i64;
    let unsettled = |started: i64, reason: String| Error::OrgCreationUnsettled {
        org: org.login.clone(),
        reason,
        settles_at: started + bound,
    };
    claim.renew()?;
    let found = pipedrive
        .find_organizations(&org.name)
        .map_err(Error::Pipedrive)?;
    if let Some(&id) = found.first() {
        return Ok(id);
    }
    // Not found yet is not proof it was never made while an earlier request may still land.
    if let Some(started) = org.org_creation_started_at {
        if started + bound > store.now_ms() {
            return Err(unsettled(
                started,
                "an earlier request got no answer".into(),
            ));
        }
    }
    let mark = |started: Option<i64>| {
        store.transaction(|conn| {
            claim.renew_in(conn)?;
            orgs::set_org_creation(conn, org.github_id, started)
        })
    };
    for _ in 0..=MAX_THROTTLED {
        pipedrive.wait_turn();
        let started = store.now_ms();
        // Recorded before it is sent, so a crash mid-request is covered too.
        mark(Some(started))?;
        let err = match pipedrive.create_organization(&org.name) {
            Ok(created) => return Ok(created.id),
            Err(err) => err,
        };
        match err.write_outcome() {
            WriteOutcome::NotWritten if matches!(err, ApiError::Throttled { .. }) => {}
            WriteOutcome::NotWritten => {
                mark(None)?;
                return Err(Error::Pipedrive(err));
            }
            // Pipedrive answered, but not with the organization: it may have made it anyway,
            // and its search (an index) can lag a write. Found, it is the one; not found, the
            // record stays and no second one is created until the bound has passed.
            WriteOutcome::Finished => {
                return match pipedrive.find_organizations(&org.name) {
                    Ok(found) if !found.is_empty() => Ok(found[0]),
                    _ => Err(unsettled(started, format!("no clear answer: {err}"))),
                };
            }
            WriteOutcome::MayStillLand => {
                return Err(unsettled(started, format!("no clear answer: {err}")))
            }
        }
    }
    mark(None)?;
    Err(Error::Pipedrive(ApiError::RateLimited(
        "Pipedrive kept answering 429 to creating the organization".into(),
    )))
}

/// Applies a listing of the organization's public members: new members tracked under the
/// rules of `add` (a person gisttrack creates belongs to the Pipedrive organization; one found
/// keeps the organization a salesperson gave it), bots and excluded accounts recorded as
/// skipped and never tracked, leavers marked (or, with `--drop-leavers`, no longer tracked).
/// A member that fails is reported and tried again when the list is next read.
pub fn apply_members(
    engine: &App,
    org: &FollowedOrg,
    members: &[OrgMember],
) -> Result<MemberChanges> {
    let store = &engine.store;
    let settings = &engine.settings;
    let known: HashMap<GithubUserId, Membership> =
        orgs::memberships(&mut *store.conn()?, org.github_id)?
            .into_iter()
            .map(|m| (m.github_id, m))
            .collect();
    let mut changes = MemberChanges::default();
    let mut stopped: Option<String> = None;
    for member in members {
        let reason = skip_reason(member, &settings.exclude);
        let before = known.get(&member.id);
        let unchanged = before.is_some_and(|b| {
            b.left_at.is_none() && b.login == member.login && b.skip_reason() == reason
        });
        if !unchanged {
            let row = Membership {
                org_github_id: org.github_id,
                github_id: member.id,
                login: member.login.clone(),
                skipped: reason.map(|r| r.as_str().to_string()),
                joined_at: before.map_or(store.now_ms(), |b| b.joined_at),
                left_at: None,
                added_by_org: before.is_some_and(|b| b.added_by_org),
            };
            store.write(|conn| orgs::record_member(conn, &row, before.is_some()))?;
        }
        if let Some(reason) = reason {
            changes.skipped.push(SkippedMember {
                login: member.login.clone(),
                reason,
            });
            continue;
        }
        if people::find_by_github_id(&mut *store.conn()?, member.id)?.is_some() {
            if !unchanged {
                changes.already_tracked.push(member.login.clone());
            }
            continue;
        }
        let failed = |changes: &mut MemberChanges, err: Error| {
            changes.exit = changes.exit.worst(Exit::from(&err));
            changes.failed.push(FailedMember {
                login: member.login.clone(),
                error: err.to_string(),
            });
        };
        if let Some(why) = &stopped {
            failed(&mut changes, Error::PartlyFailed(why.clone()));
            continue;
        }
        match add_member(engine, member, org.pipedrive_org_id) {
            Ok(()) => {
                store.write(|conn| orgs::mark_added(conn, org.github_id, member.id))?;
                changes.added.push(member.login.clone());
            }
            Err(Error::AlreadyTracked(_)) => changes.already_tracked.push(member.login.clone()),
            Err(err) => {
                if let Error::Github(api) | Error::Pipedrive(api) = &err {
                    if api.stops_service() {
                        stopped = Some(format!("not tried: {err}"));
                    }
                }
                failed(&mut changes, err);
            }
        }
    }
    let current: HashSet<GithubUserId> = members.iter().map(|m| m.id).collect();
    for gone in known
        .values()
        .filter(|m| m.left_at.is_none() && !current.contains(&m.github_id))
    {
        store.write(|conn| orgs::mark_left(conn, org.github_id, gone.github_id, store.now_ms()))?;
        changes.left.push(gone.login.clone());
        if settings.drop_leavers && gone.skipped.is_none() && gone.added_by_org {
            match drop_leaver(store, settings, org, gone) {
                Ok(true) => changes.dropped.push(gone.login.clone()),
                Ok(false) => {}
                Err(err) => {
                    changes.exit = changes.exit.worst(Exit::from(&err));
                    changes.failed.push(FailedMember {
                        login: gone.login.clone(),
                        error: err.to_string(),
                    });
                }
            }
        }
    }
    changes.left.sort();
    if !changes.added.is_empty() || !changes.left.is_empty() {
        store.touch();
    }
    Ok(changes)
}

/// Tracks one member as `add` would, in the organization.
fn add_member(engine: &App, member: &OrgMember, org: Option<PipedriveOrgId>) -> Result<()> {
    let login = Login::parse(&member.login)?;
    let user = engine
        .github
        .user(login.as_str())
        .map_err(Error::Github)?
        .ok_or_else(|| Error::GithubUserNotFound(login.to_string()))?;
    // Renamed since the list was read, the login may now be another account's, which was
    // never checked for bots or exclusions: not this member (the next listing names them).
    if user.id != member.id {
        return Err(Error::GithubUserNotFound(login.to_string()));
    }
    super::add_user(engine, &login, &user, true, org).map(|_| ())
}

/// A leaver stops being tracked unless another followed organization still lists them.
fn drop_leaver(
    store: &Store,
    settings: &SyncSettings,
    org: &FollowedOrg,
    gone: &Membership,
) -> Result<bool> {
    let elsewhere = orgs::all_memberships(&mut *store.conn()?)?.iter().any(|m| {
        m.github_id == gone.github_id
            && m.org_github_id != org.github_id
            && m.left_at.is_none()
            && m.skipped.is_none()
    });
    if elsewhere {
        return Ok(false);
    }
    let Some(person) = people::find_by_github_id(&mut *store.conn()?, gone.github_id)? else {
        return Ok(false);
    };
    match super::delete_person(store, settings, &person.github_login) {
        Ok(_) => Ok(true),
        Err(Error::NotTracked(_)) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Every followed organization, by login.
pub fn list_orgs(store: &Store) -> Result<Vec<OrgSummary>> {
    store.read(|conn| {
        let followed = orgs::list(conn)?;
        let mut members: HashMap<GithubUserId, Vec<Membership>> = HashMap::new();
        for m in orgs::all_memberships(conn)? {
            members.entry(m.org_github_id).or_default().push(m);
        }
        Ok(followed
            .into_iter()
            .map(|org| {
                let rows = members.remove(&org.github_id).unwrap_or_default();
                summary(org, rows)
            })
            .collect())
    })
}

fn summarize(store: &Store, github_id: GithubUserId) -> Result<OrgSummary> {
    store.read(|conn| {
        let org = orgs::find(conn, github_id)?
            .ok_or_else(|| Error::OrgNotFollowed(github_id.to_string()))?;
        let rows = orgs::memberships(conn, github_id)?;
        Ok(summary(org, rows))
    })
}

fn summary(org: FollowedOrg, rows: Vec<Membership>) -> OrgSummary {
    let members = rows
        .iter()
        .filter(|m| m.left_at.is_none() && m.skipped.is_none())
        .count() as i64;
    let left = rows
        .iter()
        .filter(|m| m.left_at.is_some() && m.skipped.is_none())
        .map(|m| m.login.clone())
        .collect();
    let skipped = rows
        .iter()
        .filter(|m| m.left_at.is_none())
        .filter_map(|m| {
            m.skip_reason().map(|reason| SkippedMember {
                login: m.login.clone(),
                reason,
            })
        })
        .collect();
    OrgSummary {
        org: org.login,
        github_id: org.github_id,
        name: org.name,
        pipedrive_org_id: org.pipedrive_org_id,
        members,
        left,
        skipped,
        followed_at: format_ms(org.followed_at),
        members_listed_at: org.members_listed_at.map(format_ms),
    }
}

/// Members of followed organizations never tracked through them, and why: for `list`.
pub fn skipped_members(store: &Store) -> Result<Vec<(String, SkippedMember)>> {
    store.read(|conn| {
        let names: HashMap<GithubUserId, String> = orgs::list(conn)?
            .into_iter()
            .map(|o| (o.github_id, o.login))
            .collect();
        Ok(orgs::all_memberships(conn)?
            .into_iter()
            .filter(|m| m.left_at.is_none())
            .filter_map(|m| {
                let reason = m.skip_reason()?;
                let org = names.get(&m.org_github_id)?.clone();
                Some((
                    org,
                    SkippedMember {
                        login: m.login,
                        reason,
                    },
                ))
            })
            .collect())
    })
}

/// Stops following an organization. Its members stay tracked unless `members` is given;
/// then each is deleted as `delete` would (Pipedrive keeps persons and activities).
pub fn delete_org(
    store: &Store,
    settings: &SyncSettings,
    input: &str,
    members: bool,
) -> Result<OrgDeleted> {
    let login = Login::parse(input)?;
    let Some(org) = orgs::find_by_key(&mut *store.conn()?, &login.key())? else {
        return Err(Error::OrgNotFollowed(login.to_string()));
    };
    // The members first, the organization last: a member that cannot be deleted now leaves
    // it followed, so running the same delete again finishes the job.
    let mut members_deleted = Vec::new();
    if members {
        let rows = orgs::memberships(&mut *store.conn()?, org.github_id)?;
        for member in rows
            .iter()
            .filter(|m| m.skipped.is_none() && m.added_by_org)
        {
            let Some(person) = people::find_by_github_id(&mut *store.conn()?, member.github_id)?
            else {
                continue;
            };
            match super::delete_person(store, settings, &person.github_login) {
                Ok(login) => members_deleted.push(login),
                Err(Error::NotTracked(_)) => {}
                Err(err) => return Err(err),
            }
        }
    }
    let deleted = store.transaction(|conn| orgs::delete(conn, org.github_id).map(|_| ()));
    store.touch();
    deleted?;
    Ok(OrgDeleted {
        org: org.login,
        members_deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(login: &str, bot: bool) -> OrgMember {
        OrgMember {
            login: login.into(),
            id: GithubUserId(1),
            bot,
        }
    }

    #[test]
    fn exclusions_are_case_folded_and_split_on_commas() {
        let set = exclusions(["Alice, bob", "", "  @Carol ", "# a comment", "dave,,"]);
        let expected: BTreeSet<String> = ["alice", "bob", "carol", "dave"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(set, expected);
    }

    #[test]
    fn bots_come_before_exclusions_and_others_are_tracked() {
        let exclude = exclusions(["alice", "renovate[bot]"]);
        assert_eq!(
            skip_reason(&member("renovate[bot]", false), &exclude),
            Some(SkipReason::Bot)
        );
        assert_eq!(
            skip_reason(&member("ci-robot", true), &exclude),
            Some(SkipReason::Bot)
        );
        assert_eq!(
            skip_reason(&member("ALICE", false), &exclude),
            Some(SkipReason::Excluded)
        );
        assert_eq!(skip_reason(&member("bob", false), &exclude), None);
    }
}
