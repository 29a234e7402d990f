//! Health, readiness, metrics, errors for unknown routes, and the served API document.

use serde_json::Value;

use crate::helpers::{Backend, TestApp, both_backends};

both_backends!(
    healthz_answers_while_the_process_lives,
    a_fresh_database_gets_one_first_admin,
    readyz_reports_the_database_and_that_redis_is_not_configured,
    readyz_checks_redis_when_it_is_configured,
    an_unknown_route_is_a_problem_with_a_request_id,
    metrics_count_requests_by_route_pattern_and_show_the_pool,
    the_served_openapi_document_is_the_generated_one_and_docs_work_offline,
);

async fn healthz_answers_while_the_process_lives(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

async fn a_fresh_database_gets_one_first_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.first_admin.clone().expect("an empty database gets an admin");
    let (agents, hash) = app
        .with_db(move |conn| {
            let email = braid_core::EmailAddress::parse(&admin.email)?;
            Ok((braid_db::agents::count(conn)?, braid_db::agents::password_hash(conn, &email)?))
        })
        .await;
    assert_eq!(agents, 1);
    let (_, hash) = hash.expect("the admin is active");
    assert!(braid_api::password::verify(&app.first_admin.as_ref().unwrap().password, &hash));
}

async fn readyz_reports_the_database_and_that_redis_is_not_configured(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ready", "checks": {"database": "ok", "redis": "not_configured"}}));
}

async fn readyz_checks_redis_when_it_is_configured(backend: Backend) {
    let app = TestApp::builder(backend).with_redis().start().await;
    let body: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["checks"]["redis"], "ok");
    assert_eq!(body["status"], "ready");
}

async fn an_unknown_route_is_a_problem_with_a_request_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&request_id).is_ok(), "{request_id}");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "not_found");
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["type"], "urn:braid:problem:not_found");
    assert!(problem["detail"].as_str().unwrap().contains("/v1/nothing-here"));
}

async fn metrics_count_requests_by_route_pattern_and_show_the_pool(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..3 {
        app.get("/healthz").await;
    }
    app.get("/no/such/route").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains(r#"braid_http_requests_total{method="GET",route="/healthz",status="200"} 3"#), "{text}");
    assert!(text.contains(r#"route="unmatched",status="404""#) || text.contains(r#"status="404""#), "{text}");
    assert!(!text.contains("/no/such/route"), "raw paths must not become labels");
    assert!(text.contains(r#"braid_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="#));
    assert!(text.contains(r#"braid_db_pool_connections{state="in_use"}"#));
    assert!(text.contains(r#"braid_db_pool_connections{state="idle"}"#));
}

async fn the_served_openapi_document_is_the_generated_one_and_docs_work_offline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let served: Value = app.get("/openapi.json").await.json().await.unwrap();
    let generated: Value = serde_json::from_str(&braid_api::openapi().to_json().unwrap()).unwrap();
    assert_eq!(served, generated);
    assert_eq!(served["openapi"], "3.1.0");
    assert!(served["paths"]["/readyz"]["get"]["responses"]["503"].is_object());

    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let bare = no_redirects.get(app.url("/docs")).send().await.unwrap();
    assert!(bare.status().is_redirection());
    assert_eq!(bare.headers()["location"], "/docs/");
    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), 200);
    let page = docs.text().await.unwrap();
    for line in page.lines().filter(|line| line.contains("src=") || line.contains("href=")) {
        assert!(!line.contains("http://") && !line.contains("https://"), "the UI must not load remote assets: {line}");
    }
    let config = app.get("/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(config.contains(r#""validatorUrl": "none""#) || config.contains("\"validatorUrl\":\"none\""), "{config}");
}
