//! The one list of routes `serve` answers: each pattern (the bounded label metrics and logs
//! use), the methods it takes (what a 405's `Allow` names), and whether the OpenAPI
//! document describes it. Tests hold the filters and the document to this list.

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Path segments; `{name}` stands for one segment, a final `*` for any rest.
    pub pattern: &'static str,
    pub methods: &'static [&'static str],
    /// Listed in `/documentation/openapi.json`.
    pub documented: bool,
}

const fn route(pattern: &'static str, methods: &'static [&'static str]) -> Route {
    Route {
        pattern,
        methods,
        documented: true,
    }
}

pub const ROUTES: &[Route] = &[
    route("/api/v1/people", &["GET", "POST"]),
    route("/api/v1/people/{username}", &["GET", "DELETE"]),
    route("/api/v1/people/{username}/relink", &["POST"]),
    route("/api/v1/orgs", &["GET", "POST"]),
    route("/api/v1/orgs/{org}", &["DELETE"]),
    route("/api/v1/sync", &["POST"]),
    route("/api/v1/sync/runs", &["GET"]),
    // Load balancers and uptime checkers often probe with HEAD.
    route("/healthz", &["GET", "HEAD"]),
    route("/readyz", &["GET", "HEAD"]),
    route("/metrics", &["GET"]),
    page("/documentation/*", &["GET"]),
    // The dashboard (HTML, not in the OpenAPI document).
    page("/", &["GET"]),
    page("/people", &["POST"]),
    page("/people/{login}", &["GET"]),
    page("/people/{login}/delete", &["POST"]),
    page("/people/{login}/seen", &["POST"]),
    page("/people/{login}/relink", &["POST"]),
    page("/sync", &["POST"]),
    page("/signin", &["GET", "POST"]),
    page("/signout", &["POST"]),
    page("/assets/style.css", &["GET"]),
    page("/favicon.ico", &["GET"]),
];

/// A route the OpenAPI document leaves out: documentation and dashboard pages.
const fn page(pattern: &'static str, methods: &'static [&'static str]) -> Route {
    Route {
        pattern,
        methods,
        documented: false,
    }
}

/// The route a request path belongs to.
pub fn route_of(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|route| matches(route.pattern, path))
}

/// The label of a path for metrics: its route's pattern, never the raw path.
pub fn label(path: &str) -> &'static str {
    route_of(path).map_or("other", |route| route.pattern)
}

/// The `Allow` value for a path's route.
pub fn allow(path: &str) -> Option<String> {
    route_of(path).map(|route| route.methods.join(", "))
}

fn matches(pattern: &str, path: &str) -> bool {
    let mut wanted = pattern.trim_start_matches('/').split('/');
    let mut given = path.trim_start_matches('/').split('/');
    loop {
        match (wanted.next(), given.next()) {
            (Some("*"), _) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_route_and_nothing_else() {
        let cases = [
            ("/api/v1/people", "/api/v1/people"),
            ("/api/v1/people/octocat", "/api/v1/people/{username}"),
            ("/api/v1/people/octocat/extra", "other"),
            ("/api/v1/people/", "other"),
            ("/api/v1/sync/runs", "/api/v1/sync/runs"),
            ("/documentation", "/documentation/*"),
            ("/documentation/index.html", "/documentation/*"),
            ("/healthz", "/healthz"),
            ("/healthzz", "other"),
            ("/", "/"),
            ("/people/octocat", "/people/{login}"),
            ("/people/octocat/seen", "/people/{login}/seen"),
            ("/assets/style.css", "/assets/style.css"),
            ("/favicon.ico", "/favicon.ico"),
            ("/nope", "other"),
        ];
        for (path, expected) in cases {
            assert_eq!(label(path), expected, "{path}");
        }
        assert_eq!(allow("/api/v1/people/x").as_deref(), Some("GET, DELETE"));
        assert_eq!(allow("/nope"), None);
    }
}
