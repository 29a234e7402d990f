//! `TestApp`: boots the real app on port 0 over a database of its own, a temporary SQLite
//! file or a new PostgreSQL database that is dropped afterwards.

use std::sync::Once;

use braid::startup::FirstAdmin;
use braid::{Application, Settings};
use braid_db::Db;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// The PostgreSQL server tests create their databases on. The tests fail, never skip,
/// when it cannot be reached.
pub fn postgres_admin_url() -> String {
    std::env::var("BRAID_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("BRAID_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The signing key test apps use, so tests can forge and tamper with tokens.
pub const JWT_SECRET: &str = "test-only signing secret";
pub const JWT_KEY_ID: &str = "test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend from an `async fn(Backend)`.
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )+};
}
pub(crate) use both_backends;

/// A database of the test's own; removed when dropped.
#[derive(Debug)]
pub enum TestDatabase {
    Sqlite { _dir: tempfile::TempDir, url: String },
    Postgres { name: String, url: String },
}

impl TestDatabase {
    pub fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("braid.db").display());
                TestDatabase::Sqlite { _dir: dir, url }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("braid_test_{}", uuid::Uuid::now_v7().simple());
                let mut admin = PgConnection::establish(&admin_url)
                    .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at {admin_url}: {e}"));
                admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("CREATE DATABASE");
                let url = match admin_url.rsplit_once('/') {
                    Some((server, _)) => format!("{server}/{name}"),
                    None => panic!("BRAID_TEST_POSTGRES_URL needs a database path: {admin_url}"),
                };
                TestDatabase::Postgres { name, url }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url, .. } | TestDatabase::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { name, .. } = self
            && let Ok(mut admin) = PgConnection::establish(&postgres_admin_url())
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub first_admin: Option<FirstAdmin>,
    /// The app's data directory (blobs), removed with the app.
    pub data_dir: tempfile::TempDir,
    // Dropped last: the server's pool must go before its database does.
    _database: TestDatabase,
}

pub struct TestAppBuilder {
    backend: Backend,
    settings: Settings,
}

impl TestAppBuilder {
    /// Connects the app to the machine's Redis.
    pub fn with_redis(mut self) -> Self {
        self.settings.redis_url = Some(redis_url());
        self
    }

    pub fn with_settings(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        self
    }

    pub async fn try_start(mut self) -> anyhow::Result<TestApp> {
        init_logs();
        let database = TestDatabase::create(self.backend);
        self.settings.database_url = Some(database.url().to_owned());
        let data_dir = tempfile::tempdir()?;
        self.settings.data_dir = data_dir.path().to_owned();
        let app = Application::build(&self.settings).await?;
        let address = format!("http://127.0.0.1:{}", app.port());
        let db = app.db().clone();
        let first_admin = app.first_admin().cloned();
        tokio::spawn(app.run_until_stopped());
        Ok(TestApp { address, client: reqwest::Client::new(), db, first_admin, data_dir, _database: database })
    }

    pub async fn start(self) -> TestApp {
        self.try_start().await.expect("the app starts")
    }
}

impl TestApp {
    pub fn builder(backend: Backend) -> TestAppBuilder {
        let settings = Settings {
            listen: "127.0.0.1:0".into(),
            log: std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
            shutdown_timeout_secs: 1,
            jwt_secret: Some(JWT_SECRET.into()),
            jwt_key_id: JWT_KEY_ID.into(),
            // Test receivers listen on the loopback interface.
            webhook_allow_private_targets: true,
            ..Settings::default()
        };
        TestAppBuilder { backend, settings }
    }

    pub async fn spawn(backend: Backend) -> TestApp {
        Self::builder(backend).start().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("the server answers")
    }

    /// A request with `token` as its bearer credential.
    pub fn request(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(token)
    }

    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path, token).send().await.expect("the server answers")
    }

    pub async fn post_as(&self, path: &str, token: &str, body: &serde_json::Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, path, token).json(body).send().await.expect("the server answers")
    }

    pub async fn put_as(&self, path: &str, token: &str, body: &serde_json::Value) -> reqwest::Response {
        self.request(reqwest::Method::PUT, path, token).json(body).send().await.expect("the server answers")
    }

    pub async fn patch_as(&self, path: &str, token: &str, body: &serde_json::Value) -> reqwest::Response {
        self.request(reqwest::Method::PATCH, path, token).json(body).send().await.expect("the server answers")
    }

    pub async fn delete_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.request(reqwest::Method::DELETE, path, token).send().await.expect("the server answers")
    }

    /// Signs in and returns the token pair as JSON.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/v1/auth/login"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("the server answers")
    }

    /// An access token of the first admin.
    pub async fn admin_token(&self) -> String {
        let admin = self.first_admin.as_ref().expect("a fresh app has a first admin");
        access_token(self.login(&admin.email, &admin.password).await).await
    }

    /// Creates an agent with role `role` through the API and signs them in.
    pub async fn agent_token(&self, role: &str) -> String {
        let admin = self.admin_token().await;
        let email = format!("{}@agents.example.org", uuid::Uuid::now_v7().simple());
        let password = "a long enough password";
        let created = self
            .post_as(
                "/v1/agents",
                &admin,
                &serde_json::json!({ "email": email, "name": "Test Agent", "role": role, "password": password }),
            )
            .await;
        assert_eq!(created.status(), 201, "{:?}", created.text().await);
        access_token(self.login(&email, password).await).await
    }

    /// Creates an API key with `scopes` and returns its secret.
    pub async fn api_key(&self, scopes: &[&str]) -> String {
        let admin = self.admin_token().await;
        let created =
            self.post_as("/v1/api-keys", &admin, &serde_json::json!({ "name": "test key", "scopes": scopes })).await;
        assert_eq!(created.status(), 201);
        let body: serde_json::Value = created.json().await.expect("JSON");
        body["secret"].as_str().expect("a secret").to_owned()
    }
}

pub async fn access_token(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200, "sign-in failed");
    let body: serde_json::Value = response.json().await.expect("JSON");
    body["access_token"].as_str().expect("an access token").to_owned()
}

impl TestApp {
    /// Runs blocking database work the way the server does.
    pub async fn with_db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut braid_db::DbConn) -> Result<T, braid_db::DbError> + Send + 'static,
    ) -> T {
        self.db.run(work).await.expect("database work succeeds")
    }
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            braid::telemetry::init(&Settings { log: filter, ..Settings::default() });
        }
    });
}
