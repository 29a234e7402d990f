//! Follow-ups through the API: snoozes that end on time or on the customer's reply,
//! reminders fired once, and a team's rule for pending tickets.

use std::time::Duration;

use braid_db::due_jobs::Due;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, both_backends};
use crate::sla::{created, logged, read};

both_backends!(
    a_snoozed_ticket_leaves_the_list_and_comes_back_when_due,
    the_customers_reply_wakes_a_snooze_and_cancels_the_reminders_that_ask,
    a_reminder_fires_once_however_many_nodes_fire_it,
    a_teams_pending_rule_reminds_the_customer_then_solves,
    follow_ups_refuse_what_cannot_be_kept,
);

fn soon(seconds: i64) -> String {
    (braid_db::now() + chrono::Duration::seconds(seconds)).to_rfc3339()
}

/// A connector's customer writes; returns (connector key, ticket id).
async fn conversation(app: &TestApp, admin: &str) -> (String, String) {
    let connector = created(app, admin, "/v1/connectors", json!({"name": "sms"})).await;
    let key = connector["key"].as_str().unwrap().to_owned();
    let message = json!({"external_id": "m-1", "customer": {"external_id": "+4915100000001"},
                         "conversation_ref": "c-1", "text": "Hello?"});
    let placed = created(app, &key, "/v1/connectors/sms/messages", message).await;
    (key, placed["ticket_id"].as_str().unwrap().to_owned())
}

fn listed(page: &Value, id: &str) -> bool {
    page["data"].as_array().unwrap().iter().any(|t| t["id"] == id)
}

async fn a_snoozed_ticket_leaves_the_list_and_comes_back_when_due(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, id) = conversation(&app, &admin).await;
    let snoozed = app.post_as(&format!("/v1/tickets/{id}/snooze"), &admin, &json!({"until": soon(3)})).await;
    assert_eq!(snoozed.status(), 200);
    let snoozed: Value = snoozed.json().await.unwrap();
    assert!(snoozed["snoozed_until"].is_string(), "{snoozed}");
    assert!(!listed(&read(&app, &admin, "/v1/tickets").await, &id), "a snoozed ticket is out of the default list");
    assert!(listed(&read(&app, &admin, "/v1/tickets?snoozed=only").await, &id));
    assert!(listed(&read(&app, &admin, "/v1/tickets?snoozed=include").await, &id));

    let mut back = false;
    for _ in 0..100 {
        if listed(&read(&app, &admin, "/v1/tickets").await, &id) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the ticket never came back");
    let woke = logged(&app, "ticket.woke").await;
    assert_eq!(woke.len(), 1, "{woke:#?}");
    assert_eq!(
        (woke[0]["payload"]["reason"].as_str(), woke[0]["payload"]["ticket"]["snoozed_until"].clone()),
        (Some("due"), Value::Null)
    );
    assert_eq!(logged(&app, "ticket.snoozed").await.len(), 1);
    assert_eq!(app.with_db(|conn| braid_db::due_jobs::count(conn, "snooze")).await, 0);
}

