//! The authorization matrix: every `/v1` route (but the public `/v1/auth/*`) against every
//! kind of caller. A caller without valid credentials gets a 401 problem, one lacking the
//! route's scopes a 403 problem, and one holding them the route's success status.
//!
//! Handlers read the JSON body before they check the scope, so every write sends a valid
//! body with fresh names; a route that destroys its target gets a target of its own.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, access_token, both_backends};

both_backends!(
    the_matrix_lists_every_v1_route_the_app_serves,
    anonymous_and_garbage_callers_get_a_401_problem_everywhere,
    agents_may_do_everything_but_administration,
    admins_may_do_everything,
    each_api_key_may_do_exactly_what_its_scope_allows,
    the_auth_endpoints_answer_without_credentials,
    a_deactivated_agents_unexpired_token_is_refused,
    a_revoked_api_key_is_refused,
    a_connectors_key_acts_only_as_its_connector,
);

const ADMIN: &[&str] = &["admin"];
const TICKETS_READ: &[&str] = &["tickets:read"];
const TICKETS_WRITE: &[&str] = &["tickets:write"];
const CUSTOMERS_READ: &[&str] = &["customers:read"];
const CUSTOMERS_WRITE: &[&str] = &["customers:write"];
const THREAD: &[&str] = &["customers:read", "tickets:read"];
/// Merges move tickets and messages.
const MERGE: &[&str] = &["customers:write", "tickets:write"];
const EVENTS_READ: &[&str] = &["events:read"];
/// The connector's own routes: an admin, or the connector's own key (`|`: either will
/// do). Every connector's key holds `connector`; the fixture's also `connector:own`.
const CONNECTOR: &[&str] = &["admin|connector:own"];
/// Uploads: `tickets:write`, or any connector's key (for its messages' files).
const UPLOAD: &[&str] = &["tickets:write|connector"];

/// Agents hold every scope but `admin`; admins (and API keys with `admin`) hold them all.
const AGENT_SCOPES: &[&str] = &["tickets:read", "tickets:write", "customers:read", "customers:write", "events:read"];
const ALL_SCOPES: &[&str] =
    &["tickets:read", "tickets:write", "customers:read", "customers:write", "events:read", "admin"];

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PATCH: Method = Method::PATCH;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;

const PASSWORD: &str = "a long enough password";

type BodyFn = fn(&Fixture) -> Value;
type Body = Option<BodyFn>;

/// One row of the matrix. In `path`, `{customer}`, `{ticket}`, `{agent}`, `{team}`,
/// `{attribute}` and `{note}` name shared resources; `{new_…}` one created for this request alone, which it may destroy.
struct Endpoint {
    method: Method,
    path: &'static str,
    needs: &'static [&'static str],
    /// The status a caller holding `needs` gets.
    ok: u16,
    body: Body,
}

