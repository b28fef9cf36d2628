//! The dashboard in a real browser: Debian's Chromium, headless, against the real `serve` on
//! loopback, the fake APIs behind it and a real database.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::browser::Browser;
use support::server::{wait_until, Server};
use support::{backends, ok, roomy_fake, FakeApis, TestDb};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A form post from outside the browser, with exactly these headers besides its type.
fn post_form(
    url: String,
    headers: &[(&str, &str)],
    body: &str,
) -> ureq::http::Response<ureq::Body> {
    let mut request = agent()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send(body).unwrap()
}

/// The tracked people as the API sees them.
fn api_logins(server: &Server) -> Vec<String> {
    let mut response = agent()
        .get(format!("{}/api/v1/people", server.url))
        .call()
        .unwrap();
    let people: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    people
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["github_username"].as_str().unwrap().to_string())
        .collect()
}

/// `login -> new gists` as the overview table shows them.
fn new_counts(browser: &mut Browser) -> Vec<(String, i64)> {
    let rows = browser.eval(
        "[...document.querySelectorAll('table.people tbody tr')].map(r => \
           [r.querySelector('a.login').textContent, Number(r.querySelector('span.new').textContent)])",
    );
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_i64().unwrap()))
        .collect()
}

fn count_of(browser: &mut Browser, login: &str) -> Option<i64> {
    new_counts(browser)
        .into_iter()
        .find(|(l, _)| l == login)
        .map(|(_, n)| n)
}

/// Fills the overview's add form and submits it.
fn submit_add(browser: &mut Browser, username: &str) {
    let username = serde_json::to_string(username).unwrap();
    browser.navigate_by(&format!(
        "document.querySelector('form.add input[name=username]').value = {username}; \
         document.querySelector('form.add').submit()"
    ));
}

/// The status of the last document the browser loaded.
fn last_status(browser: &Browser) -> u16 {
    browser.document_statuses.last().expect("a document").1
}

fn error_text(browser: &mut Browser) -> String {
    browser
        .eval("document.querySelector('p.error')?.textContent ?? ''")
        .as_str()
        .unwrap()
        .to_string()
}

/// Nothing the pages loaded came from anywhere but the server under test.
fn assert_only_local_requests(browser: &Browser, server: &Server) {
    assert!(!browser.requests.is_empty());
    for (url, _) in &browser.requests {
        assert!(
            url.starts_with(&format!("{}/", server.url)),
            "the dashboard fetched {url} from outside"
        );
    }
}

/// Three tracked users with their gists listed and delivered (zed's already seen), and a
/// server with no loop.
fn synced(db: &TestDb, fake: &FakeApis) -> Server {
    fake.add_user("alice-dev", 3);
    fake.add_user("bob", 1);
    fake.add_user("zed", 2);
    ok(db, Some(fake), &["add", "alice-dev", "bob", "zed"]);
    ok(db, Some(fake), &["sync"]);
    ok(db, Some(fake), &["show", "zed"]);
    Server::start(db, fake, &["--no-sync"], &[])
}

#[test]
fn each_salesperson_can_open_their_own_people() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("alice-dev", 3);
        fake.add_user("bob", 1);
        fake.add_user("zed", 2);
        ok(&db, Some(&fake), &["add", "alice-dev", "bob", "zed"]);
        // Bob's person belongs to salesperson 42; the pass reads it before delivering.
        let bobs = fake.person_named("bob Example");
        fake.reassign(bobs.id, 42, None);
        ok(&db, Some(&fake), &["sync"]);
        let server = Server::start(&db, &fake, &["--no-sync"], &[]);
        let page = |path: &str| {
            let mut response = agent().get(format!("{}{path}", server.url)).call().unwrap();
            assert_eq!(response.status().as_u16(), 200, "{path}");
            response.body_mut().read_to_string().unwrap()
        };
        let everyone = page("/");
        assert!(
            everyone.contains("<th class=\"wide\">Owner</th>")
                && everyone.contains("href=\"/?owner=42\""),
            "[{}] the owner column links to their people: {everyone}",
            db.backend
        );
        for path in ["/?owner=42", "/?owner=42&sort=new"] {
            let theirs = page(path);
            assert!(
                theirs.contains("href=\"/people/bob\"")
                    && !theirs.contains("href=\"/people/alice-dev\"")
                    && !theirs.contains("href=\"/people/zed\""),
                "[{}] {path} shows only bob: {theirs}",
                db.backend
            );
            assert!(theirs.contains("user #42 owns"), "{theirs}");
        }
        let nobody = page("/?owner=43");
        assert!(
            nobody.contains("Nobody tracked here is theirs") && !nobody.contains("/people/bob\""),
            "{nobody}"
        );
        // Anything but a user id shows everyone.
        assert!(page("/?owner=x").contains("href=\"/people/zed\""));
    }
}

