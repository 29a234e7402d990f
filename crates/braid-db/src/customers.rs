//! Customers, their identities and their one thread.

use braid_core::{CustomerId, CustomerName, EventKind, IdentityId, IdentityKind, IdentityValue, ThreadId, Trust};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::case_when;
use diesel::prelude::*;
use serde::Serialize;

use crate::events::NewEvent;
use crate::schema::{customers, identities, threads};
use crate::{Cursor, DbConn, DbError, Page, dialect, events, from_db, to_db};
use std::collections::HashMap;

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
    name: Option<&CustomerName>,
    identity: &IdentityValue,
    trust: Trust,
    at: DateTime<Utc>,
) -> Result<(Customer, ThreadId), DbError> {
    let customer =
        Customer { id: CustomerId::new(), name: name.map(|n| n.as_str().to_owned()), created_at: at, updated_at: at };
    let (thread, identity_id, name_key) = (ThreadId::new(), IdentityId::new(), name.map(CustomerName::search_key));
    let rows = dialect::NewCustomerRows {
        customer: &customer.id.to_string(),
        name: customer.name.as_deref(),
        name_key: name_key.as_deref(),
        thread: &thread.to_string(),
        identity: &identity_id.to_string(),
        kind: &identity.kind.to_string(),
        value: &identity.value,
        trust: trust.as_str(),
        at: to_db(at),
    };
    if dialect::insert_customer_with_identity(conn, &rows)? {
        return Ok((customer, thread));
    }
    let (customer, thread) = insert_customer(conn, name, at, Some(at))?;
    insert_identity(conn, customer.id, &NewIdentity { value: identity.clone(), trust }, at)?;
    Ok((customer, thread))
}

