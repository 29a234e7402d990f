//! The chat channel end to end: sites, visitor sessions and their refusals, messages over
//! REST and the visitor's WebSocket with gap-free resume, the agents' stream, identity
//! rules for signed and claimed visitors, the chat-to-email fallback, and rate limits.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Backend, TestApp, both_backends};

both_backends!(
    bad_sites_origins_and_tokens_are_refused_and_store_nothing,
    a_message_is_stored_once_and_answers_reach_the_socket_with_nothing_lost_on_reconnect,
    the_agent_stream_resumes_from_a_position_without_gaps,
    a_signed_visitor_joins_the_holder_of_their_verified_email_and_a_typed_one_only_suggests,
    unseen_chat_replies_go_by_email_once_and_seen_ones_never,
    visitors_are_rate_limited_with_retry_after,
    an_anonymous_visitor_who_signs_in_is_merged_into_the_user_and_notes_stay_internal,
    the_fallback_email_carries_every_unseen_reply_and_its_answer_lands_in_the_ticket,
    a_solved_chat_is_surveyed_with_rating_buttons_the_visitor_can_use,
);

pub const ORIGIN: &str = "http://shop.test:8000";

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{body}");
    body
}

struct Site {
    key: String,
    kid: String,
    secret: String,
}

async fn site(app: &TestApp, admin: &str, slug: &str, strict: bool) -> Site {
    let body = json!({"name": "Shop", "slug": slug, "allowed_origins": [ORIGIN], "strict": strict});
    let created = json_of(app.post_as("/v1/chat/sites", admin, &body).await, 201).await;
    Site {
        key: created["site_key"].as_str().unwrap().to_owned(),
        kid: created["secret"]["kid"].as_str().unwrap().to_owned(),
        secret: created["secret"]["secret"].as_str().unwrap().to_owned(),
    }
}

pub fn identity_token(kid: &str, secret: &str, claims: Value) -> String {
    let header = Header { kid: Some(kid.to_owned()), ..Header::new(Algorithm::HS256) };
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn session(app: &TestApp, origin: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app.client.post(app.url("/widget/v1/sessions")).json(&body);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

async fn visitor(app: &TestApp, site: &Site) -> Value {
    json_of(session(app, Some(ORIGIN), json!({"site_key": site.key})).await, 201).await
}

async fn widget_post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(path)).header("origin", ORIGIN).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn widget_get(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.client.get(app.url(path)).header("origin", ORIGIN).bearer_auth(token).send().await.unwrap();
    json_of(response, 200).await
}

async fn count(app: &TestApp, table: &'static str) -> i64 {
    app.with_db(move |conn| {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        Ok(diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")).get_result::<Count>(conn)?.n)
    })
    .await
}

async fn socket(app: &TestApp, path: &str, origin: Option<&str>, bearer: Option<&str>) -> Ws {
    socket_at(&app.url(path), origin, bearer).await
}

/// A WebSocket to `url` (`http://…`), with an `Origin` and a bearer token when given.
pub async fn socket_at(url: &str, origin: Option<&str>, bearer: Option<&str>) -> Ws {
    let url = url.replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    if let Some(token) = bearer {
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.expect("the socket opens").0
}

/// The next JSON frame, skipping pings; panics after 30 s (pings do not extend it).
pub async fn next(ws: &mut Ws) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next()).await.expect("a frame within 30 s");
        match frame.expect("the socket is open").expect("a good frame") {
            Frame::Text(text) => return serde_json::from_str(&text).unwrap(),
            Frame::Close(reason) => panic!("closed: {reason:?}"),
            _ => continue,
        }
    }
}

/// Frames until one of type `kind` (the others are returned too).
pub async fn until(ws: &mut Ws, kind: &str) -> (Value, Vec<Value>) {
    let (mut before, started) = (Vec::new(), std::time::Instant::now());
    loop {
        assert!(started.elapsed() < Duration::from_secs(60), "no `{kind}` frame within 60 s: {before:?}");
        let frame = next(ws).await;
        if frame["type"] == kind {
            return (frame, before);
        }
        before.push(frame);
    }
}

