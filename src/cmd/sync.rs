//! `gisttrack sync [<login>...]`: one sync pass, for cron or by hand.

use std::sync::Arc;

use serde::Serialize;

use crate::cli::EngineArgs;
use crate::db::Store;
use crate::error::Result;
use crate::exit::Exit;
use crate::login::Login;
use crate::metrics::Metrics;
use crate::output::{self, Column, Fit, OutputFormat};
use crate::service::{self, PersonSummary};
use crate::sync::{PassOptions, Scope, SyncReport, Trigger};

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Only these GitHub logins (default: every tracked user).
    #[arg(value_name = "LOGIN")]
    pub logins: Vec<String>,

    /// Ask GitHub and print what would be created; write nothing to the database or Pipedrive.
    #[arg(long)]
    pub dry_run: bool,

    /// Retry failed deliveries now instead of waiting for their backoff.
    #[arg(long)]
    pub retry_failed: bool,

    /// Read the people's activities in Pipedrive in full at their next look, not only what
    /// changed since the last one. Seldom needed: every pass already looks before it writes.
    #[arg(long, conflicts_with = "dry_run")]
    pub reread_history: bool,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub common: crate::cli::CommonArgs,

    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

pub fn run(args: SyncArgs, ctx: &super::Context) -> Result<Exit> {
    let format = ctx.output;
    let logins = args
        .logins
        .iter()
        .map(|l| Login::parse(l))
        .collect::<Result<Vec<_>>>()?;
    if !args.dry_run {
        args.engine.upstream.require_pipedrive()?;
    }
    let engine = super::sync_engine(|| ctx.open(), &args.engine, Arc::new(Metrics::default()))?;
    let interrupt = super::Interrupt::catch(
        engine.shutdown.clone(),
        "gisttrack: stopping after the delivery under way, then saying what is left",
    )?;
    let progress = output::progress("syncing");
    let mut options = PassOptions::new(Trigger::Cli);
    if !logins.is_empty() {
        options.scope = Scope::Named(logins);
    }
    options.dry_run = args.dry_run;
    options.retry_failed = args.retry_failed;
    options.look_in_full = args.reread_history;
    let report = engine.run_pass(&options, &progress)?;
    super::Alerts::from_args(&args.engine).after_pass(&engine.store, &report);
    if let Some(stopped) = interrupt.received() {
        let left = Left::after(&engine.store, &options.scope, &report)?;
        let interrupted = Interrupted {
            signal: stopped.signal_name().unwrap_or("a signal"),
            left: &left,
        };
        print_report(&report, Some(&interrupted), format)?;
        return Ok(stopped);
    }
    print_report(&report, None, format)?;
    if report.ok() {
        return Ok(Exit::Ok);
    }
    let exit = report.exit.worst(Exit::PartlyFailed);
    eprintln!("gisttrack: {}", what_next(&report, exit));
    Ok(exit)
}

/// What an interrupted pass leaves for the next one, in the pass's scope.
#[derive(Debug, Clone, Copy, Serialize)]
struct Left {
    /// Users the pass did not get to.
    users_not_checked: i64,
    /// Gists still waiting for their activity (as `list` counts them).
    deliveries_pending: i64,
}

impl Left {
    fn after(store: &Store, scope: &Scope, report: &SyncReport) -> Result<Left> {
        let people = service::list_people(store, None)?;
        let in_scope: Vec<&PersonSummary> = match scope {
            Scope::Named(logins) => {
                let keys: Vec<String> = logins.iter().map(Login::key).collect();
                people
                    .iter()
                    .filter(|p| keys.contains(&p.github_username.to_ascii_lowercase()))
                    .collect()
            }
            Scope::Everyone | Scope::Waiting(_) => people.iter().collect(),
        };
        let c = &report.counts;
        let reached = i64::from(c.users_checked) + i64::from(c.users_skipped);
        Ok(Left {
            users_not_checked: (in_scope.len() as i64 - reached).max(0),
            deliveries_pending: in_scope.iter().map(|p| p.deliveries_pending).sum(),
        })
    }
}

/// After a pass stopped by a signal: what is left, and which sync takes it up.
fn say_what_is_left(signal: &str, left: &Left, dry_run: bool) {
    let mut next = vec![];
    if left.users_not_checked > 0 {
        next.push(format!(
            "checks the {} user(s) not reached",
            left.users_not_checked
        ));
    }
    if left.deliveries_pending > 0 && !dry_run {
        next.push(format!(
            "delivers the {} pending gist(s)",
            left.deliveries_pending
        ));
    }
    let next = match next.is_empty() {
        true => "nothing is left for the next sync".to_string(),
        false => format!("the next sync {}", next.join(" and ")),
    };
    eprintln!("gisttrack: interrupted by {signal} after the work under way; {next}");
}

