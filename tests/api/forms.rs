//! The web form channel end to end: an admin registers a form, a page posts it (JSON from a
//! script, URL-encoded or multipart from a plain HTML form), spam and bad input are refused
//! storing nothing, and the typed email is a claim: the message joins that address's
//! customer unverified, the agent's answer goes there by email (a real SMTP server), and the
//! owner's answer to it proves the address.

use std::time::Duration;

use serde_json::{Value, json};

use crate::email_replies::{app_with_smtp, delivery_state};
use crate::helpers::{Backend, TestApp, both_backends};
use crate::smtp::SmtpSink;
use crate::webhooks::{Receiver, Reply};

both_backends!(
    a_submission_joins_the_typed_emails_customer_unverified_and_shows_the_submitter_nothing,
    the_answer_goes_by_email_to_the_typed_address_and_the_owners_answer_verifies_it,
    plain_html_forms_are_redirected_and_scripts_get_json,
    spam_is_refused_and_stores_nothing,
    origins_rates_sizes_and_bad_bodies_are_refused_and_store_nothing,
    a_captcha_is_checked_with_its_provider_and_an_outage_loses_nothing,
    one_busy_form_is_limited_alone,
);

const ORIGIN: &str = "https://shop.example";

struct Form {
    id: String,
    key: String,
}

async fn create_form(app: &TestApp, admin: &str, body: Value) -> Form {
    let response = app.post_as("/v1/forms", admin, &body).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    assert!(created["form_key"].as_str().unwrap().starts_with("form_"));
    Form { id: created["id"].as_str().unwrap().to_owned(), key: created["form_key"].as_str().unwrap().to_owned() }
}

/// A form without a fill time (so a script may post at once).
async fn quick_form(app: &TestApp, admin: &str) -> Form {
    create_form(app, admin, json!({"name": "Contact", "allowed_origins": [ORIGIN], "min_fill_secs": 0})).await
}

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn post(app: &TestApp, form: &Form) -> reqwest::RequestBuilder {
    browser().post(app.url(&format!("/forms/v1/{}", form.key))).header("origin", ORIGIN)
}

