//! What each kind of event carries as its `payload`: the resource as the API shows it (a
//! `message.created` carries the message as `GET /v1/messages/{id}` shows it, text
//! included), or, for what has no resource of its own (a removal, a merge, a read receipt),
//! one of the records below. The feed, the live stream and webhooks carry the same JSON.
//!
//! The OpenAPI document lists every kind under `webhooks` (`openapi::finish` builds them
//! from [`schema_of`]); `tests/api/event_payloads.rs` checks real events of every kind
//! against it.

use braid_core::EventKind;
use serde_json::Value;
use utoipa::ToSchema;

/// The component schema a kind's payload follows.
pub fn schema_of(kind: EventKind) -> &'static str {
    use EventKind::*;
    match kind {
        CustomerCreated | CustomerUpdated => "CustomerView",
        IdentityAdded => "IdentityView",
        IdentityUpdated => "IdentityUpdatedPayload",
        IdentityRemoved => "IdentityRemovedPayload",
        CustomerMerged => "CustomerMergedPayload",
        CustomerUnmerged => "CustomerUnmergedPayload",
        MergeSuggestionCreated | MergeSuggestionUpdated => "SuggestionView",
        CustomerAttributesUpdated => "CustomerAttributesUpdatedPayload",
        CustomerPreferencesUpdated => "CustomerPreferencesUpdatedPayload",
        AttributeDefinitionCreated | AttributeDefinitionUpdated => "AttributeDefinitionView",
        AttributeDefinitionDeleted => "AttributeDefinitionDeletedPayload",
        CustomerNoteCreated | CustomerNoteUpdated => "CustomerNoteView",
        CustomerNoteDeleted => "CustomerNoteDeletedPayload",
        TicketCreated | TicketUpdated => "TicketView",
        MessageCreated | MessageUpdated => "MessageView",
        MessageSeen => "MessageSeenPayload",
        AgentCreated | AgentUpdated => "AgentView",
        TeamCreated | TeamUpdated => "TeamView",
        ChatSiteCreated | ChatSiteUpdated => "SiteView",
        WebhookCreated | WebhookUpdated | WebhookDisabled | WebhookDeleted => "WebhookView",
        ConnectorCreated | ConnectorUpdated => "ConnectorView",
        FormCreated | FormUpdated => "FormView",
        TicketSlaBreached => "BreachView",
        ScheduleCreated | ScheduleUpdated => "ScheduleView",
        SlaPolicyCreated | SlaPolicyUpdated => "SlaPolicyView",
        TicketSnoozed => "TicketView",
        TicketWoke => "TicketWokePayload",
        ReminderCreated | ReminderFired | ReminderCancelled => "ReminderView",
        MacroCreated | MacroUpdated => "MacroView",
        MacroDeleted => "MacroDeletedPayload",
        TicketMacroApplied => "MacroAppliedPayload",
        SurveySent | SurveyRated => "SurveyView",
        CsatSettingsUpdated => "CsatSettingsView",
        TicketRouted => "RoutedView",
        AgentPresenceChanged => "PresenceChangedPayload",
        RoutingSettingsUpdated => "RoutingSettingsView",
    }
}

