//! The connector channel's storage: connectors and their keys (here), what their own ids
//! name (customers by identity `external:<name>`, tickets and conversations in
//! `connector_refs`), who delivers a ticket's replies, and the delivery states connectors
//! report.

use braid_core::connector::ConnectorName;
use braid_core::{
    Channel, ConnectorId, CustomerId, CustomerName, DeliveryState, Direction, EventKind, IdentityValue, MessageId,
    Priority, Subject, SuggestionId, TicketId, TicketStatus, Trust, TrustSource,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::auth::ApiKey;
use crate::customers::{CustomerProfile, NewIdentity};
use crate::events::{self, NewEvent};
use crate::messages::{self, Message};
use crate::schema::{connector_refs, connectors, messages as messages_table, outbox};
use crate::tickets::{self, NewTicket, Ticket, TicketChanges, UpdateError};
use crate::{DbConn, DbError, customers, dialect, from_db, to_db};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Connector {
    pub id: ConnectorId,
    pub name: String,
    /// Where agents' replies go; `None` keeps them queued.
    pub callback_url: Option<String>,
    /// Whether the emails and phones it gives are verified (else claimed).
    pub trusted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = connectors)]
struct Row {
    id: String,
    name: String,
    callback_url: Option<String>,
    trusted: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<Row> for Connector {
    type Error = DbError;

    fn try_from(row: Row) -> Result<Self, DbError> {
        Ok(Connector {
            id: row.id.parse()?,
            name: row.name,
            callback_url: row.callback_url,
            trusted: row.trusted,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

impl Connector {
    /// The identity a customer of this connector is known by.
    pub fn identity(&self, external_id: &str) -> Result<IdentityValue, DbError> {
        let name = ConnectorName::parse(&self.name)?;
        IdentityValue::parse(name.identity_kind(), external_id).map_err(|e| DbError::invalid("external_id", e))
    }
}

/// A new connector with its signing secret and first key.
#[derive(Debug, Clone)]
pub struct NewConnector {
    pub name: ConnectorName,
    pub callback_url: Option<String>,
    pub trusted: bool,
    /// Signs its callbacks (`whsec_…`).
    pub secret: String,
    pub key: NewKey,
}

/// A connector's API key, as `auth` stores keys: the public prefix and the secret's hash.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub prefix: String,
    pub secret_hash: String,
    pub created_by: Option<braid_core::AgentId>,
}

/// Whether a connector or a chat site names the `external:` namespace `name` already:
/// their customers' identities share it, so one name is one owner's.
pub fn namespace_taken(conn: &mut DbConn, name: &str) -> Result<bool, DbError> {
    use crate::schema::chat_sites;
    let sites: i64 = chat_sites::table.filter(chat_sites::slug.eq(name)).count().get_result(conn)?;
    let connectors: i64 = connectors::table.filter(connectors::name.eq(name)).count().get_result(conn)?;
    Ok(sites + connectors > 0)
}

/// Creates a connector and its first key; a name in use (by a connector or a chat site's
/// slug) is [`DbError::Conflict`].
pub fn create(conn: &mut DbConn, new: &NewConnector) -> Result<(Connector, ApiKey), DbError> {
    dialect::write_transaction(conn, |conn| {
        if namespace_taken(conn, new.name.as_str())? {
            return Err(DbError::Conflict("external namespace".into()));
        }
        let (id, at) = (ConnectorId::new(), crate::now());
        diesel::insert_into(connectors::table)
            .values((
                connectors::id.eq(id.to_string()),
                connectors::name.eq(new.name.as_str()),
                connectors::callback_url.eq(&new.callback_url),
                connectors::trusted.eq(new.trusted),
                connectors::secret.eq(&new.secret),
                connectors::created_at.eq(to_db(at)),
                connectors::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        let connector = get(conn, id)?;
        let key = insert_key(conn, &connector, &new.key)?;
        events::append(conn, vec![NewEvent::new(EventKind::ConnectorCreated, id, &connector, at)?])?;
        Ok((connector, key))
    })
}

/// Another key for the connector (rotation: add one, move the integration to it, revoke
/// the old one with `DELETE /v1/api-keys/{id}`).
pub fn add_key(conn: &mut DbConn, id: ConnectorId, key: &NewKey) -> Result<ApiKey, DbError> {
    dialect::write_transaction(conn, |conn| {
        let connector = get(conn, id)?;
        insert_key(conn, &connector, key)
    })
}

fn insert_key(conn: &mut DbConn, connector: &Connector, key: &NewKey) -> Result<ApiKey, DbError> {
    let name = format!("connector {}", connector.name);
    crate::auth::insert_api_key(conn, &name, &key.prefix, &key.secret_hash, &[], key.created_by, Some(connector.id))
}

pub fn get(conn: &mut DbConn, id: ConnectorId) -> Result<Connector, DbError> {
    connectors::table.find(id.to_string()).select(Row::as_select()).first(conn)?.try_into()
}

pub fn by_name(conn: &mut DbConn, name: &str) -> Result<Connector, DbError> {
    connectors::table.filter(connectors::name.eq(name)).select(Row::as_select()).first(conn)?.try_into()
}

/// The connector and the secrets that sign its callbacks now: its own, and the one it
/// replaced while that one's overlap lasts.
pub fn with_secrets(conn: &mut DbConn, id: ConnectorId) -> Result<(Connector, Vec<String>), DbError> {
    let (row, secret, previous, until): (Row, String, Option<String>, Option<NaiveDateTime>) = connectors::table
        .find(id.to_string())
        .select((Row::as_select(), connectors::secret, connectors::previous_secret, connectors::previous_secret_until))
        .first(conn)?;
    let mut secrets = vec![secret];
    if let (Some(previous), Some(until)) = (previous, until)
        && from_db(until) > crate::now()
    {
        secrets.push(previous);
    }
    Ok((row.try_into()?, secrets))
}

/// A new signing secret for the connector; the current one keeps signing beside it until
/// `previous_until`, so the connector can switch without refusing a callback.
pub fn rotate_secret(
    conn: &mut DbConn,
    id: ConnectorId,
    secret: &str,
    previous_until: DateTime<Utc>,
) -> Result<Connector, DbError> {
    dialect::write_transaction(conn, |conn| {
        let at = crate::now();
        let updated = diesel::update(connectors::table.find(id.to_string()))
            .set((
                connectors::previous_secret.eq(connectors::secret.nullable()),
                connectors::previous_secret_until.eq(Some(to_db(previous_until))),
                connectors::secret.eq(secret),
                connectors::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        let connector = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::ConnectorUpdated, id, &connector, at)?])?;
        Ok(connector)
    })
}

/// Every connector, by name (an installation has a handful).
pub fn list(conn: &mut DbConn, limit: i64) -> Result<Vec<Connector>, DbError> {
    connectors::table
        .order(connectors::name.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Connector::try_from)
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// `Some(None)` removes the callback.
    pub callback_url: Option<Option<String>>,
    pub trusted: Option<bool>,
}

pub fn update(conn: &mut DbConn, id: ConnectorId, changes: &Changes) -> Result<Connector, DbError> {
    dialect::write_transaction(conn, |conn| {
        let at = crate::now();
        let updated = diesel::update(connectors::table.find(id.to_string()))
            .set((
                changes.callback_url.as_ref().map(|url| connectors::callback_url.eq(url.clone())),
                changes.trusted.map(|trusted| connectors::trusted.eq(trusted)),
                connectors::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        let connector = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::ConnectorUpdated, id, &connector, at)?])?;
        Ok(connector)
    })
}

/// What a connector says about one of its customers.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub name: Option<CustomerName>,
    /// Normalised emails and phones.
    pub contacts: Vec<IdentityValue>,
}

/// A customer upserted by external id.
#[derive(Debug, Clone)]
pub struct Upserted {
    pub profile: CustomerProfile,
    pub created: bool,
    /// Contacts another customer holds: not added; agents were asked whether to merge.
    pub suggestions: Vec<SuggestionId>,
}

/// Creates or updates the connector's customer `external_id`: the name is set when given,
/// contacts are added (claimed, or verified for a trusted connector) and never removed.
/// A contact another customer holds stays theirs; a merge suggestion is recorded instead.
///
/// Each step is its own idempotent transaction, so a retry after a failure converges.
pub fn upsert_customer(
    conn: &mut DbConn,
    connector: &Connector,
    external_id: &str,
    profile: &Profile,
) -> Result<Upserted, DbError> {
    let identity = connector.identity(external_id)?;
    let (customer, created) = match customers::owner_of(conn, &identity)? {
        Some(customer) => (customer, false),
        None => {
            let new = NewIdentity { value: identity.clone(), trust: Trust::Verified, source: TrustSource::Connector };
            match customers::create(conn, profile.name.as_ref(), &[new]) {
                Ok(profile) => (profile.customer.id, true),
                Err(DbError::IdentityTaken { customer, .. }) => (customer, false),
                Err(other) => return Err(other),
            }
        }
    };
    let current = customers::profile(conn, customer)?;
    if !created
        && profile.name.is_some()
        && current.customer.name.as_deref() != profile.name.as_ref().map(CustomerName::as_str)
    {
        customers::rename(conn, customer, profile.name.as_ref())?;
    }
    let trust = if connector.trusted { Trust::Verified } else { Trust::Claimed };
    let mut suggestions = Vec::new();
    for contact in &profile.contacts {
        let held = current.identities.iter().find(|i| i.kind == contact.kind && i.value == contact.value);
        if held.is_some_and(|held| held.trust == Trust::Verified || trust == Trust::Claimed) {
            continue;
        }
        let new = NewIdentity { value: contact.clone(), trust, source: TrustSource::Connector };
        match customers::add_identity(conn, customer, &new) {
            Ok(_) => {}
            Err(DbError::IdentityTaken { suggestion, .. }) => suggestions.extend(suggestion),
            Err(other) => return Err(other),
        }
    }
    Ok(Upserted { profile: customers::profile(conn, customer)?, created, suggestions })
}

/// The connector's customer `external_id`, if it has one.
pub fn customer_of(conn: &mut DbConn, connector: &Connector, external_id: &str) -> Result<Option<CustomerId>, DbError> {
    customers::owner_of(conn, &connector.identity(external_id)?)
}

/// What a `connector_refs` row names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Ticket,
    Conversation,
}

impl RefKind {
    fn as_str(self) -> &'static str {
        match self {
            RefKind::Ticket => "ticket",
            RefKind::Conversation => "conversation",
        }
    }
}

/// The ticket the connector's ticket or conversation `external_id` names.
pub fn ticket_of(
    conn: &mut DbConn,
    connector: ConnectorId,
    kind: RefKind,
    external_id: &str,
) -> Result<Option<TicketId>, DbError> {
    let id: Option<String> = connector_refs::table
        .find((connector.to_string(), kind.as_str(), external_id))
        .select(connector_refs::ticket_id)
        .first(conn)
        .optional()?;
    Ok(id.map(|id| id.parse()).transpose()?)
}

/// Records that the connector's `external_id` names `ticket` now, inside the caller's
/// transaction (placement records a conversation's ticket with the message). Two first
/// records race on the primary key; the loser's transaction is retried.
pub fn remember(
    conn: &mut DbConn,
    connector: ConnectorId,
    kind: RefKind,
    external_id: &str,
    ticket: TicketId,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    let key = (connector.to_string(), kind.as_str(), external_id);
    let updated = diesel::update(connector_refs::table.find(key))
        .set((connector_refs::ticket_id.eq(ticket.to_string()), connector_refs::updated_at.eq(to_db(at))))
        .execute(conn)?;
    if updated == 0 {
        insert_ref(conn, connector, kind, external_id, ticket, at)?;
    }
    Ok(())
}

/// Records a new id; one recorded already is [`DbError::Conflict`].
fn insert_ref(
    conn: &mut DbConn,
    connector: ConnectorId,
    kind: RefKind,
    external_id: &str,
    ticket: TicketId,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::insert_into(connector_refs::table)
        .values((
            connector_refs::connector_id.eq(connector.to_string()),
            connector_refs::kind.eq(kind.as_str()),
            connector_refs::external_id.eq(external_id),
            connector_refs::ticket_id.eq(ticket.to_string()),
            connector_refs::updated_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a connector says about one of its tickets.
#[derive(Debug, Clone)]
pub struct TicketUpsert {
    /// The connector's customer the ticket is for (when creating it).
    pub customer: CustomerId,
    pub subject: Option<Subject>,
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
}

/// Creates or updates the connector's ticket `external_id`; whether it was created. Two
/// first upserts at once make one ticket: the one that loses the race on the id's row
/// updates the winner's.
pub fn upsert_ticket(
    conn: &mut DbConn,
    connector: ConnectorId,
    external_id: &str,
    upsert: &TicketUpsert,
) -> Result<(Ticket, bool), UpdateError> {
    for attempt in 1..=3 {
        if let Some(ticket) = ticket_of(conn, connector, RefKind::Ticket, external_id)? {
            return update_ticket(conn, ticket, upsert).map(|ticket| (ticket, false));
        }
        // A status a new ticket cannot take is refused before anything is made.
        if let Some(status) = upsert.status.filter(|s| *s != TicketStatus::Open)
            && !TicketStatus::Open.can_transition_to(status)
        {
            return Err(UpdateError::Transition { from: TicketStatus::Open, to: status });
        }
        let opened = dialect::write_transaction(conn, |conn| {
            // Made since the look-up (SQLite: by a writer that committed first).
            if ticket_of(conn, connector, RefKind::Ticket, external_id)?.is_some() {
                return Ok(None);
            }
            // Inside this transaction: `tickets::open` would begin its own.
            customers::lock_live(conn, upsert.customer)?;
            let at = crate::now();
            let ticket = tickets::create(
                conn,
                NewTicket {
                    customer_id: upsert.customer,
                    subject: upsert.subject.clone().unwrap_or_else(|| Subject::from_inbound(None)),
                    priority: upsert.priority.unwrap_or_default(),
                    channel: Channel::Api,
                    assignee_id: None,
                    team_id: None,
                    tags: vec![],
                    at,
                },
            )?;
            // Insert only: of two concurrent first upserts, the key lets one win.
            insert_ref(conn, connector, RefKind::Ticket, external_id, ticket.id, at)?;
            events::append(conn, vec![tickets::event(EventKind::TicketCreated, &ticket)?])?;
            Ok(Some(ticket))
        });
        match opened {
            Ok(Some(ticket)) if upsert.status.is_some_and(|status| status != ticket.status) => {
                let status = TicketChanges { status: upsert.status, ..Default::default() };
                return Ok((tickets::update(conn, ticket.id, None, &status)?, true));
            }
            Ok(Some(ticket)) => return Ok((ticket, true)),
            Ok(None) => {}
            Err(DbError::Conflict(_)) if attempt < 3 => {}
            Err(other) => return Err(other.into()),
        }
    }
    Err(DbError::Conflict("connector_refs".into()).into())
}

fn update_ticket(conn: &mut DbConn, ticket: TicketId, upsert: &TicketUpsert) -> Result<Ticket, UpdateError> {
    let changes = TicketChanges {
        subject: upsert.subject.clone(),
        status: upsert.status,
        priority: upsert.priority,
        ..Default::default()
    };
    if changes.is_empty() {
        return Ok(tickets::get(conn, ticket)?);
    }
    tickets::update(conn, ticket, None, &changes)
}

/// Where a ticket's replies go through a connector: the connector the customer last
/// wrote through in this ticket, else the one whose ticket it is. A reply keeps the route
/// it was written for (`details.route`), so a later message or merge cannot redirect it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Route {
    #[serde(rename = "connector_id")]
    pub connector: ConnectorId,
    /// The conversation the customer's last message came in (the connector threads the
    /// reply there).
    pub conversation_ref: Option<String>,
    /// The connector's own id for the ticket, when it gave one.
    pub ticket_external_id: Option<String>,
    /// The connector's id for the customer who wrote that last message.
    pub customer_external_id: Option<String>,
}

pub fn route_of(conn: &mut DbConn, ticket: TicketId) -> Result<Option<Route>, DbError> {
    let last: Option<(String, Option<String>)> = messages_table::table
        .filter(messages_table::ticket_id.eq(ticket.to_string()))
        .filter(messages_table::channel.eq(Channel::Api.as_str()))
        .filter(messages_table::direction.eq(Direction::Inbound.as_str()))
        .order((messages_table::created_at.desc(), messages_table::id.desc()))
        .select((messages_table::details, messages_table::identity_id))
        .first(conn)
        .optional()?;
    let from_message = match last {
        Some((details, identity)) => {
            let details: serde_json::Value = serde_json::from_str(&details)?;
            let connector = details.get("connector_id").and_then(|c| c.as_str()).and_then(|c| c.parse().ok());
            let conversation = details.get("conversation_ref").and_then(|c| c.as_str()).map(str::to_owned);
            let sender: Option<String> = match identity {
                Some(identity) => crate::schema::identities::table
                    .find(identity)
                    .select(crate::schema::identities::value)
                    .first(conn)
                    .optional()?,
                None => None,
            };
            connector.map(|connector: ConnectorId| (connector, conversation, sender))
        }
        None => None,
    };
    let owned: Option<(String, String)> = connector_refs::table
        .filter(connector_refs::ticket_id.eq(ticket.to_string()))
        .filter(connector_refs::kind.eq(RefKind::Ticket.as_str()))
        .select((connector_refs::connector_id, connector_refs::external_id))
        .first(conn)
        .optional()?;
    let owned = owned.map(|(connector, external)| Ok::<_, DbError>((connector.parse::<ConnectorId>()?, external)));
    let owned = owned.transpose()?;
    Ok(match (from_message, owned) {
        (Some((connector, conversation_ref, sender)), owned) => Some(Route {
            connector,
            conversation_ref,
            ticket_external_id: owned.filter(|(c, _)| *c == connector).map(|(_, external)| external),
            customer_external_id: sender,
        }),
        (None, Some((connector, external))) => Some(Route {
            connector,
            conversation_ref: None,
            ticket_external_id: Some(external),
            customer_external_id: None,
        }),
        (None, None) => None,
    })
}

/// The route a reply was written for, else (a reply queued before routes were kept) the
/// ticket's route now.
pub fn route_for_reply(conn: &mut DbConn, reply: &Message) -> Result<Option<Route>, DbError> {
    if let Some(route) = reply.details.get("route").and_then(|r| serde_json::from_value(r.clone()).ok()) {
        return Ok(Some(route));
    }
    match reply.ticket_id {
        Some(ticket) => route_of(conn, ticket),
        None => Ok(None),
    }
}

/// The channel reference a reply goes out with through `connector`: `<name>:<delivery>`,
/// so a report names only the connector's own replies.
pub fn outbound_ref(connector: &Connector, delivery: braid_core::OutboxId) -> String {
    format!("{}:{delivery}", connector.name)
}

/// Whether `message` is a reply that went out through `connector` (its channel reference
/// names it: see [`outbound_ref`]).
pub fn is_own_reply(connector: &Connector, message: &Message) -> bool {
    message.direction == Direction::Outbound
        && message.channel == Channel::Api
        && message.channel_ref.as_deref().is_some_and(|r| r.starts_with(&format!("{}:", connector.name)))
}

/// A report the connector may not make.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The message is already further along (or failed): states only move forward.
    #[error("the message is already {0}")]
    Behind(DeliveryState),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The connector reports how far one of its replies got. The same report twice is
/// answered as the first; a report behind the message's state is refused. A report of
/// anything but `failed` also ends the callback's retries (the connector has it).
pub fn report(
    conn: &mut DbConn,
    connector: &Connector,
    message: MessageId,
    state: DeliveryState,
    error: Option<&str>,
) -> Result<Message, ReportError> {
    let result = dialect::write_transaction(conn, |conn| {
        let current = messages::get(conn, message)?;
        if !is_own_reply(connector, &current) {
            return Err(DbError::NotFound);
        }
        let now = current.delivery_state.unwrap_or(DeliveryState::Queued);
        if now == state {
            return Ok(Ok(current));
        }
        if !now.may_become(state) {
            return Ok(Err(ReportError::Behind(now)));
        }
        let mut details = current.details.clone();
        if let (Some(error), Some(object)) = (error, details.as_object_mut()) {
            object.insert("delivery_error".into(), serde_json::Value::String(error.to_owned()));
        }
        let before: Vec<&str> = DeliveryState::before(state).into_iter().map(DeliveryState::as_str).collect();
        let changed = diesel::update(
            messages_table::table.find(message.to_string()).filter(messages_table::delivery_state.eq_any(before)),
        )
        .set((messages_table::delivery_state.eq(state.as_str()), messages_table::details.eq(details.to_string())))
        .execute(conn)?;
        if changed == 0 {
            return Err(DbError::Moved);
        }
        let outbox_state = if state == DeliveryState::Failed { "failed" } else { "sent" };
        diesel::update(
            outbox::table
                .filter(outbox::message_id.eq(message.to_string()))
                .filter(outbox::channel.eq(Channel::Api.as_str()))
                .filter(outbox::state.eq("pending")),
        )
        .set((outbox::state.eq(outbox_state), outbox::last_error.eq(error), outbox::updated_at.eq(to_db(crate::now()))))
        .execute(conn)?;
        let updated = messages::get(conn, message)?;
        let customer = customers::owner_of_thread(conn, updated.thread_id)?;
        let event = messages::updated_event(&updated, customer, crate::now())?;
        events::append(conn, vec![event])?;
        Ok(Ok(updated))
    });
    match result {
        Ok(answer) => answer,
        // A concurrent report moved it first: answer from where it is now.
        Err(DbError::Moved) => report(conn, connector, message, state, error),
        Err(other) => Err(other.into()),
    }
}
