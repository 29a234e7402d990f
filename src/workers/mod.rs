//! Background work that runs beside the HTTP server on every node. Each worker is a
//! loop that stops when shutdown is signalled; coordination between nodes goes through
//! the database (leases on outbox rows), so running them everywhere is safe.

mod chat;
mod email;

pub use chat::ChatFallback;
pub use email::EmailDelivery;

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
        db: Db,
        idempotency_ttl: chrono::Duration,
        login_window: chrono::Duration,
        email: Option<EmailDelivery>,
        chat: ChatFallback,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(housekeeping(db, idempotency_ttl, login_window, stopped.clone())),
            tokio::spawn(chat.run(stopped.clone())),
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

/// Forgets idempotency keys past their time-to-live and failed sign-ins past the
/// throttling window, so those tables stay small.
async fn housekeeping(
    db: Db,
    idempotency_ttl: chrono::Duration,
    login_window: chrono::Duration,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let now = braid_db::now();
        let (keys_before, failures_before) = (now - idempotency_ttl, now - login_window);
        let purged = db
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
        tokio::select! {
            _ = tokio::time::sleep(HOUSEKEEPING_EVERY) => {}
            _ = stopped.changed() => return,
        }
    }
}
