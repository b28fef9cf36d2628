//! The `person_creations` table: Pipedrive person creations whose outcome is not known yet (no
//! answer, a gateway's error, a crash mid-request), so the next `add` looks before creating.
//! Written and cleared only under the account's claim (see `db::claims`).

use diesel::prelude::*;

use super::schema::person_creations;
use super::DbConnection;
use crate::error::Result;
use crate::ids::GithubUserId;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = person_creations)]
pub struct PersonCreation {
    pub github_login_key: String,
    /// The name the person was created with.
    pub name: String,
    pub email: Option<String>,
    /// When the request was sent (Unix ms).
    pub started_at: i64,
    /// The account; absent on rows recorded before claims existed (found by login alone).
    pub github_id: Option<GithubUserId>,
}

/// Records a creation about to be sent, replacing any earlier one of the same account or
/// login (the login is the key: another account that had it once loses its record, which
/// only a rename onto a login whose creation is in doubt can cause); committed before the
/// request, like `mark_sending`.
pub fn record(conn: &mut DbConnection, creation: &PersonCreation) -> Result<()> {
    if let Some(github_id) = creation.github_id {
        diesel::delete(person_creations::table.filter(person_creations::github_id.eq(github_id)))
            .execute(conn)?;
    }
    diesel::delete(person_creations::table.find(&creation.github_login_key)).execute(conn)?;
    diesel::insert_into(person_creations::table)
        .values(creation)
        .execute(conn)?;
    Ok(())
}

/// The account's creation in doubt: recorded for it, or for its login before claims
/// existed. A row of another account that had this login once is not this one's.
pub fn find(
    conn: &mut DbConnection,
    github_id: GithubUserId,
    login_key: &str,
) -> Result<Option<PersonCreation>> {
    let rows: Vec<PersonCreation> = person_creations::table
        .filter(
            person_creations::github_id
                .eq(github_id)
                .or(person_creations::github_login_key.eq(login_key)),
        )
        .select(PersonCreation::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|row| row.github_id.is_none_or(|id| id == github_id))
        .max_by_key(|row| row.started_at))
}

/// The outcome is known now (the person is linked, or was certainly not created).
pub fn forget(conn: &mut DbConnection, github_id: GithubUserId, login_key: &str) -> Result<()> {
    diesel::delete(
        person_creations::table.filter(
            person_creations::github_id
                .eq(github_id)
                .or(person_creations::github_login_key
                    .eq(login_key)
                    .and(person_creations::github_id.is_null())),
        ),
    )
    .execute(conn)?;
    Ok(())
}
