//! `gisttrack show <login>`: a user and the gists first seen since the previous visit.

use crate::db::gists::DeliveryState;
use crate::db::link_history::LinkReason;
use crate::error::Result;
use crate::exit::Exit;
use crate::output::{self, or_dash, Column, Fit, OutputFormat};
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
    let detail = service::view_person(&ctx.store_tracking(&args.login)?, &args.login, mode)?;
    if ctx.output == OutputFormat::Json {
        output::print(&output::json(&detail))?;
        return Ok(Exit::Ok);
    }
    output::print(&heading(&detail, mode))?;
    if detail.gists.is_empty() {
        output::print("  (none)")?;
    } else {
        output::print(&gist_table(&detail.gists))?;
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
    let unlinked = match &person.unlinked_at {
        Some(at) => format!(
            "\nPipedrive person {} was deleted (found {}) and no person carries their activities: \
             nothing is sent until `gisttrack relink {login} --to <person id>` or `--create`",
            or_dash(person.pipedrive_id),
            output::when(Some(at)),
            login = person.github_username,
        ),
        None => String::new(),
    };
    let links: String = detail
        .links
        .iter()
        .flatten()
        .map(|link| {
            let (from, to) = (or_dash(link.from), or_dash(link.to));
            let what = match link.reason {
                LinkReason::Merged => format!("Pipedrive person {from} was merged into {to}"),
                LinkReason::Deleted => format!("Pipedrive person {from} was found deleted"),
                LinkReason::Relinked => format!("relinked from Pipedrive person {from} to {to}"),
            };
            format!("\n  {}: {what}", output::when(Some(&link.at)))
        })
        .collect();
    let history = if links.is_empty() {
        String::new()
    } else {
        format!("\nLink history:{links}")
    };
    format!(
        "{} ({})\nPipedrive person: {}   owner: {}   organization: {}\nGists: {}   pending: {}   failed: {}\nLast sync: {}{unlinked}{history}\n\n{scope}:",
        person.github_username,
        // A GitHub profile's name is anyone's text: printed as a table cell would be.
        output::table::one_line(person.name.as_deref().unwrap_or("no public name")),
        super::list::pipedrive_id(person),
        super::list::owner(person),
        or_dash(person.org_id),
        person.gists_known,
        person.deliveries_pending,
        person.deliveries_failed,
        output::when(person.last_sync.as_deref()),
    )
}

/// `--help`'s first line.
pub const ABOUT: &str =
    "Show a user and the gists first seen since the previous visit; records this visit";

/// The gist table's columns; the ranks are the order they are left out on a narrow terminal
/// (after any column empty in every row shown), as `gisttrack show --help` says. The URL
/// stays (it names the gist and opens it), so the bare id is the first to go; the
/// description, cut short, outlasts the delivery's details; where a delivery stands goes last.
pub const COLUMNS: [Column; 9] = [
    Column::whole("GIST", 1),
    Column::shorten("DESCRIPTION", 7),
    Column::shorten("FILES", 2),
    Column::whole("FIRST SEEN", 4),
    Column::whole("DELIVERY", 8),
    Column::whole("NEXT TRY", 6),
    Column::shorten("WHY", 5),
    Column::whole("ACTIVITY", 3),
    Column::always("URL", Fit::Whole),
];

/// Where a gist's delivery stands (`waiting` for a request that may still land), when it is
/// next tried or looked for, and why it is not delivered yet.
fn delivery(gist: &GistView) -> [String; 3] {
    let next = gist
        .next_attempt_at
        .as_deref()
        .map(|at| output::when(Some(at)))
        .unwrap_or_else(|| "-".into());
    let state = match gist.delivery {
        DeliveryState::Sending if gist.next_attempt_at.is_some() => "waiting",
        state => state.as_str(),
    };
    let why = match gist.delivery {
        DeliveryState::Sending if gist.next_attempt_at.is_some() => {
            "an earlier attempt may still land; looked for before anything is sent".to_string()
        }
        DeliveryState::Skipped => "existed before tracking began".to_string(),
        DeliveryState::Delivered => String::new(),
        _ => gist.last_error.clone().unwrap_or_default(),
    };
    [state.to_string(), next, why]
}

fn gist_table(gists: &[GistView]) -> String {
    let rows = gists
        .iter()
        .map(|g| {
            vec![
                g.id.to_string(),
                g.description.clone().unwrap_or_default(),
                g.files
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                output::when(Some(&g.discovered_at)),
            ]
            .into_iter()
            .chain(delivery(g))
            .chain([or_dash(g.activity_id), g.html_url.to_string()])
            .collect()
        })
        .collect();
    output::table(&COLUMNS, rows)
}
