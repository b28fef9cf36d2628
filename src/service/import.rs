//! Bulk import: a list of logins (and `org:acme` organizations to follow) added concurrently
//! under the rules of a single add (or `org add`), idempotently, stopping cleanly (and saying what is left) when GitHub or Pipedrive says stop.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::error::Error;
use crate::exit::Exit;
use crate::login::Login;
use crate::service::{self, PersonSummary};
use crate::sync::App;
use crate::time::format_ms;

/// The logins of a list, checked before anything is asked of anyone.
#[derive(Debug, Default)]
pub struct LoginList {
    /// Valid logins in the list's order, each once (whatever its spelling elsewhere).
    pub logins: Vec<Entry>,
    /// Entries that are not logins, each once.
    pub invalid: Vec<Refused>,
}

/// A valid login of a list, and the line of the file it is on (none on the command line).
#[derive(Debug, Clone)]
pub struct Entry {
    pub login: Login,
    /// An organization to follow (`org:acme`), not a user.
    pub org: bool,
    pub line: Option<usize>,
    /// Where it stands in the list, so refusals are told in the list's order.
    position: usize,
}

impl LoginList {
    /// One login per line; blank lines and `#` comments (whole-line or trailing) ignored, and
    /// so is a UTF-8 byte-order mark (Windows editors write one).
    pub fn parse(text: &str) -> LoginList {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        LoginList::of(text.lines().enumerate().map(|(i, line)| {
            let entry = line.split('#').next().unwrap_or("").trim();
            (entry, Some(i + 1))
        }))
    }

    /// The logins given on the command line, under the same rules as a file's.
    pub fn from_args(logins: &[String]) -> LoginList {
        // Spaces around a login come from copying it, never from GitHub.
        LoginList::of(logins.iter().map(|login| (login.trim(), None)))
    }

    fn of<'a>(entries: impl Iterator<Item = (&'a str, Option<usize>)>) -> LoginList {
        let mut list = LoginList::default();
        let mut seen = HashSet::new();
        for (position, (entry, line)) in entries.enumerate() {
            // A blank line in a file is spacing; an empty argument is a mistake to point out.
            if entry.is_empty() && line.is_some() {
                continue;
            }
            // `org:acme` follows an organization; the same rules hold for its login.
            let (org, name) = match entry.get(..4) {
                Some(prefix) if prefix.eq_ignore_ascii_case("org:") => (true, entry[4..].trim()),
                _ => (false, entry),
            };
            let key = |login: &Login| match org {
                true => format!("org:{}", login.key()),
                false => login.key(),
            };
            let listed = Entry {
                org,
                login: match Login::parse(name) {
                    Ok(login) if seen.insert(key(&login)) => login,
                    Ok(_) => continue,
                    Err(err) if seen.insert(format!("\n{entry}")) => {
                        list.invalid.push(Refused::new(entry, line, position, &err));
                        continue;
                    }
                    Err(_) => continue,
                },
                line,
                position,
            };
            list.logins.push(listed);
        }
        list
    }
}

/// A login that was not added, and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Refused {
    pub login: String,
    /// Its line in the file (null on the command line).
    pub line: Option<usize>,
    pub error: String,
    #[serde(skip)]
    exit: Exit,
    /// Whether `error` already names the login.
    #[serde(skip)]
    names_login: bool,
    #[serde(skip)]
    position: usize,
}

impl Refused {
    fn new(login: &str, line: Option<usize>, position: usize, err: &Error) -> Refused {
        Refused {
            login: login.to_string(),
            line,
            position,
            error: err.to_string(),
            exit: Exit::from(err),
            names_login: matches!(
                err,
                Error::InvalidLogin { .. }
                    | Error::GithubUserNotFound(_)
                    | Error::GithubOrgNotFound(_)
                    | Error::AlreadyTracked(_)
                    | Error::NotTracked(_)
                    | Error::DeliveryUnsettled { .. }
                    | Error::PersonCreationUnsettled { .. }
                    | Error::LeaseLost(_)
            ),
        }
    }

    /// The refusal as one line: `users.txt:14: invalid GitHub username "a--b": ...` from a
    /// file (`source`), the login named once.
    pub fn describe(&self, source: Option<&str>) -> String {
        let place = match (source, self.line) {
            (Some(source), Some(line)) => format!("{source}:{line}: "),
            _ => String::new(),
        };
        match self.names_login {
            true => format!("{place}{}", self.error),
            false => format!("{place}{}: {}", self.login, self.error),
        }
    }
}

