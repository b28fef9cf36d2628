//! Every route `serve` answers: the API and the dashboard over the shared HTTP layer, with
//! JSON errors, `Allow` on 405s, the host guard and the access log.

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::http::{guard, problem, route_table, AppState};
use crate::metrics::Metrics;

/// Every route, with JSON errors, the access log, request metrics and `Allow` on 405s.
/// Paths are matched before methods, so an unknown path is a 404 and a known one a 405.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let answers = guard::local_only(&state)
        .and(
            crate::api::routes(&state)
                .or(crate::web::routes(&state))
                .unify(),
        )
        .recover(problem::handle_rejection)
        .unify();
    warp::path::full()
        .and(warp::method())
        .and(answers)
        .map(
            |path: warp::path::FullPath, method: warp::http::Method, mut response: Response| {
                // The route table is the one list of routes: a filter it does not list fails
                // every test that reaches it, not only the document's check against the table.
                debug_assert!(
                    listed(path.as_str(), method.as_str(), response.status()),
                    "{method} {} answered {} but is not in the route table",
                    path.as_str(),
                    response.status()
                );
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
            },
        )
        .with(access_log(state.engine.metrics.clone()))
        .map(Reply::into_response)
        .boxed()
}

/// Whether an answer is one the route table accounts for: every success or redirect comes
/// from a route and method it lists.
fn listed(path: &str, method: &str, status: StatusCode) -> bool {
    if !(status.is_success() || status.is_redirection()) {
        return true;
    }
    route_table::route_of(path).is_some_and(|route| route.methods.contains(&method))
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

#[cfg(test)]
mod tests {
    use warp::http::StatusCode;

    #[test]
    fn an_answer_from_a_route_the_table_does_not_list_is_caught() {
        assert!(super::listed("/api/v1/people", "GET", StatusCode::OK));
        assert!(super::listed("/people/octocat", "GET", StatusCode::OK));
        assert!(!super::listed("/api/v1/unlisted", "GET", StatusCode::OK));
        assert!(!super::listed("/api/v1/people", "PUT", StatusCode::CREATED));
        assert!(!super::listed("/healthz", "POST", StatusCode::SEE_OTHER));
        // Refusals come from anywhere: the guard, unknown paths, wrong methods.
        assert!(super::listed("/nowhere", "GET", StatusCode::NOT_FOUND));
        assert!(super::listed(
            "/api/v1/people",
            "PUT",
            StatusCode::METHOD_NOT_ALLOWED
        ));
    }

    #[test]
    fn a_long_path_is_logged_cut_short() {
        assert_eq!(super::logged_path("/api/v1/people"), "/api/v1/people");
        let long = format!("/{}", "é".repeat(5000));
        let logged = super::logged_path(&long);
        assert_eq!(logged.chars().count(), 201);
        assert!(logged.ends_with('…'));
    }
}
