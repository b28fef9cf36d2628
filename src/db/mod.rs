//! The store: one Diesel connection type over SQLite and MySQL, pooled, migrated on open.

pub mod claims;
pub mod departed;
pub mod gists;
pub mod link_history;
pub mod migrations;
pub mod people;
pub mod person_creations;
pub mod schema;
pub mod sync_runs;
pub(crate) mod text_enum;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::{Connection, MysqlConnection, QueryDsl, RunQueryDsl, SqliteConnection};

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

/// How long a statement waits for a lock another process or request holds (a SQLite file
/// being written, a MySQL row) before the database answers busy (`--lock-wait`).
pub fn default_lock_wait() -> Duration {
    crate::defaults::duration(crate::defaults::LOCK_WAIT)
}

/// Settings every SQLite connection needs so `serve` and a cron `sync` can share one file.
/// The busy timeout comes first: switching a new file to WAL needs a lock that another
/// process opening it at the same moment may hold. Each pooled connection keeps its own page
/// cache: a small one (256 KiB), since the kernel caches the file for all of them and a
/// process's memory must not grow with the size of the database.
fn sqlite_pragmas(lock_wait: Duration) -> String {
    format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
         PRAGMA synchronous = NORMAL; PRAGMA cache_size = -256;",
        lock_wait.as_millis()
    )
}

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
#[derive(Debug)]
pub struct ConnectionManager {
    target: DatabaseTarget,
    lock_wait: Duration,
    /// The SQLite file the pool's connections have open (device, inode): a file deleted or
    /// replaced under a running process must not go on taking writes that nobody will see.
    sqlite_file: Mutex<Option<(u64, u64)>>,
}

/// The (device, inode) of a file, or `None` when it is gone.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// A `file:` URI that opens an existing SQLite file read-write and never creates one: a pool
/// connection to a file that was deleted fails instead of starting an empty, unmigrated one.
fn sqlite_existing_file_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3F"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=rw");
    uri
}

impl ConnectionManager {
    pub fn new(target: &DatabaseTarget, lock_wait: Duration) -> ConnectionManager {
        let sqlite_file = match target {
            DatabaseTarget::Sqlite(path) => file_identity(path),
            DatabaseTarget::Mysql(_) => None,
        };
        ConnectionManager {
            target: target.clone(),
            lock_wait,
            sqlite_file: Mutex::new(sqlite_file),
        }
    }

    /// Opens one connection; a SQLite file is created when it does not exist yet.
    pub fn establish(target: &DatabaseTarget) -> Result<DbConnection> {
        Self::open(target, true, default_lock_wait())
    }

    fn open(target: &DatabaseTarget, create: bool, lock_wait: Duration) -> Result<DbConnection> {
        let unreachable = |reason: String| Error::DatabaseUnreachable {
            backend: target.backend(),
            host: target.host(),
            database: target.database_name(),
            reason: scrub(&reason, target),
        };
        match target {
            DatabaseTarget::Sqlite(path) => {
                enable_sqlite_plan_stability();
                let url = if create {
                    path.to_string_lossy().into_owned()
                } else {
                    sqlite_existing_file_uri(path)
                };
                let mut conn =
                    SqliteConnection::establish(&url).map_err(|e| unreachable(e.to_string()))?;
                apply_sqlite_pragmas(&mut conn, lock_wait)
                    .map_err(|e| unreachable(e.to_string()))?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseTarget::Mysql(url) => {
                let mut conn =
                    MysqlConnection::establish(url).map_err(|e| unreachable(e.to_string()))?;
                read_committed(&mut conn).map_err(|e| unreachable(e.to_string()))?;
                // Whole seconds, at least one: what InnoDB takes.
                let seconds = lock_wait.as_secs().max(1);
                conn.batch_execute(&format!("SET SESSION innodb_lock_wait_timeout = {seconds}"))
                    .map_err(|e| unreachable(e.to_string()))?;
                Ok(DbConnection::Mysql(conn))
            }
        }
    }

    fn file_gone(&self) -> Error {
        Error::DatabaseUnavailable(format!(
            "the database file {} was deleted or replaced while in use",
            self.target.host()
        ))
    }
}

/// The connection settings, retried while another process holds the lock they need: turning
/// a new file to WAL takes an exclusive lock, and SQLite answers "database is locked" at once
/// there, without waiting out `busy_timeout` (several processes starting on a new file).
fn apply_sqlite_pragmas(
    conn: &mut SqliteConnection,
    lock_wait: Duration,
) -> diesel::QueryResult<()> {
    let pragmas = sqlite_pragmas(lock_wait);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut pause = Duration::from_millis(5);
    loop {
        match conn.batch_execute(&pragmas) {
            Err(err)
                if err.to_string().contains("locked") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            result => return result,
        }
    }
}

/// Runs the connection's transactions at READ COMMITTED, where InnoDB locks the rows a
/// statement touches and not the gaps between them. At its default (REPEATABLE READ) two
/// transactions that each look for a row that is not there (a delete of an untracked user, a
/// departure recorded for the first time) lock the same gap, then each waits for the other
/// to insert into it: a deadlock between requests for different users. Every transaction
/// here decides from rows it has locked or written, never from an earlier snapshot, so
/// nothing relies on the stricter level. Left as it is where the server logs statements for
/// replication (binlog_format STATEMENT refuses writes at READ COMMITTED).
fn read_committed(conn: &mut MysqlConnection) -> diesel::QueryResult<()> {
    use diesel::sql_types::{BigInt, Text};
    #[derive(diesel::QueryableByName)]
    struct Binlog {
        #[diesel(sql_type = BigInt)]
        log_bin: i64,
        #[diesel(sql_type = Text)]
        binlog_format: String,
    }
    let binlog: Binlog = diesel::sql_query(
        "SELECT CAST(@@log_bin AS SIGNED) AS log_bin, CAST(@@binlog_format AS CHAR) AS binlog_format",
    )
    .get_result(conn)?;
    if binlog.log_bin == 1 && binlog.binlog_format.eq_ignore_ascii_case("STATEMENT") {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            log::info!(
                "MySQL logs statements for replication (binlog_format STATEMENT): transactions stay at REPEATABLE READ, where more lock conflicts arise (they are retried)"
            )
        });
        return Ok(());
    }
    conn.batch_execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
}

