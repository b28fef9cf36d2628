//! Following companies, end to end with the real binary, the fakes and a real database on each
//! backend: a GitHub organization mirrored to one Pipedrive organization, its public members
//! tracked (bots and excluded accounts left out), joiners picked up and delivered by the next
//! pass, an unchanged member list free, leavers marked or dropped.

mod support;

use support::fake::{FakeApis, PipedriveFault, PipedriveRoute};
use support::{assert_each_gist_once, backends, command, fails, json, ok, roomy_fake, run};

/// An organization `acme` ("Acme Inc") with three public members; only alice shows her e-mail.
fn acme(fake: &FakeApis) {
    fake.add_org("acme", Some("Acme Inc"));
    for (login, gists) in [("alice", 2), ("bob", 1), ("carol", 0)] {
        fake.add_user(login, gists);
        if login != "alice" {
            fake.hide_email(login);
        }
        fake.add_member("acme", login);
    }
}

fn logins(listed: &serde_json::Value) -> Vec<String> {
    let mut logins: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["github_username"].as_str().unwrap().to_string())
        .collect();
    logins.sort();
    logins
}

#[test]
fn org_add_tracks_every_member_under_one_pipedrive_organization_once() {
    for db in backends() {
        let fake = roomy_fake();
        acme(&fake);
        let out = ok(&db, Some(&fake), &["org", "add", "acme"]);
        assert!(out.contains("Following acme"), "{out}");
        let organizations = fake.organizations();
        assert_eq!(organizations.len(), 1, "[{}] {organizations:?}", db.backend);
        assert_eq!(organizations[0].name, "Acme Inc");
        let org_id = organizations[0].id;
        let persons = fake.live_persons();
        assert_eq!(persons.len(), 3, "[{}] {persons:?}", db.backend);
        assert!(
            persons.iter().all(|p| p.org_id == Some(org_id)),
            "{persons:?}"
        );
        let alice = persons.iter().find(|p| p.name == "alice Example").unwrap();
        assert_eq!(
            alice.emails,
            ["alice@example.com"],
            "the public e-mail is kept"
        );
        assert_eq!(
            logins(&json(&db, None, &["list"])),
            ["alice", "bob", "carol"]
        );
        let listed = json(&db, None, &["org", "list"]);
        assert_eq!(listed[0]["org"], "acme", "{listed}");
        assert_eq!(listed[0]["pipedrive_org_id"], org_id, "{listed}");
        assert_eq!(listed[0]["members"], 3, "{listed}");

        // Again: nothing made twice, and it says so.
        let posts = fake.lock().pipedrive.organization_posts;
        let again = ok(&db, Some(&fake), &["org", "add", "ACME"]);
        assert!(again.contains("Already following acme"), "{again}");
        assert_eq!(fake.organizations().len(), 1, "[{}]", db.backend);
        assert_eq!(fake.lock().pipedrive.organization_posts, posts);
        assert_eq!(fake.live_persons().len(), 3);

        ok(&db, Some(&fake), &["sync"]);
        for login in ["alice", "bob"] {
            assert_each_gist_once(&fake, login);
        }
    }
}

#[test]
fn an_existing_pipedrive_organization_and_person_are_reused_as_the_salespeople_left_them() {
    for db in backends() {
        let fake = roomy_fake();
        acme(&fake);
        let existing = {
            let mut state = fake.lock();
            state
                .pipedrive
                .organizations
                .push(support::fake::FakeOrganization {
                    id: 9_000,
                    name: "acme inc".into(),
                });
            9_000
        };
        // Alice is already a person of the sales team's, at another company.
        let person = fake.add_person("Alice A.", &["alice@example.com"], 8);
        fake.reassign(person, 8, Some(77));
        ok(&db, Some(&fake), &["org", "add", "acme"]);
        assert_eq!(
            fake.lock().pipedrive.organization_posts,
            0,
            "[{}]",
            db.backend
        );
        let persons = fake.live_persons();
        let alice = persons.iter().find(|p| p.id == person).unwrap();
        assert_eq!(
            alice.org_id,
            Some(77),
            "an existing person's organization stays"
        );
        let created: Vec<_> = persons.iter().filter(|p| p.id != person).collect();
        assert_eq!(created.len(), 2, "{persons:?}");
        assert!(created.iter().all(|p| p.org_id == Some(existing)));
    }
}

