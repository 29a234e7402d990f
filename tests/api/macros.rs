//! Macros through the API: placeholders filled from the ticket, the customer and the
//! agent; a dry run that writes nothing; a placeholder left unfilled that blocks the whole
//! macro; personal macros their owner's alone; and the mistakes refused.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, access_token, both_backends};
use crate::sla::{created, logged, read};

both_backends!(
    a_macro_replies_notes_and_changes_the_ticket_in_one_step,
    an_unfilled_placeholder_blocks_the_macro_and_writes_nothing,
    personal_macros_are_their_owners_alone,
    macros_refuse_what_cannot_be_meant,
);

/// A new agent: (id, access token).
async fn agent(app: &TestApp, admin: &str, name: &str) -> (String, String) {
    let email = format!("{}@agents.example.org", uuid::Uuid::now_v7().simple());
    let password = "a long enough password";
    let body = json!({"email": email, "name": name, "role": "agent", "password": password});
    let made = created(app, admin, "/v1/agents", body).await;
    (made["id"].as_str().unwrap().to_owned(), access_token(app.login(&email, password).await).await)
}

/// A customer (named when `name` is given) with an email and a ticket: (customer, ticket).
async fn customer_with_ticket(app: &TestApp, admin: &str, name: Option<&str>) -> (String, String) {
    let email = format!("{}@customers.example.org", uuid::Uuid::now_v7().simple());
    let mut body = json!({"identities": [{"kind": "email", "value": email}]});
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    let customer = created(app, admin, "/v1/customers", body).await["id"].as_str().unwrap().to_owned();
    let ticket = json!({"customer_id": customer, "subject": "Where is my refund?",
                        "message": {"text": "I returned the shoes two weeks ago."}});
    let ticket = created(app, admin, "/v1/tickets", ticket).await["id"].as_str().unwrap().to_owned();
    (customer, ticket)
}

