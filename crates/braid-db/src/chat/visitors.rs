//! Chat visitors: who a browser's visitor writes as, which customer that makes them, what
//! they may read, and what they have seen.
//!
//! A visitor writes as one identity: `chat_visitor:<visitor id>` while anonymous,
//! `external:<site slug>` = the site's user id once a signed token named them. The
//! customer is whoever holds that identity now, so a merge (which moves identities) moves
//! the visitor with it; nothing here stores a customer id.

use braid_core::chat::History;
use braid_core::merge::{self, Link, MergeReason};
use braid_core::{
    Channel, CustomerId, CustomerName, DeliveryState, Direction, EventKind, IdentityId, IdentityKind, IdentityValue,
    MergeId, MessageId, SiteId, SuggestionId, ThreadId, TicketId, Trust, TrustSource, VisitorId,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::customers::{self, NewIdentity, merges};
use crate::events::{self, NewEvent};
use crate::messages::{self, Message};
use crate::schema::{chat_visitors, identities, messages as messages_table};
use crate::{DbConn, DbError, dialect, from_db, to_db};

#[derive(Debug, Clone, PartialEq)]
pub struct Visitor {
    pub id: VisitorId,
    pub site_id: SiteId,
    /// The identity the visitor writes as.
    pub identity: IdentityValue,
    /// A signed token named the visitor: they read their whole thread.
    pub verified: bool,
    pub created_at: DateTime<Utc>,
}

impl Visitor {
    pub fn history(&self) -> History {
        History::of(self.verified)
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = chat_visitors)]
struct VisitorRow {
    id: String,
    site_id: String,
    identity_kind: String,
    identity_value: String,
    verified: bool,
    created_at: NaiveDateTime,
}

impl TryFrom<VisitorRow> for Visitor {
    type Error = DbError;

    fn try_from(row: VisitorRow) -> Result<Self, DbError> {
        Ok(Visitor {
            id: row.id.parse()?,
            site_id: row.site_id.parse()?,
            identity: IdentityValue { kind: IdentityKind::parse(&row.identity_kind)?, value: row.identity_value },
            verified: row.verified,
            created_at: from_db(row.created_at),
        })
    }
}

pub fn get(conn: &mut DbConn, id: VisitorId) -> Result<Option<Visitor>, DbError> {
    chat_visitors::table
        .find(id.to_string())
        .select(VisitorRow::as_select())
        .first(conn)
        .optional()?
        .map(Visitor::try_from)
        .transpose()
}

fn insert(
    conn: &mut DbConn,
    site: SiteId,
    identity: Option<IdentityValue>,
    verified: bool,
) -> Result<Visitor, DbError> {
    let (id, at) = (VisitorId::new(), crate::now());
    let identity = identity.unwrap_or_else(|| IdentityValue { kind: IdentityKind::ChatVisitor, value: id.to_string() });
    diesel::insert_into(chat_visitors::table)
        .values((
            chat_visitors::id.eq(id.to_string()),
            chat_visitors::site_id.eq(site.to_string()),
            chat_visitors::identity_kind.eq(identity.kind.to_string()),
            chat_visitors::identity_value.eq(&identity.value),
            chat_visitors::verified.eq(verified),
            chat_visitors::created_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    Ok(Visitor { id, site_id: site, identity, verified, created_at: crate::truncate_to_micros(at) })
}

/// A new anonymous visitor. No customer exists for them until they write (or claim an
/// email): a page view costs one row, not a customer.
pub fn create_anonymous(conn: &mut DbConn, site: SiteId) -> Result<Visitor, DbError> {
    insert(conn, site, None, false)
}

/// The customer the visitor writes as, with their thread, if they have one yet.
pub fn customer_of(
    conn: &mut DbConn,
    visitor: &Visitor,
) -> Result<Option<(CustomerId, ThreadId, IdentityId)>, DbError> {
    let Some(holder) = customers::holder_of(conn, &visitor.identity)? else {
        return Ok(None);
    };
    Ok(Some((holder.customer, customers::thread_of(conn, holder.customer)?, holder.identity)))
}

/// Marks the visitor as having a socket open until `until` (a socket refreshes it while
/// it lives; a node that dies leaves it to expire).
pub fn mark_online(conn: &mut DbConn, visitor: VisitorId, until: Option<DateTime<Utc>>) -> Result<(), DbError> {
    diesel::update(chat_visitors::table.find(visitor.to_string()))
        .set(chat_visitors::online_until.eq(until.map(to_db)))
        .execute(conn)?;
    Ok(())
}

/// The latest time any visitor writing as one of `customer`'s identities is online until.
pub fn online_until(conn: &mut DbConn, customer: CustomerId) -> Result<Option<DateTime<Utc>>, DbError> {
    let until: Option<NaiveDateTime> = chat_visitors::table
        .inner_join(identities::table.on(
            identities::kind.eq(chat_visitors::identity_kind).and(identities::value.eq(chat_visitors::identity_value)),
        ))
        .filter(identities::customer_id.eq(customer.to_string()))
        .select(diesel::dsl::max(chat_visitors::online_until))
        .first(conn)?;
    Ok(until.map(from_db))
}

/// What a site's signed token says about its user, checked.
#[derive(Debug, Clone)]
pub struct SignedUser {
    /// `external:<site slug>` = the site's user id.
    pub user: IdentityValue,
    /// The user's email, verified when the site says it verified it.
    pub email: Option<(IdentityValue, Trust)>,
    pub name: Option<CustomerName>,
}

/// What signing a visitor in did.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub visitor: Visitor,
    pub customer: CustomerId,
    /// The merges the identity rules made (an anonymous visitor's customer into the
    /// signed user's; a user into the verified holder of their verified email).
    pub merges: Vec<MergeId>,
    /// A merge suggestion for agents, when the email is held by someone the proof cannot
    /// join.
    pub suggestion: Option<SuggestionId>,
}

/// Signs a visitor in with a site's verified token, following the identity rules
/// (`braid_core::merge::link`): the user's identity is verified by the token; a verified
/// email held by another customer joins them only when both sides are proven, and
/// otherwise becomes a suggestion. `previous`: the visitor this browser was until now.
///
/// Each step is its own transaction and finds what an earlier attempt did, so a retry
/// after a failure finishes the work instead of repeating it.
pub fn sign_in(
    conn: &mut DbConn,
    site: SiteId,
    previous: Option<Visitor>,
    signed: &SignedUser,
) -> Result<SignIn, DbError> {
    let mut merged = Vec::new();
    // The same user again keeps their visitor; another user on this browser is someone
    // else and starts afresh; an anonymous visitor becomes the user.
    let previous = previous.filter(|v| v.site_id == site);
    let (anonymous, same_user) = match &previous {
        Some(v) if v.identity == signed.user => (None, previous.clone()),
        Some(v) if !v.verified => (Some(v.clone()), None),
        _ => (None, None),
    };
    let anonymous_customer = match &anonymous {
        Some(v) => customer_of(conn, v)?.map(|(customer, _, _)| customer),
        None => None,
    };

    // 1. The user's own identity: who holds it, or who it joins.
    let holder = customers::holder_of(conn, &signed.user)?;
    let mut customer = match (holder, anonymous_customer) {
        (Some(holder), None) => holder.customer,
        (Some(holder), Some(anonymous)) if holder.customer == anonymous => anonymous,
        (Some(holder), Some(anonymous)) => {
            match merge::link(Some(anonymous), Trust::Verified, Some((holder.customer, holder.trust))) {
                Link::Merge { source, target } => {
                    merged.push(merge_system(conn, target, source)?);
                    target
                }
                _ => holder.customer,
            }
        }
        (None, Some(anonymous)) => {
            attach(conn, anonymous, &signed.user, Trust::Verified)?;
            anonymous
        }
        (None, None) => {
            // A first sign-in whose verified email someone holds joins them: their earlier
            // emails are this user's (link: a presenter with no customer, proven).
            let joins = match &signed.email {
                Some((email, Trust::Verified)) => customers::holder_of(conn, email)?.map(|h| h.customer),
                _ => None,
            };
            match joins {
                Some(holder) => {
                    attach(conn, holder, &signed.user, Trust::Verified)?;
                    holder
                }
                None => create_customer(conn, signed)?,
            }
        }
    };

    // 2. The email the token names.
    let mut suggestion = None;
    if let Some((email, trust)) = &signed.email {
        let holder = customers::holder_of(conn, email)?;
        match merge::link(Some(customer), *trust, holder.map(|h| (h.customer, h.trust))) {
            Link::Attach { .. } | Link::Held { .. } => {
                attach(conn, customer, email, *trust)?;
            }
            Link::Merge { source, target } => {
                merged.push(merge_system(conn, target, source)?);
                customer = target;
            }
            Link::Suggest { .. } => suggestion = attach(conn, customer, email, *trust)?,
            Link::NewCustomer | Link::Holder { .. } => {}
        }
    }
    if let Some(name) = &signed.name
        && customers::get(conn, customer)?.name.is_none()
    {
        customers::rename(conn, customer, Some(name))?;
    }

    // 3. The visitor now writes as the user.
    let visitor = match same_user {
        Some(visitor) => visitor,
        None => dialect::write_transaction(conn, |conn| insert(conn, site, Some(signed.user.clone()), true))?,
    };
    Ok(SignIn { visitor, customer, merges: merged, suggestion })
}

/// Gives `customer` the identity with `trust` (upgrading their own; never taking one
/// from someone else: that records a suggestion, returned).
fn attach(
    conn: &mut DbConn,
    customer: CustomerId,
    identity: &IdentityValue,
    trust: Trust,
) -> Result<Option<SuggestionId>, DbError> {
    let source = if trust == Trust::Verified { TrustSource::SignedToken } else { TrustSource::Form };
    match customers::add_identity(conn, customer, &NewIdentity { value: identity.clone(), trust, source }) {
        Ok(_) => Ok(None),
        Err(DbError::IdentityTaken { suggestion, .. }) => Ok(suggestion),
        Err(other) => Err(other),
    }
}

fn create_customer(conn: &mut DbConn, signed: &SignedUser) -> Result<CustomerId, DbError> {
    let user = NewIdentity { value: signed.user.clone(), trust: Trust::Verified, source: TrustSource::SignedToken };
    match customers::create(conn, signed.name.as_ref(), &[user]) {
        Ok(profile) => Ok(profile.customer.id),
        // Signed in twice at once: the other request created them.
        Err(DbError::IdentityTaken { customer, .. }) => Ok(customer),
        Err(other) => Err(other),
    }
}

fn merge_system(conn: &mut DbConn, target: CustomerId, source: CustomerId) -> Result<MergeId, DbError> {
    let request = merges::MergeRequest {
        target,
        source,
        choices: Default::default(),
        actor: "system".into(),
        reason: MergeReason::VerifiedLink,
    };
    Ok(merges::merge(conn, &request)?.id)
}

/// An anonymous visitor typed an email (a pre-chat field): a claim. It gives the visitor
/// a customer (so agents see who claimed it) and attaches the address when nobody holds
/// it; when somebody does, agents get a suggestion and the visitor learns nothing.
pub fn claim_email(
    conn: &mut DbConn,
    visitor: &Visitor,
    email: &IdentityValue,
    name: Option<&CustomerName>,
) -> Result<(), DbError> {
    let customer = ensure_customer(conn, visitor, name)?;
    attach(conn, customer, email, Trust::Claimed)?;
    Ok(())
}

/// The visitor's customer, created (holding the visitor's identity) when they have none.
pub fn ensure_customer(
    conn: &mut DbConn,
    visitor: &Visitor,
    name: Option<&CustomerName>,
) -> Result<CustomerId, DbError> {
    if let Some((customer, _, _)) = customer_of(conn, visitor)? {
        return Ok(customer);
    }
    let trust = if visitor.verified { Trust::Verified } else { Trust::Claimed };
    let source = if visitor.verified { TrustSource::SignedToken } else { TrustSource::Sender };
    match customers::create(conn, name, &[NewIdentity { value: visitor.identity.clone(), trust, source }]) {
        Ok(profile) => Ok(profile.customer.id),
        Err(DbError::IdentityTaken { customer, .. }) => Ok(customer),
        Err(other) => Err(other),
    }
}

/// How many messages a first load shows.
pub const HISTORY_LIMIT: i64 = 200;

/// What the visitor may read of their thread, oldest first, at most the latest
/// [`HISTORY_LIMIT`]: a signed user every public message on every channel; an anonymous
/// visitor what they wrote and the chat answers in those tickets. Never internal notes.
pub fn history(conn: &mut DbConn, visitor: &Visitor) -> Result<Vec<Message>, DbError> {
    let Some((_, thread, identity)) = customer_of(conn, visitor)? else {
        return Ok(vec![]);
    };
    let ids: Vec<String> = match visitor.history() {
        History::Thread => messages_table::table
            .filter(messages_table::thread_id.eq(thread.to_string()))
            .filter(messages_table::direction.ne(Direction::Note.as_str()))
            .order((messages_table::created_at.desc(), messages_table::id.desc()))
            .limit(HISTORY_LIMIT)
            .select(messages_table::id)
            .load(conn)?,
        History::Own => {
            let tickets = own_tickets(conn, thread, identity)?;
            messages_table::table
                .filter(messages_table::thread_id.eq(thread.to_string()))
                .filter(
                    messages_table::identity_id.eq(identity.to_string()).or(messages_table::direction
                        .eq(Direction::Outbound.as_str())
                        .and(messages_table::channel.eq(Channel::Chat.as_str()))
                        .and(messages_table::ticket_id.eq_any(tickets.iter().map(ToString::to_string)))),
                )
                .order((messages_table::created_at.desc(), messages_table::id.desc()))
                .limit(HISTORY_LIMIT)
                .select(messages_table::id)
                .load(conn)?
        }
    };
    messages::get_many(conn, &ids)
}

/// The tickets an identity wrote in: an anonymous visitor reads the chat answers in them.
pub fn own_tickets(conn: &mut DbConn, thread: ThreadId, identity: IdentityId) -> Result<Vec<TicketId>, DbError> {
    let ids: Vec<Option<String>> = messages_table::table
        .filter(messages_table::thread_id.eq(thread.to_string()))
        .filter(messages_table::identity_id.eq(identity.to_string()))
        .select(messages_table::ticket_id)
        .distinct()
        .load(conn)?;
    ids.into_iter().flatten().map(|id| Ok(id.parse()?)).collect()
}

/// What decides whether a visitor may read a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readable {
    pub direction: Direction,
    pub channel: Channel,
    pub identity_id: Option<IdentityId>,
    pub ticket_id: Option<TicketId>,
}

impl From<&Message> for Readable {
    fn from(m: &Message) -> Self {
        Readable { direction: m.direction, channel: m.channel, identity_id: m.identity_id, ticket_id: m.ticket_id }
    }
}

/// Whether `visitor` (writing as `identity`) may read a message (`own`: the tickets they
/// wrote in, for an anonymous visitor). Never an internal note.
pub fn may_read(visitor: &Visitor, identity: Option<IdentityId>, own: &[TicketId], message: &Readable) -> bool {
    if message.direction == Direction::Note {
        return false;
    }
    match visitor.history() {
        History::Thread => true,
        History::Own => {
            (message.direction == Direction::Inbound && identity.is_some() && message.identity_id == identity)
                || (message.direction == Direction::Outbound
                    && message.channel == Channel::Chat
                    && message.ticket_id.is_some_and(|t| own.contains(&t)))
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SeenBy {
    /// `visitor` or `agent`.
    pub by: &'static str,
    pub visitor_id: Option<VisitorId>,
    pub agent_id: Option<braid_core::AgentId>,
    pub message_id: MessageId,
    pub ticket_id: Option<TicketId>,
}

/// The visitor saw their thread up to `message`: our chat replies up to it become
/// `delivered` (the fallback then never emails them), and a `message.seen` event tells the
/// agents. Taken under the thread's lock, which the fallback takes too, so a reply is
/// either seen or sent by email, never both decided at once.
pub fn mark_seen(conn: &mut DbConn, visitor: &Visitor, message: MessageId) -> Result<(), DbError> {
    dialect::write_transaction(conn, |conn| {
        let Some((customer, thread, identity)) = customer_of(conn, visitor)? else {
            return Err(DbError::NotFound);
        };
        customers::lock_thread(conn, thread)?;
        let seen = messages::get(conn, message)?;
        let own = own_tickets(conn, thread, identity)?;
        if seen.thread_id != thread || !may_read(visitor, Some(identity), &own, &Readable::from(&seen)) {
            return Err(DbError::NotFound);
        }
        let at = crate::now();
        let mut delivered = diesel::update(
            messages_table::table
                .filter(messages_table::thread_id.eq(thread.to_string()))
                .filter(messages_table::channel.eq(Channel::Chat.as_str()))
                .filter(messages_table::direction.eq(Direction::Outbound.as_str()))
                .filter(messages_table::delivery_state.eq(DeliveryState::Queued.as_str()))
                .filter(messages_table::sent_via.is_null())
                .filter(messages_table::created_at.le(to_db(seen.created_at))),
        )
        .into_boxed();
        if visitor.history() == History::Own {
            delivered = delivered.filter(messages_table::ticket_id.eq_any(own.iter().map(ToString::to_string)));
        }
        delivered.set(messages_table::delivery_state.eq(DeliveryState::Delivered.as_str())).execute(conn)?;
        let payload = SeenBy {
            by: "visitor",
            visitor_id: Some(visitor.id),
            agent_id: None,
            message_id: seen.id,
            ticket_id: seen.ticket_id,
        };
        let mut event = NewEvent::new(EventKind::MessageSeen, seen.id, &payload, at)?.customer(customer);
        if let Some(ticket) = seen.ticket_id {
            event = event.ticket(ticket);
        }
        events::append(conn, vec![event])
    })
}

/// An agent (or an integration, `None`) read a customer's messages up to `message`: the
/// visitor's read receipt.
pub fn agent_seen(conn: &mut DbConn, agent: Option<braid_core::AgentId>, message: MessageId) -> Result<(), DbError> {
    dialect::write_transaction(conn, |conn| {
        let seen = messages::get(conn, message)?;
        let customer = customers::owner_of_thread(conn, seen.thread_id)?;
        let payload =
            SeenBy { by: "agent", visitor_id: None, agent_id: agent, message_id: seen.id, ticket_id: seen.ticket_id };
        let mut event = NewEvent::new(EventKind::MessageSeen, seen.id, &payload, crate::now())?.customer(customer);
        if let Some(ticket) = seen.ticket_id {
            event = event.ticket(ticket);
        }
        events::append(conn, vec![event])
    })
}
