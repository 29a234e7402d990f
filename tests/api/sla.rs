//! Service levels through the API: policies chosen and explained, clocks stopped by
//! replies and paused by statuses, breaches announced once by the timers, schedules that
//! keep their versions.

use std::time::Duration;

use braid_core::TicketId;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, both_backends};

both_backends!(
    a_policy_times_a_tickets_first_reply_and_explains_why_it_applies,
    a_missed_target_is_announced_once_when_its_time_comes_however_many_nodes_fire,
    schedules_keep_their_versions_and_policies_count_their_business_hours,
    policies_and_schedules_refuse_what_cannot_be_measured,
    an_edit_reaches_running_clocks_and_old_history_is_not_news,
    an_email_starts_a_clock_and_an_auto_reply_does_not,
);

pub(crate) async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let response = app.post_as(path, token, &body).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{path}: {body}");
    body
}

pub(crate) async fn read(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.get_as(path, token).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

fn at(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value.as_str().unwrap_or_else(|| panic!("a time, not {value}")).parse().unwrap()
}

fn clock<'a>(sla: &'a Value, metric: &str) -> &'a Value {
    let clocks = sla["clocks"].as_array().unwrap();
    clocks.iter().rfind(|c| c["metric"] == metric).unwrap_or_else(|| panic!("no {metric} clock in {sla}"))
}

async fn customer_with_ticket(app: &TestApp, token: &str, email: &str) -> Value {
    let customer =
        created(app, token, "/v1/customers", json!({"identities": [{"kind": "email", "value": email}]})).await;
    let body = json!({
        "customer_id": customer["id"], "subject": "My order", "message": {"kind": "customer", "text": "Where is it?"}
    });
    created(app, token, "/v1/tickets", body).await
}

