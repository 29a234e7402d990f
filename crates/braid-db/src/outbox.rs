//! The outbox: deliveries waiting to go out. An outbound message and its outbox entry are
//! written in one transaction, so a reply is never stored without being queued, nor
//! queued without being stored; channel workers drain it with retries.

use braid_core::{Channel, MessageId, OutboxId};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use braid_core::DeliveryState;

use crate::messages::{self, Message};
use crate::schema::{messages as messages_table, outbox};
use crate::{DbConn, DbError, dialect, events, to_db};

/// Queues `message` for delivery on `channel`, due now.
pub fn enqueue(
    conn: &mut DbConn,
    message: MessageId,
    channel: Channel,
    at: DateTime<Utc>,
) -> Result<OutboxId, DbError> {
    let id = OutboxId::new();
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(id.to_string()),
            outbox::message_id.eq(message.to_string()),
            outbox::channel.eq(channel.as_str()),
            outbox::state.eq("pending"),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(to_db(at)),
            outbox::created_at.eq(to_db(at)),
            outbox::updated_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    Ok(id)
}

/// How many deliveries are waiting, for `/metrics` and the workers' logs.
pub fn pending(conn: &mut DbConn) -> Result<i64, DbError> {
    Ok(outbox::table.filter(outbox::state.eq("pending")).count().get_result(conn)?)
}

/// A leased delivery: the entry, and the message to deliver.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: OutboxId,
    /// Attempts so far, this one included.
    pub attempt: i32,
    pub message: Message,
    /// Several messages sent as one (chat replies a visitor never saw, by email): their
    /// texts in order, `message` first. Empty for a message of its own.
    pub bundle: Vec<Message>,
}

/// Leases due deliveries of `channel` for `lease`; a worker that dies mid-delivery loses
/// its lease and another takes the entry over after it.
pub fn claim(
    conn: &mut DbConn,
    channel: Channel,
    lease: chrono::Duration,
    limit: i64,
) -> Result<Vec<Delivery>, DbError> {
    dialect::write_transaction(conn, |conn| {
        let now = crate::now();
        let ids = dialect::claim_outbox(conn, channel.as_str(), to_db(now), to_db(now + lease), limit)?;
        let mut deliveries = Vec::with_capacity(ids.len());
        for id in ids {
            let (message_id, attempt, bundle): (String, i32, Option<String>) =
                outbox::table.find(&id).select((outbox::message_id, outbox::attempts, outbox::bundle)).first(conn)?;
            let message = messages::get(conn, message_id.parse()?)?;
            let bundle = match bundle {
                Some(ids) => messages::get_many(conn, &serde_json::from_str::<Vec<String>>(&ids)?)?,
                None => vec![],
            };
            deliveries.push(Delivery { id: id.parse()?, attempt, message, bundle });
        }
        Ok(deliveries)
    })
}

/// Gives the message the channel reference it will be sent with (an email Message-ID),
/// once: a retry sends the same id, so the recipient can tell a repeat.
pub fn assign_channel_ref(conn: &mut DbConn, message: &Message, channel_ref: &str) -> Result<String, DbError> {
    if let Some(existing) = &message.channel_ref {
        return Ok(existing.clone());
    }
    diesel::update(messages_table::table.find(message.id.to_string()).filter(messages_table::channel_ref.is_null()))
        .set(messages_table::channel_ref.eq(channel_ref))
        .execute(conn)?;
    Ok(messages::get(conn, message.id)?.channel_ref.unwrap_or_else(|| channel_ref.to_owned()))
}

/// The channel took the message, addressed to `to` (an answer from that address proves
/// its owner read it: see `placement`'s round trip).
pub fn sent(conn: &mut DbConn, delivery: &Delivery, to: &str) -> Result<(), DbError> {
    dialect::write_transaction(conn, |conn| {
        for message in delivery.messages() {
            diesel::update(messages_table::table.find(message.id.to_string()))
                .set(messages_table::sent_to.eq(to.to_lowercase()))
                .execute(conn)?;
        }
        finish_in(conn, delivery, "sent", DeliveryState::Sent, None, Only::Pending)
    })
}

/// The channel refused the message for good (a 5xx, no address to send to).
pub fn failed(conn: &mut DbConn, delivery: &Delivery, error: &str) -> Result<(), DbError> {
    finish(conn, delivery, "failed", DeliveryState::Failed, Some(error))
}

