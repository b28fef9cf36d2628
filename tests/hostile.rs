//! Text from upstream that no real GitHub or Pipedrive sends, end to end with the real
//! binary on each backend: gist ids with markup, `javascript:` and `data:` links, terminal
//! escapes in descriptions, file names, profile names and Pipedrive's error text. None of
//! it reaches a terminal raw, an activity's note unescaped, or an `href`; the user's valid
//! gists are still delivered exactly once.

mod support;

use serde_json::Value;
use support::fake::{HostileGists, PipedriveRoute, STEERING};
use support::server::Server;
use support::{backends, command, json, roomy_fake, FakeApis, TestDb};

/// A character that must not reach a terminal raw (newlines aside: they end lines).
fn steers(c: char) -> bool {
    (c.is_control() && c != '\n')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn assert_printable(what: &str, bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    if let Some(c) = text.chars().find(|&c| steers(c)) {
        panic!("{what} prints {c:?} raw:\n{text}");
    }
}

/// Runs the binary with extra environment and checks that neither stream carries anything
/// that steers a terminal; returns (success, stdout, stderr).
fn run_printable(
    db: &TestDb,
    fake: &FakeApis,
    env: &[(&str, &str)],
    args: &[&str],
) -> (bool, String, String) {
    let mut cmd = command(db, Some(fake));
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.args(args).output().expect("run gisttrack");
    let what = format!("[{}] gisttrack {args:?}", db.backend);
    assert_printable(&format!("{what} stdout"), &out.stdout);
    assert_printable(&format!("{what} stderr"), &out.stderr);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every `href="..."` value in `html`.
fn hrefs(html: &str) -> Vec<&str> {
    html.split("href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap_or(""))
        .collect()
}

/// Activities' notes and subjects in the fake Pipedrive.
fn activities(fake: &FakeApis) -> Vec<(String, String)> {
    fake.lock()
        .pipedrive
        .activities
        .iter()
        .map(|a| (a.subject.clone(), a.note.clone()))
        .collect()
}

fn note_of(fake: &FakeApis, gist: &str) -> String {
    let marker = format!("gisttrack:gist:{gist}<");
    activities(fake)
        .into_iter()
        .map(|(_, note)| note)
        .find(|note| note.contains(&marker))
        .unwrap_or_else(|| panic!("no activity for {gist}"))
}

/// `mallory` with two ordinary gists and the hostile ones, tracked, and synced three times:
/// GitHub refusing the listing in escapes, then Pipedrive refusing one activity in escapes,
/// then retrying it. The passes log at info, where the failures are logged with GitHub's
/// and Pipedrive's words: log lines are held to the same rule as printed ones.
fn synced(db: &TestDb, fake: &FakeApis) -> HostileGists {
    fake.add_user("mallory", 2);
    let planted = fake.add_hostile_gists("mallory");
    let list = db.home.path().join("logins.txt");
    std::fs::write(&list, "mallory\n").unwrap();
    for add in [
        &["add", "mallory"][..],
        &["add", "--from-file", list.to_str().unwrap()],
    ] {
        fake.refuse_next_github_request_with(&format!("who {STEERING} is that"));
        let (success, _, stderr) = run_printable(db, fake, &[], add);
        assert!(!success, "[{}] {add:?} refused: {stderr}", db.backend);
        assert!(
            stderr.contains("rejected (422): who"),
            "[{}] {stderr}",
            db.backend
        );
    }
    let (success, _, stderr) = run_printable(db, fake, &[], &["add", "mallory"]);
    assert!(success, "[{}] add: {stderr}", db.backend);
    let info = [("RUST_LOG", "info")];

    fake.refuse_next_github_request_with(&format!("no {STEERING} listing"));
    let (success, _, stderr) = run_printable(db, fake, &info, &["sync"]);
    let context = format!("[{}] refused listing:\n{stderr}", db.backend);
    assert!(!success, "{context}");
    assert_eq!(
        stderr.matches("rejected (422): no").count(),
        2,
        "logged, and reported once: {context}"
    );

    fake.refuse_next_pipedrive_request_with(
        PipedriveRoute::CreateActivity,
        &format!("bad {STEERING} request"),
    );
    let (success, _, stderr) = run_printable(db, fake, &info, &["sync"]);
    let context = format!("[{}] refused activity:\n{stderr}", db.backend);
    assert!(!success, "a refused delivery fails the pass: {context}");
    assert!(stderr.contains("rejected (400): bad"), "{context}");
    assert_eq!(
        stderr.matches("the gist is left out").count(),
        1,
        "the gist with a bad id is logged once: {context}"
    );
    assert!(
        stderr.contains("is refused"),
        "refused links are logged: {context}"
    );

    let (success, _, stderr) = run_printable(db, fake, &[], &["sync", "--retry-failed"]);
    assert!(success, "[{}] second sync: {stderr}", db.backend);
    planted
}

#[test]
fn hostile_ids_links_and_escapes_reach_no_terminal_note_or_href() {
    for db in backends() {
        let fake = roomy_fake();
        let planted = synced(&db, &fake);
        let backend = db.backend;

        // The valid gists, and only those, became one activity each.
        for gist in &planted.deliverable {
            assert_eq!(fake.activities_for_gist(gist), 1, "[{backend}] gist {gist}");
        }
        assert_eq!(
            fake.activity_count(),
            planted.deliverable.len(),
            "[{backend}] the gist with a bad id got no activity"
        );

        let origin = format!("{}/", fake.github_url);
        for (subject, note) in activities(&fake) {
            for (what, text) in [("subject", &subject), ("note", &note)] {
                assert!(!text.chars().any(steers), "[{backend}] {what}: {text:?}");
            }
            for raw in ["<script", "<img", "onerror", "\"onmouseover", "<b>.sh"] {
                assert!(!note.contains(raw), "[{backend}] {raw} in {note}");
            }
            let lower = note.to_lowercase();
            assert!(
                !lower.contains("javascript:") && !lower.contains("data:"),
                "[{backend}] {note}"
            );
            for href in hrefs(&note) {
                assert!(
                    href.starts_with("https://") || href.starts_with(&origin),
                    "[{backend}] href {href:?} in {note}"
                );
            }
        }

        // A refused page link is replaced by the page built from the checked id on the
        // configured (here plain-HTTP) GitHub; a refused raw URL leaves the file unlinked.
        let page = format!("{}/gist/{}", fake.github_url, planted.script_links);
        let note = note_of(&fake, &planted.script_links);
        assert!(
            note.contains(&format!("href=\"{page}\"")),
            "[{backend}] {note}"
        );
        assert!(
            note.contains(&format!("href=\"{page}.git\"")),
            "[{backend}] {note}"
        );
        assert!(note.contains("<li>data.txt</li>"), "[{backend}] {note}");
        assert!(note.contains("\">fine.rs</a></li>"), "[{backend}] {note}");
        assert!(note.contains("&lt;script&gt;"), "[{backend}] {note}");
        let note = note_of(&fake, &planted.off_host);
        let page = format!("{}/gist/{}", fake.github_url, planted.off_host);
        assert!(
            note.contains(&format!("href=\"{page}\"")),
            "[{backend}] {note}"
        );
        assert!(
            !note.contains("evil.example") && !note.contains("secret"),
            "[{backend}] {note}"
        );
        let note = note_of(&fake, &planted.quoted);
        assert!(
            note.contains("%22onmouseover=%22alert(1)\""),
            "[{backend}] {note}"
        );

        // Pipedrive's words in doctor's report.
        for args in [&["doctor"][..], &["-o", "json", "doctor"]] {
            fake.refuse_next_pipedrive_request_with(
                PipedriveRoute::Any,
                &format!("who {STEERING} are you"),
            );
            let (success, stdout, _) = run_printable(&db, &fake, &[], args);
            assert!(!success, "[{backend}] {args:?}");
            assert!(stdout.contains("who"), "[{backend}] {args:?}: {stdout}");
        }

        // What the CLI prints, as tables and as JSON.
        for args in [
            &["show", "mallory"][..],
            &["show", "--all", "mallory"],
            &["-o", "json", "show", "--all", "mallory"],
            &["list"],
            &["-o", "json", "list"],
            &["sync", "--dry-run"],
        ] {
            let (success, _, stderr) = run_printable(&db, &fake, &[], args);
            assert!(success, "[{backend}] {args:?}: {stderr}");
        }
        let shown = json(&db, Some(&fake), &["show", "--all", "mallory"]);
        assert!(
            shown["name"].as_str().unwrap().contains(STEERING),
            "[{backend}] JSON escapes, it does not alter: {shown}"
        );
        let gists = shown["gists"].as_array().unwrap();
        assert_eq!(gists.len(), planted.deliverable.len(), "[{backend}]");
        assert!(
            gists.iter().all(|g| g["id"] != planted.bad_id.as_str()),
            "[{backend}] the gist with a bad id is not in the ledger"
        );
        let listed = gists
            .iter()
            .find(|g| g["id"] == planted.script_links.as_str())
            .unwrap();
        assert_eq!(
            listed["html_url"],
            format!("{}/gist/{}", fake.github_url, planted.script_links)
        );
        let raw_urls: Vec<&Value> = listed["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["raw_url"])
            .collect();
        assert_eq!(
            raw_urls.iter().filter(|u| u.is_null()).count(),
            2,
            "[{backend}] two refused links are null: {listed}"
        );

        // The dashboard, from a real server over HTTP.
        let server = Server::start(&db, &fake, &["--no-sync"], &[]);
        for path in ["/", "/people/mallory", "/people/mallory?peek=1"] {
            let mut response = ureq::get(format!("{}{path}", server.url)).call().unwrap();
            assert_eq!(response.status().as_u16(), 200, "[{backend}] {path}");
            let html = response.body_mut().read_to_string().unwrap();
            for href in hrefs(&html) {
                let lower = href.to_lowercase();
                assert!(
                    !lower.trim_start().starts_with("javascript:")
                        && !lower.trim_start().starts_with("data:"),
                    "[{backend}] {path}: href {href:?}"
                );
                assert!(
                    href.starts_with('/')
                        || href.starts_with("https://")
                        || href.starts_with(&origin),
                    "[{backend}] {path}: href {href:?}"
                );
            }
            for raw in ["<script>alert", "<img src=x", "<b>.sh"] {
                assert!(!html.contains(raw), "[{backend}] {path}: {raw}");
            }
        }
    }
}

/// A ledger as an earlier gisttrack left it: `''` for a file GitHub gave no link, and (from a
/// GitHub that sent one) a `javascript:` link. The next command's migration keeps both files
/// and drops both links, so the ledger reads back as links of GitHub's form only.
#[test]
fn an_earlier_ledgers_links_that_are_not_web_links_are_dropped_and_the_files_kept() {
    use diesel::migration::MigrationSource;
    use diesel::{Connection, MysqlConnection, SqliteConnection};
    use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
    const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
    const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");
    const EARLIER: &str = "UPDATE gist_files SET raw_url = CASE name \
         WHEN 'main.rs' THEN '' ELSE 'javascript:alert(1)' END";

    /// Undoes this version's migration (only it), as an earlier gisttrack left the ledger.
    fn as_earlier<DB, C>(conn: &mut C, source: EmbeddedMigrations)
    where
        DB: diesel::backend::Backend,
        C: MigrationHarness<DB> + Connection<Backend = DB>,
        EmbeddedMigrations: MigrationSource<DB>,
    {
        let ours = source
            .migrations()
            .unwrap()
            .into_iter()
            .find(|m| m.name().to_string().ends_with("file_links_optional"))
            .expect("this version's migration");
        conn.revert_migration(&*ours).unwrap();
        conn.batch_execute(EARLIER).unwrap();
    }

    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("octocat", 1);
        support::ok(&db, Some(&fake), &["add", "octocat"]);
        support::ok(&db, Some(&fake), &["sync"]);
        match db.sqlite_path() {
            Some(path) => as_earlier(
                &mut SqliteConnection::establish(path.to_str().unwrap()).unwrap(),
                SQLITE,
            ),
            None => as_earlier(&mut MysqlConnection::establish(&db.url).unwrap(), MYSQL),
        }
        let shown = json(&db, Some(&fake), &["show", "--all", "octocat"]);
        let files = shown["gists"][0]["files"].as_array().unwrap();
        let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["README.md", "main.rs"], "[{}] {shown}", db.backend);
        assert!(
            files.iter().all(|f| f["raw_url"].is_null()),
            "[{}] {shown}",
            db.backend
        );
    }
}