async fn a_policy_times_a_tickets_first_reply_and_explains_why_it_applies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let urgent = json!({"name": "Urgent", "conditions": {"priorities": ["urgent"]},
                        "targets": {"first_reply": {"minutes": {"urgent": 15}}}});
    created(&app, &admin, "/v1/sla-policies", urgent).await;
    let everyone = json!({"name": "Everyone", "position": 1, "targets": {
        "first_reply": {"minutes": {"normal": 60}},
        "next_reply": {"minutes": {"normal": 30}},
        "resolution": {"minutes": {"normal": 480}},
    }});
    let everyone = created(&app, &admin, "/v1/sla-policies", everyone).await;
    let listed = read(&app, &admin, "/v1/sla-policies").await;
    assert_eq!(
        listed.as_array().unwrap().iter().map(|p| p["name"].clone()).collect::<Vec<_>>(),
        ["Urgent", "Everyone"]
    );

    let agent = app.agent_token("agent").await;
    let ticket = customer_with_ticket(&app, &agent, "ana@example.org").await;
    let id = ticket["id"].as_str().unwrap();
    let opened = at(&ticket["created_at"]);
    assert_eq!(at(&ticket["sla_due_at"]), opened + chrono::Duration::minutes(60), "{ticket}");

    let sla = read(&app, &agent, &format!("/v1/tickets/{id}/sla")).await;
    assert_eq!(sla["policy"]["id"], everyone["id"]);
    assert_eq!(sla["why"]["matched"], json!(["the policy has no conditions: it covers every ticket"]));
    assert_eq!(sla["why"]["skipped"][0]["because"], "priority normal is not one of urgent");
    assert_eq!(at(&clock(&sla, "first_reply")["due_at"]), opened + chrono::Duration::minutes(60));
    assert_eq!(at(&clock(&sla, "resolution")["due_at"]), opened + chrono::Duration::minutes(480));
    assert_eq!(clock(&sla, "first_reply")["breached_at"], Value::Null);
    let due = read(&app, &agent, "/v1/tickets?sort=sla_due_at").await;
    assert_eq!(due["data"][0]["id"], id);

    // A note is not a reply; an agent's public reply stops the first-reply clock.
    created(&app, &agent, &format!("/v1/tickets/{id}/notes"), json!({"text": "Checking with the warehouse"})).await;
    let sla = read(&app, &agent, &format!("/v1/tickets/{id}/sla")).await;
    assert_eq!(clock(&sla, "first_reply")["stopped_at"], Value::Null, "a note stopped the clock: {sla}");
    created(&app, &agent, &format!("/v1/tickets/{id}/replies"), json!({"text": "It ships tomorrow."})).await;
    let sla = read(&app, &agent, &format!("/v1/tickets/{id}/sla")).await;
    assert_eq!(clock(&sla, "first_reply")["stopped_by"], "replied");
    assert_eq!(clock(&sla, "first_reply")["breached_at"], Value::Null);
    let ticket = read(&app, &agent, &format!("/v1/tickets/{id}")).await;
    assert_eq!(at(&ticket["sla_due_at"]), opened + chrono::Duration::minutes(480), "now the resolution is next");

    // Pending pauses the resolution: nothing is due while the customer is asked.
    let pending = app.patch_as(&format!("/v1/tickets/{id}"), &agent, &json!({"status": "pending"})).await;
    assert_eq!(pending.status(), 200);
    let ticket: Value = pending.json().await.unwrap();
    assert_eq!(ticket["sla_due_at"], Value::Null, "{ticket}");
    let sla = read(&app, &agent, &format!("/v1/tickets/{id}/sla")).await;
    let resolution = clock(&sla, "resolution");
    assert_eq!(
        (resolution["due_at"].clone(), resolution["paused"][0]["status"].clone()),
        (Value::Null, json!("pending"))
    );
    let due = read(&app, &agent, "/v1/tickets?sort=sla_due_at").await;
    assert!(due["data"].as_array().unwrap().iter().all(|t| t["id"] != id), "a paused ticket is not due");

    // Turning the policy off applies at the ticket's next change; its clocks go with it.
    let off = app
        .patch_as(&format!("/v1/sla-policies/{}", everyone["id"].as_str().unwrap()), &admin, &json!({"enabled": false}))
        .await;
    assert_eq!(off.status(), 200);
    let tagged = app.patch_as(&format!("/v1/tickets/{id}"), &agent, &json!({"tags": ["shipping"]})).await;
    assert_eq!(tagged.status(), 200);
    let sla = read(&app, &agent, &format!("/v1/tickets/{id}/sla")).await;
    assert_eq!((sla["policy"].clone(), sla["clocks"].clone()), (Value::Null, json!([])), "{sla}");
}

/// Events of `kind` as the log holds them (read from the table: the feed shows an event
/// only once every transaction before it has ended, and other tests hold some open).
pub(crate) async fn logged(app: &TestApp, kind: &'static str) -> Vec<Value> {
    let rows: Vec<(Option<String>, String)> = app
        .with_db(move |conn| {
            use braid_db::schema::events;
            use diesel::prelude::*;
            Ok(events::table
                .filter(events::kind.eq(kind))
                .order(events::seq.asc())
                .select((events::ticket_id, events::payload))
                .load(conn)?)
        })
        .await;
    rows.into_iter()
        .map(|(ticket, payload)| json!({"kind": kind, "ticket_id": ticket, "payload": serde_json::from_str::<Value>(&payload).unwrap()}))
        .collect()
}

