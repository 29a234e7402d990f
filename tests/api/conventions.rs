//! The conventions every route follows: problems for bad input, never a 500, and
//! `Idempotency-Key` on POST.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, both_backends};

both_backends!(
    bad_bodies_get_problems_that_say_what_is_wrong,
    unknown_and_malformed_ids_are_404s,
    a_retried_post_with_the_same_idempotency_key_replays_the_first_answer,
    an_idempotency_key_reused_with_another_body_is_refused,
    idempotency_keys_belong_to_their_caller,
);

async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/problem+json", "status {status}");
    (status, response.json().await.unwrap())
}

async fn bad_bodies_get_problems_that_say_what_is_wrong(backend: Backend) {
    let app = TestApp::builder(backend).with_settings(|s| s.json_body_limit_bytes = 4096).start().await;
    let token = app.agent_token("agent").await;
    let post = |body: &'static str, content_type: &'static str| {
        app.request(reqwest::Method::POST, "/v1/customers", &token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let (status, body) = problem(post("{\"name\": ", "application/json").await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_json")));
    assert!(body["detail"].as_str().unwrap().contains("not valid JSON"), "{body}");

    let (status, body) = problem(post(r#"{"name": 42}"#, "application/json").await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_json")));
    assert!(body["detail"].as_str().unwrap().contains("invalid type"), "{body}");

    let (status, body) = problem(post(r#"{"nmae": "Ana"}"#, "application/json").await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("unknown field `nmae`"), "{body}");

    let (status, body) = problem(post(r#"{"name": "Ana"}"#, "text/plain").await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (415, Some("unsupported_media_type")));

    let huge = json!({ "name": "x".repeat(10_000) });
    let (status, body) = problem(app.post_as("/v1/customers", &token, &huge).await).await;
    assert_eq!((status, body["code"].as_str()), (413, Some("payload_too_large")));

    let (status, body) = problem(
        app.post_as("/v1/customers", &token, &json!({ "identities": [{ "kind": "email", "value": "nope" }] })).await,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("validation_failed")));
    assert_eq!(body["extra"]["field"], "email");

    let customers: Value = app.get_as("/v1/customers", &token).await.json().await.unwrap();
    assert_eq!(customers["data"], json!([]), "nothing was stored by any of these");
}

async fn unknown_and_malformed_ids_are_404s(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    for path in [
        format!("/v1/tickets/{}", braid_core::TicketId::new()),
        format!("/v1/customers/{}", braid_core::CustomerId::new()),
        format!("/v1/agents/{}", braid_core::AgentId::new()),
        format!("/v1/teams/{}", braid_core::TeamId::new()),
        "/v1/tickets/not-a-uuid".to_owned(),
        "/v1/customers/1%20OR%201=1".to_owned(),
    ] {
        let (status, body) = problem(app.get_as(&path, &token).await).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{path}");
    }
}

async fn a_retried_post_with_the_same_idempotency_key_replays_the_first_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let send = |body: Value| {
        app.request(reqwest::Method::POST, "/v1/customers", &token)
            .header("idempotency-key", "create-ana-1")
            .json(&body)
            .send()
    };
    let body = json!({ "name": "Ana", "identities": [{ "kind": "email", "value": "ana@example.org" }] });

    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();

    let retry = send(body).await.unwrap();
    assert_eq!(retry.status(), 201, "not a 409 for the identity the first request created");
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.headers()["location"], location);
    assert_eq!(retry.json::<Value>().await.unwrap(), first);

    let listed: Value = app.get_as("/v1/customers", &token).await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

async fn an_idempotency_key_reused_with_another_body_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let send = |name: &'static str| {
        app.request(reqwest::Method::POST, "/v1/customers", &token)
            .header("idempotency-key", "k-1")
            .json(&json!({ "name": name }))
            .send()
    };
    assert_eq!(send("Ana").await.unwrap().status(), 201);
    let (status, body) = problem(send("Bob").await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("idempotency_key_reused")));
    let listed: Value = app.get_as("/v1/customers", &token).await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

async fn idempotency_keys_belong_to_their_caller(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (one, two) = (app.agent_token("agent").await, app.api_key(&["customers:write", "customers:read"]).await);
    for token in [&one, &two] {
        let response = app
            .request(reqwest::Method::POST, "/v1/customers", token)
            .header("idempotency-key", "same-key")
            .json(&json!({ "name": "Ana" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        assert!(response.headers().get("idempotent-replayed").is_none());
    }
    let listed: Value = app.get_as("/v1/customers", &one).await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
}