#[test]
fn the_overview_counts_new_gists_and_a_visit_resets_them_but_a_peek_does_not() {
    for db in backends() {
        let fake = roomy_fake();
        let server = synced(&db, &fake);
        let mut browser = Browser::launch();
        browser.goto(&format!("{}/", server.url));
        assert_eq!(last_status(&browser), 200);
        assert_eq!(
            new_counts(&mut browser),
            vec![
                ("alice-dev".to_string(), 3),
                ("bob".to_string(), 1),
                ("zed".to_string(), 0)
            ],
            "[{}] every person, by name, with the gists new since the last visit",
            db.backend
        );
        let profile = browser.eval("document.querySelector('table.people a.external').href");
        assert_eq!(profile, format!("{}/alice-dev", fake.github_url).as_str());

        // A peek shows every gist, links each one, and leaves the count alone.
        browser.navigate_by("document.querySelector('a.login').click()");
        assert_eq!(browser.location(), "/people/alice-dev");
        browser.goto(&format!("{}/people/alice-dev?peek=1", server.url));
        let links = browser.eval("[...document.querySelectorAll('a.gist-link')].map(a => a.href)");
        let mut expected: Vec<String> = fake
            .gist_ids("alice-dev")
            .iter()
            .map(|id| format!("https://gist.github.com/alice-dev/{id}"))
            .collect();
        let mut shown: Vec<String> = serde_json::from_value(links).unwrap();
        expected.sort();
        shown.sort();
        assert_eq!(shown, expected, "[{}] a link to every gist", db.backend);

        // The click above was a visit: alice's count is gone, bob's is not.
        browser.goto(&format!("{}/", server.url));
        assert_eq!(
            count_of(&mut browser, "alice-dev"),
            Some(0),
            "[{}]",
            db.backend
        );
        assert_eq!(count_of(&mut browser, "bob"), Some(1));

        // A new gist, listed by a pass: counted, and still counted after a peek.
        fake.add_gist("alice-dev");
        ok(&db, Some(&fake), &["sync"]);
        browser.goto(&format!("{}/people/alice-dev?peek=1", server.url));
        assert_eq!(
            browser.eval("document.querySelectorAll('li.gist.is-new').length"),
            1
        );
        browser.goto(&format!("{}/", server.url));
        assert_eq!(
            count_of(&mut browser, "alice-dev"),
            Some(1),
            "[{}] a peek keeps the count",
            db.backend
        );

        // "Mark as seen" from a peek records the visit.
        browser.goto(&format!("{}/people/alice-dev?peek=1", server.url));
        browser.navigate_by("document.querySelector('form[action$=\"/seen\"]').submit()");
        assert_eq!(browser.location(), "/people/alice-dev?peek=1&notice=seen");
        assert!(browser.text().contains("Marked as seen."));
        browser.goto(&format!("{}/?sort=new", server.url));
        assert_eq!(
            new_counts(&mut browser),
            vec![
                ("bob".to_string(), 1),
                ("alice-dev".to_string(), 0),
                ("zed".to_string(), 0)
            ],
            "[{}] sorted by new gists, most first, then by name",
            db.backend
        );

        // The search box filters by login.
        browser.navigate_by(
            "document.querySelector('form.search input[name=q]').value = 'BO'; \
             document.querySelector('form.search').submit()",
        );
        assert_eq!(new_counts(&mut browser), vec![("bob".to_string(), 1)]);
        // LIKE's wildcards are searched for as characters.
        for wildcard in ["_", "%25", "a%25", "_&sort=new", "%25&sort=new"] {
            browser.goto(&format!("{}/?q={wildcard}", server.url));
            assert!(
                new_counts(&mut browser).is_empty(),
                "[{}] q={wildcard} matches nobody",
                db.backend
            );
        }

        let statuses = &browser.document_statuses;
        assert!(statuses.iter().all(|(_, s)| *s == 200), "{statuses:?}");
        assert_only_local_requests(&browser, &server);
    }
}

