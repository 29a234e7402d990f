//! `braid-bench connector`: connector messages per second into a running Braid, beside
//! inbound email in the same run.
//!
//! Registers a connector (`bench-<nonce>`, with the admin `--token`) and posts `--messages`
//! messages through its key at `--concurrency`: the first half from new customers (each
//! with a name and a conversation of its own: a new customer, a new ticket), the second
//! half one follow-up per customer in its conversation (placed by the conversation's
//! ticket). Every `external_id` is new, so every message is stored and placed.
//!
//! The reference, in the same run and at the same concurrency: as many raw emails to the
//! inbound email endpoint (`--email-secret`), the same shape (a first mail per new sender,
//! then a reply naming it with In-Reply-To) and about the same text, so the two channels'
//! costs sit side by side on this machine and database.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use reqwest::{Client, RequestBuilder, Url};

use crate::http;
use crate::report::Table;
use crate::stats::Tally;

#[derive(Debug, Args)]
pub struct ConnectorArgs {
    /// The running Braid server; must be on the loopback interface.
    #[arg(long, env = "BRAID_BENCH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An admin's access token or an API key with `admin` (registers the connector).
    #[arg(long, env = "BRAID_BENCH_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The server's inbound email secret, for the reference run; without it, none.
    #[arg(long, env = "BRAID_EMAIL_INBOUND_SECRET", hide_env_values = true)]
    pub email_secret: Option<String>,
    /// Messages per run (half first messages, half follow-ups).
    #[arg(long, default_value_t = 5_000)]
    pub messages: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: u64,
}

pub fn connector(args: ConnectorArgs) -> anyhow::Result<()> {
    let base = http::loopback_url(&args.url, "--url")?;
    if args.concurrency == 0 || args.messages < 2 {
        bail!("--concurrency must be at least 1 and --messages at least 2");
    }
    http::block_on(drive(args, base))?
}

async fn drive(args: ConnectorArgs, base: Url) -> anyhow::Result<()> {
    let client = http::connect(&base, args.concurrency, Duration::from_secs(60)).await?;
    let nonce = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_micros());
    let name = format!("bench-{nonce}");
    let created = client
        .post(base.join("/v1/connectors")?)
        .bearer_auth(&args.token)
        .json(&serde_json::json!({"name": name}))
        .send()
        .await?;
    if !created.status().is_success() {
        bail!("registering the connector answered {}: {}", created.status(), created.text().await.unwrap_or_default());
    }
    let created: serde_json::Value = created.json().await?;
    let key = created["key"].as_str().unwrap_or_default().to_owned();
    let customers = args.messages / 2;
    println!(
        "braid-bench connector: {base} · connector {name} · {} messages ({customers} first messages from new customers, \
         {} follow-ups in their conversations) · concurrency {}",
        args.messages,
        args.messages - customers,
        args.concurrency
    );

    let mut table = Table::new(["run", "messages", "errors", "per second", "p50 ms", "p95 ms", "p99 ms", "max ms"], 1);
    let endpoint = base.join(&format!("/v1/connectors/{name}/messages"))?;
    let (nonce_c, key_c) = (nonce.clone(), key.clone());
    let connector = run(&client, args.messages, args.concurrency, move |client, i| {
        let customer = i % customers;
        let mut body = serde_json::json!({
            "external_id": format!("{nonce_c}-{i}"),
            "customer": {"external_id": format!("cust-{customer}")},
            "conversation_ref": format!("conv-{customer}"),
            "text": text(i),
        });
        if i < customers {
            body["customer"]["name"] = format!("Bench Customer {customer}").into();
        }
        client.post(endpoint.clone()).bearer_auth(&key_c).json(&body)
    })
    .await;
    connector.print_errors("connector messages");
    let mut row = |label: &str, tally: &Tally| {
        let [answered, errors, _, p50, p95, p99, max] = tally.figures();
        let rate = format!("{:.0}", tally.latency.len() as f64 / tally.elapsed.as_secs_f64().max(f64::EPSILON));
        table.row([label.to_owned(), answered, errors, rate, p50, p95, p99, max]);
    };
    row("connector: POST /v1/connectors/{name}/messages", &connector);

    if let Some(secret) = args.email_secret.filter(|s| !s.is_empty()) {
        let endpoint = base.join("/v1/channels/email/inbound")?;
        let auth = format!("Bearer {secret}");
        let email = run(&client, args.messages, args.concurrency, move |client, i| {
            let sender = i % customers;
            let id = format!("<{nonce}-{i}@bench.example>");
            let reply = if i < customers {
                String::new()
            } else {
                format!("In-Reply-To: <{nonce}-{sender}@bench.example>\r\n")
            };
            let raw = format!(
                "From: Bench Sender {sender} <s{sender}-{nonce}@bench.example>\r\nTo: support@braid.localhost\r\n\
                 Subject: Order question {sender}\r\nMessage-ID: {id}\r\n{reply}Date: Mon, 30 Nov 2026 12:00:00 +0000\r\n\
                 MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
                text(i)
            );
            client.post(endpoint.clone()).header("authorization", &auth).header("content-type", "message/rfc822").body(raw)
        })
        .await;
        email.print_errors("reference emails");
        row("reference: raw emails to /v1/channels/email/inbound", &email);
    } else {
        eprintln!("note: no --email-secret, so no inbound email reference");
    }
    println!();
    println!("{}", table.padded());
    Ok(())
}

/// About a short message's worth of text, different for each message.
fn text(i: u64) -> String {
    format!(
        "Hello, this is message {i}. My order has not arrived yet and the tracking page has not changed \
         since Tuesday. Could you check with the carrier and tell me when to expect it? Thanks!"
    )
}

/// Sends `n` requests made by `make` (given the request's index, first messages first)
/// from `concurrency` workers.
async fn run(
    client: &Client,
    n: u64,
    concurrency: u64,
    make: impl Fn(&Client, u64) -> RequestBuilder + Send + Sync + 'static,
) -> Tally {
    let (next, make) = (Arc::new(AtomicU64::new(0)), Arc::new(make));
    http::fan_out(concurrency, || {
        let (client, next, make) = (client.clone(), next.clone(), make.clone());
        async move {
            let mut tally = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return tally;
                }
                let (micros, result) = http::exchange(|| make(&client, i), |_, _| ()).await;
                tally.record(micros, result);
            }
        }
    })
    .await
}
