//! The HTTP API on warp: the seed's routes plus sync, docs, health and metrics, all calling
//! the same service layer as the CLI; the dashboard's pages (`crate::web`) are served beside.

pub mod handlers;
pub(crate) mod list_cache;
pub mod openapi;
pub mod query;
pub mod rejection;
pub mod route_table;
pub mod server;
pub mod throttle;

use std::sync::Arc;

use bytes::Buf;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::config::Secret;
use crate::db::Store;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::sync::scheduler::Scheduler;
use crate::sync::Engine;
pub use list_cache::ListCache;
use rejection::ApiProblem;

/// Largest request body accepted (a username is a few bytes).
pub const BODY_LIMIT: u64 = 16 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The store, the clients and their settings: what the service layer works with.
    pub engine: Engine,
    /// `None` without a Pipedrive token: syncing stays off.
    pub scheduler: Option<Arc<Scheduler>>,
    pub api_token: Option<Secret>,
    /// What dashboard sessions are signed with: stretched from the API token, once.
    pub sessions: Option<Arc<crate::web::session::SessionKey>>,
    /// Rendered `GET /api/v1/people` answers, reused briefly.
    pub lists: Arc<ListCache>,
    /// Where the dashboard links to.
    pub site: Arc<crate::web::Site>,
    /// Wrong tokens counted, for the bearer check and the sign-in form.
    pub throttle: Arc<throttle::Throttle>,
}

impl ApiState {
    pub fn new(
        engine: Engine,
        scheduler: Option<Arc<Scheduler>>,
        api_token: Option<Secret>,
    ) -> ApiState {
        ApiState {
            engine,
            scheduler,
            sessions: api_token
                .as_ref()
                .map(|token| Arc::new(crate::web::session::SessionKey::from_token(token))),
            api_token,
            lists: Default::default(),
            site: Default::default(),
            throttle: Default::default(),
        }
    }

    /// The dashboard's links out, from the configured GitHub and Pipedrive URLs.
    pub fn with_site(mut self, site: crate::web::Site) -> ApiState {
        self.site = Arc::new(site);
        self
    }

    pub fn store(&self) -> &Store {
        &self.engine.store
    }

