//! The one place where PostgreSQL and SQLite need different SQL. Everything else in this
//! crate is written once against [`DbConn`].

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::{DbConn, DbError};

/// Advisory-lock keys (PostgreSQL). Arbitrary, fixed, and distinct.
const MIGRATION_LOCK: i64 = 0x6272_6169_6402;

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// Runs `work` in a transaction that intends to write.
///
/// On SQLite this is `BEGIN IMMEDIATE`: a deferred transaction that reads and then writes
/// fails at once with "database is locked" when another writer got there first, instead
/// of waiting its turn. On PostgreSQL it is a plain `BEGIN` (read committed); placement
/// takes row locks where it needs order.
pub fn write_transaction<T, E, F>(conn: &mut DbConn, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Pg(_) => conn.transaction(work),
        DbConn::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
            match work(conn) {
                Ok(value) => {
                    <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
                    Ok(value)
                }
                Err(error) => {
                    // The work's error is what the caller needs; a failed rollback leaves
                    // the connection broken, which the pool then discards.
                    let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
                    Err(error)
                }
            }
        }
    }
}

/// The next human ticket number. PostgreSQL uses a sequence, which never hands out a
/// number twice even across concurrent transactions; SQLite has one writer at a time, so
/// the highest number plus one is safe inside a write transaction.
pub fn next_ticket_number(conn: &mut DbConn) -> Result<i64, DbError> {
    match conn {
        // Through diesel's DSL, so the statement is prepared once per connection.
        DbConn::Pg(pg) => Ok(diesel::select(nextval("ticket_numbers")).get_result(pg)?),
        DbConn::Sqlite(sqlite) => {
            let number = diesel::sql_query("SELECT COALESCE(MAX(number) + 1, 1000) AS value FROM tickets")
                .get_result::<Number>(sqlite)?;
            Ok(number.value)
        }
    }
}

diesel::define_sql_function!(fn nextval(sequence: diesel::sql_types::Text) -> BigInt);

/// Inserts a ticket with the next human number and returns the number. On PostgreSQL the
/// number comes from the sequence inside the INSERT (one round trip, prepared); SQLite's
/// single writer takes the highest number plus one first.
pub fn insert_numbered_ticket(conn: &mut DbConn, row: crate::tickets::NewTicketRow<'_>) -> Result<i64, DbError> {
    use crate::schema::tickets;
    match conn {
        DbConn::Pg(pg) => Ok(diesel::insert_into(tickets::table)
            .values((tickets::number.eq(nextval("ticket_numbers")), row))
            .returning(tickets::number)
            .get_result(pg)?),
        DbConn::Sqlite(_) => {
            let number = next_ticket_number(conn)?;
            diesel::insert_into(tickets::table).values((tickets::number.eq(number), row)).execute(conn)?;
            Ok(number)
        }
    }
}

/// The rows of a new customer whose thread starts with a message.
#[derive(Debug)]
pub struct NewCustomerRows<'a> {
    pub customer: &'a str,
    pub name: Option<&'a str>,
    pub name_key: Option<&'a str>,
    pub thread: &'a str,
    pub identity: &'a str,
    pub kind: &'a str,
    pub value: &'a str,
    pub trust: &'a str,
    pub trust_source: &'a str,
    pub seen: &'a crate::customers::Seen<'a>,
    pub at: chrono::NaiveDateTime,
}