#[test]
fn add_and_stop_tracking_show_the_same_errors_as_the_api_and_change_nothing_on_error() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("carol", 2);
        let server = Server::start(&db, &fake, &["--no-sync"], &[]);
        let mut browser = Browser::launch();
        browser.goto(&format!("{}/", server.url));
        assert!(browser.text().contains("Nobody is tracked yet"));

        submit_add(&mut browser, "not a login!");
        assert_eq!(last_status(&browser), 400, "[{}]", db.backend);
        assert!(
            error_text(&mut browser).contains("invalid GitHub username"),
            "{}",
            error_text(&mut browser)
        );
        let kept = browser.eval("document.querySelector('form.add input[name=username]').value");
        assert_eq!(kept, "not a login!", "what was typed is kept");

        submit_add(&mut browser, "ghost");
        assert_eq!(last_status(&browser), 422);
        assert!(error_text(&mut browser).contains("GitHub has no user ghost"));
        assert!(
            api_logins(&server).is_empty(),
            "[{}] nothing added on an error",
            db.backend
        );
        assert!(
            fake.live_persons().is_empty(),
            "no Pipedrive person left behind"
        );

        submit_add(&mut browser, "CAROL");
        assert_eq!(browser.location(), "/?notice=added");
        assert!(browser.text().contains("Now tracking them."));
        assert_eq!(count_of(&mut browser, "carol"), Some(0));
        assert_eq!(api_logins(&server), vec!["carol"]);

        submit_add(&mut browser, "carol");
        assert_eq!(
            last_status(&browser),
            400,
            "the API's status for a tracked user"
        );
        assert!(error_text(&mut browser).contains("carol is already tracked"));
        assert_eq!(
            fake.live_persons().len(),
            1,
            "[{}] one Pipedrive person",
            db.backend
        );

        // "Sync now" asks the scheduler for a pass, as POST /api/v1/sync does.
        browser.navigate_by("document.querySelector('form.sync').submit()");
        assert_eq!(browser.location(), "/?notice=sync");
        assert!(browser.text().contains("A sync pass was asked for"));
        wait_until("the pass to deliver carol's gists", || {
            fake.activity_count() == 2
        });
        browser.goto(&format!("{}/", server.url));
        assert_eq!(count_of(&mut browser, "carol"), Some(2));
        assert!(
            browser
                .eval("document.querySelectorAll('table.runs tbody tr').length")
                .as_i64()
                >= Some(1)
        );

        browser.goto(&format!("{}/people/carol?peek=1", server.url));
        browser.navigate_by("document.querySelector('form.danger').submit()");
        assert_eq!(browser.location(), "/?notice=deleted");
        assert!(browser.text().contains("Stopped tracking them."));
        assert!(
            api_logins(&server).is_empty(),
            "[{}] stop tracking deletes",
            db.backend
        );

        browser.goto(&format!("{}/people/carol", server.url));
        assert_eq!(last_status(&browser), 404);
        assert!(error_text(&mut browser).contains("carol is not tracked"));
        assert_only_local_requests(&browser, &server);
    }
}

#[test]
fn a_token_requires_signing_in_and_the_session_cookie_never_holds_it() {
    for db in backends() {
        a_token_requires_signing_in_and_the_session_cookie_never_holds_it_on(db);
    }
}

