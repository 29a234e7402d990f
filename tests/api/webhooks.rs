//! Outbound webhooks against a real HTTP receiver in this process, which answers as each
//! test scripts it (fails, asks to retry later, redirects, goes away, goes down and comes
//! back). Signatures are checked with the `standardwebhooks` crate, written by others.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, both_backends};
use crate::tickets::customer;

both_backends!(
    deliveries_are_standard_webhooks_carrying_the_event,
    a_receiver_that_fails_then_goes_down_and_comes_back_gets_every_event_and_never_delays_another,
    retry_after_is_honoured_redirects_fail_and_gone_disables_the_endpoint,
    a_rotated_secret_signs_beside_the_old_one_for_the_overlap,
    failed_deliveries_can_be_redelivered_and_recovered,
    endpoints_are_validated_and_private_targets_refused_unless_allowed,
);

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Reply {
    Status(u16),
    RetryAfter(u16, u64),
    Redirect,
    /// `200`, after this many milliseconds.
    Slow(u64),
    /// `200` with this JSON body.
    Json(&'static str),
}

#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) id: String,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Vec<u8>,
    pub(crate) answered: u16,
}

#[derive(Debug, Default)]
struct Script {
    got: Vec<Received>,
    arrived: usize,
    /// Answers for the next requests, in order; then `otherwise`.
    next: VecDeque<Reply>,
    otherwise: Option<Reply>,
}