const fn row(method: Method, path: &'static str, needs: &'static [&'static str], ok: u16, body: Body) -> Endpoint {
    Endpoint { method, path, needs, ok, body }
}

#[rustfmt::skip]
fn matrix() -> Vec<Endpoint> {
    vec![
        row(POST,   "/v1/api-keys",                                       ADMIN,           201, Some(new_api_key)),
        row(GET,    "/v1/api-keys",                                       ADMIN,           200, None),
        row(DELETE, "/v1/api-keys/{new_api_key}",                         ADMIN,           200, None),
        row(POST,   "/v1/agents",                                         ADMIN,           201, Some(new_agent)),
        row(GET,    "/v1/agents",                                         ADMIN,           200, None),
        row(GET,    "/v1/agents/{agent}",                                 ADMIN,           200, None),
        row(PATCH,  "/v1/agents/{agent}",                                 ADMIN,           200, Some(agent_patch)),
        row(DELETE, "/v1/agents/{new_agent}",                             ADMIN,           200, None),
        row(POST,   "/v1/teams",                                          ADMIN,           201, Some(new_team)),
        row(GET,    "/v1/teams",                                          ADMIN,           200, None),
        row(GET,    "/v1/teams/{team}",                                   ADMIN,           200, None),
        row(PATCH,  "/v1/teams/{team}",                                   ADMIN,           200, Some(new_team)),
        row(DELETE, "/v1/teams/{new_team}",                               ADMIN,           200, None),
        row(POST,   "/v1/customers",                                      CUSTOMERS_WRITE, 201, Some(new_customer)),
        row(GET,    "/v1/customers",                                      CUSTOMERS_READ,  200, None),
        row(GET,    "/v1/customers/{customer}",                           CUSTOMERS_READ,  200, None),
        row(PATCH,  "/v1/customers/{customer}",                           CUSTOMERS_WRITE, 200, Some(customer_patch)),
        row(POST,   "/v1/customers/{customer}/identities",                CUSTOMERS_WRITE, 201, Some(new_identity)),
        row(PATCH,  "/v1/customers/{customer}/identities/{new_identity}", CUSTOMERS_WRITE, 200, Some(identity_patch)),
        row(DELETE, "/v1/customers/{customer}/identities/{new_identity}", CUSTOMERS_WRITE, 204, None),
        row(POST,   "/v1/customers/{customer}/merge",                     MERGE,           200, Some(merge_preview)),
        row(GET,    "/v1/merges/{merge}",                                 THREAD,          200, None),
        row(POST,   "/v1/merges/{new_merge}/undo",                        MERGE,           200, None),
        row(GET,    "/v1/merge-suggestions",                              CUSTOMERS_READ,  200, None),
        row(GET,    "/v1/merge-suggestions/{suggestion}",                 CUSTOMERS_READ,  200, None),
        row(POST,   "/v1/merge-suggestions/{new_suggestion}/accept",      MERGE,           200, Some(empty)),
        row(POST,   "/v1/merge-suggestions/{new_suggestion}/dismiss",     CUSTOMERS_WRITE, 200, None),
        row(GET,    "/v1/customers/{customer}/thread",                    THREAD,          200, None),
        row(GET,    "/v1/customers/{customer}/preferences",               CUSTOMERS_READ,  200, None),
        row(PUT,    "/v1/customers/{customer}/preferences",               CUSTOMERS_WRITE, 200, Some(preferences)),
        row(GET,    "/v1/customers/{customer}/context",                   THREAD,          200, None),
        row(POST,   "/v1/attribute-definitions",                          ADMIN,           201, Some(new_attribute)),
        row(GET,    "/v1/attribute-definitions",                          CUSTOMERS_READ,  200, None),
        row(GET,    "/v1/attribute-definitions/{attribute}",              CUSTOMERS_READ,  200, None),
        row(PATCH,  "/v1/attribute-definitions/{attribute}",              ADMIN,           200, Some(attribute_patch)),
        row(DELETE, "/v1/attribute-definitions/{new_attribute}",          ADMIN,           204, None),
        row(GET,    "/v1/customers/{customer}/attributes",                CUSTOMERS_READ,  200, None),
        row(PUT,    "/v1/customers/{customer}/attributes",                CUSTOMERS_WRITE, 200, Some(attribute_values)),
        row(POST,   "/v1/customers/{customer}/notes",                     CUSTOMERS_WRITE, 201, Some(new_note)),
        row(GET,    "/v1/customers/{customer}/notes",                     CUSTOMERS_READ,  200, None),
        row(GET,    "/v1/customers/{customer}/notes/{note}",              CUSTOMERS_READ,  200, None),
        row(PATCH,  "/v1/customers/{customer}/notes/{note}",              CUSTOMERS_WRITE, 200, Some(note_patch)),
        row(DELETE, "/v1/customers/{customer}/notes/{new_note}",          CUSTOMERS_WRITE, 204, None),
        row(GET,    "/v1/attachments/{attachment}",                       TICKETS_READ,    404, None),
        row(GET,    "/v1/messages/{message}",                             TICKETS_READ,    404, None),
        row(GET,    "/v1/messages/{message}/original",                    THREAD,          404, None),
        row(POST,   "/v1/tickets",                                        TICKETS_WRITE,   201, Some(new_ticket)),
        row(GET,    "/v1/tickets",                                        TICKETS_READ,    200, None),
        row(GET,    "/v1/tickets/{ticket}",                               TICKETS_READ,    200, None),
        row(PATCH,  "/v1/tickets/{ticket}",                               TICKETS_WRITE,   200, Some(ticket_patch)),
        row(GET,    "/v1/tickets/{ticket}/messages",                      TICKETS_READ,    200, None),
        row(GET,    "/v1/tickets/{ticket}/sla",                           TICKETS_READ,    200, None),
        row(POST,   "/v1/tickets/{ticket}/snooze",                        TICKETS_WRITE,   200, Some(snooze)),
        row(DELETE, "/v1/tickets/{ticket}/snooze",                        TICKETS_WRITE,   200, None),
        row(POST,   "/v1/tickets/{ticket}/reminders",                     TICKETS_WRITE,   201, Some(new_reminder)),
        row(GET,    "/v1/tickets/{ticket}/reminders",                     TICKETS_READ,    200, None),
        // No reminder has this id.
        row(DELETE, "/v1/tickets/{ticket}/reminders/{message}",           TICKETS_WRITE,   404, None),
        row(POST,   "/v1/tickets/{ticket}/replies",                       TICKETS_WRITE,   201, Some(reply)),
        row(POST,   "/v1/tickets/{ticket}/notes",                         TICKETS_WRITE,   201, Some(note)),
        row(POST,   "/v1/attachments",                                    UPLOAD,          201, Some(note)),
        row(POST,   "/v1/tickets/{ticket}/typing",                        TICKETS_WRITE,   204, Some(typing)),
        row(POST,   "/v1/messages/{message}/seen",                        TICKETS_READ,    404, None),
        // A plain GET is no WebSocket upgrade: past authorization, it is a 400.
        row(GET,    "/v1/events",                                         EVENTS_READ,     200, None),
        row(GET,    "/v1/stream",                                         THREAD,          400, None),
        row(POST,   "/v1/chat/sites",                                     ADMIN,           201, Some(new_site)),
        row(GET,    "/v1/chat/sites",                                     ADMIN,           200, None),
        row(GET,    "/v1/chat/sites/{site}",                              ADMIN,           200, None),
        row(PATCH,  "/v1/chat/sites/{site}",                              ADMIN,           200, Some(site_patch)),
        row(POST,   "/v1/chat/sites/{new_site}/secrets",                  ADMIN,           201, Some(empty)),
        // No secret has this key id.
        row(DELETE, "/v1/chat/sites/{site}/secrets/{kid}",                ADMIN,           404, None),
        row(POST,   "/v1/connectors",                                     ADMIN,           201, Some(new_connector)),
        row(GET,    "/v1/connectors",                                     ADMIN,           200, None),
        row(GET,    "/v1/connectors/{connector}",                         CONNECTOR,       200, None),
        row(PATCH,  "/v1/connectors/{connector}",                         ADMIN,           200, Some(connector_patch)),
        row(POST,   "/v1/connectors/{connector}/keys",                    ADMIN,           201, None),
        row(POST,   "/v1/connectors/{connector}/secrets",                 ADMIN,           201, Some(empty)),
        row(POST,   "/v1/connectors/{connector}/messages",                CONNECTOR,       201, Some(connector_message)),
        row(PUT,    "/v1/connectors/{connector}/customers/{external}",    CONNECTOR,       201, Some(connector_customer)),
        row(PUT,    "/v1/connectors/{connector}/tickets/{external}",      CONNECTOR,       201, Some(connector_ticket)),
        // No reply of the connector has this id.
        row(PUT,    "/v1/connectors/{connector}/messages/{message}/status", CONNECTOR,     404, Some(status_report)),
        row(GET,    "/v1/connectors/{connector}/messages/{message}/attachments/{attachment}", CONNECTOR, 404, None),
        row(POST,   "/v1/forms",                                          ADMIN,           201, Some(new_form)),
        row(GET,    "/v1/forms",                                          ADMIN,           200, None),
        row(GET,    "/v1/forms/{form}",                                   ADMIN,           200, None),
        row(PATCH,  "/v1/forms/{form}",                                   ADMIN,           200, Some(form_patch)),
        row(POST,   "/v1/schedules",                                      ADMIN,           201, Some(new_schedule)),
        row(GET,    "/v1/schedules",                                      TICKETS_READ,    200, None),
        row(GET,    "/v1/schedules/{schedule}",                           TICKETS_READ,    200, None),
        row(GET,    "/v1/schedules/{schedule}/versions",                  TICKETS_READ,    200, None),
        row(PATCH,  "/v1/schedules/{schedule}",                           ADMIN,           200, Some(schedule_patch)),
        row(POST,   "/v1/sla-policies",                                   ADMIN,           201, Some(new_sla_policy)),
        row(GET,    "/v1/sla-policies",                                   TICKETS_READ,    200, None),
        row(GET,    "/v1/sla-policies/{sla_policy}",                      TICKETS_READ,    200, None),
        row(PATCH,  "/v1/sla-policies/{sla_policy}",                      ADMIN,           200, Some(sla_policy_patch)),
        row(POST,   "/v1/macros",                                         ADMIN,           201, Some(new_macro)),
        row(GET,    "/v1/macros",                                         TICKETS_READ,    200, None),
        row(GET,    "/v1/macros/{macro}",                                 TICKETS_READ,    200, None),
        row(PATCH,  "/v1/macros/{macro}",                                 ADMIN,           200, Some(macro_patch)),
        row(DELETE, "/v1/macros/{new_macro}",                             ADMIN,           204, None),
        row(POST,   "/v1/tickets/{ticket}/macros/{macro}/apply?dry_run=true", TICKETS_WRITE, 200, None),
        row(GET,    "/v1/csat/settings",                                  TICKETS_READ,    200, None),
        row(PATCH,  "/v1/csat/settings",                                  ADMIN,           200, Some(csat_settings)),
        row(GET,    "/v1/tickets/{ticket}/satisfaction",                  TICKETS_READ,    200, None),
        row(PUT,    "/v1/presence",                                       ADMIN,           200, Some(presence)),
        row(GET,    "/v1/presence",                                       TICKETS_READ,    200, None),
        row(GET,    "/v1/tickets/{ticket}/routing",                       TICKETS_READ,    200, None),
        row(GET,    "/v1/routing/settings",                               TICKETS_READ,    200, None),
        row(PATCH,  "/v1/routing/settings",                               ADMIN,           200, Some(routing_settings)),
        row(POST,   "/v1/webhooks",                                       ADMIN,           201, Some(new_webhook)),
        row(GET,    "/v1/webhooks",                                       ADMIN,           200, None),
        row(GET,    "/v1/webhooks/{new_webhook}",                         ADMIN,           200, None),
        row(PATCH,  "/v1/webhooks/{new_webhook}",                         ADMIN,           200, Some(webhook_patch)),
        row(DELETE, "/v1/webhooks/{new_webhook}",                         ADMIN,           204, None),
        row(POST,   "/v1/webhooks/{new_webhook}/secrets",                 ADMIN,           201, Some(empty)),
        row(GET,    "/v1/webhooks/{new_webhook}/deliveries",              ADMIN,           200, None),
        // No delivery has this id.
        row(POST,   "/v1/webhooks/{new_webhook}/deliveries/{delivery}/redeliver", ADMIN,   404, None),
        row(POST,   "/v1/webhooks/{new_webhook}/recover",                 ADMIN,           202, Some(recovery)),
    ]
}

/// Where each `{new_…}` target is created (as admin), and with what body.
const NEW_TARGETS: [(&str, &str, BodyFn); 9] = [
    ("{new_macro}", "/v1/macros", new_macro),
    ("{new_site}", "/v1/chat/sites", new_site),
    ("{new_webhook}", "/v1/webhooks", new_webhook),
    ("{new_api_key}", "/v1/api-keys", new_api_key),
    ("{new_agent}", "/v1/agents", new_agent),
    ("{new_team}", "/v1/teams", new_team),
    ("{new_identity}", "/v1/customers/{customer}/identities", new_identity),
    ("{new_attribute}", "/v1/attribute-definitions", new_attribute),
    ("{new_note}", "/v1/customers/{customer}/notes", new_note),
];

fn new_site(_: &Fixture) -> Value {
    let slug = format!("site-{}", uuid::Uuid::now_v7().simple());
    json!({"name": "Shop", "slug": slug, "allowed_origins": ["https://shop.example"]})
}

fn new_form(_: &Fixture) -> Value {
    json!({"name": "Contact", "allowed_origins": ["https://shop.example"]})
}

fn form_patch(_: &Fixture) -> Value {
    json!({"redirect_url": "https://shop.example/thanks"})
}

fn snooze(_: &Fixture) -> Value {
    json!({"until": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339()})
}

fn new_reminder(fixture: &Fixture) -> Value {
    // An API key names the agent; an agent may too.
    json!({"due_at": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339(), "agent_id": fixture.agent})
}

fn new_schedule(_: &Fixture) -> Value {
    json!({"name": "Office", "time_zone": "Europe/Lisbon", "hours": {"monday": [{"start": "09:00", "end": "17:00"}]}})
}

fn schedule_patch(_: &Fixture) -> Value {
    json!({"holidays": ["2026-12-25"]})
}

fn new_sla_policy(_: &Fixture) -> Value {
    // Disabled: the matrix's own tickets keep no clocks.
    json!({"name": "Standard", "enabled": false, "targets": {"first_reply": {"minutes": {"normal": 60}}}})
}

fn sla_policy_patch(_: &Fixture) -> Value {
    json!({"name": "Renamed", "enabled": false})
}

/// Shared (so any caller sees it), and nothing an API key cannot apply.
fn new_macro(_: &Fixture) -> Value {
    json!({"name": "Thanks", "visibility": "shared", "actions": [
        {"type": "reply", "text": "Thanks, {{customer.first_name | default: \"there\"}}!"},
        {"type": "add_tags", "tags": ["thanked"]},
    ]})
}

/// Another agent's presence (away: the matrix's agent is routed nothing), which needs
/// `admin`; an agent setting their own is in tests/api/routing.rs.
fn presence(fixture: &Fixture) -> Value {
    json!({"status": "away", "agent_id": fixture.agent})
}

/// No default teams: the matrix's tickets keep to themselves.
fn routing_settings(_: &Fixture) -> Value {
    json!({"default_teams": {}})
}

/// Surveys stay off: the matrix's tickets send none.
fn csat_settings(_: &Fixture) -> Value {
    json!({"enabled": false, "window_days": 7})
}

fn macro_patch(_: &Fixture) -> Value {
    json!({"description": "Says thanks"})
}

fn new_webhook(_: &Fixture) -> Value {
    // Nothing listens there; deliveries to it fail and wait, which is all this test needs.
    json!({"url": "http://127.0.0.1:9/hook", "events": ["ticket.*"]})
}

fn new_connector(_: &Fixture) -> Value {
    json!({"name": format!("c-{}", uuid::Uuid::now_v7().simple())})
}

fn connector_patch(_: &Fixture) -> Value {
    json!({"trusted": false})
}

fn connector_message(fixture: &Fixture) -> Value {
    json!({
        "external_id": unique("m"),
        "customer": {"external_id": fixture.connector_customer},
        "text": "Hello from the bridge",
    })
}

fn connector_customer(_: &Fixture) -> Value {
    json!({"name": "Ana Lima"})
}

fn connector_ticket(fixture: &Fixture) -> Value {
    json!({"customer_external_id": fixture.connector_customer, "subject": "From the bridge"})
}

fn status_report(_: &Fixture) -> Value {
    json!({"state": "delivered"})
}

fn webhook_patch(_: &Fixture) -> Value {
    json!({"description": "matrix"})
}

fn recovery(_: &Fixture) -> Value {
    json!({"since": "2026-01-01T00:00:00Z"})
}

fn site_patch(_: &Fixture) -> Value {
    json!({"strict": true})
}

fn typing(_: &Fixture) -> Value {
    json!({"typing": true})
}

fn unique(what: &str) -> String {
    format!("{what} {}", uuid::Uuid::now_v7().simple())
}

fn unique_email() -> String {
    format!("{}@customers.example.org", uuid::Uuid::now_v7().simple())
}

fn new_api_key(_: &Fixture) -> Value {
    json!({ "name": unique("key"), "scopes": ["tickets:read"] })
}

fn new_agent(_: &Fixture) -> Value {
    json!({ "email": unique_email(), "name": "Matrix Agent", "role": "agent", "password": PASSWORD })
}

fn agent_patch(_: &Fixture) -> Value {
    json!({ "name": unique("Renamed") })
}

fn new_team(_: &Fixture) -> Value {
    json!({ "name": unique("Team") })
}

fn new_customer(_: &Fixture) -> Value {
    json!({ "name": "Ana Lima", "identities": [{ "kind": "email", "value": unique_email() }] })
}

fn customer_patch(_: &Fixture) -> Value {
    json!({ "name": unique("Ana") })
}

fn new_identity(_: &Fixture) -> Value {
    json!({ "kind": "email", "value": unique_email() })
}

fn identity_patch(_: &Fixture) -> Value {
    json!({ "trust": "verified" })
}

/// A preview: the shared customers stay apart for the other rows.
fn merge_preview(fixture: &Fixture) -> Value {
    json!({ "source_customer_id": fixture.other_customer, "dry_run": true })
}

fn preferences(_: &Fixture) -> Value {
    json!({ "language": "pt-BR" })
}

fn empty(_: &Fixture) -> Value {
    json!({})
}

fn new_attribute(_: &Fixture) -> Value {
    json!({ "key": format!("k_{}", uuid::Uuid::now_v7().simple()), "label": "Plan", "kind": "text" })
}

fn attribute_patch(_: &Fixture) -> Value {
    json!({ "label": unique("Plan") })
}

fn attribute_values(fixture: &Fixture) -> Value {
    json!({ "values": { fixture.attribute.as_str(): "pro" } })
}

fn new_note(_: &Fixture) -> Value {
    json!({ "body": "Prefers phone calls." })
}

fn note_patch(_: &Fixture) -> Value {
    json!({ "body": unique("Prefers email") })
}

fn new_ticket(fixture: &Fixture) -> Value {
    json!({ "customer_id": fixture.customer, "subject": "Called about a refund" })
}

fn ticket_patch(_: &Fixture) -> Value {
    json!({ "priority": "high" })
}

fn reply(_: &Fixture) -> Value {
    json!({ "text": "Your refund is on its way." })
}

fn note(_: &Fixture) -> Value {
    json!({ "text": "Refund approved by finance." })
}

/// The resources the paths name, created by the first admin.
#[derive(Default)]
struct Fixture {
    admin: String,
    customer: String,
    ticket: String,
    agent: String,
    team: String,
    other_customer: String,
    merge: String,
    suggestion: String,
    /// An attribute definition's key.
    attribute: String,
    note: String,
    site: String,
    form: String,
    schedule: String,
    sla_policy: String,
    /// A shared macro's id.
    macro_: String,
    /// A connector's name, its key, and one of its customers' external id.
    connector: String,
    connector_key: String,
    connector_customer: String,
}

impl Fixture {
    async fn create(app: &TestApp) -> Fixture {
        let admin = app.admin_token().await;
        let mut fixture = Fixture { admin, ..Fixture::default() };
        fixture.customer = created_id(app, &fixture.admin, "/v1/customers", new_customer(&fixture)).await;
        fixture.ticket = created_id(app, &fixture.admin, "/v1/tickets", new_ticket(&fixture)).await;
        fixture.agent = created_id(app, &fixture.admin, "/v1/agents", new_agent(&fixture)).await;
        fixture.team = created_id(app, &fixture.admin, "/v1/teams", new_team(&fixture)).await;
        fixture.other_customer = created_id(app, &fixture.admin, "/v1/customers", new_customer(&fixture)).await;
        fixture.merge = fixture.new_merge(app).await;
        fixture.suggestion = fixture.new_suggestion(app).await;
        fixture.attribute = created_id(app, &fixture.admin, "/v1/attribute-definitions", new_attribute(&fixture)).await;
        let notes = format!("/v1/customers/{}/notes", fixture.customer);
        fixture.note = created_id(app, &fixture.admin, &notes, new_note(&fixture)).await;
        fixture.site = created_id(app, &fixture.admin, "/v1/chat/sites", new_site(&fixture)).await;
        fixture.form = created_id(app, &fixture.admin, "/v1/forms", new_form(&fixture)).await;
        fixture.schedule = created_id(app, &fixture.admin, "/v1/schedules", new_schedule(&fixture)).await;
        fixture.sla_policy = created_id(app, &fixture.admin, "/v1/sla-policies", new_sla_policy(&fixture)).await;
        fixture.macro_ = created_id(app, &fixture.admin, "/v1/macros", new_macro(&fixture)).await;
        let response = app.post_as("/v1/connectors", &fixture.admin, &new_connector(&fixture)).await;
        assert_eq!(response.status(), 201);
        let connector: Value = response.json().await.unwrap();
        fixture.connector = connector["name"].as_str().unwrap().to_owned();
        fixture.connector_key = connector["key"].as_str().unwrap().to_owned();
        fixture.connector_customer = "customer-1".to_owned();
        let upsert = format!("/v1/connectors/{}/customers/customer-1", fixture.connector);
        assert_eq!(app.put_as(&upsert, &fixture.admin, &json!({"name": "Ana"})).await.status(), 201);
        fixture
    }

    /// Two customers of their own, merged: a merge to read or undo.
    async fn new_merge(&self, app: &TestApp) -> String {
        let target = created_id(app, &self.admin, "/v1/customers", new_customer(self)).await;
        let source = created_id(app, &self.admin, "/v1/customers", new_customer(self)).await;
        let body = json!({ "source_customer_id": source });
        created_id(app, &self.admin, &format!("/v1/customers/{target}/merge"), body).await
    }

    /// A customer claiming another's address: an open suggestion to decide.
    async fn new_suggestion(&self, app: &TestApp) -> String {
        let email = unique_email();
        let holder = json!({ "identities": [{ "kind": "email", "value": email }] });
        created_id(app, &self.admin, "/v1/customers", holder).await;
        let claimant = created_id(app, &self.admin, "/v1/customers", new_customer(self)).await;
        let claim = json!({ "kind": "email", "value": email });
        let response = app.post_as(&format!("/v1/customers/{claimant}/identities"), &self.admin, &claim).await;
        let body: Value = response.json().await.unwrap();
        body["extra"]["suggestion_id"].as_str().expect("a suggestion").to_owned()
    }

    fn fill(&self, path: &str) -> String {
        path.replace("{customer}", &self.customer)
            .replace("{merge}", &self.merge)
            .replace("{suggestion}", &self.suggestion)
            .replace("{ticket}", &self.ticket)
            .replace("{agent}", &self.agent)
            .replace("{team}", &self.team)
            .replace("{attribute}", &self.attribute)
            .replace("{note}", &self.note)
            .replace("{site}", &self.site)
            .replace("{form}", &self.form)
            .replace("{schedule}", &self.schedule)
            .replace("{sla_policy}", &self.sla_policy)
            .replace("{macro}", &self.macro_)
            .replace("{connector}", &self.connector)
            // A connector's id for something new each time.
            .replace("{external}", &uuid::Uuid::now_v7().simple().to_string())
            .replace("{kid}", "no-such-kid")
            .replace("{delivery}", "msg_0")
            // No blob has this hash: an allowed caller gets past authorization to a 404.
            .replace("{attachment}", &"0".repeat(64))
            // Nor is there a message with this id.
            .replace("{message}", &uuid::Uuid::now_v7().to_string())
    }

    /// The row's path with every placeholder filled, creating its `{new_…}` target.
    async fn path(&self, app: &TestApp, path: &str) -> String {
        let mut path = path.to_owned();
        if path.contains("{new_merge}") {
            path = path.replace("{new_merge}", &self.new_merge(app).await);
        }
        if path.contains("{new_suggestion}") {
            path = path.replace("{new_suggestion}", &self.new_suggestion(app).await);
        }
        for (placeholder, create_at, body) in NEW_TARGETS {
            if path.contains(placeholder) {
                let id = created_id(app, &self.admin, &self.fill(create_at), body(self)).await;
                path = path.replace(placeholder, &id);
            }
        }
        self.fill(&path)
    }
}

async fn created_id(app: &TestApp, token: &str, path: &str, body: Value) -> String {
    let response = app.post_as(path, token, &body).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "POST {path}: {body}");
    // Attribute definitions are known by their key.
    body["id"].as_str().or(body["key"].as_str()).unwrap().to_owned()
}

