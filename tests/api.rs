//! Every route and error of the HTTP API through `warp::test`, on a real database, with the
//! real clients talking to the fake GitHub and Pipedrive.

mod support;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use gisttrack::clients::github::{GithubClient, GithubSettings};
use gisttrack::clients::pipedrive::{PipedriveClient, PipedriveSettings};
use gisttrack::config::{DatabaseTarget, Secret};
use gisttrack::db::Store;
use gisttrack::http::AppState;
use gisttrack::metrics::Metrics;
use gisttrack::routes::routes;
use gisttrack::sync::scheduler::Scheduler;
use gisttrack::sync::{App, SyncSettings};
use serde_json::Value;
use support::fake::GithubFault;
use support::{backends, FakeApis, TestDb, GITHUB_TOKEN, PIPEDRIVE_TOKEN};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

struct Api {
    routes: BoxedFilter<(Response,)>,
    engine: App,
    url: String,
    fake: FakeApis,
    /// Ends the scheduler's loop when the test is done.
    _stop: Option<tokio::sync::watch::Sender<bool>>,
    _db: TestDb,
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(stop) = &self._stop {
            let _ = stop.send(true);
        }
    }
}

fn engine(store: &Store, fake: &FakeApis, metrics: &Arc<Metrics>, with_pipedrive: bool) -> App {
    let github = GithubClient::new(
        GithubSettings::new(&fake.github_url, Secret::new(GITHUB_TOKEN)),
        metrics.clone(),
    );
    let pipedrive = with_pipedrive.then(|| {
        Arc::new(PipedriveClient::new(
            PipedriveSettings::new(&fake.pipedrive_url, Secret::new(PIPEDRIVE_TOKEN).unwrap()),
            metrics.clone(),
        )) as Arc<dyn gisttrack::clients::PipedriveApi>
    });
    App {
        store: store.clone(),
        github: Arc::new(github),
        pipedrive,
        settings: SyncSettings::default(),
        metrics: metrics.clone(),
        shutdown: Arc::new(AtomicBool::new(false)),
    }
}

fn api_on(db: TestDb, token: Option<&str>, with_pipedrive: bool) -> Api {
    api_listening(db, token, with_pipedrive, "127.0.0.1:3000")
}

/// An API as `serve --listen <listen>` sets it up.
fn api_listening(db: TestDb, token: Option<&str>, with_pipedrive: bool, listen: &str) -> Api {
    let fake = FakeApis::start();
    fake.lock().pipedrive.burst_limit = 100_000;
    let store = Store::open(&DatabaseTarget::parse(&db.url).unwrap()).unwrap();
    let metrics = Arc::new(Metrics::default());
    let engine = engine(&store, &fake, &metrics, with_pipedrive);
    let scheduler = with_pipedrive.then(|| {
        Scheduler::new(
            engine.clone(),
            None,
            std::sync::Arc::new(|_: &gisttrack::sync::SyncReport| {}),
        )
    });
    let stop = scheduler.as_ref().map(|scheduler| {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(scheduler.clone().run(stopped));
        stop
    });
    let state = AppState::new(engine.clone(), scheduler, token.and_then(Secret::new))
        .with_listen(listen.parse().unwrap());
    Api {
        routes: routes(state),
        engine,
        url: db.url.clone(),
        fake,
        _stop: stop,
        _db: db,
    }
}

async fn call(api: &Api, method: &str, path: &str) -> (StatusCode, Value, warp::http::HeaderMap) {
    let response = warp::test::request()
        .method(method)
        .path(path)
        .reply(&api.routes)
        .await;
    body_of(response)
}

fn body_of(
    response: warp::http::Response<bytes::Bytes>,
) -> (StatusCode, Value, warp::http::HeaderMap) {
    let status = response.status();
    let headers = response.headers().clone();
    let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    (status, body, headers)
}

async fn post_form(api: &Api, body: &str) -> (StatusCode, Value, warp::http::HeaderMap) {
    post_people(api, "application/x-www-form-urlencoded", body).await
}

/// `POST /api/v1/people` with a body of this content type.
async fn post_people(
    api: &Api,
    content_type: &str,
    body: &str,
) -> (StatusCode, Value, warp::http::HeaderMap) {
    let response = warp::test::request()
        .method("POST")
        .path("/api/v1/people")
        .header("content-type", content_type)
        .body(body)
        .reply(&api.routes)
        .await;
    body_of(response)
}

