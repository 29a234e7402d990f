//! Undoing a merge: what came from the source goes back to it, and what arrived since
//! follows its identity (`braid_core::merge::undo_ticket` decides each ticket).
//!
//! An undo restores the state before the merge exactly when nothing happened since: the
//! same identities, thread, tickets, fields and `updated_at` on both customers. What did
//! happen since is kept where it belongs: messages from the source's identities go back
//! with them, a ticket that now holds messages from both sides stays with the target and
//! is listed for review, and a field changed again after the merge keeps its new value.

use std::collections::HashSet;

use braid_core::merge::{self, TicketOrigin, UndoTicket};
use braid_core::{CustomerId, Direction, EventKind, MergeId};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::merges::{self, FieldChange, MergeRecord, Moved, UndoReport, fields_of, lock_pair, moved_ids, write_field};
use super::thread_of;
use crate::events::NewEvent;
use crate::schema::{
    customer_notes, customers, identities, merge_suggestions, merges as merges_table, messages, threads, tickets,
};
use crate::{DbConn, DbError, dialect, events, to_db};

/// Undoes merge `id` if it is younger than `window`. Undoing twice, an undo after the
/// window, and an undo while the target is itself merged into a third customer are
/// refused ([`DbError::Refused`]).
pub fn undo(conn: &mut DbConn, id: MergeId, actor: &str, window: chrono::Duration) -> Result<MergeRecord, DbError> {
    dialect::write_transaction(conn, |conn| {
        let record = merges::get(conn, id)?;
        let (target, source) = (record.target_id.to_string(), record.source_id.to_string());
        let (target_thread, source_thread) =
            (thread_of(conn, record.target_id)?.to_string(), thread_of(conn, record.source_id)?.to_string());
        // The tombstone's thread is locked too (by a plain update: `lock_thread` refuses a
        // merged thread), in the order every merge uses.
        lock_pair(conn, &target_thread, &source_thread, |conn, thread| {
            diesel::update(threads::table.find(thread))
                .set(threads::last_message_at.eq(threads::last_message_at))
                .execute(conn)?;
            Ok(())
        })?;
        dialect::lock_key_shared(conn, super::attributes::DEFINITIONS_LOCK)?;
        // Read again under the locks: a concurrent undo of this merge has committed by now.
        let record = merges::get(conn, id)?;
        check(conn, &record, window)?;
        let at = crate::now();
        let report = move_back(conn, &record, &target, &source, &target_thread, &source_thread)?;

        let (target_updated, source_updated): (NaiveDateTime, NaiveDateTime) = merges_table::table
            .find(id.to_string())
            .select((merges_table::target_updated_at, merges_table::source_updated_at))
            .first(conn)?;
        let target_now: NaiveDateTime = customers::table.find(&target).select(customers::updated_at).first(conn)?;
        if target_now == to_db(record.created_at) {
            // Untouched since the merge: the target is as it was before it.
            diesel::update(customers::table.find(&target))
                .set(customers::updated_at.eq(target_updated))
                .execute(conn)?;
        }
        diesel::update(customers::table.find(&source))
            .set((customers::merged_into.eq(None::<String>), customers::updated_at.eq(source_updated)))
            .execute(conn)?;
        diesel::update(threads::table.find(&source_thread))
            .set(threads::merged_into.eq(None::<String>))
            .execute(conn)?;
        for thread in [&target_thread, &source_thread] {
            let last: Option<NaiveDateTime> = messages::table
                .filter(messages::thread_id.eq(thread))
                .select(diesel::dsl::max(messages::created_at))
                .first(conn)?;
            diesel::update(threads::table.find(thread)).set(threads::last_message_at.eq(last)).execute(conn)?;
        }

        // The suggestions the merge settled are open again: the customers are apart.
        diesel::update(
            merge_suggestions::table
                .filter(merge_suggestions::merge_id.eq(id.to_string()))
                .filter(merge_suggestions::state.eq("accepted")),
        )
        .set((
            merge_suggestions::state.eq("open"),
            merge_suggestions::decided_at.eq(None::<NaiveDateTime>),
            merge_suggestions::decided_by.eq(None::<String>),
            merge_suggestions::merge_id.eq(None::<String>),
        ))
        .execute(conn)?;
        let marked = diesel::update(merges_table::table.find(id.to_string()).filter(merges_table::undone_at.is_null()))
            .set((
                merges_table::undone_at.eq(to_db(at)),
                merges_table::undone_by.eq(actor),
                merges_table::undo_report.eq(serde_json::to_string(&report)?),
            ))
            .execute(conn)?;
        if marked == 0 {
            return Err(DbError::Refused("this merge was undone already".into()));
        }
        let payload = serde_json::json!({
            "merge_id": id,
            "target_id": record.target_id,
            "source_id": record.source_id,
            "returned": {
                "identities": report.returned.identities,
                "tickets": report.returned.tickets,
                "notes": report.returned.notes,
                "messages": report.returned.messages.len(),
            },
            "review_tickets": report.review_tickets,
        });
        let customers = [record.target_id, record.source_id];
        let events: Vec<NewEvent> = customers
            .iter()
            .map(|customer: &CustomerId| {
                Ok(NewEvent::new(EventKind::CustomerUnmerged, id, &payload, at)?.customer(customer))
            })
            .collect::<Result<_, DbError>>()?;
        events::append(conn, events)?;
        tracing::info!(merge = %id, "merge undone");
        merges::get(conn, id)
    })
}

