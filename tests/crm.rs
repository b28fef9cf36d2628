//! The CRM as the record, end to end with the real binary, the fakes and a real database on
//! each backend: activities for the person's owner and organization, merges in Pipedrive
//! followed, deleted persons left unlinked until relinked, and a look before every write.

mod support;

use serde_json::Value;
use support::fake::{FakeApis, GoneAnswer, TOKEN_USER};
use support::{assert_each_gist_once, backends, json, ok, roomy_fake, run, sync_report, TestDb};

fn count(report: &Value, key: &str) -> i64 {
    report[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} in {report}"))
}

/// The one activity of a gist.
fn activity_of(fake: &FakeApis, gist: &str) -> support::fake::FakeActivity {
    let found = fake.activities_of_gist(gist);
    assert_eq!(found.len(), 1, "gist {gist}: {found:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn activities_carry_the_persons_owner_and_organization_and_follow_a_reassignment() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("owned", 2);
        // A salesperson's person: theirs, at their company.
        let person = fake.add_person("Owned Person", &["owned@example.com"], 8);
        fake.reassign(person, 8, Some(3));
        ok(&db, Some(&fake), &["add", "owned"]);
        ok(&db, Some(&fake), &["sync"]);
        for gist in fake.gist_ids("owned") {
            let activity = activity_of(&fake, &gist);
            assert_eq!(
                (activity.owner_id, activity.org_id),
                (8, Some(3)),
                "[{}]",
                db.backend
            );
        }
        let listed = json(&db, None, &["list"]);
        assert_eq!(listed[0]["owner_id"], 8, "{listed}");
        assert_eq!(listed[0]["owner_name"], "Alex Owner", "{listed}");
        assert_eq!(listed[0]["org_id"], 3, "{listed}");

        // The person changes hands in Pipedrive: the next activity follows.
        fake.reassign(person, 9, Some(4));
        let later = fake.add_gist("owned");
        ok(&db, Some(&fake), &["sync"]);
        let activity = activity_of(&fake, &later);
        assert_eq!(
            (activity.owner_id, activity.org_id),
            (9, Some(4)),
            "[{}]",
            db.backend
        );
        assert_eq!(json(&db, None, &["list"])[0]["owner_name"], "Kim Closer");
        assert_each_gist_once(&fake, "owned");
    }
}

#[test]
fn the_activity_owner_can_be_the_tokens_user_or_a_chosen_one() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("chosen", 0);
        fake.add_person("Chosen Person", &["chosen@example.com"], 8);
        ok(&db, Some(&fake), &["add", "chosen"]);
        for (setting, owner) in [("token", TOKEN_USER), ("9", 9), ("person", 8)] {
            let gist = fake.add_gist("chosen");
            let out = support::command(&db, Some(&fake))
                .env("GISTTRACK_ACTIVITY_OWNER", setting)
                .arg("sync")
                .output()
                .unwrap();
            support::assert_success(&out, setting);
            assert_eq!(
                activity_of(&fake, &gist).owner_id,
                owner,
                "[{}] --activity-owner {setting}",
                db.backend
            );
        }
        let bad = run(&db, Some(&fake), &["sync", "--activity-owner", "nobody"]);
        assert_eq!(bad.status.code(), Some(2), "a bad value is a usage error");
    }
}

#[test]
fn persons_gisttrack_creates_get_the_chosen_owner_and_one_open_deal_is_linked() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("dealt", 1);
        fake.hide_email("dealt");
        ok(&db, Some(&fake), &["add", "--person-owner", "9", "dealt"]);
        let person = fake.person_named("dealt Example");
        assert_eq!(person.owner_id, 9, "[{}]", db.backend);
        let deal = fake.add_deal(person.id, "open");
        fake.add_deal(person.id, "won");
        ok(&db, Some(&fake), &["sync", "--link-open-deal"]);
        let first = fake.gist_ids("dealt")[0].clone();
        assert_eq!(activity_of(&fake, &first).deal_id, Some(deal));

        // Two open deals: no guess.
        fake.add_deal(person.id, "open");
        let second = fake.add_gist("dealt");
        ok(&db, Some(&fake), &["sync", "--link-open-deal"]);
        assert_eq!(
            activity_of(&fake, &second).deal_id,
            None,
            "[{}]",
            db.backend
        );
    }
}

