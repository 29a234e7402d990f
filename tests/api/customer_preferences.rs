//! Preferences: learnt from what the customer's messages say, overridden by agents,
//! always shown with where they came from.

use serde_json::{Value, json};

use crate::email::post_raw;
use crate::helpers::{Backend, TestApp, both_backends};

both_backends!(
    preferences_are_learnt_from_mail_and_an_agents_value_wins_until_cleared,
    preferences_an_agent_sets_are_checked,
    a_merge_fills_the_targets_missing_preferences_and_an_undo_clears_them,
);

fn app(backend: Backend) -> crate::helpers::TestAppBuilder {
    TestApp::builder(backend).with_settings(|s| s.email_inbound_secret = Some(crate::email::SECRET.into()))
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{body}");
    body
}

async fn mail(app: &TestApp, from: &str, id: &str, headers: &str) -> String {
    let raw = format!("From: {from}\r\nSubject: Hi\r\nMessage-ID: <{id}>\r\n{headers}\r\nhello\r\n");
    let placed = json_of(post_raw(app, raw.as_bytes()).await, 201).await;
    placed["customer_id"].as_str().unwrap().to_owned()
}

async fn preferences_are_learnt_from_mail_and_an_agents_value_wins_until_cleared(backend: Backend) {
    let app = app(backend).start().await;
    let token = app.agent_token("agent").await;
    let ana = mail(
        &app,
        "ana@example.org",
        "p1@example.org",
        "Date: Tue, 1 Jul 2025 10:52:37 -0300\r\nContent-Language: pt-br\r\n",
    )
    .await;
    let path = format!("/v1/customers/{ana}/preferences");
    let learnt = json_of(app.get_as(&path, &token).await, 200).await;
    assert_eq!(
        learnt,
        json!({
            "language": { "value": "pt-BR", "source": "content_language", "updated_at": null },
            "time_zone": { "value": "-03:00", "source": "date_header", "updated_at": null },
            "channel": { "value": "email", "source": "last_inbound", "updated_at": null },
        })
    );

    let set = json!({ "language": "en-gb", "time_zone": "Europe/London" });
    let now = json_of(app.put_as(&path, &token, &set).await, 200).await;
    assert_eq!(now["language"]["value"], "en-GB");
    assert_eq!(now["language"]["source"], "agent");
    assert!(now["language"]["updated_at"].is_string());
    assert_eq!(now["time_zone"]["value"], "Europe/London");
    assert_eq!(now["channel"]["source"], "last_inbound", "unlisted preferences stay");

    // A later message without the headers changes nothing; one in another language
    // changes what is learnt, not what the agent set.
    mail(&app, "ana@example.org", "p2@example.org", "").await;
    mail(&app, "ana@example.org", "p3@example.org", "Content-Language: es\r\n").await;
    let kept = json_of(app.get_as(&path, &token).await, 200).await;
    assert_eq!(kept["language"]["value"], "en-GB");
    let cleared = json_of(app.put_as(&path, &token, &json!({ "language": null })).await, 200).await;
    assert_eq!(cleared["language"], json!({ "value": "es", "source": "content_language", "updated_at": null }));
    assert_eq!(cleared["time_zone"]["value"], "Europe/London");
}

async fn preferences_an_agent_sets_are_checked(backend: Backend) {
    let app = app(backend).start().await;
    let token = app.agent_token("agent").await;
    let ana = mail(&app, "ana@example.org", "p1@example.org", "").await;
    let path = format!("/v1/customers/{ana}/preferences");
    for (body, field) in [
        (json!({ "time_zone": "Mars/Olympus" }), "time_zone"),
        (json!({ "language": "english" }), "language"),
        (json!({ "channel": "fax" }), "channel"),
    ] {
        let refused = json_of(app.put_as(&path, &token, &body).await, 422).await;
        assert_eq!(refused["extra"]["field"], field, "{body}");
    }
    let unknown = json_of(app.put_as(&path, &token, &json!({ "colour": "blue" })).await, 400).await;
    assert_eq!(unknown["code"], "invalid_json");
    let nobody = app.get_as("/v1/customers/0190f5c4-0000-7000-8000-000000000000/preferences", &token).await;
    assert_eq!(json_of(nobody, 404).await["code"], "not_found");
}

async fn a_merge_fills_the_targets_missing_preferences_and_an_undo_clears_them(backend: Backend) {
    let app = app(backend).start().await;
    let token = app.agent_token("agent").await;
    let ana = mail(&app, "ana@example.org", "p1@example.org", "").await;
    let other = mail(&app, "ana@work.example", "p2@work.example", "").await;
    let set = json!({ "language": "pt-BR" });
    json_of(app.put_as(&format!("/v1/customers/{other}/preferences"), &token, &set).await, 200).await;

    let merged =
        app.post_as(&format!("/v1/customers/{ana}/merge"), &token, &json!({ "source_customer_id": other })).await;
    let merged = json_of(merged, 201).await;
    let path = format!("/v1/customers/{ana}/preferences");
    assert_eq!(json_of(app.get_as(&path, &token).await, 200).await["language"]["value"], "pt-BR");
    let undo = format!("/v1/merges/{}/undo", merged["id"].as_str().unwrap());
    json_of(app.post_as(&undo, &token, &json!({})).await, 200).await;
    assert_eq!(json_of(app.get_as(&path, &token).await, 200).await["language"], Value::Null);
}
