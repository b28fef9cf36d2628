//! The opened, migrated store: pooled connections, transactions with retries, the clock
//! and the owner name, and what `doctor` reads without changing anything.

use std::time::Duration;

use diesel::r2d2::{self};
use diesel::{Connection, QueryDsl, RunQueryDsl};

use super::*;
use crate::config::DatabaseTarget;
use crate::error::{Error, Result};

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
