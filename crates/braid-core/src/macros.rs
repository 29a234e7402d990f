//! Macros: a named list of typed actions an agent applies to a ticket in one step (set
//! the status, priority, assignee, team or tags; write a reply or a note), with
//! placeholders in the texts filled from the ticket, the customer and the agent:
//! `{{customer.first_name | default: "there"}}`. A canned response is a macro whose only
//! action is a reply.
//!
//! Templates are parsed once, when a macro is saved, so a misspelt field is a 422 then
//! rather than a surprise in a customer's inbox. Planning is pure: it renders the texts,
//! names every placeholder it could not fill, and works out what would change.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::attribute::AttributeKey;
use crate::preferences::Preference;
use crate::{AgentId, InvalidValue, Priority, Tag, TeamId, TicketStatus};

pub const MAX_NAME_CHARS: usize = 120;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
pub const MAX_ACTIONS: usize = 9;
/// As long as a reply may be, before and after the placeholders are filled.
pub const MAX_TEXT_CHARS: usize = 100_000;
pub const MAX_PLACEHOLDERS: usize = 200;
pub const MAX_DEFAULT_CHARS: usize = 1000;

/// The fields a placeholder may read, besides `customer.attributes.<key>` and
/// `customer.preferences.<language|time_zone|channel>`.
pub const TICKET_FIELDS: &[&str] = &["id", "number", "subject", "status", "priority", "channel"];
pub const CUSTOMER_FIELDS: &[&str] = &["name", "first_name", "last_name", "email", "phone"];
pub const AGENT_FIELDS: &[&str] = &["name", "first_name", "email"];

/// What a placeholder reads, spelled as in the template: `ticket.number`,
/// `customer.first_name`, `customer.attributes.plan`, `customer.preferences.language`,
/// `agent.name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Field(String);

