//! Customers, their identities and their one thread; merges, their undo and merge
//! suggestions, custom attributes, notes, preferences and the context in the modules
//! below.

pub mod attributes;
pub mod context;
pub mod merges;
pub mod notes;
pub mod preferences;
pub mod suggestions;
pub mod undo;

use braid_core::{
    CustomerId, CustomerName, EventKind, IdentityId, IdentityKind, IdentityValue, ThreadId, Trust, TrustSource,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde::Serialize;

use crate::events::NewEvent;
use crate::schema::{customers, identities, threads};
use crate::{Cursor, DbConn, DbError, Page, dialect, events, from_db, to_db};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub id: CustomerId,
    pub name: Option<String>,
    /// Set on a tombstone: the customer it was merged into.
    pub merged_into: Option<CustomerId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identity {
    pub id: IdentityId,
    /// Events name the customer beside the payload; the API shows an identity without it.
    #[serde(skip_serializing)]
    pub customer_id: CustomerId,
    pub kind: IdentityKind,
    pub value: String,
    pub trust: Trust,
    /// How the trust was earned, or where the claim came from.
    pub trust_source: TrustSource,
    /// When the trust last changed (`None`: as it was created).
    pub trust_changed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = customers)]
struct CustomerRow {
    id: String,
    name: Option<String>,
    merged_into: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = DbError;

