//! Inbound email over the raw webhook: authentication, placement and threading, retries,
//! automated mail, limits, and the robustness corpus.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestAppBuilder, both_backends};

both_backends!(
    an_unauthenticated_post_is_refused_and_stores_nothing,
    a_new_senders_email_opens_a_ticket_and_shows_its_envelope,
    a_retried_email_is_stored_once,
    replies_thread_by_headers_and_subject_tag_but_only_for_their_sender,
    automated_mail_joins_its_ticket_without_reopening_it_or_opening_one,
    oversized_and_mistyped_posts_are_refused,
    an_unreadable_message_is_kept_and_flagged,
    every_message_of_the_mime_robustness_corpus_is_stored,
    postmark_json_with_and_without_raw_content_is_placed,
    sendgrid_raw_inbound_parse_is_placed_with_basic_auth,
    mailgun_posts_are_placed_only_when_signed_fresh_and_new,
);

pub const SECRET: &str = "inbound-test-secret";

fn app(backend: Backend) -> TestAppBuilder {
    TestApp::builder(backend).with_settings(|s| s.email_inbound_secret = Some(SECRET.into()))
}

pub async fn post_raw(app: &TestApp, raw: &[u8]) -> reqwest::Response {
    app.client
        .post(app.url("/v1/channels/email/inbound"))
        .bearer_auth(SECRET)
        .header("content-type", "message/rfc822")
        .body(raw.to_vec())
        .send()
        .await
        .unwrap()
}

/// Posts Postmark's inbound JSON with the inbound secret as bearer token.
pub async fn post_postmark(app: &TestApp, json: &Value) -> reqwest::Response {
    let url = app.url("/v1/channels/email/inbound/postmark");
    app.client.post(url).bearer_auth(SECRET).json(json).send().await.unwrap()
}

