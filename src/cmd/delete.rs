//! `gisttrack delete <login>`: stop tracking a user.

use crate::error::Result;
use crate::output::{self, OutputFormat};
use crate::service;

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// GitHub login.
    #[arg(value_name = "LOGIN")]
    pub login: String,
}

pub fn run(args: DeleteArgs, ctx: &super::Context) -> Result<()> {
    let login = service::delete_person(&ctx.open()?, &args.login)?;
    match ctx.output {
        OutputFormat::Json => {
            output::print(&output::json(&serde_json::json!({ "deleted": login })))
        }
        OutputFormat::Table => output::print(&format!(
            "Stopped tracking {login} (Pipedrive keeps its person and activities)"
        )),
    }
    Ok(())
}