async fn submit(app: &TestApp, form: &Form, body: Value) -> (u16, Value) {
    let response = post(app, form).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The web form messages stored, oldest first.
async fn stored(app: &TestApp) -> Vec<(String, String)> {
    use braid_db::schema::messages;
    use diesel::prelude::*;
    app.with_db(|conn| {
        Ok(messages::table
            .filter(messages::channel.eq("web_form"))
            .order(messages::created_at.asc())
            .select((messages::id, messages::body_text))
            .load::<(String, String)>(conn)?)
    })
    .await
}

async fn message(app: &TestApp, admin: &str, id: &str) -> Value {
    app.get_as(&format!("/v1/messages/{id}"), admin).await.json().await.unwrap()
}

async fn customer_with(app: &TestApp, admin: &str, emails: &[&str]) -> String {
    let identities: Vec<Value> = emails.iter().map(|e| json!({"kind": "email", "value": e})).collect();
    let response = app.post_as("/v1/customers", admin, &json!({"name": "Ana", "identities": identities})).await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn a_submission_joins_the_typed_emails_customer_unverified_and_shows_the_submitter_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let form = create_form(
        &app,
        &admin,
        json!({"name": "Contact", "allowed_origins": [ORIGIN], "min_fill_secs": 0,
               "fields": [{"name": "order-number", "required": true}, {"name": "product"}]}),
    )
    .await;
    let ana = customer_with(&app, &admin, &["ana@example.org"]).await;

    let body = json!({"name": "Someone", "email": "Ana@Example.org", "subject": "Order late",
                      "message": "Where is my order?", "order-number": "1042", "unknown": "ignored"});
    let (status, answer) = submit(&app, &form, body.clone()).await;
    assert_eq!((status, &answer), (201, &json!({"status": "received"})), "the submitter learns nothing else");

    let kept = stored(&app).await;
    assert_eq!(kept.len(), 1);
    let placed = message(&app, &admin, &kept[0].0).await;
    assert_eq!(placed["channel"], "web_form");
    assert_eq!(placed["placement"][0]["rule"], "claimed_sender");
    assert_eq!(placed["placement"][0]["value"], "ana@example.org");
    assert_eq!(placed["placement"][1]["rule"], "known_identity");
    assert_eq!(placed["details"]["sender_verified"], false);
    assert_eq!(placed["details"]["fields"], json!({"order-number": "1042"}));
    assert_eq!(placed["details"]["origin"], ORIGIN);
    let ticket: Value = app
        .get_as(&format!("/v1/tickets/{}", placed["ticket_id"].as_str().unwrap()), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ticket["customer_id"], ana.as_str(), "the message joined the address's customer");
    assert_eq!(ticket["subject"], "Order late");
    assert_eq!(ticket["channel"], "web_form");
    let profile: Value = app.get_as(&format!("/v1/customers/{ana}"), &admin).await.json().await.unwrap();
    assert_eq!(profile["name"], "Ana", "a typed name changes nobody's profile");

    // Whether the address is a customer's or nobody's, the answer is the same.
    let answer_to = |email: &str| {
        let request = post(&app, &form).json(&json!({"email": email, "message": "Same words", "order-number": "1"}));
        async move {
            let response = request.send().await.unwrap();
            let mut headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .filter(|(name, _)| !["date", "x-request-id", "content-length"].contains(&name.as_str()))
                .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
                .collect();
            headers.sort();
            (response.status(), headers, response.text().await.unwrap())
        }
    };
    assert_eq!(answer_to("ana@example.org").await, answer_to("nobody-yet@example.org").await);
    assert_eq!(stored(&app).await.len(), 3);

    // The same submission again (a double click) is one message.
    let (status, answer) = submit(&app, &form, body).await;
    assert_eq!((status, answer), (200, json!({"status": "received"})));
    assert_eq!(stored(&app).await.len(), 3);

    // A required declared field left out is refused; a new address is a new customer,
    // holding it as a claim typed into a form.
    let (status, problem) =
        submit(&app, &form, json!({"email": "new@example.org", "message": "Hi", "order-number": "  "})).await;
    assert_eq!((status, &problem["extra"]["field"]), (422, &json!("order-number")), "{problem}");
    let (status, _) =
        submit(&app, &form, json!({"email": "new@example.org", "message": "Hi", "order-number": "7"})).await;
    assert_eq!(status, 201);
    let kept = stored(&app).await;
    let placed = message(&app, &admin, &kept[3].0).await;
    assert_eq!(placed["placement"][1]["rule"], "new_customer");
    let ticket: Value = app
        .get_as(&format!("/v1/tickets/{}", placed["ticket_id"].as_str().unwrap()), &admin)
        .await
        .json()
        .await
        .unwrap();
    let newcomer: Value = app
        .get_as(&format!("/v1/customers/{}", ticket["customer_id"].as_str().unwrap()), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(newcomer["identities"][0]["value"], "new@example.org");
    assert_eq!(newcomer["identities"][0]["trust"], "claimed");
    assert_eq!(newcomer["identities"][0]["trust_source"], "form");
    assert_eq!(ticket["subject"], "Hi", "no subject: the message's first line");
}

async fn the_answer_goes_by_email_to_the_typed_address_and_the_owners_answer_verifies_it(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, sink.url()).await;
    let admin = app.admin_token().await;
    let form = quick_form(&app, &admin).await;
    // The customer holds two addresses; the form names the second.
    let ana = customer_with(&app, &admin, &["ana@work.example", "ana@home.example"]).await;
    let typed = json!({"name": "Someone Else", "email": "ana@home.example", "message": "Hello from the form"});
    let (status, _) = submit(&app, &form, typed).await;
    assert_eq!(status, 201);
    let placed = message(&app, &admin, &stored(&app).await[0].0).await;
    let ticket = placed["ticket_id"].as_str().unwrap().to_owned();

    let asked = json!({"text": "Hi", "channel": "web_form"});
    let refused = app.post_as(&format!("/v1/tickets/{ticket}/replies"), &admin, &asked).await;
    assert_eq!(refused.status(), 422, "a web form carries no replies");
    let reply = app.post_as(&format!("/v1/tickets/{ticket}/replies"), &admin, &json!({"text": "We are on it"})).await;
    assert_eq!(reply.status(), 201);
    let reply: Value = reply.json().await.unwrap();
    assert_eq!(reply["channel"], "email", "the default for a web form's customer");
    let sent = delivery_state(&app, &admin, &ticket, reply["id"].as_str().unwrap()).await;
    assert_eq!(sent["delivery_state"], "sent");
    let mail = String::from_utf8_lossy(&sink.wait_for(1, Duration::from_secs(10)).await[0]).into_owned();
    let to = mail.lines().find(|l| l.starts_with("To: ")).unwrap();
    assert!(to.contains("ana@home.example"), "the typed address, not another of the customer's: {to}");
    assert!(to.contains("Ana") && !to.contains("Someone Else"), "the owner is greeted by their own name: {to}");

    // The identity was Ana's own, unproven: her answer to our mail proves it.
    let trust = || async {
        let profile: Value = app.get_as(&format!("/v1/customers/{ana}"), &admin).await.json().await.unwrap();
        let home = profile["identities"].as_array().unwrap().iter().find(|i| i["value"] == "ana@home.example").cloned();
        home.map(|i| (i["trust"].as_str().unwrap().to_owned(), i["trust_source"].as_str().unwrap().to_owned()))
    };
    assert_eq!(trust().await.unwrap().0, "claimed");
    let answer = format!(
        "From: Ana <ana@home.example>\r\nSubject: Re: Hello\r\nMessage-ID: <a2@home.example>\r\nIn-Reply-To: {}\r\n\r\nthanks\r\n",
        sent["channel_ref"].as_str().unwrap()
    );
    assert!(crate::email::post_raw(&app, answer.as_bytes()).await.status().is_success());
    assert_eq!(trust().await.unwrap(), ("verified".to_owned(), "email_round_trip".to_owned()));
}

async fn plain_html_forms_are_redirected_and_scripts_get_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let thanks = "https://shop.example/thanks?from=form";
    let form = create_form(
        &app,
        &admin,
        json!({"name": "Contact", "allowed_origins": [ORIGIN], "redirect_url": thanks, "min_fill_secs": 0}),
    )
    .await;
    let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

    // A browser posting a plain form, named as Contact Form 7 names its fields.
    let fields = [("your-name", "Bo"), ("your-email", "bo@example.org"), ("your-message", "Hello"), ("_gotcha", "")];
    let response = post(&app, &form).header("accept", html).form(&fields).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], thanks);
    assert_eq!(stored(&app).await.len(), 1);
    let refused = post(&app, &form).header("accept", html).form(&[("email", "bo@example.org")]).send().await.unwrap();
    assert_eq!(refused.status(), 303);
    assert_eq!(
        refused.headers()["location"],
        "https://shop.example/thanks?from=form&error=validation_failed",
        "a failure says so in the redirect"
    );

    // Multipart with a file, and a file input left empty.
    let upload = reqwest::multipart::Form::new()
        .text("email", "cy@example.org")
        .text("message", "See the photo")
        .part(
            "photo",
            reqwest::multipart::Part::bytes(b"\x89PNG not really".to_vec())
                .file_name("../../photo.png")
                .mime_str("image/png")
                .unwrap(),
        )
        .part("other", reqwest::multipart::Part::bytes(Vec::new()).file_name(""));
    let response = post(&app, &form).header("accept", html).multipart(upload).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let kept = stored(&app).await;
    assert_eq!(kept.len(), 2);
    let placed = message(&app, &admin, &kept[1].0).await;
    let files = placed["details"]["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!((&files[0]["filename"], &files[0]["content_type"]), (&json!("photo.png"), &json!("image/png")));
    let download = app.get_as(&format!("/v1/attachments/{}", files[0]["id"].as_str().unwrap()), &admin).await;
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"\x89PNG not really");

    // A page in Latin-1 sends its text so; a hundred and one fields are too many.
    let latin = reqwest::multipart::Form::new()
        .text("email", "zoe@example.org")
        .part("message", reqwest::multipart::Part::bytes(b"Ol\xe1, pre\xe7o?".to_vec()));
    assert_eq!(post(&app, &form).multipart(latin).send().await.unwrap().status(), 201);
    let kept = stored(&app).await;
    assert_eq!(kept.last().unwrap().1, "Olá, preço?");
    let mut parts = reqwest::multipart::Form::new();
    for i in 0..101 {
        parts = parts.text(format!("f{i}"), "");
    }
    let response = post(&app, &form).multipart(parts).send().await.unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(response.json::<Value>().await.unwrap()["extra"]["field"], "fields");

    // Without a redirect URL a browser gets a page of ours; a script always gets JSON.
    let plain = quick_form(&app, &admin).await;
    let response = post(&app, &plain)
        .header("accept", html)
        .form(&[("email", "dee@example.org"), ("message", "Hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(response.text().await.unwrap().contains("received"));
    let response =
        post(&app, &form).form(&[("email", "eve@example.org"), ("message", "From a script")]).send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    let problem = post(&app, &form).json(&json!({"message": "no email"})).send().await.unwrap();
    assert_eq!(problem.status(), 422);
    assert_eq!(problem.headers()["content-type"], "application/problem+json");
    assert_eq!(problem.headers()["access-control-allow-origin"], ORIGIN, "the page's script can read why");
    assert_eq!(problem.json::<Value>().await.unwrap()["extra"]["field"], "email");
}

async fn spam_is_refused_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let form =
        create_form(&app, &admin, json!({"name": "Contact", "allowed_origins": [ORIGIN], "min_fill_secs": 5})).await;
    let other = quick_form(&app, &admin).await;
    let token_of = |form: &Form| {
        let url = app.url(&format!("/forms/v1/{}/token", form.key));
        async move {
            let response = browser().get(url).header("origin", ORIGIN).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["cache-control"], "no-store");
            let token: Value = response.json().await.unwrap();
            assert_eq!(token["honeypot"], "_gotcha");
            token["token"].as_str().unwrap().to_owned()
        }
    };
    let message = |token: Option<&str>| {
        let mut body = json!({"email": "fay@example.org", "message": "Buy cheap watches"});
        if let Some(token) = token {
            body["_token"] = token.into();
        }
        body
    };
    let refused = |answer: (u16, Value)| {
        assert_eq!((answer.0, &answer.1["code"]), (422, &json!("spam_suspected")), "{}", answer.1);
        answer.1["extra"]["reason"].as_str().map(str::to_owned)
    };

    assert_eq!(refused(submit(&app, &form, message(None)).await).as_deref(), Some("token_missing"));
    let early = token_of(&form).await;
    assert_eq!(refused(submit(&app, &form, message(Some(&early))).await).as_deref(), Some("too_fast"));
    let elsewhere = token_of(&other).await;
    assert_eq!(refused(submit(&app, &form, message(Some(&elsewhere))).await).as_deref(), Some("token_invalid"));
    let (signed, signature) = early.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let forged = format!("{signed}.{flipped}{}", &signature[1..]);
    assert_eq!(refused(submit(&app, &form, message(Some(&forged))).await).as_deref(), Some("token_invalid"));
    tokio::time::sleep(Duration::from_millis(5100)).await;
    let mut bot = message(Some(&early));
    bot["_gotcha"] = "http://cheap.example".into();
    assert_eq!(refused(submit(&app, &form, bot).await), None, "a bot is not told what gave it away");
    assert!(stored(&app).await.is_empty(), "spam stores nothing");

    // The same token, now old enough, from a person.
    let (status, _) = submit(&app, &form, message(Some(&early))).await;
    assert_eq!(status, 201);
    assert_eq!(stored(&app).await.len(), 1);
}

