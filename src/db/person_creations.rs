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
pub fn record(conn: &mut DbConnection, creation: &PersonCreation) -> Result<()> {
    conn.transaction(|conn| {
        diesel::delete(person_creations::table.find(&creation.github_login_key)).execute(conn)?;
        diesel::insert_into(person_creations::table)
            .values(creation)
            .execute(conn)?;
        Ok(())
    })
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
