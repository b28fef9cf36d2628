//! Which database errors are which: lock conflicts to retry, a refused login, a database
//! that cannot serve now, a lost race for a unique row.

use crate::error::Error;

/// A deadlock (MySQL 1213, which Diesel calls a serialization failure), a lock wait timeout
/// (1205), or SQLite refusing to turn a reading transaction into a writing one while another
/// writes ("database is locked" at once, which its busy timeout cannot wait out): transient,
/// and each database's advice is to run the transaction again.
pub fn is_lock_conflict(err: &Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as D};
    match err {
        Error::Database(D::DatabaseError(DatabaseErrorKind::SerializationFailure, _)) => true,
        Error::Database(D::DatabaseError(_, info)) => {
            let message = info.message();
            message.contains("Deadlock found")
                || message.contains("Lock wait timeout exceeded")
                || message.contains("database is locked")
        }
        _ => false,
    }
}

/// Whether a failed connection was the server refusing the login (MySQL's 1045 "Access
/// denied", 1044 for a database, 1049 "Unknown database"), rather than not answering.
pub fn refused_login(reason: &str) -> bool {
    reason.contains("Access denied for user") || reason.contains("Unknown database")
}

/// A database that cannot serve right now (a dropped server connection, a SQLite file that
/// is corrupt or gone): 503, as `/readyz` says, not a 500 for one request.
pub fn is_unavailable(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as K, Error as D};
    match err {
        D::DatabaseError(K::ClosedConnection | K::UnableToSendCommand, _) => true,
        D::DatabaseError(_, info) => {
            let message = info.message().to_ascii_lowercase();
            [
                "gone away",
                "lost connection",
                "can't connect",
                "file is not a database",
                "disk image is malformed",
                "unable to open database file",
                "no such table",
                "readonly database",
                "disk i/o error",
            ]
            .iter()
            .any(|known| message.contains(known))
        }
        _ => false,
    }
}

/// True when a Diesel error is a unique-constraint violation (a concurrent insert won).
pub fn is_unique_violation(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