/// A temporary failure: try again at `next_attempt_at`.
pub fn retry_later(
    conn: &mut DbConn,
    delivery: &Delivery,
    error: &str,
    next_attempt_at: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::update(outbox::table.find(delivery.id.to_string()))
        .set((
            outbox::locked_until.eq(None::<chrono::NaiveDateTime>),
            outbox::next_attempt_at.eq(to_db(next_attempt_at)),
            outbox::last_error.eq(error),
            outbox::updated_at.eq(to_db(crate::now())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Nothing could be tried (the channel has nowhere to send yet): wait until `at` without
/// counting this as an attempt, so the entry waits as long as it must.
pub fn postpone(conn: &mut DbConn, delivery: &Delivery, reason: &str, at: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(outbox::table.find(delivery.id.to_string()).filter(outbox::state.eq("pending")))
        .set((
            outbox::locked_until.eq(None::<chrono::NaiveDateTime>),
            outbox::attempts.eq(outbox::attempts - 1),
            outbox::next_attempt_at.eq(to_db(at)),
            outbox::last_error.eq(reason),
            outbox::updated_at.eq(to_db(crate::now())),
        ))
        .execute(conn)?;
    Ok(())
}

fn finish(
    conn: &mut DbConn,
    delivery: &Delivery,
    state: &str,
    delivery_state: DeliveryState,
    error: Option<&str>,
) -> Result<(), DbError> {
    dialect::write_transaction(conn, |conn| finish_in(conn, delivery, state, delivery_state, error, Only::Pending))
}

/// Which outbox entries a finish may move.
#[derive(Debug, Clone, Copy)]
enum Only {
    /// Those still pending: a worker's outcome never overrides what the channel reported
    /// meanwhile (a connector's `failed`, or its `delivered` ending the retries).
    Pending,
    /// Sent ones too: a bounce fails what was handed over.
    PendingOrSent,
}

fn finish_in(
    conn: &mut DbConn,
    delivery: &Delivery,
    state: &str,
    delivery_state: DeliveryState,
    error: Option<&str>,
    only: Only,
) -> Result<(), DbError> {
    let now = crate::now();
    let from: &[&str] = match only {
        Only::Pending => &["pending"],
        Only::PendingOrSent => &["pending", "sent"],
    };
    let moved = diesel::update(outbox::table.find(delivery.id.to_string()).filter(outbox::state.eq_any(from)))
        .set((
            outbox::state.eq(state),
            outbox::locked_until.eq(None::<chrono::NaiveDateTime>),
            outbox::last_error.eq(error),
            outbox::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    if moved == 0 {
        return Ok(());
    }
    let mut changed = Vec::new();
    for message in delivery.messages() {
        let mut details = message.details.clone();
        if let (Some(error), Some(object)) = (error, details.as_object_mut()) {
            object.insert("delivery_error".into(), serde_json::Value::String(error.to_owned()));
        }
        // States only move forward: a connector may have reported `delivered` already.
        let before: Vec<&str> = DeliveryState::before(delivery_state).into_iter().map(DeliveryState::as_str).collect();
        let moved = diesel::update(
            messages_table::table.find(message.id.to_string()).filter(messages_table::delivery_state.eq_any(before)),
        )
        .set((
            messages_table::delivery_state.eq(delivery_state.as_str()),
            messages_table::details.eq(details.to_string()),
        ))
        .execute(conn)?;
        if moved == 0 {
            continue;
        }
        let message = messages::get(conn, message.id)?;
        let customer = crate::customers::owner_of_thread(conn, message.thread_id)?;
        changed.push(messages::updated_event(&message, customer, now)?);
    }
    events::append(conn, changed)?;
    Ok(())
}

impl Delivery {
    /// The messages this delivery carries: the bundle, or the message alone.
    pub fn messages(&self) -> &[Message] {
        if self.bundle.is_empty() { std::slice::from_ref(&self.message) } else { &self.bundle }
    }
}

/// A delivery report said our message `channel_ref` could not be delivered: the message
/// (and its outbox entry) become `failed`. `false` when no outbound message of ours has
/// that reference. Runs inside the caller's transaction: placement marks the bounce in
/// the same commit that stores the report, so a crash can lose neither without the other.
pub fn bounced(conn: &mut DbConn, channel: Channel, channel_ref: &str, reason: &str) -> Result<bool, DbError> {
    let Some(message) = messages::find_ours(conn, channel, channel_ref)? else {
        return Ok(false);
    };
    // The entry that sent it on this channel (a chat reply also has its chat entry).
    let entry: Option<(String, i32, Option<String>)> = outbox::table
        .filter(outbox::message_id.eq(message.id.to_string()))
        .filter(outbox::channel.eq(channel.as_str()))
        .select((outbox::id, outbox::attempts, outbox::bundle))
        .first(conn)
        .optional()?;
    let Some((id, attempt, bundle)) = entry else {
        return Ok(false);
    };
    let bundle = match bundle {
        Some(ids) => messages::get_many(conn, &serde_json::from_str::<Vec<String>>(&ids)?)?,
        None => vec![],
    };
    let delivery = Delivery { id: id.parse()?, attempt, message, bundle };
    finish_in(conn, &delivery, "failed", DeliveryState::Failed, Some(reason), Only::PendingOrSent)?;
    Ok(true)
}
