//! `GET /v1/customers/{id}/context`: what an agent reads before answering, in one call.

use serde_json::{Value, json};

use crate::email::post_raw;
use crate::helpers::{Backend, TestApp, both_backends};

both_backends!(
    the_context_gathers_identities_attributes_preferences_notes_and_tickets_across_channels,
    a_merge_moves_notes_and_fills_attributes_and_an_undo_puts_them_back,
);

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{body}");
    body
}

fn app(backend: Backend) -> crate::helpers::TestAppBuilder {
    TestApp::builder(backend).with_settings(|s| s.email_inbound_secret = Some(crate::email::SECRET.into()))
}

async fn define(app: &TestApp, admin: &str, key: &str, kind: &str) {
    let body = json!({ "key": key, "label": key, "kind": kind });
    json_of(app.post_as("/v1/attribute-definitions", admin, &body).await, 201).await;
}

async fn the_context_gathers_identities_attributes_preferences_notes_and_tickets_across_channels(backend: Backend) {
    let app = app(backend).start().await;
    let (admin, token) = (app.admin_token().await, app.agent_token("agent").await);
    define(&app, &admin, "plan", "text").await;
    let raw = b"From: Ana <ana@example.org>\r\nSubject: Refund\r\nMessage-ID: <c1@example.org>\r\n\
Date: Tue, 1 Jul 2025 10:52:37 -0300\r\nContent-Language: pt-BR\r\n\r\nhello\r\n";
    let placed = json_of(post_raw(&app, raw).await, 201).await;
    let (ana, email_ticket) = (placed["customer_id"].as_str().unwrap(), placed["ticket_id"].as_str().unwrap());
    let api_ticket =
        json_of(app.post_as("/v1/tickets", &token, &json!({ "customer_id": ana, "subject": "Called in" })).await, 201)
            .await;
    for status in ["solved", "closed"] {
        let path = format!("/v1/tickets/{}", api_ticket["id"].as_str().unwrap());
        json_of(app.patch_as(&path, &token, &json!({ "status": status })).await, 200).await;
    }
    let values = json!({ "values": { "plan": "pro" } });
    json_of(app.put_as(&format!("/v1/customers/{ana}/attributes"), &token, &values).await, 200).await;
    for i in 0..7 {
        let note = json!({ "body": format!("note {i}") });
        json_of(app.post_as(&format!("/v1/customers/{ana}/notes"), &token, &note).await, 201).await;
    }

    let context = json_of(app.get_as(&format!("/v1/customers/{ana}/context"), &token).await, 200).await;
    assert_eq!(context["customer"]["id"], ana);
    assert_eq!(context["customer"]["identities"][0]["trust"], "claimed");
    assert_eq!(context["attributes"][0]["key"], "plan");
    assert_eq!(context["attributes"][0]["value"], "pro");
    assert_eq!(context["preferences"]["language"]["value"], "pt-BR");
    assert_eq!(context["preferences"]["time_zone"]["value"], "-03:00");
    let notes: Vec<&str> = context["notes"].as_array().unwrap().iter().map(|n| n["body"].as_str().unwrap()).collect();
    assert_eq!(notes, ["note 6", "note 5", "note 4", "note 3", "note 2"], "the newest five");
    let open: Vec<&str> =
        context["open_tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(open, [email_ticket]);
    let recent: Vec<(&str, &str)> = context["recent_tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["channel"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(recent, [("api", "closed"), ("email", "open")], "newest first, whatever the status");
    assert_eq!(context["tickets_by_channel"], json!({ "api": 1, "email": 1 }));
    assert_eq!(context["tickets_total"], 2);
    assert!(context["first_contact_at"].is_string());
    assert!(context["last_message_at"].is_string());

    let one = json_of(app.get_as(&format!("/v1/customers/{ana}/context?recent=1"), &token).await, 200).await;
    assert_eq!(one["recent_tickets"].as_array().unwrap().len(), 1);
    for bad in ["0", "51"] {
        let refused = app.get_as(&format!("/v1/customers/{ana}/context?recent={bad}"), &token).await;
        assert_eq!(json_of(refused, 422).await["extra"]["field"], "recent");
    }
    let nobody = app.get_as("/v1/customers/0190f5c4-0000-7000-8000-000000000000/context", &token).await;
    assert_eq!(json_of(nobody, 404).await["code"], "not_found");
}

async fn a_merge_moves_notes_and_fills_attributes_and_an_undo_puts_them_back(backend: Backend) {
    let app = app(backend).start().await;
    let (admin, token) = (app.admin_token().await, app.agent_token("agent").await);
    define(&app, &admin, "plan", "text").await;
    define(&app, &admin, "seats", "number").await;
    let customer = |email: &str| json!({ "identities": [{ "kind": "email", "value": email }] });
    let ana = json_of(app.post_as("/v1/customers", &token, &customer("ana@example.org")).await, 201).await;
    let other = json_of(app.post_as("/v1/customers", &token, &customer("ana@work.example")).await, 201).await;
    let (ana, other) = (ana["id"].as_str().unwrap(), other["id"].as_str().unwrap());
    let set = |values: Value| json!({ "values": values });
    json_of(
        app.put_as(&format!("/v1/customers/{ana}/attributes"), &token, &set(json!({ "plan": "basic" }))).await,
        200,
    )
    .await;
    json_of(
        app.put_as(&format!("/v1/customers/{other}/attributes"), &token, &set(json!({ "plan": "pro", "seats": 12 })))
            .await,
        200,
    )
    .await;
    json_of(app.post_as(&format!("/v1/customers/{other}/notes"), &token, &json!({ "body": "VIP" })).await, 201).await;
    let before = json_of(app.get_as(&format!("/v1/customers/{ana}/context"), &token).await, 200).await;

    let preview = json!({ "source_customer_id": other, "dry_run": true });
    let preview = json_of(app.post_as(&format!("/v1/customers/{ana}/merge"), &token, &preview).await, 200).await;
    let plan = preview["fields"].as_array().unwrap().iter().find(|f| f["field"] == "attributes.plan").unwrap();
    assert_eq!((&plan["winner"], &plan["conflict"]), (&json!("target"), &json!(true)));
    assert_eq!(plan["value"]["value"], "basic");

    let body = json!({ "source_customer_id": other, "choices": { "attributes.plan": "source" } });
    let merged = json_of(app.post_as(&format!("/v1/customers/{ana}/merge"), &token, &body).await, 201).await;
    assert_eq!(merged["moved"]["notes"].as_array().unwrap().len(), 1);
    let after = json_of(app.get_as(&format!("/v1/customers/{ana}/context"), &token).await, 200).await;
    let values: Vec<(&str, &Value)> =
        after["attributes"].as_array().unwrap().iter().map(|a| (a["key"].as_str().unwrap(), &a["value"])).collect();
    assert_eq!(values, [("plan", &json!("pro")), ("seats", &json!(12))], "the choice won, the gap filled");
    assert_eq!(after["notes"][0]["body"], "VIP");
    let gone = app.get_as(&format!("/v1/customers/{other}/notes"), &token).await;
    assert_eq!(json_of(gone, 409).await["code"], "customer_merged");

    let undo = format!("/v1/merges/{}/undo", merged["id"].as_str().unwrap());
    json_of(app.post_as(&undo, &token, &json!({})).await, 200).await;
    let restored = json_of(app.get_as(&format!("/v1/customers/{ana}/context"), &token).await, 200).await;
    assert_eq!(restored, before, "the target's context is as it was");
    let notes = json_of(app.get_as(&format!("/v1/customers/{other}/notes"), &token).await, 200).await;
    assert_eq!(notes["data"][0]["body"], "VIP", "the note went back");
}