/// Someone calling: `token` is sent as the bearer credential when there is one; `holds` is
/// `None` when the credential must not be accepted at all.
struct Caller {
    name: String,
    token: Option<String>,
    holds: Option<&'static [&'static str]>,
}

impl Caller {
    fn unauthenticated(name: &str, token: Option<&str>) -> Caller {
        Caller { name: name.into(), token: token.map(str::to_owned), holds: None }
    }

    fn holding(name: &str, token: String, holds: &'static [&'static str]) -> Caller {
        Caller { name: name.into(), token: Some(token), holds: Some(holds) }
    }
}

/// Sends every row as every caller and fails listing each cell that did not answer as the
/// rules say.
async fn check_matrix(app: &TestApp, fixture: &Fixture, callers: &[Caller]) {
    let mut failures = vec![];
    for caller in callers {
        for endpoint in matrix() {
            let path = fixture.path(app, endpoint.path).await;
            let mut request = app.client.request(endpoint.method.clone(), app.url(&path));
            if let Some(token) = &caller.token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = endpoint.body {
                request = request.json(&body(fixture));
            }
            let response = request.send().await.expect("the server answers");
            let expected = match caller.holds {
                None => (401, Some("unauthorized")),
                Some(held) if endpoint.needs.iter().all(|need| need.split('|').any(|s| held.contains(&s))) => {
                    (endpoint.ok, None)
                }
                Some(_) => (403, Some("forbidden")),
            };
            if let Some(mismatch) = mismatch(response, expected).await {
                failures.push(format!("{} {} as {}: {mismatch}", endpoint.method, endpoint.path, caller.name));
            }
        }
    }
    assert!(failures.is_empty(), "{} cells of the matrix failed:\n{}", failures.len(), failures.join("\n"));
}

