//! The web form channel's storage: the forms websites post to. A submission itself is
//! placed like any inbound message (`placement::place`), so nothing else is stored here.

use braid_core::form::FormField;
use braid_core::{EventKind, FormId};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::events::{self, NewEvent};
use crate::schema::forms;
use crate::{DbConn, DbError, dialect, from_db, to_db};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Form {
    pub id: FormId,
    /// Public: it is in the page's form action.
    pub form_key: String,
    pub name: String,
    pub allowed_origins: Vec<String>,
    pub redirect_url: Option<String>,
    pub fields: Vec<FormField>,
    pub honeypot: String,
    pub min_fill_secs: u32,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = forms)]
struct Row {
    id: String,
    form_key: String,
    name: String,
    allowed_origins: String,
    redirect_url: Option<String>,
    fields: String,
    honeypot: String,
    min_fill_secs: i32,
    enabled: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<Row> for Form {
    type Error = DbError;

    fn try_from(row: Row) -> Result<Self, DbError> {
        Ok(Form {
            id: row.id.parse()?,
            form_key: row.form_key,
            name: row.name,
            allowed_origins: serde_json::from_str(&row.allowed_origins)?,
            redirect_url: row.redirect_url,
            fields: serde_json::from_str(&row.fields)?,
            honeypot: row.honeypot,
            min_fill_secs: u32::try_from(row.min_fill_secs).unwrap_or_default(),
            enabled: row.enabled,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

/// A new form, checked by the caller.
#[derive(Debug, Clone)]
pub struct NewForm {
    pub form_key: String,
    pub name: String,
    pub allowed_origins: Vec<String>,
    pub redirect_url: Option<String>,
    pub fields: Vec<FormField>,
    pub honeypot: String,
    pub min_fill_secs: u32,
}

pub fn create(conn: &mut DbConn, new: &NewForm) -> Result<Form, DbError> {
    dialect::write_transaction(conn, |conn| {
        let (id, at) = (FormId::new(), crate::now());
        diesel::insert_into(forms::table)
            .values((
                forms::id.eq(id.to_string()),
                forms::form_key.eq(&new.form_key),
                forms::name.eq(&new.name),
                forms::allowed_origins.eq(serde_json::to_string(&new.allowed_origins)?),
                forms::redirect_url.eq(&new.redirect_url),
                forms::fields.eq(serde_json::to_string(&new.fields)?),
                forms::honeypot.eq(&new.honeypot),
                forms::min_fill_secs.eq(i32::try_from(new.min_fill_secs).unwrap_or(i32::MAX)),
                forms::enabled.eq(true),
                forms::created_at.eq(to_db(at)),
                forms::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        let form = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::FormCreated, id, &form, at)?])?;
        Ok(form)
    })
}

pub fn get(conn: &mut DbConn, id: FormId) -> Result<Form, DbError> {
    forms::table.find(id.to_string()).select(Row::as_select()).first(conn)?.try_into()
}

/// The form a public key names, if any.
pub fn by_key(conn: &mut DbConn, form_key: &str) -> Result<Option<Form>, DbError> {
    forms::table
        .filter(forms::form_key.eq(form_key))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Form::try_from)
        .transpose()
}

/// Every form, oldest first (an installation has a handful).
pub fn list(conn: &mut DbConn, limit: i64) -> Result<Vec<Form>, DbError> {
    forms::table
        .order((forms::created_at.asc(), forms::id.asc()))
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Form::try_from)
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    /// `Some(None)` removes it.
    pub redirect_url: Option<Option<String>>,
    pub fields: Option<Vec<FormField>>,
    pub honeypot: Option<String>,
    pub min_fill_secs: Option<u32>,
    pub enabled: Option<bool>,
}

pub fn update(conn: &mut DbConn, id: FormId, changes: &Changes) -> Result<Form, DbError> {
    dialect::write_transaction(conn, |conn| {
        let at = crate::now();
        let origins = changes.allowed_origins.as_ref().map(serde_json::to_string).transpose()?;
        let fields = changes.fields.as_ref().map(serde_json::to_string).transpose()?;
        let updated = diesel::update(forms::table.find(id.to_string()))
            .set((
                changes.name.as_ref().map(|name| forms::name.eq(name.clone())),
                origins.map(|origins| forms::allowed_origins.eq(origins)),
                changes.redirect_url.as_ref().map(|url| forms::redirect_url.eq(url.clone())),
                fields.map(|fields| forms::fields.eq(fields)),
                changes.honeypot.as_ref().map(|honeypot| forms::honeypot.eq(honeypot.clone())),
                changes.min_fill_secs.map(|secs| forms::min_fill_secs.eq(i32::try_from(secs).unwrap_or(i32::MAX))),
                changes.enabled.map(|enabled| forms::enabled.eq(enabled)),
                forms::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        let form = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::FormUpdated, id, &form, at)?])?;
        Ok(form)
    })
}
