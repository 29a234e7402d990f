//! The chat channel's storage: the sites that embed the widget with their identity
//! secrets (here), their visitors and what a visitor reads ([`visitors`]), and the
//! chat-to-email fallback ([`fallback`]).

pub mod fallback;
pub mod visitors;

use braid_core::{EventKind, SiteId};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::events::{self, NewEvent};
use crate::schema::{chat_site_secrets, chat_sites};
use crate::{DbConn, DbError, dialect, from_db, to_db};

/// Secrets one site may hold at once: the current one and a few being rotated in or out.
pub const MAX_SECRETS: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    pub id: SiteId,
    pub site_key: String,
    pub name: String,
    pub slug: String,
    pub allowed_origins: Vec<String>,
    pub strict: bool,
    pub max_identity_token_secs: i64,
    /// The key ids of its identity secrets, oldest first (never the secrets).
    pub key_ids: Vec<KeyId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyId {
    pub kid: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = chat_sites)]
struct SiteRow {
    id: String,
    site_key: String,
    name: String,
    slug: String,
    allowed_origins: String,
    strict: bool,
    max_identity_token_secs: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl SiteRow {
    fn into_site(self, key_ids: Vec<KeyId>) -> Result<Site, DbError> {
        Ok(Site {
            id: self.id.parse()?,
            site_key: self.site_key,
            name: self.name,
            slug: self.slug,
            allowed_origins: serde_json::from_str(&self.allowed_origins)?,
            strict: self.strict,
            max_identity_token_secs: self.max_identity_token_secs,
            key_ids,
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
        })
    }
}

/// A new site with its first identity secret.
#[derive(Debug, Clone)]
pub struct NewSite {
    pub site_key: String,
    pub name: String,
    pub slug: String,
    pub allowed_origins: Vec<String>,
    pub strict: bool,
    pub max_identity_token_secs: i64,
    pub kid: String,
    pub secret: String,
}

/// Creates a site; a slug in use (by a site or a connector) is [`DbError::Conflict`].
pub fn create(conn: &mut DbConn, new: &NewSite) -> Result<Site, DbError> {
    dialect::write_transaction(conn, |conn| {
        // Its users' identities are `external:<slug>`, as a connector's customers are.
        if crate::connectors::namespace_taken(conn, &new.slug)? {
            return Err(DbError::Conflict("external namespace".into()));
        }
        let (id, at) = (SiteId::new(), crate::now());
        diesel::insert_into(chat_sites::table)
            .values((
                chat_sites::id.eq(id.to_string()),
                chat_sites::site_key.eq(&new.site_key),
                chat_sites::name.eq(&new.name),
                chat_sites::slug.eq(&new.slug),
                chat_sites::allowed_origins.eq(serde_json::to_string(&new.allowed_origins)?),
                chat_sites::strict.eq(new.strict),
                chat_sites::max_identity_token_secs.eq(new.max_identity_token_secs),
                chat_sites::created_at.eq(to_db(at)),
                chat_sites::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        insert_secret(conn, id, &new.kid, &new.secret, at)?;
        let site = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::ChatSiteCreated, id, &site, at)?])?;
        Ok(site)
    })
}