/// A webhook receiver on a port of its own, which can be stopped and started again there.
pub(crate) struct Receiver {
    port: u16,
    script: Arc<Mutex<Script>>,
    server: Option<actix_web::dev::ServerHandle>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let mut receiver = Receiver { port: 0, script: Arc::default(), server: None };
        receiver.up().await;
        receiver
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub(crate) async fn up(&mut self) {
        let script = self.script.clone();
        let server = HttpServer::new(move || {
            App::new().app_data(web::Data::new(script.clone())).default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", self.port))
        .unwrap();
        self.port = server.addrs()[0].port();
        let server = server.run();
        self.server = Some(server.handle());
        tokio::spawn(server);
    }

    pub(crate) async fn down(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop(false).await;
        }
    }

    pub(crate) fn answer_next(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().next.extend(replies);
    }

    pub(crate) fn otherwise(&self, reply: Option<Reply>) {
        self.script.lock().unwrap().otherwise = reply;
    }

    /// Requests that arrived, answered or still being answered.
    pub(crate) fn arrived(&self) -> usize {
        self.script.lock().unwrap().arrived
    }

    pub(crate) fn got(&self) -> Vec<Received> {
        self.script.lock().unwrap().got.clone()
    }

    /// The requests answered 2xx.
    pub(crate) fn delivered(&self) -> Vec<Received> {
        self.got().into_iter().filter(|r| (200..300).contains(&r.answered)).collect()
    }
}

async fn answer(request: HttpRequest, body: web::Bytes, script: web::Data<Arc<Mutex<Script>>>) -> HttpResponse {
    let reply = {
        let mut script = script.lock().unwrap();
        script.arrived += 1;
        script.next.pop_front().or(script.otherwise).unwrap_or(Reply::Status(200))
    };
    if let Reply::Slow(millis) = reply {
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
    let mut script = script.lock().unwrap();
    let mut headers = http::HeaderMap::new();
    for (name, value) in request.headers() {
        headers.append(
            http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (status, response) = match reply {
        Reply::Status(status) => {
            (status, HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).body("thanks"))
        }
        Reply::RetryAfter(status, secs) => (
            status,
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                .insert_header(("retry-after", secs.to_string()))
                .finish(),
        ),
        Reply::Redirect => (301, HttpResponse::MovedPermanently().insert_header(("location", "/elsewhere")).finish()),
        Reply::Slow(_) => (200, HttpResponse::Ok().body("thanks, eventually")),
        Reply::Json(body) => (200, HttpResponse::Ok().content_type("application/json").body(body)),
    };
    script.got.push(Received { id, headers, body: body.to_vec(), answered: status });
    response
}

/// Waits until `check` holds, up to 30 s.
pub(crate) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(30), "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An app whose retries come after a second, not minutes.
async fn app(backend: Backend) -> TestApp {
    TestApp::builder(backend).with_settings(|s| s.webhook_retry_schedule_secs = vec![1, 1, 1, 1, 1, 1]).start().await
}

async fn register(app: &TestApp, admin: &str, url: &str, events: Value) -> (String, String) {
    let response =
        app.post_as("/v1/webhooks", admin, &json!({"url": url, "events": events, "description": "test"})).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    (created["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
}

async fn new_ticket(app: &TestApp, admin: &str, subject: &str) -> String {
    let customer = customer(app, admin, &format!("{}@example.org", uuid::Uuid::now_v7().simple())).await;
    let ticket: Value = app
        .post_as("/v1/tickets", admin, &json!({"customer_id": customer, "subject": subject}))
        .await
        .json()
        .await
        .unwrap();
    ticket["id"].as_str().unwrap().to_owned()
}

/// The endpoint's delivery log once its latest delivery is recorded as delivered.
async fn settled_log(app: &TestApp, admin: &str, id: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let log: Value = app.get_as(&format!("/v1/webhooks/{id}/deliveries"), admin).await.json().await.unwrap();
        if log["data"][0]["state"] == "delivered" {
            return log;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{log}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(crate) fn verify(secret: &str, received: &Received) -> Result<(), String> {
    standardwebhooks::Webhook::new(secret)
        .map_err(|e| e.to_string())?
        .verify(&received.body, &received.headers)
        .map_err(|e| e.to_string())
}

pub(crate) fn body(received: &Received) -> Value {
    serde_json::from_slice(&received.body).unwrap()
}

async fn deliveries_are_standard_webhooks_carrying_the_event(backend: Backend) {
    let app = app(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let (id, secret) = register(&app, &admin, &receiver.url(), json!(["ticket.created"])).await;
    assert!(secret.starts_with("whsec_"));
    let ticket = new_ticket(&app, &admin, "Refund").await;

    eventually("the ticket's webhook", || !receiver.delivered().is_empty()).await;
    let got = receiver.delivered();
    assert_eq!(got.len(), 1, "only the kinds subscribed: {:?}", got.iter().map(body).collect::<Vec<_>>());
    verify(&secret, &got[0]).expect("a valid Standard Webhooks signature");
    assert!(verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &got[0]).is_err(), "another secret does not verify");
    assert!(got[0].id.starts_with("msg_"));
    let sent = body(&got[0]);
    assert_eq!(sent["type"], "ticket.created");
    // The data is the event as the feed and the stream carry it: enough to act on.
    assert_eq!(sent["data"]["kind"], "ticket.created");
    assert_eq!(sent["data"]["subject_id"], ticket.as_str());
    assert_eq!(sent["data"]["payload"]["subject"], "Refund");
    let key = app.api_key(&["events:read"]).await;
    let feed: Value = app.get_as("/v1/events?types=ticket.created", &key).await.json().await.unwrap();
    assert_eq!(feed["data"][0], sent["data"]);

    // The delivery log shows the attempt (recorded once the answer is in).
    let log = settled_log(&app, &admin, &id).await;
    let delivery = &log["data"][0];
    assert_eq!(delivery["id"], got[0].id.as_str());
    assert_eq!(delivery["state"], "delivered");
    assert_eq!(delivery["attempts"][0]["status"], 200);
    assert_eq!(delivery["attempts"][0]["response"], "thanks");
    assert!(delivery["attempts"][0]["latency_ms"].is_number());
}

async fn a_receiver_that_fails_then_goes_down_and_comes_back_gets_every_event_and_never_delays_another(
    backend: Backend,
) {
    let app = app(backend).await;
    let admin = app.admin_token().await;
    let mut flaky = Receiver::start().await;
    let healthy = Receiver::start().await;
    let (_, flaky_secret) = register(&app, &admin, &flaky.url(), json!(["ticket.created"])).await;
    let (_, healthy_secret) = register(&app, &admin, &healthy.url(), json!(["ticket.*"])).await;

    flaky.answer_next([Reply::Status(500), Reply::Status(502)]);
    let mut tickets = BTreeSet::new();
    for n in 0..3 {
        tickets.insert(new_ticket(&app, &admin, &format!("first {n}")).await);
    }
    eventually("the healthy receiver gets the first three", || {
        healthy.delivered().iter().filter(|r| body(r)["type"] == "ticket.created").count() == 3
    })
    .await;

    // The flaky receiver goes down; meanwhile more tickets come, and the healthy one
    // gets each at once.
    flaky.down().await;
    for n in 0..3 {
        tickets.insert(new_ticket(&app, &admin, &format!("second {n}")).await);
    }
    eventually("the healthy receiver gets all six while the other is down", || {
        healthy.delivered().iter().filter(|r| body(r)["type"] == "ticket.created").count() == 6
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    flaky.up().await;

    eventually("the flaky receiver gets all six", || {
        let ids: BTreeSet<String> =
            flaky.delivered().iter().map(|r| body(r)["data"]["subject_id"].as_str().unwrap().to_owned()).collect();
        ids == tickets
    })
    .await;
    // Duplicates only by webhook-id: each ticket under one id, whatever the retries.
    let mut ids_per_ticket = std::collections::BTreeMap::<String, BTreeSet<String>>::new();
    for received in flaky.got() {
        verify(&flaky_secret, &received).unwrap();
        let ticket = body(&received)["data"]["subject_id"].as_str().unwrap().to_owned();
        ids_per_ticket.entry(ticket).or_default().insert(received.id.clone());
    }
    assert!(ids_per_ticket.values().all(|ids| ids.len() == 1), "{ids_per_ticket:?}");
    assert!(flaky.got().len() > 6, "the failures were retried");
    for received in healthy.got() {
        verify(&healthy_secret, &received).unwrap();
    }
}

async fn retry_after_is_honoured_redirects_fail_and_gone_disables_the_endpoint(backend: Backend) {
    let app = app(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let (id, _) = register(&app, &admin, &receiver.url(), json!(["ticket.created"])).await;

    receiver.answer_next([Reply::RetryAfter(429, 3), Reply::Redirect]);
    new_ticket(&app, &admin, "busy").await;
    eventually("a 429 then a redirect then a success", || receiver.got().len() == 3).await;
    let got = receiver.got();
    assert_eq!(got.iter().map(|r| r.answered).collect::<Vec<_>>(), [429, 301, 200]);
    assert_eq!(got.iter().map(|r| r.id.clone()).collect::<BTreeSet<_>>().len(), 1, "one webhook-id throughout");
    let log = settled_log(&app, &admin, &id).await;
    // The retry waited as asked (3 s), not the schedule's 1 s.
    let at = |n: usize| {
        log["data"][0]["attempts"][n]["at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap()
    };
    let waited = (at(1) - at(0)).num_milliseconds();
    assert!(waited >= 2_700, "retried {waited} ms after a Retry-After of 3 s");
    let statuses: Vec<&Value> = log["data"][0]["attempts"].as_array().unwrap().iter().map(|a| &a["status"]).collect();
    assert_eq!(statuses, [&json!(429), &json!(301), &json!(200)]);
    assert_eq!(receiver.got().iter().filter(|r| r.headers.get("location").is_some()).count(), 0);

    // 410 Gone: the endpoint is disabled, with an event saying so; nothing more is sent.
    receiver.otherwise(Some(Reply::Status(410)));
    new_ticket(&app, &admin, "gone").await;
    let mut endpoint = Value::Null;
    let started = std::time::Instant::now();
    while endpoint["enabled"] != false {
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
        endpoint = app.get_as(&format!("/v1/webhooks/{id}"), &admin).await.json().await.unwrap();
    }
    assert_eq!(endpoint["disabled_reason"], "gone");
    let key = app.api_key(&["events:read"]).await;
    let feed: Value = app.get_as("/v1/events?types=webhook.disabled", &key).await.json().await.unwrap();
    assert_eq!(feed["data"][0]["subject_id"], id.as_str());
    // Events reach every reader of the log: they name the endpoint's origin, not its path.
    assert_eq!(feed["data"][0]["payload"]["url"], format!("http://127.0.0.1:{}", receiver.port));
    let seen = receiver.got().len();
    new_ticket(&app, &admin, "after").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.got().len(), seen, "a disabled endpoint gets nothing");

    // Enabled again, it gets what waited.
    receiver.otherwise(None);
    let enabled = app.patch_as(&format!("/v1/webhooks/{id}"), &admin, &json!({"enabled": true})).await;
    assert_eq!(enabled.status(), 200);
    eventually("the waiting delivery", || {
        receiver.delivered().iter().any(|r| body(r)["data"]["payload"]["subject"] == "after")
    })
    .await;
}

async fn a_rotated_secret_signs_beside_the_old_one_for_the_overlap(backend: Backend) {
    let app = app(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let (id, old) = register(&app, &admin, &receiver.url(), json!(["ticket.created"])).await;

    let rotated: Value =
        app.post_as(&format!("/v1/webhooks/{id}/secrets"), &admin, &json!({})).await.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    new_ticket(&app, &admin, "during").await;
    eventually("a delivery during the overlap", || receiver.delivered().len() == 1).await;
    let during = &receiver.delivered()[0];
    assert_eq!(during.headers["webhook-signature"].to_str().unwrap().split(' ').count(), 2);
    verify(&old, during).expect("the old secret still verifies");
    verify(&new, during).expect("the new secret verifies");

    // With no overlap, only the newest signs.
    let newest: Value = app
        .post_as(&format!("/v1/webhooks/{id}/secrets"), &admin, &json!({"overlap_secs": 0}))
        .await
        .json()
        .await
        .unwrap();
    let newest = newest["secret"].as_str().unwrap().to_owned();
    new_ticket(&app, &admin, "after").await;
    eventually("a delivery after", || receiver.delivered().len() == 2).await;
    let after = &receiver.delivered()[1];
    verify(&newest, after).unwrap();
    assert!(verify(&new, after).is_err() && verify(&old, after).is_err());
}

async fn failed_deliveries_can_be_redelivered_and_recovered(backend: Backend) {
    let app = TestApp::builder(backend).with_settings(|s| s.webhook_retry_schedule_secs = vec![1]).start().await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let (id, _) = register(&app, &admin, &receiver.url(), json!(["ticket.created"])).await;
    receiver.otherwise(Some(Reply::Status(500)));
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    new_ticket(&app, &admin, "one").await;
    new_ticket(&app, &admin, "two").await;

    let failed = || async {
        let log: Value =
            app.get_as(&format!("/v1/webhooks/{id}/deliveries?state=failed"), &admin).await.json().await.unwrap();
        log["data"].as_array().unwrap().clone()
    };
    let started = std::time::Instant::now();
    while failed().await.len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "both fail after their two attempts");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failures = failed().await;
    assert!(failures.iter().all(|d| d["attempts"].as_array().unwrap().len() == 2));
    assert_eq!(receiver.got().len(), 4);

    receiver.otherwise(None);
    let one = failures[0]["id"].as_str().unwrap();
    let redelivered = app.post_as(&format!("/v1/webhooks/{id}/deliveries/{one}/redeliver"), &admin, &json!({})).await;
    assert_eq!(redelivered.status(), 202);
    eventually("the redelivery", || receiver.delivered().len() == 1).await;
    assert_eq!(receiver.delivered()[0].id, one, "the same webhook-id");

    let recovered: Value = app
        .post_as(&format!("/v1/webhooks/{id}/recover"), &admin, &json!({"since": since}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(recovered["requeued"], 1, "the other failed one");
    eventually("the recovered one", || receiver.delivered().len() == 2).await;
    assert!(failed().await.is_empty());

    let missing = app.post_as(&format!("/v1/webhooks/{id}/deliveries/msg_nope/redeliver"), &admin, &json!({})).await;
    assert_eq!(missing.status(), 404);
}

async fn endpoints_are_validated_and_private_targets_refused_unless_allowed(backend: Backend) {
    let app = TestApp::builder(backend).with_settings(|s| s.webhook_allow_private_targets = false).start().await;
    let admin = app.admin_token().await;
    for (body, field) in [
        (json!({"url": "http://127.0.0.1:9/hook"}), "url"),
        (json!({"url": "http://169.254.169.254/latest"}), "url"),
        (json!({"url": "http://localhost/hook"}), "url"),
        (json!({"url": "ftp://example.org/hook"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "https://93.184.215.14/hook", "events": ["ticket"]}), "events"),
        (json!({"url": "https://93.184.215.14/hook", "events": []}), "events"),
    ] {
        let response = app.post_as("/v1/webhooks", &admin, &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["extra"]["field"], field, "{body}: {problem}");
    }
    // Nothing here makes a ticket, so nothing is sent to this stranger's address.
    let created = app
        .post_as("/v1/webhooks", &admin, &json!({"url": "https://93.184.215.14/hook", "events": ["ticket.created"]}))
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["events"], json!(["ticket.created"]));
    let id = created["id"].as_str().unwrap();
    let moved = app.patch_as(&format!("/v1/webhooks/{id}"), &admin, &json!({"url": "http://10.0.0.1/"})).await;
    assert_eq!(moved.status(), 422);
    let listed: Value = app.get_as("/v1/webhooks", &admin).await.json().await.unwrap();
    assert!(listed["data"].as_array().unwrap().iter().all(|w| w.get("secret").is_none()), "secrets are shown once");
    assert_eq!(app.delete_as(&format!("/v1/webhooks/{id}"), &admin).await.status(), 204);
    assert_eq!(app.get_as(&format!("/v1/webhooks/{id}"), &admin).await.status(), 404);
    let agent = app.agent_token("agent").await;
    assert_eq!(app.get_as("/v1/webhooks", &agent).await.status(), 403);
}