#[test]
fn a_joiner_is_picked_up_and_delivered_by_the_next_pass_and_an_unchanged_pass_is_free() {
    for db in backends() {
        let fake = roomy_fake();
        acme(&fake);
        ok(&db, Some(&fake), &["org", "add", "acme"]);
        ok(&db, Some(&fake), &["sync"]);
        ok(&db, Some(&fake), &["sync"]);

        let before = fake.github_counted();
        let pipedrive_before = fake.pipedrive_requests();
        ok(&db, Some(&fake), &["sync"]);
        assert_eq!(
            fake.github_counted() - before,
            0,
            "[{}] an unchanged pass costs no counted GitHub request",
            db.backend
        );
        assert_eq!(fake.pipedrive_requests() - pipedrive_before, 0);
        assert!(fake.lock().github.member_list_requests["acme"] >= 3);

        fake.add_user("dave", 2);
        fake.add_member("acme", "dave");
        let (_, report, _) = support::sync_report(&db, &fake, &[]);
        assert_eq!(report["activities_created"], 2, "[{}] {report}", db.backend);
        assert_each_gist_once(&fake, "dave");
        let org_id = fake.organizations()[0].id;
        let dave = fake.person_named("dave Example");
        assert_eq!(dave.org_id, Some(org_id));
        assert_eq!(
            logins(&json(&db, None, &["list"])),
            ["alice", "bob", "carol", "dave"]
        );
    }
}

#[test]
fn an_unknown_organization_is_refused_by_name_and_nothing_is_followed() {
    for db in backends() {
        let fake = roomy_fake();
        let out = run(&db, Some(&fake), &["org", "add", "no-such-org"]);
        assert_eq!(out.status.code(), Some(2), "[{}]", db.backend);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("GitHub has no organization no-such-org"),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert_eq!(json(&db, None, &["org", "list"]), serde_json::json!([]));
        assert!(fake.organizations().is_empty());

        let out = run(&db, Some(&fake), &["org", "add", "bad--login"]);
        assert_eq!(out.status.code(), Some(2));
        let out = run(&db, Some(&fake), &["org", "delete", "acme"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("acme is not followed"));
    }
}

#[test]
fn bots_and_excluded_logins_are_never_tracked_and_list_says_why() {
    for db in backends() {
        let fake = roomy_fake();
        acme(&fake);
        fake.add_bot_member("acme", "dependabot[bot]");
        fake.add_user("renovate-bot", 1);
        fake.add_member("acme", "renovate-bot");
        fake.add_user("eve", 1);
        fake.add_member("acme", "eve");
        let excluded = db.home.path().join("team.txt");
        std::fs::write(&excluded, "# our own engineers\nRenovate-Bot\n").unwrap();
        let out = command(&db, Some(&fake))
            .env("GISTTRACK_EXCLUDE", "someone,EVE")
            .args(["org", "add", "acme", "--exclude-file"])
            .arg(&excluded)
            .output()
            .unwrap();
        support::assert_success(&out, "org add");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("Skipped: "), "{stdout}");
        assert_eq!(
            logins(&json(&db, None, &["list"])),
            ["alice", "bob", "carol"],
            "[{}]",
            db.backend
        );
        let table = ok(&db, None, &["list"]);
        for said in [
            "dependabot[bot] (acme: bot)",
            "eve (acme: excluded)",
            "renovate-bot (acme: excluded)",
        ] {
            assert!(table.contains(said), "{said} in {table}");
        }
        let listed = json(&db, None, &["org", "list"]);
        assert_eq!(listed[0]["members"], 3, "{listed}");
        assert_eq!(
            listed[0]["skipped"].as_array().unwrap().len(),
            3,
            "{listed}"
        );

        // A pass with the same rules tracks none of them; a joining bot neither.
        fake.add_bot_member("acme", "github-actions[bot]");
        let out = command(&db, Some(&fake))
            .env("GISTTRACK_EXCLUDE", "eve,renovate-bot")
            .arg("sync")
            .output()
            .unwrap();
        support::assert_success(&out, "sync");
        assert_eq!(logins(&json(&db, None, &["list"])).len(), 3);
        assert_eq!(fake.live_persons().len(), 3, "[{}]", db.backend);
    }
}

#[test]
fn leavers_stay_tracked_marked_as_left_unless_dropped() {
    for db in backends() {
        let fake = roomy_fake();
        acme(&fake);
        ok(&db, Some(&fake), &["org", "add", "acme"]);
        fake.remove_member("acme", "bob");
        ok(&db, Some(&fake), &["sync"]);
        let listed = json(&db, None, &["org", "list"]);
        assert_eq!(listed[0]["left"], serde_json::json!(["bob"]), "{listed}");
        assert_eq!(listed[0]["members"], 2);
        assert_eq!(logins(&json(&db, None, &["list"])).len(), 3, "bob stays");

        fake.remove_member("acme", "carol");
        ok(&db, Some(&fake), &["sync", "--drop-leavers"]);
        assert_eq!(
            logins(&json(&db, None, &["list"])),
            ["alice", "bob"],
            "[{}] carol left with --drop-leavers",
            db.backend
        );
    }
}

