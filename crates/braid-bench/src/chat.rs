//! `braid-bench chat`: how fast a visitor's chat message reaches an agent's live stream,
//! with many visitor sockets open, on one node or across two nodes through Redis; and what
//! an idle socket costs the server.
//!
//! The bench signs in, creates a chat site, opens `--visitors` visitor sessions and
//! sockets on `--url`, and the agents' stream on `--agent-url` (another node, or the same).
//! It then sends `--messages` messages from random visitors at `--rate` per second over
//! their sockets; the latency of each is from the moment its frame is written to the moment
//! its `message.created` event arrives on the agents' stream. As the reference, measured in
//! the same run, the same number of messages go through `POST /widget/v1/messages` and are
//! timed to their `201`: what storing a message costs, without the fan-out.
//!
//! The server must run with the widget's rate limits off (`BRAID_CHAT_SESSIONS_PER_MINUTE=0`,
//! `BRAID_CHAT_MESSAGES_PER_MINUTE=0`, `BRAID_CHAT_ADDRESS_MESSAGES_PER_MINUTE=0`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use reqwest::Client;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::http::{self, loopback_url};
use crate::report::Table;
use crate::rng::Rng;
use crate::stats::Tally;

const ORIGIN: &str = "http://bench.localhost";

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The node the visitors connect to; must be on the loopback interface.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The node the agents' stream connects to [default: --url]; another node makes the
    /// message cross nodes through Redis.
    #[arg(long)]
    pub agent_url: Option<String>,
    /// An admin's email and password.
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub password: String,
    /// Visitor sockets held open for the whole run.
    #[arg(long, default_value_t = 1_000)]
    pub visitors: usize,
    /// Timed messages (and as many timed REST sends for the reference).
    #[arg(long, default_value_t = 2_000)]
    pub messages: u64,
    /// Messages sent per second.
    #[arg(long, default_value_t = 100)]
    pub rate: u64,
    /// The visitors' node's process id, to read its memory before and after the sockets
    /// open (Linux `/proc/<pid>/status`).
    #[arg(long)]
    pub server_pid: Option<u32>,
    #[arg(long, default_value_t = 1)]
    pub rng_seed: u64,
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn chat(args: ChatArgs) -> anyhow::Result<()> {
    http::block_on(run(args))?
}

