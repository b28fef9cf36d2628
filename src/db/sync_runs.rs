//! The `sync_runs` table: one row per sync pass, its trigger, counts and errors.

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::schema::sync_runs;
use super::DbConnection;
use crate::error::Result;

/// What started a pass.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow, Serialize, ToSchema,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    /// `gisttrack sync`.
    Cli,
    /// The serve loop's interval.
    Loop,
    /// `POST /api/v1/sync`.
    Api,
    /// The serve loop, for deliveries whose earlier attempt has settled since the last pass.
    FollowUp,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Cli => "cli",
            RunTrigger::Loop => "loop",
            RunTrigger::Api => "api",
            RunTrigger::FollowUp => "follow_up",
        }
    }

    pub fn from_name(name: &str) -> Option<RunTrigger> {
        [
            RunTrigger::Cli,
            RunTrigger::Loop,
            RunTrigger::Api,
            RunTrigger::FollowUp,
        ]
        .into_iter()
        .find(|t| t.as_str() == name)
    }
}

super::text_enum::text_enum_sql!(RunTrigger, "sync run trigger");

/// What one pass did, counted once and stored in full.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    ToSchema,
    Queryable,
    Selectable,
    AsChangeset,
)]
#[diesel(table_name = sync_runs)]
pub struct RunCounts {
    pub users_checked: i32,
    /// Users whose gist list had not changed (a free 304).
    pub users_unchanged: i32,
    /// Users another process was syncing, or had just synced, during this pass.
    pub users_skipped: i32,
    pub new_gists: i32,
    pub activities_created: i32,
    /// Deliveries found already done in Pipedrive (a lost answer, the person's history) and
    /// recorded, not sent again.
    pub activities_reconciled: i32,
    /// Deliveries whose earlier attempt may still land: left alone until it no longer can.
    pub deliveries_waiting: i32,
    /// Failed deliveries and users that could not be synced; later passes retry them.
    pub failed: i32,
    /// Users whose Pipedrive person was found merged into another, and followed there.
    pub users_relinked: i32,
    /// Users whose Pipedrive person was found deleted with no survivor: nothing is sent for
    /// them until they are relinked. Counted in the pass that found it.
    pub users_unlinked: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sync_runs)]
pub struct SyncRun {
    pub id: i64,
    pub trigger_kind: RunTrigger,
    /// The process that ran the pass, as leases name it: `host/pid/start-ms/machine`.
    pub owner: String,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds; null while the pass runs (or if its process died).
    pub finished_at: Option<i64>,
    #[diesel(embed)]
    pub counts: RunCounts,
    pub error_summary: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = sync_runs)]
struct NewRun<'a> {
    trigger_kind: RunTrigger,
    owner: &'a str,
    started_at: i64,
}

/// Opens a run row and returns its id.
pub fn start(conn: &mut DbConnection, trigger: RunTrigger, owner: &str, now: i64) -> Result<i64> {
    diesel::insert_into(sync_runs::table)
        .values(&NewRun {
            trigger_kind: trigger,
            owner,
            started_at: now,
        })
        .execute(conn)?;
    super::last_insert_id(conn)
}

/// Closes a run with what it did; `error_summary` is every failure, one per line.
pub fn finish(
    conn: &mut DbConnection,
    run_id: i64,
    counts: RunCounts,
    error_summary: Option<&str>,
    now: i64,
) -> Result<()> {
    diesel::update(sync_runs::table.find(run_id))
        .set((
            sync_runs::finished_at.eq(now),
            counts,
            sync_runs::error_summary.eq(error_summary),
        ))
        .execute(conn)?;
    Ok(())
}

/// Runs still open: `(id, owner)`, oldest first.
pub fn open_runs(conn: &mut DbConnection) -> Result<Vec<(i64, String)>> {
    Ok(sync_runs::table
        .filter(sync_runs::finished_at.is_null())
        .order(sync_runs::id.asc())
        .select((sync_runs::id, sync_runs::owner))
        .load(conn)?)
}

/// Closes runs whose pass ended without recording its outcome (its process died, or the
/// database was away when it ended), so none stays "running" forever.
pub fn close_abandoned(conn: &mut DbConnection, run_ids: &[i64], now: i64) -> Result<usize> {
    if run_ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::update(
        sync_runs::table
            .filter(sync_runs::id.eq_any(run_ids))
            .filter(sync_runs::finished_at.is_null()),
    )
    .set((
        sync_runs::finished_at.eq(now),
        sync_runs::error_summary.eq("the pass ended without recording its outcome"),
    ))
    .execute(conn)?)
}

/// Whether the run before `run_id` (the latest finished one, of any process) ended with
/// failures.
pub fn previous_failed(conn: &mut DbConnection, run_id: i64) -> Result<bool> {
    let previous: Option<(i32, Option<String>)> = sync_runs::table
        .filter(sync_runs::id.lt(run_id))
        .filter(sync_runs::finished_at.is_not_null())
        .order(sync_runs::id.desc())
        .select((sync_runs::failed, sync_runs::error_summary))
        .first(conn)
        .optional()?;
    Ok(previous.is_some_and(|(failed, summary)| failed > 0 || summary.is_some()))
}

/// The most recent runs, newest first.
pub fn recent(conn: &mut DbConnection, limit: i64) -> Result<Vec<SyncRun>> {
    Ok(sync_runs::table
        .order(sync_runs::id.desc())
        .limit(limit)
        .select(SyncRun::as_select())
        .load(conn)?)
}
