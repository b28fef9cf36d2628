//! Who is asking: the visitor's CSRF value, session, scheme and whether their browser says the
//! request came from another site, read once per request; and the answers every page shares.

use super::*;

/// Who is asking: their CSRF value (new ones are set as a cookie with the answer), whether
/// their session is valid, whether they came over TLS, and whether their browser says the
/// request came from another site.
#[derive(Debug, Clone)]
pub(super) struct Visitor {
    pub(super) csrf: String,
    pub(super) new_csrf: bool,
    pub(super) session: bool,
    pub(super) secure: bool,
    pub(super) cross_site: bool,
    /// Where the request came from, for the sign-in throttle.
    pub(super) client: Option<std::net::IpAddr>,
}

/// The request headers a [`Visitor`] is made of.
#[derive(Debug, Default)]
pub(super) struct VisitorHeaders {
    cookies: Option<String>,
    forwarded_proto: Option<String>,
    fetch_site: Option<String>,
    origin: Option<String>,
    /// The server's names: the requested authority (`Host`, or HTTP/2's `:authority`), then
    /// each `X-Forwarded-Host` entry.
    hosts: Vec<String>,
    pub(super) client: Option<std::net::IpAddr>,
}

pub(super) fn visitor(
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

pub(super) fn now_secs() -> i64 {
    crate::time::now_ms() / 1000
}

impl Visitor {
    pub(super) fn from_headers(state: &AppState, headers: &VisitorHeaders) -> Visitor {
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

    pub(super) fn frame(&self, state: &AppState) -> Frame<'_> {
        Frame {
            csrf: &self.csrf,
            signed_in: state.api_token.is_some() && self.session,
            notice: None,
            error: None,
        }
    }

    /// An HTML answer with the headers every page gets: no caching, no framing, nothing
    /// loaded from anywhere but here; a 401 names the scheme that opens the API.
    pub(super) fn page(&self, status: StatusCode, markup: maud::Markup) -> Response {
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
    pub(super) fn redirect(&self, location: &str) -> Response {
        let mut response = Response::new(Default::default());
        *response.status_mut() = StatusCode::SEE_OTHER;
        let value = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
        response.headers_mut().insert(header::LOCATION, value);
        self.keep_csrf(response)
    }

    pub(super) fn keep_csrf(&self, mut response: Response) -> Response {
        if self.new_csrf {
            let name = session::cookie_name(session::CSRF_COOKIE, self.secure);
            let cookie = session::set_cookie(&name, &self.csrf, None, self.secure);
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        response
    }

    pub(super) fn problem(
        &self,
        state: &AppState,
        status: StatusCode,
        message: String,
    ) -> Response {
        let mut frame = self.frame(state);
        frame.error = Some(message);
        self.page(
            status,
            pages::problem(&frame, status.canonical_reason().unwrap_or("Error")),
        )
    }

    /// The status and message an error gets: the API's status, in words on the page.
    /// A failure as a page, with the status and words the API gives it.
    pub(super) fn failure(&self, state: &AppState, err: Error) -> Response {
        let problem = ApiProblem::from(err);
        self.problem(state, problem.status, problem.body.error)
    }
}

/// Pages need a session when a token is set: otherwise to the sign-in form, then back.
pub(super) fn needs_signin(visitor: &Visitor, path: &str) -> Option<Response> {
    (!visitor.session).then(|| {
        let next = percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC);
        visitor.redirect(&format!("/signin?next={next}"))
    })
}