/// Inserts a customer, its thread and its first identity in one statement on PostgreSQL
/// (data-modifying CTEs; the foreign keys are checked when the statement ends), so a new
/// sender's mail costs one round trip for them instead of three. `false` on SQLite, which
/// runs in-process: the caller inserts them one by one.
pub fn insert_customer_with_identity(conn: &mut DbConn, rows: &NewCustomerRows<'_>) -> Result<bool, DbError> {
    use diesel::sql_types::{Nullable, Text, Timestamp};
    let DbConn::Pg(pg) = conn else {
        return Ok(false);
    };
    diesel::sql_query(
        "WITH customer AS (INSERT INTO customers (id, name, name_key, created_at, updated_at) \
                           VALUES ($1, $2, $3, $4, $4)), \
              thread AS (INSERT INTO threads (id, customer_id, created_at, last_message_at, \
                                              inbound_channel, inbound_language, inbound_utc_offset) \
                         VALUES ($5, $1, $4, $4, $11, $12, $13)) \
         INSERT INTO identities (id, customer_id, kind, value, trust, trust_source, created_at) \
         VALUES ($6, $1, $7, $8, $9, $10, $4)",
    )
    .bind::<Text, _>(rows.customer)
    .bind::<Nullable<Text>, _>(rows.name)
    .bind::<Nullable<Text>, _>(rows.name_key)
    .bind::<Timestamp, _>(rows.at)
    .bind::<Text, _>(rows.thread)
    .bind::<Text, _>(rows.identity)
    .bind::<Text, _>(rows.kind)
    .bind::<Text, _>(rows.value)
    .bind::<Text, _>(rows.trust)
    .bind::<Text, _>(rows.trust_source)
    .bind::<Nullable<Text>, _>(rows.seen.inbound_channel)
    .bind::<Nullable<Text>, _>(rows.seen.inbound_language)
    .bind::<Nullable<Text>, _>(rows.seen.inbound_utc_offset)
    .execute(pg)?;
    Ok(true)
}

/// Rows of transactions below this id are final (PostgreSQL): it is the oldest
/// transaction still running, and any row written from now on carries an id at least this
/// high. SQLite has one writer at a time, so everything committed is final.
pub fn event_horizon(conn: &mut DbConn) -> Result<i64, DbError> {
    match conn {
        DbConn::Pg(pg) => {
            let horizon = diesel::sql_query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS value")
                .get_result::<Number>(pg)?;
            Ok(horizon.value)
        }
        DbConn::Sqlite(_) => Ok(i64::MAX),
    }
}

/// A filter that selects everything and makes diesel send its query unprepared, so
/// PostgreSQL plans it for the values at hand every time. For lookups by an array
/// (`= ANY($1)`): a prepared statement switches to one generic plan after five runs, and
/// one made while the table was still small scans by the index's first column and filters
/// the rest, which grows with the table (seen in docs/benchmarks-email.md: placement fell
/// from 700 to 280 emails/s as the messages table grew in the first minute).
pub fn planned_each_time() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql("TRUE")
}

/// Inserts several rows in one statement. diesel's multi-row insert is not available
/// through the multi-backend connection, but is on each backend's own.
pub fn insert_many<T, V>(conn: &mut DbConn, table: T, rows: Vec<V>) -> Result<(), DbError>
where
    T: diesel::Table,
    Vec<V>: diesel::Insertable<T>,
    diesel::query_builder::InsertStatement<T, <Vec<V> as diesel::Insertable<T>>::Values>:
        diesel::query_dsl::methods::ExecuteDsl<diesel::PgConnection>
            + diesel::query_dsl::methods::ExecuteDsl<diesel::SqliteConnection>,
{
    match conn {
        DbConn::Pg(pg) => diesel::insert_into(table).values(rows).execute(pg)?,
        DbConn::Sqlite(sqlite) => diesel::insert_into(table).values(rows).execute(sqlite)?,
    };
    Ok(())
}

/// Serialises transactions that name the same `key` until they end (PostgreSQL): for
/// check-then-act rules with no row to lock, like "at most N failed sign-ins" or "keep
/// one admin". SQLite's write transactions are serial already.
pub fn lock_key(conn: &mut DbConn, key: &str) -> Result<(), DbError> {
    if let DbConn::Pg(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(key)
            .execute(pg)?;
    }
    Ok(())
}

