//! Macros: stored, listed, and applied to a ticket in one transaction (the reply, the note,
//! the changes and the record of it), or tried as a dry run that writes nothing. A shared
//! macro is every agent's; a personal one is its owner's alone, and to anyone else it
//! does not exist.

use braid_core::macros::{Action, Actions, Plan, PlanError, TicketState, Values};
use braid_core::{AgentId, Channel, EventKind, IdentityKind, MacroId, TicketId, TicketStatus, Trust};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::events::{self, NewEvent};
use crate::messages::{AgentMessage, Message};
use crate::schema::macros;
use crate::tickets::{Ticket, TicketChanges, UpdateError};
use crate::{Cursor, DbConn, DbError, Page, dialect, from_db, to_db};

/// Shared macros an installation keeps at most, and personal ones per agent.
pub const MAX_SHARED: i64 = 2000;
pub const MAX_PERSONAL: i64 = 500;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Macro {
    pub id: MacroId,
    pub name: String,
    pub description: Option<String>,
    /// `None`: shared with every agent.
    pub owner_agent_id: Option<AgentId>,
    pub actions: Actions,
    pub canned_response: bool,
    pub created_by: Option<AgentId>,
    pub version: i64,
    pub applied_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Macro {
    /// `shared` or `personal`.
    pub fn visibility(&self) -> &'static str {
        if self.owner_agent_id.is_some() { "personal" } else { "shared" }
    }

    /// As events carry it: as the API shows it.
    pub fn shown(&self) -> Shown<'_> {
        Shown { visibility: self.visibility(), macro_: self }
    }
}

/// A macro with its visibility spelt out.
#[derive(Debug, Serialize)]
pub struct Shown<'a> {
    pub visibility: &'static str,
    #[serde(flatten)]
    pub macro_: &'a Macro,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = macros)]
