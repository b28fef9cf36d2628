//! The `gists` and `gist_files` tables: the delivery ledger, one row per (person, GitHub gist).
//! Only storage: what a listing means for the ledger is decided in `sync::plan`.

use std::collections::HashMap;

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::schema::{gist_files, gists};
use super::DbConnection;
use crate::clients::{GistId, GithubUrl};
use crate::error::{Error, Result};
use crate::ids::{ActivityId, GistRowId, PersonId};

/// Where a gist stands on its way to becoming one Pipedrive activity.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    diesel::AsExpression,
    diesel::FromSqlRow,
    serde::Serialize,
    utoipa::ToSchema,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its activity.
    Pending,
    /// A request is (or was, when a process died) under way; it is left alone until it can
    /// no longer land, then reconciled before any resend.
    Sending,
    /// The activity exists; its id is recorded.
    Delivered,
    /// The last attempt failed; retried after `next_attempt_at`.
    Failed,
    /// Existed before the user was added without backfill: never delivered.
    Skipped,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 5] = [
        DeliveryState::Pending,
        DeliveryState::Sending,
        DeliveryState::Delivered,
        DeliveryState::Failed,
        DeliveryState::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Skipped => "skipped",
        }
    }

    /// The state a stored name stands for; `None` for a name this version does not know.
    pub fn from_name(name: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

super::text_enum::text_enum_sql!(DeliveryState, "delivery state");
// Only checked values are written, and a value that is not one is never read as one.
super::text_enum::text_enum_sql!(GistId, "gist id", GistId::from_stored);
super::text_enum::text_enum_sql!(GithubUrl, "gist link", GithubUrl::from_stored);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = gists)]
pub struct Gist {
    pub id: GistRowId,
    pub person_id: PersonId,
    pub github_gist_id: GistId,
    pub description: Option<String>,
    pub html_url: GithubUrl,
    pub pull_url: GithubUrl,
    pub github_created_at: i64,
    pub github_updated_at: i64,
    pub first_seen_at: i64,
    pub delivery_state: DeliveryState,
    pub activity_id: Option<ActivityId>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub attempt_started_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = gist_files)]
pub struct GistFile {
    pub id: i64,
    pub gist_id: GistRowId,
    pub name: String,
    pub raw_url: Option<GithubUrl>,
    pub language: Option<String>,
    pub size: i64,
}

/// A gist as the ledger records it from a listing: the store's own input, whatever client
/// the listing came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GistContent<'a> {
    pub github_gist_id: &'a GistId,
    pub description: Option<&'a str>,
    pub html_url: &'a GithubUrl,
    pub pull_url: &'a GithubUrl,
    /// Unix ms.
    pub created_at: i64,
    pub updated_at: i64,
    pub files: Vec<FileContent<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent<'a> {
    pub name: &'a str,
    pub raw_url: Option<&'a GithubUrl>,
    pub language: Option<&'a str>,
    pub size: i64,
}

/// What the ledger knows of a gist that a new listing could change.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = gists)]
pub struct KnownGist {
    pub id: GistRowId,
    pub github_gist_id: GistId,
    #[diesel(column_name = github_updated_at)]
    pub updated_at: i64,
    pub description: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = gists)]
struct NewGist<'a> {
    person_id: PersonId,
    github_gist_id: &'a GistId,
    description: Option<&'a str>,
    html_url: &'a GithubUrl,
    pull_url: &'a GithubUrl,
    github_created_at: i64,
    github_updated_at: i64,
    first_seen_at: i64,
    delivery_state: DeliveryState,
    attempts: i32,
}

#[derive(Insertable)]
#[diesel(table_name = gist_files)]
struct NewGistFile<'a> {
    gist_id: GistRowId,
    name: &'a str,
    raw_url: Option<&'a GithubUrl>,
    language: Option<&'a str>,
    size: i64,
}

/// Per-person counts for `list`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GistCounts {
    pub known: i64,
    pub pending: i64,
    pub failed: i64,
}

