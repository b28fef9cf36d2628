//! `gisttrack doctor`: checks the database, GitHub, Pipedrive and the configuration in effect,
//! and says what to do about anything that is not well. Spends none of GitHub's budget.

use std::sync::Arc;

use serde::Serialize;

use crate::cli::{ApiTokenArgs, CommonArgs, EngineArgs, OutputArgs};
use crate::clients::{GithubApi, PipedriveApi};
use crate::config::DatabaseTarget;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::metrics::Metrics;
use crate::output::{self, table, Column, Fit, OutputFormat};
use crate::time::format_ms;
use unicode_width::UnicodeWidthStr;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub token: ApiTokenArgs,

    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How one part stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Not set up, so what needs it stays off; not an error.
    Off,
    Error,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub part: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do, when it is not well.
    pub remedy: Option<String>,
    #[serde(skip)]
    exit: Exit,
}

impl Check {
    fn ok(part: &'static str, detail: impl Into<String>) -> Check {
        Check {
            part,
            status: Status::Ok,
            detail: detail.into(),
            remedy: None,
            exit: Exit::Ok,
        }
    }

    fn off(part: &'static str, detail: impl Into<String>, remedy: impl Into<String>) -> Check {
        Check {
            status: Status::Off,
            remedy: Some(remedy.into()),
            ..Check::ok(part, detail)
        }
    }

