//! What every request handler can reach: the database, Redis when configured, metrics,
//! and the limits and rules from settings.

use braid_core::placement::PlacementPolicy;
use braid_db::Db;

use crate::Metrics;
use crate::tokens::JwtKeys;

/// Sessions and login throttling.
#[derive(Debug)]
pub struct AuthConfig {
    pub keys: JwtKeys,
    pub access_ttl: chrono::Duration,
    pub refresh_ttl: chrono::Duration,
    /// Failed logins for one email within `login_window` before further tries get 429.
    pub login_max_failures: i64,
    pub login_window: chrono::Duration,
}

/// Request body limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub json_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { json_body_bytes: 1024 * 1024 }
    }
}

pub struct AppState {
    pub db: Db,
    pub redis: Option<redis::aio::ConnectionManager>,
    pub metrics: Metrics,
    pub placement: PlacementPolicy,
    pub limits: Limits,
    pub auth: AuthConfig,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.db)
            .field("redis", &self.redis.is_some())
            .field("placement", &self.placement)
            .field("limits", &self.limits)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}
