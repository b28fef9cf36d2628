//! The GitHub REST client (ureq): users and their gists, conditional requests, rate limits.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{
    agent, drive, excerpt, header, header_num, http_response::Response, HeaderMap, Next, Patience,
};
use super::{
    ApiError, GistId, GistListing, GithubApi, GithubOrg, GithubUrl, GithubUser, MemberListing,
    OrgMember, RateBudget, Refused, RemoteFile, RemoteGist,
};
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
            max_wait: crate::defaults::duration(crate::defaults::RATE_LIMIT_MAX_WAIT),
            timeout: crate::defaults::duration(crate::defaults::HTTP_TIMEOUT),
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
    /// The configured base URL, which decides which links of its answers are followed or
    /// kept (`None` when it does not parse: then no request succeeds anyway).
    api: Option<Url>,
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
    /// The gist in the form gisttrack keeps, or why it is left out: only its id can cost it
    /// its place (without one of GitHub's form it has no marker and no safe name). A link
    /// that is not GitHub's form is replaced or dropped, each with a logged reason: the gist's
    /// page by one built from the checked id and the configured API (so the activity still
    /// links the gist, and a real gist is never lost for a bad link), its clone URL by the
    /// page's, a file's raw URL by none (the file is still listed).
    fn into_remote(self, api: Option<&Url>) -> Result<RemoteGist, Refused> {
        let id = GistId::parse(&self.id)?;
        let link = |text: &str, instead: &str| {
            GithubUrl::parse(text, api)
                .inspect_err(|refused| log::warn!("GitHub gist {id}: {refused}; {instead}"))
                .ok()
        };
        let html_url = link(
            &self.html_url,
            "linking the page gisttrack builds for it instead",
        )
        .unwrap_or_else(|| GithubUrl::gist_page(api, &id));
        let pull_url = self
            .git_pull_url
            .and_then(|pull| link(&pull, "linking its page's clone URL instead"))
            .unwrap_or_else(|| html_url.with_git_suffix());
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
                let name = file.filename.unwrap_or(key);
                RemoteFile {
                    raw_url: file
                        .raw_url
                        .and_then(|raw| link(&raw, "its file is listed without a link")),
                    language: file.language.filter(|language| {
                        let fits = language.chars().count() <= LANGUAGE_MAX_CHARS;
                        if !fits {
                            log::warn!("GitHub gist {id}: a file language over {LANGUAGE_MAX_CHARS} characters is left out");
                        }
                        fits
                    }),
                    name,
                    size: file.size.unwrap_or(0),
                }
            })
            .collect();
        Ok(RemoteGist {
            created_at: parse_rfc3339(&self.created_at).unwrap_or(0),
            updated_at: parse_rfc3339(&self.updated_at).unwrap_or(0),
            description: self.description.filter(|d| !d.trim().is_empty()),
            html_url,
            pull_url,
            id,
            files,
        })
    }
}

/// The ledger's `language` column holds 64 characters; GitHub's language names are short.
const LANGUAGE_MAX_CHARS: usize = 64;