/// Polls `check` until it holds; generous, because CI machines are shared and slow.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_can_be_added_listed_viewed_and_deleted() {
    for db in backends() {
        let api = api_on(db, None, true);
        api.fake.add_user("octocat", 2);
        api.fake.add_user("hubot", 0);

        let (status, body, headers) = post_form(&api, "username=OctoCat").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(headers["location"], "/api/v1/people/octocat");
        assert_eq!(body["github_username"], "octocat");
        assert!(body["pipedrive_id"].as_i64().is_some());

        let response = warp::test::request()
            .method("POST")
            .path("/api/v1/people")
            .json(&serde_json::json!({"username": "hubot", "backfill": false}))
            .reply(&api.routes)
            .await;
        let (status, body, _) = body_of(response);
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["backfill"], false);

        let (status, people, _) = call(&api, "GET", "/api/v1/people").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(people.as_array().unwrap().len(), 2);

        let (status, accepted, _) = call(&api, "POST", "/api/v1/sync").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        let run_id = accepted["run_id"].as_i64().unwrap();
        eventually("the requested pass to finish", || async {
            let (_, runs, _) = call(&api, "GET", "/api/v1/sync/runs").await;
            runs.as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == run_id && !r["finished_at"].is_null())
        })
        .await;
        assert_eq!(api.fake.activity_count(), 2);
        let (_, runs, _) = call(&api, "GET", "/api/v1/sync/runs").await;
        let run = &runs[0];
        assert_eq!(
            (run["id"].as_i64(), run["trigger"].as_str()),
            (Some(run_id), Some("api"))
        );
        for time in ["started_at", "finished_at"] {
            let text = run[time].as_str().unwrap_or_default();
            assert!(
                humantime::parse_rfc3339(text).is_ok(),
                "{time} is RFC 3339: {run}"
            );
        }

        let (status, person, _) = call(&api, "GET", "/api/v1/people/octocat").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(person["gists"].as_array().unwrap().len(), 2);
        let (_, again, _) = call(&api, "GET", "/api/v1/people/OCTOCAT").await;
        assert!(
            again["gists"].as_array().unwrap().is_empty(),
            "the first view recorded the visit"
        );
        let (_, all, _) = call(&api, "GET", "/api/v1/people/octocat?getAllGists=true").await;
        assert_eq!(all["gists"].as_array().unwrap().len(), 2);
        let (_, all, _) = call(&api, "GET", "/api/v1/people/octocat?all=true").await;
        assert_eq!(all["gists"].as_array().unwrap().len(), 2);

        let new_id = api.fake.add_gist("octocat");
        let (status, _, _) = call(&api, "POST", "/api/v1/sync").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        eventually("the new gist's activity", || async {
            api.fake.activities_for_gist(&new_id) == 1
        })
        .await;
        let (_, peek, _) = call(&api, "GET", "/api/v1/people/octocat?peek=true").await;
        assert_eq!(peek["gists"].as_array().unwrap().len(), 1);
        let (_, visit, _) = call(&api, "GET", "/api/v1/people/octocat").await;
        assert_eq!(visit["gists"][0]["id"], new_id.as_str());

        let (status, body, _) = call(&api, "DELETE", "/api/v1/people/octocat").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body, _) = call(&api, "DELETE", "/api/v1/people/octocat").await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_tracked");
        let (status, body, _) = call(&api, "GET", "/api/v1/people/octocat").await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_tracked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_adds_change_nothing_anywhere() {
    for db in backends() {
        let api = api_on(db, None, true);
        api.fake.add_user("octocat", 0);
        let (status, body, _) = post_form(&api, "").await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "missing_username");
        let (status, body, _) = post_form(&api, "username=-bad-").await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_username");
        let (status, body, _) = post_form(&api, "username=nobody").await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "github_user_not_found",
        );
        assert!(api.fake.lock().pipedrive.persons.is_empty());

        let (status, _, _) = post_form(&api, "username=octocat").await;
        assert_eq!(status, StatusCode::CREATED);
        let persons = api.fake.lock().pipedrive.persons.len();
        let (status, body, _) = post_form(&api, "username=octocat").await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "already_tracked");
        assert_eq!(api.fake.lock().pipedrive.persons.len(), persons);

        let (status, body, _) = post_people(&api, "application/json", "{not json").await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");

        let huge = format!("username={}", "a".repeat(100_000));
        let (status, body, _) = post_form(&api, &huge).await;
        assert_error(
            status,
            &body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        );

        // Pipedrive failing mid-add leaves no person behind.
        api.fake.add_user("unlucky", 0);
        api.fake.lock().pipedrive.faults.push_back((
            support::fake::PipedriveRoute::CreatePerson,
            support::fake::PipedriveFault::ServerError,
        ));
        let (status, body, _) = post_form(&api, "username=unlucky").await;
        assert_error(status, &body, StatusCode::BAD_GATEWAY, "upstream_error");
        let (_, people, _) = call(&api, "GET", "/api/v1/people").await;
        assert_eq!(people.as_array().unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_wrong_methods_and_bad_queries_are_json_4xx() {
    let api = api_on(TestDb::sqlite(), None, true);
    for (method, path, status, code) in [
        ("GET", "/nope", StatusCode::NOT_FOUND, "not_found"),
        (
            "GET",
            "/api/v1/people/a/b",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "PUT",
            "/api/v1/people",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "POST",
            "/api/v1/people/octocat",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "GET",
            "/api/v1/sync",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "DELETE",
            "/healthz",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "GET",
            "/api/v1/people?page=abc",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "GET",
            "/api/v1/people?page=4294967296",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "GET",
            "/api/v1/people?per_page=0",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "GET",
            "/api/v1/people?per_page=5000",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "GET",
            "/api/v1/people/octocat?peek=maybe",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "GET",
            "/api/v1/sync/runs?limit=0",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "GET",
            "/api/v1/people/..%2F..%2Fetc",
            StatusCode::BAD_REQUEST,
            "invalid_username",
        ),
        (
            "GET",
            "/api/v1/people/x'%20OR%201=1--",
            StatusCode::BAD_REQUEST,
            "invalid_username",
        ),
        (
            "DELETE",
            "/api/v1/people/%C3%BCnicode",
            StatusCode::BAD_REQUEST,
            "invalid_username",
        ),
    ] {
        let (got, body, headers) = call(&api, method, path).await;
        assert_error(got, &body, status, code);
        assert_eq!(
            headers["content-type"], "application/json",
            "{method} {path}"
        );
    }
    // A 405 says which methods the route does answer (RFC 9110).
    for (method, path, allow) in [
        ("PUT", "/api/v1/people", "GET, POST"),
        ("POST", "/api/v1/people/octocat", "GET, DELETE"),
        ("GET", "/api/v1/sync", "POST"),
        ("TRACE", "/metrics", "GET"),
        ("POST", "/healthz", "GET, HEAD"),
        ("POST", "/documentation/openapi.json", "GET"),
    ] {
        let (status, _, headers) = call(&api, method, path).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(headers["allow"], allow, "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_can_be_paged_with_link_headers() {
    let api = api_on(TestDb::sqlite(), None, true);
    for n in 0..5 {
        api.fake.add_user(&format!("user{n}"), 0);
        let (status, _, _) = post_form(&api, &format!("username=user{n}")).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, page, headers) = call(&api, "GET", "/api/v1/people?page=2&per_page=2").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["github_username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["user2", "user3"]);
    assert_eq!(headers["x-total-count"], "5");
    let link = headers["link"].to_str().unwrap();
    assert!(
        link.contains("</api/v1/people?page=3&per_page=2>; rel=\"next\""),
        "{link}"
    );
    assert!(
        link.contains("</api/v1/people?page=1&per_page=2>; rel=\"prev\""),
        "{link}"
    );
    assert!(
        link.contains("</api/v1/people?page=3&per_page=2>; rel=\"last\""),
        "{link}"
    );
    let (_, last, headers) = call(&api, "GET", "/api/v1/people?page=3&per_page=2").await;
    assert_eq!(last.as_array().unwrap().len(), 1);
    assert!(!headers["link"].to_str().unwrap().contains("rel=\"next\""));
    // Keyset paging: the people after a login, the next link continuing after the last.
    let mut walked = Vec::new();
    let mut next = Some("/api/v1/people?per_page=2".to_string());
    while let Some(path) = next.take() {
        let (status, page, headers) = call(&api, "GET", &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        walked.extend(tracked(&page).into_iter().map(String::from));
        let link = headers.get("link").map(|l| l.to_str().unwrap().to_string());
        next = link.and_then(|link| {
            link.split(", ")
                .find(|l| l.ends_with("rel=\"next\""))
                .map(|l| {
                    l.trim_start_matches('<')
                        .split('>')
                        .next()
                        .unwrap()
                        .to_string()
                })
        });
        if path.contains("after=") {
            assert!(
                headers.get("x-total-count").is_none(),
                "keyset pages are not counted"
            );
        }
    }
    assert_eq!(walked, ["user0", "user1", "user2", "user3", "user4"]);
    let (_, rest, headers) = call(&api, "GET", "/api/v1/people?after=USER2&per_page=2").await;
    assert_eq!(tracked(&rest), ["user3", "user4"], "after is any case");
    assert!(
        !headers["link"].to_str().unwrap().contains("next"),
        "the end"
    );
    for bad in [
        "/api/v1/people?after=user1&page=2",
        "/api/v1/people?after=no%20such",
    ] {
        let (status, body, _) = call(&api, "GET", bad).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    }
    let (_, all, headers) = call(&api, "GET", "/api/v1/people").await;
    assert_eq!(
        all.as_array().unwrap().len(),
        5,
        "no paging parameters: everyone"
    );
    assert!(headers.get("link").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_token_guards_the_api_but_not_docs_or_health() {
    let api = api_on(TestDb::sqlite(), Some("s3cret-token-0123456789"), true);
    for (method, path) in [
        ("GET", "/api/v1/people"),
        ("POST", "/api/v1/sync"),
        ("GET", "/api/v1/sync/runs"),
        ("DELETE", "/api/v1/people/x"),
        ("GET", "/api/v1/people/x"),
    ] {
        let (status, body, _) = call(&api, method, path).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let response = warp::test::request()
            .method(method)
            .path(path)
            .header("authorization", "Bearer wrong-token!")
            .reply(&api.routes)
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = warp::test::request()
        .path("/api/v1/people")
        .header("authorization", "Bearer s3cret-token-0123456789")
        .reply(&api.routes)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/documentation/openapi.json",
        "/documentation/index.html",
    ] {
        let response = warp::test::request().path(path).reply(&api.routes).await;
        assert_eq!(response.status(), StatusCode::OK, "{path} stays open");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_pipedrive_reads_work_and_writes_say_why_not() {
    let api = api_on(TestDb::sqlite(), None, false);
    api.fake.add_user("octocat", 0);
    let (status, _, _) = call(&api, "GET", "/api/v1/people").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = post_form(&api, "username=octocat").await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "pipedrive_not_configured",
    );
    let (status, body, _) = call(&api, "POST", "/api/v1/sync").await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "pipedrive_not_configured",
    );
    assert_eq!(api.fake.lock().github.total_requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_documentation_are_served() {
    let api = api_on(TestDb::sqlite(), None, true);
    let (status, body, _) = call(&api, "GET", "/healthz").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body, _) = call(&api, "GET", "/readyz").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    for probe in ["/healthz", "/readyz"] {
        let (status, _, _) = call(&api, "HEAD", probe).await;
        assert_eq!(status, StatusCode::OK, "HEAD {probe}");
    }
    call(&api, "GET", "/api/v1/people").await;
    call(&api, "GET", "/api/v1/people/nobody").await;

    let response = warp::test::request()
        .path("/metrics")
        .reply(&api.routes)
        .await;
    let text = String::from_utf8_lossy(response.body()).into_owned();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(text.contains("gisttrack_http_requests_total{method=\"GET\",route=\"/api/v1/people\",status=\"200\"} 1"), "{text}");
    assert!(
        text.contains("route=\"/api/v1/people/{username}\",status=\"404\"} 1"),
        "{text}"
    );
    for name in [
        "gisttrack_sync_passes_total",
        "gisttrack_activities_created_total",
        "gisttrack_delivery_failures_total",
        "gisttrack_github_requests_total",
        "gisttrack_pipedrive_rate_limit_waits_total",
        "gisttrack_gists_found_total",
    ] {
        assert!(text.contains(name), "{name} missing");
    }

    let response = warp::test::request()
        .path("/documentation/index.html")
        .reply(&api.routes)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(String::from_utf8_lossy(response.body()).contains("swagger"));
    let response = warp::test::request()
        .path("/documentation/swagger-initializer.js")
        .reply(&api.routes)
        .await;
    assert!(String::from_utf8_lossy(response.body()).contains("/documentation/openapi.json"));
    let response = warp::test::request()
        .path("/documentation")
        .reply(&api.routes)
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (status, spec, _) = call(&api, "GET", "/documentation/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["paths"]["/api/v1/people/{username}"]["get"].is_object());
}

#[test]
fn the_committed_openapi_snapshot_matches_the_code() {
    support::assert_snapshot("openapi.json", &gisttrack::api::openapi::json());
}

#[test]
fn the_openapi_document_states_the_limits_the_server_enforces() {
    let spec: Value = serde_json::from_str(&gisttrack::api::openapi::json()).unwrap();
    let login_rule = serde_json::json!({
        "minLength": 1, "maxLength": 39, "pattern": gisttrack::login::LOGIN_PATTERN
    });
    let param = |path: &str, method: &str, name: &str| -> Value {
        spec["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path} has no {name}"))["schema"]
            .clone()
    };
    let username = [
        param("/api/v1/people/{username}", "get", "username"),
        param("/api/v1/people/{username}", "delete", "username"),
        param("/api/v1/people", "post", "username"),
        spec["components"]["schemas"]["AddPersonRequest"]["properties"]["username"].clone(),
    ];
    for schema in username {
        for (key, value) in login_rule.as_object().unwrap() {
            assert_eq!(&schema[key], value, "{key} in {schema}");
        }
    }
    for (path, name, minimum, maximum) in [
        ("/api/v1/people", "page", 1, Some(u32::MAX as i64)),
        ("/api/v1/people", "per_page", 1, Some(1000)),
        ("/api/v1/sync/runs", "limit", 1, Some(1000)),
    ] {
        let schema = param(path, "get", name);
        assert_eq!(schema["minimum"], minimum, "{path} {name}");
        assert_eq!(schema["maximum"].as_i64(), maximum, "{path} {name}");
    }
    // The Go service's clients post with no body at all.
    let add = &spec["paths"]["/api/v1/people"]["post"];
    assert_eq!(add["requestBody"]["required"], false, "{add}");
    assert!(add["responses"]["415"].is_object(), "{add}");
}

/// `POST /api/v1/people` with a multipart body whose boundary is `XyZ`.
async fn post_multipart(api: &Api, body: &str) -> (StatusCode, Value, warp::http::HeaderMap) {
    post_people(api, "multipart/form-data; boundary=XyZ", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_data_may_also_come_multipart() {
    let api = api_on(TestDb::sqlite(), None, true);
    api.fake.add_user("curlfan", 0);
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\ncurlfan\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"backfill\"\r\n\r\nfalse\r\n--XyZ--\r\n";
    let (status, person, _) = post_multipart(&api, body).await;
    assert_eq!(status, StatusCode::CREATED, "{person}");
    assert_eq!(person["github_username"], "curlfan");
    assert_eq!(person["backfill"], false);

    // A repeated field: the first counts, as in a URL-encoded form (and Go's FormValue).
    api.fake.add_user("firstone", 0);
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nfirstone\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nnobodyhere\r\n--XyZ--\r\n";
    let (status, person, _) = post_multipart(&api, body).await;
    assert_eq!(status, StatusCode::CREATED, "{person}");
    assert_eq!(person["github_username"], "firstone");

    let (status, body, _) = post_multipart(&api, "--XyZ\r\nnot a part").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_answers_follow_writes_here_at_once_and_elsewhere_within_a_second() {
    let api = api_on(TestDb::sqlite(), None, true);
    for login in ["first", "second", "third"] {
        api.fake.add_user(login, 0);
    }
    let count = |body: &Value| body.as_array().unwrap().len();
    assert_eq!(count(&call(&api, "GET", "/api/v1/people").await.1), 0);
    assert_eq!(
        post_form(&api, "username=first").await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        count(&call(&api, "GET", "/api/v1/people").await.1),
        1,
        "a write here shows at once"
    );
    assert_eq!(
        count(&call(&api, "GET", "/api/v1/people?per_page=10").await.1),
        1
    );

    // Another process (here: another store on the same file) adds someone.
    let other = Store::open(&DatabaseTarget::parse(&api.url).unwrap()).unwrap();
    let metrics = Arc::new(Metrics::default());
    let elsewhere = engine(&other, &api.fake, &metrics, true);
    gisttrack::service::add_person(&elsewhere, "second", true).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        count(&call(&api, "GET", "/api/v1/people").await.1),
        2,
        "within a second"
    );
    assert_eq!(
        count(&call(&api, "GET", "/api/v1/people?per_page=10").await.1),
        2
    );
}

async fn status_of(routes: BoxedFilter<(Response,)>, method: &'static str, path: String) -> u16 {
    warp::test::request()
        .method(method)
        .path(&path)
        .reply(&routes)
        .await
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_deleted_mid_request_is_a_404_and_exactly_one_delete_wins() {
    for db in backends() {
        let backend = db.backend;
        let api = api_on(db, None, true);
        for round in 0..6 {
            let login = format!("racer{round}");
            api.fake.add_user(&login, 2);
            let (status, body, _) = post_form(&api, &format!("username={login}")).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let path = format!("/api/v1/people/{login}");
            let mut views = Vec::new();
            for _ in 0..8 {
                views.push(tokio::spawn(status_of(
                    api.routes.clone(),
                    "GET",
                    path.clone(),
                )));
            }
            let deletes: Vec<_> = (0..2)
                .map(|_| tokio::spawn(status_of(api.routes.clone(), "DELETE", path.clone())))
                .collect();
            for view in views {
                let status = view.await.unwrap();
                assert!(
                    status == 200 || status == 404,
                    "[{backend}] a view answered {status}"
                );
            }
            let mut deleted: Vec<u16> = Vec::new();
            for delete in deletes {
                deleted.push(delete.await.unwrap());
            }
            deleted.sort();
            assert_eq!(deleted, [200, 404], "[{backend}] exactly one delete wins");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_that_cannot_start_still_closes_its_run_with_the_reason() {
    use gisttrack::sync::{PassOptions, Scope, Trigger};
    for db in backends() {
        let api = api_on(db, None, true);
        let engine = api.engine.clone();
        let (outcome, runs) = tokio::task::spawn_blocking(move || {
            let run_id = engine.open_run(Trigger::Api).unwrap();
            let mut options = PassOptions::new(Trigger::Api);
            options.run_id = Some(run_id);
            options.scope = Scope::Named(vec![gisttrack::login::Login::parse("ghost").unwrap()]);
            let outcome = engine.run_pass(&options, &indicatif::ProgressBar::hidden());
            let runs = gisttrack::service::recent_runs(&engine.store, 5).unwrap();
            (outcome.map(|_| ()), runs)
        })
        .await
        .unwrap();
        assert!(outcome.is_err());
        assert!(runs[0].finished_at.is_some(), "closed: {runs:?}");
        let summary = runs[0].error_summary.clone().unwrap_or_default();
        assert!(summary.contains("ghost is not tracked"), "{summary}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_asked_for_during_a_pass_gets_the_next_pass() {
    for db in backends() {
        let api = api_on(db, None, true);
        for n in 0..4 {
            api.fake.add_user(&format!("busy{n}"), 1);
            post_form(&api, &format!("username=busy{n}")).await;
        }
        // The first pass's first listing is answered after 4 s: that pass is surely still
        // running while the rest of the test adds someone and asks twice.
        api.fake
            .lock()
            .github
            .faults
            .push_back(GithubFault::Slow(Duration::from_secs(4)));
        let (_, first, _) = call(&api, "POST", "/api/v1/sync").await;
        eventually("the first pass to ask GitHub", || async {
            api.fake.lock().github.faults.is_empty()
        })
        .await;
        // Added while the first pass runs: that pass chose its people already.
        api.fake.add_user("latecomer", 1);
        let (status, _, _) = post_form(&api, "username=latecomer").await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, second, _) = call(&api, "POST", "/api/v1/sync").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_ne!(
            second["run_id"], first["run_id"],
            "the running pass chose its people before this request"
        );
        let (_, third, _) = call(&api, "POST", "/api/v1/sync").await;
        assert_eq!(
            third["run_id"], second["run_id"],
            "requests before it starts share it"
        );
        eventually("both passes", || async {
            let (_, runs, _) = call(&api, "GET", "/api/v1/sync/runs").await;
            runs.as_array()
                .is_some_and(|r| r.len() == 2 && r.iter().all(|r| !r["finished_at"].is_null()))
        })
        .await;
        let (_, runs, _) = call(&api, "GET", "/api/v1/sync/runs").await;
        assert_eq!(runs[0]["id"], second["run_id"]);
        assert_eq!(
            runs[0]["users_checked"], 5,
            "the second pass covers the latecomer: {runs}"
        );
        assert_eq!(runs[1]["users_checked"], 4, "{runs}");
        let latecomer = api.fake.gist_ids("latecomer")[0].clone();
        assert_eq!(api.fake.activities_for_gist(&latecomer), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_table_matches_the_filters_and_the_openapi_document() {
    use gisttrack::http::route_table::ROUTES;
    use std::collections::{BTreeMap, BTreeSet};
    let api = api_on(TestDb::sqlite(), None, true);
    let doc: Value = serde_json::from_str(&gisttrack::api::openapi::json()).unwrap();
    let in_document: BTreeMap<String, BTreeSet<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, operations)| {
            let methods = operations
                .as_object()
                .unwrap()
                .keys()
                .map(|m| m.to_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect();
    let in_table: BTreeMap<String, BTreeSet<String>> = ROUTES
        .iter()
        .filter(|route| route.documented)
        .map(|route| {
            let methods = route.methods.iter().map(|m| m.to_string()).collect();
            (route.pattern.to_string(), methods)
        })
        .collect();
    assert_eq!(
        in_table, in_document,
        "the OpenAPI document lists the table's routes"
    );

    for route in ROUTES {
        let path = route
            .pattern
            .replace("{username}", "octocat")
            .replace('*', "index.html");
        for method in route.methods {
            let response = warp::test::request()
                .method(method)
                .path(&path)
                .body(if *method == "POST" {
                    "username=octocat"
                } else {
                    ""
                })
                .header("content-type", "application/x-www-form-urlencoded")
                .reply(&api.routes)
                .await;
            let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
            assert!(
                body["code"] != "not_found" && response.status() != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is served: {} {body}",
                response.status()
            );
        }
        let response = warp::test::request()
            .method("PUT")
            .path(&path)
            .reply(&api.routes)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "PUT {path}"
        );
        assert_eq!(
            response.headers()["allow"].to_str().unwrap(),
            route.methods.join(", "),
            "{path}"
        );
    }
}

async fn request(
    api: &Api,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Value, warp::http::HeaderMap) {
    let mut request = warp::test::request().method(method).path(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if !body.is_empty() {
        request = request.body(body);
    }
    body_of(request.reply(&api.routes).await)
}

fn tracked(people: &Value) -> Vec<&str> {
    people
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["github_username"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_written_for_the_go_service_still_work() {
    for db in backends() {
        let api = api_on(db, None, true);
        api.fake.add_user("octocat", 2);
        api.fake.add_user("Hubot", 0);

        // Its own tests: the username in the query string and no body at all.
        let (status, person, _) =
            request(&api, "POST", "/api/v1/people?username=octocat", &[], "").await;
        assert_eq!(status, StatusCode::CREATED, "{person}");
        assert_eq!(person["github_username"], "octocat");
        // Its person fields, beside today's.
        assert!(person["id"].as_i64().is_some_and(|id| id > 0), "{person}");
        assert_eq!(person["created_at"], person["added_at"], "{person}");
        assert!(person["updated_at"].as_str().is_some(), "{person}");
        // The body wins over the query string; a form body may carry only the backfill.
        let (status, person, _) = request(
            &api,
            "POST",
            "/api/v1/people?username=Hubot&backfill=true",
            &[("content-type", "application/x-www-form-urlencoded")],
            "backfill=0",
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{person}");
        assert_eq!(
            (
                person["github_username"].as_str(),
                person["backfill"].as_bool()
            ),
            (Some("Hubot"), Some(false))
        );

        // Bodiless or empty, without a username: a 400 that says what to send, not a 411.
        for headers in [
            &[][..],
            &[("content-type", "application/x-www-form-urlencoded")][..],
        ] {
            let (status, body, _) = request(&api, "POST", "/api/v1/people", headers, "").await;
            assert_error(status, &body, StatusCode::BAD_REQUEST, "missing_username");
            assert!(
                body["error"].as_str().unwrap().contains("query string"),
                "{body}"
            );
        }

        let (status, _, _) = call(&api, "POST", "/api/v1/sync").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        eventually("octocat's gists delivered", || async {
            api.fake.activity_count() == 2
        })
        .await;
        // A repeated parameter: the first value, as the Go service read it.
        let (status, all, _) = call(
            &api,
            "GET",
            "/api/v1/people/octocat?getAllGists=true&getAllGists=true",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{all}");
        assert_eq!(all["gists"].as_array().unwrap().len(), 2);
        let (status, page, _) = call(
            &api,
            "GET",
            "/api/v1/people?per_page=1&per_page=500&page=2&page=1",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            tracked(&page),
            ["octocat"],
            "page 2 at 1 per page, ordered by login"
        );

        // Booleans: true/false/1/0 in any case, everywhere; anything else names its parameter.
        for value in ["1", "TRUE", "True"] {
            let (status, body, _) = call(
                &api,
                "GET",
                &format!("/api/v1/people/octocat?peek=0&all={value}"),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "all={value}: {body}");
            assert_eq!(body["gists"].as_array().unwrap().len(), 2, "all={value}");
        }
        let (status, body, _) = call(&api, "GET", "/api/v1/people/octocat?peek=maybe").await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains("\"peek\"") && error.contains("true, false, 1 or 0"),
            "{error}"
        );
        let (status, body, _) = post_form(&api, "username=nobody&backfill=yes").await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("backfill takes true, false, 1 or 0"),
            "{body}"
        );

        // A percent-encoded login is the login.
        let (status, body, _) = call(&api, "GET", "/api/v1/people/oct%6Fcat?peek=1").await;
        assert_eq!(
            (status, body["github_username"].as_str()),
            (StatusCode::OK, Some("octocat")),
            "{body}"
        );
        // Every boolean is checked, whichever decides.
        let (status, body, _) = call(
            &api,
            "GET",
            "/api/v1/people/octocat?all=true&getAllGists=maybe",
        )
        .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
        assert!(
            body["error"].as_str().unwrap().contains("\"getAllGists\""),
            "{body}"
        );
        // A query-string backfill is a query parameter, and named as one.
        let (status, body, _) = request(
            &api,
            "POST",
            "/api/v1/people?username=nobody&backfill=perhaps",
            &[],
            "",
        )
        .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
        assert!(
            body["error"].as_str().unwrap().contains("\"backfill\""),
            "{body}"
        );
        // A JSON body that is not an object is refused, not read as "no username".
        let (status, body, _) = request(
            &api,
            "POST",
            "/api/v1/people?username=Hubot",
            &[("content-type", "application/json")],
            "[]",
        )
        .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");

        // DELETE answers in GitHub's spelling, as every other route does.
        let (status, body, _) = call(&api, "DELETE", "/api/v1/people/HUBOT").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, serde_json::json!({"deleted": "Hubot"}));
        let (_, people, _) = call(&api, "GET", "/api/v1/people").await;
        assert_eq!(tracked(&people), ["octocat"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_a_type_the_route_does_not_take_is_a_415_that_lists_the_types() {
    let api = api_on(TestDb::sqlite(), None, true);
    api.fake.add_user("octocat", 0);
    for content_type in ["text/plain", "application/xml", "text/plain; charset=utf-8"] {
        let (status, body, _) = request(
            &api,
            "POST",
            "/api/v1/people",
            &[("content-type", content_type)],
            "username=octocat",
        )
        .await;
        assert_error(
            status,
            &body,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains("application/json") && error.contains("multipart/form-data"),
            "{error}"
        );
    }
    // JSON by another name (RFC 6839) is JSON.
    let (status, body, _) = request(
        &api,
        "POST",
        "/api/v1/people",
        &[("content-type", "application/merge-patch+json")],
        r#"{"username": "octocat"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, people, _) = call(&api, "GET", "/api/v1/people").await;
    assert_eq!(
        tracked(&people),
        ["octocat"],
        "the refused posts created nobody"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive() {
    let api = api_on(TestDb::sqlite(), Some("s3cret-token-0123456789"), true);
    for header in [
        "bearer s3cret-token-0123456789",
        "BEARER s3cret-token-0123456789",
        "Bearer  s3cret-token-0123456789",
    ] {
        let (status, body, _) = request(
            &api,
            "GET",
            "/api/v1/people",
            &[("authorization", header)],
            "",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{header:?}: {body}");
    }
    for header in [
        "Bearers3cret-token-0123456789",
        "Basic s3cret-token-0123456789",
        "bearer S3CRET-TOKEN",
        "s3cret-token-0123456789",
    ] {
        let (status, body, _) = request(
            &api,
            "GET",
            "/api/v1/people",
            &[("authorization", header)],
            "",
        )
        .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_page_of_a_page_past_the_end_is_the_last_page() {
    let api = api_on(TestDb::sqlite(), None, true);
    for n in 0..3 {
        api.fake.add_user(&format!("user{n}"), 0);
        let (status, _, _) = post_form(&api, &format!("username=user{n}")).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, page, headers) = call(&api, "GET", "/api/v1/people?page=99&per_page=1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.as_array().unwrap().is_empty());
    let link = headers["link"].to_str().unwrap();
    assert!(
        link.contains("</api/v1/people?page=3&per_page=1>; rel=\"prev\""),
        "{link}"
    );
    assert!(!link.contains("page=98"), "{link}");
    assert!(!link.contains("rel=\"next\""), "{link}");
}

/// `GET /api/v1/people` from `client` with `Authorization: Bearer {token}`.
async fn people_as(
    api: &Api,
    client: [u8; 4],
    token: &str,
) -> (StatusCode, Value, warp::http::HeaderMap) {
    use gisttrack::http::server::ClientAddress;
    let response = warp::test::request()
        .path("/api/v1/people")
        .header("authorization", format!("Bearer {token}"))
        .extension(ClientAddress(std::net::IpAddr::from(client)))
        .reply(&api.routes)
        .await;
    body_of(response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_401_names_the_bearer_scheme_and_guessers_get_429_not_an_answer() {
    let token = "s3cret-token-0123456789";
    let api = api_on(TestDb::sqlite(), Some(token), true);
    let (status, body, headers) = call(&api, "GET", "/api/v1/people").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"gisttrack\"");

    for guess in 0..10 {
        let (status, body, headers) =
            people_as(&api, [192, 0, 2, 1], &format!("guess-{guess:016}")).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(headers["www-authenticate"], "Bearer realm=\"gisttrack\"");
    }
    for presented in ["another-guess-000000", token] {
        let (status, body, headers) = people_as(&api, [192, 0, 2, 1], presented).await;
        assert_error(
            status,
            &body,
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
        );
        assert_eq!(headers["retry-after"], "6", "one more guess after 6 s");
        assert!(headers.get("www-authenticate").is_none());
    }
    let (status, _, _) = people_as(&api, [192, 0, 2, 2], token).await;
    assert_eq!(status, StatusCode::OK, "another address is heard at once");

    // Past the ceiling for everyone together, an address with earlier failures waits even
    // with room of its own, and one that never failed is still heard.
    for address in 10..28u8 {
        for guess in 0..5 {
            people_as(&api, [192, 0, 2, address], &format!("guess-{guess:016}")).await;
        }
    }
    let (status, _, _) = people_as(&api, [192, 0, 2, 10], token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = people_as(&api, [192, 0, 2, 99], token).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_gets_the_dashboards_protections_and_no_inline_allowance() {
    let api = api_on(TestDb::sqlite(), None, false);
    for path in [
        "/documentation/index.html",
        "/documentation/swagger-initializer.js",
        "/documentation/swagger-ui-bundle.js",
    ] {
        let response = warp::test::request().path(path).reply(&api.routes).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        assert_eq!(
            headers["content-security-policy"],
            "default-src 'none'; script-src 'self'; \
             style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
             img-src 'self' data:; connect-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
            "{path}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
    }
    let page = warp::test::request()
        .path("/documentation/index.html")
        .reply(&api.routes)
        .await;
    let html = String::from_utf8_lossy(page.body()).into_owned();
    // What makes a policy without 'unsafe-inline' enough: no inline script or style.
    assert!(!html.contains("<style"), "{html}");
    assert!(!html.contains(" style="), "{html}");
    for script in html.split("<script").skip(1) {
        assert!(script.trim_start().starts_with("src="), "{html}");
    }
    let initializer = warp::test::request()
        .path("/documentation/swagger-initializer.js")
        .reply(&api.routes)
        .await;
    let initializer = String::from_utf8_lossy(initializer.body()).into_owned();
    assert!(
        initializer.contains("\"validatorUrl\": \"none\""),
        "no badge fetched from swagger.io: {initializer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_only_this_machine_may_use_the_server() {
    let api = api_on(TestDb::sqlite(), None, true);
    api.fake.add_user("alice", 0);
    // A name rebound to 127.0.0.1 by a page the visitor opened: refused, reads too.
    for (method, path) in [
        ("GET", "/api/v1/people"),
        ("GET", "/"),
        ("POST", "/api/v1/people"),
    ] {
        let (status, body, _) = request(
            &api,
            method,
            path,
            &[
                ("host", "attacker.example:8080"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            "username=alice",
        )
        .await;
        assert_error(
            status,
            &body,
            StatusCode::MISDIRECTED_REQUEST,
            "not_this_server",
        );
    }
    // A form or fetch posted from another site to this machine's address: refused.
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://attacker.example"),
        ("origin", "null"),
    ] {
        let (status, body, _) = request(
            &api,
            "POST",
            "/api/v1/people",
            &[
                ("host", "127.0.0.1:8080"),
                ("content-type", "application/x-www-form-urlencoded"),
                (header, value),
            ],
            "username=alice",
        )
        .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "cross_site");
    }
    let (_, people, _) = call(&api, "GET", "/api/v1/people").await;
    assert_eq!(people, serde_json::json!([]), "nothing was added");
    // Probes and scrapers name whatever address they reach: they read nothing of the data.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let (status, body, _) = request(&api, "GET", path, &[("host", "10.1.2.3:3000")], "").await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    // This machine's own names and tools work.
    for host in [
        "localhost:8080",
        "127.0.0.1:8080",
        "[::1]:8080",
        "app.localhost",
    ] {
        let (status, body, _) = request(&api, "GET", "/api/v1/people", &[("host", host)], "").await;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
    }
    let (status, body, _) = request(
        &api,
        "POST",
        "/api/v1/people",
        &[
            ("host", "localhost:8080"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", "http://localhost:8080"),
        ],
        "username=alice",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_opened_to_the_network_answers_any_host_but_no_cross_site_change() {
    let api = api_listening(TestDb::sqlite(), None, true, "0.0.0.0:3000");
    api.fake.add_user("alice", 0);
    // From this machine, where a page rebound by the operator's own browser comes from, a
    // request must still name this machine; from another, any name it reached us by.
    let from = |peer: [u8; 4], host: &str| {
        warp::test::request()
            .path("/api/v1/people")
            .header("host", host)
            .extension(gisttrack::http::server::ClientAddress(
                std::net::IpAddr::from(peer),
            ))
            .reply(&api.routes)
    };
    let (status, body, _) = body_of(from([127, 0, 0, 1], "attacker.example:3000").await);
    assert_error(
        status,
        &body,
        StatusCode::MISDIRECTED_REQUEST,
        "not_this_server",
    );
    let (status, body, _) = body_of(from([10, 1, 2, 3], "gisttrack.corp:3000").await);
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = request(
        &api,
        "GET",
        "/api/v1/people",
        &[("host", "gisttrack.corp:3000")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cross_site = [
        ("host", "gisttrack.corp:3000"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "https://attacker.example"),
    ];
    let (status, body, _) = request(
        &api,
        "POST",
        "/api/v1/people",
        &cross_site,
        "username=alice",
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "cross_site");
    let (status, body, _) = request(
        &api,
        "POST",
        "/api/v1/people",
        &cross_site[..2],
        "username=alice",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_token_is_the_guard_whatever_the_host() {
    let api = api_on(TestDb::sqlite(), Some("s3cret-token-0123456789"), true);
    let (status, body, _) = request(
        &api,
        "GET",
        "/api/v1/people",
        &[
            ("host", "gisttrack.corp"),
            ("authorization", "Bearer s3cret-token-0123456789"),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = request(
        &api,
        "GET",
        "/api/v1/people",
        &[("host", "gisttrack.corp")],
        "",
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_can_be_followed_listed_and_unfollowed() {
    for db in backends() {
        let api = api_on(db, None, true);
        api.fake.add_org("acme", Some("Acme Inc"));
        for login in ["alice", "bob"] {
            api.fake.add_user(login, 1);
            api.fake.add_member("acme", login);
        }
        api.fake.add_bot_member("acme", "dependabot[bot]");

        let response = warp::test::request()
            .method("POST")
            .path("/api/v1/orgs")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("org=ACME")
            .reply(&api.routes)
            .await;
        let (status, body, headers) = body_of(response);
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(headers["location"], "/api/v1/orgs/acme");
        assert_eq!(body["already_followed"], false, "{body}");
        assert_eq!(body["added"], serde_json::json!(["alice", "bob"]), "{body}");
        assert_eq!(
            body["skipped"],
            serde_json::json!([{"login": "dependabot[bot]", "reason": "bot"}])
        );
        assert_eq!(api.fake.organizations().len(), 1);

        // Again, as JSON: nothing made twice.
        let response = warp::test::request()
            .method("POST")
            .path("/api/v1/orgs")
            .json(&serde_json::json!({"org": "acme"}))
            .reply(&api.routes)
            .await;
        let (status, body, _) = body_of(response);
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["already_followed"], true);
        assert_eq!(api.fake.organizations().len(), 1);
        assert_eq!(api.fake.live_persons().len(), 2);

        let (status, listed, _) = call(&api, "GET", "/api/v1/orgs").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed[0]["org"], "acme", "{listed}");
        assert_eq!(listed[0]["members"], 2, "{listed}");
        assert_eq!(
            listed[0]["pipedrive_org_id"],
            api.fake.organizations()[0].id
        );

        let (status, body, _) = call(&api, "DELETE", "/api/v1/orgs/acme?members=true").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["members_deleted"].as_array().unwrap().len(), 2);
        let (_, people, _) = call(&api, "GET", "/api/v1/people").await;
        assert_eq!(people, serde_json::json!([]));
        let (status, body, _) = call(&api, "DELETE", "/api/v1/orgs/acme").await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_followed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_or_unknown_organization_is_refused_by_name_and_changes_nothing() {
    for db in backends() {
        let api = api_on(db, None, true);
        let post = |content_type: &'static str, body: &'static str| {
            warp::test::request()
                .method("POST")
                .path("/api/v1/orgs")
                .header("content-type", content_type)
                .body(body)
                .reply(&api.routes)
        };
        let (status, body, _) = body_of(post("application/json", r#"{"org": "nosuch"}"#).await);
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "github_org_not_found",
        );
        assert!(body["error"].as_str().unwrap().contains("nosuch"), "{body}");
        let (status, body, _) = body_of(post("application/json", r#"{"org": "a--b"}"#).await);
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_username");
        let (status, body, _) = body_of(post("application/json", r#"{"org": 7}"#).await);
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
        let (status, body, _) = body_of(post("application/x-www-form-urlencoded", "").await);
        assert_error(status, &body, StatusCode::BAD_REQUEST, "missing_org");
        let (status, body, _) = body_of(post("text/plain", "acme").await);
        assert_error(
            status,
            &body,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
        let (_, listed, _) = call(&api, "GET", "/api/v1/orgs").await;
        assert_eq!(listed, serde_json::json!([]));
        assert!(api.fake.organizations().is_empty());
        let (status, body, _) = call(&api, "DELETE", "/api/v1/orgs/a--b").await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_username");
    }
}