#[test]
fn someone_tracked_before_the_follow_stays_when_they_leave_or_the_org_is_dropped() {
    for db in backends() {
        let fake = roomy_fake();
        acme(&fake);
        // Carol was tracked by hand before anyone followed acme.
        ok(&db, Some(&fake), &["add", "carol"]);
        ok(&db, Some(&fake), &["org", "add", "acme"]);
        fake.remove_member("acme", "carol");
        fake.remove_member("acme", "bob");
        ok(&db, Some(&fake), &["sync", "--drop-leavers"]);
        assert_eq!(
            logins(&json(&db, None, &["list"])),
            ["alice", "carol"],
            "[{}] bob, added by the follow, dropped; carol stays",
            db.backend
        );
        let deleted = json(&db, None, &["org", "delete", "acme", "--members"]);
        assert_eq!(deleted["members_deleted"], serde_json::json!(["alice"]));
        assert_eq!(
            logins(&json(&db, None, &["list"])),
            ["carol"],
            "[{}]",
            db.backend
        );
    }
}

#[test]
fn the_same_organization_followed_at_once_from_several_processes_is_followed_once() {
    for db in backends() {
        let fake = roomy_fake();
        acme(&fake);
        let runs: Vec<_> = (0..6)
            .map(|_| {
                command(&db, Some(&fake))
                    .args(["org", "add", "acme"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for run in runs {
            let out = run.wait_with_output().unwrap();
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(
                !said.contains("database error") && matches!(out.status.code(), Some(0 | 1 | 69)),
                "[{}] {:?}: {said}",
                db.backend,
                out.status
            );
        }
        ok(&db, Some(&fake), &["org", "add", "acme"]);
        assert_eq!(fake.organizations().len(), 1, "[{}]", db.backend);
        let mut names: Vec<String> = fake.live_persons().into_iter().map(|p| p.name).collect();
        names.sort();
        assert_eq!(
            names,
            ["alice Example", "bob Example", "carol Example"],
            "[{}] one person each",
            db.backend
        );
    }
}

#[test]
fn org_delete_stops_following_and_drops_members_only_when_asked() {
    for db in backends() {
        let fake = roomy_fake();
        acme(&fake);
        fake.add_org("globex", None);
        fake.add_user("gina", 0);
        fake.add_member("globex", "gina");
        ok(&db, Some(&fake), &["org", "add", "acme"]);
        ok(&db, Some(&fake), &["org", "add", "globex"]);
        assert_eq!(fake.organizations()[1].name, "globex", "the login names it");

        let out = ok(&db, None, &["org", "delete", "acme"]);
        assert!(out.contains("Stopped following acme"), "{out}");
        assert_eq!(logins(&json(&db, None, &["list"])).len(), 4);
        let deleted = json(&db, None, &["org", "delete", "globex", "--members"]);
        assert_eq!(deleted["members_deleted"], serde_json::json!(["gina"]));
        assert_eq!(
            logins(&json(&db, None, &["list"])),
            ["alice", "bob", "carol"],
            "[{}]",
            db.backend
        );
        assert_eq!(json(&db, None, &["org", "list"]), serde_json::json!([]));
        // Pipedrive keeps what it has.
        assert_eq!(fake.organizations().len(), 2);
    }
}

#[test]
fn a_lost_answer_to_the_organizations_creation_never_makes_a_second() {
    for db in backends() {
        let fake = roomy_fake();
        acme(&fake);
        fake.lock().pipedrive.faults.push_back((
            PipedriveRoute::CreateOrganization,
            PipedriveFault::LostAfterWrite,
        ));
        let err = fails(&db, Some(&fake), &["org", "add", "acme"]);
        assert!(err.contains("may still be being created"), "{err}");
        assert_eq!(fake.organizations().len(), 1, "[{}]", db.backend);
        assert!(
            fake.live_persons().is_empty(),
            "no member before the organization"
        );

        // The next add finds it by its exact name, and tracks the members in it.
        ok(&db, Some(&fake), &["org", "add", "acme"]);
        let organizations = fake.organizations();
        assert_eq!(organizations.len(), 1, "[{}] {organizations:?}", db.backend);
        assert_eq!(fake.lock().pipedrive.organization_posts, 1);
        assert!(fake
            .live_persons()
            .iter()
            .all(|p| p.org_id == Some(organizations[0].id)));
        assert_eq!(fake.live_persons().len(), 3);
    }
}

#[test]
fn the_digest_is_one_message_per_pass_with_something_new_and_none_otherwise() {
    for db in backends() {
        let fake = roomy_fake();
        acme(&fake);
        let hook = support::fake::Receiver::start();
        let sync = |fake: &FakeApis| {
            let out = command(&db, Some(fake))
                .env("GISTTRACK_DIGEST_URL", &hook.url)
                .arg("sync")
                .output()
                .unwrap();
            support::assert_success(&out, "sync with a digest");
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                !said.contains("webhook-secret"),
                "the URL is a secret: {said}"
            );
        };
        ok(&db, Some(&fake), &["org", "add", "acme"]);
        sync(&fake);
        let messages = hook.taken();
        assert_eq!(messages.len(), 1, "[{}] {messages:?}", db.backend);
        let text = messages[0]["text"].as_str().unwrap();
        assert!(
            text.starts_with("gisttrack: 3 new gists from 2 people"),
            "{text}"
        );
        for gist in fake.gist_ids("alice").iter().chain(&fake.gist_ids("bob")) {
            assert!(text.contains(gist.as_str()), "{gist} in {text}");
        }
        assert!(text.contains("*alice* (Pipedrive person #"), "{text}");
        // The owner read by this very pass, before its first delivery to them.
        assert!(text.contains(", owner Sam Seller)"), "{text}");
        for secret in [support::GITHUB_TOKEN, support::PIPEDRIVE_TOKEN] {
            assert!(!text.contains(secret), "{text}");
        }

        sync(&fake);
        assert!(
            hook.taken().is_empty(),
            "[{}] nothing new, no message",
            db.backend
        );

        let new = fake.add_gist("carol");
        sync(&fake);
        let messages = hook.taken();
        assert_eq!(messages.len(), 1, "[{}] {messages:?}", db.backend);
        let text = messages[0]["text"].as_str().unwrap();
        assert!(
            text.starts_with("gisttrack: 1 new gist from 1 person"),
            "{text}"
        );
        assert!(
            text.contains("*carol*") && text.contains(new.as_str()),
            "{text}"
        );
        assert!(!text.contains("alice"), "{text}");
    }
}

#[test]
fn a_bulk_import_follows_org_lines_and_adds_the_users() {
    for db in backends() {
        let fake = roomy_fake();
        acme(&fake);
        fake.add_user("zoe", 1);
        let list = db.home.path().join("targets.txt");
        std::fs::write(&list, "# prospects\nzoe\norg:acme\nORG:acme\norg:nosuch\n").unwrap();
        let out = run(
            &db,
            Some(&fake),
            &["add", "--from-file", list.to_str().unwrap()],
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "[{}] org:nosuch is refused",
            db.backend
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("Following acme"), "{stdout}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("targets.txt:5: GitHub has no organization nosuch"),
            "{stderr}"
        );
        assert_eq!(
            logins(&json(&db, None, &["list"])),
            ["alice", "bob", "carol", "zoe"]
        );
        assert_eq!(fake.organizations().len(), 1);

        // Again: everything is there already, nothing made twice.
        let out = run(
            &db,
            Some(&fake),
            &["-o", "json", "add", "--from-file", list.to_str().unwrap()],
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            report["already_tracked"],
            serde_json::json!(["zoe"]),
            "{report}"
        );
        assert_eq!(report["orgs"][0]["already_followed"], true, "{report}");
        assert_eq!(report["refused"][0]["login"], "org:nosuch", "{report}");
        assert_eq!(fake.organizations().len(), 1, "[{}]", db.backend);
        assert_eq!(fake.live_persons().len(), 4);
    }
}

#[test]
fn a_joiner_listed_on_a_later_page_of_a_large_organization_is_picked_up() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_org("bigco", None);
        for n in 0..100 {
            let login = format!("m{n:03}");
            fake.add_user(&login, 0);
            fake.add_member("bigco", &login);
        }
        ok(&db, Some(&fake), &["org", "add", "bigco"]);
        ok(&db, Some(&fake), &["sync"]);
        let before = fake.github_counted();
        ok(&db, Some(&fake), &["sync"]);
        assert_eq!(
            fake.github_counted(),
            before,
            "[{}] unchanged: free",
            db.backend
        );

        // The 101st member is listed on page 2; page 1 is as it was.
        fake.add_user("zz-joiner", 1);
        fake.add_member("bigco", "zz-joiner");
        ok(&db, Some(&fake), &["sync"]);
        assert_each_gist_once(&fake, "zz-joiner");
        assert_eq!(
            json(&db, None, &["list"]).as_array().unwrap().len(),
            101,
            "[{}]",
            db.backend
        );
    }
}
