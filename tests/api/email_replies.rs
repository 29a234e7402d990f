//! Email out: agent replies go through the outbox to a real SMTP server, thread in the
//! customer's mail client, come back into the same ticket, and survive SMTP being down.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, both_backends};
use crate::smtp::{SmtpSink, free_port};

both_backends!(
    a_customer_email_an_agent_reply_and_the_customers_answer_stay_one_ticket,
    a_reply_queued_while_smtp_is_down_is_delivered_once_when_it_is_back,
    a_permanent_refusal_marks_the_reply_failed_with_the_servers_answer,
    a_bounce_marks_the_reply_it_returns_as_failed_and_opens_no_ticket,
    an_answer_to_the_signed_reply_to_address_joins_the_ticket_from_any_address,
    a_new_email_ticket_is_acknowledged_but_automated_mail_never_is,
    a_reply_carries_its_attachments,
);

use crate::email::SECRET;

pub async fn app_with_smtp(backend: Backend, smtp_url: String) -> TestApp {
    TestApp::builder(backend)
        .with_settings(|s| {
            s.email_inbound_secret = Some(SECRET.into());
            s.smtp_url = Some(smtp_url);
            s.support_address = "support@braid.test".into();
            s.smtp_retry_base_secs = 1;
        })
        .start()
        .await
}

async fn post_raw(app: &TestApp, raw: &[u8]) -> Value {
    let response = crate::email::post_raw(app, raw).await;
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

/// Posts a first email from `from`, and an agent's reply to its ticket: (ticket, reply).
pub async fn email_and_reply(app: &TestApp, token: &str, from: &str) -> (String, Value) {
    let raw = format!("From: {from}\r\nSubject: Hi\r\nMessage-ID: <first.{from}>\r\n\r\nhello\r\n");
    let first = post_raw(app, raw.as_bytes()).await;
    let ticket = first["ticket_id"].as_str().unwrap().to_owned();
    let reply = app.post_as(&format!("/v1/tickets/{ticket}/replies"), token, &json!({ "text": "Hello back" })).await;
    assert_eq!(reply.status(), 201);
    (ticket, reply.json().await.unwrap())
}

/// A delivery report (DSN) from a mailer daemon returning the mail whose `headers` it quotes.
pub fn dsn_returning(headers: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.example.org\r\nTo: support@braid.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <dsn-1@mx.example.org>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n\
--r\r\nContent-Type: text/plain\r\n\r\n550 5.1.1 gone@example.org: user unknown\r\n\
--r\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
--r\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n--r--\r\n"
    )
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .find(|line| line.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase())))
        .map(|line| line[name.len() + 1..].trim())
}

