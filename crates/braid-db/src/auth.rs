//! Credentials at rest: refresh-token families, API keys, failed logins, and secrets
//! Braid generates for itself. Only hashes of tokens and keys are stored; hashing is the
//! API's business.

use braid_core::{AgentId, Scope};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::{api_keys, login_failures, refresh_tokens, secrets, webhook_replays};
use crate::{DbConn, DbError, from_db, to_db};

/// The stored value of secret `name`, inserting `candidate` when there is none yet. Every
/// node racing here ends up with the same value.
pub fn secret_or_insert(conn: &mut DbConn, name: &str, candidate: &str) -> Result<String, DbError> {
    let inserted = diesel::insert_into(secrets::table)
        .values((secrets::name.eq(name), secrets::value.eq(candidate), secrets::created_at.eq(to_db(crate::now()))))
        .execute(conn);
    match inserted.map_err(DbError::from) {
        Ok(_) | Err(DbError::Conflict(_)) => {}
        Err(other) => return Err(other),
    }
    Ok(secrets::table.find(name).select(secrets::value).first(conn)?)
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    pub id: String,
    pub family_id: String,
    pub agent_id: AgentId,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
    pub revoked: bool,
}

pub fn insert_refresh_token(
    conn: &mut DbConn,
    agent: AgentId,
    family_id: &str,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(uuid::Uuid::now_v7().to_string()),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::agent_id.eq(agent.to_string()),
            refresh_tokens::token_hash.eq(token_hash),
            refresh_tokens::expires_at.eq(to_db(expires_at)),
            refresh_tokens::created_at.eq(to_db(crate::now())),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn find_refresh_token(conn: &mut DbConn, token_hash: &str) -> Result<Option<RefreshToken>, DbError> {
    type Row = (String, String, String, NaiveDateTime, Option<NaiveDateTime>, Option<NaiveDateTime>);
    let row: Option<Row> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select((
            refresh_tokens::id,
            refresh_tokens::family_id,
            refresh_tokens::agent_id,
            refresh_tokens::expires_at,
            refresh_tokens::used_at,
            refresh_tokens::revoked_at,
        ))
        .first(conn)
        .optional()?;
    row.map(|(id, family_id, agent_id, expires_at, used_at, revoked_at)| {
        Ok(RefreshToken {
            id,
            family_id,
            agent_id: agent_id.parse()?,
            expires_at: from_db(expires_at),
            used: used_at.is_some(),
            revoked: revoked_at.is_some(),
        })
    })
    .transpose()
}

/// Marks a token used; `false` when it already was (a concurrent refresh won), which the
/// caller treats as reuse.
pub fn use_refresh_token(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
    let updated = diesel::update(
        refresh_tokens::table
            .find(id)
            .filter(refresh_tokens::used_at.is_null().and(refresh_tokens::revoked_at.is_null())),
    )
    .set(refresh_tokens::used_at.eq(to_db(crate::now())))
    .execute(conn)?;
    Ok(updated == 1)
}

pub fn revoke_refresh_family(conn: &mut DbConn, family_id: &str) -> Result<usize, DbError> {
    Ok(diesel::update(
        refresh_tokens::table.filter(refresh_tokens::family_id.eq(family_id).and(refresh_tokens::revoked_at.is_null())),
    )
    .set(refresh_tokens::revoked_at.eq(to_db(crate::now())))
    .execute(conn)?)
}

/// Ends every session of an agent (deactivation, password reset).
pub fn revoke_agent_sessions(conn: &mut DbConn, agent: AgentId) -> Result<usize, DbError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::agent_id.eq(agent.to_string()).and(refresh_tokens::revoked_at.is_null())),
    )
    .set(refresh_tokens::revoked_at.eq(to_db(crate::now())))
    .execute(conn)?)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The public part of the key, shown in lists so people can tell keys apart.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_by: Option<AgentId>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
