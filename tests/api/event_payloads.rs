//! Every kind of event, made through the API as users make them, checked against the
//! OpenAPI document's `webhooks` entry for its kind with a JSON Schema validator written by
//! others (the `jsonschema` crate). The schemas are made strict for the check (no property
//! the document does not name), so a payload that grows a field, drops one or changes its
//! shape fails here, and a kind no test makes fails too.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::email_replies::{app_with_smtp, delivery_state};
use crate::helpers::{Backend, TestApp, both_backends};
use crate::smtp::SmtpSink;
use crate::webhooks::{Receiver, Reply};

both_backends!(every_kind_of_event_carries_the_payload_the_document_gives_it);

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let response = app.post_as(path, token, &body).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {path}: {status} {body}");
    body
}

async fn changed(response: reqwest::Response) {
    let status = response.status();
    assert!(status.is_success(), "{status} {}", response.text().await.unwrap_or_default());
}

fn unique(what: &str) -> String {
    format!("{what}-{}", uuid::Uuid::now_v7().simple())
}

/// The whole log, through the feed.
async fn every_event(app: &TestApp, token: &str) -> Vec<Value> {
    let (mut events, mut after) = (Vec::new(), String::new());
    loop {
        let path = if after.is_empty() {
            "/v1/events?limit=1000".to_owned()
        } else {
            format!("/v1/events?limit=1000&after={after}")
        };
        let page: Value = app.get_as(&path, token).await.json().await.unwrap();
        events.extend(page["data"].as_array().unwrap().iter().cloned());
        if page["has_more"] != true {
            return events;
        }
        after = page["next_cursor"].as_str().unwrap().to_owned();
    }
}

