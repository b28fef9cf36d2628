//! The `sync_runs` table: one row per sync pass, its trigger, counts and errors.

use diesel::prelude::*;

use super::schema::sync_runs;
use super::DbConnection;
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sync_runs)]
pub struct SyncRun {
    pub id: i64,
    /// `cli`, `loop` or `api`.
    pub trigger_kind: String,
    /// The process that ran the pass (host/pid/start).
    pub owner: String,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds; null while the pass runs (or if its process died).
    pub finished_at: Option<i64>,
    pub users_checked: i32,
    pub users_unchanged: i32,
    pub new_gists: i32,
    pub activities_created: i32,
    pub failures: i32,
    pub error_summary: Option<String>,
}

/// The figures written when a pass ends.
#[derive(Debug, Clone, Default)]
pub struct RunTotals {
    pub users_checked: i32,
    pub users_unchanged: i32,
    pub new_gists: i32,
    pub activities_created: i32,
    pub failures: i32,
    pub error_summary: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = sync_runs)]
struct NewRun<'a> {
    trigger_kind: &'a str,
    owner: &'a str,
    started_at: i64,
}

/// Opens a run row and returns its id.
pub fn start(conn: &mut DbConnection, trigger: &str, owner: &str, now: i64) -> Result<i64> {
    diesel::insert_into(sync_runs::table)
        .values(&NewRun {
            trigger_kind: trigger,
            owner,
            started_at: now,
        })
        .execute(conn)?;
    super::last_insert_id(conn)
}

pub fn finish(conn: &mut DbConnection, run_id: i64, totals: &RunTotals, now: i64) -> Result<()> {
    diesel::update(sync_runs::table.find(run_id))
        .set((
            sync_runs::finished_at.eq(now),
            sync_runs::users_checked.eq(totals.users_checked),
            sync_runs::users_unchanged.eq(totals.users_unchanged),
            sync_runs::new_gists.eq(totals.new_gists),
            sync_runs::activities_created.eq(totals.activities_created),
            sync_runs::failures.eq(totals.failures),
            sync_runs::error_summary.eq(totals.error_summary.as_deref()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The most recent runs, newest first.
pub fn recent(conn: &mut DbConnection, limit: i64) -> Result<Vec<SyncRun>> {
    Ok(sync_runs::table
        .order(sync_runs::id.desc())
        .limit(limit)
        .select(SyncRun::as_select())
        .load(conn)?)
}
