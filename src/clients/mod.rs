//! The two upstream APIs behind small traits: the ureq clients (`github`, `pipedrive`) in
//! production, the in-memory ones (`memory`) in the in-process tests.

pub mod github;
pub mod memory;
pub mod pipedrive;

use std::time::Duration;

use crate::ids::{
    ActivityId, DealId, GithubUserId, PipedriveOrgId, PipedrivePersonId, PipedriveUserId,
};

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
    /// A server error (5xx) that persisted through retries. `by_service` when the body is
    /// the service's own error document, not a gateway's or a proxy's page.
    #[error("server error ({status}): {message}")]
    Server {
        status: u16,
        message: String,
        by_service: bool,
    },
    /// A write refused for the burst window (429), not processed: send it again after the
    /// pause, as a new attempt.
    #[error("rate limited (429); may be sent again after {}", humantime::format_duration(*retry_after))]
    Throttled { retry_after: Duration },
    /// Timeout or connection failure that persisted through retries.
    #[error("network error: {0}")]
    Transport(String),
    /// A 2xx answer we could not read.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

/// What a failed write may have left behind upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Certainly not written (a refusal, a rate limit, a block): safe to send again.
    NotWritten,
    /// The service answered, so the request is over, but it may have written (a 500 or 503
    /// of its own, an unreadable 2xx): look for it, then send again if it is not there.
    Finished,
    /// No answer came back (a timeout, a dropped connection) or a gateway answered for the
    /// service (502, 504): the request may still be running there and land later.
    MayStillLand,
}

impl ApiError {
    /// What a write that failed with this error may have done.
    pub fn write_outcome(&self) -> WriteOutcome {
        match self {
            // Only the service's own 500 or 503 says the request is over. Anything else in
            // the 5xx range (502, 504, a CDN's 52x, a proxy's HTML 503) came from something
            // standing between us and the service, which may still be processing it.
            ApiError::Server {
                status: 500 | 503,
                by_service: true,
                ..
            }
            | ApiError::Decode(_) => WriteOutcome::Finished,
            ApiError::Transport(_) | ApiError::Server { .. } => WriteOutcome::MayStillLand,
            ApiError::Unauthorized(_)
            | ApiError::RateLimited(_)
            | ApiError::Blocked(_)
            | ApiError::Throttled { .. }
            | ApiError::Rejected { .. } => WriteOutcome::NotWritten,
        }
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
    pub id: GithubUserId,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// One gist from a listing, reduced to what gisttrack keeps. Its id and links passed
/// GitHub's form at the client ([`GistId`], [`GithubUrl`]); its description and file names
/// are anyone's text, shown only through `output::one_line` or HTML escaping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteGist {
    pub id: GistId,
    pub description: Option<String>,
    pub html_url: GithubUrl,
    pub pull_url: GithubUrl,
    pub created_at: i64,
    pub updated_at: i64,
    pub files: Vec<RemoteFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub name: String,
    /// `None` when GitHub's link was refused: the file is still listed, without a link.
    pub raw_url: Option<GithubUrl>,
    pub language: Option<String>,
    pub size: i64,
}

/// A value in GitHub's answer that is not of GitHub's form, and why; for the log line that
/// says what was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {shown:?} is refused: {reason}")]
pub struct Refused {
    what: &'static str,
    /// The start of the value (escaped when printed: it is anyone's text).
    shown: String,
    reason: &'static str,
}

impl Refused {
    fn new(what: &'static str, value: &str, reason: &'static str) -> Refused {
        Refused {
            what,
            shown: value.chars().take(80).collect(),
            reason,
        }
    }
}

/// GitHub's id of a gist, in GitHub's form: ASCII letters and digits (lower-case hex today,
/// decimal for the oldest gists), at most [`GistId::MAX_LEN`]. Only built by checking, so it
/// is safe as it is in a marker, a note, a page and a terminal.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct GistId(String);

impl GistId {
    /// The ledger's column is `VARCHAR(64)`; GitHub's ids are 32 hex digits today.
    pub const MAX_LEN: usize = 64;

    pub fn parse(text: &str) -> Result<GistId, Refused> {
        let refuse = |reason| Err(Refused::new("gist id", text, reason));
        if text.is_empty() || text.len() > GistId::MAX_LEN {
            return refuse("not 1 to 64 characters long");
        }
        if !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return refuse("not only ASCII letters and digits");
        }
        Ok(GistId(text.to_string()))
    }

