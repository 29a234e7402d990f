//! Custom attributes: the definitions admins keep, and each customer's values, checked
//! against their definition in the transaction that stores them.
//!
//! Definition writers hold [`DEFINITIONS_LOCK`] exclusively and value writers hold it
//! shared (PostgreSQL; SQLite has one writer anyway). A value is therefore checked against
//! the definition as it stands when the value commits, and a definition's delete or option
//! change sees every value stored: none is left orphaned or outside its options. Lock
//! order: the customer ([`super::lock_live`]), then this key.

use std::collections::{BTreeMap, HashMap};

use braid_core::attribute::{self, MAX_DEFINITIONS, MAX_VALUES_PER_CUSTOMER};
use braid_core::{AttributeKey, AttributeKind, AttributeLabel, CustomerId, EventKind, ListOptions};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::events::{self, NewEvent};
use crate::schema::{attribute_definitions, customer_attributes};
use crate::{DbConn, DbError, dialect, from_db, to_db};

/// The advisory key definition writers take exclusively and value writers shared.
pub(super) const DEFINITIONS_LOCK: &str = "attribute_definitions";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeDefinition {
    pub key: AttributeKey,
    pub label: AttributeLabel,
    pub kind: AttributeKind,
    /// A `list`'s options; `None` for every other kind.
    pub options: Option<ListOptions>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = attribute_definitions)]
