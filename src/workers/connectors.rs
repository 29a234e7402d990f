//! Connector callbacks: drains the outbox's `api` entries (agents' replies on tickets the
//! customer wrote through a connector) to the connector's callback URL, signed and retried
//! as webhooks are. At-least-once: the `webhook-id` (the outbox entry) is the same on every
//! attempt, so the connector can tell a repeat.

use std::collections::HashMap;
use std::time::Duration;

use braid_channels::webhooks::Sender;
use braid_core::webhook::{self, Verdict};
use braid_core::{Channel, IdentityKind};
use braid_db::connectors::{self, Connector};
use braid_db::outbox::{self, Delivery};
use braid_db::{Db, DbError};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long a claimed delivery is ours: well past an attempt's 15-second limit.
const LEASE: chrono::Duration = chrono::Duration::minutes(1);
/// Callbacks in flight at once on this node.
const IN_FLIGHT: usize = 32;
/// At most this many of them go to one connector, so one that hangs (15 s an attempt)
/// leaves the other half to the rest.
const PER_CONNECTOR: usize = IN_FLIGHT / 2;
/// How soon a reply held back for its connector's share is looked at again.
const SHARE_WAIT: chrono::Duration = chrono::Duration::seconds(1);
/// The pause between rounds when there is nothing to send.
const IDLE: Duration = Duration::from_millis(500);
/// How often a reply to a connector without a callback URL looks again.
const NO_CALLBACK_WAIT: chrono::Duration = chrono::Duration::minutes(1);

#[derive(Debug, Clone)]
pub struct ConnectorDelivery {
    pub db: Db,
    pub sender: Sender,
    /// The delays between attempts (the webhooks' schedule).
    pub schedule: Vec<Duration>,
}

/// A reply ready to send, or why it cannot go.
enum Prepared {
    Send {
        url: String,
        keys: Vec<Vec<u8>>,
        body: String,
        to: String,
    },
    /// The connector has no callback URL yet: the reply waits for one (no attempt counted).
    NoCallback,
    /// Nothing can deliver it.
    Undeliverable(String),
}

impl ConnectorDelivery {
    /// Keeps up to [`IN_FLIGHT`] callbacks going, claiming more as each one ends, and at most
    /// [`PER_CONNECTOR`] to one connector: a slow connector holds only its share of the
    /// slots, never a whole round or every slot.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut running: JoinSet<(String, Result<(), DbError>)> = JoinSet::new();
        let mut busy: HashMap<String, usize> = HashMap::new();
        loop {
            while let Some(done) = running.try_join_next() {
                ended(done, &mut busy);
            }
            if *stopped.borrow() {
                // Let what is in flight finish and record.
                while running.join_next().await.is_some() {}
                return;
            }
            let free = IN_FLIGHT.saturating_sub(running.len());
            let claimed = if free == 0 {
                0
            } else {
                match self.db.run(move |conn| outbox::claim(conn, Channel::Api, LEASE, free as i64)).await {
                    Ok(deliveries) => {
                        let (mut started, mut held) = (0, Vec::new());
                        for delivery in deliveries {
                            let connector = connector_of(&delivery);
                            let count = busy.entry(connector.clone()).or_default();
                            if *count >= PER_CONNECTOR {
                                held.push(delivery);
                                continue;
                            }
                            *count += 1;
                            started += 1;
                            let worker = self.clone();
                            running.spawn(async move { (connector, worker.deliver(delivery).await) });
                        }
                        if !held.is_empty() {
                            let at = braid_db::now() + SHARE_WAIT;
                            let reason = "waiting: its connector has its share of callbacks in flight";
                            let put_back = self.db.run(move |conn| {
                                held.iter().try_for_each(|delivery| outbox::postpone(conn, delivery, reason, at))
                            });
                            if let Err(error) = put_back.await {
                                tracing::warn!(%error, "held-back connector callbacks wait for their lease instead");
                            }
                        }
                        started
                    }
                    Err(error) => {
                        tracing::warn!(%error, "claiming connector callbacks failed; retrying");
                        0
                    }
                }
            };
            if claimed == 0 {
                // Nothing new (or no free slot): wait for one to end, or a while.
                tokio::select! {
                    done = running.join_next(), if !running.is_empty() => {
                        if let Some(done) = done {
                            ended(done, &mut busy);
                        }
                    }
                    _ = tokio::time::sleep(IDLE) => {}
                    _ = stopped.changed() => {}
                }
            }
        }
    }

    async fn deliver(&self, delivery: Delivery) -> Result<(), DbError> {
        let id = delivery.message.id;
        let message = delivery.message.clone();
        let entry = delivery.id;
        let prepared = self.db.run(move |conn| prepare(conn, message, entry)).await?;
        let (status, retry_after, error) = match prepared {
            Prepared::Undeliverable(reason) => {
                tracing::warn!(message = %id, %reason, "connector reply failed for good");
                return self.db.run(move |conn| outbox::failed(conn, &delivery, &reason)).await;
            }
            Prepared::NoCallback => {
                let at = braid_db::now() + NO_CALLBACK_WAIT;
                let reason = "waiting: the connector has no callback_url";
                return self.db.run(move |conn| outbox::postpone(conn, &delivery, reason, at)).await;
            }
            Prepared::Send { url, keys, body, to } => {
                let answer = self.sender.send(&url, &entry.to_string(), &keys, &body).await;
                if matches!(answer.status, Some(200..=299)) {
                    tracing::info!(message = %id, "connector took the reply");
                    return self.db.run(move |conn| outbox::sent(conn, &delivery, &to)).await;
                }
                let error = match (answer.status, answer.error) {
                    (_, Some(error)) => error,
                    (Some(status), None) => format!("the callback answered {status}"),
                    (None, None) => "no answer".to_owned(),
                };
                (answer.status, answer.retry_after, error)
            }
        };
        let attempt = u32::try_from(delivery.attempt).unwrap_or(u32::MAX);
        match webhook::judge(&self.schedule, attempt, status, retry_after, rand::random()) {
            Verdict::Retry(wait) => {
                tracing::info!(message = %id, %error, retry_in_secs = wait.as_secs(), "connector reply will be retried");
                let at = braid_db::now() + chrono::Duration::from_std(wait).unwrap_or(LEASE);
                self.db.run(move |conn| outbox::retry_later(conn, &delivery, &error, at)).await
            }
            Verdict::Gone | Verdict::Failed | Verdict::Delivered => {
                let reason = format!("gave up after {attempt} attempts: {error}");
                tracing::warn!(message = %id, %reason, "connector reply failed for good");
                self.db.run(move |conn| outbox::failed(conn, &delivery, &reason)).await
            }
        }
    }
}

