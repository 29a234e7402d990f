//! Connecting: the URL picks the backend, a pool keeps connections, and every SQLite
//! connection is set up for concurrent use (WAL, a busy timeout, foreign keys on).

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};

use crate::DbError;

/// One connection type over both backends; queries written once against it run on either.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

impl std::fmt::Debug for DbConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DbConn::Pg(_) => "DbConn::Pg",
            DbConn::Sqlite(_) => "DbConn::Sqlite",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Postgres { url: String },
    Sqlite { path: PathBuf },
}

impl Backend {
    /// Reads `postgres://…`, `postgresql://…`, `sqlite://path` or `sqlite:path`.
    pub fn from_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres { url: without_loopback_tls(url) });
        }
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(DbError::Connect("a sqlite URL needs a file path, like sqlite://data/braid.db".into()));
            }
            return Ok(Backend::Sqlite { path: PathBuf::from(path) });
        }
        Err(DbError::Connect(format!("unsupported database URL `{}`: use postgres://… or sqlite://path", redact(url))))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Postgres { .. } => "postgres",
            Backend::Sqlite { .. } => "sqlite",
        }
    }

    /// The URL without its password, for logs.
    pub fn describe(&self) -> String {
        match self {
            Backend::Postgres { url } => redact(url),
            Backend::Sqlite { path } => format!("sqlite://{}", path.display()),
        }
    }
}

/// A server on this machine is reached without TLS unless the URL asks for it (`sslmode`):
/// encrypting loopback traffic protects nothing and cost a sixth of the inbound email
/// throughput (docs/benchmarks-email.md). libpq's own default, `prefer`, would use TLS
/// whenever the server offers it.
fn without_loopback_tls(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback || url.contains("sslmode=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode=disable")
}

/// The URL with any password replaced by `***`, for logs and error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{user}:***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// How long a SQLite writer waits for the lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct ConnectionManager {
    backend: Backend,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        match &self.backend {
            Backend::Postgres { url } => diesel::PgConnection::establish(url)
                .map(DbConn::Pg)
                .map_err(|e| DbError::Connect(format!("{}: {e}", redact(url)))),
            Backend::Sqlite { path } => {
                let location = path.to_string_lossy();
                let mut conn = diesel::SqliteConnection::establish(&location)
                    .map_err(|e| DbError::Connect(format!("{location}: {e}")))?;
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {};",
                    SQLITE_BUSY_TIMEOUT.as_millis()
                ))
                .map_err(|e| DbError::Connect(format!("{location}: {e}")))?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        conn.batch_execute("SELECT 1").map_err(DbError::from)
    }

    /// A connection given back while a transaction is still open (a panic inside one) must
    /// not serve the next caller: it would run inside that half-done transaction.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        use diesel::connection::{TransactionManager, TransactionManagerStatus};
        if std::thread::panicking() {
            return true;
        }
        match <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn) {
            TransactionManagerStatus::Valid(status) => status.transaction_depth().is_some(),
            TransactionManagerStatus::InError => true,
        }
    }
}

impl From<diesel::ConnectionError> for DbError {
    fn from(error: diesel::ConnectionError) -> Self {
        DbError::Connect(error.to_string())
    }
}

/// Connections in use and idle, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

/// The database: a pool of connections to one backend. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager>,
    backend: Backend,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("backend", &self.backend.describe()).finish()
    }
}

impl Db {
    /// Connects (creating the SQLite file and its directory if needed) and fails with the
    /// backend's own words when it cannot: a wrong password, a refused connection, a
    /// missing database.
    pub fn connect(url: &str, pool_size: u32) -> Result<Self, DbError> {
        let backend = Backend::from_url(url)?;
        if let Backend::Sqlite { path } = &backend {
            create_parent_dir(path)?;
        }
        let manager = ConnectionManager { backend: backend.clone() };
        // Connect once outside the pool: r2d2 would retry quietly until its timeout and
        // then report only "timed out", hiding the cause.
        drop(manager.connect()?);
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            // Checking every checkout with `SELECT 1` costs a round-trip per query; a dead
            // connection fails its query instead, and `has_broken` retires it.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(30))
            .error_handler(Box::new(r2d2::LoggingErrorHandler))
            .build(manager)?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// A connection for blocking code (CLI commands, tests, workers' own threads).
    pub fn get(&self) -> Result<PooledConnection<ConnectionManager>, DbError> {
        Ok(self.pool.get()?)
    }

    /// Runs `work` with a connection on tokio's blocking pool.
    pub async fn run<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await
        .map_err(|_| DbError::Cancelled)?
    }

    /// Applies every pending migration of this backend; returns how many ran.
    pub fn migrate(&self) -> Result<usize, DbError> {
        crate::migrate::run(&mut *self.get()?)
    }

    /// Is the database answering?
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|conn| conn.batch_execute("SELECT 1").map_err(DbError::from)).await
    }

    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            in_use: state.connections - state.idle_connections,
            idle: state.idle_connections,
            max: self.pool.max_size(),
        }
    }
}

fn create_parent_dir(path: &Path) -> Result<(), DbError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|e| DbError::Connect(format!("cannot create {}: {e}", dir.display())))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_backend() {
        assert_eq!(Backend::from_url("sqlite://data/b.db").unwrap(), Backend::Sqlite { path: "data/b.db".into() });
        assert_eq!(Backend::from_url("sqlite:/tmp/b.db").unwrap(), Backend::Sqlite { path: "/tmp/b.db".into() });
        assert_eq!(Backend::from_url("postgres://u@h/db").unwrap().name(), "postgres");
        assert_eq!(Backend::from_url("postgresql://u@h/db").unwrap().name(), "postgres");
        assert!(Backend::from_url("mysql://x").is_err());
        assert!(Backend::from_url("sqlite://").is_err());
    }

    #[test]
    fn a_server_on_this_machine_is_reached_without_tls_unless_asked() {
        let url = |u: &str| match Backend::from_url(u).unwrap() {
            Backend::Postgres { url } => url,
            Backend::Sqlite { .. } => unreachable!(),
        };
        assert_eq!(url("postgres://u@127.0.0.1:5432/db"), "postgres://u@127.0.0.1:5432/db?sslmode=disable");
        assert_eq!(url("postgres://u:p@localhost/db?x=1"), "postgres://u:p@localhost/db?x=1&sslmode=disable");
        assert_eq!(url("postgresql://[::1]:5432/db"), "postgresql://[::1]:5432/db?sslmode=disable");
        assert_eq!(url("postgres://u@127.0.0.1/db?sslmode=require"), "postgres://u@127.0.0.1/db?sslmode=require");
        assert_eq!(url("postgres://u@db.example.com/db"), "postgres://u@db.example.com/db");
        assert_eq!(url("postgres://u@10.0.0.5:5432/db"), "postgres://u@10.0.0.5:5432/db");
    }

    #[test]
    fn passwords_never_reach_the_logs() {
        let backend = Backend::from_url("postgres://braid:s3cret@db:5432/braid").unwrap();
        assert_eq!(backend.describe(), "postgres://braid:***@db:5432/braid");
        let err = Backend::from_url("mysql://root:pw@h/db").unwrap_err().to_string();
        assert!(!err.contains("pw@"), "{err}");
    }
}