/// How `response` differs from `status` (and, for a problem, from its content type and
/// `code`); `None` when it does not.
async fn mismatch(response: reqwest::Response, (status, code): (u16, Option<&str>)) -> Option<String> {
    let got = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = response.text().await.unwrap_or_default();
    if got != status {
        return Some(format!("expected {status}, got {got} {text}"));
    }
    let code = code?;
    let problem: Value = serde_json::from_str(&text).unwrap_or_default();
    if content_type != "application/problem+json" || problem["code"] != code {
        return Some(format!("expected a `{code}` problem, got {content_type} {text}"));
    }
    None
}

/// `/v1/agents/{id}` and `/v1/agents/{new_agent}` both become `/v1/agents/{}`.
fn route_pattern(path: &str) -> String {
    let path = path.split_once('?').map_or(path, |(path, _query)| path);
    path.split('/').map(|part| if part.starts_with('{') { "{}" } else { part }).collect::<Vec<_>>().join("/")
}

async fn the_matrix_lists_every_v1_route_the_app_serves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut served = vec![];
    for (path, item) in document["paths"].as_object().unwrap() {
        // Sign-in is public, and channel webhooks authenticate with their own secrets
        // (tests/api/email.rs covers the email one).
        if !path.starts_with("/v1/") || path.starts_with("/v1/auth/") || path.starts_with("/v1/channels/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                served.push(format!("{} {}", method.to_uppercase(), route_pattern(path)));
            }
        }
    }
    let mut listed: Vec<String> = matrix().iter().map(|e| format!("{} {}", e.method, route_pattern(e.path))).collect();
    served.sort();
    listed.sort();
    assert_eq!(listed, served);
}

