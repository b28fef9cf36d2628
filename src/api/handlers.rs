//! The HTTP handlers: each parses its input, runs one service call off the async threads,
//! and shapes the answer.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Rejection, Reply};

use super::list_cache::{CachedList, ListKey, Rendered};
use super::query::{parse_bool, Query, BOOLEANS};
use super::rejection::{ApiProblem, ErrorBody};
use super::{blocking, ApiState};
use crate::db::people::Page;
use crate::error::Error;
use crate::ids::PipedrivePersonId;
use crate::service::relink::{self, RelinkTo};
use crate::service::{self, PersonDetail, PersonSummary, SyncRunView, ViewMode};

/// A path segment as the client meant it: percent-decoded (`oct%6Fcat` is `octocat`, as the
/// Go service's router read it). Bytes that are not UTF-8 become U+FFFD, which no login has.
pub(crate) fn path_segment(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

fn json_reply<T: Serialize>(status: StatusCode, body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// Paging for `GET /api/v1/people`; without any of them every person is returned.
/// (Documents the parameters; they are read through [`Query`].)
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number (default 1 when `per_page` is given).
    #[param(minimum = 1, maximum = 4294967295_u64, format = Int64)]
    pub page: Option<u32>,
    /// People per page, 1 to 1000 (default 100 when `page` or `after` is given).
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
    /// Keyset paging, for large lists: the people after this login (a page deep in the list
    /// costs what the first does). The `Link` header's `next` continues it. Not with `page`.
    #[param(
        min_length = 1,
        max_length = 39,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*-?$"
    )]
    pub after: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/people",
    tag = "people",
    params(PageQuery),
    responses(
        (status = 200, description = "Tracked people, ordered by login. When paged, a `Link` header points to the other pages and `X-Total-Count` gives the total. Changes made by another process may take up to a second to show.", body = [PersonSummary]),
        (status = 400, description = "Bad paging parameters, or both `after` and `page`", body = ErrorBody),
    )
)]
pub async fn list_people(state: ApiState, query: Query) -> Result<Response, Rejection> {
    let key = page_key(&query)?;
    let list = rendered_list(&state, key.clone()).await?;
    let links = match &key {
        None => None,
        Some(Page::Offset { offset, limit }) => {
            let (page, per_page) = ((offset / limit) as u32 + 1, *limit as u32);
            Some(numbered_links(page, per_page, list.total))
        }
        Some(Page::After { limit, .. }) => {
            Some(keyset_links(*limit as u32, list.next_after.as_deref()))
        }
    };
    let mut response = Response::new(list.body.into());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Some(value) = links.and_then(|links| links.parse().ok()) {
        headers.insert(header::LINK, value);
    }
    if matches!(key, Some(Page::Offset { .. })) {
        headers.insert("x-total-count", list.total.into());
    }
    Ok(response)
}

/// `None` for the whole list, else the page asked for: numbered (`page` 1 and `per_page`
/// 100 when only one is given) or after a login.
fn page_key(query: &Query) -> Result<ListKey, Rejection> {
    let page = query.number::<u32>("page", (1, u32::MAX))?;
    let per_page = query.number::<u32>("per_page", (1, 1000))?;
    let after = query.first("after");
    let limit = per_page.unwrap_or(100) as i64;
    match (after, page) {
        (Some(_), Some(_)) => Err(ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "query parameters \"after\" and \"page\" are two ways to page: send one",
        )
        .into()),
        (Some(after), None) => {
            let login = crate::login::Login::parse(after).map_err(|_| {
                ApiProblem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "query parameter \"after\" takes a GitHub login",
                )
            })?;
            Ok(Some(Page::After {
                key: login.key(),
                limit,
            }))
        }
        (None, None) if per_page.is_none() => Ok(None),
        (None, page) => Ok(Some(Page::Offset {
            offset: (page.unwrap_or(1) as i64 - 1) * limit,
            limit,
        })),
    }
}

