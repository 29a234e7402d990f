//! What must follow an email commits with it. A failure injected between the message and
//! its follow-up (a database trigger that refuses the write) rolls the whole placement back:
//! the provider sees a 5xx, nothing is stored, and its retry does everything once.
//! Before, the follow-up ran in a transaction of its own after the answer was decided, and
//! the retry was a duplicate that skipped it.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use serde_json::Value;

use crate::email::{SECRET, post_raw};
use crate::email_replies::{app_with_smtp, delivery_state, dsn_returning, email_and_reply};
use crate::helpers::{Backend, TestApp, both_backends};
use crate::smtp::SmtpSink;

both_backends!(
    an_acknowledgement_is_never_lost_to_a_failure_after_the_message,
    a_bounce_marks_our_reply_failed_even_when_its_first_delivery_fails_midway,
);

/// Makes every `operation` (INSERT, UPDATE) on `table` fail until [`heal`] is called.
pub async fn break_writes(app: &TestApp, backend: Backend, operation: &'static str, table: &'static str) {
    let sql = match backend {
        Backend::Postgres => format!(
            "CREATE FUNCTION braid_test_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ \
             LANGUAGE plpgsql; CREATE TRIGGER braid_test_fail BEFORE {operation} ON {table} FOR EACH ROW \
             EXECUTE FUNCTION braid_test_fail();"
        ),
        Backend::Sqlite => format!(
            "CREATE TRIGGER braid_test_fail BEFORE {operation} ON {table} BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        ),
    };
    app.with_db(move |conn| Ok(conn.batch_execute(&sql)?)).await;
}

pub async fn heal(app: &TestApp, backend: Backend, table: &'static str) {
    let sql = match backend {
        Backend::Postgres => format!("DROP TRIGGER braid_test_fail ON {table}; DROP FUNCTION braid_test_fail();"),
        Backend::Sqlite => "DROP TRIGGER braid_test_fail;".to_owned(),
    };
    app.with_db(move |conn| Ok(conn.batch_execute(&sql)?)).await;
}

pub async fn count(app: &TestApp, table: &'static str) -> i64 {
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    app.with_db(move |conn| Ok(diesel::sql_query(sql).get_result::<Count>(conn)?.n)).await
}

async fn an_acknowledgement_is_never_lost_to_a_failure_after_the_message(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_settings(|s| {
            s.email_inbound_secret = Some(SECRET.into());
            s.email_acknowledgement = Some("We got #{number}.".into());
        })
        .start()
        .await;
    let mail = b"From: ana@example.org\r\nSubject: Refund\r\nMessage-ID: <ack-1@example.org>\r\n\r\nPlease refund.\r\n";

    break_writes(&app, backend, "INSERT", "outbox").await;
    let failed = post_raw(&app, mail).await;
    assert!(failed.status().is_server_error(), "the provider must retry: {}", failed.status());
    assert_eq!(count(&app, "messages").await, 0, "nothing half-done stays behind");
    assert_eq!(count(&app, "tickets").await, 0);

    heal(&app, backend, "outbox").await;
    let retried = post_raw(&app, mail).await;
    assert_eq!(retried.status(), 201, "the retry is the first success, not a duplicate");
    assert_eq!(count(&app, "outbox").await, 1, "the acknowledgement is queued");
    assert_eq!(post_raw(&app, mail).await.status(), 200);
    assert_eq!(count(&app, "outbox").await, 1, "and only once");
}

async fn a_bounce_marks_our_reply_failed_even_when_its_first_delivery_fails_midway(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, sink.url()).await;
    let token = app.agent_token("agent").await;
    let (ticket, reply) = email_and_reply(&app, &token, "gone@example.org").await;
    let reply_id = reply["id"].as_str().unwrap();
    assert_eq!(delivery_state(&app, &token, &ticket, reply_id).await["delivery_state"], "sent");
    let sent = String::from_utf8_lossy(&sink.wait_for(1, Duration::from_secs(10)).await[0]).into_owned();
    let headers = sent.split("\r\n\r\n").next().unwrap();
    let dsn = dsn_returning(headers);
    let messages_before = count(&app, "messages").await;

    break_writes(&app, backend, "UPDATE", "outbox").await;
    let failed = post_raw(&app, dsn.as_bytes()).await;
    assert!(failed.status().is_server_error(), "{}", failed.status());
    assert_eq!(count(&app, "messages").await, messages_before, "the report is not stored without its effect");

    heal(&app, backend, "outbox").await;
    let retried = post_raw(&app, dsn.as_bytes()).await;
    assert_eq!(retried.status(), 201);
    let returned: Value = app.get_as(&format!("/v1/messages/{reply_id}"), &token).await.json().await.unwrap();
    assert_eq!(returned["delivery_state"], "failed", "{returned}");
    assert!(returned["details"]["delivery_error"].as_str().unwrap().starts_with("bounced"));
}