async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let visitors_url = loopback_url(&args.url, "--url")?;
    let agents_url = loopback_url(args.agent_url.as_deref().unwrap_or(&args.url), "--agent-url")?;
    let client = http::connect(&visitors_url, 64, Duration::from_secs(30)).await?;
    http::connect(&agents_url, 4, Duration::from_secs(30)).await?;

    let login: Value = client
        .post(agents_url.join("/v1/auth/login")?)
        .json(&json!({"email": args.email, "password": args.password}))
        .send()
        .await?
        .error_for_status()
        .context("signing in")?
        .json()
        .await?;
    let admin = login["access_token"].as_str().context("no access token")?.to_owned();
    let slug = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let site: Value = client
        .post(agents_url.join("/v1/chat/sites")?)
        .bearer_auth(&admin)
        .json(&json!({"name": "Bench", "slug": slug, "allowed_origins": [ORIGIN]}))
        .send()
        .await?
        .error_for_status()
        .context("creating a chat site")?
        .json()
        .await?;
    let site_key = site["site_key"].as_str().context("no site key")?.to_owned();

    // The agents' stream: every inbound chat message it sees stops its clock.
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let received = Arc::new(Mutex::new((Tally::default(), 0u64)));
    let mut stream = open(&format!("{}v1/stream", ws_base(&agents_url)), None, Some(&admin)).await?;
    wait_for(&mut stream, "ready").await?;
    let stream_task = {
        let (sent_at, received) = (sent_at.clone(), received.clone());
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let Frame::Text(text) = frame else { continue };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                if frame["kind"] != "message.created" || frame["payload"]["direction"] != "inbound" {
                    continue;
                }
                let key = frame["payload"]["text"].as_str().unwrap_or_default().to_owned();
                let started = sent_at.lock().expect("not poisoned").remove(&key);
                let mut received = received.lock().expect("not poisoned");
                match started {
                    Some(started) => {
                        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                        received.0.record::<()>(micros, Ok(()));
                    }
                    // A message of the reference (REST) run, or seen twice.
                    None => received.1 += 1,
                }
            }
        })
    };

    println!("opening {} visitor sessions, then their sockets, on {visitors_url}", args.visitors);
    let mut tokens = Vec::with_capacity(args.visitors);
    for _ in 0..args.visitors {
        let session: Value = client
            .post(visitors_url.join("/widget/v1/sessions")?)
            .header("origin", ORIGIN)
            .json(&json!({"site_key": site_key}))
            .send()
            .await?
            .error_for_status()
            .context("a visitor session (are the widget's rate limits off?)")?
            .json()
            .await?;
        tokens.push(session["visitor_token"].as_str().context("no visitor token")?.to_owned());
    }
    // Memory with the sessions made and the server warm, before any visitor socket.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = args.server_pid.and_then(rss_kib);
    let mut senders = Vec::with_capacity(args.visitors);
    for token in &tokens {
        let mut ws = open(&format!("{}widget/v1/ws", ws_base(&visitors_url)), Some(ORIGIN), None).await?;
        ws.send(Frame::text(json!({"type": "auth", "token": token}).to_string())).await?;
        wait_for(&mut ws, "ready").await?;
        let (mut write, mut read) = ws.split();
        // Read everything the socket sends, as a widget does, so it never lags.
        tokio::spawn(async move { while let Some(Ok(_)) = read.next().await {} });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(text) = rx.recv().await {
                if write.send(Frame::text(text)).await.is_err() {
                    break;
                }
            }
        });
        senders.push(tx);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = args.server_pid.and_then(rss_kib);

    // The timed run: socket sends at a fixed rate.
    println!("sending {} messages at {}/s over the sockets", args.messages, args.rate);
    let mut rng = Rng::warmed(args.rng_seed);
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let mut ticker = tokio::time::interval(interval);
    let started = Instant::now();
    for n in 0..args.messages {
        ticker.tick().await;
        let visitor = rng.index(senders.len());
        let key = format!("bench-ws-{n}");
        sent_at.lock().expect("not poisoned").insert(key.clone(), Instant::now());
        let frame = json!({"type": "message", "client_msg_id": key, "text": key});
        senders[visitor].send(frame.to_string()).ok();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sent_at.lock().expect("not poisoned").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let socket_elapsed = started.elapsed();
    let lost = sent_at.lock().expect("not poisoned").len();

    // The reference: the same sends over REST, timed to their answer.
    println!("sending {} messages at {}/s over REST (the reference)", args.messages, args.rate);
    let reference = rest_reference(&client, &visitors_url, &tokens, &args, interval).await?;

    stream_task.abort();
    let (mut tally, _extra) = std::mem::take(&mut *received.lock().expect("not poisoned"));
    tally.elapsed = socket_elapsed;
    let mut table = Table::new(["", "messages", "errors", "rate/s", "p50 ms", "p95 ms", "p99 ms", "max ms"], 1);
    let mut row = vec!["visitor socket send → agent stream receive".to_owned()];
    row.extend(tally.figures());
    table.row(row);
    let mut row = vec!["reference: POST /widget/v1/messages → 201".to_owned()];
    row.extend(reference.figures());
    table.row(row);
    println!();
    println!(
        "{} visitor sockets on {visitors_url}, agents' stream on {agents_url}{}",
        args.visitors,
        if visitors_url == agents_url { " (one node)" } else { " (two nodes)" }
    );
    print!("{}", table.padded());
    println!("never received within 30 s: {lost}");
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        let per = (after.saturating_sub(before)) as f64 / args.visitors.max(1) as f64;
        println!("server memory: {before} KiB before the sockets, {after} KiB with them: {per:.1} KiB per idle socket");
    }
    reference.print_errors("reference");
    if lost > 0 {
        bail!("{lost} messages never reached the agents' stream");
    }
    Ok(())
}

async fn rest_reference(
    client: &Client,
    base: &reqwest::Url,
    tokens: &[String],
    args: &ChatArgs,
    interval: Duration,
) -> anyhow::Result<Tally> {
    let url = base.join("/widget/v1/messages")?;
    let mut rng = Rng::warmed(args.rng_seed ^ 0xC4A7);
    let mut ticker = tokio::time::interval(interval);
    let mut tasks = Vec::new();
    let started = Instant::now();
    for n in 0..args.messages {
        ticker.tick().await;
        let token = tokens[rng.index(tokens.len())].clone();
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("bench-rest-{n}");
            http::exchange(
                || {
                    client
                        .post(url)
                        .header("origin", ORIGIN)
                        .bearer_auth(token)
                        .json(&json!({"client_msg_id": key, "text": key}))
                },
                |_, _| (),
            )
            .await
        }));
    }
    let mut tally = Tally::default();
    for task in tasks {
        let (micros, result) = task.await?;
        tally.record(micros, result);
    }
    tally.elapsed = started.elapsed();
    Ok(tally)
}

fn ws_base(url: &reqwest::Url) -> String {
    url.as_str().replacen("http://", "ws://", 1)
}

async fn open(url: &str, origin: Option<&str>, bearer: Option<&str>) -> anyhow::Result<Ws> {
    let mut request = url.into_client_request()?;
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse()?);
    }
    if let Some(token) = bearer {
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    }
    // Without TCP_NODELAY a small frame waits for the previous one's ACK (Nagle meeting
    // delayed ACKs): 40 ms that belong to the client, not to Braid. Browsers set it.
    let connected = tokio_tungstenite::connect_async_with_config(request, None, true).await;
    Ok(connected.with_context(|| format!("opening {url}"))?.0)
}

async fn wait_for(ws: &mut Ws, kind: &str) -> anyhow::Result<()> {
    let wait = async {
        while let Some(frame) = ws.next().await {
            if let Frame::Text(text) = frame?
                && serde_json::from_str::<Value>(&text)?["type"] == kind
            {
                return Ok(());
            }
        }
        bail!("the socket closed before `{kind}`")
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.context("no answer within 10 s")?
}

/// The resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