/// Removes the URL's password from a driver message. (A password of one or two characters
/// is left alone: replacing it would mangle every message, and drivers do not echo them.)
fn scrub(message: &str, target: &DatabaseTarget) -> String {
    let message = message.trim().to_string();
    match target.password() {
        Some(password) if password.chars().count() > 2 => message.replace(&password, "***"),
        _ => message,
    }
}

/// Creates a SQLite file's missing folders (0700) and the file itself (0600), empty, for
/// SQLite to fill: names and e-mails are personal data, and SQLite gives its `-wal` and
/// `-shm` files the database file's mode. What exists already keeps its mode.
fn create_private(path: &Path) -> std::result::Result<(), (&Path, std::io::Error)> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| (dir, e))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err((path, e)),
    }
}

/// Connections a process keeps.
pub const POOL_SIZE: u32 = 32;

/// A server connection idle for less than this is trusted without a ping on checkout: a ping
/// is a round trip, as much as the read it would precede. One that died meanwhile (a server
/// restart) fails its first statement, is dropped as broken, and the request gets a 503.
const TRUSTED_IDLE: Duration = Duration::from_secs(2);

/// A pooled connection, when it was last handed back, and whether a statement on it found
/// the server gone (then it is dropped, not handed out again).
pub struct Pooled {
    conn: DbConnection,
    returned_at: std::time::Instant,
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Watches a connection's statements for a server that went away.
struct LossWatch(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl diesel::connection::Instrumentation for LossWatch {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        if let diesel::connection::InstrumentationEvent::FinishQuery {
            error: Some(err), ..
        } = event
        {
            if is_unavailable(err) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

impl std::ops::Deref for Pooled {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = Pooled;
    type Error = Error;

    fn connect(&self) -> Result<Pooled> {
        let mut conn = Self::open(&self.target, false, self.lock_wait)?;
        if let DatabaseTarget::Sqlite(path) = &self.target {
            // A file restored in place (a new inode) is the one new connections use.
            *self.sqlite_file.lock().unwrap_or_else(|e| e.into_inner()) = file_identity(path);
        }
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        conn.set_instrumentation(LossWatch(lost.clone()));
        Ok(Pooled {
            conn,
            returned_at: std::time::Instant::now(),
            lost,
        })
    }

    /// On checkout: a server connection idle for a while must still answer; a SQLite
    /// connection must still have the file that is at the path open (a stat, no query).
    fn is_valid(&self, pooled: &mut Pooled) -> Result<()> {
        match &self.target {
            DatabaseTarget::Sqlite(path) => {
                let expected = *self.sqlite_file.lock().unwrap_or_else(|e| e.into_inner());
                match file_identity(path) {
                    Some(now) if Some(now) == expected => Ok(()),
                    _ => Err(self.file_gone()),
                }
            }
            DatabaseTarget::Mysql(_) if pooled.returned_at.elapsed() < TRUSTED_IDLE => Ok(()),
            DatabaseTarget::Mysql(_) => pooled.conn.ping().map_err(Error::from),
        }
    }

    /// Called as a connection goes back to the pool.
    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.returned_at = std::time::Instant::now();
        std::thread::panicking()
            || pooled.lost.load(std::sync::atomic::Ordering::Relaxed)
            || pooled.conn.is_broken()
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
    /// What every time written through this store is stamped with (leases, attempts,
    /// claims, visits): the system's clock, or a test's.
    clock: std::sync::Arc<dyn crate::time::Clock>,
    /// Who holds the leases and claims this store takes: this process, as
    /// `sync::lease::process_owner` names it, or a test's stand-in for another process.
    owner: std::sync::Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("target", &self.target)
            .finish()
    }
}

impl Store {
    /// [`Store::open_with`] the default lock wait.
    pub fn open(target: &DatabaseTarget) -> Result<Store> {
        Store::open_with(target, default_lock_wait())
    }

    /// Creates the SQLite folder and file if needed (private to this user), runs pending
    /// migrations, and builds the pool whose statements wait up to `lock_wait` for a lock. An unreachable server fails here, at
    /// once, with one clear line.
    pub fn open_with(target: &DatabaseTarget, lock_wait: Duration) -> Result<Store> {
        if let DatabaseTarget::Sqlite(path) = target {
            create_private(path).map_err(|(what, e)| Error::DatabaseUnreachable {
                backend: target.backend(),
                host: target.host(),
                database: target.database_name(),
                reason: format!("cannot create {}: {e}", what.display()),
            })?;
        }
        let mut conn = ConnectionManager::establish(target)?;
        migrations::run(&mut conn)?;
        let pool = r2d2::Pool::builder()
            // As many as the requests and workers that read at once: a request waiting for a
            // connection is latency nobody asked for, and both backends take this many readers.
            .max_size(POOL_SIZE)
            // A server connection can die between uses (restart, idle timeout), and a SQLite
            // file can be deleted or replaced: check on checkout (a ping, or a stat).
            .test_on_check_out(true)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(ConnectionManager::new(target, lock_wait));
        Ok(Store {
            pool,
            target: target.clone(),
            revision: Default::default(),
            clock: std::sync::Arc::new(crate::time::SystemClock),
            owner: crate::sync::lease::process_owner().into(),
        })
    }

    /// The same store with another clock (tests: a clock moved by hand).
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn crate::time::Clock>) -> Store {
        self.clock = clock;
        self
    }

    /// The same store as another process would use it: its leases and claims are `owner`'s
    /// (tests: several processes in one).
    pub fn with_owner(mut self, owner: &str) -> Store {
        self.owner = owner.into();
        self
    }

    /// The time to stamp what is written now with (Unix ms).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The store's clock, for waits that must pass in its time.
    pub fn clock(&self) -> &dyn crate::time::Clock {
        &*self.clock
    }

    /// Who this store's leases and claims belong to.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// A pooled connection; when the database is down this fails after a short timeout.
    pub fn conn(&self) -> Result<PooledConnection> {
        self.pool
            .get()
            .map_err(|e| Error::DatabaseUnavailable(scrub(&e.to_string(), &self.target)))
    }

    /// Checks quickly that the data can be read as the data routes read it (for `/readyz`):
    /// a connection that answers `SELECT 1` says nothing about a corrupt or deleted file.
    pub fn ping(&self) -> Result<()> {
        use schema::{gists, people, sync_runs};
        let mut conn = self
            .pool
            .get_timeout(Duration::from_secs(2))
            .map_err(|e| Error::DatabaseUnavailable(scrub(&e.to_string(), &self.target)))?;
        let conn: &mut DbConnection = &mut conn;
        let read = people::table
            .select(people::id)
            .limit(1)
            .load::<i64>(conn)
            .and_then(|_| gists::table.select(gists::id).limit(1).load::<i64>(conn))
            .and_then(|_| {
                sync_runs::table
                    .select(sync_runs::id)
                    .limit(1)
                    .load::<i64>(conn)
            });
        read.map(|_| ())
            .map_err(|e| Error::DatabaseUnavailable(scrub(&e.to_string(), &self.target)))
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

    /// Runs several reads on one connection: in one transaction on SQLite (one snapshot, the
    /// log's read lock taken once), each statement on its own on MySQL, where each already
    /// reads a consistent snapshot and a transaction would add four round trips (Diesel sends
    /// BEGIN and COMMIT with the multi-statement option switched on and off around each).
    pub fn read<T>(&self, work: impl FnOnce(&mut DbConnection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        match &mut **conn {
            DbConnection::Sqlite(_) => conn.transaction(work),
            DbConnection::Mysql(_) => work(&mut conn),
        }
    }

    /// Runs `work` in a transaction, again when the database asks for a retry (see
    /// [`Store::write`]). On SQLite the first statement of a writing transaction should be a
    /// write so the busy timeout, not an immediate SQLITE_BUSY, decides contention.
    pub fn transaction<T>(
        &self,
        mut work: impl FnMut(&mut DbConnection) -> Result<T>,
    ) -> Result<T> {
        self.write(|conn| conn.transaction(&mut work))
    }

    /// Runs `work` on a pooled connection, and again (up to four tries) when MySQL picked it
    /// as a deadlock's victim or a lock wait timed out: both undo only this work, and a retry
    /// is what the server asks for. `work` must be safe to run again (a transaction, or one
    /// statement).
    pub fn write<T>(&self, mut work: impl FnMut(&mut DbConnection) -> Result<T>) -> Result<T> {
        let mut tries = 0;
        loop {
            tries += 1;
            let mut conn = self.conn()?;
            match work(&mut conn) {
                Err(err) if tries < 4 && is_lock_conflict(&err) => {
                    log::debug!("retrying after a lock conflict: {err}");
                    drop(conn);
                    std::thread::sleep(Duration::from_millis(
                        20 * (1 << tries) + fastrand::u64(0..20),
                    ));
                }
                // Still conflicting after the retries: busy, not broken (a 503, not a 500).
                Err(err) if is_lock_conflict(&err) => {
                    log::info!("a lock conflict outlasted {tries} tries: {err}");
                    let reason = match &err {
                        Error::Database(db) => db.to_string(),
                        other => other.to_string(),
                    };
                    return Err(Error::DatabaseBusy(scrub(&reason, &self.target)));
                }
                outcome => return outcome,
            }
        }
    }
}

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

/// What `doctor` reports about a database, read without creating or migrating anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspection {
    /// False for a SQLite file that is not there yet (the first command creates it).
    pub exists: bool,
    /// Migrations this version would apply at the next command's start.
    pub pending_migrations: usize,
    /// Tracked people, when the table is there.
    pub people: Option<i64>,
    /// People whose Pipedrive person was deleted (nothing is sent for them until relinked),
    /// when the database is migrated far enough to tell.
    pub unlinked: Option<i64>,
}

/// Looks at the database a target names: reachable, migrated, how many people.
pub fn inspect(target: &DatabaseTarget) -> Result<Inspection> {
    if let DatabaseTarget::Sqlite(path) = target {
        if !path.exists() {
            return Ok(Inspection {
                exists: false,
                pending_migrations: 0,
                people: None,
                unlinked: None,
            });
        }
    }
    let mut conn = ConnectionManager::open(target, false, default_lock_wait())?;
    Ok(Inspection {
        exists: true,
        pending_migrations: migrations::pending(&mut conn)?,
        people: people::count(&mut conn).ok(),
        unlinked: people::count_unlinked(&mut conn).ok(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_messages_lose_the_password_in_the_form_the_driver_saw() {
        let target = DatabaseTarget::parse("mysql://app:p%40ss@db:3306/gt").unwrap();
        assert_eq!(
            scrub(" Access denied (using password: p@ss) ", &target),
            "Access denied (using password: ***)"
        );
        let sqlite = DatabaseTarget::parse("sqlite:///tmp/x.db").unwrap();
        assert_eq!(scrub("unable to open", &sqlite), "unable to open");
    }

    #[test]
    fn a_sqlite_uri_escapes_what_would_end_the_path() {
        assert_eq!(
            sqlite_existing_file_uri(Path::new("/data/50%?#.db")),
            "file:/data/50%25%3F%23.db?mode=rw"
        );
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        name.into()
    }

    #[test]
    fn a_new_sqlite_file_and_its_folders_are_private_and_existing_ones_keep_their_mode() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join("data/gisttrack/gisttrack.db");
        let store = Store::open(&DatabaseTarget::Sqlite(path.clone())).unwrap();
        store.conn().unwrap();
        for dir in [home.path().join("data"), home.path().join("data/gisttrack")] {
            assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        }
        for file in [
            path.clone(),
            with_suffix(&path, "-wal"),
            with_suffix(&path, "-shm"),
        ] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        drop(store);

        let shared = home.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o750)).unwrap();
        let path = shared.join("gisttrack.db");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let store = Store::open(&DatabaseTarget::Sqlite(path.clone())).unwrap();
        store.conn().unwrap();
        assert_eq!(mode(&shared), 0o750, "an existing folder is left alone");
        assert_eq!(mode(&path), 0o640, "an existing file is left alone");
        assert_eq!(
            mode(&with_suffix(&path, "-wal")),
            0o640,
            "SQLite gives its WAL the file's mode"
        );
    }
}
