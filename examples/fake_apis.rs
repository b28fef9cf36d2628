//! Try gisttrack offline: serves the test suite's fake GitHub and Pipedrive on loopback with
//! a few users, and prints the environment to point gisttrack at them, with a database of
//! its own (the fakes forget everything when they stop; the default database is left alone).
//! Ctrl-C stops them and removes that database.
//!
//! ```sh
//! cargo run --example fake_apis            # keeps running; in another shell, paste the exports it prints
//! gisttrack add octocat && gisttrack sync && gisttrack show octocat
//! ```

#[path = "../tests/support/fake.rs"]
mod fake;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let github = std::env::var("FAKE_GITHUB_ADDR").unwrap_or_else(|_| "127.0.0.1:9301".into());
    let pipedrive =
        std::env::var("FAKE_PIPEDRIVE_ADDR").unwrap_or_else(|_| "127.0.0.1:9302".into());
    let apis = match fake::FakeApis::try_start_on(&github, &pipedrive) {
        Ok(apis) => apis,
        Err(err) => {
            eprintln!(
                "fake_apis: {err} (set FAKE_GITHUB_ADDR / FAKE_PIPEDRIVE_ADDR to other ports)"
            );
            std::process::exit(1);
        }
    };
    for (login, gists) in [("octocat", 3), ("hubot", 1), ("monalisa", 120)] {
        apis.add_user(login, gists);
    }
    // An organization to follow: two people, and a bot that is never tracked.
    apis.add_org("octo-org", Some("Octo Org"));
    for login in ["octocat", "hubot"] {
        apis.add_member("octo-org", login);
    }
    apis.add_bot_member("octo-org", "dependabot[bot]");
    let stop = Arc::new(AtomicBool::new(false));
    let caught = gisttrack::cmd::Interrupt::catch(stop.clone(), "fake_apis: stopping");
    let data = tempfile::Builder::new()
        .prefix("gisttrack-fake-apis-")
        .tempdir();
    let (Ok(_), Ok(data)) = (caught, data) else {
        eprintln!("fake_apis: cannot set up its database folder or catch Ctrl-C");
        std::process::exit(1);
    };
    println!("Fake GitHub and Pipedrive are up. Point gisttrack at them with:\n");
    println!(
        "export DATABASE_URL=sqlite://{}",
        data.path().join("gisttrack.db").display()
    );
    println!(
        "export GITHUB_API_URL={} GITHUB_TOKEN={}",
        apis.github_url,
        fake::GITHUB_TOKEN
    );
    println!(
        "export PIPEDRIVE_API_URL={} PIPEDRIVE_TOKEN={}",
        apis.pipedrive_url,
        fake::PIPEDRIVE_TOKEN
    );
    println!("\nUsers: octocat (3 gists), hubot (1), monalisa (120). A new gist appears for octocat every minute.");
    println!("Organization: octo-org (octocat, hubot and a bot): gisttrack org add octo-org");
    println!("The database is this run's own, as the fakes are: Ctrl-C stops them and removes it.");
    let mut last = 0;
    let mut tick = 0u64;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        tick += 1;
        if tick % 600 == 0 {
            let id = apis.add_gist("octocat");
            println!("octocat published gist {id}");
        }
        let count = apis.activity_count();
        if count != last {
            println!("Pipedrive now holds {count} activities");
            last = count;
        }
    }
}
