//! Merging two customers into one, in one transaction, and the record of each merge that
//! makes it undoable (see [`super::undo`]).
//!
//! Everything the source holds moves to the target: identities, tickets, the messages of
//! its thread, its notes. Fields (the name, preferences, custom attributes) follow
//! `braid_core::merge::resolve_field`: the target wins, the source fills gaps, the caller
//! may pick a side per field. The source stays as a tombstone naming the target.
//!
//! Concurrency: a merge locks both customers' threads, in id order, before it reads
//! anything. Placement, replies, ticket changes and customer writes take the same thread
//! lock, and a lock on a thread merged away fails (see [`super::lock_thread`]), so nothing
//! lands on a tombstone and two merges over the same customers take turns: the second
//! sees the first's tombstone and is refused.

use std::collections::BTreeMap;

use braid_core::merge::{self, MergeReason, Side};
use braid_core::{CustomerId, EventKind, IdentityValue, MergeId};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::Serialize;
use serde_json::Value;

use super::context::{self, TicketLine};
use super::{Identity, identities_of, live, lock_thread, thread_of};
use crate::events::NewEvent;
use crate::schema::{
    customer_attributes, customer_notes, customers, identities, merge_moves, merge_suggestions, merges, messages,
    threads, tickets,
};
use crate::{DbConn, DbError, dialect, events, from_db, to_db};

/// What to merge, and how.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    pub target: CustomerId,
    pub source: CustomerId,
    /// The side whose value wins, per field (`name`, `preferences.language`,
    /// `attributes.plan`); fields not named follow the default rule.
    pub choices: BTreeMap<String, Side>,
    /// Who asks: `agent:<id>`, `api_key:<id>` or `system`.
    pub actor: String,
    pub reason: MergeReason,
}

/// A field of the two customers, and how it comes out of the merge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldPlan {
    pub field: String,
    pub target: Option<Value>,
    pub source: Option<Value>,
    pub winner: Side,
    pub value: Option<Value>,
    pub conflict: bool,
}

/// What a merge would do: the preview (`dry_run`) and the merge itself read the same plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergePlan {
    pub target_id: CustomerId,
    pub source_id: CustomerId,
    pub identities: Vec<Identity>,
    pub tickets: Vec<TicketLine>,
    pub messages: i64,
    pub notes: i64,
    pub fields: Vec<FieldPlan>,
}

/// A field the merge changed on the target: what an undo puts back.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Row ids by kind: what a merge moved, or what an undo moved back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Moved {
    pub identities: Vec<String>,
    pub tickets: Vec<String>,
    pub messages: Vec<String>,
    pub notes: Vec<String>,
}

/// What an undo did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct UndoReport {
    /// What went back to the source.
    pub returned: Moved,
    /// Tickets holding the customer's messages from both sides: they stay with the target
    /// for an agent to review.
    pub review_tickets: Vec<String>,
    /// Fields changed again since the merge: the later value is kept.
    pub kept_fields: Vec<String>,
}

/// One merge, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergeRecord {
    pub id: MergeId,
    pub target_id: CustomerId,
    pub source_id: CustomerId,
    pub actor: String,
    pub reason: MergeReason,
    pub moved: Moved,
    pub fields: Vec<FieldChange>,
    pub created_at: DateTime<Utc>,
    pub undone_at: Option<DateTime<Utc>>,
    pub undone_by: Option<String>,
    pub undo: Option<UndoReport>,
}

/// The moves' `kind` column, one per kind of row.
pub(super) const KINDS: [&str; 4] = ["identity", "ticket", "message", "note"];

/// What merging `source` into `target` would do, read without locking anything.
pub fn preview(conn: &mut DbConn, request: &MergeRequest) -> Result<MergePlan, DbError> {
    refuse_self(request)?;
    live(conn, request.target)?;
    live(conn, request.source)?;
    plan(conn, request)
}

fn refuse_self(request: &MergeRequest) -> Result<(), DbError> {
    if request.target == request.source {
        return Err(DbError::Refused("a customer cannot be merged into itself".into()));
    }
    Ok(())
}

