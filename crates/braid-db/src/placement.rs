//! Placing an inbound message, in one transaction: deduplicate, identify the customer,
//! choose the ticket (the rules are `braid_core::placement`), append the message, move
//! the ticket, and record the events. Any channel adapter ends here.
//!
//! Concurrency is settled by the database. Two first messages of one new sender race to
//! insert the same identity; the unique index lets one win, the other's transaction fails
//! with a conflict and is retried, and then finds the winner's customer. Two messages of
//! one known customer take the thread's row lock in turn, so they cannot both open a
//! ticket. The same channel reference and content twice hits the message index, and the
//! retry answers with the first message.
//!
//! What must follow a placement (a bounce marking our reply failed, the acknowledgement of
//! a new ticket) is written in the same transaction: a crash loses all of it or none.

use braid_core::placement::{
    self, Authorship, Deduplication, Earlier, Identification, PlacementPolicy, PlacementReason, Reference,
    ReferenceSource, TicketCandidates, TicketChoice, TicketSnapshot,
};
use braid_core::{
    AuthorKind, Channel, CustomerId, CustomerName, Direction, EventKind, IdentityKind, IdentityValue, Priority,
    Subject, ThreadId, TicketId, TicketNumber, Trust, TrustSource,
};
use chrono::{DateTime, Utc};

use crate::customers::Holder;
use crate::messages::{Message, NewMessage, Original};
use crate::tickets::NewTicket;
use crate::{DbConn, DbError, connectors, customers, dialect, events, messages, outbox, tickets};

/// How often a placement is retried after losing a uniqueness race. One retry settles
/// every race we know of; the rest is margin.
const ATTEMPTS: usize = 5;

/// An inbound message as a channel adapter hands it over.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub channel: Channel,
    /// The channel's own id for the message. `None` only when the channel has no such id
    /// (then nothing can be deduplicated).
    pub channel_ref: Option<String>,
    /// With `channel_ref`, the deduplication key: a digest of what defines the message,
    /// so a sender reusing an id for something else is not taken for a retry.
    pub content_digest: String,
    /// What the adapter found before placement (a sender taken from a fallback header);
    /// recorded first among the reasons.
    pub noted: Vec<PlacementReason>,
    /// What must be written with the message, in its transaction.
    pub follow_ups: FollowUps,
    /// The message carries our own loop marker: one of our replies come back.
    pub echo: bool,
    pub sender: IdentityValue,
    pub sender_trust: Trust,
    /// Where the sender's identity comes from (an email's From: `sender`).
    pub sender_source: TrustSource,
    pub sender_name: Option<CustomerName>,
    /// The language the message says it is in (a normalised tag), if it says.
    pub language: Option<String>,
    /// The UTC offset of the sender's clock (`-03:00`), if the message shows it.
    pub utc_offset: Option<String>,
    /// Becomes the subject of a new ticket.
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    /// Explicit references, strongest first.
    pub references: Vec<InboundReference>,
    pub authorship: Authorship,
    pub details: serde_json::Value,
    /// The message as the channel delivered it, stored with the message.
    pub original: Option<Original>,
    pub received_at: DateTime<Utc>,
}

/// Writes that belong to a placement and commit with it.
#[derive(Debug, Clone, Default)]
pub struct FollowUps {
    /// Channel references of our outbound messages this one reports undeliverable (a
    /// bounce): they become `failed`.
    pub returns: Vec<String>,
    /// Queued as a system reply when the message opens a new ticket.
    pub acknowledgement: Option<Acknowledgement>,
    /// A connector's conversation the message came in: it follows the ticket chosen.
    pub conversation: Option<Conversation>,
}

/// A connector's conversation, by the connector's own id for it.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub connector: braid_core::ConnectorId,
    pub external_id: String,
}

/// An acknowledgement of a new ticket: `template` takes `{number}`, `{subject}`, `{name}`.
#[derive(Debug, Clone)]
pub struct Acknowledgement {
    pub template: String,
    pub name: Option<String>,
}

/// An explicit reference as found in the message, before we know what it names. A
/// `ReplyToken` reference is trusted to place the message in that ticket's conversation
/// whoever sent it: adapters give one only for a token whose signature they checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundReference {
    pub source: ReferenceSource,
    pub detail: String,
    pub target: ReferenceTarget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceTarget {
    /// A message on the same channel, by its channel reference (an email Message-ID).
    Message(String),
    TicketNumber(TicketNumber),
    Ticket(TicketId),
}

/// Where the message landed.
#[derive(Debug, Clone)]
pub struct Placement {
    pub message: Message,
    pub customer_id: CustomerId,
    pub ticket: Option<TicketSnapshot>,
    /// The message had arrived before; nothing was written this time.
    pub duplicate: bool,
    pub new_customer: bool,
    pub new_ticket: bool,
}