#[test]
fn a_merge_is_followed_to_the_survivor_with_each_gist_once() {
    for (db, answer) in backends().into_iter().zip(
        [GoneAnswer::NotFound, GoneAnswer::Flagged]
            .into_iter()
            .cycle(),
    ) {
        let fake = roomy_fake();
        fake.lock().pipedrive.gone_answer = answer;
        fake.add_user("merged", 2);
        ok(&db, Some(&fake), &["add", "merged"]);
        ok(&db, Some(&fake), &["sync"]);
        let created = fake.person_named("merged Example");
        // Weekly hygiene: a salesperson merges gisttrack's person into theirs.
        let survivor = fake.add_person("M. Erged", &[], 8);
        fake.merge_persons(created.id, survivor);

        let new_gist = fake.add_gist("merged");
        let (ok_, report, stderr) = sync_report(&db, &fake, &[]);
        assert!(ok_, "[{}] {report} {stderr}", db.backend);
        assert_eq!(count(&report, "users_relinked"), 1, "{report}");
        assert_eq!(count(&report, "activities_created"), 1, "{report}");
        assert_eq!(activity_of(&fake, &new_gist).person_id, Some(survivor));
        for gist in fake.gist_ids("merged") {
            assert_eq!(
                activity_of(&fake, &gist).person_id,
                Some(survivor),
                "[{}] moved and new, each once, on the survivor",
                db.backend
            );
        }
        let shown = json(&db, None, &["show", "--all", "merged"]);
        assert_eq!(shown["pipedrive_id"], survivor, "{shown}");
        assert_eq!(shown["links"][0]["reason"], "merged", "{shown}");
        assert_eq!(shown["links"][0]["from"], created.id, "{shown}");
        assert_eq!(shown["links"][0]["to"], survivor, "{shown}");

        // Settled there: the next pass with nothing new reads nothing.
        let reads = fake.lock().pipedrive.person_reads;
        ok(&db, Some(&fake), &["sync"]);
        assert_eq!(fake.lock().pipedrive.person_reads, reads);
    }
}

#[test]
fn a_deleted_person_is_tried_once_then_unlinked_and_relink_resumes_exactly_once() {
    for db in backends() {
        let fake = roomy_fake();
        let hook = support::fake::Receiver::start();
        fake.add_user("gone", 1);
        ok(&db, Some(&fake), &["add", "gone"]);
        ok(&db, Some(&fake), &["sync"]);
        let deleted = fake.person_named("gone Example");
        fake.delete_person(deleted.id);
        let pending = fake.add_gist("gone");
        let posts = fake.lock().pipedrive.activity_posts_received;
        let out = support::command(&db, Some(&fake))
            .env("GISTTRACK_NOTIFY_URL", &hook.url)
            .args(["-o", "json", "sync"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "[{}] said, once", db.backend);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("gisttrack: 1 user(s) unlinked (gone) (see above)")
                && said
                    .contains("until `gisttrack relink <login> --to <person id>` (or `--create`)")
                && !said.contains("failed item"),
            "the summary line names what happened and what to do: {said}"
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(count(&report, "users_unlinked"), 1, "{report}");
        assert!(
            report["errors"][0]
                .as_str()
                .unwrap()
                .contains(&format!("Pipedrive person {} was deleted", deleted.id)),
            "{report}"
        );
        assert_eq!(
            fake.lock().pipedrive.activity_posts_received,
            posts,
            "[{}] nothing sent to a person that is gone",
            db.backend
        );
        let messages = hook.taken();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0]["text"].as_str().unwrap().contains("gone"),
            "{messages:?}"
        );

        let listed = json(&db, None, &["list"]);
        assert!(listed[0]["unlinked_at"].is_string(), "{listed}");
        let table = ok(&db, None, &["list"]);
        assert!(
            table.contains(&format!("{} (deleted)", deleted.id)),
            "{table}"
        );
        let shown = ok(&db, None, &["show", "--peek", "gone"]);
        assert!(
            shown.contains(&format!(
                "Pipedrive person {} was deleted (found",
                deleted.id
            )) && shown.contains("`gisttrack relink gone --to <person id>` or `--create`"),
            "{shown}"
        );
        let doctor = run(&db, Some(&fake), &["doctor"]);
        assert!(
            String::from_utf8_lossy(&doctor.stdout).contains("1 unlinked"),
            "{}",
            String::from_utf8_lossy(&doctor.stdout)
        );

        // Later passes leave them alone, without a request or an alert.
        let reads = fake.lock().pipedrive.person_reads;
        let out = support::command(&db, Some(&fake))
            .env("GISTTRACK_NOTIFY_URL", &hook.url)
            .args(["sync"])
            .output()
            .unwrap();
        support::assert_success(&out, "a pass after the unlinking");
        assert_eq!(fake.lock().pipedrive.person_reads, reads);
        assert!(
            hook.taken().iter().all(|m| m["status"] != "failing"),
            "said once"
        );

        let relinked = json(&db, Some(&fake), &["relink", "gone", "--create"]);
        let new_person = relinked["pipedrive_id"].as_i64().unwrap();
        assert_ne!(new_person, deleted.id);
        ok(&db, Some(&fake), &["sync"]);
        let activity = activity_of(&fake, &pending);
        assert_eq!(activity.person_id, Some(new_person), "[{}]", db.backend);
        ok(&db, Some(&fake), &["sync"]);
        assert_eq!(fake.activities_of_gist(&pending).len(), 1, "exactly once");
        let shown = json(&db, None, &["show", "--all", "gone"]);
        let reasons: Vec<&str> = shown["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["reason"].as_str().unwrap())
            .collect();
        assert_eq!(reasons, ["deleted", "relinked"], "{shown}");
        assert!(shown["unlinked_at"].is_null(), "{shown}");
        let history = ok(&db, None, &["show", "--all", "gone"]);
        assert!(
            history.contains(&format!(
                "Pipedrive person {} was found deleted",
                deleted.id
            )) && history.contains(&format!(
                "relinked from Pipedrive person {} to {new_person}",
                deleted.id
            )),
            "{history}"
        );
    }
}