fn a_token_requires_signing_in_and_the_session_cookie_never_holds_it_on(db: TestDb) {
    let fake = roomy_fake();
    fake.add_user("dora", 1);
    ok(&db, Some(&fake), &["add", "dora"]);
    let server = Server::start(
        &db,
        &fake,
        &["--no-sync"],
        &[("GISTTRACK_API_TOKEN", "s3cret-token-0123456789")],
    );
    let mut browser = Browser::launch();

    browser.goto(&format!("{}/people/dora", server.url));
    assert_eq!(browser.location(), "/signin?next=%2Fpeople%2Fdora");
    assert!(
        !browser.text().contains("dora"),
        "nothing shown before signing in"
    );

    let sign_in = |browser: &mut Browser, token: &str| {
        let token = serde_json::to_string(token).unwrap();
        browser.navigate_by(&format!(
            "document.querySelector('input[name=token]').value = {token}; \
             document.querySelector('section.signin form').submit()"
        ));
    };
    sign_in(&mut browser, "wrong");
    assert_eq!(last_status(&browser), 401);
    assert!(error_text(&mut browser).contains("not this gisttrack's API token"));
    assert!(
        browser.call("Network.getCookies", serde_json::json!({}))["cookies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "gisttrack_session")
    );

    sign_in(&mut browser, "s3cret-token-0123456789");
    assert_eq!(
        browser.location(),
        "/people/dora",
        "back where the visitor was going"
    );
    assert_eq!(last_status(&browser), 200);
    let cookies = browser.call("Network.getCookies", serde_json::json!({}));
    let session = cookies["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "gisttrack_session")
        .expect("a session cookie")
        .clone();
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Strict");
    assert_eq!(session["session"], false, "it expires: {session}");
    let lifetime = session["expires"].as_f64().unwrap() - support::fake::now_secs() as f64;
    assert!((3_600.0..=13.0 * 3_600.0).contains(&lifetime), "{lifetime}");
    assert!(
        !session["value"].as_str().unwrap().contains("s3cret"),
        "{session}"
    );

    // The API still wants its bearer token: the cookie is the dashboard's alone.
    let api = agent()
        .get(format!("{}/api/v1/people", server.url))
        .header(
            "cookie",
            format!("gisttrack_session={}", session["value"].as_str().unwrap()),
        )
        .call()
        .unwrap();
    assert_eq!(api.status().as_u16(), 401);

    browser.navigate_by("document.querySelector('form[action=\"/signout\"]').submit()");
    assert_eq!(browser.location(), "/signin");
    browser.goto(&format!("{}/", server.url));
    assert_eq!(browser.location(), "/signin?next=%2F", "signed out");

    // Behind a TLS proxy the cookies are Secure and `__Host-` prefixed (no sibling subdomain
    // can plant one); a tampered cookie is no session.
    let tls = |request: ureq::RequestBuilder<ureq::typestate::WithoutBody>| {
        request.header("x-forwarded-proto", "https")
    };
    let response = post_form(
        format!("{}/signin", server.url),
        &[
            ("x-forwarded-proto", "https"),
            (
                "cookie",
                "__Host-gisttrack_csrf=0123456789abcdef0123456789abcdef",
            ),
        ],
        "csrf=0123456789abcdef0123456789abcdef&token=s3cret-token-0123456789&next=/",
    );
    assert_eq!(response.status().as_u16(), 303);
    let set_cookie: Vec<&str> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let secure = set_cookie
        .iter()
        .find(|c| c.starts_with("__Host-gisttrack_session="))
        .unwrap_or_else(|| panic!("{set_cookie:?}"));
    assert!(
        secure.contains("; Secure") && secure.contains("; Path=/"),
        "{secure}"
    );
    let value = secure.split(';').next().unwrap();
    let last = value.chars().last().unwrap();
    let flipped = if last == '0' { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &value[..value.len() - 1]);
    let valid = tls(agent().get(format!("{}/", server.url)))
        .header("cookie", value)
        .call()
        .unwrap();
    assert_eq!(
        valid.status().as_u16(),
        200,
        "the cookie as signed is a session"
    );
    let response = tls(agent().get(format!("{}/", server.url)))
        .header("cookie", tampered)
        .call()
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        303,
        "one changed digit is no session"
    );
    let plain_name = value.trim_start_matches("__Host-");
    let response = tls(agent().get(format!("{}/", server.url)))
        .header("cookie", plain_name)
        .call()
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        303,
        "over TLS only the prefixed cookie counts"
    );

    // Signing in from a search returns to that search.
    let response = agent()
        .get(format!("{}/?sort=new&q=a%20b", server.url))
        .call()
        .unwrap();
    let to_signin = response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let next = to_signin
        .strip_prefix("/signin?next=")
        .expect("to the sign-in form");
    let next = percent_encoding::percent_decode_str(next)
        .decode_utf8()
        .unwrap()
        .into_owned();
    let csrf = "0123456789abcdef0123456789abcdef";
    let body = format!(
        "csrf={csrf}&token=s3cret-token-0123456789&next={}",
        percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC)
    );
    let response = post_form(
        format!("{}/signin", server.url),
        &[("cookie", &format!("gisttrack_csrf={csrf}"))],
        &body,
    );
    assert_eq!(
        response.headers().get("location").unwrap(),
        "/?sort=new&q=a+b",
        "back to the search"
    );

    // A form with a valid CSRF value but no session changes nothing.
    let csrf = "0123456789abcdef0123456789abcdef";
    let response = post_form(
        format!("{}/people/dora/delete", server.url),
        &[("cookie", &format!("gisttrack_csrf={csrf}"))],
        &format!("csrf={csrf}"),
    );
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"gisttrack\"",
        "a 401 names its scheme"
    );
    let people = ok(&db, None, &["-o", "json", "list"]);
    assert!(people.contains("dora"), "still tracked: {people}");

    // Back to where the visitor was only when it is a path here.
    let response = post_form(
        format!("{}/signin", server.url),
        &[("cookie", &format!("gisttrack_csrf={csrf}"))],
        &format!("csrf={csrf}&token=s3cret-token-0123456789&next=/%09/evil.example"),
    );
    assert_eq!(response.headers().get("location").unwrap(), "/");
    let log = server.log();
    assert!(
        !log.contains("s3cret-token-0123456789"),
        "the token is never logged"
    );
}

