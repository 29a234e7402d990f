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
    answers_that_carry_a_secret_are_never_stored_for_replay,
    a_key_whose_request_was_lost_is_free_again_after_a_while,
    nul_characters_are_refused_not_a_server_error,
    the_body_limit_holds_with_an_idempotency_key_too,
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

async fn answers_that_carry_a_secret_are_never_stored_for_replay(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let create = || {
        app.request(reqwest::Method::POST, "/v1/api-keys", &admin)
            .header("idempotency-key", "key-1")
            .json(&json!({ "name": "CRM", "scopes": ["tickets:read"] }))
            .send()
    };
    let first: Value = create().await.unwrap().json().await.unwrap();
    let second = create().await.unwrap();
    assert_eq!(second.status(), 201);
    assert!(second.headers().get("idempotent-replayed").is_none());
    let second: Value = second.json().await.unwrap();
    assert_ne!(first["secret"], second["secret"], "a secret is shown once; a retry makes a new key");

    let stored: Vec<Option<String>> = app
        .with_db(|conn| {
            use braid_db::schema::idempotency_keys::dsl::*;
            use diesel::prelude::*;
            Ok(idempotency_keys.select(response_body).load(conn)?)
        })
        .await;
    assert!(stored.iter().flatten().all(|body| !body.contains("brd_")), "{stored:?}");
}

async fn a_key_whose_request_was_lost_is_free_again_after_a_while(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let me = {
        use base64::Engine;
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        format!("agent:{}", claims["sub"].as_str().unwrap())
    };
    let body = r#"{"name":"Ana"}"#;
    let fingerprint = braid_api::tokens::sha256_hex(&format!("POST /v1/customers\n{body}"));
    // The same request reserved this key three minutes ago, and its node died before answering.
    app.with_db(move |conn| {
        use braid_db::schema::idempotency_keys::dsl::*;
        use diesel::prelude::*;
        let long_ago = (braid_db::now() - chrono::Duration::minutes(3)).naive_utc();
        diesel::insert_into(idempotency_keys)
            .values((principal.eq(me), key.eq("lost"), request_hash.eq(fingerprint), created_at.eq(long_ago)))
            .execute(conn)?;
        Ok(())
    })
    .await;
    let send = || {
        app.request(reqwest::Method::POST, "/v1/customers", &token)
            .header("idempotency-key", "lost")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 201, "the abandoned reservation is taken over");
    let replay = send().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
}

async fn nul_characters_are_refused_not_a_server_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let customer = crate::tickets::customer(&app, &token, "ana@example.org").await;
    let ticket = crate::tickets::ticket(&app, &token, json!({ "customer_id": customer, "subject": "Refund" })).await;
    let id = ticket["id"].as_str().unwrap();
    for (method, path, body) in [
        ("POST", "/v1/customers".to_owned(), json!({ "name": "A\0na" })),
        ("PATCH", format!("/v1/customers/{customer}"), json!({ "name": "A\0na" })),
        ("POST", "/v1/tickets".to_owned(), json!({ "customer_id": customer, "subject": "a\0b" })),
        ("POST", format!("/v1/tickets/{id}/replies"), json!({ "text": "a\0b" })),
        ("POST", format!("/v1/tickets/{id}/notes"), json!({ "text": "a\0b" })),
        ("POST", "/v1/api-keys".to_owned(), json!({ "name": "a\0b", "scopes": ["admin"] })),
    ] {
        let token = if path.contains("api-keys") { app.admin_token().await } else { token.clone() };
        let response = app.request(method.parse().unwrap(), &path, &token).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 422, "{method} {path}");
    }
    let search = app.get_as("/v1/customers?name_prefix=a%00", &token).await;
    assert_eq!(search.status(), 422);
}

async fn the_body_limit_holds_with_an_idempotency_key_too(backend: Backend) {
    let app = TestApp::builder(backend).with_settings(|s| s.json_body_limit_bytes = 4096).start().await;
    let token = app.agent_token("agent").await;
    let response = app
        .request(reqwest::Method::POST, "/v1/customers", &token)
        .header("idempotency-key", "big")
        .json(&json!({ "name": "x".repeat(10_000) }))
        .send()
        .await
        .unwrap();
    let (status, body) = problem(response).await;
    assert_eq!((status, body["code"].as_str()), (413, Some("payload_too_large")));
}