struct ApiKeyRow {
    id: String,
    name: String,
    prefix: String,
    scopes: String,
    created_by: Option<String>,
    created_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = DbError;

    fn try_from(row: ApiKeyRow) -> Result<Self, DbError> {
        Ok(ApiKey {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            scopes: serde_json::from_str(&row.scopes)?,
            created_by: row.created_by.map(|id| id.parse()).transpose()?,
            created_at: from_db(row.created_at),
            last_used_at: row.last_used_at.map(from_db),
            revoked_at: row.revoked_at.map(from_db),
        })
    }
}

pub fn insert_api_key(
    conn: &mut DbConn,
    name: &str,
    prefix: &str,
    secret_hash: &str,
    scopes: &[Scope],
    created_by: Option<AgentId>,
) -> Result<ApiKey, DbError> {
    let id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(&id),
            api_keys::name.eq(name),
            api_keys::prefix.eq(prefix),
            api_keys::secret_hash.eq(secret_hash),
            api_keys::scopes.eq(serde_json::to_string(scopes)?),
            api_keys::created_by.eq(created_by.map(|a| a.to_string())),
            api_keys::created_at.eq(to_db(crate::now())),
        ))
        .execute(conn)?;
    get_api_key(conn, &id)
}

pub fn get_api_key(conn: &mut DbConn, id: &str) -> Result<ApiKey, DbError> {
    api_keys::table.find(id).select(ApiKeyRow::as_select()).first(conn)?.try_into()
}

pub fn list_api_keys(conn: &mut DbConn) -> Result<Vec<ApiKey>, DbError> {
    api_keys::table
        .order(api_keys::id.asc())
        .select(ApiKeyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ApiKey::try_from)
        .collect()
}

/// An unrevoked key by its prefix, with its secret's hash for the caller to compare.
pub fn find_active_api_key(conn: &mut DbConn, prefix: &str) -> Result<Option<(ApiKey, String)>, DbError> {
    let row: Option<(ApiKeyRow, String)> = api_keys::table
        .filter(api_keys::prefix.eq(prefix).and(api_keys::revoked_at.is_null()))
        .select((ApiKeyRow::as_select(), api_keys::secret_hash))
        .first(conn)
        .optional()?;
    row.map(|(row, hash)| Ok((ApiKey::try_from(row)?, hash))).transpose()
}

/// Notes a key's use, at most once a minute, so a busy integration does not write on
/// every request.
pub fn touch_api_key(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
    let now = crate::now();
    let stale = to_db(now - chrono::Duration::minutes(1));
    diesel::update(
        api_keys::table.find(id).filter(api_keys::last_used_at.is_null().or(api_keys::last_used_at.lt(stale))),
    )
    .set(api_keys::last_used_at.eq(to_db(now)))
    .execute(conn)?;
    Ok(())
}

pub fn revoke_api_key(conn: &mut DbConn, id: &str) -> Result<ApiKey, DbError> {
    diesel::update(api_keys::table.find(id).filter(api_keys::revoked_at.is_null()))
        .set(api_keys::revoked_at.eq(to_db(crate::now())))
        .execute(conn)?;
    get_api_key(conn, id)
}

/// Whether a sign-in attempt may check its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Go ahead. The attempt is already counted as a failure; a success clears it.
    Allowed,
    /// Too many failures in the window; it frees at `until`.
    Throttled { until: DateTime<Utc> },
}

