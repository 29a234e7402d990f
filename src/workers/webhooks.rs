//! Outbound webhooks: a dispatcher turns each enabled endpoint's new events into queued
//! deliveries, and a deliverer sends what is due, many at once, retrying on the schedule.
//! Both run on every node; the database decides who does what (a lock per endpoint for
//! dispatching, leases on deliveries for sending).

use std::collections::HashMap;
use std::time::Duration;

use braid_channels::webhooks::Sender;
use braid_core::{WebhookId, webhook};
use braid_db::Db;
use braid_db::webhooks::{self, Attempt, Claimed, Next, Outcome};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Events turned into deliveries per endpoint per transaction.
const DISPATCH_BATCH: i64 = 500;
/// How often endpoints are checked for new events.
const DISPATCH_EVERY: Duration = Duration::from_millis(100);
/// How long a claimed delivery is ours: well past the attempt's 15-second limit.
const LEASE_SECS: i64 = 60;
/// An endpoint with no success for this long is disabled.
const FAILING_DAYS: i64 = 5;

#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub db: Db,
    pub sender: Sender,
    /// The delays between attempts.
    pub schedule: Vec<Duration>,
    /// Attempts in flight at once on this node.
    pub concurrency: usize,
    /// Of which at most this many to one endpoint, so a slow one never holds up the rest.
    pub per_endpoint: usize,
}

impl WebhookDelivery {
    pub async fn run(self, stopped: watch::Receiver<bool>) {
        let dispatcher = tokio::spawn(dispatch(self.db.clone(), stopped.clone()));
        self.deliver(stopped).await;
        let _ = dispatcher.await;
    }

    async fn deliver(self, mut stopped: watch::Receiver<bool>) {
        let mut in_flight: HashMap<WebhookId, usize> = HashMap::new();
        let mut running: JoinSet<Outcome> = JoinSet::new();
        let mut finished: Vec<Outcome> = Vec::new();
        loop {
            let stopping = *stopped.borrow();
            while let Some(done) = running.try_join_next() {
                if let Ok(outcome) = done {
                    finished.push(outcome);
                }
            }
            // Every finished attempt is recorded, in one transaction per round.
            if !finished.is_empty() {
                for outcome in &finished {
                    if let Some(n) = in_flight.get_mut(&outcome.claimed.endpoint) {
                        *n -= 1;
                        if *n == 0 {
                            in_flight.remove(&outcome.claimed.endpoint);
                        }
                    }
                }
                let batch = std::mem::take(&mut finished);
                let failing_limit = braid_db::now() - chrono::Duration::days(FAILING_DAYS);
                let recorded = self
                    .db
                    .run(move |conn| {
                        if webhooks::record(conn, &batch, failing_limit).is_ok() {
                            return Ok(());
                        }
                        // One outcome the database refuses must not cost the others: each
                        // on its own. What still fails is tried again when its lease runs
                        // out, a duplicate by webhook-id, never a loss.
                        for outcome in batch {
                            if let Err(error) = webhooks::record(conn, std::slice::from_ref(&outcome), failing_limit) {
                                tracing::warn!(%error, delivery = %outcome.claimed.id, "recording a webhook attempt failed");
                            }
                        }
                        Ok(())
                    })
                    .await;
                if let Err(error) = recorded {
                    tracing::warn!(%error, "recording webhook attempts failed");
                }
            }
            if stopping {
                if running.is_empty() {
                    break;
                }
                // Attempts under way finish (each within its time limit) and are recorded.
                if let Some(Ok(outcome)) = running.join_next().await {
                    finished.push(outcome);
                }
                continue;
            }
            let free = self.concurrency.saturating_sub(running.len());
            let mut claimed = 0;
            if free > 0 {
                match self.claim(free, &in_flight).await {
                    Ok(batch) => {
                        claimed = batch.len();
                        for (delivery, keys) in batch {
                            *in_flight.entry(delivery.endpoint).or_default() += 1;
                            let (sender, schedule) = (self.sender.clone(), self.schedule.clone());
                            running.spawn(attempt(sender, schedule, delivery, keys));
                        }
                    }
                    Err(error) => tracing::warn!(%error, "claiming webhook deliveries failed; retrying"),
                }
            }
            // Wait for an attempt to finish, or a while when there was nothing to do.
            let pause = if claimed == 0 { Duration::from_millis(100) } else { Duration::from_millis(5) };
            tokio::select! {
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok(outcome) = done {
                        finished.push(outcome);
                    }
                }
                _ = tokio::time::sleep(pause) => {}
                _ = stopped.changed() => {}
            }
        }
    }

    /// Claims up to `free` due deliveries, no endpoint past its share of slots, with each
    /// endpoint's signing keys.
    async fn claim(
        &self,
        free: usize,
        in_flight: &HashMap<WebhookId, usize>,
    ) -> Result<Vec<(Claimed, Vec<Vec<u8>>)>, braid_db::DbError> {
        let per_endpoint = self.per_endpoint;
        let busy = in_flight.clone();
        self.db
            .run(move |conn| {
                let room = |endpoint: WebhookId| per_endpoint.saturating_sub(busy.get(&endpoint).copied().unwrap_or(0));
                let claimed =
                    webhooks::claim(conn, chrono::Duration::seconds(LEASE_SECS), &room, free, rand::random())?;
                let mut keys: HashMap<WebhookId, Vec<Vec<u8>>> = HashMap::new();
                let now = braid_db::now();
                let mut batch = Vec::with_capacity(claimed.len());
                for delivery in claimed {
                    if let std::collections::hash_map::Entry::Vacant(entry) = keys.entry(delivery.endpoint) {
                        let secrets = webhooks::signing_secrets(conn, delivery.endpoint, now)?;
                        entry.insert(secrets.iter().filter_map(|s| webhook::secret_key(s)).collect());
                    }
                    let endpoint_keys = keys.get(&delivery.endpoint).cloned().unwrap_or_default();
                    batch.push((delivery, endpoint_keys));
                }
                Ok(batch)
            })
            .await
    }
}