    /// Passes when no token is configured, or the request carries it (compared in constant
    /// time); else a 401, or a 429 while its address is throttled.
    fn check_bearer(
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

fn with_state(
    state: ApiState,
) -> impl Filter<Extract = (ApiState,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Passes only requests that carry the API token (when one is configured).
fn authorized(state: ApiState) -> impl Filter<Extract = (ApiState,), Error = Rejection> + Clone {
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

/// Every route, with JSON errors, the access log, request metrics and `Allow` on 405s.
/// Paths are matched before methods, so an unknown path is a 404 and a known one a 405.
pub fn routes(state: ApiState) -> BoxedFilter<(Response,)> {
    let answers = local_only(&state)
        .and(
            people_routes(&state)
                .or(sync_routes(&state))
                .unify()
                .or(operations_routes(&state))
                .unify()
                .or(documentation())
                .unify()
                .or(crate::web::routes(&state))
                .unify(),
        )
        .recover(rejection::handle_rejection)
        .unify();
    warp::path::full()
        .and(answers)
        .map(|path: warp::path::FullPath, mut response: Response| {
            if response.status() == StatusCode::METHOD_NOT_ALLOWED {
                // RFC 9110: a 405 names the methods the route does take.
                if let Some(allow) = route_table::allow(path.as_str())
                    .and_then(|allow| warp::http::HeaderValue::from_str(&allow).ok())
                {
                    response
                        .headers_mut()
                        .insert(warp::http::header::ALLOW, allow);
                }
            }
            response
        })
        .with(access_log(state.engine.metrics.clone()))
        .map(Reply::into_response)
        .boxed()
}

/// Without an API token the server only listens on loopback, and only this machine may
/// use it: a page on another site must not reach it through the visitor's browser. So a
/// request naming another host (a DNS name rebound to 127.0.0.1) is refused, as is a
/// cross-site request that changes something (a form or `fetch` posted from elsewhere).
/// With a token, the token is the guard.
fn local_only(state: &ApiState) -> BoxedFilter<()> {
    let open = state.api_token.is_none();
    warp::method()
        .and(warp::host::optional())
        .and(warp::header::optional::<String>("sec-fetch-site"))
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("x-forwarded-host"))
        .and_then(
            move |method: warp::http::Method,
                  host: Option<warp::host::Authority>,
                  fetch_site: Option<String>,
                  origin: Option<String>,
                  forwarded: Option<String>| async move {
                if !open {
                    return Ok(());
                }
                if let Some(host) = &host {
                    if !is_loopback_name(host.host()) {
                        return Err(warp::reject::custom(ApiProblem::new(
                            StatusCode::MISDIRECTED_REQUEST,
                            "not_this_server",
                            "without an API token this server answers only requests for \
                             localhost or a loopback address",
                        )));
                    }
                }
                let changes = !matches!(
                    method,
                    warp::http::Method::GET
                        | warp::http::Method::HEAD
                        | warp::http::Method::OPTIONS
                );
                // The names a proxy in front passes on count for the origin, as they do
                // for the dashboard's forms; never for the host check above, which a page
                // rebound to this address could satisfy by sending the header itself.
                let hosts: Vec<String> = host.iter().map(|h| h.to_string()).collect();
                let hosts: Vec<&str> = hosts
                    .iter()
                    .map(String::as_str)
                    .chain(forwarded.iter().flat_map(|f| f.split(',')).map(str::trim))
                    .collect();
                if changes
                    && crate::web::session::cross_site(
                        fetch_site.as_deref(),
                        origin.as_deref(),
                        &hosts,
                    )
                {
                    return Err(warp::reject::custom(ApiProblem::new(
                        StatusCode::FORBIDDEN,
                        "cross_site",
                        "a request from another site may not change anything here",
                    )));
                }
                Ok(())
            },
        )
        .untuple_one()
        .boxed()
}

/// `localhost` (and names under it), `127.0.0.0/8` and `::1`.
fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `/api/v1/people` and `/api/v1/people/{username}`.
fn people_routes(state: &ApiState) -> BoxedFilter<(Response,)> {
    let api = authorized(state.clone());
    let list_or_add = warp::path!("api" / "v1" / "people").and(
        warp::get()
            .and(api.clone())
            .and(query::query())
            .and_then(handlers::list_people)
            .or(warp::post()
                .and(api.clone())
                .and(query::query())
                .and(warp::header::optional::<String>("content-type"))
                .and(limited_body())
                .and_then(handlers::add_person))
            .unify(),
    );
    let view = warp::path!("api" / "v1" / "people" / String)
        .and(warp::get())
        .and(api.clone())
        .and(query::query())
        .and_then(|username, state, query| handlers::view_person(state, username, query));
    let delete = warp::path!("api" / "v1" / "people" / String)
        .and(warp::delete())
        .and(api.clone())
        .and_then(|username, state| handlers::delete_person(state, username));
    let relink = warp::path!("api" / "v1" / "people" / String / "relink")
        .and(warp::post())
        .and(api)
        .and(warp::header::optional::<String>("content-type"))
        .and(limited_body())
        .and_then(|username, state, content_type, body| {
            handlers::relink_person(state, username, content_type, body)
        });
    list_or_add
        .or(view)
        .unify()
        .or(delete)
        .unify()
        .or(relink)
        .unify()
        .boxed()
}

/// `/api/v1/sync` and `/api/v1/sync/runs`.
fn sync_routes(state: &ApiState) -> BoxedFilter<(Response,)> {
    let api = authorized(state.clone());
    let trigger = warp::path!("api" / "v1" / "sync")
        .and(warp::post())
        .and(api.clone())
        .and_then(handlers::trigger_sync);
    let runs = warp::path!("api" / "v1" / "sync" / "runs")
        .and(warp::get())
        .and(api)
        .and(query::query())
        .and_then(handlers::sync_runs);
    trigger.or(runs).unify().boxed()
}

/// `/healthz`, `/readyz` and `/metrics`: open, for probes and scrapers.
fn operations_routes(state: &ApiState) -> BoxedFilter<(Response,)> {
    let get_or_head = || warp::get().or(warp::head()).unify();
    let healthz = warp::path!("healthz")
        .and(get_or_head())
        .and_then(handlers::healthz);
    let readyz = warp::path!("readyz")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and_then(handlers::readyz);
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and_then(handlers::metrics);
    healthz.or(readyz).unify().or(metrics).unify().boxed()
}

/// The request body, up to [`BODY_LIMIT`] (413 beyond), with or without a Content-Length: a
/// bodiless POST is an empty body, as the Go service took it, not a 411.
pub(crate) fn limited_body() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    // A declared length over the limit is refused before anything is read (and before
    // `Expect: 100-continue` invites the upload); a chunked body is cut off as it streams.
    warp::header::optional::<u64>("content-length")
        .and_then(|declared: Option<u64>| async move {
            match declared {
                Some(length) if length > BODY_LIMIT => Err(too_large()),
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::body::stream())
        .and_then(|stream| async move {
            // A body that never ends would hold its connection for ever.
            tokio::time::timeout(server::BODY_READ_TIMEOUT, collect_limited(stream))
                .await
                .unwrap_or_else(|_| {
                    Err(warp::reject::custom(ApiProblem::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "request_timeout",
                        format!(
                            "the request body did not arrive within {}s",
                            server::BODY_READ_TIMEOUT.as_secs()
                        ),
                    )))
                })
        })
}

fn too_large() -> Rejection {
    warp::reject::custom(ApiProblem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is over {BODY_LIMIT} bytes"),
    ))
}

async fn collect_limited<S, B>(stream: S) -> Result<bytes::Bytes, Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    use futures_util::TryStreamExt;
    let mut body = bytes::BytesMut::new();
    let mut stream = Box::pin(stream);
    let unreadable = |_| {
        warp::reject::custom(ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the request body could not be read",
        ))
    };
    while let Some(mut chunk) = stream.try_next().await.map_err(unreadable)? {
        if body.len() as u64 + chunk.remaining() as u64 > BODY_LIMIT {
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            body.extend_from_slice(part);
            let read = part.len();
            chunk.advance(read);
        }
    }
    Ok(body.freeze())
}

