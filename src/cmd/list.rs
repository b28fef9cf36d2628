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
pub const COLUMNS: [Column; 8] = [
    Column::always("USER", Fit::Whole),
    Column::whole("PIPEDRIVE ID", 2),
    Column::shorten("OWNER", 4),
    Column::whole("GISTS", 5),
    Column::whole("PENDING", 6),
    Column::whole("FAILED", 7),
    Column::whole("LAST SYNC", 3),
    Column::whole("LAST VISIT", 1),
];

/// The Pipedrive person, or that it was deleted (nothing is sent until a relink).
pub fn pipedrive_id(person: &service::PersonSummary) -> String {
    match &person.unlinked_at {
        Some(_) => format!("{} (deleted)", or_dash(person.pipedrive_id)),
        None => or_dash(person.pipedrive_id),
    }
}

/// Who owns the Pipedrive person: the name where the token may read users, else the id.
pub fn owner(person: &service::PersonSummary) -> String {
    match (&person.owner_name, person.owner_id) {
        (Some(name), _) => output::table::one_line(name),
        (None, Some(id)) => format!("#{id}"),
        (None, None) => "-".into(),
    }
}

pub fn run(_args: ListArgs, ctx: &super::Context) -> Result<Exit> {
    let (people, skipped) = match ctx.open_existing()? {
        Some(store) => (
            service::list_people(&store, None)?,
            service::orgs::skipped_members(&store)?,
        ),
        None => (vec![], vec![]),
    };
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
                        p.github_username.clone(),
                        pipedrive_id(&p),
                        owner(&p),
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
    // Who a followed organization lists but gisttrack leaves out, and why.
    if ctx.output == OutputFormat::Table && !skipped.is_empty() {
        let named: Vec<String> = skipped
            .iter()
            .map(|(org, s)| {
                format!(
                    "{} ({org}: {})",
                    output::one_line(&s.login),
                    s.reason.as_str()
                )
            })
            .collect();
        output::print(&format!("Skipped: {}", named.join(", ")))?;
    }
    Ok(Exit::Ok)
}