async fn the_customers_reply_wakes_a_snooze_and_cancels_the_reminders_that_ask(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (key, id) = conversation(&app, &admin).await;
    let snooze = json!({"until": soon(3600), "wake_on_reply": true});
    assert_eq!(app.post_as(&format!("/v1/tickets/{id}/snooze"), &admin, &snooze).await.status(), 200);
    let reminders = format!("/v1/tickets/{id}/reminders");
    let cancelled =
        created(&app, &admin, &reminders, json!({"due_at": soon(3600), "note": "Chase", "cancel_on_reply": true}))
            .await;
    let kept = created(&app, &admin, &reminders, json!({"due_at": soon(7200), "note": "Check in anyway"})).await;

    let answer = json!({"external_id": "m-2", "customer": {"external_id": "+4915100000001"},
                        "conversation_ref": "c-1", "text": "Still waiting"});
    let placed = created(&app, &key, "/v1/connectors/sms/messages", answer).await;
    assert_eq!(placed["ticket_id"], id.as_str());

    let ticket = read(&app, &admin, &format!("/v1/tickets/{id}")).await;
    assert_eq!(ticket["snoozed_until"], Value::Null, "{ticket}");
    let woke = logged(&app, "ticket.woke").await;
    assert_eq!(woke.len(), 1);
    assert_eq!(woke[0]["payload"]["reason"], "customer_replied");
    let states: Vec<(Value, Value)> = read(&app, &admin, &reminders)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].clone(), r["state"].clone()))
        .collect();
    assert!(states.contains(&(cancelled["id"].clone(), json!("cancelled"))), "{states:?}");
    assert!(states.contains(&(kept["id"].clone(), json!("pending"))), "{states:?}");
    assert_eq!(logged(&app, "reminder.cancelled").await.len(), 1);

    // Another message finds nothing more to do; a snooze without wake_on_reply sleeps on.
    let quiet = json!({"until": soon(3600), "wake_on_reply": false});
    assert_eq!(app.post_as(&format!("/v1/tickets/{id}/snooze"), &admin, &quiet).await.status(), 200);
    let again = json!({"external_id": "m-3", "customer": {"external_id": "+4915100000001"},
                       "conversation_ref": "c-1", "text": "Hello again"});
    created(&app, &key, "/v1/connectors/sms/messages", again).await;
    assert!(read(&app, &admin, &format!("/v1/tickets/{id}")).await["snoozed_until"].is_string());
    assert_eq!(logged(&app, "ticket.woke").await.len(), 1);
    let woken = app.delete_as(&format!("/v1/tickets/{id}/snooze"), &admin).await;
    assert_eq!(woken.status(), 200);
    let woke = logged(&app, "ticket.woke").await;
    assert_eq!((woke.len(), woke[1]["payload"]["reason"].as_str()), (2, Some("unsnoozed")));
}