/// Polls the message's delivery state until it is not `queued` any more.
pub async fn delivery_state(app: &TestApp, token: &str, ticket: &str, message: &str) -> Value {
    for _ in 0..150 {
        let page: Value =
            app.get_as(&format!("/v1/tickets/{ticket}/messages?limit=200"), token).await.json().await.unwrap();
        let found = page["data"].as_array().unwrap().iter().find(|m| m["id"] == message).cloned().unwrap();
        if found["delivery_state"] != "queued" {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the reply stayed queued");
}

async fn a_customer_email_an_agent_reply_and_the_customers_answer_stay_one_ticket(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, sink.url()).await;
    let token = app.agent_token("agent").await;

    let first = post_raw(
        &app,
        b"From: Cy Ode <cy@example.org>\r\nTo: support@braid.test\r\nSubject: Broken zipper\r\n\
Message-ID: <c1@mail.example.org>\r\n\r\nMy zipper broke.\r\n",
    )
    .await;
    let ticket = first["ticket_id"].as_str().unwrap();
    let reply = app
        .post_as(&format!("/v1/tickets/{ticket}/replies"), &token, &json!({ "text": "Send it back, we fix it." }))
        .await;
    assert_eq!(reply.status(), 201);
    let reply: Value = reply.json().await.unwrap();
    assert_eq!(reply["channel"], "email", "the channel the customer used");

    let sent = delivery_state(&app, &token, ticket, reply["id"].as_str().unwrap()).await;
    assert_eq!(sent["delivery_state"], "sent");
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1);
    let mail = String::from_utf8_lossy(&mails[0]).into_owned();
    let number = app.get_as(&format!("/v1/tickets/{ticket}"), &token).await.json::<Value>().await.unwrap()["number"]
        .as_i64()
        .unwrap();
    assert_eq!(header(&mail, "To"), Some("\"Cy Ode\" <cy@example.org>").or(header(&mail, "To")));
    assert!(header(&mail, "To").unwrap().contains("cy@example.org"));
    assert!(header(&mail, "From").unwrap().contains("support@braid.test"));
    assert_eq!(header(&mail, "Subject"), Some(format!("Re: Broken zipper [#{number}]").as_str()));
    assert_eq!(header(&mail, "In-Reply-To"), Some("<c1@mail.example.org>"));
    assert_eq!(header(&mail, "References"), Some("<c1@mail.example.org>"));
    let our_id = header(&mail, "Message-ID").unwrap().to_owned();
    assert_eq!(sent["channel_ref"], our_id.as_str(), "the message records the Message-ID it was sent with");
    assert!(mail.to_ascii_lowercase().contains("x-braid-loop: 1"));

    // The customer answers from their client, which quotes our headers back.
    let answer = format!(
        "From: Cy Ode <cy@example.org>\r\nTo: support@braid.test\r\nSubject: Re: Broken zipper [#{number}]\r\n\
Message-ID: <c2@mail.example.org>\r\nIn-Reply-To: {our_id}\r\nReferences: <c1@mail.example.org> {our_id}\r\n\r\nThanks, sent!\r\n"
    );
    let second = post_raw(&app, answer.as_bytes()).await;
    assert_eq!(second["ticket_id"], ticket, "same ticket");
    assert_eq!(second["customer_id"], first["customer_id"], "same thread");
    let thread: Value = app
        .get_as(&format!("/v1/customers/{}/thread", first["customer_id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    let directions: Vec<&str> =
        thread["data"].as_array().unwrap().iter().map(|m| m["direction"].as_str().unwrap()).collect();
    assert_eq!(directions, ["inbound", "outbound", "inbound"]);
    assert_eq!(thread["data"][2]["placement"][1]["source"], "in_reply_to", "it threaded by our Message-ID");
}

async fn a_reply_queued_while_smtp_is_down_is_delivered_once_when_it_is_back(backend: Backend) {
    let port = free_port();
    let app = app_with_smtp(backend, format!("smtp://127.0.0.1:{port}")).await;
    let token = app.agent_token("agent").await;
    let first = post_raw(&app, b"From: dee@example.org\r\nSubject: Hi\r\nMessage-ID: <d1@x>\r\n\r\nhello\r\n").await;
    let ticket = first["ticket_id"].as_str().unwrap();
    let reply: Value = app
        .post_as(&format!("/v1/tickets/{ticket}/replies"), &token, &json!({ "text": "Hello back" }))
        .await
        .json()
        .await
        .unwrap();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let page: Value = app.get_as(&format!("/v1/tickets/{ticket}/messages"), &token).await.json().await.unwrap();
    assert_eq!(page["data"][1]["delivery_state"], "queued", "nothing listens yet: it waits, it does not fail");

    let sink = SmtpSink::start_on(port);
    let sent = delivery_state(&app, &token, ticket, reply["id"].as_str().unwrap()).await;
    assert_eq!(sent["delivery_state"], "sent");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.received().len(), 1, "delivered once, not once per retry");
}

async fn a_permanent_refusal_marks_the_reply_failed_with_the_servers_answer(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, sink.url()).await;
    let token = app.agent_token("agent").await;
    let (ticket, reply) = email_and_reply(&app, &token, "reject@example.org").await;
    let failed = delivery_state(&app, &token, &ticket, reply["id"].as_str().unwrap()).await;
    assert_eq!(failed["delivery_state"], "failed");
    assert!(failed["details"]["delivery_error"].as_str().unwrap().contains("550"), "{}", failed["details"]);
    assert!(sink.received().is_empty());
}

async fn a_bounce_marks_the_reply_it_returns_as_failed_and_opens_no_ticket(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, sink.url()).await;
    let token = app.agent_token("agent").await;
    let (ticket, reply) = email_and_reply(&app, &token, "gone@example.org").await;
    let ticket = ticket.as_str();
    assert_eq!(delivery_state(&app, &token, ticket, reply["id"].as_str().unwrap()).await["delivery_state"], "sent");
    let sent = String::from_utf8_lossy(&sink.wait_for(1, Duration::from_secs(10)).await[0]).into_owned();
    let headers = sent.split("\r\n\r\n").next().unwrap();

    let bounce = post_raw(&app, dsn_returning(headers).as_bytes()).await;
    assert_eq!(bounce["ticket_id"], Value::Null, "a bounce creates no ticket");
    let page: Value = app.get_as(&format!("/v1/tickets/{ticket}/messages"), &token).await.json().await.unwrap();
    let returned = page["data"].as_array().unwrap().iter().find(|m| m["id"] == reply["id"]).unwrap();
    assert_eq!(returned["delivery_state"], "failed");
    assert!(returned["details"]["delivery_error"].as_str().unwrap().starts_with("bounced"));
}

