//! `braid-bench email`: posts distinct, realistic raw emails to a running Braid's
//! `POST /v1/channels/email/inbound` at a fixed concurrency and prints emails/s and latency
//! percentiles; optionally runs `pgbench` on the same machine for a yardstick.
//!
//! The mix: about `--reply-share` of the emails are replies from earlier senders, with
//! In-Reply-To and References naming the Message-IDs of that sender's earlier mails; some
//! replies carry a `[#number]` subject tag; some messages are multipart/alternative with an
//! HTML part. Every email is a few KB and unique (its raw bytes, its Message-ID, and its
//! sender's address carry a per-run nonce), so every one is stored and placed anew.
//!
//! Order: the plan interleaves every sender's messages at random positions, keeping each
//! sender's own order. A reply is sent only after the server answered the message it
//! replies to, so threading can find it; a worker that reaches a reply whose parent is
//! still in flight waits for that answer (counted and shown). Every email is rendered
//! before the clock starts. The latency of an email is from sending the request to reading
//! the whole 2xx answer, which Braid gives after the message is stored and placed.
//!
//! Bounded: `--emails` timed emails (after `--warmup` untimed ones), stopping after
//! `--max-seconds`; only a loopback `--url` is contacted.

mod mail;
mod pgbench;
mod plan;
mod report;
mod send;
mod words;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use reqwest::Url;

use crate::db::Db;
use crate::http;
use crate::report::requests_bar;
use crate::stats::Tally;
use plan::{Plan, run_nonce};
use report::{cpu_times, cpu_use, print_email_report, print_side_by_side};
use send::{load, shared};

#[derive(Debug, Args)]
pub struct EmailArgs {
    /// The running Braid server; must be on the loopback interface.
    #[arg(long, env = "BRAID_BENCH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's inbound email secret (its BRAID_EMAIL_INBOUND_SECRET).
    #[arg(long, env = "BRAID_EMAIL_INBOUND_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Emails in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: u64,
    /// Timed emails. 0 skips the email run (for `--pgbench` alone).
    #[arg(long, default_value_t = 5_000)]
    pub emails: u64,
    /// Untimed emails first, from their own senders (warms connections and caches).
    #[arg(long, default_value_t = 100)]
    pub warmup: u64,
    /// The email run stops after this many seconds even with emails left.
    #[arg(long, default_value_t = 300)]
    pub max_seconds: u64,
    /// The share of emails that are replies from an earlier sender (the rest are first
    /// messages from new senders).
    #[arg(long, default_value_t = 0.5)]
    pub reply_share: f64,
    /// The share of replies whose subject carries the `[#number]` tag of the sender's
    /// ticket. Needs --database-url, to read the number the ticket was given.
    #[arg(long, default_value_t = 0.3)]
    pub tag_share: f64,
    /// The share of emails sent as multipart/alternative with an HTML part.
    #[arg(long, default_value_t = 0.4)]
    pub html_share: f64,
    /// The server's database, read for the numbers of tickets that tagged replies name
    /// (`SELECT number FROM tickets WHERE id = …`, before that email's clock starts) and
    /// for counts after the run. Without it, replies carry no `[#number]` tag.
    #[arg(long, env = "BRAID_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Before the run, add an SLA policy that covers every ticket (first and next reply in
    /// the business hours of a Monday-to-Friday schedule, resolution in calendar time), so
    /// every placement measures clocks. Needs --database-url; the policy stays.
    #[arg(long)]
    pub sla_policy: bool,
    /// Seeds the generator (senders, texts, the mix, the order). Senders and Message-IDs
    /// also carry a per-run nonce, so repeated runs against one database never collide.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,
    /// Print the first N emails of the plan (a tag's number shown as `[#NUMBER]`) and exit
    /// without sending anything.
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// Also run pgbench (one INSERT and one UPDATE per transaction on its own small table,
    /// in a scratch database it creates and drops) and print its tps next to emails/s.
    #[arg(long, value_name = "PATH")]
    pub pgbench: Option<PathBuf>,
    /// A PostgreSQL database on a loopback host where the scratch pgbench database may be
    /// created; pgbench connects to the scratch database with the same user.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub pgbench_admin_url: String,
    /// pgbench client counts, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 8])]
    pub pgbench_clients: Vec<u32>,
    /// Seconds per pgbench run (`-T`).
    #[arg(long, default_value_t = 15)]
    pub pgbench_seconds: u64,
}

pub fn email(args: EmailArgs) -> anyhow::Result<()> {
    let base = http::loopback_url(&args.url, "--url")?;
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.emails == 0 && args.pgbench.is_none() {
        bail!("--emails 0 runs nothing without --pgbench");
    }
    for (name, share) in [("--reply-share", args.reply_share), ("--tag-share", args.tag_share)] {
        if !(0.0..=1.0).contains(&share) {
            bail!("{name} must be between 0 and 1");
        }
    }
    if !(0.0..=1.0).contains(&args.html_share) {
        bail!("--html-share must be between 0 and 1");
    }
    if let Some(n) = args.sample {
        Plan::new(&args, args.emails.max(1), &run_nonce(), "s", true, args.rng_seed).print_sample(n);
        return Ok(());
    }
    let timed = if args.emails > 0 {
        let Some(secret) = args.secret.clone().filter(|s| !s.is_empty()) else {
            bail!("pass --secret (or set BRAID_EMAIL_INBOUND_SECRET) to the server's inbound email secret");
        };
        Some(http::block_on(drive(&args, base, secret))??)
    } else {
        None
    };
    let pgbench_results = match &args.pgbench {
        Some(path) => pgbench::pgbench(path, &args.pgbench_admin_url, &args.pgbench_clients, args.pgbench_seconds)?,
        None => Vec::new(),
    };
    if let Some(timed) = &timed
        && !pgbench_results.is_empty()
    {
        print_side_by_side(timed, args.concurrency, &pgbench_results);
    }
    Ok(())
}

