//! Tickets over HTTP: opening, filtered and sorted lists, PATCH with ETag/If-Match and the
//! status machine, replies queued through the outbox, notes kept internal.

use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, both_backends};

both_backends!(
    an_agent_opens_a_ticket_for_a_customer_with_an_etag,
    opening_a_ticket_for_an_unknown_customer_is_a_404,
    ticket_lists_filter_by_every_field_and_sort_both_ways,
    a_patch_with_a_stale_if_match_is_refused_and_changes_nothing,
    status_changes_follow_the_status_machine,
    a_reply_is_queued_with_an_outbox_entry_and_a_note_is_not,
    replies_default_to_the_channel_the_customer_last_used,
    a_closed_ticket_takes_no_more_replies_and_a_deactivated_team_no_tickets,
    concurrent_patches_without_if_match_all_apply,
    replies_and_inbound_messages_on_one_ticket_at_once_all_land,
    a_ticket_opens_with_its_first_message_in_one_call,
);

pub async fn customer(app: &TestApp, token: &str, email: &str) -> String {
    let response = app
        .post_as(
            "/v1/customers",
            token,
            &json!({ "name": "Ana Lima", "identities": [{ "kind": "email", "value": email }] }),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

pub async fn ticket(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.post_as("/v1/tickets", token, &body).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    response.json().await.unwrap()
}

async fn an_agent_opens_a_ticket_for_a_customer_with_an_etag(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let customer = customer(&app, &token, "ana@example.org").await;
    let response = app
        .post_as(
            "/v1/tickets",
            &token,
            &json!({ "customer_id": customer, "subject": " Called about\n a refund ", "priority": "high", "tags": ["Refund", "vip"] }),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let ticket: Value = response.json().await.unwrap();
    assert_eq!(ticket["subject"], "Called about a refund");
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["priority"], "high");
    assert_eq!(ticket["channel"], "api");
    assert_eq!(ticket["tags"], json!(["refund", "vip"]));
    assert!(ticket["number"].as_i64().unwrap() >= 1000);
    let fetched = app.get_as(&location, &token).await;
    assert_eq!(fetched.headers()["etag"], "\"1\"");
    assert_eq!(fetched.json::<Value>().await.unwrap(), ticket);
}

async fn opening_a_ticket_for_an_unknown_customer_is_a_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let response = app
        .post_as("/v1/tickets", &token, &json!({ "customer_id": braid_core::CustomerId::new(), "subject": "Lost" }))
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], "not_found");
}

async fn numbers(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    let response = app.get_as(&format!("/v1/tickets?{query}"), token).await;
    assert_eq!(response.status(), 200, "{query}: {:?}", response.text().await);
    let page: Value = response.json().await.unwrap();
    page["data"].as_array().unwrap().iter().map(|t| t["number"].as_i64().unwrap()).collect()
}

