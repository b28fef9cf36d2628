//! The `people` table: tracked GitHub users, their Pipedrive person, visits and sync leases.

use diesel::prelude::*;

use super::gists::GistCounts;
use super::schema::{gist_files, gists, people};
use super::{is_unique_violation, DbConnection};
use crate::error::{Error, Result};
use crate::ids::{GithubUserId, PersonId, PipedriveOrgId, PipedrivePersonId, PipedriveUserId};
use crate::login::Login;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = people)]
pub struct Person {
    pub id: PersonId,
    pub github_login: String,
    pub github_login_key: String,
    pub github_id: Option<GithubUserId>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub pipedrive_person_id: Option<PipedrivePersonId>,
    /// Deliver the gists that existed before the user was added (the seed's behaviour).
    pub backfill: bool,
    pub added_at: i64,
    pub last_synced_at: Option<i64>,
    pub last_visited_at: Option<i64>,
    pub previous_visited_at: Option<i64>,
    pub gists_etag: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    /// The Pipedrive person's owner and organization as last read (before a delivery).
    pub pipedrive_owner_id: Option<PipedriveUserId>,
    pub pipedrive_owner_name: Option<String>,
    pub pipedrive_org_id: Option<PipedriveOrgId>,
    /// When the person's activities were last read (Unix ms, as the read began): the next
    /// look asks only for what changed since. `None`: the next look reads them all.
    pub activities_looked_at: Option<i64>,
    /// When the Pipedrive person was found deleted with no survivor: nothing is sent until
    /// the user is relinked.
    pub unlinked_at: Option<i64>,
    /// Gists first seen after the last visit (all of them before the first visit): kept by
    /// the transactions that record gists ([`add_new`]) and visits ([`record_visit`]).
    pub new_count: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = people)]
pub struct NewPerson<'a> {
    pub github_login: &'a str,
    pub github_login_key: &'a str,
    pub github_id: Option<GithubUserId>,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub pipedrive_person_id: Option<PipedrivePersonId>,
    pub backfill: bool,
    pub added_at: i64,
    /// Set for a person this very add created: it has no activities to look through.
    pub activities_looked_at: Option<i64>,
}

