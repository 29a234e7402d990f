//! Background work that runs beside the HTTP server on every node. Each worker is a
//! loop that stops when shutdown is signalled; coordination between nodes goes through
//! the database (leases on outbox rows), so running them everywhere is safe.

mod chat;
mod connectors;
mod email;
mod timers;
mod webhooks;

pub use chat::ChatFallback;
pub use connectors::ConnectorDelivery;
pub use email::EmailDelivery;
pub use timers::Timers;
pub use webhooks::WebhookDelivery;

use std::time::Duration;

use braid_db::Db;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Running workers and the switch that stops them.
#[derive(Debug)]
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    pub fn start(
        housekeeping: Housekeeping,
        email: Option<EmailDelivery>,
        chat: ChatFallback,
        webhooks: WebhookDelivery,
        connectors: ConnectorDelivery,
        timers: Timers,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(housekeeping.run(stopped.clone())),
            tokio::spawn(chat.run(stopped.clone())),
            tokio::spawn(webhooks.run(stopped.clone())),
            tokio::spawn(connectors.run(stopped.clone())),
            tokio::spawn(timers.run(stopped.clone())),
        ];
        match email {
            Some(email) => tasks.push(tokio::spawn(email.run(stopped))),
            None => tracing::info!("no smtp_url: email replies stay queued in the outbox"),
        }
        Self { stop, tasks }
    }

    /// Turns true when the workers are told to stop (for tasks started elsewhere).
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Signals every worker and waits for it to finish its current round.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);

/// Events deleted per statement while pruning the log.
const PRUNE_BATCH: i64 = 5000;

/// Forgets what has outlived its use, so those tables stay small: idempotency keys past
/// their time-to-live, failed sign-ins past the throttling window, webhook tokens past
/// their freshness, and events (with finished webhook deliveries) past the log's retention.
#[derive(Debug, Clone)]
pub struct Housekeeping {
    pub db: Db,
    pub idempotency_ttl: chrono::Duration,
    pub login_window: chrono::Duration,
    /// `None` keeps events forever.
    pub event_retention: Option<chrono::Duration>,
}

impl Housekeeping {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        loop {
            self.round().await;
            tokio::select! {
                _ = tokio::time::sleep(HOUSEKEEPING_EVERY) => {}
                _ = stopped.changed() => return,
            }
        }
    }

    async fn round(&self) {
        let now = braid_db::now();
        let (keys_before, failures_before) = (now - self.idempotency_ttl, now - self.login_window);
        let purged = self
            .db
            .run(move |conn| {
                // Webhook tokens outlive their signatures' freshness window by a day.
                braid_db::auth::purge_webhook_tokens(conn, braid_db::now() - chrono::Duration::days(1))?;
                Ok((
                    braid_db::idempotency::purge(conn, keys_before)?,
                    braid_db::auth::purge_login_failures(conn, failures_before)?,
                ))
            })
            .await;
        match purged {
            Ok((0, 0)) => {}
            Ok((keys, failures)) => tracing::info!(keys, failures, "housekeeping purged expired rows"),
            Err(error) => tracing::warn!(%error, "housekeeping failed; retrying next round"),
        }
        if let Some(retention) = self.event_retention {
            let before = now - retention;
            let mut pruned = 0;
            // In batches, each its own short transaction, so writers never wait long.
            loop {
                match self.db.run(move |conn| braid_db::events::prune(conn, before, PRUNE_BATCH)).await {
                    Ok(0) => break,
                    Ok(deleted) => pruned += deleted,
                    Err(error) => {
                        tracing::warn!(%error, "pruning the event log failed; retrying next round");
                        break;
                    }
                }
            }
            if pruned > 0 {
                tracing::info!(pruned, %before, "housekeeping pruned the event log");
            }
            // Finished webhook deliveries (and their attempts) go with the events.
            let mut purged = 0;
            loop {
                match self.db.run(move |conn| braid_db::webhooks::purge(conn, before, PRUNE_BATCH)).await {
                    Ok(0) => break,
                    Ok(deleted) => purged += deleted,
                    Err(error) => {
                        tracing::warn!(%error, "purging old webhook deliveries failed; retrying next round");
                        break;
                    }
                }
            }
            if purged > 0 {
                tracing::info!(purged, %before, "housekeeping purged old webhook deliveries");
            }
        }
    }
}