async fn origins_rates_sizes_and_bad_bodies_are_refused_and_store_nothing(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_settings(|s| {
            s.form_submissions_per_minute = 14;
            s.form_max_bytes = 4096;
            s.form_max_attachments = 1;
        })
        .start()
        .await;
    let admin = app.admin_token().await;
    let form = quick_form(&app, &admin).await;
    let url = app.url(&format!("/forms/v1/{}", form.key));
    let good = json!({"email": "gus@example.org", "message": "Hi"});

    // Origins: another page, none at all; and keys that name no enabled form.
    let elsewhere = browser().post(&url).header("origin", "https://evil.example").json(&good).send().await.unwrap();
    assert_eq!(elsewhere.status(), 403);
    assert!(elsewhere.headers().get("access-control-allow-origin").is_none());
    assert_eq!(browser().post(&url).json(&good).send().await.unwrap().status(), 403);
    let unknown = browser().post(app.url("/forms/v1/form_nope")).header("origin", ORIGIN).json(&good).send().await;
    assert_eq!(unknown.unwrap().status(), 404);
    let nul = browser().post(app.url("/forms/v1/form%00x")).header("origin", ORIGIN).json(&good).send().await;
    assert_eq!(nul.unwrap().status(), 404);
    let preflight = browser()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], ORIGIN);

    // Bodies: too large, the wrong type, not JSON, nested values, too many files.
    let (status, _) = submit(&app, &form, json!({"email": "gus@example.org", "message": "x".repeat(5000)})).await;
    assert_eq!(status, 413);
    let typed = post(&app, &form).header("content-type", "text/plain").body("email=gus").send().await.unwrap();
    assert_eq!(typed.status(), 415);
    let broken = post(&app, &form).header("content-type", "application/json").body("{\"email\":").send().await;
    assert_eq!(broken.unwrap().status(), 400);
    let (status, problem) = submit(&app, &form, json!({"email": ["gus@example.org"], "message": "Hi"})).await;
    assert_eq!((status, &problem["extra"]["field"]), (422, &json!("email")));
    let (status, _) = submit(&app, &form, json!({"email": "gus@example.org", "message": "Hi\u{0}there"})).await;
    assert_eq!(status, 422);
    let files = reqwest::multipart::Form::new()
        .text("email", "gus@example.org")
        .text("message", "two files")
        .part("a", reqwest::multipart::Part::bytes(b"a".to_vec()).file_name("a.txt"))
        .part("b", reqwest::multipart::Part::bytes(b"b".to_vec()).file_name("b.txt"));
    let (status, problem) = {
        let response = post(&app, &form).multipart(files).send().await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!((status.as_u16(), &problem["extra"]["field"]), (422, &json!("attachments")));
    let nul = post(&app, &form).form(&[("email", "gus@example.org"), ("message", "a\u{0}b")]).send().await.unwrap();
    assert_eq!(nul.status(), 422);
    // A part whose headers never end.
    let endless = format!("--b\r\nContent-Disposition: form-data; name=\"x\"\r\nX-Pad: {}", "p".repeat(8000));
    let response =
        post(&app, &form).header("content-type", "multipart/form-data; boundary=b").body(endless).send().await;
    assert_eq!(response.unwrap().status(), 413);
    assert!(stored(&app).await.is_empty(), "nothing refused was stored");
    let clash = json!({"name": "C", "allowed_origins": [ORIGIN], "honeypot": "order", "fields": [{"name": "order"}]});
    assert_eq!(app.post_as("/v1/forms", &admin, &clash).await.status(), 422, "a honeypot people would fill in");

    // A disabled form is as unknown as none.
    let path = format!("/v1/forms/{}", form.id);
    assert_eq!(app.patch_as(&path, &admin, &json!({"enabled": false})).await.status(), 200);
    assert_eq!(submit(&app, &form, good.clone()).await.0, 404);
    assert_eq!(app.patch_as(&path, &admin, &json!({"enabled": true})).await.status(), 200);

    // Rates: every post from the address counts, refused or not (13 so far, of 14 a
    // minute); the limiter refills one every five seconds, so a slow machine may get one
    // or two more through, never twenty.
    let mut accepted = 0;
    let limited = loop {
        let body = json!({"email": "gus@example.org", "message": format!("Hi {accepted}")});
        let response = post(&app, &form).json(&body).send().await.unwrap();
        match response.status().as_u16() {
            201 => accepted += 1,
            429 => break response,
            other => panic!("{other}"),
        }
        assert!(accepted < 8, "the address is never limited");
    };
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(limited.json::<Value>().await.unwrap()["code"], "rate_limited");
    assert_eq!(stored(&app).await.len(), accepted, "what was accepted, and only that, is stored");
}

