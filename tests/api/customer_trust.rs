//! Trust that proof upgrades, and suggestions instead of silent merges: a claimed identity
//! another customer holds is never taken from them.

use serde_json::{Value, json};

use crate::email_replies::{app_with_smtp, delivery_state, email_and_reply};
use crate::helpers::{Backend, TestApp, both_backends};
use crate::smtp::SmtpSink;

both_backends!(
    an_identity_another_customer_holds_becomes_a_suggestion_and_nothing_merges,
    accepting_a_suggestion_merges_and_a_decided_one_cannot_be_decided_again,
    an_agent_marks_an_identity_verified_and_the_change_is_an_event,
    an_address_that_answers_our_mail_becomes_verified_but_a_stranger_quoting_it_does_not,
);

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{body}");
    body
}

async fn customer(app: &TestApp, token: &str, email: &str) -> String {
    let body = json!({ "identities": [{ "kind": "email", "value": email }] });
    let created = json_of(app.post_as("/v1/customers", token, &body).await, 201).await;
    created["id"].as_str().unwrap().to_owned()
}

async fn event_payloads(app: &TestApp, kind: &'static str) -> Vec<Value> {
    use braid_db::schema::events;
    use diesel::prelude::*;
    let payloads: Vec<String> = app
        .with_db(move |conn| {
            Ok(events::table.filter(events::kind.eq(kind)).order(events::seq).select(events::payload).load(conn)?)
        })
        .await;
    payloads.iter().map(|p| serde_json::from_str(p).unwrap()).collect()
}

async fn an_identity_another_customer_holds_becomes_a_suggestion_and_nothing_merges(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let ana = customer(&app, &token, "ana@example.org").await;
    let visitor = customer(&app, &token, "visitor@example.net").await;

    let claim = json!({ "kind": "email", "value": "ANA@example.org" });
    let refused = json_of(app.post_as(&format!("/v1/customers/{visitor}/identities"), &token, &claim).await, 409).await;
    assert_eq!(refused["extra"]["customer_id"], ana.as_str());
    let suggestion_id = refused["extra"]["suggestion_id"].as_str().unwrap().to_owned();
    // The same claim again is the same suggestion.
    let again = json_of(app.post_as(&format!("/v1/customers/{visitor}/identities"), &token, &claim).await, 409).await;
    assert_eq!(again["extra"]["suggestion_id"], suggestion_id.as_str());

    let open = json_of(app.get_as("/v1/merge-suggestions", &token).await, 200).await;
    let listed = open["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], suggestion_id.as_str());
    assert_eq!(listed[0]["customer_id"], visitor.as_str());
    assert_eq!(listed[0]["other_customer_id"], ana.as_str());
    assert_eq!(listed[0]["value"], "ana@example.org");
    assert_eq!(listed[0]["evidence"]["claimed_by"], "agent");
    let mine = json_of(app.get_as(&format!("/v1/merge-suggestions?customer_id={ana}"), &token).await, 200).await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    let none = json_of(app.get_as("/v1/merge-suggestions?state=dismissed", &token).await, 200).await;
    assert_eq!(none["data"], json!([]));
    let bad = json_of(app.get_as("/v1/merge-suggestions?state=maybe", &token).await, 422).await;
    assert_eq!(bad["extra"]["field"], "state");

    // Nothing moved, nothing merged.
    let held = json_of(app.get_as(&format!("/v1/customers/{ana}"), &token).await, 200).await;
    assert_eq!(held["identities"].as_array().unwrap().len(), 1);
    let claimant = json_of(app.get_as(&format!("/v1/customers/{visitor}"), &token).await, 200).await;
    assert_eq!(claimant["identities"].as_array().unwrap().len(), 1);
    assert_eq!(claimant["merged_into"], Value::Null);
    assert_eq!(event_payloads(&app, "merge_suggestion.created").await.len(), 1);
}

async fn accepting_a_suggestion_merges_and_a_decided_one_cannot_be_decided_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let ana = customer(&app, &token, "ana@example.org").await;
    let visitor = customer(&app, &token, "visitor@example.net").await;
    let stranger = customer(&app, &token, "stranger@example.com").await;
    let claim = |value: &str| json!({ "kind": "email", "value": value });
    let first = app.post_as(&format!("/v1/customers/{visitor}/identities"), &token, &claim("ana@example.org")).await;
    let first = json_of(first, 409).await["extra"]["suggestion_id"].as_str().unwrap().to_owned();
    let second = app.post_as(&format!("/v1/customers/{stranger}/identities"), &token, &claim("ana@example.org")).await;
    let second = json_of(second, 409).await["extra"]["suggestion_id"].as_str().unwrap().to_owned();

    let accepted =
        json_of(app.post_as(&format!("/v1/merge-suggestions/{first}/accept"), &token, &json!({})).await, 200).await;
    assert_eq!(accepted["suggestion"]["state"], "accepted");
    assert_eq!(accepted["merge"]["target_id"], ana.as_str());
    assert_eq!(accepted["merge"]["source_id"], visitor.as_str());
    assert_eq!(accepted["merge"]["reason"], "suggestion");
    assert_eq!(accepted["suggestion"]["merge_id"], accepted["merge"]["id"]);
    let tombstone = json_of(app.get_as(&format!("/v1/customers/{visitor}"), &token).await, 200).await;
    assert_eq!(tombstone["merged_into"], ana.as_str());

    let twice = app.post_as(&format!("/v1/merge-suggestions/{first}/dismiss"), &token, &json!({})).await;
    assert_eq!(json_of(twice, 409).await["code"], "conflict");
    let dismissed =
        json_of(app.post_as(&format!("/v1/merge-suggestions/{second}/dismiss"), &token, &json!({})).await, 200).await;
    assert_eq!(dismissed["state"], "dismissed");
    assert!(dismissed["decided_by"].as_str().unwrap().starts_with("agent:"));
    let accept_dismissed = app.post_as(&format!("/v1/merge-suggestions/{second}/accept"), &token, &json!({})).await;
    assert_eq!(json_of(accept_dismissed, 409).await["code"], "conflict");
    let stranger_view = json_of(app.get_as(&format!("/v1/customers/{stranger}"), &token).await, 200).await;
    assert_eq!(stranger_view["merged_into"], Value::Null, "a dismissed suggestion merges nothing");
    let unknown = app.get_as("/v1/merge-suggestions/0190f5c4-0000-7000-8000-000000000000", &token).await;
    assert_eq!(json_of(unknown, 404).await["code"], "not_found");
    assert_eq!(event_payloads(&app, "merge_suggestion.updated").await.len(), 2);

    // Undoing the merge puts the customers apart and the suggestion back to decide.
    let undo = format!("/v1/merges/{}/undo", accepted["merge"]["id"].as_str().unwrap());
    json_of(app.post_as(&undo, &token, &json!({})).await, 200).await;
    let reopened = json_of(app.get_as(&format!("/v1/merge-suggestions/{first}"), &token).await, 200).await;
    assert_eq!((&reopened["state"], &reopened["merge_id"]), (&json!("open"), &Value::Null));
    let merged = event_payloads(&app, "customer.merged").await;
    assert_eq!(merged[0]["moved"]["identities"].as_array().unwrap().len(), 1, "events name what moved");
}

