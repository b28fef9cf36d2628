//! Failure alerts: one JSON message (Slack-compatible `text`, plus the figures as fields) to
//! `--notify-url` when a pass ends with failures or a service stopped for it, and one when
//! the next pass is clean again. Nothing while all is well; never a token; never a reason
//! for a pass to fail or to wait longer than the webhook's timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::config::Secret;
use crate::db::sync_runs;
use crate::db::Store;
use crate::exit::Exit;
use crate::sync::SyncReport;

/// The longest a webhook may hold up the end of a pass.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// A webhook gisttrack posts JSON to (`--notify-url`, `--digest-url`): the one way a message
/// leaves, with a short timeout, and a failure logged once (never with the URL's path, which
/// holds the webhook's secret) until it works again.
pub struct Webhook {
    /// Webhook URLs embed their own secret (Slack's do): never logged.
    url: Secret,
    /// What the log calls it: "notification", "digest".
    name: &'static str,
    agent: ureq::Agent,
    /// A webhook that fails is logged once, not at every pass.
    failing: AtomicBool,
}

impl Webhook {
    pub fn new(url: Secret, name: &'static str) -> Webhook {
        Webhook {
            url,
            name,
            agent: crate::clients::agent(NOTIFY_TIMEOUT),
            failing: AtomicBool::new(false),
        }
    }

    /// Posts one message; a failure is logged (once), never returned.
    pub fn post<T: Serialize>(&self, message: &T) {
        let sent = self
            .agent
            .post(self.url.expose())
            .send_json(message)
            .map_err(|e| e.to_string())
            .and_then(|r| match r.status().as_u16() {
                200..=299 => Ok(()),
                status => Err(format!("answered {status}")),
            });
        match sent {
            Ok(()) => {
                if self.failing.swap(false, Ordering::SeqCst) {
                    log::info!("the {} webhook works again", self.name);
                }
            }
            Err(err) => {
                if !self.failing.swap(true, Ordering::SeqCst) {
                    // The error names the host at most, never the URL's path (its secret).
                    log::warn!(
                        "could not post to the {} webhook: {}",
                        self.name,
                        without_path(&err, self.url.expose())
                    );
                }
            }
        }
    }
}

pub struct Notifier {
    webhook: Webhook,
}

/// What is posted.
#[derive(Debug, Serialize)]
pub struct Message {
    /// The line chat tools show.
    pub text: String,
    /// `failing` or `resolved`.
    pub status: &'static str,
    pub run_id: Option<i64>,
    /// What kind of failure: `token_refused`, `unavailable` or `failed_items`.
    pub kind: Option<&'static str>,
    pub users: Vec<String>,
    pub failed: i32,
    pub activities_created: i32,
    pub deliveries_waiting: i32,
}

impl Notifier {
    pub fn new(url: Secret) -> Notifier {
        Notifier {
            webhook: Webhook::new(url, "notification"),
        }
    }

    /// Tells the webhook about a pass that failed, or that the failures are over.
    pub fn after_pass(&self, store: &Store, report: &SyncReport) {
        if report.dry_run {
            return;
        }
        let message = if !report.ok() {
            Some(failing(report))
        } else if previous_failed(store, report.run_id) {
            Some(resolved(report))
        } else {
            None
        };
        if let Some(message) = message {
            self.webhook.post(&message);
        }
    }
}

/// Whether the pass before this one (any process's) ended with failures.
fn previous_failed(store: &Store, run_id: Option<i64>) -> bool {
    let Some(run_id) = run_id else { return false };
    store
        .conn()
        .and_then(|mut conn| sync_runs::previous_failed(&mut conn, run_id))
        .unwrap_or(false)
}

fn failing(report: &SyncReport) -> Message {
    let only_unlinked = report.counts.failed == 0
        && report.errors.len() == report.unlinked_users.len()
        && report.exit <= Exit::PartlyFailed;
    let (kind, what) = match report.exit {
        Exit::Refused => ("token_refused", "a token was refused"),
        Exit::Unavailable => (
            "unavailable",
            "GitHub or Pipedrive could not be reached or stopped answering for now",
        ),
        _ if only_unlinked => (
            "unlinked",
            "their Pipedrive person was deleted and nothing is sent for them until they are \
             relinked (gisttrack relink <login> --to <person id>, or --create)",
        ),
        _ => (
            "failed_items",
            "deliveries or users failed; later passes retry them",
        ),
    };
    let users: Vec<String> = report.failed_users.iter().cloned().collect();
    let whom = match users.len() {
        0 => String::new(),
        _ => format!(" for {}", crate::output::few(&users, 5)),
    };
    Message {
        text: format!(
            "gisttrack: sync run {} failed{whom}: {what} ({} failure(s))",
            report.run_id.map_or("?".into(), |id| id.to_string()),
            report.counts.failed.max(report.errors.len() as i32)
        ),
        status: "failing",
        kind: Some(kind),
        ..figures(report, users)
    }
}

fn resolved(report: &SyncReport) -> Message {
    Message {
        text: format!(
            "gisttrack: sync run {} was clean again",
            report.run_id.map_or("?".into(), |id| id.to_string())
        ),
        status: "resolved",
        kind: None,
        ..figures(report, Vec::new())
    }
}

fn figures(report: &SyncReport, users: Vec<String>) -> Message {
    Message {
        text: String::new(),
        status: "",
        run_id: report.run_id,
        kind: None,
        users,
        failed: report.counts.failed,
        activities_created: report.counts.activities_created,
        deliveries_waiting: report.counts.deliveries_waiting,
    }
}

/// An error message with the webhook URL cut down to its scheme and host.
fn without_path(message: &str, url: &str) -> String {
    let origin = url
        .split_once("://")
        .map(|(scheme, rest)| format!("{scheme}://{}", rest.split('/').next().unwrap_or("")))
        .unwrap_or_default();
    message.replace(url, &origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_message_names_users_kind_and_figures() {
        let mut report = SyncReport {
            run_id: Some(42),
            exit: Exit::Refused,
            errors: vec!["octocat: Pipedrive: rejected".into()],
            ..SyncReport::default()
        };
        report.counts.failed = 1;
        report.failed_users.insert("octocat".into());
        let message = failing(&report);
        assert_eq!(message.kind, Some("token_refused"));
        assert!(
            message.text.contains("octocat") && message.text.contains("run 42"),
            "{}",
            message.text
        );
        assert_eq!(message.users, ["octocat"]);
        assert_eq!(message.failed, 1);
    }

    #[test]
    fn a_webhook_error_never_shows_the_url_path() {
        let url = "https://hooks.example/services/T0/B0/secret";
        assert_eq!(
            without_path(&format!("http: {url}: timed out"), url),
            "http: https://hooks.example: timed out"
        );
    }
}