fn check(conn: &mut DbConn, record: &MergeRecord, window: chrono::Duration) -> Result<(), DbError> {
    if record.undone_at.is_some() {
        return Err(DbError::Refused("this merge was undone already".into()));
    }
    if crate::now() - record.created_at > window {
        return Err(DbError::Refused(format!(
            "merges can be undone for {} days; this one is older",
            window.num_days()
        )));
    }
    let (target_next, source_next): (Option<String>, Option<String>) = (
        customers::table.find(record.target_id.to_string()).select(customers::merged_into).first(conn)?,
        customers::table.find(record.source_id.to_string()).select(customers::merged_into).first(conn)?,
    );
    if let Some(next) = target_next {
        return Err(DbError::Refused(format!(
            "customer {} was merged into {next} since; undo that merge first",
            record.target_id
        )));
    }
    if source_next.as_deref() != Some(record.target_id.to_string().as_str()) {
        return Err(DbError::Corrupt(format!("merge {} names a source that is not its tombstone", record.id)));
    }
    Ok(())
}

fn move_back(
    conn: &mut DbConn,
    record: &MergeRecord,
    target: &str,
    source: &str,
    target_thread: &str,
    source_thread: &str,
) -> Result<UndoReport, DbError> {
    let merge = record.id.to_string();
    let moved_identities: HashSet<String> = moved_ids(conn, &merge, "identity")?.into_iter().collect();
    let moved_tickets: HashSet<String> = moved_ids(conn, &merge, "ticket")?.into_iter().collect();
    let moved_messages: HashSet<String> = moved_ids(conn, &merge, "message")?.into_iter().collect();

    // Who wrote what since the merge: the customer's messages not moved by it, by ticket.
    let written: Vec<(String, Option<String>, Option<String>)> = messages::table
        .filter(messages::thread_id.eq(target_thread))
        .filter(messages::direction.eq(Direction::Inbound.as_str()))
        .filter(messages::identity_id.is_not_null())
        .select((messages::id, messages::ticket_id, messages::identity_id))
        .load(conn)?;
    let since: Vec<(Option<String>, bool)> = written
        .into_iter()
        .filter(|(id, _, _)| !moved_messages.contains(id))
        .map(|(_, ticket, identity)| (ticket, identity.is_some_and(|i| moved_identities.contains(&i))))
        .collect();

    let held: Vec<(String, NaiveDateTime)> =
        tickets::table.filter(tickets::customer_id.eq(target)).select((tickets::id, tickets::created_at)).load(conn)?;
    let (mut back, mut review) = (Vec::new(), Vec::new());
    for (ticket, created_at) in held {
        let origin = if moved_tickets.contains(&ticket) {
            TicketOrigin::Source
        } else if created_at >= to_db(record.created_at) {
            TicketOrigin::AfterMerge
        } else {
            TicketOrigin::Target
        };
        let on_ticket = since.iter().filter(|(t, _)| t.as_deref() == Some(ticket.as_str()));
        let (from_source, from_target) =
            on_ticket.fold((false, false), |(s, t), (_, from_source)| (s || *from_source, t || !*from_source));
        match merge::undo_ticket(origin, from_source, from_target) {
            UndoTicket::Back => back.push(ticket),
            UndoTicket::Review => review.push(ticket),
            UndoTicket::Stays => {}
        }
    }

    // Messages: those of tickets going back, and ticketless ones that came from the source
    // or were written since from its identities.
    let identities_back: Vec<String> = moved_identities.iter().cloned().collect();
    let ticketless: Vec<(String, Option<String>)> = messages::table
        .filter(messages::thread_id.eq(target_thread).and(messages::ticket_id.is_null()))
        .select((messages::id, messages::identity_id))
        .load(conn)?;
    let mut messages_back: Vec<String> = ticketless
        .into_iter()
        .filter(|(id, identity)| {
            moved_messages.contains(id) || identity.as_ref().is_some_and(|i| moved_identities.contains(i))
        })
        .map(|(id, _)| id)
        .collect();
    let of_tickets: Vec<String> = messages::table
        .filter(messages::thread_id.eq(target_thread))
        .filter(messages::ticket_id.eq_any(&back))
        .filter(dialect::planned_each_time())
        .select(messages::id)
        .load(conn)?;
    messages_back.extend(of_tickets);
    messages_back.sort();
    for chunk in messages_back.chunks(500) {
        diesel::update(messages::table.filter(messages::id.eq_any(chunk)).filter(dialect::planned_each_time()))
            .set(messages::thread_id.eq(source_thread))
            .execute(conn)?;
    }
    diesel::update(tickets::table.filter(tickets::id.eq_any(&back)).filter(dialect::planned_each_time()))
        .set(tickets::customer_id.eq(source))
        .execute(conn)?;

    let identities_now: Vec<String> = identities::table
        .filter(identities::customer_id.eq(target))
        .filter(identities::id.eq_any(&identities_back))
        .filter(dialect::planned_each_time())
        .select(identities::id)
        .load(conn)?;
    diesel::update(
        identities::table.filter(identities::id.eq_any(&identities_now)).filter(dialect::planned_each_time()),
    )
    .set(identities::customer_id.eq(source))
    .execute(conn)?;
    let moved_notes = moved_ids(conn, &merge, "note")?;
    let notes_now: Vec<String> = customer_notes::table
        .filter(customer_notes::customer_id.eq(target))
        .filter(customer_notes::id.eq_any(&moved_notes))
        .filter(dialect::planned_each_time())
        .select(customer_notes::id)
        .load(conn)?;
    diesel::update(
        customer_notes::table.filter(customer_notes::id.eq_any(&notes_now)).filter(dialect::planned_each_time()),
    )
    .set(customer_notes::customer_id.eq(source))
    .execute(conn)?;

    let kept_fields = restore_fields(conn, target, &record.fields)?;
    back.sort();
    review.sort();
    let mut identities_now = identities_now;
    identities_now.sort();
    let mut notes_now = notes_now;
    notes_now.sort();
    Ok(UndoReport {
        returned: Moved { identities: identities_now, tickets: back, messages: messages_back, notes: notes_now },
        review_tickets: review,
        kept_fields,
    })
}

/// Puts back each field the merge changed, unless it changed again since; returns those
/// kept.
fn restore_fields(conn: &mut DbConn, target: &str, changes: &[FieldChange]) -> Result<Vec<String>, DbError> {
    let now = fields_of(conn, target)?;
    let mut kept = Vec::new();
    for change in changes {
        if now.get(&change.field) == change.after.as_ref() {
            write_field(conn, target, &change.field, change.before.as_ref())?;
        } else {
            kept.push(change.field.clone());
        }
    }
    Ok(kept)
}

/// When a merge's undo window closes.
pub fn undo_until(record: &MergeRecord, window: chrono::Duration) -> DateTime<Utc> {
    record.created_at + window
}