#[test]
fn an_unlinked_user_deleted_and_added_again_gets_no_second_person() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("gone", 1);
        ok(&db, Some(&fake), &["add", "gone"]);
        ok(&db, Some(&fake), &["sync"]);
        let deleted = fake.person_named("gone Example");
        fake.delete_person(deleted.id);
        fake.add_gist("gone");
        let out = run(&db, Some(&fake), &["sync"]);
        assert_eq!(out.status.code(), Some(1), "[{}] unlinked", db.backend);
        ok(&db, Some(&fake), &["delete", "gone"]);
        ok(&db, Some(&fake), &["add", "gone"]);
        let persons = |fake: &FakeApis| {
            fake.lock()
                .pipedrive
                .persons
                .iter()
                .filter(|p| p.name == "gone Example")
                .count()
        };
        assert_eq!(persons(&fake), 1, "[{}] no second person", db.backend);
        let posts = fake.lock().pipedrive.activity_posts_received;
        let out = support::command(&db, Some(&fake))
            .args(["-o", "json", "sync"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "[{}]", db.backend);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(count(&report, "users_unlinked"), 1, "{report}");
        assert_eq!(fake.lock().pipedrive.activity_posts_received, posts);
        assert_eq!(persons(&fake), 1, "[{}] still one", db.backend);
        // Asked for, a new person is made, once.
        ok(&db, Some(&fake), &["relink", "gone", "--create"]);
        assert_eq!(persons(&fake), 2, "[{}]", db.backend);
    }
}

#[test]
fn relink_to_a_chosen_person_checks_it_and_delivers_there() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("moved", 1);
        ok(&db, Some(&fake), &["add", "moved"]);
        let err = support::fails(&db, Some(&fake), &["relink", "moved", "--to", "999999"]);
        assert_eq!(
            err.trim(),
            "gisttrack: Pipedrive has no person 999999 (or it was deleted)"
        );
        let chosen = fake.add_person("Chosen One", &[], 8);
        ok(
            &db,
            Some(&fake),
            &["relink", "moved", "--to", &chosen.to_string()],
        );
        ok(&db, Some(&fake), &["sync"]);
        let gist = fake.gist_ids("moved")[0].clone();
        assert_eq!(
            activity_of(&fake, &gist).person_id,
            Some(chosen),
            "[{}]",
            db.backend
        );
        let err = support::fails(&db, Some(&fake), &["relink", "ghost", "--create"]);
        assert!(err.contains("ghost is not tracked"), "{err}");

        // Another tracked user's person is refused: their activities would mix for good.
        fake.add_user("other", 0);
        ok(&db, Some(&fake), &["add", "other"]);
        let other = json(&db, None, &["show", "other"])["pipedrive_id"].clone();
        let other = other.as_i64().unwrap_or_else(|| panic!("{other}"));
        let err = support::fails(
            &db,
            Some(&fake),
            &["relink", "moved", "--to", &other.to_string()],
        );
        assert_eq!(
            err.trim(),
            format!("gisttrack: Pipedrive person {other} stands for other; moved was left linked as before")
        );
        let shown = json(&db, None, &["show", "moved"]);
        assert_eq!(shown["pipedrive_id"].as_i64(), Some(chosen), "{shown}");
    }
}

