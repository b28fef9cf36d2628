//! `gisttrack add <login>...` and `gisttrack add --from-file FILE`: start tracking GitHub users.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::{ConcurrencyArgs, UpstreamArgs};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::metrics::Metrics;
use crate::output::{self, OutputFormat};
use crate::service::import::{self, ImportReport, LoginList};

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
    pub orgs: crate::cli::OrgRulesArgs,

    #[command(flatten)]
    pub upstream: UpstreamArgs,

    #[command(flatten)]
    pub common: crate::cli::CommonArgs,

    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

/// Logins on the command line and in a file go through one path: each checked before any
/// request, duplicates folded, then added; only the pace and the printing differ (a file's
/// logins go `--concurrency` at a time and get a summary; the command line's go one by one,
/// in the order given, so ids and Pipedrive persons follow that order, each with its line).
pub fn run(args: AddArgs, ctx: &super::Context) -> Result<Exit> {
    let (list, source) = match &args.from_file {
        Some(file) => (LoginList::parse(&read_list(file)?), Some(source_name(file))),
        None => (LoginList::from_args(&args.logins), None),
    };
    let report = if list.logins.is_empty() {
        // Nothing to ask anyone: not even the database is opened, and no token is needed
        // to be told a login is not one.
        ImportReport::only_invalid(list)
    } else {
        args.upstream.require_pipedrive()?;
        let workers = match source {
            Some(_) => args.workers.concurrency as usize,
            None => 1,
        };
        add_all(&args, list, workers, ctx)?
    };
    match (source.is_some(), ctx.output) {
        (true, OutputFormat::Json) => output::print(&output::json(&report))?,
        (true, OutputFormat::Table) => output::print(&summary(&report))?,
        (false, OutputFormat::Json) => {
            output::print(&output::json(&report.added))?;
            for line in &report.already_tracked_lines {
                eprintln!("{line}");
            }
        }
        (false, OutputFormat::Table) => {
            for person in &report.added {
                output::print(&format!(
                    "Tracking {} (Pipedrive person {})",
                    person.github_username,
                    output::or_dash(person.pipedrive_id)
                ))?;
            }
            for line in &report.already_tracked_lines {
                output::print(line)?;
            }
            for org in &report.orgs {
                output::print(&format!(
                    "Following {} (Pipedrive organization {})",
                    org.org.org,
                    output::or_dash(org.org.pipedrive_org_id)
                ))?;
                for line in super::org::change_lines(&org.changes) {
                    output::print(&line)?;
                }
            }
        }
    }
    for refused in &report.refused {
        // It may quote GitHub or Pipedrive: one safe line.
        let line = refused.describe(source.as_deref());
        eprintln!("gisttrack: {}", output::one_line(&line));
    }
    if let Some(stopped) = &report.stopped {
        // `add octocat` stopped by a refused token is that one error, said once.
        let only_login = source.is_none()
            && report.not_done.len() <= 1
            && report.added.is_empty()
            && report.already_tracked.is_empty()
            && report.refused.is_empty();
        if only_login {
            eprintln!("gisttrack: {}", output::one_line(stopped));
        } else {
            eprintln!("gisttrack: stopped: {}", output::one_line(stopped));
            if !report.not_done.is_empty() {
                eprintln!("{}", resume_hint(&report));
            }
        }
    }
    Ok(report.exit)
}

/// Adds the list's valid logins; a signal stops it after the adds under way.
fn add_all(
    args: &AddArgs,
    list: LoginList,
    workers: usize,
    ctx: &super::Context,
) -> Result<ImportReport> {
    let mut rules = crate::sync::SyncSettings::default();
    args.orgs.apply(&mut rules)?;
    let mut engine = super::engine(|| ctx.open(), &args.upstream, Arc::new(Metrics::default()))?;
    engine.settings.exclude = rules.exclude;
    engine.settings.drop_leavers = rules.drop_leavers;
    let interrupt = super::Interrupt::catch(
        engine.shutdown.clone(),
        "gisttrack: stopping after the adds under way, then saying what is left",
    )?;
    let progress = output::progress("adding");
    let mut report = import::import(&engine, list, !args.only_new, workers, &progress);
    if let Some(stopped) = interrupt.received() {
        report.interrupted(stopped);
    }
    Ok(report)
}

/// How a list's lines are named in errors: its path as given, or `stdin`.
fn source_name(file: &Path) -> String {
    match file.as_os_str() == "-" {
        true => "stdin".into(),
        false => file.display().to_string(),
    }
}

/// The list's text. Bytes that are not UTF-8 become U+FFFD, so such a line is refused as
/// an invalid login with its line number instead of the whole file being refused.
fn read_list(file: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut bytes))
    };
    read.map_err(|e| Error::InputUnreadable {
        path: source_name(file),
        reason: e.to_string(),
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `Added 950, already tracked 40, refused 10, not done 0.`, and a line per organization.
fn summary(report: &ImportReport) -> String {
    let mut text = format!(
        "Added {}, already tracked {}, refused {}, not done {}.",
        report.added.len(),
        report.already_tracked.len(),
        report.refused.len(),
        report.not_done.len()
    );
    for org in &report.orgs {
        text.push_str(&format!(
            "\nFollowing {} (Pipedrive organization {}): {} member(s) tracked, {} added now, {} skipped.",
            org.org.org,
            output::or_dash(org.org.pipedrive_org_id),
            org.org.members,
            org.changes.added.len(),
            org.changes.skipped.len()
        ));
    }
    text
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
