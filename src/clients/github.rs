//! The GitHub REST client (ureq): users and their gists, conditional requests, rate limits.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::Duration;

use serde::Deserialize;

use super::{
    agent, drive, excerpt, header, header_num, http_response::Response, HeaderMap, Next, Patience,
};
use super::{ApiError, GistListing, GithubApi, GithubUser, RateBudget, RemoteFile, RemoteGist};
use crate::config::Secret;
use crate::ids::GithubUserId;
use crate::metrics::Metrics;
use crate::time::{now_ms, parse_rfc3339};

/// How patient the client is.
#[derive(Debug, Clone)]
pub struct GithubSettings {
    pub base_url: String,
    pub token: Option<Secret>,
    /// The longest rate-limit wait worth sitting through; beyond it the pass stops asking.
    pub max_wait: Duration,
    pub timeout: Duration,
    /// Retries for 5xx and network errors.
    pub retries: u32,
    pub retry_base: Duration,
}

impl GithubSettings {
    pub fn new(base_url: &str, token: Option<Secret>) -> GithubSettings {
        GithubSettings {
            base_url: base_url.trim_end_matches('/').to_string(),
            token,
            max_wait: Duration::from_secs(60),
            timeout: Duration::from_secs(15),
            retries: 3,
            retry_base: Duration::from_millis(250),
        }
    }
}

/// The primary budget as the last answer reported it, shared by every worker.
#[derive(Debug, Default, Clone, Copy)]
struct Budget {
    remaining: Option<i64>,
    /// Unix seconds.
    reset: Option<i64>,
}

pub struct GithubClient {
    agent: ureq::Agent,
    settings: GithubSettings,
    origin: String,
    budget: Mutex<Budget>,
    metrics: Arc<Metrics>,
}

#[derive(Deserialize)]
struct UserJson {
    login: String,
    id: i64,
    name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
struct GistJson {
    id: String,
    description: Option<String>,
    html_url: String,
    git_pull_url: Option<String>,
    created_at: String,
    updated_at: String,
    #[serde(default)]
    files: BTreeMap<String, Option<FileJson>>,
}

#[derive(Deserialize)]
struct FileJson {
    filename: Option<String>,
    raw_url: Option<String>,
    language: Option<String>,
    size: Option<i64>,
}

impl GistJson {
    fn into_remote(self) -> RemoteGist {
        let files = self
            .files
            .into_iter()
            .map(|(key, file)| {
                let file = file.unwrap_or(FileJson {
                    filename: None,
                    raw_url: None,
                    language: None,
                    size: None,
                });
                RemoteFile {
                    name: file.filename.unwrap_or(key),
                    raw_url: file.raw_url.unwrap_or_default(),
                    language: file.language,
                    size: file.size.unwrap_or(0),
                }
            })
            .collect();
        RemoteGist {
            pull_url: self
                .git_pull_url
                .unwrap_or_else(|| format!("{}.git", self.html_url)),
            created_at: parse_rfc3339(&self.created_at).unwrap_or(0),
            updated_at: parse_rfc3339(&self.updated_at).unwrap_or(0),
            description: self.description.filter(|d| !d.trim().is_empty()),
            html_url: self.html_url,
            id: self.id,
            files,
        }
    }
}

impl GithubUser {
    fn from_json(user: UserJson) -> GithubUser {
        GithubUser {
            login: user.login,
            id: GithubUserId(user.id),
            name: user.name.filter(|n| !n.trim().is_empty()),
            email: user.email.filter(|e| !e.trim().is_empty()),
        }
    }
}

/// The `rel="next"` URL of a `Link` header, exactly as given.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or("")),
        None => url.to_string(),
    }
}

impl GithubClient {
    pub fn new(settings: GithubSettings, metrics: Arc<Metrics>) -> GithubClient {
        GithubClient {
            agent: agent(settings.timeout),
            origin: origin_of(&settings.base_url),
            settings,
            budget: Mutex::new(Budget::default()),
            metrics,
        }
    }