#[test]
fn a_form_without_its_csrf_value_changes_nothing() {
    for db in backends() {
        a_form_without_its_csrf_value_changes_nothing_on(db);
    }
}

fn a_form_without_its_csrf_value_changes_nothing_on(db: TestDb) {
    let fake = roomy_fake();
    fake.add_user("erin", 1);
    fake.add_user("frank", 1);
    ok(&db, Some(&fake), &["add", "erin"]);
    let server = Server::start(&db, &fake, &["--no-sync"], &[]);

    // In the browser: the hidden field removed before the form is sent.
    let mut browser = Browser::launch();
    browser.goto(&format!("{}/people/erin?peek=1", server.url));
    browser.navigate_by(
        "const form = document.querySelector('form.danger'); \
         form.querySelector('input[name=csrf]').remove(); form.submit()",
    );
    assert_eq!(last_status(&browser), 403);
    assert!(error_text(&mut browser).contains("nothing was changed"));
    assert_eq!(api_logins(&server), vec!["erin"]);

    // From another site: a form post with no cookie, a wrong value, or none at all.
    let csrf = "0123456789abcdef0123456789abcdef";
    for (cookie, body) in [
        (None, format!("csrf={csrf}&username=frank")),
        (Some(csrf.to_string()), "username=frank".to_string()),
        (
            Some(csrf.to_string()),
            "csrf=ffffffffffffffffffffffffffffffff&username=frank".to_string(),
        ),
    ] {
        let cookie = cookie.map(|value| format!("gisttrack_csrf={value}"));
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("cookie", c.as_str())).collect();
        let response = post_form(format!("{}/people", server.url), &headers, &body);
        assert_eq!(response.status().as_u16(), 403, "{cookie:?} {body}");
    }
    let response = post_form(format!("{}/people/erin/delete", server.url), &[], "");
    assert_eq!(response.status().as_u16(), 403);
    // A browser that says the post came from another site, whatever the form carries.
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
    ] {
        let response = post_form(
            format!("{}/people/erin/delete", server.url),
            &[
                ("cookie", &format!("gisttrack_csrf={csrf}")),
                (header, value),
            ],
            &format!("csrf={csrf}"),
        );
        assert_eq!(response.status().as_u16(), 403, "{header}: {value}");
    }
    assert_eq!(
        api_logins(&server),
        vec!["erin"],
        "nothing added, nothing deleted"
    );
    assert_eq!(fake.live_persons().len(), 1);

    // The same form with its value works.
    let response = post_form(
        format!("{}/people", server.url),
        &[("cookie", &format!("gisttrack_csrf={csrf}"))],
        &format!("csrf={csrf}&username=frank"),
    );
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(api_logins(&server), vec!["erin", "frank"]);

    // Plain HTTP behind a proxy: no Sec-Fetch-Site, an Origin naming the public host, which
    // the proxy passes on in X-Forwarded-Host. Another host's Origin is refused; the same
    // host's is taken.
    for (origin, status) in [
        ("http://evil.example", 403),
        ("http://gisttrack.corp:8080", 303),
    ] {
        let response = post_form(
            format!("{}/people/frank/delete", server.url),
            &[
                ("cookie", &format!("gisttrack_csrf={csrf}")),
                ("origin", origin),
                ("x-forwarded-host", "gisttrack.corp:8080"),
            ],
            &format!("csrf={csrf}"),
        );
        assert_eq!(response.status().as_u16(), status, "Origin {origin}");
    }
    assert_eq!(api_logins(&server), vec!["erin"]);
}

#[test]
fn the_pages_render_styled_and_the_openapi_document_leaves_them_out() {
    for db in backends() {
        the_pages_render_styled_and_the_openapi_document_leaves_them_out_on(db);
    }
}

