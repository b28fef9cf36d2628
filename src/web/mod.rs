//! The dashboard: server-rendered pages for the sales team, a second face of the same service
//! layer the API and the CLI use. Signed-in sessions when an API token is set; every form
//! carries a CSRF value.

pub mod pages;

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
use pages::Frame;

/// People per overview page.
const PAGE_SIZE: usize = 50;

/// The dashboard's Content-Security-Policy: nothing but its own stylesheet, no script, no
/// framing, forms only to itself.
const DASHBOARD_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Who is asking: their CSRF value (new ones are set as a cookie with the answer), whether
/// their session is valid, whether they came over TLS, and whether their browser says the
/// request came from another site.
#[derive(Debug, Clone)]
struct Visitor {
    csrf: String,
    new_csrf: bool,
    session: bool,
    secure: bool,
    cross_site: bool,
    /// Where the request came from, for the sign-in throttle.
    client: Option<std::net::IpAddr>,
}

/// The request headers a [`Visitor`] is made of.
#[derive(Debug, Default)]
struct VisitorHeaders {
    cookies: Option<String>,
    forwarded_proto: Option<String>,
    fetch_site: Option<String>,
    origin: Option<String>,
    /// The server's names: the requested authority (`Host`, or HTTP/2's `:authority`), then
    /// each `X-Forwarded-Host` entry.
    hosts: Vec<String>,
    client: Option<std::net::IpAddr>,
}

fn visitor(
    state: AppState,
) -> impl Filter<Extract = (AppState, Visitor), Error = Rejection> + Clone {
    let header = |name: &'static str| warp::header::optional::<String>(name);
    header("cookie")
        .and(header("x-forwarded-proto"))
        .and(header("sec-fetch-site"))
        .and(header("origin"))
        .and(warp::host::optional().and(header("x-forwarded-host")).map(
            |authority: Option<warp::host::Authority>, forwarded: Option<String>| {
                let mut hosts: Vec<String> = authority.iter().map(|a| a.to_string()).collect();
                hosts.extend(
                    forwarded
                        .iter()
                        .flat_map(|f| f.split(','))
                        .map(|h| h.trim().to_string()),
                );
                hosts
            },
        ))
        .and(warp::ext::optional::<crate::http::server::ClientAddress>())
        .map(
            move |cookies,
                  forwarded_proto,
                  fetch_site,
                  origin,
                  hosts,
                  client: Option<crate::http::server::ClientAddress>| {
                let headers = VisitorHeaders {
                    cookies,
                    forwarded_proto,
                    fetch_site,
                    origin,
                    hosts,
                    client: client.map(|c| c.0),
                };
                (state.clone(), Visitor::from_headers(&state, &headers))
            },
        )
        .untuple_one()
}

fn now_secs() -> i64 {
    crate::time::now_ms() / 1000
}

impl Visitor {
    fn from_headers(state: &AppState, headers: &VisitorHeaders) -> Visitor {
        let cookies = headers.cookies.as_deref();
        let secure = headers
            .forwarded_proto
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
        let existing =
            session::cookie(cookies, &session::cookie_name(session::CSRF_COOKIE, secure))
                .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
        let session = match &state.sessions {
            None => true,
            Some(key) => session::cookie(
                cookies,
                &session::cookie_name(session::SESSION_COOKIE, secure),
            )
            .is_some_and(|v| session::valid_session(key, v, now_secs())),
        };
        let hosts: Vec<&str> = headers.hosts.iter().map(String::as_str).collect();
        Visitor {
            csrf: existing
                .map(str::to_string)
                .unwrap_or_else(|| session::random_hex(16)),
            new_csrf: existing.is_none(),
            session,
            secure,
            cross_site: session::cross_site(
                headers.fetch_site.as_deref(),
                headers.origin.as_deref(),
                &hosts,
            ),
            client: headers.client,
        }
    }

    fn frame(&self, state: &AppState) -> Frame<'_> {
        Frame {
            csrf: &self.csrf,
            signed_in: state.api_token.is_some() && self.session,
            notice: None,
            error: None,
        }
    }

    /// An HTML answer with the headers every page gets: no caching, no framing, nothing
    /// loaded from anywhere but here; a 401 names the scheme that opens the API.
    fn page(&self, status: StatusCode, markup: maud::Markup) -> Response {
        let mut response = Response::new(markup.into_string().into());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        protect(headers, DASHBOARD_POLICY);
        for (name, value) in [
            ("content-type", "text/html; charset=utf-8"),
            ("cache-control", "no-store"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(crate::http::problem::BEARER_CHALLENGE),
            );
        }
        self.keep_csrf(response)
    }

    /// A 303 to `location` (a local path; `/` when it cannot be a header value).
    fn redirect(&self, location: &str) -> Response {
        let mut response = Response::new(Default::default());
        *response.status_mut() = StatusCode::SEE_OTHER;
        let value = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
        response.headers_mut().insert(header::LOCATION, value);
        self.keep_csrf(response)
    }

    fn keep_csrf(&self, mut response: Response) -> Response {
        if self.new_csrf {
            let name = session::cookie_name(session::CSRF_COOKIE, self.secure);
            let cookie = session::set_cookie(&name, &self.csrf, None, self.secure);
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        response
    }

    fn problem(&self, state: &AppState, status: StatusCode, message: String) -> Response {
        let mut frame = self.frame(state);
        frame.error = Some(message);
        self.page(
            status,
            pages::problem(&frame, status.canonical_reason().unwrap_or("Error")),
        )
    }

    /// The status and message an error gets: the API's status, in words on the page.
    /// A failure as a page, with the status and words the API gives it.
    fn failure(&self, state: &AppState, err: Error) -> Response {
        let problem = ApiProblem::from(err);
        self.problem(state, problem.status, problem.body.error)
    }
}

