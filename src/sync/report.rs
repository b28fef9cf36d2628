//! What a pass reports: its counts, errors, waiting deliveries, what it delivered (for the
//! digest) and what went wrong (for alerts and the summary), and its one log line.

use serde::Serialize;

use crate::db::sync_runs::RunCounts;
use crate::exit::Exit;
use crate::ids::PersonId;

/// An activity a dry run would create.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlannedActivity {
    pub github_username: String,
    pub gist_id: String,
    pub subject: String,
}

/// The outcome of one pass.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SyncReport {
    /// The `sync_runs` row (absent for dry runs).
    pub run_id: Option<i64>,
    pub dry_run: bool,
    #[serde(flatten)]
    pub counts: RunCounts,
    /// When the first waiting delivery can be reconciled (RFC 3339); null when none waits.
    pub waiting_until: Option<String>,
    pub errors: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<PlannedActivity>,
    pub duration_ms: u64,
    /// Whose deliveries wait (person row id), and until when (Unix ms): the serve loop's
    /// follow-up pass.
    #[serde(skip)]
    pub waiting: Vec<(PersonId, i64)>,
    /// The most serious kind of failure the pass met, for the exit status.
    #[serde(skip)]
    pub exit: Exit,
    /// The users something failed for, for alerts.
    #[serde(skip)]
    pub failed_users: std::collections::BTreeSet<String>,
    /// The users this pass found unlinked (their Pipedrive person deleted), for alerts.
    #[serde(skip)]
    pub unlinked_users: Vec<String>,
    /// The gists this pass delivered, in order, for the digest.
    #[serde(skip)]
    pub delivered: Vec<Delivered>,
}

/// A gist a pass delivered: whose, to which Pipedrive person, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub login: String,
    pub pipedrive_person: crate::ids::PipedrivePersonId,
    /// The person's owner (a salesperson) as last read, when known.
    pub owner: Option<String>,
    pub description: Option<String>,
    pub html_url: crate::clients::GithubUrl,
}

impl SyncReport {
    pub fn ok(&self) -> bool {
        self.counts.failed == 0 && self.errors.is_empty()
    }

    /// What went wrong, in a few words for a log line or a summary: failed items, users left
    /// unlinked, other errors; empty when the pass went well.
    pub fn trouble(&self) -> String {
        let unlinked = self.unlinked_users.len();
        let other_errors = self
            .errors
            .len()
            .saturating_sub(unlinked + self.counts.failed.max(0) as usize);
        let mut parts = vec![];
        if self.counts.failed > 0 {
            parts.push(format!("{} failed item(s)", self.counts.failed));
        }
        if unlinked > 0 {
            parts.push(format!(
                "{unlinked} user(s) unlinked ({})",
                crate::output::few(&self.unlinked_users, 5)
            ));
        }
        if other_errors > 0 {
            parts.push(format!("{other_errors} error(s)"));
        }
        parts.join(", ")
    }

    /// The earliest time a waiting delivery can be reconciled.
    pub fn first_settle_at(&self) -> Option<i64> {
        self.waiting.iter().map(|(_, until)| *until).min()
    }
}

pub(super) fn log_report(report: &SyncReport) {
    let c = &report.counts;
    log::info!(
        "sync pass done: users_checked={} unchanged={} skipped={} new_gists={} activities_created={} reconciled={} waiting={} failed={} in {}ms",
        c.users_checked,
        c.users_unchanged,
        c.users_skipped,
        c.new_gists,
        c.activities_created,
        c.activities_reconciled,
        c.deliveries_waiting,
        c.failed,
        report.duration_ms
    );
}