async fn apply(app: &TestApp, token: &str, ticket: &str, macro_id: &str, dry_run: bool) -> (u16, Value) {
    let path = format!("/v1/tickets/{ticket}/macros/{macro_id}/apply{}", if dry_run { "?dry_run=true" } else { "" });
    let response = app.post_as(&path, token, &json!({})).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn messages(app: &TestApp, token: &str, ticket: &str) -> Vec<Value> {
    read(app, token, &format!("/v1/tickets/{ticket}/messages")).await["data"].as_array().unwrap().clone()
}

async fn a_macro_replies_notes_and_changes_the_ticket_in_one_step(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (bo, bo_token) = agent(&app, &admin, "Bo Berg").await;
    let (customer, ticket) = customer_with_ticket(&app, &admin, Some("Ana María López")).await;
    for key in ["plan", "seats"] {
        let definition = json!({"key": key, "label": key, "kind": "text"});
        created(&app, &admin, "/v1/attribute-definitions", definition).await;
    }
    let attributes = format!("/v1/customers/{customer}/attributes");
    let values = app.put_as(&attributes, &admin, &json!({"values": {"plan": "Pro"}})).await;
    assert_eq!(values.status(), 200);

    let refund = created(&app, &admin, "/v1/macros", json!({
        "name": "Refund sent", "visibility": "shared", "description": "Tell them, then wait",
        "actions": [
            {"type": "reply", "text": "Hi {{customer.first_name | default: \"there\"}},\n\nYour {{customer.attributes.plan}} refund for #{{ticket.number}} is on its way.\n\n{{agent.first_name}}"},
            {"type": "note", "text": "Refund mailed to {{customer.email}}; {{customer.attributes.seats | default: \"no\"}} seats."},
            {"type": "set_status", "status": "pending"},
            {"type": "set_priority", "priority": "high"},
            {"type": "add_tags", "tags": ["refund"]},
            {"type": "assign_to_me"},
        ],
    }))
    .await;
    assert_eq!((refund["visibility"].as_str(), refund["canned_response"].as_bool()), (Some("shared"), Some(false)));
    let refund = refund["id"].as_str().unwrap().to_owned();
    let before = read(&app, &admin, &format!("/v1/tickets/{ticket}")).await;
    let number = before["number"].as_i64().unwrap();

    // A dry run shows everything and writes nothing.
    let (status, tried) = apply(&app, &bo_token, &ticket, &refund, true).await;
    assert_eq!(status, 200, "{tried}");
    let expected_reply = format!("Hi Ana,\n\nYour Pro refund for #{number} is on its way.\n\nBo");
    assert_eq!(tried["reply"]["text"], expected_reply);
    assert_eq!(tried["reply_channel"], "email", "a ticket opened through the API is answered by email");
    assert!(tried["note"]["text"].as_str().unwrap().ends_with("; no seats."), "{tried}");
    assert_eq!(tried["unresolved"], json!([]));
    assert_eq!(tried["changed"], json!(["status", "priority", "assignee_id", "tags"]));
    assert_eq!(tried["ticket"]["status"], "pending");
    assert_eq!(tried["ticket"]["assignee_id"], bo.as_str());
    assert_eq!(tried["ticket"]["version"], before["version"], "a dry run makes no version");
    assert_eq!(tried["messages"], json!([]));
    assert_eq!(read(&app, &admin, &format!("/v1/tickets/{ticket}")).await, before, "nothing changed");
    assert_eq!(messages(&app, &admin, &ticket).await.len(), 1);

    // Applied: the reply queued, the note, the changes, and the record, in one step.
    let (status, applied) = apply(&app, &bo_token, &ticket, &refund, false).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["dry_run"], false);
    let written = applied["messages"].as_array().unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!(
        (written[0]["direction"].as_str(), written[0]["text"].as_str()),
        (Some("outbound"), Some(expected_reply.as_str()))
    );
    assert_eq!(written[0]["delivery_state"], "queued");
    assert_eq!(written[0]["details"]["macro_id"], refund.as_str());
    assert_eq!(written[1]["direction"], "note");
    let now = read(&app, &admin, &format!("/v1/tickets/{ticket}")).await;
    assert_eq!(
        (now["status"].as_str(), now["priority"].as_str(), now["assignee_id"].as_str(), now["tags"].clone()),
        (Some("pending"), Some("high"), Some(bo.as_str()), json!(["refund"]))
    );
    assert_eq!(applied["ticket"], now);
    assert_eq!(messages(&app, &admin, &ticket).await.len(), 3);
    let record = logged(&app, "ticket.macro_applied").await;
    assert_eq!(record.len(), 1, "{record:#?}");
    assert_eq!(record[0]["payload"]["macro_id"], refund.as_str());
    assert_eq!(record[0]["payload"]["agent_id"], bo.as_str());
    assert_eq!(record[0]["payload"]["message_ids"].as_array().unwrap().len(), 2);
    assert_eq!(record[0]["payload"]["ticket_version"], now["version"]);
    let shown = read(&app, &admin, &format!("/v1/macros/{refund}")).await;
    assert_eq!(shown["applied_count"], 1);

    // Applied again, the fields are as it sets them: only the texts are new.
    let (status, again) = apply(&app, &bo_token, &ticket, &refund, false).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["changed"], json!([]));
    assert_eq!(messages(&app, &admin, &ticket).await.len(), 5);

    // A canned response is a macro with a reply only, listed apart.
    let thanks = json!({"name": "Thanks", "visibility": "shared", "actions": [{"type": "reply", "text": "Thanks!"}]});
    let thanks = created(&app, &admin, "/v1/macros", thanks).await;
    assert_eq!(thanks["canned_response"], true);
    let canned = read(&app, &bo_token, "/v1/macros?kind=canned_response").await;
    assert_eq!(
        canned["data"].as_array().unwrap().iter().map(|m| m["name"].clone()).collect::<Vec<_>>(),
        vec![json!("Thanks")]
    );
    let found = read(&app, &bo_token, "/v1/macros?q=REFUND").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "the name matches in any case");
    assert_eq!(read(&app, &bo_token, "/v1/macros?q=100%25").await["data"], json!([]), "% is no wildcard");
    assert_eq!(logged(&app, "macro.created").await.len(), 2, "shared macros are events");

    // A key without `customers:read` applies a macro without the customer's details.
    let contact = json!({"name": "Contact", "visibility": "shared", "actions": [
        {"type": "note", "text": "Write to {{customer.email}} ({{customer.attributes.plan}})"},
    ]});
    let contact = created(&app, &admin, "/v1/macros", contact).await["id"].as_str().unwrap().to_owned();
    let key = app.api_key(&["tickets:write"]).await;
    let (status, tried) = apply(&app, &key, &ticket, &contact, true).await;
    assert_eq!(status, 200, "{tried}");
    let unresolved: Vec<&str> =
        tried["unresolved"].as_array().unwrap().iter().map(|u| u["field"].as_str().unwrap()).collect();
    assert_eq!(unresolved, vec!["customer.attributes.plan", "customer.email"], "{tried}");
    let (_, tried) = apply(&app, &admin, &ticket, &contact, true).await;
    assert_eq!(tried["unresolved"], json!([]), "{tried}");
}