/// The one summary line of a pass that did not go well: what failed, and what happens next
/// for that kind of failure.
fn what_next(report: &SyncReport, exit: Exit) -> String {
    let failed = report.counts.failed;
    match exit {
        Exit::Refused => "GitHub or Pipedrive refused a token (see above): fix it (GITHUB_TOKEN, \
             PIPEDRIVE_TOKEN) and run sync again; nothing waits on its own"
            .into(),
        Exit::Unavailable => {
            "GitHub or Pipedrive could not be reached, or asked for a pause beyond \
             --rate-limit-max-wait (see above); the next sync goes on where this one stopped"
                .into()
        }
        _ => {
            let mut next = vec![format!("{} (see above)", report.trouble())];
            if failed > 0 {
                next.push(
                    "later passes retry failed deliveries with backoff, and sync --retry-failed \
                     retries them now"
                        .to_string(),
                );
            }
            if !report.unlinked_users.is_empty() {
                next.push(
                    "nothing is sent for an unlinked user until `gisttrack relink <login> --to \
                     <person id>` (or `--create`)"
                        .to_string(),
                );
            }
            next.join("; ")
        }
    }
}

/// An interrupted pass: the signal, and what it left.
struct Interrupted<'a> {
    signal: &'static str,
    left: &'a Left,
}

/// The pass's summary (with what an interrupted pass left), its plan, its errors, and when
/// deliveries that got no answer are looked for.
fn print_report(
    report: &SyncReport,
    interrupted: Option<&Interrupted<'_>>,
    format: OutputFormat,
) -> Result<()> {
    match format {
        OutputFormat::Json => {
            #[derive(Serialize)]
            struct WithLeft<'a> {
                #[serde(flatten)]
                report: &'a SyncReport,
                interrupted: &'a str,
                #[serde(flatten)]
                left: &'a Left,
            }
            let json = match interrupted {
                None => output::json(report),
                Some(stopped) => output::json(&WithLeft {
                    report,
                    interrupted: stopped.signal,
                    left: stopped.left,
                }),
            };
            output::print(&json)?;
        }
        OutputFormat::Table => {
            output::print(&summary_table(report, interrupted.map(|i| i.left)))?;
            if report.dry_run && !report.planned.is_empty() {
                output::print("")?;
                output::print(&planned_table(report))?;
            }
            // Each names a gist and quotes GitHub or Pipedrive: printed as a table cell is.
            for error in &report.errors {
                eprintln!("  {}", output::one_line(error));
            }
        }
    }
    if let Some(until) = &report.waiting_until {
        eprintln!(
            "{} deliveries got no answer and may still land; the first sync after {} looks for them before sending anything again",
            report.counts.deliveries_waiting,
            output::when(Some(until))
        );
    }
    if let Some(stopped) = interrupted {
        say_what_is_left(stopped.signal, stopped.left, report.dry_run);
    }
    Ok(())
}

fn summary_table(report: &SyncReport, left: Option<&Left>) -> String {
    let c = &report.counts;
    let (label, created) = if report.dry_run {
        ("WOULD CREATE", report.planned.len())
    } else {
        ("ACTIVITIES CREATED", c.activities_created as usize)
    };
    let mut fields = vec![
        ("USERS CHECKED", c.users_checked.to_string()),
        ("UNCHANGED", c.users_unchanged.to_string()),
        ("SKIPPED", c.users_skipped.to_string()),
        ("NEW GISTS", c.new_gists.to_string()),
        (label, created.to_string()),
        ("RECONCILED", c.activities_reconciled.to_string()),
        ("WAITING", c.deliveries_waiting.to_string()),
        ("FAILED", c.failed.to_string()),
    ];
    // Rare, and each needs a salesperson's or an operator's eye: shown when they happen.
    if c.users_relinked > 0 {
        fields.push(("RELINKED", c.users_relinked.to_string()));
    }
    if c.users_unlinked > 0 {
        fields.push(("UNLINKED", c.users_unlinked.to_string()));
    }
    if let Some(left) = left {
        fields.push(("NOT CHECKED", left.users_not_checked.to_string()));
        fields.push(("PENDING", left.deliveries_pending.to_string()));
    }
    output::record(&fields)
}

fn planned_table(report: &SyncReport) -> String {
    const COLUMNS: [Column; 3] = [
        Column::always("USER", Fit::Whole),
        Column::always("GIST", Fit::Whole),
        Column::shorten("ACTIVITY SUBJECT", 1),
    ];
    output::table(
        &COLUMNS,
        report
            .planned
            .iter()
            .map(|p| {
                vec![
                    p.github_username.clone(),
                    p.gist_id.clone(),
                    p.subject.clone(),
                ]
            })
            .collect(),
    )
}
