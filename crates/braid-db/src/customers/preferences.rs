//! A customer's preferences: what agents set (kept on the customer) over what their
//! messages say (learnt on their thread by placement), each shown with its source.

use std::collections::BTreeMap;

use braid_core::preferences::{Preference, PreferenceSource};
use braid_core::{CustomerId, EventKind};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::lock_live;
use crate::events::NewEvent;
use crate::schema::{customers, threads};
use crate::{DbConn, DbError, dialect, events};

/// One preference's value and where it came from. `updated_at` is when an agent set it;
/// a learnt value is as of the customer's latest message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreferenceValue {
    pub value: String,
    pub source: PreferenceSource,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Every preference the customer has, by name.
pub type Preferences = BTreeMap<Preference, PreferenceValue>;

/// The customer's preferences: each set one, else each learnt one.
pub fn of(conn: &mut DbConn, customer: CustomerId) -> Result<Preferences, DbError> {
    let overrides: String = customers::table.find(customer.to_string()).select(customers::preferences).first(conn)?;
    let learnt: (Option<String>, Option<String>, Option<String>) = threads::table
        .filter(threads::customer_id.eq(customer.to_string()))
        .select((threads::inbound_channel, threads::inbound_language, threads::inbound_utc_offset))
        .first(conn)?;
    combine(&overrides, learnt)
}

/// Set preferences over learnt ones, from the stored columns.
pub(crate) fn combine(
    overrides: &str,
    (channel, language, offset): (Option<String>, Option<String>, Option<String>),
) -> Result<Preferences, DbError> {
    let mut preferences: Preferences = BTreeMap::new();
    let learnt = [
        (Preference::Channel, channel, PreferenceSource::LastInbound),
        (Preference::Language, language, PreferenceSource::ContentLanguage),
        (Preference::TimeZone, offset, PreferenceSource::DateHeader),
    ];
    for (preference, value, source) in learnt {
        if let Some(value) = value {
            preferences.insert(preference, PreferenceValue { value, source, updated_at: None });
        }
    }
    let set: Preferences = serde_json::from_str(overrides)?;
    preferences.extend(set);
    Ok(preferences)
}

/// Sets (or, with `None`, clears back to what is learnt) the agent's value of each listed
/// preference; values are checked by the caller. Records `customer.preferences_updated`.
pub fn set(
    conn: &mut DbConn,
    customer: CustomerId,
    changes: &BTreeMap<Preference, Option<String>>,
) -> Result<Preferences, DbError> {
    dialect::write_transaction(conn, |conn| {
        lock_live(conn, customer)?;
        let at = crate::now();
        let stored: String = customers::table.find(customer.to_string()).select(customers::preferences).first(conn)?;
        let mut set: Preferences = serde_json::from_str(&stored)?;
        for (preference, value) in changes {
            match value {
                Some(value) => set.insert(
                    *preference,
                    PreferenceValue { value: value.clone(), source: PreferenceSource::Agent, updated_at: Some(at) },
                ),
                None => set.remove(preference),
            };
        }
        diesel::update(customers::table.find(customer.to_string()))
            .set((customers::preferences.eq(serde_json::to_string(&set)?), customers::updated_at.eq(crate::to_db(at))))
            .execute(conn)?;
        let preferences = of(conn, customer)?;
        let payload = serde_json::json!({ "customer_id": customer, "preferences": preferences });
        let kind = EventKind::CustomerPreferencesUpdated;
        events::append(conn, vec![NewEvent::new(kind, customer, &payload, at)?.customer(customer)])?;
        Ok(preferences)
    })
}
