//! One request, bounded work (issue 14 §1): HTML built to make the parser slow, mail with
//! thousands of attachments or recipients, and caps on tags, identities and reply
//! attachments. Every capped mail is still stored whole (its original) and placed; the
//! message says what was left out.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::email::{SECRET, post_raw};
use crate::helpers::{Backend, TestApp, both_backends};
use crate::tickets::{customer, ticket};

both_backends!(
    html_built_to_be_slow_is_stored_shown_as_text_and_flagged,
    attachments_past_the_cap_stay_in_the_original_and_are_counted,
    recipients_past_the_cap_are_counted,
    tags_identities_and_reply_attachments_have_caps,
    concurrent_identity_additions_stop_at_the_cap,
);

async fn app(backend: Backend, change: impl FnOnce(&mut braid::Settings)) -> TestApp {
    TestApp::builder(backend)
        .with_settings(|s| {
            s.email_inbound_secret = Some(SECRET.into());
            change(s);
        })
        .start()
        .await
}

fn multipart(headers: &str, parts: &[String]) -> Vec<u8> {
    let mut raw = format!(
        "From: Ana Lima <ana@example.org>\r\n{headers}Subject: s\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    );
    for part in parts {
        raw.push_str("--b\r\n");
        raw.push_str(part);
        raw.push_str("\r\n");
    }
    raw.push_str("--b--\r\n");
    raw.into_bytes()
}

fn text_part(text: &str) -> String {
    format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{text}")
}

fn html_part(html: &str) -> String {
    format!("Content-Type: text/html; charset=utf-8\r\n\r\n{html}")
}

/// Posts `raw` and reads back the stored message (as an admin sees it).
async fn stored(app: &TestApp, admin: &str, raw: &[u8]) -> Value {
    let response = post_raw(app, raw).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let placed: Value = response.json().await.unwrap();
    let id = placed["message_id"].as_str().unwrap();
    let original = app.get_as(&format!("/v1/messages/{id}/original"), admin).await;
    assert_eq!(original.bytes().await.unwrap().as_ref(), raw, "the original is kept whole");
    app.get_as(&format!("/v1/messages/{id}"), admin).await.json().await.unwrap()
}

async fn html_built_to_be_slow_is_stored_shown_as_text_and_flagged(backend: Backend) {
    let app = app(backend, |_| {}).await;
    let admin = app.admin_token().await;
    // Nesting: 1 MB of `<div>` (quadratic in html5ever: minutes of CPU before the bound).
    let deep = format!("<p>Hello deep</p>{}", "<div>".repeat(200_000));
    let message = stored(&app, &admin, &multipart("", &[text_part("Hello deep"), html_part(&deep)])).await;
    assert_eq!(message["text"], "Hello deep");
    assert_eq!(message["html"], Value::Null);
    assert_eq!(message["details"]["over_limits"]["html"], "depth", "{}", message["details"]);

    // Unmatched closing tags hide nothing, and an HTML-only mail still has its text.
    let hidden = format!("<p>Only html</p>{}", "<div></span>".repeat(50_000));
    let message = stored(&app, &admin, &multipart("", &[html_part(&hidden)])).await;
    assert!(message["text"].as_str().unwrap().contains("Only html"), "{}", message["text"]);
    assert_eq!(message["html"], Value::Null);
    assert_eq!(message["details"]["over_limits"]["html"], "depth");

    // Formatting elements the parser re-creates in every block: a small body, a huge tree.
    let open: String = (0..300).map(|i| format!("<b id={i}>")).collect();
    let amplified = format!("<div>{open}</div>{}", "<div>x</div>".repeat(5_000));
    let message = stored(&app, &admin, &multipart("", &[text_part("Amplified"), html_part(&amplified)])).await;
    assert_eq!(message["text"], "Amplified");
    assert_eq!(message["details"]["over_limits"]["html"], "nodes");

    // An ordinary HTML mail is untouched: shown, and no over_limits at all.
    let message = stored(&app, &admin, &multipart("", &[text_part("Fine"), html_part("<p>Fine</p>")])).await;
    assert_eq!(message["html"], "<p>Fine</p>");
    assert!(message["details"].get("over_limits").is_none(), "{}", message["details"]);
}

fn attachment(i: usize) -> String {
    format!(
        "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"f{i}.bin\"\r\n\r\nfile {i}"
    )
}

fn blob_files(app: &TestApp) -> usize {
    let root = app.data_dir.path().join("blobs");
    let Ok(dirs) = std::fs::read_dir(root) else { return 0 };
    dirs.flatten().map(|dir| std::fs::read_dir(dir.path()).map_or(0, |files| files.count())).sum()
}

async fn attachments_past_the_cap_stay_in_the_original_and_are_counted(backend: Backend) {
    let app = app(backend, |s| s.email_max_attachments = 5).await;
    let admin = app.admin_token().await;
    let mut parts = vec![text_part("Many files")];
    parts.extend((0..2_000).map(attachment));
    let message = stored(&app, &admin, &multipart("", &parts)).await;
    let listed: Vec<&str> =
        message["details"]["attachments"].as_array().unwrap().iter().map(|a| a["filename"].as_str().unwrap()).collect();
    assert_eq!(listed, ["f0.bin", "f1.bin", "f2.bin", "f3.bin", "f4.bin"]);
    assert_eq!(message["details"]["over_limits"]["attachments"], json!({ "kept": 5, "total": 2_000 }));
    assert_eq!(blob_files(&app), 5, "only the kept attachments are written as files");
    assert_eq!(message["text"], "Many files");

    // The default cap is 100.
    let app = self::app(backend, |_| {}).await;
    let admin = app.admin_token().await;
    let message = stored(&app, &admin, &multipart("", &parts)).await;
    assert_eq!(message["details"]["attachments"].as_array().unwrap().len(), 100);
    assert_eq!(message["details"]["over_limits"]["attachments"], json!({ "kept": 100, "total": 2_000 }));
}

async fn recipients_past_the_cap_are_counted(backend: Backend) {
    let app = app(backend, |s| s.email_max_recipients = 10).await;
    let admin = app.admin_token().await;
    let to: Vec<String> = (0..300).map(|i| format!("r{i}@example.org")).collect();
    let headers = format!("To: {}\r\nCc: one@example.org\r\n", to.join(",\r\n "));
    let message = stored(&app, &admin, &multipart(&headers, &[text_part("Hi all")])).await;
    assert_eq!(message["details"]["to"].as_array().unwrap().len(), 10);
    assert_eq!(message["details"]["to"][9]["address"], "r9@example.org");
    assert_eq!(message["details"]["over_limits"]["to"], json!({ "kept": 10, "total": 300 }));
    assert_eq!(message["details"]["cc"].as_array().unwrap().len(), 1);
    assert!(message["details"]["over_limits"].get("cc").is_none());
}

async fn assert_limit(response: reqwest::Response, field: &str) {
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "validation_failed", "{problem}");
    assert_eq!(problem["extra"]["field"], field, "{problem}");
}

