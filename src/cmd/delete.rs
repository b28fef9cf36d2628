//! `gisttrack delete <login>`: stop tracking a user.

use crate::error::Result;
use crate::exit::Exit;
use crate::output::{self, OutputFormat};
use crate::service;
use crate::sync::SyncSettings;

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// GitHub login.
    #[arg(value_name = "LOGIN")]
    pub login: String,

    #[command(flatten)]
    pub timing: crate::cli::TimingArgs,

    #[command(flatten)]
    pub common: crate::cli::CommonArgs,

    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

pub fn run(args: DeleteArgs, ctx: &super::Context) -> Result<Exit> {
    let settings = SyncSettings {
        in_flight_bound: args.timing.in_flight_bound()?,
        ..SyncSettings::default()
    };
    let login = service::delete_person(&ctx.store_tracking(&args.login)?, &settings, &args.login)?;
    match ctx.output {
        OutputFormat::Json => {
            output::print(&output::json(&serde_json::json!({ "deleted": login })))?
        }
        OutputFormat::Table => output::print(&format!(
            "Stopped tracking {login}; their Pipedrive person and its activities stay in Pipedrive"
        ))?,
    }
    Ok(Exit::Ok)
}