/// A `LIKE` pattern for login keys starting with `prefix` (its `_` and `%` taken literally,
/// with `\` as the escape).
pub fn key_prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Up to `limit` people whose login key matches `key_pattern` (see [`key_prefix_pattern`]),
/// after the login key `after`, in login order.
pub fn matching(
    conn: &mut DbConnection,
    key_pattern: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<Person>> {
    Ok(crate::on_backend!(conn, |c| people::table
        .filter(people::github_login_key.like(key_pattern).escape('\\'))
        .filter(people::github_login_key.gt(after))
        .order(people::github_login_key.asc())
        .select(Person::as_select())
        .limit(limit)
        .load(c))?)
}

/// Up to `limit` people whose login key matches `key_pattern`, most gists new since their
/// last visit first, then by login key, after the cursor `after` (`(new, key)` of the previous
/// page's last person). A walk of the (new_count DESC, login key) index from the cursor: as
/// cheap deep in the list as at its start, however many people there are. After a cursor, two
/// statements (the rest of the cursor's count, then the lower counts) rather than one with an
/// OR, which neither backend seeks with.
pub fn by_new_count(
    conn: &mut DbConnection,
    key_pattern: &str,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<Person>> {
    let matching = || people::github_login_key.like(key_pattern).escape('\\');
    let Some((after_new, after_key)) = after else {
        return Ok(crate::on_backend!(conn, |c| people::table
            .filter(matching())
            .order((people::new_count.desc(), people::github_login_key.asc()))
            .select(Person::as_select())
            .limit(limit)
            .load(c))?);
    };
    let mut page: Vec<Person> = crate::on_backend!(conn, |c| people::table
        .filter(people::new_count.eq(after_new))
        .filter(people::github_login_key.gt(after_key))
        .filter(matching())
        .order(people::github_login_key.asc())
        .select(Person::as_select())
        .limit(limit)
        .load(c))?;
    let rest = limit - page.len() as i64;
    if rest > 0 {
        page.extend(crate::on_backend!(conn, |c| people::table
            .filter(people::new_count.lt(after_new))
            .filter(matching())
            .order((people::new_count.desc(), people::github_login_key.asc()))
            .select(Person::as_select())
            .limit(rest)
            .load(c))?);
    }
    Ok(page)
}

/// The people one Pipedrive user owns ("my people" on the dashboard), by login or most new
/// gists first, after the previous page's cursor: `matching` and `by_new_count` narrowed to
/// one owner (a salesperson's share of the list, read through the owner's rows).
pub fn owned_by(
    conn: &mut DbConnection,
    owner: PipedriveUserId,
    key_pattern: &str,
    by_new: bool,
    after: Option<(i64, &str)>,
    after_key: &str,
    limit: i64,
) -> Result<Vec<Person>> {
    Ok(crate::on_backend!(conn, |c| {
        let mut query = people::table
            .filter(people::pipedrive_owner_id.eq(owner))
            .filter(people::github_login_key.like(key_pattern).escape('\\'))
            .select(Person::as_select())
            .limit(limit)
            .into_boxed();
        if by_new {
            if let Some((new, key)) = after {
                query = query.filter(
                    people::new_count.lt(new).or(people::new_count
                        .eq(new)
                        .and(people::github_login_key.gt(key.to_string()))),
                );
            }
            query
                .order((people::new_count.desc(), people::github_login_key.asc()))
                .load(c)
        } else {
            query
                .filter(people::github_login_key.gt(after_key.to_string()))
                .order(people::github_login_key.asc())
                .load(c)
        }
    })?)
}

/// One page of the listing by login, at most `limit` people.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Page {
    /// `offset` people skipped (the seed's `page`/`per_page`): the database still walks
    /// them, so deep pages cost more.
    Offset { offset: i64, limit: i64 },
    /// The people after this login key (`after=`): an index seek, as cheap deep as first.
    After { key: String, limit: i64 },
}

pub fn insert(conn: &mut DbConnection, new: &NewPerson<'_>) -> Result<Person> {
    diesel::insert_into(people::table)
        .values(new)
        .execute(conn)
        .map_err(|e| match is_unique_violation(&e) {
            true => Error::AlreadyTracked(new.github_login.to_string()),
            false => Error::from(e),
        })?;
    people::table
        .filter(people::github_login_key.eq(new.github_login_key))
        .select(Person::as_select())
        .first(conn)
        .map_err(Error::from)
}

pub fn find_by_login(conn: &mut DbConnection, login: &Login) -> Result<Option<Person>> {
    let key = login.key();
    Ok(crate::on_backend!(conn, |c| people::table
        .filter(people::github_login_key.eq(&key))
        .select(Person::as_select())
        .first(c)
        .optional())?)
}

/// Takes the write lock on a tracked person's row (a write that changes nothing) before
/// anything is read in the transaction; false when the person is gone.
pub fn lock(conn: &mut DbConnection, person_id: PersonId) -> Result<bool> {
    let locked = diesel::update(people::table.find(person_id))
        .set(people::lease_expires_at.eq(people::lease_expires_at))
        .execute(conn)?;
    Ok(locked == 1)
}

/// The tracked person, or [`Error::NotTracked`].
pub fn get_by_login(conn: &mut DbConnection, login: &Login) -> Result<Person> {
    find_by_login(conn, login)?.ok_or_else(|| Error::NotTracked(login.to_string()))
}

pub fn find_by_github_id(
    conn: &mut DbConnection,
    github_id: GithubUserId,
) -> Result<Option<Person>> {
    Ok(people::table
        .filter(people::github_id.eq(github_id))
        .select(Person::as_select())
        .first(conn)
        .optional()?)
}

pub fn get(conn: &mut DbConnection, id: PersonId) -> Result<Person> {
    Ok(people::table
        .find(id)
        .select(Person::as_select())
        .first(conn)?)
}

/// The people with these row ids that are still tracked, in id order.
pub fn find_all(conn: &mut DbConnection, ids: &[PersonId]) -> Result<Vec<Person>> {
    Ok(people::table
        .filter(people::id.eq_any(ids))
        .order(people::id.asc())
        .select(Person::as_select())
        .load(conn)?)
}

/// Up to `limit` people after row id `after`, in id order: a pass reads everyone this way, a
/// batch at a time, so its memory does not grow with the number of people tracked.
pub fn batch_after(
    conn: &mut DbConnection,
    after: Option<PersonId>,
    limit: i64,
) -> Result<Vec<Person>> {
    let after = after.unwrap_or(PersonId(0));
    Ok(crate::on_backend!(conn, |c| people::table
        .filter(people::id.gt(after))
        .order(people::id.asc())
        .limit(limit)
        .select(Person::as_select())
        .load(c))?)
}

/// Every tracked person, ordered by login.
pub fn list(conn: &mut DbConnection) -> Result<Vec<Person>> {
    Ok(people::table
        .order(people::github_login_key.asc())
        .select(Person::as_select())
        .load(conn)?)
}

/// One page of people, in login order, with their gists' delivery counts.
///
/// Two fixed-shape statements (so both are prepared once per connection): the page itself,
/// then the counts for the contiguous range of logins the page spans.
pub fn page_with_counts(conn: &mut DbConnection, page: Page) -> Result<Vec<(Person, GistCounts)>> {
    let rows: Vec<Person> = match &page {
        Page::Offset { offset, limit } => crate::on_backend!(conn, |c| people::table
            .order(people::github_login_key.asc())
            .select(Person::as_select())
            .limit(*limit)
            .offset(*offset)
            .load(c))?,
        Page::After { key, limit } => crate::on_backend!(conn, |c| people::table
            .filter(people::github_login_key.gt(key))
            .order(people::github_login_key.asc())
            .select(Person::as_select())
            .limit(*limit)
            .load(c))?,
    };
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(Vec::new());
    };
    let (first, last) = (
        first.github_login_key.clone(),
        last.github_login_key.clone(),
    );
    let counts: Vec<(PersonId, String, i64)> = crate::on_backend!(conn, |c| gists::table
        .inner_join(people::table)
        .filter(people::github_login_key.between(&first, &last))
        .group_by((gists::person_id, gists::delivery_state))
        .select((
            gists::person_id,
            gists::delivery_state,
            diesel::dsl::count_star()
        ))
        .load(c))?;
    let mut counts = super::gists::fold_counts(counts.into_iter());
    Ok(rows
        .into_iter()
        .map(|person| {
            let own = counts.remove(&person.id).unwrap_or_default();
            (person, own)
        })
        .collect())
}

