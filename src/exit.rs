//! Exit statuses cron and scripts can act on (sysexits.h values where one fits), and the rule
//! that the most serious one wins.

use crate::clients::ApiError;
use crate::error::Error;

/// How a command ended. Ordered by seriousness: when several apply, the greatest wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Exit {
    /// Everything done.
    #[default]
    Ok,
    /// The command ran and part of it failed in a way a later run retries.
    PartlyFailed,
    /// Usage or invalid input.
    Usage,
    /// An input file could not be read (`add --from-file`).
    NoInput,
    /// A service it needs is unreachable (the database, GitHub, Pipedrive).
    Unavailable,
    /// The output could not be written (a full disk; a closed pipe is not an error).
    OutputFailed,
    /// A token was refused.
    Refused,
    /// Bad configuration.
    Config,
    /// Stopped by SIGINT (Ctrl-C) after the work under way: said whatever else happened.
    Interrupted,
    /// Stopped by SIGTERM after the work under way.
    Terminated,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::PartlyFailed => 1,
            Exit::Usage => 2,
            Exit::NoInput => 66,
            Exit::Unavailable => 69,
            Exit::OutputFailed => 74,
            Exit::Refused => 77,
            Exit::Config => 78,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }

    /// The signal that stopped an interrupted command, as people name it.
    pub fn signal_name(self) -> Option<&'static str> {
        match self {
            Exit::Interrupted => Some("SIGINT"),
            Exit::Terminated => Some("SIGTERM"),
            _ => None,
        }
    }

    /// The more serious of two.
    pub fn worst(self, other: Exit) -> Exit {
        self.max(other)
    }
}

