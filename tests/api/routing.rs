//! Routing through the API: presence with a lease, tickets handed to online agents in turn
//! or by load (50 at once, balanced, never over capacity), decisions with reasons, an
//! offline agent's tickets re-queued after the grace period, and a reopened ticket taken
//! from an assignee who is not there.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, access_token, both_backends};
use crate::sla::{created, logged, read};

both_backends!(
    fifty_tickets_at_once_are_balanced_across_five_online_agents,
    round_robin_takes_turns_and_capacity_is_never_overrun,
    an_offline_agents_open_tickets_are_requeued_after_the_grace_period,
    a_reopened_ticket_leaves_an_assignee_who_is_not_there,
    presence_is_kept_by_heartbeats_and_lapses_without_them,
    a_channels_default_team_routes_what_arrives_on_it,
);

/// `n` agents: (id, token) each, in creation order.
async fn agents(app: &TestApp, admin: &str, n: usize) -> Vec<(String, String)> {
    let mut made = vec![];
    for i in 0..n {
        let email = format!("{}@agents.example.org", uuid::Uuid::now_v7().simple());
        let password = "a long enough password";
        let body = json!({"email": email, "name": format!("Agent {i}"), "role": "agent", "password": password});
        let id = created(app, admin, "/v1/agents", body).await["id"].as_str().unwrap().to_owned();
        made.push((id, access_token(app.login(&email, password).await).await));
    }
    made
}

