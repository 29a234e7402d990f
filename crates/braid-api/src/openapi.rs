//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes,
//! served at `/openapi.json` with an offline Swagger UI at `/docs`.

use utoipa::OpenApi;
use utoipa::openapi::OpenApi as Document;
use utoipa_swagger_ui::{Config, SwaggerUi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Braid",
        description = "Omnichannel support ticketing: email, chat, web forms and connectors in one \
                       conversation thread per customer.\n\nErrors are `application/problem+json` \
                       (RFC 9457) with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(
        crate::error::Problem,
        crate::error::ErrorCode,
        crate::event_payloads::IdentityUpdatedPayload,
        crate::event_payloads::IdentityRemovedPayload,
        crate::event_payloads::CustomerMergedPayload,
        crate::event_payloads::CustomerUnmergedPayload,
        crate::event_payloads::CustomerAttributesUpdatedPayload,
        crate::event_payloads::CustomerPreferencesUpdatedPayload,
        crate::event_payloads::AttributeDefinitionDeletedPayload,
        crate::event_payloads::CustomerNoteDeletedPayload,
        crate::event_payloads::MessageSeenPayload,
        crate::event_payloads::TicketWokePayload,
        crate::event_payloads::MacroDeletedPayload,
        crate::event_payloads::PresenceChangedPayload,
        crate::event_payloads::MacroAppliedPayload,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Agent sign-in: access tokens and rotating refresh tokens."),
        (name = "customers", description = "Customers, their identities, and their one thread across every channel."),
        (name = "tickets", description = "Tickets: units of work in a customer's thread, with status, assignee, team, tags and priority."),
        (name = "messages", description = "A ticket's messages, agents' replies (delivered on the ticket's channel) and internal notes; a message as received."),
        (name = "attachments", description = "Files by id (their SHA-256): upload one for a reply, download an inbound attachment or an upload."),
        (name = "agents", description = "Agents (admin)."),
        (name = "teams", description = "Teams (admin)."),
        (name = "api-keys", description = "Scoped API keys for integrations (admin)."),
        (name = "channels", description = "Inbound channels: email webhooks for your MTA or email provider."),
        (name = "chat", description = "Chat sites (admin): the websites that embed the widget, their allowed origins and identity secrets."),
        (name = "widget", description = "The chat widget's public API, for browsers: sessions, messages, seen, typing, the visitor socket and the script."),
        (name = "webhooks", description = "Outbound webhooks (admin): endpoints that receive the event log as signed POSTs (Standard Webhooks), with retries over three days and a delivery log."),
        (name = "connectors", description = "The connector channel: integrations that bring their own channel. Their messages, customers and tickets by their own ids, agents' replies as signed callbacks, and delivery reports."),
        (name = "forms", description = "The web form channel: contact forms websites post to (`/forms/v1/{form_key}`, public, origin-checked, rate-limited, spam-checked), and their settings (admin). A typed email is a claim: the message joins that address's customer unverified, and the answer goes there by email."),
        (name = "sla", description = "Service levels: business-hours schedules (versioned: an edit never recounts the past), SLA policies with first-reply, next-reply and resolution targets per priority, and each ticket's clocks explained. Definitions in docs/sla.md."),
        (name = "macros", description = "Macros and canned responses: typed actions (status, priority, assignee, team, tags, a reply, a note) with placeholders from the ticket, the customer and the agent, shared or personal; tried as a dry run, applied in one transaction. Syntax in docs/macros.md."),
        (name = "csat", description = "Satisfaction surveys: sent after a solve on the ticket's own channel, rated through a signed link on a small public page (`/csat/v1/{token}`) while the window is open; a bad rating reopens the ticket or opens a follow-up. Ratings are attributed to the assignee and team at the solve."),
        (name = "routing", description = "Routing: agents' presence (heartbeats or the agent stream keep it), and each ticket's routing decisions with their reasons. Teams choose manual, round-robin or least-loaded routing with capacities per channel on `/v1/teams`. Rules in docs/routing.md."),
        (name = "events", description = "The sync feed: every event of the log, page by page from a cursor, for connectors and data pipelines."),
        (name = "stream", description = "The live stream for agents and integrations: every event of the log over a WebSocket, resumable from a position."),
        (name = "operations", description = "Health, readiness and metrics."),
    ),
)]
struct Base;

/// `Authorization: Bearer <token>`: an agent's access token (a JWT from
/// `/v1/auth/login`) or an API key (`brd_…`).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An agent's access token (a JWT from `POST /v1/auth/login`) or an API key (`brd_<prefix>_<secret>`). \
                 Agents hold every scope but `admin`; admins hold all; an API key holds its scopes, and `admin` implies all.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
        let visitor = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "A chat visitor's token, from `POST /widget/v1/sessions`. Widget calls also need the page's `Origin` \
                 to be one the site allows.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("visitor", SecurityScheme::Http(visitor));
    }
}