/// What an import did, every login of the list in exactly one of the four lists (in the
/// list's order).
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub added: Vec<PersonSummary>,
    /// The organizations of `org:` lines, followed now or already (their members as
    /// `org add` tracks them).
    pub orgs: Vec<crate::service::orgs::OrgAdded>,
    /// As listed.
    pub already_tracked: Vec<String>,
    /// The same, each as a line that names the user as tracked (`octocat is already tracked`).
    #[serde(skip)]
    pub already_tracked_lines: Vec<String>,
    pub refused: Vec<Refused>,
    /// Not tried: GitHub or Pipedrive stopped the import, or a signal did. Running the same
    /// list again (after `resume_after`, when given) picks them up; the others are then
    /// already tracked.
    pub not_done: Vec<String>,
    /// Why the import stopped early, if it did.
    pub stopped: Option<String>,
    /// When GitHub's hourly budget comes back, when that is what stopped the import.
    pub resume_after: Option<String>,
    /// The one rule for `add`'s status: already tracked is done, an invalid or unknown login
    /// is invalid input (2), other refusals a later run may get past (1); the most serious
    /// wins, and what stopped the import counts too.
    #[serde(skip)]
    pub exit: Exit,
}

impl ImportReport {
    /// The report of a list with nothing to add: only its invalid entries.
    pub fn only_invalid(list: LoginList) -> ImportReport {
        report(list.invalid, Vec::new(), Vec::new(), None)
    }

    /// The import was stopped by a signal (as `exit` says) after the adds under way.
    pub fn interrupted(&mut self, exit: Exit) {
        if let Some(signal) = exit.signal_name() {
            self.stopped = Some(format!("interrupted by {signal}"));
            self.exit = self.exit.worst(exit);
        }
    }
}

/// One login's outcome.
enum Outcome {
    Added(Box<PersonSummary>),
    Followed(Box<crate::service::orgs::OrgAdded>),
    /// With the error that says so, in the tracked spelling.
    AlreadyTracked(Error),
    Refused(Error),
}