async fn anonymous_and_garbage_callers_get_a_401_problem_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fixture = Fixture::create(&app).await;
    let callers = [
        Caller::unauthenticated("anonymous", None),
        Caller::unauthenticated("a garbage token", Some("not-a-token")),
        Caller::unauthenticated("an unknown API key", Some("brd_0123456789ab_no-such-secret")),
    ];
    check_matrix(&app, &fixture, &callers).await;
}

async fn agents_may_do_everything_but_administration(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fixture = Fixture::create(&app).await;
    check_matrix(&app, &fixture, &[Caller::holding("an agent", app.agent_token("agent").await, AGENT_SCOPES)]).await;
}

async fn admins_may_do_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fixture = Fixture::create(&app).await;
    let callers = [
        Caller::holding("the first admin", app.admin_token().await, ALL_SCOPES),
        Caller::holding("an added admin", app.agent_token("admin").await, ALL_SCOPES),
    ];
    check_matrix(&app, &fixture, &callers).await;
}

async fn each_api_key_may_do_exactly_what_its_scope_allows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fixture = Fixture::create(&app).await;
    let mut callers = vec![];
    for scope in ALL_SCOPES {
        let holds = if *scope == "admin" { ALL_SCOPES } else { std::slice::from_ref(scope) };
        callers.push(Caller::holding(&format!("a `{scope}` key"), app.api_key(&[scope]).await, holds));
    }
    for pair in [THREAD, MERGE] {
        callers.push(Caller::holding(&format!("a `{}` key", pair.join(" ")), app.api_key(pair).await, pair));
    }
    check_matrix(&app, &fixture, &callers).await;
}