fn the_pages_render_styled_and_the_openapi_document_leaves_them_out_on(db: TestDb) {
    let fake = roomy_fake();
    let server = synced(&db, &fake);
    let mut browser = Browser::launch();

    browser.goto("about:blank");
    let blank = browser.screenshot();
    browser.goto(&format!("{}/", server.url));
    let shot = browser.screenshot();
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png"),
        &shot,
    )
    .unwrap();
    assert_eq!(&shot[1..4], b"PNG");
    assert!(
        shot.len() > 4 * blank.len(),
        "the page is not blank: {} bytes against {} for an empty page",
        shot.len(),
        blank.len()
    );
    // The stylesheet loaded (the CSP allows it) and applied.
    let header =
        browser.eval("getComputedStyle(document.querySelector('header.top')).backgroundColor");
    assert_ne!(header, "rgba(0, 0, 0, 0)", "the header is styled");
    let height =
        browser.eval("document.querySelector('table.people').getBoundingClientRect().height");
    assert!(
        height.as_f64().unwrap() > 40.0,
        "the table is laid out: {height}"
    );

    // On a phone the page fits its width: nothing wider than the viewport but the table's
    // own scroll box.
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        serde_json::json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}),
    );
    browser.goto(&format!("{}/", server.url));
    let width = browser.eval("document.documentElement.scrollWidth");
    assert!(
        width.as_i64().unwrap() <= 390,
        "no sideways scrolling on a phone: {width}"
    );
    // The number that matters is in view without scrolling the table sideways.
    assert_eq!(new_counts(&mut browser).len(), 3);
    let new_at = browser.eval(
        "[...document.querySelectorAll('table.people span.new')]\
           .every(n => n.getBoundingClientRect().right <= window.innerWidth)",
    );
    assert_eq!(new_at, true, "every New count is on screen on a phone");
    let phone = browser.screenshot();
    let person_url = format!("{}/people/alice-dev?peek=1", server.url);
    browser.goto(&person_url);
    let width = browser.eval("document.documentElement.scrollWidth");
    assert!(
        width.as_i64().unwrap() <= 390,
        "the person page too: {width}"
    );
    let phone_person = browser.screenshot();
    // Kept for a look after the run (target/tmp), as the overview's is.
    let keep = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(keep.join("dashboard-phone.png"), &phone).unwrap();
    std::fs::write(keep.join("person-phone.png"), &phone_person).unwrap();
    assert_only_local_requests(&browser, &server);

    let mut response = agent()
        .get(format!("{}/documentation/openapi.json", server.url))
        .call()
        .unwrap();
    let document: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    for page in ["/", "/people", "/people/{login}", "/signin", "/sync"] {
        assert!(
            !paths.iter().any(|p| p.as_str() == page),
            "{page} is not an API route: {paths:?}"
        );
    }
    assert!(
        paths.iter().any(|p| p.as_str() == "/api/v1/people"),
        "{paths:?}"
    );
}

/// Follows the overview's `next` links from `start`: every page's (login, new) rows.
fn every_page(browser: &mut Browser, start: &str) -> Vec<Vec<(String, i64)>> {
    browser.goto(start);
    let mut pages = vec![new_counts(browser)];
    while browser.eval("document.querySelector('a[rel=next]') !== null") == true {
        browser.navigate_by("document.querySelector('a[rel=next]').click()");
        pages.push(new_counts(browser));
        assert!(pages.len() < 10, "the pages end");
    }
    pages
}

#[test]
fn long_lists_are_paged_by_name_and_by_new_gists_with_nobody_twice_or_missed() {
    for db in backends() {
        let fake = roomy_fake();
        let logins = support::seed_tracked(&db, &fake, "p", 120);
        // 64 people with new gists, so that page breaks fall inside a count and across a
        // change of count.
        let mut with_new: Vec<(String, usize)> = vec![
            ("p5".into(), 3),
            ("p77".into(), 2),
            ("p100".into(), 1),
            ("p101".into(), 1),
        ];
        with_new.extend((10..70).filter(|n| *n != 77).map(|n| (format!("p{n}"), 1)));
        for (login, gists) in &with_new {
            for _ in 0..*gists {
                fake.add_gist(login);
            }
        }
        let listed_gists: usize = with_new.iter().map(|(_, n)| n).sum();
        // The seeded people have no Pipedrive persons, so their deliveries fail; listing the
        // gists is all this test needs.
        let listed = support::sync_report(&db, &fake, &[]).1;
        assert_eq!(listed["new_gists"], listed_gists, "{listed}");
        let server = Server::start(&db, &fake, &["--no-sync"], &[]);
        let mut browser = Browser::launch();

        let by_name = every_page(&mut browser, &format!("{}/", server.url));
        assert_eq!(
            by_name.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![50, 50, 20],
            "[{}]",
            db.backend
        );
        let shown: Vec<String> = by_name.concat().into_iter().map(|(l, _)| l).collect();
        let mut expected = logins.clone();
        expected.sort();
        assert_eq!(
            shown, expected,
            "[{}] every login once, in order",
            db.backend
        );

        let by_new = every_page(&mut browser, &format!("{}/?sort=new", server.url));
        assert_eq!(
            by_new.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![50, 50, 20],
            "[{}]",
            db.backend
        );
        let rows = by_new.concat();
        assert_eq!(
            rows[0],
            ("p5".to_string(), 3),
            "[{}] most new first",
            db.backend
        );
        assert_eq!(rows[1], ("p77".to_string(), 2));
        assert!(
            rows.windows(2)
                .all(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0)),
            "[{}] by new gists, then by login, across every page: {rows:?}",
            db.backend
        );
        let expected_new: usize = with_new.len();
        assert_eq!(rows.iter().filter(|(_, n)| *n > 0).count(), expected_new);
        let mut seen: Vec<String> = rows.into_iter().map(|(l, _)| l).collect();
        seen.sort();
        assert_eq!(seen, expected, "[{}] nobody twice or missed", db.backend);
    }
}