    /// An id the ledger holds (written only after [`GistId::parse`]); `None` for anything else.
    pub(crate) fn from_stored(text: &str) -> Option<GistId> {
        GistId::parse(text).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A link from GitHub's answer to one of its pages or files, safe to keep and to put in an
/// `href`: an absolute `http` or `https` URL with a host and no credentials, as the `url`
/// crate writes it (so no quote, blank or angle bracket is left raw in it). Never a
/// `javascript:` or `data:` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct GithubUrl(url::Url);

impl GithubUrl {
    /// A link as GitHub sends it: `https`, or on the configured API's own scheme, host and
    /// port (a plain-HTTP GitHub Enterprise serves its pages and raw files on its own host).
    pub fn parse(text: &str, api: Option<&url::Url>) -> Result<GithubUrl, Refused> {
        let refuse = |reason| Refused::new("link", text, reason);
        let url = url::Url::parse(text).map_err(|_| refuse("not an absolute URL"))?;
        let on_api = api.is_some_and(|api| api.origin() == url.origin());
        if url.scheme() != "https" && !on_api {
            return Err(refuse(
                "neither https nor on the configured GitHub API's host",
            ));
        }
        GithubUrl::checked(url).map_err(refuse)
    }

    /// The type's own rule, which a link the ledger holds must still meet.
    fn checked(url: url::Url) -> Result<GithubUrl, &'static str> {
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err("not a web address");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("it carries credentials");
        }
        Ok(GithubUrl(url))
    }

    /// A link the ledger holds (written only after [`GithubUrl::parse`]); `None` for anything else.
    pub(crate) fn from_stored(text: &str) -> Option<GithubUrl> {
        let url = url::Url::parse(text).ok()?;
        GithubUrl::checked(url).ok()
    }

    /// Where a gist's page is when GitHub's own link was refused, built from the checked id
    /// and the configured API alone: gist.github.com for github.com, else the Enterprise
    /// host's `/gist/` path (where GitHub Enterprise Server serves gists).
    pub fn gist_page(api: Option<&url::Url>, id: &GistId) -> GithubUrl {
        let enterprise = api
            .filter(|api| api.host_str() != Some("api.github.com"))
            .and_then(|api| api.join(&format!("/gist/{}", id.as_str())).ok())
            .and_then(|page| GithubUrl::checked(page).ok());
        enterprise.unwrap_or_else(|| {
            let page = url::Url::parse("https://gist.github.com/")
                .and_then(|base| base.join(id.as_str()))
                .expect("a fixed https URL and an alphanumeric id");
            GithubUrl(page)
        })
    }

    /// This link with `.git` after its path: a gist's clone URL, from its page's.
    pub fn with_git_suffix(&self) -> GithubUrl {
        let mut url = self.0.clone();
        let path = format!("{}.git", url.path());
        url.set_path(&path);
        GithubUrl(url)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Both are text wherever they go: JSON, tables, pages.
macro_rules! shown_as_text {
    ($($ty:ty),*) => {$(
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    )*};
}

shown_as_text!(GistId, GithubUrl);

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

/// A GitHub organization, as `GET /orgs/{org}` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubOrg {
    pub login: String,
    /// Organizations and users share GitHub's account ids.
    pub id: GithubUserId,
    pub name: Option<String>,
}

/// A public member of an organization, as its member list gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMember {
    pub login: String,
    pub id: GithubUserId,
    /// GitHub's `type` is `Bot`, or the login ends in `[bot]`.
    pub bot: bool,
}

impl OrgMember {
    /// Whether an account of this type and login is a bot.
    pub fn is_bot(kind: Option<&str>, login: &str) -> bool {
        kind.is_some_and(|k| k.eq_ignore_ascii_case("bot"))
            || login.to_ascii_lowercase().ends_with("[bot]")
    }
}

/// The answer to a conditional listing of an organization's public members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberListing {
    /// 304: nothing changed since the ETag we sent.
    NotModified,
    /// Every page, and the ETag of the first page to send next time.
    Changed {
        etag: Option<String>,
        members: Vec<OrgMember>,
    },
    /// 404: the organization no longer exists (deleted or renamed).
    OrgGone,
}

