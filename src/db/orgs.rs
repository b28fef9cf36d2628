//! The `followed_orgs` and `org_members` tables: the GitHub organizations followed, the
//! Pipedrive organization each is mirrored to, and who is (or was) a public member of each.

use diesel::prelude::*;

use super::schema::{followed_orgs, org_members};
use super::DbConnection;
use crate::error::Result;
use crate::ids::{GithubUserId, PipedriveOrgId};

/// A followed organization.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = followed_orgs)]
pub struct FollowedOrg {
    pub github_id: GithubUserId,
    pub login: String,
    pub login_key: String,
    /// The name its Pipedrive organization is searched for and created with.
    pub name: String,
    pub pipedrive_org_id: Option<PipedriveOrgId>,
    pub members_etag: Option<String>,
    /// When a Pipedrive organization creation whose answer was lost was sent (Unix ms).
    pub org_creation_started_at: Option<i64>,
    pub followed_at: i64,
    pub members_listed_at: Option<i64>,
}

/// Why a member is not tracked through an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// A bot account (type `Bot`, or a login ending in `[bot]`).
    Bot,
    /// Named by `--exclude`, `--exclude-file` or `GISTTRACK_EXCLUDE`.
    Excluded,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Bot => "bot",
            SkipReason::Excluded => "excluded",
        }
    }

    pub fn parse(text: &str) -> Option<SkipReason> {
        match text {
            "bot" => Some(SkipReason::Bot),
            "excluded" => Some(SkipReason::Excluded),
            _ => None,
        }
    }
}

/// One membership row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = org_members)]
pub struct Membership {
    pub org_github_id: GithubUserId,
    pub github_id: GithubUserId,
    pub login: String,
    /// `bot` or `excluded` when the member is not tracked through the organization.
    pub skipped: Option<String>,
    pub joined_at: i64,
    pub left_at: Option<i64>,
    /// Following the organization started tracking them (an account tracked before keeps
    /// being tracked when they leave or the organization is dropped).
    pub added_by_org: bool,
}

impl Membership {
    pub fn skip_reason(&self) -> Option<SkipReason> {
        self.skipped.as_deref().and_then(SkipReason::parse)
    }
}

/// Follows an organization (a unique login key: of two follows at once, one inserts).
pub fn insert(conn: &mut DbConnection, org: &FollowedOrg) -> Result<()> {
    diesel::insert_into(followed_orgs::table)
        .values(org)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, github_id: GithubUserId) -> Result<Option<FollowedOrg>> {
    Ok(followed_orgs::table
        .find(github_id)
        .select(FollowedOrg::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_key(conn: &mut DbConnection, login_key: &str) -> Result<Option<FollowedOrg>> {
    Ok(followed_orgs::table
        .filter(followed_orgs::login_key.eq(login_key))
        .select(FollowedOrg::as_select())
        .first(conn)
        .optional()?)
}

/// Every followed organization, by login.
pub fn list(conn: &mut DbConnection) -> Result<Vec<FollowedOrg>> {
    Ok(followed_orgs::table
        .order(followed_orgs::login_key)
        .select(FollowedOrg::as_select())
        .load(conn)?)
}

/// Records a Pipedrive organization creation about to be sent (`Some`), or that none is in
/// doubt any more (`None`).
pub fn set_org_creation(
    conn: &mut DbConnection,
    github_id: GithubUserId,
    started_at: Option<i64>,
) -> Result<()> {
    diesel::update(followed_orgs::table.find(github_id))
        .set(followed_orgs::org_creation_started_at.eq(started_at))
        .execute(conn)?;
    Ok(())
}

/// The organization's Pipedrive organization is known: any creation in doubt is settled.
pub fn set_pipedrive_org(
    conn: &mut DbConnection,
    github_id: GithubUserId,
    pipedrive: PipedriveOrgId,
) -> Result<()> {
    diesel::update(followed_orgs::table.find(github_id))
        .set((
            followed_orgs::pipedrive_org_id.eq(Some(pipedrive)),
            followed_orgs::org_creation_started_at.eq(None::<i64>),
        ))
        .execute(conn)?;
    Ok(())
}

/// A member list was read in full (`etag` is what the next pass sends), or found unchanged.
pub fn mark_listed(
    conn: &mut DbConnection,
    github_id: GithubUserId,
    etag: Option<&str>,
    now: i64,
) -> Result<()> {
    diesel::update(followed_orgs::table.find(github_id))
        .set((
            followed_orgs::members_etag.eq(etag),
            followed_orgs::members_listed_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Stops following; returns the memberships it had.
pub fn delete(conn: &mut DbConnection, github_id: GithubUserId) -> Result<Vec<Membership>> {
    let members = memberships(conn, github_id)?;
    diesel::delete(org_members::table.filter(org_members::org_github_id.eq(github_id)))
        .execute(conn)?;
    diesel::delete(followed_orgs::table.find(github_id)).execute(conn)?;
    Ok(members)
}

/// The organization's members, past ones included, by login.
pub fn memberships(conn: &mut DbConnection, org: GithubUserId) -> Result<Vec<Membership>> {
    Ok(org_members::table
        .filter(org_members::org_github_id.eq(org))
        .order(org_members::login)
        .select(Membership::as_select())
        .load(conn)?)
}

/// Every membership of every followed organization.
pub fn all_memberships(conn: &mut DbConnection) -> Result<Vec<Membership>> {
    Ok(org_members::table
        .order((org_members::org_github_id, org_members::login))
        .select(Membership::as_select())
        .load(conn)?)
}

/// A member seen on the list: recorded when new (`exists` false), or brought up to date
/// (back from having left, renamed, skipped for another reason).
pub fn record_member(conn: &mut DbConnection, member: &Membership, exists: bool) -> Result<()> {
    if exists {
        diesel::update(org_members::table.find((member.org_github_id, member.github_id)))
            .set((
                org_members::login.eq(&member.login),
                org_members::skipped.eq(&member.skipped),
                org_members::left_at.eq(None::<i64>),
            ))
            .execute(conn)?;
    } else {
        match diesel::insert_into(org_members::table)
            .values(member)
            .execute(conn)
        {
            Ok(_) => {}
            // Another follow of the organization at the same moment recorded them first.
            Err(err) if super::is_unique_violation(&err) => {
                return record_member(conn, member, true)
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// Following the organization started tracking this member.
pub fn mark_added(
    conn: &mut DbConnection,
    org: GithubUserId,
    github_id: GithubUserId,
) -> Result<()> {
    diesel::update(org_members::table.find((org, github_id)))
        .set(org_members::added_by_org.eq(true))
        .execute(conn)?;
    Ok(())
}

/// A member no longer on the list.
pub fn mark_left(
    conn: &mut DbConnection,
    org: GithubUserId,
    github_id: GithubUserId,
    now: i64,
) -> Result<()> {
    diesel::update(org_members::table.find((org, github_id)))
        .filter(org_members::left_at.is_null())
        .set(org_members::left_at.eq(Some(now)))
        .execute(conn)?;
    Ok(())
}

/// Forgets a membership (a leaver no longer tracked).
pub fn forget_member(
    conn: &mut DbConnection,
    org: GithubUserId,
    github_id: GithubUserId,
) -> Result<()> {
    diesel::delete(org_members::table.find((org, github_id))).execute(conn)?;
    Ok(())
}
