//! `gisttrack list`: the tracked users and where their deliveries stand.

use crate::error::Result;
use crate::exit::Exit;
use crate::output::{self, or_dash, OutputFormat};
use crate::service;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: crate::cli::CommonArgs,

    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

pub fn run(_args: ListArgs, ctx: &super::Context) -> Result<Exit> {
    let people = service::list_people(&ctx.open()?, None)?;
    match ctx.output {
        OutputFormat::Json => output::print(&output::json(&people)),
        OutputFormat::Table if people.is_empty() => {
            output::print("No users are tracked yet. Add one with: gisttrack add <github-login>")
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
            output::print(&output::table(
                &[
                    "USER",
                    "PIPEDRIVE ID",
                    "GISTS",
                    "PENDING",
                    "FAILED",
                    "LAST SYNC",
                    "LAST VISIT",
                ],
                rows,
            ));
        }
    }
    Ok(Exit::Ok)
}