/// What a kind means, for the document.
pub fn describe(kind: EventKind) -> &'static str {
    use EventKind::*;
    match kind {
        CustomerCreated => "A customer was made: by an agent or integration, or by a first message from someone new.",
        CustomerUpdated => "A customer's name changed.",
        IdentityAdded => "A customer got another identity (an email, a phone, an external id).",
        IdentityUpdated => "An identity's trust changed (an email round trip proved it, an agent vouched for it).",
        IdentityRemoved => "An identity was taken off a customer.",
        CustomerMerged => "Two customers became one (`target_id` lives on).",
        CustomerUnmerged => "A merge was undone.",
        MergeSuggestionCreated => "Two customers may be one person: a suggestion for agents.",
        MergeSuggestionUpdated => "A merge suggestion was accepted or dismissed.",
        CustomerAttributesUpdated => "Some of a customer's attribute values changed.",
        CustomerPreferencesUpdated => "An agent set or cleared a customer's language, time zone or channel.",
        AttributeDefinitionCreated => "An attribute was defined.",
        AttributeDefinitionUpdated => "An attribute's definition changed.",
        AttributeDefinitionDeleted => "An attribute was deleted, with every customer's value of it.",
        CustomerNoteCreated => "An agent wrote a note about a customer.",
        CustomerNoteUpdated => "A note about a customer was edited.",
        CustomerNoteDeleted => "A note about a customer was deleted.",
        TicketCreated => "A ticket was opened.",
        TicketUpdated => "A ticket changed (status, assignee, team, priority, tags, subject).",
        MessageCreated => "A message was written: a customer's, an agent's reply, or an internal note.",
        MessageUpdated => "A message's delivery changed (sent, delivered, read, failed, or sent another way).",
        MessageSeen => "A chat visitor or an agent read a conversation up to a message.",
        AgentCreated => "An agent was added.",
        AgentUpdated => "An agent changed (name, role, deactivation).",
        TeamCreated => "A team was made.",
        TeamUpdated => "A team changed (name, members, deactivation).",
        ChatSiteCreated => "A chat site was registered.",
        ChatSiteUpdated => "A chat site changed (origins, secrets, strictness).",
        WebhookCreated => "A webhook endpoint was registered (its URL shown by origin only).",
        WebhookUpdated => "A webhook endpoint changed, or its secret was rotated.",
        WebhookDisabled => "Braid disabled a webhook endpoint: it answered 410 Gone, or failed for days.",
        WebhookDeleted => "A webhook endpoint was deleted.",
        ConnectorCreated => "A connector was registered.",
        ConnectorUpdated => "A connector changed (callback URL, trust).",
        FormCreated => "A web form was created.",
        FormUpdated => "A web form changed, or was turned off or on.",
        TicketSlaBreached => {
            "A ticket missed a target of its SLA policy (first reply, next reply or resolution); once per clock."
        }
        ScheduleCreated => "A business-hours schedule was created.",
        ScheduleUpdated => "A schedule was renamed, or a new version of its hours took effect.",
        SlaPolicyCreated => "An SLA policy was created.",
        SlaPolicyUpdated => "An SLA policy changed, or was turned off or on.",
        TicketSnoozed => "A ticket was snoozed, or its snooze moved: out of the default list until `snoozed_until`.",
        TicketWoke => "A snoozed ticket is back: its time came, the customer wrote, or an agent woke it.",
        ReminderCreated => "A reminder was set on a ticket for an agent.",
        ReminderFired => "A reminder fell due: tell its agent (`agent_id`).",
        ReminderCancelled => "A reminder was cancelled, by an agent or by the customer's reply.",
        MacroCreated => "A shared macro (or canned response) was created. Personal macros make no events.",
        MacroUpdated => "A shared macro was changed.",
        MacroDeleted => "A shared macro was deleted.",
        TicketMacroApplied => {
            "An agent applied a macro to a ticket; what it wrote and changed follows as `message.created` and \
             `ticket.updated`."
        }
        SurveySent => "A satisfaction survey went to the customer on the ticket's channel.",
        SurveyRated => "The customer rated a survey, or changed the rating or comment.",
        CsatSettingsUpdated => "The satisfaction survey settings changed.",
        TicketRouted => {
            "A team's routing chose an agent for a ticket, found nobody, or took it from an offline agent; with the reason."
        }
        AgentPresenceChanged => "An agent came online, or set themselves away or offline.",
        RoutingSettingsUpdated => "The routing settings changed (the default team of a channel).",
    }
}

/// `ticket.woke`: the ticket as it now is, why it woke, and until when it had been snoozed.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct TicketWokePayload {
    pub ticket: crate::tickets::TicketView,
    /// `due`, `customer_replied`, `unsnoozed` or `solved`.
    pub reason: String,
    pub snoozed_until: chrono::DateTime<chrono::Utc>,
}

/// `agent.presence_changed`: what the agent is now.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct PresenceChangedPayload {
    #[schema(format = Uuid)]
    pub agent_id: String,
    /// `online`, `away` or `offline`.
    pub status: String,
    pub lease_until: chrono::DateTime<chrono::Utc>,
}