/// GitHub's primary budget as `GET /rate_limit` reports it (a call that costs none of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBudget {
    pub limit: i64,
    pub remaining: i64,
    /// Unix seconds of the next reset.
    pub reset: i64,
    /// Whether the token was sent (and accepted).
    pub authenticated: bool,
}

/// Who a Pipedrive token belongs to, and the day's budget where the answer says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipedriveAccount {
    pub user: String,
    pub company: String,
    pub company_domain: Option<String>,
    pub daily_budget_left: Option<i64>,
}

pub trait GithubApi: Send + Sync {
    /// `GET /rate_limit`: the token's budget, without spending any.
    fn rate_limit(&self) -> Result<RateBudget, ApiError>;
    /// `GET /users/{login}`; `None` for 404.
    fn user(&self, login: &str) -> Result<Option<GithubUser>, ApiError>;
    /// `GET /user/{id}`, to follow a rename; `None` for 404.
    fn user_by_id(&self, id: GithubUserId) -> Result<Option<GithubUser>, ApiError>;
    /// `GET /users/{login}/gists?per_page=100` with `If-None-Match`, every page.
    fn list_gists(&self, login: &str, etag: Option<&str>) -> Result<GistListing, ApiError>;
    /// `GET /orgs/{org}`; `None` for 404.
    fn org(&self, login: &str) -> Result<Option<GithubOrg>, ApiError>;
    /// `GET /orgs/{org}/public_members?per_page=100`, every page; `etag` is what the last
    /// listing returned (every page's ETag), each page asked for with `If-None-Match`.
    fn org_members(&self, login: &str, etag: Option<&str>) -> Result<MemberListing, ApiError>;
    /// When the hourly budget, if this client saw it spent, comes back (Unix ms).
    fn budget_back_at(&self) -> Option<i64> {
        None
    }
}

/// An activity to create; `marker` is in the note so a lost answer can be found again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewActivity {
    pub subject: String,
    pub note: String,
    pub activity_type: String,
    pub done: bool,
    pub due_date: String,
    pub person_id: PipedrivePersonId,
    /// Whose activity it is (Pipedrive's default, the token's user, when `None`).
    pub owner_id: Option<PipedriveUserId>,
    pub org_id: Option<PipedriveOrgId>,
    pub deal_id: Option<DealId>,
}

/// A person to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewPipedrivePerson<'a> {
    pub name: &'a str,
    pub email: Option<&'a str>,
    /// Pipedrive's default, the token's user, when `None`.
    pub owner_id: Option<PipedriveUserId>,
    pub org_id: Option<PipedriveOrgId>,
}

/// A Pipedrive person as read before delivering to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRecord {
    pub id: PipedrivePersonId,
    pub owner_id: Option<PipedriveUserId>,
    pub org_id: Option<PipedriveOrgId>,
    /// When the person last changed (Unix ms), when Pipedrive says.
    pub updated_at: Option<i64>,
}

/// What reading a person found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonLookup {
    Found(PersonRecord),
    /// 404, 410, or a record marked deleted: merged into another person, or deleted.
    Gone,
}

/// The person fields an exact search can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonField {
    Email,
    Name,
}

/// An existing activity, reduced to what reconciliation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivitySummary {
    pub id: ActivityId,
    pub note: String,
}

/// A record Pipedrive created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created<Id> {
    pub id: Id,
    /// `x-daily-requests-left` of the answer, when Pipedrive sent it: at 0 the day's writes
    /// are spent, and any further one would be refused (and, pressed, blocked).
    pub daily_writes_left: Option<i64>,
}

