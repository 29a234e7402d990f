//! Sending a plan: workers post its emails in order, a reply only after its parent was
//! answered, and tally what the answers said.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use reqwest::{Client, StatusCode, Url};
use serde_json::Value;
use tokio::sync::watch;

use super::plan::{Item, Plan};
use crate::db::{Db, text};
use crate::http;
use crate::stats::{self, Tally};

/// What the answers said about one sender's messages.
#[derive(Debug, Default, Clone)]
struct SenderSeen {
    customer: Option<String>,
    first_ticket: Option<String>,
    ticket_number: Option<i64>,
}

/// What the answers to one worker's emails (or all, merged) said.
#[derive(Debug, Default)]
pub struct Outcome {
    pub tally: Tally,
    pub created: u64,
    pub duplicates: u64,
    pub malformed: u64,
    pub first_messages: u64,
    pub replies: u64,
    pub tagged: u64,
    pub html: u64,
    /// Replies placed on the ticket of the sender's first message / elsewhere.
    pub threaded: u64,
    pub misthreaded: u64,
    /// Messages placed under another customer than the sender's first message.
    pub wrong_customer: u64,
    /// Times a worker waited for the answer to a reply's parent, and for how long.
    pub parent_waits: u64,
    pub parent_wait: Duration,
    /// Ticket number look-ups for tagged replies, and their time (outside the latency).
    pub lookups: u64,
    pub lookup_time: Duration,
    /// CPU use of the whole machine over the run (from /proc/stat): busy, iowait, steal, %.
    pub cpu: Option<(f64, f64, f64)>,
}

impl stats::Outcome for Outcome {
    fn merge(&mut self, other: Outcome) {
        self.tally.merge(other.tally);
        self.created += other.created;
        self.duplicates += other.duplicates;
        self.malformed += other.malformed;
        self.first_messages += other.first_messages;
        self.replies += other.replies;
        self.tagged += other.tagged;
        self.html += other.html;
        self.threaded += other.threaded;
        self.misthreaded += other.misthreaded;
        self.wrong_customer += other.wrong_customer;
        self.parent_waits += other.parent_waits;
        self.parent_wait += other.parent_wait;
        self.lookups += other.lookups;
        self.lookup_time += other.lookup_time;
    }

    fn tally(&mut self) -> &mut Tally {
        &mut self.tally
    }
}

/// Everything the workers share for one plan.
pub struct Shared {
    plan: Plan,
    client: Client,
    endpoint: Url,
    auth: String,
    next: AtomicU64,
    /// Per sender: how many of its messages have been answered.
    answered: Vec<watch::Sender<u32>>,
    seen: Vec<Mutex<SenderSeen>>,
    db: Option<Arc<Mutex<Db>>>,
    deadline: Instant,
    bar: Option<ProgressBar>,
}

pub fn shared(
    plan: Plan,
    client: &Client,
    endpoint: &Url,
    auth: &str,
    db: Option<Arc<Mutex<Db>>>,
    deadline: Instant,
    bar: Option<ProgressBar>,
) -> Arc<Shared> {
    let answered = plan.senders.iter().map(|_| watch::channel(0u32).0).collect();
    let seen = plan.senders.iter().map(|_| Mutex::new(SenderSeen::default())).collect();
    Arc::new(Shared {
        plan,
        client: client.clone(),
        endpoint: endpoint.clone(),
        auth: auth.to_owned(),
        next: AtomicU64::new(0),
        answered,
        seen,
        db,
        deadline,
        bar,
    })
}

/// Sends every email of the plan from `concurrency` tasks; stops at the deadline.
pub async fn load(shared: Arc<Shared>, concurrency: u64) -> Outcome {
    http::fan_out(concurrency.min(shared.plan.items.len() as u64), || {
        let shared = shared.clone();
        async move { worker(&shared).await }
    })
    .await
}