async fn an_unfilled_placeholder_blocks_the_macro_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, ticket) = customer_with_ticket(&app, &admin, None).await;
    let order = json!({"key": "order_id", "label": "Order", "kind": "text"});
    created(&app, &admin, "/v1/attribute-definitions", order).await;
    let bare = created(
        &app,
        &admin,
        "/v1/macros",
        json!({"name": "Greeting", "visibility": "shared", "actions": [
            {"type": "reply", "text": "Hi {{customer.first_name}}, about {{customer.attributes.order_id}}…"},
            {"type": "set_status", "status": "solved"},
        ]}),
    )
    .await;
    let bare = bare["id"].as_str().unwrap();
    let before = read(&app, &admin, &format!("/v1/tickets/{ticket}")).await;

    let (status, tried) = apply(&app, &admin, &ticket, bare, true).await;
    assert_eq!(status, 200, "a dry run shows what is missing: {tried}");
    assert_eq!(
        tried["unresolved"],
        json!([{"action": "reply", "field": "customer.attributes.order_id"}, {"action": "reply", "field": "customer.first_name"}])
    );
    assert_eq!(tried["reply"]["text"], "Hi {{customer.first_name}}, about {{customer.attributes.order_id}}…");

    let (status, refused) = apply(&app, &admin, &ticket, bare, false).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "unresolved_placeholder");
    assert_eq!(refused["extra"]["unresolved"].as_array().unwrap().len(), 2);
    assert!(refused["detail"].as_str().unwrap().contains("customer.first_name"), "{refused}");
    assert_eq!(read(&app, &admin, &format!("/v1/tickets/{ticket}")).await, before, "the status did not change either");
    assert_eq!(messages(&app, &admin, &ticket).await.len(), 1, "no reply was written");
    assert!(logged(&app, "ticket.macro_applied").await.is_empty());

    // With defaults it goes.
    let patch = json!({"actions": [
        {"type": "reply", "text": "Hi {{customer.first_name | default: \"there\"}}, about {{customer.attributes.order_id | default: \"your order\"}}…"},
        {"type": "set_status", "status": "solved"},
    ]});
    let patched = app.patch_as(&format!("/v1/macros/{bare}"), &admin, &patch).await;
    assert_eq!(patched.status(), 200);
    let (status, applied) = apply(&app, &admin, &ticket, bare, false).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["messages"][0]["text"], "Hi there, about your order…");
    assert_eq!(applied["messages"][0]["author"]["kind"], "agent", "{applied}");
    assert_eq!(applied["ticket"]["status"], "solved");
}