async fn visitor_socket(app: &TestApp, token: &str, after: Option<&str>) -> Ws {
    let path = match after {
        Some(after) => format!("/widget/v1/ws?after={after}"),
        None => "/widget/v1/ws".to_owned(),
    };
    let mut ws = socket(app, &path, Some(ORIGIN), None).await;
    ws.send(Frame::text(json!({"type": "auth", "token": token}).to_string())).await.unwrap();
    ws
}

async fn chat_ticket(app: &TestApp, admin: &str) -> String {
    let tickets = json_of(app.get_as("/v1/tickets", admin).await, 200).await;
    tickets["data"][0]["id"].as_str().expect("a chat ticket").to_owned()
}

async fn agent_reply(app: &TestApp, admin: &str, ticket: &str, text: &str) -> Value {
    let body = json!({"text": text, "channel": "chat"});
    json_of(app.post_as(&format!("/v1/tickets/{ticket}/replies"), admin, &body).await, 201).await
}

async fn bad_sites_origins_and_tokens_are_refused_and_store_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let agent = app.agent_token("agent").await;
    let body = json!({"name": "Shop", "slug": "shop", "allowed_origins": [ORIGIN]});
    json_of(app.post_as("/v1/chat/sites", &agent, &body).await, 403).await;
    let bad = json!({"name": "Shop", "slug": "Shop!", "allowed_origins": ["not an origin"]});
    json_of(app.post_as("/v1/chat/sites", &admin, &bad).await, 422).await;
    let shop = site(&app, &admin, "shop", false).await;
    let strict = site(&app, &admin, "strict-shop", true).await;

    json_of(session(&app, Some(ORIGIN), json!({"site_key": "site_nobody"})).await, 404).await;
    json_of(session(&app, Some(ORIGIN), json!({"site_key": "site_\0"})).await, 404).await;
    json_of(session(&app, Some("https://evil.test"), json!({"site_key": shop.key})).await, 403).await;
    json_of(session(&app, None, json!({"site_key": shop.key})).await, 403).await;
    json_of(session(&app, Some(ORIGIN), json!({"site_key": strict.key})).await, 401).await;

    let good = json!({"sub": "u-1", "exp": now() + 600, "iat": now()});
    let forged = identity_token(&shop.kid, "not the secret", good.clone());
    let unknown_kid = identity_token("k-unknown", &shop.secret, good.clone());
    let expired = identity_token(&shop.kid, &shop.secret, json!({"sub": "u-1", "exp": now() - 5}));
    let too_long =
        identity_token(&shop.kid, &shop.secret, json!({"sub": "u-1", "iat": now(), "exp": now() + 400 * 86_400}));
    let no_sub = identity_token(&shop.kid, &shop.secret, json!({"exp": now() + 600}));
    let alg_none = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let head = b64.encode(json!({"alg": "none", "kid": shop.kid}).to_string());
        format!("{head}.{}.", b64.encode(good.to_string()))
    };
    for token in [forged, unknown_kid, expired, too_long, no_sub, alg_none, "garbage".to_owned()] {
        let body = json!({"site_key": shop.key, "identity_token": token});
        json_of(session(&app, Some(ORIGIN), body).await, 401).await;
    }
    let forged_visitor = json!({"site_key": shop.key, "visitor_token": "eyJhbGciOiJIUzI1NiJ9.e30.x"});
    json_of(session(&app, Some(ORIGIN), forged_visitor).await, 401).await;
    assert_eq!(count(&app, "chat_visitors").await, 0, "refused sessions store nothing");
    assert_eq!(count(&app, "customers").await, 0);

    let anonymous = visitor(&app, &shop).await;
    assert_eq!(anonymous["history"], "own");
    assert_eq!(anonymous["visitor"]["verified"], false);
    let token = anonymous["visitor_token"].as_str().unwrap();
    // The visitor token is no agent token, and an agent token no visitor token.
    json_of(app.get_as("/v1/tickets", token).await, 401).await;
    let response = app
        .client
        .get(app.url("/widget/v1/messages"))
        .header("origin", ORIGIN)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    json_of(response, 401).await;
    // Another origin cannot use the visitor's token either.
    let response = app
        .client
        .get(app.url("/widget/v1/messages"))
        .header("origin", "https://evil.test")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    json_of(response, 403).await;
    // Refreshing keeps the visitor.
    let again =
        json_of(session(&app, Some(ORIGIN), json!({"site_key": shop.key, "visitor_token": token})).await, 201).await;
    assert_eq!(again["visitor"]["id"], anonymous["visitor"]["id"]);
    assert_eq!(count(&app, "chat_visitors").await, 1);
}