fn insert_secret(conn: &mut DbConn, site: SiteId, kid: &str, secret: &str, at: DateTime<Utc>) -> Result<(), DbError> {
    diesel::insert_into(chat_site_secrets::table)
        .values((
            chat_site_secrets::site_id.eq(site.to_string()),
            chat_site_secrets::kid.eq(kid),
            chat_site_secrets::secret.eq(secret),
            chat_site_secrets::created_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    Ok(())
}

fn key_ids(conn: &mut DbConn, site: SiteId) -> Result<Vec<KeyId>, DbError> {
    let rows: Vec<(String, NaiveDateTime)> = chat_site_secrets::table
        .filter(chat_site_secrets::site_id.eq(site.to_string()))
        .order((chat_site_secrets::created_at.asc(), chat_site_secrets::kid.asc()))
        .select((chat_site_secrets::kid, chat_site_secrets::created_at))
        .load(conn)?;
    Ok(rows.into_iter().map(|(kid, at)| KeyId { kid, created_at: from_db(at) }).collect())
}

pub fn get(conn: &mut DbConn, id: SiteId) -> Result<Site, DbError> {
    let row: SiteRow = chat_sites::table.find(id.to_string()).select(SiteRow::as_select()).first(conn)?;
    row.into_site(key_ids(conn, id)?)
}

/// Every site, oldest first (an installation has a handful).
pub fn list(conn: &mut DbConn, limit: i64) -> Result<Vec<Site>, DbError> {
    let rows: Vec<SiteRow> = chat_sites::table
        .order((chat_sites::created_at.asc(), chat_sites::id.asc()))
        .limit(limit)
        .select(SiteRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            let id = row.id.parse()?;
            row.into_site(key_ids(conn, id)?)
        })
        .collect()
}

/// A site's identity secrets: (key id, secret).
pub type Secrets = Vec<(String, String)>;

/// A site by its public key, with its secrets by key id: what a widget session checks.
pub fn by_key(conn: &mut DbConn, site_key: &str) -> Result<Option<(Site, Secrets)>, DbError> {
    let row: Option<SiteRow> = chat_sites::table
        .filter(chat_sites::site_key.eq(site_key))
        .select(SiteRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let id: SiteId = row.id.parse()?;
    let secrets: Vec<(String, String)> = chat_site_secrets::table
        .filter(chat_site_secrets::site_id.eq(id.to_string()))
        .select((chat_site_secrets::kid, chat_site_secrets::secret))
        .load(conn)?;
    Ok(Some((row.into_site(key_ids(conn, id)?)?, secrets)))
}

#[derive(Debug, Clone, Default)]
pub struct SiteChanges {
    pub name: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub strict: Option<bool>,
    pub max_identity_token_secs: Option<i64>,
}

pub fn update(conn: &mut DbConn, id: SiteId, changes: &SiteChanges) -> Result<Site, DbError> {
    dialect::write_transaction(conn, |conn| {
        let at = crate::now();
        let origins = changes.allowed_origins.as_ref().map(serde_json::to_string).transpose()?;
        let updated = diesel::update(chat_sites::table.find(id.to_string()))
            .set((
                changes.name.as_ref().map(|name| chat_sites::name.eq(name)),
                origins.map(|origins| chat_sites::allowed_origins.eq(origins)),
                changes.strict.map(|strict| chat_sites::strict.eq(strict)),
                changes.max_identity_token_secs.map(|secs| chat_sites::max_identity_token_secs.eq(secs)),
                chat_sites::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        let site = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::ChatSiteUpdated, id, &site, at)?])?;
        Ok(site)
    })
}

/// Adds an identity secret (rotation: add the new one, move the site's backend to it,
/// then remove the old one). A key id in use is [`DbError::Conflict`].
pub fn add_secret(conn: &mut DbConn, id: SiteId, kid: &str, secret: &str) -> Result<KeyId, DbError> {
    dialect::write_transaction(conn, |conn| {
        let site = get(conn, id)?;
        if site.key_ids.len() >= MAX_SECRETS {
            return Err(DbError::OverLimit { field: "secrets", max: MAX_SECRETS });
        }
        let at = crate::now();
        insert_secret(conn, id, kid, secret, at)?;
        touch(conn, id, at)?;
        Ok(KeyId { kid: kid.to_owned(), created_at: crate::truncate_to_micros(at) })
    })
}

/// Removes an identity secret: tokens signed with it stop working at once. The last one
/// stays (a site without secrets could sign nobody in).
pub fn remove_secret(conn: &mut DbConn, id: SiteId, kid: &str) -> Result<(), DbError> {
    dialect::write_transaction(conn, |conn| {
        let site = get(conn, id)?;
        if !site.key_ids.iter().any(|k| k.kid == kid) {
            return Err(DbError::NotFound);
        }
        if site.key_ids.len() == 1 {
            return Err(DbError::Refused("a site keeps at least one identity secret: add the next one first".into()));
        }
        diesel::delete(
            chat_site_secrets::table
                .filter(chat_site_secrets::site_id.eq(id.to_string()))
                .filter(chat_site_secrets::kid.eq(kid)),
        )
        .execute(conn)?;
        touch(conn, id, crate::now())
    })
}

fn touch(conn: &mut DbConn, id: SiteId, at: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(chat_sites::table.find(id.to_string())).set(chat_sites::updated_at.eq(to_db(at))).execute(conn)?;
    let site = get(conn, id)?;
    events::append(conn, vec![NewEvent::new(EventKind::ChatSiteUpdated, id, &site, at)?])
}
