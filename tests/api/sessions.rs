//! Signing in, refreshing and signing out, and the tokens the API refuses.

use std::collections::HashMap;

use braid_api::tokens::{self, JwtKeys};
use serde_json::{Value, json};

use crate::helpers::{Backend, JWT_KEY_ID, JWT_SECRET, TestApp, both_backends};

both_backends!(
    an_admin_signs_in_and_reaches_the_api_with_the_access_token,
    a_wrong_password_and_an_unknown_email_get_the_same_answer,
    repeated_failed_sign_ins_are_throttled_with_retry_after,
    refreshing_rotates_the_token_and_the_old_one_stops_working,
    reusing_a_spent_refresh_token_revokes_the_whole_sign_in,
    signing_out_revokes_the_refresh_token,
    tampered_expired_unsigned_and_foreign_tokens_are_refused,
    a_changed_password_ends_the_agents_sessions,
    parallel_guesses_cannot_slip_under_the_sign_in_limit,
    two_admins_demoting_each_other_at_once_leave_one_admin,
);

async fn sign_in(app: &TestApp) -> Value {
    let admin = app.first_admin.as_ref().unwrap();
    let response = app.login(&admin.email, &admin.password).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.client.post(app.url("/v1/auth/refresh")).json(&json!({ "refresh_token": token })).send().await.unwrap()
}

async fn an_admin_signs_in_and_reaches_the_api_with_the_access_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pair = sign_in(&app).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let token = pair["access_token"].as_str().unwrap();
    assert_eq!(app.get_as("/v1/agents", token).await.status(), 200);
    assert_eq!(app.get("/v1/agents").await.status(), 401);
}

async fn a_wrong_password_and_an_unknown_email_get_the_same_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wrong = app.login("admin@braid.localhost", "not the password at all").await;
    let unknown = app.login("nobody@example.org", "not the password at all").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    let (wrong, unknown): (Value, Value) = (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(wrong, unknown, "the answer must not tell which emails exist");
    assert_eq!(wrong["code"], "unauthorized");
}

async fn repeated_failed_sign_ins_are_throttled_with_retry_after(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.first_admin.clone().unwrap();
    for _ in 0..5 {
        assert_eq!(app.login(&admin.email, "wrong password guess").await.status(), 401);
    }
    let throttled = app.login(&admin.email, &admin.password).await;
    assert_eq!(throttled.status(), 429, "even the right password waits out the window");
    let retry_after: i64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    let problem: Value = throttled.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
    assert_eq!(app.login("someone.else@example.org", "x").await.status(), 401, "other emails are not throttled");
}

async fn refreshing_rotates_the_token_and_the_old_one_stops_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = sign_in(&app).await;
    let old = first["refresh_token"].as_str().unwrap();

    let rotated = refresh(&app, old).await;
    assert_eq!(rotated.status(), 200);
    let second: Value = rotated.json().await.unwrap();
    let new = second["refresh_token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(app.get_as("/v1/agents", second["access_token"].as_str().unwrap()).await.status(), 200);
    assert_eq!(refresh(&app, new).await.status(), 200, "the new token works once");
}

async fn reusing_a_spent_refresh_token_revokes_the_whole_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pair = sign_in(&app).await;
    let stolen = pair["refresh_token"].as_str().unwrap().to_owned();
    let legitimate: Value = refresh(&app, &stolen).await.json().await.unwrap();

    let replay = refresh(&app, &stolen).await;
    assert_eq!(replay.status(), 401);
    let problem: Value = replay.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("already used"), "{problem}");
    assert_eq!(
        refresh(&app, legitimate["refresh_token"].as_str().unwrap()).await.status(),
        401,
        "the thief's replay also kills the token the legitimate client holds"
    );
    let other_sign_in = sign_in(&app).await;
    assert_eq!(
        refresh(&app, other_sign_in["refresh_token"].as_str().unwrap()).await.status(),
        200,
        "other sign-ins live on"
    );
}

async fn signing_out_revokes_the_refresh_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pair = sign_in(&app).await;
    let token = pair["refresh_token"].as_str().unwrap();
    let logout =
        app.client.post(app.url("/v1/auth/logout")).json(&json!({ "refresh_token": token })).send().await.unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(refresh(&app, token).await.status(), 401);
}

