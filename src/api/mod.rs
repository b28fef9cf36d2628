//! The JSON API on warp: the seed's routes plus sync, docs, health and metrics, all calling
//! the same service layer as the CLI. A leaf over `crate::http`.

pub mod bodies;
pub mod openapi;
pub mod operations;
pub mod orgs;
mod paging;
pub mod people;
pub mod sync;

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::http::body::limited_body;
use crate::http::problem::ApiProblem;
use crate::http::{authorized, query, with_state, AppState, PathLogin};

/// Swagger UI's: the same, plus its own scripts (files, none inline), the icons its
/// stylesheet holds as `data:` images, its requests to this server, and, by its hash, the
/// one inline style it writes: the `<style>` of the logo in its top bar.
const DOCUMENTATION_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The API's routes, the health probes and the documentation.
pub fn routes(state: &AppState) -> BoxedFilter<(Response,)> {
    people_routes(state)
        .or(org_routes(state))
        .unify()
        .or(sync_routes(state))
        .unify()
        .or(operations_routes(state))
        .unify()
        .or(documentation())
        .unify()
        .boxed()
}

/// `/api/v1/people` and `/api/v1/people/{username}`.
fn people_routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let api = authorized(state.clone());
    let list_or_add = warp::path!("api" / "v1" / "people").and(
        warp::get()
            .and(api.clone())
            .and(query::query())
            .and_then(people::list_people)
            .or(warp::post()
                .and(api.clone())
                .and(query::query())
                .and(warp::header::optional::<String>("content-type"))
                .and(limited_body())
                .and_then(people::add_person))
            .unify(),
    );
    let view = warp::path!("api" / "v1" / "people" / PathLogin)
        .and(warp::get())
        .and(api.clone())
        .and(query::query())
        .and_then(|username: PathLogin, state, query| {
            people::view_person(state, username.0, query)
        });
    let delete = warp::path!("api" / "v1" / "people" / PathLogin)
        .and(warp::delete())
        .and(api.clone())
        .and_then(|username: PathLogin, state| people::delete_person(state, username.0));
    let relink = warp::path!("api" / "v1" / "people" / PathLogin / "relink")
        .and(warp::post())
        .and(api)
        .and(warp::header::optional::<String>("content-type"))
        .and(limited_body())
        .and_then(|username: PathLogin, state, content_type, body| {
            people::relink_person(state, username.0, content_type, body)
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

/// `/api/v1/orgs` and `/api/v1/orgs/{org}`.
fn org_routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let api = authorized(state.clone());
    let list_or_add = warp::path!("api" / "v1" / "orgs").and(
        warp::get()
            .and(api.clone())
            .and_then(orgs::list_orgs)
            .or(warp::post()
                .and(api.clone())
                .and(query::query())
                .and(warp::header::optional::<String>("content-type"))
                .and(limited_body())
                .and_then(orgs::add_org))
            .unify(),
    );
    let delete = warp::path!("api" / "v1" / "orgs" / PathLogin)
        .and(warp::delete())
        .and(api)
        .and(query::query())
        .and_then(|org: PathLogin, state, query| orgs::delete_org(state, org.0, query));
    list_or_add.or(delete).unify().boxed()
}

/// `/api/v1/sync` and `/api/v1/sync/runs`.
fn sync_routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let api = authorized(state.clone());
    let trigger = warp::path!("api" / "v1" / "sync")
        .and(warp::post())
        .and(api.clone())
        .and_then(sync::trigger_sync);
    let runs = warp::path!("api" / "v1" / "sync" / "runs")
        .and(warp::get())
        .and(api)
        .and(query::query())
        .and_then(sync::sync_runs);
    trigger.or(runs).unify().boxed()
}

/// `/healthz`, `/readyz` and `/metrics`: open, for probes and scrapers.
fn operations_routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let get_or_head = || warp::get().or(warp::head()).unify();
    let healthz = warp::path!("healthz")
        .and(get_or_head())
        .and_then(operations::healthz);
    let readyz = warp::path!("readyz")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and_then(operations::readyz);
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and_then(operations::metrics);
    healthz.or(readyz).unify().or(metrics).unify().boxed()
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
                        crate::http::protect(response.headers_mut(), DOCUMENTATION_POLICY);
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

/// A JSON answer with its status.
pub(crate) fn json_reply<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}
