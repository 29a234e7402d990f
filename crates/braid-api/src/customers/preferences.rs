//! `GET/PUT /v1/customers/{id}/preferences`: language, time zone and preferred channel,
//! learnt from the customer's messages and overridden by agents, each with its source.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, put, web};
use braid_core::preferences::{self, Preference};
use braid_core::{CustomerId, Scope};
use braid_db::customers::preferences::{self as stored, PreferenceValue, Preferences};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::customer_not_found;
use crate::error::responses;
use crate::{ApiError, AppState, Principal};

#[derive(Debug, Serialize, ToSchema)]
pub struct PreferenceView {
    #[schema(example = "pt-BR")]
    pub value: String,
    /// `agent` (set through this API), `content_language`, `date_header` or
    /// `last_inbound` (learnt from the customer's latest messages).
    #[schema(example = "content_language")]
    pub source: String,
    /// When an agent set it; `null` for a learnt value.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Each preference the customer has; absent ones are unknown.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreferencesView {
    /// A BCP 47 tag.
    pub language: Option<PreferenceView>,
    /// An IANA zone, or the UTC offset of the customer's latest email (`-03:00`).
    pub time_zone: Option<PreferenceView>,
    /// `email`, `chat`, `web_form` or `api`.
    pub channel: Option<PreferenceView>,
}

impl From<Preferences> for PreferencesView {
    fn from(mut p: Preferences) -> Self {
        let mut take = |preference| {
            p.remove(&preference).map(|v: PreferenceValue| PreferenceView {
                value: v.value,
                source: v.source.as_str().to_owned(),
                updated_at: v.updated_at,
            })
        };
        Self {
            language: take(Preference::Language),
            time_zone: take(Preference::TimeZone),
            channel: take(Preference::Channel),
        }
    }
}

/// Preferences to set: a value sets the agent's value, `null` clears it, absent leaves it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"language": "pt-BR", "time_zone": "America/Sao_Paulo", "channel": null}))]
pub struct PreferencesUpdate {
    /// A language tag like `pt-BR`.
    #[serde(default, deserialize_with = "crate::tickets::double_option")]
    #[schema(value_type = Option<String>)]
    pub language: Option<Option<String>>,
    /// An IANA zone (`Europe/Lisbon`), `UTC`, or an offset like `-03:00`.
    #[serde(default, deserialize_with = "crate::tickets::double_option")]
    #[schema(value_type = Option<String>)]
    pub time_zone: Option<Option<String>>,
    /// `email`, `chat`, `web_form` or `api`.
    #[serde(default, deserialize_with = "crate::tickets::double_option")]
    #[schema(value_type = Option<String>)]
    pub channel: Option<Option<String>>,
}

/// The customer's preferences.
#[utoipa::path(
    tag = "customers",
    operation_id = "getCustomerPreferences",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The preferences, each with its source.", body = PreferencesView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/customers/{id}/preferences")]
async fn get(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<CustomerId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    let id = id.into_inner();
    let found = state
        .db
        .run(move |conn| {
            braid_db::customers::live(conn, id)?;
            stored::of(conn, id)
        })
        .await
        .map_err(customer_not_found)?;
    Ok(HttpResponse::Ok().json(PreferencesView::from(found)))
}

/// Set preferences: each listed one takes the value given (its source becomes `agent`);
/// `null` clears the agent's value, so what the customer's messages say shows again.
/// Unlisted preferences stay as they are.
#[utoipa::path(
    tag = "customers",
    operation_id = "setCustomerPreferences",
    params(("id" = String, Path, format = Uuid)),
    request_body = PreferencesUpdate,
    responses((status = 200, description = "The preferences as they are now.", body = PreferencesView), responses::Auth, responses::NotFound, responses::BadInput),
    security(("bearer" = [])),
)]
#[put("/v1/customers/{id}/preferences")]
async fn set(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<CustomerId>,
    body: web::Json<PreferencesUpdate>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    let PreferencesUpdate { language, time_zone, channel } = body.into_inner();
    let mut changes = BTreeMap::new();
    for (preference, value) in
        [(Preference::Language, language), (Preference::TimeZone, time_zone), (Preference::Channel, channel)]
    {
        let Some(value) = value else { continue };
        let checked = match value {
            None => None,
            Some(given) => Some(match preference {
                Preference::Language => preferences::language(&given)?,
                Preference::TimeZone => preferences::time_zone(&given)?,
                Preference::Channel => preferences::channel(&given)?,
            }),
        };
        changes.insert(preference, checked);
    }
    let id = id.into_inner();
    let now = state.db.run(move |conn| stored::set(conn, id, &changes)).await.map_err(customer_not_found)?;
    Ok(HttpResponse::Ok().json(PreferencesView::from(now)))
}