/// A callback ended: its connector has a slot back.
fn ended(done: Result<(String, Result<(), DbError>), tokio::task::JoinError>, busy: &mut HashMap<String, usize>) {
    // A task that panicked frees no slot by name; the count errs on the safe side.
    if let Ok((connector, result)) = done {
        if let Some(count) = busy.get_mut(&connector) {
            *count = count.saturating_sub(1);
        }
        if let Err(error) = result {
            tracing::warn!(%error, "a connector callback could not be recorded; its lease will run out");
        }
    }
}

/// The connector a reply goes to, as fixed when the agent wrote it (`details.route`).
fn connector_of(delivery: &Delivery) -> String {
    delivery.message.details["route"]["connector_id"].as_str().unwrap_or("unrouted").to_owned()
}

fn prepare(
    conn: &mut braid_db::DbConn,
    message: braid_db::messages::Message,
    entry: braid_core::OutboxId,
) -> Result<Prepared, DbError> {
    let Some(ticket_id) = message.ticket_id else {
        return Ok(Prepared::Undeliverable("the reply has no ticket".into()));
    };
    let Some(route) = connectors::route_for_reply(conn, &message)? else {
        return Ok(Prepared::Undeliverable(
            "no connector delivers this ticket's replies: its customer never wrote through one".into(),
        ));
    };
    let (connector, secrets) = connectors::with_secrets(conn, route.connector)?;
    let Some(url) = connector.callback_url.clone() else {
        return Ok(Prepared::NoCallback);
    };
    let Some(keys) = secrets.iter().map(|secret| webhook::secret_key(secret)).collect::<Option<Vec<_>>>() else {
        return Ok(Prepared::Undeliverable("the connector's signing secret is unreadable".into()));
    };
    let channel_ref = connectors::outbound_ref(&connector, entry);
    outbox::assign_channel_ref(conn, &message, &channel_ref)?;
    let message = braid_db::messages::get(conn, message.id)?;
    let ticket = braid_db::tickets::get(conn, ticket_id)?;
    let external = match route.customer_external_id.clone() {
        Some(external) => Some(external),
        None => customer_external_id(conn, &connector, ticket.customer_id)?,
    };
    let body = braid_api::connectors::callback_body(&connector, message, Some(&ticket), &route, external.as_deref());
    let to = external.unwrap_or_else(|| connector.name.clone());
    Ok(Prepared::Send { url, keys, body, to })
}

/// The connector's id for the customer (its `external:<name>` identity), if it has one.
fn customer_external_id(
    conn: &mut braid_db::DbConn,
    connector: &Connector,
    customer: braid_core::CustomerId,
) -> Result<Option<String>, DbError> {
    let kind = IdentityKind::External(connector.name.clone());
    Ok(braid_db::customers::identities_of(conn, customer)?.into_iter().find(|i| i.kind == kind).map(|i| i.value))
}
