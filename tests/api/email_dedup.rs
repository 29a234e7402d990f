//! What is one email and what is two: a provider's retry and the same mail by a second
//! route are one message; a Message-ID reused for other content (tracker and ticketing
//! notifications do it) is a new message that says so, and never answers `duplicate` for
//! content it did not store. Races are settled by the database: fifty posts at once.

use futures_util::future::join_all;
use serde_json::Value;

use std::time::Duration;

use crate::email::{SECRET, post_raw};
use crate::email_replies::{app_with_smtp, delivery_state, email_and_reply};
use crate::helpers::{Backend, TestApp, both_backends};
use crate::smtp::SmtpSink;

both_backends!(
    the_same_mail_by_a_second_route_is_one_message,
    a_reused_message_id_with_other_content_is_a_new_message_that_says_so,
    another_sender_reusing_a_known_message_id_gets_a_message_of_their_own,
    a_mail_without_message_id_is_recognised_by_its_content,
    fifty_concurrent_posts_of_one_mail_store_it_once,
    fifty_concurrent_posts_of_ten_contents_under_one_message_id_store_ten,
    our_reply_come_back_is_our_reply_and_a_stranger_reusing_its_id_is_not,
);

async fn app(backend: Backend) -> TestApp {
    TestApp::builder(backend).with_settings(|s| s.email_inbound_secret = Some(SECRET.into())).start().await
}

fn notification(from: &str, message_id: &str, body: &str) -> String {
    format!(
        "From: Tracker <{from}>\r\nTo: support@braid.test\r\nSubject: Issue 41 updated\r\n\
Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{message_id}>\r\nContent-Type: text/plain\r\n\r\n{body}\r\n"
    )
}

async fn placed(app: &TestApp, raw: &str, status: u16) -> Value {
    let response = post_raw(app, raw.as_bytes()).await;
    assert_eq!(response.status(), status, "{raw}");
    response.json().await.unwrap()
}

async fn message(app: &TestApp, id: &Value) -> Value {
    let token = app.agent_token("agent").await;
    let response = app.get_as(&format!("/v1/messages/{}", id.as_str().unwrap()), &token).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn count_messages(app: &TestApp) -> i64 {
    use braid_db::schema::messages::dsl::*;
    use diesel::prelude::*;
    app.with_db(|conn| Ok(messages.count().get_result(conn)?)).await
}

async fn the_same_mail_by_a_second_route_is_one_message(backend: Backend) {
    let app = app(backend).await;
    let mail = notification("t@tracker.example", "n41@tracker.example", "Status: fixed");
    let first = placed(&app, &mail, 201).await;
    // Another relay, another Received header, LF line endings: the same message.
    let relayed =
        format!("Received: from mx2.example.net by mx.braid.test; Mon, 30 Nov 2026\r\n{mail}").replace("\r\n", "\n");
    let second = placed(&app, &relayed, 200).await;
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["message_id"], first["message_id"]);
    assert_eq!(count_messages(&app).await, 1);
}

async fn a_reused_message_id_with_other_content_is_a_new_message_that_says_so(backend: Backend) {
    let app = app(backend).await;
    let first = placed(&app, &notification("t@tracker.example", "n@tracker.example", "Status: open"), 201).await;
    let other = notification("t@tracker.example", "n@tracker.example", "Status: fixed");
    let second = placed(&app, &other, 201).await;
    assert_eq!(second["duplicate"], false);
    assert_ne!(second["message_id"], first["message_id"], "the second content is stored, not swallowed");
    assert_eq!(second["ticket_id"], first["ticket_id"], "the same sender's open ticket, as placement says");
    let stored = message(&app, &second["message_id"]).await;
    assert_eq!(stored["text"], "Status: fixed");
    let reasons = stored["placement"].as_array().unwrap();
    assert!(
        reasons.iter().any(|r| r["rule"] == "message_id_reused" && r["message_id"] == first["message_id"]),
        "{reasons:?}"
    );
    // Each content is still recognised when it comes again.
    assert_eq!(placed(&app, &other, 200).await["message_id"], second["message_id"]);
    let again = notification("t@tracker.example", "n@tracker.example", "Status: open");
    assert_eq!(placed(&app, &again, 200).await["message_id"], first["message_id"]);
    assert_eq!(count_messages(&app).await, 2);
}