/// Places `inbound`, retrying the whole transaction when a concurrent placement won a
/// uniqueness race.
pub fn place(conn: &mut DbConn, inbound: &Inbound, policy: &PlacementPolicy) -> Result<Placement, DbError> {
    let mut attempt = 1;
    loop {
        match dialect::write_transaction(conn, |conn| place_once(conn, inbound, policy)) {
            Err(DbError::Conflict(constraint)) if attempt < ATTEMPTS => {
                tracing::debug!(attempt, %constraint, "placement lost a race; retrying");
                attempt += 1;
            }
            Err(DbError::Moved) if attempt < ATTEMPTS => {
                tracing::debug!(attempt, "the sender's customer was merged or unmerged meanwhile; retrying");
                attempt += 1;
            }
            result => return result,
        }
    }
}

fn place_once(conn: &mut DbConn, inbound: &Inbound, policy: &PlacementPolicy) -> Result<Placement, DbError> {
    let at = crate::truncate_to_micros(inbound.received_at);

    // 1. Deduplicate, and look up every reference, in as few queries as there are kinds
    //    of reference.
    let Resolved { earlier, references, answered } = resolve(conn, inbound)?;
    let mut reasons = inbound.noted.clone();
    match placement::deduplicate(&earlier, &inbound.content_digest, inbound.echo) {
        Deduplication::Duplicate(first) => {
            let first = messages::get(conn, first)?;
            return duplicate(conn, first);
        }
        Deduplication::Reused(first) => reasons.push(PlacementReason::MessageIdReused { message_id: first }),
        Deduplication::New => {}
    }

    // 2. Identify. A signed reply token names the conversation outright; otherwise the
    //    sender's identity does. A known customer's thread is locked (and marked with this
    //    message's time) before anything is decided from its tickets.
    let mut events = Vec::new();
    let holder = customers::holder_of(conn, &inbound.sender)?;
    let seen = customers::Seen {
        inbound_channel: Some(inbound.channel.as_str()),
        inbound_language: inbound.language.as_deref(),
        inbound_utc_offset: inbound.utc_offset.as_deref(),
    };
    // `sender`: the sender's identity, when it belongs to the customer the message goes to.
    let (customer_id, thread_id, known, identified, sender) = match vouching_ticket(&references) {
        Some(ticket) => {
            // Only the customer's own address teaches their preferences.
            let own = holder.is_some_and(|h| h.customer == ticket.customer_id);
            let seen = if own {
                seen
            } else {
                customers::Seen { inbound_channel: seen.inbound_channel, ..Default::default() }
            };
            let thread = customers::lock_thread_of(conn, ticket.customer_id, None, at, &seen)?;
            // The token named the ticket before we held the lock; an undo may have moved it.
            if tickets::snapshot(conn, ticket.id)?.is_none_or(|now| now.customer_id != ticket.customer_id) {
                return Err(DbError::Moved);
            }
            let reason = PlacementReason::VouchedByToken {
                kind: inbound.sender.kind.to_string(),
                value: inbound.sender.value.clone(),
                ticket: ticket.number,
            };
            let sender = holder.filter(|h| h.customer == ticket.customer_id);
            (ticket.customer_id, thread, true, reason, sender)
        }
        None => {
            let (identification, identified) = placement::identify(&inbound.sender, holder.map(|h| h.customer));
            match (identification, holder) {
                (Identification::Known(customer), Some(held)) => {
                    let thread = customers::lock_thread_of(conn, customer, Some(held.moves), at, &seen)?;
                    (customer, thread, true, identified, Some(held))
                }
                _ => {
                    let (customer, thread, identity) = customers::create_with_identity(
                        conn,
                        inbound.sender_name.as_ref(),
                        &inbound.sender,
                        inbound.sender_trust,
                        inbound.sender_source,
                        at,
                        &seen,
                    )?;
                    events.push(customers::created_event(&customer, &identity)?);
                    let sender =
                        Holder { identity: identity.id, customer: customer.id, trust: inbound.sender_trust, moves: 0 };
                    (customer.id, thread, false, identified, Some(sender))
                }
            }
        }
    };

    // A claimed address answering a mail we sent to it is proven: the Message-ID it quotes
    // (unguessable, and never shown to anyone else: see the email worker's References) only
    // reached that address. A signed reply token proves less (it names a ticket, not a
    // recipient), so it never verifies.
    if let Some(sender) = sender.filter(|s| s.trust == Trust::Claimed && inbound.sender.kind == IdentityKind::Email)
        && answered.contains(&inbound.sender.value)
    {
        let (_, event) =
            customers::set_trust(conn, customer_id, sender.identity, Trust::Verified, TrustSource::EmailRoundTrip, at)?;
        events.extend(event);
    }

    // 3. Choose the ticket. The customer's latest tickets are read only when no reference
    //    decides (and a new customer has none).
    let (latest_unsolved, latest_solved) = if known && placement::needs_latest_tickets(&references, customer_id) {
        (tickets::latest_unsolved(conn, customer_id)?, tickets::latest_solved(conn, customer_id)?)
    } else {
        (None, None)
    };
    let candidates = TicketCandidates {
        customer: customer_id,
        references,
        latest_unsolved,
        latest_solved,
        authorship: inbound.authorship,
        now: at,
        arrived: crate::now(),
    };
    let (choice, chosen) = placement::choose_ticket(&candidates, policy);
    reasons.push(identified);
    reasons.extend(chosen);

    // 4. Append and move the ticket.
    let (ticket, new_ticket) = match choice {
        TicketChoice::Existing { ticket, status } => {
            let person = inbound.authorship == braid_core::placement::Authorship::Person;
            events.extend(tickets::on_new_message(conn, &ticket, status, at, person)?);
            (Some(TicketSnapshot { status, ..ticket }), false)
        }
        TicketChoice::New => {
            let team_id = crate::routing::default_team(conn, inbound.channel)?;
            let ticket = tickets::create(
                conn,
                NewTicket {
                    customer_id,
                    subject: Subject::from_inbound(inbound.subject.as_deref()),
                    priority: Priority::default(),
                    channel: inbound.channel,
                    assignee_id: None,
                    team_id,
                    tags: vec![],
                    at,
                },
            )?;
            events.push(tickets::event(EventKind::TicketCreated, &ticket)?);
            // The channel's team, when one is set, routes it to someone online.
            let routed = crate::routing::on_ticket_change(conn, None, &ticket, at)?;
            let ticket = if routed.is_empty() { ticket } else { tickets::get(conn, ticket.id)? };
            events.extend(routed);
            (Some(ticket.snapshot()), true)
        }
        TicketChoice::ThreadOnly => (None, false),
    };
    let message = messages::insert(
        conn,
        NewMessage {
            thread_id,
            ticket_id: ticket.map(|t| t.id),
            channel: inbound.channel,
            direction: Direction::Inbound,
            author_kind: AuthorKind::Customer,
            author_agent_id: None,
            text: inbound.text.clone(),
            html: inbound.html.clone(),
            channel_ref: inbound.channel_ref.clone(),
            content_digest: Some(inbound.content_digest.clone()),
            identity_id: sender.map(|s| s.identity),
            delivery_state: None,
            placement: reasons,
            details: inbound.details.clone(),
            original: inbound.original.clone(),
            at,
        },
    )?;

    // 5. Record, and what follows from the message: its ticket's SLA clocks first.
    let mut breaches = vec![];
    if let Some(ticket) = ticket {
        let refreshed = crate::sla::refresh(conn, ticket.id, crate::now())?;
        if let Some(fresh) = &refreshed.changed {
            // The ticket's event above was made before its due time moved; without one,
            // the move is news of its own.
            let mut replaced = false;
            for event in events.iter_mut().filter(|e| e.ticket_id == Some(ticket.id.to_string())) {
                if matches!(event.kind, EventKind::TicketCreated | EventKind::TicketUpdated) {
                    *event = tickets::event(event.kind, fresh)?;
                    replaced = true;
                }
            }
            if !replaced {
                events.push(tickets::event(EventKind::TicketUpdated, fresh)?);
            }
        }
        breaches = refreshed.events;
    }
    events.push(messages::created_event(&message, customer_id)?);
    events.extend(breaches);
    if let (Some(ack), Some(ticket), true) = (&inbound.follow_ups.acknowledgement, ticket, new_ticket) {
        events.push(acknowledge(conn, ack, ticket, customer_id, thread_id, inbound.subject.as_deref(), at)?);
    }
    events::append(conn, events)?;
    if let (Some(conversation), Some(ticket)) = (&inbound.follow_ups.conversation, ticket) {
        let kind = connectors::RefKind::Conversation;
        connectors::remember(conn, conversation.connector, kind, &conversation.external_id, ticket.id, at)?;
    }
    // In one order, so two reports returning the same replies cannot deadlock.
    let mut returns: Vec<&String> = inbound.follow_ups.returns.iter().collect();
    returns.sort();
    returns.dedup();
    for returned in returns {
        let reason = format!("bounced: the delivery report {} returned it", message.id);
        if outbox::bounced(conn, inbound.channel, returned, &reason)? {
            tracing::info!(message = %returned, report = %message.id, "a bounce marked our reply failed");
        }
    }

    Ok(Placement { message, customer_id, ticket, duplicate: false, new_customer: !known, new_ticket })
}