pub trait PipedriveApi: Send + Sync {
    /// `GET /api/v1/users/me`: the token's user and company.
    fn me(&self) -> Result<PipedriveAccount, ApiError>;
    /// Waits until a request may leave (the burst window, a 429's pause), shared by every
    /// worker. Writers call it before recording an attempt: a write itself never waits.
    fn wait_turn(&self);
    /// `GET /api/v2/persons/{id}`: the person, or that it is gone.
    fn person(&self, id: PipedrivePersonId) -> Result<PersonLookup, ApiError>;
    /// Persons (not deleted) whose e-mail or name matches `term` exactly (any case), best
    /// match first.
    fn find_persons(
        &self,
        field: PersonField,
        term: &str,
    ) -> Result<Vec<PipedrivePersonId>, ApiError>;
    /// The persons (not deleted) with this name (and this e-mail, when given) that Pipedrive
    /// added between the two times (Unix ms): how a creation whose answer was lost is found
    /// again. An error, never an empty answer, when it could not look everywhere.
    fn persons_added_between(
        &self,
        name: &str,
        email: Option<&str>,
        added_between: (i64, i64),
    ) -> Result<Vec<PipedrivePersonId>, ApiError>;
    fn create_person(
        &self,
        person: &NewPipedrivePerson<'_>,
    ) -> Result<Created<PipedrivePersonId>, ApiError>;
    fn create_activity(&self, activity: &NewActivity) -> Result<Created<ActivityId>, ApiError>;
    /// The activities whose primary participant is the person (all cursor pages): every one,
    /// or those changed since a time (Unix ms).
    fn person_activities(
        &self,
        person_id: PipedrivePersonId,
        changed_since: Option<i64>,
    ) -> Result<Vec<ActivitySummary>, ApiError>;
    /// The person's open deals, at most two: enough to tell "exactly one" from "several".
    fn open_deals(&self, person_id: PipedrivePersonId) -> Result<Vec<DealId>, ApiError>;
    /// Organizations (not deleted) whose name is exactly `name` (any case).
    fn find_organizations(&self, name: &str) -> Result<Vec<PipedriveOrgId>, ApiError>;
    /// `POST /api/v2/organizations`.
    fn create_organization(&self, name: &str) -> Result<Created<PipedriveOrgId>, ApiError>;
    /// The company's users by id and name; `None` when the token may not read them.
    fn user_names(&self) -> Result<Option<Vec<(PipedriveUserId, String)>>, ApiError>;
}

/// Exponential backoff with jitter: `base * 2^attempt`, capped, ±25%.
pub fn backoff(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let capped = exp.min(cap);
    let jitter = 0.75 + fastrand::f64() * 0.5;
    capped.mul_f64(jitter)
}

/// What one answer (or a failure to get one) means for the request that asked.
#[derive(Debug)]
pub(crate) enum Next<T> {
    /// The answer to hand back.
    Done(T),
    /// A transient failure (a 5xx, a dropped connection) of a request that is safe to repeat:
    /// tried again with a growing pause while retries last, else this error.
    Transient(ApiError),
    /// The service asks for a pause (a rate limit): waited out when it is short enough and
    /// not asked too often, else `give_up`.
    Wait { after: Duration, give_up: ApiError },
    /// Final.
    Fail(ApiError),
}

/// How patient [`drive`] is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Patience {
    /// Retries of transient failures.
    pub retries: u32,
    pub retry_base: Duration,
    /// The longest single pause worth waiting for.
    pub max_wait: Duration,
    /// Pauses at most, per request: a service that keeps asking is left alone.
    pub max_waits: u32,
}

/// The one retry loop both clients share: `attempt(waits_so_far)` sends the request and
/// classifies the answer; `pause` carries out a requested wait (GitHub sleeps the caller,
/// Pipedrive pauses every worker).
pub(crate) fn drive<T>(
    patience: Patience,
    mut attempt: impl FnMut(u32) -> Next<T>,
    mut pause: impl FnMut(Duration),
) -> Result<T, ApiError> {
    let (mut retries, mut waits) = (0, 0);
    loop {
        match attempt(waits) {
            Next::Done(value) => return Ok(value),
            Next::Fail(err) => return Err(err),
            Next::Transient(err) => {
                if retries >= patience.retries {
                    return Err(err);
                }
                std::thread::sleep(backoff(
                    patience.retry_base,
                    retries,
                    Duration::from_secs(10),
                ));
                retries += 1;
            }
            Next::Wait { after, give_up } => {
                if after > patience.max_wait || waits >= patience.max_waits {
                    return Err(give_up);
                }
                waits += 1;
                pause(after);
            }
        }
    }
}

/// Reads a header as text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads a header as a number.
fn header_num(headers: &HeaderMap, name: &str) -> Option<i64> {
    header(headers, name).and_then(|v| v.trim().parse().ok())
}

pub(crate) use ureq::http::HeaderMap;

/// Headers from pairs, for the classification tests.
#[cfg(test)]
pub(crate) fn header_map(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, value.parse().unwrap());
    }
    map
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

