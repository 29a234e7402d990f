//! `braid-bench run`: drives a running Braid server over HTTP, scenario by scenario, at a
//! fixed concurrency, and prints requests/s and latency percentiles.
//!
//! Sample ids (customers, the largest thread, tickets to reply to) come straight from the
//! database the server uses. Every loop is bounded by `--requests` and `--max-seconds`, and
//! only the loopback `--url` is ever contacted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use reqwest::{Client, Method, RequestBuilder, Url};
use serde_json::{Value, json};

use crate::db::{Db, redact};
use crate::http;
use crate::report::{Table, requests_bar};
use crate::stats::Tally;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The running Braid server; must be on the loopback interface.
    #[arg(long, env = "BRAID_BENCH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's database, read for sample customer and ticket ids.
    #[arg(long, env = "BRAID_BENCH_DATABASE_URL", default_value = crate::DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// An admin's access token (expires after 15 minutes by default). Instead, pass
    /// --email and --password and the bench signs in before each scenario.
    #[arg(long, env = "BRAID_BENCH_TOKEN", conflicts_with_all = ["email", "password"])]
    pub token: Option<String>,
    /// An admin's email, for POST /v1/auth/login.
    #[arg(long, env = "BRAID_BENCH_EMAIL", requires = "password")]
    pub email: Option<String>,
    #[arg(long, env = "BRAID_BENCH_PASSWORD", requires = "email")]
    pub password: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: u64,
    /// Timed requests per scenario.
    #[arg(long, default_value_t = 2_000)]
    pub requests: u64,
    /// Untimed requests per scenario first (warms caches and connections).
    #[arg(long, default_value_t = 100)]
    pub warmup: u64,
    /// A scenario stops after this many seconds even with requests left.
    #[arg(long, default_value_t = 120)]
    pub max_seconds: u64,
    /// Page size (`limit`) for every list.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// How many pages deep the deep-page scenario reads the largest thread (less when the
    /// thread ends sooner).
    #[arg(long, default_value_t = 100)]
    pub deep_pages: u32,
    /// The scenarios to run, comma-separated [default: all, in this order].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub scenarios: Vec<Scenario>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// GET /v1/customers/{id}/thread?limit=50 for random customers.
    ThreadFirst,
    /// GET the same deep page of the largest thread, with its cursor.
    ThreadDeep,
    /// GET /v1/tickets?status=open&priority=high&limit=50
    TicketsOpenHigh,
    /// GET /v1/tickets?status=open,pending&assignee=none&limit=50
    TicketsUnassigned,
    /// POST /v1/tickets/{id}/replies to random open or pending tickets (writes!).
    Reply,
    /// GET /v1/customers/{id} for random customers: the reference for `context`.
    Customer,
    /// GET /v1/customers/{id}/context for random customers (seed with
    /// --tickets-per-customer 1000 to measure customers with 1,000 tickets).
    Context,
}

impl Scenario {
    const ALL: [Scenario; 7] = [
        Scenario::ThreadFirst,
        Scenario::ThreadDeep,
        Scenario::TicketsOpenHigh,
        Scenario::TicketsUnassigned,
        Scenario::Customer,
        Scenario::Context,
        Scenario::Reply,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::ThreadFirst => "thread, first page",
            Scenario::ThreadDeep => "thread, deep page",
            Scenario::TicketsOpenHigh => "tickets open+high",
            Scenario::TicketsUnassigned => "tickets open,pending unassigned",
            Scenario::Reply => "reply (POST)",
            Scenario::Customer => "customer (reference)",
            Scenario::Context => "customer context",
        }
    }
}

/// Ids sampled from the database.
struct Samples {
    customers: Vec<String>,
    tickets: Vec<String>,
    largest_thread_customer: String,
    largest_thread_messages: i64,
    counts: (i64, i64, i64),
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let base = loopback_url(&args.url)?;
    if args.concurrency == 0 || args.requests == 0 {
        bail!("--concurrency and --requests must be at least 1");
    }
    let scenarios = if args.scenarios.is_empty() { Scenario::ALL.to_vec() } else { args.scenarios.clone() };
    let samples = sample(&args.database_url, scenarios.contains(&Scenario::ThreadDeep))?;
    http::block_on(drive(args, base, scenarios, samples))?
}

