//! Customers, their identities and their one thread.

use braid_core::{CustomerId, EventKind, IdentityId, IdentityKind, IdentityValue, ThreadId, Trust};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::events::NewEvent;
use crate::schema::{customers, identities, threads};
use crate::{DbConn, DbError, from_db, to_db};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub id: CustomerId,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identity {
    pub id: IdentityId,
    pub customer_id: CustomerId,
    pub kind: IdentityKind,
    pub value: String,
    pub trust: Trust,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = customers)]
struct CustomerRow {
    id: String,
    name: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = DbError;

    fn try_from(row: CustomerRow) -> Result<Self, DbError> {
        Ok(Customer {
            id: row.id.parse()?,
            name: row.name,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = identities)]
struct IdentityRow {
    id: String,
    customer_id: String,
    kind: String,
    value: String,
    trust: String,
    created_at: NaiveDateTime,
}

impl TryFrom<IdentityRow> for Identity {
    type Error = DbError;

    fn try_from(row: IdentityRow) -> Result<Self, DbError> {
        Ok(Identity {
            id: row.id.parse()?,
            customer_id: row.customer_id.parse()?,
            kind: IdentityKind::parse(&row.kind)?,
            value: row.value,
            trust: row.trust.parse()?,
            created_at: from_db(row.created_at),
        })
    }
}

pub fn get(conn: &mut DbConn, id: CustomerId) -> Result<Customer, DbError> {
    customers::table.find(id.to_string()).select(CustomerRow::as_select()).first(conn)?.try_into()
}

pub fn identities_of(conn: &mut DbConn, customer: CustomerId) -> Result<Vec<Identity>, DbError> {
    identities::table
        .filter(identities::customer_id.eq(customer.to_string()))
        .order(identities::created_at.asc())
        .select(IdentityRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Identity::try_from)
        .collect()
}

/// Who owns this identity, if anyone.
pub fn owner_of(conn: &mut DbConn, identity: &IdentityValue) -> Result<Option<CustomerId>, DbError> {
    identities::table
        .filter(identities::kind.eq(identity.kind.to_string()).and(identities::value.eq(&identity.value)))
        .select(identities::customer_id)
        .first::<String>(conn)
        .optional()?
        .map(|id| id.parse().map_err(DbError::from))
        .transpose()
}

pub fn thread_of(conn: &mut DbConn, customer: CustomerId) -> Result<ThreadId, DbError> {
    let id: String =
        threads::table.filter(threads::customer_id.eq(customer.to_string())).select(threads::id).first(conn)?;
    Ok(id.parse()?)
}

/// A new customer with its thread and first identity. The identity's unique index makes
/// a concurrent twin fail with [`DbError::Conflict`]; the caller retries and finds it.
/// The caller records the `customer.created` event (see [`created_event`]).
pub fn create_with_identity(
    conn: &mut DbConn,
    name: Option<&str>,
    identity: &IdentityValue,
    trust: Trust,
    at: DateTime<Utc>,
) -> Result<(Customer, ThreadId), DbError> {
    let customer = Customer { id: CustomerId::new(), name: name.map(str::to_owned), created_at: at, updated_at: at };
    let customer_id = customer.id.to_string();
    diesel::insert_into(customers::table)
        .values((
            customers::id.eq(&customer_id),
            customers::name.eq(&customer.name),
            customers::created_at.eq(to_db(at)),
            customers::updated_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    let thread = ThreadId::new();
    diesel::insert_into(threads::table)
        .values((
            threads::id.eq(thread.to_string()),
            threads::customer_id.eq(&customer_id),
            threads::created_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    diesel::insert_into(identities::table)
        .values((
            identities::id.eq(IdentityId::new().to_string()),
            identities::customer_id.eq(&customer_id),
            identities::kind.eq(identity.kind.to_string()),
            identities::value.eq(&identity.value),
            identities::trust.eq(trust.as_str()),
            identities::created_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    Ok((customer, thread))
}

/// Takes the thread's row lock until the transaction ends (PostgreSQL), so two messages
/// of one customer are placed one after the other and cannot both open a ticket. On
/// SQLite the write transaction already excludes other writers.
pub fn lock_thread(conn: &mut DbConn, thread: ThreadId) -> Result<(), DbError> {
    let id = thread.to_string();
    let updated = diesel::update(threads::table.find(&id))
        .set(threads::last_message_at.eq(threads::last_message_at))
        .execute(conn)?;
    if updated == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// Records that the thread saw a message at `at`, keeping the latest time.
pub fn touch_thread(conn: &mut DbConn, thread: ThreadId, at: DateTime<Utc>) -> Result<(), DbError> {
    let at = to_db(at);
    diesel::update(
        threads::table
            .find(thread.to_string())
            .filter(threads::last_message_at.is_null().or(threads::last_message_at.lt(at))),
    )
    .set(threads::last_message_at.eq(at))
    .execute(conn)?;
    Ok(())
}

/// The `customer.created` event for a customer made with its first identity.
pub fn created_event(customer: &Customer, identity: &IdentityValue, trust: Trust) -> Result<NewEvent, DbError> {
    let payload = serde_json::json!({ "customer": customer, "identity": identity, "trust": trust });
    Ok(NewEvent::new(EventKind::CustomerCreated, customer.id, &payload, customer.created_at)?.customer(customer.id))
}

pub fn owner_of_thread(conn: &mut DbConn, thread: ThreadId) -> Result<CustomerId, DbError> {
    let id: String = threads::table.find(thread.to_string()).select(threads::customer_id).first(conn)?;
    Ok(id.parse()?)
}