async fn a_message_is_stored_once_and_answers_reach_the_socket_with_nothing_lost_on_reconnect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shop = site(&app, &admin, "shop", false).await;
    let visitor = visitor(&app, &shop).await;
    let token = visitor["visitor_token"].as_str().unwrap();

    let mut ws = visitor_socket(&app, token, None).await;
    until(&mut ws, "ready").await;
    ws.send(Frame::text(json!({"type": "message", "client_msg_id": "c-1", "text": "Where is my order?"}).to_string()))
        .await
        .unwrap();
    let (sent, _) = until(&mut ws, "sent").await;
    let first_id = sent["message"]["id"].clone();
    assert_eq!(sent["message"]["client_msg_id"], "c-1");
    // The same id again, over REST this time: the first message, not a second.
    let repeat =
        widget_post(&app, token, "/widget/v1/messages", json!({"client_msg_id": "c-1", "text": "Where is my order?"}))
            .await;
    assert_eq!(json_of(repeat, 200).await["message"]["id"], first_id);

    let ticket = chat_ticket(&app, &admin).await;
    let listed = json_of(app.get_as(&format!("/v1/tickets/{ticket}/messages"), &admin).await, 200).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["data"][0]["channel"], "chat");

    agent_reply(&app, &admin, &ticket, "It ships today.").await;
    let (answer, _) = until(&mut ws, "message").await;
    let answer = if answer["message"]["direction"] == "inbound" { until(&mut ws, "message").await.0 } else { answer };
    assert_eq!(answer["message"]["text"], "It ships today.");
    assert_eq!(answer["message"]["author"]["kind"], "agent");
    let last = answer["position"].as_str().unwrap().to_owned();
    ws.close(None).await.unwrap();

    // While the socket is down the agent answers twice and marks a ticket change.
    agent_reply(&app, &admin, &ticket, "Tracking: 123.").await;
    agent_reply(&app, &admin, &ticket, "Anything else?").await;
    let mut ws = visitor_socket(&app, token, Some(&last)).await;
    until(&mut ws, "ready").await;
    let mut texts = Vec::new();
    while texts.len() < 2 {
        let frame = next(&mut ws).await;
        if frame["type"] == "message" {
            texts.push(frame["message"]["text"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(texts, ["Tracking: 123.", "Anything else?"], "both, in order, once");
    // Nothing else is pending: the next frame is a new one.
    agent_reply(&app, &admin, &ticket, "Bye.").await;
    let (frame, _) = until(&mut ws, "message").await;
    assert_eq!(frame["message"]["text"], "Bye.", "no repeat of an earlier message");
    json_of(app.patch_as(&format!("/v1/tickets/{ticket}"), &admin, &json!({"status": "solved"})).await, 200).await;
    let (status, _) = until(&mut ws, "status").await;
    assert_eq!(status["ticket"]["status"], "solved");

    // The REST twin reads the same from a position.
    let page = widget_get(&app, token, &format!("/widget/v1/messages?after={last}")).await;
    let texts: Vec<_> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["message"]["text"].clone())
        .collect();
    assert_eq!(texts, [json!("Tracking: 123."), json!("Anything else?"), json!("Bye.")]);
    let bad = app
        .client
        .get(app.url("/widget/v1/messages?after=zzz"))
        .header("origin", ORIGIN)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    json_of(bad, 400).await;
}

async fn the_agent_stream_resumes_from_a_position_without_gaps(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let tickets_only = app.api_key(&["tickets:read"]).await;
    let refused = app
        .client
        .get(app.url("/v1/stream"))
        .bearer_auth(&tickets_only)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "the stream carries customers' data");

    let mut ws = socket(&app, "/v1/stream", None, Some(&admin)).await;
    let (ready, _) = until(&mut ws, "ready").await;
    assert!(ready["position"].is_string());
    let create = |email: &str| json!({"identities": [{"kind": "email", "value": email}]});
    json_of(app.post_as("/v1/customers", &admin, &create("a@example.org")).await, 201).await;
    // Earlier events (the admin's sign-in) may still come first.
    let event = loop {
        let (event, _) = until(&mut ws, "event").await;
        if event["kind"] == "customer.created" {
            break event;
        }
    };
    let position = event["position"].as_str().unwrap().to_owned();
    ws.close(None).await.unwrap();

    for email in ["b@example.org", "c@example.org"] {
        json_of(app.post_as("/v1/customers", &admin, &create(email)).await, 201).await;
    }
    // A browser authenticates with a first frame, and resumes with `after`.
    let mut ws = socket(&app, &format!("/v1/stream?after={position}"), None, None).await;
    ws.send(Frame::text(json!({"type": "auth", "token": admin}).to_string())).await.unwrap();
    until(&mut ws, "ready").await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let frame = next(&mut ws).await;
        if frame["type"] == "event" && frame["kind"] == "customer.created" {
            seen.push(frame["payload"]["identities"][0]["value"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(seen, ["b@example.org", "c@example.org"]);

    // `Last-Event-ID` does what `after` does.
    let url = app.url("/v1/stream").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {admin}").parse().unwrap());
    request.headers_mut().insert("last-event-id", position.parse().unwrap());
    let mut ws = tokio_tungstenite::connect_async(request).await.unwrap().0;
    until(&mut ws, "ready").await;
    let (first, _) = until(&mut ws, "event").await;
    assert!(first["position"].as_str().unwrap() != position, "resumes after the position, not at it");
    let mut created = 0;
    let mut frame = first;
    loop {
        if frame["kind"] == "customer.created" {
            created += 1;
            if created == 2 {
                break;
            }
        }
        frame = until(&mut ws, "event").await.0;
    }
}

async fn a_signed_visitor_joins_the_holder_of_their_verified_email_and_a_typed_one_only_suggests(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_settings(|s| s.email_inbound_secret = Some(crate::email::SECRET.into()))
        .start()
        .await;
    let admin = app.admin_token().await;
    let shop = site(&app, &admin, "shop", false).await;
    let raw = crate::email::mail("ana@example.org", "m1@example.org", "Refund", "", "Where is my refund?");
    let ana = json_of(crate::email::post_raw(&app, &raw).await, 201).await["customer_id"].as_str().unwrap().to_owned();

    // Someone types Ana's address into the pre-chat form: a claim. They see nothing of
    // hers, nothing merges, and agents get a suggestion.
    let body = json!({"site_key": shop.key, "email": "ana@example.org", "name": "Not Ana"});
    let typed = json_of(session(&app, Some(ORIGIN), body).await, 201).await;
    let page = widget_get(&app, typed["visitor_token"].as_str().unwrap(), "/widget/v1/messages").await;
    assert_eq!(page["data"], json!([]), "a typed email reveals nothing");
    assert_eq!(count(&app, "merge_suggestions").await, 1);
    assert_eq!(count(&app, "merges").await, 0);

    // An address nobody holds, typed or named unverified by a token, is never held by the
    // visitor: its owner's later mail must not land in a thread the visitor reads.
    let body = json!({"site_key": shop.key, "email": "victim@example.org"});
    let planter = json_of(session(&app, Some(ORIGIN), body).await, 201).await;
    let claims =
        json!({"sub": "attacker", "exp": now() + 600, "email": "victim2@example.org", "email_verified": false});
    let unverified = identity_token(&shop.kid, &shop.secret, claims);
    let body = json!({"site_key": shop.key, "identity_token": unverified, "visitor_token": planter["visitor_token"]});
    let signed_planter = json_of(session(&app, Some(ORIGIN), body).await, 201).await;
    for victim in ["victim@example.org", "victim2@example.org"] {
        let raw = crate::email::mail(victim, &format!("{victim}.m"), "Private", "", "My account number is 42");
        json_of(crate::email::post_raw(&app, &raw).await, 201).await;
    }
    let page = widget_get(&app, signed_planter["visitor_token"].as_str().unwrap(), "/widget/v1/messages").await;
    assert!(!page.to_string().contains("account number"), "{page}");

    // Ana signs in on the site, which vouches for her address: she joins her customer and
    // reads her thread, the email included.
    let claims = json!({"sub": "user-42", "exp": now() + 600, "iat": now(), "email": "ana@example.org", "email_verified": true, "name": "Ana Lima"});
    let token = identity_token(&shop.kid, &shop.secret, claims);
    let signed =
        json_of(session(&app, Some(ORIGIN), json!({"site_key": shop.key, "identity_token": token})).await, 201).await;
    assert_eq!(signed["visitor"]["verified"], true);
    assert_eq!(signed["history"], "thread");
    let page = widget_get(&app, signed["visitor_token"].as_str().unwrap(), "/widget/v1/messages").await;
    let texts: Vec<_> = page["data"].as_array().unwrap().iter().map(|f| f["message"]["text"].clone()).collect();
    assert!(texts.contains(&json!("Where is my refund?")), "{page}");
    let customer = json_of(app.get_as(&format!("/v1/customers/{ana}"), &admin).await, 200).await;
    let identities = customer["identities"].as_array().unwrap();
    let user = identities.iter().find(|i| i["kind"] == "external:shop").expect("the site's user id joined her");
    assert_eq!(user["value"], "user-42");
    let email = identities.iter().find(|i| i["kind"] == "email").unwrap();
    assert_eq!(email["trust"], "verified", "the site's proof upgrades the address");
}

async fn unseen_chat_replies_go_by_email_once_and_seen_ones_never(backend: Backend) {
    let app = TestApp::builder(backend).with_settings(|s| s.chat_fallback_delay_secs = 2).start().await;
    let admin = app.admin_token().await;
    let shop = site(&app, &admin, "shop", false).await;
    let claims = json!({"sub": "u-7", "exp": now() + 600, "email": "bo@example.org", "email_verified": true});
    let token = identity_token(&shop.kid, &shop.secret, claims);
    let signed =
        json_of(session(&app, Some(ORIGIN), json!({"site_key": shop.key, "identity_token": token})).await, 201).await;
    let visitor = signed["visitor_token"].as_str().unwrap();
    json_of(
        widget_post(&app, visitor, "/widget/v1/messages", json!({"client_msg_id": "c-1", "text": "Hi"})).await,
        201,
    )
    .await;
    let ticket = chat_ticket(&app, &admin).await;

    // Two replies in the quiet period, never seen: one email carries both.
    let first = agent_reply(&app, &admin, &ticket, "First answer.").await;
    let second = agent_reply(&app, &admin, &ticket, "Second answer.").await;
    let mut bundles = Vec::new();
    for _ in 0..100 {
        bundles = email_entries(&app).await;
        if !bundles.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(bundles.len(), 1, "one email: {bundles:?}");
    let bundle: Vec<String> = serde_json::from_str(bundles[0].as_deref().unwrap()).unwrap();
    assert_eq!(bundle, [first["id"].as_str().unwrap(), second["id"].as_str().unwrap()]);
    for reply in [&first, &second] {
        let id = reply["id"].as_str().unwrap();
        let message = json_of(app.get_as(&format!("/v1/messages/{id}"), &admin).await, 200).await;
        assert_eq!(message["sent_via"], "email", "{message}");
    }

    // A reply the visitor sees is never emailed.
    let third = agent_reply(&app, &admin, &ticket, "Third answer.").await;
    json_of(widget_post(&app, visitor, "/widget/v1/seen", json!({"message_id": third["id"]})).await, 204).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(email_entries(&app).await.len(), 1, "nothing more went by email");
    let id = third["id"].as_str().unwrap();
    let message = json_of(app.get_as(&format!("/v1/messages/{id}"), &admin).await, 200).await;
    assert_eq!(message["delivery_state"], "delivered");
    assert_eq!(message["sent_via"], Value::Null);
}

async fn email_entries(app: &TestApp) -> Vec<Option<String>> {
    use braid_db::schema::outbox;
    use diesel::prelude::*;
    app.with_db(|conn| Ok(outbox::table.filter(outbox::channel.eq("email")).select(outbox::bundle).load(conn)?)).await
}

async fn visitors_are_rate_limited_with_retry_after(backend: Backend) {
    let app = TestApp::builder(backend).with_settings(|s| s.chat_messages_per_minute = 2).start().await;
    let admin = app.admin_token().await;
    let shop = site(&app, &admin, "shop", false).await;
    let visitor = visitor(&app, &shop).await;
    let token = visitor["visitor_token"].as_str().unwrap();
    for id in ["c-1", "c-2"] {
        json_of(widget_post(&app, token, "/widget/v1/messages", json!({"client_msg_id": id, "text": "hi"})).await, 201)
            .await;
    }
    let over = widget_post(&app, token, "/widget/v1/messages", json!({"client_msg_id": "c-3", "text": "hi"})).await;
    assert!(over.headers().get("retry-after").is_some());
    json_of(over, 429).await;
    let huge = "x".repeat(10_001);
    let other = visitor_token(&app, &shop).await;
    json_of(widget_post(&app, &other, "/widget/v1/messages", json!({"client_msg_id": "c-1", "text": huge})).await, 422)
        .await;
    json_of(widget_post(&app, &other, "/widget/v1/messages", json!({"client_msg_id": "", "text": "hi"})).await, 422)
        .await;
}

async fn visitor_token(app: &TestApp, site: &Site) -> String {
    visitor(app, site).await["visitor_token"].as_str().unwrap().to_owned()
}

async fn an_anonymous_visitor_who_signs_in_is_merged_into_the_user_and_notes_stay_internal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shop = site(&app, &admin, "shop", false).await;
    let claims = || json!({"sub": "u-9", "exp": now() + 600, "iat": now()});
    // The user signed in before, on another device, and wrote.
    let token = identity_token(&shop.kid, &shop.secret, claims());
    let before =
        json_of(session(&app, Some(ORIGIN), json!({"site_key": shop.key, "identity_token": token})).await, 201).await;
    let before = before["visitor_token"].as_str().unwrap().to_owned();
    json_of(
        widget_post(&app, &before, "/widget/v1/messages", json!({"client_msg_id": "d-1", "text": "From my laptop"}))
            .await,
        201,
    )
    .await;
    // Today they start anonymous on their phone, write, then sign in.
    let phone = visitor_token(&app, &shop).await;
    json_of(
        widget_post(&app, &phone, "/widget/v1/messages", json!({"client_msg_id": "p-1", "text": "From my phone"}))
            .await,
        201,
    )
    .await;
    assert_eq!(count(&app, "customers").await, 2);
    let token = identity_token(&shop.kid, &shop.secret, claims());
    let body = json!({"site_key": shop.key, "identity_token": token, "visitor_token": phone});
    let signed = json_of(session(&app, Some(ORIGIN), body).await, 201).await;
    assert_eq!(count(&app, "merges").await, 1, "the anonymous customer merged into the user");
    let signed = signed["visitor_token"].as_str().unwrap().to_owned();

    // An internal note on the ticket never reaches the visitor.
    let ticket = chat_ticket(&app, &admin).await;
    json_of(app.post_as(&format!("/v1/tickets/{ticket}/notes"), &admin, &json!({"text": "VIP, be nice"})).await, 201)
        .await;
    let page = widget_get(&app, &signed, "/widget/v1/messages").await;
    let text = page.to_string();
    assert!(text.contains("From my laptop") && text.contains("From my phone"), "{page}");
    assert!(!text.contains("VIP"), "{page}");
}

async fn the_fallback_email_carries_every_unseen_reply_and_its_answer_lands_in_the_ticket(backend: Backend) {
    let sink = crate::smtp::SmtpSink::start();
    let app = TestApp::builder(backend)
        .with_settings(|s| {
            s.chat_fallback_delay_secs = 1;
            s.smtp_url = Some(sink.url());
            s.support_address = "support@braid.test".into();
            s.email_inbound_secret = Some(crate::email::SECRET.into());
        })
        .start()
        .await;
    let admin = app.admin_token().await;
    let shop = site(&app, &admin, "shop", false).await;
    let claims = json!({"sub": "u-3", "exp": now() + 600, "email": "cy@example.org", "email_verified": true});
    let token = identity_token(&shop.kid, &shop.secret, claims);
    let signed =
        json_of(session(&app, Some(ORIGIN), json!({"site_key": shop.key, "identity_token": token})).await, 201).await;
    let visitor = signed["visitor_token"].as_str().unwrap();
    json_of(
        widget_post(&app, visitor, "/widget/v1/messages", json!({"client_msg_id": "c-1", "text": "Hi"})).await,
        201,
    )
    .await;
    let ticket = chat_ticket(&app, &admin).await;
    agent_reply(&app, &admin, &ticket, "First answer.").await;
    agent_reply(&app, &admin, &ticket, "Second answer.").await;

    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "one email");
    let mail = String::from_utf8_lossy(&mails[0]).to_string();
    assert!(mail.contains("First answer.") && mail.contains("Second answer."), "{mail}");
    assert!(mail.contains("To: cy@example.org") || mail.contains("<cy@example.org>"), "{mail}");
    let reply_to = mail
        .lines()
        .find_map(|l| l.strip_prefix("Reply-To: "))
        .map(|v| v.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
        .expect("a signed Reply-To");
    // The customer answers by email, to the Reply-To: the same ticket.
    let answer = format!(
        "From: cy@example.org\r\nTo: {reply_to}\r\nSubject: Re: Hi\r\nMessage-ID: <answer.cy@example.org>\r\n\r\nThanks!\r\n"
    );
    let placed = json_of(crate::email::post_raw(&app, answer.as_bytes()).await, 201).await;
    assert_eq!(placed["ticket_id"], ticket.as_str(), "{placed}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listed = json_of(app.get_as(&format!("/v1/tickets/{ticket}/messages"), &admin).await, 200).await;
    let replies: Vec<_> = listed["data"].as_array().unwrap().iter().filter(|m| m["direction"] == "outbound").collect();
    assert_eq!(replies.len(), 2);
    for reply in replies {
        assert_eq!(reply["sent_via"], "email");
        assert_eq!(reply["delivery_state"], "sent", "{reply}");
    }
}

async fn a_solved_chat_is_surveyed_with_rating_buttons_the_visitor_can_use(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let surveys = json!({"enabled": true, "delay_minutes": 0});
    json_of(app.patch_as("/v1/csat/settings", &admin, &surveys).await, 200).await;
    let shop = site(&app, &admin, "surveyed", false).await;
    let visitor = visitor(&app, &shop).await;
    let token = visitor["visitor_token"].as_str().unwrap();
    let said = widget_post(&app, token, "/widget/v1/messages", json!({"client_msg_id": "c-1", "text": "Thanks!"}));
    assert_eq!(said.await.status(), 201);
    let ticket = chat_ticket(&app, &admin).await;
    json_of(app.patch_as(&format!("/v1/tickets/{ticket}"), &admin, &json!({"status": "solved"})).await, 200).await;

    let mut survey = Value::Null;
    for _ in 0..100 {
        let listed = widget_get(&app, token, "/widget/v1/messages").await;
        let frames = listed["data"].as_array().unwrap();
        if let Some(found) = frames.iter().find(|frame| frame["message"]["survey"].is_object()) {
            survey = found["message"].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(survey["channel"], "chat", "on the ticket's own channel: {survey}");
    let good = survey["survey"]["good"].as_str().expect("rating buttons");
    assert!(good.starts_with("http://localhost:8080/csat/v1/csat1.") && good.ends_with("?rating=good"), "{good}");
    // The visitor's link works: rated through it, on this app.
    let path = &good["http://localhost:8080".len()..good.len() - "?rating=good".len()];
    let rated = app.client.post(app.url(path)).json(&json!({"rating": "good"})).send().await.unwrap();
    assert_eq!(rated.status(), 200);
    let satisfaction = json_of(app.get_as(&format!("/v1/tickets/{ticket}/satisfaction"), &admin).await, 200).await;
    assert_eq!(satisfaction["rating"], "good");
}