async fn worker(shared: &Shared) -> Outcome {
    let mut outcome = Outcome::default();
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(&item) = usize::try_from(i).ok().and_then(|i| shared.plan.items.get(i)) else {
            break;
        };
        if Instant::now() >= shared.deadline {
            break;
        }
        // A reply goes out only once its parent has been answered.
        if item.seq > 0 {
            let mut answered = shared.answered[item.sender].subscribe();
            if *answered.borrow() < item.seq {
                let waited = Instant::now();
                let ready =
                    tokio::time::timeout_at(shared.deadline.into(), answered.wait_for(|n| *n >= item.seq)).await;
                outcome.parent_waits += 1;
                outcome.parent_wait += waited.elapsed();
                if !matches!(ready, Ok(Ok(_))) {
                    break;
                }
            }
        }
        let raw = &shared.plan.raws[usize::try_from(i).unwrap_or_default()];
        let mut body = Vec::with_capacity(raw.size() + 20);
        body.extend_from_slice(&raw.head);
        if let Some(tail) = &raw.tail {
            match ticket_number(shared, item.sender, &mut outcome).await {
                Some(number) => {
                    body.extend_from_slice(number.to_string().as_bytes());
                    outcome.tagged += 1;
                }
                // No ticket to name (the first message failed): an empty tag, ignored.
                None => body.extend_from_slice(b"0"),
            }
            body.extend_from_slice(tail);
        }

        let request = || {
            shared
                .client
                .post(shared.endpoint.clone())
                .header("authorization", &shared.auth)
                .header("content-type", "message/rfc822")
                .body(body)
        };
        let (micros, result) =
            http::exchange(request, |status, body| (status, serde_json::from_slice(body).unwrap_or(Value::Null))).await;

        if item.seq == 0 {
            outcome.first_messages += 1;
        } else {
            outcome.replies += 1;
        }
        if item.html {
            outcome.html += 1;
        }
        if let Some((status, answer)) = outcome.tally.record(micros, result) {
            read_answer(shared, item, status, &answer, &mut outcome);
        }
        shared.answered[item.sender].send_modify(|n| *n += 1);
        if let Some(bar) = &shared.bar {
            bar.inc(1);
        }
    }
    outcome
}

/// Counts what a 2xx answer said: created or a duplicate, malformed, and for a reply
/// whether it stayed with its sender's customer and first ticket.
fn read_answer(shared: &Shared, item: Item, status: StatusCode, answer: &Value, outcome: &mut Outcome) {
    if status == StatusCode::CREATED {
        outcome.created += 1;
    } else {
        outcome.duplicates += 1;
    }
    if answer["malformed"].as_bool() == Some(true) {
        outcome.malformed += 1;
    }
    let customer = answer["customer_id"].as_str().map(str::to_owned);
    let ticket = answer["ticket_id"].as_str().map(str::to_owned);
    if let Ok(mut seen) = shared.seen[item.sender].lock() {
        if item.seq == 0 {
            seen.customer = customer;
            seen.first_ticket = ticket;
        } else {
            if seen.customer.is_some() && seen.customer != customer {
                outcome.wrong_customer += 1;
            }
            if seen.first_ticket.is_some() {
                if seen.first_ticket == ticket {
                    outcome.threaded += 1;
                } else {
                    outcome.misthreaded += 1;
                }
            }
        }
    }
}

/// The number of the ticket the sender's first message opened, read once per sender.
async fn ticket_number(shared: &Shared, sender: usize, outcome: &mut Outcome) -> Option<i64> {
    let (known, ticket) = {
        let seen = shared.seen[sender].lock().ok()?;
        (seen.ticket_number, seen.first_ticket.clone())
    };
    if known.is_some() {
        return known;
    }
    let (db, ticket) = (shared.db.clone()?, ticket?);
    let started = Instant::now();
    let number = tokio::task::spawn_blocking(move || {
        let mut db = db.lock().ok()?;
        db.int(&format!("SELECT number AS n FROM tickets WHERE id = {}", text(&ticket))).ok()
    })
    .await
    .ok()
    .flatten();
    outcome.lookups += 1;
    outcome.lookup_time += started.elapsed();
    if let Ok(mut seen) = shared.seen[sender].lock() {
        seen.ticket_number = number;
    }
    number
}
