//! Notes about a customer: written by agents (or integrations), newest first, capped.

use std::collections::HashSet;

use diesel::prelude::*;
use serde_json::{Value, json};

use crate::customer_attributes::{customer, merge};
use crate::helpers::{Backend, TestApp, both_backends};

both_backends!(
    agents_write_change_and_delete_notes_and_each_change_is_an_event,
    integrations_write_notes_without_an_author,
    note_bodies_are_checked,
    note_pages_neither_skip_nor_repeat_while_notes_are_written,
    notes_are_capped_per_customer,
    a_note_is_found_only_under_its_own_customer,
    unknown_customers_are_404s_and_merged_customers_409s,
);

fn notes_of(customer: &str) -> String {
    format!("/v1/customers/{customer}/notes")
}

async fn write(app: &TestApp, token: &str, customer: &str, body: &str) -> reqwest::Response {
    app.post_as(&notes_of(customer), token, &json!({ "body": body })).await
}

async fn written(app: &TestApp, token: &str, customer: &str, body: &str) -> Value {
    let response = write(app, token, customer, body).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/problem+json", "status {status}");
    (status, response.json().await.unwrap())
}

async fn agents_write_change_and_delete_notes_and_each_change_is_an_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.agent_token("agent").await;
    let ana = customer(&app, &agent).await;

    let created = write(&app, &agent, &ana, "  Prefers phone calls.\r\nAfter 5 pm. ").await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let note: Value = created.json().await.unwrap();
    assert_eq!(location, format!("{}/{}", notes_of(&ana), note["id"].as_str().unwrap()));
    assert_eq!((&note["body"], &note["customer_id"]), (&json!("Prefers phone calls.\nAfter 5 pm."), &json!(ana)));
    assert!(note["author_agent_id"].is_string(), "the agent who wrote it: {note}");
    assert_eq!(app.get_as(&location, &agent).await.json::<Value>().await.unwrap(), note);

    let changed = app.patch_as(&location, &agent, &json!({ "body": "Prefers email." })).await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!((&changed["body"], &changed["created_at"]), (&json!("Prefers email."), &note["created_at"]));
    assert_ne!(changed["updated_at"], note["updated_at"]);

    assert_eq!(app.delete_as(&location, &agent).await.status(), 204);
    let (status, body) = problem(app.get_as(&location, &agent).await).await;
    assert_eq!((status, body["detail"].as_str()), (404, Some("no note with this id on this customer")));
    assert_eq!(app.delete_as(&location, &agent).await.status(), 404);
    assert_eq!(app.patch_as(&location, &agent, &json!({ "body": "x" })).await.status(), 404);

    use braid_db::schema::events;
    let id = note["id"].as_str().unwrap().to_owned();
    let logged: Vec<(String, Option<String>)> = app
        .with_db(move |conn| {
            Ok(events::table
                .filter(events::subject_id.eq(id))
                .order((events::tx.asc(), events::seq.asc()))
                .select((events::kind, events::customer_id))
                .load(conn)?)
        })
        .await;
    let customer = Some(ana.clone());
    assert_eq!(
        logged,
        [
            ("customer_note.created".to_owned(), customer.clone()),
            ("customer_note.updated".to_owned(), customer.clone()),
            ("customer_note.deleted".to_owned(), customer),
        ]
    );
}

async fn integrations_write_notes_without_an_author(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = app.api_key(&["customers:write", "customers:read"]).await;
    let ana = customer(&app, &key).await;
    let note = written(&app, &key, &ana, "Synced from the CRM.").await;
    assert_eq!(note["author_agent_id"], Value::Null);
}

async fn note_bodies_are_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.agent_token("agent").await;
    let ana = customer(&app, &agent).await;
    for bad in ["".to_owned(), " \n ".to_owned(), "a\0b".to_owned(), "bell\u{7}".to_owned(), "x".repeat(10_001)] {
        let (status, body) = problem(write(&app, &agent, &ana, &bad).await).await;
        assert_eq!((status, body["extra"]["field"].as_str()), (422, Some("body")), "{:?}", &bad[..bad.len().min(20)]);
    }
    let longest = written(&app, &agent, &ana, &"é".repeat(10_000)).await;
    let path = format!("{}/{}", notes_of(&ana), longest["id"].as_str().unwrap());
    let (status, body) = problem(app.patch_as(&path, &agent, &json!({ "body": "" })).await).await;
    assert_eq!((status, body["extra"]["field"].as_str()), (422, Some("body")));
    let (status, _) =
        problem(app.post_as(&notes_of(&ana), &agent, &json!({ "body": "x", "pinned": true })).await).await;
    assert_eq!(status, 400, "unknown fields are refused");
    let page: Value = app.get_as(&notes_of(&ana), &agent).await.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "nothing refused was stored");
}

/// Follows `next_cursor` to the end with `limit`, calling `between` after every page.
async fn walk(app: &TestApp, token: &str, path: &str, limit: u32, mut between: impl AsyncFnMut()) -> Vec<String> {
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let page: Value = app.get_as(&url, token).await.json().await.unwrap();
        seen.extend(page["data"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()));
        between().await;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
}

