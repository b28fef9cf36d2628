//! The HTTP handlers: each parses its input, runs one service call off the async threads,
//! and shapes the answer.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Rejection, Reply};

use super::list_cache::{CachedList, ListKey};
use super::rejection::{ApiProblem, ErrorBody};
use super::{blocking, ApiState};
use crate::db::people::Page;
use crate::error::Error;
use crate::service::{self, PersonDetail, PersonSummary, SyncRunView, ViewMode};

fn json_reply<T: Serialize>(status: StatusCode, body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// Paging for `GET /api/v1/people`; without either parameter every person is returned.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number (default 1 when `per_page` is given).
    #[param(minimum = 1, maximum = 4294967295_u64, format = Int64)]
    pub page: Option<u32>,
    /// People per page, 1 to 1000 (default 100 when `page` is given).
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/people",
    tag = "people",
    params(PageQuery),
    responses(
        (status = 200, description = "Tracked people, ordered by login. When paged, a `Link` header points to the other pages and `X-Total-Count` gives the total. Changes made by another process may take up to a second to show.", body = [PersonSummary]),
        (status = 400, description = "Bad paging parameters", body = ErrorBody),
    )
)]
pub async fn list_people(state: ApiState, query: PageQuery) -> Result<Response, Rejection> {
    let key = page_key(&query)?;
    let list = rendered_list(&state, key).await?;
    let mut response = Response::new(list.body.into());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Some((page, per_page)) = key {
        if let Ok(value) = link_header(page, per_page, list.total).parse() {
            headers.insert(header::LINK, value);
        }
        headers.insert("x-total-count", list.total.into());
    }
    Ok(response)
}

/// `None` for the whole list, else the page asked for (`page` 1 and `per_page` 100 when
/// only one is given).
fn page_key(query: &PageQuery) -> Result<ListKey, Rejection> {
    if query.page.is_none() && query.per_page.is_none() {
        return Ok(None);
    }
    let (page, per_page) = (query.page.unwrap_or(1), query.per_page.unwrap_or(100));
    if page == 0 || per_page == 0 || per_page > 1000 {
        return Err(warp::reject::custom(ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "page must be at least 1 and per_page between 1 and 1000",
        )));
    }
    Ok(Some((page, per_page)))
}

/// The rendered list for a key: reused while fresh, else read and rendered off the async
/// threads.
async fn rendered_list(state: &ApiState, key: ListKey) -> Result<CachedList, Rejection> {
    let revision = state.store().revision();
    if let Some(hit) = state.lists.get(key, revision) {
        return Ok(hit);
    }
    let store = state.store().clone();
    let (body, total) = blocking(move || {
        let page = key.map(|(page, per_page)| Page {
            offset: (page as i64 - 1) * per_page as i64,
            limit: per_page as i64,
        });
        let people = service::list_people(&store, page)?;
        let total = match page {
            Some(_) => service::count_people(&store)?,
            None => people.len() as i64,
        };
        let body = serde_json::to_vec(&people).map_err(|e| Error::Internal(e.to_string()))?;
        Ok((body, total))
    })
    .await?;
    Ok(state.lists.put(key, revision, body.into(), total))
}