    fn observe(&self, headers: &HeaderMap) {
        let remaining = header_num(headers, "x-ratelimit-remaining");
        let reset = header_num(headers, "x-ratelimit-reset");
        if remaining.is_some() || reset.is_some() {
            let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
            // Answers to concurrent requests arrive in any order: within one window the
            // lowest count left is the true one, and a later reset starts a new window.
            let same_window = reset.is_none() || reset == budget.reset;
            budget.remaining = match (remaining, budget.remaining) {
                (Some(new), Some(old)) if same_window => Some(new.min(old)),
                (new, old) => new.or(old),
            };
            budget.reset = reset.or(budget.reset);
        }
    }

    /// Waits out an exhausted primary budget if its reset is near; refuses if it is not.
    fn wait_for_budget(&self) -> Result<(), ApiError> {
        let budget = *self.budget.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(0), Some(reset)) = (budget.remaining, budget.reset) {
            let wait_ms = reset * 1000 - now_ms();
            if wait_ms > 0 {
                self.wait_or_stop(Duration::from_millis(wait_ms as u64), || {
                    format!(
                        "GitHub's hourly budget is spent until {}; stopped asking GitHub for this pass",
                        crate::time::format_ms(reset * 1000)
                    )
                })?;
                let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
                budget.remaining = None;
            }
        }
        Ok(())
    }

    fn wait_or_stop(
        &self,
        wait: Duration,
        message: impl FnOnce() -> String,
    ) -> Result<(), ApiError> {
        if wait > self.settings.max_wait {
            return Err(ApiError::RateLimited(message()));
        }
        self.pause(wait);
        Ok(())
    }

    fn pause(&self, wait: Duration) {
        log::warn!(
            "GitHub rate limit: waiting {}",
            humantime::format_duration(round(wait))
        );
        self.metrics.github_rate_limit_waits.inc();
        sleep(wait);
    }

    fn patience(&self) -> Patience {
        Patience {
            retries: self.settings.retries,
            retry_base: self.settings.retry_base,
            max_wait: self.settings.max_wait,
            max_waits: 3,
        }
    }

    /// One GET with GitHub's headers, retried through 5xx, network errors and rate limits.
    /// Returns 2xx, 304 and 404 answers; everything else becomes an [`ApiError`].
    fn get(&self, url: &str, etag: Option<&str>) -> Result<Response, ApiError> {
        if !url.starts_with(&self.origin) {
            return Err(ApiError::Decode(format!(
                "refusing to follow a link off {}: {url}",
                self.origin
            )));
        }
        let attempt = |waits: u32| {
            if let Err(err) = self.wait_for_budget() {
                return Next::Fail(err);
            }
            let mut request = self
                .agent
                .get(url)
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28");
            if let Some(token) = &self.settings.token {
                request = request.header("Authorization", format!("Bearer {}", token.expose()));
            }
            if let Some(etag) = etag {
                request = request.header("If-None-Match", etag);
            }
            self.metrics.github_requests.inc();
            let sent = std::time::Instant::now();
            let mut response = match request.call() {
                Ok(response) => response,
                Err(err) => {
                    log::debug!("GitHub GET {url}: {err}");
                    return Next::Transient(ApiError::Transport(err.to_string()));
                }
            };
            self.observe(response.headers());
            let status = response.status().as_u16();
            log::debug!("GitHub GET {url} -> {status} in {:?}", sent.elapsed());
            if matches!(status, 200..=299 | 304 | 404) {
                return Next::Done(response);
            }
            let body = response.body_mut().read_to_string().unwrap_or_default();
            classify_refusal(status, response.headers(), &body, waits, now_ms())
        };
        drive(self.patience(), attempt, |wait| self.pause(wait))
    }

    fn get_user(&self, url: &str) -> Result<Option<GithubUser>, ApiError> {
        let mut response = self.get(url, None)?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        let user: UserJson = response
            .body_mut()
            .read_json()
            .map_err(|e| ApiError::Decode(format!("user: {e}")))?;
        Ok(Some(GithubUser::from_json(user)))
    }
}

fn round(wait: Duration) -> Duration {
    Duration::from_secs(wait.as_secs().max(1))
}