/// A form's fields; an unreadable form has none (its CSRF check then refuses it).
fn form_fields(body: &[u8]) -> HashMap<String, String> {
    crate::http::body::form_fields(body).unwrap_or_default()
}

/// A local path to return to after signing in. Only a path of this site, in the characters
/// its own links use: anything else (another site, `//host`, a backslash, a tab or newline
/// a browser would drop to make `/\t/host` into `//host`) is `/`.
fn local_path(next: Option<&str>) -> String {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"/-_.~?=&%:+*".contains(&b);
    match next {
        Some(path)
            if path.starts_with('/') && !path.starts_with("//") && path.bytes().all(safe) =>
        {
            path.to_string()
        }
        _ => "/".into(),
    }
}

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

/// Pages need a session when a token is set: otherwise to the sign-in form, then back.
fn needs_signin(visitor: &Visitor, path: &str) -> Option<Response> {
    (!visitor.session).then(|| {
        let next = percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC);
        visitor.redirect(&format!("/signin?next={next}"))
    })
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

/// What a form asks for.
#[derive(Debug, Clone)]
enum Action {
    Add,
    Delete(String),
    Seen(String),
    Relink(String),
    Sync,
    SignIn,
    SignOut,
}

async fn post(action: Action, state: AppState, visitor: Visitor, body: bytes::Bytes) -> Response {
    let fields = form_fields(&body);
    let cookie_csrf = (!visitor.new_csrf).then_some(visitor.csrf.as_str());
    if visitor.cross_site
        || !session::csrf_matches(cookie_csrf, fields.get("csrf").map(String::as_str))
    {
        return visitor.problem(
            &state,
            StatusCode::FORBIDDEN,
            "This form is out of date or did not come from this dashboard; nothing was changed. \
             Reload the page and try again."
                .into(),
        );
    }
    if let Action::SignIn = action {
        return sign_in(&state, &visitor, &fields);
    }
    // Signing out needs no session: one that has just expired must still be able to leave.
    if !visitor.session && !matches!(action, Action::SignOut) {
        return visitor.problem(
            &state,
            StatusCode::UNAUTHORIZED,
            "Sign in first; nothing was changed.".into(),
        );
    }
    match action {
        Action::Add => add(state, visitor, fields).await,
        Action::Delete(login) => delete(state, visitor, login).await,
        Action::Seen(login) => seen(state, visitor, login).await,
        Action::Relink(login) => relink(state, visitor, login, fields).await,
        Action::Sync => sync_now(state, visitor).await,
        Action::SignOut => {
            let mut response = visitor.redirect(if state.api_token.is_some() {
                "/signin"
            } else {
                "/"
            });
            let name = session::cookie_name(session::SESSION_COOKIE, visitor.secure);
            let gone = session::set_cookie(&name, "", Some(0), visitor.secure);
            if let Ok(value) = HeaderValue::from_str(&gone) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Action::SignIn => unreachable!("handled above"),
    }
}

fn sign_in(state: &AppState, visitor: &Visitor, fields: &HashMap<String, String>) -> Response {
    let (Some(token), Some(key)) = (&state.api_token, &state.sessions) else {
        return visitor.redirect("/");
    };
    let next = local_path(fields.get("next").map(String::as_str));
    let presented = fields.get("token").map(String::as_str);
    let refusal = match state.throttle.check(visitor.client, token, presented) {
        Verdict::Accepted => None,
        Verdict::Refused => Some((
            StatusCode::UNAUTHORIZED,
            "That is not this gisttrack's API token.".to_string(),
            None,
        )),
        Verdict::Throttled { retry_after } => Some((
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many wrong tokens came from your address: try again in {retry_after} \
                 seconds."
            ),
            Some(retry_after),
        )),
    };
    if let Some((status, message, retry_after)) = refusal {
        let mut frame = visitor.frame(state);
        frame.error = Some(message);
        let mut response = visitor.page(status, pages::signin(&frame, &next));
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        return response;
    }
    let mut response = visitor.redirect(&next);
    let cookie = session::set_cookie(
        &session::cookie_name(session::SESSION_COOKIE, visitor.secure),
        &session::new_session(key, now_secs()),
        Some(session::SESSION_SECONDS),
        visitor.secure,
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// What the add form names: a user, or an organization (`kind=org`, or `org:` before it).
fn add_target(fields: &HashMap<String, String>) -> (bool, String) {
    let typed = fields
        .get("username")
        .map(|u| u.trim().to_string())
        .unwrap_or_default();
    match typed.get(..4).filter(|p| p.eq_ignore_ascii_case("org:")) {
        Some(_) => (true, typed[4..].trim().to_string()),
        None => (fields.get("kind").map(String::as_str) == Some("org"), typed),
    }
}

async fn add(state: AppState, visitor: Visitor, fields: HashMap<String, String>) -> Response {
    let username = fields
        .get("username")
        .map(|u| u.trim().to_string())
        .unwrap_or_default();
    let (is_org, login) = add_target(&fields);
    let engine = state.engine.clone();
    let added = blocking(move || match is_org {
        true => service::orgs::add_org(&engine, &login).map(|_| "/?notice=org-added"),
        false => service::add_person(&engine, &login, true).map(|_| "/?notice=added"),
    })
    .await;
    match added {
        Ok(location) => visitor.redirect(location),
        Err(err) => {
            // The same page, the same errors as the API, with what was typed kept.
            let ApiProblem { status, body, .. } = ApiProblem::from(err);
            let message = body.error;
            let mut frame = visitor.frame(&state);
            frame.error = Some(message);
            let query = overview::OverviewQuery {
                limit: PAGE_SIZE,
                ..Default::default()
            };
            render_overview(&state, &visitor, frame, query, status, &username).await
        }
    }
}

async fn delete(state: AppState, visitor: Visitor, login: String) -> Response {
    let engine = state.engine.clone();
    match blocking(move || service::delete_person(&engine.store, &engine.settings, &login)).await {
        Ok(_) => visitor.redirect("/?notice=deleted"),
        Err(err) => visitor.failure(&state, err),
    }
}

async fn seen(state: AppState, visitor: Visitor, login: String) -> Response {
    let store = state.store().clone();
    let read = blocking(move || {
        service::view_person(&store, &login, service::ViewMode::NewSinceLastVisit)
    })
    .await;
    match read {
        Ok(detail) => {
            let login = detail.person.github_username;
            visitor.redirect(&format!("/people/{login}?peek=1&notice=seen"))
        }
        Err(err) => visitor.failure(&state, err),
    }
}

/// The relink form: `to` an existing person, or `create` a new one.
async fn relink(
    state: AppState,
    visitor: Visitor,
    login: String,
    fields: HashMap<String, String>,
) -> Response {
    let to = match (
        fields.get("to").map(|v| v.trim()),
        fields.contains_key("create"),
    ) {
        (Some(to), false) if !to.is_empty() => match to.parse::<i64>() {
            Ok(id) if id > 0 => RelinkTo::Person(crate::ids::PipedrivePersonId(id)),
            _ => {
                return visitor.problem(
                    &state,
                    StatusCode::BAD_REQUEST,
                    "A Pipedrive person id is a whole number; nothing was changed.".into(),
                )
            }
        },
        (_, true) => RelinkTo::Create,
        _ => RelinkTo::Survivor,
    };
    let engine = state.engine.clone();
    match blocking(move || service::relink::relink_person(&engine, &login, to)).await {
        Ok(relinked) => visitor.redirect(&format!(
            "/people/{}?peek=1&notice={}",
            relinked.login,
            if relinked.changed {
                "relinked"
            } else {
                "already-linked"
            }
        )),
        Err(err) => visitor.failure(&state, err),
    }
}

async fn sync_now(state: AppState, visitor: Visitor) -> Response {
    let Some(scheduler) = state.scheduler.clone() else {
        return visitor.failure(&state, Error::MissingPipedriveToken);
    };
    match scheduler.request_pass().await {
        Ok(_) => visitor.redirect("/?notice=sync"),
        Err(err) => visitor.failure(&state, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_add_form_names_a_user_or_an_organization() {
        let fields = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            add_target(&fields(&[("username", " octocat ")])),
            (false, "octocat".into())
        );
        assert_eq!(
            add_target(&fields(&[("username", "acme"), ("kind", "org")])),
            (true, "acme".into())
        );
        assert_eq!(
            add_target(&fields(&[("username", "ORG: acme"), ("kind", "user")])),
            (true, "acme".into())
        );
        assert_eq!(add_target(&fields(&[])), (false, String::new()));
    }

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path(Some("/people/octocat")), "/people/octocat");
        assert_eq!(local_path(Some("/?sort=new&q=al")), "/?sort=new&q=al");
        for elsewhere in [
            None,
            Some("https://evil.example"),
            Some("//evil.example"),
            Some("/\\evil"),
            Some("/\t/evil.example"),
            Some("/\n/evil.example"),
            Some("/ /evil.example"),
        ] {
            assert_eq!(local_path(elsewhere), "/", "{elsewhere:?}");
        }
    }
}
