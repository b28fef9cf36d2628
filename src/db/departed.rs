//! The `departed_people` table: GitHub accounts that were tracked, so adding one again reuses
//! its Pipedrive person (which holds its activities) and waits out deliveries still in flight.

use diesel::prelude::*;

use super::schema::departed_people;
use super::DbConnection;
use crate::error::Result;
use crate::ids::{GithubUserId, PipedrivePersonId};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = departed_people)]
pub struct Departed {
    pub github_id: GithubUserId,
    pub pipedrive_person_id: Option<PipedrivePersonId>,
    /// Until when a delivery sent before the delete may still land (Unix ms).
    pub settles_at: Option<i64>,
    pub departed_at: i64,
}

/// Remembers an account that stops being tracked (replacing an older departure).
pub fn record(conn: &mut DbConnection, departed: &Departed) -> Result<()> {
    diesel::delete(departed_people::table.find(departed.github_id)).execute(conn)?;
    diesel::insert_into(departed_people::table)
        .values(departed)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, github_id: GithubUserId) -> Result<Option<Departed>> {
    Ok(departed_people::table
        .find(github_id)
        .select(Departed::as_select())
        .first(conn)
        .optional()?)
}

/// The account is tracked again.
pub fn forget(conn: &mut DbConnection, github_id: GithubUserId) -> Result<()> {
    diesel::delete(departed_people::table.find(github_id)).execute(conn)?;
    Ok(())
}
