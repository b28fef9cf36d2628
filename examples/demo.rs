//! `make demo`: gisttrack end to end on this machine alone. Starts the test suite's fake
//! GitHub and Pipedrive, tracks three sample users with the real binary, runs a sync pass,
//! then serves the API and Swagger UI on 127.0.0.1:3000 (DEMO_PORT to change it) until
//! Ctrl-C, which stops everything and ends cleanly (no `make: *** Interrupt`). Prints what
//! to open and which commands to try, with the binary's real path. Refuses to start, before
//! touching anything, while its port or its database (target/demo, or DEMO_DATA_DIR) is in use.
//!
//! ```sh
//! make demo        # or: cargo run --example demo -- target/debug/gisttrack
//! ```

#[path = "../tests/support/fake.rs"]
mod fake;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const USERS: [(&str, usize); 3] = [("octocat", 3), ("hubot", 1), ("monalisa", 12)];

fn main() -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    match demo(&stop) {
        Ok(()) => ExitCode::SUCCESS,
        // Ctrl-C during the set-up stops its steps too: that is no failure.
        Err(_) if stop.load(Ordering::SeqCst) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("demo: {err}");
            ExitCode::FAILURE
        }
    }
}

fn demo(stop: &Arc<AtomicBool>) -> Result<(), String> {
    let binary = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/debug/gisttrack"));
    let binary = binary.canonicalize().map_err(|e| {
        format!(
            "no gisttrack binary at {} ({e}); build it first",
            binary.display()
        )
    })?;
    let port = std::env::var("DEMO_PORT").unwrap_or_else(|_| "3000".into());
    // DEMO_DATA_DIR keeps a second demo (the API fuzz run) off this one's database.
    let data = match std::env::var_os("DEMO_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir()
            .map_err(|e| e.to_string())?
            .join("target/demo"),
    };
    // Nothing is deleted or created while another demo (or server) holds either.
    port_is_free(&port)?;
    drop(hold(&data)?);
    gisttrack::cmd::Interrupt::catch(stop.clone(), "demo: stopping the server")
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let _held = hold(&data)?;
    let apis = fake::FakeApis::try_start_on("127.0.0.1:0", "127.0.0.1:0")?;
    for (login, gists) in USERS {
        apis.add_user(login, gists);
    }
    let env = [
        (
            "DATABASE_URL",
            format!("sqlite://{}", data.join("demo.db").display()),
        ),
        ("GITHUB_API_URL", apis.github_url.clone()),
        ("GITHUB_TOKEN", fake::GITHUB_TOKEN.to_string()),
        ("PIPEDRIVE_API_URL", apis.pipedrive_url.clone()),
        ("PIPEDRIVE_TOKEN", fake::PIPEDRIVE_TOKEN.to_string()),
    ];
    let gisttrack = |args: &[&str]| {
        let mut command = Command::new(&binary);
        command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
        command
    };
    step(
        "tracking three sample users",
        gisttrack(&["add", "octocat", "hubot", "monalisa"]),
    )?;
    step(
        "one sync pass: every gist becomes one Pipedrive activity",
        gisttrack(&["sync"]),
    )?;
    print_guide(&binary, &env, &port);

    let listen = format!("127.0.0.1:{port}");
    let mut serve = gisttrack(&["serve", "--listen", &listen, "--interval", "1m"])
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    // A new gist for octocat every minute, so the loop has something to deliver.
    let mut told = false;
    loop {
        for _ in 0..600 {
            std::thread::sleep(Duration::from_millis(100));
            if stop.load(Ordering::SeqCst) && !told {
                // A terminal's Ctrl-C reached serve too; a `kill` of this process alone did not.
                // SAFETY: a signal to the child this process started and has not reaped.
                unsafe { libc::kill(serve.id() as libc::pid_t, libc::SIGINT) };
                told = true;
            }
            if let Some(status) = serve.try_wait().map_err(|e| e.to_string())? {
                return match status.code() {
                    Some(0) | None => Ok(()),
                    Some(code) => Err(format!("serve stopped with exit code {code}")),
                };
            }
        }
        let id = apis.add_gist("octocat");
        println!("demo: octocat published gist {id}; the next pass delivers it");
    }
}

/// The demo's port, free to serve on.
fn port_is_free(port: &str) -> Result<(), String> {
    let number: u16 = port
        .parse()
        .map_err(|_| format!("DEMO_PORT={port} is not a port number"))?;
    match std::net::TcpListener::bind(("127.0.0.1", number)) {
        Ok(_) => Ok(()),
        Err(err) => Err(format!(
            "port {port} is in use ({err}): another demo or server is running there; stop it, \
             or give this demo another port with DEMO_PORT=..."
        )),
    }
}

/// An advisory lock on the data folder, held while the demo runs: a second demo checks it
/// before deleting the folder under a running server. `None` when the folder does not exist.
fn hold(data: &Path) -> Result<Option<File>, String> {
    use std::os::fd::AsRawFd;
    let folder = match File::open(data) {
        Ok(folder) => folder,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot open {}: {err}", data.display())),
    };
    // SAFETY: flock on a descriptor this function owns; released when the file is dropped.
    let locked = unsafe { libc::flock(folder.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    match locked {
        true => Ok(Some(folder)),
        false => Err(format!(
            "{} (its database) is in use by another demo; stop that one first, or give this \
             demo its own folder with DEMO_DATA_DIR=...",
            data.display()
        )),
    }
}

fn step(what: &str, mut command: Command) -> Result<(), String> {
    println!("demo: {what}");
    let status = command.status().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn print_guide(binary: &Path, env: &[(&str, String)], port: &str) {
    let exports: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let url = format!("http://127.0.0.1:{port}");
    println!(
        "\n\
         demo: serving on {url} until Ctrl-C\n\
         \n  open   {url}/                           (the dashboard)\n\
         \x20 open   {url}/documentation/index.html   (Swagger UI)\n\
         \x20 curl   {url}/api/v1/people\n\
         \x20 curl   {url}/api/v1/people/octocat       (records a visit)\n\
         \x20 curl   -X POST {url}/api/v1/sync\n\
         \n  in another shell:\n\
         \x20   export {}\n\
         \x20   {bin} list\n\
         \x20   {bin} show octocat\n\
         \x20   {bin} doctor\n\
         \x20   {bin} add nosuchuser        (refused: the fake GitHub has no such user)\n",
        exports.join(" "),
        bin = binary.display(),
    );
}
