//! Who sent an email: the first mailbox of the first `From`; when it names no usable
//! address, `Reply-To`, then `Sender`, then `Return-Path`, recorded in the envelope and the
//! reasons. An address smuggled in through an encoded-word never becomes the sender.

use serde_json::Value;

use crate::email::{SECRET, post_postmark, post_raw};
use crate::helpers::{Backend, TestApp, both_backends};

both_backends!(
    a_from_without_an_address_takes_reply_to_then_sender_then_return_path,
    a_mail_with_no_sender_anywhere_is_kept_flagged_under_the_unknown_sender,
    an_address_smuggled_through_an_encoded_word_never_becomes_the_sender,
    a_second_from_header_is_recorded_and_never_the_sender,
    a_from_with_8_bit_bytes_keeps_its_sender,
    postmark_json_takes_the_same_fallbacks,
);

struct Filed {
    customer: Value,
    message: Value,
}

async fn file(app: &TestApp, headers: &str) -> Filed {
    let id = uuid::Uuid::now_v7();
    let raw = format!(
        "{headers}To: support@braid.test\r\nSubject: Hello\r\nMessage-ID: <{id}@example.org>\r\n\
Content-Type: text/plain\r\n\r\nHi there\r\n"
    );
    let response = post_raw(app, raw.as_bytes()).await;
    assert_eq!(response.status(), 201, "{headers}");
    let placed: Value = response.json().await.unwrap();
    let token = app.agent_token("agent").await;
    let customer = app.get_as(&format!("/v1/customers/{}", placed["customer_id"].as_str().unwrap()), &token).await;
    let message = app.get_as(&format!("/v1/messages/{}", placed["message_id"].as_str().unwrap()), &token).await;
    Filed { customer: customer.json().await.unwrap(), message: message.json().await.unwrap() }
}

fn identity(filed: &Filed) -> &str {
    filed.customer["identities"][0]["value"].as_str().unwrap()
}

async fn app(backend: Backend) -> TestApp {
    TestApp::builder(backend).with_settings(|s| s.email_inbound_secret = Some(SECRET.into())).start().await
}

async fn a_from_without_an_address_takes_reply_to_then_sender_then_return_path(backend: Backend) {
    let app = app(backend).await;
    let cases = [
        (
            "From: \"Shop\" <>\r\nReply-To: Orders <orders@shop.example>\r\nSender: s@shop.example\r\n",
            "orders@shop.example",
            "reply_to",
        ),
        ("From: Undisclosed recipients:;\r\nSender: Relay <relay@lists.example>\r\n", "relay@lists.example", "sender"),
        ("From:\r\nReturn-Path: <bounces@mailer.example>\r\n", "bounces@mailer.example", "return_path"),
        ("From: Ana <ana@example.org>\r\nReply-To: other@example.org\r\n", "ana@example.org", "from"),
    ];
    for (headers, address, header) in cases {
        let filed = file(&app, headers).await;
        assert_eq!(identity(&filed), address, "{headers}");
        assert_eq!(filed.message["details"]["sender_header"], header, "{headers}");
        assert_eq!(filed.message["details"]["malformed"], false);
        let reasons = filed.message["placement"].as_array().unwrap();
        let fallback = reasons.iter().find(|r| r["rule"] == "sender_fallback");
        if header == "from" {
            assert!(fallback.is_none(), "{reasons:?}");
        } else {
            assert_eq!(fallback.unwrap()["header"], header, "{reasons:?}");
            assert_eq!(filed.message["details"]["sender"]["address"], address);
        }
    }
}

async fn a_mail_with_no_sender_anywhere_is_kept_flagged_under_the_unknown_sender(backend: Backend) {
    let app = app(backend).await;
    let filed = file(&app, "From: \"Nobody\" <>\r\nReturn-Path: <>\r\n").await;
    assert_eq!(filed.message["details"]["malformed"], true);
    assert_eq!(filed.message["details"]["sender_header"], Value::Null);
    assert_eq!(identity(&filed), "unknown-sender");
}

async fn an_address_smuggled_through_an_encoded_word_never_becomes_the_sender(backend: Backend) {
    let app = app(backend).await;
    // The display name decodes to an address: the sender is the real one, and the name is
    // not shown as who they are.
    let filed = file(&app, "From: =?utf-8?q?ceo=40bank.example?= <mallory@evil.example>\r\n").await;
    assert_eq!(identity(&filed), "mallory@evil.example");
    assert_ne!(filed.customer["name"], "ceo@bank.example");
    // Only an encoded-word: no address at all, whatever it decodes to; the fallback runs.
    let filed = file(&app, "From: =?utf-8?b?Y2VvQGJhbmsuZXhhbXBsZQ==?=\r\nReply-To: mallory@evil.example\r\n").await;
    assert_eq!(identity(&filed), "mallory@evil.example");
    assert_eq!(filed.message["details"]["sender_header"], "reply_to");
    // In the local part, between the brackets, and beside a comment that spells it out.
    for headers in [
        "From: =?utf-8?q?ceo=40bank.example?= (ceo@bank.example), <mallory@evil.example>\r\n",
        "From: =?utf-8?q?ceo=40bank.example?=@evil.example\r\n",
        "From: <=?utf-8?q?ceo=40bank.example?=>\r\n",
        "From: Ceo <=?utf-8?q?ceo?=@bank.example>\r\n",
    ] {
        let filed = file(&app, headers).await;
        assert_ne!(identity(&filed), "ceo@bank.example", "{headers}");
        assert!(!identity(&filed).contains("=?"), "{headers}");
    }
}

async fn a_second_from_header_is_recorded_and_never_the_sender(backend: Backend) {
    let app = app(backend).await;
    let filed = file(&app, "From: ana@example.org\r\nFrom: ceo@bank.example\r\n").await;
    assert_eq!(identity(&filed), "ana@example.org", "the first From is what MTAs and DMARC judged");
    assert_eq!(filed.message["details"]["extra_from"][0]["address"], "ceo@bank.example");
}

async fn a_from_with_8_bit_bytes_keeps_its_sender(backend: Backend) {
    let app = app(backend).await;
    let raw = b"From: Jos\xe9 Mar\xeda <jose@example.es>\r\nTo: support@braid.test\r\nSubject: Hola\r\n\
Message-ID: <latin1@example.es>\r\n\r\nHola\r\n";
    let response = post_raw(&app, raw).await;
    assert_eq!(response.status(), 201);
    let placed: Value = response.json().await.unwrap();
    let token = app.agent_token("agent").await;
    let customer: Value = app
        .get_as(&format!("/v1/customers/{}", placed["customer_id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        customer["identities"][0]["value"], "jose@example.es",
        "an old mailer's Latin-1 name is no reason to lose the sender"
    );
}

async fn postmark_json_takes_the_same_fallbacks(backend: Backend) {
    let app = app(backend).await;
    let json = serde_json::json!({
        "From": "\"Shop\" <>",
        "FromFull": {"Email": "", "Name": "Shop"},
        "ReplyTo": "Orders <orders@shop.example>",
        "Subject": "Your order",
        "MessageID": "pm-1",
        "TextBody": "Shipped",
        "Headers": [{"Name": "Message-ID", "Value": "<pm-1@shop.example>"}]
    });
    let response = post_postmark(&app, &json).await;
    assert_eq!(response.status(), 201);
    let placed: Value = response.json().await.unwrap();
    let token = app.agent_token("agent").await;
    let message: Value = app
        .get_as(&format!("/v1/messages/{}", placed["message_id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(message["details"]["sender_header"], "reply_to");
    assert_eq!(message["details"]["sender"]["address"], "orders@shop.example");
}