/// Adds every login of `list` with `workers` at once, as `add` would one by one.
pub fn import(
    engine: &App,
    list: LoginList,
    backfill: bool,
    workers: usize,
    progress: &ProgressBar,
) -> ImportReport {
    let LoginList { logins, invalid } = list;
    progress.set_length(logins.len() as u64);
    let queue = Mutex::new(logins.into_iter().enumerate().collect::<VecDeque<_>>());
    let outcomes = Mutex::new(Vec::new());
    let stop = Mutex::new(None::<Error>);
    let stopping = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                while !stopping.load(Ordering::SeqCst) && !engine.shutdown.load(Ordering::SeqCst) {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some((index, entry)) = next else { break };
                    progress.set_message(entry.login.to_string());
                    let outcome = match add_one(engine, &entry, backfill) {
                        Ok(outcome) => outcome,
                        Err(err) => {
                            stopping.store(true, Ordering::SeqCst);
                            stop.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(err);
                            // Not done: it goes back for the next run.
                            queue
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push_front((index, entry));
                            break;
                        }
                    };
                    outcomes
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((index, entry, outcome));
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    let mut outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
    outcomes.sort_by_key(|(index, _, _)| *index);
    let mut not_done: Vec<_> = queue
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .collect();
    not_done.sort_by_key(|(index, _)| *index);
    let stop = stop.into_inner().unwrap_or_else(|e| e.into_inner());
    let resume_after = match &stop {
        Some(Error::Github(_)) => engine.github.budget_back_at().map(format_ms),
        _ => None,
    };
    let outcomes = outcomes.into_iter().map(|(_, e, o)| (e, o)).collect();
    let not_done = not_done.into_iter().map(|(_, e)| e).collect();
    let mut report = report(invalid, outcomes, not_done, stop);
    report.resume_after = resume_after;
    report
}

/// One login's outcome, or the error that stops the whole import: one that concerns every
/// login (a rate limit, a block, a refused token, no database).
fn add_one(engine: &App, entry: &Entry, backfill: bool) -> Result<Outcome, Error> {
    if entry.org {
        return match service::orgs::add_org(engine, entry.login.as_str()) {
            Ok(added) => Ok(Outcome::Followed(Box::new(added))),
            Err(err) if stops_everyone(&err) => Err(err),
            Err(err) => Ok(Outcome::Refused(err)),
        };
    }
    match service::add_person(engine, entry.login.as_str(), backfill) {
        Ok(detail) => Ok(Outcome::Added(Box::new(detail.person))),
        Err(err @ Error::AlreadyTracked(_)) => Ok(Outcome::AlreadyTracked(err)),
        Err(err) if stops_everyone(&err) => Err(err),
        Err(err) => Ok(Outcome::Refused(err)),
    }
}

fn stops_everyone(err: &Error) -> bool {
    match err {
        Error::Github(api) | Error::Pipedrive(api) => api.stops_service(),
        Error::DatabaseUnavailable(_)
        | Error::DatabaseUnreachable { .. }
        | Error::MissingPipedriveToken => true,
        Error::Database(db) => crate::db::is_unavailable(db),
        _ => false,
    }
}

fn report(
    invalid: Vec<Refused>,
    outcomes: Vec<(Entry, Outcome)>,
    not_done: Vec<Entry>,
    stop: Option<Error>,
) -> ImportReport {
    let mut report = ImportReport {
        refused: invalid,
        ..ImportReport::default()
    };
    for (entry, outcome) in outcomes {
        match outcome {
            Outcome::Added(person) => report.added.push(*person),
            Outcome::Followed(added) => {
                // A member that failed is refused under the organization's line.
                for failed in &added.changes.failed {
                    let err = Error::PartlyFailed(format!(
                        "{} (member of {}): {}",
                        failed.login, added.org.org, failed.error
                    ));
                    let mut refused = Refused::new(
                        &format!("org:{}", entry.login),
                        entry.line,
                        entry.position,
                        &err,
                    );
                    refused.exit = refused.exit.worst(added.changes.exit);
                    refused.names_login = true;
                    report.refused.push(refused);
                }
                report.orgs.push(*added);
            }
            Outcome::AlreadyTracked(said) => {
                report.already_tracked.push(entry.login.to_string());
                report.already_tracked_lines.push(said.to_string());
            }
            Outcome::Refused(err) => report.refused.push(Refused::new(
                &match entry.org {
                    true => format!("org:{}", entry.login),
                    false => entry.login.to_string(),
                },
                entry.line,
                entry.position,
                &err,
            )),
        }
    }
    report.refused.sort_by_key(|refused| refused.position);
    report.exit = report
        .refused
        .iter()
        .fold(Exit::Ok, |exit, refused| exit.worst(refused.exit));
    report.not_done = not_done
        .into_iter()
        .map(|e| match e.org {
            true => format!("org:{}", e.login),
            false => e.login.to_string(),
        })
        .collect();
    if let Some(err) = stop {
        report.exit = report.exit.worst(Exit::from(&err));
        report.stopped = Some(err.to_string());
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_skips_comments_and_blanks_and_folds_duplicates() {
        let list = LoginList::parse(
            "\u{feff}# the team\noctocat\n\n  Hubot  # ops\nOCTOCAT\nnot a login\nhubot\nnot a login\n-bad\n",
        );
        let logins: Vec<(&str, Option<usize>)> = list
            .logins
            .iter()
            .map(|e| (e.login.as_str(), e.line))
            .collect();
        assert_eq!(logins, [("octocat", Some(2)), ("Hubot", Some(4))]);
        let invalid: Vec<&str> = list.invalid.iter().map(|r| r.login.as_str()).collect();
        assert_eq!(invalid, ["not a login", "-bad"], "each named once");
        assert_eq!(
            list.invalid[0].describe(Some("team.txt")),
            "team.txt:6: invalid GitHub username \"not a login\": only letters, digits, '-' and '_' are allowed"
        );
        assert_eq!(list.invalid[1].line, Some(9));
    }

    #[test]
    fn org_lines_name_organizations_under_the_same_rules() {
        let list = LoginList::parse("org:acme\nORG: Acme\nacme\norg:a--b\n");
        let entries: Vec<(&str, bool)> = list
            .logins
            .iter()
            .map(|e| (e.login.as_str(), e.org))
            .collect();
        assert_eq!(
            entries,
            [("acme", true), ("acme", false)],
            "an organization and a user of one name are two entries"
        );
        assert_eq!(list.invalid.len(), 1);
        assert_eq!(list.invalid[0].line, Some(4));
        assert!(list.invalid[0].describe(Some("l.txt")).contains("\"a--b\""));
    }

    #[test]
    fn the_command_line_folds_like_a_file_and_names_no_line() {
        let args = ["octocat", "OCTOCAT", "hubot", "a--b"].map(String::from);
        let list = LoginList::from_args(&args);
        let logins: Vec<&str> = list.logins.iter().map(|e| e.login.as_str()).collect();
        assert_eq!(logins, ["octocat", "hubot"]);
        assert_eq!(list.invalid[0].line, None);
        assert!(list.invalid[0]
            .describe(None)
            .starts_with("invalid GitHub username \"a--b\""));
        let report = ImportReport::only_invalid(list);
        assert_eq!(report.exit, Exit::Usage);
    }

    #[test]
    fn an_empty_argument_is_refused_and_spaces_around_one_are_dropped() {
        let args = ["", " octocat "].map(String::from);
        let list = LoginList::from_args(&args);
        let logins: Vec<&str> = list.logins.iter().map(|e| e.login.as_str()).collect();
        assert_eq!(logins, ["octocat"]);
        assert_eq!(
            list.invalid[0].describe(None),
            "invalid GitHub username \"\": it is empty"
        );
    }

    #[test]
    fn a_refusal_that_does_not_name_the_login_is_prefixed_with_it() {
        let err = Error::PartlyFailed("Pipedrive said no".into());
        let refused = Refused::new("octocat", Some(3), 2, &err);
        assert_eq!(
            refused.describe(Some("users.txt")),
            "users.txt:3: octocat: Pipedrive said no"
        );
        assert_eq!(refused.describe(None), "octocat: Pipedrive said no");
    }
}