/// One line per request (method, path, status, duration) and the request counter, labelled
/// by route pattern.
fn access_log(metrics: Arc<Metrics>) -> warp::log::Log<impl Fn(warp::log::Info<'_>) + Clone> {
    warp::log::custom(move |info| {
        let status = info.status().as_u16();
        let method = info.method().as_str();
        metrics.http_request(
            method,
            route_table::label(info.path()),
            status,
            info.elapsed(),
        );
        let duration_ms = info.elapsed().as_secs_f64() * 1000.0;
        let path = logged_path(info.path());
        log::info!(
            target: "gisttrack::http",
            method = method,
            path = path,
            status = status,
            duration_ms = duration_ms;
            "{method} {path} {status} {duration_ms:.1}ms"
        );
    })
}

/// A request path as logged: a client decides its length, so a long one is cut short rather
/// than let one request write kilobytes of log.
fn logged_path(path: &str) -> std::borrow::Cow<'_, str> {
    const LOGGED_PATH_CHARS: usize = 200;
    match path.char_indices().nth(LOGGED_PATH_CHARS) {
        None => path.into(),
        Some((cut, _)) => format!("{}…", &path[..cut]).into(),
    }
}

/// `/documentation/openapi.json` and Swagger UI at `/documentation/index.html`, from the
/// binary, under the dashboard's protections.
fn documentation() -> BoxedFilter<(Response,)> {
    let spec = Arc::new(openapi::json());
    // No validator badge: it would send the document's URL to swagger.io.
    let config = Arc::new(
        utoipa_swagger_ui::Config::from("/documentation/openapi.json").validator_url("none"),
    );
    let openapi_json = warp::path!("documentation" / "openapi.json")
        .and(warp::get())
        .map(move || {
            let mut response = (*spec).clone().into_response();
            response.headers_mut().insert(
                warp::http::header::CONTENT_TYPE,
                warp::http::HeaderValue::from_static("application/json"),
            );
            response
        });
    let root = warp::path!("documentation").and(warp::get()).map(|| {
        warp::redirect::found(warp::http::Uri::from_static("/documentation/index.html"))
            .into_response()
    });
    let ui = warp::path("documentation")
        .and(warp::path::tail())
        .and(warp::get())
        .and_then(move |tail: warp::path::Tail| {
            let config = config.clone();
            async move {
                match utoipa_swagger_ui::serve(tail.as_str(), config) {
                    Ok(Some(file)) => {
                        let mut response = Response::new(file.bytes.into_owned().into());
                        crate::web::protect(
                            response.headers_mut(),
                            crate::web::DOCUMENTATION_POLICY,
                        );
                        if let Ok(value) = file.content_type.parse() {
                            response
                                .headers_mut()
                                .insert(warp::http::header::CONTENT_TYPE, value);
                        }
                        if file.gzpipped {
                            response.headers_mut().insert(
                                warp::http::header::CONTENT_ENCODING,
                                warp::http::HeaderValue::from_static("gzip"),
                            );
                        }
                        Ok(response)
                    }
                    Ok(None) => Err(warp::reject::not_found()),
                    Err(err) => Err(warp::reject::custom(ApiProblem::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        err.to_string(),
                    ))),
                }
            }
        });
    openapi_json.or(root).unify().or(ui).unify().boxed()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_long_path_is_logged_cut_short() {
        assert_eq!(super::logged_path("/api/v1/people"), "/api/v1/people");
        let long = format!("/{}", "é".repeat(5000));
        let logged = super::logged_path(&long);
        assert_eq!(logged.chars().count(), 201);
        assert!(logged.ends_with('…'));
    }
}