/// RFC 8288 links to the first, previous, next and last pages. The previous page of one
/// beyond the end is the last page, so a client walking back lands on data.
fn link_header(page: u32, per_page: u32, total: i64) -> String {
    let last = ((total.max(0) as u64).div_ceil(per_page as u64)).max(1) as u32;
    let link =
        |n: u32, rel: &str| format!("</api/v1/people?page={n}&per_page={per_page}>; rel=\"{rel}\"");
    let mut links = vec![link(1, "first")];
    if page > 1 {
        links.push(link((page - 1).min(last), "prev"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
    }
    links.push(link(last, "last"));
    links.join(", ")
}

/// Which gists `GET /api/v1/people/{username}` lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViewQuery {
    /// Every gist; does not record a visit.
    pub all: Option<bool>,
    /// The seed's name for `all`.
    #[serde(rename = "getAllGists")]
    #[param(rename = "getAllGists")]
    pub get_all_gists: Option<bool>,
    /// The gists new since the last visit, without recording this one.
    pub peek: Option<bool>,
}

#[utoipa::path(
    get,
    path = "/api/v1/people/{username}",
    tag = "people",
    params(("username" = String, Path, description = "GitHub login (case-insensitive)", min_length = 1, max_length = 39, pattern = "^[A-Za-z0-9][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*-?$"), ViewQuery),
    responses(
        (status = 200, description = "The person and the gists first seen since the previous visit (which this request records), or every gist with `all`", body = PersonDetail),
        (status = 400, description = "Invalid username or query", body = ErrorBody),
        (status = 404, description = "Not tracked", body = ErrorBody),
    )
)]
pub async fn view_person(
    state: ApiState,
    username: String,
    query: ViewQuery,
) -> Result<Response, Rejection> {
    let mode = if query.all.unwrap_or(false) || query.get_all_gists.unwrap_or(false) {
        ViewMode::All
    } else if query.peek.unwrap_or(false) {
        ViewMode::Peek
    } else {
        ViewMode::NewSinceLastVisit
    };
    let store = state.store().clone();
    let detail = blocking(move || service::view_person(&store, &username, mode)).await?;
    Ok(json_reply(StatusCode::OK, &detail))
}

/// The body of `POST /api/v1/people`, as JSON or as form data (the seed's way).
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddPersonRequest {
    /// GitHub login to track.
    #[schema(
        min_length = 1,
        max_length = 39,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*-?$"
    )]
    pub username: String,
    /// Deliver gists that existed before the user was added (default true).
    pub backfill: Option<bool>,
}

fn missing_username() -> ApiProblem {
    ApiProblem::new(
        StatusCode::BAD_REQUEST,
        "missing_username",
        "send username as form data or as JSON {\"username\": ...}",
    )
}

fn invalid_body(message: impl Into<String>) -> ApiProblem {
    ApiProblem::new(StatusCode::BAD_REQUEST, "invalid_body", message)
}

fn parse_backfill(value: Option<&str>) -> Result<Option<bool>, ApiProblem> {
    match value {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(_) => Err(invalid_body("backfill must be true or false")),
    }
}

/// Reads `username` from a JSON, URL-encoded or multipart body (the seed accepted form data
/// in either encoding).
async fn parse_add_request(
    content_type: Option<&str>,
    body: bytes::Bytes,
) -> Result<AddPersonRequest, ApiProblem> {
    let original = content_type.unwrap_or("");
    let content_type = original.to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        // The boundary is case-sensitive: parse it from the header as sent.
        return parse_multipart(original, body).await;
    }
    let is_json = if content_type.is_empty() {
        body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
    } else {
        content_type.contains("json")
    };
    if is_json {
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| invalid_body(format!("invalid JSON: {e}")))?;
        let username = value
            .get("username")
            .and_then(|u| u.as_str())
            .ok_or_else(missing_username)?;
        let backfill = match value.get("backfill") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Bool(b)) => Some(*b),
            Some(_) => return Err(invalid_body("backfill must be true or false")),
        };
        return Ok(AddPersonRequest {
            username: username.to_string(),
            backfill,
        });
    }
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| invalid_body(format!("invalid form data: {e}")))?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    Ok(AddPersonRequest {
        username: field("username").ok_or_else(missing_username)?.to_string(),
        backfill: parse_backfill(field("backfill"))?,
    })
}

