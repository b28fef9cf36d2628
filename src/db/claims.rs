//! The `account_claims` table: one claim per GitHub account, held by whoever adds, deletes or
//! relinks it, so no two of them ever decide from the same state.

use diesel::prelude::*;

use super::schema::account_claims;
use super::{is_unique_violation, DbConnection};
use crate::error::{Error, Result};
use crate::ids::GithubUserId;

/// What a claim's holder is doing to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum ClaimPurpose {
    Add,
    Delete,
    Relink,
}

impl ClaimPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimPurpose::Add => "add",
            ClaimPurpose::Delete => "delete",
            ClaimPurpose::Relink => "relink",
        }
    }

    pub fn from_name(name: &str) -> Option<ClaimPurpose> {
        [
            ClaimPurpose::Add,
            ClaimPurpose::Delete,
            ClaimPurpose::Relink,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
    }
}

super::text_enum::text_enum_sql!(ClaimPurpose, "claim purpose");

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = account_claims)]
pub struct AccountClaim {
    pub github_id: GithubUserId,
    pub purpose: ClaimPurpose,
    /// The holding process, named as sync leases name it.
    pub owner: String,
    /// Tells apart the claims of one process (two requests of one server are two holders).
    pub token: i64,
    pub claimed_at: i64,
    pub expires_at: i64,
}

/// Takes the account for `claim`'s holder when it is free: never claimed, released, expired,
/// or held by `dead_owner` (a process known to be gone). Returns `None` when taken, else the
/// claim that holds it. Each statement commits on its own, so no database lock outlives it
/// (the claim itself is the lock, for as long as its lease runs).
pub fn take(
    conn: &mut DbConnection,
    claim: &AccountClaim,
    dead_owner: Option<&str>,
) -> Result<Option<AccountClaim>> {
    // Each round ends taken, or with the holder read; a claim given up between the two
    // statements starts another.
    for _ in 0..10 {
        let free = account_claims::expires_at
            .lt(claim.claimed_at)
            .or(account_claims::owner.eq(dead_owner.unwrap_or("")));
        let taken = diesel::update(account_claims::table.find(claim.github_id).filter(free))
            .set((
                account_claims::purpose.eq(claim.purpose),
                account_claims::owner.eq(&claim.owner),
                account_claims::token.eq(claim.token),
                account_claims::claimed_at.eq(claim.claimed_at),
                account_claims::expires_at.eq(claim.expires_at),
            ))
            .execute(conn)?;
        if taken == 1 {
            return Ok(None);
        }
        match diesel::insert_into(account_claims::table)
            .values(claim)
            .execute(conn)
        {
            Ok(_) => return Ok(None),
            Err(err) if is_unique_violation(&err) => {}
            Err(err) => return Err(err.into()),
        }
        let holder = account_claims::table
            .find(claim.github_id)
            .select(AccountClaim::as_select())
            .first(conn)
            .optional()?;
        if let Some(holder) = holder {
            return Ok(Some(holder));
        }
    }
    Err(Error::DatabaseBusy(
        "an account's claim kept changing hands".into(),
    ))
}

/// Extends a claim this token holds to `expires_at`; false when it was lost.
pub fn renew(
    conn: &mut DbConnection,
    github_id: GithubUserId,
    token: i64,
    expires_at: i64,
) -> Result<bool> {
    let renewed = diesel::update(
        account_claims::table
            .find(github_id)
            .filter(account_claims::token.eq(token)),
    )
    .set(account_claims::expires_at.eq(expires_at))
    .execute(conn)?;
    Ok(renewed == 1)
}

/// Ends a claim this token holds; false when it no longer held it.
pub fn release(conn: &mut DbConnection, github_id: GithubUserId, token: i64) -> Result<bool> {
    let released = diesel::delete(
        account_claims::table
            .find(github_id)
            .filter(account_claims::token.eq(token)),
    )
    .execute(conn)?;
    Ok(released == 1)
}

#[cfg(test)]
mod tests {
    use super::ClaimPurpose;

    #[test]
    fn every_purpose_reads_back() {
        for purpose in [
            ClaimPurpose::Add,
            ClaimPurpose::Delete,
            ClaimPurpose::Relink,
        ] {
            assert_eq!(ClaimPurpose::from_name(purpose.as_str()), Some(purpose));
        }
        assert_eq!(ClaimPurpose::from_name("Add"), None);
    }
}
