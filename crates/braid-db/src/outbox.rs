//! The outbox: deliveries waiting to go out. An outbound message and its outbox entry are
//! written in one transaction, so a reply is never stored without being queued, nor
//! queued without being stored; channel workers drain it with retries.

use braid_core::{Channel, MessageId, OutboxId};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::outbox;
use crate::{DbConn, DbError, to_db};

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