/// Refuses anything but an http(s) URL on a loopback host: this tool floods what it is
/// pointed at.
fn loopback_url(url: &str) -> anyhow::Result<Url> {
    let parsed = http::parse_url(url, "--url")?;
    if !http::is_loopback(&parsed) || !matches!(parsed.scheme(), "http" | "https") {
        bail!("--url must be an http URL on the loopback interface (127.0.0.1, ::1 or localhost), not {url}");
    }
    Ok(parsed)
}

fn sample(database_url: &str, find_largest: bool) -> anyhow::Result<Samples> {
    eprintln!("sampling ids from {}", redact(database_url));
    let mut db = Db::connect(database_url)?;
    let counts = (db.count("customers")?, db.count("tickets")?, db.count("messages")?);
    let customers = db.strings("SELECT customer_id AS v FROM threads ORDER BY random() LIMIT 1000")?;
    if customers.is_empty() {
        bail!("the database has no customers: run `braid-bench seed` first");
    }
    let mut tickets =
        db.strings("SELECT id AS v FROM tickets WHERE status IN ('open', 'pending') ORDER BY random() LIMIT 1000")?;
    if tickets.is_empty() {
        tickets = db.strings("SELECT id AS v FROM tickets ORDER BY random() LIMIT 1000")?;
    }
    let (largest_thread_customer, largest_thread_messages) = if find_largest {
        let thread = db
            .strings(
                "SELECT thread_id AS v FROM messages GROUP BY thread_id ORDER BY count(*) DESC, thread_id LIMIT 1",
            )?
            .into_iter()
            .next()
            .context("the database has no messages: run `braid-bench seed` first")?;
        let customer = db
            .strings(&format!("SELECT customer_id AS v FROM threads WHERE id = {}", crate::db::text(&thread)))?
            .into_iter()
            .next()
            .context("the largest thread has no customer")?;
        let count = db.count(&format!("messages WHERE thread_id = {}", crate::db::text(&thread)))?;
        (customer, count)
    } else {
        (String::new(), 0)
    };
    Ok(Samples { customers, tickets, largest_thread_customer, largest_thread_messages, counts })
}

