//! Chat to email, exactly once. An agent's chat reply is queued in the outbox on the
//! `chat` channel; the fallback worker leases due entries and settles each under the
//! thread's lock (the lock a visitor's "seen" takes too), by the rule in
//! `braid_core::chat::fallback`: seen → done; too young, or the visitor online → look
//! again later; unseen with an email address → this reply and every other unseen chat
//! reply of its ticket become ONE email outbox entry (its `bundle`), in the same
//! transaction that closes their chat entries, so no reply is emailed twice or lost.

use braid_core::chat::{self, Fallback};
use braid_core::{Channel, DeliveryState, IdentityKind, OutboxId};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::customers;
use crate::events;
use crate::messages::{self, Message};
use crate::outbox::Delivery;
use crate::schema::{messages as messages_table, outbox};
use crate::{DbConn, DbError, dialect, to_db};

/// What became of one chat reply's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Seen,
    Later(DateTime<Utc>),
    /// Queued as one email carrying these replies.
    Emailed {
        email_entry: OutboxId,
        replies: usize,
    },
    /// No address to fall back to: the reply waits in the chat history.
    Unsent,
}

/// Settles one leased chat entry (see the module's rule).
pub fn settle(
    conn: &mut DbConn,
    delivery: &Delivery,
    delay: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Settled, DbError> {
    dialect::write_transaction(conn, |conn| {
        let message = messages::get(conn, delivery.message.id)?;
        let customer = customers::owner_of_thread(conn, message.thread_id)?;
        customers::lock_thread(conn, message.thread_id)?;
        let message = messages::get(conn, message.id)?;
        let seen = message.delivery_state == Some(DeliveryState::Delivered) || message.sent_via.is_some();
        let online = super::visitors::online_until(conn, customer)?;
        let has_email = customers::identities_of(conn, customer)?.iter().any(|i| i.kind == IdentityKind::Email);
        match chat::fallback(message.created_at, now, delay, seen, online, has_email) {
            Fallback::Seen => {
                close(conn, &delivery.id.to_string(), "sent", None, now)?;
                Ok(Settled::Seen)
            }
            Fallback::Wait(at) => {
                diesel::update(outbox::table.find(delivery.id.to_string()))
                    .set((
                        outbox::locked_until.eq(None::<chrono::NaiveDateTime>),
                        outbox::next_attempt_at.eq(to_db(at)),
                        outbox::updated_at.eq(to_db(now)),
                    ))
                    .execute(conn)?;
                Ok(Settled::Later(at))
            }
            Fallback::Nowhere => {
                close(
                    conn,
                    &delivery.id.to_string(),
                    "failed",
                    Some("unseen, and no email address to fall back to"),
                    now,
                )?;
                Ok(Settled::Unsent)
            }
            Fallback::Email => {
                let bundle = unseen_replies(conn, &message)?;
                let email_entry = bundle_as_email(conn, &bundle, customer, now)?;
                Ok(Settled::Emailed { email_entry, replies: bundle.len() })
            }
        }
    })
}

/// The ticket's chat replies still waiting on their chat entry and not seen, oldest
/// first, with their entries: the replies of the quiet period go in one email.
fn unseen_replies(conn: &mut DbConn, message: &Message) -> Result<Vec<(String, Message)>, DbError> {
    let Some(ticket) = message.ticket_id else {
        return Ok(vec![]);
    };
    let rows: Vec<(String, String)> = outbox::table
        .inner_join(messages_table::table)
        .filter(outbox::channel.eq(Channel::Chat.as_str()))
        .filter(outbox::state.eq("pending"))
        .filter(messages_table::ticket_id.eq(ticket.to_string()))
        .filter(messages_table::delivery_state.eq(DeliveryState::Queued.as_str()))
        .filter(messages_table::sent_via.is_null())
        .order((messages_table::created_at.asc(), messages_table::id.asc()))
        .limit(100)
        .select((outbox::id, messages_table::id))
        .load(conn)?;
    let ids: Vec<String> = rows.iter().map(|(_, message)| message.clone()).collect();
    let messages = messages::get_many(conn, &ids)?;
    Ok(rows.into_iter().map(|(entry, _)| entry).zip(messages).collect())
}

fn bundle_as_email(
    conn: &mut DbConn,
    bundle: &[(String, Message)],
    customer: braid_core::CustomerId,
    now: DateTime<Utc>,
) -> Result<OutboxId, DbError> {
    let Some((_, first)) = bundle.first() else {
        return Err(DbError::Corrupt("a due chat reply is not among its ticket's unseen replies".into()));
    };
    let ids: Vec<String> = bundle.iter().map(|(_, m)| m.id.to_string()).collect();
    let entry = OutboxId::new();
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(entry.to_string()),
            outbox::message_id.eq(first.id.to_string()),
            outbox::channel.eq(Channel::Email.as_str()),
            outbox::state.eq("pending"),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(to_db(now)),
            outbox::created_at.eq(to_db(now)),
            outbox::updated_at.eq(to_db(now)),
            outbox::bundle.eq(serde_json::to_string(&ids)?),
        ))
        .execute(conn)?;
    let mut changed = Vec::with_capacity(bundle.len());
    for (chat_entry, message) in bundle {
        close(conn, chat_entry, "sent", Some("unseen: sent by email"), now)?;
        diesel::update(messages_table::table.find(message.id.to_string()))
            .set(messages_table::sent_via.eq(Channel::Email.as_str()))
            .execute(conn)?;
        let message = messages::get(conn, message.id)?;
        changed.push(crate::messages::updated_event(&message, customer, now)?);
    }
    events::append(conn, changed)?;
    Ok(entry)
}

/// Ends a chat entry: `sent` (seen, or handed to email; `note` says which) or `failed`.
fn close(conn: &mut DbConn, entry: &str, state: &str, note: Option<&str>, now: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(outbox::table.find(entry))
        .set((
            outbox::state.eq(state),
            outbox::last_error.eq(note),
            outbox::locked_until.eq(None::<chrono::NaiveDateTime>),
            outbox::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}
