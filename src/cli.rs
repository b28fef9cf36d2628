//! The command line: global options, the subcommands, and the option groups they share.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::cmd;
use crate::config::{ArgSecret, Secret};
use crate::exit::{ADD_EXIT_CODES_HELP, EXIT_CODES_HELP};
use crate::logging::LogFormat;
use crate::output::table;
use crate::output::OutputFormat;

#[derive(Debug, Parser)]
#[command(
    name = "gisttrack",
    version,
    about = "Track GitHub users' public gists and mirror each new one into Pipedrive as exactly one activity.",
    propagate_version = true,
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Database for the command (as the command's own --database-url, which wins).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: Option<ArgSecret>,

    /// Log format for the command (as the command's own --log-format, which wins).
    #[arg(long, value_enum, env = "GISTTRACK_LOG_FORMAT")]
    log_format: Option<LogFormat>,

    /// Output format for the command (as the command's own -o, which wins).
    #[arg(short, long, value_enum, env = "GISTTRACK_OUTPUT")]
    output: Option<OutputFormat>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the command line. In `--help`, a variable that is not set is named without
    /// an empty value (`[env: GISTTRACK_LISTEN]`, not `[env: GISTTRACK_LISTEN=]`).
    pub fn parse_args() -> Cli {
        use clap::FromArgMatches;
        let mut matches = Cli::definition().get_matches();
        Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.exit())
    }

    /// The command line as `gisttrack` parses it: usage lines that show only what must be
    /// typed, and help without the values of unset variables.
    pub fn definition() -> clap::Command {
        use clap::CommandFactory;
        plain_usage(hide_unset_env_values(Cli::command()))
    }

    fn common(&self) -> Option<&CommonArgs> {
        Some(match &self.command {
            Command::Add(a) => &a.common,
            Command::List(a) => &a.common,
            Command::Show(a) => &a.common,
            Command::Delete(a) => &a.common,
            Command::Sync(a) => &a.common,
            Command::Serve(a) => &a.common,
            Command::Doctor(a) => &a.common,
            Command::Relink(a) => &a.common,
            Command::Org(a) => a.common(),
            Command::Completions(_) => return None,
        })
    }

    /// `--database-url` / `DATABASE_URL` for the command; may carry a password.
    pub fn database_url(&self) -> Option<Secret> {
        self.common()
            .and_then(|own| Secret::given(&own.database_url))
            .or_else(|| Secret::given(&self.database_url))
    }

    /// `--lock-wait` for the command.
    pub fn lock_wait(&self) -> Duration {
        self.common()
            .map_or(crate::db::default_lock_wait(), |own| own.lock_wait)
    }

    /// `--log-format` for the command (text by default).
    pub fn log_format(&self) -> LogFormat {
        self.common()
            .and_then(|own| own.log_format)
            .or(self.log_format)
            .unwrap_or_default()
    }

    /// `-o` for the command (table by default).
    pub fn output(&self) -> OutputFormat {
        let own = match &self.command {
            Command::Add(a) => a.output.output,
            Command::List(a) => a.output.output,
            Command::Show(a) => a.output.output,
            Command::Delete(a) => a.output.output,
            Command::Sync(a) => a.output.output,
            Command::Doctor(a) => a.output.output,
            Command::Relink(a) => a.output.output,
            Command::Org(a) => a.output().output,
            Command::Serve(_) | Command::Completions(_) => None,
        };
        own.or(self.output).unwrap_or(OutputFormat::Table)
    }
}

fn hide_unset_env_values(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| {
            let unset = arg
                .get_env()
                .is_some_and(|name| std::env::var_os(name).is_none_or(|v| v.is_empty()));
            if unset {
                arg.hide_env_values(true)
            } else {
                arg
            }
        })
        .mut_subcommands(hide_unset_env_values)
}

/// Pins each usage line to the one with nothing given. Otherwise, on a usage error, clap
/// adds every option the command received, from the environment too: after `export
/// GITHUB_API_URL=...`, `gisttrack add` would print `Usage: gisttrack add --github-api-url
/// <URL> ... <LOGIN>...`, as if those were required.
fn plain_usage(mut command: clap::Command) -> clap::Command {
    command.build();
    fn pin(mut command: clap::Command) -> clap::Command {
        let usage = command.render_usage().to_string();
        let usage = usage.trim_start_matches("Usage:").trim().to_string();
        command.override_usage(usage).mut_subcommands(pin)
    }
    pin(command)
}

