//! Bulk import: a list of logins added concurrently under the rules of a single add,
//! idempotently, stopping cleanly (and saying what is left) when GitHub or Pipedrive says stop.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::error::Error;
use crate::exit::Exit;
use crate::login::Login;
use crate::service::{self, PersonSummary};
use crate::sync::Engine;
use crate::time::format_ms;

/// The logins of a list, checked before anything is asked of anyone.
#[derive(Debug, Default)]
pub struct LoginList {
    /// Valid logins in the list's order, each once (whatever its spelling elsewhere).
    pub logins: Vec<Login>,
    /// Lines that are not logins, each once.
    pub invalid: Vec<Refused>,
}

impl LoginList {
    /// One login per line; blank lines and `#` comments (whole-line or trailing) ignored.
    pub fn parse(text: &str) -> LoginList {
        let mut list = LoginList::default();
        let mut seen = HashSet::new();
        for line in text.lines() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            match Login::parse(entry) {
                Ok(login) if seen.insert(login.key()) => list.logins.push(login),
                Ok(_) => {}
                Err(err) if seen.insert(format!("\n{entry}")) => list.invalid.push(Refused {
                    login: entry.to_string(),
                    error: err.to_string(),
                }),
                Err(_) => {}
            }
        }
        list
    }
}

/// A line that was not added, and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Refused {
    pub login: String,
    pub error: String,
}

/// What an import did, every login of the list in exactly one of the four lists (in the
/// list's order).
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub added: Vec<PersonSummary>,
    pub already_tracked: Vec<String>,
    pub refused: Vec<Refused>,
    /// Not tried: GitHub or Pipedrive stopped the import. Running the same list again (after
    /// `resume_after`, when given) picks them up; the others are then already tracked.
    pub not_done: Vec<String>,
    /// Why the import stopped early, if it did.
    pub stopped: Option<String>,
    /// When GitHub's hourly budget comes back, when that is what stopped the import.
    pub resume_after: Option<String>,
    #[serde(skip)]
    pub exit: Exit,
}

/// One login's outcome.
enum Outcome {
    Added(Box<PersonSummary>),
    AlreadyTracked,
    Refused(String),
}

/// Adds every login of `list` with `workers` at once, as `add` would one by one.
pub fn import(
    engine: &Engine,
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
                    let Some((index, login)) = next else { break };
                    progress.set_message(login.to_string());
                    let outcome = match add_one(engine, &login, backfill) {
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
                                .push_front((index, login));
                            break;
                        }
                    };
                    outcomes
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((index, login, outcome));
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
    report(engine, invalid, outcomes, not_done, stop)
}

/// One login's outcome, or the error that stops the whole import: one that concerns every
/// login (a rate limit, a block, a refused token, no database).
fn add_one(engine: &Engine, login: &Login, backfill: bool) -> Result<Outcome, Error> {
    match service::add_person(engine, login.as_str(), backfill) {
        Ok(detail) => Ok(Outcome::Added(Box::new(detail.person))),
        Err(Error::AlreadyTracked(_)) => Ok(Outcome::AlreadyTracked),
        Err(err) if stops_everyone(&err) => Err(err),
        Err(err) => Ok(Outcome::Refused(err.to_string())),
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
    engine: &Engine,
    invalid: Vec<Refused>,
    outcomes: Vec<(usize, Login, Outcome)>,
    not_done: Vec<(usize, Login)>,
    stop: Option<Error>,
) -> ImportReport {
    let mut report = ImportReport {
        refused: invalid,
        ..ImportReport::default()
    };
    for (_, login, outcome) in outcomes {
        match outcome {
            Outcome::Added(person) => report.added.push(*person),
            Outcome::AlreadyTracked => report.already_tracked.push(login.to_string()),
            Outcome::Refused(error) => report.refused.push(Refused {
                login: login.to_string(),
                error,
            }),
        }
    }
    // A refused line is part of the job failing; a later run retries what can change.
    if !report.refused.is_empty() {
        report.exit = Exit::PartlyFailed;
    }
    report.not_done = not_done.into_iter().map(|(_, l)| l.to_string()).collect();
    if let Some(err) = stop {
        report.exit = report.exit.worst(Exit::from(&err));
        if matches!(err, Error::Github(_)) {
            report.resume_after = engine.github.budget_back_at().map(format_ms);
        }
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
            "# the team\noctocat\n\n  Hubot  # ops\nOCTOCAT\nnot a login\nhubot\nnot a login\n-bad\n",
        );
        let logins: Vec<&str> = list.logins.iter().map(|l| l.as_str()).collect();
        assert_eq!(logins, ["octocat", "Hubot"]);
        let invalid: Vec<&str> = list.invalid.iter().map(|r| r.login.as_str()).collect();
        assert_eq!(invalid, ["not a login", "-bad"], "each named once");
        assert!(list.invalid[0].error.contains("invalid GitHub username"));
    }
}