pub fn count(conn: &mut DbConnection) -> Result<i64> {
    Ok(crate::on_backend!(conn, |c| people::table
        .count()
        .get_result(c))?)
}

/// Stops tracking: removes the person's files, gists and row in one transaction. Returns
/// false when the person was already gone (a concurrent delete won).
pub fn delete(conn: &mut DbConnection, person_id: PersonId) -> Result<bool> {
    conn.transaction(|conn| {
        let person_gists = gists::table
            .filter(gists::person_id.eq(person_id))
            .select(gists::id);
        diesel::delete(gist_files::table.filter(gist_files::gist_id.eq_any(person_gists)))
            .execute(conn)?;
        diesel::delete(gists::table.filter(gists::person_id.eq(person_id))).execute(conn)?;
        Ok(diesel::delete(people::table.find(person_id)).execute(conn)? == 1)
    })
}

/// Counts `n` gists first seen at `first_seen_at` into the person's `new_count` when they are
/// new to the person's viewer (no visit yet, or the last one before them). Call in the
/// transaction that inserts them, after the person's row was written (locked) in it.
pub fn add_new(
    conn: &mut DbConnection,
    person_id: PersonId,
    n: i64,
    first_seen_at: i64,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    diesel::update(
        people::table.find(person_id).filter(
            people::last_visited_at
                .is_null()
                .or(people::last_visited_at.lt(first_seen_at)),
        ),
    )
    .set(people::new_count.eq(people::new_count + n))
    .execute(conn)?;
    Ok(())
}

/// The person's gists first seen after `at`, counted in the statement that moves their last
/// visit to `at` (usually none: only a gist stamped by a clock ahead of this one).
macro_rules! new_after {
    ($at:expr) => {
        gists::table
            .filter(gists::person_id.eq(people::id))
            .filter(gists::first_seen_at.gt($at))
            .count()
            .single_value()
            .assume_not_null()
    };
}

