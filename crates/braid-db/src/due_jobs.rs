//! Timers: work that falls due at an instant, one row per (kind, subject). Whoever
//! changes the subject reschedules its row in the same transaction; workers on every node
//! lease due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so exactly one takes each,
//! and a worker that dies mid-job loses its lease to another. Handling a job reschedules
//! or removes it, in the handler's transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::due_jobs;
use crate::{DbConn, DbError, dialect, to_db};

/// What a due job is for.
pub const SLA: &str = "sla";

/// A leased job: what it is for and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: String,
    pub kind: String,
    pub subject: String,
}

/// Sets (or, with `None`, removes) the one timer of `kind` for `subject`.
pub fn schedule(conn: &mut DbConn, kind: &str, subject: &str, due_at: Option<DateTime<Utc>>) -> Result<(), DbError> {
    let mine = due_jobs::table.filter(due_jobs::kind.eq(kind)).filter(due_jobs::subject.eq(subject));
    let Some(due_at) = due_at else {
        diesel::delete(mine).execute(conn)?;
        return Ok(());
    };
    let updated = diesel::update(mine)
        .set((
            due_jobs::due_at.eq(to_db(due_at)),
            due_jobs::locked_until.eq(None::<chrono::NaiveDateTime>),
            due_jobs::attempts.eq(0),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(due_jobs::table)
            .values((
                due_jobs::id.eq(uuid::Uuid::now_v7().to_string()),
                due_jobs::kind.eq(kind),
                due_jobs::subject.eq(subject),
                due_jobs::due_at.eq(to_db(due_at)),
                due_jobs::attempts.eq(0),
                due_jobs::created_at.eq(to_db(crate::now())),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Leases up to `limit` jobs due at `now` for `lease`.
pub fn claim(conn: &mut DbConn, now: DateTime<Utc>, lease: chrono::Duration, limit: i64) -> Result<Vec<Due>, DbError> {
    dialect::write_transaction(conn, |conn| {
        let ids = dialect::claim_due_jobs(conn, to_db(now), to_db(now + lease), limit)?;
        let rows: Vec<(String, String, String)> = due_jobs::table
            .filter(due_jobs::id.eq_any(&ids))
            .filter(dialect::planned_each_time())
            .order(due_jobs::due_at.asc())
            .select((due_jobs::id, due_jobs::kind, due_jobs::subject))
            .load(conn)?;
        Ok(rows.into_iter().map(|(id, kind, subject)| Due { id, kind, subject }).collect())
    })
}

/// Jobs waiting, due or not (for metrics and tests).
pub fn count(conn: &mut DbConn, kind: &str) -> Result<i64, DbError> {
    Ok(due_jobs::table.filter(due_jobs::kind.eq(kind)).count().get_result(conn)?)
}
