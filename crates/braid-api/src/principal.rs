//! Who is calling. Every protected handler takes a [`Principal`] and states the scope it
//! needs with [`Principal::require`]; the OpenAPI security of each route says the same.
//! `Authorization: Bearer` takes either an agent's access token or an API key.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use braid_core::{AgentId, ConnectorId, Role, Scope};

use crate::{ApiError, AppState, ErrorCode, tokens};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Agent {
        id: AgentId,
        role: Role,
    },
    /// A key with a `connector` acts only as that connector (its scopes are empty).
    ApiKey {
        id: String,
        scopes: Vec<Scope>,
        connector: Option<ConnectorId>,
    },
}

impl Principal {
    /// 403 unless the caller holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        let granted = match self {
            Principal::Agent { role, .. } => scope.granted_to(*role),
            Principal::ApiKey { scopes, .. } => scope.granted_by(scopes),
        };
        if granted {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Forbidden, format!("this needs the `{scope}` scope")))
        }
    }

    /// 403 unless the caller may act as `connector`: its own key, or an admin.
    pub fn require_connector(&self, connector: ConnectorId) -> Result<(), ApiError> {
        match self {
            Principal::ApiKey { connector: Some(own), .. } if *own == connector => Ok(()),
            _ => self.require(Scope::Admin).map_err(|_| {
                ApiError::new(ErrorCode::Forbidden, "this needs the connector's own key or the `admin` scope")
            }),
        }
    }

    /// Whether the caller is a connector's key.
    pub fn is_connector(&self) -> bool {
        matches!(self, Principal::ApiKey { connector: Some(_), .. })
    }

    pub fn agent_id(&self) -> Option<AgentId> {
        match self {
            Principal::Agent { id, .. } => Some(*id),
            Principal::ApiKey { .. } => None,
        }
    }

    /// A stable name for the caller (idempotency keys are per caller).
    pub fn key(&self) -> String {
        match self {
            Principal::Agent { id, .. } => format!("agent:{id}"),
            Principal::ApiKey { id, .. } => format!("api_key:{id}"),
        }
    }
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, detail)
}

/// Resolves the bearer credential in `headers`. The agent and the token's session are read
/// from the database on every request (one query), so deactivating an agent, changing
/// their role or password, and ending a session take effect at once, not when the token
/// expires.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let header = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| unauthorized("send `Authorization: Bearer <access token or API key>`"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?
        .to_owned();

    if token.starts_with(tokens::API_KEY_PREFIX) {
        let (prefix, secret) = tokens::split_api_key(&token).ok_or_else(|| unauthorized("malformed API key"))?;
        let (prefix, hash) = (prefix.to_owned(), tokens::sha256_hex(secret));
        let key = state
            .db
            .run(move |conn| {
                let Some((key, stored)) = braid_db::auth::find_active_api_key(conn, &prefix)? else {
                    return Ok(None);
                };
                if stored != hash {
                    return Ok(None);
                }
                let stale = key.last_used_at.is_none_or(|at| braid_db::now() - at > chrono::Duration::minutes(1));
                if stale {
                    braid_db::auth::touch_api_key(conn, &key.id)?;
                }
                Ok(Some(key))
            })
            .await?
            .ok_or_else(|| unauthorized("unknown or revoked API key"))?;
        return Ok(Principal::ApiKey { id: key.id, scopes: key.scopes, connector: key.connector_id });
    }

    let verified = tokens::verify_access_token(&state.auth.keys, &token)
        .ok_or_else(|| unauthorized("invalid or expired access token"))?;
    let (agent, session) = (verified.agent, verified.session.clone());
    let holder = state.db.run(move |conn| braid_db::auth::token_holder(conn, agent, &session)).await?;
    let Some(holder) = holder.filter(|holder| holder.agent.active) else {
        return Err(unauthorized("this agent no longer exists or was deactivated"));
    };
    // Seconds, as `iat` is: a token issued in the same second as a password change is
    // refused through its ended session instead.
    if holder.tokens_not_before.is_some_and(|not_before| verified.issued_at < not_before.timestamp()) {
        return Err(unauthorized("this token was issued before the agent's password changed or they were deactivated"));
    }
    if !holder.session_open {
        return Err(unauthorized("this token's session has ended; sign in again"));
    }
    Ok(Principal::Agent { id: holder.agent.id, role: holder.agent.role })
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        // The idempotency guard may have authenticated this request already.
        if let Some(principal) = req.extensions().get::<Principal>().cloned() {
            return Box::pin(async move { Ok(principal) });
        }
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let headers = req.headers().clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::new(ErrorCode::Internal, "application state missing"))?;
            authenticate(&state, &headers).await
        })
    }
}
