//! Stored answers to POSTs that carried an `Idempotency-Key`, so a client's retry gets
//! the first answer instead of a second side effect.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::idempotency_keys;
use crate::{DbConn, DbError, to_db};

/// A response as it will be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    /// Headers to replay, by lower-case name.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// First use of the key: go ahead, then `complete` (or `release` on failure).
    Fresh,
    /// The same request was answered before.
    Replay(StoredResponse),
    /// The key was used with a different request.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
}

pub fn reserve(conn: &mut DbConn, principal: &str, key: &str, request_hash: &str) -> Result<Reservation, DbError> {
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::principal.eq(principal),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(request_hash),
            idempotency_keys::created_at.eq(to_db(crate::now())),
        ))
        .execute(conn)
        .map_err(DbError::from);
    match inserted {
        Ok(_) => return Ok(Reservation::Fresh),
        Err(DbError::Conflict(_)) => {}
        Err(other) => return Err(other),
    }
    type Row = (String, Option<i32>, Option<String>, Option<String>);
    let (hash, status, body, headers): Row = idempotency_keys::table
        .find((principal, key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::status,
            idempotency_keys::response_body,
            idempotency_keys::response_headers,
        ))
        .first(conn)?;
    if hash != request_hash {
        return Ok(Reservation::Mismatch);
    }
    if status.is_none() && take_over_abandoned(conn, principal, key)? {
        return Ok(Reservation::Fresh);
    }
    Ok(match (status, body) {
        (Some(status), Some(body)) => Reservation::Replay(StoredResponse {
            status: u16::try_from(status).map_err(|_| DbError::Corrupt(format!("status {status}")))?,
            body,
            headers: headers.map(|h| serde_json::from_str(&h)).transpose()?.unwrap_or_default(),
        }),
        _ => Reservation::InFlight,
    })
}

/// A request still "in flight" after this long was lost (the node died, the client went
/// away mid-shutdown); its key is free again.
const ABANDONED_AFTER: chrono::Duration = chrono::Duration::minutes(2);

fn take_over_abandoned(conn: &mut DbConn, principal: &str, key: &str) -> Result<bool, DbError> {
    let now = crate::now();
    let taken =
        diesel::update(idempotency_keys::table.find((principal, key)).filter(
            idempotency_keys::status.is_null().and(idempotency_keys::created_at.lt(to_db(now - ABANDONED_AFTER))),
        ))
        .set(idempotency_keys::created_at.eq(to_db(now)))
        .execute(conn)?;
    Ok(taken == 1)
}

pub fn complete(conn: &mut DbConn, principal: &str, key: &str, response: &StoredResponse) -> Result<(), DbError> {
    diesel::update(idempotency_keys::table.find((principal, key)))
        .set((
            idempotency_keys::status.eq(i32::from(response.status)),
            idempotency_keys::response_body.eq(&response.body),
            idempotency_keys::response_headers.eq(serde_json::to_string(&response.headers)?),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets a reservation whose request failed on our side, so a retry runs again.
pub fn release(conn: &mut DbConn, principal: &str, key: &str) -> Result<(), DbError> {
    diesel::delete(idempotency_keys::table.find((principal, key))).execute(conn)?;
    Ok(())
}

/// Drops keys older than `cutoff`; returns how many.
pub fn purge(conn: &mut DbConn, cutoff: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(to_db(cutoff)))).execute(conn)?)
}
