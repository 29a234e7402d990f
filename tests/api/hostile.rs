//! A table of hostile strings sent through every kind of input over HTTP — JSON fields,
//! query parameters, path segments, headers, cursors, raw mail, Postmark JSON, Mailgun and
//! SendGrid forms — asserting that none answers 5xx. PostgreSQL refuses NUL in text, so a
//! string that reaches it unchecked shows here as a 500.

use base64::Engine;
use serde_json::{Value, json};

use crate::email::{SECRET, mailgun_signature, post_postmark};
use crate::helpers::{Backend, TestApp, both_backends};
use crate::tickets::{customer, ticket};

both_backends!(no_hostile_string_in_any_input_answers_5xx);

/// The strings, as bytes: some are not UTF-8 at all.
fn hostile() -> Vec<Vec<u8>> {
    vec![
        b"\0".to_vec(),
        b"a\0b".to_vec(),
        b"\xff\xfe".to_vec(),
        b"\xed\xa0\x80".to_vec(), // a lone surrogate, as UTF-8 would spell it
        "\u{202E}gnp.exe".as_bytes().to_vec(),
        "\u{200B}".as_bytes().to_vec(),
        b"\r\nBcc: x@example.org".to_vec(),
        b"../../etc/passwd".to_vec(),
        "é".repeat(8 * 1024).into_bytes(), // 16 KiB; percent-encoded it stays under the URI limit
    ]
}

/// A JSON string literal of `bytes`, raw when they are not UTF-8 (the body is then not
/// JSON, which must be a 4xx as well).
fn json_string(bytes: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::to_vec(text).unwrap(),
        Err(_) => [b"\"".as_slice(), bytes, b"\""].concat(),
    }
}