/// `-o, --output`, for the commands that print data.
#[derive(Debug, Args, Clone, Copy)]
pub struct OutputArgs {
    /// Output format: a table (plain columns when piped) or JSON.
    #[arg(short, long, value_enum, env = "GISTTRACK_OUTPUT")]
    output: Option<OutputFormat>,
}

/// What every command that works on the data takes: the database and the log format.
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db.
    /// Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed's DATABASE_HOST,
    /// DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: Option<ArgSecret>,

    /// Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level).
    #[arg(long, value_enum, env = "GISTTRACK_LOG_FORMAT")]
    log_format: Option<LogFormat>,

    /// How long a statement waits for a lock that another process or request holds (a SQLite
    /// file being written, a MySQL row) before the database counts as busy for now.
    #[arg(long, env = "GISTTRACK_LOCK_WAIT", default_value = crate::defaults::LOCK_WAIT, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lock_wait: Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start tracking GitHub users (checks GitHub, links or creates the Pipedrive person).
    #[command(
        override_usage = "gisttrack add [OPTIONS] <LOGIN>...\n       gisttrack add [OPTIONS] --from-file <FILE>",
        after_help = format!("{EXIT_CODES_HELP}\n\n{ADD_EXIT_CODES_HELP}")
    )]
    Add(cmd::add::AddArgs),
    #[command(
        about = cmd::list::ABOUT,
        long_about = table::fitting_help(cmd::list::ABOUT, &cmd::list::COLUMNS),
        after_help = EXIT_CODES_HELP
    )]
    List(cmd::list::ListArgs),
    #[command(
        about = cmd::show::ABOUT,
        long_about = table::fitting_help(cmd::show::ABOUT, &cmd::show::COLUMNS),
        after_help = EXIT_CODES_HELP
    )]
    Show(cmd::show::ShowArgs),
    /// Stop tracking a user and remove their rows.
    #[command(after_help = EXIT_CODES_HELP)]
    Delete(cmd::delete::DeleteArgs),
    /// Run one sync pass: discover new gists, deliver each as one Pipedrive activity.
    #[command(after_help = EXIT_CODES_HELP)]
    Sync(cmd::sync::SyncArgs),
    /// Link a user to another Pipedrive person (after theirs was deleted, or to move them).
    #[command(after_help = EXIT_CODES_HELP)]
    Relink(cmd::relink::RelinkArgs),
    /// Follow GitHub organizations: their public members tracked, under one Pipedrive organization.
    #[command(after_help = EXIT_CODES_HELP)]
    Org(cmd::org::OrgArgs),
    /// Serve the HTTP API and run the sync loop.
    #[command(after_help = EXIT_CODES_HELP)]
    Serve(cmd::serve::ServeArgs),
    /// Check the database, GitHub, Pipedrive and the configuration in effect.
    #[command(after_help = EXIT_CODES_HELP)]
    Doctor(cmd::doctor::DoctorArgs),
    /// Print a shell completion script.
    #[command(after_help = EXIT_CODES_HELP)]
    Completions(cmd::completions::CompletionsArgs),
}

/// Declares a group of secret options, each with the same promises: read from the command
/// line or its variable, never shown in `--help`, and an empty value means unset (the
/// accessor, named after the field, applies [`Secret::given`]).
macro_rules! secret_args {
    ($(#[$meta:meta])* $name:ident { $($(#[doc = $doc:literal])* $field:ident = $env:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Args, Clone)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                #[arg(long, env = $env, hide_env_values = true, value_name = "TOKEN")]
                $field: Option<ArgSecret>,
            )+
        }

        impl $name {
            $(
                pub fn $field(&self) -> Option<Secret> {
                    Secret::given(&self.$field)
                }
            )+
        }
    };
}

secret_args!(
    /// The GitHub and Pipedrive tokens, for every command that talks to them. Prefer the
    /// environment: command-line values are visible to other local users in `ps`.
    TokenArgs {
        /// GitHub token (optional; raises the hourly budget and makes unchanged lists free).
        github_token = "GITHUB_TOKEN",
        /// Pipedrive API token (sent only in the x-api-token header).
        pipedrive_token = "PIPEDRIVE_TOKEN",
    }
);

secret_args!(
    /// The token `serve` asks of API clients.
    ApiTokenArgs {
        /// Require `Authorization: Bearer <token>` on every /api/v1 route.
        api_token = "GISTTRACK_API_TOKEN",
    }
);

