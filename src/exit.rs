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
    /// A service it needs is unreachable (the database, GitHub, Pipedrive).
    Unavailable,
    /// A token was refused.
    Refused,
    /// Bad configuration.
    Config,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::PartlyFailed => 1,
            Exit::Usage => 2,
            Exit::Unavailable => 69,
            Exit::Refused => 77,
            Exit::Config => 78,
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
  0   everything done
  1   the command ran and part of it failed; a later run retries it
  2   usage error or invalid input (e.g. an invalid login)
  69  a service it needs is unreachable: the database, GitHub or Pipedrive
  77  a token was refused by GitHub or Pipedrive
  78  bad configuration (DATABASE_URL, a missing token, an option's value)
When several apply, the most serious wins: 78, 77, 69, 2, 1.";

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
            Error::Github(api) | Error::Pipedrive(api) => Exit::from(api),
            Error::DatabaseUnreachable { .. }
            | Error::DatabaseUnavailable(_)
            | Error::Migration(_)
            | Error::DatabaseBusy(_) => Exit::Unavailable,
            Error::Database(db) if crate::db::is_unavailable(db) => Exit::Unavailable,
            Error::InvalidLogin { .. }
            | Error::NotTracked(_)
            | Error::NoSuchPipedrivePerson(_)
            | Error::NoSurvivor(_) => Exit::Usage,
            Error::AlreadyTracked(_)
            | Error::GithubUserNotFound(_)
            | Error::PartlyFailed(_)
            | Error::LeaseLost(_)
            | Error::UnknownDeliveryState { .. }
            | Error::DeliveryUnsettled { .. }
            | Error::PersonCreationUnsettled { .. }
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
            Exit::Unavailable,
            Exit::Refused,
            Exit::Config,
        ];
        for (i, a) in order.iter().enumerate() {
            for b in &order[i..] {
                assert_eq!(a.worst(*b), *b);
                assert_eq!(b.worst(*a), *b);
            }
        }
        let codes: Vec<u8> = order.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 69, 77, 78]);
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
            Exit::PartlyFailed
        );
        assert_eq!(
            Exit::from(&Error::DatabaseUnavailable("gone".into())),
            Exit::Unavailable
        );
    }
}