impl GithubUser {
    fn from_json(user: UserJson) -> GithubUser {
        GithubUser {
            login: user.login,
            id: GithubUserId(user.id),
            // Trimmed: a person is created with this name and found again by it.
            name: user
                .name
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            email: user
                .email
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty()),
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

/// A URL an answer gave for the API itself (a `Link` header's next page): followed only on
/// the configured API's own scheme, host and port, so a plain-HTTP GitHub Enterprise keeps
/// paging and no answer can send the token anywhere else.
fn api_link(api: Option<&Url>, link: &str) -> Result<String, ApiError> {
    let refused = || {
        let shown = api.map_or_else(
            || "the configured API".into(),
            |a| a.origin().ascii_serialization(),
        );
        ApiError::Decode(format!("refusing to follow a link off {shown}: {link:?}"))
    };
    let url = Url::parse(link).map_err(|_| refused())?;
    match api {
        Some(api) if api.origin() == url.origin() => Ok(link.to_string()),
        _ => Err(refused()),
    }
}

impl GithubClient {
    pub fn new(settings: GithubSettings, metrics: Arc<Metrics>) -> GithubClient {
        GithubClient {
            agent: agent(settings.timeout),
            api: Url::parse(&settings.base_url).ok(),
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
            for gist in page {
                match gist.into_remote(self.api.as_ref()) {
                    Ok(gist) => gists.push(gist),
                    Err(refused) => {
                        log::warn!("GitHub listing of {login}: {refused}; the gist is left out")
                    }
                }
            }
            let Some(next) = header(response.headers(), "link").and_then(next_link) else {
                break;
            };
            let next = api_link(self.api.as_ref(), &next)?;
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

    fn org(&self, login: &str) -> Result<Option<GithubOrg>, ApiError> {
        let url = format!("{}/orgs/{login}", self.settings.base_url);
        let mut response = self.get(&url, None)?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        let org: OrgJson = response
            .body_mut()
            .read_json()
            .map_err(|e| ApiError::Decode(format!("organization: {e}")))?;
        Ok(Some(GithubOrg {
            login: org.login,
            id: GithubUserId(org.id),
            name: org
                .name
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
        }))
    }

    /// A member list is ordered by login, not by when members joined: a joiner can land on
    /// any page, and the first page's ETag alone would miss one on a later page. So the
    /// validator kept is every page's ETag (one a line), the page after a full last page
    /// included, and each page is asked for conditionally: all 304 (free) is unchanged, any
    /// other answer reads the list again in full.
    fn org_members(&self, login: &str, etag: Option<&str>) -> Result<MemberListing, ApiError> {
        let page_url = |page: usize| match page {
            1 => format!(
                "{}/orgs/{login}/public_members?per_page={MEMBERS_PER_PAGE}",
                self.settings.base_url
            ),
            n => format!(
                "{}/orgs/{login}/public_members?per_page={MEMBERS_PER_PAGE}&page={n}",
                self.settings.base_url
            ),
        };
        let kept: Vec<&str> = etag
            .into_iter()
            .flat_map(|e| e.lines())
            .filter(|e| !e.is_empty())
            .collect();
        if !kept.is_empty() {
            let mut unchanged = true;
            for (i, tag) in kept.iter().enumerate() {
                match self.get(&page_url(i + 1), Some(tag))?.status().as_u16() {
                    304 => {}
                    404 => return Ok(MemberListing::OrgGone),
                    _ => {
                        unchanged = false;
                        break;
                    }
                }
            }
            if unchanged {
                return Ok(MemberListing::NotModified);
            }
        }
        let first = page_url(1);
        let mut response = self.get(&first, None)?;
        if response.status().as_u16() == 404 {
            return Ok(MemberListing::OrgGone);
        }
        let mut etags = Vec::new();
        let mut members = Vec::new();
        let mut seen_pages = vec![first];
        loop {
            etags.push(header(response.headers(), "etag").unwrap_or("").to_string());
            let page: Vec<MemberJson> = response
                .body_mut()
                .with_config()
                .limit(16 * 1024 * 1024)
                .read_json()
                .map_err(|e| ApiError::Decode(format!("member list: {e}")))?;
            let full = page.len() >= MEMBERS_PER_PAGE;
            members.extend(page.into_iter().map(|m| OrgMember {
                bot: OrgMember::is_bot(m.kind.as_deref(), &m.login),
                login: m.login,
                id: GithubUserId(m.id),
            }));
            let next = match header(response.headers(), "link").and_then(next_link) {
                Some(next) => api_link(self.api.as_ref(), &next)?,
                // A full last page: the (empty) page after it is kept too, so a joiner
                // listed after everyone shows as a change there.
                None if full => page_url(seen_pages.len() + 1),
                None => break,
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
        // A page without an ETag cannot be asked for conditionally: the next pass reads it all.
        let etag = (!etags.iter().any(String::is_empty)).then(|| etags.join("\n"));
        Ok(MemberListing::Changed { etag, members })
    }
}

/// Members per page of a member list (GitHub's most).
const MEMBERS_PER_PAGE: usize = 100;

#[derive(Deserialize)]
struct OrgJson {
    login: String,
    id: i64,
    name: Option<String>,
}

#[derive(Deserialize)]
struct MemberJson {
    login: String,
    id: i64,
    #[serde(rename = "type")]
    kind: Option<String>,
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
    fn next_pages_are_followed_only_on_the_configured_apis_scheme_host_and_port() {
        let enterprise = Url::parse("http://127.0.0.1:8080/api/v3").ok();
        let page = "http://127.0.0.1:8080/api/v3/user/1/gists?per_page=100&page=2";
        assert_eq!(api_link(enterprise.as_ref(), page), Ok(page.to_string()));
        for off in [
            "http://127.0.0.1:80801/api/v3/user/1/gists?page=2",
            "https://127.0.0.1:8080/api/v3/user/1/gists?page=2",
            "http://127.0.0.1:8080.evil.example/user/1/gists",
            "http://127.0.0.1/api/v3/user/1/gists",
            "javascript:alert(1)",
            "/user/1/gists?page=2",
        ] {
            let refused = api_link(enterprise.as_ref(), off).unwrap_err();
            assert!(
                refused.to_string().contains("refusing to follow"),
                "{off}: {refused}"
            );
        }
        let github = Url::parse("https://api.github.com").ok();
        assert!(api_link(
            github.as_ref(),
            "https://api.github.com:443/user/1/gists?page=2"
        )
        .is_ok());
        assert!(api_link(github.as_ref(), "https://api.github.com.evil.example/x").is_err());
        assert!(
            api_link(None, page).is_err(),
            "nothing is followed off an unknown API"
        );
    }

    fn gist(id: &str, html_url: &str, pull: Option<&str>, files: serde_json::Value) -> GistJson {
        serde_json::from_value(serde_json::json!({
            "id": id, "description": "d", "html_url": html_url, "git_pull_url": pull,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "files": files,
        }))
        .unwrap()
    }

    #[test]
    fn a_gist_whose_id_is_not_githubs_form_is_left_out() {
        let github = Url::parse("https://api.github.com").ok();
        for id in [
            "<img src=x onerror=alert(1)>",
            "abc\u{1b}[2J",
            "",
            "ab-cd",
            "ab cd",
        ] {
            let refused = gist(
                id,
                "https://gist.github.com/u/x",
                None,
                serde_json::json!({}),
            )
            .into_remote(github.as_ref())
            .unwrap_err();
            assert!(refused.to_string().starts_with("gist id"), "{refused}");
        }
        let kept = gist(
            "aa5a315d61ae9438b18d",
            "https://gist.github.com/u/aa5a315d61ae9438b18d",
            None,
            serde_json::json!({}),
        );
        assert_eq!(
            kept.into_remote(github.as_ref()).unwrap().id.as_str(),
            "aa5a315d61ae9438b18d"
        );
    }

    #[test]
    fn a_page_link_not_of_githubs_form_is_replaced_by_one_built_from_the_id() {
        let cases = [
            ("https://api.github.com", "https://gist.github.com/abc123"),
            (
                "https://ghe.example/api/v3",
                "https://ghe.example/gist/abc123",
            ),
            (
                "http://ghe.example/api/v3",
                "http://ghe.example/gist/abc123",
            ),
        ];
        for (base, built) in cases {
            let api = Url::parse(base).ok();
            for bad in [
                "javascript:alert(document.cookie)",
                "JavaScript:alert(1)",
                "data:text/html,<script>alert(1)</script>",
                "http://evil.example/abc123",
                "https://user:secret@evil.example/abc123",
                "/abc123",
            ] {
                let remote = gist("abc123", bad, Some(bad), serde_json::json!({}))
                    .into_remote(api.as_ref())
                    .unwrap();
                assert_eq!(remote.html_url.as_str(), built, "{base} {bad}");
                assert_eq!(
                    remote.pull_url.as_str(),
                    format!("{built}.git"),
                    "{base} {bad}"
                );
            }
        }
    }

    #[test]
    fn links_of_githubs_form_are_kept_as_the_url_crate_writes_them() {
        let api = Url::parse("http://ghe.example/api/v3").ok();
        let remote = gist(
            "abc123",
            "http://ghe.example/gist/u/abc123",
            Some("https://gist.example/abc123.git\"onmouseover=\"x"),
            serde_json::json!({}),
        )
        .into_remote(api.as_ref())
        .unwrap();
        assert_eq!(
            remote.html_url.as_str(),
            "http://ghe.example/gist/u/abc123",
            "a plain-HTTP Enterprise keeps its own links"
        );
        assert_eq!(
            remote.pull_url.as_str(),
            "https://gist.example/abc123.git%22onmouseover=%22x"
        );
    }

    #[test]
    fn a_file_whose_raw_url_is_refused_keeps_its_place_without_a_link() {
        let github = Url::parse("https://api.github.com").ok();
        let files = serde_json::json!({
            "evil.sh": {"filename": "evil.sh", "raw_url": "javascript:alert(2)", "language": "Shell", "size": 3},
            "data.txt": {"filename": "data.txt", "raw_url": "data:text/html;base64,PHNjcmlwdD4=", "size": 4},
            "ok.rs": {"filename": "ok.rs", "raw_url": "https://gist.githubusercontent.com/u/abc123/raw/1/ok.rs", "language": "x".repeat(65), "size": 5},
        });
        let remote = gist("abc123", "https://gist.github.com/u/abc123", None, files)
            .into_remote(github.as_ref())
            .unwrap();
        let shown: Vec<(&str, Option<&str>, Option<&str>)> = remote
            .files
            .iter()
            .map(|f| {
                (
                    f.name.as_str(),
                    f.raw_url.as_ref().map(GithubUrl::as_str),
                    f.language.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("data.txt", None, None),
                ("evil.sh", None, Some("Shell")),
                (
                    "ok.rs",
                    Some("https://gist.githubusercontent.com/u/abc123/raw/1/ok.rs"),
                    None
                ),
            ],
            "links refused, files kept; a language longer than the ledger holds is left out"
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