    /// A part that failed with `err`, described as `detail` (the error's text, or a part of
    /// it); advice the text ends with is left to the remedy column, said once.
    fn failed(part: &'static str, err: &Error, detail: String, remedy: &str) -> Check {
        let detail = match detail.strip_suffix(remedy) {
            Some(rest) => rest.trim_end_matches([' ', ';', ':', ',']).to_string(),
            None => detail,
        };
        Check {
            status: Status::Error,
            remedy: Some(remedy.into()),
            exit: Exit::from(err),
            ..Check::ok(part, detail)
        }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    exit_code: u8,
    checks: &'a [Check],
}

pub fn run(args: DoctorArgs, ctx: &super::Context) -> Result<Exit> {
    super::check_upstream_urls(&args.engine.upstream)?;
    let metrics = Arc::new(Metrics::default());
    let (github, pipedrive) = super::clients(&args.engine.upstream, &metrics);
    let mut checks = configuration(&args, ctx.target());
    checks.push(database(ctx.target()));
    checks.push(github_check(github.as_ref(), &args));
    checks.push(pipedrive_check(pipedrive.as_deref()));
    let exit = checks.iter().fold(Exit::Ok, |worst, c| worst.worst(c.exit));
    match ctx.output {
        OutputFormat::Json => output::print(&output::json(&Report {
            ok: exit == Exit::Ok,
            exit_code: exit.code(),
            checks: &checks,
        }))?,
        OutputFormat::Table => output::print(&render_checks(&checks))?,
    }
    Ok(exit)
}

/// The checks as a table when it fits the terminal, else one block per part: a value too
/// wide for a column (a long path or URL) would otherwise stretch the table past the edge,
/// where the terminal itself would split it.
fn render_checks(checks: &[Check]) -> String {
    let target = table::Target::stdout();
    let rows = checks
        .iter()
        .map(|c| {
            vec![
                c.part.to_string(),
                status_word(c.status).to_string(),
                c.detail.clone(),
                c.remedy.clone().unwrap_or_default(),
            ]
        })
        .collect();
    // Nothing is left out of a diagnosis: the prose wraps instead.
    const COLUMNS: [Column; 4] = [
        Column::always("PART", Fit::Whole),
        Column::always("STATUS", Fit::Whole),
        Column::always("DETAIL", Fit::Wrap),
        Column::always("WHAT TO DO", Fit::Wrap),
    ];
    let rendered = table::render(&COLUMNS, rows, target).text;
    let fits = |width: usize| rendered.lines().all(|line| line.width() <= width);
    match target.width {
        Some(width) if !fits(width) => blocks(checks, width),
        _ => rendered,
    }
}

/// `part: status`, then the detail and what to do, wrapped between words and indented.
fn blocks(checks: &[Check], width: usize) -> String {
    let indent = |text: &str| {
        table::wrap(&table::one_line(text), width.saturating_sub(2))
            .lines()
            .map(|line| format!("  {line}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    checks
        .iter()
        .map(|c| {
            let mut block = format!(
                "{}: {}\n{}",
                c.part,
                status_word(c.status),
                indent(&c.detail)
            );
            if let Some(remedy) = &c.remedy {
                block.push('\n');
                block.push_str(&indent(&format!("What to do: {remedy}")));
            }
            block
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Off => "off",
        Status::Error => "ERROR",
    }
}

/// The settings in effect, secrets shown only as set or not.
fn configuration(args: &DoctorArgs, target: &DatabaseTarget) -> Vec<Check> {
    let upstream = &args.engine.upstream;
    let set = |set: bool| if set { "set" } else { "not set" };
    let mut checks = vec![Check::ok(
        "configuration",
        format!(
            "database {} ({}); GitHub {} (GITHUB_TOKEN {}); Pipedrive {} (PIPEDRIVE_TOKEN {}); \
             GISTTRACK_API_TOKEN {}; GISTTRACK_NOTIFY_URL {}; GISTTRACK_DIGEST_URL {}",
            target.redacted(),
            target.backend(),
            upstream.github_api_url,
            set(upstream.tokens.github_token().is_some()),
            upstream.pipedrive_api_url,
            set(upstream.tokens.pipedrive_token().is_some()),
            set(args.token.api_token().is_some()),
            set(args.engine.notify.notify_url().is_some()),
            set(args.engine.notify.digest_url().is_some()),
        ),
    )];
    let timing = upstream.timing.in_flight_bound().map_err(|err| {
        let remedy = "raise --in-flight-bound (GISTTRACK_IN_FLIGHT_BOUND) or lower --http-timeout";
        (err, remedy)
    });
    let settings = timing.and_then(|bound| {
        super::check_activity_type(&args.engine)
            .map(|()| bound)
            .map_err(|err| (err, super::ACTIVITY_TYPE_REMEDY))
    });
    let settings = settings.map(|bound| {
        format!(
            "HTTP timeout {}, in-flight bound {}, longest rate-limit wait {}, concurrency {}, \
             activity type {:?}{}",
            humantime::format_duration(upstream.timing.http_timeout),
            humantime::format_duration(bound),
            humantime::format_duration(upstream.rate_limit_max_wait),
            args.engine.workers.concurrency,
            args.engine.activity_type,
            if args.engine.activity_done {
                ", created done"
            } else {
                ""
            },
        )
    });
    checks.push(match settings {
        Ok(detail) => Check::ok("settings", detail),
        Err((err, remedy)) => Check::failed("settings", &err, err.to_string(), remedy),
    });
    checks
}

fn database(target: &DatabaseTarget) -> Check {
    match crate::db::inspect(target) {
        Ok(found) if !found.exists => Check::ok(
            "database",
            format!(
                "{} does not exist yet; the first add, sync or serve creates it",
                target.redacted()
            ),
        ),
        Ok(found) => {
            let people = found.people.map_or("no people table yet".to_string(), |n| {
                format!("{n} people tracked")
            });
            let migrations = match found.pending_migrations {
                0 => "migrations applied".to_string(),
                n => format!("{n} migration(s) to apply at the next command's start"),
            };
            let detail = format!("{} reachable; {migrations}; {people}", target.backend());
            match found.unlinked.unwrap_or(0) {
                0 => Check::ok("database", detail),
                n => Check::off(
                    "database",
                    format!(
                        "{detail}; {n} unlinked (their Pipedrive person was deleted: nothing is sent for them)"
                    ),
                    "see `gisttrack list`, then `gisttrack relink <login> --to <person id>` or `--create`",
                ),
            }
        }
        Err(err) => Check::failed(
            "database",
            &err,
            err.to_string(),
            "check DATABASE_URL and that the database server is running",
        ),
    }
}

fn github_check(github: &dyn GithubApi, args: &DoctorArgs) -> Check {
    let has_token = args.engine.upstream.tokens.github_token().is_some();
    match github.rate_limit() {
        Ok(budget) => {
            let detail = format!(
                "{}; {} of {} requests left this hour (resets {})",
                if has_token {
                    "token accepted"
                } else {
                    "no token: 60 requests an hour, and unchanged lists are not free"
                },
                budget.remaining,
                budget.limit,
                format_ms(budget.reset * 1000),
            );
            if budget.remaining == 0 {
                Check::off("github", detail, "wait for the reset, or set GITHUB_TOKEN")
            } else if has_token {
                Check::ok("github", detail)
            } else {
                Check::off(
                    "github",
                    detail,
                    "set GITHUB_TOKEN for 5,000 requests an hour",
                )
            }
        }
        // The part names the service: the detail is the client's own message.
        Err(api) => {
            let detail = api.to_string();
            let err = Error::Github(api);
            let remedy = match Exit::from(&err) {
                Exit::Refused => "check GITHUB_TOKEN",
                _ => "check GITHUB_API_URL and the network",
            };
            Check::failed("github", &err, detail, remedy)
        }
    }
}

fn pipedrive_check(pipedrive: Option<&dyn PipedriveApi>) -> Check {
    let Some(pipedrive) = pipedrive else {
        return Check::off(
            "pipedrive",
            "no token: add, sync and the serve loop are off (reads still work)",
            "set PIPEDRIVE_TOKEN",
        );
    };
    match pipedrive.me() {
        Ok(account) => {
            let budget = account.daily_budget_left.map_or(String::new(), |left| {
                format!("; {left} left of today's budget")
            });
            let domain = account
                .company_domain
                .map_or(String::new(), |d| format!(" ({d}.pipedrive.com)"));
            Check::ok(
                "pipedrive",
                format!(
                    "token accepted: {} at {}{domain}{budget}",
                    account.user, account.company
                ),
            )
        }
        Err(api) => {
            let detail = api.to_string();
            let err = Error::Pipedrive(api);
            let remedy = match Exit::from(&err) {
                Exit::Refused => "check PIPEDRIVE_TOKEN",
                _ => "check PIPEDRIVE_API_URL and the network",
            };
            Check::failed("pipedrive", &err, detail, remedy)
        }
    }
}