async fn an_agent_marks_an_identity_verified_and_the_change_is_an_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let ana = customer(&app, &token, "ana@example.org").await;
    let profile = json_of(app.get_as(&format!("/v1/customers/{ana}"), &token).await, 200).await;
    let identity = profile["identities"][0].clone();
    assert_eq!((&identity["trust"], &identity["trust_source"]), (&json!("claimed"), &json!("agent")));
    assert_eq!(identity["trust_changed_at"], Value::Null);

    let path = format!("/v1/customers/{ana}/identities/{}", identity["id"].as_str().unwrap());
    let verified = json_of(app.patch_as(&path, &token, &json!({ "trust": "verified" })).await, 200).await;
    assert_eq!(verified["trust"], "verified");
    assert_eq!(verified["trust_source"], "agent");
    assert!(verified["trust_changed_at"].is_string());
    let events = event_payloads(&app, "identity.updated").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["trust_before"], "claimed");
    assert_eq!(events[0]["identity"]["trust"], "verified");

    // Again: nothing changes, no event.
    json_of(app.patch_as(&path, &token, &json!({ "trust": "verified" })).await, 200).await;
    assert_eq!(event_payloads(&app, "identity.updated").await.len(), 1);
    let bad = app.patch_as(&path, &token, &json!({ "trust": "certain" })).await;
    assert_eq!(bad.status(), 400);
    let elsewhere = customer(&app, &token, "bo@example.org").await;
    let wrong_owner = format!("/v1/customers/{elsewhere}/identities/{}", identity["id"].as_str().unwrap());
    let missing = app.patch_as(&wrong_owner, &token, &json!({ "trust": "claimed" })).await;
    assert_eq!(json_of(missing, 404).await["code"], "not_found");
}