async fn ticket_lists_filter_by_every_field_and_sort_both_ways(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let me: Value = app.get_as("/v1/agents", &admin).await.json().await.unwrap();
    let me = me["data"][0]["id"].as_str().unwrap().to_owned();
    let team: Value = app.post_as("/v1/teams", &admin, &json!({ "name": "Billing" })).await.json().await.unwrap();
    let team = team["id"].as_str().unwrap().to_owned();
    let ana = customer(&app, &admin, "ana@example.org").await;
    let bob = customer(&app, &admin, "bob@example.org").await;

    let a =
        ticket(&app, &admin, json!({ "customer_id": ana, "subject": "A", "priority": "urgent", "assignee_id": me }))
            .await;
    let b = ticket(&app, &admin, json!({ "customer_id": ana, "subject": "B", "tags": ["vip"], "team_id": team })).await;
    let c = ticket(&app, &admin, json!({ "customer_id": bob, "subject": "C", "priority": "low" })).await;
    let [a, b, c] = [&a, &b, &c].map(|t| t["number"].as_i64().unwrap());
    let c_id = app.get_as(&format!("/v1/tickets?customer={bob}"), &admin).await.json::<Value>().await.unwrap()["data"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = app.patch_as(&format!("/v1/tickets/{c_id}"), &admin, &json!({ "status": "pending" })).await;
    assert_eq!(patched.status(), 200);

    assert_eq!(numbers(&app, &admin, "").await, [c, b, a], "newest activity first");
    assert_eq!(numbers(&app, &admin, "sort=updated_at").await, [a, b, c]);
    assert_eq!(numbers(&app, &admin, "sort=-created_at").await, [c, b, a]);
    assert_eq!(numbers(&app, &admin, "sort=created_at").await, [a, b, c]);
    assert_eq!(numbers(&app, &admin, "status=open").await, [b, a]);
    assert_eq!(numbers(&app, &admin, "status=open,pending").await, [c, b, a]);
    assert_eq!(numbers(&app, &admin, &format!("assignee={me}")).await, [a]);
    assert_eq!(numbers(&app, &admin, "assignee=none").await, [c, b]);
    assert_eq!(numbers(&app, &admin, &format!("team={team}")).await, [b]);
    assert_eq!(numbers(&app, &admin, "tag=VIP").await, [b]);
    assert_eq!(numbers(&app, &admin, "priority=urgent").await, [a]);
    assert_eq!(numbers(&app, &admin, "channel=api").await, [c, b, a]);
    assert_eq!(numbers(&app, &admin, "channel=email").await, Vec::<i64>::new());
    assert_eq!(numbers(&app, &admin, &format!("customer={ana}")).await, [b, a]);
    assert_eq!(numbers(&app, &admin, "updated_since=2999-01-01T00:00:00Z").await, Vec::<i64>::new());
    assert_eq!(numbers(&app, &admin, "status=open&priority=normal").await, [b]);

    for bad in
        ["status=later", "sort=subject", "priority=meh", "assignee=someone", "limit=0", "limit=1000", "cursor=zzz"]
    {
        let response = app.get_as(&format!("/v1/tickets?{bad}"), &admin).await;
        assert!(matches!(response.status().as_u16(), 400 | 422), "{bad}: {}", response.status());
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{bad}");
    }
}

async fn a_patch_with_a_stale_if_match_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let customer = customer(&app, &token, "ana@example.org").await;
    let created = ticket(&app, &token, json!({ "customer_id": customer, "subject": "Refund" })).await;
    let path = format!("/v1/tickets/{}", created["id"].as_str().unwrap());

    let first = app
        .request(reqwest::Method::PATCH, &path, &token)
        .header("if-match", "\"1\"")
        .json(&json!({ "priority": "high" }))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["etag"], "\"2\"");

    let stale = app
        .request(reqwest::Method::PATCH, &path, &token)
        .header("if-match", "\"1\"")
        .json(&json!({ "priority": "low", "subject": "Overwritten" }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    assert_eq!(stale.json::<Value>().await.unwrap()["code"], "precondition_failed");
    let now: Value = app.get_as(&path, &token).await.json().await.unwrap();
    assert_eq!(
        (now["priority"].as_str(), now["subject"].as_str(), now["version"].as_i64()),
        (Some("high"), Some("Refund"), Some(2))
    );

    let unassigned = app.patch_as(&path, &token, &json!({ "assignee_id": null, "tags": ["a", "b"] })).await;
    assert_eq!(unassigned.status(), 200, "no If-Match applies to the current version");
    let unknown_field = app.patch_as(&path, &token, &json!({ "stauts": "solved" })).await;
    assert_eq!(unknown_field.status(), 400, "a typo in a field name is an error, not a silent no-op");
    let ghost = app.patch_as(&path, &token, &json!({ "assignee_id": braid_core::AgentId::new() })).await;
    assert_eq!(ghost.status(), 422);
}

async fn status_changes_follow_the_status_machine(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let customer = customer(&app, &token, "ana@example.org").await;
    let created = ticket(&app, &token, json!({ "customer_id": customer, "subject": "Refund" })).await;
    let path = format!("/v1/tickets/{}", created["id"].as_str().unwrap());
    let set = |status: &'static str| {
        let (app, path, token) = (&app, path.clone(), token.clone());
        async move { app.patch_as(&path, &token, &json!({ "status": status })).await }
    };

    let refused = set("closed").await;
    assert_eq!(refused.status(), 422, "open cannot close without being solved");
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "invalid_status_transition");
    let solved: Value = set("solved").await.json().await.unwrap();
    assert!(solved["solved_at"].is_string());
    assert_eq!(set("pending").await.status(), 422, "solved only reopens or closes");
    assert_eq!(set("closed").await.status(), 200);
    assert_eq!(set("open").await.status(), 422, "closed is final");
}

