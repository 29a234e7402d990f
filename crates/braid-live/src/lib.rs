//! Live fan-out. Every node follows the event log itself and hands each new event, in log
//! order, to the sockets it serves; nothing but the database says what happened.
//!
//! What moves between nodes is only a nudge: "there are new events" (a wake-up), and the
//! signals that are never stored (typing, presence). In-process, a write wakes this
//! node's follower at once. With Redis, every node publishes its wake-ups and signals on
//! pub/sub and hears everyone else's. Pub/sub drops what is sent while a subscriber is
//! disconnected, so the follower also polls: a node that misses a wake-up (Redis down or
//! restarted) catches up at the next poll. Redis makes it faster, never correct.
//!
//! Sockets subscribe to a bounded broadcast: one that falls [`CAPACITY`] events behind is
//! told it lagged (`RecvError::Lagged`) and is closed by its owner, to resume from its last
//! position like any reconnecting client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use braid_db::Db;
use braid_db::events::{self, Event, Position};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast, watch};

/// Events a subscriber may fall behind before it is dropped.
pub const CAPACITY: usize = 4096;
/// Events read per query.
const PAGE: i64 = 500;
/// How often the follower reads the log when nothing woke it.
const POLL: Duration = Duration::from_millis(250);
/// How soon it looks again when events wait behind an older transaction.
const HELD_BACK: Duration = Duration::from_millis(2);
const WAKE_CHANNEL: &str = "braid:live:wake";
const SIGNAL_CHANNEL: &str = "braid:live:signal";

/// A signal that is never stored: someone is typing, someone came or went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// `typing` or `presence`.
    pub kind: String,
    pub customer_id: Option<String>,
    pub ticket_id: Option<String>,
    /// Who: `{"by": "agent", "agent_id", "name"}` or `{"by": "visitor", "visitor_id"}`.
    pub payload: serde_json::Value,
    /// The node that sent it (a node hears its own signals locally, not from Redis).
    #[serde(default)]
    pub origin: String,
}

#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    node: String,
    events: broadcast::Sender<Arc<Event>>,
    signals: broadcast::Sender<Arc<Signal>>,
    wake: Notify,
    redis: Option<redis::aio::ConnectionManager>,
    /// Wake-ups published, for the logs and tests.
    published: AtomicU64,
}

/// What a socket listens to.
#[derive(Debug)]
pub struct Subscription {
    pub events: broadcast::Receiver<Arc<Event>>,
    pub signals: broadcast::Receiver<Arc<Signal>>,
}

