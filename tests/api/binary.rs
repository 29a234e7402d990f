//! The `braid` binary as a user runs it: `serve` on defaults, `admin create`, `migrate`,
//! `openapi`, and start-up failures that name their cause.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use braid_core::EmailAddress;
use braid_db::Db;

use crate::helpers::{Backend, TestDatabase, both_backends};

both_backends!(
    serve_migrates_creates_the_first_admin_once_answers_and_stops_on_sigterm,
    admin_create_creates_then_resets_an_admin
);

fn braid(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_braid"));
    command.current_dir(dir).env("BRAID_LOG", "warn").stdin(Stdio::null());
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("BRAID_")) {
        command.env_remove(key);
    }
    command
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_until_healthy(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(response) = reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz")) {
            assert_eq!(response.status(), 200);
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("braid serve exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("braid serve did not answer /healthz within 60s");
}

/// Starts `braid serve`, checks `/healthz`, stops it with SIGTERM, and returns its output.
fn serve_once(dir: &Path, database: Option<&str>) -> Output {
    let port = free_port();
    let mut command = braid(dir);
    command.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
    if let Some(url) = database {
        command.env("BRAID_DATABASE_URL", url);
    }
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_until_healthy(port, &mut child);
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "a SIGTERM is a clean stop: {output:?}");
    output
}

async fn serve_migrates_creates_the_first_admin_once_answers_and_stops_on_sigterm(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(backend);
    let url = (backend == Backend::Postgres).then(|| database.url().to_owned());
    let path = dir.path().to_owned();

    let (first, second) = tokio::task::spawn_blocking(move || {
        let first = serve_once(&path, url.as_deref());
        let second = serve_once(&path, url.as_deref());
        (first, second)
    })
    .await
    .unwrap();

    let printed = String::from_utf8_lossy(&first.stdout);
    assert!(printed.contains("email:    admin@braid.localhost"), "{printed}");
    let password = printed.lines().find_map(|line| line.trim().strip_prefix("password: ")).unwrap().to_owned();
    assert_eq!(password.len(), 24);
    assert!(!String::from_utf8_lossy(&second.stdout).contains("password"), "credentials are shown only once");

    let sqlite_file = dir.path().join("data/braid.db");
    assert_eq!(sqlite_file.exists(), backend == Backend::Sqlite, "the default database lives under ./data/");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", sqlite_file.display()),
        Backend::Postgres => database.url().to_owned(),
    };
    let hash = tokio::task::spawn_blocking(move || {
        let db = Db::connect(&url, 1).unwrap();
        let email = EmailAddress::parse("admin@braid.localhost").unwrap();
        braid_db::agents::password_hash(&mut db.get().unwrap(), &email).unwrap().unwrap().1
    })
    .await
    .unwrap();
    assert!(braid_api::password::verify(&password, &hash), "the printed password signs in");
}

async fn admin_create_creates_then_resets_an_admin(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(backend);
    let url = database.url().to_owned();
    let run = |password: &str| {
        braid(dir.path())
            .args(["admin", "create", "--email", "Boss@Example.org", "--password", password, "--name", "Boss"])
            .env("BRAID_DATABASE_URL", &url)
            .output()
            .unwrap()
    };

    let created = run("first password 1");
    assert!(created.status.success(), "{created:?}");
    assert!(String::from_utf8_lossy(&created.stdout).contains("admin boss@example.org created"));
    let reset = run("second password 2");
    assert!(String::from_utf8_lossy(&reset.stdout).contains("admin boss@example.org reset"), "{reset:?}");
    let short = run("short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));

    let db = Db::connect(&url, 1).unwrap();
    let mut conn = db.get().unwrap();
    let email = EmailAddress::parse("boss@example.org").unwrap();
    let agent = braid_db::agents::find_by_email(&mut conn, &email).unwrap().unwrap();
    assert_eq!(agent.role, braid_core::Role::Admin);
    assert_eq!(agent.name.as_str(), "Boss");
    let (_, hash) = braid_db::agents::password_hash(&mut conn, &email).unwrap().unwrap();
    assert!(braid_api::password::verify("second password 2", &hash));
    assert_eq!(braid_db::agents::count(&mut conn).unwrap(), 1);
}

#[test]
fn an_unreachable_postgres_fails_at_start_with_the_real_cause() {
    let dir = tempfile::tempdir().unwrap();
    let output = braid(dir.path())
        .args(["migrate", "--database-url", "postgres://braid:secret@127.0.0.1:1/braid"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(!stderr.contains("secret"), "passwords stay out of errors: {stderr}");
}

#[test]
fn a_missing_postgres_database_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::postgres_admin_url()
        .rsplit_once('/')
        .map(|(server, _)| format!("{server}/braid_no_such_db"))
        .unwrap();
    let output = braid(dir.path()).arg("migrate").env("BRAID_DATABASE_URL", url).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("braid_no_such_db") && stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn an_unsupported_database_url_is_refused_with_the_accepted_forms() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        braid(dir.path()).arg("migrate").env("BRAID_DATABASE_URL", "mysql://root@localhost/braid").output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("use postgres://… or sqlite://path"));
}

#[test]
fn an_unreachable_redis_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = braid(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--redis-url", "redis://:hunter2@127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot connect to Redis at redis://:***@127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "passwords stay out of errors: {stderr}");
}

#[test]
fn a_bad_smtp_ca_file_stops_serve_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("internal-ca.pem");
    std::fs::write(&ca_file, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
        .unwrap();
    let output = braid(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("BRAID_SMTP_URL", "smtps://mx.example.org")
        .env("BRAID_SMTP_CA_FILE", &ca_file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("smtp_ca_file {}: certificate 1 is not valid", ca_file.display())), "{stderr}");
}

#[test]
fn braid_openapi_prints_the_committed_document() {
    let dir = tempfile::tempdir().unwrap();
    let output = braid(dir.path()).arg("openapi").output().unwrap();
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is only the document");
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap_or_default();
    assert!(
        printed == committed,
        "openapi/openapi.json is stale: run `cargo run -q -- openapi > openapi/openapi.json` and commit it"
    );
}