/// Queues the acknowledgement of a new ticket; returns its event.
fn acknowledge(
    conn: &mut DbConn,
    ack: &Acknowledgement,
    ticket: TicketSnapshot,
    customer: CustomerId,
    thread: ThreadId,
    subject: Option<&str>,
    at: DateTime<Utc>,
) -> Result<events::NewEvent, DbError> {
    let subject = Subject::from_inbound(subject);
    let text =
        braid_core::message::acknowledgement_text(&ack.template, ticket.number, subject.as_str(), ack.name.as_deref());
    let message = messages::AgentMessage {
        ticket: ticket.id,
        customer,
        thread,
        author_agent_id: None,
        text,
        details: serde_json::json!({ "acknowledgement": true }),
    };
    let (_, event) = messages::queue_reply_in(conn, message, braid_core::Channel::Email, at)?;
    Ok(event)
}

fn duplicate(conn: &mut DbConn, message: Message) -> Result<Placement, DbError> {
    let customer_id = customers::owner_of_thread(conn, message.thread_id)?;
    let ticket = message.ticket_id.map(|id| tickets::snapshot(conn, id)).transpose()?.flatten();
    Ok(Placement { message, customer_id, ticket, duplicate: true, new_customer: false, new_ticket: false })
}

/// The ticket a signed reply token names, unless it is closed (a closed ticket is final,
/// and the message then finds its place by the other rules).
fn vouching_ticket(references: &[Reference]) -> Option<TicketSnapshot> {
    references
        .iter()
        .filter(|r| r.source == ReferenceSource::ReplyToken)
        .filter_map(|r| r.target)
        .find(|t| t.status != braid_core::TicketStatus::Closed)
}