async fn personal_macros_are_their_owners_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (ana, ana_token) = agent(&app, &admin, "Ana").await;
    let (_, bo_token) = agent(&app, &admin, "Bo").await;
    let (_, ticket) = customer_with_ticket(&app, &admin, Some("Cy")).await;
    let mine = created(
        &app,
        &ana_token,
        "/v1/macros",
        json!({"name": "My sign-off", "actions": [
            {"type": "note", "text": "Handled by {{agent.name}}"},
        ]}),
    )
    .await;
    assert_eq!((mine["visibility"].as_str(), mine["owner_agent_id"].as_str()), (Some("personal"), Some(ana.as_str())));
    let path = format!("/v1/macros/{}", mine["id"].as_str().unwrap());

    for other in [&bo_token, &admin] {
        assert_eq!(app.get_as(&path, other).await.status(), 404, "another's personal macro does not exist to them");
        assert_eq!(app.patch_as(&path, other, &json!({"name": "Mine now"})).await.status(), 404);
        assert_eq!(app.delete_as(&path, other).await.status(), 404);
        let (status, _) = apply(&app, other, &ticket, mine["id"].as_str().unwrap(), false).await;
        assert_eq!(status, 404);
        assert_eq!(read(&app, other, "/v1/macros").await["data"], json!([]));
    }
    let listed = read(&app, &ana_token, "/v1/macros?visibility=personal").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(read(&app, &ana_token, "/v1/macros?visibility=shared").await["data"], json!([]));
    let (status, applied) = apply(&app, &ana_token, &ticket, mine["id"].as_str().unwrap(), false).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["note"]["text"], "Handled by Ana");

    // Only admins share; an API key has nobody to own a personal macro.
    let shared = json!({"name": "Shared", "visibility": "shared", "actions": [{"type": "reply", "text": "Hi"}]});
    assert_eq!(app.post_as("/v1/macros", &bo_token, &shared).await.status(), 403);
    let key = app.api_key(&["tickets:write"]).await;
    let personal = json!({"name": "Mine", "actions": [{"type": "reply", "text": "Hi"}]});
    let refused = app.post_as("/v1/macros", &key, &personal).await;
    assert_eq!(refused.status(), 422);

    let renamed = app.patch_as(&path, &ana_token, &json!({"name": "Sign-off"})).await;
    assert_eq!(renamed.status(), 200);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!((renamed["name"].as_str(), renamed["version"].as_i64()), (Some("Sign-off"), Some(2)));
    assert_eq!(app.delete_as(&path, &ana_token).await.status(), 204);
    assert_eq!(app.get_as(&path, &ana_token).await.status(), 404);
    for kind in ["macro.created", "macro.updated", "macro.deleted"] {
        assert!(logged(&app, kind).await.is_empty(), "a personal macro makes no {kind}: the log is everyone's");
    }
    let applied = logged(&app, "ticket.macro_applied").await;
    assert_eq!(applied[0]["payload"]["macro_name"], Value::Null, "nor does its name travel");
}