/// Every object schema that names its properties refuses others (unless it says otherwise).
fn strict(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(strict);
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

async fn every_kind_of_event_carries_the_payload_the_document_gives_it(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, sink.url()).await;
    let admin = app.admin_token().await;
    let gone = Receiver::start().await;
    gone.otherwise(Some(Reply::Status(410)));

    // Customers, identities, trust, preferences, attributes, notes.
    let email = format!("{}@example.org", unique("ana"));
    let ana = created(
        &app,
        &admin,
        "/v1/customers",
        json!({"name": "Ana", "identities": [{"kind": "email", "value": email}]}),
    )
    .await;
    let ana = ana["id"].as_str().unwrap().to_owned();
    changed(app.patch_as(&format!("/v1/customers/{ana}"), &admin, &json!({"name": "Ana Lima"})).await).await;
    let phone = created(
        &app,
        &admin,
        &format!("/v1/customers/{ana}/identities"),
        json!({"kind": "phone", "value": "+4915112345678"}),
    )
    .await;
    let phone = phone["id"].as_str().unwrap().to_owned();
    let trust = format!("/v1/customers/{ana}/identities/{phone}");
    changed(app.patch_as(&trust, &admin, &json!({"trust": "verified"})).await).await;
    changed(app.delete_as(&trust, &admin).await).await;
    changed(app.put_as(&format!("/v1/customers/{ana}/preferences"), &admin, &json!({"language": "pt-BR"})).await).await;
    let key = format!("k_{}", uuid::Uuid::now_v7().simple());
    created(&app, &admin, "/v1/attribute-definitions", json!({"key": key, "label": "Plan", "kind": "text"})).await;
    changed(app.patch_as(&format!("/v1/attribute-definitions/{key}"), &admin, &json!({"label": "Plan name"})).await)
        .await;
    changed(
        app.put_as(&format!("/v1/customers/{ana}/attributes"), &admin, &json!({"values": {key.as_str(): "pro"}})).await,
    )
    .await;
    changed(app.delete_as(&format!("/v1/attribute-definitions/{key}"), &admin).await).await;
    let note =
        created(&app, &admin, &format!("/v1/customers/{ana}/notes"), json!({"body": "Prefers phone calls."})).await;
    let note = format!("/v1/customers/{ana}/notes/{}", note["id"].as_str().unwrap());
    changed(app.patch_as(&note, &admin, &json!({"body": "Prefers email."})).await).await;
    changed(app.delete_as(&note, &admin).await).await;

    // A claim of Ana's address by another customer: a suggestion, dismissed; then a merge,
    // undone.
    let bo = created(&app, &admin, "/v1/customers", json!({"name": "Bo"})).await["id"].as_str().unwrap().to_owned();
    let claim =
        app.post_as(&format!("/v1/customers/{bo}/identities"), &admin, &json!({"kind": "email", "value": email})).await;
    let suggestion = claim.json::<Value>().await.unwrap()["extra"]["suggestion_id"].as_str().unwrap().to_owned();
    changed(
        app.request(reqwest::Method::POST, &format!("/v1/merge-suggestions/{suggestion}/dismiss"), &admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let merge = created(&app, &admin, &format!("/v1/customers/{ana}/merge"), json!({"source_customer_id": bo})).await;
    let merge = merge["id"].as_str().or(merge["merge_id"].as_str()).unwrap().to_owned();
    changed(app.request(reqwest::Method::POST, &format!("/v1/merges/{merge}/undo"), &admin).send().await.unwrap())
        .await;

    // Tickets and messages: a first mail from someone new (placement makes the customer),
    // an agent's reply sent by SMTP, a note, a read receipt.
    let raw = format!(
        "From: Cy <{}@example.org>\r\nSubject: Hello\r\nMessage-ID: <{}@example.org>\r\n\r\nhello\r\n",
        unique("cy"),
        unique("m")
    );
    let placed: Value = crate::email::post_raw(&app, raw.as_bytes()).await.json().await.unwrap();
    let ticket = placed["ticket_id"].as_str().unwrap().to_owned();
    changed(app.patch_as(&format!("/v1/tickets/{ticket}"), &admin, &json!({"priority": "high"})).await).await;
    let reply = created(&app, &admin, &format!("/v1/tickets/{ticket}/replies"), json!({"text": "Hello back"})).await;
    assert_eq!(delivery_state(&app, &admin, &ticket, reply["id"].as_str().unwrap()).await["delivery_state"], "sent");
    created(&app, &admin, &format!("/v1/tickets/{ticket}/notes"), json!({"text": "Called them."})).await;
    let seen =
        app.request(reqwest::Method::POST, &format!("/v1/messages/{}/seen", reply["id"].as_str().unwrap()), &admin);
    changed(seen.send().await.unwrap()).await;
    created(
        &app,
        &admin,
        "/v1/tickets",
        json!({"customer_id": ana, "subject": "Called", "message": {"text": "About the refund", "kind": "customer"}}),
    )
    .await;

    // The admin's resources.
    let agent = created(&app, &admin, "/v1/agents", json!({"email": format!("{}@braid.test", unique("agent")), "name": "Dee", "role": "agent", "password": "a long enough password"})).await;
    changed(
        app.patch_as(&format!("/v1/agents/{}", agent["id"].as_str().unwrap()), &admin, &json!({"name": "Dee Dee"}))
            .await,
    )
    .await;
    let team = created(&app, &admin, "/v1/teams", json!({"name": unique("Team")})).await;
    changed(
        app.patch_as(&format!("/v1/teams/{}", team["id"].as_str().unwrap()), &admin, &json!({"name": unique("Team")}))
            .await,
    )
    .await;
    let site = created(
        &app,
        &admin,
        "/v1/chat/sites",
        json!({"name": "Shop", "slug": unique("site"), "allowed_origins": ["https://shop.example"]}),
    )
    .await;
    changed(
        app.patch_as(&format!("/v1/chat/sites/{}", site["id"].as_str().unwrap()), &admin, &json!({"strict": true}))
            .await,
    )
    .await;
    let connector = created(&app, &admin, "/v1/connectors", json!({"name": unique("c")})).await;
    changed(
        app.patch_as(
            &format!("/v1/connectors/{}", connector["name"].as_str().unwrap()),
            &admin,
            &json!({"trusted": true}),
        )
        .await,
    )
    .await;
    let form =
        created(&app, &admin, "/v1/forms", json!({"name": "Contact", "allowed_origins": ["https://shop.example"]}))
            .await;
    changed(
        app.patch_as(&format!("/v1/forms/{}", form["id"].as_str().unwrap()), &admin, &json!({"enabled": false})).await,
    )
    .await;
    // Service levels: a schedule edited, a policy edited, and a target missed at once by
    // an import written before it was due.
    let hours = json!({"monday": [{"start": "09:00", "end": "17:00"}]});
    let schedule =
        created(&app, &admin, "/v1/schedules", json!({"name": "Office", "time_zone": "UTC", "hours": hours})).await;
    changed(
        app.patch_as(
            &format!("/v1/schedules/{}", schedule["id"].as_str().unwrap()),
            &admin,
            &json!({"holidays": ["2026-12-25"]}),
        )
        .await,
    )
    .await;
    let policy = json!({"name": "Fast", "conditions": {"channels": ["api"]}, "schedule_id": schedule["id"],
                        "targets": {"first_reply": {"minutes": {"normal": 1}, "pause_on": ["on_hold"]}}});
    let policy = created(&app, &admin, "/v1/sla-policies", policy).await;
    changed(
        app.patch_as(&format!("/v1/sla-policies/{}", policy["id"].as_str().unwrap()), &admin, &json!({"position": 2}))
            .await,
    )
    .await;
    let import = json!({"external_id": "late-1", "customer": {"external_id": "late"}, "text": "Anyone?",
                        "sent_at": "2026-01-05T10:00:00Z"});
    let connector_key = created(&app, &admin, "/v1/connectors", json!({"name": unique("late")})).await;
    let path = format!("/v1/connectors/{}/messages", connector_key["name"].as_str().unwrap());
    let placed = app.post_as(&path, connector_key["key"].as_str().unwrap(), &import).await;
    assert_eq!(placed.status(), 201);
    // Follow-ups: a snooze and its end, reminders cancelled and fired.
    let placed: Value = app
        .post_as(
            &path,
            connector_key["key"].as_str().unwrap(),
            &json!({"external_id": "f-1", "customer": {"external_id": "late"}, "text": "Again"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let followed = placed["ticket_id"].as_str().unwrap().to_owned();
    let in_a_day = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    changed(app.post_as(&format!("/v1/tickets/{followed}/snooze"), &admin, &json!({"until": in_a_day})).await).await;
    changed(app.delete_as(&format!("/v1/tickets/{followed}/snooze"), &admin).await).await;
    let reminders = format!("/v1/tickets/{followed}/reminders");
    let reminder = created(&app, &admin, &reminders, json!({"due_at": in_a_day, "note": "Chase"})).await;
    changed(app.delete_as(&format!("{reminders}/{}", reminder["id"].as_str().unwrap()), &admin).await).await;
    let in_a_second = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    created(&app, &admin, &reminders, json!({"due_at": in_a_second})).await;
    // Macros: made, changed, applied, deleted.
    let canned = created(
        &app,
        &admin,
        "/v1/macros",
        json!({"name": "Thanks", "visibility": "shared", "actions": [
            {"type": "reply", "text": "Thanks, {{customer.first_name | default: \"there\"}}!"},
            {"type": "note", "text": "Thanked by {{agent.first_name}}"},
            {"type": "add_tags", "tags": ["thanked"]},
        ]}),
    )
    .await;
    let canned = format!("/v1/macros/{}", canned["id"].as_str().unwrap());
    changed(app.patch_as(&canned, &admin, &json!({"description": "Says thanks"})).await).await;
    let apply = format!("/v1/tickets/{followed}/macros/{}/apply", canned.trim_start_matches("/v1/macros/"));
    changed(app.post_as(&apply, &admin, &json!({})).await).await;
    changed(app.delete_as(&canned, &admin).await).await;
    // Routing: presence, and a ticket routed through a team.
    let me: Value = app.put_as("/v1/presence", &admin, &json!({"status": "online"})).await.json().await.unwrap();
    let routed_team =
        json!({"name": unique("Routed"), "member_ids": [me["agent_id"]], "routing": {"mode": "least_loaded"}});
    let routed_team = created(&app, &admin, "/v1/teams", routed_team).await;
    created(
        &app,
        &admin,
        "/v1/tickets",
        json!({"customer_id": ana, "subject": "Routed", "team_id": routed_team["id"]}),
    )
    .await;
    changed(app.patch_as("/v1/routing/settings", &admin, &json!({"default_teams": {}})).await).await;
    // Satisfaction: the settings, a survey sent on a solve, and its rating.
    let surveys_on = json!({"enabled": true, "delay_minutes": 0});
    changed(app.patch_as("/v1/csat/settings", &admin, &surveys_on).await).await;
    changed(app.patch_as(&format!("/v1/tickets/{followed}"), &admin, &json!({"status": "solved"})).await).await;
    let link = crate::csat::sent_link(&app, &admin, &followed, 1).await;
    let rated = reqwest::Client::new().post(app.url(&link)).json(&json!({"rating": "good", "comment": "Quick!"}));
    changed(rated.send().await.unwrap()).await;
    let hook =
        created(&app, &admin, "/v1/webhooks", json!({"url": "http://127.0.0.1:9/hook", "events": ["ticket.*"]})).await;
    let hook = format!("/v1/webhooks/{}", hook["id"].as_str().unwrap());
    changed(app.patch_as(&hook, &admin, &json!({"description": "renamed"})).await).await;
    changed(app.delete_as(&hook, &admin).await).await;
    // An endpoint that answers 410 Gone is disabled by Braid.
    created(&app, &admin, "/v1/webhooks", json!({"url": gone.url(), "events": ["ticket.*"]})).await;
    created(&app, &admin, "/v1/tickets", json!({"customer_id": ana, "subject": "For the gone endpoint"})).await;

    // Every kind, each against its own schema.
    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    let kinds: Vec<String> = document["webhooks"].as_object().unwrap().keys().cloned().collect();
    let mut components = json!({"schemas": document["components"]["schemas"].clone()});
    strict(&mut components);
    let validators: BTreeMap<String, jsonschema::Validator> = kinds
        .iter()
        .map(|kind| {
            let mut schema =
                document["webhooks"][kind]["post"]["requestBody"]["content"]["application/json"]["schema"].clone();
            strict(&mut schema);
            schema["components"] = components.clone();
            let validator = jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{kind}: {e}"));
            (kind.clone(), validator)
        })
        .collect();
    let mut seen = BTreeMap::<String, usize>::new();
    let mut events = Vec::new();
    for _ in 0..200 {
        events = every_event(&app, &admin).await;
        if events.iter().any(|e| e["kind"] == "webhook.disabled")
            && events.iter().any(|e| e["kind"] == "reminder.fired")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for event in &events {
        let kind = event["kind"].as_str().unwrap();
        let body = json!({"type": kind, "timestamp": "2026-11-30T12:00:00Z", "data": event});
        let validator = validators.get(kind).unwrap_or_else(|| panic!("{kind} is not in the document's webhooks"));
        let errors: Vec<String> =
            validator.iter_errors(&body).map(|e| format!("{} at {}", e, e.instance_path)).collect();
        assert!(errors.is_empty(), "{kind}: {errors:#?}\n{}", serde_json::to_string_pretty(event).unwrap());
        *seen.entry(kind.to_owned()).or_default() += 1;
    }
    let missing: Vec<&String> = kinds.iter().filter(|k| !seen.contains_key(*k)).collect();
    assert!(missing.is_empty(), "no event of these kinds was made: {missing:?}");

    // The message as the API shows it, text included: no second call needed.
    let created_message =
        events.iter().find(|e| e["kind"] == "message.created" && e["payload"]["id"] == reply["id"]).unwrap();
    let shown: Value =
        app.get_as(&format!("/v1/messages/{}", reply["id"].as_str().unwrap()), &admin).await.json().await.unwrap();
    assert_eq!(created_message["payload"]["text"], shown["text"]);
    assert_eq!(created_message["payload"]["author"], shown["author"]);
}