async fn set_presence(app: &TestApp, token: &str, status: &str) -> Value {
    let response = app.put_as("/v1/presence", token, &json!({"status": status})).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn team(app: &TestApp, admin: &str, members: &[(String, String)], routing: Value) -> String {
    let ids: Vec<&str> = members.iter().map(|(id, _)| id.as_str()).collect();
    let body =
        json!({"name": format!("Support {}", uuid::Uuid::now_v7().simple()), "member_ids": ids, "routing": routing});
    let team = created(app, admin, "/v1/teams", body).await;
    assert_eq!(team["routing"]["mode"], routing["mode"]);
    team["id"].as_str().unwrap().to_owned()
}

async fn customer(app: &TestApp, admin: &str) -> String {
    let email = format!("{}@customers.example.org", uuid::Uuid::now_v7().simple());
    let body = json!({"identities": [{"kind": "email", "value": email}]});
    created(app, admin, "/v1/customers", body).await["id"].as_str().unwrap().to_owned()
}

/// Opens `n` tickets for the team at once, each for its own customer; returns them as
/// the API answered.
async fn open_at_once(app: &TestApp, admin: &str, team: &str, n: usize) -> Vec<Value> {
    let mut customers = vec![];
    for _ in 0..n {
        customers.push(customer(app, admin).await);
    }
    let opened = customers.iter().map(|customer| {
        let body = json!({"customer_id": customer, "subject": "Where is my order?", "team_id": team});
        created(app, admin, "/v1/tickets", body)
    });
    join_all(opened).await
}

fn per_agent(tickets: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for ticket in tickets {
        *counts.entry(ticket["assignee_id"].as_str().unwrap_or("nobody").to_owned()).or_default() += 1;
    }
    counts
}

async fn fifty_tickets_at_once_are_balanced_across_five_online_agents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let members = agents(&app, &admin, 6).await;
    for (_, token) in &members[..5] {
        set_presence(&app, token, "online").await;
    }
    // The sixth is a member but away: never routed.
    set_presence(&app, &members[5].1, "away").await;
    let team = team(&app, &admin, &members, json!({"mode": "least_loaded", "capacity": {"api": 10}})).await;

    let opened = open_at_once(&app, &admin, &team, 50).await;
    let counts = per_agent(&opened);
    assert_eq!(counts.len(), 5, "{counts:?}");
    assert!(counts.values().all(|n| *n == 10), "balanced as configured: {counts:?}");
    assert!(!counts.contains_key(&members[5].0));

    // Every ticket was routed exactly once, with its reason; the listing agrees.
    let routed = logged(&app, "ticket.routed").await;
    assert_eq!(routed.len(), 50);
    let first = opened[0]["id"].as_str().unwrap();
    let decisions = read(&app, &admin, &format!("/v1/tickets/{first}/routing")).await;
    assert_eq!(decisions.as_array().unwrap().len(), 1, "{decisions}");
    assert_eq!(
        (decisions[0]["trigger"].as_str(), decisions[0]["mode"].as_str()),
        (Some("created"), Some("least_loaded"))
    );
    assert!(decisions[0]["reason"].as_str().unwrap().starts_with("least loaded"), "{decisions}");
    let listed = read(&app, &admin, &format!("/v1/tickets?team={team}&limit=200")).await;
    assert_eq!(per_agent(listed["data"].as_array().unwrap()), counts);

    // Full: the 51st waits in the queue, and the reason says why.
    let more = open_at_once(&app, &admin, &team, 1).await;
    assert_eq!(more[0]["assignee_id"], Value::Null);
    let id = more[0]["id"].as_str().unwrap();
    let decisions = read(&app, &admin, &format!("/v1/tickets/{id}/routing")).await;
    assert!(decisions[0]["reason"].as_str().unwrap().contains("at capacity (10 on api)"), "{decisions}");

    // The away agent comes online: the queue drains to them.
    set_presence(&app, &members[5].1, "online").await;
    let mut now = Value::Null;
    for _ in 0..100 {
        now = read(&app, &admin, &format!("/v1/tickets/{id}")).await;
        if now["assignee_id"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(now["assignee_id"], members[5].0.as_str());
    let decisions = read(&app, &admin, &format!("/v1/tickets/{id}/routing")).await;
    assert_eq!(decisions[1]["trigger"], "agent_online");
}

async fn round_robin_takes_turns_and_capacity_is_never_overrun(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let members = agents(&app, &admin, 5).await;
    for (_, token) in &members {
        set_presence(&app, token, "online").await;
    }
    let team = team(&app, &admin, &members, json!({"mode": "round_robin", "default_capacity": 12})).await;
    let opened = open_at_once(&app, &admin, &team, 50).await;
    let counts = per_agent(&opened);
    assert_eq!(counts.len(), 5, "{counts:?}");
    assert!(counts.values().all(|n| *n == 10), "in turn: {counts:?}");

    // Moving a ticket into the team unassigned routes it too; a manual team routes nothing.
    let manual = created(&app, &admin, "/v1/teams", json!({"name": "By hand", "member_ids": [members[0].0]})).await;
    let customer = customer(&app, &admin).await;
    let body = json!({"customer_id": customer, "subject": "Manual", "team_id": manual["id"]});
    let ticket = created(&app, &admin, "/v1/tickets", body).await;
    assert_eq!(ticket["assignee_id"], Value::Null, "manual routes nothing");
    let id = ticket["id"].as_str().unwrap();
    let moved = app.patch_as(&format!("/v1/tickets/{id}"), &admin, &json!({"team_id": team})).await;
    assert_eq!(moved.status(), 200);
    let moved: Value = moved.json().await.unwrap();
    assert!(moved["assignee_id"].is_string(), "{moved}");
    let decisions = read(&app, &admin, &format!("/v1/tickets/{id}/routing")).await;
    assert_eq!(decisions[0]["trigger"], "team_changed");
}

async fn an_offline_agents_open_tickets_are_requeued_after_the_grace_period(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let members = agents(&app, &admin, 2).await;
    set_presence(&app, &members[0].1, "online").await;
    let team = team(&app, &admin, &members, json!({"mode": "least_loaded", "grace_minutes": 0})).await;
    let opened = open_at_once(&app, &admin, &team, 3).await;
    assert!(opened.iter().all(|t| t["assignee_id"] == members[0].0.as_str()));
    // One waits on the customer: it stays.
    let pending = opened[2]["id"].as_str().unwrap();
    assert_eq!(
        app.patch_as(&format!("/v1/tickets/{pending}"), &admin, &json!({"status": "pending"})).await.status(),
        200
    );

    set_presence(&app, &members[1].1, "online").await;
    let gone = set_presence(&app, &members[0].1, "offline").await;
    assert_eq!(gone["status"], "offline");
    let first = opened[0]["id"].as_str().unwrap().to_owned();
    let mut moved = Value::Null;
    for _ in 0..100 {
        moved = read(&app, &admin, &format!("/v1/tickets/{first}")).await;
        if moved["assignee_id"] == members[1].0.as_str() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(moved["assignee_id"], members[1].0.as_str(), "reassigned to who is online");
    let second = read(&app, &admin, &format!("/v1/tickets/{}", opened[1]["id"].as_str().unwrap())).await;
    assert_eq!(second["assignee_id"], members[1].0.as_str());
    let kept = read(&app, &admin, &format!("/v1/tickets/{pending}")).await;
    assert_eq!(kept["assignee_id"], members[0].0.as_str(), "a ticket waiting on the customer is not ours to move");
    let decisions = read(&app, &admin, &format!("/v1/tickets/{first}/routing")).await;
    let last = decisions.as_array().unwrap().last().unwrap();
    assert_eq!(
        (last["trigger"].as_str(), last["previous_agent_id"].as_str()),
        (Some("agent_offline"), Some(members[0].0.as_str()))
    );
    let presence_changes = logged(&app, "agent.presence_changed").await;
    assert!(presence_changes.iter().any(|e| e["payload"]["status"] == "offline"), "{presence_changes:#?}");

    // With `unassign`, the tickets go back to the queue.
    let patch = json!({"routing": {"mode": "least_loaded", "grace_minutes": 0, "offline_policy": "unassign"}});
    assert_eq!(app.patch_as(&format!("/v1/teams/{team}"), &admin, &patch).await.status(), 200);
    set_presence(&app, &members[1].1, "offline").await;
    let mut back = Value::Null;
    for _ in 0..100 {
        back = read(&app, &admin, &format!("/v1/tickets/{first}")).await;
        if back["assignee_id"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(back["assignee_id"], Value::Null, "{back}");
}

async fn a_reopened_ticket_leaves_an_assignee_who_is_not_there(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let members = agents(&app, &admin, 2).await;
    set_presence(&app, &members[0].1, "online").await;
    let team = team(&app, &admin, &members, json!({"mode": "round_robin", "offline_policy": "keep"})).await;
    let ticket = open_at_once(&app, &admin, &team, 1).await.remove(0);
    let id = ticket["id"].as_str().unwrap();
    assert_eq!(ticket["assignee_id"], members[0].0.as_str());
    assert_eq!(app.patch_as(&format!("/v1/tickets/{id}"), &admin, &json!({"status": "solved"})).await.status(), 200);
    // Away is still there: the ticket stays theirs.
    set_presence(&app, &members[0].1, "away").await;
    set_presence(&app, &members[1].1, "online").await;
    let reopened: Value =
        app.patch_as(&format!("/v1/tickets/{id}"), &admin, &json!({"status": "open"})).await.json().await.unwrap();
    assert_eq!(reopened["assignee_id"], members[0].0.as_str(), "{reopened}");
    assert_eq!(app.patch_as(&format!("/v1/tickets/{id}"), &admin, &json!({"status": "solved"})).await.status(), 200);
    set_presence(&app, &members[0].1, "offline").await;
    let reopened = app.patch_as(&format!("/v1/tickets/{id}"), &admin, &json!({"status": "open"})).await;
    let reopened: Value = reopened.json().await.unwrap();
    assert_eq!(reopened["assignee_id"], members[1].0.as_str(), "not given back to an agent who is offline: {reopened}");
    let decisions = read(&app, &admin, &format!("/v1/tickets/{id}/routing")).await;
    assert_eq!(decisions.as_array().unwrap().last().unwrap()["trigger"], "reopened");

    // Back to the first agent by hand; solved, reopened while they are online: kept.
    let back = json!({"assignee_id": members[0].0, "status": "solved"});
    assert_eq!(app.patch_as(&format!("/v1/tickets/{id}"), &admin, &back).await.status(), 200);
    set_presence(&app, &members[0].1, "online").await;
    let reopened: Value =
        app.patch_as(&format!("/v1/tickets/{id}"), &admin, &json!({"status": "open"})).await.json().await.unwrap();
    assert_eq!(reopened["assignee_id"], members[0].0.as_str());
}

async fn presence_is_kept_by_heartbeats_and_lapses_without_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let members = agents(&app, &admin, 1).await;
    let (agent, token) = &members[0];
    let first = set_presence(&app, token, "online").await;
    assert_eq!((first["status"].as_str(), first["agent_id"].as_str()), (Some("online"), Some(agent.as_str())));
    // A heartbeat keeps what was set.
    let beat: Value = app.put_as("/v1/presence", token, &json!({})).await.json().await.unwrap();
    assert_eq!(beat["status"], "online");
    assert!(beat["lease_until"].as_str() >= first["lease_until"].as_str());

    // The lease lapses: away; long lapsed: offline.
    for (ago, expected) in [(1, "away"), (11 * 60, "offline")] {
        let id = agent.clone();
        app.with_db(move |conn| {
            use braid_db::schema::agent_presence;
            use diesel::prelude::*;
            let lapsed = (braid_db::now() - chrono::Duration::seconds(ago)).naive_utc();
            diesel::update(agent_presence::table.find(id)).set(agent_presence::lease_until.eq(lapsed)).execute(conn)?;
            Ok(())
        })
        .await;
        let all = read(&app, &admin, "/v1/presence").await;
        let mine = all.as_array().unwrap().iter().find(|p| p["agent_id"] == agent.as_str()).unwrap().clone();
        assert_eq!((mine["status"].as_str(), mine["set_status"].as_str()), (Some(expected), Some("online")));
    }

    // An admin (or an admin key) sets another agent's presence; agents and other keys cannot.
    let other = agents(&app, &admin, 1).await.remove(0);
    let named = json!({"status": "away", "agent_id": agent});
    assert_eq!(app.put_as("/v1/presence", &other.1, &named).await.status(), 403);
    assert_eq!(app.put_as("/v1/presence", &admin, &named).await.status(), 200);
    let key = app.api_key(&["tickets:write"]).await;
    assert_eq!(app.put_as("/v1/presence", &key, &json!({"status": "online"})).await.status(), 422);
    assert_eq!(app.put_as("/v1/presence", &key, &named).await.status(), 403);
    let unknown = json!({"status": "online", "agent_id": uuid::Uuid::now_v7()});
    assert_eq!(app.put_as("/v1/presence", &admin, &unknown).await.status(), 422);
    assert_eq!(app.put_as("/v1/presence", token, &json!({"status": "busy"})).await.status(), 400);
    let bad = json!({"name": "Bad", "routing": {"mode": "least_loaded", "grace_minutes": 100000}});
    assert_eq!(app.post_as("/v1/teams", &admin, &bad).await.status(), 422);
}

async fn a_channels_default_team_routes_what_arrives_on_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let members = agents(&app, &admin, 1).await;
    set_presence(&app, &members[0].1, "online").await;
    let team = team(&app, &admin, &members, json!({"mode": "least_loaded"})).await;
    let unknown = json!({"default_teams": {"api": uuid::Uuid::now_v7()}});
    assert_eq!(app.patch_as("/v1/routing/settings", &admin, &unknown).await.status(), 422);
    let set = json!({"default_teams": {"api": team}});
    let answered = app.patch_as("/v1/routing/settings", &admin, &set).await;
    assert_eq!(answered.status(), 200);
    assert_eq!(read(&app, &admin, "/v1/routing/settings").await, set);

    // A connector's customer writes: the new ticket joins the channel's team and is routed.
    let connector = created(&app, &admin, "/v1/connectors", json!({"name": "sms"})).await;
    let key = connector["key"].as_str().unwrap();
    let message = json!({"external_id": "m-1", "customer": {"external_id": "+4915100000009"}, "text": "Hello?"});
    let placed = created(&app, key, "/v1/connectors/sms/messages", message).await;
    let ticket = read(&app, &admin, &format!("/v1/tickets/{}", placed["ticket_id"].as_str().unwrap())).await;
    assert_eq!(
        (ticket["team_id"].as_str(), ticket["assignee_id"].as_str()),
        (Some(team.as_str()), Some(members[0].0.as_str()))
    );
    let decisions = read(&app, &admin, &format!("/v1/tickets/{}/routing", ticket["id"].as_str().unwrap())).await;
    assert_eq!(decisions[0]["trigger"], "created");
}