pub fn mail(from: &str, message_id: &str, subject: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Ana Lima <{from}>\r\nTo: support@braid.test\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
{extra_headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn placed(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

async fn messages(app: &TestApp) -> i64 {
    use braid_db::schema::messages::dsl::*;
    use diesel::prelude::*;
    app.with_db(|conn| Ok(messages.count().get_result(conn)?)).await
}

async fn an_unauthenticated_post_is_refused_and_stores_nothing(backend: Backend) {
    let app = app(backend).start().await;
    let raw = mail("ana@example.org", "m1@x", "Hi", "", "Hello");
    let anonymous = app
        .client
        .post(app.url("/v1/channels/email/inbound"))
        .header("content-type", "message/rfc822")
        .body(raw.clone());
    assert_eq!(anonymous.send().await.unwrap().status(), 401);
    let wrong = app
        .client
        .post(app.url("/v1/channels/email/inbound"))
        .bearer_auth("guess")
        .header("content-type", "message/rfc822");
    assert_eq!(wrong.body(raw.clone()).send().await.unwrap().status(), 401);
    let agent = app.agent_token("agent").await;
    let as_agent = app
        .request(reqwest::Method::POST, "/v1/channels/email/inbound", &agent)
        .header("content-type", "message/rfc822");
    assert_eq!(as_agent.body(raw).send().await.unwrap().status(), 401, "an agent token is not the inbound secret");
    assert_eq!(messages(&app).await, 0);

    let off = TestApp::spawn(backend).await;
    let response = post_raw(&off, b"From: a@b.c\r\n\r\nx").await;
    assert_eq!(response.status(), 503, "unconfigured inbound email is off, not open");
}

async fn a_new_senders_email_opens_a_ticket_and_shows_its_envelope(backend: Backend) {
    let app = app(backend).start().await;
    let raw = b"From: =?UTF-8?Q?Ana_L=C3=ADma?= <Ana@Example.org>\r\nTo: support@braid.test\r\nCc: boss@example.org\r\n\
Subject: Order 55 never arrived\r\nMessage-ID: <first@mail.example.org>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n\
--a\r\nContent-Type: text/plain\r\n\r\nWhere is my order?\r\n--a\r\nContent-Type: text/html\r\n\r\n\
<p onclick=\"x()\">Where is <b>my order</b>?<script>alert(1)</script><img src=\"https://t.example/p.gif\"></p>\r\n--a--\r\n\
--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"receipt.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";
    let answer = placed(post_raw(&app, raw).await, 201).await;
    assert_eq!(answer["duplicate"], false);
    assert!(answer["ticket_id"].is_string());

    let token = app.agent_token("agent").await;
    let customer: Value = app
        .get_as(&format!("/v1/customers/{}", answer["customer_id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(customer["name"], "Ana Líma");
    assert_eq!(customer["identities"][0]["value"], "ana@example.org");
    let ticket: Value = app
        .get_as(&format!("/v1/tickets/{}", answer["ticket_id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (ticket["subject"].as_str(), ticket["channel"].as_str()),
        (Some("Order 55 never arrived"), Some("email"))
    );

    let thread: Value = app
        .get_as(&format!("/v1/customers/{}/thread", answer["customer_id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    let message = &thread["data"][0];
    assert_eq!(message["id"], answer["message_id"]);
    assert_eq!(message["channel_ref"], "<first@mail.example.org>");
    assert_eq!(message["text"].as_str().unwrap().trim(), "Where is my order?");
    let html = message["html"].as_str().unwrap();
    assert!(
        html.contains("<b>my order</b>")
            && !html.contains("script")
            && !html.contains("onclick")
            && !html.contains("t.example"),
        "{html}"
    );
    let envelope = &message["details"];
    assert_eq!(envelope["from"], json!({ "address": "Ana@Example.org", "name": "Ana Líma" }));
    assert_eq!(envelope["cc"][0]["address"], "boss@example.org");
    assert_eq!(envelope["message_id"], "first@mail.example.org");
    let attachment = &envelope["attachments"][0];
    assert_eq!(
        (attachment["filename"].as_str(), attachment["content_type"].as_str(), attachment["size"].as_u64()),
        (Some("receipt.pdf"), Some("application/pdf"), Some(5))
    );
    let id = attachment["id"].as_str().unwrap();
    let stored = app.data_dir.path().join("blobs").join(&id[..2]).join(id);
    assert_eq!(
        std::fs::read(stored).unwrap(),
        b"%PDF-",
        "the attachment is stored under the data directory by its hash"
    );
    assert_eq!(envelope["raw"]["size"].as_u64(), Some(raw.len() as u64));
    let original =
        app.get_as(&format!("/v1/messages/{}/original", answer["message_id"].as_str().unwrap()), &token).await;
    assert_eq!(original.status(), 200);
    assert_eq!(original.headers()["content-type"], "message/rfc822");
    assert_eq!(original.bytes().await.unwrap(), raw.to_vec(), "the original is kept byte for byte");
    let reply = app
        .post_as(
            &format!("/v1/tickets/{}/replies", answer["ticket_id"].as_str().unwrap()),
            &token,
            &json!({ "text": "On it." }),
        )
        .await;
    let reply: Value = reply.json().await.unwrap();
    let none = app.get_as(&format!("/v1/messages/{}/original", reply["id"].as_str().unwrap()), &token).await;
    assert_eq!(none.status(), 404, "an agent's reply was never received, so it has no original");
}

async fn a_retried_email_is_stored_once(backend: Backend) {
    let app = app(backend).start().await;
    let raw = mail("ana@example.org", "retry@x", "Hi", "", "Hello");
    let first = placed(post_raw(&app, &raw).await, 201).await;
    let again = placed(post_raw(&app, &raw).await, 200).await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(
        (&again["message_id"], &again["ticket_id"], &again["customer_id"]),
        (&first["message_id"], &first["ticket_id"], &first["customer_id"])
    );
    let no_id = b"From: bob@example.org\r\nSubject: no id\r\n\r\nsame bytes".to_vec();
    let one = placed(post_raw(&app, &no_id).await, 201).await;
    let two = placed(post_raw(&app, &no_id).await, 200).await;
    assert_eq!(one["message_id"], two["message_id"], "without a Message-ID the bytes identify the message");
    assert_eq!(messages(&app).await, 2);
}

async fn replies_thread_by_headers_and_subject_tag_but_only_for_their_sender(backend: Backend) {
    let app = app(backend).start().await;
    let token = app.agent_token("agent").await;
    let first =
        placed(post_raw(&app, &mail("ana@example.org", "a1@x", "Refund", "", "Refund please")).await, 201).await;
    let ticket = first["ticket_id"].as_str().unwrap().to_owned();
    let number = app.get_as(&format!("/v1/tickets/{ticket}"), &token).await.json::<Value>().await.unwrap()["number"]
        .as_i64()
        .unwrap();
    // A second, newer ticket for Ana, so "latest unsolved" would pick the wrong one.
    let other = app
        .post_as("/v1/tickets", &token, &json!({ "customer_id": first["customer_id"], "subject": "Phone call" }))
        .await;
    assert_eq!(other.status(), 201);

    let quoting = "Any news?\r\n\r\n-- \r\nAna\r\n\r\nOn Mon, 2 Nov 2026 at 10:00, Support <support@braid.test> wrote:\r\n> We are on it.";
    let reply = mail("ana@example.org", "a2@x", "Re: Refund", "In-Reply-To: <a1@x>\r\n", quoting);
    let by_header = placed(post_raw(&app, &reply).await, 201).await;
    assert_eq!(by_header["ticket_id"], ticket, "In-Reply-To names the ticket");
    let messages: Value = app.get_as(&format!("/v1/tickets/{ticket}/messages"), &token).await.json().await.unwrap();
    let stripped = messages["data"].as_array().unwrap().iter().find(|m| m["id"] == by_header["message_id"]).unwrap();
    assert_eq!(stripped["text"].as_str().unwrap().trim(), "Any news?", "only what the customer newly wrote");
    assert!(
        stripped["details"]["quoted"].as_str().is_some_and(|q| q.contains("We are on it.")),
        "the quote is kept: {stripped}"
    );
    assert!(stripped["details"]["signature"].as_str().unwrap().contains("Ana"), "so is the signature");
    let by_tag = placed(
        post_raw(&app, &mail("ana@example.org", "a3@x", &format!("Still waiting [#{number}]"), "", "Hello?")).await,
        201,
    )
    .await;
    assert_eq!(by_tag["ticket_id"], ticket, "the subject tag names the ticket");

    let stranger = placed(
        post_raw(
            &app,
            &mail("eve@example.org", "e1@x", &format!("Re: [#{number}]"), "In-Reply-To: <a1@x>\r\n", "Let me in"),
        )
        .await,
        201,
    )
    .await;
    assert_ne!(stranger["ticket_id"], ticket);
    assert_ne!(stranger["customer_id"], first["customer_id"], "a stranger quoting a ticket gets their own thread");
    let thread: Value = app
        .get_as(&format!("/v1/customers/{}/thread", stranger["customer_id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    let reasons: Vec<&str> =
        thread["data"][0]["placement"].as_array().unwrap().iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["new_customer", "reference_ignored", "reference_ignored", "new_ticket"]);
}

async fn automated_mail_joins_its_ticket_without_reopening_it_or_opening_one(backend: Backend) {
    let app = app(backend).start().await;
    let token = app.agent_token("agent").await;
    let first =
        placed(post_raw(&app, &mail("ana@example.org", "b1@x", "Refund", "", "Refund please")).await, 201).await;
    let ticket = first["ticket_id"].as_str().unwrap();
    assert_eq!(
        app.patch_as(&format!("/v1/tickets/{ticket}"), &token, &json!({ "status": "solved" })).await.status(),
        200
    );

    let vacation = mail(
        "ana@example.org",
        "b2@x",
        "Out of office",
        "Auto-Submitted: auto-replied\r\nIn-Reply-To: <b1@x>\r\n",
        "I am away",
    );
    let auto = placed(post_raw(&app, &vacation).await, 201).await;
    assert_eq!(auto["ticket_id"], ticket, "it joins the ticket it answers");
    let now: Value = app.get_as(&format!("/v1/tickets/{ticket}"), &token).await.json().await.unwrap();
    assert_eq!(now["status"], "solved", "an auto-reply reopens nothing");

    let bulk = mail("news@shop.example", "n1@x", "Our newsletter", "Precedence: bulk\r\n", "Sale!");
    let newsletter = placed(post_raw(&app, &bulk).await, 201).await;
    assert_eq!(newsletter["ticket_id"], Value::Null, "bulk mail with nothing to join opens no ticket");
    let bounce = b"From: MAILER-DAEMON@mx.example.org\r\nTo: support@braid.test\r\nSubject: Undelivered Mail\r\n\
Message-ID: <dsn1@mx>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n\
--r\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n--r--\r\n";
    assert_eq!(placed(post_raw(&app, bounce).await, 201).await["ticket_id"], Value::Null, "a bounce creates no ticket");
}

async fn oversized_and_mistyped_posts_are_refused(backend: Backend) {
    let app = app(backend).with_settings(|s| s.email_max_bytes = 2048).start().await;
    let big = mail("ana@example.org", "big@x", "Big", "", &"x".repeat(5000));
    let response = post_raw(&app, &big).await;
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], "payload_too_large");
    let json = app.client.post(app.url("/v1/channels/email/inbound")).bearer_auth(SECRET).json(&json!({ "raw": "x" }));
    assert_eq!(json.send().await.unwrap().status(), 415);
    assert_eq!(post_raw(&app, b"").await.status(), 400);
    assert_eq!(messages(&app).await, 0);
}

async fn an_unreadable_message_is_kept_and_flagged(backend: Backend) {
    let app = app(backend).start().await;
    let garbage = b"\x00\x01\x02 this is not an email \xff\xfe\r\n\r\n\x00";
    let answer = placed(post_raw(&app, garbage).await, 201).await;
    assert_eq!(answer["malformed"], true);
    let token = app.agent_token("agent").await;
    let thread: Value = app
        .get_as(&format!("/v1/customers/{}/thread", answer["customer_id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    let message = &thread["data"][0];
    assert_eq!(message["details"]["malformed"], true);
    assert!(message["text"].as_str().unwrap().contains("this is not an email"));
    assert_eq!(
        placed(post_raw(&app, garbage).await, 200).await["message_id"],
        answer["message_id"],
        "and a retry is still one message"
    );
}

async fn every_message_of_the_mime_robustness_corpus_is_stored(backend: Backend) {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/mime_robustness");
    if !corpus.exists() {
        assert!(std::env::var("CI").is_err(), "CI runs beside shared/: {} is missing", corpus.display());
        eprintln!("skipping: {} is not present", corpus.display());
        return;
    }
    let app = app(backend).start().await;
    let mut files: Vec<_> = walk(&corpus).into_iter().filter(|p| p.extension().is_some_and(|e| e == "eml")).collect();
    files.sort();
    assert!(files.len() >= 40, "{}", files.len());
    let mut ids = std::collections::HashSet::new();
    for file in &files {
        let raw = std::fs::read(file).unwrap();
        let response = post_raw(&app, &raw).await;
        let status = response.status().as_u16();
        assert!(status == 200 || status == 201, "{}: {status}", file.display());
        let answer: Value = response.json().await.unwrap();
        ids.insert(answer["message_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(messages(&app).await as usize, ids.len(), "every answer names a stored message");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { found.extend(walk(&path)) } else { found.push(path) }
    }
    found
}

async fn postmark_json_with_and_without_raw_content_is_placed(backend: Backend) {
    let app = app(backend).start().await;
    let url = app.url("/v1/channels/email/inbound/postmark");
    let fields = json!({
        "FromFull": { "Email": "Pat@Example.org", "Name": "Pat" }, "ToFull": [{ "Email": "support@braid.test", "Name": "" }],
        "Subject": "Printer on fire", "MessageID": "pm-1", "TextBody": "Help", "HtmlBody": "",
        "Headers": [{ "Name": "Message-ID", "Value": "<pat1@mail.example.org>" }], "Attachments": []
    });
    let unauthenticated = app.client.post(&url).json(&fields).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let first = app.client.post(&url).basic_auth("postmark", Some(SECRET)).json(&fields).send().await.unwrap();
    let first = placed(first, 201).await;
    let retry =
        placed(app.client.post(&url).basic_auth("postmark", Some(SECRET)).json(&fields).send().await.unwrap(), 200)
            .await;
    assert_eq!(retry["message_id"], first["message_id"], "Postmark's retry is the same message");

    let raw = json!({ "RawEmail": String::from_utf8(mail("pat@example.org", "pat2@mail.example.org", "Re: Printer", "In-Reply-To: <pat1@mail.example.org>\r\n", "Still burning")).unwrap() });
    let second = placed(app.client.post(&url).bearer_auth(SECRET).json(&raw).send().await.unwrap(), 201).await;
    assert_eq!((&second["customer_id"], &second["ticket_id"]), (&first["customer_id"], &first["ticket_id"]));
    let junk = app.client.post(&url).bearer_auth(SECRET).json(&json!([1, 2])).send().await.unwrap();
    assert_eq!(junk.status(), 400);
}

async fn sendgrid_raw_inbound_parse_is_placed_with_basic_auth(backend: Backend) {
    let app = app(backend).start().await;
    let url = app.url("/v1/channels/email/inbound/sendgrid");
    let form = || {
        reqwest::multipart::Form::new()
            .text("to", "support@braid.test")
            .text("email", String::from_utf8(mail("sam@example.org", "sg1@x", "Hello", "", "From SendGrid")).unwrap())
    };
    assert_eq!(app.client.post(&url).multipart(form()).send().await.unwrap().status(), 401);
    let answer =
        placed(app.client.post(&url).basic_auth("sendgrid", Some(SECRET)).multipart(form()).send().await.unwrap(), 201)
            .await;
    assert!(answer["ticket_id"].is_string());
    let missing = reqwest::multipart::Form::new().text("text", "no raw");
    assert_eq!(app.client.post(&url).bearer_auth(SECRET).multipart(missing).send().await.unwrap().status(), 400);
    assert_eq!(messages(&app).await, 1);
}

pub fn mailgun_signature(key: &str, timestamp: &str, token: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

async fn mailgun_posts_are_placed_only_when_signed_fresh_and_new(backend: Backend) {
    let off = TestApp::spawn(backend).await;
    let response = off
        .client
        .post(off.url("/v1/channels/email/inbound/mailgun"))
        .multipart(reqwest::multipart::Form::new().text("token", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);

    let key = "mailgun-signing-key";
    let app = TestApp::builder(backend).with_settings(|s| s.mailgun_signing_key = Some(key.into())).start().await;
    let url = app.url("/v1/channels/email/inbound/mailgun");
    let now = chrono::Utc::now().timestamp();
    let form = |timestamp: i64, token: &str, signature: String, id: &str| {
        reqwest::multipart::Form::new()
            .text("timestamp", timestamp.to_string())
            .text("token", token.to_owned())
            .text("signature", signature)
            .text("body-mime", String::from_utf8(mail("mo@example.org", id, "Hi", "", "From Mailgun")).unwrap())
    };
    let post = |form| app.client.post(&url).multipart(form).send();

    let good = form(now, "token-1", mailgun_signature(key, &now.to_string(), "token-1"), "mg1@x");
    assert_eq!(post(good).await.unwrap().status(), 201);
    let replay = form(now, "token-1", mailgun_signature(key, &now.to_string(), "token-1"), "mg2@x");
    assert_eq!(post(replay).await.unwrap().status(), 401, "a token works once");
    let forged = form(now, "token-2", mailgun_signature("guessed", &now.to_string(), "token-2"), "mg3@x");
    assert_eq!(post(forged).await.unwrap().status(), 401);
    let stale_at = now - 600;
    let stale = form(stale_at, "token-3", mailgun_signature(key, &stale_at.to_string(), "token-3"), "mg4@x");
    assert_eq!(post(stale).await.unwrap().status(), 401);
    assert_eq!(messages(&app).await, 1, "only the good post stored anything");
}