async fn an_answer_to_the_signed_reply_to_address_joins_the_ticket_from_any_address(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, sink.url()).await;
    let token = app.agent_token("agent").await;
    let first =
        post_raw(&app, b"From: fi@example.org\r\nSubject: Invoice\r\nMessage-ID: <f1@x>\r\n\r\nWrong amount\r\n").await;
    let ticket = first["ticket_id"].as_str().unwrap();
    let reply: Value = app
        .post_as(&format!("/v1/tickets/{ticket}/replies"), &token, &json!({ "text": "Which invoice?" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(delivery_state(&app, &token, ticket, reply["id"].as_str().unwrap()).await["delivery_state"], "sent");
    let sent = String::from_utf8_lossy(&sink.wait_for(1, Duration::from_secs(10)).await[0]).into_owned();
    let reply_to = header(&sent, "Reply-To").unwrap();
    let address = reply_to.rsplit('<').next().unwrap().trim_end_matches('>').to_owned();
    assert!(address.starts_with("support+") && address.ends_with("@braid.test"), "{address}");

    // Her accountant answers from another address, to the Reply-To, with no threading headers.
    let answer = format!(
        "From: accountant@firm.example\r\nTo: {address}\r\nSubject: invoice 77\r\nMessage-ID: <acc1@firm>\r\n\r\nIt is invoice 77.\r\n"
    );
    let joined = post_raw(&app, answer.as_bytes()).await;
    assert_eq!(joined["ticket_id"], ticket);
    assert_eq!(joined["customer_id"], first["customer_id"], "the ticket's conversation, not a new customer");
    let customers: Value = app.get_as("/v1/customers", &token).await.json().await.unwrap();
    assert_eq!(customers["data"].as_array().unwrap().len(), 1, "the accountant did not become a customer");

    let forged = answer.replace("support+", "support+9").replace("acc1@firm", "acc2@firm");
    let stranger = post_raw(&app, forged.as_bytes()).await;
    assert_ne!(stranger["ticket_id"], ticket, "a forged token is no token");
}

async fn a_new_email_ticket_is_acknowledged_but_automated_mail_never_is(backend: Backend) {
    let sink = SmtpSink::start();
    let app = TestApp::builder(backend)
        .with_settings(|s| {
            s.email_inbound_secret = Some(SECRET.into());
            s.smtp_url = Some(sink.url());
            s.support_address = "support@braid.test".into();
            s.email_acknowledgement = Some("Hi {name}, we got \"{subject}\" as ticket #{number}.".into());
        })
        .start()
        .await;
    post_raw(&app, b"From: Gil <gil@example.org>\r\nSubject: Late parcel\r\nMessage-ID: <g1@x>\r\n\r\nWhere?\r\n")
        .await;
    post_raw(&app, b"From: gil@example.org\r\nSubject: More\r\nMessage-ID: <g2@x>\r\n\r\nAnd?\r\n").await;
    post_raw(&app, b"From: away@example.org\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <o1@x>\r\n\r\nAway\r\n").await;
    post_raw(
        &app,
        b"From: news@example.org\r\nSubject: Deals\r\nPrecedence: bulk\r\nMessage-ID: <n1@x>\r\n\r\nSale\r\n",
    )
    .await;

    sink.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mails: Vec<String> = sink.received().iter().map(|m| String::from_utf8_lossy(m).into_owned()).collect();
    assert_eq!(mails.len(), 1, "one acknowledgement: the second mail joined the open ticket, machines get none");
    assert!(header(&mails[0], "To").unwrap().contains("gil@example.org"));
    assert!(mails[0].contains("Hi Gil, we got \"Late parcel\" as ticket #"), "{}", mails[0]);
}

async fn a_reply_carries_its_attachments(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, sink.url()).await;
    let token = app.agent_token("agent").await;
    let first =
        post_raw(&app, b"From: hal@example.org\r\nSubject: Label\r\nMessage-ID: <h1@x>\r\n\r\nSend a label\r\n").await;
    let ticket = first["ticket_id"].as_str().unwrap();

    let file: Vec<u8> = (0..=255u8).cycle().take(600).collect();
    let upload = app.request(reqwest::Method::POST, "/v1/attachments", &token).body(file.clone()).send().await.unwrap();
    assert_eq!(upload.status(), 201);
    let id = upload.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let missing = json!({ "text": "x", "attachments": [{ "id": "0".repeat(64), "filename": "a.pdf", "content_type": "application/pdf" }] });
    assert_eq!(app.post_as(&format!("/v1/tickets/{ticket}/replies"), &token, &missing).await.status(), 422);

    let body = json!({ "text": "Here it is.", "attachments": [{ "id": id, "filename": "label.pdf", "content_type": "application/pdf" }] });
    let reply: Value = app.post_as(&format!("/v1/tickets/{ticket}/replies"), &token, &body).await.json().await.unwrap();
    assert_eq!(reply["details"]["attachments"][0]["size"], 600);
    assert_eq!(delivery_state(&app, &token, ticket, reply["id"].as_str().unwrap()).await["delivery_state"], "sent");
    let mail = String::from_utf8_lossy(&sink.wait_for(1, Duration::from_secs(10)).await[0]).into_owned();
    assert!(mail.contains("filename=\"label.pdf\""), "{mail}");
    let part = mail.split("filename=\"label.pdf\"").nth(1).unwrap();
    let encoded: String =
        part.split("\r\n\r\n").nth(1).unwrap().split("--").next().unwrap().split_whitespace().collect();
    use base64::Engine;
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap(), file, "the bytes arrive intact");
}