#[test]
fn notices_are_the_servers_own_words_never_the_urls() {
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    let server = synced(&db, &fake);
    let page = |path: &str| {
        let mut response = agent().get(format!("{}{path}", server.url)).call().unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        response.body_mut().read_to_string().unwrap()
    };
    let planted = "Your-session-expired-call-555-0100";
    for path in [
        format!("/?added={planted}"),
        format!("/?deleted={planted}"),
        format!("/?sync={planted}"),
        format!("/?notice={planted}"),
        format!("/people/bob?peek=1&seen={planted}"),
        format!("/people/bob?peek=1&notice={planted}"),
    ] {
        let html = page(&path);
        assert!(!html.contains(planted), "{path} shows text from its URL");
        assert!(!html.contains("class=\"notice\""), "{path}: {html}");
    }
    for (path, line) in [
        (
            "/?notice=added",
            "Now tracking them. Their gists are listed at the next sync pass.",
        ),
        (
            "/?notice=deleted",
            "Stopped tracking them. Their Pipedrive person and its activities stay in Pipedrive.",
        ),
        (
            "/?notice=sync",
            "A sync pass was asked for: it runs as soon as the one under way (if any) ends.",
        ),
        ("/people/bob?peek=1&notice=seen", "Marked as seen."),
    ] {
        let html = page(path);
        assert!(
            html.contains(&format!("<p class=\"notice\" role=\"status\">{line}</p>")),
            "{path}: {html}"
        );
    }
}

#[test]
fn wrong_tokens_at_the_sign_in_form_are_throttled_per_address() {
    use support::server::exchange_from;
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    let token = "s3cret-token-0123456789";
    let server = Server::start(
        &db,
        &fake,
        &["--no-sync"],
        &[("GISTTRACK_API_TOKEN", token)],
    );
    let csrf = "0123456789abcdef0123456789abcdef";
    let sign_in = |source: &str, presented: &str| {
        exchange_from(
            source,
            &server,
            &format!(
                "POST /signin HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Cookie: gisttrack_csrf={csrf}"
            ),
            &format!("csrf={csrf}&token={presented}&next=/"),
        )
    };
    for guess in 0..10 {
        let answer = sign_in("127.0.0.2", &format!("guess-{guess:016}"));
        assert_eq!(answer.status, 401, "{answer:?}");
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer realm=\"gisttrack\"")
        );
        assert!(
            answer.body.contains("not this gisttrack&#39;s API token")
                || answer.body.contains("not this gisttrack's API token"),
            "{answer:?}"
        );
    }
    for presented in ["guess-again-00000000", token] {
        let answer = sign_in("127.0.0.2", presented);
        assert_eq!(answer.status, 429, "{answer:?}");
        assert_eq!(answer.header("retry-after"), Some("6"), "{answer:?}");
        assert!(
            answer
                .body
                .contains("Too many wrong tokens came from your address: try again in 6 seconds."),
            "{answer:?}"
        );
        assert!(
            !answer
                .headers
                .iter()
                .any(|(n, v)| n == "set-cookie" && v.starts_with("gisttrack_session=")),
            "no session: {answer:?}"
        );
    }
    // The API's bearer check shares the count.
    let api = exchange_from(
        "127.0.0.2",
        &server,
        &format!("GET /api/v1/people HTTP/1.1\r\nAuthorization: Bearer {token}"),
        "",
    );
    assert_eq!(api.status, 429, "{api:?}");

    let answer = sign_in("127.0.0.1", token);
    assert_eq!(
        answer.status, 303,
        "another address signs in at once: {answer:?}"
    );
    assert!(
        answer
            .headers
            .iter()
            .any(|(n, v)| n == "set-cookie" && v.starts_with("gisttrack_session=")),
        "{answer:?}"
    );
}

