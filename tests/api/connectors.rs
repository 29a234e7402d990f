//! The connector channel end to end: a connector registered by an admin sends messages,
//! upserts its customers and tickets by its own ids, gets agents' replies at its callback
//! (a real HTTP receiver in this process, signatures checked with the `standardwebhooks`
//! crate) and reports how far they got.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, both_backends};
use crate::webhooks::{Receiver, Reply, body, eventually, verify};

both_backends!(
    messages_are_placed_once_per_external_id_and_follow_their_conversation,
    customers_and_tickets_upsert_by_external_id_and_contacts_stay_claims,
    replies_reach_the_callback_signed_and_retried_and_reports_only_move_forward,
    an_import_keeps_its_times_and_sends_nothing,
    bad_input_is_refused_and_stores_nothing,
    first_upserts_of_one_ticket_at_once_make_one_ticket,
    a_refused_message_and_a_replay_change_no_customer,
    a_report_during_the_callback_is_never_undone_and_a_gone_callback_fails_only_the_reply,
    without_a_callback_replies_wait_and_api_needs_a_connector,
    connectors_and_chat_sites_never_share_a_namespace,
    a_slow_connector_never_holds_up_another,
    a_hanging_connector_takes_at_most_half_the_slots,
    a_rotated_signing_secret_signs_beside_the_old_one_for_the_overlap,
);

struct Connector {
    name: String,
    key: String,
    secret: String,
}

/// An app whose retries come after a second, not minutes.
async fn app(backend: Backend) -> TestApp {
    TestApp::builder(backend).with_settings(|s| s.webhook_retry_schedule_secs = vec![1, 1, 1, 1, 1, 1]).start().await
}

async fn register(app: &TestApp, admin: &str, body: Value) -> Connector {
    let response = app.post_as("/v1/connectors", admin, &body).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    assert!(created["key"].as_str().unwrap().starts_with("brd_"));
    Connector {
        name: created["name"].as_str().unwrap().to_owned(),
        key: created["key"].as_str().unwrap().to_owned(),
        secret: created["signing_secret"].as_str().unwrap().to_owned(),
    }
}

