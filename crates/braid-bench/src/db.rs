//! A plain connection to either backend, for raw SQL: bulk inserts while seeding and a few
//! look-ups (sample ids, counts) before a run.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

#[allow(missing_debug_implementations)] // diesel's connections are not Debug
pub enum Db {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    v: String,
}

#[derive(QueryableByName)]
struct IntRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Db {
    /// `postgres://…`, `postgresql://…`, `sqlite://path` or `sqlite:path`, like Braid.
    pub fn connect(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let conn = PgConnection::establish(url)
                .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(url)))?;
            return Ok(Db::Pg(conn));
        }
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if !std::path::Path::new(path).exists() {
                bail!("no SQLite database at {path}: run `braid migrate --database-url {url}` first");
            }
            let mut conn =
                SqliteConnection::establish(path).with_context(|| format!("cannot open SQLite database {path}"))?;
            conn.batch_execute("PRAGMA busy_timeout = 15000; PRAGMA foreign_keys = ON;")?;
            return Ok(Db::Sqlite(conn));
        }
        bail!("unsupported database URL `{}`: use postgres://… or sqlite://path", redact(url))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Pg(_))
    }

    /// Runs one or more statements.
    pub fn execute(&mut self, sql: &str) -> anyhow::Result<()> {
        match self {
            Db::Pg(conn) => conn.batch_execute(sql),
            Db::Sqlite(conn) => conn.batch_execute(sql),
        }
        .map_err(anyhow::Error::from)
    }

    /// The text column `v` of every row.
    pub fn strings(&mut self, sql: &str) -> anyhow::Result<Vec<String>> {
        let rows: Vec<TextRow> = match self {
            Db::Pg(conn) => diesel::sql_query(sql).load(conn)?,
            Db::Sqlite(conn) => diesel::sql_query(sql).load(conn)?,
        };
        Ok(rows.into_iter().map(|row| row.v).collect())
    }

    /// `SELECT count(*) FROM {from}`: `from` is a table and any clauses after it.
    pub fn count(&mut self, from: &str) -> anyhow::Result<i64> {
        self.int(&format!("SELECT count(*) AS n FROM {from}"))
    }

    /// The integer column `n` of the first row.
    pub fn int(&mut self, sql: &str) -> anyhow::Result<i64> {
        let row: IntRow = match self {
            Db::Pg(conn) => diesel::sql_query(sql).get_result(conn)?,
            Db::Sqlite(conn) => diesel::sql_query(sql).get_result(conn)?,
        };
        Ok(row.n)
    }
}

/// A time as Braid stores it (UTC, microseconds), written the way diesel writes a
/// `timestamp` to SQLite (`%F %T%.f`), which PostgreSQL reads as well. SQLite compares
/// these as text, so the format must match what Braid itself writes.
pub fn timestamp(at: DateTime<Utc>) -> String {
    format!("'{}'", at.naive_utc().format("%F %T%.f"))
}

/// A SQL string literal.
pub fn text(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The URL without its password.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end && url[scheme_end + 3..at].contains(':') => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{user}:***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}