async fn a_reminder_fires_once_however_many_nodes_fire_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, id) = conversation(&app, &admin).await;
    let reminders = format!("/v1/tickets/{id}/reminders");
    let reminder = created(&app, &admin, &reminders, json!({"due_at": soon(2), "note": "Call back"})).await;
    assert_eq!(reminder["state"], "pending");
    let rid = reminder["id"].as_str().unwrap().to_owned();

    tokio::time::sleep(Duration::from_secs(2)).await;
    let job = Due { id: "a-node's-lease".into(), kind: "reminder".into(), subject: rid.clone() };
    let mut firing = vec![];
    for _ in 0..4 {
        let (db, job) = (app.db.clone(), job.clone());
        firing.push(tokio::spawn(async move {
            db.run(move |conn| braid_db::follow_ups::fire(conn, &job, braid_db::now())).await
        }));
    }
    for fired in firing {
        if let Err(error) = fired.await.unwrap() {
            assert!(matches!(app.db.backend(), braid_db::Backend::Sqlite { .. }), "{error}");
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let fired = logged(&app, "reminder.fired").await;
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(
        (fired[0]["payload"]["id"].as_str(), fired[0]["ticket_id"].as_str()),
        (Some(rid.as_str()), Some(id.as_str()))
    );
    let listed = read(&app, &admin, &reminders).await;
    assert_eq!(listed[0]["state"], "fired");
    let cancel = app.delete_as(&format!("{reminders}/{rid}"), &admin).await;
    assert_eq!(cancel.status(), 409, "a fired reminder cannot be cancelled");

    // "In four business hours" of a schedule that never closes is four hours from now.
    let day = json!([{"start": "00:00", "end": "24:00"}]);
    let hours = json!({"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day, "saturday": day, "sunday": day});
    let schedule =
        created(&app, &admin, "/v1/schedules", json!({"name": "Always", "time_zone": "UTC", "hours": hours})).await;
    let before = braid_db::now();
    let later = created(&app, &admin, &reminders, json!({"in_business_hours": 4, "schedule_id": schedule["id"]})).await;
    let due: chrono::DateTime<chrono::Utc> = later["due_at"].as_str().unwrap().parse().unwrap();
    assert!(
        due >= before + chrono::Duration::hours(4) && due <= braid_db::now() + chrono::Duration::hours(4),
        "{later}"
    );
    let cancelled = app.delete_as(&format!("{reminders}/{}", later["id"].as_str().unwrap()), &admin).await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(cancelled.json::<Value>().await.unwrap()["state"], "cancelled");
}

async fn a_teams_pending_rule_reminds_the_customer_then_solves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let team = created(&app, &admin, "/v1/teams", json!({"name": "Support"})).await;
    let team_id = team["id"].as_str().unwrap().to_owned();
    let rule =
        json!({"pending_rule": {"remind_after_days": 2, "solve_after_days": 5, "reminder_text": "Any news on this?"}});
    let patched = app.patch_as(&format!("/v1/teams/{team_id}"), &admin, &rule).await;
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.json::<Value>().await.unwrap()["pending_rule"]["solve_after_days"], 5);

    let (key, id) = conversation(&app, &admin).await;
    let pending =
        app.patch_as(&format!("/v1/tickets/{id}"), &admin, &json!({"team_id": team_id, "status": "pending"})).await;
    assert_eq!(pending.status(), 200);
    let due = |kind: &'static str| {
        let subject = id.clone();
        let app = &app;
        async move {
            app.with_db(move |conn| {
                use braid_db::schema::due_jobs;
                use diesel::prelude::*;
                Ok(due_jobs::table
                    .filter(due_jobs::kind.eq(kind).and(due_jobs::subject.eq(subject)))
                    .select(due_jobs::due_at)
                    .first::<chrono::NaiveDateTime>(conn)
                    .optional()?)
            })
            .await
        }
    };
    let remind_at = due("pending_remind").await.expect("the reminder is timed").and_utc();
    let days = (remind_at - braid_db::now()).num_hours();
    assert!((47..=48).contains(&days), "reminded after {days} hours");

    // The days pass: the timer fires at its time (called here as a node would, with the
    // clock moved on).
    let fire = |kind: &'static str, days_later: i64| {
        let job = Due { id: "lease".into(), kind: kind.into(), subject: id.clone() };
        let app = &app;
        let at = braid_db::now() + chrono::Duration::days(days_later) + chrono::Duration::minutes(2);
        async move { app.with_db(move |conn| braid_db::follow_ups::fire(conn, &job, at)).await }
    };
    let early = Due { id: "lease".into(), kind: "pending_remind".into(), subject: id.clone() };
    let nothing = app.with_db(move |conn| braid_db::follow_ups::fire(conn, &early, braid_db::now())).await;
    assert_eq!(nothing, "nothing", "no timer is due yet: a stale lease does nothing");
    assert_eq!(fire("pending_remind", 1).await, "nothing", "a day early");
    assert_eq!(fire("pending_remind", 2).await, "pending reminder sent");
    let thread = read(&app, &admin, &format!("/v1/tickets/{id}/messages")).await;
    let reminder = thread["data"].as_array().unwrap().iter().find(|m| m["text"] == "Any news on this?").cloned();
    let reminder = reminder.expect("the customer was reminded");
    assert_eq!(
        (reminder["direction"].as_str(), reminder["author"]["kind"].as_str()),
        (Some("outbound"), Some("system"))
    );
    assert!(due("pending_solve").await.is_some());
    assert_eq!(fire("pending_solve", 4).await, "nothing", "the solve waits its days");
    assert_eq!(fire("pending_solve", 5).await, "pending ticket solved");
    let ticket = read(&app, &admin, &format!("/v1/tickets/{id}")).await;
    assert_eq!(ticket["status"], "solved");
    let thread = read(&app, &admin, &format!("/v1/tickets/{id}/messages")).await;
    assert!(
        thread["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["direction"] == "note" && m["text"].as_str().unwrap().contains("5 days"))
    );
    assert_eq!(fire("pending_solve", 5).await, "nothing", "it solves once");

    // A customer's answer while pending ends the rule's timers.
    let reopened = json!({"external_id": "m-9", "customer": {"external_id": "+4915100000001"}, "conversation_ref": "c-1", "text": "Back again"});
    created(&app, &key, "/v1/connectors/sms/messages", reopened).await;
    assert_eq!(app.patch_as(&format!("/v1/tickets/{id}"), &admin, &json!({"status": "pending"})).await.status(), 200);
    assert!(due("pending_remind").await.is_some());
    let answer = json!({"external_id": "m-10", "customer": {"external_id": "+4915100000001"}, "conversation_ref": "c-1", "text": "Here it is"});
    created(&app, &key, "/v1/connectors/sms/messages", answer).await;
    assert_eq!((due("pending_remind").await, due("pending_solve").await), (None, None));
    assert_eq!(read(&app, &admin, &format!("/v1/tickets/{id}")).await["status"], "open");
}

