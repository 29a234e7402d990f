//! `braid-bench webhooks`: webhook deliveries per second from a running Braid to a local
//! receiver.
//!
//! Starts a minimal HTTP/1.1 receiver on the loopback interface that answers every POST
//! `200` at once and counts the distinct `webhook-id`s; registers an endpoint for
//! `ticket.updated` on the server (which must run with
//! `BRAID_WEBHOOK_ALLOW_PRIVATE_TARGETS=true`); writes `--events` synthetic events straight
//! into the server's PostgreSQL event log, a thousand per transaction; and times from the
//! commit of the first to the receipt of the last. The reference, in the same run: the same
//! bodies POSTed straight at the receiver from here at the server's concurrency (64), with
//! no signing, no database and no queue — what this machine's HTTP stack allows.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::db::Db;
use crate::http;
use crate::report::Table;

#[derive(Debug, Args)]
pub struct WebhooksArgs {
    /// The running Braid server; must be on the loopback interface.
    #[arg(long, env = "BRAID_BENCH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's PostgreSQL database, where the events are written.
    #[arg(long, env = "BRAID_BENCH_DATABASE_URL", default_value = crate::DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// An admin's access token or an API key with `admin`.
    #[arg(long, env = "BRAID_BENCH_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Events to deliver.
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Requests in flight at once for the reference run.
    #[arg(long, default_value_t = 64)]
    pub concurrency: u64,
    /// Give up waiting for deliveries after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub max_seconds: u64,
}

/// What the receiver has seen.
#[derive(Debug, Default)]
struct Seen {
    ids: HashSet<String>,
    requests: u64,
    last: Option<Instant>,
}

pub fn webhooks(args: WebhooksArgs) -> anyhow::Result<()> {
    let base = http::loopback_url(&args.url, "--url")?;
    let mut db = Db::connect(&args.database_url)?;
    if !db.is_postgres() {
        bail!("the webhook benchmark writes to a PostgreSQL event log; pass a postgres:// --database-url");
    }
    http::block_on(async move {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(receive(listener, seen.clone()));
        let target = format!("http://127.0.0.1:{port}/hook");

        // The reference: the receiver alone.
        let body = r#"{"type":"ticket.updated","timestamp":"2026-11-30T00:00:00Z","data":{"kind":"ticket.updated"}}"#;
        let reference = reference(&target, body, args.events, args.concurrency).await?;
        *seen.lock().expect("not poisoned") = Seen::default();

        let client = http::connect(&base, 1, Duration::from_secs(30)).await?;
        let created = client
            .post(base.join("/v1/webhooks")?)
            .bearer_auth(&args.token)
            .json(&serde_json::json!({"url": target, "events": ["ticket.updated"], "description": "braid-bench"}))
            .send()
            .await?;
        if !created.status().is_success() {
            bail!(
                "registering the endpoint answered {}: {} (is BRAID_WEBHOOK_ALLOW_PRIVATE_TARGETS=true set on the server?)",
                created.status(),
                created.text().await.unwrap_or_default()
            );
        }
        let endpoint: serde_json::Value = created.json().await?;
        let started = Instant::now();
        let mut written = 0;
        while written < args.events {
            let n = (args.events - written).min(1000);
            db.execute(&format!(
                "INSERT INTO events (kind, subject_id, customer_id, ticket_id, payload, created_at)
                 SELECT 'ticket.updated', md5(i::text || '{nonce}')::uuid::text, NULL, NULL,
                        json_build_object('id', md5(i::text)::uuid, 'number', i, 'subject', 'Synthetic ticket ' || i,
                            'status', 'open', 'priority', 'normal', 'tags', json_build_array('bench'))::text,
                        now()
                 FROM generate_series({written}, {written} + {n} - 1) AS i",
                nonce = started.elapsed().as_nanos()
            ))
            .context("writing events")?;
            written += n;
        }
        let wrote = started.elapsed();
        let deadline = started + Duration::from_secs(args.max_seconds);
        loop {
            let count = seen.lock().expect("not poisoned").ids.len() as u64;
            if count >= args.events || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let seen = seen.lock().expect("not poisoned");
        let delivered = seen.ids.len() as u64;
        let took = seen.last.map_or(started.elapsed(), |last| last - started);
        println!("endpoint {} ; events written in {:.2} s", endpoint["id"], wrote.as_secs_f64());
        let mut table = Table::new(["run", "deliveries", "requests", "seconds", "per second"], 1);
        table.row([
            format!("reference: POSTs straight to the receiver, {} at once", args.concurrency),
            reference.0.to_string(),
            reference.0.to_string(),
            format!("{:.2}", reference.1.as_secs_f64()),
            format!("{:.0}", reference.0 as f64 / reference.1.as_secs_f64()),
        ]);
        table.row([
            "braid: event log → queue → signed POST → recorded".to_owned(),
            delivered.to_string(),
            seen.requests.to_string(),
            format!("{:.2}", took.as_secs_f64()),
            format!("{:.0}", delivered as f64 / took.as_secs_f64()),
        ]);
        println!();
        println!("{}", table.padded());
        if delivered < args.events {
            bail!("only {delivered} of {} events were delivered within {} s", args.events, args.max_seconds);
        }
        Ok(())
    })?
}

/// POSTs `body` `n` times at `concurrency` straight to the receiver.
async fn reference(target: &str, body: &'static str, n: u64, concurrency: u64) -> anyhow::Result<(u64, Duration)> {
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(concurrency as usize).build()?;
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, target) = (client.clone(), next.clone(), target.to_owned());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, reqwest::Error>(());
                }
                client.post(&target).header("webhook-id", format!("ref_{i}")).body(body).send().await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((n, started.elapsed()))
}

/// A minimal HTTP/1.1 server: keeps connections alive, answers every request `200`.
async fn receive(listener: TcpListener, seen: Arc<Mutex<Seen>>) {
    while let Ok((mut socket, _)) = listener.accept().await {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut buffer = Vec::with_capacity(8192);
            let mut chunk = [0u8; 8192];
            loop {
                // Headers, then the body its content-length announces.
                let (head_end, length, id) = loop {
                    if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                        let header =
                            |name: &str| head.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()));
                        let length = header("content-length:").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
                        break (end + 4, length, header("webhook-id:").unwrap_or_default());
                    }
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    }
                };
                while buffer.len() < head_end + length {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    }
                }
                buffer.drain(..head_end + length);
                {
                    let mut seen = seen.lock().expect("not poisoned");
                    seen.requests += 1;
                    seen.ids.insert(id);
                    seen.last = Some(Instant::now());
                }
                if socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.is_err() {
                    return;
                }
            }
        });
    }
}