/// Builds the ureq agent every outgoing request uses (both clients, the webhooks): statuses
/// are data, not errors; a global timeout; gisttrack's user agent.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(format!("gisttrack/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn patience() -> Patience {
        Patience {
            retries: 2,
            retry_base: Duration::from_millis(1),
            max_wait: Duration::from_secs(60),
            max_waits: 3,
        }
    }

    #[test]
    fn gist_ids_are_githubs_form_and_nothing_else() {
        for ok in [
            "aa5a315d61ae9438b18d",
            "0123456789abcdef0123456789abcdef",
            "1234",
            "AbC9",
            &"f".repeat(GistId::MAX_LEN),
        ] {
            assert_eq!(
                GistId::parse(ok).map(|id| id.to_string()),
                Ok(ok.to_string())
            );
        }
        let long = "f".repeat(GistId::MAX_LEN + 1);
        for bad in [
            "",
            &long,
            "<img src=x onerror=alert(1)>",
            "abc\u{1b}]0;x\u{7}",
            "abc\u{202e}",
            "ab-cd",
            "ab cd",
            "../etc",
            "é1",
            "١٢٣",
        ] {
            let refused = GistId::parse(bad).unwrap_err();
            assert!(refused.to_string().starts_with("gist id "), "{refused}");
        }
    }

    #[test]
    fn links_are_https_or_on_the_configured_api_and_never_a_script() {
        let github = url::Url::parse("https://api.github.com").ok();
        let enterprise = url::Url::parse("http://ghe.example:8080/api/v3").ok();
        let ok = |text: &str, api: &Option<url::Url>| GithubUrl::parse(text, api.as_ref());
        assert_eq!(
            ok("https://gist.github.com/u/abc", &github)
                .unwrap()
                .as_str(),
            "https://gist.github.com/u/abc"
        );
        assert_eq!(
            ok("http://ghe.example:8080/gist/u/abc", &enterprise)
                .unwrap()
                .as_str(),
            "http://ghe.example:8080/gist/u/abc",
            "a plain-HTTP Enterprise's own host"
        );
        for (bad, api) in [
            ("javascript:alert(1)", &github),
            ("JAVASCRIPT:alert(1)", &github),
            (" javascript:alert(1)", &github),
            ("data:text/html,<script>alert(1)</script>", &github),
            ("vbscript:msgbox(1)", &github),
            ("file:///etc/passwd", &github),
            ("mailto:a@b.example", &github),
            ("http://gist.github.com/u/abc", &github),
            ("http://ghe.example/gist/u/abc", &enterprise),
            ("http://ghe.example:8080/gist/u/abc", &None),
            ("//gist.github.com/u/abc", &github),
            ("/gist/u/abc", &enterprise),
            ("https://user:secret@gist.github.com/u/abc", &github),
            ("https://", &github),
        ] {
            assert!(ok(bad, api).is_err(), "{bad:?} with {api:?}");
        }
        let written = ok("https://gist.github.com/u/a\"b <c>'d", &github).unwrap();
        assert_eq!(
            written.as_str(),
            "https://gist.github.com/u/a%22b%20%3Cc%3E'd"
        );
    }

    #[test]
    fn the_ledger_reads_back_only_links_and_ids_it_could_have_written() {
        assert!(GithubUrl::from_stored("http://ghe.example/gist/abc").is_some());
        assert!(GithubUrl::from_stored("https://gist.github.com/abc").is_some());
        for bad in [
            "",
            "javascript:alert(1)",
            "data:,x",
            "https://u:p@x.example/",
        ] {
            assert!(GithubUrl::from_stored(bad).is_none(), "{bad:?}");
        }
        assert!(GistId::from_stored("abc123").is_some());
        assert!(GistId::from_stored("<b>").is_none());
    }

    #[test]
    fn a_built_gist_page_uses_the_checked_id_and_the_configured_host_only() {
        let id = GistId::parse("abc123").unwrap();
        let page = |base: &str| {
            let api = url::Url::parse(base).ok();
            GithubUrl::gist_page(api.as_ref(), &id).to_string()
        };
        assert_eq!(
            page("https://api.github.com"),
            "https://gist.github.com/abc123"
        );
        assert_eq!(
            page("https://ghe.example/api/v3"),
            "https://ghe.example/gist/abc123"
        );
        assert_eq!(
            page("http://127.0.0.1:9/api/v3"),
            "http://127.0.0.1:9/gist/abc123"
        );
        assert_eq!(
            page("https://u:p@ghe.example/api/v3"),
            "https://gist.github.com/abc123",
            "never a page that carries credentials"
        );
        assert_eq!(page("not a url"), "https://gist.github.com/abc123");
        assert_eq!(
            GithubUrl::gist_page(None, &id)
                .with_git_suffix()
                .to_string(),
            "https://gist.github.com/abc123.git"
        );
    }

    #[test]
    fn bots_are_told_by_type_or_by_login() {
        assert!(OrgMember::is_bot(Some("Bot"), "renovate"));
        assert!(OrgMember::is_bot(Some("User"), "dependabot[bot]"));
        assert!(OrgMember::is_bot(None, "Some-App[BOT]"));
        assert!(!OrgMember::is_bot(Some("User"), "octocat"));
        assert!(!OrgMember::is_bot(None, "robot"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_a_quarter_of_jitter() {
        let base = Duration::from_secs(1);
        for attempt in 0..6 {
            let pause = backoff(base, attempt, Duration::from_secs(10));
            let nominal = Duration::from_secs(1 << attempt).min(Duration::from_secs(10));
            assert!(
                pause >= nominal.mul_f64(0.75) && pause <= nominal.mul_f64(1.25),
                "{attempt}: {pause:?}"
            );
        }
        assert!(backoff(base, 40, Duration::from_secs(10)) <= Duration::from_millis(12_500));
    }

    #[test]
    fn transient_failures_are_retried_while_retries_last() {
        let calls = RefCell::new(0);
        let outcome: Result<u8, ApiError> = drive(
            patience(),
            |_| {
                *calls.borrow_mut() += 1;
                Next::Transient(ApiError::Transport("reset".into()))
            },
            |_| panic!("no pause asked"),
        );
        assert_eq!(outcome, Err(ApiError::Transport("reset".into())));
        assert_eq!(*calls.borrow(), 3, "one try and two retries");

        let mut answers = vec![
            Next::Done(7),
            Next::Transient(ApiError::Transport("x".into())),
        ];
        assert_eq!(drive(patience(), |_| answers.pop().unwrap(), |_| {}), Ok(7));
    }

    #[test]
    fn waits_are_carried_out_until_too_long_or_too_many() {
        let paused = RefCell::new(Vec::new());
        let give_up = ApiError::RateLimited("stop".into());
        let outcome: Result<u8, ApiError> = drive(
            patience(),
            |waits| Next::Wait {
                after: Duration::from_secs(u64::from(waits) + 1),
                give_up: give_up.clone(),
            },
            |d| paused.borrow_mut().push(d.as_secs()),
        );
        assert_eq!(outcome, Err(give_up.clone()));
        assert_eq!(*paused.borrow(), [1, 2, 3], "at most three pauses");

        let outcome: Result<u8, ApiError> = drive(
            patience(),
            |_| Next::Wait {
                after: Duration::from_secs(3600),
                give_up: give_up.clone(),
            },
            |_| panic!("an hour is beyond the wait cap"),
        );
        assert_eq!(outcome, Err(give_up));
    }

    #[test]
    fn write_outcomes_follow_who_answered() {
        let server = |status| ApiError::Server {
            status,
            message: String::new(),
            by_service: true,
        };
        let gateway = |status| ApiError::Server {
            status,
            message: "<html>".into(),
            by_service: false,
        };
        assert_eq!(
            ApiError::Transport("timeout".into()).write_outcome(),
            WriteOutcome::MayStillLand
        );
        assert_eq!(server(502).write_outcome(), WriteOutcome::MayStillLand);
        assert_eq!(server(504).write_outcome(), WriteOutcome::MayStillLand);
        assert_eq!(server(500).write_outcome(), WriteOutcome::Finished);
        assert_eq!(server(503).write_outcome(), WriteOutcome::Finished);
        for status in [500, 503, 520, 522, 524, 530] {
            assert_eq!(
                gateway(status).write_outcome(),
                WriteOutcome::MayStillLand,
                "a {status} page from a CDN or proxy"
            );
        }
        assert_eq!(
            ApiError::Throttled {
                retry_after: Duration::from_secs(2)
            }
            .write_outcome(),
            WriteOutcome::NotWritten
        );
        assert_eq!(
            ApiError::RateLimited("429".into()).write_outcome(),
            WriteOutcome::NotWritten
        );
        assert_eq!(
            ApiError::Rejected {
                status: 400,
                message: String::new()
            }
            .write_outcome(),
            WriteOutcome::NotWritten
        );
    }
}
