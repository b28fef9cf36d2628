//! Embedded per-backend migrations, run at the start of every command, safe to race.

use diesel::{sql_query, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::DbConnection;
use crate::error::{Error, Result};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// Applies pending migrations. Several processes may start at once: MySQL serialises them
/// with a named lock (its DDL is not transactional); on SQLite each migration is one
/// transaction, so the loser of a race fails, sees nothing pending, and carries on.
pub fn run(conn: &mut DbConnection) -> Result<()> {
    match conn {
        DbConnection::Mysql(mysql) => {
            sql_query("SELECT GET_LOCK('gisttrack.migrations', 60)")
                .execute(mysql)
                .map_err(|e| Error::Migration(e.to_string()))?;
            let outcome = mysql
                .run_pending_migrations(MYSQL)
                .map(|_| ())
                .map_err(|e| Error::Migration(e.to_string()));
            let _ = sql_query("SELECT RELEASE_LOCK('gisttrack.migrations')").execute(mysql);
            outcome
        }
        DbConnection::Sqlite(sqlite) => {
            let mut last_error = None;
            for _ in 0..5 {
                match sqlite.run_pending_migrations(SQLITE) {
                    Ok(_) => return Ok(()),
                    Err(e) => last_error = Some(e.to_string()),
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(Error::Migration(last_error.unwrap_or_default()))
        }
    }
}