impl Hub {
    /// Starts following the log from its present end, and, with `redis_url`, listening to
    /// the other nodes. Stops when `stopped` turns true.
    pub async fn start(db: Db, redis_url: Option<&str>, stopped: watch::Receiver<bool>) -> Result<Self, String> {
        let (events, _) = broadcast::channel(CAPACITY);
        let (signals, _) = broadcast::channel(CAPACITY);
        let (client, redis) = match redis_url {
            None => (None, None),
            Some(url) => {
                let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(Duration::from_secs(1)))
                    .set_number_of_retries(1);
                let manager = redis::aio::ConnectionManager::new_with_config(client.clone(), config)
                    .await
                    .map_err(|e| format!("cannot connect to Redis: {e}"))?;
                (Some(client), Some(manager))
            }
        };
        let hub = Hub {
            inner: Arc::new(Inner {
                node: uuid::Uuid::now_v7().to_string(),
                events,
                signals,
                wake: Notify::new(),
                redis,
                published: AtomicU64::new(0),
            }),
        };
        let start = db.run(events::head).await.map_err(|e| e.to_string())?;
        tokio::spawn(follow(hub.clone(), db, start, stopped.clone()));
        if let Some(client) = client {
            tokio::spawn(listen(hub.clone(), client, stopped));
        }
        Ok(hub)
    }

    pub fn subscribe(&self) -> Subscription {
        Subscription { events: self.inner.events.subscribe(), signals: self.inner.signals.subscribe() }
    }

    /// Something was written: read the log now, here and on every other node.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
        if let Some(redis) = self.inner.redis.clone() {
            self.inner.published.fetch_add(1, Ordering::Relaxed);
            let node = self.inner.node.clone();
            tokio::spawn(async move {
                let mut redis = redis;
                let sent: Result<(), _> =
                    redis::cmd("PUBLISH").arg(WAKE_CHANNEL).arg(node).query_async(&mut redis).await;
                if let Err(error) = sent {
                    tracing::debug!(%error, "wake-up not published; other nodes catch up by polling");
                }
            });
        }
    }

    /// Sends a signal to every socket on every node.
    pub fn signal(&self, mut signal: Signal) {
        signal.origin = self.inner.node.clone();
        let _ = self.inner.signals.send(Arc::new(signal.clone()));
        if let Some(redis) = self.inner.redis.clone() {
            tokio::spawn(async move {
                let mut redis = redis;
                let Ok(body) = serde_json::to_string(&signal) else { return };
                let sent: Result<(), _> =
                    redis::cmd("PUBLISH").arg(SIGNAL_CHANNEL).arg(body).query_async(&mut redis).await;
                if let Err(error) = sent {
                    tracing::debug!(%error, "signal not published to other nodes");
                }
            });
        }
    }

    /// How many sockets listen on this node.
    pub fn subscribers(&self) -> usize {
        self.inner.events.receiver_count()
    }
}

/// Reads the log after `last` whenever woken (or every [`POLL`]) and broadcasts each
/// event in order.
async fn follow(hub: Hub, db: Db, mut last: Position, mut stopped: watch::Receiver<bool>) {
    loop {
        let mut held_back = false;
        loop {
            let after = last;
            let page = match db.run(move |conn| events::since_or_held_back(conn, Some(after), PAGE)).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "reading the event log failed; retrying");
                    break;
                }
            };
            let (page, held) = page;
            held_back = held;
            let full = page.len() as i64 == PAGE;
            for event in page {
                last = event.position;
                let _ = hub.inner.events.send(Arc::new(event));
            }
            if !full {
                break;
            }
        }
        // Events committed behind an older transaction still running are final as soon as
        // it ends, which may wake nobody: look again in a moment.
        let wait = if held_back { HELD_BACK } else { POLL };
        tokio::select! {
            _ = hub.inner.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Hears the other nodes through Redis pub/sub, reconnecting with backoff; after every
/// (re)connection the follower reads the log, for what was said while deaf.
async fn listen(hub: Hub, client: redis::Client, mut stopped: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match subscribe(&client).await {
            Ok(mut pubsub) => {
                backoff = Duration::from_millis(100);
                hub.inner.wake.notify_one();
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(message) => hear(&hub, &message),
                            None => break,
                        },
                        _ = stopped.changed() => return,
                    }
                }
                tracing::warn!("lost Redis pub/sub; reconnecting (polling meanwhile)");
            }
            Err(error) => tracing::warn!(%error, "cannot subscribe to Redis; retrying (polling meanwhile)"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn subscribe(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(WAKE_CHANNEL).await?;
    pubsub.subscribe(SIGNAL_CHANNEL).await?;
    Ok(pubsub)
}

fn hear(hub: &Hub, message: &redis::Msg) {
    let Ok(body) = message.get_payload::<String>() else { return };
    match message.get_channel_name() {
        WAKE_CHANNEL if body != hub.inner.node => hub.inner.wake.notify_one(),
        SIGNAL_CHANNEL => match serde_json::from_str::<Signal>(&body) {
            Ok(signal) if signal.origin != hub.inner.node => {
                let _ = hub.inner.signals.send(Arc::new(signal));
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "ignoring a malformed signal"),
        },
        _ => {}
    }
}