    fn try_from(row: CustomerRow) -> Result<Self, DbError> {
        Ok(Customer {
            id: row.id.parse()?,
            name: row.name,
            merged_into: row.merged_into.map(|id| id.parse()).transpose()?,
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
    trust_source: String,
    trust_changed_at: Option<NaiveDateTime>,
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
            trust_source: row.trust_source.parse()?,
            trust_changed_at: row.trust_changed_at.map(from_db),
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

/// How many merges a chain may have before we call the data corrupt (A into B into C …).
const MAX_CHAIN: usize = 64;

/// `Ok` for a live customer; [`DbError::Merged`] naming the live customer at the end of
/// the chain for a tombstone; [`DbError::NotFound`] for nobody.
pub fn live(conn: &mut DbConn, id: CustomerId) -> Result<(), DbError> {
    match merged_into(conn, id)? {
        None => Ok(()),
        Some(next) => Err(DbError::Merged { into: final_customer(conn, next)? }),
    }
}

fn merged_into(conn: &mut DbConn, id: CustomerId) -> Result<Option<CustomerId>, DbError> {
    let next: Option<String> = customers::table.find(id.to_string()).select(customers::merged_into).first(conn)?;
    Ok(next.map(|id| id.parse()).transpose()?)
}

/// The live customer a chain of merges starting at `id` ends at.
pub fn final_customer(conn: &mut DbConn, mut id: CustomerId) -> Result<CustomerId, DbError> {
    for _ in 0..MAX_CHAIN {
        match merged_into(conn, id)? {
            None => return Ok(id),
            Some(next) => id = next,
        }
    }
    Err(DbError::Corrupt(format!("customer {id} ends a chain of more than {MAX_CHAIN} merges")))
}

/// Locks a live customer against merges until the transaction ends (its thread's row
/// lock, which merges and placements take too) and returns their thread. Writers of what
/// a merge moves or copies (notes, attributes, preferences) call this first, so a write
/// lands before a merge reads or after it moved everything, never in between.
pub fn lock_live(conn: &mut DbConn, id: CustomerId) -> Result<ThreadId, DbError> {
    let thread = thread_of(conn, id)?;
    match lock_thread(conn, thread) {
        Ok(()) => Ok(thread),
        Err(DbError::Moved) => Err(live(conn, id).err().unwrap_or(DbError::Moved)),
        Err(other) => Err(other),
    }
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
    source: TrustSource,
    at: DateTime<Utc>,
    seen: &Seen<'_>,
) -> Result<(Customer, ThreadId, Identity), DbError> {
    let customer = Customer {
        id: CustomerId::new(),
        name: name.map(|n| n.as_str().to_owned()),
        merged_into: None,
        created_at: at,
        updated_at: at,
    };
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
        trust_source: source.as_str(),
        seen,
        at: to_db(at),
    };
    if dialect::insert_customer_with_identity(conn, &rows)? {
        let held = Identity {
            id: identity_id,
            customer_id: customer.id,
            kind: identity.kind.clone(),
            value: identity.value.clone(),
            trust,
            trust_source: source,
            trust_changed_at: None,
            created_at: at,
        };
        return Ok((customer, thread, held));
    }
    let (customer, thread) = insert_customer(conn, name, at, Some(at))?;
    diesel::update(threads::table.find(thread.to_string())).set(seen).execute(conn)?;
    let held = insert_identity(conn, customer.id, &NewIdentity { value: identity.clone(), trust, source }, at)?;
    Ok((customer, thread, held))
}

/// A customer row and its thread; `last_message_at` when the thread starts with a message.
fn insert_customer(
    conn: &mut DbConn,
    name: Option<&CustomerName>,
    at: DateTime<Utc>,
    last_message_at: Option<DateTime<Utc>>,
) -> Result<(Customer, ThreadId), DbError> {
    let customer = Customer {
        id: CustomerId::new(),
        name: name.map(|n| n.as_str().to_owned()),
        merged_into: None,
        created_at: at,
        updated_at: at,
    };
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
///
/// A thread merged away (perhaps while we waited for its lock) fails with
/// [`DbError::Moved`]: what the caller read before is stale, and a retry reads the
/// customer it went into.
pub fn lock_thread(conn: &mut DbConn, thread: ThreadId) -> Result<(), DbError> {
    let id = thread.to_string();
    let updated = diesel::update(threads::table.find(&id).filter(threads::merged_into.is_null()))
        .set(threads::last_message_at.eq(threads::last_message_at))
        .execute(conn)?;
    if updated == 0 {
        return Err(thread_gone(conn, &id));
    }
    Ok(())
}

/// Why a thread could not be locked: merged away, or not there at all.
fn thread_gone(conn: &mut DbConn, id: &str) -> DbError {
    match threads::table.find(id).select(threads::merged_into).first::<Option<String>>(conn) {
        Ok(Some(_)) => DbError::Moved,
        Ok(None) | Err(diesel::result::Error::NotFound) => DbError::NotFound,
        Err(other) => other.into(),
    }
}

/// What an inbound message says about its customer, learnt on their thread.
#[derive(Debug, Clone, Copy, Default, AsChangeset)]
#[diesel(table_name = threads)]
pub struct Seen<'a> {
    pub inbound_channel: Option<&'a str>,
    /// Kept until a later message says otherwise: `None` changes nothing.
    pub inbound_language: Option<&'a str>,
    pub inbound_utc_offset: Option<&'a str>,
}

/// The customer's thread, locked until the transaction ends (PostgreSQL) and marked as
/// having seen a message at `at` (keeping the latest time) and what it said (`seen`): what
/// [`lock_thread`] and [`touch_thread`] do, in one statement, for placement. A thread
/// merged away fails as in [`lock_thread`].
///
/// `moves`: the thread's move count as read with the sender's identity ([`holder_of`]);
/// when a merge or undo changed it since, the lock fails with [`DbError::Moved`].
pub fn lock_thread_of(
    conn: &mut DbConn,
    customer: CustomerId,
    moves: Option<i64>,
    at: DateTime<Utc>,
    seen: &Seen<'_>,
) -> Result<ThreadId, DbError> {
    let at = to_db(at);
    let later = threads::last_message_at.is_null().or(threads::last_message_at.lt(at));
    let unchanged = threads::moves.eq(moves.unwrap_or_default()).or(moves.is_none().into_sql::<Bool>());
    let id: Option<String> = diesel::update(threads::table.filter(threads::customer_id.eq(customer.to_string())))
        .filter(threads::merged_into.is_null().and(unchanged))
        .set((threads::last_message_at.eq(case_when(later, Some(at)).otherwise(threads::last_message_at)), seen))
        .returning(threads::id)
        .get_result(conn)
        .optional()?;
    match id {
        Some(id) => Ok(id.parse()?),
        None => {
            let id: String =
                threads::table.filter(threads::customer_id.eq(customer.to_string())).select(threads::id).first(conn)?;
            match thread_gone(conn, &id) {
                DbError::NotFound if moves.is_some() => Err(DbError::Moved),
                gone => Err(gone),
            }
        }
    }
}

/// An identity as placement needs it: whose it is and how far it is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub identity: IdentityId,
    pub customer: CustomerId,
    pub trust: Trust,
    /// The holder's thread's move count, to lock it only if nothing moved since.
    pub moves: i64,
}

/// Who holds `identity`, if anyone. Placement locks the holder's thread next
/// ([`lock_thread_of`]); a merge that moves the identity in between makes that lock fail
/// with a conflict, and the retry finds the identity's new holder.
pub fn holder_of(conn: &mut DbConn, identity: &IdentityValue) -> Result<Option<Holder>, DbError> {
    let row: Option<(String, String, String, i64)> = identities::table
        .inner_join(threads::table.on(threads::customer_id.eq(identities::customer_id)))
        .filter(identities::kind.eq(identity.kind.to_string()).and(identities::value.eq(&identity.value)))
        .select((identities::id, identities::customer_id, identities::trust, threads::moves))
        .first(conn)
        .optional()?;
    row.map(|(identity, customer, trust, moves)| {
        Ok(Holder { identity: identity.parse()?, customer: customer.parse()?, trust: trust.parse()?, moves })
    })
    .transpose()
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

/// The `customer.created` event for a customer made with its first identity: the customer
/// as the API shows it, however it was made.
pub fn created_event(customer: &Customer, identity: &Identity) -> Result<NewEvent, DbError> {
    let profile = CustomerProfile { customer: customer.clone(), identities: vec![identity.clone()] };
    Ok(NewEvent::new(EventKind::CustomerCreated, customer.id, &profile, customer.created_at)?.customer(customer.id))
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

/// A customer with its identities. A tombstone has none, and names the live customer at
/// the end of its chain of merges.
pub fn profile(conn: &mut DbConn, id: CustomerId) -> Result<CustomerProfile, DbError> {
    let mut customer = get(conn, id)?;
    if let Some(next) = customer.merged_into {
        customer.merged_into = Some(final_customer(conn, next)?);
    }
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

/// Live customers (never tombstones), newest first.
pub fn list(
    conn: &mut DbConn,
    filter: &CustomerFilter,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Page<CustomerProfile>, DbError> {
    let mut query = customers::table
        .filter(customers::merged_into.is_null())
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
    pub source: TrustSource,
}

/// Fails with [`DbError::IdentityTaken`] when another customer owns `identity`.
fn ensure_free(conn: &mut DbConn, identity: &IdentityValue, for_customer: Option<CustomerId>) -> Result<(), DbError> {
    match owner_of(conn, identity)? {
        Some(owner) if Some(owner) != for_customer => Err(DbError::IdentityTaken {
            kind: identity.kind.to_string(),
            value: identity.value.clone(),
            customer: owner,
            suggestion: None,
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
        trust_source: new.source,
        trust_changed_at: None,
        created_at: at,
    };
    diesel::insert_into(identities::table)
        .values((
            identities::id.eq(identity.id.to_string()),
            identities::customer_id.eq(customer.to_string()),
            identities::kind.eq(identity.kind.to_string()),
            identities::value.eq(&identity.value),
            identities::trust.eq(identity.trust.as_str()),
            identities::trust_source.eq(identity.trust_source.as_str()),
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
        lock_live(conn, id)?;
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
/// with the existing one, upgraded to `verified` when the new claim is (an upgrade is an
/// `identity.updated` event).
///
/// An identity another customer holds is never taken from them, whatever the caller
/// vouches: a merge suggestion is recorded for agents to decide on (committed, so it
/// outlives the refusal), and the call fails with [`DbError::IdentityTaken`] naming it.
pub fn add_identity(conn: &mut DbConn, customer: CustomerId, new: &NewIdentity) -> Result<Identity, DbError> {
    with_identity_retry(conn, |conn| {
        let at = crate::now();
        // Concurrent additions count one by one, and none lands on a tombstone.
        lock_live(conn, customer)?;
        if let Some(holder) = holder_of(conn, &new.value)?.filter(|h| h.customer != customer) {
            let evidence = serde_json::json!({
                "claimed_by": new.source,
                "claimed_trust": new.trust,
                "holder_trust": holder.trust,
            });
            let suggestion = suggestions::suggest(conn, customer, holder.customer, &new.value, evidence)?;
            return Ok(Err(DbError::IdentityTaken {
                kind: new.value.kind.to_string(),
                value: new.value.value.clone(),
                customer: holder.customer,
                suggestion: Some(suggestion.id),
            }));
        }
        let held = identities_of(conn, customer)?;
        let count = held.len();
        let existing =
            held.into_iter().find(|identity| identity.kind == new.value.kind && identity.value == new.value.value);
        if let Some(identity) = existing {
            let trust = identity.trust.strongest(new.trust);
            let (identity, event) = set_trust(conn, customer, identity.id, trust, new.source, at)?;
            events::append(conn, event.into_iter().collect())?;
            return Ok(Ok(identity));
        }
        if count >= IdentityValue::MAX_PER_CUSTOMER {
            return Err(DbError::OverLimit { field: "identities", max: IdentityValue::MAX_PER_CUSTOMER });
        }
        let identity = insert_identity(conn, customer, new, at)?;
        events::append(
            conn,
            vec![NewEvent::new(EventKind::IdentityAdded, identity.id, &identity, at)?.customer(customer)],
        )?;
        Ok(Ok(identity))
    })?
}

/// Sets an identity's trust, saying how it was earned; returns the event to record, or
/// `None` when nothing changed. The caller holds the customer's lock.
pub fn set_trust(
    conn: &mut DbConn,
    customer: CustomerId,
    identity: IdentityId,
    trust: Trust,
    source: TrustSource,
    at: DateTime<Utc>,
) -> Result<(Identity, Option<NewEvent>), DbError> {
    let mut held: Identity = identities::table
        .find(identity.to_string())
        .filter(identities::customer_id.eq(customer.to_string()))
        .select(IdentityRow::as_select())
        .first(conn)?
        .try_into()?;
    if held.trust == trust {
        return Ok((held, None));
    }
    diesel::update(identities::table.find(identity.to_string()))
        .set((
            identities::trust.eq(trust.as_str()),
            identities::trust_source.eq(source.as_str()),
            identities::trust_changed_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    let before = held.trust;
    (held.trust, held.trust_source, held.trust_changed_at) = (trust, source, Some(at));
    let payload = serde_json::json!({ "identity": held, "trust_before": before });
    let event = NewEvent::new(EventKind::IdentityUpdated, identity, &payload, at)?.customer(customer);
    Ok((held, Some(event)))
}

/// An agent (or a connector) marks an identity verified or back to claimed.
pub fn change_trust(
    conn: &mut DbConn,
    customer: CustomerId,
    identity: IdentityId,
    trust: Trust,
    source: TrustSource,
) -> Result<Identity, DbError> {
    dialect::write_transaction(conn, |conn| {
        lock_live(conn, customer)?;
        let (identity, event) = set_trust(conn, customer, identity, trust, source, crate::now())?;
        events::append(conn, event.into_iter().collect())?;
        Ok(identity)
    })
}

pub fn remove_identity(conn: &mut DbConn, customer: CustomerId, identity: IdentityId) -> Result<(), DbError> {
    dialect::write_transaction(conn, |conn| {
        lock_live(conn, customer)?;
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