/// The bearer token: the one given, or a fresh one from signing in.
async fn token(client: &Client, base: &Url, args: &RunArgs) -> anyhow::Result<String> {
    if let Some(token) = &args.token {
        return Ok(token.clone());
    }
    let (Some(email), Some(password)) = (&args.email, &args.password) else {
        bail!(
            "pass --email and --password of an admin (create one with `braid admin create --email bench@example.org \
             --password 'bench password 1' --database-url URL`), or --token"
        );
    };
    let response = client
        .post(base.join("/v1/auth/login")?)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .with_context(|| format!("cannot reach {base}; is `braid serve` running there?"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("signing in as {email} failed: {status} {body}");
    }
    body["access_token"].as_str().map(str::to_owned).context("the login answer has no access_token")
}

async fn drive(args: RunArgs, base: Url, scenarios: Vec<Scenario>, samples: Samples) -> anyhow::Result<()> {
    let client = http::connect(&base, args.concurrency, Duration::from_secs(30)).await?;
    let (customers, tickets, messages) = samples.counts;
    println!(
        "braid-bench run: {base} · {customers} customers, {tickets} tickets, {messages} messages · concurrency {} · \
         {} requests per scenario (+{} warm-up) · limit {}",
        args.concurrency, args.requests, args.warmup, args.limit
    );

    let samples = Arc::new(samples);
    let mut results = Vec::new();
    for scenario in scenarios {
        let token = token(&client, &base, &args).await?;
        let auth = format!("Bearer {token}");
        let limit = args.limit;
        let make: MakeRequest = match scenario {
            Scenario::ThreadFirst => {
                let (samples, base, client) = (samples.clone(), base.clone(), client.clone());
                Arc::new(move |i| {
                    let customer = &samples.customers[usize::try_from(i).unwrap_or(0) % samples.customers.len()];
                    let url = format!("{base}v1/customers/{customer}/thread?limit={limit}");
                    client.request(Method::GET, url)
                })
            }
            Scenario::ThreadDeep => {
                let (url, depth) = deep_page(&client, &base, &auth, &samples, limit, args.deep_pages).await?;
                println!(
                    "deep page: page {} of customer {}'s thread ({} messages), {} rows past the start",
                    depth + 1,
                    samples.largest_thread_customer,
                    samples.largest_thread_messages,
                    u64::from(depth) * u64::from(limit)
                );
                let client = client.clone();
                Arc::new(move |_| client.request(Method::GET, url.clone()))
            }
            Scenario::TicketsOpenHigh => {
                let (url, client) =
                    (format!("{base}v1/tickets?status=open&priority=high&limit={limit}"), client.clone());
                Arc::new(move |_| client.request(Method::GET, url.clone()))
            }
            Scenario::TicketsUnassigned => {
                let url = format!("{base}v1/tickets?status=open,pending&assignee=none&limit={limit}");
                let client = client.clone();
                Arc::new(move |_| client.request(Method::GET, url.clone()))
            }
            Scenario::Customer | Scenario::Context => {
                let (samples, base, client) = (samples.clone(), base.clone(), client.clone());
                let tail = if scenario == Scenario::Context { "/context" } else { "" };
                Arc::new(move |i| {
                    let customer = &samples.customers[usize::try_from(i).unwrap_or(0) % samples.customers.len()];
                    client.request(Method::GET, format!("{base}v1/customers/{customer}{tail}"))
                })
            }
            Scenario::Reply => {
                if samples.tickets.is_empty() {
                    bail!("the database has no tickets to reply to");
                }
                let (samples, base, client) = (samples.clone(), base.clone(), client.clone());
                Arc::new(move |i| {
                    let ticket = &samples.tickets[usize::try_from(i).unwrap_or(0) % samples.tickets.len()];
                    client
                        .request(Method::POST, format!("{base}v1/tickets/{ticket}/replies"))
                        .json(&json!({ "text": format!("Benchmark reply {i}: we are looking into it.") }))
                })
            }
        };
        let make: MakeRequest = {
            let auth = auth.clone();
            Arc::new(move |i| make(i).header("authorization", auth.clone()))
        };
        let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
        if args.warmup > 0 {
            let _ = load(make.clone(), args.concurrency, 0, args.warmup, deadline, None).await;
        }
        let bar = requests_bar(args.requests, scenario.name(), 32);
        let tally = load(make, args.concurrency, args.warmup, args.requests, deadline, Some(bar.clone())).await;
        bar.finish_and_clear();
        if tally.answered() < args.requests {
            eprintln!(
                "{}: stopped after {} of {} requests (--max-seconds {})",
                scenario.name(),
                tally.answered(),
                args.requests,
                args.max_seconds
            );
        }
        results.push((scenario, tally));
    }
    print_table(&results);
    Ok(())
}

/// Follows `next_cursor` `pages` times through the largest thread; returns the URL of the
/// page reached and how many pages precede it.
async fn deep_page(
    client: &Client,
    base: &Url,
    auth: &str,
    samples: &Samples,
    limit: u32,
    pages: u32,
) -> anyhow::Result<(String, u32)> {
    let first = format!("{base}v1/customers/{}/thread?limit={limit}", samples.largest_thread_customer);
    let mut url = first.clone();
    let mut depth = 0;
    while depth < pages {
        let response = client.get(&url).header("authorization", auth).send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("paging the largest thread failed at page {}: {status} {body}", depth + 1);
        }
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                url = format!("{first}&cursor={cursor}");
                depth += 1;
            }
            None => break,
        }
    }
    Ok((url, depth))
}

type MakeRequest = Arc<dyn Fn(u64) -> RequestBuilder + Send + Sync>;

/// Sends requests `first..first + count` from `concurrency` tasks; stops at `deadline`.
async fn load(
    make: MakeRequest,
    concurrency: u64,
    first: u64,
    count: u64,
    deadline: Instant,
    bar: Option<ProgressBar>,
) -> Tally {
    let next = Arc::new(AtomicU64::new(first));
    let end = first + count;
    http::fan_out(concurrency.min(count), || {
        let (make, next, bar) = (make.clone(), next.clone(), bar.clone());
        async move {
            let mut tally = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end || Instant::now() >= deadline {
                    break;
                }
                let (micros, result) = http::exchange(|| make(i), |_, _| ()).await;
                tally.record(micros, result);
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
            }
            tally
        }
    })
    .await
}

fn print_table(results: &[(Scenario, Tally)]) {
    let mut table = Table::new(["scenario", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"], 1);
    for (scenario, tally) in results {
        table.row(std::iter::once(scenario.name().to_owned()).chain(tally.figures()));
    }
    println!();
    print!("{}", table.padded());
    for (scenario, tally) in results {
        tally.print_errors(scenario.name());
    }
}
