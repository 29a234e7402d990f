//! Prometheus metrics: requests by route and status with latency histograms, the
//! database pool's connections in use and idle, how far event readers are held back, and
//! the webhook deliveries waiting.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, get, web};
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::{ApiError, AppState};

/// The process's metrics. Cheap to clone; clones share the counters.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    horizon_lag: Gauge,
    webhooks_pending: prometheus::IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("braid".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered, by method, route and status."),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Time to answer an HTTP request, by method and route.")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method", "route"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections, by state (in_use, idle, max)."),
            &["state"],
        )?;
        let horizon_lag = Gauge::new(
            "event_horizon_lag_seconds",
            "How far event readers (stream, feed, webhooks) are held back: the age of the oldest committed event \
             they cannot read yet because an older transaction still runs.",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        let webhooks_pending = prometheus::IntGauge::new(
            "webhook_deliveries_pending",
            "Webhook deliveries waiting for their next attempt (new, or retrying after a failure).",
        )?;
        registry.register(Box::new(horizon_lag.clone()))?;
        registry.register(Box::new(webhooks_pending.clone()))?;
        Ok(Self { registry, requests, latency, pool, horizon_lag, webhooks_pending })
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.latency.with_label_values(&[method, route]).observe(seconds);
    }
}

/// Records every request. The route label is the matched pattern (`/v1/tickets/{id}`),
/// never the raw path, so ids do not explode the number of series.
pub(crate) async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<AppState>>().map(|state| state.metrics.clone());
    let method = method_label(req.method());
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        metrics.observe(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// The method as a label from a closed set: any method may be sent (`FOO /v1/tickets`),
/// and a label per made-up one would grow the registry without bound.
fn method_label(method: &actix_web::http::Method) -> String {
    use actix_web::http::Method;
    let known = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    if known.contains(method) { method.as_str().to_owned() } else { "other".to_owned() }
}

/// Metrics in the Prometheus text format.
#[utoipa::path(
    tag = "operations",
    operation_id = "getMetrics",
    responses((status = 200, description = "Prometheus text exposition format.", content_type = "text/plain; version=0.0.4", body = String)),
)]
#[get("/metrics")]
async fn expose(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.db.pool_state();
    state.metrics.pool.with_label_values(&["in_use"]).set(pool.in_use.into());
    state.metrics.pool.with_label_values(&["idle"]).set(pool.idle.into());
    state.metrics.pool.with_label_values(&["max"]).set(pool.max.into());
    let (lag, pending) =
        state.db.run(|conn| Ok((braid_db::events::horizon_lag(conn)?, braid_db::webhooks::pending(conn)?))).await?;
    state.metrics.horizon_lag.set(lag.num_milliseconds() as f64 / 1000.0);
    state.metrics.webhooks_pending.set(pending);
    let mut body = Vec::new();
    TextEncoder::new().encode(&state.metrics.registry.gather(), &mut body).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().content_type(prometheus::TEXT_FORMAT).body(body))
}
