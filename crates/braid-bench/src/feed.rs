//! `braid-bench feed`: the sync feed (`GET /v1/events`) over a large event log.
//!
//! Fills the server's PostgreSQL event log up to `--events` synthetic events (three per
//! transaction, each a `ticket.updated` with a ticket-sized payload), then measures:
//! - one follower paging the whole log from the start, as a connector's first sync does;
//! - `--concurrency` readers each fetching pages from random cursors, as many connectors
//!   polling at once do;
//! - the reference, in the same run: the same pages read straight from PostgreSQL with
//!   the feed's query on one connection (no HTTP, no JSON), the floor the feed stands on.

use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use reqwest::Url;

use crate::db::Db;
use crate::http;
use crate::report::Table;
use crate::rng::Rng;
use crate::stats::Tally;

#[derive(Debug, Args)]
pub struct FeedArgs {
    /// The running Braid server; must be on the loopback interface.
    #[arg(long, env = "BRAID_BENCH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's PostgreSQL database, filled with synthetic events up to `--events`.
    #[arg(long, env = "BRAID_BENCH_DATABASE_URL", default_value = crate::DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// An API key or access token with `events:read`.
    #[arg(long, env = "BRAID_BENCH_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Events the log holds before the runs.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: i64,
    /// Events per page.
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
    /// Readers fetching random pages at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: u64,
    /// Pages each random reader fetches.
    #[arg(long, default_value_t = 250)]
    pub pages: u64,
    /// Seeds the random cursors.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,
}

/// Events per synthetic transaction.
const PER_TRANSACTION: i64 = 3;

pub fn feed(args: FeedArgs) -> anyhow::Result<()> {
    let base = http::loopback_url(&args.url, "--url")?;
    let mut db = Db::connect(&args.database_url)?;
    if !db.is_postgres() {
        bail!("the feed benchmark fills a PostgreSQL event log; pass a postgres:// --database-url");
    }
    if !(1..=1000).contains(&args.limit) {
        bail!("--limit is 1 to 1000, as the feed takes");
    }
    fill(&mut db, args.events)?;
    let total = db.count("events")?;
    println!("event log: {total} events; pages of {}", args.limit);

    let reference = reference_scan(&mut db, args.limit)?;
    let (scan, scanned) = http::block_on(scan(&base, &args))??;
    if scanned != total {
        bail!("the follower read {scanned} events of {total}");
    }
    let positions = sample_positions(&mut db, args.concurrency * args.pages, args.rng_seed)?;
    let random = http::block_on(random_pages(&base, &args, positions))??;

    let mut table =
        Table::new(["run", "pages", "errors", "pages/s", "events/s", "p50 ms", "p95 ms", "p99 ms", "max ms"], 1);
    let events_per_second = |tally: &Tally| format!("{:.0}", tally.rate() * args.limit as f64);
    for (name, tally) in [
        ("reference: the feed's query on PostgreSQL, one connection", &reference),
        ("feed: one follower from the start", &scan),
        (&*format!("feed: {} readers at random cursors", args.concurrency), &random),
    ] {
        let [answered, errors, rate, p50, p95, p99, max] = tally.figures();
        table.row([name.to_owned(), answered, errors, rate, events_per_second(tally), p50, p95, p99, max]);
    }
    println!();
    println!("{}", table.padded());
    scan.print_errors("follower");
    random.print_errors("random readers");
    Ok(())
}