fn percent(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

fn assert_not_5xx(status: reqwest::StatusCode, what: &str) {
    assert!(!status.is_server_error(), "{what} answered {status}");
}

async fn no_hostile_string_in_any_input_answers_5xx(backend: Backend) {
    let mailgun_key = "mailgun-signing-key";
    let app = TestApp::builder(backend)
        .with_settings(|s| {
            s.email_inbound_secret = Some(SECRET.into());
            s.mailgun_signing_key = Some(mailgun_key.into());
        })
        .start()
        .await;
    let admin = app.admin_token().await;
    let customer_id = customer(&app, &admin, "ana@example.org").await;
    let other_id = customer(&app, &admin, "bo@example.org").await;
    let ticket_id = ticket(&app, &admin, json!({ "customer_id": customer_id, "subject": "Hi" })).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for definition in [
        json!({ "key": "hostile_text", "label": "Text", "kind": "text" }),
        json!({ "key": "hostile_list", "label": "List", "kind": "list", "options": ["a"] }),
        json!({ "key": "hostile_date", "label": "Date", "kind": "date" }),
    ] {
        assert_eq!(app.post_as("/v1/attribute-definitions", &admin, &definition).await.status(), 201);
    }

    // JSON fields: `{}` in the template is where the hostile string goes.
    let json_inputs: Vec<(reqwest::Method, String, String)> = vec![
        (
            reqwest::Method::POST,
            "/v1/customers".into(),
            r#"{"name":{},"identities":[{"kind":"email","value":"b@example.org"}]}"#.into(),
        ),
        (reqwest::Method::POST, "/v1/customers".into(), r#"{"identities":[{"kind":"email","value":{}}]}"#.into()),
        (reqwest::Method::POST, "/v1/customers".into(), r#"{"identities":[{"kind":"phone","value":{}}]}"#.into()),
        (reqwest::Method::POST, "/v1/customers".into(), r#"{"identities":[{"kind":{},"value":"x"}]}"#.into()),
        (reqwest::Method::PATCH, format!("/v1/customers/{customer_id}"), r#"{"name":{}}"#.into()),
        (
            reqwest::Method::POST,
            format!("/v1/customers/{customer_id}/identities"),
            r#"{"kind":"email","value":{}}"#.into(),
        ),
        (reqwest::Method::POST, "/v1/tickets".into(), format!(r#"{{"customer_id":"{customer_id}","subject":{{}}}}"#)),
        (
            reqwest::Method::POST,
            "/v1/tickets".into(),
            format!(r#"{{"customer_id":"{customer_id}","subject":"s","tags":[{{}}]}}"#),
        ),
        (reqwest::Method::POST, "/v1/tickets".into(), r#"{"customer_id":{},"subject":"s"}"#.into()),
        (reqwest::Method::PATCH, format!("/v1/tickets/{ticket_id}"), r#"{"subject":{}}"#.into()),
        (reqwest::Method::PATCH, format!("/v1/tickets/{ticket_id}"), r#"{"tags":[{}]}"#.into()),
        (reqwest::Method::PATCH, format!("/v1/tickets/{ticket_id}"), r#"{"status":{}}"#.into()),
        (reqwest::Method::POST, format!("/v1/tickets/{ticket_id}/replies"), r#"{"text":{}}"#.into()),
        (
            reqwest::Method::POST,
            format!("/v1/tickets/{ticket_id}/replies"),
            r#"{"text":"t","attachments":[{"id":{},"filename":"a","content_type":"a/b"}]}"#.into(),
        ),
        (reqwest::Method::POST, format!("/v1/tickets/{ticket_id}/notes"), r#"{"text":{}}"#.into()),
        (
            reqwest::Method::POST,
            "/v1/agents".into(),
            r#"{"email":"q@agents.example.org","name":{},"role":"agent","password":"a long enough password"}"#.into(),
        ),
        (
            reqwest::Method::POST,
            "/v1/agents".into(),
            r#"{"email":{},"name":"Q","role":"agent","password":"a long enough password"}"#.into(),
        ),
        (
            reqwest::Method::POST,
            "/v1/agents".into(),
            r#"{"email":"r@agents.example.org","name":"R","role":"agent","password":{}}"#.into(),
        ),
        (reqwest::Method::POST, "/v1/teams".into(), r#"{"name":{},"member_ids":[]}"#.into()),
        (reqwest::Method::POST, "/v1/api-keys".into(), r#"{"name":{},"scopes":["tickets:read"]}"#.into()),
        (reqwest::Method::POST, "/v1/api-keys".into(), r#"{"name":"k","scopes":[{}]}"#.into()),
        (reqwest::Method::POST, "/v1/attribute-definitions".into(), r#"{"key":{},"label":"L","kind":"text"}"#.into()),
        (reqwest::Method::POST, "/v1/attribute-definitions".into(), r#"{"key":"h1","label":{},"kind":"text"}"#.into()),
        (reqwest::Method::POST, "/v1/attribute-definitions".into(), r#"{"key":"h2","label":"L","kind":{}}"#.into()),
        (
            reqwest::Method::POST,
            "/v1/attribute-definitions".into(),
            r#"{"key":"h3","label":"L","kind":"list","options":[{}]}"#.into(),
        ),
        (
            reqwest::Method::POST,
            "/v1/attribute-definitions".into(),
            r#"{"key":"h4","label":"L","kind":"text","description":{}}"#.into(),
        ),
        (reqwest::Method::PATCH, "/v1/attribute-definitions/hostile_text".into(), r#"{"label":{}}"#.into()),
        (reqwest::Method::PUT, format!("/v1/customers/{customer_id}/attributes"), r#"{"values":{{}:"x"}}"#.into()),
        (
            reqwest::Method::PUT,
            format!("/v1/customers/{customer_id}/attributes"),
            r#"{"values":{"hostile_text":{}}}"#.into(),
        ),
        (
            reqwest::Method::PUT,
            format!("/v1/customers/{customer_id}/attributes"),
            r#"{"values":{"hostile_list":{}}}"#.into(),
        ),
        (
            reqwest::Method::PUT,
            format!("/v1/customers/{customer_id}/attributes"),
            r#"{"values":{"hostile_date":{}}}"#.into(),
        ),
        (reqwest::Method::POST, format!("/v1/customers/{customer_id}/notes"), r#"{"body":{}}"#.into()),
        (reqwest::Method::PUT, format!("/v1/customers/{customer_id}/preferences"), r#"{"language":{}}"#.into()),
        (reqwest::Method::PUT, format!("/v1/customers/{customer_id}/preferences"), r#"{"time_zone":{}}"#.into()),
        (reqwest::Method::PUT, format!("/v1/customers/{customer_id}/preferences"), r#"{"channel":{}}"#.into()),
        (
            reqwest::Method::POST,
            format!("/v1/customers/{customer_id}/merge"),
            r#"{"source_customer_id":{},"dry_run":true}"#.into(),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/customers/{customer_id}/merge"),
            format!(r#"{{"source_customer_id":"{other_id}","dry_run":true,"choices":{{{{}}:"source"}}}}"#),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/customers/{customer_id}/merge"),
            format!(r#"{{"source_customer_id":"{other_id}","dry_run":true,"choices":{{"name":{{}}}}}}"#),
        ),
        (reqwest::Method::POST, "/v1/auth/login".into(), r#"{"email":{},"password":"p"}"#.into()),
        (reqwest::Method::POST, "/v1/auth/login".into(), r#"{"email":"a@b.c","password":{}}"#.into()),
        (reqwest::Method::POST, "/v1/auth/refresh".into(), r#"{"refresh_token":{}}"#.into()),
    ];
    let queries = [
        "/v1/tickets?status={}",
        "/v1/tickets?assignee={}",
        "/v1/tickets?tag={}",
        "/v1/tickets?sort={}",
        "/v1/tickets?updated_since={}",
        "/v1/tickets?customer={}",
        "/v1/tickets?cursor={}",
        "/v1/customers?identity={}",
        "/v1/customers?name_prefix={}",
        "/v1/customers?cursor={}",
        "/v1/attribute-definitions/{}",
        "/v1/customers/{customer}/notes?cursor={}",
        "/v1/customers/{customer}/notes/{}",
        "/v1/customers/{customer}/context?recent={}",
        "/v1/merges/{}",
        "/v1/merge-suggestions?state={}",
        "/v1/merge-suggestions?customer_id={}",
        "/v1/merge-suggestions?cursor={}",
        "/v1/merge-suggestions/{}",
        "/v1/agents?cursor={}",
        "/v1/tickets/{}",
        "/v1/customers/{}",
        "/v1/messages/{}",
        "/v1/attachments/{}",
    ];
    for bytes in hostile() {
        let shown = String::from_utf8_lossy(&bytes).chars().take(20).collect::<String>();
        for (method, path, template) in &json_inputs {
            let (before, after) = template.split_once("{}").unwrap();
            let body = [before.as_bytes(), &json_string(&bytes), after.as_bytes()].concat();
            let response = app
                .request(method.clone(), path, &admin)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_not_5xx(response.status(), &format!("{method} {path} {template} with {shown:?}"));
        }
        for query in queries {
            let path = query.replace("{customer}", &customer_id).replace("{}", &percent(&bytes));
            let response = app.get_as(&path, &admin).await;
            assert_not_5xx(response.status(), &format!("GET {query} with {shown:?}"));
        }
        // A cursor that decodes, holding the string as its id.
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(json!({ "at": "2026-01-01T00:00:00Z", "id": text }).to_string());
            let response = app.get_as(&format!("/v1/tickets/{ticket_id}/messages?cursor={cursor}"), &admin).await;
            assert_not_5xx(response.status(), &format!("a cursor id of {shown:?}"));
        }
        // Headers (a header value may hold any byte but NUL, CR and LF).
        if let Ok(value) = reqwest::header::HeaderValue::from_bytes(&bytes) {
            let with_key = app
                .request(reqwest::Method::POST, "/v1/tickets", &admin)
                .header("idempotency-key", value.clone())
                .json(&json!({ "customer_id": customer_id, "subject": "k" }))
                .send()
                .await
                .unwrap();
            assert_not_5xx(with_key.status(), &format!("Idempotency-Key {shown:?}"));
            let if_match = app
                .request(reqwest::Method::PATCH, &format!("/v1/tickets/{ticket_id}"), &admin)
                .header("if-match", value.clone())
                .json(&json!({ "priority": "low" }))
                .send()
                .await
                .unwrap();
            assert_not_5xx(if_match.status(), &format!("If-Match {shown:?}"));
            let auth = app.client.get(app.url("/v1/tickets")).header("authorization", value).send().await.unwrap();
            assert_not_5xx(auth.status(), &format!("Authorization {shown:?}"));
        }
        email_inputs(&app, mailgun_key, &bytes, &shown).await;
    }
}

/// Every header and the body of a raw message, every field of Postmark's JSON, and the
/// provider forms.
async fn email_inputs(app: &TestApp, mailgun_key: &str, bytes: &[u8], shown: &str) {
    let n = uuid::Uuid::now_v7().simple().to_string();
    let headers = [
        "From",
        "From-address",
        "To",
        "Cc",
        "Reply-To",
        "Subject",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Date",
        "Content-Disposition",
    ];
    for header in headers {
        let value = match header {
            "From" | "Reply-To" | "To" | "Cc" => [b"\"".as_slice(), bytes, b"\" <h@example.org>"].concat(),
            "From-address" => [b"<a".as_slice(), bytes, b"@example.org>"].concat(),
            "Message-ID" | "In-Reply-To" | "References" => [b"<".as_slice(), bytes, b"@x>"].concat(),
            "Content-Disposition" => [b"attachment; filename=\"".as_slice(), bytes, b"\""].concat(),
            _ => bytes.to_vec(),
        };
        let mut raw = Vec::new();
        if !header.starts_with("From") {
            raw.extend_from_slice(b"From: h@example.org\r\n");
        }
        if header != "Message-ID" {
            raw.extend_from_slice(format!("Message-ID: <{n}-{header}@x>\r\n").as_bytes());
        }
        raw.extend_from_slice(format!("{}: ", header.trim_end_matches("-address")).as_bytes());
        raw.extend_from_slice(&value);
        raw.extend_from_slice(b"\r\nContent-Type: text/plain\r\n\r\nbody ");
        raw.extend_from_slice(bytes);
        raw.extend_from_slice(b"\r\n");
        let response = app
            .client
            .post(app.url("/v1/channels/email/inbound"))
            .bearer_auth(SECRET)
            .header("content-type", "message/rfc822")
            .body(raw.clone())
            .send()
            .await
            .unwrap();
        assert_not_5xx(response.status(), &format!("raw mail, {header} {shown:?}"));

        let token = format!("{n}-{header}");
        let now = chrono::Utc::now().timestamp().to_string();
        let form = reqwest::multipart::Form::new()
            .text("timestamp", now.clone())
            .text("token", token.clone())
            .text("signature", mailgun_signature(mailgun_key, &now, &token))
            .part("body-mime", reqwest::multipart::Part::bytes(raw.clone()));
        let response =
            app.client.post(app.url("/v1/channels/email/inbound/mailgun")).multipart(form).send().await.unwrap();
        assert_not_5xx(response.status(), &format!("Mailgun, {header} {shown:?}"));
        let form = reqwest::multipart::Form::new().part("email", reqwest::multipart::Part::bytes(raw));
        let response = app
            .client
            .post(app.url("/v1/channels/email/inbound/sendgrid"))
            .bearer_auth(SECRET)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_not_5xx(response.status(), &format!("SendGrid, {header} {shown:?}"));
    }
    // Mailgun's own fields.
    for field in ["timestamp", "token", "signature"] {
        let mut form = reqwest::multipart::Form::new()
            .part("body-mime", reqwest::multipart::Part::bytes(b"From: a@b.c\r\n\r\nx".to_vec()));
        for other in ["timestamp", "token", "signature"] {
            form = if other == field {
                form.part(other, reqwest::multipart::Part::bytes(bytes.to_vec()))
            } else {
                form.text(other, "1")
            };
        }
        let response =
            app.client.post(app.url("/v1/channels/email/inbound/mailgun")).multipart(form).send().await.unwrap();
        assert_not_5xx(response.status(), &format!("Mailgun {field} {shown:?}"));
    }
    // Postmark: every field in turn.
    let Ok(text) = std::str::from_utf8(bytes) else {
        let response = app
            .client
            .post(app.url("/v1/channels/email/inbound/postmark"))
            .bearer_auth(SECRET)
            .header("content-type", "application/json")
            .body([br#"{"MessageID":""#.as_slice(), bytes, b"\"}"].concat())
            .send()
            .await
            .unwrap();
        assert_not_5xx(response.status(), &format!("Postmark, not UTF-8 {shown:?}"));
        return;
    };
    let base = || {
        json!({
            "FromFull": { "Email": "p@example.org", "Name": "P" }, "ToFull": [{ "Email": "s@braid.test", "Name": "" }],
            "Subject": "S", "MessageID": format!("{n}-pm"), "TextBody": "T", "HtmlBody": "<p>H</p>", "Date": "Mon, 30 Nov 2026 07:00:00 +0000",
            "From": "p@example.org", "ReplyTo": "",
            "Headers": [{ "Name": "Message-ID", "Value": format!("<{n}-pm@x>") }],
            "Attachments": [{ "Name": "a.txt", "Content": "aGk=", "ContentType": "text/plain", "ContentID": "" }]
        })
    };
    let pointers = [
        "/FromFull/Email",
        "/FromFull/Name",
        "/ToFull/0/Email",
        "/ToFull/0/Name",
        "/Subject",
        "/MessageID",
        "/TextBody",
        "/HtmlBody",
        "/Date",
        "/From",
        "/ReplyTo",
        "/Headers/0/Value",
        "/Headers/0/Name",
        "/Attachments/0/Name",
        "/Attachments/0/ContentType",
        "/Attachments/0/ContentID",
    ];
    for (i, pointer) in pointers.iter().enumerate() {
        let mut json = base();
        *json.pointer_mut(pointer).unwrap() = Value::String(text.to_owned());
        if *pointer != "/MessageID" {
            json["MessageID"] = json!(format!("{n}-pm-{i}"));
            json["Headers"][0]["Value"] = json!(format!("<{n}-pm-{i}@x>"));
            if *pointer == "/Headers/0/Value" {
                json["Headers"][0]["Value"] = json!(text);
            }
        }
        let response = post_postmark(app, &json).await;
        assert_not_5xx(response.status(), &format!("Postmark {pointer} {shown:?}"));
    }
}
