//! The `person_creations` table: Pipedrive person creations whose outcome is not known yet (no
//! answer, a gateway's error, a crash mid-request), so the next `add` looks before creating.

use diesel::prelude::*;

use super::schema::person_creations;
use super::DbConnection;
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = person_creations)]
pub struct PersonCreation {
    pub github_login_key: String,
    /// The name the person was created with.
    pub name: String,
    pub email: Option<String>,
    /// When the request was sent (Unix ms).
    pub started_at: i64,
}

/// Records a creation about to be sent; committed before the request, like `mark_sending`.
/// Refused (false) when another add of the same login recorded one first.
pub fn record(conn: &mut DbConnection, creation: &PersonCreation) -> Result<bool> {
    match diesel::insert_into(person_creations::table)
        .values(creation)
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(err) if super::is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Takes over a settled earlier creation for a new attempt; false when another add took it
/// over first (so only one of two adds at once sends).
pub fn renew(conn: &mut DbConnection, earlier: &PersonCreation, started_at: i64) -> Result<bool> {
    let changed = diesel::update(
        person_creations::table
            .find(&earlier.github_login_key)
            .filter(person_creations::started_at.eq(earlier.started_at)),
    )
    .set(person_creations::started_at.eq(started_at))
    .execute(conn)?;
    Ok(changed == 1)
}

pub fn find(conn: &mut DbConnection, login_key: &str) -> Result<Option<PersonCreation>> {
    Ok(person_creations::table
        .find(login_key)
        .select(PersonCreation::as_select())
        .first(conn)
        .optional()?)
}

/// The outcome is known now (the person is linked, or was certainly not created).
pub fn forget(conn: &mut DbConnection, login_key: &str) -> Result<()> {
    diesel::delete(person_creations::table.find(login_key)).execute(conn)?;
    Ok(())
}