async fn send(app: &TestApp, connector: &Connector, message: Value) -> (u16, Value) {
    let response = app.post_as(&format!("/v1/connectors/{}/messages", connector.name), &connector.key, &message).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn messages_are_placed_once_per_external_id_and_follow_their_conversation(backend: Backend) {
    let app = app(backend).await;
    let admin = app.admin_token().await;
    let sms = register(&app, &admin, json!({"name": "sms"})).await;

    let first = json!({
        "external_id": "m-1",
        "customer": {"external_id": "+4915100000001", "name": "Ana Lima"},
        "conversation_ref": "conv-1",
        "text": "My parcel never arrived",
    });
    let (status, placed) = send(&app, &sms, first.clone()).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["new_customer"], true);
    assert_eq!(placed["new_ticket"], true);
    assert_eq!(placed["message"]["channel"], "api");
    assert_eq!(placed["message"]["channel_ref"], "sms:m-1");
    assert_eq!(placed["message"]["details"]["conversation_ref"], "conv-1");
    let (customer, ticket) = (placed["customer_id"].clone(), placed["ticket_id"].clone());

    // A replay, even with other content, is the first placement.
    let mut edited = first.clone();
    edited["text"] = json!("edited");
    let (status, replay) = send(&app, &sms, edited).await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["duplicate"], true);
    assert_eq!(replay["message"]["id"], placed["message"]["id"]);
    assert_eq!(replay["message"]["text"], "My parcel never arrived");

    // Replays at once: one message, every answer names it.
    let racing = json!({"external_id": "m-race", "customer": {"external_id": "+4915100000001"}, "text": "Hello?"});
    let answers = futures_util::future::join_all((0..6).map(|_| send(&app, &sms, racing.clone()))).await;
    assert_eq!(answers.iter().filter(|(status, _)| *status == 201).count(), 1, "{answers:?}");
    let ids: std::collections::BTreeSet<String> =
        answers.iter().map(|(_, a)| a["message"]["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 1);

    // The conversation's next message goes where its first went, even after the ticket is
    // solved (it reopens), and the customer is the same one.
    let patch =
        app.patch_as(&format!("/v1/tickets/{}", ticket.as_str().unwrap()), &admin, &json!({"status": "solved"})).await;
    assert_eq!(patch.status(), 200);
    let next = json!({"external_id": "m-2", "customer": {"external_id": "+4915100000001"}, "conversation_ref": "conv-1", "text": "Any news?"});
    let (status, second) = send(&app, &sms, next).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!((second["customer_id"].clone(), second["ticket_id"].clone()), (customer.clone(), ticket.clone()));
    let reasons = second["message"]["placement"].to_string();
    assert!(reasons.contains("conversation"), "{reasons}");

    // The customer is known by the connector's id, verified.
    let profile: Value =
        app.get_as(&format!("/v1/customers/{}", customer.as_str().unwrap()), &admin).await.json().await.unwrap();
    let identities = profile["identities"].as_array().unwrap();
    assert!(
        identities
            .iter()
            .any(|i| i["kind"] == "external:sms" && i["value"] == "+4915100000001" && i["trust"] == "verified"),
        "{profile}"
    );
    assert_eq!(profile["name"], "Ana Lima");
}

async fn customers_and_tickets_upsert_by_external_id_and_contacts_stay_claims(backend: Backend) {
    let app = app(backend).await;
    let admin = app.admin_token().await;
    let crm = register(&app, &admin, json!({"name": "crm"})).await;
    let trusted = register(&app, &admin, json!({"name": "shop", "trusted": true})).await;
    let path = |c: &Connector, what: &str| format!("/v1/connectors/{}/{what}", c.name);

    let upsert =
        app.put_as(&path(&crm, "customers/u-1"), &crm.key, &json!({"name": "Ana", "email": "Ana@Example.org"})).await;
    let response = upsert;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let email = created["identities"].as_array().unwrap().iter().find(|i| i["kind"] == "email").cloned().unwrap();
    assert_eq!((email["value"].as_str(), email["trust"].as_str()), (Some("ana@example.org"), Some("claimed")));

    let again = app.put_as(&path(&crm, "customers/u-1"), &crm.key, &json!({"name": "Ana Lima"})).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!((again["id"].clone(), again["name"].as_str()), (created["id"].clone(), Some("Ana Lima")));

    // A trusted connector's contacts are verified.
    let shop = app.put_as(&path(&trusted, "customers/s-1"), &trusted.key, &json!({"phone": "+14155550132"})).await;
    let shop: Value = shop.json().await.unwrap();
    assert!(shop["identities"].to_string().contains(r#""trust":"verified""#), "{shop}");

    // An email another customer holds stays theirs; agents get a suggestion.
    let holder = crate::tickets::customer(&app, &admin, "held@example.org").await;
    let claim = app.put_as(&path(&crm, "customers/u-2"), &crm.key, &json!({"email": "held@example.org"})).await;
    assert_eq!(claim.status(), 201);
    let claim: Value = claim.json().await.unwrap();
    assert_eq!(claim["merge_suggestions"].as_array().unwrap().len(), 1, "{claim}");
    assert!(!claim["identities"].to_string().contains("held@example.org"), "{claim}");
    let suggestion = claim["merge_suggestions"][0].as_str().unwrap();
    let suggestion: Value =
        app.get_as(&format!("/v1/merge-suggestions/{suggestion}"), &admin).await.json().await.unwrap();
    assert_eq!(suggestion["other_customer_id"], holder);

    // Tickets: making one needs the connector's customer; then it updates.
    let orphan = app.put_as(&path(&crm, "tickets/T-1"), &crm.key, &json!({"subject": "Lost"})).await;
    assert_eq!(orphan.status(), 422);
    let body = json!({"customer_external_id": "u-1", "subject": "Lost parcel", "priority": "high"});
    let made = app.put_as(&path(&crm, "tickets/T-1"), &crm.key, &body).await;
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    assert_eq!((made["customer_id"].clone(), made["channel"].as_str()), (created["id"].clone(), Some("api")));
    let moved = app.put_as(&path(&crm, "tickets/T-1"), &crm.key, &json!({"status": "pending"})).await;
    assert_eq!(moved.status(), 200);
    let moved: Value = moved.json().await.unwrap();
    assert_eq!((moved["id"].clone(), moved["status"].as_str()), (made["id"].clone(), Some("pending")));

    // A message naming the ticket goes into it; a ticket the connector never made is refused.
    let message = json!({"external_id": "x-1", "customer": {"external_id": "u-1"}, "ticket_external_id": "T-1", "text": "Still nothing"});
    let (status, placed) = send(&app, &crm, message).await;
    assert_eq!((status, placed["ticket_id"].clone()), (201, made["id"].clone()), "{placed}");
    let unknown =
        json!({"external_id": "x-2", "customer": {"external_id": "u-1"}, "ticket_external_id": "T-404", "text": "Hi"});
    let (status, problem) = send(&app, &crm, unknown).await;
    assert_eq!((status, problem["extra"]["field"].as_str()), (422, Some("ticket_external_id")), "{problem}");

    // One connector's ticket is not another's.
    let (status, _) = send(
        &app,
        &trusted,
        json!({"external_id": "y", "customer": {"external_id": "s-1"}, "ticket_external_id": "T-1", "text": "Hi"}),
    )
    .await;
    assert_eq!(status, 422);
    let foreign = app.put_as(&path(&crm, "tickets/T-1"), &trusted.key, &json!({"status": "open"})).await;
    assert_eq!(foreign.status(), 403);
}

async fn replies_reach_the_callback_signed_and_retried_and_reports_only_move_forward(backend: Backend) {
    let app = app(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    // The first attempt fails, the second is taken.
    receiver.answer_next([Reply::Status(503)]);
    let bridge = register(&app, &admin, json!({"name": "bridge", "callback_url": receiver.url()})).await;
    let message = json!({"external_id": "in-1", "customer": {"external_id": "chat-9"}, "conversation_ref": "room-9", "text": "Hi, I need help"});
    let (_, placed) = send(&app, &bridge, message).await;
    let ticket = placed["ticket_id"].as_str().unwrap().to_owned();

    let upload =
        app.request(reqwest::Method::POST, "/v1/attachments", &admin).body("label bytes").send().await.unwrap();
    assert_eq!(upload.status(), 201);
    let file = upload.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let attachments = json!([{"id": file, "filename": "label.pdf", "content_type": "application/pdf"}]);
    let answer = json!({"text": "On it!", "attachments": attachments});
    let reply = app.post_as(&format!("/v1/tickets/{ticket}/replies"), &admin, &answer).await;
    assert_eq!(reply.status(), 201);
    let reply: Value = reply.json().await.unwrap();
    assert_eq!(reply["channel"], "api", "a reply goes where the customer wrote");
    let reply_id = reply["id"].as_str().unwrap().to_owned();

    eventually("the callback, after a retry", || !receiver.delivered().is_empty()).await;
    let got = receiver.got();
    assert_eq!(got.len(), 2, "one failed attempt, then the delivery");
    assert_eq!(got[0].id, got[1].id, "the same webhook-id on every attempt");
    verify(&bridge.secret, &got[1]).expect("signed like a webhook");
    let callback = body(&got[1]);
    assert_eq!(callback["type"], "message.reply");
    let data = &callback["data"];
    assert_eq!(data["connector"], "bridge");
    assert_eq!(data["message"]["id"], reply_id.as_str());
    assert_eq!(data["message"]["text"], "On it!");
    assert_eq!(data["conversation_ref"], "room-9");
    assert_eq!(data["customer"]["external_id"], "chat-9");
    // The reply keeps the route it was written for.
    assert_eq!(data["message"]["details"]["route"]["conversation_ref"], "room-9");
    // Its attachment: the connector's key fetches it through its own reply, and only there.
    assert_eq!(data["message"]["details"]["attachments"][0]["id"], file.as_str());
    let own = format!("/v1/connectors/bridge/messages/{reply_id}/attachments/{file}");
    let fetched = app.get_as(&own, &bridge.key).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), b"label bytes");
    let other = format!("/v1/connectors/bridge/messages/{reply_id}/attachments/{}", "0".repeat(64));
    assert_eq!(app.get_as(&other, &bridge.key).await.status(), 404);
    assert_eq!(app.get_as(&format!("/v1/attachments/{file}"), &bridge.key).await.status(), 403);

    let started = std::time::Instant::now();
    loop {
        let message: Value = app.get_as(&format!("/v1/messages/{reply_id}"), &admin).await.json().await.unwrap();
        if message["delivery_state"] == "sent" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the reply is recorded sent");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let report = |state: &'static str| {
        let path = format!("/v1/connectors/bridge/messages/{reply_id}/status");
        let (app, key) = (&app, bridge.key.clone());
        async move {
            let response = app.put_as(&path, &key, &json!({"state": state})).await;
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(report("delivered").await.0, 200);
    let (status, read) = report("read").await;
    assert_eq!((status, read["delivery_state"].as_str()), (200, Some("read")));
    assert_eq!(report("read").await.0, 200, "the same report again is answered as the first");
    let (status, behind) = report("delivered").await;
    assert_eq!((status, behind["extra"]["state"].as_str()), (409, Some("read")), "{behind}");
    assert_eq!(report("failed").await.0, 409, "a read message cannot fail");
    assert_eq!(report("queued").await.0, 422);

    // Only the connector's own replies: not the customer's message, not another's key.
    let inbound = placed["message"]["id"].as_str().unwrap();
    let path = format!("/v1/connectors/bridge/messages/{inbound}/status");
    assert_eq!(app.put_as(&path, &bridge.key, &json!({"state": "read"})).await.status(), 404);
    let other = register(&app, &admin, json!({"name": "other"})).await;
    let path = format!("/v1/connectors/bridge/messages/{reply_id}/status");
    assert_eq!(app.put_as(&path, &other.key, &json!({"state": "read"})).await.status(), 403);
    // The customer's message was never marked by any of this.
    let inbound: Value = app.get_as(&format!("/v1/messages/{inbound}"), &admin).await.json().await.unwrap();
    assert_eq!(inbound["delivery_state"], Value::Null);
}

async fn an_import_keeps_its_times_and_sends_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let import = register(&app, &admin, json!({"name": "legacy-desk"})).await;
    let history = [("h-1", "2024-03-01T09:00:00Z", "Order question"), ("h-2", "2024-03-01T09:05:00Z", "Thanks!")];
    let mut ticket = None;
    for (id, at, text) in history {
        let message = json!({
            "external_id": id, "customer": {"external_id": "old-7", "email": "old7@example.org"},
            "conversation_ref": "case-7", "text": text, "sent_at": at,
        });
        let (status, placed) = send(&app, &import, message).await;
        assert_eq!(status, 201, "{placed}");
        let created = chrono::DateTime::parse_from_rfc3339(placed["message"]["created_at"].as_str().unwrap()).unwrap();
        assert_eq!(created, chrono::DateTime::parse_from_rfc3339(at).unwrap());
        ticket.get_or_insert(placed["ticket_id"].clone());
        assert_eq!(Some(&placed["ticket_id"]), ticket.as_ref(), "one conversation, one ticket");
    }
    // No acknowledgement, nothing queued to anyone; the ticket changed now, so a sync by
    // `updated_since` sees it.
    let queued = app.with_db(braid_db::outbox::pending).await;
    assert_eq!(queued, 0);
    let ticket: Value =
        app.get_as(&format!("/v1/tickets/{}", ticket.unwrap().as_str().unwrap()), &admin).await.json().await.unwrap();
    assert_eq!(&ticket["created_at"].as_str().unwrap()[..10], "2024-03-01");
    assert!(ticket["updated_at"].as_str().unwrap() > "2026", "{ticket}");
    // History that arrives after the ticket was solved (an import marks its tickets solved
    // as it goes) joins it and leaves it solved.
    let path = format!("/v1/tickets/{}", ticket["id"].as_str().unwrap());
    assert_eq!(app.patch_as(&path, &admin, &json!({"status": "solved"})).await.status(), 200);
    let late = json!({"external_id": "h-0", "customer": {"external_id": "old-7"}, "conversation_ref": "case-7",
                      "text": "An older note", "sent_at": "2024-03-01T08:55:00Z"});
    let (status, placed) = send(&app, &import, late).await;
    assert_eq!((status, &placed["ticket_id"]), (201, &ticket["id"]), "{placed}");
    assert!(placed["message"]["placement"].to_string().contains("written_before_solved"), "{placed}");
    let after: Value = app.get_as(&path, &admin).await.json().await.unwrap();
    assert_eq!(after["status"], "solved");
    let future = json!({"external_id": "h-3", "customer": {"external_id": "old-7"}, "text": "x", "sent_at": "2999-01-01T00:00:00Z"});
    let (status, problem) = send(&app, &import, future).await;
    assert_eq!((status, problem["extra"]["field"].as_str()), (422, Some("sent_at")), "{problem}");
}

async fn bad_input_is_refused_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    for bad in [json!({"name": "Has Spaces"}), json!({"name": "ok", "callback_url": "ftp://x"}), json!({"name": ""})] {
        let response = app.post_as("/v1/connectors", &admin, &bad).await;
        assert_eq!(response.status(), 422, "{bad}");
    }
    let sms = register(&app, &admin, json!({"name": "sms2"})).await;
    let again = app.post_as("/v1/connectors", &admin, &json!({"name": "sms2"})).await;
    assert_eq!(again.status(), 409);
    let customer = json!({"external_id": "c"});
    for bad in [
        json!({"external_id": "", "customer": customer, "text": "x"}),
        json!({"external_id": "a\nb", "customer": customer, "text": "x"}),
        json!({"external_id": "m", "customer": {"external_id": " padded "}, "text": "x"}),
        json!({"external_id": "m", "customer": customer, "text": "   "}),
        json!({"external_id": "m", "customer": {"external_id": "c", "email": "not an email"}, "text": "x"}),
        json!({"external_id": "m", "customer": customer, "text": "x", "attachments": [{"id": "0".repeat(64), "filename": "a.pdf", "content_type": "application/pdf"}]}),
        json!({"external_id": "m", "customer": customer, "text": "x", "html": "a".repeat(600 * 1024)}),
    ] {
        let (status, problem) = send(&app, &sms, bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {problem}");
    }
    let unknown = app
        .post_as(
            "/v1/connectors/nope/messages",
            &admin,
            &json!({"external_id": "m", "customer": customer, "text": "x"}),
        )
        .await;
    assert_eq!(unknown.status(), 404);
    let stored = app
        .with_db(|conn| {
            use diesel::prelude::*;
            Ok(braid_db::schema::messages::table.count().get_result::<i64>(conn)?)
        })
        .await;
    assert_eq!(stored, 0, "nothing refused was stored");

    // HTML is made safe before it is kept.
    let html = json!({"external_id": "h", "customer": customer, "text": "see", "html": "<p>see</p><script>alert(1)</script><img src=x onerror=alert(1)>"});
    let (status, placed) = send(&app, &sms, html).await;
    assert_eq!(status, 201);
    let kept = placed["message"]["html"].as_str().unwrap();
    assert!(kept.contains("<p>see</p>") && !kept.contains("script") && !kept.contains("onerror"), "{kept}");
}

async fn first_upserts_of_one_ticket_at_once_make_one_ticket(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let crm = register(&app, &admin, json!({"name": "crm"})).await;
    let customer = app.put_as("/v1/connectors/crm/customers/u-1", &crm.key, &json!({"name": "Ana"})).await;
    assert_eq!(customer.status(), 201);
    let body = json!({"customer_external_id": "u-1", "subject": "Lost parcel"});
    let puts = (0..6).map(|_| app.put_as("/v1/connectors/crm/tickets/T-9", &crm.key, &body));
    let answers = futures_util::future::join_all(puts).await;
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for answer in answers {
        let status = answer.status().as_u16();
        created += usize::from(status == 201);
        let ticket: Value = answer.json().await.unwrap();
        assert!(status == 201 || status == 200, "{status} {ticket}");
        ids.insert(ticket["id"].as_str().unwrap().to_owned());
    }
    assert_eq!((created, ids.len()), (1, 1), "one ticket, made once");
    let listed: Value = app.get_as("/v1/tickets?channel=api", &admin).await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    // A status no new ticket can take makes none.
    let closed = json!({"customer_external_id": "u-1", "status": "closed"});
    assert_eq!(app.put_as("/v1/connectors/crm/tickets/T-10", &crm.key, &closed).await.status(), 422);
    let listed: Value = app.get_as("/v1/tickets?channel=api", &admin).await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

async fn a_refused_message_and_a_replay_change_no_customer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let crm = register(&app, &admin, json!({"name": "crm"})).await;
    let refused = json!({
        "external_id": "x-1", "customer": {"external_id": "new-1", "name": "Nobody", "email": "nobody@example.org"},
        "ticket_external_id": "T-404", "text": "Hi",
    });
    assert_eq!(send(&app, &crm, refused).await.0, 422);
    // The customer was not made on the way to the refusal.
    let made = app.put_as("/v1/connectors/crm/customers/new-1", &crm.key, &json!({})).await;
    assert_eq!(made.status(), 201, "the refused message made no customer");

    let first = json!({"external_id": "m-1", "customer": {"external_id": "u-7", "name": "Old Name"}, "text": "Hi"});
    assert_eq!(send(&app, &crm, first.clone()).await.0, 201);
    let renamed = app.put_as("/v1/connectors/crm/customers/u-7", &crm.key, &json!({"name": "New Name"})).await;
    assert_eq!(renamed.status(), 200);
    let (status, replay) = send(&app, &crm, first).await;
    assert_eq!(status, 200);
    let profile: Value = app
        .get_as(&format!("/v1/customers/{}", replay["customer_id"].as_str().unwrap()), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["name"], "New Name", "a replay does not bring the old name back");
}

async fn a_report_during_the_callback_is_never_undone_and_a_gone_callback_fails_only_the_reply(backend: Backend) {
    let app = app(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    // The connector takes its time to answer; it reports `delivered` before it does.
    receiver.answer_next([Reply::Slow(1500)]);
    let bridge = register(&app, &admin, json!({"name": "slow", "callback_url": receiver.url()})).await;
    let (_, placed) =
        send(&app, &bridge, json!({"external_id": "in-1", "customer": {"external_id": "c"}, "text": "Hi"})).await;
    let ticket = placed["ticket_id"].as_str().unwrap().to_owned();
    let reply: Value = app
        .post_as(&format!("/v1/tickets/{ticket}/replies"), &admin, &json!({"text": "One"}))
        .await
        .json()
        .await
        .unwrap();
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    eventually("the callback arrives", || receiver.arrived() > 0).await;
    let path = format!("/v1/connectors/slow/messages/{reply_id}/status");
    assert_eq!(app.put_as(&path, &bridge.key, &json!({"state": "delivered"})).await.status(), 200);
    eventually("the slow answer", || !receiver.delivered().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let message: Value = app.get_as(&format!("/v1/messages/{reply_id}"), &admin).await.json().await.unwrap();
    assert_eq!(message["delivery_state"], "delivered", "the worker's `sent` never undoes the report");

    // 410: the reply fails for good; the customer's message is untouched.
    receiver.otherwise(Some(Reply::Status(410)));
    let gone: Value = app
        .post_as(&format!("/v1/tickets/{ticket}/replies"), &admin, &json!({"text": "Two"}))
        .await
        .json()
        .await
        .unwrap();
    let gone_id = gone["id"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    loop {
        let message: Value = app.get_as(&format!("/v1/messages/{gone_id}"), &admin).await.json().await.unwrap();
        if message["delivery_state"] == "failed" {
            assert!(message["details"]["delivery_error"].as_str().unwrap().contains("410"), "{message}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{message}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let inbound = placed["message"]["id"].as_str().unwrap();
    let inbound: Value = app.get_as(&format!("/v1/messages/{inbound}"), &admin).await.json().await.unwrap();
    assert_eq!(inbound["delivery_state"], Value::Null);
    assert_eq!(inbound["details"].get("delivery_error"), None);
}

async fn without_a_callback_replies_wait_and_api_needs_a_connector(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let quiet = register(&app, &admin, json!({"name": "quiet"})).await;
    let (_, placed) =
        send(&app, &quiet, json!({"external_id": "in-1", "customer": {"external_id": "c"}, "text": "Hi"})).await;
    let ticket = placed["ticket_id"].as_str().unwrap();
    let reply: Value = app
        .post_as(&format!("/v1/tickets/{ticket}/replies"), &admin, &json!({"text": "Hello"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reply["channel"], "api");
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    // The worker looked and found nowhere to send: the reply waits, no attempt spent.
    let started = std::time::Instant::now();
    let (attempts, error) = loop {
        let id = reply_id.clone();
        let row: (i32, Option<String>) = app
            .with_db(move |conn| {
                use braid_db::schema::outbox;
                use diesel::prelude::*;
                Ok(outbox::table
                    .filter(outbox::message_id.eq(id))
                    .select((outbox::attempts, outbox::last_error))
                    .first(conn)?)
            })
            .await;
        if row.1.is_some() {
            break row;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the worker never looked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(attempts, 0);
    assert!(error.unwrap().contains("callback_url"));
    let message: Value = app.get_as(&format!("/v1/messages/{reply_id}"), &admin).await.json().await.unwrap();
    assert_eq!(message["delivery_state"], "queued");

    // `api` by hand on a ticket no connector serves is refused at once.
    let customer = crate::tickets::customer(&app, &admin, "phone@example.org").await;
    let opened: Value = app
        .post_as("/v1/tickets", &admin, &json!({"customer_id": customer, "subject": "Call"}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/tickets/{}/replies", opened["id"].as_str().unwrap());
    let refused = app.post_as(&path, &admin, &json!({"text": "Hi", "channel": "api"})).await;
    assert_eq!(refused.status(), 422);
}

async fn connectors_and_chat_sites_never_share_a_namespace(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let site = json!({"name": "Shop", "slug": "shop", "allowed_origins": ["https://shop.example"]});
    assert_eq!(app.post_as("/v1/chat/sites", &admin, &site).await.status(), 201);
    assert_eq!(app.post_as("/v1/connectors", &admin, &json!({"name": "shop"})).await.status(), 409);
    register(&app, &admin, json!({"name": "sms"})).await;
    let site = json!({"name": "SMS", "slug": "sms", "allowed_origins": ["https://sms.example"]});
    assert_eq!(app.post_as("/v1/chat/sites", &admin, &site).await.status(), 409);
    assert_eq!(app.post_as("/v1/connectors", &admin, &json!({"name": "unknown-sender"})).await.status(), 422);
}

async fn a_slow_connector_never_holds_up_another(backend: Backend) {
    let app = app(backend).await;
    let admin = app.admin_token().await;
    let (slow, quick) = (Receiver::start().await, Receiver::start().await);
    slow.answer_next([Reply::Slow(6000)]);
    let mut tickets = vec![];
    for (name, receiver) in [("slow-bridge", &slow), ("quick-bridge", &quick)] {
        let connector = register(&app, &admin, json!({"name": name, "callback_url": receiver.url()})).await;
        let message = json!({"external_id": "in-1", "customer": {"external_id": "c"}, "text": "Hi"});
        let (_, placed) = send(&app, &connector, message).await;
        tickets.push(placed["ticket_id"].as_str().unwrap().to_owned());
    }
    let (hello, paths) = (json!({"text": "Hello"}), tickets.iter().map(|t| format!("/v1/tickets/{t}/replies")));
    let paths: Vec<String> = paths.collect();
    assert_eq!(app.post_as(&paths[0], &admin, &hello).await.status(), 201);
    eventually("the slow connector's callback is in flight", || slow.arrived() > 0).await;
    assert_eq!(app.post_as(&paths[1], &admin, &hello).await.status(), 201);
    eventually("the quick connector's callback", || !quick.delivered().is_empty()).await;
    assert!(slow.delivered().is_empty(), "the quick one went while the slow one was still answering");
}

async fn a_hanging_connector_takes_at_most_half_the_slots(backend: Backend) {
    let app = app(backend).await;
    let admin = app.admin_token().await;
    let (hanging, quick) = (Receiver::start().await, Receiver::start().await);
    hanging.otherwise(Some(Reply::Slow(8000)));
    let mut tickets = vec![];
    for (name, receiver) in [("hanging-bridge", &hanging), ("quick-bridge", &quick)] {
        let connector = register(&app, &admin, json!({"name": name, "callback_url": receiver.url()})).await;
        let message = json!({"external_id": "in-1", "customer": {"external_id": "c"}, "text": "Hi"});
        let (_, placed) = send(&app, &connector, message).await;
        tickets.push(format!("/v1/tickets/{}/replies", placed["ticket_id"].as_str().unwrap()));
    }
    // More replies to the hanging connector than the node has slots.
    for n in 0..40 {
        assert_eq!(app.post_as(&tickets[0], &admin, &json!({"text": format!("Reply {n}")})).await.status(), 201);
    }
    eventually("the hanging connector's callbacks are in flight", || hanging.arrived() >= 16).await;
    assert_eq!(app.post_as(&tickets[1], &admin, &json!({"text": "Hello"})).await.status(), 201);
    eventually("the quick connector's callback", || !quick.delivered().is_empty()).await;
    assert!(hanging.delivered().is_empty(), "the quick one went while every hanging one was still answering");
    assert!(hanging.arrived() <= 16, "half the slots at most: {}", hanging.arrived());
}

async fn a_rotated_signing_secret_signs_beside_the_old_one_for_the_overlap(backend: Backend) {
    let app = app(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let bridge = register(&app, &admin, json!({"name": "rotating-bridge", "callback_url": receiver.url()})).await;
    let message = json!({"external_id": "in-1", "customer": {"external_id": "c"}, "text": "Hi"});
    let (_, placed) = send(&app, &bridge, message).await;
    let replies = format!("/v1/tickets/{}/replies", placed["ticket_id"].as_str().unwrap());
    let rotate = |overlap: u64| {
        let path = format!("/v1/connectors/{}/secrets", bridge.name);
        let admin = admin.clone();
        let app = &app;
        async move {
            let response = app.post_as(&path, &admin, &json!({"overlap_secs": overlap})).await;
            assert_eq!(response.status(), 201);
            response.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned()
        }
    };

    // During the overlap both secrets verify the same callback.
    let second = rotate(3600).await;
    assert!(second.starts_with("whsec_") && second != bridge.secret);
    assert_eq!(app.post_as(&replies, &admin, &json!({"text": "One"})).await.status(), 201);
    eventually("the first callback", || receiver.delivered().len() == 1).await;
    let first = &receiver.delivered()[0];
    assert_eq!(verify(&bridge.secret, first), Ok(()));
    assert_eq!(verify(&second, first), Ok(()));

    // Rotated again with no overlap: only the newest signs.
    let third = rotate(0).await;
    assert_eq!(app.post_as(&replies, &admin, &json!({"text": "Two"})).await.status(), 201);
    eventually("the second callback", || receiver.delivered().len() == 2).await;
    let later = &receiver.delivered()[1];
    assert_eq!(verify(&third, later), Ok(()));
    assert!(verify(&second, later).is_err(), "a secret past its overlap signs nothing");
    let too_long = app
        .post_as(&format!("/v1/connectors/{}/secrets", bridge.name), &admin, &json!({"overlap_secs": 9_999_999}))
        .await;
    assert_eq!(too_long.status(), 422);
}