/// What an answer other than 2xx, 304 or 404 means. GitHub signals its limits with 403 or
/// 429: a spent hourly budget (`x-ratelimit-remaining: 0`) is waited out until its reset; a
/// secondary limit for `retry-after`, else a minute that doubles. A limit without a reset
/// header backs off the same way, so it is never retried once a second forever.
fn classify_refusal<T>(
    status: u16,
    headers: &HeaderMap,
    body: &str,
    waits: u32,
    now_ms: i64,
) -> Next<T> {
    let remaining = header_num(headers, "x-ratelimit-remaining");
    let retry_after = header_num(headers, "retry-after");
    let reset = header_num(headers, "x-ratelimit-reset");
    match status {
        401 => Next::Fail(ApiError::Unauthorized(
            "GitHub rejected the token (401); check GITHUB_TOKEN".into(),
        )),
        403 | 429 => {
            if let (Some(0), None, Some(reset)) = (remaining, retry_after, reset) {
                return Next::Wait {
                    after: Duration::from_millis((reset * 1000 - now_ms).max(1000) as u64),
                    give_up: ApiError::RateLimited(format!(
                        "GitHub's hourly budget is spent until {}; stopped asking GitHub for this pass",
                        crate::time::format_ms(reset * 1000)
                    )),
                };
            }
            let lower = body.to_ascii_lowercase();
            let limited = retry_after.is_some()
                || status == 429
                || remaining == Some(0)
                || lower.contains("secondary rate limit")
                || lower.contains("abuse");
            if !limited {
                return Next::Fail(ApiError::Rejected {
                    status,
                    message: github_message(body),
                });
            }
            let after = match retry_after {
                Some(seconds) => Duration::from_secs(seconds.max(0) as u64),
                None => Duration::from_secs(60 << waits.min(4)),
            };
            Next::Wait {
                after,
                give_up: ApiError::RateLimited(format!(
                    "GitHub's secondary rate limit asks for a {} pause (or persists); stopped asking GitHub for this pass",
                    humantime::format_duration(round(after))
                )),
            }
        }
        500..=599 => Next::Transient(ApiError::Server {
            status,
            message: github_message(body),
            by_service: serde_json::from_str::<serde_json::Value>(body).is_ok(),
        }),
        _ => Next::Fail(ApiError::Rejected {
            status,
            message: github_message(body),
        }),
    }
}

/// GitHub's `message` field, else the body's start.
fn github_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| excerpt(body))
}

impl GithubApi for GithubClient {
    fn budget_back_at(&self) -> Option<i64> {
        let budget = *self.budget.lock().unwrap_or_else(|e| e.into_inner());
        match (budget.remaining, budget.reset) {
            (Some(0), Some(reset)) => Some(reset * 1000),
            _ => None,
        }
    }

    fn rate_limit(&self) -> Result<RateBudget, ApiError> {
        // Not through `get`: this call costs no budget, so a spent one must not hold it up.
        let url = format!("{}/rate_limit", self.settings.base_url);
        let mut request = self
            .agent
            .get(&url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(token) = &self.settings.token {
            request = request.header("Authorization", format!("Bearer {}", token.expose()));
        }
        let mut response = request
            .call()
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        if status != 200 {
            return match classify_refusal::<()>(status, response.headers(), &body, 0, now_ms()) {
                Next::Fail(err) | Next::Transient(err) => Err(err),
                _ => Err(ApiError::RateLimited(github_message(&body))),
            };
        }
        let core = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/resources/core").cloned())
            .ok_or_else(|| ApiError::Decode("rate_limit: no resources.core".into()))?;
        let field = |name: &str| {
            core.get(name)
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0)
        };
        Ok(RateBudget {
            limit: field("limit"),
            remaining: field("remaining"),
            reset: field("reset"),
            authenticated: self.settings.token.is_some(),
        })
    }

    fn user(&self, login: &str) -> Result<Option<GithubUser>, ApiError> {
        self.get_user(&format!("{}/users/{login}", self.settings.base_url))
    }

    fn user_by_id(&self, id: GithubUserId) -> Result<Option<GithubUser>, ApiError> {
        self.get_user(&format!("{}/user/{id}", self.settings.base_url))
    }