impl ApiTokenArgs {
    /// The API token `serve` requires, refused when blank or short ([`Secret::api_token`]).
    pub fn strong_api_token(&self) -> crate::Result<Option<Secret>> {
        Secret::api_token(&self.api_token)
    }
}

/// Where GitHub and Pipedrive are, the tokens for them, and how patient to be.
#[derive(Debug, Args, Clone)]
pub struct UpstreamArgs {
    /// GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3).
    #[arg(
        long,
        env = "GITHUB_API_URL",
        hide_env_values = true,
        default_value = crate::defaults::GITHUB_API_URL,
        value_name = "URL"
    )]
    pub github_api_url: String,

    /// Pipedrive company URL; requests go to {URL}/api/v2/...
    #[arg(
        long,
        env = "PIPEDRIVE_API_URL",
        hide_env_values = true,
        default_value = crate::defaults::PIPEDRIVE_API_URL,
        value_name = "URL"
    )]
    pub pipedrive_api_url: String,

    #[command(flatten)]
    pub tokens: TokenArgs,

    /// The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive's, the
    /// token's user). Persons found, not created, keep the owner a salesperson gave them.
    #[arg(long, env = "GISTTRACK_PERSON_OWNER", value_name = "USER_ID", value_parser = clap::value_parser!(i64).range(1..))]
    pub person_owner: Option<i64>,

    /// Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service.
    #[arg(long, env = "GISTTRACK_RATE_LIMIT_MAX_WAIT", default_value = crate::defaults::RATE_LIMIT_MAX_WAIT, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub rate_limit_max_wait: Duration,

    #[command(flatten)]
    pub timing: TimingArgs,
}

impl UpstreamArgs {
    /// The Pipedrive token, or the error that says how to give one: checked before anything
    /// is opened, by the commands that write to Pipedrive.
    pub fn require_pipedrive(&self) -> crate::Result<Secret> {
        self.tokens
            .pipedrive_token()
            .ok_or(crate::Error::MissingPipedriveToken)
    }
}

/// How long a request may take, and how long one that got no answer may still land; for the
/// commands that talk to GitHub and Pipedrive, and for `delete`, which must know how long a
/// delivery sent before it may still land.
#[derive(Debug, Args, Clone)]
pub struct TimingArgs {
    /// Timeout for one request to GitHub or Pipedrive.
    #[arg(long, env = "GISTTRACK_HTTP_TIMEOUT", default_value = crate::defaults::HTTP_TIMEOUT, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub http_timeout: Duration,

    /// How long a Pipedrive write that got no answer may still land; until then it is neither
    /// looked for nor sent again [default: three HTTP timeouts, at least 60s].
    #[arg(long, env = "GISTTRACK_IN_FLIGHT_BOUND", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub in_flight_bound: Option<Duration>,
}

impl TimingArgs {
    /// The in-flight bound in effect; one shorter than the HTTP timeout would let a resend
    /// overtake a request that is still running, so it is refused.
    pub fn in_flight_bound(&self) -> crate::Result<Duration> {
        match self.in_flight_bound {
            None => Ok(crate::sync::default_in_flight_bound(self.http_timeout)),
            Some(bound) if bound < self.http_timeout => Err(crate::Error::Config(format!(
                "--in-flight-bound ({}) must be at least --http-timeout ({}): a request can run that long",
                humantime::format_duration(bound),
                humantime::format_duration(self.http_timeout)
            ))),
            Some(bound) => Ok(bound),
        }
    }
}

/// Where failure alerts and the digest go; for `sync` and `serve`.
#[derive(Debug, Args, Clone)]
pub struct NotifyArgs {
    /// POST a JSON message (Slack-compatible `text`) here when a pass ends with failures,
    /// and once when the next pass is clean.
    #[arg(
        long,
        env = "GISTTRACK_NOTIFY_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    notify_url: Option<ArgSecret>,

    /// POST one JSON message (Slack-compatible `text`) here after each pass that delivered
    /// anything: the new gists by person, with owner and Pipedrive link. Nothing otherwise.
    #[arg(
        long,
        env = "GISTTRACK_DIGEST_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    digest_url: Option<ArgSecret>,
}

impl NotifyArgs {
    /// The webhook (a secret: chat webhooks carry their key in the URL).
    pub fn notify_url(&self) -> Option<Secret> {
        Secret::given(&self.notify_url)
    }

