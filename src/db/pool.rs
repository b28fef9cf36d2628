//! The connection pool: connections trusted while recently used, dropped once the server
//! is seen gone.

use std::time::Duration;

use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::Connection;

use super::*;
use crate::config::DatabaseTarget;
use crate::error::{Error, Result};

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
