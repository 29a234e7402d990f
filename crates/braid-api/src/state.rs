//! What every request handler can reach: the database, Redis when configured, metrics,
//! and the limits and rules from settings.

use braid_core::placement::PlacementPolicy;
use braid_db::Db;

use crate::Metrics;

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
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.db)
            .field("redis", &self.redis.is_some())
            .field("placement", &self.placement)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