async fn tampered_expired_unsigned_and_foreign_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pair = sign_in(&app).await;
    let good = pair["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_as("/v1/tickets", &good).await.status(), 200);
    let admin_id: Value = app.get_as("/v1/agents", &good).await.json().await.unwrap();
    let admin_id: braid_core::AgentId = admin_id["data"][0]["id"].as_str().unwrap().parse().unwrap();

    let (header, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut claims: Value = serde_json::from_slice(&b64_decode(payload)).unwrap();
    claims["role"] = json!("admin");
    claims["sub"] = json!(braid_core::AgentId::new().to_string());
    let tampered = format!("{header}.{}.{signature}", b64(&serde_json::to_vec(&claims).unwrap()));

    let none_header = b64(br#"{"alg":"none","typ":"JWT","kid":"test"}"#);
    let unsigned = format!("{none_header}.{payload}.");

    let keys = JwtKeys::new(JWT_KEY_ID, JWT_SECRET, &HashMap::new());
    let expired =
        tokens::issue_access_token(&keys, admin_id, braid_core::Role::Admin, chrono::Duration::seconds(-5)).unwrap();
    let foreign_keys = JwtKeys::new(JWT_KEY_ID, "someone else's secret", &HashMap::new());
    let foreign =
        tokens::issue_access_token(&foreign_keys, admin_id, braid_core::Role::Admin, chrono::Duration::minutes(5))
            .unwrap();
    let forged_right =
        tokens::issue_access_token(&keys, admin_id, braid_core::Role::Admin, chrono::Duration::minutes(5)).unwrap();
    assert_eq!(app.get_as("/v1/tickets", &forged_right).await.status(), 200, "the control: a good signature passes");

    for (name, token) in
        [("tampered", tampered), ("alg none", unsigned), ("expired", expired), ("foreign key", foreign)]
    {
        let response = app.get_as("/v1/tickets", &token).await;
        assert_eq!(response.status(), 401, "{name}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "unauthorized", "{name}");
    }
}

async fn a_changed_password_ends_the_agents_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let email = "changes@agents.example.org";
    let created: Value = app
        .post_as("/v1/agents", &admin, &json!({ "email": email, "name": "Cy", "password": "first long password" }))
        .await
        .json()
        .await
        .unwrap();
    let pair: Value = app.login(email, "first long password").await.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let changed =
        app.patch_as(&format!("/v1/agents/{id}"), &admin, &json!({ "password": "second long password" })).await;
    assert_eq!(changed.status(), 200);
    assert_eq!(refresh(&app, pair["refresh_token"].as_str().unwrap()).await.status(), 401);
    assert_eq!(app.login(email, "first long password").await.status(), 401);
    assert_eq!(app.login(email, "second long password").await.status(), 200);
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap()
}

async fn parallel_guesses_cannot_slip_under_the_sign_in_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let guesses = (0..20)
        .map(|i| app.login("admin@braid.localhost", if i % 2 == 0 { "guess one two" } else { "guess three four" }));
    let answers = futures_util::future::join_all(guesses).await;
    let refused = answers.iter().filter(|r| r.status() == 401).count();
    let throttled = answers.iter().filter(|r| r.status() == 429).count();
    assert_eq!((refused, throttled), (5, 15), "five guesses checked, the rest throttled");
}

async fn two_admins_demoting_each_other_at_once_leave_one_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.admin_token().await;
    let second = app.agent_token("admin").await;
    let agents: Value = app.get_as("/v1/agents", &first).await.json().await.unwrap();
    let ids: Vec<String> =
        agents["data"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect();
    let (first_id, second_id) = (&ids[0], &ids[1]);

    let demote = json!({ "role": "agent" });
    let (second_path, first_path) = (format!("/v1/agents/{second_id}"), format!("/v1/agents/{first_id}"));
    let demote_second = app.patch_as(&second_path, &first, &demote);
    let demote_first = app.patch_as(&first_path, &second, &demote);
    let (a, b) = futures_util::future::join(demote_second, demote_first).await;
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    // Either one wins and the other is refused as the last admin (409), or the first
    // demotion wins and the loser's token no longer holds the admin role (403).
    assert!(statuses == [200, 409] || statuses == [200, 403], "{statuses:?}");
    let admins: i64 = app
        .with_db(|conn| {
            use braid_db::schema::agents::dsl::*;
            use diesel::prelude::*;
            Ok(agents.filter(role.eq("admin").and(active.eq(true))).count().get_result(conn)?)
        })
        .await;
    assert_eq!(admins, 1);
}
