//! The store: one Diesel connection type over SQLite and MySQL, pooled, migrated on open.

pub mod gists;
pub mod migrations;
pub mod people;
pub mod schema;
pub mod sync_runs;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::{Connection, MysqlConnection, RunQueryDsl, SqliteConnection};

use crate::config::DatabaseTarget;
use crate::error::{Error, Result};

/// A connection to either backend; queries written once run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Mysql(MysqlConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the backend's own connection. Queries on the hot read
/// paths go through it: on the native connection Diesel caches their prepared statements,
/// which it does not do through the `MultiConnection` wrapper.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Mysql($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}

/// Settings every SQLite connection needs so `serve` and a cron `sync` can share one file.
/// The busy timeout comes first: switching a new file to WAL needs a lock that another
/// process opening it at the same moment may hold.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 15000; PRAGMA journal_mode = WAL; \
     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -1024;";

/// The bundled SQLite is built with STAT4, which marks a statement for re-preparing whenever
/// a bound value could change its plan: every cached statement was parsed again on each use
/// (a third of a read's time). The query planner stability guarantee switches that off, so
/// Diesel's statement cache works. Registered once for every connection the process opens.
fn enable_sqlite_plan_stability() {
    use libsqlite3_sys as ffi;
    use std::os::raw::{c_char, c_int};

    unsafe extern "C" fn on_open(
        db: *mut ffi::sqlite3,
        _error: *mut *mut c_char,
        _api: *const ffi::sqlite3_api_routines,
    ) -> c_int {
        // SAFETY: SQLite calls this with a valid, open handle; the option takes (int, int*).
        unsafe {
            ffi::sqlite3_db_config(
                db,
                ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
                1 as c_int,
                std::ptr::null_mut::<c_int>(),
            )
        };
        ffi::SQLITE_OK
    }

    static REGISTER: std::sync::Once = std::sync::Once::new();
    // SAFETY: `on_open` has the entry-point signature SQLite expects and lives for the process.
    REGISTER.call_once(|| unsafe {
        ffi::sqlite3_auto_extension(Some(on_open));
    });
}

/// Opens connections for a [`DatabaseTarget`], choosing the backend from the target, not by trial.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    target: DatabaseTarget,
}

impl ConnectionManager {
    pub fn establish(target: &DatabaseTarget) -> Result<DbConnection> {
        let unreachable = |reason: String| Error::DatabaseUnreachable {
            backend: target.backend(),
            host: target.host(),
            database: target.database_name(),
            reason: scrub(&reason, target),
        };
        match target {
            DatabaseTarget::Sqlite(path) => {
                enable_sqlite_plan_stability();
                let path = path.to_string_lossy();
                let mut conn =
                    SqliteConnection::establish(&path).map_err(|e| unreachable(e.to_string()))?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .map_err(|e| unreachable(e.to_string()))?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseTarget::Mysql(url) => {
                let conn =
                    MysqlConnection::establish(url).map_err(|e| unreachable(e.to_string()))?;
                Ok(DbConnection::Mysql(conn))
            }
        }
    }
}

/// Removes anything that looks like the URL's password from a driver message.
fn scrub(message: &str, target: &DatabaseTarget) -> String {
    let message = message.trim().to_string();
    if let DatabaseTarget::Mysql(url) = target {
        let authority = url["mysql://".len()..].split('/').next().unwrap_or("");
        if let Some((credentials, _)) = authority.rsplit_once('@') {
            if let Some((_, password)) = credentials.split_once(':') {
                if !password.is_empty() {
                    return message.replace(password, "***");
                }
            }
        }
    }
    message
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = Error;

    fn connect(&self) -> Result<DbConnection> {
        ConnectionManager::establish(&self.target)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(Error::from)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// The opened, migrated store shared by the CLI commands, the sync engine and the HTTP API.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    target: DatabaseTarget,
    /// Bumped by every change made through this process, so read caches know to drop.
    revision: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("target", &self.target)
            .finish()
    }
}

impl Store {
    /// Creates the SQLite folder if needed, runs pending migrations, and builds the pool.
    /// An unreachable server fails here, at once, with one clear line.
    pub fn open(target: &DatabaseTarget) -> Result<Store> {
        if let DatabaseTarget::Sqlite(path) = target {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::DatabaseUnreachable {
                    backend: target.backend(),
                    host: target.host(),
                    database: target.database_name(),
                    reason: format!("cannot create {}: {e}", dir.display()),
                })?;
            }
        }
        let mut conn = ConnectionManager::establish(target)?;
        migrations::run(&mut conn)?;
        let pool = r2d2::Pool::builder()
            .max_size(16)
            // A server connection can die between uses (restart, idle timeout): check it on
            // checkout. A SQLite file handle cannot, so skip the extra round trip there.
            .test_on_check_out(matches!(target, DatabaseTarget::Mysql(_)))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(ConnectionManager {
                target: target.clone(),
            });
        Ok(Store {
            pool,
            target: target.clone(),
            revision: Default::default(),
        })
    }

    /// A pooled connection; when the database is down this fails after a short timeout.
    pub fn conn(&self) -> Result<PooledConnection> {
        self.pool
            .get()
            .map_err(|e| Error::DatabaseUnavailable(scrub(&e.to_string(), &self.target)))
    }

    /// Checks quickly that the database answers (for `/readyz`).
    pub fn ping(&self) -> Result<()> {
        let mut conn = self
            .pool
            .get_timeout(Duration::from_secs(2))
            .map_err(|e| Error::DatabaseUnavailable(scrub(&e.to_string(), &self.target)))?;
        diesel::sql_query("SELECT 1")
            .execute(&mut *conn)
            .map(|_| ())
            .map_err(|e| Error::DatabaseUnavailable(e.to_string()))
    }

    /// Records that this process changed the data.
    pub fn touch(&self) {
        self.revision
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Changes made through this process so far.
    pub fn revision(&self) -> u64 {
        self.revision.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn target(&self) -> &DatabaseTarget {
        &self.target
    }

    /// Runs `work` in a transaction. On SQLite the first statement of a writing transaction
    /// should be a write so the busy timeout, not an immediate SQLITE_BUSY, decides contention.
    pub fn transaction<T>(&self, work: impl FnOnce(&mut DbConnection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        (*conn).transaction(work)
    }
}

/// The id of the row this connection inserted last (connection-scoped on both backends, so
/// concurrent inserts elsewhere cannot be mistaken for ours).
pub fn last_insert_id(conn: &mut DbConnection) -> Result<i64> {
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    Ok(match conn {
        DbConnection::Mysql(c) => {
            diesel::select(sql::<BigInt>("LAST_INSERT_ID()")).get_result(c)?
        }
        DbConnection::Sqlite(c) => {
            diesel::select(sql::<BigInt>("last_insert_rowid()")).get_result(c)?
        }
    })
}

/// True when a Diesel error is a unique-constraint violation (a concurrent insert won).
pub fn is_unique_violation(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