fn plan(conn: &mut DbConn, request: &MergeRequest) -> Result<MergePlan, DbError> {
    let (target, source) = (request.target.to_string(), request.source.to_string());
    let identities = identities_of(conn, request.source)?;
    let tickets = context::lines(
        conn,
        tickets::table
            .filter(tickets::customer_id.eq(source.clone()))
            .order((tickets::created_at.asc(), tickets::id.asc()))
            .select(context::LINE),
    )?;
    let source_thread = thread_of(conn, request.source)?.to_string();
    let messages: i64 = messages::table.filter(messages::thread_id.eq(&source_thread)).count().get_result(conn)?;
    let notes: i64 = customer_notes::table.filter(customer_notes::customer_id.eq(&source)).count().get_result(conn)?;

    let mut fields = Vec::new();
    let mut add = |field: String, t: Option<Value>, s: Option<Value>, same: fn(&Value, &Value) -> bool| {
        let outcome = merge::resolve_field(t.as_ref(), s.as_ref(), request.choices.get(&field).copied());
        let conflict = matches!((&t, &s), (Some(a), Some(b)) if !same(a, b));
        fields.push(FieldPlan { field, target: t, source: s, winner: outcome.winner, value: outcome.value, conflict });
    };
    let (target_fields, source_fields) = (fields_of(conn, &target)?, fields_of(conn, &source)?);
    let mut names: Vec<&String> = target_fields.keys().chain(source_fields.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        // Preferences and attributes carry their source and time: only the value conflicts.
        let same: fn(&Value, &Value) -> bool =
            if name == "name" { |a, b| a == b } else { |a, b| a.get("value") == b.get("value") };
        add(name.clone(), target_fields.get(name).cloned(), source_fields.get(name).cloned(), same);
    }
    if let Some(field) = request.choices.keys().find(|field| !fields.iter().any(|f| &f.field == *field)) {
        let shown: String = field.chars().take(100).collect();
        return Err(DbError::Invalid {
            field: "choices".into(),
            message: format!("neither customer has a field `{shown}` to choose"),
        });
    }
    Ok(MergePlan { target_id: request.target, source_id: request.source, identities, tickets, messages, notes, fields })
}

/// A customer's mergeable fields by name: `name`, `preferences.<name>` (the whole entry,
/// with its source) and `attributes.<key>`. Absent fields are not listed.
pub(super) fn fields_of(conn: &mut DbConn, customer: &str) -> Result<BTreeMap<String, Value>, DbError> {
    let (name, preferences): (Option<String>, String) =
        customers::table.find(customer).select((customers::name, customers::preferences)).first(conn)?;
    let mut fields = BTreeMap::new();
    if let Some(name) = name {
        fields.insert("name".to_owned(), Value::String(name));
    }
    if let Value::Object(entries) = serde_json::from_str(&preferences)? {
        for (key, entry) in entries {
            fields.insert(format!("preferences.{key}"), entry);
        }
    }
    let attributes: Vec<(String, String, String, NaiveDateTime)> = customer_attributes::table
        .filter(customer_attributes::customer_id.eq(customer))
        .select((
            customer_attributes::key,
            customer_attributes::value,
            customer_attributes::source,
            customer_attributes::updated_at,
        ))
        .load(conn)?;
    for (key, value, source, updated_at) in attributes {
        let value: Value = serde_json::from_str(&value)?;
        fields.insert(
            format!("attributes.{key}"),
            serde_json::json!({ "value": value, "source": source, "updated_at": from_db(updated_at) }),
        );
    }
    Ok(fields)
}