#[test]
fn two_databases_on_one_pipedrive_send_nothing_twice_as_gists_come() {
    let fake = roomy_fake();
    fake.add_user("shared", 2);
    let databases = backends();
    let first = &databases[0];
    let second = TestDb::sqlite();
    let second = databases.get(1).unwrap_or(&second);
    ok(first, Some(&fake), &["add", "shared"]);
    ok(second, Some(&fake), &["add", "shared"]);
    for round in 0..3 {
        let new = fake.add_gist("shared");
        // Whichever install syncs first sends it; the other finds it there.
        let (a, b) = if round % 2 == 0 {
            (first, second)
        } else {
            (second, first)
        };
        ok(a, Some(&fake), &["sync"]);
        let (_, report, _) = sync_report(b, &fake, &[]);
        assert_eq!(count(&report, "activities_created"), 0, "{report}");
        assert_eq!(fake.activities_of_gist(&new).len(), 1);
    }
    assert_each_gist_once(&fake, "shared");
    assert_eq!(fake.live_persons().len(), 1);
}

#[test]
fn the_dry_run_after_delete_and_re_add_predicts_no_creation() {
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("again", 3);
        ok(&db, Some(&fake), &["add", "again"]);
        ok(&db, Some(&fake), &["sync"]);
        ok(&db, None, &["delete", "again"]);
        ok(&db, Some(&fake), &["add", "again"]);
        let (_, predicted, _) = sync_report(&db, &fake, &["--dry-run"]);
        assert_eq!(
            predicted["planned"].as_array().map_or(0, Vec::len),
            0,
            "[{}] {predicted}",
            db.backend
        );
        assert_eq!(count(&predicted, "activities_reconciled"), 3, "{predicted}");
        let table = support::command(&db, Some(&fake))
            .args(["sync", "--dry-run"])
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&table.stdout);
        let lines: Vec<&str> = table.lines().collect();
        let at = lines[0].find("WOULD CREATE").expect("the column");
        assert!(
            lines[1][at..].trim_start().starts_with("0 "),
            "the table says it too: {table}"
        );
        let (_, done, _) = sync_report(&db, &fake, &[]);
        assert_eq!(count(&done, "activities_created"), 0, "{done}");
        assert_eq!(count(&done, "activities_reconciled"), 3, "{done}");
    }
}

#[test]
fn the_api_relinks_and_refuses_what_it_cannot_do_with_a_4xx() {
    use support::server::Server;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for db in backends() {
        let fake = roomy_fake();
        fake.add_user("api", 1);
        ok(&db, Some(&fake), &["add", "api"]);
        let server = Server::start(&db, &fake, &["--no-sync"], &[]);
        let post = |body: &str, content_type: &str| {
            let mut answer = agent
                .post(format!("{}/api/v1/people/api/relink", server.url))
                .header("content-type", content_type)
                .send(body)
                .unwrap();
            let status = answer.status().as_u16();
            let body: Value =
                serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
            (status, body)
        };
        let json_type = "application/json";
        for (body, status, code) in [
            (r#"{"to": 5, "create": true}"#, 400, "invalid_body"),
            (r#"{"to": 0}"#, 400, "invalid_body"),
            (r#"{"to": "x"}"#, 400, "invalid_body"),
            (r#"{"to": 999999}"#, 422, "no_such_pipedrive_person"),
        ] {
            let (got, answer) = post(body, json_type);
            assert_eq!(
                (got, answer["code"].as_str()),
                (status, Some(code)),
                "{body}: {answer}"
            );
        }
        let before = json(&db, None, &["list"]);
        let chosen = fake.add_person("By Hand", &[], 9);
        let (status, answer) = post(&format!("to={chosen}"), "application/x-www-form-urlencoded");
        assert_eq!(status, 200, "[{}] {answer}", db.backend);
        assert_eq!(answer["pipedrive_id"], chosen);
        assert_eq!(answer["github_username"], "api");
        assert_ne!(before[0]["pipedrive_id"], chosen);
        // Linked to a person that is there: a create changes nothing (a retry, a double click).
        let (status, answer) = post(r#"{"create": true}"#, json_type);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["pipedrive_id"], chosen, "{answer}");
        assert_eq!(fake.live_persons().len(), 2, "the add's and the chosen one");
        let missing = agent
            .post(format!("{}/api/v1/people/nobody/relink", server.url))
            .send_empty()
            .unwrap();
        assert_eq!(missing.status().as_u16(), 404);
    }
}
