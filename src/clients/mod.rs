//! The two upstream APIs behind small traits, so the sync engine can be driven by fakes.

pub mod github;
pub mod pipedrive;

use std::time::Duration;

/// What went wrong talking to GitHub or Pipedrive, after the client's own retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The token was refused (401).
    #[error("{0}")]
    Unauthorized(String),
    /// A rate limit whose reset is too far away to wait for in this pass.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// The service blocks us (e.g. Pipedrive's 403 page after repeated 429s).
    #[error("blocked: {0}")]
    Blocked(String),
    /// A definite refusal (4xx) that a retry will not change.
    #[error("rejected ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// A server error (5xx) that persisted through retries.
    #[error("server error ({status}): {message}")]
    Server { status: u16, message: String },
    /// Timeout or connection failure that persisted through retries.
    #[error("network error: {0}")]
    Transport(String),
    /// A 2xx answer we could not read.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl ApiError {
    /// True when a write may or may not have happened upstream (no answer, or a 5xx):
    /// the caller must reconcile before sending again.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, ApiError::Server { .. } | ApiError::Transport(_))
    }

    /// True when the whole service should be left alone for the rest of the pass.
    pub fn stops_service(&self) -> bool {
        matches!(
            self,
            ApiError::Unauthorized(_) | ApiError::RateLimited(_) | ApiError::Blocked(_)
        )
    }
}

/// A GitHub account, as `GET /users/{login}` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubUser {
    pub login: String,
    pub id: i64,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// One gist from a listing, reduced to what gisttrack keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteGist {
    pub id: String,
    pub description: Option<String>,
    pub html_url: String,
    pub pull_url: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub files: Vec<RemoteFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub name: String,
    pub raw_url: String,
    pub language: Option<String>,
    pub size: i64,
}

/// The answer to a conditional listing of a user's gists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GistListing {
    /// 304: nothing changed since the ETag we sent.
    NotModified,
    /// Every page, and the ETag of the first page to send next time.
    Changed {
        etag: Option<String>,
        gists: Vec<RemoteGist>,
    },
    /// 404: the login no longer exists (deleted or renamed).
    UserGone,
}

pub trait GithubApi: Send + Sync {
    /// `GET /users/{login}`; `None` for 404.
    fn user(&self, login: &str) -> Result<Option<GithubUser>, ApiError>;
    /// `GET /user/{id}`, to follow a rename; `None` for 404.
    fn user_by_id(&self, id: i64) -> Result<Option<GithubUser>, ApiError>;
    /// `GET /users/{login}/gists?per_page=100` with `If-None-Match`, every page.
    fn list_gists(&self, login: &str, etag: Option<&str>) -> Result<GistListing, ApiError>;
}

/// An activity to create; `marker` is in the note so a lost answer can be found again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewActivity {
    pub subject: String,
    pub note: String,
    pub activity_type: String,
    pub done: bool,
    pub due_date: String,
    pub person_id: i64,
}

/// An existing activity, reduced to what reconciliation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivitySummary {
    pub id: i64,
    pub note: String,
}

pub trait PipedriveApi: Send + Sync {
    /// An existing person whose email matches exactly.
    fn find_person_by_email(&self, email: &str) -> Result<Option<i64>, ApiError>;
    fn create_person(&self, name: &str, email: Option<&str>) -> Result<i64, ApiError>;
    fn delete_person(&self, id: i64) -> Result<(), ApiError>;
    fn create_activity(&self, activity: &NewActivity) -> Result<i64, ApiError>;
    /// Every activity whose primary participant is the person (all cursor pages).
    fn person_activities(&self, person_id: i64) -> Result<Vec<ActivitySummary>, ApiError>;
}

/// Exponential backoff with jitter: `base * 2^attempt`, capped, ±25%.
pub fn backoff(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let capped = exp.min(cap);
    let jitter = 0.75 + fastrand::f64() * 0.5;
    capped.mul_f64(jitter)
}

/// Retries of a transient failure (5xx, network): each waits a growing pause with jitter.
pub(crate) struct Retries {
    base: Duration,
    limit: u32,
    used: u32,
}

impl Retries {
    pub(crate) fn new(base: Duration, limit: u32) -> Retries {
        Retries {
            base,
            limit,
            used: 0,
        }
    }

    /// Sleeps before the next attempt and returns true, or returns false when none are left.
    pub(crate) fn wait(&mut self) -> bool {
        if self.used >= self.limit {
            return false;
        }
        std::thread::sleep(backoff(self.base, self.used, Duration::from_secs(10)));
        self.used += 1;
        true
    }
}

/// Reads a header as text.
fn header<'a>(response: &'a http_response::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Reads a header as a number.
fn header_num(response: &http_response::Response, name: &str) -> Option<i64> {
    header(response, name).and_then(|v| v.trim().parse().ok())
}

/// The response type both ureq clients share.
mod http_response {
    pub type Response = ureq::http::Response<ureq::Body>;
}

/// Shortens an upstream error body for messages and the ledger.
fn excerpt(text: &str) -> String {
    let trimmed = text.trim();
    let mut out: String = trimmed.chars().take(300).collect();
    if trimmed.chars().count() > 300 {
        out.push('…');
    }
    out
}

/// Builds the ureq agent both clients use: statuses are data, not errors; a global timeout.
fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(format!("gisttrack/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}
