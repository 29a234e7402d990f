//! Placing an inbound message, in one transaction: deduplicate, identify the customer,
//! choose the ticket (the rules are `braid_core::placement`), append the message, move
//! the ticket, and record the events. Any channel adapter ends here.
//!
//! Concurrency is settled by the database. Two first messages of one new sender race to
//! insert the same identity; the unique index lets one win, the other's transaction fails
//! with a conflict and is retried, and then finds the winner's customer. Two messages of
//! one known customer take the thread's row lock in turn, so they cannot both open a
//! ticket. The same channel reference twice hits the message index, and the retry answers
//! with the first message.

use braid_core::placement::{
    self, Authorship, Identification, PlacementPolicy, PlacementReason, Reference, ReferenceSource, TicketCandidates,
    TicketChoice, TicketSnapshot,
};
use braid_core::{
    AuthorKind, Channel, CustomerId, CustomerName, Direction, EventKind, IdentityValue, Priority, Subject, TicketId,
    TicketNumber, Trust,
};
use chrono::{DateTime, Utc};

use crate::messages::{Message, NewMessage};
use crate::tickets::NewTicket;
use crate::{DbConn, DbError, customers, dialect, events, messages, tickets};

/// How often a placement is retried after losing a uniqueness race. One retry settles
/// every race we know of; the rest is margin.
const ATTEMPTS: usize = 5;

/// An inbound message as a channel adapter hands it over.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub channel: Channel,
    /// The channel's own id for the message; the deduplication key. `None` only when the
    /// channel has no such id (then nothing can be deduplicated).
    pub channel_ref: Option<String>,
    pub sender: IdentityValue,
    pub sender_trust: Trust,
    pub sender_name: Option<CustomerName>,
    /// Becomes the subject of a new ticket.
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    /// Explicit references, strongest first.
    pub references: Vec<InboundReference>,
    pub authorship: Authorship,
    pub details: serde_json::Value,
    pub received_at: DateTime<Utc>,
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
            result => return result,
        }
    }
}

fn place_once(conn: &mut DbConn, inbound: &Inbound, policy: &PlacementPolicy) -> Result<Placement, DbError> {
    let at = crate::truncate_to_micros(inbound.received_at);

    // 1. Deduplicate.
    if let Some(channel_ref) = &inbound.channel_ref {
        let existing = messages::find_by_channel_ref(conn, inbound.channel, channel_ref)?;
        if let Some(message) = existing {
            return duplicate(conn, message);
        }
    }

    // 2. Identify. A signed reply token names the conversation outright; otherwise the
    //    sender's identity does.
    let mut events = Vec::new();
    let vouched = vouching_ticket(conn, &inbound.references)?;
    let (customer_id, thread_id, known, identified) = match vouched {
        Some(ticket) => {
            let thread = customers::thread_of(conn, ticket.customer_id)?;
            customers::lock_thread(conn, thread)?;
            let reason = PlacementReason::VouchedByToken {
                kind: inbound.sender.kind.to_string(),
                value: inbound.sender.value.clone(),
                ticket: ticket.number,
            };
            (ticket.customer_id, thread, true, reason)
        }
        None => {
            let owner = customers::owner_of(conn, &inbound.sender)?;
            let (identification, identified) = placement::identify(&inbound.sender, owner);
            match identification {
                Identification::Known(customer) => {
                    let thread = customers::thread_of(conn, customer)?;
                    customers::lock_thread(conn, thread)?;
                    (customer, thread, true, identified)
                }
                Identification::New => {
                    let (customer, thread) = customers::create_with_identity(
                        conn,
                        inbound.sender_name.as_ref(),
                        &inbound.sender,
                        inbound.sender_trust,
                        at,
                    )?;
                    events.push(customers::created_event(&customer, &inbound.sender, inbound.sender_trust)?);
                    (customer.id, thread, false, identified)
                }
            }
        }
    };

    // 3. Choose the ticket.
    let references = resolve(conn, inbound.channel, &inbound.references)?;
    let (latest_unsolved, latest_solved) = if known {
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
    };
    let (choice, chosen) = placement::choose_ticket(&candidates, policy);
    let mut reasons = vec![identified];
    reasons.extend(chosen);

    // 4. Append and move the ticket.
    let (ticket, new_ticket) = match choice {
        TicketChoice::Existing { ticket, status } => {
            events.extend(tickets::on_new_message(conn, &ticket, status, at)?);
            (Some(TicketSnapshot { status, ..ticket }), false)
        }
        TicketChoice::New => {
            let ticket = tickets::create(
                conn,
                NewTicket {
                    customer_id,
                    subject: Subject::from_inbound(inbound.subject.as_deref()),
                    priority: Priority::default(),
                    channel: inbound.channel,
                    assignee_id: None,
                    team_id: None,
                    tags: vec![],
                    at,
                },
            )?;
            events.push(tickets::event(EventKind::TicketCreated, &ticket)?);
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
            delivery_state: None,
            placement: reasons,
            details: inbound.details.clone(),
            at,
        },
    )?;
    customers::touch_thread(conn, thread_id, at)?;

    // 5. Record, last: the event log's lock is held from here to commit.
    events.push(messages::created_event(&message, customer_id)?);
    events::append(conn, events)?;

    Ok(Placement { message, customer_id, ticket, duplicate: false, new_customer: !known, new_ticket })
}

