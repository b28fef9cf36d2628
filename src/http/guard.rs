//! Who may use the server at all: without an API token, only this machine (its Host a
//! loopback name, its changes not posted from another site).

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::Filter;

use super::problem::ApiProblem;
use super::AppState;

/// Without an API token, a server on loopback is for this machine only: a page on another
/// site must not reach it through the visitor's browser. So a request naming another host (a
/// DNS name rebound to 127.0.0.1) is refused, the probes and metrics excepted, and on any
/// address a cross-site request that changes something (a form or `fetch` posted from
/// elsewhere) is refused. With a token, the token is the guard. A server listening on an
/// address other machines reach without a token was opened on purpose (and warned about):
/// there the Host check applies to connections from this machine only, where a rebound page
/// in the operator's own browser would come from.
pub fn local_only(state: &AppState) -> BoxedFilter<()> {
    let open = state.api_token.is_none();
    let loopback_only = state.loopback_only;
    warp::method()
        .and(warp::ext::optional::<super::server::ClientAddress>())
        .and(warp::path::full())
        .and(warp::host::optional())
        .and(warp::header::optional::<String>("sec-fetch-site"))
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("x-forwarded-host"))
        .and_then(
            move |method: warp::http::Method,
                  peer: Option<super::server::ClientAddress>,
                  path: warp::path::FullPath,
                  host: Option<warp::host::Authority>,
                  fetch_site: Option<String>,
                  origin: Option<String>,
                  forwarded: Option<String>| async move {
                if !open {
                    return Ok(());
                }
                let probe = matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics");
                let check_host = loopback_only || peer.is_some_and(|peer| peer.0.is_loopback());
                if let Some(host) = host.as_ref().filter(|_| check_host && !probe) {
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
                    && super::session::cross_site(fetch_site.as_deref(), origin.as_deref(), &hosts)
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