impl Field {
    pub fn parse(path: &str) -> Result<Self, String> {
        let parts: Vec<&str> = path.split('.').collect();
        let known = match parts.as_slice() {
            ["ticket", field] => TICKET_FIELDS.contains(field),
            ["customer", "attributes", key] => AttributeKey::parse(key).is_ok(),
            ["customer", "preferences", name] => name.parse::<Preference>().is_ok(),
            ["customer", field] => CUSTOMER_FIELDS.contains(field),
            ["agent", field] => AGENT_FIELDS.contains(field),
            _ => false,
        };
        if !known {
            return Err(format!(
                "`{}` is not a field; fields are ticket.{{{}}}, customer.{{{}}}, customer.attributes.<key>, \
                 customer.preferences.{{language,time_zone,channel}} and agent.{{{}}}",
                path.chars().take(80).collect::<String>(),
                TICKET_FIELDS.join(","),
                CUSTOMER_FIELDS.join(","),
                AGENT_FIELDS.join(","),
            ));
        }
        Ok(Field(path.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the placeholders can be filled with, by field path. A blank value is no value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values(BTreeMap<String, String>);

impl Values {
    pub fn set(&mut self, path: impl Into<String>, value: impl Into<String>) {
        let value = value.into();
        if !value.trim().is_empty() {
            self.0.insert(path.into(), value);
        }
    }

    pub fn get(&self, field: &Field) -> Option<&str> {
        self.0.get(field.as_str()).map(String::as_str)
    }

    /// A person's name as `name`, `first_name` and `last_name` under `prefix`: the first
    /// word is the first name, the rest the last name.
    pub fn set_name(&mut self, prefix: &str, name: &str) {
        let name = name.trim();
        self.set(format!("{prefix}.name"), name);
        let mut words = name.splitn(2, char::is_whitespace);
        self.set(format!("{prefix}.first_name"), words.next().unwrap_or_default());
        self.set(format!("{prefix}.last_name"), words.next().unwrap_or_default().trim());
    }
}

/// A `{{field | default: "text"}}` in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub field: Field,
    pub default: Option<String>,
    /// As written, left in a preview when it cannot be filled.
    raw: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Placeholder(Placeholder),
}

/// A text with placeholders. `{{` always opens one; `}}` outside one is plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// Where a template is wrong, as a 1-based character position in the (trimmed) text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {position}: {message}")]
pub struct TemplateError {
    pub position: usize,
    pub message: String,
}

impl TryFrom<String> for Template {
    type Error = TemplateError;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Self::parse(&input)
    }
}

impl From<Template> for String {
    fn from(template: Template) -> String {
        template.source
    }
}

impl Template {
    pub fn parse(input: &str) -> Result<Self, TemplateError> {
        let source = crate::text::multiline("text", input, MAX_TEXT_CHARS)
            .map_err(|e| TemplateError { position: 1, message: e.message })?;
        let at = |byte: usize| source[..byte].chars().count() + 1;
        let (mut parts, mut from, mut placeholders) = (vec![], 0, 0);
        while let Some(offset) = source[from..].find("{{") {
            let open = from + offset;
            if open > from {
                parts.push(Part::Text(source[from..open].to_owned()));
            }
            let (inner_end, close_end) =
                closing(&source, open + 2).map_err(|(byte, message)| TemplateError { position: at(byte), message })?;
            let placeholder = placeholder(&source[open + 2..inner_end], &source[open..close_end])
                .map_err(|message| TemplateError { position: at(open), message })?;
            placeholders += 1;
            if placeholders > MAX_PLACEHOLDERS {
                return Err(TemplateError {
                    position: at(open),
                    message: format!("a text holds at most {MAX_PLACEHOLDERS} placeholders"),
                });
            }
            parts.push(Part::Placeholder(placeholder));
            from = close_end;
        }
        if from < source.len() {
            parts.push(Part::Text(source[from..].to_owned()));
        }
        Ok(Template { source, parts })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.parts.iter().filter_map(|part| match part {
            Part::Placeholder(p) => Some(p),
            Part::Text(_) => None,
        })
    }

    /// The text with every placeholder filled by its value, else its default; one with
    /// neither stays as written and is named in `unresolved`.
    pub fn render(&self, values: &Values) -> Rendered {
        let (mut text, mut unresolved) = (String::with_capacity(self.source.len()), BTreeSet::new());
        for part in &self.parts {
            match part {
                Part::Text(plain) => text.push_str(plain),
                Part::Placeholder(p) => match (values.get(&p.field), &p.default) {
                    (Some(value), _) => text.push_str(value),
                    (None, Some(default)) => text.push_str(default),
                    (None, None) => {
                        text.push_str(&p.raw);
                        unresolved.insert(p.field.clone());
                    }
                },
            }
        }
        Rendered { text, unresolved: unresolved.into_iter().collect() }
    }
}

/// Where the placeholder opened at `from` closes: the end of its inside and of its `}}`.
/// Quotes in a default may hold `}}`.
fn closing(source: &str, from: usize) -> Result<(usize, usize), (usize, String)> {
    let bytes = source.as_bytes();
    let (mut quote, mut i) = (None, from);
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if bytes[i..].starts_with(b"}}") => return Ok((i, i + 2)),
            None if bytes[i..].starts_with(b"{{") => {
                return Err((i, "a placeholder cannot hold another `{{`".into()));
            }
            None => {}
        }
        i += 1;
    }
    Err((from - 2, "`{{` is never closed by `}}`".into()))
}

/// The inside of `{{ … }}`: a field, then optionally `| default: "text"`.
fn placeholder(inside: &str, raw: &str) -> Result<Placeholder, String> {
    let (path, filter) = match inside.split_once('|') {
        Some((path, filter)) => (path, Some(filter)),
        None => (inside, None),
    };
    let path = path.trim();
    if path.is_empty() {
        return Err("a placeholder names a field: `{{customer.first_name}}`".into());
    }
    let field = Field::parse(path)?;
    let default = filter.map(default_of).transpose()?;
    Ok(Placeholder { field, default, raw: raw.to_owned() })
}

/// `default: "text"` (or single quotes), with `\"`, `\'`, `\\` and `\n` escapes.
fn default_of(filter: &str) -> Result<String, String> {
    let wrong = || "the only filter is `default: \"text\"`".to_owned();
    let rest = filter.trim().strip_prefix("default").ok_or_else(wrong)?;
    let rest = rest.trim_start().strip_prefix(':').ok_or_else(wrong)?.trim_start();
    let mut chars = rest.chars();
    let quote = chars.next().filter(|c| *c == '"' || *c == '\'').ok_or_else(wrong)?;
    let mut value = String::new();
    loop {
        match chars.next() {
            None => return Err("the default's quote is never closed".into()),
            Some(c) if c == quote => break,
            Some('\\') => match chars.next() {
                Some('n') => value.push('\n'),
                Some(c @ ('"' | '\'' | '\\')) => value.push(c),
                _ => return Err("a default's escapes are \\\", \\', \\\\ and \\n".into()),
            },
            Some(c) if c.is_control() && c != '\n' && c != '\t' => {
                return Err("a default cannot hold control characters".into());
            }
            Some(c) => value.push(c),
        }
    }
    if !chars.as_str().trim().is_empty() {
        return Err(wrong());
    }
    if value.chars().count() > MAX_DEFAULT_CHARS {
        return Err(format!("a default is at most {MAX_DEFAULT_CHARS} characters"));
    }
    Ok(value)
}

