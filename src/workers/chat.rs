//! The chat-to-email fallback: settles the `chat` outbox entries of agents' chat replies
//! (see `braid_db::chat::fallback` for the rule and why it is exactly once). Runs on every
//! node; leases keep two nodes from settling one entry at once.

use std::time::Duration;

use braid_core::Channel;
use braid_db::chat::fallback::{self, Settled};
use braid_db::{Db, DbError, outbox};
use tokio::sync::watch;

const LEASE: chrono::Duration = chrono::Duration::minutes(1);
const BATCH: i64 = 50;
/// How often due entries are looked for.
const EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct ChatFallback {
    pub db: Db,
    /// How long a reply may stay unseen before it goes by email.
    pub delay: chrono::Duration,
}

impl ChatFallback {
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        loop {
            if let Err(error) = self.round().await {
                tracing::warn!(%error, "chat fallback round failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stopped.changed() => return,
            }
        }
    }

    async fn round(&self) -> Result<(), DbError> {
        let due = self.db.run(|conn| outbox::claim(conn, Channel::Chat, LEASE, BATCH)).await?;
        for delivery in due {
            let (delay, message) = (self.delay, delivery.message.id);
            let settled = self.db.run(move |conn| fallback::settle(conn, &delivery, delay, braid_db::now())).await?;
            match settled {
                Settled::Emailed { replies, .. } => {
                    tracing::info!(%message, replies, "unseen chat replies sent by email")
                }
                Settled::Unsent => tracing::info!(%message, "unseen chat reply: no email address to fall back to"),
                Settled::Seen | Settled::Later(_) => {}
            }
        }
        Ok(())
    }
}
