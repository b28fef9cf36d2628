//! `POST /api/v1/sync` and `GET /api/v1/sync/runs`.

use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::Rejection;

use super::json_reply;
use crate::error::Error;
use crate::http::problem::{ApiProblem, ErrorBody};
use crate::http::query::Query;
use crate::http::{blocking, AppState};
use crate::service::{self, SyncRunView};

/// The answer to `POST /api/v1/sync`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncAccepted {
    /// The `sync_runs` row that covers this request (see `GET /api/v1/sync/runs`).
    pub run_id: i64,
}

#[utoipa::path(
    post,
    path = "/api/v1/sync",
    tag = "sync",
    responses(
        (status = 202, description = "A pass runs now (or the one under way covers the request)", body = SyncAccepted),
        (status = 503, description = "Pipedrive is not configured, or the database is unavailable", body = ErrorBody),
    )
)]
pub async fn trigger_sync(state: AppState) -> Result<Response, Rejection> {
    let scheduler = state
        .scheduler
        .clone()
        .ok_or_else(|| warp::reject::custom(ApiProblem::from(Error::MissingPipedriveToken)))?;
    let run_id = scheduler
        .request_pass()
        .await
        .map_err(|err| warp::reject::custom(ApiProblem::from(err)))?;
    let mut response = json_reply(StatusCode::ACCEPTED, &SyncAccepted { run_id });
    if let Ok(location) = "/api/v1/sync/runs".parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// (Documents the parameter; it is read through [`Query`].)
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// How many runs, newest first (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/sync/runs",
    tag = "sync",
    params(RunsQuery),
    responses(
        (status = 200, description = "Recent sync passes, newest first", body = [SyncRunView]),
        (status = 400, description = "Bad limit", body = ErrorBody),
    )
)]
pub async fn sync_runs(state: AppState, query: Query) -> Result<Response, Rejection> {
    let limit: u32 = query.number("limit", (1, 1000))?.unwrap_or(50);
    let store = state.store().clone();
    let runs = blocking(move || service::recent_runs(&store, limit.into())).await?;
    Ok(json_reply(StatusCode::OK, &runs))
}