/// The person's gists as far as a listing can change them.
pub fn known(conn: &mut DbConnection, person_id: PersonId) -> Result<Vec<KnownGist>> {
    Ok(gists::table
        .filter(gists::person_id.eq(person_id))
        .select(KnownGist::as_select())
        .load(conn)?)
}

/// Records gists seen for the first time, each in the state it starts in, with its files.
/// Call inside the transaction that stores the listing's ETag.
pub fn insert_new(
    conn: &mut DbConnection,
    person_id: PersonId,
    new: &[(GistContent<'_>, DeliveryState)],
    first_seen_at: i64,
) -> Result<()> {
    // One statement per row: multi-row inserts are not portable through the MultiConnection.
    for (gist, state) in new {
        diesel::insert_into(gists::table)
            .values(&NewGist {
                person_id,
                github_gist_id: gist.github_gist_id,
                description: gist.description,
                html_url: gist.html_url,
                pull_url: gist.pull_url,
                github_created_at: gist.created_at,
                github_updated_at: gist.updated_at,
                first_seen_at,
                delivery_state: *state,
                attempts: 0,
            })
            .execute(conn)?;
    }
    let mut ids: HashMap<String, GistRowId> = HashMap::new();
    for chunk in new.chunks(500) {
        let gist_ids: Vec<&str> = chunk
            .iter()
            .map(|(g, _)| g.github_gist_id.as_str())
            .collect();
        ids.extend(
            gists::table
                .filter(gists::person_id.eq(person_id))
                .filter(gists::github_gist_id.eq_any(gist_ids))
                .select((gists::github_gist_id, gists::id))
                .load::<(String, GistRowId)>(conn)?,
        );
    }
    for (gist, _) in new {
        if let Some(id) = ids.get(gist.github_gist_id.as_str()) {
            insert_files(conn, *id, &gist.files)?;
        }
    }
    Ok(())
}

/// Refreshes a known gist's description, URLs, update time and files: an edit, never a
/// second delivery.
pub fn refresh(conn: &mut DbConnection, id: GistRowId, gist: &GistContent<'_>) -> Result<()> {
    diesel::update(gists::table.find(id))
        .set((
            gists::description.eq(gist.description),
            gists::html_url.eq(gist.html_url),
            gists::pull_url.eq(gist.pull_url),
            gists::github_updated_at.eq(gist.updated_at),
        ))
        .execute(conn)?;
    diesel::delete(gist_files::table.filter(gist_files::gist_id.eq(id))).execute(conn)?;
    insert_files(conn, id, &gist.files)
}

fn insert_files(
    conn: &mut DbConnection,
    gist_id: GistRowId,
    files: &[FileContent<'_>],
) -> Result<()> {
    for file in files {
        diesel::insert_into(gist_files::table)
            .values(&NewGistFile {
                gist_id,
                name: file.name,
                raw_url: file.raw_url,
                language: file.language,
                size: file.size,
            })
            .execute(conn)?;
    }
    Ok(())
}

/// The person's gists, newest first; with `first_seen_after`, only those first seen later.
/// Both statements have a fixed shape, so Diesel prepares them once per connection.
pub fn list_for_person(
    conn: &mut DbConnection,
    person_id: PersonId,
    first_seen_after: Option<i64>,
) -> Result<Vec<(Gist, Vec<GistFile>)>> {
    let after = first_seen_after.unwrap_or(i64::MIN);
    let loaded: Result<(Vec<Gist>, Vec<GistFile>)> = crate::on_backend!(conn, |c| (|| {
        let rows = gists::table
            .filter(gists::person_id.eq(person_id))
            .filter(gists::first_seen_at.gt(after))
            .order((
                gists::first_seen_at.desc(),
                gists::github_created_at.desc(),
                gists::id.desc(),
            ))
            .select(Gist::as_select())
            .load(c)?;
        if rows.is_empty() {
            // The usual answer to "anything new?": no need to ask for files.
            return Ok((rows, Vec::new()));
        }
        let files = gist_files::table
            .inner_join(gists::table)
            .filter(gists::person_id.eq(person_id))
            .filter(gists::first_seen_at.gt(after))
            .order((gist_files::gist_id.asc(), gist_files::name.asc()))
            .select(GistFile::as_select())
            .load(c)?;
        Ok((rows, files))
    })());
    let (rows, file_rows) = loaded.map_err(|err| name_unreadable_row(conn, person_id, err))?;
    Ok(pair_with_files(rows, file_rows))
}

/// Which of a person's gists [`person_view`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// First seen since the person's last visit (every gist before the first visit).
    NewSinceVisit,
    All,
}

/// A person as [`person_view`] reads them: the row, their delivery counts and the gists asked
/// for, newest first, each with its files.
#[derive(Debug, Clone)]
pub struct PersonView {
    pub person: super::people::Person,
    pub counts: GistCounts,
    pub gists: Vec<(Gist, Vec<GistFile>)>,
}

diesel::alias!(gists as counted: CountedGists);

/// The person's gists counted in a subquery of the row that reads them, where `$state`
/// holds (one round trip for the row, its counts and its gists).
macro_rules! counted {
    ($($state:expr)?) => {
        counted
            .filter(counted.field(gists::person_id).eq(people::id))
            $(.filter($state))?
            .count()
            .single_value()
            .assume_not_null()
    };
}

/// The person with this login key, their delivery counts and the gists asked for, in ONE
/// statement: the person's row left-joined to their gists and those gists' files, the counts
/// as subqueries of it. On MySQL that is one round trip (the three statements it replaces
/// were three, four with files); the statement has a fixed shape per `which`, so it is
/// prepared once per connection. `None`: not tracked.
pub fn person_view(
    conn: &mut DbConnection,
    login_key: &str,
    which: Which,
) -> Result<Option<PersonView>> {
    use super::people::Person;
    use super::schema::people;
    type Row = (Person, (i64, i64, i64), Option<Gist>, Option<GistFile>);
    let state = counted.field(gists::delivery_state);
    macro_rules! read {
        ($c:expr, $joined:expr) => {
            people::table
                .left_join(gists::table.on($joined))
                .left_join(gist_files::table.on(gist_files::gist_id.eq(gists::id)))
                .filter(people::github_login_key.eq(login_key))
                .select((
                    Person::as_select(),
                    (
                        counted!(),
                        counted!(state
                            .eq(DeliveryState::Pending)
                            .or(state.eq(DeliveryState::Sending))),
                        counted!(state.eq(DeliveryState::Failed)),
                    ),
                    Option::<Gist>::as_select(),
                    Option::<GistFile>::as_select(),
                ))
                .load::<Row>($c)
        };
    }
    let loaded: std::result::Result<Vec<Row>, _> = crate::on_backend!(conn, |c| match which {
        Which::NewSinceVisit => read!(
            c,
            gists::person_id.eq(people::id).and(
                people::last_visited_at
                    .is_null()
                    .or(gists::first_seen_at.nullable().gt(people::last_visited_at))
            )
        ),
        Which::All => read!(c, gists::person_id.eq(people::id)),
    });
    let rows = match loaded {
        Ok(rows) => rows,
        Err(err) => {
            // Name the row that could not be read (see `name_unreadable_row`).
            let person = people::table
                .filter(people::github_login_key.eq(login_key))
                .select(people::id)
                .first::<PersonId>(conn)
                .optional()?;
            return Err(match person {
                Some(id) => name_unreadable_row(conn, id, err),
                None => err.into(),
            });
        }
    };
    let mut rows = rows.into_iter();
    let Some((person, (known, pending, failed), gist, file)) = rows.next() else {
        return Ok(None);
    };
    // Newest first, each gist's files by name: ordered here, since an ORDER BY over the join
    // makes MySQL build a temporary table for a handful of rows (half the statement's time).
    let mut pairs: Vec<(Gist, Option<GistFile>)> = std::iter::once((gist, file))
        .chain(rows.map(|(_, _, gist, file)| (gist, file)))
        .filter_map(|(gist, file)| Some((gist?, file)))
        .collect();
    pairs.sort_by(|(a, a_file), (b, b_file)| {
        (b.first_seen_at, b.github_created_at, b.id.0)
            .cmp(&(a.first_seen_at, a.github_created_at, a.id.0))
            .then_with(|| file_name(a_file).cmp(&file_name(b_file)))
    });
    let mut gists: Vec<(Gist, Vec<GistFile>)> = Vec::new();
    for (gist, file) in pairs {
        match gists.last_mut() {
            Some((last, files)) if last.id == gist.id => files.extend(file),
            _ => gists.push((gist, file.into_iter().collect())),
        }
    }
    Ok(Some(PersonView {
        person,
        counts: GistCounts {
            known,
            pending,
            failed,
        },
        gists,
    }))
}

fn file_name(file: &Option<GistFile>) -> Option<&str> {
    file.as_ref().map(|f| f.name.as_str())
}

/// Gives each gist its files (which arrive in gist, then name, order).
fn pair_with_files(rows: Vec<Gist>, files: Vec<GistFile>) -> Vec<(Gist, Vec<GistFile>)> {
    let mut by_gist: HashMap<GistRowId, Vec<GistFile>> = HashMap::new();
    for file in files {
        by_gist.entry(file.gist_id).or_default().push(file);
    }
    rows.into_iter()
        .map(|gist| {
            let own = by_gist.remove(&gist.id).unwrap_or_default();
            (gist, own)
        })
        .collect()
}

/// Attaches each gist's files, in name order.
pub fn with_files(conn: &mut DbConnection, rows: Vec<Gist>) -> Result<Vec<(Gist, Vec<GistFile>)>> {
    let ids: Vec<GistRowId> = rows.iter().map(|g| g.id).collect();
    let mut files = Vec::new();
    for chunk in ids.chunks(500) {
        files.extend(
            gist_files::table
                .filter(gist_files::gist_id.eq_any(chunk))
                .order((gist_files::gist_id.asc(), gist_files::name.asc()))
                .select(GistFile::as_select())
                .load(conn)?,
        );
    }
    Ok(pair_with_files(rows, files))
}

/// Which of these people have a gist not yet delivered or skipped: the only ones a pass
/// needs to look at for deliveries (the rest, with an unchanged listing, are done at once).
pub fn people_with_unfinished(
    conn: &mut DbConnection,
    ids: &[PersonId],
) -> Result<std::collections::HashSet<PersonId>> {
    let unfinished =
        gists::delivery_state.ne_all([DeliveryState::Delivered, DeliveryState::Skipped]);
    Ok(gists::table
        .filter(gists::person_id.eq_any(ids))
        .filter(unfinished)
        .select(gists::person_id)
        .distinct()
        .load::<PersonId>(conn)?
        .into_iter()
        .collect())
}

/// Gists that may need a delivery attempt now: pending, `sending` (an attempt under way, or
/// left by a process that died: the caller decides whether it can still land), or failed and
/// due for retry (or all failed ones when `retry_failed_now`). Oldest first. A row whose
/// state cannot be read is an error naming it.
pub fn due_for_delivery(
    conn: &mut DbConnection,
    person_id: PersonId,
    now: i64,
    retry_failed_now: bool,
) -> Result<Vec<Gist>> {
    // Everything not finished, so a row in a state this version does not know is read, and
    // reported by name, rather than silently never delivered.
    let unfinished =
        gists::delivery_state.ne_all([DeliveryState::Delivered, DeliveryState::Skipped]);
    let not_resting = gists::delivery_state
        .ne(DeliveryState::Failed)
        .or(gists::next_attempt_at.le(now));
    let query = gists::table
        .filter(gists::person_id.eq(person_id))
        .order((gists::github_created_at.asc(), gists::id.asc()))
        .select(Gist::as_select());
    let loaded = if retry_failed_now {
        query.filter(unfinished).load(conn)
    } else {
        query.filter(unfinished.and(not_resting)).load(conn)
    };
    loaded.map_err(|err| name_unreadable_row(conn, person_id, err))
}

/// Turns "a row could not be read" into an error naming the gist and the value, so a ledger
/// written by a newer version (or edited by hand) is reported, and nothing is sent for it.
fn name_unreadable_row(
    conn: &mut DbConnection,
    person_id: PersonId,
    err: impl Into<Error>,
) -> Error {
    let err = err.into();
    if !matches!(
        err,
        Error::Database(diesel::result::Error::DeserializationError(_))
    ) {
        return err;
    }
    let odd = gists::table
        .filter(gists::person_id.eq(person_id))
        .select((gists::github_gist_id, gists::delivery_state))
        .load::<(String, String)>(conn)
        .ok()
        .and_then(|rows| {
            rows.into_iter()
                .find(|(_, state)| DeliveryState::from_name(state).is_none())
        });
    match odd {
        Some((gist, state)) => Error::UnknownDeliveryState { gist, state },
        None => err,
    }
}

/// A delivery attempt about to be sent, and the ledger row as it was decided from.
#[derive(Debug, Clone, Copy)]
pub struct NewAttempt<'a> {
    pub gist: GistRowId,
    /// The row as the decision to send saw it: changed since, it is left alone.
    pub seen: RowState,
    /// The person whose lease must still be held by `lease_owner`.
    pub person: PersonId,
    pub lease_owner: &'a str,
    pub now: i64,
    /// Until when the request may still land if no answer comes back.
    pub settles_at: i64,
}

/// The fields of a ledger row that decide what a delivery may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = gists, treat_none_as_null = true)]
pub struct RowState {
    #[diesel(column_name = delivery_state)]
    pub state: DeliveryState,
    pub attempts: i32,
    pub attempt_started_at: Option<i64>,
    /// For a failed row its next try; for a `sending` row when it settles.
    pub next_attempt_at: Option<i64>,
}

impl Gist {
    pub fn row_state(&self) -> RowState {
        RowState {
            state: self.delivery_state,
            attempts: self.attempts,
            attempt_started_at: self.attempt_started_at,
            next_attempt_at: self.next_attempt_at,
        }
    }
}

/// Commits "a request is about to be sent" just before it is sent: a crash from then on
/// leaves `sending`, which is not resent before the attempt settles. Marks only a row still
/// as it was seen, for a person whose lease this process still holds, so a decision taken
/// from a stale read, or after the lease passed to another process, sends nothing.
pub fn mark_sending(conn: &mut DbConnection, attempt: &NewAttempt<'_>) -> Result<bool> {
    use super::schema::people;
    let lease_held = diesel::dsl::exists(
        people::table
            .filter(people::id.eq(attempt.person))
            .filter(people::lease_owner.eq(attempt.lease_owner))
            .filter(people::lease_expires_at.gt(attempt.now)),
    );
    let changed = diesel::update(
        gists::table
            .find(attempt.gist)
            .filter(gists::delivery_state.eq(attempt.seen.state))
            .filter(gists::attempts.eq(attempt.seen.attempts))
            .filter(lease_held),
    )
    .set((
        gists::delivery_state.eq(DeliveryState::Sending),
        gists::attempts.eq(gists::attempts + 1),
        gists::attempt_started_at.eq(attempt.now),
        gists::next_attempt_at.eq(attempt.settles_at),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Takes back a mark whose request never left (the client held it for a rate limit): the
/// row is as it was, and a later decision starts from there.
pub fn unmark_sending(conn: &mut DbConnection, gist: GistRowId, back_to: &RowState) -> Result<()> {
    diesel::update(
        gists::table
            .find(gist)
            .filter(gists::delivery_state.eq(DeliveryState::Sending))
            .filter(gists::attempts.eq(back_to.attempts + 1)),
    )
    .set(back_to)
    .execute(conn)?;
    Ok(())
}

/// The service answered the attempt with an error of its own: the request is over, so the
/// row is pending again (attempted before, so it is looked for before it is sent).
pub fn mark_answered(conn: &mut DbConnection, gist: GistRowId, error: &str) -> Result<()> {
    diesel::update(
        gists::table
            .find(gist)
            .filter(gists::delivery_state.eq(DeliveryState::Sending)),
    )
    .set((
        gists::delivery_state.eq(DeliveryState::Pending),
        gists::last_error.eq(error),
        gists::next_attempt_at.eq(None::<i64>),
    ))
    .execute(conn)?;
    Ok(())
}

/// An attempt got no answer (or a gateway's): the row stays `sending`, with why and when it
/// will be reconciled, for `show` and the API.
pub fn mark_unsettled(
    conn: &mut DbConnection,
    gist_id: GistRowId,
    error: &str,
    settles_at: i64,
) -> Result<()> {
    diesel::update(
        gists::table
            .find(gist_id)
            .filter(gists::delivery_state.eq(DeliveryState::Sending)),
    )
    .set((
        gists::last_error.eq(error),
        gists::next_attempt_at.eq(settles_at),
    ))
    .execute(conn)?;
    Ok(())
}

pub fn mark_delivered(
    conn: &mut DbConnection,
    gist: GistRowId,
    activity: ActivityId,
) -> Result<()> {
    diesel::update(gists::table.find(gist))
        .set((
            gists::delivery_state.eq(DeliveryState::Delivered),
            gists::activity_id.eq(activity),
            gists::last_error.eq(None::<String>),
            gists::next_attempt_at.eq(None::<i64>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records the gists whose markers were found on the person's Pipedrive person as delivered
/// to those activities (whatever state the ledger had them in: another install sent them, a
/// restored backup forgot them, an attempt's answer was lost). Returns how many changed.
pub fn mark_found(
    conn: &mut DbConnection,
    person_id: PersonId,
    found: &HashMap<GistId, ActivityId>,
) -> Result<usize> {
    if found.is_empty() {
        return Ok(0);
    }
    let mut changed = 0;
    let ids: Vec<&str> = found.keys().map(GistId::as_str).collect();
    for chunk in ids.chunks(500) {
        let undelivered: Vec<(GistRowId, GistId)> = gists::table
            .filter(gists::person_id.eq(person_id))
            .filter(gists::github_gist_id.eq_any(chunk))
            .filter(gists::delivery_state.ne(DeliveryState::Delivered))
            .select((gists::id, gists::github_gist_id))
            .load(conn)?;
        for (row, gist) in undelivered {
            mark_delivered(conn, row, found[&gist])?;
            changed += 1;
        }
    }
    Ok(changed)
}

pub fn mark_failed(
    conn: &mut DbConnection,
    gist_id: GistRowId,
    error: &str,
    next_attempt_at: i64,
) -> Result<()> {
    diesel::update(gists::table.find(gist_id))
        .set((
            gists::delivery_state.eq(DeliveryState::Failed),
            gists::last_error.eq(error),
            gists::next_attempt_at.eq(next_attempt_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Known / pending / failed counts for one person.
pub fn counts_for(conn: &mut DbConnection, person_id: PersonId) -> Result<GistCounts> {
    let rows: Vec<(String, i64)> = crate::on_backend!(conn, |c| gists::table
        .filter(gists::person_id.eq(person_id))
        .group_by(gists::delivery_state)
        .select((gists::delivery_state, count_star()))
        .load(c))?;
    Ok(
        fold_counts(rows.into_iter().map(|(state, n)| (person_id, state, n)))
            .remove(&person_id)
            .unwrap_or_default(),
    )
}

/// Locks the person's gist rows (a write that changes nothing) inside a transaction that is
/// about to read their states: an attempt's mark (see [`mark_sending`]) then either
/// committed before, and is read, or waits for the transaction and finds its row gone.
pub fn lock_for_person(conn: &mut DbConnection, person_id: PersonId) -> Result<()> {
    diesel::update(gists::table.filter(gists::person_id.eq(person_id)))
        .set(gists::attempts.eq(gists::attempts))
        .execute(conn)?;
    Ok(())
}

/// Until when the person's deliveries still in flight may land: the latest settle time of
/// its `sending` rows (a row recorded without one settles `fallback_bound_ms` after it
/// started). `None` when none is in flight.
pub fn settles_at(
    conn: &mut DbConnection,
    person_id: PersonId,
    fallback_bound_ms: i64,
) -> Result<Option<i64>> {
    let sending: Vec<(Option<i64>, Option<i64>)> = gists::table
        .filter(gists::person_id.eq(person_id))
        .filter(gists::delivery_state.eq(DeliveryState::Sending))
        .select((gists::attempt_started_at, gists::next_attempt_at))
        .load(conn)?;
    Ok(sending
        .into_iter()
        .map(|(started, settles)| settles.unwrap_or(started.unwrap_or(0) + fallback_bound_ms))
        .max())
}

/// Known / pending / failed counts over everyone (for the `/metrics` gauges).
pub fn totals(conn: &mut DbConnection) -> Result<GistCounts> {
    let rows: Vec<(String, i64)> = gists::table
        .group_by(gists::delivery_state)
        .select((gists::delivery_state, count_star()))
        .load(conn)?;
    let all = PersonId(0);
    Ok(
        fold_counts(rows.into_iter().map(|(state, n)| (all, state, n)))
            .remove(&all)
            .unwrap_or_default(),
    )
}

/// Known / pending / failed counts for every person.
pub fn counts(conn: &mut DbConnection) -> Result<HashMap<PersonId, GistCounts>> {
    let rows: Vec<(PersonId, String, i64)> = gists::table
        .group_by((gists::person_id, gists::delivery_state))
        .select((gists::person_id, gists::delivery_state, count_star()))
        .load(conn)?;
    Ok(fold_counts(rows.into_iter()))
}

/// [`counts`] for these people only.
pub fn counts_of(
    conn: &mut DbConnection,
    ids: &[PersonId],
) -> Result<HashMap<PersonId, GistCounts>> {
    let rows: Vec<(PersonId, String, i64)> = gists::table
        .filter(gists::person_id.eq_any(ids))
        .group_by((gists::person_id, gists::delivery_state))
        .select((gists::person_id, gists::delivery_state, count_star()))
        .load(conn)?;
    Ok(fold_counts(rows.into_iter()))
}

/// A gist is new to a person's viewer when it was first seen after their last visit (every
/// gist, before the first visit): what the API's and the dashboard's visits list.
macro_rules! new_since_visit {
    () => {
        people::last_visited_at
            .is_null()
            .or(gists::first_seen_at.nullable().gt(people::last_visited_at))
    };
}

/// How many gists new since the last visit each of these people has (absent: none), counted
/// from the gists: what each person's stored `new_count` must equal.
pub fn new_counts(conn: &mut DbConnection, ids: &[PersonId]) -> Result<HashMap<PersonId, i64>> {
    use super::schema::people;
    Ok(gists::table
        .inner_join(people::table)
        .filter(gists::person_id.eq_any(ids))
        .filter(new_since_visit!())
        .group_by(gists::person_id)
        .select((gists::person_id, count_star()))
        .load::<(PersonId, i64)>(conn)?
        .into_iter()
        .collect())
}

/// Counts read the state as text: one unreadable row must not hide every person's list; it
/// is counted as known, logged, and reported by name where the gist itself is read.
pub(crate) fn fold_counts(
    rows: impl Iterator<Item = (PersonId, String, i64)>,
) -> HashMap<PersonId, GistCounts> {
    let mut counts: HashMap<PersonId, GistCounts> = HashMap::new();
    for (person_id, state, n) in rows {
        let entry = counts.entry(person_id).or_default();
        entry.known += n;
        match DeliveryState::from_name(&state) {
            Some(DeliveryState::Pending | DeliveryState::Sending) => entry.pending += n,
            Some(DeliveryState::Failed) => entry.failed += n,
            Some(DeliveryState::Delivered | DeliveryState::Skipped) => {}
            None => log::warn!(
                "{n} gist(s) of person {person_id} have an unknown delivery state {state:?}"
            ),
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_and_an_unknown_name_is_none() {
        for state in DeliveryState::ALL {
            assert_eq!(DeliveryState::from_name(state.as_str()), Some(state));
        }
        for odd in ["", "Pending", "retrying", "delivered "] {
            assert_eq!(DeliveryState::from_name(odd), None, "{odd:?}");
        }
    }
}
