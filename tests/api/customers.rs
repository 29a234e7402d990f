//! Customers, identities and the thread: one history across every channel and ticket.

use std::collections::HashSet;

use braid_core::placement::Authorship;
use braid_core::{Channel, IdentityKind, IdentityValue, Trust};
use braid_db::placement::Inbound;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, both_backends};
use crate::placement::{email, place};

both_backends!(
    a_customer_is_created_with_normalised_identities,
    an_identity_owned_by_another_customer_is_a_conflict_naming_them,
    customers_are_found_by_identity_in_any_spelling_and_by_name_prefix,
    identities_are_added_and_removed,
    names_are_searched_case_insensitively_in_every_language,
    the_same_identity_twice_in_one_request_is_a_validation_error,
    the_thread_interleaves_every_channel_and_ticket_in_time_order,
    thread_pages_neither_skip_nor_repeat_while_messages_arrive,
    ticket_pages_neither_skip_nor_repeat_while_tickets_are_opened,
);

async fn create(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.post_as("/v1/customers", token, &body).await
}

async fn a_customer_is_created_with_normalised_identities(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let response = create(
        &app,
        &token,
        json!({ "name": "  Ana   Lima ", "identities": [
            { "kind": "email", "value": "Ana.Lima@Example.ORG" },
            { "kind": "phone", "value": "+1 (415) 555-0132", "trust": "verified" },
            { "kind": "external:zendesk", "value": "z-991" },
        ]}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let customer: Value = response.json().await.unwrap();
    assert_eq!(customer["name"], "Ana Lima");
    let identities: Vec<_> = customer["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_owned(),
                i["value"].as_str().unwrap().to_owned(),
                i["trust"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        identities,
        [
            ("email".into(), "ana.lima@example.org".into(), "claimed".into()),
            ("phone".into(), "+14155550132".into(), "verified".into()),
            ("external:zendesk".into(), "z-991".into(), "claimed".into()),
        ]
    );
    assert_eq!(app.get_as(&location, &token).await.json::<Value>().await.unwrap(), customer);

    let renamed = app.patch_as(&location, &token, &json!({ "name": "Ana L." })).await;
    assert_eq!(renamed.json::<Value>().await.unwrap()["name"], "Ana L.");

    for bad in [
        json!({ "identities": [{ "kind": "email", "value": "not an email" }] }),
        json!({ "identities": [{ "kind": "phone", "value": "415 555 0132" }] }),
        json!({ "identities": [{ "kind": "fax", "value": "1" }] }),
    ] {
        let response = create(&app, &token, bad.clone()).await;
        assert!(matches!(response.status().as_u16(), 400 | 422), "{bad}: {}", response.status());
    }
}

async fn an_identity_owned_by_another_customer_is_a_conflict_naming_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let ana: Value = create(&app, &token, json!({ "identities": [{ "kind": "email", "value": "ana@example.org" }] }))
        .await
        .json()
        .await
        .unwrap();
    let twin = create(&app, &token, json!({ "identities": [{ "kind": "email", "value": "ANA@example.org" }] })).await;
    assert_eq!(twin.status(), 409);
    let problem: Value = twin.json().await.unwrap();
    assert_eq!(problem["code"], "conflict");
    assert_eq!(problem["extra"]["customer_id"], ana["id"]);
    assert!(problem["detail"].as_str().unwrap().contains(ana["id"].as_str().unwrap()));

    let bob: Value = create(&app, &token, json!({ "name": "Bob" })).await.json().await.unwrap();
    let taken = app
        .post_as(
            &format!("/v1/customers/{}/identities", bob["id"].as_str().unwrap()),
            &token,
            &json!({ "kind": "email", "value": "ana@example.org" }),
        )
        .await;
    assert_eq!(taken.status(), 409);
    assert_eq!(taken.json::<Value>().await.unwrap()["extra"]["customer_id"], ana["id"]);
}

async fn ids(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let page: Value = app.get_as(&format!("/v1/customers?{query}"), token).await.json().await.unwrap();
    page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

async fn customers_are_found_by_identity_in_any_spelling_and_by_name_prefix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let mut made = Vec::new();
    for (name, email, phone) in [
        ("Ana Lima", "ana@example.org", "+14155550132"),
        ("Anabel Ruiz", "anabel@example.org", "+14155550133"),
        ("Bob 100%_sure", "bob@example.org", "+14155550134"),
    ] {
        let body = json!({ "name": name, "identities": [{ "kind": "email", "value": email }, { "kind": "phone", "value": phone }] });
        let customer: Value = create(&app, &token, body).await.json().await.unwrap();
        made.push(customer["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids(&app, &token, "identity=ANA%40Example.org").await, [made[0].clone()]);
    assert_eq!(ids(&app, &token, "identity=%2B1%20415%20555%200133").await, [made[1].clone()]);
    assert_eq!(ids(&app, &token, "name_prefix=ana").await, [made[1].clone(), made[0].clone()]);
    assert_eq!(ids(&app, &token, "name_prefix=Ana%20L").await, [made[0].clone()]);
    assert_eq!(ids(&app, &token, "name_prefix=bob%20100%25_").await, [made[2].clone()], "% and _ are literal");
    assert_eq!(ids(&app, &token, "name_prefix=%25").await, Vec::<String>::new());
    assert_eq!(ids(&app, &token, "").await, [made[2].clone(), made[1].clone(), made[0].clone()], "newest first");
}

async fn identities_are_added_and_removed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let customer: Value = create(&app, &token, json!({ "name": "Cy" })).await.json().await.unwrap();
    let path = format!("/v1/customers/{}/identities", customer["id"].as_str().unwrap());

    let added = app.post_as(&path, &token, &json!({ "kind": "chat_visitor", "value": "v-42" })).await;
    assert_eq!(added.status(), 201);
    let identity: Value = added.json().await.unwrap();
    let again: Value = app
        .post_as(&path, &token, &json!({ "kind": "chat_visitor", "value": "v-42", "trust": "verified" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], identity["id"], "the customer's own identity again is the same identity");
    assert_eq!(again["trust"], "verified", "a verified claim upgrades it");

    let removed = app.delete_as(&format!("{path}/{}", identity["id"].as_str().unwrap()), &token).await;
    assert_eq!(removed.status(), 204);
    let gone = app.delete_as(&format!("{path}/{}", identity["id"].as_str().unwrap()), &token).await;
    assert_eq!(gone.status(), 404);
    let profile: Value =
        app.get_as(&format!("/v1/customers/{}", customer["id"].as_str().unwrap()), &token).await.json().await.unwrap();
    assert_eq!(profile["identities"], json!([]));
}

fn inbound(channel: Channel, kind: IdentityKind, sender: &str, reference: &str, text: &str) -> Inbound {
    Inbound {
        channel,
        channel_ref: Some(reference.to_owned()),
        content_digest: format!("test:{text}"),
        noted: vec![],
        follow_ups: Default::default(),
        echo: false,
        sender: IdentityValue::parse(kind, sender).unwrap(),
        sender_trust: Trust::Verified,
        sender_source: braid_core::TrustSource::SignedToken,
        sender_name: None,
        language: None,
        utc_offset: None,
        subject: Some(text.to_owned()),
        text: text.to_owned(),
        html: None,
        references: vec![],
        authorship: Authorship::Person,
        details: json!({}),
        original: None,
        received_at: braid_db::now(),
    }
}

async fn the_thread_interleaves_every_channel_and_ticket_in_time_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;

    let by_email = place(&app, email("ana@example.org", "<1@mail>")).await;
    let customer = by_email.customer_id;
    let first_ticket = by_email.ticket.unwrap().id;
    app.post_as(
        &format!("/v1/customers/{customer}/identities"),
        &token,
        &json!({ "kind": "chat_visitor", "value": "visitor-7" }),
    )
    .await;
    let reply =
        app.post_as(&format!("/v1/tickets/{first_ticket}/replies"), &token, &json!({ "text": "Which order?" })).await;
    assert_eq!(reply.status(), 201);
    let by_chat =
        place(&app, inbound(Channel::Chat, IdentityKind::ChatVisitor, "visitor-7", "chat-1", "Order 55")).await;
    assert_eq!(by_chat.customer_id, customer);
    assert_eq!(by_chat.ticket.unwrap().id, first_ticket, "the open ticket continues across channels");
    let solved = app.patch_as(&format!("/v1/tickets/{first_ticket}"), &token, &json!({ "status": "solved" })).await;
    assert_eq!(solved.status(), 200);
    let closed = app.patch_as(&format!("/v1/tickets/{first_ticket}"), &token, &json!({ "status": "closed" })).await;
    assert_eq!(closed.status(), 200);
    let by_form =
        place(&app, inbound(Channel::WebForm, IdentityKind::Email, "ANA@example.org", "form-1", "New question")).await;
    let second_ticket = by_form.ticket.unwrap().id;
    assert_ne!(second_ticket, first_ticket, "a closed ticket is never continued");
    let note = app.post_as(&format!("/v1/tickets/{second_ticket}/notes"), &token, &json!({ "text": "VIP" })).await;
    assert_eq!(note.status(), 201);

    let thread: Value = app.get_as(&format!("/v1/customers/{customer}/thread"), &token).await.json().await.unwrap();
    let rows: Vec<_> = thread["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["channel"].as_str().unwrap().to_owned(),
                m["direction"].as_str().unwrap().to_owned(),
                m["author"]["kind"].as_str().unwrap().to_owned(),
                m["ticket_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let (t1, t2) = (first_ticket.to_string(), second_ticket.to_string());
    let row = |c: &str, d: &str, a: &str, t: &str| (c.to_owned(), d.to_owned(), a.to_owned(), t.to_owned());
    assert_eq!(
        rows,
        [
            row("email", "inbound", "customer", &t1),
            row("email", "outbound", "agent", &t1),
            row("chat", "inbound", "customer", &t1),
            row("web_form", "inbound", "customer", &t2),
            row("api", "note", "agent", &t2),
        ]
    );
    assert_eq!(thread["next_cursor"], Value::Null);
    let placement = &thread["data"][2]["placement"];
    assert_eq!(placement[0]["rule"], "known_identity");
    assert_eq!(placement[1]["rule"], "latest_unsolved");

    let unknown = app.get_as(&format!("/v1/customers/{}/thread", braid_core::CustomerId::new()), &token).await;
    assert_eq!(unknown.status(), 404);
}

/// Follows `next_cursor` to the end with `limit`, calling `between` after every page.
async fn walk(app: &TestApp, token: &str, path: &str, limit: u32, mut between: impl AsyncFnMut()) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{separator}limit={limit}&cursor={c}"),
            None => format!("{path}{separator}limit={limit}"),
        };
        let page: Value = app.get_as(&url, token).await.json().await.unwrap();
        seen.extend(page["data"].as_array().unwrap().iter().map(|item| item["id"].as_str().unwrap().to_owned()));
        between().await;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
}

async fn thread_pages_neither_skip_nor_repeat_while_messages_arrive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let mut before = Vec::new();
    for i in 0..23 {
        before.push(place(&app, email("ana@example.org", &format!("<{i}@mail>"))).await.message.id.to_string());
    }
    let customer = place(&app, email("ana@example.org", "<23@mail>")).await;
    before.push(customer.message.id.to_string());

    let mut arriving = 0;
    let seen = walk(&app, &token, &format!("/v1/customers/{}/thread", customer.customer_id), 5, async || {
        arriving += 1;
        place(&app, email("ana@example.org", &format!("<late-{arriving}@mail>"))).await;
    })
    .await;

    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no message repeats");
    assert_eq!(&seen[..before.len()], &before[..], "every earlier message, once, in order");
    assert!(seen.len() > before.len(), "messages that arrive later come after, on later pages");
}

async fn ticket_pages_neither_skip_nor_repeat_while_tickets_are_opened(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let customer = crate::tickets::customer(&app, &token, "ana@example.org").await;
    let mut before = Vec::new();
    for i in 0..17 {
        let ticket =
            crate::tickets::ticket(&app, &token, json!({ "customer_id": customer, "subject": format!("T{i}") })).await;
        before.push(ticket["id"].as_str().unwrap().to_owned());
    }
    let open_more = async || {
        crate::tickets::ticket(&app, &token, json!({ "customer_id": customer, "subject": "late" })).await;
    };
    let newest_first = walk(&app, &token, "/v1/tickets", 4, open_more).await;
    let mut expected = before.clone();
    expected.reverse();
    assert_eq!(newest_first, expected, "tickets opened meanwhile land before the cursor and never shift later pages");

    let oldest_first = walk(&app, &token, "/v1/tickets?sort=created_at", 4, async || {}).await;
    let unique: HashSet<_> = oldest_first.iter().collect();
    assert_eq!(unique.len(), oldest_first.len());
    assert_eq!(&oldest_first[..before.len()], &before[..]);
}

async fn names_are_searched_case_insensitively_in_every_language(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let elodie: Value = create(&app, &token, json!({ "name": "Élodie Durand" })).await.json().await.unwrap();
    let renamed: Value = create(&app, &token, json!({ "name": "Zoë" })).await.json().await.unwrap();
    let zoe = renamed["id"].as_str().unwrap();
    app.patch_as(&format!("/v1/customers/{zoe}"), &token, &json!({ "name": "Ödön" })).await;
    let id = elodie["id"].as_str().unwrap().to_owned();
    assert_eq!(ids(&app, &token, "name_prefix=%C3%A9lo").await, std::slice::from_ref(&id), "élo");
    assert_eq!(ids(&app, &token, "name_prefix=%C3%89LO").await, [id], "ÉLO");
    assert_eq!(ids(&app, &token, "name_prefix=%C3%B6d").await, [zoe.to_owned()], "a rename updates the search key");
    assert_eq!(ids(&app, &token, "name_prefix=zo").await, Vec::<String>::new());
}

async fn the_same_identity_twice_in_one_request_is_a_validation_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let response = create(
        &app,
        &token,
        json!({ "identities": [{ "kind": "email", "value": "ana@example.org" }, { "kind": "email", "value": "ANA@example.org" }] }),
    )
    .await;
    assert_eq!(response.status(), 422);
}
