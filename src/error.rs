//! The library's error type: every failure a user can see, each printed once.

use crate::clients::ApiError;

/// Everything that can go wrong in gisttrack, phrased for the person who has to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid GitHub username {login:?}: {reason}")]
    InvalidLogin { login: String, reason: &'static str },
    #[error("{0} is not tracked")]
    NotTracked(String),
    #[error(
        "{login} is not tracked: there is no database at {path} yet \
         (`gisttrack add` creates it; check DATABASE_URL if you meant another)"
    )]
    NoStoreYet { login: String, path: String },
    #[error("{0} is already tracked")]
    AlreadyTracked(String),
    #[error("GitHub has no user {0}")]
    GithubUserNotFound(String),
    #[error("GitHub has no organization {0}")]
    GithubOrgNotFound(String),
    #[error("the organization {0} is not followed")]
    OrgNotFollowed(String),
    #[error("the Pipedrive organization for {org} may still be being created ({reason}); to avoid a second one, add {org} again after {}", crate::time::format_ms(*settles_at))]
    OrgCreationUnsettled {
        org: String,
        reason: String,
        settles_at: i64,
    },
    #[error("{0}")]
    Config(String),
    #[error("no Pipedrive token: set PIPEDRIVE_TOKEN or pass --pipedrive-token")]
    MissingPipedriveToken,
    #[error("cannot reach the {backend} database {database} on {host}: {reason}")]
    DatabaseUnreachable {
        backend: &'static str,
        host: String,
        database: String,
        reason: String,
    },
    /// The driver's message, scrubbed of the URL's password: kept as text for that reason.
    #[error("the database is unavailable: {0}")]
    DatabaseUnavailable(String),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("database migrations failed: {0}")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("GitHub: {0}")]
    Github(#[source] ApiError),
    #[error("Pipedrive: {0}")]
    Pipedrive(#[source] ApiError),
    /// The command ran, and some of its items failed (later runs retry them).
    #[error("{0}")]
    PartlyFailed(String),
    #[error("lost the lease on {0}: another process took over its sync")]
    LeaseLost(String),
    #[error("gist {gist} has an unknown delivery state {state:?} (written by a newer gisttrack, or edited by hand); nothing is sent for it")]
    UnknownDeliveryState { gist: String, state: String },
    #[error("{login} was tracked until recently and a delivery to their Pipedrive person may still land; add {login} again after {}", crate::time::format_ms(*settles_at))]
    DeliveryUnsettled { login: String, settles_at: i64 },
    #[error("the Pipedrive person for {login} may still be being created ({reason}); to avoid a second one, add {login} again after {}", crate::time::format_ms(*settles_at))]
    PersonCreationUnsettled {
        login: String,
        reason: String,
        settles_at: i64,
    },
    #[error("another {purpose} of {login} is under way; try again in a moment")]
    AccountBusy {
        login: String,
        /// What the other holder is doing: add, delete or relink.
        purpose: &'static str,
        /// When the other holder's claim runs out unless renewed (Unix ms).
        until: i64,
    },
    #[error("lost the claim on {0}: it was held so long that another add, delete or relink took over; nothing more was sent")]
    ClaimLost(String),
    #[error("{0} is linked to no Pipedrive person (the row was written without one); nothing is sent for them until `gisttrack relink {0}`")]
    NotLinked(String),
    #[error("Pipedrive person {pipedrive_id} was deleted and no person carries {login}'s activities; nothing is sent for {login} until `gisttrack relink {login} --to <person id>` (or `--create`)")]
    Unlinked {
        login: String,
        pipedrive_id: crate::ids::PipedrivePersonId,
    },
    #[error("a sync is delivering to {0} right now; try again in a moment")]
    SyncBusy(String),
    #[error("Pipedrive has no person {0} (or it was deleted)")]
    NoSuchPipedrivePerson(crate::ids::PipedrivePersonId),
    #[error(
        "Pipedrive person {pipedrive_id} stands for {other}; {login} was left linked as before"
    )]
    PersonTaken {
        login: String,
        pipedrive_id: crate::ids::PipedrivePersonId,
        /// Who the person stands for, in words: a tracked login, or a user no longer tracked.
        other: String,
    },
    #[error(
        "no Pipedrive person carries {0}'s activities: relink {0} --to <person id>, or --create"
    )]
    NoSurvivor(String),
    /// A lock conflict that outlasted its retries (MySQL deadlocks, lock wait timeouts; a
    /// SQLite file another process kept locked).
    #[error("the database is busy: {0}; try again in a moment")]
    DatabaseBusy(String),
    #[error("cannot read {path}: {reason}")]
    InputUnreadable { path: String, reason: String },
    /// Writing to stdout failed for another reason than a closed pipe (a full disk).
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<diesel::r2d2::PoolError> for Error {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        Error::DatabaseUnavailable(err.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
