//! `/healthz`, `/readyz` and `/metrics`: open, for probes and scrapers.

use serde::Serialize;
use utoipa::ToSchema;
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Rejection, Reply};

use super::json_reply;
use crate::http::problem::ErrorBody;
use crate::http::{blocking, AppState};
use crate::service::{self};

/// Liveness and readiness answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[utoipa::path(method(get, head), path = "/healthz", tag = "operations", responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Result<Response, Rejection> {
    Ok(json_reply(StatusCode::OK, &Health { status: "ok" }))
}

#[utoipa::path(
    method(get, head),
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    )
)]
pub async fn readyz(state: AppState) -> Result<Response, Rejection> {
    let store = state.store().clone();
    blocking(move || store.ping()).await?;
    Ok(json_reply(StatusCode::OK, &Health { status: "ready" }))
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(state: AppState) -> Result<Response, Rejection> {
    let store = state.store().clone();
    // Counters still answer when the database does not: only the gauges need it.
    let gauges = crate::blocking::run(move || service::delivery_gauges(&store))
        .await
        .unwrap_or_default();
    let mut response = state.engine.metrics.render(&gauges).into_response();
    if let Ok(value) = "text/plain; version=0.0.4; charset=utf-8".parse() {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    Ok(response)
}