#[test]
fn swagger_ui_renders_under_its_content_security_policy() {
    let fake = roomy_fake();
    let db = TestDb::sqlite();
    let server = Server::start(&db, &fake, &["--no-sync"], &[]);
    let mut browser = Browser::launch();
    // Recorded by the page itself from its first moment (DevTools scripts run whatever the
    // policy says).
    browser.call(
        "Page.addScriptToEvaluateOnNewDocument",
        serde_json::json!({"source": "window.__violations = []; \
            document.addEventListener('securitypolicyviolation', e => \
              window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"}),
    );
    browser.goto(&format!("{}/documentation/index.html", server.url));
    wait_until("Swagger UI to render the API's operations", || {
        browser
            .eval("document.querySelectorAll('.opblock').length")
            .as_i64()
            .unwrap_or(0)
            > 0
    });
    let operations = browser.eval("document.querySelectorAll('.opblock').length");
    assert!(operations.as_i64().unwrap() >= 5, "{operations}");
    let styled = browser
        .eval("getComputedStyle(document.querySelector('.swagger-ui .info .title')).fontSize");
    assert_ne!(styled, "16px", "its stylesheet applied");
    let violations = browser.eval("window.__violations");
    assert_eq!(
        violations,
        serde_json::json!([]),
        "nothing the UI needs is blocked"
    );
    let framed = browser.eval("document.querySelectorAll('iframe').length");
    assert_eq!(framed, 0);
    assert_only_local_requests(&browser, &server);
}

#[test]
fn an_unlinked_user_is_shown_with_what_happened_and_relinked_from_the_page() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("lost", 1);
        ok(&db, Some(&fake), &["add", "lost"]);
        ok(&db, Some(&fake), &["sync"]);
        let deleted = fake.person_named("lost Example");
        fake.delete_person(deleted.id);
        fake.add_gist("lost");
        let _ = support::run(&db, Some(&fake), &["sync"]);
        let server = Server::start(&db, &fake, &["--no-sync"], &[]);
        let mut browser = Browser::launch();
        browser.goto(&format!("{}/people/lost?peek=1", server.url));
        let banner = browser.eval("document.querySelector('.unlinked').textContent");
        assert!(
            banner
                .as_str()
                .unwrap()
                .contains(&format!("Pipedrive person {} was deleted", deleted.id)),
            "[{}] {banner}",
            db.backend
        );
        let chosen = fake.add_person("Lost Found", &[], 8);
        browser.navigate_by(&format!(
            "document.querySelector('.unlinked input[name=to]').value = '{chosen}'; \
             document.querySelector('.unlinked form').submit()"
        ));
        assert_eq!(last_status(&browser), 200, "[{}]", db.backend);
        let notice = browser.eval("document.querySelector('.notice').textContent");
        assert!(
            notice
                .as_str()
                .unwrap()
                .contains("Linked to that Pipedrive person"),
            "{notice}"
        );
        assert_eq!(
            browser.eval("document.querySelector('.unlinked')"),
            Value::Null,
            "[{}] linked again",
            db.backend
        );
        let person: Value = serde_json::from_str(
            &agent()
                .get(format!("{}/api/v1/people/lost?peek=true", server.url))
                .call()
                .unwrap()
                .body_mut()
                .read_to_string()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(person["pipedrive_id"], chosen, "{person}");
        assert!(person["unlinked_at"].is_null(), "{person}");
    }
}

#[test]
fn the_add_form_follows_an_organization_and_the_overview_shows_it() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_org("acme", Some("Acme Inc"));
        fake.add_user("dana", 1);
        fake.add_member("acme", "dana");
        fake.add_bot_member("acme", "dependabot[bot]");
        let server = Server::start(&db, &fake, &["--no-sync"], &[]);
        let mut browser = Browser::launch();
        browser.goto(&format!("{}/", server.url));
        assert_eq!(
            browser.eval("document.querySelectorAll('section.orgs').length"),
            0,
            "no section before an organization is followed"
        );

        browser.navigate_by(
            "document.querySelector('form.add select[name=kind]').value = 'org'; \
             document.querySelector('form.add input[name=username]').value = 'nosuch'; \
             document.querySelector('form.add').submit()",
        );
        assert_eq!(last_status(&browser), 422, "[{}]", db.backend);
        assert!(error_text(&mut browser).contains("GitHub has no organization nosuch"));

        submit_add(&mut browser, "org:acme");
        assert_eq!(browser.location(), "/?notice=org-added", "[{}]", db.backend);
        assert!(browser.text().contains("Now following the organization"));
        assert_eq!(api_logins(&server), vec!["dana"]);
        let row = browser
            .eval("document.querySelector('section.orgs tbody tr').textContent")
            .as_str()
            .unwrap()
            .to_string();
        assert!(row.contains("acme"), "{row}");
        assert!(row.contains("dependabot[bot] (bot)"), "{row}");
        assert_eq!(fake.organizations().len(), 1);
        assert_only_local_requests(&browser, &server);
    }
}
