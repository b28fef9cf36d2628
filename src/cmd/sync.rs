//! `gisttrack sync [<login>...]`: one sync pass, for cron or by hand.

use std::sync::Arc;

use crate::cli::EngineArgs;
use crate::error::Result;
use crate::exit::Exit;
use crate::login::Login;
use crate::metrics::Metrics;
use crate::output::{self, Column, Fit, OutputFormat};
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

    /// No longer needed, and ignored: every pass reads a person's activities in Pipedrive
    /// before it delivers to them, so a restored backup resends nothing.
    #[arg(long, hide = true)]
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
    let progress = output::progress("syncing");
    let mut options = PassOptions::new(Trigger::Cli);
    if !logins.is_empty() {
        options.scope = Scope::Named(logins);
    }
    options.dry_run = args.dry_run;
    options.retry_failed = args.retry_failed;
    let report = engine.run_pass(&options, &progress)?;
    print_report(&report, format);
    if report.ok() {
        return Ok(Exit::Ok);
    }
    let exit = report.exit.worst(Exit::PartlyFailed);
    eprintln!("gisttrack: {}", what_next(&report, exit));
    Ok(exit)
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
        _ => format!(
            "{failed} item(s) failed (see above); later passes retry failed deliveries with \
             backoff, and sync --retry-failed retries them now"
        ),
    }
}

fn print_report(report: &SyncReport, format: OutputFormat) {
    match format {
        OutputFormat::Json => output::print(&output::json(report)),
        OutputFormat::Table => {
            output::print(&summary_table(report));
            if report.dry_run && !report.planned.is_empty() {
                output::print("");
                output::print(&planned_table(report));
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
}

fn summary_table(report: &SyncReport) -> String {
    let c = &report.counts;
    let (label, created) = if report.dry_run {
        ("WOULD CREATE", report.planned.len())
    } else {
        ("ACTIVITIES CREATED", c.activities_created as usize)
    };
    output::record(&[
        ("USERS CHECKED", c.users_checked.to_string()),
        ("UNCHANGED", c.users_unchanged.to_string()),
        ("SKIPPED", c.users_skipped.to_string()),
        ("NEW GISTS", c.new_gists.to_string()),
        (label, created.to_string()),
        ("RECONCILED", c.activities_reconciled.to_string()),
        ("WAITING", c.deliveries_waiting.to_string()),
        ("FAILED", c.failed.to_string()),
    ])
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