/// Counts a sign-in attempt for `email` before its password is checked, so attempts made
/// in parallel cannot all slip under the limit: at most `max_failures` per `window`.
pub fn begin_login_attempt(
    conn: &mut DbConn,
    email: &str,
    max_failures: i64,
    window: chrono::Duration,
) -> Result<Attempt, DbError> {
    crate::dialect::write_transaction(conn, |conn| {
        crate::dialect::lock_key(conn, &format!("login:{email}"))?;
        let now = crate::now();
        let recent = login_failures::email.eq(email).and(login_failures::at.ge(to_db(now - window)));
        let count: i64 = login_failures::table.filter(recent).count().get_result(conn)?;
        if count >= max_failures {
            let oldest: NaiveDateTime = login_failures::table
                .filter(recent)
                .select(login_failures::at)
                .order(login_failures::at.asc())
                .first(conn)?;
            return Ok(Attempt::Throttled { until: from_db(oldest) + window });
        }
        diesel::insert_into(login_failures::table)
            .values((
                login_failures::id.eq(uuid::Uuid::now_v7().to_string()),
                login_failures::email.eq(email),
                login_failures::at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(Attempt::Allowed)
    })
}

pub fn clear_login_failures(conn: &mut DbConn, email: &str) -> Result<(), DbError> {
    diesel::delete(login_failures::table.filter(login_failures::email.eq(email))).execute(conn)?;
    Ok(())
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was good; `new_hash` now continues its family.
    Rotated { agent: AgentId },
    /// The token had been used before: someone replayed it. Its whole family is revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// Exchanges a refresh token for its successor, in one transaction.
pub fn rotate_refresh_token(
    conn: &mut DbConn,
    presented_hash: &str,
    new_hash: &str,
    new_expires_at: DateTime<Utc>,
) -> Result<Rotation, DbError> {
    crate::dialect::write_transaction(conn, |conn| {
        let Some(token) = find_refresh_token(conn, presented_hash)? else {
            return Ok(Rotation::Invalid);
        };
        if token.revoked || token.expires_at <= crate::now() {
            return Ok(Rotation::Invalid);
        }
        if token.used || !use_refresh_token(conn, &token.id)? {
            revoke_refresh_family(conn, &token.family_id)?;
            return Ok(Rotation::Reused);
        }
        insert_refresh_token(conn, token.agent_id, &token.family_id, new_hash, new_expires_at)?;
        Ok(Rotation::Rotated { agent: token.agent_id })
    })
}

/// Revokes the family of the presented token (logout); `false` when it is unknown.
pub fn revoke_refresh_token(conn: &mut DbConn, presented_hash: &str) -> Result<bool, DbError> {
    match find_refresh_token(conn, presented_hash)? {
        Some(token) => {
            revoke_refresh_family(conn, &token.family_id)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Drops failed sign-ins older than `cutoff`; returns how many.
pub fn purge_login_failures(conn: &mut DbConn, cutoff: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(diesel::delete(login_failures::table.filter(login_failures::at.lt(to_db(cutoff)))).execute(conn)?)
}

/// Records a provider's one-time webhook token; `false` when it was seen before (a replay).
pub fn first_use_of_webhook_token(conn: &mut DbConn, provider: &str, token: &str) -> Result<bool, DbError> {
    let inserted = diesel::insert_into(webhook_replays::table)
        .values((
            webhook_replays::provider.eq(provider),
            webhook_replays::token.eq(token),
            webhook_replays::seen_at.eq(to_db(crate::now())),
        ))
        .execute(conn)
        .map_err(DbError::from);
    match inserted {
        Ok(_) => Ok(true),
        Err(DbError::Conflict(_)) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Whether a provider's one-time webhook token was recorded before; reads only, so a
/// request can be refused as a replay without burning the token of one that then fails.
pub fn webhook_token_seen(conn: &mut DbConn, provider: &str, token: &str) -> Result<bool, DbError> {
    use diesel::dsl::{exists, select};
    let query =
        webhook_replays::table.filter(webhook_replays::provider.eq(provider).and(webhook_replays::token.eq(token)));
    Ok(select(exists(query)).get_result(conn)?)
}

/// Forgets webhook tokens older than `cutoff` (their signatures have expired anyway).
pub fn purge_webhook_tokens(conn: &mut DbConn, cutoff: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(diesel::delete(webhook_replays::table.filter(webhook_replays::seen_at.lt(to_db(cutoff)))).execute(conn)?)
}