async fn a_captcha_is_checked_with_its_provider_and_an_outage_loses_nothing(backend: Backend) {
    let mut provider = Receiver::start().await;
    let verify_url = provider.url();
    let app = TestApp::builder(backend)
        .with_settings(move |s| {
            s.form_captcha_secret = Some("captcha-secret".into());
            s.form_captcha_verify_url = verify_url;
        })
        .start()
        .await;
    let admin = app.admin_token().await;
    let form = quick_form(&app, &admin).await;
    let body = |answer: Option<&str>| {
        let mut body = json!({"email": "hal@example.org", "message": "Hello"});
        if let Some(answer) = answer {
            body["cf-turnstile-response"] = answer.into();
        }
        body
    };

    let (status, problem) = submit(&app, &form, body(None)).await;
    assert_eq!((status, &problem["extra"]["reason"]), (422, &json!("captcha_missing")));
    provider.answer_next([Reply::Json(r#"{"success": false, "error-codes": ["invalid-input-response"]}"#)]);
    let (status, problem) = submit(&app, &form, body(Some("a-bad-answer"))).await;
    assert_eq!((status, &problem["extra"]["reason"]), (422, &json!("captcha_failed")));
    assert!(stored(&app).await.is_empty());

    provider.answer_next([Reply::Json(r#"{"success": true}"#)]);
    let (status, _) = submit(&app, &form, body(Some("a-good-answer"))).await;
    assert_eq!(status, 201);
    let asked = String::from_utf8(provider.got().last().unwrap().body.clone()).unwrap();
    assert!(asked.contains("secret=captcha-secret") && asked.contains("response=a-good-answer"), "{asked}");
    assert!(asked.contains("remoteip=127.0.0.1"), "{asked}");

    // A double click: the provider takes an answer once, so the repeat is not asked about.
    let asked_before = provider.got().len();
    let (status, _) = submit(&app, &form, body(Some("a-good-answer"))).await;
    assert_eq!((status, provider.got().len()), (200, asked_before));
    // An answer no provider would take is not sent; one it cannot read is refused.
    let other = |answer: &str| {
        let mut other = body(Some(answer));
        other["message"] = "Something else".into();
        other
    };
    let (status, problem) = submit(&app, &form, other(&"x".repeat(3000))).await;
    assert_eq!(
        (status, &problem["extra"]["reason"], provider.got().len()),
        (422, &json!("captcha_failed"), asked_before)
    );
    provider.answer_next([Reply::Status(400)]);
    let (status, problem) = submit(&app, &form, other("unreadable")).await;
    assert_eq!((status, &problem["extra"]["reason"]), (422, &json!("captcha_failed")));
    assert_eq!(stored(&app).await.len(), 1);

    // The provider down: the submission is kept, and agents see the check did not run.
    provider.down().await;
    let mut again = body(Some("another-answer"));
    again["message"] = "Hello again".into();
    let (status, _) = submit(&app, &form, again).await;
    assert_eq!(status, 201);
    // Our secret refused by the provider is our mistake, not the submitter's: kept too.
    provider.up().await;
    provider.answer_next([Reply::Json(r#"{"success": false, "error-codes": ["invalid-input-secret"]}"#)]);
    let mut third = body(Some("yet-another-answer"));
    third["message"] = "Hello a third time".into();
    assert_eq!(submit(&app, &form, third).await.0, 201);
    let kept = stored(&app).await;
    assert_eq!(kept.len(), 3);
    assert_eq!(message(&app, &admin, &kept[0].0).await["details"]["captcha"], "passed");
    assert_eq!(message(&app, &admin, &kept[1].0).await["details"]["captcha"], "unavailable");
    assert_eq!(message(&app, &admin, &kept[2].0).await["details"]["captcha"], "unavailable");
}

async fn one_busy_form_is_limited_alone(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_settings(|s| {
            s.form_submissions_per_minute = 0;
            s.form_form_submissions_per_minute = 3;
        })
        .start()
        .await;
    let admin = app.admin_token().await;
    let (busy, quiet) = (quick_form(&app, &admin).await, quick_form(&app, &admin).await);
    let body = |n: usize| json!({"email": format!("p{n}@example.org"), "message": format!("Hello {n}")});
    // Three a minute, refilled one every twenty seconds: a slow machine gets one more at most.
    let mut accepted = 0;
    loop {
        match submit(&app, &busy, body(accepted)).await {
            (201, _) => accepted += 1,
            (429, problem) => {
                assert_eq!(problem["code"], "rate_limited");
                break;
            }
            (other, problem) => panic!("{other} {problem}"),
        }
        assert!(accepted <= 4, "the form is never limited");
    }
    assert!(accepted >= 3, "{accepted}");
    assert_eq!(submit(&app, &quiet, body(99)).await.0, 201, "another form is not held up");
    assert_eq!(stored(&app).await.len(), accepted + 1);
}