/// The rendered list for a key: reused while fresh (and then rendered again in the
/// background), else read and rendered off the async threads.
async fn rendered_list(state: &ApiState, key: ListKey) -> Result<CachedList, Rejection> {
    let revision = state.store().revision();
    if let Some(hit) = state.lists.get(&key, revision) {
        if let Some(claim) = hit
            .refresh
            .then(|| state.lists.begin_refresh(&key))
            .flatten()
        {
            let (state, key) = (state.clone(), key.clone());
            tokio::spawn(async move {
                let store = state.store().clone();
                let read = key.clone();
                let started = std::time::Instant::now();
                match blocking(move || render_list(&store, read)).await {
                    Ok(rendered) => {
                        state.lists.put(key, revision, started, rendered);
                    }
                    Err(_) => {
                        log::debug!("a background list refresh failed; the next read retries")
                    }
                }
                drop(claim);
            });
        }
        return Ok(hit.list);
    }
    let store = state.store().clone();
    let read = key.clone();
    let started = std::time::Instant::now();
    let rendered = blocking(move || render_list(&store, read)).await?;
    Ok(state.lists.put(key, revision, started, rendered))
}

/// Reads and renders one list (blocking).
fn render_list(store: &crate::db::Store, key: ListKey) -> crate::error::Result<Rendered> {
    let (people, total, next_after) = match key {
        None => {
            let people = service::list_people(store, None)?;
            let total = people.len() as i64;
            (people, total, None)
        }
        Some(page @ Page::Offset { .. }) => {
            let people = service::list_people(store, Some(page))?;
            (people, service::count_people(store)?, None)
        }
        Some(Page::After { key, limit }) => {
            // One more than the page: whether a next page exists, without counting.
            let mut people = service::list_people(
                store,
                Some(Page::After {
                    key,
                    limit: limit + 1,
                }),
            )?;
            let more = people.len() as i64 > limit;
            people.truncate(limit as usize);
            let next = more
                .then(|| people.last().map(|p| p.github_username.clone()))
                .flatten();
            (people, 0, next)
        }
    };
    let body = serde_json::to_vec(&people).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Rendered {
        body: body.into(),
        total,
        next_after,
    })
}

/// RFC 8288 links to the first, previous, next and last pages. The previous page of one
/// beyond the end is the last page, so a client walking back lands on data.
fn numbered_links(page: u32, per_page: u32, total: i64) -> String {
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

/// Keyset links: the first page, and the next one (after this page's last login) while there
/// are people after it.
fn keyset_links(per_page: u32, next_after: Option<&str>) -> String {
    let mut links = vec![format!(
        "</api/v1/people?per_page={per_page}>; rel=\"first\""
    )];
    if let Some(after) = next_after {
        links.push(format!(
            "</api/v1/people?after={after}&per_page={per_page}>; rel=\"next\""
        ));
    }
    links.join(", ")
}

/// Which gists `GET /api/v1/people/{username}` lists. Each takes `true`, `false`, `1` or `0`,
/// in any case. (Documents the parameters; they are read through [`Query`].)
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViewQuery {
    /// Every gist; does not record a visit. `true`, `false`, `1` or `0`, in any case.
    pub all: Option<bool>,
    /// The Go service's name for `all`. `true`, `false`, `1` or `0`, in any case.
    #[param(rename = "getAllGists")]
    pub get_all_gists: Option<bool>,
    /// The gists new since the last visit, without recording this one. `true`, `false`, `1`
    /// or `0`, in any case.
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
    query: Query,
) -> Result<Response, Rejection> {
    let username = path_segment(&username);
    // Every parameter is read (and a bad one refused) before any decides.
    let (all, get_all_gists, peek) = (
        query.bool("all")?.unwrap_or(false),
        query.bool("getAllGists")?.unwrap_or(false),
        query.bool("peek")?.unwrap_or(false),
    );
    let mode = if all || get_all_gists {
        ViewMode::All
    } else if peek {
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
    /// Deliver gists that existed before the user was added (default true). In form data:
    /// `true`, `false`, `1` or `0`, in any case.
    pub backfill: Option<bool>,
}

/// The query string of `POST /api/v1/people`, read when the body does not say (the Go
/// service's clients post `?username=...` with no body). (Documents the parameters; they are
/// read through [`Query`].)
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AddQuery {
    /// GitHub login to track, when the body has none.
    #[param(
        min_length = 1,
        max_length = 39,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*-?$"
    )]
    pub username: Option<String>,
    /// Deliver gists that existed before the user was added (default true), when the body
    /// does not say. `true`, `false`, `1` or `0`, in any case.
    pub backfill: Option<bool>,
}