    /// The digest's webhook (a secret, as the notification's is).
    pub fn digest_url(&self) -> Option<Secret> {
        Secret::given(&self.digest_url)
    }
}

/// Who is never tracked through an organization, and what happens to those who leave one;
/// for `org add`, `add --from-file` (its `org:` lines), `sync` and `serve`.
#[derive(Debug, Args, Clone, Default)]
pub struct OrgRulesArgs {
    /// A GitHub login never tracked through an organization (your own engineers); repeatable,
    /// or comma separated. Bots are always left out.
    #[arg(
        long,
        env = "GISTTRACK_EXCLUDE",
        value_delimiter = ',',
        value_name = "LOGIN"
    )]
    pub exclude: Vec<String>,

    /// A file of logins never tracked through an organization: one per line, `#` comments.
    #[arg(long, env = "GISTTRACK_EXCLUDE_FILE", value_name = "FILE")]
    pub exclude_file: Option<std::path::PathBuf>,

    /// Members who leave a followed organization stop being tracked (default: kept, marked as left).
    #[arg(long, env = "GISTTRACK_DROP_LEAVERS")]
    pub drop_leavers: bool,
}

impl OrgRulesArgs {
    /// Applies the rules to a pass's settings; an exclude file that cannot be read is an error.
    pub fn apply(&self, settings: &mut crate::sync::SyncSettings) -> crate::Result<()> {
        let mut logins = self.exclude.clone();
        if let Some(path) = &self.exclude_file {
            let text =
                std::fs::read_to_string(path).map_err(|e| crate::Error::InputUnreadable {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            logins.extend(
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or("").to_string()),
            );
        }
        settings.exclude = crate::service::orgs::exclusions(logins.iter().map(String::as_str));
        settings.drop_leavers = self.drop_leavers;
        Ok(())
    }
}

/// `--concurrency`, for `sync`, `serve` and `add`.
#[derive(Debug, Args, Clone)]
pub struct ConcurrencyArgs {
    /// Users worked on at once by this process (1-256). A pass takes about users x round
    /// trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent
    /// requests per token; well beyond that, expect its secondary rate limit.
    #[arg(
        long,
        env = "GISTTRACK_CONCURRENCY",
        default_value_t = crate::defaults::CONCURRENCY,
        value_parser = clap::value_parser!(u16).range(1..=crate::sync::MAX_CONCURRENCY as i64)
    )]
    pub concurrency: u16,
}

/// How a sync pass runs; shared by `sync` and `serve`.
#[derive(Debug, Args, Clone)]
pub struct EngineArgs {
    #[command(flatten)]
    pub upstream: UpstreamArgs,

    #[command(flatten)]
    pub notify: NotifyArgs,

    #[command(flatten)]
    pub workers: ConcurrencyArgs,

    #[command(flatten)]
    pub orgs: OrgRulesArgs,

    /// Pipedrive activity type key for new gists (call, meeting, task, deadline, email, lunch, or a custom key).
    #[arg(
        long,
        env = "GISTTRACK_ACTIVITY_TYPE",
        default_value = "task",
        value_name = "KEY"
    )]
    pub activity_type: String,

    /// Create activities already marked done.
    #[arg(long, env = "GISTTRACK_ACTIVITY_DONE")]
    pub activity_done: bool,

    /// Whose activities are: `person` (the Pipedrive person's owner when it is delivered, so
    /// the salesperson sees it in their list), `token` (the token's user), or a Pipedrive user id.
    #[arg(
        long,
        env = "GISTTRACK_ACTIVITY_OWNER",
        default_value = "person",
        value_name = "person|token|USER_ID"
    )]
    pub activity_owner: crate::sync::ActivityOwner,

    /// Link each activity to the person's open deal when they have exactly one (never a
    /// guess between several).
    #[arg(long, env = "GISTTRACK_LINK_OPEN_DEAL")]
    pub link_open_deal: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_the_configuration_hides_every_secret() {
        let cli = Cli::parse_from([
            "gisttrack",
            "--database-url",
            "mysql://app:db-secret@db/gt",
            "serve",
            "--github-token",
            "gh-secret",
            "--pipedrive-token",
            "pd-secret",
            "--api-token",
            "api-secret",
            "--digest-url",
            "https://hooks.example/digest-secret",
        ]);
        let debug = format!("{cli:?}");
        for secret in [
            "db-secret",
            "gh-secret",
            "pd-secret",
            "api-secret",
            "digest-secret",
        ] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
    }
}