struct Row {
    id: String,
    name: String,
    description: Option<String>,
    owner_agent_id: Option<String>,
    actions: String,
    canned_response: bool,
    created_by: Option<String>,
    version: i64,
    applied_count: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<Row> for Macro {
    type Error = DbError;

    fn try_from(row: Row) -> Result<Self, DbError> {
        Ok(Macro {
            id: row.id.parse()?,
            name: row.name,
            description: row.description,
            owner_agent_id: row.owner_agent_id.map(|id| id.parse()).transpose()?,
            actions: serde_json::from_str(&row.actions)?,
            canned_response: row.canned_response,
            created_by: row.created_by.map(|id| id.parse()).transpose()?,
            version: row.version,
            applied_count: row.applied_count,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

#[derive(Debug)]
pub struct NewMacro {
    pub name: String,
    pub description: Option<String>,
    /// `None`: shared.
    pub owner_agent_id: Option<AgentId>,
    pub actions: Actions,
    pub created_by: Option<AgentId>,
}

/// The attributes a macro's placeholders read must be defined: a misspelt key is a
/// mistake to refuse when the macro is saved, not a placeholder left unfilled later.
fn check_attributes(conn: &mut DbConn, actions: &Actions) -> Result<(), DbError> {
    let read: Vec<String> = actions
        .as_slice()
        .iter()
        .filter_map(|action| match action {
            Action::Reply { text } | Action::Note { text } => Some(text),
            _ => None,
        })
        .flat_map(|text| text.placeholders())
        .filter_map(|p| p.field.as_str().strip_prefix("customer.attributes.").map(str::to_owned))
        .collect();
    if read.is_empty() {
        return Ok(());
    }
    let defined: Vec<String> =
        crate::customers::attributes::list(conn)?.into_iter().map(|d| d.key.to_string()).collect();
    match read.iter().find(|key| !defined.contains(key)) {
        Some(key) => Err(DbError::Invalid {
            field: "actions".into(),
            message: format!("customer.attributes.{key} reads an attribute nobody defined"),
        }),
        None => Ok(()),
    }
}

/// The agents and teams a macro names must exist and take tickets.
fn check_references(conn: &mut DbConn, actions: &Actions) -> Result<(), DbError> {
    for action in actions.as_slice() {
        match action {
            Action::SetAssignee { agent_id: Some(agent) } => match crate::agents::get(conn, *agent) {
                Ok(found) if found.active => {}
                Ok(_) | Err(DbError::NotFound) => {
                    return Err(DbError::Invalid {
                        field: "actions".into(),
                        message: format!("set_assignee names {agent}, who is no active agent"),
                    });
                }
                Err(other) => return Err(other),
            },
            Action::SetTeam { team_id: Some(team) } if !crate::teams::is_active(conn, *team)? => {
                return Err(DbError::Invalid {
                    field: "actions".into(),
                    message: format!("set_team names {team}, which is no active team"),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

pub fn create(conn: &mut DbConn, new: NewMacro) -> Result<Macro, DbError> {
    dialect::write_transaction(conn, |conn| {
        // Counted under a lock: concurrent creates cannot pass the cap together.
        dialect::lock_key(conn, "macros")?;
        let owner = new.owner_agent_id.map(|id| id.to_string());
        let (count, max) = match &owner {
            Some(owner) => {
                (macros::table.filter(macros::owner_agent_id.eq(owner)).count().get_result::<i64>(conn)?, MAX_PERSONAL)
            }
            None => {
                (macros::table.filter(macros::owner_agent_id.is_null()).count().get_result::<i64>(conn)?, MAX_SHARED)
            }
        };
        if count >= max {
            return Err(DbError::OverLimit { field: "macros", max: max as usize });
        }
        check_references(conn, &new.actions)?;
        check_attributes(conn, &new.actions)?;
        let (id, at) = (MacroId::new(), crate::now());
        diesel::insert_into(macros::table)
            .values((
                macros::id.eq(id.to_string()),
                macros::name.eq(&new.name),
                macros::folded_name.eq(new.name.to_lowercase()),
                macros::description.eq(&new.description),
                macros::owner_agent_id.eq(owner),
                macros::actions.eq(serde_json::to_string(&new.actions)?),
                macros::canned_response.eq(new.actions.is_canned_response()),
                macros::created_by.eq(new.created_by.map(|id| id.to_string())),
                macros::version.eq(1),
                macros::applied_count.eq(0),
                macros::created_at.eq(to_db(at)),
                macros::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        let created = get(conn, id)?;
        announce(conn, EventKind::MacroCreated, &created, at)?;
        Ok(created)
    })
}

fn get(conn: &mut DbConn, id: MacroId) -> Result<Macro, DbError> {
    macros::table.find(id.to_string()).select(Row::as_select()).first(conn)?.try_into()
}

/// The macro when `viewer` may see it: shared, or their own. Anyone else's personal macro
/// is [`DbError::NotFound`], as if it did not exist.
pub fn visible(conn: &mut DbConn, id: MacroId, viewer: Option<AgentId>) -> Result<Macro, DbError> {
    let found = get(conn, id)?;
    match found.owner_agent_id {
        Some(owner) if Some(owner) != viewer => Err(DbError::NotFound),
        _ => Ok(found),
    }
}

/// Narrows a list; `None` is no condition.
#[derive(Debug, Clone, Default)]
pub struct MacroFilter {
    /// `Some(true)`: only shared; `Some(false)`: only the viewer's own.
    pub shared: Option<bool>,
    pub canned_response: Option<bool>,
    /// Part of the name, in any case.
    pub name_contains: Option<String>,
}

/// The macros `viewer` sees (the shared ones and their own), oldest first.
pub fn list(
    conn: &mut DbConn,
    viewer: Option<AgentId>,
    filter: &MacroFilter,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Page<Macro>, DbError> {
    let mut query =
        macros::table.select(Row::as_select()).order((macros::created_at.asc(), macros::id.asc())).into_boxed();
    let mine = viewer.map(|id| id.to_string()).unwrap_or_default();
    query = match filter.shared {
        Some(true) => query.filter(macros::owner_agent_id.is_null()),
        Some(false) => query.filter(macros::owner_agent_id.eq(mine)),
        None => query.filter(macros::owner_agent_id.is_null().or(macros::owner_agent_id.eq(mine))),
    };
    if let Some(canned) = filter.canned_response {
        query = query.filter(macros::canned_response.eq(canned));
    }
    if let Some(part) = &filter.name_contains {
        let escaped = part.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        query = query.filter(macros::folded_name.like(format!("%{escaped}%")).escape('\\'));
    }
    if let Some(cursor) = after {
        let at = to_db(cursor.at);
        query =
            query.filter(macros::created_at.ge(at).and(macros::created_at.gt(at).or(macros::id.gt(cursor.id.clone()))));
    }
    let rows: Vec<Row> = query.limit(limit + 1).load(conn)?;
    let found = rows.into_iter().map(Macro::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(found, limit, |m| Cursor { at: m.created_at, id: m.id.to_string() }))
}

/// What an update sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MacroChanges {
    pub name: Option<String>,
    /// `Some(None)` removes it.
    pub description: Option<Option<String>>,
    pub actions: Option<Actions>,
}

/// Applies `changes` and records the new version.
pub fn update(conn: &mut DbConn, id: MacroId, changes: &MacroChanges) -> Result<Macro, DbError> {
    dialect::write_transaction(conn, |conn| {
        let before = get(conn, id)?;
        if let Some(actions) = &changes.actions {
            check_references(conn, actions)?;
            check_attributes(conn, actions)?;
        }
        let name = changes.name.clone().unwrap_or(before.name);
        let description = changes.description.clone().unwrap_or(before.description);
        let actions = changes.actions.clone().unwrap_or(before.actions);
        let at = crate::now();
        let updated = diesel::update(macros::table.find(id.to_string()).filter(macros::version.eq(before.version)))
            .set((
                macros::folded_name.eq(name.to_lowercase()),
                macros::name.eq(name),
                macros::description.eq(description),
                macros::canned_response.eq(actions.is_canned_response()),
                macros::actions.eq(serde_json::to_string(&actions)?),
                macros::version.eq(before.version + 1),
                macros::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        // Guarded by the version read: of two concurrent edits, the second is refused
        // rather than silently undoing the first.
        if updated == 0 {
            return Err(DbError::Refused("the macro changed meanwhile; read it again".into()));
        }
        let after = get(conn, id)?;
        announce(conn, EventKind::MacroUpdated, &after, at)?;
        Ok(after)
    })
}

pub fn delete(conn: &mut DbConn, id: MacroId) -> Result<(), DbError> {
    dialect::write_transaction(conn, |conn| {
        let gone = get(conn, id)?;
        diesel::delete(macros::table.find(id.to_string())).execute(conn)?;
        if gone.owner_agent_id.is_some() {
            return Ok(());
        }
        let at = crate::now();
        events::append(conn, vec![NewEvent::new(EventKind::MacroDeleted, id, &serde_json::json!({"id": gone.id}), at)?])
    })
}

/// A shared macro's change is an event. A personal one's is not: the log is read by
/// every agent and integration, and a personal macro is its owner's alone.
fn announce(conn: &mut DbConn, kind: EventKind, changed: &Macro, at: DateTime<Utc>) -> Result<(), DbError> {
    if changed.owner_agent_id.is_some() {
        return Ok(());
    }
    events::append(conn, vec![NewEvent::new(kind, changed.id, &changed.shown(), at)?])
}

/// Why a macro was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("no macro with this id")]
    MacroNotFound,
    #[error("placeholders have neither a value nor a default")]
    Unresolved(Vec<(&'static str, braid_core::macros::Field)>),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Update(#[from] UpdateError),
}

impl From<DbError> for ApplyError {
    fn from(error: DbError) -> Self {
        ApplyError::Update(UpdateError::Db(error))
    }
}

impl From<diesel::result::Error> for ApplyError {
    fn from(error: diesel::result::Error) -> Self {
        DbError::from(error).into()
    }
}

/// A macro applied, or what it would do.
#[derive(Debug, Clone)]
pub struct Applied {
    pub macro_: Macro,
    /// As it now is; on a dry run, as it would be (its version unchanged).
    pub ticket: Ticket,
    pub plan: Plan,
    /// Where the reply goes (or would go).
    pub reply_channel: Option<Channel>,
    /// What was written: the reply, then the note. None on a dry run.
    pub messages: Vec<Message>,
}

/// Who applies a macro: the agent (`None` for an API key), and whether they may read
/// the customer's contact details and attributes (`customers:read`). Without it those
/// placeholders stay unfilled.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub agent: Option<AgentId>,
    pub reads_customers: bool,
}

/// Applies `macro_id` to `ticket_id` for `caller` (an agent; `None` for an API key): the
/// reply and the note are written first, then the ticket's fields change, all in one
/// transaction under the ticket's lock, with `ticket.macro_applied` last. A placeholder
/// left unfilled refuses the whole macro. `dry_run` answers the same without writing.
pub fn apply(
    conn: &mut DbConn,
    ticket_id: TicketId,
    macro_id: MacroId,
    caller: Caller,
    expected_version: Option<i64>,
    dry_run: bool,
) -> Result<Applied, ApplyError> {
    if dry_run {
        let ticket = crate::tickets::get(conn, ticket_id)?;
        let (macro_, plan) = prepare(conn, &ticket, macro_id, caller, expected_version)?;
        let reply_channel = match plan.reply {
            Some(_) => Some(crate::messages::default_route(conn, ticket.id, ticket.channel)?.0),
            None => None,
        };
        let ticket = preview(ticket, &plan);
        return Ok(Applied { macro_, ticket, plan, reply_channel, messages: vec![] });
    }
    dialect::write_transaction(conn, |conn| {
        let customer = crate::tickets::get(conn, ticket_id)?.customer_id;
        let thread = crate::customers::thread_of(conn, customer)?;
        crate::customers::lock_thread(conn, thread)?;
        let ticket = crate::tickets::get(conn, ticket_id)?;
        if ticket.customer_id != customer {
            return Err(DbError::Moved.into());
        }
        let (macro_, plan) = prepare(conn, &ticket, macro_id, caller, expected_version)?;
        let unresolved = plan.unresolved();
        if !unresolved.is_empty() {
            return Err(ApplyError::Unresolved(unresolved));
        }
        let now = crate::now();
        let details = serde_json::json!({ "macro_id": macro_.id });
        let message = |text: &str| AgentMessage {
            ticket: ticket.id,
            customer,
            thread,
            author_agent_id: caller.agent,
            text: text.to_owned(),
            details: details.clone(),
        };
        let (mut messages, mut written, mut reply_channel) = (vec![], vec![], None);
        if let Some(reply) = &plan.reply {
            let (channel, route) = crate::messages::default_route(conn, ticket.id, ticket.channel)?;
            let mut reply = message(&reply.text);
            if let (Some(route), Some(details)) = (route, reply.details.as_object_mut()) {
                details.insert("route".into(), route);
            }
            let (stored, event) = crate::messages::queue_reply_in(conn, reply, channel, now)?;
            reply_channel = Some(channel);
            messages.push(stored);
            written.push(event);
        }
        if let Some(note) = &plan.note {
            let (stored, event) = crate::messages::note_in(conn, message(&note.text), now)?;
            messages.push(stored);
            written.push(event);
        }
        events::append(conn, written)?;
        let changes = TicketChanges {
            subject: None,
            status: plan.status,
            priority: plan.priority,
            assignee_id: plan.assignee_id,
            team_id: plan.team_id,
            tags: plan.tags.clone(),
        };
        if !changes.is_empty() {
            crate::tickets::update_in(conn, ticket.id, None, &changes)?;
        } else if plan.reply.is_some() {
            let refreshed = crate::messages::after_reply_in(conn, ticket.id, now)?;
            events::append(conn, refreshed)?;
        }
        diesel::update(macros::table.find(macro_.id.to_string()))
            .set(macros::applied_count.eq(macros::applied_count + 1))
            .execute(conn)?;
        let ticket = crate::tickets::get(conn, ticket.id)?;
        let record = AppliedRecord {
            ticket_id: ticket.id,
            macro_id: macro_.id,
            // A personal macro's name is its owner's business.
            macro_name: macro_.owner_agent_id.is_none().then_some(macro_.name.as_str()),
            agent_id: caller.agent,
            message_ids: messages.iter().map(|m| m.id.to_string()).collect(),
            ticket_version: ticket.version,
        };
        let event = NewEvent::new(EventKind::TicketMacroApplied, ticket.id, &record, now)?
            .customer(ticket.customer_id)
            .ticket(ticket.id);
        events::append(conn, vec![event])?;
        Ok(Applied { macro_, ticket, plan, reply_channel, messages })
    })
}

/// The payload of `ticket.macro_applied`.
#[derive(Serialize)]
struct AppliedRecord<'a> {
    ticket_id: TicketId,
    macro_id: MacroId,
    macro_name: Option<&'a str>,
    agent_id: Option<AgentId>,
    message_ids: Vec<String>,
    ticket_version: i64,
}

/// The macro, checked against the ticket, and its plan.
fn prepare(
    conn: &mut DbConn,
    ticket: &Ticket,
    macro_id: MacroId,
    caller: Caller,
    expected_version: Option<i64>,
) -> Result<(Macro, Plan), ApplyError> {
    if let Some(expected) = expected_version
        && expected != ticket.version
    {
        return Err(UpdateError::Stale { expected, actual: ticket.version }.into());
    }
    let macro_ = match visible(conn, macro_id, caller.agent) {
        Err(DbError::NotFound) => return Err(ApplyError::MacroNotFound),
        other => other?,
    };
    if ticket.status == TicketStatus::Closed {
        return Err(DbError::TicketClosed.into());
    }
    check_references(conn, &macro_.actions)?;
    let state = TicketState {
        status: ticket.status,
        priority: ticket.priority,
        assignee_id: ticket.assignee_id,
        team_id: ticket.team_id,
        tags: ticket.tags.clone(),
    };
    let values = values(conn, ticket, caller)?;
    let plan = macro_.actions.plan(&state, caller.agent, &values)?;
    Ok((macro_, plan))
}

/// The ticket as the plan would leave it.
fn preview(mut ticket: Ticket, plan: &Plan) -> Ticket {
    ticket.status = plan.status.unwrap_or(ticket.status);
    ticket.priority = plan.priority.unwrap_or(ticket.priority);
    ticket.assignee_id = plan.assignee_id.unwrap_or(ticket.assignee_id);
    ticket.team_id = plan.team_id.unwrap_or(ticket.team_id);
    ticket.tags = plan.tags.clone().unwrap_or(ticket.tags);
    ticket
}

/// What placeholders can read: the ticket, the agent applying the macro, and (for a
/// caller who may read customers) its customer: name, best email and phone, attributes,
/// preferences.
fn values(conn: &mut DbConn, ticket: &Ticket, caller: Caller) -> Result<Values, DbError> {
    let mut values = Values::default();
    values.set("ticket.id", ticket.id.to_string());
    values.set("ticket.number", ticket.number.get().to_string());
    values.set("ticket.subject", ticket.subject.as_str());
    values.set("ticket.status", ticket.status.as_str());
    values.set("ticket.priority", ticket.priority.as_str());
    values.set("ticket.channel", ticket.channel.as_str());
    if let Some(agent) = caller.agent {
        let agent = crate::agents::get(conn, agent)?;
        values.set_name("agent", agent.name.as_str());
        values.set("agent.email", agent.email.as_str());
    }
    if !caller.reads_customers {
        return Ok(values);
    }
    let customer = crate::customers::get(conn, ticket.customer_id)?;
    if let Some(name) = &customer.name {
        values.set_name("customer", name);
    }
    let identities = crate::customers::identities_of(conn, customer.id)?;
    for (kind, path) in [(IdentityKind::Email, "customer.email"), (IdentityKind::Phone, "customer.phone")] {
        // A verified one before a claimed one, then the oldest.
        let best =
            identities.iter().filter(|i| i.kind == kind).min_by_key(|i| (i.trust != Trust::Verified, i.created_at));
        if let Some(identity) = best {
            values.set(path, identity.value.as_str());
        }
    }
    for attribute in crate::customers::attributes::stored(conn, customer.id)? {
        values.set(format!("customer.attributes.{}", attribute.key), shown(&attribute.value));
    }
    for (preference, value) in crate::customers::preferences::of(conn, customer.id)? {
        values.set(format!("customer.preferences.{}", preference.as_str()), value.value);
    }
    Ok(values)
}

/// An attribute's value as text: a string as it is, a list joined by commas, anything else
/// as JSON writes it.
fn shown(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join(", "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}
