//! Opening a connection to either backend: SQLite's settings and private files, MySQL's
//! isolation level, and driver messages without the password.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use diesel::connection::SimpleConnection;
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
pub(super) fn sqlite_pragmas(lock_wait: Duration) -> String {
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
pub(super) fn enable_sqlite_plan_stability() {
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
    pub(super) target: DatabaseTarget,
    pub(super) lock_wait: Duration,
    /// The SQLite file the pool's connections have open (device, inode): a file deleted or
    /// replaced under a running process must not go on taking writes that nobody will see.
    pub(super) sqlite_file: Mutex<Option<(u64, u64)>>,
}

/// The (device, inode) of a file, or `None` when it is gone.
pub(super) fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// A `file:` URI that opens an existing SQLite file read-write and never creates one: a pool
/// connection to a file that was deleted fails instead of starting an empty, unmigrated one.
pub(super) fn sqlite_existing_file_uri(path: &Path) -> String {
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

    pub(super) fn open(
        target: &DatabaseTarget,
        create: bool,
        lock_wait: Duration,
    ) -> Result<DbConnection> {
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

    pub(super) fn file_gone(&self) -> Error {
        Error::DatabaseUnavailable(format!(
            "the database file {} was deleted or replaced while in use",
            self.target.host()
        ))
    }
}

/// The connection settings, retried while another process holds the lock they need: turning
/// a new file to WAL takes an exclusive lock, and SQLite answers "database is locked" at once
/// there, without waiting out `busy_timeout` (several processes starting on a new file).
pub(super) fn apply_sqlite_pragmas(
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
pub(super) fn read_committed(conn: &mut MysqlConnection) -> diesel::QueryResult<()> {
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
pub(super) fn scrub(message: &str, target: &DatabaseTarget) -> String {
    let message = message.trim().to_string();
    match target.password() {
        Some(password) if password.chars().count() > 2 => message.replace(&password, "***"),
        _ => message,
    }
}

/// Creates a SQLite file's missing folders (0700) and the file itself (0600), empty, for
/// SQLite to fill: names and e-mails are personal data, and SQLite gives its `-wal` and
/// `-shm` files the database file's mode. What exists already keeps its mode.
pub(super) fn create_private(path: &Path) -> std::result::Result<(), (&Path, std::io::Error)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Store;

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