fn missing_username() -> ApiProblem {
    ApiProblem::new(
        StatusCode::BAD_REQUEST,
        "missing_username",
        "send username as form data, as JSON {\"username\": ...}, or in the query string",
    )
}

fn invalid_body(message: impl Into<String>) -> ApiProblem {
    ApiProblem::new(StatusCode::BAD_REQUEST, "invalid_body", message)
}

/// The content types `POST /api/v1/people` takes.
const ACCEPTED_BODIES: &str =
    "application/x-www-form-urlencoded, multipart/form-data or application/json";

/// What a POST said, before the query string fills in what the body did not.
#[derive(Debug, Default)]
struct Fields {
    username: Option<String>,
    backfill: Option<String>,
}

/// The fields of a JSON, URL-encoded or multipart body (the Go service took form data in
/// either encoding); none for an empty body. Another content type is a 415.
async fn body_fields(content_type: Option<&str>, body: bytes::Bytes) -> Result<Fields, ApiProblem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Fields::default());
    }
    let original = content_type.unwrap_or("");
    let lower = original.to_ascii_lowercase();
    let media = lower.split(';').next().unwrap_or("").trim();
    match media {
        // The boundary is case-sensitive: it is read from the header as sent.
        "multipart/form-data" => multipart_fields(original, body).await,
        "application/x-www-form-urlencoded" => form_fields(&body),
        m if m == "application/json" || m.ends_with("+json") => json_fields(&body),
        "" if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => json_fields(&body),
        "" => form_fields(&body),
        _ => Err(ApiProblem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("a body of type {original:?} is not taken here: send {ACCEPTED_BODIES}"),
        )),
    }
}

fn json_fields(body: &[u8]) -> Result<Fields, ApiProblem> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| invalid_body(format!("invalid JSON: {e}")))?;
    if !value.is_object() {
        return Err(invalid_body(
            "expected a JSON object such as {\"username\": \"octocat\"}",
        ));
    }
    let username = match value.get("username") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(name)) => Some(name.clone()),
        Some(_) => return Err(invalid_body("username must be a string")),
    };
    let backfill = match value.get("backfill") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(text)) => Some(text.clone()),
        Some(other @ (serde_json::Value::Bool(_) | serde_json::Value::Number(_))) => {
            Some(other.to_string())
        }
        Some(_) => return Err(invalid_body(format!("backfill takes {BOOLEANS}"))),
    };
    Ok(Fields { username, backfill })
}

fn form_fields(body: &[u8]) -> Result<Fields, ApiProblem> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| invalid_body(format!("invalid form data: {e}")))?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    Ok(Fields {
        username: field("username"),
        backfill: field("backfill"),
    })
}

async fn multipart_fields(content_type: &str, body: bytes::Bytes) -> Result<Fields, ApiProblem> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| invalid_body(format!("invalid multipart body: {e}")))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut fields = Fields::default();
    let bad = |e: multer::Error| invalid_body(format!("invalid multipart body: {e}"));
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            // The first of a repeated field counts, as in a URL-encoded form.
            Some("username") if fields.username.is_none() => {
                fields.username = Some(field.text().await.map_err(bad)?)
            }
            Some("backfill") if fields.backfill.is_none() => {
                fields.backfill = Some(field.text().await.map_err(bad)?)
            }
            _ => {}
        }
    }
    Ok(fields)
}