/// A template filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub text: String,
    /// The fields with neither a value nor a default, each once.
    pub unresolved: Vec<Field>,
}

/// One step of a macro.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    SetStatus {
        status: TicketStatus,
    },
    SetPriority {
        priority: Priority,
    },
    /// `null` unassigns.
    SetAssignee {
        agent_id: Option<AgentId>,
    },
    /// Assigns the agent who applies the macro.
    AssignToMe,
    /// `null` removes the team.
    SetTeam {
        team_id: Option<TeamId>,
    },
    AddTags {
        tags: Vec<Tag>,
    },
    RemoveTags {
        tags: Vec<Tag>,
    },
    /// A reply to the customer on the ticket's usual route.
    Reply {
        text: Template,
    },
    /// An internal note.
    Note {
        text: Template,
    },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::SetStatus { .. } => "set_status",
            Action::SetPriority { .. } => "set_priority",
            Action::SetAssignee { .. } => "set_assignee",
            Action::AssignToMe => "assign_to_me",
            Action::SetTeam { .. } => "set_team",
            Action::AddTags { .. } => "add_tags",
            Action::RemoveTags { .. } => "remove_tags",
            Action::Reply { .. } => "reply",
            Action::Note { .. } => "note",
        }
    }
}

/// A macro's actions: 1 to [`MAX_ACTIONS`], each kind at most once, `set_assignee` or
/// `assign_to_me` but not both, and no tag both added and removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Action>", into = "Vec<Action>")]
pub struct Actions(Vec<Action>);

impl TryFrom<Vec<Action>> for Actions {
    type Error = InvalidValue;

    fn try_from(actions: Vec<Action>) -> Result<Self, Self::Error> {
        Self::new(actions)
    }
}

impl From<Actions> for Vec<Action> {
    fn from(actions: Actions) -> Self {
        actions.0
    }
}

impl Actions {
    pub fn new(actions: Vec<Action>) -> Result<Self, InvalidValue> {
        let invalid = |message: String| Err(InvalidValue::new("actions", message));
        if actions.is_empty() || actions.len() > MAX_ACTIONS {
            return invalid(format!("a macro has 1 to {MAX_ACTIONS} actions"));
        }
        let mut kinds = BTreeSet::new();
        for action in &actions {
            if !kinds.insert(action.kind()) {
                return invalid(format!("`{}` appears twice", action.kind()));
            }
        }
        if kinds.contains("set_assignee") && kinds.contains("assign_to_me") {
            return invalid("`set_assignee` and `assign_to_me` cannot both be given".into());
        }
        let (mut added, mut removed) = (BTreeSet::new(), BTreeSet::new());
        for action in &actions {
            match action {
                Action::AddTags { tags } | Action::RemoveTags { tags }
                    if tags.is_empty() || tags.len() > Tag::MAX_PER_TICKET =>
                {
                    return invalid(format!("`{}` names 1 to {} tags", action.kind(), Tag::MAX_PER_TICKET));
                }
                Action::AddTags { tags } => added.extend(tags),
                Action::RemoveTags { tags } => removed.extend(tags),
                _ => {}
            }
        }
        if let Some(tag) = added.intersection(&removed).next() {
            return invalid(format!("the tag `{}` is both added and removed", tag.as_str()));
        }
        Ok(Actions(actions))
    }

    pub fn as_slice(&self) -> &[Action] {
        &self.0
    }

    /// A canned response: a reply and nothing else.
    pub fn is_canned_response(&self) -> bool {
        matches!(self.0.as_slice(), [Action::Reply { .. }])
    }

