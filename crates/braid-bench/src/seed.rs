//! `braid-bench seed`: fills an empty, migrated Braid database with synthetic customers
//! (each with a thread and one email identity), tickets and messages, using multi-row
//! INSERTs of `--batch-rows` rows inside transactions.
//!
//! The data is deterministic for a given `--rng-seed` except the random bits of the
//! UUID v7 ids. Ids are UUID v7 made from each row's own `created_at`, so they sort with
//! time as Braid's own ids do. No events are written: the seeded history predates the
//! event log, which the benchmark does not read.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, TimeDelta, Utc};
use clap::Args;
use indicatif::ProgressBar;

use crate::db::{Db, redact, text, timestamp};
use crate::report::progress_bar;
use crate::rng::Rng;

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The database to fill: postgres://… or sqlite://path. It must be empty (freshly
    /// created); it is migrated first unless --no-migrate.
    #[arg(long, env = "BRAID_BENCH_DATABASE_URL", default_value = crate::DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Customers to create, each with a thread and the identity c<i>@bench.example.org.
    #[arg(long, default_value_t = 1_000)]
    pub customers: u64,
    /// Messages to spread over the threads.
    #[arg(long, default_value_t = 10_000)]
    pub messages: u64,
    /// Tickets per customer; every message belongs to one of its customer's tickets
    /// (none when 0).
    #[arg(long, default_value_t = 2)]
    pub tickets_per_customer: u64,
    /// The share of all messages that go to the first customer's thread, so one thread
    /// is large enough to page deep into; the rest are spread uniformly.
    #[arg(long, default_value_t = 0.05)]
    pub hot_share: f64,
    /// The `braid` binary that migrates the database before seeding.
    #[arg(long, default_value = "target/release/braid")]
    pub braid_bin: PathBuf,
    /// Do not run `braid migrate`: the database is migrated already.
    #[arg(long)]
    pub no_migrate: bool,
    /// Rows per INSERT statement.
    #[arg(long, default_value_t = 1_000)]
    pub batch_rows: u64,
    /// Seeds the generator that picks threads, tickets, statuses and channels.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,
}

/// Statements per transaction.
const STATEMENTS_PER_TRANSACTION: u64 = 20;