async fn a_missed_target_is_announced_once_when_its_time_comes_however_many_nodes_fire(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let policy = json!({"name": "Fast", "targets": {"first_reply": {"minutes": {"normal": 1}}}});
    let policy = created(&app, &admin, "/v1/sla-policies", policy).await;
    let connector = created(&app, &admin, "/v1/connectors", json!({"name": "sms"})).await;
    let key = connector["key"].as_str().unwrap();
    // An import written 56 seconds ago: its first reply falls due in about four seconds.
    let sent_at = braid_db::now() - chrono::Duration::seconds(56);
    let message = json!({"external_id": "m-1", "customer": {"external_id": "+4915100000001"},
                         "text": "Hello?", "sent_at": sent_at});
    let placed = created(&app, key, "/v1/connectors/sms/messages", message).await;
    let id = placed["ticket_id"].as_str().unwrap().to_owned();
    let ticket = read(&app, &admin, &format!("/v1/tickets/{id}")).await;
    let due = at(&ticket["sla_due_at"]);
    assert_eq!(due, braid_db::truncate_to_micros(sent_at) + chrono::Duration::minutes(1), "{ticket}");
    assert!(logged(&app, "ticket.sla_breached").await.is_empty(), "nothing breached before its time");

    // When it falls due, four "nodes" fire the timer at once beside the app's own worker.
    let wait = (due - braid_db::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    let ticket_id: TicketId = id.parse().unwrap();
    let job =
        braid_db::due_jobs::Due { id: "a-node's-lease".into(), kind: "sla".into(), subject: ticket_id.to_string() };
    let mut firing = vec![];
    for _ in 0..4 {
        let (db, job) = (app.db.clone(), job.clone());
        firing.push(tokio::spawn(
            async move { db.run(move |conn| braid_db::sla::fire(conn, &job, braid_db::now())).await },
        ));
    }
    let mut announced = 0;
    for fired in firing {
        match fired.await.unwrap() {
            Ok(count) => announced += count,
            // SQLite's single writer may turn a concurrent writer away; PostgreSQL waits.
            Err(error) => assert!(matches!(app.db.backend(), braid_db::Backend::Sqlite { .. }), "{error}"),
        }
    }
    assert!(announced <= 1, "{announced} breaches announced by the nodes");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let breaches = logged(&app, "ticket.sla_breached").await;
    assert_eq!(breaches.len(), 1, "{breaches:#?}");
    let payload = &breaches[0]["payload"];
    assert_eq!((payload["ticket_id"].as_str(), payload["metric"].as_str()), (Some(id.as_str()), Some("first_reply")));
    assert_eq!((at(&payload["breached_at"]), &payload["policy_id"]), (due, &policy["id"]));
    assert_eq!(breaches[0]["ticket_id"], id.as_str());

    // The ticket says so, and a later change announces nothing again.
    let sla = read(&app, &admin, &format!("/v1/tickets/{id}/sla")).await;
    assert_eq!(at(&clock(&sla, "first_reply")["breached_at"]), due);
    assert_eq!(sla["breaches"].as_array().unwrap().len(), 1);
    let ticket = read(&app, &admin, &format!("/v1/tickets/{id}")).await;
    assert_eq!(at(&ticket["sla_due_at"]), due, "overdue, it stays first in the queue: {ticket}");
    assert_eq!(app.with_db(|conn| braid_db::due_jobs::count(conn, "sla")).await, 0, "the timer is done");
    let patched = app.patch_as(&format!("/v1/tickets/{id}"), &admin, &json!({"tags": ["late"]})).await;
    assert_eq!(patched.status(), 200);
    assert_eq!(logged(&app, "ticket.sla_breached").await.len(), 1);
}

async fn schedules_keep_their_versions_and_policies_count_their_business_hours(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let every_day = json!([{"start": "00:00", "end": "12:00"}, {"start": "12:00", "end": "24:00"}]);
    let hours = json!({"monday": every_day, "tuesday": every_day, "wednesday": every_day, "thursday": every_day,
                       "friday": every_day, "saturday": every_day, "sunday": every_day});
    let schedule = created(&app, &admin, "/v1/schedules",
        json!({"name": "Always", "time_zone": "Europe/Berlin", "hours": hours, "holidays": ["2026-12-26", "2026-12-25"]})).await;
    assert_eq!((schedule["version"].as_i64(), &schedule["holidays"]), (Some(1), &json!(["2026-12-25", "2026-12-26"])));
    let path = format!("/v1/schedules/{}", schedule["id"].as_str().unwrap());

    // Renaming is no new version; new holidays are.
    let renamed: Value = app.patch_as(&path, &admin, &json!({"name": "Round the clock"})).await.json().await.unwrap();
    assert_eq!((renamed["name"].as_str(), renamed["version"].as_i64()), (Some("Round the clock"), Some(1)));
    let edited: Value = app.patch_as(&path, &admin, &json!({"holidays": []})).await.json().await.unwrap();
    assert_eq!(edited["version"], 2);
    let versions = read(&app, &admin, &format!("{path}/versions")).await;
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["holidays"], json!(["2026-12-25", "2026-12-26"]), "the old version is kept as it was");
    assert!(at(&versions[1]["valid_from"]) >= at(&versions[0]["valid_from"]));

    let policy = json!({"name": "Business", "schedule_id": schedule["id"],
                        "targets": {"resolution": {"minutes": {"normal": 120}, "hours": "business"}}});
    created(&app, &admin, "/v1/sla-policies", policy).await;
    let ticket = customer_with_ticket(&app, &admin, "bo@example.org").await;
    let sla = read(&app, &admin, &format!("/v1/tickets/{}/sla", ticket["id"].as_str().unwrap())).await;
    let resolution = clock(&sla, "resolution");
    assert_eq!(resolution["hours"], "business");
    // Every hour is a working hour: business time runs as the clock does.
    assert_eq!(at(&resolution["due_at"]), at(&ticket["created_at"]) + chrono::Duration::minutes(120), "{sla}");
}