async fn macros_refuse_what_cannot_be_meant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let refused = [
        (json!([{"type": "reply", "text": "Hi {{customer.frist_name}}"}]), "actions[0]", "not a field"),
        (json!([{"type": "reply", "text": "Hi {{customer.name"}]), "actions[0]", "never closed"),
        (json!([{"type": "reply", "text": "{{agent.name | upcase}}"}]), "actions[0]", "only filter"),
        (json!([{"type": "set_status", "status": "gone"}]), "actions[0]", "unknown variant"),
        (json!([{"type": "launch"}]), "actions[0]", "unknown variant"),
        (json!([{"type": "note", "text": "a"}, {"type": "note", "text": "b"}]), "actions", "twice"),
        (json!([]), "actions", "1 to"),
        (json!([{"type": "set_assignee", "agent_id": uuid::Uuid::now_v7()}]), "actions", "no active agent"),
        (json!([{"type": "set_team", "team_id": uuid::Uuid::now_v7()}]), "actions", "no active team"),
        (json!([{"type": "reply", "text": "Your plan: {{customer.attributes.plna}}"}]), "actions", "nobody defined"),
    ];
    for (actions, field, words) in refused {
        let body = json!({"name": "Bad", "visibility": "shared", "actions": actions});
        let response = app.post_as("/v1/macros", &admin, &body).await;
        let status = response.status();
        let problem: Value = response.json().await.unwrap();
        assert_eq!(status, 422, "{actions}: {problem}");
        assert_eq!(problem["extra"]["field"], field, "{actions}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains(words), "{actions}: {problem}");
    }
    let nameless = json!({"name": " ", "visibility": "shared", "actions": [{"type": "reply", "text": "Hi"}]});
    assert_eq!(app.post_as("/v1/macros", &admin, &nameless).await.status(), 422);

    let (_, ticket) = customer_with_ticket(&app, &admin, Some("Di")).await;
    let mine = json!({"name": "Take", "visibility": "shared", "actions": [{"type": "assign_to_me"}]});
    let mine = created(&app, &admin, "/v1/macros", mine).await["id"].as_str().unwrap().to_owned();
    let key = app.api_key(&["tickets:write"]).await;
    let (status, problem) = apply(&app, &key, &ticket, &mine, false).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("validation_failed")), "{problem}");
    let empty = json!({"name": "Empty", "visibility": "shared", "actions": [{"type": "reply", "text": "{{customer.phone | default: \"\"}}"}]});
    let empty = created(&app, &admin, "/v1/macros", empty).await["id"].as_str().unwrap().to_owned();
    let (status, problem) = apply(&app, &admin, &ticket, &empty, false).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("validation_failed")), "an empty reply: {problem}");

    // A stale If-Match, an unknown macro or ticket, a closed ticket, an impossible status.
    let path = format!("/v1/tickets/{ticket}/macros/{mine}/apply");
    let stale = app.request(reqwest::Method::POST, &path, &admin).header("if-match", "\"999\"").send().await.unwrap();
    assert_eq!(stale.status(), 412);
    let current = read(&app, &admin, &format!("/v1/tickets/{ticket}")).await["version"].clone();
    let fresh = app.request(reqwest::Method::POST, &path, &admin).header("if-match", format!("\"{current}\"")).send();
    assert_eq!(fresh.await.unwrap().status(), 200);
    let (status, _) = apply(&app, &admin, &ticket, &uuid::Uuid::now_v7().to_string(), false).await;
    assert_eq!(status, 404);
    let (status, _) = apply(&app, &admin, &uuid::Uuid::now_v7().to_string(), &mine, false).await;
    assert_eq!(status, 404);
    let close =
        json!({"name": "Close", "visibility": "shared", "actions": [{"type": "set_status", "status": "closed"}]});
    let close = created(&app, &admin, "/v1/macros", close).await["id"].as_str().unwrap().to_owned();
    let (status, problem) = apply(&app, &admin, &ticket, &close, true).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("invalid_status_transition")), "{problem}");
    let reopen =
        json!({"name": "Reopen", "visibility": "shared", "actions": [{"type": "set_status", "status": "open"}]});
    let reopen = created(&app, &admin, "/v1/macros", reopen).await["id"].as_str().unwrap().to_owned();
    for status in ["solved", "closed"] {
        let changed = app.patch_as(&format!("/v1/tickets/{ticket}"), &admin, &json!({"status": status})).await;
        assert_eq!(changed.status(), 200);
    }
    let (status, problem) = apply(&app, &admin, &ticket, &reopen, true).await;
    assert_eq!(status, 409, "a closed ticket takes no macro: {problem}");
    assert_eq!(app.get_as("/v1/macros?kind=everything", &admin).await.status(), 422);
}