/// [`lock_key`] shared: transactions holding `key` shared run side by side, and exclude
/// (and wait for) one holding it exclusively. For many writers that must not overlap a
/// rare change of the rules they check against (attribute values and their definitions).
pub fn lock_key_shared(conn: &mut DbConn, key: &str) -> Result<(), DbError> {
    if let DbConn::Pg(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock_shared(hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(key)
            .execute(pg)?;
    }
    Ok(())
}

/// Runs `work` while holding a session-wide migration lock, so nodes starting together
/// migrate one at a time. SQLite's file lock already does this.
pub fn with_migration_lock<T>(conn: &mut DbConn, work: impl FnOnce(&mut DbConn) -> T) -> Result<T, DbError> {
    if let DbConn::Pg(pg) = conn {
        pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    }
    let result = work(conn);
    if let DbConn::Pg(pg) = conn {
        pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
    }
    Ok(result)
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// Leases up to `limit` due outbox entries of `channel` until `lease_until`, so that of
/// several workers (on several nodes) exactly one takes each. PostgreSQL skips rows
/// another worker is claiming (`FOR UPDATE SKIP LOCKED`); SQLite's single writer needs no
/// more than the write transaction this runs in.
pub fn claim_outbox(
    conn: &mut DbConn,
    channel: &str,
    now: chrono::NaiveDateTime,
    lease_until: chrono::NaiveDateTime,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    let claimed: Vec<Claimed> = match conn {
        DbConn::Pg(pg) => diesel::sql_query(
            "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 WHERE id IN ( \
               SELECT id FROM outbox WHERE state = 'pending' AND channel = $2 AND next_attempt_at <= $3 \
               AND (locked_until IS NULL OR locked_until < $3) \
               ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id",
        )
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(channel)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(pg)?,
        DbConn::Sqlite(sqlite) => diesel::sql_query(
            "UPDATE outbox SET locked_until = ?1, attempts = attempts + 1 WHERE id IN ( \
               SELECT id FROM outbox WHERE state = 'pending' AND channel = ?2 AND next_attempt_at <= ?3 \
               AND (locked_until IS NULL OR locked_until < ?3) \
               ORDER BY next_attempt_at LIMIT ?4) RETURNING id",
        )
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(channel)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(sqlite)?,
    };
    Ok(claimed.into_iter().map(|c| c.id).collect())
}

/// Leases up to `limit` due timers until `lease_until`; like [`claim_outbox`], exactly
/// one worker takes each.
pub fn claim_due_jobs(
    conn: &mut DbConn,
    now: chrono::NaiveDateTime,
    lease_until: chrono::NaiveDateTime,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    use diesel::sql_types::{BigInt, Timestamp};
    let claimed: Vec<Claimed> = match conn {
        DbConn::Pg(pg) => diesel::sql_query(
            "UPDATE due_jobs SET locked_until = $1, attempts = attempts + 1 WHERE id IN ( \
               SELECT id FROM due_jobs WHERE due_at <= $2 AND (locked_until IS NULL OR locked_until < $2) \
               ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id",
        )
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(pg)?,
        DbConn::Sqlite(sqlite) => diesel::sql_query(
            "UPDATE due_jobs SET locked_until = ?1, attempts = attempts + 1 WHERE id IN ( \
               SELECT id FROM due_jobs WHERE due_at <= ?2 AND (locked_until IS NULL OR locked_until < ?2) \
               ORDER BY due_at LIMIT ?3) RETURNING id",
        )
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(sqlite)?,
    };
    Ok(claimed.into_iter().map(|c| c.id).collect())
}

/// Leases up to `limit` due deliveries of one webhook endpoint until `lease_until`,
/// counting the attempt; like [`claim_outbox`], exactly one worker takes each.
pub fn claim_webhook_deliveries(
    conn: &mut DbConn,
    endpoint: &str,
    now: chrono::NaiveDateTime,
    lease_until: chrono::NaiveDateTime,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    let claimed: Vec<Claimed> = match conn {
        DbConn::Pg(pg) => diesel::sql_query(
            "UPDATE webhook_deliveries SET locked_until = $1, attempts = attempts + 1 WHERE id IN ( \
               SELECT id FROM webhook_deliveries WHERE endpoint_id = $2 AND state = 'pending' \
               AND next_attempt_at <= $3 AND (locked_until IS NULL OR locked_until < $3) \
               ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id",
        )
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(endpoint)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(pg)?,
        DbConn::Sqlite(sqlite) => diesel::sql_query(
            "UPDATE webhook_deliveries SET locked_until = ?1, attempts = attempts + 1 WHERE id IN ( \
               SELECT id FROM webhook_deliveries WHERE endpoint_id = ?2 AND state = 'pending' \
               AND next_attempt_at <= ?3 AND (locked_until IS NULL OR locked_until < ?3) \
               ORDER BY next_attempt_at LIMIT ?4) RETURNING id",
        )
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(endpoint)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(sqlite)?,
    };
    Ok(claimed.into_iter().map(|c| c.id).collect())
}