struct DefinitionRow {
    key: String,
    label: String,
    kind: String,
    options: Option<String>,
    description: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<DefinitionRow> for AttributeDefinition {
    type Error = DbError;

    fn try_from(row: DefinitionRow) -> Result<Self, DbError> {
        let options = match row.options {
            Some(json) => Some(ListOptions::parse(&serde_json::from_str::<Vec<String>>(&json)?)?),
            None => None,
        };
        Ok(AttributeDefinition {
            key: AttributeKey::parse(&row.key)?,
            label: AttributeLabel::parse(&row.label)?,
            kind: row.kind.parse()?,
            options,
            description: row.description,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

/// A definition to create; `options` exactly when `kind` is `list`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDefinition {
    pub key: AttributeKey,
    pub label: AttributeLabel,
    pub kind: AttributeKind,
    pub options: Option<ListOptions>,
    pub description: Option<String>,
}

/// What an update changes; `None` keeps a field. The kind never changes: stored values
/// would stop fitting it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DefinitionChanges {
    pub label: Option<AttributeLabel>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    /// Replaces a list's options; refused while a value outside them is stored.
    pub options: Option<ListOptions>,
}

fn options_json(options: Option<&ListOptions>) -> Result<Option<String>, DbError> {
    Ok(options.map(|o| serde_json::to_string(o.as_slice())).transpose()?)
}

/// Every definition, by key (at most [`MAX_DEFINITIONS`]).
pub fn list(conn: &mut DbConn) -> Result<Vec<AttributeDefinition>, DbError> {
    attribute_definitions::table
        .order(attribute_definitions::key.asc())
        .select(DefinitionRow::as_select())
        .load(conn)?
        .into_iter()
        .map(AttributeDefinition::try_from)
        .collect()
}

pub fn get(conn: &mut DbConn, key: &AttributeKey) -> Result<AttributeDefinition, DbError> {
    attribute_definitions::table.find(key.as_str()).select(DefinitionRow::as_select()).first(conn)?.try_into()
}

/// A new definition. Its key taken already is [`DbError::Conflict`]; past
/// [`MAX_DEFINITIONS`], [`DbError::OverLimit`].
pub fn create(conn: &mut DbConn, new: &NewDefinition) -> Result<AttributeDefinition, DbError> {
    attribute::check_options(new.kind, new.options.as_ref()).map_err(|e| DbError::invalid("options", e))?;
    dialect::write_transaction(conn, |conn| {
        // Exclusive, so two admins creating the 200th definition at once cannot both succeed.
        dialect::lock_key(conn, DEFINITIONS_LOCK)?;
        let count: i64 = attribute_definitions::table.count().get_result(conn)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_DEFINITIONS {
            return Err(DbError::OverLimit { field: "attribute_definitions", max: MAX_DEFINITIONS });
        }
        let at = crate::now();
        let definition = AttributeDefinition {
            key: new.key.clone(),
            label: new.label.clone(),
            kind: new.kind,
            options: new.options.clone(),
            description: new.description.clone(),
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(attribute_definitions::table)
            .values((
                attribute_definitions::key.eq(definition.key.as_str()),
                attribute_definitions::label.eq(definition.label.as_str()),
                attribute_definitions::kind.eq(definition.kind.as_str()),
                attribute_definitions::options.eq(options_json(definition.options.as_ref())?),
                attribute_definitions::description.eq(&definition.description),
                attribute_definitions::created_at.eq(to_db(at)),
                attribute_definitions::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        let event = NewEvent::new(EventKind::AttributeDefinitionCreated, &definition.key, &definition, at)?;
        events::append(conn, vec![event])?;
        Ok(definition)
    })
}

/// Changes a definition's label, description or (for a list) options. Options that would
/// leave a stored value outside them are refused with [`DbError::InUse`].
pub fn update(
    conn: &mut DbConn,
    key: &AttributeKey,
    changes: &DefinitionChanges,
) -> Result<AttributeDefinition, DbError> {
    dialect::write_transaction(conn, |conn| {
        dialect::lock_key(conn, DEFINITIONS_LOCK)?;
        let mut definition = get(conn, key)?;
        if let Some(options) = &changes.options {
            attribute::check_options(definition.kind, Some(options)).map_err(|e| DbError::invalid("options", e))?;
            refuse_orphans(conn, key, options)?;
            definition.options = Some(options.clone());
        }
        if let Some(label) = &changes.label {
            definition.label = label.clone();
        }
        if let Some(description) = &changes.description {
            definition.description = description.clone();
        }
        let at = crate::now();
        definition.updated_at = at;
        diesel::update(attribute_definitions::table.find(key.as_str()))
            .set((
                attribute_definitions::label.eq(definition.label.as_str()),
                attribute_definitions::options.eq(options_json(definition.options.as_ref())?),
                attribute_definitions::description.eq(&definition.description),
                attribute_definitions::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        let event = NewEvent::new(EventKind::AttributeDefinitionUpdated, key, &definition, at)?;
        events::append(conn, vec![event])?;
        Ok(definition)
    })
}

/// [`DbError::InUse`] when a stored value of `key` is not among `options`.
fn refuse_orphans(conn: &mut DbConn, key: &AttributeKey, options: &ListOptions) -> Result<(), DbError> {
    // Distinct values only: at most the old options, however many customers hold them.
    let stored: Vec<String> = customer_attributes::table
        .filter(customer_attributes::key.eq(key.as_str()))
        .select(customer_attributes::value)
        .distinct()
        .load(conn)?;
    let mut dropped = Vec::new();
    for json in stored {
        let value: Value = serde_json::from_str(&json)?;
        if !value.as_str().is_some_and(|v| options.contains(v)) {
            dropped.push(json);
        }
    }
    if dropped.is_empty() {
        return Ok(());
    }
    dropped.sort();
    let holders: i64 = customer_attributes::table
        .filter(customer_attributes::key.eq(key.as_str()))
        .filter(customer_attributes::value.eq_any(&dropped))
        .count()
        .get_result(conn)?;
    const SHOWN: usize = 10;
    let mut named = dropped.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if dropped.len() > SHOWN {
        named.push_str(&format!(" and {} more", dropped.len() - SHOWN));
    }
    Err(DbError::InUse {
        field: "options",
        message: format!(
            "the new options leave out {named}, which {holders} customer(s) still have; \
             change or remove those values first"
        ),
    })
}

/// Deletes a definition and every customer's value of it, in one transaction. The one
/// `attribute_definition.deleted` event says how many values went, rather than an event
/// per customer: consumers drop the key everywhere.
pub fn delete(conn: &mut DbConn, key: &AttributeKey) -> Result<(), DbError> {
    dialect::write_transaction(conn, |conn| {
        dialect::lock_key(conn, DEFINITIONS_LOCK)?;
        let definition = get(conn, key)?;
        let removed = diesel::delete(customer_attributes::table.filter(customer_attributes::key.eq(key.as_str())))
            .execute(conn)?;
        diesel::delete(attribute_definitions::table.find(key.as_str())).execute(conn)?;
        let at = crate::now();
        let payload = serde_json::json!({ "key": key, "definition": definition, "values_removed": removed });
        events::append(conn, vec![NewEvent::new(EventKind::AttributeDefinitionDeleted, key, &payload, at)?])?;
        Ok(())
    })
}

/// One customer's value of one attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeValue {
    pub key: AttributeKey,
    /// Of the definition's kind, as normalised when stored.
    pub value: Value,
    /// Who set it: `agent` or `connector`.
    pub source: String,
    pub updated_at: DateTime<Utc>,
}

type ValueRow = (String, String, String, String, NaiveDateTime);

const VALUE_COLUMNS: (
    customer_attributes::customer_id,
    customer_attributes::key,
    customer_attributes::value,
    customer_attributes::source,
    customer_attributes::updated_at,
) = (
    customer_attributes::customer_id,
    customer_attributes::key,
    customer_attributes::value,
    customer_attributes::source,
    customer_attributes::updated_at,
);

fn value_of_row((_, key, value, source, updated_at): ValueRow) -> Result<AttributeValue, DbError> {
    Ok(AttributeValue {
        key: AttributeKey::parse(&key)?,
        value: serde_json::from_str(&value)?,
        source,
        updated_at: from_db(updated_at),
    })
}

/// The customer's values by key, without asking whether the customer is live.
pub(crate) fn stored(conn: &mut DbConn, customer: CustomerId) -> Result<Vec<AttributeValue>, DbError> {
    customer_attributes::table
        .filter(customer_attributes::customer_id.eq(customer.to_string()))
        .order(customer_attributes::key.asc())
        .select(VALUE_COLUMNS)
        .load::<ValueRow>(conn)?
        .into_iter()
        .map(value_of_row)
        .collect()
}

/// A live customer's values, by key; [`DbError::Merged`] for a tombstone.
pub fn values_of(conn: &mut DbConn, customer: CustomerId) -> Result<Vec<AttributeValue>, DbError> {
    super::live(conn, customer)?;
    stored(conn, customer)
}

/// The values of many customers in one query (a list page must not query per row).
/// Customers without values are absent from the map.
pub fn values_of_many(
    conn: &mut DbConn,
    customers: &[CustomerId],
) -> Result<HashMap<CustomerId, Vec<AttributeValue>>, DbError> {
    let ids: Vec<String> = customers.iter().map(CustomerId::to_string).collect();
    let rows: Vec<ValueRow> = customer_attributes::table
        .filter(customer_attributes::customer_id.eq_any(&ids))
        .filter(dialect::planned_each_time())
        .order((customer_attributes::customer_id.asc(), customer_attributes::key.asc()))
        .select(VALUE_COLUMNS)
        .load(conn)?;
    let mut by_customer: HashMap<CustomerId, Vec<AttributeValue>> = HashMap::new();
    for row in rows {
        let customer: CustomerId = row.0.parse()?;
        by_customer.entry(customer).or_default().push(value_of_row(row)?);
    }
    Ok(by_customer)
}

/// One key's change, as the event records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Change {
    key: AttributeKey,
    old: Option<Value>,
    new: Option<Value>,
}

/// Sets the listed values of a live customer: `Some` stores (checked against the key's
/// definition and normalised), `None` removes; keys not listed stay as they are. Every
/// value is checked before any is written, so a refused request changes nothing. An
/// unknown key or a bad value is [`DbError::Invalid`] naming `values.<key>`; more than
/// [`MAX_VALUES_PER_CUSTOMER`] values after the change, [`DbError::OverLimit`]. One
/// `customer.attributes_updated` event lists what changed (nothing changed: no event).
/// Returns all the customer's values after the change.
pub fn set_values(
    conn: &mut DbConn,
    customer: CustomerId,
    changes: &[(AttributeKey, Option<Value>)],
    source: &str,
) -> Result<Vec<AttributeValue>, DbError> {
    dialect::write_transaction(conn, |conn| {
        super::lock_live(conn, customer)?;
        dialect::lock_key_shared(conn, DEFINITIONS_LOCK)?;
        // A key listed twice: the later entry wins, as in a JSON object.
        let wanted: BTreeMap<&AttributeKey, Option<&Value>> = changes.iter().map(|(k, v)| (k, v.as_ref())).collect();
        let keys: Vec<&str> = wanted.keys().map(|key| key.as_str()).collect();
        let definitions: HashMap<AttributeKey, AttributeDefinition> = attribute_definitions::table
            .filter(attribute_definitions::key.eq_any(&keys))
            .filter(dialect::planned_each_time())
            .select(DefinitionRow::as_select())
            .load(conn)?
            .into_iter()
            .map(|row| AttributeDefinition::try_from(row).map(|d| (d.key.clone(), d)))
            .collect::<Result<_, DbError>>()?;
        let current: HashMap<AttributeKey, Value> =
            stored(conn, customer)?.into_iter().map(|v| (v.key, v.value)).collect();

        let mut planned = Vec::new();
        for (key, value) in wanted {
            let field = format!("values.{key}");
            let Some(definition) = definitions.get(key) else {
                return Err(DbError::Invalid {
                    field,
                    message: format!("no attribute is defined with the key `{key}`"),
                });
            };
            let new = value
                .map(|v| attribute::validate(definition.kind, definition.options.as_ref(), v))
                .transpose()
                .map_err(|e| DbError::invalid(field, e))?;
            let old = current.get(key).cloned();
            if old != new {
                planned.push(Change { key: key.clone(), old, new });
            }
        }
        let added = planned.iter().filter(|c| c.old.is_none()).count();
        let removed = planned.iter().filter(|c| c.new.is_none()).count();
        // Only growth past the cap is refused: a merge may leave a customer above it, and
        // they must still be able to change and remove values.
        let after = current.len() + added - removed;
        if after > MAX_VALUES_PER_CUSTOMER && after > current.len() {
            return Err(DbError::OverLimit { field: "attributes", max: MAX_VALUES_PER_CUSTOMER });
        }

        let at = crate::now();
        let customer_id = customer.to_string();
        for change in &planned {
            let row = customer_attributes::table.find((&customer_id, change.key.as_str()));
            match &change.new {
                None => {
                    diesel::delete(row).execute(conn)?;
                }
                // No `ON CONFLICT` through the multi-backend connection: update, and insert
                // when there was nothing to update. The customer's lock keeps a concurrent
                // writer from inserting in between.
                Some(value) => {
                    let value = value.to_string();
                    let updated = diesel::update(row)
                        .set((
                            customer_attributes::value.eq(&value),
                            customer_attributes::source.eq(source),
                            customer_attributes::updated_at.eq(to_db(at)),
                        ))
                        .execute(conn)?;
                    if updated == 0 {
                        diesel::insert_into(customer_attributes::table)
                            .values((
                                customer_attributes::customer_id.eq(&customer_id),
                                customer_attributes::key.eq(change.key.as_str()),
                                customer_attributes::value.eq(&value),
                                customer_attributes::source.eq(source),
                                customer_attributes::updated_at.eq(to_db(at)),
                            ))
                            .execute(conn)?;
                    }
                }
            }
        }
        if !planned.is_empty() {
            let payload = serde_json::json!({ "customer_id": customer, "source": source, "changes": planned });
            let event = NewEvent::new(EventKind::CustomerAttributesUpdated, customer, &payload, at)?.customer(customer);
            events::append(conn, vec![event])?;
        }
        stored(conn, customer)
    })
}