async fn the_auth_endpoints_answer_without_credentials(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.first_admin.clone().unwrap();
    let anonymous_post = |path: &str, body: Value| app.client.post(app.url(path)).json(&body).send();

    let login = anonymous_post("/v1/auth/login", json!({ "email": admin.email, "password": admin.password }));
    let login = login.await.unwrap();
    assert_eq!(login.status(), 200);
    let pair: Value = login.json().await.unwrap();

    let refreshed =
        anonymous_post("/v1/auth/refresh", json!({ "refresh_token": pair["refresh_token"] })).await.unwrap();
    assert_eq!(refreshed.status(), 200);
    let pair: Value = refreshed.json().await.unwrap();

    let logout = anonymous_post("/v1/auth/logout", json!({ "refresh_token": pair["refresh_token"] })).await.unwrap();
    assert_eq!(logout.status(), 204);
}

async fn a_deactivated_agents_unexpired_token_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let email = unique_email();
    let body = json!({ "email": email, "name": "Leaving Agent", "role": "agent", "password": PASSWORD });
    let agent = created_id(&app, &admin, "/v1/agents", body).await;
    let token = access_token(app.login(&email, PASSWORD).await).await;
    assert_eq!(app.get_as("/v1/tickets", &token).await.status(), 200);

    assert_eq!(app.delete_as(&format!("/v1/agents/{agent}"), &admin).await.status(), 200);

    assert_eq!(mismatch(app.get_as("/v1/tickets", &token).await, (401, Some("unauthorized"))).await, None);
}

async fn a_revoked_api_key_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let created = app.post_as("/v1/api-keys", &admin, &json!({ "name": "leaked", "scopes": ["tickets:read"] })).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let (id, secret) = (created["id"].as_str().unwrap(), created["secret"].as_str().unwrap());
    assert_eq!(app.get_as("/v1/tickets", secret).await.status(), 200);

    assert_eq!(app.delete_as(&format!("/v1/api-keys/{id}"), &admin).await.status(), 200);

    assert_eq!(mismatch(app.get_as("/v1/tickets", secret).await, (401, Some("unauthorized"))).await, None);
}

async fn a_connectors_key_acts_only_as_its_connector(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fixture = Fixture::create(&app).await;
    let own = Caller::holding("the connector's key", fixture.connector_key.clone(), &["connector", "connector:own"]);
    // Another connector's key may do nothing here: not even its own kind of route.
    let other: Value =
        app.post_as("/v1/connectors", &fixture.admin, &new_connector(&fixture)).await.json().await.unwrap();
    let other = Caller::holding("another connector's key", other["key"].as_str().unwrap().to_owned(), &["connector"]);
    check_matrix(&app, &fixture, &[own, other]).await;
}