/// `macro.deleted`.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct MacroDeletedPayload {
    #[schema(format = Uuid)]
    pub id: String,
}

/// `ticket.macro_applied`: which macro, by whom, what it wrote, and the ticket's version
/// after it.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct MacroAppliedPayload {
    #[schema(format = Uuid)]
    pub ticket_id: String,
    #[schema(format = Uuid)]
    pub macro_id: String,
    /// `null` for a personal macro: its name is its owner's business.
    pub macro_name: Option<String>,
    /// `null` when an API key applied it.
    #[schema(format = Uuid)]
    pub agent_id: Option<String>,
    /// The reply and the note it wrote.
    pub message_ids: Vec<String>,
    pub ticket_version: i64,
}

/// `identity.updated`: the identity as it is now, and its trust before.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct IdentityUpdatedPayload {
    pub identity: crate::customers::IdentityView,
    /// `verified` or `claimed`.
    pub trust_before: String,
}

/// `identity.removed`.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct IdentityRemovedPayload {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub customer_id: String,
}

/// Row ids by kind; messages by count (they follow their thread).
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct MovedRecord {
    pub identities: Vec<String>,
    pub tickets: Vec<String>,
    pub notes: Vec<String>,
    pub messages: u64,
}

/// A field a merge changed on the target.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct FieldChangeRecord {
    /// `name`, `preferences.<name>` or `attributes.<key>`.
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// `customer.merged`: what moved from `source_id` to `target_id` (`GET /v1/merges/{merge_id}`
/// has the whole record).
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct CustomerMergedPayload {
    #[schema(format = Uuid)]
    pub merge_id: String,
    #[schema(format = Uuid)]
    pub target_id: String,
    #[schema(format = Uuid)]
    pub source_id: String,
    /// `agent` (asked for), `suggestion` (an accepted suggestion) or `verified_link` (a
    /// signed identity proved both one person).
    pub reason: String,
    pub moved: MovedRecord,
    pub fields: Vec<FieldChangeRecord>,
}

/// `customer.unmerged`, once for each of the two customers.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct CustomerUnmergedPayload {
    #[schema(format = Uuid)]
    pub merge_id: String,
    #[schema(format = Uuid)]
    pub target_id: String,
    #[schema(format = Uuid)]
    pub source_id: String,
    pub returned: MovedRecord,
    /// Tickets holding messages from both sides since the merge: an agent should look.
    pub review_tickets: Vec<String>,
}

/// One attribute's change.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct AttributeChangeRecord {
    pub key: String,
    /// `null`: it had no value.
    pub old: Option<Value>,
    /// `null`: the value was removed.
    pub new: Option<Value>,
}

/// `customer.attributes_updated`.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct CustomerAttributesUpdatedPayload {
    #[schema(format = Uuid)]
    pub customer_id: String,
    /// `agent` or `connector`.
    pub source: String,
    pub changes: Vec<AttributeChangeRecord>,
}

/// `customer.preferences_updated`: the customer's preferences as they are now.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct CustomerPreferencesUpdatedPayload {
    #[schema(format = Uuid)]
    pub customer_id: String,
    pub preferences: crate::customers::preferences::PreferencesView,
}

/// `attribute_definition.deleted`: the definition as it was.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct AttributeDefinitionDeletedPayload {
    pub key: String,
    pub definition: crate::customers::attributes::AttributeDefinitionView,
    /// How many customers' values went with it.
    pub values_removed: u64,
}

/// `customer_note.deleted`.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct CustomerNoteDeletedPayload {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub customer_id: String,
}

/// `message.seen`: who read up to which message.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a schema for the document: events are written by braid-db")]
pub struct MessageSeenPayload {
    /// `visitor` or `agent`.
    pub by: String,
    #[schema(format = Uuid)]
    pub visitor_id: Option<String>,
    #[schema(format = Uuid)]
    pub agent_id: Option<String>,
    #[schema(format = Uuid)]
    pub message_id: String,
    #[schema(format = Uuid)]
    pub ticket_id: Option<String>,
}
