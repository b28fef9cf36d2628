//! `GET/POST /api/v1/orgs` and `DELETE /api/v1/orgs/{org}`: the followed GitHub
//! organizations, through the same service calls as `gisttrack org`.

use super::json_reply;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::Rejection;

use crate::http::problem::{ApiProblem, ErrorBody};
use crate::http::query::Query;
use crate::http::{blocking, AppState};
use crate::service::orgs::{self, OrgAdded, OrgDeleted, OrgSummary};

#[utoipa::path(
    get,
    path = "/api/v1/orgs",
    tag = "orgs",
    responses(
        (status = 200, description = "Followed GitHub organizations, by login, with their Pipedrive organization, members, leavers and who is skipped and why", body = [OrgSummary]),
    )
)]
pub async fn list_orgs(state: AppState) -> Result<Response, Rejection> {
    let store = state.store().clone();
    let followed = blocking(move || orgs::list_orgs(&store)).await?;
    Ok(json_reply(StatusCode::OK, &followed))
}

/// The body of `POST /api/v1/orgs`, as JSON or form data.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddOrgRequest {
    /// The GitHub organization's login.
    #[schema(
        min_length = 1,
        max_length = 39,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*-?$"
    )]
    pub org: String,
}

fn invalid_body(message: impl Into<String>) -> ApiProblem {
    ApiProblem::new(StatusCode::BAD_REQUEST, "invalid_body", message)
}

/// The organization a POST names: JSON `{"org": ...}`, form data `org=...`, or `?org=`.
fn org_field(query: &Query, content_type: Option<&str>, body: &[u8]) -> Result<String, ApiProblem> {
    let media = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else if media == "application/json"
        || media.ends_with("+json")
        || (media.is_empty() && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'))
    {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| invalid_body(format!("invalid JSON: {e}")))?;
        match value.get("org") {
            None | Some(serde_json::Value::Null) if value.is_object() => None,
            Some(serde_json::Value::String(org)) => Some(org.clone()),
            _ => {
                return Err(invalid_body(
                    "expected a JSON object such as {\"org\": \"acme\"}",
                ))
            }
        }
    } else if media == "application/x-www-form-urlencoded" || media.is_empty() {
        Query::parse(&String::from_utf8_lossy(body))?
            .first("org")
            .map(str::to_string)
    } else {
        return Err(ApiProblem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("a body of type {media:?} is not taken here: send application/json or application/x-www-form-urlencoded"),
        ));
    };
    from_body
        .or_else(|| query.first("org").map(str::to_string))
        .ok_or_else(|| {
            ApiProblem::new(
                StatusCode::BAD_REQUEST,
                "missing_org",
                "send org as form data, as JSON {\"org\": ...}, or in the query string",
            )
        })
}

#[utoipa::path(
    post,
    path = "/api/v1/orgs",
    tag = "orgs",
    request_body(
        description = "The GitHub organization to follow",
        content(
            (AddOrgRequest = "application/x-www-form-urlencoded"),
            (AddOrgRequest = "application/json"),
        )
    ),
    responses(
        (status = 201, description = "Following it now: its Pipedrive organization found or created, its public members tracked (bots and excluded logins left out)", body = OrgAdded),
        (status = 200, description = "Already followed: members who joined since are tracked, nothing is created twice", body = OrgAdded),
        (status = 400, description = "Missing or invalid organization login", body = ErrorBody),
        (status = 415, description = "A body of a content type the route does not take", body = ErrorBody),
        (status = 422, description = "No such GitHub organization", body = ErrorBody),
        (status = 502, description = "GitHub or Pipedrive failed", body = ErrorBody),
        (status = 503, description = "Not now: Pipedrive is not configured, another add of the organization is under way, or an earlier creation of its Pipedrive organization got no answer and may still land (`Retry-After` says when to try again)", body = ErrorBody),
    )
)]
pub async fn add_org(
    state: AppState,
    query: Query,
    content_type: Option<String>,
    body: bytes::Bytes,
) -> Result<Response, Rejection> {
    let org = org_field(&query, content_type.as_deref(), &body).map_err(warp::reject::custom)?;
    let engine = state.engine.clone();
    let added: OrgAdded = blocking(move || orgs::add_org(&engine, &org)).await?;
    let status = match added.already_followed {
        true => StatusCode::OK,
        false => StatusCode::CREATED,
    };
    let mut response = json_reply(status, &added);
    if let Ok(location) = format!("/api/v1/orgs/{}", added.org.org).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// What `DELETE /api/v1/orgs/{org}` also does. (Documents the parameter; it is read through
/// [`Query`].)
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteOrgQuery {
    /// Stop tracking its members too (Pipedrive keeps their persons and activities).
    /// `true`, `false`, `1` or `0`, in any case.
    pub members: Option<bool>,
}

#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}",
    tag = "orgs",
    params(("org" = String, Path, description = "GitHub organization login (case-insensitive)", min_length = 1, max_length = 39, pattern = "^[A-Za-z0-9][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*-?$"), DeleteOrgQuery),
    responses(
        (status = 200, description = "No longer followed; its members stay tracked unless `members`", body = OrgDeleted),
        (status = 400, description = "Invalid organization login or query", body = ErrorBody),
        (status = 404, description = "Not followed", body = ErrorBody),
    )
)]
// `org` comes percent-decoded (`crate::http::PathLogin`).
pub async fn delete_org(state: AppState, org: String, query: Query) -> Result<Response, Rejection> {
    let members = query.bool("members")?.unwrap_or(false);
    let engine = state.engine.clone();
    let deleted =
        blocking(move || orgs::delete_org(&engine.store, &engine.settings, &org, members)).await?;
    Ok(json_reply(StatusCode::OK, &deleted))
}
