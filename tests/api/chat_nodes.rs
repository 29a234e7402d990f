//! Two `braid serve` processes on one database and one Redis: a visitor on node A, an agent
//! on node B, and Redis killed and started again mid-conversation. Nothing is lost or
//! doubled: every node reads the event log itself, and Redis only makes it faster.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::chat::{ORIGIN, Ws, next, socket_at, until};
use crate::helpers::{Backend, TestDatabase, both_backends};

both_backends!(a_conversation_across_two_nodes_survives_a_redis_restart);

const PASSWORD: &str = "a long enough password";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn braid(dir: &Path, database: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_braid"));
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("BRAID_")) {
        command.env_remove(key);
    }
    command.current_dir(dir).env("BRAID_LOG", "warn").env("BRAID_DATABASE_URL", database).stdin(Stdio::null());
    command
}

/// A Redis server of this test's own (restarting the machine's would disturb other tests).
fn redis(port: u16) -> Process {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed (the tests need Redis)");
    wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "redis-server to listen");
    Process(child)
}

fn node(dir: &Path, database: &str, redis_port: u16) -> (Process, String) {
    let port = free_port();
    let child = braid(dir, database)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("BRAID_REDIS_URL", format!("redis://127.0.0.1:{redis_port}"))
        .env("BRAID_DATA_DIR", dir.join(format!("node-{port}")))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let health = format!("{base}/healthz");
    wait_for(|| reqwest::blocking::get(&health).is_ok_and(|r| r.status() == 200), "braid serve to answer");
    (Process(child), base)
}

fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("waited 60 s for {what}");
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let response = client.post(url).bearer_auth(token).header("origin", ORIGIN).json(&body).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

fn sorted<S: AsRef<str>>(texts: &[S]) -> Vec<String> {
    let mut texts: Vec<String> = texts.iter().map(|t| t.as_ref().to_owned()).collect();
    texts.sort();
    texts
}

/// The text of the next answer the visitor's socket shows (their own messages, which come
/// back too, skipped).
async fn visitor_hears(ws: &mut Ws) -> String {
    loop {
        let (frame, _) = until(ws, "message").await;
        if frame["message"]["direction"] == "outbound" {
            return frame["message"]["text"].as_str().unwrap().to_owned();
        }
    }
}

/// The text of the next `message.created` event on the agents' stream.
async fn agent_hears(ws: &mut Ws) -> String {
    loop {
        let frame = next(ws).await;
        if frame["type"] == "event" && frame["kind"] == "message.created" {
            return frame["payload"]["text"].as_str().unwrap().to_owned();
        }
    }
}

async fn a_conversation_across_two_nodes_survives_a_redis_restart(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(backend);
    // On SQLite both processes open the same file (WAL mode, a busy timeout).
    let url = database.url().to_owned();
    let created = braid(dir.path(), &url)
        .args(["admin", "create", "--email", "boss@example.org", "--password", PASSWORD])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let redis_port = free_port();
    let mut redis_server = redis(redis_port);
    let (dir_path, url_a, url_b) = (dir.path().to_owned(), url.clone(), url.clone());
    let ((_node_a, a), (_node_b, b)) =
        tokio::task::spawn_blocking(move || (node(&dir_path, &url_a, redis_port), node(&dir_path, &url_b, redis_port)))
            .await
            .unwrap();

    let client = reqwest::Client::new();
    let login =
        post(&client, format!("{b}/v1/auth/login"), "", json!({"email": "boss@example.org", "password": PASSWORD}))
            .await;
    let admin = login["access_token"].as_str().unwrap().to_owned();
    let site = post(
        &client,
        format!("{b}/v1/chat/sites"),
        &admin,
        json!({"name": "Shop", "slug": "shop", "allowed_origins": [ORIGIN]}),
    )
    .await;
    let session = client
        .post(format!("{a}/widget/v1/sessions"))
        .header("origin", ORIGIN)
        .json(&json!({"site_key": site["site_key"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 201);
    let visitor = session.json::<Value>().await.unwrap()["visitor_token"].as_str().unwrap().to_owned();

    // The visitor on node A, the agent's stream on node B.
    let mut visitor_ws = socket_at(&format!("{a}/widget/v1/ws"), Some(ORIGIN), None).await;
    visitor_ws.send(Frame::text(json!({"type": "auth", "token": visitor}).to_string())).await.unwrap();
    until(&mut visitor_ws, "ready").await;
    let mut agent_ws = socket_at(&format!("{b}/v1/stream"), None, Some(&admin)).await;
    until(&mut agent_ws, "ready").await;

    let mut sent = 0;
    let mut say = async |ws: &mut Ws, text: &str| {
        sent += 1;
        let frame = json!({"type": "message", "client_msg_id": format!("c-{sent}"), "text": text});
        ws.send(Frame::text(frame.to_string())).await.unwrap();
    };
    say(&mut visitor_ws, "Hello from node A").await;
    assert_eq!(agent_hears(&mut agent_ws).await, "Hello from node A");
    let tickets: Value =
        client.get(format!("{b}/v1/tickets")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    let ticket = tickets["data"][0]["id"].as_str().unwrap().to_owned();
    let reply = |text: &str| {
        let (client, url, admin) = (client.clone(), format!("{b}/v1/tickets/{ticket}/replies"), admin.clone());
        let body = json!({"text": text, "channel": "chat"});
        async move { post(&client, url, &admin, body).await }
    };
    reply("Hello from node B").await;
    assert_eq!(visitor_hears(&mut visitor_ws).await, "Hello from node B");
    assert_eq!(agent_hears(&mut agent_ws).await, "Hello from node B", "the stream shows every message");

    // Redis dies mid-conversation: the nodes fall back to reading the log on their own.
    drop(redis_server);
    say(&mut visitor_ws, "Are you there?").await;
    reply("Still here, without Redis.").await;
    say(&mut visitor_ws, "Good.").await;
    reply("And again.").await;
    let (mut agent_saw, mut visitor_saw) = (Vec::new(), Vec::new());
    while agent_saw.len() < 4 {
        agent_saw.push(agent_hears(&mut agent_ws).await);
    }
    while visitor_saw.len() < 2 {
        visitor_saw.push(visitor_hears(&mut visitor_ws).await);
    }
    // The visitor's frames and the agent's requests race each other across nodes; each
    // side's own order holds, and everything arrives exactly once.
    assert_eq!(sorted(&agent_saw), sorted(&["Are you there?", "Still here, without Redis.", "Good.", "And again."]));
    let from_visitor: Vec<_> = agent_saw.iter().filter(|t| ["Are you there?", "Good."].contains(&t.as_str())).collect();
    assert_eq!(from_visitor, ["Are you there?", "Good."]);
    assert_eq!(visitor_saw, ["Still here, without Redis.", "And again."]);

    // Redis comes back on the same port: the nodes reconnect, and the conversation goes on.
    redis_server = redis(redis_port);
    reply("Redis is back.").await;
    say(&mut visitor_ws, "Great.").await;
    assert_eq!(visitor_hears(&mut visitor_ws).await, "Redis is back.");
    let mut after = Vec::new();
    while after.len() < 2 {
        after.push(agent_hears(&mut agent_ws).await);
    }
    assert_eq!(sorted(&after), sorted(&["Redis is back.", "Great."]), "nothing lost, nothing twice");
    drop(redis_server);

    // The ticket holds each message once.
    let listed: Value = client
        .get(format!("{a}/v1/tickets/{ticket}/messages"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 8, "{listed}");
}