fn duplicate(conn: &mut DbConn, message: Message) -> Result<Placement, DbError> {
    let customer_id = customers::owner_of_thread(conn, message.thread_id)?;
    let ticket = message.ticket_id.map(|id| tickets::snapshot(conn, id)).transpose()?.flatten();
    Ok(Placement { message, customer_id, ticket, duplicate: true, new_customer: false, new_ticket: false })
}

/// The ticket a signed reply token names, unless it is closed (a closed ticket is final,
/// and the message then finds its place by the other rules).
fn vouching_ticket(conn: &mut DbConn, references: &[InboundReference]) -> Result<Option<TicketSnapshot>, DbError> {
    for reference in references.iter().filter(|r| r.source == ReferenceSource::ReplyToken) {
        let ticket = match &reference.target {
            ReferenceTarget::TicketNumber(number) => tickets::snapshot_by_number(conn, *number)?,
            ReferenceTarget::Ticket(id) => tickets::snapshot(conn, *id)?,
            ReferenceTarget::Message(_) => None,
        };
        if let Some(ticket) = ticket.filter(|t| t.status != braid_core::TicketStatus::Closed) {
            return Ok(Some(ticket));
        }
    }
    Ok(None)
}

/// Looks up what each reference names. A reference to nothing stays in the list with no
/// target, so the reasons can say it was seen and ignored.
fn resolve(conn: &mut DbConn, channel: Channel, references: &[InboundReference]) -> Result<Vec<Reference>, DbError> {
    references
        .iter()
        .map(|reference| {
            let target = match &reference.target {
                ReferenceTarget::Message(channel_ref) => {
                    match messages::find_by_channel_ref(conn, channel, channel_ref)? {
                        Some(Message { ticket_id: Some(ticket), .. }) => tickets::snapshot(conn, ticket)?,
                        _ => None,
                    }
                }
                ReferenceTarget::TicketNumber(number) => tickets::snapshot_by_number(conn, *number)?,
                ReferenceTarget::Ticket(id) => tickets::snapshot(conn, *id)?,
            };
            Ok(Reference { source: reference.source, detail: reference.detail.clone(), target })
        })
        .collect()
}

/// The reasons a duplicate answer carries: the first placement's, plus the fact.
pub fn reasons_for(placement: &Placement) -> Vec<PlacementReason> {
    let mut reasons = placement.message.placement.clone();
    if placement.duplicate {
        reasons.insert(0, PlacementReason::Duplicate { message_id: placement.message.id });
    }
    reasons
}