/// One attempt: send and judge.
async fn attempt(sender: Sender, schedule: Vec<Duration>, delivery: Claimed, keys: Vec<Vec<u8>>) -> Outcome {
    let endpoint = delivery.endpoint;
    let at = braid_db::now();
    let answer = sender.send(&delivery.url, &delivery.id, &keys, &delivery.body).await;
    let verdict = webhook::judge(
        &schedule,
        u32::try_from(delivery.attempt).unwrap_or(1),
        answer.status,
        answer.retry_after,
        rand::random(),
    );
    let next = match verdict {
        webhook::Verdict::Delivered => Next::Delivered,
        webhook::Verdict::Retry(delay) => {
            Next::RetryAt(braid_db::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1)))
        }
        webhook::Verdict::Gone => Next::Gone,
        webhook::Verdict::Failed => Next::Failed,
    };
    match next {
        Next::Delivered => {}
        Next::RetryAt(when) => tracing::info!(delivery = %delivery.id, %endpoint, attempt = delivery.attempt,
            status = ?answer.status, error = ?answer.error, %when, "webhook attempt failed; retrying"),
        Next::Failed => tracing::warn!(delivery = %delivery.id, %endpoint, attempts = delivery.attempt,
            error = ?answer.error, "webhook delivery failed after its last attempt; kept for redelivery"),
        Next::Gone => tracing::warn!(%endpoint, "webhook endpoint answered 410 Gone; disabled"),
    }
    let attempt = Attempt {
        at,
        status: answer.status,
        latency_ms: i64::try_from(answer.latency.as_millis()).unwrap_or(i64::MAX),
        error: answer.error,
        response: answer.excerpt,
    };
    Outcome { claimed: delivery, attempt, next }
}

/// Turns new events into deliveries, endpoint by endpoint, until stopped.
async fn dispatch(db: Db, mut stopped: watch::Receiver<bool>) {
    loop {
        // One batch per endpoint per pass, so an endpoint with a long backlog (enabled
        // again after days) never holds up the others; passes follow at once while any
        // has more.
        let mut more = false;
        match db.run(webhooks::enabled).await {
            Ok(endpoints) => {
                for endpoint in endpoints {
                    let done = db
                        .run(move |conn| webhooks::dispatch(conn, endpoint, DISPATCH_BATCH, &braid_api::webhook_body))
                        .await;
                    match done {
                        Ok((_, has_more)) => more |= has_more,
                        Err(error) => tracing::warn!(%error, %endpoint, "queueing webhook deliveries failed; retrying"),
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "listing webhook endpoints failed; retrying"),
        }
        if more && !*stopped.borrow() {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(DISPATCH_EVERY) => {}
            _ = stopped.changed() => return,
        }
    }
}