async fn tags_identities_and_reply_attachments_have_caps(backend: Backend) {
    let app = app(backend, |_| {}).await;
    let admin = app.admin_token().await;
    let customer_id = customer(&app, &admin, "ana@example.org").await;
    let tags = |n: usize| (0..n).map(|i| format!("t{i}")).collect::<Vec<_>>();

    // Tags: 50 on create and on update; 51 is refused both ways and changes nothing.
    let body = json!({ "customer_id": customer_id, "subject": "Hi", "tags": tags(51) });
    assert_limit(app.post_as("/v1/tickets", &admin, &body).await, "tags").await;
    let created = ticket(&app, &admin, json!({ "customer_id": customer_id, "subject": "Hi", "tags": tags(50) })).await;
    let path = format!("/v1/tickets/{}", created["id"].as_str().unwrap());
    assert_limit(app.patch_as(&path, &admin, &json!({ "tags": tags(51) })).await, "tags").await;
    let current: Value = app.get_as(&path, &admin).await.json().await.unwrap();
    assert_eq!(current["tags"].as_array().unwrap().len(), 50);

    // Identities: 51 at creation is refused; one by one, the 51st is.
    let identities: Vec<Value> =
        (0..51).map(|i| json!({ "kind": "email", "value": format!("p{i}@example.org") })).collect();
    assert_limit(app.post_as("/v1/customers", &admin, &json!({ "identities": identities })).await, "identities").await;
    let added = format!("/v1/customers/{customer_id}/identities");
    for i in 1..50 {
        let response =
            app.post_as(&added, &admin, &json!({ "kind": "email", "value": format!("a{i}@example.org") })).await;
        assert_eq!(response.status(), 201);
    }
    assert_limit(
        app.post_as(&added, &admin, &json!({ "kind": "email", "value": "a50@example.org" })).await,
        "identities",
    )
    .await;
    let again = app.post_as(&added, &admin, &json!({ "kind": "email", "value": "a7@example.org" })).await;
    assert_eq!(again.status(), 201, "adding one it already has is no new identity");

    // Reply attachments: at most 20, at most 18 MiB in all (the same file twice counts twice).
    let upload = |bytes: Vec<u8>| {
        app.request(reqwest::Method::POST, "/v1/attachments", &admin)
            .header("content-type", "application/pdf")
            .body(bytes)
    };
    let small: Value = upload(b"%PDF small".to_vec()).send().await.unwrap().json().await.unwrap();
    let big: Value = upload(vec![b'x'; 10 * 1024 * 1024]).send().await.unwrap().json().await.unwrap();
    let listing = |id: &Value, n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({ "id": id, "filename": format!("f{i}.pdf"), "content_type": "application/pdf" }))
            .collect()
    };
    let replies = format!("{path}/replies");
    let reply = |attachments: Vec<Value>| json!({ "text": "Here you go", "attachments": attachments });
    assert_limit(app.post_as(&replies, &admin, &reply(listing(&small["id"], 21))).await, "attachments").await;
    assert_limit(app.post_as(&replies, &admin, &reply(listing(&big["id"], 2))).await, "attachments").await;
    assert_eq!(app.post_as(&replies, &admin, &reply(listing(&small["id"], 20))).await.status(), 201);
    assert_eq!(app.post_as(&replies, &admin, &reply(listing(&big["id"], 1))).await.status(), 201);
}

async fn concurrent_identity_additions_stop_at_the_cap(backend: Backend) {
    let app = app(backend, |_| {}).await;
    let admin = app.admin_token().await;
    let customer_id = customer(&app, &admin, "ana@example.org").await;
    let added = format!("/v1/customers/{customer_id}/identities");
    for i in 1..45 {
        app.post_as(&added, &admin, &json!({ "kind": "email", "value": format!("a{i}@example.org") })).await;
    }
    let statuses = join_all((0..20).map(|i| {
        let body = json!({ "kind": "email", "value": format!("c{i}@example.org") });
        let (app, admin, added) = (&app, &admin, &added);
        async move { app.post_as(added, admin, &body).await.status().as_u16() }
    }))
    .await;
    // ana@ and a1..a44 make 45: five more fit.
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| matches!(s, 201 | 422)), "{statuses:?}");
    let profile: Value = app.get_as(&format!("/v1/customers/{customer_id}"), &admin).await.json().await.unwrap();
    assert_eq!(profile["identities"].as_array().unwrap().len(), 50);
}