async fn follow_ups_refuse_what_cannot_be_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, id) = conversation(&app, &admin).await;
    let status = |response: reqwest::Response| response.status().as_u16();
    let snooze = format!("/v1/tickets/{id}/snooze");
    assert_eq!(status(app.post_as(&snooze, &admin, &json!({"until": soon(-60)})).await), 422);
    assert_eq!(status(app.post_as(&snooze, &admin, &json!({"until": soon(400 * 86_400)})).await), 422);
    let reminders = format!("/v1/tickets/{id}/reminders");
    assert_eq!(status(app.post_as(&reminders, &admin, &json!({"note": "When?"})).await), 422);
    assert_eq!(
        status(app.post_as(&reminders, &admin, &json!({"due_at": soon(60), "in_business_hours": 2})).await),
        422
    );
    let key = app.api_key(&["tickets:write"]).await;
    assert_eq!(status(app.post_as(&reminders, &key, &json!({"due_at": soon(60)})).await), 422, "a key names the agent");
    let unknown = json!({"due_at": soon(60), "agent_id": uuid::Uuid::now_v7()});
    assert_eq!(status(app.post_as(&reminders, &admin, &unknown).await), 422);
    let missing = format!("/v1/tickets/{}/reminders/{}", id, uuid::Uuid::now_v7());
    assert_eq!(status(app.delete_as(&missing, &admin).await), 404);
    let rule = json!({"pending_rule": {"remind_after_days": 5, "solve_after_days": 5, "reminder_text": "x"}});
    let team = created(&app, &admin, "/v1/teams", json!({"name": "T"})).await;
    let unknown = json!({"name": "U", "pending_rule": {"remind_after_days": 1, "solve_after_days": 2,
                         "schedule_id": uuid::Uuid::now_v7(), "reminder_text": "Any news?"}});
    assert_eq!(status(app.post_as("/v1/teams", &admin, &unknown).await), 422);
    let ruled = json!({"name": "R", "pending_rule": {"remind_after_days": 1, "solve_after_days": 2, "reminder_text": "Any news?"}});
    assert_eq!(
        created(&app, &admin, "/v1/teams", ruled).await["pending_rule"]["remind_after_days"],
        1,
        "set at creation"
    );
    assert_eq!(status(app.patch_as(&format!("/v1/teams/{}", team["id"].as_str().unwrap()), &admin, &rule).await), 422);
    assert_eq!(status(app.post_as(&snooze, &admin, &json!({"until": soon(3600)})).await), 200);
    assert_eq!(status(app.patch_as(&format!("/v1/tickets/{id}"), &admin, &json!({"status": "solved"})).await), 200);
    let woke = logged(&app, "ticket.woke").await;
    assert_eq!(woke.last().unwrap()["payload"]["reason"], "solved", "solving ends the snooze");
    assert_eq!(read(&app, &admin, &format!("/v1/tickets/{id}")).await["snoozed_until"], Value::Null);
    assert_eq!(
        status(app.post_as(&snooze, &admin, &json!({"until": soon(60)})).await),
        409,
        "a solved ticket is not snoozed"
    );
}