    fn list_gists(&self, login: &str, etag: Option<&str>) -> Result<GistListing, ApiError> {
        let first = format!(
            "{}/users/{login}/gists?per_page=100",
            self.settings.base_url
        );
        let mut response = self.get(&first, etag)?;
        match response.status().as_u16() {
            304 => return Ok(GistListing::NotModified),
            404 => return Ok(GistListing::UserGone),
            _ => {}
        }
        let new_etag = header(response.headers(), "etag").map(str::to_string);
        let mut gists = Vec::new();
        let mut seen_pages = vec![first];
        loop {
            let page: Vec<GistJson> = response
                .body_mut()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_json()
                .map_err(|e| ApiError::Decode(format!("gist list: {e}")))?;
            gists.extend(page.into_iter().map(GistJson::into_remote));
            let Some(next) = header(response.headers(), "link").and_then(next_link) else {
                break;
            };
            if seen_pages.contains(&next) || seen_pages.len() >= 1000 {
                return Err(ApiError::Decode(format!("pagination loops at {next}")));
            }
            seen_pages.push(next.clone());
            response = self.get(&next, None)?;
            if response.status().as_u16() != 200 {
                return Err(ApiError::Server {
                    status: response.status().as_u16(),
                    message: format!("page {next} vanished mid-listing"),
                    by_service: true,
                });
            }
        }
        Ok(GistListing::Changed {
            etag: new_etag,
            gists,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_next_link_as_given() {
        let link = "<https://api.github.com/user/583231/gists?per_page=2&page=1>; rel=\"prev\", \
                    <https://api.github.com/user/583231/gists?per_page=2&page=3>; rel=\"next\", \
                    <https://api.github.com/user/583231/gists?per_page=2&page=3>; rel=\"last\"";
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/user/583231/gists?per_page=2&page=3")
        );
        assert_eq!(next_link("<https://x/a>; rel=\"last\""), None);
    }

    #[test]
    fn origin_keeps_port() {
        assert_eq!(
            origin_of("http://127.0.0.1:8080/api/v3"),
            "http://127.0.0.1:8080"
        );
    }

    use crate::clients::header_map as headers;

    fn wait_of(next: Next<()>) -> (Duration, String) {
        match next {
            Next::Wait { after, give_up } => (after, give_up.to_string()),
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    #[test]
    fn a_spent_hourly_budget_waits_for_its_reset_on_403_and_429_alike() {
        let now = 1_000_000_000_000;
        let spent = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1000000030"),
        ]);
        for status in [403, 429] {
            let (after, give_up) = wait_of(classify_refusal(status, &spent, "{}", 0, now));
            assert_eq!(after, Duration::from_secs(30), "{status}");
            assert!(give_up.contains("hourly budget"), "{give_up}");
        }
    }

    #[test]
    fn a_limit_without_a_reset_backs_off_instead_of_retrying_every_second() {
        let no_reset = headers(&[("x-ratelimit-remaining", "0")]);
        let (first, _) = wait_of(classify_refusal(429, &no_reset, "", 0, 0));
        let (third, _) = wait_of(classify_refusal(429, &no_reset, "", 2, 0));
        assert_eq!(first, Duration::from_secs(60));
        assert_eq!(third, Duration::from_secs(240));
    }

    #[test]
    fn secondary_limits_honour_retry_after_and_other_refusals_fail() {
        let (after, give_up) = wait_of(classify_refusal(
            403,
            &headers(&[("retry-after", "7")]),
            "{\"message\":\"You have exceeded a secondary rate limit\"}",
            0,
            0,
        ));
        assert_eq!(after, Duration::from_secs(7));
        assert!(give_up.contains("secondary rate limit"));
        let (after, _) = wait_of(classify_refusal(
            403,
            &HeaderMap::new(),
            "secondary rate limit",
            1,
            0,
        ));
        assert_eq!(after, Duration::from_secs(120));
        assert!(matches!(
            classify_refusal::<()>(403, &HeaderMap::new(), "{\"message\":\"Forbidden\"}", 0, 0),
            Next::Fail(ApiError::Rejected { status: 403, .. })
        ));
        assert!(matches!(
            classify_refusal::<()>(401, &HeaderMap::new(), "", 0, 0),
            Next::Fail(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            classify_refusal::<()>(502, &HeaderMap::new(), "", 0, 0),
            Next::Transient(ApiError::Server { status: 502, .. })
        ));
    }
}