/// A customer row and its thread; `last_message_at` when the thread starts with a message.
fn insert_customer(
    conn: &mut DbConn,
    name: Option<&CustomerName>,
    at: DateTime<Utc>,
    last_message_at: Option<DateTime<Utc>>,
) -> Result<(Customer, ThreadId), DbError> {
    let customer =
        Customer { id: CustomerId::new(), name: name.map(|n| n.as_str().to_owned()), created_at: at, updated_at: at };
    diesel::insert_into(customers::table)
        .values((
            customers::id.eq(customer.id.to_string()),
            customers::name.eq(&customer.name),
            customers::name_key.eq(name.map(CustomerName::search_key)),
            customers::created_at.eq(to_db(at)),
            customers::updated_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    let thread = ThreadId::new();
    diesel::insert_into(threads::table)
        .values((
            threads::id.eq(thread.to_string()),
            threads::customer_id.eq(customer.id.to_string()),
            threads::created_at.eq(to_db(at)),
            threads::last_message_at.eq(last_message_at.map(to_db)),
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

/// The customer's thread, locked until the transaction ends (PostgreSQL) and marked as
/// having seen a message at `at` (keeping the latest time): what [`lock_thread`] and
/// [`touch_thread`] do, in one statement, for placement.
pub fn lock_thread_of(conn: &mut DbConn, customer: CustomerId, at: DateTime<Utc>) -> Result<ThreadId, DbError> {
    let at = to_db(at);
    let later = threads::last_message_at.is_null().or(threads::last_message_at.lt(at));
    let id: String = diesel::update(threads::table.filter(threads::customer_id.eq(customer.to_string())))
        .set(threads::last_message_at.eq(case_when(later, Some(at)).otherwise(threads::last_message_at)))
        .returning(threads::id)
        .get_result(conn)
        .optional()?
        .ok_or(DbError::NotFound)?;
    Ok(id.parse()?)
}

/// The customer holding `identity`, with their thread locked and marked with a message at
/// `at` (as [`lock_thread_of`]), in one statement: placement's "who is this" and "lock
/// their thread" are one round trip. `None` when nobody holds the identity.
pub fn lock_thread_of_identity(
    conn: &mut DbConn,
    identity: &IdentityValue,
    at: DateTime<Utc>,
) -> Result<Option<(CustomerId, ThreadId)>, DbError> {
    let at = to_db(at);
    let later = threads::last_message_at.is_null().or(threads::last_message_at.lt(at));
    let owner = identities::table
        .filter(identities::kind.eq(identity.kind.to_string()).and(identities::value.eq(&identity.value)))
        .select(identities::customer_id)
        .single_value();
    let row: Option<(String, String)> =
        diesel::update(threads::table.filter(threads::customer_id.nullable().eq(owner)))
            .set(threads::last_message_at.eq(case_when(later, Some(at)).otherwise(threads::last_message_at)))
            .returning((threads::customer_id, threads::id))
            .get_result(conn)
            .optional()?;
    row.map(|(customer, thread)| Ok((customer.parse()?, thread.parse()?))).transpose()
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

/// A customer with its identities, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerProfile {
    #[serde(flatten)]
    pub customer: Customer,
    pub identities: Vec<Identity>,
}

pub fn profile(conn: &mut DbConn, id: CustomerId) -> Result<CustomerProfile, DbError> {
    let customer = get(conn, id)?;
    let identities = identities_of(conn, id)?;
    Ok(CustomerProfile { customer, identities })
}

/// Identities of many customers in one query (a list page must not query per row).
fn identities_of_many(conn: &mut DbConn, ids: &[String]) -> Result<HashMap<CustomerId, Vec<Identity>>, DbError> {
    let mut by_customer: HashMap<CustomerId, Vec<Identity>> = HashMap::new();
    let rows: Vec<IdentityRow> = identities::table
        .filter(identities::customer_id.eq_any(ids))
        .filter(dialect::planned_each_time())
        .order(identities::created_at.asc())
        .select(IdentityRow::as_select())
        .load(conn)?;
    for row in rows {
        let identity = Identity::try_from(row)?;
        by_customer.entry(identity.customer_id).or_default().push(identity);
    }
    Ok(by_customer)
}

/// Narrows a customer list.
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    /// An identity value, normalised by the caller (an email, a phone in E.164, an id).
    pub identity: Option<String>,
    /// The start of the name, case-insensitive.
    pub name_prefix: Option<String>,
}

/// Customers, newest first.
pub fn list(
    conn: &mut DbConn,
    filter: &CustomerFilter,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Page<CustomerProfile>, DbError> {
    let mut query = customers::table
        .select(CustomerRow::as_select())
        .order((customers::created_at.desc(), customers::id.desc()))
        .into_boxed();
    if let Some(value) = &filter.identity {
        let owners = identities::table.filter(identities::value.eq(value.clone())).select(identities::customer_id);
        query = query.filter(customers::id.eq_any(owners));
    }
    if let Some(prefix) = &filter.name_prefix {
        let escaped = prefix.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        query = query.filter(customers::name_key.like(format!("{escaped}%")).escape('\\'));
    }
    if let Some(cursor) = after {
        let at = to_db(cursor.at);
        query = query.filter(
            customers::created_at.le(at).and(customers::created_at.lt(at).or(customers::id.lt(cursor.id.clone()))),
        );
    }
    let rows: Vec<CustomerRow> = query.limit(limit + 1).load(conn)?;
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let mut identities = identities_of_many(conn, &ids)?;
    let profiles = rows
        .into_iter()
        .map(|row| {
            let customer = Customer::try_from(row)?;
            let identities = identities.remove(&customer.id).unwrap_or_default();
            Ok(CustomerProfile { customer, identities })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(Page::from_rows(profiles, limit, |p| Cursor { at: p.customer.created_at, id: p.customer.id.to_string() }))
}

/// An identity to attach, with how far it is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIdentity {
    pub value: IdentityValue,
    pub trust: Trust,
}

/// Fails with [`DbError::IdentityTaken`] when another customer owns `identity`.
fn ensure_free(conn: &mut DbConn, identity: &IdentityValue, for_customer: Option<CustomerId>) -> Result<(), DbError> {
    match owner_of(conn, identity)? {
        Some(owner) if Some(owner) != for_customer => Err(DbError::IdentityTaken {
            kind: identity.kind.to_string(),
            value: identity.value.clone(),
            customer: owner,
        }),
        _ => Ok(()),
    }
}

fn insert_identity(
    conn: &mut DbConn,
    customer: CustomerId,
    new: &NewIdentity,
    at: DateTime<Utc>,
) -> Result<Identity, DbError> {
    let identity = Identity {
        id: IdentityId::new(),
        customer_id: customer,
        kind: new.value.kind.clone(),
        value: new.value.value.clone(),
        trust: new.trust,
        created_at: at,
    };
    diesel::insert_into(identities::table)
        .values((
            identities::id.eq(identity.id.to_string()),
            identities::customer_id.eq(customer.to_string()),
            identities::kind.eq(identity.kind.to_string()),
            identities::value.eq(&identity.value),
            identities::trust.eq(identity.trust.as_str()),
            identities::created_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    Ok(identity)
}

/// Runs `work` in a write transaction, retrying once when a concurrent writer took an
/// identity between our check and our insert; the retry's check then names the owner.
fn with_identity_retry<T>(
    conn: &mut DbConn,
    mut work: impl FnMut(&mut DbConn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    match dialect::write_transaction(conn, &mut work) {
        Err(DbError::Conflict(_)) => dialect::write_transaction(conn, &mut work),
        other => other,
    }
}

/// A customer created by an agent or an integration, with its thread and identities.
pub fn create(
    conn: &mut DbConn,
    name: Option<&CustomerName>,
    new_identities: &[NewIdentity],
) -> Result<CustomerProfile, DbError> {
    with_identity_retry(conn, |conn| {
        for new in new_identities {
            ensure_free(conn, &new.value, None)?;
        }
        let at = crate::now();
        let (customer, _) = insert_customer(conn, name, at, None)?;
        let mut identities = Vec::new();
        for new in new_identities {
            identities.push(insert_identity(conn, customer.id, new, at)?);
        }
        let profile = CustomerProfile { customer, identities };
        let event =
            NewEvent::new(EventKind::CustomerCreated, profile.customer.id, &profile, at)?.customer(profile.customer.id);
        events::append(conn, vec![event])?;
        Ok(profile)
    })
}

/// Renames a customer (`None` clears the name).
pub fn rename(conn: &mut DbConn, id: CustomerId, name: Option<&CustomerName>) -> Result<CustomerProfile, DbError> {
    dialect::write_transaction(conn, |conn| {
        let at = crate::now();
        let updated = diesel::update(customers::table.find(id.to_string()))
            .set((
                customers::name.eq(name.map(CustomerName::as_str)),
                customers::name_key.eq(name.map(CustomerName::search_key)),
                customers::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        let profile = profile(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::CustomerUpdated, id, &profile, at)?.customer(id)])?;
        Ok(profile)
    })
}

/// Attaches an identity. The customer's own identity again is not an error: it answers
/// with the existing one, upgraded to `verified` when the new claim is.
pub fn add_identity(conn: &mut DbConn, customer: CustomerId, new: &NewIdentity) -> Result<Identity, DbError> {
    with_identity_retry(conn, |conn| {
        let at = crate::now();
        // An update that changes nothing still locks the customer's row, so concurrent
        // additions count one by one.
        let touched = diesel::update(customers::table.find(customer.to_string()))
            .set(customers::updated_at.eq(customers::updated_at))
            .execute(conn)?;
        if touched == 0 {
            return Err(DbError::NotFound);
        }
        ensure_free(conn, &new.value, Some(customer))?;
        let held = identities_of(conn, customer)?;
        let count = held.len();
        let existing =
            held.into_iter().find(|identity| identity.kind == new.value.kind && identity.value == new.value.value);
        if existing.is_none() && count >= IdentityValue::MAX_PER_CUSTOMER {
            return Err(DbError::OverLimit { field: "identities", max: IdentityValue::MAX_PER_CUSTOMER });
        }
        let identity = match existing {
            Some(mut identity) => {
                let trust = identity.trust.strongest(new.trust);
                if trust == identity.trust {
                    return Ok(identity);
                }
                diesel::update(identities::table.find(identity.id.to_string()))
                    .set(identities::trust.eq(trust.as_str()))
                    .execute(conn)?;
                identity.trust = trust;
                identity
            }
            None => insert_identity(conn, customer, new, at)?,
        };
        events::append(
            conn,
            vec![NewEvent::new(EventKind::IdentityAdded, identity.id, &identity, at)?.customer(customer)],
        )?;
        Ok(identity)
    })
}

pub fn remove_identity(conn: &mut DbConn, customer: CustomerId, identity: IdentityId) -> Result<(), DbError> {
    dialect::write_transaction(conn, |conn| {
        let at = crate::now();
        let removed = diesel::delete(
            identities::table.find(identity.to_string()).filter(identities::customer_id.eq(customer.to_string())),
        )
        .execute(conn)?;
        if removed == 0 {
            return Err(DbError::NotFound);
        }
        let payload = serde_json::json!({ "id": identity, "customer_id": customer });
        events::append(
            conn,
            vec![NewEvent::new(EventKind::IdentityRemoved, identity, &payload, at)?.customer(customer)],
        )?;
        Ok(())
    })
}
