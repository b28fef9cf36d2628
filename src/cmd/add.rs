//! `gisttrack add <login>...` and `gisttrack add --from-file FILE`: start tracking GitHub users.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::{ConcurrencyArgs, UpstreamArgs};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::import::{self, ImportReport, LoginList};
use crate::login::Login;
use crate::metrics::Metrics;
use crate::output::{self, OutputFormat};
use crate::service;

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// GitHub logins to track.
    #[arg(required_unless_present = "from_file", value_name = "LOGIN")]
    pub logins: Vec<String>,

    /// Read the logins from a file (`-` for standard input): one per line, blank lines and
    /// `#` comments ignored. Added concurrently; logins already tracked are reported, not
    /// refused, so the same file can be run again after an interruption.
    #[arg(long, value_name = "FILE", conflicts_with = "logins")]
    pub from_file: Option<PathBuf>,

    /// Only gists created after the user is added become activities (default: every existing gist too).
    #[arg(long)]
    pub only_new: bool,

    #[command(flatten)]
    pub workers: ConcurrencyArgs,

    #[command(flatten)]
    pub upstream: UpstreamArgs,

    #[command(flatten)]
    pub common: crate::cli::CommonArgs,

    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

pub fn run(args: AddArgs, ctx: &super::Context) -> Result<Exit> {
    if let Some(file) = &args.from_file {
        let list = LoginList::parse(&read_list(file)?);
        return run_import(&args, list, ctx);
    }
    // Every login is checked before anything is asked of GitHub, Pipedrive or the database.
    for login in &args.logins {
        Login::parse(login)?;
    }
    args.upstream.require_pipedrive()?;
    let engine = super::engine(|| ctx.open(), &args.upstream, Arc::new(Metrics::default()))?;
    let mut added = Vec::new();
    let mut failures = Vec::new();
    for login in &args.logins {
        match service::add_person(&engine, login, !args.only_new) {
            Ok(person) => added.push(person),
            Err(err) => failures.push(err),
        }
    }
    match ctx.output {
        OutputFormat::Json => output::print(&output::json(&added)),
        OutputFormat::Table => {
            for person in &added {
                output::print(&format!(
                    "Tracking {} (Pipedrive person {})",
                    person.person.github_username,
                    output::or_dash(person.person.pipedrive_id)
                ));
            }
        }
    }
    // Each refusal is printed once, on one safe line (it may quote GitHub or Pipedrive); the
    // status is the most serious of them.
    let mut exit = Exit::Ok;
    for err in &failures {
        eprintln!("gisttrack: {}", output::one_line(&err.to_string()));
        exit = exit.worst(Exit::from(err));
    }
    Ok(exit)
}

fn read_list(file: &PathBuf) -> Result<String> {
    let mut text = String::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text))
    };
    read.map_err(|e| Error::Config(format!("cannot read the list {}: {e}", file.display())))?;
    Ok(text)
}

fn run_import(args: &AddArgs, list: LoginList, ctx: &super::Context) -> Result<Exit> {
    args.upstream.require_pipedrive()?;
    let engine = super::engine(|| ctx.open(), &args.upstream, Arc::new(Metrics::default()))?;
    let progress = output::progress("adding");
    let workers = args.workers.concurrency as usize;
    let report = import::import(&engine, list, !args.only_new, workers, &progress);
    match ctx.output {
        OutputFormat::Json => output::print(&output::json(&report)),
        OutputFormat::Table => output::print(&summary(&report)),
    }
    for refused in &report.refused {
        let line = format!("{}: {}", refused.login, refused.error);
        eprintln!("gisttrack: {}", output::one_line(&line));
    }
    if let Some(stopped) = &report.stopped {
        eprintln!("gisttrack: stopped: {}", output::one_line(stopped));
        eprintln!("{}", resume_hint(&report));
    }
    Ok(report.exit)
}

/// `Added 950, already tracked 40, refused 10, not done 0.`
fn summary(report: &ImportReport) -> String {
    format!(
        "Added {}, already tracked {}, refused {}, not done {}.",
        report.added.len(),
        report.already_tracked.len(),
        report.refused.len(),
        report.not_done.len()
    )
}

fn resume_hint(report: &ImportReport) -> String {
    let when = match &report.resume_after {
        Some(at) => format!(" after {}", output::when(Some(at))),
        None => String::new(),
    };
    format!(
        "{} logins not done: run the same command again{when}; those added are then reported as already tracked",
        report.not_done.len()
    )
}
