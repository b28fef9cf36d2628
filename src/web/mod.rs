//! The dashboard: server-rendered pages for the sales team, a second face of the same service
//! layer the API and the CLI use. Signed-in sessions when an API token is set; every form
//! carries a CSRF value.

mod forms;
pub mod pages;
mod visitor;

use std::collections::HashMap;

use warp::filters::BoxedFilter;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::blocking::run as blocking;
use crate::error::Error;
use crate::http::problem::ApiProblem;
use crate::http::throttle::Verdict;
use crate::http::{protect, session, AppState, PathLogin};
use crate::service::relink::RelinkTo;
use crate::service::{self, overview};
use forms::{local_path, post, Action};
use pages::Frame;
use visitor::{needs_signin, now_secs, visitor, Visitor};

/// People per overview page.
const PAGE_SIZE: usize = 50;

/// The dashboard's Content-Security-Policy: nothing but its own stylesheet, no script, no
/// framing, forms only to itself.
const DASHBOARD_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Every dashboard route. Paths are matched before methods, as in the API, so an unknown path
/// is a 404 and a known one with the wrong method a 405.
pub fn routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let get = || warp::get().and(visitor(state.clone()));
    let pages = warp::path::end()
        .and(get())
        .and(crate::http::query::query())
        .then(overview_page)
        .or(warp::path!("people" / PathLogin)
            .and(get())
            .and(crate::http::query::query())
            .then(person_page))
        .unify()
        .or(warp::path!("signin")
            .and(get())
            .and(crate::http::query::query())
            .map(signin_page))
        .unify()
        .or(warp::path!("assets" / "style.css")
            .and(warp::get())
            .map(stylesheet))
        .unify()
        .or(warp::path!("favicon.ico").and(warp::get()).map(no_icon))
        .unify()
        .boxed();
    let action = warp::path!("people")
        .map(|| Action::Add)
        .or(warp::path!("people" / PathLogin / "delete")
            .map(|login: PathLogin| Action::Delete(login.0)))
        .unify()
        .or(warp::path!("people" / PathLogin / "seen")
            .map(|login: PathLogin| Action::Seen(login.0)))
        .unify()
        .or(warp::path!("people" / PathLogin / "relink")
            .map(|login: PathLogin| Action::Relink(login.0)))
        .unify()
        .or(warp::path!("sync").map(|| Action::Sync))
        .unify()
        .or(warp::path!("signin").map(|| Action::SignIn))
        .unify()
        .or(warp::path!("signout").map(|| Action::SignOut))
        .unify();
    let forms = action
        .and(warp::post())
        .and(visitor(state.clone()))
        .and(crate::http::body::limited_body())
        .then(|action, state, visitor, body: bytes::Bytes| post(action, state, visitor, body))
        .boxed();
    pages.or(forms).unify().boxed()
}

fn stylesheet() -> Response {
    let mut response = Response::new(pages::STYLE.into());
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// Browsers ask every site for `/favicon.ico`: "no icon" is an answer (204, kept a day),
/// not a 404 in the log for every page view.
fn no_icon() -> Response {
    let mut response = Response::new(Default::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response.headers_mut().insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

async fn overview_page(
    state: AppState,
    visitor: Visitor,
    query: crate::http::query::Query,
) -> Response {
    if let Some(signin) = needs_signin(&visitor, &format!("/{}", query.to_query_string())) {
        return signin;
    }
    let overview_query = overview::OverviewQuery {
        sort: match query.first("sort") {
            Some("new") => overview::Sort::New,
            _ => overview::Sort::Name,
        },
        search: query.first("q").unwrap_or("").trim().to_string(),
        after: query.first("after").map(str::to_string),
        limit: PAGE_SIZE,
        // "My people": a Pipedrive user id; anything else shows everyone.
        owner: query
            .first("owner")
            .and_then(|id| id.trim().parse::<i64>().ok())
            .filter(|id| *id > 0)
            .map(crate::ids::PipedriveUserId),
    };
    let mut frame = visitor.frame(&state);
    frame.notice = notice(&query);
    render_overview(&state, &visitor, frame, overview_query, StatusCode::OK, "").await
}

/// A line about what the previous form did, named by the redirect's `notice`: always one of
/// the server's own lines, never text from the URL, so a link cannot put words on the page.
fn notice(query: &crate::http::query::Query) -> Option<String> {
    let line = match query.first("notice")? {
        "added" => "Now tracking them. Their gists are listed at the next sync pass.",
        "org-added" => {
            "Now following the organization: its public members are tracked (bots and excluded \
             logins left out), their gists listed at the next sync pass, and every pass picks up \
             new members."
        }
        "deleted" => {
            "Stopped tracking them. Their Pipedrive person and its activities stay in Pipedrive."
        }
        "sync" => "A sync pass was asked for: it runs as soon as the one under way (if any) ends.",
        "seen" => "Marked as seen.",
        "already-linked" => "Already linked to that Pipedrive person; nothing changed.",
        "relinked" => {
            "Linked to that Pipedrive person. The next sync pass looks at its activities, then \
             delivers the gists not yet delivered anywhere; those already delivered stay where \
             they went."
        }
        _ => return None,
    };
    Some(line.to_string())
}

async fn render_overview(
    state: &AppState,
    visitor: &Visitor,
    frame: Frame<'_>,
    query: overview::OverviewQuery,
    status: StatusCode,
    add_value: &str,
) -> Response {
    let store = state.store().clone();
    let read_query = query.clone();
    let read = blocking(move || {
        let overview = overview::people(&store, &read_query)?;
        let runs = service::recent_runs(&store, 5)?;
        let orgs = service::orgs::list_orgs(&store)?;
        Ok((overview, runs, orgs))
    })
    .await;
    match read {
        Ok((people, runs, orgs)) => {
            let can_write = state.scheduler.is_some();
            let markup = pages::overview(
                &frame,
                &state.site,
                &query,
                &pages::Listed {
                    people: &people,
                    orgs: &orgs,
                    runs: &runs,
                },
                can_write,
                add_value,
            );
            visitor.page(status, markup)
        }
        Err(err) => visitor.failure(state, err),
    }
}

async fn person_page(
    PathLogin(login): PathLogin,
    state: AppState,
    visitor: Visitor,
    query: crate::http::query::Query,
) -> Response {
    let segment = percent_encoding::utf8_percent_encode(&login, percent_encoding::NON_ALPHANUMERIC);
    let here = format!("/people/{segment}{}", query.to_query_string());
    if let Some(signin) = needs_signin(&visitor, &here) {
        return signin;
    }
    let peek = match query.bool("peek") {
        Ok(peek) => peek.unwrap_or(false),
        Err(problem) => return visitor.problem(&state, problem.status, problem.body.error),
    };
    let store = state.store().clone();
    let read_login = login.clone();
    match blocking(move || overview::person(&store, &read_login, !peek)).await {
        Ok(page) => {
            let mut frame = visitor.frame(&state);
            frame.notice = notice(&query);
            visitor.page(
                StatusCode::OK,
                pages::person(&frame, &state.site, &page, peek),
            )
        }
        Err(err) => visitor.failure(&state, err),
    }
}

fn signin_page(state: AppState, visitor: Visitor, query: crate::http::query::Query) -> Response {
    if state.api_token.is_none() {
        return visitor.redirect("/");
    }
    let next = local_path(query.first("next"));
    visitor.page(StatusCode::OK, pages::signin(&visitor.frame(&state), &next))
}
