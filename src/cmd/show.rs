//! `gisttrack show <login>`: a user and the gists first seen since the previous visit.

use crate::error::Result;
use crate::exit::Exit;
use crate::output::{self, or_dash, OutputFormat};
use crate::service::{self, GistView, PersonDetail, ViewMode};

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// GitHub login.
    #[arg(value_name = "LOGIN")]
    pub login: String,

    /// List every gist (does not record a visit).
    #[arg(long, conflicts_with = "peek")]
    pub all: bool,

    /// Show the new gists without recording this visit.
    #[arg(long)]
    pub peek: bool,

    #[command(flatten)]
    pub common: crate::cli::CommonArgs,

    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

pub fn run(args: ShowArgs, ctx: &super::Context) -> Result<Exit> {
    let mode = match (args.all, args.peek) {
        (true, _) => ViewMode::All,
        (_, true) => ViewMode::Peek,
        _ => ViewMode::NewSinceLastVisit,
    };
    let detail = service::view_person(&ctx.open()?, &args.login, mode)?;
    if ctx.output == OutputFormat::Json {
        output::print(&output::json(&detail));
        return Ok(Exit::Ok);
    }
    output::print(&heading(&detail, mode));
    if detail.gists.is_empty() {
        output::print("  (none)");
    } else {
        output::print(&gist_table(&detail.gists));
    }
    Ok(Exit::Ok)
}

/// Who, where they stand, and which gists follow.
fn heading(detail: &PersonDetail, mode: ViewMode) -> String {
    let person = &detail.person;
    let scope = match (mode, &detail.since) {
        (ViewMode::All, _) => "All gists".to_string(),
        (_, Some(since)) => format!(
            "Gists first seen since the visit of {}",
            output::when(Some(since))
        ),
        (_, None) => "Gists first seen since tracking began (first visit)".to_string(),
    };
    format!(
        "{} ({})\nPipedrive person: {}   gists: {}   pending: {}   failed: {}   last sync: {}\n\n{scope}:",
        person.github_username,
        person.name.as_deref().unwrap_or("no public name"),
        or_dash(person.pipedrive_id),
        person.gists_known,
        person.deliveries_pending,
        person.deliveries_failed,
        output::when(person.last_sync.as_deref()),
    )
}

fn gist_table(gists: &[GistView]) -> String {
    let rows = gists
        .iter()
        .map(|g| {
            let delivery = match &g.last_error {
                Some(error) if g.activity_id.is_none() => {
                    format!("{} ({error})", g.delivery.as_str())
                }
                _ => g.delivery.as_str().to_string(),
            };
            vec![
                g.id.clone(),
                g.description.clone().unwrap_or_default(),
                g.files
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                output::when(Some(&g.discovered_at)),
                delivery,
                or_dash(g.activity_id),
                g.html_url.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "GIST",
            "DESCRIPTION",
            "FILES",
            "FIRST SEEN",
            "DELIVERY",
            "ACTIVITY",
            "URL",
        ],
        rows,
    )
}