/// Tops the log up to `events` with synthetic ones, three to a transaction number; the
/// numbers are below the server's current one, so the events are final.
fn fill(db: &mut Db, events: i64) -> anyhow::Result<()> {
    let have = db.count("events")?;
    if have >= events {
        return Ok(());
    }
    let missing = events - have;
    let transactions = (missing + PER_TRANSACTION - 1) / PER_TRANSACTION;
    // Synthetic events are final only below the oldest running transaction: move the
    // transaction counter past their numbers first (subtransactions that each write one
    // row to a temporary table take a number each, cheaply).
    let mut xid = db.int("SELECT pg_current_xact_id()::text::bigint AS n")?;
    if xid <= transactions + 1000 {
        println!("advancing the transaction counter from {xid} past {transactions}…");
        db.execute("CREATE TEMP TABLE IF NOT EXISTS bench_burn (n int)")?;
        while xid <= transactions + 1000 {
            db.execute(
                "DO $$ BEGIN FOR i IN 1..50000 LOOP BEGIN INSERT INTO bench_burn VALUES (i); \
                 EXCEPTION WHEN others THEN NULL; END; END LOOP; END $$; TRUNCATE bench_burn",
            )?;
            xid = db.int("SELECT pg_current_xact_id()::text::bigint AS n")?;
        }
    }
    println!("filling the event log with {missing} synthetic events…");
    let started = Instant::now();
    let chunk = 100_000;
    let mut from = 0;
    while from < missing {
        let to = (from + chunk).min(missing);
        db.execute(&format!(
            "INSERT INTO events (tx, kind, subject_id, customer_id, ticket_id, payload, created_at)
             SELECT 1 + i / {PER_TRANSACTION}, 'ticket.updated', md5(i::text)::uuid::text, md5((i / 7)::text)::uuid::text,
                    md5(i::text)::uuid::text,
                    json_build_object('id', md5(i::text)::uuid, 'number', i, 'subject', 'Synthetic ticket ' || i,
                        'status', 'open', 'priority', 'normal', 'tags', json_build_array('bench', 'feed'),
                        'assignee_id', null, 'team_id', null, 'customer_id', md5((i / 7)::text)::uuid,
                        'created_at', now(), 'updated_at', now())::text,
                    now() - interval '1 hour'
             FROM generate_series({from}, {to} - 1) AS i"
        ))
        .with_context(|| "inserting synthetic events")?;
        from = to;
    }
    db.execute("ANALYZE events")?;
    println!("filled in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The whole log read page by page with the feed's query, straight from PostgreSQL.
fn reference_scan(db: &mut Db, limit: i64) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let started = Instant::now();
    let (mut tx, mut seq) = (0i64, 0i64);
    loop {
        let sent = Instant::now();
        let rows = db.strings(&format!(
            "SELECT tx::text || '.' || seq::text || ' ' || length(payload) AS v FROM (
                SELECT tx, seq, kind, subject_id, customer_id, ticket_id, payload, created_at FROM events
                WHERE tx >= {tx} AND (tx > {tx} OR seq > {seq})
                  AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
                ORDER BY tx, seq LIMIT {limit}) AS page"
        ))?;
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
        tally.record(micros, Ok::<_, crate::stats::Failure>(()));
        let Some(last) = rows.last() else { break };
        let position = last.split(' ').next().unwrap_or_default();
        let (t, s) = position.split_once('.').context("a position")?;
        (tx, seq) = (t.parse()?, s.parse()?);
        if (rows.len() as i64) < limit {
            break;
        }
    }
    tally.elapsed = started.elapsed();
    Ok(tally)
}

/// One follower from the start of the log to its end; the pages and the events read.
async fn scan(base: &Url, args: &FeedArgs) -> anyhow::Result<(Tally, i64)> {
    let client = http::connect(base, 1, std::time::Duration::from_secs(60)).await?;
    let mut tally = Tally::default();
    let (mut cursor, mut read) = (None::<String>, 0i64);
    let started = Instant::now();
    loop {
        let mut url = base.join("/v1/events")?;
        url.query_pairs_mut().append_pair("limit", &args.limit.to_string());
        if let Some(cursor) = &cursor {
            url.query_pairs_mut().append_pair("after", cursor);
        }
        let (micros, result) = http::exchange(
            || client.get(url).bearer_auth(&args.token),
            |_, body| serde_json::from_slice::<serde_json::Value>(body).ok(),
        )
        .await;
        let Some(Some(page)) = tally.record(micros, result) else { break };
        read += page["data"].as_array().map_or(0, Vec::len) as i64;
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if page["has_more"] != true {
            break;
        }
    }
    tally.elapsed = started.elapsed();
    Ok((tally, read))
}

/// Positions spread over the log, for the random readers.
fn sample_positions(db: &mut Db, n: u64, seed: u64) -> anyhow::Result<Vec<String>> {
    let total = db.count("events")?;
    let mut rng = Rng::new(seed);
    let mut positions = Vec::with_capacity(n as usize);
    let sample = db.strings(&format!(
        "SELECT tx::text || '.' || seq::text AS v FROM events TABLESAMPLE SYSTEM ({:.4}) LIMIT {}",
        (100.0 * (n as f64 * 4.0) / total.max(1) as f64).min(100.0),
        n * 4
    ))?;
    if sample.is_empty() {
        bail!("no events to sample cursors from");
    }
    for _ in 0..n {
        positions.push(sample[rng.below(sample.len() as u64) as usize].clone());
    }
    Ok(positions)
}

/// `--concurrency` readers, each fetching its share of pages at the given cursors.
async fn random_pages(base: &Url, args: &FeedArgs, positions: Vec<String>) -> anyhow::Result<Tally> {
    let client = http::connect(base, args.concurrency, std::time::Duration::from_secs(60)).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for share in positions.chunks(args.pages.max(1) as usize) {
        let (client, base, token, limit, share) =
            (client.clone(), base.clone(), args.token.clone(), args.limit, share.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            for after in share {
                let mut url = base.join("/v1/events").expect("a path");
                url.query_pairs_mut().append_pair("limit", &limit.to_string()).append_pair("after", &after);
                let (micros, result) = http::exchange(|| client.get(url).bearer_auth(&token), |_, _| ()).await;
                tally.record(micros, result);
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await?;
        total.latency.add(&tally.latency)?;
        for (kind, n) in tally.errors {
            *total.errors.entry(kind).or_default() += n;
        }
        total.first_error = total.first_error.or(tally.first_error);
    }
    total.elapsed = started.elapsed();
    Ok(total)
}
