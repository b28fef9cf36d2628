//! `gisttrack list`: the tracked users and where their deliveries stand.

use crate::error::Result;
use crate::exit::Exit;
use crate::output::{self, or_dash, Column, Fit, OutputFormat};
use crate::service;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: crate::cli::CommonArgs,

    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

/// `--help`'s first line.
pub const ABOUT: &str = "List tracked users with their delivery state";

/// The table's columns; the ranks are the order they are left out on a narrow terminal
/// (after any column empty in every row shown), as `gisttrack list --help` says.
pub const COLUMNS: [Column; 7] = [
    Column::always("USER", Fit::Whole),
    Column::whole("PIPEDRIVE ID", 2),
    Column::whole("GISTS", 4),
    Column::whole("PENDING", 5),
    Column::whole("FAILED", 6),
    Column::whole("LAST SYNC", 3),
    Column::whole("LAST VISIT", 1),
];

pub fn run(_args: ListArgs, ctx: &super::Context) -> Result<Exit> {
    let people = service::list_people(&ctx.open()?, None)?;
    match ctx.output {
        OutputFormat::Json => output::print(&output::json(&people))?,
        OutputFormat::Table if people.is_empty() => {
            output::print("No users are tracked yet. Add one with: gisttrack add <github-login>")?
        }
        OutputFormat::Table => {
            let rows = people
                .into_iter()
                .map(|p| {
                    vec![
                        p.github_username,
                        or_dash(p.pipedrive_id),
                        p.gists_known.to_string(),
                        p.deliveries_pending.to_string(),
                        p.deliveries_failed.to_string(),
                        output::when(p.last_sync.as_deref()),
                        output::when(p.last_visit.as_deref()),
                    ]
                })
                .collect();
            output::print(&output::table(&COLUMNS, rows))?;
        }
    }
    Ok(Exit::Ok)
}