async fn policies_and_schedules_refuse_what_cannot_be_measured(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let refused = |body: Value, path: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let response = app.post_as(path, admin, &body).await;
            let status = response.status().as_u16();
            let problem: Value = response.json().await.unwrap();
            assert!(status == 422 || status == 400, "{path} {body}: {status} {problem}");
            problem
        }
    };
    let day = json!({"monday": [{"start": "09:00", "end": "17:00"}]});
    refused(json!({"name": "Mars", "time_zone": "Mars/Olympus", "hours": day}), "/v1/schedules").await;
    refused(json!({"name": "Never", "time_zone": "UTC", "hours": {}}), "/v1/schedules").await;
    refused(
        json!({"name": "Backwards", "time_zone": "UTC", "hours": {"monday": [{"start": "17:00", "end": "09:00"}]}}),
        "/v1/schedules",
    )
    .await;
    refused(
        json!({"name": "Odd", "time_zone": "UTC", "hours": {"monday": [{"start": "9am", "end": "17:00"}]}}),
        "/v1/schedules",
    )
    .await;
    let problem = refused(
        json!({"name": "B", "targets": {"first_reply": {"minutes": {"normal": 60}, "hours": "business"}}}),
        "/v1/sla-policies",
    )
    .await;
    assert_eq!(problem["extra"]["field"], "schedule_id", "{problem}");
    let unknown = json!({"name": "B", "schedule_id": uuid::Uuid::now_v7(), "targets": {"first_reply": {"minutes": {"normal": 60}, "hours": "business"}}});
    refused(unknown, "/v1/sla-policies").await;
    refused(json!({"name": "Empty", "targets": {}}), "/v1/sla-policies").await;
    refused(json!({"name": "Zero", "targets": {"resolution": {"minutes": {"low": 0}}}}), "/v1/sla-policies").await;
    refused(
        json!({"name": "Open", "targets": {"resolution": {"minutes": {"low": 5}, "pause_on": ["open"]}}}),
        "/v1/sla-policies",
    )
    .await;
    refused(json!({"name": "Tag", "conditions": {"tags": ["not a tag"]}, "targets": {"resolution": {"minutes": {"low": 5}}}}), "/v1/sla-policies").await;
    let missing = app.get_as(&format!("/v1/tickets/{}/sla", uuid::Uuid::now_v7()), &admin).await;
    assert_eq!(missing.status(), 404);
    let agent = app.agent_token("agent").await;
    let forbidden = app
        .post_as(
            "/v1/sla-policies",
            &agent,
            &json!({"name": "Mine", "targets": {"resolution": {"minutes": {"low": 5}}}}),
        )
        .await;
    assert_eq!(forbidden.status(), 403);
}