    /// What applying these actions to `ticket` would do, for `caller` (an agent, or
    /// `None` for an API key), with the texts filled from `values`. Fields the ticket
    /// already has are left out of the changes, so a macro that changes nothing makes no
    /// new version.
    pub fn plan(&self, ticket: &TicketState, caller: Option<AgentId>, values: &Values) -> Result<Plan, PlanError> {
        let mut plan = Plan::default();
        let mut tags: BTreeSet<Tag> = ticket.tags.iter().cloned().collect();
        for action in &self.0 {
            match action {
                Action::SetStatus { status } if *status != ticket.status => {
                    if !ticket.status.can_transition_to(*status) {
                        return Err(PlanError::Transition { from: ticket.status, to: *status });
                    }
                    plan.status = Some(*status);
                }
                Action::SetPriority { priority } if *priority != ticket.priority => plan.priority = Some(*priority),
                Action::SetAssignee { agent_id } if *agent_id != ticket.assignee_id => {
                    plan.assignee_id = Some(*agent_id);
                }
                Action::AssignToMe => {
                    let me = caller.ok_or(PlanError::NoAgent)?;
                    if Some(me) != ticket.assignee_id {
                        plan.assignee_id = Some(Some(me));
                    }
                }
                Action::SetTeam { team_id } if *team_id != ticket.team_id => plan.team_id = Some(*team_id),
                Action::AddTags { tags: added } => tags.extend(added.iter().cloned()),
                Action::RemoveTags { tags: removed } => tags.retain(|t| !removed.contains(t)),
                Action::Reply { text } => plan.reply = Some(filled(text, values, "reply")?),
                Action::Note { text } => plan.note = Some(filled(text, values, "note")?),
                Action::SetStatus { .. }
                | Action::SetPriority { .. }
                | Action::SetAssignee { .. }
                | Action::SetTeam { .. } => {}
            }
        }
        if tags.len() > Tag::MAX_PER_TICKET {
            return Err(PlanError::Invalid(InvalidValue::new(
                "tags",
                format!("the ticket would carry more than {} tags", Tag::MAX_PER_TICKET),
            )));
        }
        if tags != ticket.tags.iter().cloned().collect::<BTreeSet<_>>() {
            plan.tags = Some(tags.into_iter().collect());
        }
        Ok(plan)
    }
}

fn filled(template: &Template, values: &Values, field: &'static str) -> Result<Rendered, PlanError> {
    let rendered = template.render(values);
    if rendered.text.trim().is_empty() {
        return Err(PlanError::Invalid(InvalidValue::new(
            field,
            format!("filled in, the {field} would be empty: give its placeholders defaults with text"),
        )));
    }
    if rendered.text.chars().count() > MAX_TEXT_CHARS {
        return Err(PlanError::Invalid(InvalidValue::new(
            field,
            format!("filled in, the {field} would be longer than {MAX_TEXT_CHARS} characters"),
        )));
    }
    Ok(rendered)
}

/// The ticket as a macro finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketState {
    pub status: TicketStatus,
    pub priority: Priority,
    pub assignee_id: Option<AgentId>,
    pub team_id: Option<TeamId>,
    pub tags: Vec<Tag>,
}

/// What a macro would do: the changed fields (`None`: as it is) and the filled texts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Option<AgentId>>,
    pub team_id: Option<Option<TeamId>>,
    pub tags: Option<Vec<Tag>>,
    pub reply: Option<Rendered>,
    pub note: Option<Rendered>,
}

impl Plan {
    /// Every placeholder left unfilled, with the action it is in: any blocks applying.
    pub fn unresolved(&self) -> Vec<(&'static str, Field)> {
        let texts = [("reply", &self.reply), ("note", &self.note)];
        texts
            .into_iter()
            .flat_map(|(action, text)| {
                text.iter().flat_map(move |t| t.unresolved.iter().map(move |field| (action, field.clone())))
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("a ticket cannot move from {from} to {to}")]
    Transition { from: TicketStatus, to: TicketStatus },
    #[error("`assign_to_me` needs an agent: an API key applies it for nobody")]
    NoAgent,
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
}

/// A macro's name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, one line.
pub fn name(input: &str) -> Result<String, InvalidValue> {
    let name = input.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(InvalidValue::new("name", format!("1 to {MAX_NAME_CHARS} characters on one line")));
    }
    Ok(name.to_owned())
}

/// A macro's description: trimmed, at most [`MAX_DESCRIPTION_CHARS`]; blank is none.
pub fn description(input: &str) -> Result<Option<String>, InvalidValue> {
    if input.trim().is_empty() {
        return Ok(None);
    }
    crate::text::multiline("description", input, MAX_DESCRIPTION_CHARS).map(Some)
}

#[cfg(test)]
mod tests;
