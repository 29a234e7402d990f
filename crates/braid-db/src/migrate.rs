//! Embedded migrations, one set per backend (`migrations/postgres`, `migrations/sqlite`),
//! so the binary migrates any database with no files beside it.

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{DbConn, DbError, dialect};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

pub(crate) fn run(conn: &mut DbConn) -> Result<usize, DbError> {
    let applied = dialect::with_migration_lock(conn, |conn| match conn {
        DbConn::Pg(pg) => pg.run_pending_migrations(POSTGRES).map(|v| v.len()),
        DbConn::Sqlite(sqlite) => sqlite.run_pending_migrations(SQLITE).map(|v| v.len()),
    })?;
    applied.map_err(|e| DbError::Migration(e.to_string()))
}
