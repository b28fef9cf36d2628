//! The `link_history` table: every change of the Pipedrive person a GitHub account is linked
//! to (a merge followed, a person found deleted, a relink), so `show` can say what happened.

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::schema::link_history;
use super::DbConnection;
use crate::error::Result;
use crate::ids::{GithubUserId, PipedrivePersonId};

/// Why an account's Pipedrive person changed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow, Serialize, ToSchema,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum LinkReason {
    /// The person was merged into another in Pipedrive; gisttrack followed it there.
    Merged,
    /// The person was deleted in Pipedrive and no survivor was found: unlinked.
    Deleted,
    /// Linked by hand (`gisttrack relink`).
    Relinked,
}

impl LinkReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkReason::Merged => "merged",
            LinkReason::Deleted => "deleted",
            LinkReason::Relinked => "relinked",
        }
    }

    pub fn from_name(name: &str) -> Option<LinkReason> {
        [
            LinkReason::Merged,
            LinkReason::Deleted,
            LinkReason::Relinked,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

super::text_enum::text_enum_sql!(LinkReason, "link reason");

#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = link_history)]
pub struct NewLinkEvent<'a> {
    pub github_id: Option<GithubUserId>,
    pub github_login: &'a str,
    pub from_pipedrive_id: Option<PipedrivePersonId>,
    pub to_pipedrive_id: Option<PipedrivePersonId>,
    pub reason: LinkReason,
    pub at: i64,
}

/// One change, as `show` and the API give it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = link_history)]
pub struct LinkEvent {
    pub from_pipedrive_id: Option<PipedrivePersonId>,
    pub to_pipedrive_id: Option<PipedrivePersonId>,
    pub reason: LinkReason,
    pub at: i64,
}

pub fn record(conn: &mut DbConnection, event: &NewLinkEvent<'_>) -> Result<()> {
    diesel::insert_into(link_history::table)
        .values(event)
        .execute(conn)?;
    Ok(())
}

/// The account's changes, oldest first.
pub fn for_account(conn: &mut DbConnection, github_id: GithubUserId) -> Result<Vec<LinkEvent>> {
    Ok(link_history::table
        .filter(link_history::github_id.eq(github_id))
        .order((link_history::at.asc(), link_history::id.asc()))
        .select(LinkEvent::as_select())
        .load(conn)?)
}
