//! `cargo bench --bench orgs`: requests per pass for followed organizations, against the
//! fake APIs: 10 organizations of 100 public members each (`BENCH_ORGS`, `BENCH_MEMBERS`).
//!
//! Measured: the first follow of every organization (`org add`), the first pass after it, an
//! unchanged pass, and a pass after one member joined one organization. Targets: an
//! unchanged pass costs 0 counted GitHub and 0 Pipedrive requests; a joiner costs a handful
//! of each (never a listing of every member's gists).

#[path = "../tests/support/fake.rs"]
mod fake;
mod support;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use gisttrack::clients::github::{GithubClient, GithubSettings};
use gisttrack::clients::pipedrive::{PipedriveClient, PipedriveSettings};
use gisttrack::config::Secret;
use gisttrack::metrics::Metrics;
use gisttrack::sync::{App, PassOptions, SyncSettings, Trigger};
use indicatif::ProgressBar;
use support::{env_or, BenchDb, Targets};

/// Counted GitHub requests and Pipedrive requests that `work` made.
fn cost(apis: &fake::FakeApis, work: impl FnOnce()) -> (u64, u64) {
    let (github, pipedrive) = (apis.github_counted(), apis.pipedrive_requests());
    work();
    (
        apis.github_counted() - github,
        apis.pipedrive_requests() - pipedrive,
    )
}

fn main() {
    let orgs: usize = env_or("BENCH_ORGS", 10);
    let members: usize = env_or("BENCH_MEMBERS", 100);
    let mut targets = Targets::default();
    let mut dbs = vec![BenchDb::sqlite()];
    dbs.extend(BenchDb::mysql());
    println!("organizations benchmark: {orgs} organizations of {members} public members");
    println!(
        "{:<8} {:<44} {:>20} {:>16}",
        "backend", "step", "counted GitHub req", "Pipedrive req"
    );
    for db in dbs {
        // A GitHub and a Pipedrive of their own for each backend, so the figures compare.
        let apis = fake::FakeApis::start();
        apis.lock().pipedrive.burst_limit = 1_000_000;
        for o in 0..orgs {
            let org = format!("org{o}");
            apis.add_org(&org, None);
            for m in 0..members {
                let login = format!("o{o}m{m}");
                apis.add_user(&login, 1);
                apis.add_member(&org, &login);
            }
        }
        let metrics = Arc::new(Metrics::default());
        let engine = App {
            store: db.store(),
            github: Arc::new(GithubClient::new(
                GithubSettings::new(&apis.github_url, Secret::new(fake::GITHUB_TOKEN)),
                metrics.clone(),
            )),
            pipedrive: Some(Arc::new(PipedriveClient::new(
                PipedriveSettings::new(
                    &apis.pipedrive_url,
                    Secret::new(fake::PIPEDRIVE_TOKEN).unwrap(),
                ),
                metrics.clone(),
            ))),
            settings: SyncSettings::default(),
            metrics,
            shutdown: Arc::new(AtomicBool::new(false)),
        };
        let pass = || {
            let report = engine
                .run_pass(&PassOptions::new(Trigger::Cli), &ProgressBar::hidden())
                .unwrap();
            assert!(report.ok(), "bench pass failed: {:?}", report.errors);
            report
        };
        let row = |step: &str, (github, pipedrive): (u64, u64)| {
            println!("{:<8} {step:<44} {github:>20} {pipedrive:>16}", db.backend);
        };

        let follow = cost(&apis, || {
            for o in 0..orgs {
                let added = gisttrack::service::orgs::add_org(&engine, &format!("org{o}")).unwrap();
                assert_eq!(added.changes.added.len(), members);
            }
        });
        row(&format!("first follow of {orgs} organizations"), follow);
        let first = cost(&apis, || {
            pass();
        });
        row("first pass (every gist delivered)", first);
        let unchanged = cost(&apis, || {
            pass();
        });
        row("unchanged pass", unchanged);
        targets.check(
            &format!(
                "[{}] an unchanged pass costs 0 counted GitHub and 0 Pipedrive requests",
                db.backend
            ),
            unchanged == (0, 0),
        );

        let joiner = "joiner";
        apis.add_user(joiner, 1);
        apis.add_member("org3", joiner);
        let mut delivered = 0;
        let joined = cost(&apis, || {
            delivered = pass().counts.activities_created;
        });
        row("pass with one new member (1 gist)", joined);
        assert_eq!(delivered, 1);
        targets.check(
            &format!(
                "[{}] one new member costs at most 6 counted GitHub and 8 Pipedrive requests",
                db.backend
            ),
            joined.0 <= 6 && joined.1 <= 8,
        );
        let after = cost(&apis, || {
            pass();
        });
        row("unchanged pass after it", after);
    }
    targets.finish();
}