/// The exit statuses as `--help` and the README list them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    everything done
  1    the command ran and part of it failed; a later run retries it
  2    usage error or invalid input (an invalid login, a user GitHub does not know)
  66   an input file cannot be read (add --from-file)
  69   a service it needs is unreachable: the database, GitHub or Pipedrive
  74   the output cannot be written (a full disk)
  77   a token was refused by GitHub or Pipedrive
  78   bad configuration (DATABASE_URL, a missing token, an option's value)
  130  stopped by Ctrl-C (SIGINT) after the work under way, saying what is left
  143  stopped by SIGTERM, the same way
When several apply, the most serious wins: 143, 130, 78, 77, 74, 69, 66, 2, 1.";

/// What each exit status means for `add`, after the general table.
pub const ADD_EXIT_CODES_HELP: &str = "\
For add (logins on the command line and --from-file alike):
  0    every login is tracked now; those already tracked are said so, not failures
  1    Pipedrive or the database refused a user in a way a later run retries
  2    a login is invalid or GitHub has no such user (and nothing worse happened)
  66   the --from-file list cannot be read
  69   GitHub or Pipedrive stopped the run (rate limit, outage): run it again later
Duplicate logins (in any spelling) are added once.";

/// How an interrupted command ends, by the signal that stopped it.
pub fn for_signal(signal: i32) -> Exit {
    match signal {
        libc::SIGTERM => Exit::Terminated,
        _ => Exit::Interrupted,
    }
}

impl From<&ApiError> for Exit {
    fn from(err: &ApiError) -> Exit {
        match err {
            ApiError::Unauthorized(_) | ApiError::Blocked(_) => Exit::Refused,
            ApiError::Rejected { status: 403, .. } => Exit::Refused,
            // Not reached at all, only a gateway answered, or it is not to be asked for now.
            ApiError::Transport(_)
            | ApiError::Server {
                by_service: false, ..
            }
            | ApiError::RateLimited(_) => Exit::Unavailable,
            // The service answered about this one item.
            ApiError::Server { .. }
            | ApiError::Decode(_)
            | ApiError::Rejected { .. }
            | ApiError::Throttled { .. } => Exit::PartlyFailed,
        }
    }
}

impl From<&Error> for Exit {
    fn from(err: &Error) -> Exit {
        match err {
            Error::Config(_) | Error::MissingPipedriveToken => Exit::Config,
            // The server answered and said no: a wrong user, password or database name,
            // which waiting will not fix.
            Error::DatabaseUnreachable { reason, .. } if crate::db::refused_login(reason) => {
                Exit::Config
            }
            Error::InputUnreadable { .. } => Exit::NoInput,
            Error::Output(_) => Exit::OutputFailed,
            Error::Github(api) | Error::Pipedrive(api) => Exit::from(api),
            Error::DatabaseUnreachable { .. }
            | Error::DatabaseUnavailable(_)
            | Error::Migration(_)
            | Error::DatabaseBusy(_) => Exit::Unavailable,
            Error::Database(db) if crate::db::is_unavailable(db) => Exit::Unavailable,
            Error::InvalidLogin { .. }
            | Error::NotTracked(_)
            | Error::NoStoreYet { .. }
            | Error::GithubUserNotFound(_)
            | Error::GithubOrgNotFound(_)
            | Error::OrgNotFollowed(_)
            | Error::NoSuchPipedrivePerson(_)
            | Error::NoSurvivor(_) => Exit::Usage,
            Error::AlreadyTracked(_)
            | Error::PersonTaken { .. }
            | Error::PartlyFailed(_)
            | Error::LeaseLost(_)
            | Error::UnknownDeliveryState { .. }
            | Error::DeliveryUnsettled { .. }
            | Error::PersonCreationUnsettled { .. }
            | Error::OrgCreationUnsettled { .. }
            | Error::AccountBusy { .. }
            | Error::SyncBusy(_)
            | Error::ClaimLost(_)
            | Error::NotLinked(_)
            | Error::Unlinked { .. }
            | Error::Database(_)
            | Error::Io(_)
            | Error::Internal(_) => Exit::PartlyFailed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_serious_status_wins() {
        let order = [
            Exit::Ok,
            Exit::PartlyFailed,
            Exit::Usage,
            Exit::NoInput,
            Exit::Unavailable,
            Exit::OutputFailed,
            Exit::Refused,
            Exit::Config,
            Exit::Interrupted,
            Exit::Terminated,
        ];
        for (i, a) in order.iter().enumerate() {
            for b in &order[i..] {
                assert_eq!(a.worst(*b), *b);
                assert_eq!(b.worst(*a), *b);
            }
        }
        let codes: Vec<u8> = order.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 66, 69, 74, 77, 78, 130, 143]);
        let listed: Vec<u8> = EXIT_CODES_HELP
            .lines()
            .filter_map(|line| line.split_whitespace().next()?.parse().ok())
            .collect();
        assert_eq!(listed, codes, "--help lists every status, in order");
    }

    #[test]
    fn each_failure_has_its_status() {
        let refused = ApiError::Unauthorized("no".into());
        let down = ApiError::Transport("refused".into());
        let answered = ApiError::Server {
            status: 500,
            message: String::new(),
            by_service: true,
        };
        assert_eq!(
            Exit::from(&answered),
            Exit::PartlyFailed,
            "one delivery failed"
        );
        assert_eq!(Exit::from(&Error::Pipedrive(refused)), Exit::Refused);
        assert_eq!(Exit::from(&Error::Github(down)), Exit::Unavailable);
        assert_eq!(Exit::from(&Error::MissingPipedriveToken), Exit::Config);
        assert_eq!(Exit::from(&Error::NotTracked("x".into())), Exit::Usage);
        assert_eq!(
            Exit::from(&Error::GithubUserNotFound("x".into())),
            Exit::Usage,
            "an unknown user is invalid input, not something a later run fixes"
        );
        assert_eq!(for_signal(libc::SIGINT).code(), 130);
        assert_eq!(for_signal(libc::SIGTERM).code(), 143);
        assert_eq!(
            Exit::from(&Error::DatabaseUnavailable("gone".into())),
            Exit::Unavailable
        );
    }
}