/// The username and backfill of an add: from the body, else the query string (the Go
/// service's form lookup read both; its own tests post `?username=...` with no body).
async fn add_request(
    query: &Query,
    content_type: Option<&str>,
    body: bytes::Bytes,
) -> Result<AddPersonRequest, ApiProblem> {
    let fields = body_fields(content_type, body).await?;
    let username = fields
        .username
        .or_else(|| query.first("username").map(str::to_string))
        .ok_or_else(missing_username)?;
    let backfill = match fields.backfill {
        Some(value) => Some(
            parse_bool(&value).ok_or_else(|| invalid_body(format!("backfill takes {BOOLEANS}")))?,
        ),
        None => query.bool("backfill")?,
    };
    Ok(AddPersonRequest { username, backfill })
}

#[utoipa::path(
    post,
    path = "/api/v1/people",
    tag = "people",
    params(AddQuery),
    request_body(
        description = "The GitHub login to track (or none, with `username` in the query string)",
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
        (status = 415, description = "A body of a content type the route does not take", body = ErrorBody),
        (status = 422, description = "No such GitHub user", body = ErrorBody),
        (status = 502, description = "GitHub or Pipedrive failed; nothing was created", body = ErrorBody),
        (status = 503, description = "Not now: Pipedrive is not configured, another add or delete of the user is under way, an earlier request for the user got no answer and may still land, or the database is busy or unavailable; the message says which, and `Retry-After` when to try again", body = ErrorBody),
    )
)]
pub async fn add_person(
    state: ApiState,
    query: Query,
    content_type: Option<String>,
    body: bytes::Bytes,
) -> Result<Response, Rejection> {
    let request = add_request(&query, content_type.as_deref(), body)
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
        (status = 200, description = "No longer tracked; their Pipedrive person and its activities stay in Pipedrive", body = Deleted),
        (status = 400, description = "Invalid username", body = ErrorBody),
        (status = 404, description = "Not tracked", body = ErrorBody),
        (status = 503, description = "Another add or delete of the user is under way, or the database is busy or unavailable; `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn delete_person(state: ApiState, username: String) -> Result<Response, Rejection> {
    let username = path_segment(&username);
    let engine = state.engine.clone();
    let deleted =
        blocking(move || service::delete_person(&engine.store, &engine.settings, &username))
            .await?;
    Ok(json_reply(StatusCode::OK, &Deleted { deleted }))
}

/// The body of `POST /api/v1/people/{username}/relink`, as JSON or form data: `to` or
/// `create`, or neither (the person a merge left, looked for again).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RelinkRequest {
    /// An existing Pipedrive person to link the user to.
    #[schema(minimum = 1)]
    pub to: Option<i64>,
    /// Create a new Pipedrive person for the user. In form data: `true`, `false`, `1` or `0`.
    pub create: Option<bool>,
}

/// The answer to a relink.
#[derive(Debug, Serialize, ToSchema)]
pub struct Relinked {
    pub github_username: String,
    /// The Pipedrive person the user is linked to now.
    pub pipedrive_id: i64,
    /// False when the user was already linked there: nothing changed.
    pub changed: bool,
}