/// Sends the warm-up, then the timed plan, and prints what it measured; returns the timed
/// run's tally.
async fn drive(args: &EmailArgs, base: Url, secret: String) -> anyhow::Result<Tally> {
    let client = http::connect(&base, args.concurrency, Duration::from_secs(60)).await?;
    let db = match &args.database_url {
        Some(url) => Some(Arc::new(Mutex::new(Db::connect(url)?))),
        None => {
            if args.tag_share > 0.0 {
                eprintln!("note: no --database-url, so no reply carries a [#number] subject tag");
            }
            None
        }
    };
    let run = run_nonce();
    if args.sla_policy {
        let Some(db) = &db else { bail!("--sla-policy needs --database-url") };
        add_sla_policy(db, &run)?;
        println!("added an SLA policy covering every ticket (business-hours reply targets)");
    }
    let counts_before = match &db {
        Some(db) => Some(counts(db)?),
        None => None,
    };

    let started = Instant::now();
    let warmup = Plan::new(args, args.warmup, &run, "w", db.is_some(), args.rng_seed ^ 0x5741_524D);
    let plan = Plan::new(args, args.emails, &run, "s", db.is_some(), args.rng_seed);
    let replies = plan.items.iter().filter(|i| i.seq > 0).count();
    println!(
        "braid-bench email: {base} · run {run} · {} emails ({} first messages from new senders, {} replies, {} tagged, \
         {} multipart with HTML; {:.1} KB on average) · concurrency {} · +{} warm-up · rendered in {:.1} s",
        plan.items.len(),
        plan.senders.len(),
        replies,
        plan.items.iter().filter(|i| i.tagged).count(),
        plan.items.iter().filter(|i| i.html).count(),
        plan.bytes() as f64 / plan.items.len().max(1) as f64 / 1024.0,
        args.concurrency,
        warmup.items.len(),
        started.elapsed().as_secs_f64(),
    );
    let endpoint = base.join("/v1/channels/email/inbound")?;
    let auth = format!("Bearer {secret}");
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);

    if args.warmup > 0 {
        let shared = shared(warmup, &client, &endpoint, &auth, db.clone(), deadline, None);
        load(shared, args.concurrency).await.tally.print_errors("warm-up");
    }

    let total = plan.items.len() as u64;
    let bar = requests_bar(total, "emails", 12);
    let cpu_before = cpu_times();
    let shared = shared(plan, &client, &endpoint, &auth, db.clone(), deadline, Some(bar.clone()));
    let mut outcome = load(shared, args.concurrency).await;
    outcome.cpu = cpu_before.zip(cpu_times()).map(|(a, b)| cpu_use(a, b));
    bar.finish_and_clear();
    if outcome.tally.answered() < total {
        eprintln!("stopped after {} of {total} emails (--max-seconds {})", outcome.tally.answered(), args.max_seconds);
    }
    print_email_report(&outcome, args.concurrency);
    if let (Some(db), Some(before)) = (&db, counts_before) {
        let after = counts(db)?;
        println!(
            "database: +{} customers, +{} tickets, +{} email messages, +{} events (warm-up included)",
            after.0 - before.0,
            after.1 - before.1,
            after.2 - before.2,
            after.3 - before.3
        );
    }
    Ok(outcome.tally)
}

/// A schedule (Monday to Friday, 09:00–17:00 in Berlin, two holidays) and a policy with
/// no conditions counting it, written as the API would write them.
fn add_sla_policy(db: &Mutex<Db>, run: &str) -> anyhow::Result<()> {
    let mut db = db.lock().map_err(|_| anyhow::anyhow!("the database connection was poisoned"))?;
    let (schedule, policy) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let day = r#"[{"start":"09:00","end":"17:00"}]"#;
    let hours = format!(
        r#"{{"time_zone":"Europe/Berlin","hours":{{"monday":{day},"tuesday":{day},"wednesday":{day},"thursday":{day},"friday":{day},"saturday":[],"sunday":[]}},"holidays":["2026-12-25","2026-12-26"]}}"#
    );
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f");
    let targets = r#"{"first_reply":{"minutes":{"urgent":30,"high":60,"normal":240,"low":480},"hours":"business"},"next_reply":{"minutes":{"normal":480},"hours":"business"},"resolution":{"minutes":{"normal":4320},"hours":"calendar"}}"#;
    db.execute(&format!(
        "INSERT INTO schedules (id, name, created_at, updated_at) VALUES ('{schedule}', 'bench {run}', '{now}', '{now}');
         INSERT INTO schedule_versions (schedule_id, version, valid_from, definition) VALUES ('{schedule}', 1, '{now}', '{hours}');
         INSERT INTO sla_policies (id, name, position, enabled, conditions, schedule_id, targets, version, created_at, updated_at)
             VALUES ('{policy}', 'bench {run}', 0, TRUE, '{{}}', '{schedule}', '{targets}', 1, '{now}', '{now}');"
    ))
}

/// Customers, tickets, email messages and events in the server's database.
fn counts(db: &Mutex<Db>) -> anyhow::Result<(i64, i64, i64, i64)> {
    let mut db = db.lock().map_err(|_| anyhow::anyhow!("the database connection was poisoned"))?;
    Ok((
        db.count("customers")?,
        db.count("tickets")?,
        db.count("messages WHERE channel = 'email'")?,
        db.count("events")?,
    ))
}