/// Writes one field on a customer; `None` removes it.
pub(super) fn write_field(
    conn: &mut DbConn,
    customer: &str,
    field: &str,
    value: Option<&Value>,
) -> Result<(), DbError> {
    if field == "name" {
        let name = value.and_then(Value::as_str);
        diesel::update(customers::table.find(customer))
            .set((customers::name.eq(name), customers::name_key.eq(name.map(str::to_lowercase))))
            .execute(conn)?;
    } else if let Some(key) = field.strip_prefix("preferences.") {
        let stored: String = customers::table.find(customer).select(customers::preferences).first(conn)?;
        let mut preferences: serde_json::Map<String, Value> = serde_json::from_str(&stored)?;
        match value {
            Some(entry) => preferences.insert(key.to_owned(), entry.clone()),
            None => preferences.remove(key),
        };
        diesel::update(customers::table.find(customer))
            .set(customers::preferences.eq(Value::Object(preferences).to_string()))
            .execute(conn)?;
    } else if let Some(key) = field.strip_prefix("attributes.") {
        let row = customer_attributes::table
            .filter(customer_attributes::customer_id.eq(customer).and(customer_attributes::key.eq(key)));
        diesel::delete(row).execute(conn)?;
        if let Some(entry) = value {
            let updated_at = entry
                .get("updated_at")
                .and_then(|at| serde_json::from_value::<DateTime<Utc>>(at.clone()).ok())
                .unwrap_or_else(crate::now);
            diesel::insert_into(customer_attributes::table)
                .values((
                    customer_attributes::customer_id.eq(customer),
                    customer_attributes::key.eq(key),
                    customer_attributes::value.eq(entry.get("value").unwrap_or(&Value::Null).to_string()),
                    customer_attributes::source.eq(entry.get("source").and_then(Value::as_str).unwrap_or("merge")),
                    customer_attributes::updated_at.eq(to_db(updated_at)),
                ))
                .execute(conn)?;
        }
    } else {
        return Err(DbError::Corrupt(format!("unknown field `{field}`")));
    }
    Ok(())
}

/// Locks two threads in id order: every merge and undo takes them the same way, so two of
/// them over overlapping customers wait for each other instead of deadlocking.
pub(super) fn lock_pair(
    conn: &mut DbConn,
    a: &str,
    b: &str,
    mut lock: impl FnMut(&mut DbConn, &str) -> Result<(), DbError>,
) -> Result<(), DbError> {
    let (first, second) = if a < b { (a, b) } else { (b, a) };
    lock(conn, first)?;
    lock(conn, second)
}

/// Marks both threads as having had rows moved, so a placement that read the sender's
/// identity before this commit finds it again (see `customers::lock_thread_of`).
pub(super) fn bump_moves(conn: &mut DbConn, threads_moved: &[&str]) -> Result<(), DbError> {
    diesel::update(threads::table.filter(threads::id.eq_any(threads_moved)))
        .set(threads::moves.eq(threads::moves + 1))
        .execute(conn)?;
    Ok(())
}

/// Merges `request.source` into `request.target`.
pub fn merge(conn: &mut DbConn, request: &MergeRequest) -> Result<MergeRecord, DbError> {
    refuse_self(request)?;
    dialect::write_transaction(conn, |conn| merge_in(conn, request))
}

