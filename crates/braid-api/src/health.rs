//! Liveness and readiness, for load balancers and orchestrators.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// How long a readiness check waits for a dependency before calling it down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    #[schema(example = "ok")]
    status: &'static str,
    #[schema(example = "0.1.0")]
    version: &'static str,
}

/// Liveness: the process is up and serving HTTP. Checks nothing else.
#[utoipa::path(
    tag = "operations",
    operation_id = "getHealth",
    responses((status = 200, description = "The process is alive.", body = Health)),
)]
#[get("/healthz")]
async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

/// One dependency's state: `ok`, `not_configured`, or `down: <cause>`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    #[schema(example = "ok")]
    database: String,
    #[schema(example = "not_configured")]
    redis: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    status: &'static str,
    checks: Checks,
}

/// Readiness: the database answers, and Redis too when it is configured.
#[utoipa::path(
    tag = "operations",
    operation_id = "getReadiness",
    responses(
        (status = 200, description = "Every dependency answers.", body = Readiness),
        (status = 503, description = "A dependency is down; `checks` says which and why.", body = Readiness,
         example = json!({"status": "not_ready", "checks": {"database": "ok", "redis": "down: connection refused"}})),
    ),
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = check(state.db.ping()).await;
    let redis = match state.redis.clone() {
        None => "not_configured".to_owned(),
        Some(mut redis) => check(async move { redis::cmd("PING").query_async::<String>(&mut redis).await }).await,
    };
    let ready = database == "ok" && (redis == "ok" || redis == "not_configured");
    let body = Readiness { status: if ready { "ready" } else { "not_ready" }, checks: Checks { database, redis } };
    if ready { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

async fn check<T, E: std::fmt::Display>(probe: impl Future<Output = Result<T, E>>) -> String {
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(error)) => format!("down: {error}"),
        Err(_) => format!("down: no answer within {}s", CHECK_TIMEOUT.as_secs()),
    }
}
