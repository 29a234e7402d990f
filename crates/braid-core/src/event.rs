//! Events: every change Braid makes is recorded as one, in a log whose order never changes
//! once read (see braid-db's `events`). The one log feeds the live stream, outbound
//! webhooks and the connector sync feed.

use serde::{Deserialize, Serialize};

use crate::text_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "customer.created")]
    CustomerCreated,
    #[serde(rename = "customer.updated")]
    CustomerUpdated,
    #[serde(rename = "identity.added")]
    IdentityAdded,
    #[serde(rename = "identity.removed")]
    IdentityRemoved,
    #[serde(rename = "identity.updated")]
    IdentityUpdated,
    #[serde(rename = "customer.merged")]
    CustomerMerged,
    #[serde(rename = "customer.unmerged")]
    CustomerUnmerged,
    #[serde(rename = "merge_suggestion.created")]
    MergeSuggestionCreated,
    #[serde(rename = "merge_suggestion.updated")]
    MergeSuggestionUpdated,
    #[serde(rename = "customer.attributes_updated")]
    CustomerAttributesUpdated,
    /// An agent set or cleared a customer's language, time zone or channel.
    #[serde(rename = "customer.preferences_updated")]
    CustomerPreferencesUpdated,
    #[serde(rename = "attribute_definition.created")]
    AttributeDefinitionCreated,
    #[serde(rename = "attribute_definition.updated")]
    AttributeDefinitionUpdated,
    #[serde(rename = "attribute_definition.deleted")]
    AttributeDefinitionDeleted,
    #[serde(rename = "customer_note.created")]
    CustomerNoteCreated,
    #[serde(rename = "customer_note.updated")]
    CustomerNoteUpdated,
    #[serde(rename = "customer_note.deleted")]
    CustomerNoteDeleted,
    #[serde(rename = "ticket.created")]
    TicketCreated,
    #[serde(rename = "ticket.updated")]
    TicketUpdated,
    #[serde(rename = "message.created")]
    MessageCreated,
    #[serde(rename = "message.updated")]
    MessageUpdated,
    #[serde(rename = "agent.created")]
    AgentCreated,
    #[serde(rename = "agent.updated")]
    AgentUpdated,
    #[serde(rename = "team.created")]
    TeamCreated,
    #[serde(rename = "team.updated")]
    TeamUpdated,
    #[serde(rename = "chat_site.created")]
    ChatSiteCreated,
    #[serde(rename = "chat_site.updated")]
    ChatSiteUpdated,
    /// A participant read messages up to one (a visitor, or an agent).
    #[serde(rename = "message.seen")]
    MessageSeen,
    #[serde(rename = "webhook.created")]
    WebhookCreated,
    #[serde(rename = "webhook.updated")]
    WebhookUpdated,
    /// Braid disabled an endpoint: it answered 410 Gone, or failed for days.
    #[serde(rename = "webhook.disabled")]
    WebhookDisabled,
    #[serde(rename = "webhook.deleted")]
    WebhookDeleted,
    #[serde(rename = "connector.created")]
    ConnectorCreated,
    #[serde(rename = "connector.updated")]
    ConnectorUpdated,
    #[serde(rename = "form.created")]
    FormCreated,
    #[serde(rename = "form.updated")]
    FormUpdated,
    /// A target of the ticket's SLA policy was missed (announced once per clock).
    #[serde(rename = "ticket.sla_breached")]
    TicketSlaBreached,
    #[serde(rename = "schedule.created")]
    ScheduleCreated,
    /// Renamed, or a new version of its hours took effect.
    #[serde(rename = "schedule.updated")]
    ScheduleUpdated,
    #[serde(rename = "sla_policy.created")]
    SlaPolicyCreated,
    #[serde(rename = "sla_policy.updated")]
    SlaPolicyUpdated,
    /// A ticket was snoozed (or its snooze moved): out of the default list until then.
    #[serde(rename = "ticket.snoozed")]
    TicketSnoozed,
    /// A snoozed ticket is back: its time came, the customer wrote, or an agent woke it.
    #[serde(rename = "ticket.woke")]
    TicketWoke,
    #[serde(rename = "reminder.created")]
    ReminderCreated,
    /// A reminder fell due: tell its agent.
    #[serde(rename = "reminder.fired")]
    ReminderFired,
    #[serde(rename = "reminder.cancelled")]
    ReminderCancelled,
    #[serde(rename = "macro.created")]
    MacroCreated,
    #[serde(rename = "macro.updated")]
    MacroUpdated,
    #[serde(rename = "macro.deleted")]
    MacroDeleted,
    /// An agent applied a macro: what it changed and wrote follows as `ticket.updated`
    /// and `message.created`.
    #[serde(rename = "ticket.macro_applied")]
    TicketMacroApplied,
    /// A satisfaction survey went to the customer.
    #[serde(rename = "survey.sent")]
    SurveySent,
    /// The customer rated (or changed their rating).
    #[serde(rename = "survey.rated")]
    SurveyRated,
    #[serde(rename = "csat_settings.updated")]
    CsatSettingsUpdated,
    /// A team's routing chose an agent for a ticket, or found nobody, and why.
    #[serde(rename = "ticket.routed")]
    TicketRouted,
    /// An agent came online, went away or offline.
    #[serde(rename = "agent.presence_changed")]
    AgentPresenceChanged,
    #[serde(rename = "routing_settings.updated")]
    RoutingSettingsUpdated,
}