/// The document's fixed parts; routes add their paths.
pub(crate) fn base() -> Document {
    let mut doc = Base::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The complete document, as the running server serves it.
pub fn openapi() -> Document {
    use utoipa_actix_web::AppExt;
    let (_, doc) = actix_web::App::new().into_utoipa_app().openapi(base()).configure(crate::routes).split_for_parts();
    finish(doc)
}

/// What no single handler declares: every POST an agent or integration makes takes an
/// `Idempotency-Key` (the middleware in `idempotency.rs` handles it for all of them), so
/// generated clients get it as a typed parameter.
pub(crate) fn finish(mut doc: Document) -> Document {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Required, ResponseBuilder, Type};
    for item in doc.paths.paths.values_mut() {
        let Some(post) = item.post.as_mut() else { continue };
        let bearer = serde_json::to_value(&post.security).is_ok_and(|s| s.to_string().contains("\"bearer\""));
        if !bearer {
            continue; // sign-in, and webhooks that authenticate by their own secret
        }
        let key = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Makes a retry safe: the same key with the same method, path and body (byte for byte), within \
                 `idempotency_ttl_hours` (24 by default), replays the first answer (with `idempotent-replayed: \
                 true`) instead of acting twice; the same key with another request is `422`. Answers that carry a \
                 secret (a new API key) and server errors are not kept: their retry runs again.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .pattern(Some("^[ -~]+$")),
            ))
            .build();
        post.parameters.get_or_insert_with(Vec::new).push(RefOr::T(key));
        for (code, why) in [
            (
                "400",
                "A malformed request, such as an `Idempotency-Key` that is not 1 to 255 visible characters (`bad_request`).",
            ),
            ("409", "A request with this `Idempotency-Key` is still running (`conflict`)."),
            ("422", "This `Idempotency-Key` was used with another body (`idempotency_key_reused`)."),
        ] {
            post.responses.responses.entry(code.to_owned()).or_insert_with(|| {
                let problem = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
                RefOr::T(ResponseBuilder::new().description(why).content("application/problem+json", problem).build())
            });
        }
    }
    doc.webhooks = Some(event_webhooks(&doc));
    doc
}

/// One `webhooks` entry per event kind: the body Braid POSTs (`{"type", "timestamp",
/// "data"}`), whose `data` is the event as the feed and the stream carry it, with the
/// kind's own payload schema (`event_payloads::schema_of`).
fn event_webhooks(doc: &Document) -> utoipa::openapi::path::Paths {
    use serde_json::json;
    let event = doc.components.as_ref().and_then(|c| c.schemas.get("EventView")).map(serde_json::to_value);
    let Some(Ok(event)) = event else { return Default::default() };
    let mut webhooks = serde_json::Map::new();
    for &kind in braid_core::EventKind::ALL {
        let mut data = event.clone();
        data["properties"]["kind"] = json!({"type": "string", "enum": [kind.as_str()]});
        data["properties"]["payload"] = json!({
            "$ref": format!("#/components/schemas/{}", crate::event_payloads::schema_of(kind)),
            "description": "What changed, as it is after the change.",
        });
        data.as_object_mut().map(|d| d.remove("example"));
        let body = json!({
            "type": "object",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": {"type": "string", "enum": [kind.as_str()]},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": data,
            },
        });
        webhooks.insert(
            kind.as_str().to_owned(),
            json!({"post": {
                "tags": ["webhooks"],
                "summary": crate::event_payloads::describe(kind),
                "description": "Signed as Standard Webhooks are (`webhook-id`, `webhook-timestamp`, `webhook-signature`). \
                                The feed (`GET /v1/events`) and the live stream carry the same `data`.",
                "operationId": event_operation_id(kind),
                "requestBody": {"required": true, "content": {"application/json": {"schema": body}}},
                "responses": {"200": {"description": "Any 2xx acknowledges the delivery; anything else is retried."}},
            }}),
        );
    }
    serde_json::from_value(serde_json::Value::Object(webhooks)).unwrap_or_default()
}

/// `ticket.created` → `ticketCreatedEvent`: camelCase, as every operation's id.
fn event_operation_id(kind: braid_core::EventKind) -> String {
    let mut id = String::new();
    for (i, word) in kind.as_str().split(['.', '_']).enumerate() {
        let mut chars = word.chars();
        match (i, chars.next()) {
            (0, Some(first)) => id.push(first),
            (_, Some(first)) => id.push(first.to_ascii_uppercase()),
            (_, None) => {}
        }
        id.extend(chars);
    }
    id + "Event"
}