async fn another_sender_reusing_a_known_message_id_gets_a_message_of_their_own(backend: Backend) {
    let app = app(backend).await;
    let ana = placed(&app, &notification("ana@example.org", "shared@id", "My order is late"), 201).await;
    let eve = placed(&app, &notification("eve@example.net", "shared@id", "My order is late"), 201).await;
    assert_eq!(eve["duplicate"], false, "one sender's id never suppresses another's mail");
    assert_ne!(eve["customer_id"], ana["customer_id"], "nor reveals where the first one landed");
    assert_ne!(eve["ticket_id"], ana["ticket_id"]);
}

async fn a_mail_without_message_id_is_recognised_by_its_content(backend: Backend) {
    let app = app(backend).await;
    let mail = "From: ana@example.org\r\nSubject: no id\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\nHello\r\n";
    let first = placed(&app, mail, 201).await;
    let relayed = format!("Received: from relay.example.net\r\n{mail}");
    assert_eq!(placed(&app, &relayed, 200).await["message_id"], first["message_id"]);
    let later = mail.replace("Hello", "Hello again");
    assert_ne!(placed(&app, &later, 201).await["message_id"], first["message_id"]);
}

async fn fifty_concurrent_posts_of_one_mail_store_it_once(backend: Backend) {
    let app = app(backend).await;
    let mail = notification("t@tracker.example", "once@tracker.example", "Build 7 failed");
    let answers = join_all((0..50).map(|_| post_raw(&app, mail.as_bytes()))).await;
    let mut statuses = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for answer in answers {
        statuses.push(answer.status().as_u16());
        let body: Value = answer.json().await.unwrap();
        ids.insert(body["message_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 49, "{statuses:?}");
    assert_eq!(ids.len(), 1);
    assert_eq!(count_messages(&app).await, 1);
}

async fn fifty_concurrent_posts_of_ten_contents_under_one_message_id_store_ten(backend: Backend) {
    let app = app(backend).await;
    let mails: Vec<(usize, String)> = (0..50)
        .map(|i| {
            (i % 10, notification("t@tracker.example", "reused@tracker.example", &format!("Build {} failed", i % 10)))
        })
        .collect();
    let answers = join_all(mails.iter().map(|(_, mail)| post_raw(&app, mail.as_bytes()))).await;
    let mut by_content: Vec<std::collections::HashSet<String>> = vec![Default::default(); 10];
    for ((content, _), answer) in mails.iter().zip(answers) {
        assert!(answer.status().is_success(), "{}", answer.status());
        let body: Value = answer.json().await.unwrap();
        by_content[*content].insert(body["message_id"].as_str().unwrap().to_owned());
    }
    assert!(
        by_content.iter().all(|ids| ids.len() == 1),
        "every copy of one content answers one message: {by_content:?}"
    );
    let distinct: std::collections::HashSet<_> = by_content.iter().flatten().collect();
    assert_eq!(distinct.len(), 10, "ten contents, ten messages");
    assert_eq!(count_messages(&app).await, 10);
}

async fn our_reply_come_back_is_our_reply_and_a_stranger_reusing_its_id_is_not(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, sink.url()).await;
    let token = app.agent_token("agent").await;
    let (ticket, reply) = email_and_reply(&app, &token, "ana@example.org").await;
    assert_eq!(delivery_state(&app, &token, &ticket, reply["id"].as_str().unwrap()).await["delivery_state"], "sent");
    let sent = String::from_utf8_lossy(&sink.wait_for(1, Duration::from_secs(10)).await[0]).into_owned();

    // A forwarder that resends our reply to the support address: it is our reply, not news.
    let echo = placed(&app, &sent, 200).await;
    assert_eq!(echo["message_id"], reply["id"]);

    // Someone else's mail that happens to carry our reply's Message-ID is theirs, and stored.
    let our_id = sent.lines().find(|l| l.to_ascii_lowercase().starts_with("message-id:")).unwrap()[11..].trim();
    let stranger = format!(
        "From: eve@example.net\r\nTo: support@braid.test\r\nSubject: hello\r\nMessage-ID: {our_id}\r\n\r\nHi\r\n"
    );
    let theirs = placed(&app, &stranger, 201).await;
    assert_ne!(theirs["message_id"], reply["id"]);
}