async fn outbox_rows(app: &TestApp) -> Vec<(String, String, String)> {
    use braid_db::schema::outbox;
    app.with_db(|conn| Ok(outbox::table.select((outbox::message_id, outbox::channel, outbox::state)).load(conn)?)).await
}

async fn a_reply_is_queued_with_an_outbox_entry_and_a_note_is_not(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let customer = customer(&app, &token, "ana@example.org").await;
    let created = ticket(&app, &token, json!({ "customer_id": customer, "subject": "Refund" })).await;
    let id = created["id"].as_str().unwrap();

    let reply = app.post_as(&format!("/v1/tickets/{id}/replies"), &token, &json!({ "text": "Refund sent." })).await;
    assert_eq!(reply.status(), 201);
    let reply: Value = reply.json().await.unwrap();
    assert_eq!(reply["direction"], "outbound");
    assert_eq!(reply["delivery_state"], "queued");
    assert_eq!(reply["author"]["kind"], "agent");
    assert_eq!(reply["ticket_id"], id);

    let note: Value = app
        .post_as(&format!("/v1/tickets/{id}/notes"), &token, &json!({ "text": "Finance approved." }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(note["direction"], "note");
    assert_eq!(note["delivery_state"], Value::Null);

    // No connector serves a ticket opened through the API: the reply goes by email.
    let outbox = outbox_rows(&app).await;
    assert_eq!(outbox, vec![(reply["id"].as_str().unwrap().to_owned(), "email".to_owned(), "pending".to_owned())]);
    let listed: Value = app.get_as(&format!("/v1/tickets/{id}/messages"), &token).await.json().await.unwrap();
    let texts: Vec<_> = listed["data"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Refund sent.", "Finance approved."]);
    let bumped: Value = app.get_as(&format!("/v1/tickets/{id}"), &token).await.json().await.unwrap();
    assert_eq!(bumped["version"], 2, "a reply is activity on the ticket");

    let empty = app.post_as(&format!("/v1/tickets/{id}/replies"), &token, &json!({ "text": "   " })).await;
    assert_eq!(empty.status(), 422);
    let missing = app
        .post_as(&format!("/v1/tickets/{}/replies", braid_core::TicketId::new()), &token, &json!({ "text": "hi" }))
        .await;
    assert_eq!(missing.status(), 404);
}

async fn replies_default_to_the_channel_the_customer_last_used(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let placed = crate::placement::place(&app, crate::placement::email("ana@example.org", "<first@mail>")).await;
    let ticket = placed.ticket.unwrap().id;

    let reply: Value = app
        .post_as(&format!("/v1/tickets/{ticket}/replies"), &token, &json!({ "text": "On it." }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reply["channel"], "email");
    let chosen: Value = app
        .post_as(&format!("/v1/tickets/{ticket}/replies"), &token, &json!({ "text": "Via chat.", "channel": "chat" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(chosen["channel"], "chat");
}

async fn a_closed_ticket_takes_no_more_replies_and_a_deactivated_team_no_tickets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let customer = customer(&app, &admin, "ana@example.org").await;
    let created = ticket(&app, &admin, json!({ "customer_id": customer, "subject": "Refund" })).await;
    let path = format!("/v1/tickets/{}", created["id"].as_str().unwrap());
    for status in ["solved", "closed"] {
        assert_eq!(app.patch_as(&path, &admin, &json!({ "status": status })).await.status(), 200);
    }
    for kind in ["replies", "notes"] {
        let response = app.post_as(&format!("{path}/{kind}"), &admin, &json!({ "text": "Still there?" })).await;
        assert_eq!(response.status(), 409, "{kind}");
        assert_eq!(response.json::<Value>().await.unwrap()["code"], "conflict");
    }

    let team: Value = app.post_as("/v1/teams", &admin, &json!({ "name": "Old" })).await.json().await.unwrap();
    let team = team["id"].as_str().unwrap();
    assert_eq!(app.delete_as(&format!("/v1/teams/{team}"), &admin).await.status(), 200);
    let refused =
        app.post_as("/v1/tickets", &admin, &json!({ "customer_id": customer, "subject": "X", "team_id": team })).await;
    assert_eq!(refused.status(), 422);
}

async fn concurrent_patches_without_if_match_all_apply(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let customer = customer(&app, &token, "ana@example.org").await;
    let created = ticket(&app, &token, json!({ "customer_id": customer, "subject": "Refund" })).await;
    let path = format!("/v1/tickets/{}", created["id"].as_str().unwrap());
    let patches = (0..12).map(|i| {
        let (app, path, token) = (&app, &path, &token);
        async move { app.patch_as(path, token, &json!({ "tags": [format!("t{i}")] })).await }
    });
    let answers = futures_util::future::join_all(patches).await;
    assert!(answers.iter().all(|r| r.status() == 200), "{:?}", answers.iter().map(|r| r.status()).collect::<Vec<_>>());
    let now: Value = app.get_as(&path, &token).await.json().await.unwrap();
    assert_eq!(now["version"], 13, "every change applied, one after the other");
}

async fn replies_and_inbound_messages_on_one_ticket_at_once_all_land(backend: Backend) {
    let app = TestApp::builder(backend).with_settings(|s| s.database_pool_size = 20).start().await;
    let token = app.agent_token("agent").await;
    let first = crate::placement::place(&app, crate::placement::email("ana@example.org", "<0@mail>")).await;
    let ticket = first.ticket.unwrap().id;
    let replies = (0..10).map(|i| {
        let path = format!("/v1/tickets/{ticket}/replies");
        let token = token.clone();
        let app = &app;
        async move { app.post_as(&path, &token, &json!({ "text": format!("reply {i}") })).await.status().as_u16() }
    });
    let inbound =
        (1..=10).map(|i| {
            let app = &app;
            async move {
                crate::placement::place(app, crate::placement::email("ana@example.org", &format!("<{i}@mail>"))).await
            }
        });
    let (replies, placed) =
        futures_util::future::join(futures_util::future::join_all(replies), futures_util::future::join_all(inbound))
            .await;
    assert!(replies.iter().all(|status| *status == 201), "{replies:?}");
    assert!(placed.iter().all(|p| p.ticket.unwrap().id == ticket));
    let messages: Value =
        app.get_as(&format!("/v1/tickets/{ticket}/messages?limit=200"), &token).await.json().await.unwrap();
    assert_eq!(messages["data"].as_array().unwrap().len(), 21);
}

async fn a_ticket_opens_with_its_first_message_in_one_call(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let customer = customer(&app, &token, "caller@example.org").await;
    let call = json!({
        "customer_id": customer, "subject": "Phone: refund",
        "message": { "text": "Ana called: order #881 never arrived." },
    });
    let response = app.post_as("/v1/tickets", &token, &call).await;
    assert_eq!(response.status(), 201);
    let opened: Value = response.json().await.unwrap();
    let ticket = opened["id"].as_str().unwrap();
    assert_eq!(opened["message"]["direction"], "inbound");
    assert_eq!(opened["message"]["author"]["kind"], "customer");
    assert_eq!(opened["message"]["ticket_id"], ticket);

    let note = json!({ "customer_id": customer, "subject": "Follow up", "message": { "text": "Check stock", "kind": "note" } });
    let noted: Value = app.post_as("/v1/tickets", &token, &note).await.json().await.unwrap();
    assert_eq!(
        (noted["message"]["direction"].as_str(), noted["message"]["author"]["kind"].as_str()),
        (Some("note"), Some("agent"))
    );

    let listed: Value = app.get_as(&format!("/v1/tickets/{ticket}/messages"), &token).await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    // No connector serves a ticket opened through the API: the answer goes by email.
    let reply: Value = app
        .post_as(&format!("/v1/tickets/{ticket}/replies"), &token, &json!({ "text": "Refund sent." }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reply["channel"], "email");

    // A bad first message opens nothing.
    let bad = json!({ "customer_id": customer, "subject": "x", "message": { "text": "  ", "kind": "customer" } });
    assert_eq!(app.post_as("/v1/tickets", &token, &bad).await.status(), 422);
    let all: Value = app.get_as(&format!("/v1/tickets?customer={customer}"), &token).await.json().await.unwrap();
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
}
