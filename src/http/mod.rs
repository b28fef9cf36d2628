//! The HTTP layer the API and the dashboard share: the application state, the bearer check,
//! the blocking hop, body limits, query parsing, JSON problems, sessions, the route table and
//! the server with its timeouts. `api/` and `web/` are leaves over it; `crate::routes` puts
//! them together.

pub mod body;
pub mod guard;
pub mod list_cache;
pub mod problem;
pub mod query;
pub mod route_table;
pub mod server;
pub mod session;
pub mod throttle;

use std::sync::Arc;

use warp::http::HeaderValue;
use warp::{Filter, Rejection};

use crate::config::Secret;
use crate::db::Store;
use crate::error::Result;
use crate::site::Site;
use crate::sync::scheduler::Scheduler;
use crate::sync::App;
use list_cache::ListCache;
use problem::ApiProblem;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The store, the clients and their settings: what the service layer works with.
    pub engine: App,
    /// `None` without a Pipedrive token: syncing stays off.
    pub scheduler: Option<Arc<Scheduler>>,
    pub api_token: Option<Secret>,
    /// What dashboard sessions are signed with: stretched from the API token, once.
    pub sessions: Option<Arc<session::SessionKey>>,
    /// Rendered `GET /api/v1/people` answers, reused briefly.
    pub lists: Arc<ListCache>,
    /// Where the dashboard links to.
    pub site: Arc<Site>,
    /// Wrong tokens counted, for the bearer check and the sign-in form.
    pub throttle: Arc<throttle::Throttle>,
    /// Whether requests must name this machine (see [`guard::local_only`]): true unless the
    /// server listens on an address other machines reach.
    pub loopback_only: bool,
}

impl AppState {
    pub fn new(
        engine: App,
        scheduler: Option<Arc<Scheduler>>,
        api_token: Option<Secret>,
    ) -> AppState {
        AppState {
            engine,
            scheduler,
            sessions: api_token
                .as_ref()
                .map(|token| Arc::new(session::SessionKey::from_token(token))),
            api_token,
            lists: Default::default(),
            site: Default::default(),
            throttle: Default::default(),
            loopback_only: true,
        }
    }

    /// Where the server listens: on a loopback address, requests must name this machine.
    pub fn with_listen(mut self, listen: std::net::SocketAddr) -> AppState {
        self.loopback_only = listen.ip().is_loopback();
        self
    }

    /// The dashboard's links out, from the configured GitHub and Pipedrive URLs.
    pub fn with_site(mut self, site: Site) -> AppState {
        self.site = Arc::new(site);
        self
    }

    pub fn store(&self) -> &Store {
        &self.engine.store
    }

    /// Passes when no token is configured, or the request carries it (compared in constant
    /// time); else a 401, or a 429 while its address is throttled.
    pub(crate) fn check_bearer(
        &self,
        header: Option<&str>,
        client: Option<server::ClientAddress>,
    ) -> Result<(), ApiProblem> {
        let Some(expected) = &self.api_token else {
            return Ok(());
        };
        // The scheme is case-insensitive (RFC 9110): `bearer` and `BEARER` are `Bearer`.
        let presented = header
            .and_then(|h| h.trim().split_once(|c: char| c.is_ascii_whitespace()))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token);
        match self
            .throttle
            .check(client.map(|c| c.0), expected, presented)
        {
            throttle::Verdict::Accepted => Ok(()),
            throttle::Verdict::Refused => Err(ApiProblem::unauthorized()),
            throttle::Verdict::Throttled { retry_after } => {
                Err(ApiProblem::too_many_attempts(retry_after))
            }
        }
    }
}

/// Runs blocking work (Diesel, ureq) through [`crate::blocking::run`]; errors become JSON rejections.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T, Rejection> {
    crate::blocking::run(work)
        .await
        .map_err(|err| warp::reject::custom(ApiProblem::from(err)))
}

pub(crate) fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Passes only requests that carry the API token (when one is configured).
pub(crate) fn authorized(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::ext::optional::<server::ClientAddress>())
        .and_then(move |header: Option<String>, client| {
            let state = state.clone();
            async move {
                match state.check_bearer(header.as_deref(), client) {
                    Ok(()) => Ok(state),
                    Err(problem) => Err(warp::reject::custom(problem)),
                }
            }
        })
}

/// A login (or other name) in a request path, as the client meant it: percent-decoded
/// (`oct%6Fcat` is `octocat`, as the Go service's router read it). Bytes that are not UTF-8
/// become U+FFFD, which no login has. Whether it is a valid login is the service's call, so
/// its refusal reads the same from the CLI, the API and the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathLogin(pub String);

impl std::str::FromStr for PathLogin {
    type Err = std::convert::Infallible;

    fn from_str(raw: &str) -> std::result::Result<PathLogin, Self::Err> {
        Ok(PathLogin(
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .into_owned(),
        ))
    }
}

/// The headers every page of this server gets: its policy (nothing loaded from anywhere
/// else, no framing), no content sniffing, no referrer beyond this site.
pub fn protect(headers: &mut warp::http::HeaderMap, policy: &'static str) {
    for (name, value) in [
        ("content-security-policy", policy),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}
