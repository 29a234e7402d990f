//! Credentials at rest: sessions and their refresh-token families, API keys, failed
//! logins, and secrets Braid generates for itself. Only hashes of tokens and keys are stored; hashing is the
//! API's business.

use braid_core::{AgentId, ConnectorId, Scope};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::{agents, api_keys, login_failures, refresh_tokens, secrets, sessions, webhook_replays};
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
    pub used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// Starts a session for `agent` with its first refresh token; returns the session's id,
/// which is also the id of the token family and the `sid` of its access tokens.
pub fn start_session(
    conn: &mut DbConn,
    agent: AgentId,
    refresh_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<String, DbError> {
    crate::dialect::write_transaction(conn, |conn| {
        let id = uuid::Uuid::now_v7().to_string();
        diesel::insert_into(sessions::table)
            .values((
                sessions::id.eq(&id),
                sessions::agent_id.eq(agent.to_string()),
                sessions::created_at.eq(to_db(crate::now())),
            ))
            .execute(conn)?;
        insert_refresh_token(conn, agent, &id, refresh_hash, expires_at)?;
        Ok(id)
    })
}

/// The agent an access token names, as the token check needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenHolder {
    pub agent: crate::agents::Agent,
    /// Access tokens issued before this are refused.
    pub tokens_not_before: Option<DateTime<Utc>>,
    /// Whether the token's session exists, belongs to the agent and has not ended.
    pub session_open: bool,
}

/// The agent `agent` with the state of session `session`, in one query (the agent row
/// is read on every request anyway); `None` when the agent does not exist.
pub fn token_holder(conn: &mut DbConn, agent: AgentId, session: &str) -> Result<Option<TokenHolder>, DbError> {
    type Row = (crate::agents::AgentRow, Option<NaiveDateTime>, Option<String>, Option<NaiveDateTime>);
    let row: Option<Row> = agents::table
        .left_join(sessions::table.on(sessions::id.eq(session).and(sessions::agent_id.eq(agents::id))))
        .filter(agents::id.eq(agent.to_string()))
        .select((
            crate::agents::AgentRow::as_select(),
            agents::tokens_not_before,
            sessions::id.nullable(),
            sessions::ended_at.nullable(),
        ))
        .first(conn)
        .optional()?;
    row.map(|(agent, not_before, session, ended_at)| {
        Ok(TokenHolder {
            agent: agent.try_into()?,
            tokens_not_before: not_before.map(from_db),
            session_open: session.is_some() && ended_at.is_none(),
        })
    })
    .transpose()
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
            used_at: used_at.map(from_db),
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

/// Ends a session: its refresh tokens and its access tokens stop working.
pub fn revoke_refresh_family(conn: &mut DbConn, family_id: &str) -> Result<usize, DbError> {
    diesel::update(sessions::table.find(family_id).filter(sessions::ended_at.is_null()))
        .set(sessions::ended_at.eq(to_db(crate::now())))
        .execute(conn)?;
    Ok(diesel::update(
        refresh_tokens::table.filter(refresh_tokens::family_id.eq(family_id).and(refresh_tokens::revoked_at.is_null())),
    )
    .set(refresh_tokens::revoked_at.eq(to_db(crate::now())))
    .execute(conn)?)
}

/// Ends every session of an agent (deactivation, password reset), and refuses every
/// access token issued until now, whatever its session.
pub fn revoke_agent_sessions(conn: &mut DbConn, agent: AgentId) -> Result<usize, DbError> {
    let now = to_db(crate::now());
    diesel::update(agents::table.find(agent.to_string())).set(agents::tokens_not_before.eq(now)).execute(conn)?;
    diesel::update(sessions::table.filter(sessions::agent_id.eq(agent.to_string()).and(sessions::ended_at.is_null())))
        .set(sessions::ended_at.eq(now))
        .execute(conn)?;
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
    /// The connector this key acts as, and only as (its scopes are then empty).
    pub connector_id: Option<ConnectorId>,
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
    connector_id: Option<String>,
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
            connector_id: row.connector_id.map(|id| id.parse()).transpose()?,
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
    connector: Option<ConnectorId>,
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
            api_keys::connector_id.eq(connector.map(|c| c.to_string())),
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

/// Counts a sign-in attempt for `email` from client `address` before its password is
/// checked, so attempts made in parallel cannot all slip under the limit: at most
/// `max_failures` per `window` for each (email, address). Counting per address too means
/// a stranger's guesses lock out the stranger, not the owner at their own address.
pub fn begin_login_attempt(
    conn: &mut DbConn,
    email: &str,
    address: &str,
    max_failures: i64,
    window: chrono::Duration,
) -> Result<Attempt, DbError> {
    crate::dialect::write_transaction(conn, |conn| {
        crate::dialect::lock_key(conn, &format!("login:{email}|{address}"))?;
        let now = crate::now();
        let recent = login_failures::email
            .eq(email)
            .and(login_failures::address.eq(address))
            .and(login_failures::at.ge(to_db(now - window)));
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
                login_failures::address.eq(address),
                login_failures::at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(Attempt::Allowed)
    })
}

/// A success clears the failures counted at its own address only.
pub fn clear_login_failures(conn: &mut DbConn, email: &str, address: &str) -> Result<(), DbError> {
    diesel::delete(
        login_failures::table.filter(login_failures::email.eq(email).and(login_failures::address.eq(address))),
    )
    .execute(conn)?;
    Ok(())
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was good; the successor now continues its session. `again` when the
    /// token had been rotated moments before (within the grace period) and the same
    /// successor is handed out once more.
    Rotated { agent: AgentId, session: String, again: bool },
    /// The token had been used before, longer ago than the grace period: someone replayed
    /// it. Its whole session is ended.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// Exchanges a refresh token for its successor, in one transaction. The caller derives the
/// successor from the presented token, so a repeat within `grace` (clients refreshing in
/// parallel, a retry after a lost answer) names the successor already stored.
pub fn rotate_refresh_token(
    conn: &mut DbConn,
    presented_hash: &str,
    successor_hash: &str,
    successor_expires_at: DateTime<Utc>,
    grace: chrono::Duration,
) -> Result<Rotation, DbError> {
    crate::dialect::write_transaction(conn, |conn| {
        let Some(mut token) = find_refresh_token(conn, presented_hash)? else {
            return Ok(Rotation::Invalid);
        };
        if token.revoked || token.expires_at <= crate::now() {
            return Ok(Rotation::Invalid);
        }
        if token.used_at.is_none() {
            if use_refresh_token(conn, &token.id)? {
                insert_refresh_token(conn, token.agent_id, &token.family_id, successor_hash, successor_expires_at)?;
                return Ok(Rotation::Rotated { agent: token.agent_id, session: token.family_id, again: false });
            }
            // A concurrent refresh won (PostgreSQL: our update waited for its commit).
            // Read the token again to see when.
            token = find_refresh_token(conn, presented_hash)?.ok_or(DbError::NotFound)?;
            if token.revoked {
                return Ok(Rotation::Invalid);
            }
        }
        let within_grace = token.used_at.is_some_and(|used| crate::now() - used <= grace);
        if within_grace {
            return Ok(match find_refresh_token(conn, successor_hash)? {
                Some(successor) if !successor.revoked && successor.family_id == token.family_id => {
                    Rotation::Rotated { agent: token.agent_id, session: token.family_id, again: true }
                }
                _ => Rotation::Invalid,
            });
        }
        revoke_refresh_family(conn, &token.family_id)?;
        Ok(Rotation::Reused)
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