pub fn seed(args: &SeedArgs) -> anyhow::Result<()> {
    if args.customers == 0 {
        bail!("--customers must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.hot_share) {
        bail!("--hot-share is between 0 and 1");
    }
    if args.batch_rows == 0 {
        bail!("--batch-rows must be at least 1");
    }
    if !args.no_migrate {
        migrate(args)?;
    }
    let mut db = Db::connect(&args.database_url)?;
    check_empty(&mut db, &args.database_url)?;
    if db.is_postgres() {
        // Losing the last commits in a crash costs nothing here; a re-seed starts over.
        db.execute("SET synchronous_commit = off")?;
    }

    let started = Instant::now();
    let plan = Plan::new(args);
    let mut rng = Rng::new(args.rng_seed);
    let customers = insert_customers(&mut db, &plan, args.batch_rows)?;
    let tickets = insert_tickets(&mut db, &plan, &customers, args.batch_rows, &mut rng)?;
    let hot_messages = insert_messages(&mut db, &plan, &customers, &tickets, args.batch_rows, &mut rng)?;
    finish(&mut db)?;

    println!(
        "seeded {} customers, {} tickets and {} messages into {} in {:.1}s",
        args.customers,
        plan.tickets(),
        args.messages,
        redact(&args.database_url),
        started.elapsed().as_secs_f64()
    );
    if let Some((customer, _)) = customers.first() {
        println!("the largest thread is customer {customer}'s (at least {hot_messages} messages)");
    }
    println!("next: start `braid serve` on this database, create an admin, and run `braid-bench run`");
    Ok(())
}

fn migrate(args: &SeedArgs) -> anyhow::Result<()> {
    let bin = &args.braid_bin;
    if !bin.is_file() {
        bail!(
            "cannot migrate: no braid binary at {} (build it with `cargo build --release -p braid`, or pass \
             --braid-bin PATH), or migrate yourself with `braid migrate --database-url URL` and pass --no-migrate",
            bin.display()
        );
    }
    eprintln!("migrating with {} migrate", bin.display());
    let status = Command::new(bin)
        .args(["migrate", "--database-url", &args.database_url])
        .env("BRAID_LOG", "warn")
        .status()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !status.success() {
        bail!("`{} migrate` failed ({status}); see its message above", bin.display());
    }
    Ok(())
}

fn check_empty(db: &mut Db, url: &str) -> anyhow::Result<()> {
    let customers = db.count("customers").map_err(|error| {
        anyhow::anyhow!(
            "{} has no Braid schema ({error}): run `braid migrate --database-url URL` first, or drop --no-migrate",
            redact(url)
        )
    })?;
    if customers > 0 {
        bail!(
            "{} already has {customers} customers; seed an empty database (drop and create it, then seed again)",
            redact(url)
        );
    }
    Ok(())
}

/// Where every row goes in time: customers over the first tenth of a year ending an hour
/// ago, messages evenly over the rest, so message times increase with their index.
struct Plan {
    customers: u64,
    tickets_per_customer: u64,
    messages: u64,
    hot_share: f64,
    start: DateTime<Utc>,
    messages_start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Plan {
    fn new(args: &SeedArgs) -> Self {
        let end = truncate_to_micros(Utc::now() - TimeDelta::hours(1));
        let start = end - TimeDelta::days(365);
        let messages_start = start + TimeDelta::days(36);
        Plan {
            customers: args.customers,
            tickets_per_customer: args.tickets_per_customer,
            messages: args.messages,
            hot_share: args.hot_share,
            start,
            messages_start,
            end,
        }
    }

    fn tickets(&self) -> u64 {
        self.customers * self.tickets_per_customer
    }

    fn customer_created(&self, i: u64) -> DateTime<Utc> {
        spread(self.start, self.messages_start, i, self.customers)
    }

    fn message_created(&self, j: u64) -> DateTime<Utc> {
        spread(self.messages_start, self.end, j, self.messages.max(1))
    }
}

/// The `i`-th of `n` times evenly spread over `[from, to)`, in whole microseconds.
fn spread(from: DateTime<Utc>, to: DateTime<Utc>, i: u64, n: u64) -> DateTime<Utc> {
    let span = (to - from).num_microseconds().unwrap_or(0);
    let offset = i128::from(span) * i128::from(i) / i128::from(n.max(1));
    from + TimeDelta::microseconds(i64::try_from(offset).unwrap_or(0))
}

fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// A UUID v7 carrying `at`, as text.
fn id_at(at: DateTime<Utc>) -> String {
    let seconds = u64::try_from(at.timestamp()).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, seconds, at.timestamp_subsec_nanos());
    uuid::Uuid::new_v7(ts).to_string()
}

fn progress(label: &str, total: u64) -> ProgressBar {
    let template = "{prefix:>9} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} rows, {per_sec}, eta {eta}";
    let bar = progress_bar(total, template, label);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Runs batches inside transactions of [`STATEMENTS_PER_TRANSACTION`] statements.
struct Writer<'a> {
    db: &'a mut Db,
    in_transaction: u64,
}

impl<'a> Writer<'a> {
    fn new(db: &'a mut Db) -> Self {
        Writer { db, in_transaction: 0 }
    }

    fn run(&mut self, sql: &str) -> anyhow::Result<()> {
        if self.in_transaction == 0 {
            self.db.execute("BEGIN")?;
        }
        self.db.execute(sql)?;
        self.in_transaction += 1;
        if self.in_transaction >= STATEMENTS_PER_TRANSACTION {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> anyhow::Result<()> {
        if self.in_transaction > 0 {
            self.db.execute("COMMIT")?;
            self.in_transaction = 0;
        }
        Ok(())
    }
}

/// Rows `0..total`, `batch` at a time: `statements` writes the INSERTs for a batch's range,
/// which run inside transactions under a progress bar named `label`.
fn in_batches(
    db: &mut Db,
    label: &str,
    total: u64,
    batch: u64,
    mut statements: impl FnMut(Range<u64>) -> anyhow::Result<Vec<String>>,
) -> anyhow::Result<()> {
    let bar = progress(label, total);
    let mut writer = Writer::new(db);
    let mut first = 0;
    while first < total {
        let last = (first + batch).min(total);
        for sql in statements(first..last)? {
            writer.run(&sql)?;
        }
        bar.inc(last - first);
        first = last;
    }
    writer.commit()?;
    bar.finish();
    Ok(())
}

/// Inserts every customer with its thread and identity; returns (customer id, thread id)
/// by customer index.
fn insert_customers(db: &mut Db, plan: &Plan, batch: u64) -> anyhow::Result<Vec<(String, String)>> {
    let mut ids = Vec::with_capacity(usize::try_from(plan.customers).unwrap_or(0));
    in_batches(db, "customers", plan.customers, batch, |rows| {
        let mut customers = String::from("INSERT INTO customers (id, name, created_at, updated_at) VALUES ");
        let mut threads = String::from("INSERT INTO threads (id, customer_id, created_at, last_message_at) VALUES ");
        let mut identities =
            String::from("INSERT INTO identities (id, customer_id, kind, value, trust, created_at) VALUES ");
        for i in rows.clone() {
            let at = plan.customer_created(i);
            let (customer, thread, identity) = (id_at(at), id_at(at), id_at(at));
            let sep = if i == rows.start { "" } else { "," };
            let at = timestamp(at);
            let _ =
                write!(customers, "{sep}({}, {}, {at}, {at})", text(&customer), text(&format!("Bench Customer {i}")));
            let _ = write!(threads, "{sep}({}, {}, {at}, NULL)", text(&thread), text(&customer));
            let _ = write!(
                identities,
                "{sep}({}, {}, 'email', {}, 'claimed', {at})",
                text(&identity),
                text(&customer),
                text(&format!("c{i}@bench.example.org"))
            );
            ids.push((customer, thread));
        }
        Ok(vec![customers, threads, identities])
    })?;
    Ok(ids)
}

const STATUSES: &[(&str, u64)] = &[("open", 30), ("pending", 15), ("on_hold", 5), ("solved", 30), ("closed", 20)];
const PRIORITIES: &[(&str, u64)] = &[("low", 20), ("normal", 50), ("high", 20), ("urgent", 10)];
const CHANNELS: &[(&str, u64)] = &[("email", 50), ("chat", 30), ("web_form", 20)];

/// Inserts `tickets_per_customer` tickets for every customer, numbered from 1000 like
/// Braid's sequence; returns their ids by customer index × tickets_per_customer + k.
fn insert_tickets(
    db: &mut Db,
    plan: &Plan,
    customers: &[(String, String)],
    batch: u64,
    rng: &mut Rng,
) -> anyhow::Result<Vec<String>> {
    let total = plan.tickets();
    let mut ids = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    in_batches(db, "tickets", total, batch, |rows| {
        let mut sql = String::from(
            "INSERT INTO tickets (id, number, customer_id, subject, status, priority, channel, assignee_id, team_id, \
             version, created_at, updated_at, solved_at) VALUES ",
        );
        for t in rows.clone() {
            let customer = t / plan.tickets_per_customer;
            let k = t % plan.tickets_per_customer;
            let created = plan.customer_created(customer) + TimeDelta::minutes(i64::try_from(k + 1).unwrap_or(0));
            let updated = spread(plan.messages_start, plan.end, rng.below(1 << 32), 1 << 32).max(created);
            let status = rng.pick_weighted(STATUSES);
            let solved = if matches!(status, "solved" | "closed") { timestamp(updated) } else { "NULL".into() };
            let id = id_at(created);
            let number = 1000 + t;
            let sep = if t == rows.start { "" } else { "," };
            let customer_id = customers.get(usize::try_from(customer).unwrap_or(usize::MAX)).map(|c| c.0.as_str());
            let Some(customer_id) = customer_id else { bail!("internal: no customer {customer}") };
            let _ = write!(
                sql,
                "{sep}({}, {number}, {}, {}, '{status}', '{}', '{}', NULL, NULL, 1, {}, {}, {solved})",
                text(&id),
                text(customer_id),
                text(&format!("Bench ticket {number}: the parcel never arrived")),
                rng.pick_weighted(PRIORITIES),
                rng.pick_weighted(CHANNELS),
                timestamp(created),
                timestamp(updated),
            );
            ids.push(id);
        }
        Ok(vec![sql])
    })?;
    Ok(ids)
}

const BODY: &str = "Hello, I am writing about my order. The parcel was due last week and the tracking page has not \
                    moved since Tuesday. Could you look into it?";

/// Inserts the messages, oldest first; returns how many went to the first customer's
/// (the hot) thread.
fn insert_messages(
    db: &mut Db,
    plan: &Plan,
    customers: &[(String, String)],
    tickets: &[String],
    batch: u64,
    rng: &mut Rng,
) -> anyhow::Result<u64> {
    let mut hot = 0;
    in_batches(db, "messages", plan.messages, batch, |rows| {
        let mut sql = String::with_capacity(usize::try_from(batch * 400).unwrap_or(0));
        sql.push_str(
            "INSERT INTO messages (id, thread_id, ticket_id, channel, direction, author_kind, author_agent_id, \
             body_text, body_html, channel_ref, delivery_state, placement, details, created_at) VALUES ",
        );
        for j in rows.clone() {
            let customer = if rng.chance(plan.hot_share) { 0 } else { rng.below(plan.customers) };
            hot += u64::from(customer == 0);
            let Some((_, thread)) = customers.get(usize::try_from(customer).unwrap_or(usize::MAX)) else {
                bail!("internal: no customer {customer}")
            };
            let ticket = if plan.tickets_per_customer == 0 {
                "NULL".to_owned()
            } else {
                let index = customer * plan.tickets_per_customer + rng.below(plan.tickets_per_customer);
                match tickets.get(usize::try_from(index).unwrap_or(usize::MAX)) {
                    Some(id) => text(id),
                    None => bail!("internal: no ticket {index}"),
                }
            };
            let at = plan.message_created(j);
            let channel = rng.pick_weighted(CHANNELS);
            // Inbound: the customer wrote, with the channel's own reference; outbound: an
            // automatic answer, delivered.
            let (direction, author, channel_ref, delivery) = if rng.below(100) < 60 {
                ("inbound", "customer", format!("'bench-{j}'"), "NULL")
            } else {
                ("outbound", "system", "NULL".to_owned(), "'delivered'")
            };
            let sep = if j == rows.start { "" } else { "," };
            let _ = write!(
                sql,
                "{sep}({}, {}, {ticket}, '{channel}', '{direction}', '{author}', NULL, 'Message {j}. {BODY}', NULL, \
                 {channel_ref}, {delivery}, '[]', '{{}}', {})",
                text(&id_at(at)),
                text(thread),
                timestamp(at),
            );
        }
        Ok(vec![sql])
    })?;
    Ok(hot)
}

/// Threads' `last_message_at`, the ticket sequence past the seeded numbers, fresh
/// planner statistics and a checkpoint.
fn finish(db: &mut Db) -> anyhow::Result<()> {
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(200));
    bar.set_message("threads' last_message_at");
    db.execute(
        "UPDATE threads SET last_message_at = (SELECT max(m.created_at) FROM messages m WHERE m.thread_id = threads.id)",
    )?;
    if db.is_postgres() {
        bar.set_message("ticket_numbers sequence");
        db.execute(
            "SELECT setval('ticket_numbers', (SELECT max(number) FROM tickets)) WHERE EXISTS (SELECT 1 FROM tickets)",
        )?;
        bar.set_message("VACUUM ANALYZE");
        db.execute("VACUUM ANALYZE")?;
        // Flush the seed's dirty pages now rather than in a checkpoint during the run.
        // Needs superuser or pg_checkpoint; without, the next checkpoint does it anyway.
        bar.set_message("CHECKPOINT");
        if let Err(error) = db.execute("CHECKPOINT") {
            bar.println(format!("note: CHECKPOINT skipped ({error})"));
        }
    } else {
        bar.set_message("ANALYZE");
        db.execute("ANALYZE")?;
    }
    bar.finish_and_clear();
    Ok(())
}
