//! Merge suggestions: a claimed identity that another customer already holds. Nothing
//! merges by itself on a claim (`braid_core::merge::link`); agents see the evidence and
//! accept (a merge) or dismiss.

use braid_core::merge::MergeReason;
use braid_core::{CustomerId, EventKind, IdentityKind, IdentityValue, SuggestionId};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::final_customer;
use super::merges::{self, MergeRecord, MergeRequest};
use crate::events::NewEvent;
use crate::schema::merge_suggestions;
use crate::{Cursor, DbConn, DbError, Page, dialect, events, from_db, to_db};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionState {
    Open,
    Accepted,
    Dismissed,
}

impl SuggestionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Accepted => "accepted",
            Self::Dismissed => "dismissed",
        }
    }

    fn parse(text: &str) -> Result<Self, DbError> {
        match text {
            "open" => Ok(Self::Open),
            "accepted" => Ok(Self::Accepted),
            "dismissed" => Ok(Self::Dismissed),
            other => Err(DbError::Corrupt(format!("suggestion state `{other}`"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub id: SuggestionId,
    /// The customer who claimed the identity.
    pub customer_id: CustomerId,
    /// The customer who holds it.
    pub other_customer_id: CustomerId,
    pub kind: IdentityKind,
    pub value: String,
    /// What was claimed, where, by whom.
    pub evidence: serde_json::Value,
    pub state: SuggestionState,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub merge_id: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = merge_suggestions)]
struct Row {
    id: String,
    customer_id: String,
    other_customer_id: String,
    kind: String,
    value: String,
    evidence: String,
    state: String,
    created_at: NaiveDateTime,
    decided_at: Option<NaiveDateTime>,
    decided_by: Option<String>,
    merge_id: Option<String>,
}

impl TryFrom<Row> for Suggestion {
    type Error = DbError;

    fn try_from(row: Row) -> Result<Self, DbError> {
        Ok(Suggestion {
            id: row.id.parse()?,
            customer_id: row.customer_id.parse()?,
            other_customer_id: row.other_customer_id.parse()?,
            kind: IdentityKind::parse(&row.kind)?,
            value: row.value,
            evidence: serde_json::from_str(&row.evidence)?,
            state: SuggestionState::parse(&row.state)?,
            created_at: from_db(row.created_at),
            decided_at: row.decided_at.map(from_db),
            decided_by: row.decided_by,
            merge_id: row.merge_id,
        })
    }
}

/// Records that `customer` claimed `identity`, which `holder` holds, inside the caller's
/// transaction. The same open claim twice is one suggestion (the first is returned).
pub fn suggest(
    conn: &mut DbConn,
    customer: CustomerId,
    holder: CustomerId,
    identity: &IdentityValue,
    evidence: serde_json::Value,
) -> Result<Suggestion, DbError> {
    let open = merge_suggestions::table
        .filter(merge_suggestions::state.eq(SuggestionState::Open.as_str()))
        .filter(merge_suggestions::customer_id.eq(customer.to_string()))
        .filter(merge_suggestions::other_customer_id.eq(holder.to_string()))
        .filter(merge_suggestions::kind.eq(identity.kind.to_string()))
        .filter(merge_suggestions::value.eq(&identity.value))
        .select(Row::as_select())
        .first(conn)
        .optional()?;
    if let Some(row) = open {
        return row.try_into();
    }
    let at = crate::now();
    let suggestion = Suggestion {
        id: SuggestionId::new(),
        customer_id: customer,
        other_customer_id: holder,
        kind: identity.kind.clone(),
        value: identity.value.clone(),
        evidence,
        state: SuggestionState::Open,
        created_at: at,
        decided_at: None,
        decided_by: None,
        merge_id: None,
    };
    diesel::insert_into(merge_suggestions::table)
        .values((
            merge_suggestions::id.eq(suggestion.id.to_string()),
            merge_suggestions::customer_id.eq(customer.to_string()),
            merge_suggestions::other_customer_id.eq(holder.to_string()),
            merge_suggestions::kind.eq(identity.kind.to_string()),
            merge_suggestions::value.eq(&identity.value),
            merge_suggestions::evidence.eq(suggestion.evidence.to_string()),
            merge_suggestions::state.eq(SuggestionState::Open.as_str()),
            merge_suggestions::created_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    let event = NewEvent::new(EventKind::MergeSuggestionCreated, suggestion.id, &suggestion, at)?.customer(customer);
    events::append(conn, vec![event])?;
    Ok(suggestion)
}

pub fn get(conn: &mut DbConn, id: SuggestionId) -> Result<Suggestion, DbError> {
    merge_suggestions::table.find(id.to_string()).select(Row::as_select()).first(conn)?.try_into()
}

/// Suggestions in `state`, newest first; `customer` narrows to those naming a customer on
/// either side.
pub fn list(
    conn: &mut DbConn,
    state: SuggestionState,
    customer: Option<CustomerId>,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Page<Suggestion>, DbError> {
    let mut query = merge_suggestions::table
        .filter(merge_suggestions::state.eq(state.as_str()))
        .order((merge_suggestions::created_at.desc(), merge_suggestions::id.desc()))
        .select(Row::as_select())
        .into_boxed();
    if let Some(customer) = customer {
        let id = customer.to_string();
        query =
            query.filter(merge_suggestions::customer_id.eq(id.clone()).or(merge_suggestions::other_customer_id.eq(id)));
    }
    if let Some(cursor) = after {
        let at = to_db(cursor.at);
        query = query.filter(
            merge_suggestions::created_at
                .le(at)
                .and(merge_suggestions::created_at.lt(at).or(merge_suggestions::id.lt(cursor.id.clone()))),
        );
    }
    let rows: Vec<Row> = query.limit(limit + 1).load(conn)?;
    let suggestions = rows.into_iter().map(Suggestion::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(suggestions, limit, |s| Cursor { at: s.created_at, id: s.id.to_string() }))
}

/// Accepts an open suggestion: the claiming customer merges into the holder (each
/// followed to the live customer it may have been merged into since), in one commit with
/// the suggestion's new state.
pub fn accept(
    conn: &mut DbConn,
    id: SuggestionId,
    actor: &str,
    choices: std::collections::BTreeMap<String, braid_core::merge::Side>,
) -> Result<(Suggestion, MergeRecord), DbError> {
    dialect::write_transaction(conn, |conn| {
        let suggestion = open(conn, id)?;
        let (source, target) =
            (final_customer(conn, suggestion.customer_id)?, final_customer(conn, suggestion.other_customer_id)?);
        if source == target {
            return Err(DbError::Refused("these customers are one customer already".into()));
        }
        let request =
            MergeRequest { target, source, choices, actor: actor.to_owned(), reason: MergeReason::Suggestion };
        let record = merges::merge_in(conn, &request)?;
        // The merge settled this suggestion if it names the live pair; otherwise it is
        // still open, unless a dismissal won the race (then nothing of this commits).
        let at = crate::now();
        let merge_id = record.id.to_string();
        let accepted = diesel::update(merge_suggestions::table.find(id.to_string()).filter(
            merge_suggestions::state.eq(SuggestionState::Open.as_str()).or(merge_suggestions::merge_id.eq(&merge_id)),
        ))
        .set((
            merge_suggestions::state.eq(SuggestionState::Accepted.as_str()),
            merge_suggestions::decided_at.eq(to_db(at)),
            merge_suggestions::decided_by.eq(actor),
            merge_suggestions::merge_id.eq(&merge_id),
        ))
        .execute(conn)?;
        if accepted == 0 {
            return Err(DbError::Refused("this suggestion was dismissed meanwhile".into()));
        }
        let suggestion = get(conn, id)?;
        let event =
            NewEvent::new(EventKind::MergeSuggestionUpdated, id, &suggestion, at)?.customer(suggestion.customer_id);
        events::append(conn, vec![event])?;
        Ok((suggestion, record))
    })
}

/// Dismisses an open suggestion.
pub fn dismiss(conn: &mut DbConn, id: SuggestionId, actor: &str) -> Result<Suggestion, DbError> {
    dialect::write_transaction(conn, |conn| {
        open(conn, id)?;
        decide(conn, id, SuggestionState::Dismissed, actor, None)
    })
}

fn open(conn: &mut DbConn, id: SuggestionId) -> Result<Suggestion, DbError> {
    let suggestion = get(conn, id)?;
    if suggestion.state != SuggestionState::Open {
        return Err(DbError::Refused(format!("this suggestion was {} already", suggestion.state.as_str())));
    }
    Ok(suggestion)
}

fn decide(
    conn: &mut DbConn,
    id: SuggestionId,
    state: SuggestionState,
    actor: &str,
    merge: Option<String>,
) -> Result<Suggestion, DbError> {
    let at = crate::now();
    // Only an open suggestion is decided: of two decisions at once, the second finds it
    // decided and is refused.
    let decided = diesel::update(
        merge_suggestions::table
            .find(id.to_string())
            .filter(merge_suggestions::state.eq(SuggestionState::Open.as_str())),
    )
    .set((
        merge_suggestions::state.eq(state.as_str()),
        merge_suggestions::decided_at.eq(to_db(at)),
        merge_suggestions::decided_by.eq(actor),
        merge_suggestions::merge_id.eq(merge),
    ))
    .execute(conn)?;
    let suggestion = get(conn, id)?;
    if decided == 0 {
        return Err(DbError::Refused(format!("this suggestion was {} already", suggestion.state.as_str())));
    }
    let event = NewEvent::new(EventKind::MergeSuggestionUpdated, id, &suggestion, at)?.customer(suggestion.customer_id);
    events::append(conn, vec![event])?;
    Ok(suggestion)
}