async fn parse_multipart(
    content_type: &str,
    body: bytes::Bytes,
) -> Result<AddPersonRequest, ApiProblem> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| invalid_body(format!("invalid multipart body: {e}")))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let (mut username, mut backfill) = (None, None);
    let bad = |e: multer::Error| invalid_body(format!("invalid multipart body: {e}"));
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("username") => username = Some(field.text().await.map_err(bad)?),
            Some("backfill") => backfill = Some(field.text().await.map_err(bad)?),
            _ => {}
        }
    }
    Ok(AddPersonRequest {
        username: username.ok_or_else(missing_username)?,
        backfill: parse_backfill(backfill.as_deref())?,
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/people",
    tag = "people",
    request_body(
        description = "The GitHub login to track",
        content(
            (AddPersonRequest = "application/x-www-form-urlencoded"),
            (AddPersonRequest = "multipart/form-data"),
            (AddPersonRequest = "application/json"),
        )
    ),
    responses(
        (status = 201, description = "Tracking started; `Location` names the new person", body = PersonDetail),
        (status = 400, description = "Missing or invalid username, or already tracked", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "No such GitHub user", body = ErrorBody),
        (status = 502, description = "GitHub or Pipedrive failed; nothing was created", body = ErrorBody),
        (status = 503, description = "Pipedrive is not configured, or the database is unavailable", body = ErrorBody),
    )
)]
pub async fn add_person(
    state: ApiState,
    content_type: Option<String>,
    body: bytes::Bytes,
) -> Result<Response, Rejection> {
    let request = parse_add_request(content_type.as_deref(), body)
        .await
        .map_err(warp::reject::custom)?;
    let backfill = request.backfill.unwrap_or(true);
    let engine = state.engine.clone();
    let detail =
        blocking(move || service::add_person(&engine, &request.username, backfill)).await?;
    let mut response = json_reply(StatusCode::CREATED, &detail);
    if let Ok(location) = format!("/api/v1/people/{}", detail.person.github_username).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The answer to a delete.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: String,
}

#[utoipa::path(
    delete,
    path = "/api/v1/people/{username}",
    tag = "people",
    params(("username" = String, Path, description = "GitHub login (case-insensitive)", min_length = 1, max_length = 39, pattern = "^[A-Za-z0-9][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*-?$")),
    responses(
        (status = 200, description = "No longer tracked; Pipedrive keeps its person and activities", body = Deleted),
        (status = 400, description = "Invalid username", body = ErrorBody),
        (status = 404, description = "Not tracked", body = ErrorBody),
    )
)]
pub async fn delete_person(state: ApiState, username: String) -> Result<Response, Rejection> {
    let store = state.store().clone();
    let deleted = blocking(move || service::delete_person(&store, &username)).await?;
    Ok(json_reply(StatusCode::OK, &Deleted { deleted }))
}

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
pub async fn trigger_sync(state: ApiState) -> Result<Response, Rejection> {
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

#[derive(Debug, Deserialize, IntoParams)]
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
pub async fn sync_runs(state: ApiState, query: RunsQuery) -> Result<Response, Rejection> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(warp::reject::custom(ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "limit must be between 1 and 1000",
        )));
    }
    let store = state.store().clone();
    let runs = blocking(move || service::recent_runs(&store, limit.into())).await?;
    Ok(json_reply(StatusCode::OK, &runs))
}

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
pub async fn readyz(state: ApiState) -> Result<Response, Rejection> {
    let store = state.store().clone();
    blocking(move || store.ping()).await?;
    Ok(json_reply(StatusCode::OK, &Health { status: "ready" }))
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(state: ApiState) -> Result<Response, Rejection> {
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

#[cfg(test)]
mod tests {
    use super::link_header;

    #[test]
    fn links_point_at_pages_that_exist() {
        let rel = |header: &str, rel: &str| {
            header
                .split(", ")
                .find(|l| l.ends_with(&format!("rel=\"{rel}\"")))
                .map(|l| l.split(['=', '&']).nth(1).unwrap().to_string())
        };
        let middle = link_header(2, 1, 3);
        assert_eq!(rel(&middle, "prev").as_deref(), Some("1"));
        assert_eq!(rel(&middle, "next").as_deref(), Some("3"));
        assert_eq!(rel(&middle, "last").as_deref(), Some("3"));
        let beyond = link_header(99, 1, 3);
        assert_eq!(rel(&beyond, "prev").as_deref(), Some("3"), "{beyond}");
        assert_eq!(rel(&beyond, "next"), None);
        let empty = link_header(1, 10, 0);
        assert_eq!(rel(&empty, "last").as_deref(), Some("1"));
        assert_eq!(rel(&empty, "prev"), None);
    }
}