/// The trust of the customer's first identity, and how it was earned.
async fn trust_of(app: &TestApp, token: &str, customer: &str) -> (String, String) {
    let profile: Value = app.get_as(&format!("/v1/customers/{customer}"), token).await.json().await.unwrap();
    let identity = &profile["identities"][0];
    (identity["trust"].as_str().unwrap().to_owned(), identity["trust_source"].as_str().unwrap().to_owned())
}

async fn an_address_that_answers_our_mail_becomes_verified_but_a_stranger_quoting_it_does_not(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, sink.url()).await;
    let token = app.agent_token("agent").await;
    let (ticket, reply) = email_and_reply(&app, &token, "cy@example.org").await;
    let sent = delivery_state(&app, &token, &ticket, reply["id"].as_str().unwrap()).await;
    assert_eq!(sent["delivery_state"], "sent");
    let our_id = sent["channel_ref"].as_str().unwrap().to_owned();
    let customer = json_of(app.get_as(&format!("/v1/tickets/{ticket}"), &token).await, 200).await["customer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let trust = || trust_of(&app, &token, &customer);
    assert_eq!(trust().await, ("claimed".to_owned(), "sender".to_owned()));

    // A stranger quoting our Message-ID proves nothing about cy's address.
    let stranger = format!(
        "From: mallory@example.net\r\nSubject: Re: Hi\r\nMessage-ID: <m1@example.net>\r\nIn-Reply-To: {our_id}\r\n\r\nhi\r\n"
    );
    assert!(crate::email::post_raw(&app, stranger.as_bytes()).await.status().is_success());
    assert_eq!(trust().await.0, "claimed");

    // Mallory, holding the ticket's signed reply-to address (forwarded, say), writes on the
    // ticket and gets an answer of her own: it never names the Message-ID sent to cy, and
    // quoting her own proves nothing about cy's address even with cy's From.
    let mail_to_cy =
        String::from_utf8_lossy(&sink.wait_for(1, std::time::Duration::from_secs(10)).await[0]).into_owned();
    let reply_to = mail_to_cy
        .lines()
        .find_map(|line| line.strip_prefix("Reply-To: "))
        .map(|v| v.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
        .unwrap();
    let via_token = format!(
        "From: mallory@example.net\r\nTo: {reply_to}\r\nSubject: Re: Hi\r\nMessage-ID: <m2@example.net>\r\n\r\nme too\r\n"
    );
    assert!(crate::email::post_raw(&app, via_token.as_bytes()).await.status().is_success());
    let to_mallory =
        app.post_as(&format!("/v1/tickets/{ticket}/replies"), &token, &json!({ "text": "Hi Mallory" })).await;
    let to_mallory: Value = to_mallory.json().await.unwrap();
    let sent = delivery_state(&app, &token, &ticket, to_mallory["id"].as_str().unwrap()).await;
    assert_eq!(sent["delivery_state"], "sent");
    let mails = sink.wait_for(2, std::time::Duration::from_secs(10)).await;
    let mail_to_mallory = String::from_utf8_lossy(&mails[1]).into_owned();
    assert!(mail_to_mallory.contains("mallory@example.net"));
    assert!(!mail_to_mallory.contains(&our_id), "the Message-ID sent to cy is not shown to mallory");
    let forged = format!(
        "From: cy@example.org\r\nTo: {reply_to}\r\nSubject: Re: Hi\r\nMessage-ID: <m3@example.net>\r\nIn-Reply-To: {}\r\n\r\nverify me\r\n",
        sent["channel_ref"].as_str().unwrap()
    );
    assert!(crate::email::post_raw(&app, forged.as_bytes()).await.status().is_success());
    assert_eq!(trust().await.0, "claimed", "a token and a mail sent to someone else prove nothing");

    // Cy answering it does.
    let answer = format!(
        "From: Cy <cy@example.org>\r\nSubject: Re: Hi\r\nMessage-ID: <c2@example.org>\r\nIn-Reply-To: {our_id}\r\n\r\nthanks\r\n"
    );
    assert!(crate::email::post_raw(&app, answer.as_bytes()).await.status().is_success());
    assert_eq!(trust().await, ("verified".to_owned(), "email_round_trip".to_owned()));
    let events = event_payloads(&app, "identity.updated").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["identity"]["trust_source"], "email_round_trip");
}