text_enum!(EventKind, "kind", {
    CustomerCreated => "customer.created", CustomerUpdated => "customer.updated",
    IdentityAdded => "identity.added", IdentityRemoved => "identity.removed",
    IdentityUpdated => "identity.updated",
    CustomerMerged => "customer.merged", CustomerUnmerged => "customer.unmerged",
    MergeSuggestionCreated => "merge_suggestion.created", MergeSuggestionUpdated => "merge_suggestion.updated",
    CustomerAttributesUpdated => "customer.attributes_updated",
    CustomerPreferencesUpdated => "customer.preferences_updated",
    AttributeDefinitionCreated => "attribute_definition.created",
    AttributeDefinitionUpdated => "attribute_definition.updated",
    AttributeDefinitionDeleted => "attribute_definition.deleted",
    CustomerNoteCreated => "customer_note.created", CustomerNoteUpdated => "customer_note.updated",
    CustomerNoteDeleted => "customer_note.deleted",
    TicketCreated => "ticket.created", TicketUpdated => "ticket.updated",
    MessageCreated => "message.created", MessageUpdated => "message.updated",
    AgentCreated => "agent.created", AgentUpdated => "agent.updated",
    TeamCreated => "team.created", TeamUpdated => "team.updated",
    ChatSiteCreated => "chat_site.created", ChatSiteUpdated => "chat_site.updated",
    MessageSeen => "message.seen",
    WebhookCreated => "webhook.created", WebhookUpdated => "webhook.updated",
    WebhookDisabled => "webhook.disabled", WebhookDeleted => "webhook.deleted",
    ConnectorCreated => "connector.created", ConnectorUpdated => "connector.updated",
    FormCreated => "form.created", FormUpdated => "form.updated",
    TicketSlaBreached => "ticket.sla_breached",
    ScheduleCreated => "schedule.created", ScheduleUpdated => "schedule.updated",
    SlaPolicyCreated => "sla_policy.created", SlaPolicyUpdated => "sla_policy.updated",
    TicketSnoozed => "ticket.snoozed", TicketWoke => "ticket.woke",
    ReminderCreated => "reminder.created", ReminderFired => "reminder.fired",
    ReminderCancelled => "reminder.cancelled",
    MacroCreated => "macro.created", MacroUpdated => "macro.updated", MacroDeleted => "macro.deleted",
    TicketMacroApplied => "ticket.macro_applied",
    SurveySent => "survey.sent", SurveyRated => "survey.rated", CsatSettingsUpdated => "csat_settings.updated",
    TicketRouted => "ticket.routed", AgentPresenceChanged => "agent.presence_changed",
    RoutingSettingsUpdated => "routing_settings.updated",
});

impl EventKind {
    /// The kinds a selector names: a kind (`message.created`), a family (`message.*`) or
    /// everything (`*`). `None` when it names no kind.
    pub fn matching(selector: &str) -> Option<Vec<EventKind>> {
        let kinds: Vec<_> = match selector {
            "*" => Self::ALL.to_vec(),
            _ => match selector.strip_suffix(".*") {
                Some(family) => Self::ALL
                    .iter()
                    .copied()
                    .filter(|kind| kind.as_str().split_once('.').map(|(f, _)| f) == Some(family))
                    .collect(),
                None => selector.parse().ok().into_iter().collect(),
            },
        };
        (!kinds.is_empty()).then_some(kinds)
    }

    /// The kinds a list of selectors names, sorted and each once; empty when they name
    /// every kind (no filter at all). `Err` holds the first selector that names none.
    pub fn selected<'a>(selectors: impl IntoIterator<Item = &'a str>) -> Result<Vec<EventKind>, &'a str> {
        let mut kinds = Vec::new();
        for selector in selectors {
            kinds.extend(Self::matching(selector).ok_or(selector)?);
        }
        kinds.sort_by_key(|kind| kind.as_str());
        kinds.dedup();
        if kinds.len() == Self::ALL.len() {
            kinds.clear();
        }
        Ok(kinds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_name_kinds_once_and_every_kind_is_no_filter() {
        let kinds = EventKind::selected(["message.*", "message.created"]).unwrap();
        assert_eq!(kinds, vec![EventKind::MessageCreated, EventKind::MessageSeen, EventKind::MessageUpdated]);
        assert_eq!(EventKind::selected(["ticket.*", "*"]), Ok(vec![]));
        assert_eq!(EventKind::selected(["ticket.created", "nope.*"]), Err("nope.*"));
    }

    #[test]
    fn a_selector_names_a_kind_a_family_or_everything() {
        assert_eq!(EventKind::matching("ticket.created"), Some(vec![EventKind::TicketCreated]));
        assert_eq!(
            EventKind::matching("ticket.*"),
            Some(vec![
                EventKind::TicketCreated,
                EventKind::TicketUpdated,
                EventKind::TicketSlaBreached,
                EventKind::TicketSnoozed,
                EventKind::TicketWoke,
                EventKind::TicketMacroApplied,
                EventKind::TicketRouted,
            ])
        );
        assert_eq!(
            EventKind::matching("reminder.*"),
            Some(vec![EventKind::ReminderCreated, EventKind::ReminderFired, EventKind::ReminderCancelled])
        );
        assert_eq!(EventKind::matching("*").map(|k| k.len()), Some(EventKind::ALL.len()));
        // A family is a whole first segment: `customer.*` is not `customer_note.*`.
        assert!(!EventKind::matching("customer.*").unwrap().contains(&EventKind::CustomerNoteCreated));
        for nothing in ["ticket", "tick*", "nope.*", "", ".*", "ticket.created.*"] {
            assert_eq!(EventKind::matching(nothing), None, "{nothing}");
        }
    }
}