/// Records a visit at `now` if the person's last visit is still `last_seen` (what the caller
/// read): true when it was, so the gists new since `last_seen` are exactly the visit's. One
/// statement, no transaction: a visit that came in between makes it false (read again).
pub fn record_visit_after(
    conn: &mut DbConnection,
    person_id: PersonId,
    last_seen: Option<i64>,
    new_seen: i64,
    now: i64,
) -> Result<bool> {
    // The new count read with the view too: a listing that committed between the read and
    // this write found gists the view did not show, and bumped it; the visit then reads again
    // rather than mark them seen unshown.
    let target = people::table
        .find(person_id)
        .filter(people::new_count.eq(new_seen));
    let set = (
        people::previous_visited_at.eq(people::last_visited_at),
        people::last_visited_at.eq(now),
        people::new_count.eq(new_after!(now)),
    );
    let changed = crate::on_backend!(conn, |c| match last_seen {
        Some(last) => diesel::update(target.filter(people::last_visited_at.eq(last)))
            .set(set)
            .execute(c),
        None => diesel::update(target.filter(people::last_visited_at.is_null()))
            .set(set)
            .execute(c),
    })?;
    Ok(changed == 1)
}

/// Records a visit at `now` and returns the person as it now stands: its
/// `previous_visited_at` is the visit before this one, the boundary of "new since last visit".
/// A single UPDATE shifts both columns, so two visits at once each get a distinct window.
/// `None` when the person was deleted meanwhile.
pub fn record_visit(
    conn: &mut DbConnection,
    person_id: PersonId,
    now: i64,
) -> Result<Option<Person>> {
    conn.transaction(|conn| {
        diesel::update(people::table.find(person_id))
            .set((
                people::previous_visited_at.eq(people::last_visited_at),
                people::last_visited_at.eq(now),
                people::new_count.eq(new_after!(now)),
            ))
            .execute(conn)?;
        Ok(people::table
            .find(person_id)
            .select(Person::as_select())
            .first(conn)
            .optional()?)
    })
}

/// What one look at the person's Pipedrive person found: its owner and organization, and
/// when its activities were read. Written only while `owner` holds the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Looked<'a> {
    pub owner_id: Option<PipedriveUserId>,
    pub owner_name: Option<&'a str>,
    pub org_id: Option<PipedriveOrgId>,
    pub activities_looked_at: i64,
}

