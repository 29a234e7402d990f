//! Email out over TLS, to a real server with a certificate of a CA made for the test and
//! trusted through `smtp_ca_file`: SMTPS, STARTTLS required, and STARTTLS offered to a
//! plain `smtp://` URL. The sink records how each message came in, so a silent fallback to
//! plaintext fails the test. A certificate we do not trust is a temporary failure: the reply
//! stays queued, retrying, with the reason recorded.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::email::SECRET;
use crate::email_replies::{delivery_state, email_and_reply};
use crate::helpers::{Backend, TestApp, both_backends};
use crate::smtp::{SinkTls, SmtpSink, TestCa};

both_backends!(
    a_reply_goes_out_over_smtps,
    a_reply_goes_out_over_starttls_when_the_url_requires_it,
    a_plain_smtp_url_upgrades_with_starttls_when_the_server_offers_it,
    tls_none_stays_in_plaintext_even_when_starttls_is_offered,
    a_server_whose_certificate_is_not_trusted_leaves_the_reply_queued_with_the_reason,
    a_bad_smtp_ca_file_stops_the_start_naming_the_file,
);

async fn app(backend: Backend, smtp_url: String, ca_file: Option<PathBuf>) -> anyhow::Result<TestApp> {
    TestApp::builder(backend)
        .with_settings(|s| {
            s.email_inbound_secret = Some(SECRET.into());
            s.smtp_url = Some(smtp_url);
            s.smtp_ca_file = ca_file;
            s.support_address = "support@braid.test".into();
            s.smtp_retry_base_secs = 1;
        })
        .try_start()
        .await
}

/// Sends one reply through a sink secured as `tls`, to `url` (with `{port}` filled in),
/// trusting the sink's CA; returns the sink once the reply is marked sent.
async fn reply_through(backend: Backend, tls: SinkTls, url: &str) -> SmtpSink {
    let ca = TestCa::new();
    let sink = SmtpSink::start_tls(tls, &ca.localhost_certificate());
    let app = app(backend, url.replace("{port}", &sink.port.to_string()), Some(ca.pem_file())).await.unwrap();
    let token = app.agent_token("agent").await;
    let (ticket, reply) = email_and_reply(&app, &token, "tess@example.org").await;
    let sent = delivery_state(&app, &token, &ticket, reply["id"].as_str().unwrap()).await;
    assert_eq!(sent["delivery_state"], "sent", "{}", sent["details"]);
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1);
    assert!(String::from_utf8_lossy(&mails[0]).contains("Hello back"));
    sink
}

fn assert_came_over_tls(sink: &SmtpSink) {
    let sessions = sink.sessions();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].tls, "the message came in plaintext: {sessions:?}");
    assert!(sessions[0].version.as_deref().is_some_and(|v| v.starts_with("TLSv1.")), "{sessions:?}");
}

async fn a_reply_goes_out_over_smtps(backend: Backend) {
    let sink = reply_through(backend, SinkTls::Implicit, "smtps://localhost:{port}").await;
    assert_came_over_tls(&sink);
}

async fn a_reply_goes_out_over_starttls_when_the_url_requires_it(backend: Backend) {
    let sink = reply_through(backend, SinkTls::RequireStartTls, "smtp://localhost:{port}?tls=required").await;
    assert_came_over_tls(&sink);
}

async fn a_plain_smtp_url_upgrades_with_starttls_when_the_server_offers_it(backend: Backend) {
    // The sink would take plaintext too: only Braid's choice makes this session TLS.
    let sink = reply_through(backend, SinkTls::StartTls, "smtp://localhost:{port}").await;
    assert_came_over_tls(&sink);
}

async fn tls_none_stays_in_plaintext_even_when_starttls_is_offered(backend: Backend) {
    // The control for the test above: the sink can tell plaintext from TLS.
    let sink = reply_through(backend, SinkTls::StartTls, "smtp://localhost:{port}?tls=none").await;
    let sessions = sink.sessions();
    assert!(!sessions[0].tls, "{sessions:?}");
}

async fn a_server_whose_certificate_is_not_trusted_leaves_the_reply_queued_with_the_reason(backend: Backend) {
    let (servers_ca, our_ca) = (TestCa::new(), TestCa::new());
    let certificate = servers_ca.localhost_certificate();
    // STARTTLS offered (a failed handshake must not fall back to plaintext) and SMTPS.
    for (tls, url) in [(SinkTls::StartTls, "smtp://localhost:{port}"), (SinkTls::Implicit, "smtps://localhost:{port}")]
    {
        let sink = SmtpSink::start_tls(tls, &certificate);
        let url = url.replace("{port}", &sink.port.to_string());
        let app = app(backend, url.clone(), Some(our_ca.pem_file())).await.unwrap();
        let token = app.agent_token("agent").await;
        let (ticket, reply) = email_and_reply(&app, &token, "una@example.org").await;
        let reply_id = reply["id"].as_str().unwrap().to_owned();

        let (attempts, last_error) = retried_at_least_twice(&app, &reply_id).await;
        assert!(attempts >= 2, "{url}: retried, not given up ({attempts} attempts)");
        assert!(last_error.contains("certificate verify failed"), "{url}: the reason is recorded: {last_error}");
        let page: Value = app.get_as(&format!("/v1/tickets/{ticket}/messages"), &token).await.json().await.unwrap();
        let message = page["data"].as_array().unwrap().iter().find(|m| m["id"] == reply_id.as_str()).unwrap();
        assert_eq!(message["delivery_state"], "queued", "{url}: a temporary failure, not a failed reply");
        assert!(sink.received().is_empty(), "{url}: nothing went out, not even in plaintext");
    }
}

/// Waits until the reply's outbox entry has been tried twice; returns its attempts and
/// last error.
async fn retried_at_least_twice(app: &TestApp, reply_id: &str) -> (i32, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = reply_id.to_owned();
        let (attempts, last_error) = app
            .with_db(move |conn| {
                use braid_db::schema::outbox;
                use diesel::prelude::*;
                Ok(outbox::table
                    .filter(outbox::message_id.eq(reply))
                    .select((outbox::attempts, outbox::last_error))
                    .first::<(i32, Option<String>)>(conn)?)
            })
            .await;
        if attempts >= 2 || Instant::now() > deadline {
            return (attempts, last_error.unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn a_bad_smtp_ca_file_stops_the_start_naming_the_file(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "this is no certificate\n").unwrap();
    let missing = dir.path().join("missing-ca.pem");
    for (file, reason) in [(not_pem, "no PEM certificate"), (missing, "cannot be read")] {
        let started = app(backend, "smtps://localhost:1".into(), Some(file.clone())).await;
        let error = format!("{:#}", started.err().expect("the app refuses to start"));
        assert!(error.contains(&file.display().to_string()) && error.contains(reason), "{error}");
    }
}
