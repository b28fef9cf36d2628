//! `gisttrack add <login>...`: start tracking GitHub users.

use std::sync::Arc;

use crate::cli::UpstreamArgs;
use crate::error::Result;
use crate::exit::Exit;
use crate::login::Login;
use crate::metrics::Metrics;
use crate::output::{self, OutputFormat};
use crate::service;

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// GitHub logins to track.
    #[arg(required = true, value_name = "LOGIN")]
    pub logins: Vec<String>,

    /// Only gists created after the user is added become activities (default: every existing gist too).
    #[arg(long)]
    pub only_new: bool,

    #[command(flatten)]
    pub upstream: UpstreamArgs,

    #[command(flatten)]
    pub common: crate::cli::CommonArgs,

    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

pub fn run(args: AddArgs, ctx: &super::Context) -> Result<Exit> {
    let format = ctx.output;
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
    match format {
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
    // Each refusal is printed once; the status is the most serious of them.
    let mut exit = Exit::Ok;
    for err in &failures {
        eprintln!("gisttrack: {err}");
        exit = exit.worst(Exit::from(err));
    }
    Ok(exit)
}