/// Records a look (see [`Looked`]); false when the lease was lost.
pub fn record_look(
    conn: &mut DbConnection,
    person_id: PersonId,
    lease_owner: &str,
    looked: &Looked<'_>,
) -> Result<bool> {
    let changed = diesel::update(held(person_id, lease_owner))
        .set((
            people::pipedrive_owner_id.eq(looked.owner_id),
            people::pipedrive_owner_name.eq(looked.owner_name),
            people::pipedrive_org_id.eq(looked.org_id),
            people::activities_looked_at.eq(looked.activities_looked_at),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Makes the next look at the person's activities go back at least to `since` (it asks for
/// what changed after its last look: a look that saw markers of gists not yet known here must
/// see them again once they are).
pub fn look_back_to(conn: &mut DbConnection, person_id: PersonId, since: i64) -> Result<()> {
    diesel::update(
        people::table
            .find(person_id)
            .filter(people::activities_looked_at.gt(since)),
    )
    .set(people::activities_looked_at.eq(since))
    .execute(conn)?;
    Ok(())
}

/// Makes the next look at these people (everyone, without ids) read their activities in full.
pub fn look_in_full(conn: &mut DbConnection, ids: Option<&[PersonId]>) -> Result<usize> {
    let none = people::activities_looked_at.eq(None::<i64>);
    match ids {
        None => Ok(diesel::update(people::table).set(none).execute(conn)?),
        Some(ids) => {
            let mut changed = 0;
            for chunk in ids.chunks(500) {
                changed += diesel::update(people::table.filter(people::id.eq_any(chunk)))
                    .set(none)
                    .execute(conn)?;
            }
            Ok(changed)
        }
    }
}

/// Links the person to another Pipedrive person (a merge's survivor, or one chosen by
/// `relink`): linked again, and that person's activities are read in full at the next look.
/// Only while `lease_owner` holds the lease.
pub fn relink(
    conn: &mut DbConnection,
    person_id: PersonId,
    lease_owner: &str,
    pipedrive_id: PipedrivePersonId,
) -> Result<bool> {
    let changed = diesel::update(held(person_id, lease_owner))
        .set((
            people::pipedrive_person_id.eq(pipedrive_id),
            people::unlinked_at.eq(None::<i64>),
            people::activities_looked_at.eq(None::<i64>),
            people::pipedrive_owner_id.eq(None::<PipedriveUserId>),
            people::pipedrive_owner_name.eq(None::<String>),
            people::pipedrive_org_id.eq(None::<PipedriveOrgId>),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// The person's Pipedrive person is gone and no survivor was found: nothing is sent for
/// them until they are relinked. Only while `lease_owner` holds the lease.
pub fn unlink(
    conn: &mut DbConnection,
    person_id: PersonId,
    lease_owner: &str,
    at: i64,
) -> Result<bool> {
    let changed = diesel::update(held(person_id, lease_owner))
        .set(people::unlinked_at.eq(at))
        .execute(conn)?;
    Ok(changed == 1)
}

/// The GitHub account a Pipedrive person stands for here: tracked, or tracked before.
pub fn account_linked_to(
    conn: &mut DbConnection,
    pipedrive_id: PipedrivePersonId,
) -> Result<Option<GithubUserId>> {
    use super::schema::departed_people;
    let tracked: Option<Option<GithubUserId>> = people::table
        .filter(people::pipedrive_person_id.eq(pipedrive_id))
        .select(people::github_id)
        .first(conn)
        .optional()?;
    if let Some(account) = tracked.flatten() {
        return Ok(Some(account));
    }
    Ok(departed_people::table
        .filter(departed_people::pipedrive_person_id.eq(pipedrive_id))
        .select(departed_people::github_id)
        .first(conn)
        .optional()?)
}

/// Who other than `except` a Pipedrive person stands for, in words: the tracked user
/// linked to it, or a user no longer tracked whose person it was (a re-add takes it back).
pub fn stands_for_another(
    conn: &mut DbConnection,
    pipedrive_id: PipedrivePersonId,
    except: &Person,
) -> Result<Option<String>> {
    use super::schema::departed_people;
    let tracked: Option<String> = people::table
        .filter(people::pipedrive_person_id.eq(pipedrive_id))
        .filter(people::id.ne(except.id))
        .select(people::github_login)
        .first(conn)
        .optional()?;
    if tracked.is_some() {
        return Ok(tracked);
    }
    let departed: Option<GithubUserId> = departed_people::table
        .filter(departed_people::pipedrive_person_id.eq(pipedrive_id))
        .select(departed_people::github_id)
        .first(conn)
        .optional()?;
    Ok(departed
        .filter(|account| Some(*account) != except.github_id)
        .map(|account| format!("GitHub user #{account}, tracked before and kept for a re-add")))
}

/// How many people are unlinked (for `doctor`).
pub fn count_unlinked(conn: &mut DbConnection) -> Result<i64> {
    Ok(people::table
        .filter(people::unlinked_at.is_not_null())
        .count()
        .get_result(conn)?)
}

/// Follows a GitHub rename: the account kept its numeric id but has a new login.
pub fn rename(conn: &mut DbConnection, person_id: PersonId, login: &Login) -> Result<()> {
    diesel::update(people::table.find(person_id))
        .set((
            people::github_login.eq(login.as_str()),
            people::github_login_key.eq(login.key()),
            people::gists_etag.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Who asks for a lease, until when, and on what terms.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub owner: &'a str,
    pub now: i64,
    pub ttl_ms: i64,
    /// Refuse when another process already synced the person after this time.
    pub not_synced_since: Option<i64>,
    /// A holder known to be dead (a local process that no longer runs): taken over at once.
    pub dead_owner: Option<&'a str>,
}

/// Claims the person for `claim.owner` until `now + ttl`, unless another live owner holds it
/// or (with `not_synced_since`) another process already synced it during this pass.
/// Returns whether this owner now holds the lease.
pub fn claim(conn: &mut DbConnection, person_id: PersonId, claim: &Claim<'_>) -> Result<bool> {
    Ok(claim_many(conn, &[person_id], claim)? == 1)
}

/// [`claim`] for many people in one statement: those free (and, with `not_synced_since`, not
/// synced since) become this owner's. Read the rows back to learn which.
pub fn claim_many(conn: &mut DbConnection, ids: &[PersonId], claim: &Claim<'_>) -> Result<usize> {
    let Claim {
        owner,
        now,
        ttl_ms,
        not_synced_since,
        dead_owner,
    } = *claim;
    let free = people::lease_owner
        .is_null()
        .or(people::lease_expires_at.lt(now))
        .or(people::lease_owner.eq(owner))
        .or(people::lease_owner.eq(dead_owner.unwrap_or(owner)));
    let not_synced = people::last_synced_at
        .is_null()
        // At the pass's very start still counts as before it: an earlier pass of the same
        // process may end within the millisecond this one starts.
        .or(people::last_synced_at.le(not_synced_since.unwrap_or(i64::MAX)));
    Ok(diesel::update(
        people::table
            .filter(people::id.eq_any(ids))
            .filter(free)
            .filter(not_synced),
    )
    .set((
        people::lease_owner.eq(owner),
        people::lease_expires_at.eq(now + ttl_ms),
    ))
    .execute(conn)?)
}

/// Extends a lease this owner holds; false when it was lost (expired and taken).
pub fn renew(
    conn: &mut DbConnection,
    person_id: PersonId,
    owner: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<bool> {
    let changed = diesel::update(held(person_id, owner))
        .set(people::lease_expires_at.eq(now + ttl_ms))
        .execute(conn)?;
    Ok(changed == 1)
}

pub fn release(conn: &mut DbConnection, person_id: PersonId, owner: &str) -> Result<()> {
    diesel::update(held(person_id, owner))
        .set((
            people::lease_owner.eq(None::<String>),
            people::lease_expires_at.eq(None::<i64>),
        ))
        .execute(conn)?;
    Ok(())
}

/// An unchanged listing with nothing to deliver, in one statement: the sync time recorded
/// and the lease released, while `owner` holds it. False when the lease was lost.
pub fn mark_listed_and_release(
    conn: &mut DbConnection,
    person_id: PersonId,
    owner: &str,
    now: i64,
) -> Result<bool> {
    let changed = diesel::update(held(person_id, owner))
        .set((
            people::last_synced_at.eq(now),
            people::lease_owner.eq(None::<String>),
            people::lease_expires_at.eq(None::<i64>),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// The person's row while `owner` holds its lease: what every write under a lease targets,
/// so a process that lost its lease changes nothing.
fn held(
    person_id: PersonId,
    owner: &str,
) -> diesel::dsl::Filter<
    diesel::dsl::Find<people::table, PersonId>,
    diesel::dsl::Eq<people::lease_owner, &str>,
> {
    people::table
        .find(person_id)
        .filter(people::lease_owner.eq(owner))
}

/// Releases every lease this owner holds (shutdown).
pub fn release_all(conn: &mut DbConnection, owner: &str) -> Result<usize> {
    Ok(
        diesel::update(people::table.filter(people::lease_owner.eq(owner)))
            .set((
                people::lease_owner.eq(None::<String>),
                people::lease_expires_at.eq(None::<i64>),
            ))
            .execute(conn)?,
    )
}

/// Marks a successful listing: stores the new ETag (or keeps the old one after a 304) and
/// the sync time, only while `owner` holds the lease. It is the first write of the discovery
/// transaction, so SQLite takes its write lock here.
pub fn mark_listed(
    conn: &mut DbConnection,
    person_id: PersonId,
    owner: &str,
    etag: Option<&str>,
    now: i64,
) -> Result<bool> {
    let target = held(person_id, owner);
    let changed = match etag {
        Some(etag) => diesel::update(target)
            .set((people::gists_etag.eq(etag), people::last_synced_at.eq(now)))
            .execute(conn)?,
        None => diesel::update(target)
            .set(people::last_synced_at.eq(now))
            .execute(conn)?,
    };
    Ok(changed == 1)
}
