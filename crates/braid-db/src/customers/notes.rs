//! Notes about a customer (not about a ticket), newest first. Writers lock the customer
//! against merges first ([`super::lock_live`]); readers ask whether the customer is live
//! ([`super::live`]), so a merged customer answers [`DbError::Merged`] everywhere.

use braid_core::note::MAX_PER_CUSTOMER;
use braid_core::{AgentId, CustomerId, EventKind, NoteBody, NoteId};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::events::{self, NewEvent};
use crate::schema::customer_notes;
use crate::{Cursor, DbConn, DbError, Page, dialect, from_db, to_db};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub id: NoteId,
    pub customer_id: CustomerId,
    /// The agent who wrote it; `None` when an integration (an API key) did.
    pub author_agent_id: Option<AgentId>,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = customer_notes)]
struct NoteRow {
    id: String,
    customer_id: String,
    author_agent_id: Option<String>,
    body: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<NoteRow> for Note {
    type Error = DbError;

    fn try_from(row: NoteRow) -> Result<Self, DbError> {
        Ok(Note {
            id: row.id.parse()?,
            customer_id: row.customer_id.parse()?,
            author_agent_id: row.author_agent_id.map(|id| id.parse()).transpose()?,
            body: row.body,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

/// The note, if it is this customer's: a note id under another customer is not found.
fn find(conn: &mut DbConn, customer: CustomerId, id: NoteId) -> Result<Option<Note>, DbError> {
    customer_notes::table
        .find(id.to_string())
        .filter(customer_notes::customer_id.eq(customer.to_string()))
        .select(NoteRow::as_select())
        .first(conn)
        .optional()?
        .map(Note::try_from)
        .transpose()
}

/// A note by `author` (`None`: an integration). Past [`MAX_PER_CUSTOMER`] notes,
/// [`DbError::OverLimit`].
pub fn create(
    conn: &mut DbConn,
    customer: CustomerId,
    author: Option<AgentId>,
    body: &NoteBody,
) -> Result<Note, DbError> {
    dialect::write_transaction(conn, |conn| {
        // Also what makes concurrent notes count one by one against the cap.
        super::lock_live(conn, customer)?;
        let count: i64 = customer_notes::table
            .filter(customer_notes::customer_id.eq(customer.to_string()))
            .count()
            .get_result(conn)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_PER_CUSTOMER {
            return Err(DbError::OverLimit { field: "notes", max: MAX_PER_CUSTOMER });
        }
        let at = crate::now();
        let note = Note {
            id: NoteId::new(),
            customer_id: customer,
            author_agent_id: author,
            body: body.as_str().to_owned(),
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(customer_notes::table)
            .values((
                customer_notes::id.eq(note.id.to_string()),
                customer_notes::customer_id.eq(customer.to_string()),
                customer_notes::author_agent_id.eq(author.map(|a| a.to_string())),
                customer_notes::body.eq(&note.body),
                customer_notes::created_at.eq(to_db(at)),
                customer_notes::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        events::append(
            conn,
            vec![NewEvent::new(EventKind::CustomerNoteCreated, note.id, &note, at)?.customer(customer)],
        )?;
        Ok(note)
    })
}

/// A live customer's notes, newest first.
pub fn list(
    conn: &mut DbConn,
    customer: CustomerId,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Page<Note>, DbError> {
    super::live(conn, customer)?;
    page_of(conn, customer, after, limit)
}

/// [`list`] without asking whether the customer is live (the caller did).
pub(super) fn page_of(
    conn: &mut DbConn,
    customer: CustomerId,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Page<Note>, DbError> {
    let mut query = customer_notes::table
        .filter(customer_notes::customer_id.eq(customer.to_string()))
        .select(NoteRow::as_select())
        .order((customer_notes::created_at.desc(), customer_notes::id.desc()))
        .into_boxed();
    if let Some(cursor) = after {
        let at = to_db(cursor.at);
        query = query.filter(
            customer_notes::created_at
                .le(at)
                .and(customer_notes::created_at.lt(at).or(customer_notes::id.lt(cursor.id.clone()))),
        );
    }
    let notes = query.limit(limit + 1).load(conn)?.into_iter().map(Note::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(notes, limit, |note| Cursor { at: note.created_at, id: note.id.to_string() }))
}

/// One note of a live customer; `None` when the customer has no note with this id.
pub fn get(conn: &mut DbConn, customer: CustomerId, id: NoteId) -> Result<Option<Note>, DbError> {
    super::live(conn, customer)?;
    find(conn, customer, id)
}

/// Replaces a note's body; `None` when the customer has no note with this id.
pub fn update(conn: &mut DbConn, customer: CustomerId, id: NoteId, body: &NoteBody) -> Result<Option<Note>, DbError> {
    dialect::write_transaction(conn, |conn| {
        super::lock_live(conn, customer)?;
        let Some(mut note) = find(conn, customer, id)? else { return Ok(None) };
        let at = crate::now();
        diesel::update(customer_notes::table.find(id.to_string()))
            .set((customer_notes::body.eq(body.as_str()), customer_notes::updated_at.eq(to_db(at))))
            .execute(conn)?;
        note.body = body.as_str().to_owned();
        note.updated_at = at;
        events::append(conn, vec![NewEvent::new(EventKind::CustomerNoteUpdated, id, &note, at)?.customer(customer)])?;
        Ok(Some(note))
    })
}

/// Deletes a note; `false` when the customer has no note with this id.
pub fn delete(conn: &mut DbConn, customer: CustomerId, id: NoteId) -> Result<bool, DbError> {
    dialect::write_transaction(conn, |conn| {
        super::lock_live(conn, customer)?;
        let removed = diesel::delete(
            customer_notes::table.find(id.to_string()).filter(customer_notes::customer_id.eq(customer.to_string())),
        )
        .execute(conn)?;
        if removed == 0 {
            return Ok(false);
        }
        let payload = serde_json::json!({ "id": id, "customer_id": customer });
        let at = crate::now();
        events::append(
            conn,
            vec![NewEvent::new(EventKind::CustomerNoteDeleted, id, &payload, at)?.customer(customer)],
        )?;
        Ok(true)
    })
}