/// `/openapi.json` and `/docs`. The UI's assets are compiled in and it never calls out
/// (no CDN, no online validator).
pub(crate) fn docs(doc: Document) -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", doc).config(Config::default().validator_url("none"))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn operations() -> Vec<(String, String, Value)> {
        let doc: Value = serde_json::from_str(&super::openapi().to_json().unwrap()).unwrap();
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                operations.push((method.to_uppercase(), path.clone(), operation.clone()));
            }
        }
        assert!(operations.len() > 30, "every route is in the document");
        operations
    }

    fn document() -> Value {
        serde_json::from_str(&super::openapi().to_json().unwrap()).unwrap()
    }

    #[test]
    fn every_operation_is_described_and_has_a_success_answer() {
        for (method, path, operation) in operations() {
            let described = operation["summary"].is_string() || operation["description"].is_string();
            assert!(described, "{method} {path} has no description");
            let responses = operation["responses"].as_object().unwrap();
            // A WebSocket's success is the protocol switch.
            let success = |code: &String| code.starts_with('2') || code == "101";
            assert!(responses.keys().any(success), "{method} {path} documents no success");
        }
    }

    /// Client generators name a method after each operation id: one shared by two
    /// operations (`list` on customers and teams) makes colliding methods or a refused
    /// document.
    #[test]
    fn every_operation_has_its_own_camel_case_id() {
        let mut seen = std::collections::HashMap::new();
        for (method, path, operation) in operations() {
            let id = operation["operationId"].as_str().unwrap_or_default().to_owned();
            let camel =
                id.starts_with(|c: char| c.is_ascii_lowercase()) && id.chars().all(|c| c.is_ascii_alphanumeric());
            assert!(camel, "{method} {path}: operation id {id:?} is not camelCase (`listTickets`)");
            if let Some(other) = seen.insert(id.clone(), format!("{method} {path}")) {
                panic!("{method} {path} and {other} share the operation id {id:?}");
            }
        }
    }

    /// OpenAPI requires a description on every response; generators group operations by tag.
    #[test]
    fn every_operation_has_one_described_tag_and_every_response_a_description() {
        let doc = document();
        let tags = doc["tags"].as_array().unwrap();
        for (method, path, operation) in operations() {
            let [tag] = operation["tags"].as_array().map(Vec::as_slice).unwrap_or_default() else {
                panic!("{method} {path} needs exactly one tag");
            };
            let declared = tags.iter().find(|t| t["name"] == *tag);
            assert!(
                declared.is_some_and(|t| t["description"].is_string()),
                "{method} {path}: tag {tag} is not described"
            );
            for (code, response) in operation["responses"].as_object().unwrap() {
                let described = response["description"].as_str().is_some_and(|d| !d.trim().is_empty());
                assert!(described, "{method} {path}: the {code} response has no description");
            }
        }
    }

    #[test]
    fn every_post_an_agent_or_key_makes_declares_the_idempotency_key() {
        for (method, path, operation) in operations() {
            let declared = operation["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"));
            let bearer = operation["security"] == serde_json::json!([{ "bearer": [] }]);
            assert_eq!(declared, method.eq_ignore_ascii_case("post") && bearer, "{method} {path}");
        }
    }

    #[test]
    fn every_protected_operation_declares_bearer_security_and_its_auth_errors() {
        for (method, path, operation) in operations() {
            if path.starts_with("/v1/channels/") {
                // Webhooks authenticate with the inbound secret, or (Mailgun) a request
                // signature that OpenAPI cannot express; the description must say which.
                let secret = operation["security"] == serde_json::json!([{ "email_inbound": [] }]);
                let signed = operation["description"].as_str().is_some_and(|d| d.contains("signature"));
                assert!(secret || signed, "{method} {path} documents no authentication");
                assert!(operation["responses"]["401"].is_object(), "{method} {path}");
                continue;
            }
            if !path.starts_with("/v1/") || path.starts_with("/v1/auth/") {
                continue;
            }
            assert_eq!(operation["security"], serde_json::json!([{ "bearer": [] }]), "{method} {path}");
            for code in ["401", "403"] {
                let problem = &operation["responses"][code]["content"]["application/problem+json"];
                assert!(problem.is_object(), "{method} {path} does not document {code} as a problem");
            }
        }
        assert!(document()["components"]["securitySchemes"]["bearer"].is_object());
    }

    #[test]
    fn every_request_body_has_an_example_and_every_write_documents_bad_input() {
        let doc = document();
        for (method, path, operation) in operations() {
            let Some(body) = operation.get("requestBody") else {
                // Actions on a resource that take nothing but the resource.
                let action = ["/undo", "/dismiss", "/seen", "/redeliver", "/keys", "/apply"]
                    .iter()
                    .any(|verb| path.ends_with(verb));
                assert!(action || !matches!(method.as_str(), "POST" | "PATCH"), "{method} {path} documents no body");
                continue;
            };
            let Some(reference) = body["content"]["application/json"]["schema"]["$ref"].as_str() else {
                assert!(body["description"].is_string(), "{method} {path}: a non-JSON body needs a description");
                continue;
            };
            let schema = &doc["components"]["schemas"][reference.rsplit('/').next().unwrap()];
            assert!(schema["example"].is_object(), "{method} {path}: {reference} has no example");
            assert!(operation["responses"]["400"].is_object(), "{method} {path} does not document 400");
            assert!(operation["responses"]["422"].is_object(), "{method} {path} does not document 422");
        }
    }
}
