//! Embedded per-backend migrations, run at the start of every command, safe to race.

use diesel::{sql_query, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::DbConnection;
use crate::error::{Error, Result};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// How many migrations this version would apply to the database.
pub fn pending(conn: &mut DbConnection) -> Result<usize> {
    let pending = match conn {
        DbConnection::Mysql(mysql) => mysql.pending_migrations(MYSQL).map(|m| m.len()),
        DbConnection::Sqlite(sqlite) => sqlite.pending_migrations(SQLITE).map(|m| m.len()),
    };
    pending.map_err(Error::Migration)
}

/// Applies pending migrations. Several processes may start at once: MySQL serialises them
/// with a named lock (its DDL is not transactional); on SQLite each migration is one
/// transaction, so the loser of a race fails, sees nothing pending, and carries on.
pub fn run(conn: &mut DbConnection) -> Result<()> {
    match conn {
        DbConnection::Mysql(mysql) => {
            sql_query("SELECT GET_LOCK('gisttrack.migrations', 60)")
                .execute(mysql)
                .map_err(|e| Error::Migration(Box::new(e)))?;
            let outcome = mysql
                .run_pending_migrations(MYSQL)
                .map(|_| ())
                .map_err(Error::Migration);
            let _ = sql_query("SELECT RELEASE_LOCK('gisttrack.migrations')").execute(mysql);
            outcome
        }
        DbConnection::Sqlite(sqlite) => {
            let mut tries = 0;
            loop {
                match sqlite.run_pending_migrations(SQLITE) {
                    Ok(_) => return Ok(()),
                    Err(e) if tries == 4 => return Err(Error::Migration(e)),
                    Err(_) => tries += 1,
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}