/// Where a relink's body says to link: JSON `{"to": 42}` / `{"create": true}`, the same as
/// form data, or an empty body.
fn relink_target(content_type: Option<&str>, body: &[u8]) -> Result<RelinkTo, ApiProblem> {
    let media = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        RelinkRequest {
            to: None,
            create: None,
        }
    } else if media == "application/json" || media.ends_with("+json") {
        serde_json::from_slice(body).map_err(|e| invalid_body(format!("invalid JSON: {e}")))?
    } else if media == "application/x-www-form-urlencoded" || media.is_empty() {
        let form = Query::parse(&String::from_utf8_lossy(body))?;
        RelinkRequest {
            to: form.number("to", (1, i64::MAX))?,
            create: form.bool("create")?,
        }
    } else {
        return Err(ApiProblem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("a body of type {media:?} is not taken here: send application/json or application/x-www-form-urlencoded"),
        ));
    };
    match (request.to, request.create.unwrap_or(false)) {
        (Some(_), true) => Err(invalid_body(
            "send \"to\" (an existing person) or \"create\", not both",
        )),
        (Some(id), false) if id >= 1 => Ok(RelinkTo::Person(PipedrivePersonId(id))),
        (Some(_), false) => Err(invalid_body(
            "\"to\" takes a Pipedrive person id (1 or more)",
        )),
        (None, true) => Ok(RelinkTo::Create),
        (None, false) => Ok(RelinkTo::Survivor),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/people/{username}/relink",
    tag = "people",
    params(("username" = String, Path, description = "GitHub login (case-insensitive)", min_length = 1, max_length = 39, pattern = "^[A-Za-z0-9][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*-?$")),
    request_body(
        description = "`to` an existing Pipedrive person, or `create` a new one; neither looks again for the person a merge left",
        content(
            (RelinkRequest = "application/json"),
            (RelinkRequest = "application/x-www-form-urlencoded"),
        )
    ),
    responses(
        (status = 200, description = "Linked; the next pass reads the new person's activities before it sends what is missing", body = Relinked),
        (status = 400, description = "Invalid username or body", body = ErrorBody),
        (status = 404, description = "Not tracked", body = ErrorBody),
        (status = 415, description = "A body of a content type the route does not take", body = ErrorBody),
        (status = 422, description = "No such Pipedrive person, or no person carries the user's activities", body = ErrorBody),
        (status = 502, description = "Pipedrive failed; nothing changed", body = ErrorBody),
        (status = 503, description = "Not now: Pipedrive is not configured, another add, delete or relink of the user or a sync delivering to them is under way, or a delivery to the old person may still land; `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn relink_person(
    state: ApiState,
    username: String,
    content_type: Option<String>,
    body: bytes::Bytes,
) -> Result<Response, Rejection> {
    let username = path_segment(&username);
    let to = relink_target(content_type.as_deref(), &body).map_err(warp::reject::custom)?;
    let engine = state.engine.clone();
    let relinked = blocking(move || relink::relink_person(&engine, &username, to)).await?;
    Ok(json_reply(
        StatusCode::OK,
        &Relinked {
            github_username: relinked.login,
            pipedrive_id: relinked.pipedrive_id.0,
            changed: relinked.changed,
        },
    ))
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
pub async fn sync_runs(state: ApiState, query: Query) -> Result<Response, Rejection> {
    let limit: u32 = query.number("limit", (1, 1000))?.unwrap_or(50);
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
    use super::{keyset_links, numbered_links};

    #[test]
    fn links_point_at_pages_that_exist() {
        let rel = |header: &str, rel: &str| {
            header
                .split(", ")
                .find(|l| l.ends_with(&format!("rel=\"{rel}\"")))
                .map(|l| l.split(['=', '&']).nth(1).unwrap().to_string())
        };
        let middle = numbered_links(2, 1, 3);
        assert_eq!(rel(&middle, "prev").as_deref(), Some("1"));
        assert_eq!(rel(&middle, "next").as_deref(), Some("3"));
        assert_eq!(rel(&middle, "last").as_deref(), Some("3"));
        let beyond = numbered_links(99, 1, 3);
        assert_eq!(rel(&beyond, "prev").as_deref(), Some("3"), "{beyond}");
        assert_eq!(rel(&beyond, "next"), None);
        let empty = numbered_links(1, 10, 0);
        assert_eq!(rel(&empty, "last").as_deref(), Some("1"));
        assert_eq!(rel(&empty, "prev"), None);
    }

    #[test]
    fn keyset_links_continue_after_the_last_login_while_there_is_more() {
        assert_eq!(
            keyset_links(2, Some("bob")),
            "</api/v1/people?per_page=2>; rel=\"first\", </api/v1/people?after=bob&per_page=2>; rel=\"next\""
        );
        assert!(!keyset_links(2, None).contains("next"));
    }
}