/// What the message's own reference and its references name.
struct Resolved {
    earlier: Vec<Earlier>,
    references: Vec<Reference>,
    /// The addresses our referenced outbound messages were sent to.
    answered: Vec<String>,
}

/// What was stored before under the message's own reference, and what each reference
/// names: one lookup for the own reference, one for every message it refers to, one for
/// the tickets named by number or id. A reference to nothing stays in the list with no
/// target, so the reasons can say it was seen and ignored. A message reference that names
/// several tickets (a reused id) yields one reference per ticket, so the rules can follow
/// the one in the sender's own thread.
fn resolve(conn: &mut DbConn, inbound: &Inbound) -> Result<Resolved, DbError> {
    let earlier = match inbound.channel_ref.as_deref() {
        Some(own) => messages::earlier_under(conn, inbound.channel, own, &inbound.content_digest)?,
        None => vec![],
    };
    let (mut channel_refs, mut ids, mut numbers) = (Vec::new(), Vec::new(), Vec::new());
    for reference in &inbound.references {
        match &reference.target {
            ReferenceTarget::Message(channel_ref) => channel_refs.push(channel_ref.as_str()),
            ReferenceTarget::TicketNumber(number) => numbers.push(*number),
            ReferenceTarget::Ticket(id) => ids.push(*id),
        }
    }
    let by_ref = messages::tickets_of_refs(conn, inbound.channel, &channel_refs)?;
    let named = tickets::snapshots(conn, &ids, &numbers)?;
    let mut references = Vec::new();
    for reference in &inbound.references {
        let mut targets: Vec<Option<TicketSnapshot>> = match &reference.target {
            ReferenceTarget::Message(channel_ref) => {
                by_ref.iter().filter(|r| &r.channel_ref == channel_ref).map(|r| r.ticket).collect()
            }
            ReferenceTarget::TicketNumber(number) => vec![named.iter().find(|t| t.number == *number).copied()],
            ReferenceTarget::Ticket(id) => vec![named.iter().find(|t| t.id == *id).copied()],
        };
        if targets.is_empty() {
            targets.push(None);
        }
        references.extend(targets.into_iter().map(|target| Reference {
            source: reference.source,
            detail: reference.detail.clone(),
            target,
        }));
    }
    let answered = by_ref.into_iter().filter_map(|r| r.sent_to).collect();
    Ok(Resolved { earlier, references, answered })
}

/// The reasons a duplicate answer carries: the first placement's, plus the fact.
pub fn reasons_for(placement: &Placement) -> Vec<PlacementReason> {
    let mut reasons = placement.message.placement.clone();
    if placement.duplicate {
        reasons.insert(0, PlacementReason::Duplicate { message_id: placement.message.id });
    }
    reasons
}
