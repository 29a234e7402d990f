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
    a_flood_of_unknown_emails_is_turned_away_with_retry_after_and_the_server_stays_responsive,
    sign_ins_from_one_address_are_rate_limited_and_other_addresses_are_not,
    a_strangers_wrong_passwords_do_not_lock_the_owner_out,
    forwarded_for_is_ignored_from_an_untrusted_peer,
    signing_out_ends_the_access_tokens_of_the_sign_in,
    a_reused_refresh_token_ends_the_access_tokens_of_the_sign_in,
    a_password_reset_ends_the_access_tokens_issued_before_it,
    deactivating_and_reactivating_does_not_revive_old_access_tokens,
    access_tokens_issued_before_tokens_not_before_are_refused,
    ten_parallel_refreshes_of_one_token_get_the_same_successor,
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
    let app = TestApp::builder(backend).with_settings(|s| s.refresh_grace_secs = 1).start().await;
    let pair = sign_in(&app).await;
    let stolen = pair["refresh_token"].as_str().unwrap().to_owned();
    let legitimate: Value = refresh(&app, &stolen).await.json().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await; // past the grace period

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
    let sid = claims["sid"].as_str().unwrap().to_owned();
    claims["role"] = json!("admin");
    claims["sub"] = json!(braid_core::AgentId::new().to_string());
    let tampered = format!("{header}.{}.{signature}", b64(&serde_json::to_vec(&claims).unwrap()));

    let none_header = b64(br#"{"alg":"none","typ":"JWT","kid":"test"}"#);
    let unsigned = format!("{none_header}.{payload}.");

    let keys = JwtKeys::new(JWT_KEY_ID, JWT_SECRET, &HashMap::new());
    let expired =
        tokens::issue_access_token(&keys, admin_id, braid_core::Role::Admin, &sid, chrono::Duration::seconds(-5))
            .unwrap();
    let foreign_keys = JwtKeys::new(JWT_KEY_ID, "someone else's secret", &HashMap::new());
    let foreign = tokens::issue_access_token(
        &foreign_keys,
        admin_id,
        braid_core::Role::Admin,
        &sid,
        chrono::Duration::minutes(5),
    )
    .unwrap();
    let other_session = tokens::issue_access_token(
        &keys,
        admin_id,
        braid_core::Role::Admin,
        "0190f5c4-0000-7000-8000-000000000000",
        chrono::Duration::minutes(5),
    )
    .unwrap();
    let forged_right =
        tokens::issue_access_token(&keys, admin_id, braid_core::Role::Admin, &sid, chrono::Duration::minutes(5))
            .unwrap();
    assert_eq!(app.get_as("/v1/tickets", &forged_right).await.status(), 200, "the control: a good signature passes");

    for (name, token) in [
        ("tampered", tampered),
        ("alg none", unsigned),
        ("expired", expired),
        ("foreign key", foreign),
        ("unknown session", other_session),
    ] {
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

/// Sign-ins seen as coming from `address` (the test app trusts 127.0.0.1 as a proxy).
async fn login_from(app: &TestApp, address: &str, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/auth/login"))
        .header("x-forwarded-for", address)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

fn behind_a_proxy(settings: &mut braid::Settings) {
    settings.trusted_proxies = vec!["127.0.0.1/32".into()];
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

async fn a_flood_of_unknown_emails_is_turned_away_with_retry_after_and_the_server_stays_responsive(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_settings(|s| {
            s.password_hash_concurrency = 1;
            s.password_hash_wait_ms = 20;
            s.login_address_per_minute = 0; // the hash budget alone
        })
        .start()
        .await;
    let token = app.admin_token().await;
    let emails: Vec<String> = (0..64).map(|i| format!("nobody{i}@example.org")).collect();
    let flood = futures_util::future::join_all(emails.iter().map(|email| app.login(email, "not the password at all")));
    let others = async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        (app.get("/healthz").await.status(), app.get_as("/v1/tickets", &token).await.status())
    };
    let (answers, (health, read)) = futures_util::future::join(flood, others).await;
    assert_eq!((health, read), (reqwest::StatusCode::OK, reqwest::StatusCode::OK));
    let mut busy = 0;
    for answer in answers {
        match answer.status().as_u16() {
            401 => {}
            503 => {
                assert!((1..=5).contains(&retry_after(&answer)));
                let problem: Value = answer.json().await.unwrap();
                assert_eq!(problem["code"], "unavailable");
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "64 password checks at once on a budget of one: some must be turned away");
}

async fn sign_ins_from_one_address_are_rate_limited_and_other_addresses_are_not(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_settings(|s| {
            behind_a_proxy(s);
            s.login_address_per_minute = 10;
        })
        .start()
        .await;
    for i in 0..10 {
        let answer = login_from(&app, "203.0.113.9", &format!("nobody{i}@example.org"), "guess guess").await;
        assert_eq!(answer.status(), 401, "attempt {i}");
    }
    let limited = login_from(&app, "203.0.113.9", "nobody.else@example.org", "guess guess").await;
    assert_eq!(limited.status(), 429);
    assert!((1..=60).contains(&retry_after(&limited)));
    let problem: Value = limited.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
    let admin = app.first_admin.clone().unwrap();
    assert_eq!(login_from(&app, "198.51.100.7", &admin.email, &admin.password).await.status(), 200);
}

async fn a_strangers_wrong_passwords_do_not_lock_the_owner_out(backend: Backend) {
    let app = TestApp::builder(backend).with_settings(behind_a_proxy).start().await;
    let admin = app.first_admin.clone().unwrap();
    for _ in 0..5 {
        assert_eq!(login_from(&app, "203.0.113.9", &admin.email, "a wrong guess").await.status(), 401);
    }
    let stranger = login_from(&app, "203.0.113.9", &admin.email, &admin.password).await;
    assert_eq!(stranger.status(), 429, "the guessing address is locked out, even with the right password");
    assert_eq!(
        login_from(&app, "198.51.100.7", &admin.email, &admin.password).await.status(),
        200,
        "the owner at their own address is not"
    );
    assert_eq!(
        login_from(&app, "203.0.113.9", &admin.email, &admin.password).await.status(),
        429,
        "and the owner's success does not free the stranger"
    );
}

async fn forwarded_for_is_ignored_from_an_untrusted_peer(backend: Backend) {
    let app = TestApp::spawn(backend).await; // trusts no proxy
    let admin = app.first_admin.clone().unwrap();
    for i in 0..5 {
        let forged = format!("203.0.113.{i}");
        assert_eq!(login_from(&app, &forged, &admin.email, "a wrong guess").await.status(), 401);
    }
    assert_eq!(
        login_from(&app, "198.51.100.7", &admin.email, &admin.password).await.status(),
        429,
        "a forged X-Forwarded-For does not make a new address"
    );
}

async fn signing_out_ends_the_access_tokens_of_the_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (ended, other) = (sign_in(&app).await, sign_in(&app).await);
    let access = ended["access_token"].as_str().unwrap();
    assert_eq!(app.get_as("/v1/tickets", access).await.status(), 200);
    let logout = app
        .client
        .post(app.url("/v1/auth/logout"))
        .json(&json!({ "refresh_token": ended["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let refused = app.get_as("/v1/tickets", access).await;
    assert_eq!(refused.status(), 401);
    let problem: Value = refused.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("session has ended"), "{problem}");
    assert_eq!(app.get_as("/v1/tickets", other["access_token"].as_str().unwrap()).await.status(), 200);
}

async fn a_reused_refresh_token_ends_the_access_tokens_of_the_sign_in(backend: Backend) {
    let app = TestApp::builder(backend).with_settings(|s| s.refresh_grace_secs = 0).start().await;
    let first = sign_in(&app).await;
    let stolen = first["refresh_token"].as_str().unwrap();
    let legitimate: Value = refresh(&app, stolen).await.json().await.unwrap();
    let access = legitimate["access_token"].as_str().unwrap();
    assert_eq!(app.get_as("/v1/tickets", access).await.status(), 200);
    assert_eq!(refresh(&app, stolen).await.status(), 401, "the replay");
    assert_eq!(app.get_as("/v1/tickets", access).await.status(), 401);
    assert_eq!(app.get_as("/v1/tickets", first["access_token"].as_str().unwrap()).await.status(), 401);
}

async fn a_password_reset_ends_the_access_tokens_issued_before_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let agent = app.agent_token("agent").await;
    assert_eq!(app.get_as("/v1/tickets", &agent).await.status(), 200);
    let agents: Value = app.get_as("/v1/agents", &admin).await.json().await.unwrap();
    let id = agents["data"][1]["id"].as_str().unwrap();
    let reset = app.patch_as(&format!("/v1/agents/{id}"), &admin, &json!({ "password": "a brand new password" })).await;
    assert_eq!(reset.status(), 200);
    assert_eq!(app.get_as("/v1/tickets", &agent).await.status(), 401);
    assert_eq!(app.get_as("/v1/tickets", &admin).await.status(), 200, "other agents are untouched");
}

async fn deactivating_and_reactivating_does_not_revive_old_access_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let agent = app.agent_token("agent").await;
    let agents: Value = app.get_as("/v1/agents", &admin).await.json().await.unwrap();
    let path = format!("/v1/agents/{}", agents["data"][1]["id"].as_str().unwrap());
    assert_eq!(app.patch_as(&path, &admin, &json!({ "active": false })).await.status(), 200);
    assert_eq!(app.patch_as(&path, &admin, &json!({ "active": true })).await.status(), 200);
    assert_eq!(app.get_as("/v1/tickets", &agent).await.status(), 401);
}

async fn access_tokens_issued_before_tokens_not_before_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    assert_eq!(app.get_as("/v1/tickets", &token).await.status(), 200);
    // The check on its own, with the session left open.
    let later = (braid_db::now() + chrono::Duration::seconds(5)).naive_utc();
    app.with_db(move |conn| {
        use braid_db::schema::agents::dsl::*;
        use diesel::prelude::*;
        diesel::update(agents).set(tokens_not_before.eq(later)).execute(conn)?;
        Ok(())
    })
    .await;
    let refused = app.get_as("/v1/tickets", &token).await;
    assert_eq!(refused.status(), 401);
    let problem: Value = refused.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("issued before"), "{problem}");
}

async fn ten_parallel_refreshes_of_one_token_get_the_same_successor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pair = sign_in(&app).await;
    let token = pair["refresh_token"].as_str().unwrap();
    let answers = futures_util::future::join_all((0..10).map(|_| refresh(&app, token))).await;
    let mut successors = Vec::new();
    for answer in answers {
        assert_eq!(answer.status(), 200, "every parallel refresh succeeds");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(app.get_as("/v1/tickets", body["access_token"].as_str().unwrap()).await.status(), 200);
        successors.push(body["refresh_token"].as_str().unwrap().to_owned());
    }
    successors.dedup();
    assert_eq!(successors.len(), 1, "one successor: {successors:?}");
    assert_ne!(successors[0], token);
    assert_eq!(refresh(&app, &successors[0]).await.status(), 200, "and it works");
}
