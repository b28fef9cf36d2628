//! `gisttrack relink <login> [--to ID | --create]`: link a user to another Pipedrive person,
//! after theirs was deleted (they are unlinked) or to move them.

use std::sync::Arc;

use crate::cli::UpstreamArgs;
use crate::error::Result;
use crate::exit::Exit;
use crate::metrics::Metrics;
use crate::output::{self, OutputFormat};
use crate::service::relink::{self, RelinkTo};

#[derive(Debug, clap::Args)]
pub struct RelinkArgs {
    /// GitHub login.
    #[arg(value_name = "LOGIN")]
    pub login: String,

    /// Link to this existing Pipedrive person (default: the person a merge left, found by
    /// carrying the user's activities).
    #[arg(long, value_name = "PERSON_ID", value_parser = clap::value_parser!(i64).range(1..), conflicts_with = "create")]
    pub to: Option<i64>,

    /// Link to a new Pipedrive person, created for the user.
    #[arg(long)]
    pub create: bool,

    #[command(flatten)]
    pub upstream: UpstreamArgs,

    #[command(flatten)]
    pub common: crate::cli::CommonArgs,

    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

pub fn run(args: RelinkArgs, ctx: &super::Context) -> Result<Exit> {
    crate::login::Login::parse(&args.login)?;
    args.upstream.require_pipedrive()?;
    let to = match (args.to, args.create) {
        (Some(id), _) => RelinkTo::Person(crate::ids::PipedrivePersonId(id)),
        (None, true) => RelinkTo::Create,
        (None, false) => RelinkTo::Survivor,
    };
    let engine = super::engine(|| ctx.open(), &args.upstream, Arc::new(Metrics::default()))?;
    let relinked = relink::relink_person(&engine, &args.login, to)?;
    let (login, linked) = (&relinked.login, relinked.pipedrive_id);
    match ctx.output {
        OutputFormat::Json => output::print(&output::json(&serde_json::json!({
            "github_username": login,
            "pipedrive_id": linked,
            "changed": relinked.changed,
        }))),
        OutputFormat::Table if !relinked.changed => output::print(&format!(
            "{login} is already linked to Pipedrive person {linked}; nothing changed"
        )),
        OutputFormat::Table => output::print(&format!(
            "{login} is linked to Pipedrive person {linked}; the next sync looks at its activities \
             and delivers the gists not yet delivered anywhere"
        )),
    }?;
    Ok(Exit::Ok)
}
