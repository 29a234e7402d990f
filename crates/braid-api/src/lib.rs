//! Braid's HTTP API: the actix-web application, its routes, the problem+json errors every
//! route answers with, the OpenAPI document generated from the handlers, and the
//! operational endpoints (`/healthz`, `/readyz`, `/metrics`).
//!
//! This is the only crate that knows HTTP status codes.

mod agents;
mod api_keys;
mod attachments;
mod chat_sites;
pub mod client;
pub mod connectors;
mod cors;
pub mod cpu;
pub mod csat;
mod customers;
mod email;
mod error;
mod event_payloads;
mod events;
mod follow_ups;
pub mod forms;
mod health;
mod idempotency;
mod macros;
mod messages;
mod metrics;
mod openapi;
pub mod pagination;
pub mod password;
mod principal;
pub mod rates;
mod request_id;
mod routing;
mod schedules;
mod sessions;
mod sla;
mod sockets;
mod state;
mod stream;
mod teams;
pub mod throttle;
mod tickets;
pub mod tokens;
mod web_forms;
mod webhooks;
pub mod widget;

pub use error::{ApiError, ErrorCode};
pub use metrics::Metrics;
pub use openapi::openapi;
pub use principal::Principal;
pub use state::{AppState, AuthConfig, EmailConfig, Limits};
pub use webhooks::{WebhookConfig, body as webhook_body};
pub use widget::ChatConfig;

use actix_web::middleware::from_fn;
use actix_web::{App, web};
use utoipa_actix_web::AppExt;

/// Builds the application for one worker thread. `HttpServer::new` calls it once per
/// worker; all of them share `state`.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limits = state.limits;
    let (app, api) = App::new()
        .app_data(state)
        .app_data(error::json_config(limits.json_body_bytes))
        .app_data(web::PayloadConfig::new(limits.json_body_bytes))
        .app_data(error::path_config())
        .app_data(error::query_config())
        .into_utoipa_app()
        .openapi(openapi::base())
        .configure(routes)
        .default_service(web::to(error::no_route))
        .split_for_parts();
    app.service(openapi::docs(openapi::finish(api)))
        .service(web::redirect("/docs", "/docs/"))
        .wrap(from_fn(idempotency::guard))
        .wrap(from_fn(wake_after_writes))
        .wrap(from_fn(cors::cors))
        .wrap(from_fn(metrics::record))
        .wrap(from_fn(request_id::echo))
        .wrap(tracing_actix_web::TracingLogger::default())
}

/// Every documented route. `openapi()` walks the same function, so the served document
/// and the routes cannot disagree.
fn routes(config: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    config.service(health::healthz).service(health::readyz).service(metrics::expose);
    config.service(sessions::login).service(sessions::refresh).service(sessions::logout);
    config.service(api_keys::create).service(api_keys::list).service(api_keys::revoke);
    config
        .service(agents::create)
        .service(agents::list)
        .service(agents::get)
        .service(agents::update)
        .service(agents::deactivate);
    config
        .service(teams::create)
        .service(teams::list)
        .service(teams::get)
        .service(teams::update)
        .service(teams::deactivate);
    config
        .service(customers::create)
        .service(customers::list)
        .service(customers::get)
        .service(customers::update)
        .service(customers::add_identity)
        .service(customers::update_identity)
        .service(customers::remove_identity)
        .service(customers::thread)
        .service(customers::preferences::get)
        .service(customers::preferences::set)
        .service(customers::context::get);
    config
        .service(customers::merges::merge)
        .service(customers::merges::get_merge)
        .service(customers::merges::undo_merge);
    config
        .service(customers::suggestions::list)
        .service(customers::suggestions::get)
        .service(customers::suggestions::accept)
        .service(customers::suggestions::dismiss);
    config
        .service(customers::attributes::create_definition)
        .service(customers::attributes::list_definitions)
        .service(customers::attributes::get_definition)
        .service(customers::attributes::update_definition)
        .service(customers::attributes::delete_definition)
        .service(customers::attributes::get_values)
        .service(customers::attributes::set_values);
    config
        .service(customers::notes::create)
        .service(customers::notes::list)
        .service(customers::notes::get)
        .service(customers::notes::update)
        .service(customers::notes::delete);
    config.service(tickets::create).service(tickets::list).service(tickets::get).service(tickets::update);
    config
        .service(messages::list)
        .service(messages::get)
        .service(messages::reply)
        .service(messages::note)
        .service(messages::original);
    config.service(attachments::upload).service(attachments::download);
    config.service(email::inbound).service(email::postmark).service(email::sendgrid).service(email::mailgun);
    config
        .service(chat_sites::create)
        .service(chat_sites::list)
        .service(chat_sites::get)
        .service(chat_sites::update)
        .service(chat_sites::add_secret)
        .service(chat_sites::remove_secret);
    config.service(events::feed);
    config
        .service(webhooks::create)
        .service(webhooks::list)
        .service(webhooks::get)
        .service(webhooks::update)
        .service(webhooks::remove)
        .service(webhooks::rotate)
        .service(webhooks::deliveries)
        .service(webhooks::redeliver)
        .service(webhooks::recover);
    config
        .service(connectors::create)
        .service(connectors::list)
        .service(connectors::get)
        .service(connectors::update)
        .service(connectors::add_key)
        .service(connectors::rotate_secret)
        .service(connectors::create_message)
        .service(connectors::upsert_customer)
        .service(connectors::upsert_ticket)
        .service(connectors::report_status)
        .service(connectors::reply_attachment);
    config.service(stream::connect).service(messages::seen).service(tickets::typing);
    config
        .service(widget::script)
        .service(widget::sessions::create)
        .service(widget::messages::create)
        .service(widget::messages::list)
        .service(widget::messages::seen)
        .service(widget::messages::typing)
        .service(widget::socket::connect);
    config.service(web_forms::create).service(web_forms::list).service(web_forms::get).service(web_forms::update);
    config.service(forms::token).service(forms::submissions::submit);
    config.service(csat::page::show).service(csat::page::rate);
    config
        .service(schedules::create)
        .service(schedules::list)
        .service(schedules::get)
        .service(schedules::versions)
        .service(schedules::update)
        .service(sla::create)
        .service(sla::list)
        .service(sla::get)
        .service(sla::update)
        .service(sla::of_ticket);
    config
        .service(follow_ups::snooze)
        .service(follow_ups::unsnooze)
        .service(follow_ups::add_reminder)
        .service(follow_ups::reminders)
        .service(follow_ups::cancel_reminder)
        .service(macros::create)
        .service(macros::list)
        .service(macros::get)
        .service(macros::update)
        .service(macros::remove)
        .service(macros::apply)
        .service(csat::of_ticket)
        .service(csat::settings)
        .service(csat::update_settings)
        .service(routing::set)
        .service(routing::list)
        .service(routing::of_ticket)
        .service(routing::settings)
        .service(routing::update_settings);
}

/// Every write that succeeded may have appended events: wake the live follower (here and,
/// through Redis, on the other nodes) instead of leaving sockets to the next poll.
async fn wake_after_writes(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let write = !matches!(
        *request.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD | actix_web::http::Method::OPTIONS
    );
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(request).await?;
    // A web form's browser is redirected (303) after a stored submission.
    if write
        && (response.status().is_success() || response.status().is_redirection())
        && let Some(state) = state
    {
        state.live.wake();
    }
    Ok(response)
}