async fn an_edit_reaches_running_clocks_and_old_history_is_not_news(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let connector = created(&app, &admin, "/v1/connectors", json!({"name": "sms"})).await;
    let key = connector["key"].as_str().unwrap();
    let import = |external: &str, customer: &str, minutes_ago: i64| {
        json!({"external_id": external, "customer": {"external_id": customer}, "text": "Hello?",
               "sent_at": braid_db::now() - chrono::Duration::minutes(minutes_ago)})
    };
    // Answered late, before any policy existed.
    let old = created(&app, key, "/v1/connectors/sms/messages", import("m-1", "ana", 180)).await;
    let old = old["ticket_id"].as_str().unwrap().to_owned();
    created(&app, &admin, &format!("/v1/tickets/{old}/replies"), json!({"text": "Sorry for the wait"})).await;

    let policy = json!({"name": "Generous", "targets": {"first_reply": {"minutes": {"normal": 600}}}});
    let policy = created(&app, &admin, "/v1/sla-policies", policy).await;
    let waiting = created(&app, key, "/v1/connectors/sms/messages", import("m-2", "bo", 5)).await;
    let waiting = waiting["ticket_id"].as_str().unwrap().to_owned();
    assert!(logged(&app, "ticket.sla_breached").await.is_empty());

    // Tightened to two minutes: the waiting ticket's clock is overdue, and the timer finds
    // it within seconds, not at the old due time.
    let tightened = json!({"targets": {"first_reply": {"minutes": {"normal": 2}}}});
    let path = format!("/v1/sla-policies/{}", policy["id"].as_str().unwrap());
    assert_eq!(app.patch_as(&path, &admin, &tightened).await.status(), 200);
    let mut breaches = vec![];
    for _ in 0..100 {
        breaches = logged(&app, "ticket.sla_breached").await;
        if !breaches.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(breaches.len(), 1, "{breaches:#?}");
    assert_eq!(breaches[0]["ticket_id"], waiting.as_str());

    // The old ticket takes the policy at its next change: its late answer shows, unannounced.
    assert_eq!(app.patch_as(&format!("/v1/tickets/{old}"), &admin, &json!({"tags": ["old"]})).await.status(), 200);
    let sla = read(&app, &admin, &format!("/v1/tickets/{old}/sla")).await;
    assert!(clock(&sla, "first_reply")["breached_at"].is_string(), "{sla}");
    assert_eq!(sla["breaches"], json!([]));
    assert_eq!(logged(&app, "ticket.sla_breached").await.len(), 1, "history is not news");
}

async fn an_email_starts_a_clock_and_an_auto_reply_does_not(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_settings(|s| s.email_inbound_secret = Some(crate::email::SECRET.into()))
        .start()
        .await;
    let admin = app.admin_token().await;
    let policy = json!({"name": "Email", "targets": {"first_reply": {"minutes": {"normal": 60}}, "next_reply": {"minutes": {"normal": 60}}}});
    created(&app, &admin, "/v1/sla-policies", policy).await;
    let first = b"From: Ana <ana@example.org>\r\nTo: help@braid.test\r\nSubject: Broken\r\nMessage-ID: <e1@example.org>\r\n\r\nIt broke.\r\n";
    assert_eq!(crate::email::post_raw(&app, first).await.status(), 201);
    let tickets = read(&app, &admin, "/v1/tickets").await;
    let id = tickets["data"][0]["id"].as_str().unwrap().to_owned();
    let sla = read(&app, &admin, &format!("/v1/tickets/{id}/sla")).await;
    assert!(clock(&sla, "first_reply")["due_at"].is_string(), "an email starts the first-reply clock: {sla}");
    created(&app, &admin, &format!("/v1/tickets/{id}/replies"), json!({"text": "Looking into it"})).await;

    let away = b"From: Ana <ana@example.org>\r\nTo: help@braid.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nIn-Reply-To: <e1@example.org>\r\nMessage-ID: <e2@example.org>\r\n\r\nAway until Monday.\r\n";
    assert_eq!(crate::email::post_raw(&app, away).await.status(), 201);
    let sla = read(&app, &admin, &format!("/v1/tickets/{id}/sla")).await;
    let clocks = sla["clocks"].as_array().unwrap();
    assert!(clocks.iter().all(|c| c["metric"] != "next_reply"), "an auto-reply starts no clock: {sla}");
}
