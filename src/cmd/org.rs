//! `gisttrack org add|list|delete <org>`: follow GitHub organizations.

use std::sync::Arc;

use crate::cli::{CommonArgs, OrgRulesArgs, OutputArgs, UpstreamArgs};
use crate::error::Result;
use crate::exit::Exit;
use crate::metrics::Metrics;
use crate::output::{self, or_dash, Column, Fit, OutputFormat};
use crate::service::orgs::{self, MemberChanges, OrgSummary, SkippedMember};
use crate::sync::SyncSettings;

#[derive(Debug, clap::Args)]
pub struct OrgArgs {
    #[command(subcommand)]
    pub command: OrgCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum OrgCommand {
    /// Follow an organization: one Pipedrive organization, every public member tracked (bots
    /// and --exclude left out); each pass picks up new members.
    #[command(after_help = crate::exit::EXIT_CODES_HELP)]
    Add(OrgAddArgs),
    /// The followed organizations, their members, who left and who is skipped and why.
    #[command(after_help = crate::exit::EXIT_CODES_HELP)]
    List(OrgListArgs),
    /// Stop following an organization (its members stay tracked unless --members).
    #[command(after_help = crate::exit::EXIT_CODES_HELP)]
    Delete(OrgDeleteArgs),
}

#[derive(Debug, clap::Args)]
pub struct OrgAddArgs {
    /// The GitHub organization's login.
    #[arg(value_name = "ORG")]
    pub org: String,

    #[command(flatten)]
    pub rules: OrgRulesArgs,

    #[command(flatten)]
    pub upstream: UpstreamArgs,

    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, clap::Args)]
pub struct OrgListArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, clap::Args)]
pub struct OrgDeleteArgs {
    /// The GitHub organization's login.
    #[arg(value_name = "ORG")]
    pub org: String,

    /// Stop tracking the members following it started tracking too (anyone tracked before stays;
    /// Pipedrive keeps their persons and activities).
    #[arg(long)]
    pub members: bool,

    #[command(flatten)]
    pub timing: crate::cli::TimingArgs,

    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

impl OrgArgs {
    pub fn common(&self) -> &CommonArgs {
        match &self.command {
            OrgCommand::Add(a) => &a.common,
            OrgCommand::List(a) => &a.common,
            OrgCommand::Delete(a) => &a.common,
        }
    }

    pub fn output(&self) -> &OutputArgs {
        match &self.command {
            OrgCommand::Add(a) => &a.output,
            OrgCommand::List(a) => &a.output,
            OrgCommand::Delete(a) => &a.output,
        }
    }
}

/// `org list`'s columns, ranked as `list`'s are.
pub const COLUMNS: [Column; 6] = [
    Column::always("ORG", Fit::Whole),
    Column::whole("PIPEDRIVE ORG", 3),
    Column::whole("MEMBERS", 5),
    Column::shorten("LEFT", 2),
    Column::shorten("SKIPPED", 4),
    Column::whole("LAST LISTED", 1),
];

pub fn run(args: OrgArgs, ctx: &super::Context) -> Result<Exit> {
    match args.command {
        OrgCommand::Add(args) => add(args, ctx),
        OrgCommand::List(_) => list(ctx),
        OrgCommand::Delete(args) => delete(args, ctx),
    }
}

fn add(args: OrgAddArgs, ctx: &super::Context) -> Result<Exit> {
    crate::login::Login::parse(&args.org)?;
    args.upstream.require_pipedrive()?;
    let mut settings = SyncSettings::default();
    args.rules.apply(&mut settings)?;
    let mut engine = super::engine(|| ctx.open(), &args.upstream, Arc::new(Metrics::default()))?;
    engine.settings.exclude = settings.exclude;
    engine.settings.drop_leavers = settings.drop_leavers;
    let added = orgs::add_org(&engine, &args.org)?;
    match ctx.output {
        OutputFormat::Json => output::print(&output::json(&added))?,
        OutputFormat::Table => {
            let verb = match added.already_followed {
                true => "Already following",
                false => "Following",
            };
            output::print(&format!(
                "{verb} {} (Pipedrive organization {})",
                added.org.org,
                or_dash(added.org.pipedrive_org_id)
            ))?;
            for line in change_lines(&added.changes) {
                output::print(&line)?;
            }
        }
    }
    for failed in &added.changes.failed {
        eprintln!(
            "gisttrack: {}: {}",
            failed.login,
            output::one_line(&failed.error)
        );
    }
    Ok(added.changes.exit)
}

/// What a look at the members changed, a line per kind (none when nothing did).
pub fn change_lines(changes: &MemberChanges) -> Vec<String> {
    let mut lines = Vec::new();
    let mut say = |what: &str, names: &[String]| {
        if !names.is_empty() {
            // Logins come from GitHub's answer: one safe line.
            lines.push(output::one_line(&format!("{what}: {}", names.join(", "))));
        }
    };
    say("Tracking", &changes.added);
    say("Already tracked", &changes.already_tracked);
    say("Left", &changes.left);
    say("No longer tracked", &changes.dropped);
    if !changes.skipped.is_empty() {
        lines.push(format!("Skipped: {}", skipped_text(&changes.skipped)));
    }
    lines
}

/// `login (reason)`, comma separated.
pub fn skipped_text(skipped: &[SkippedMember]) -> String {
    skipped
        .iter()
        .map(|s| format!("{} ({})", output::one_line(&s.login), s.reason.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(ctx: &super::Context) -> Result<Exit> {
    let followed: Vec<OrgSummary> = match ctx.open_existing()? {
        Some(store) => orgs::list_orgs(&store)?,
        None => vec![],
    };
    match ctx.output {
        OutputFormat::Json => output::print(&output::json(&followed))?,
        OutputFormat::Table if followed.is_empty() => output::print(
            "No organizations are followed yet. Follow one with: gisttrack org add <github-org>",
        )?,
        OutputFormat::Table => {
            let rows = followed
                .iter()
                .map(|o| {
                    vec![
                        o.org.clone(),
                        or_dash(o.pipedrive_org_id),
                        o.members.to_string(),
                        match o.left.is_empty() {
                            true => "-".into(),
                            false => o.left.join(", "),
                        },
                        match o.skipped.is_empty() {
                            true => "-".into(),
                            false => skipped_text(&o.skipped),
                        },
                        output::when(o.members_listed_at.as_deref()),
                    ]
                })
                .collect();
            output::print(&output::table(&COLUMNS, rows))?;
        }
    }
    Ok(Exit::Ok)
}

fn delete(args: OrgDeleteArgs, ctx: &super::Context) -> Result<Exit> {
    crate::login::Login::parse(&args.org)?;
    let settings = SyncSettings {
        in_flight_bound: args.timing.in_flight_bound()?,
        ..SyncSettings::default()
    };
    let Some(store) = ctx.open_existing()? else {
        return Err(crate::Error::OrgNotFollowed(args.org));
    };
    let deleted = orgs::delete_org(&store, &settings, &args.org, args.members)?;
    match ctx.output {
        OutputFormat::Json => output::print(&output::json(&deleted))?,
        OutputFormat::Table => {
            output::print(&format!("Stopped following {}", deleted.org))?;
            if !deleted.members_deleted.is_empty() {
                output::print(&format!(
                    "Stopped tracking: {}",
                    deleted.members_deleted.join(", ")
                ))?;
            }
        }
    }
    Ok(Exit::Ok)
}