async fn note_pages_neither_skip_nor_repeat_while_notes_are_written(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.agent_token("agent").await;
    let (ana, bob) = (customer(&app, &agent).await, customer(&app, &agent).await);
    let mut before = Vec::new();
    for i in 0..23 {
        before.push(written(&app, &agent, &ana, &format!("Note {i}")).await["id"].as_str().unwrap().to_owned());
        written(&app, &agent, &bob, "Bob's").await;
    }
    before.reverse();

    let seen = walk(&app, &agent, &notes_of(&ana), 5, async || {
        written(&app, &agent, &ana, "Written meanwhile").await;
    })
    .await;

    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no note repeats");
    assert_eq!(seen, before, "newest first, every one once; notes written meanwhile are before the first page");
    let all = walk(&app, &agent, &notes_of(&ana), 200, async || {}).await;
    assert_eq!(all.len(), 23 + 5, "one page holds them all, and only Ana's");
}

async fn notes_are_capped_per_customer(backend: Backend) {
    use braid_db::schema::customer_notes;
    let app = TestApp::spawn(backend).await;
    let agent = app.agent_token("agent").await;
    let ana = customer(&app, &agent).await;
    written(&app, &agent, &ana, "The first").await;
    // The other 999 straight into the table: a thousand requests would only be slow.
    let id = ana.clone();
    app.with_db(move |conn| {
        let at = braid_db::now().naive_utc();
        let rows: Vec<_> = (1..1000)
            .map(|i| {
                (
                    customer_notes::id.eq(braid_core::NoteId::new().to_string()),
                    customer_notes::customer_id.eq(id.clone()),
                    customer_notes::body.eq(format!("Note {i}")),
                    customer_notes::created_at.eq(at),
                    customer_notes::updated_at.eq(at),
                )
            })
            .collect();
        braid_db::dialect::insert_many(conn, customer_notes::table, rows)
    })
    .await;
    let (status, body) = problem(write(&app, &agent, &ana, "One too many").await).await;
    assert_eq!((status, body["extra"]["field"].as_str()), (422, Some("notes")));
    let first = walk(&app, &agent, &notes_of(&ana), 200, async || {}).await;
    assert_eq!(first.len(), 1000);
    assert_eq!(app.delete_as(&format!("{}/{}", notes_of(&ana), first[0]), &agent).await.status(), 204);
    assert_eq!(write(&app, &agent, &ana, "Room again").await.status(), 201);
}

async fn a_note_is_found_only_under_its_own_customer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.agent_token("agent").await;
    let (ana, bob) = (customer(&app, &agent).await, customer(&app, &agent).await);
    let note = written(&app, &agent, &ana, "Ana's").await;
    let under_bob = format!("{}/{}", notes_of(&bob), note["id"].as_str().unwrap());
    assert_eq!(app.get_as(&under_bob, &agent).await.status(), 404);
    assert_eq!(app.patch_as(&under_bob, &agent, &json!({ "body": "Bob's now" })).await.status(), 404);
    assert_eq!(app.delete_as(&under_bob, &agent).await.status(), 404);
    let still: Value =
        app.get_as(&format!("{}/{}", notes_of(&ana), note["id"].as_str().unwrap()), &agent).await.json().await.unwrap();
    assert_eq!(still["body"], "Ana's");
}

async fn unknown_customers_are_404s_and_merged_customers_409s(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.agent_token("agent").await;
    let nobody = braid_core::CustomerId::new().to_string();
    let some_note = braid_core::NoteId::new();
    for response in [
        app.get_as(&notes_of(&nobody), &agent).await,
        write(&app, &agent, &nobody, "Hello").await,
        app.get_as(&format!("{}/{some_note}", notes_of(&nobody)), &agent).await,
        app.delete_as(&format!("{}/{some_note}", notes_of(&nobody)), &agent).await,
        app.get_as(&format!("{}/not-a-uuid", notes_of(&nobody)), &agent).await,
    ] {
        let (status, body) = problem(response).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    }
    let ana = customer(&app, &agent).await;
    let (status, body) = problem(app.get_as(&format!("{}/{some_note}", notes_of(&ana)), &agent).await).await;
    assert_eq!((status, body["detail"].as_str()), (404, Some("no note with this id on this customer")));

    let into = customer(&app, &agent).await;
    let note = written(&app, &agent, &ana, "Before the merge").await;
    let path = format!("{}/{}", notes_of(&ana), note["id"].as_str().unwrap());
    merge(&app, &ana, &into).await;
    for response in [
        app.get_as(&notes_of(&ana), &agent).await,
        write(&app, &agent, &ana, "After the merge").await,
        app.get_as(&path, &agent).await,
        app.patch_as(&path, &agent, &json!({ "body": "Changed" })).await,
        app.delete_as(&path, &agent).await,
    ] {
        let (status, body) = problem(response).await;
        assert_eq!((status, body["code"].as_str()), (409, Some("customer_merged")));
        assert_eq!(body["extra"]["merged_into"], json!(into));
    }
}