/// [`merge`] inside the caller's transaction (accepting a suggestion marks it in the same
/// commit).
pub fn merge_in(conn: &mut DbConn, request: &MergeRequest) -> Result<MergeRecord, DbError> {
    refuse_self(request)?;
    let (target_thread, source_thread) = (thread_of(conn, request.target)?, thread_of(conn, request.source)?);
    let locked = lock_pair(conn, &target_thread.to_string(), &source_thread.to_string(), |conn, thread| {
        lock_thread(conn, thread.parse()?)
    });
    if let Err(error) = locked {
        // A tombstone (perhaps merged while we waited) says which customer it went into.
        live(conn, request.target)?;
        live(conn, request.source)?;
        return Err(error);
    }
    // Values copied below must not race a definition being deleted or narrowed (the
    // order every attribute writer uses: the customer, then this key).
    dialect::lock_key_shared(conn, super::attributes::DEFINITIONS_LOCK)?;
    let plan = plan(conn, request)?;
    let held = identities_of(conn, request.target)?.len();
    if held + plan.identities.len() > IdentityValue::MAX_PER_CUSTOMER {
        return Err(DbError::OverLimit { field: "identities", max: IdentityValue::MAX_PER_CUSTOMER });
    }
    let target_notes: i64 = customer_notes::table
        .filter(customer_notes::customer_id.eq(request.target.to_string()))
        .count()
        .get_result(conn)?;
    if usize::try_from(target_notes + plan.notes).unwrap_or(usize::MAX) > braid_core::note::MAX_PER_CUSTOMER {
        return Err(DbError::OverLimit { field: "notes", max: braid_core::note::MAX_PER_CUSTOMER });
    }
    let attributes = plan.fields.iter().filter(|f| f.field.starts_with("attributes.") && f.value.is_some()).count();
    if attributes > braid_core::attribute::MAX_VALUES_PER_CUSTOMER {
        return Err(DbError::OverLimit { field: "attributes", max: braid_core::attribute::MAX_VALUES_PER_CUSTOMER });
    }

    let at = crate::now();
    let id = MergeId::new();
    let (target, source) = (request.target.to_string(), request.source.to_string());
    let (target_updated, source_updated): (NaiveDateTime, NaiveDateTime) = (
        customers::table.find(&target).select(customers::updated_at).first(conn)?,
        customers::table.find(&source).select(customers::updated_at).first(conn)?,
    );
    let changes: Vec<FieldChange> = plan
        .fields
        .iter()
        .filter(|f| f.value != f.target)
        .map(|f| FieldChange { field: f.field.clone(), before: f.target.clone(), after: f.value.clone() })
        .collect();
    diesel::insert_into(merges::table)
        .values((
            merges::id.eq(id.to_string()),
            merges::target_id.eq(&target),
            merges::source_id.eq(&source),
            merges::actor.eq(&request.actor),
            merges::reason.eq(request.reason.as_str()),
            merges::fields.eq(serde_json::to_string(&changes)?),
            merges::target_updated_at.eq(target_updated),
            merges::source_updated_at.eq(source_updated),
            merges::created_at.eq(to_db(at)),
        ))
        .execute(conn)?;

    // Record what moves, then move it: one statement per kind, however many rows.
    let (merge_id, source_thread) = (id.to_string(), source_thread.to_string());
    let record = |kind: &'static str| (merge_id.clone().into_sql::<Text>(), kind.into_sql::<Text>());
    let columns = (merge_moves::merge_id, merge_moves::kind, merge_moves::item_id);
    let (m, k) = record("identity");
    diesel::insert_into(merge_moves::table)
        .values(identities::table.filter(identities::customer_id.eq(&source)).select((m, k, identities::id)))
        .into_columns(columns)
        .execute(conn)?;
    let (m, k) = record("ticket");
    diesel::insert_into(merge_moves::table)
        .values(tickets::table.filter(tickets::customer_id.eq(&source)).select((m, k, tickets::id)))
        .into_columns(columns)
        .execute(conn)?;
    let (m, k) = record("message");
    diesel::insert_into(merge_moves::table)
        .values(messages::table.filter(messages::thread_id.eq(&source_thread)).select((m, k, messages::id)))
        .into_columns(columns)
        .execute(conn)?;
    let (m, k) = record("note");
    diesel::insert_into(merge_moves::table)
        .values(customer_notes::table.filter(customer_notes::customer_id.eq(&source)).select((
            m,
            k,
            customer_notes::id,
        )))
        .into_columns(columns)
        .execute(conn)?;

    let target_thread = target_thread.to_string();
    diesel::update(identities::table.filter(identities::customer_id.eq(&source)))
        .set(identities::customer_id.eq(&target))
        .execute(conn)?;
    diesel::update(tickets::table.filter(tickets::customer_id.eq(&source)))
        .set(tickets::customer_id.eq(&target))
        .execute(conn)?;
    diesel::update(messages::table.filter(messages::thread_id.eq(&source_thread)))
        .set(messages::thread_id.eq(&target_thread))
        .execute(conn)?;
    diesel::update(customer_notes::table.filter(customer_notes::customer_id.eq(&source)))
        .set(customer_notes::customer_id.eq(&target))
        .execute(conn)?;
    for change in &changes {
        write_field(conn, &target, &change.field, change.after.as_ref())?;
    }

    diesel::update(customers::table.find(&source))
        .set((customers::merged_into.eq(&target), customers::updated_at.eq(to_db(at))))
        .execute(conn)?;
    bump_moves(conn, &[&target_thread, &source_thread])?;
    diesel::update(customers::table.find(&target)).set(customers::updated_at.eq(to_db(at))).execute(conn)?;
    let source_last: Option<NaiveDateTime> =
        threads::table.find(&source_thread).select(threads::last_message_at).first(conn)?;
    diesel::update(threads::table.find(&source_thread)).set(threads::merged_into.eq(&target_thread)).execute(conn)?;
    if let Some(last) = source_last {
        diesel::update(
            threads::table
                .find(&target_thread)
                .filter(threads::last_message_at.is_null().or(threads::last_message_at.lt(last))),
        )
        .set(threads::last_message_at.eq(last))
        .execute(conn)?;
    }
    // Suggestions between the two are settled by the merge.
    let pair = merge_suggestions::customer_id
        .eq(&source)
        .and(merge_suggestions::other_customer_id.eq(&target))
        .or(merge_suggestions::customer_id.eq(&target).and(merge_suggestions::other_customer_id.eq(&source)));
    diesel::update(merge_suggestions::table.filter(merge_suggestions::state.eq("open")).filter(pair))
        .set((
            merge_suggestions::state.eq("accepted"),
            merge_suggestions::decided_at.eq(to_db(at)),
            merge_suggestions::decided_by.eq(&request.actor),
            merge_suggestions::merge_id.eq(&merge_id),
        ))
        .execute(conn)?;

    let record = get(conn, id)?;
    let payload = serde_json::json!({
        "merge_id": id,
        "target_id": request.target,
        "source_id": request.source,
        "reason": request.reason,
        // What changed hands, for consumers that keep their own copy (messages by count:
        // they follow their thread; `GET /v1/merges/{id}` lists them).
        "moved": {
            "identities": record.moved.identities,
            "tickets": record.moved.tickets,
            "notes": record.moved.notes,
            "messages": record.moved.messages.len(),
        },
        "fields": record.fields,
    });
    let event = NewEvent::new(EventKind::CustomerMerged, request.target, &payload, at)?.customer(request.target);
    events::append(conn, vec![event])?;
    tracing::info!(merge = %id, target = %request.target, source = %request.source, "customers merged");
    Ok(record)
}

type MergeRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<String>,
    Option<String>,
);

/// A merge record with everything it moved.
pub fn get(conn: &mut DbConn, id: MergeId) -> Result<MergeRecord, DbError> {
    let row: MergeRow = merges::table
        .find(id.to_string())
        .select((
            merges::id,
            merges::target_id,
            merges::source_id,
            merges::actor,
            merges::reason,
            merges::fields,
            merges::created_at,
            merges::undone_at,
            merges::undone_by,
            merges::undo_report,
        ))
        .first(conn)?;
    let (id, target, source, actor, reason, fields, created_at, undone_at, undone_by, undo) = row;
    let moves: Vec<(String, String)> = merge_moves::table
        .filter(merge_moves::merge_id.eq(&id))
        .order((merge_moves::kind, merge_moves::item_id))
        .select((merge_moves::kind, merge_moves::item_id))
        .load(conn)?;
    let mut moved = Moved::default();
    for (kind, item) in moves {
        match kind.as_str() {
            "identity" => moved.identities.push(item),
            "ticket" => moved.tickets.push(item),
            "message" => moved.messages.push(item),
            _ => moved.notes.push(item),
        }
    }
    Ok(MergeRecord {
        id: id.parse()?,
        target_id: target.parse()?,
        source_id: source.parse()?,
        actor,
        reason: reason.parse()?,
        moved,
        fields: serde_json::from_str(&fields)?,
        created_at: from_db(created_at),
        undone_at: undone_at.map(from_db),
        undone_by,
        undo: undo.map(|text| serde_json::from_str(&text)).transpose()?,
    })
}

/// The moves of one kind, as a set (what an undo sends back).
pub(super) fn moved_ids(conn: &mut DbConn, merge: &str, kind: &str) -> Result<Vec<String>, DbError> {
    debug_assert!(KINDS.contains(&kind));
    Ok(merge_moves::table
        .filter(merge_moves::merge_id.eq(merge).and(merge_moves::kind.eq(kind)))
        .select(merge_moves::item_id)
        .load(conn)?)
}

/// The customers merged into `customer` and not unmerged (one level: a chain's earlier
/// links point at these).
pub fn sources_into(conn: &mut DbConn, customer: CustomerId) -> Result<Vec<CustomerId>, DbError> {
    let ids: Vec<String> = merges::table
        .filter(merges::target_id.eq(customer.to_string()))
        .filter(merges::undone_at.is_null())
        .select(merges::source_id)
        .load(conn)?;
    ids.into_iter().map(|id| Ok(id.parse()?)).collect()
}
