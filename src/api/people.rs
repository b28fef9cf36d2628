//! `/api/v1/people` and `/api/v1/people/{username}`: the list (whole, numbered or keyset
//! pages, rendered once and reused briefly), a person with their gists, add, delete, relink.

use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::Rejection;

use super::bodies::{add_request, relink_target, AddPersonRequest, AddQuery, RelinkRequest};
use super::json_reply;
use super::paging::{keyset_links, numbered_links, page_key};
use crate::db::people::Page;
use crate::error::Error;
use crate::http::list_cache::{CachedList, ListKey, Rendered};
use crate::http::problem::ErrorBody;
use crate::http::query::Query;
use crate::http::{blocking, AppState};
use crate::service::relink::{self};
use crate::service::{self, PersonDetail, PersonSummary, ViewMode};

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
pub async fn list_people(state: AppState, query: Query) -> Result<Response, Rejection> {
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

/// The rendered list for a key: reused while fresh (and then rendered again in the
/// background), else read and rendered off the async threads.
async fn rendered_list(state: &AppState, key: ListKey) -> Result<CachedList, Rejection> {
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
    state: AppState,
    username: String,
    query: Query,
) -> Result<Response, Rejection> {
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
    state: AppState,
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
pub async fn delete_person(state: AppState, username: String) -> Result<Response, Rejection> {
    let engine = state.engine.clone();
    let deleted =
        blocking(move || service::delete_person(&engine.store, &engine.settings, &username))
            .await?;
    Ok(json_reply(StatusCode::OK, &Deleted { deleted }))
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
    state: AppState,
    username: String,
    content_type: Option<String>,
    body: bytes::Bytes,
) -> Result<Response, Rejection> {
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
