//! Merging customers: one person's two customers become one, with a preview, on the
//! record, and undoable back to exactly where they were.

use std::collections::{HashMap, HashSet};

use braid_core::placement::ReferenceSource;
use braid_db::placement::{InboundReference, ReferenceTarget};
use braid_db::schema::{customers, events, identities, messages, threads, tickets};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, both_backends};
use crate::placement::{email, place};

both_backends!(
    a_merge_moves_everything_and_leaves_a_tombstone_naming_the_target,
    a_dry_run_shows_what_would_move_and_each_conflict_and_writes_nothing,
    merge_then_undo_restores_the_exact_earlier_state,
    an_undo_sends_later_messages_back_with_their_identity_and_flags_mixed_tickets,
    merging_into_itself_into_a_tombstone_or_into_nobody_is_refused_clearly,
    fifty_concurrent_merges_over_chains_and_pairs_never_lose_or_duplicate_a_row,
    a_merge_past_the_identity_cap_is_refused,
);

/// A customer made by their first email: (customer id, ticket id).
async fn customer_by_email(app: &TestApp, from: &str, name: Option<&str>) -> (String, String) {
    let mut inbound = email(from, &format!("<first.{from}>"));
    inbound.sender_name = name.and_then(braid_core::CustomerName::from_inbound);
    let placed = place(app, inbound).await;
    (placed.customer_id.to_string(), placed.ticket.unwrap().id.to_string())
}

async fn merge(app: &TestApp, token: &str, target: &str, body: Value) -> reqwest::Response {
    app.post_as(&format!("/v1/customers/{target}/merge"), token, &body).await
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{body}");
    body
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    json_of(app.get_as(path, token).await, 200).await
}

/// Every page of a list, in order.
async fn all_pages(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    let (mut items, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{separator}limit=2&cursor={c}"),
            None => format!("{path}{separator}limit=2"),
        };
        let page = get(app, token, &url).await;
        items.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

async fn event_kinds(app: &TestApp) -> Vec<String> {
    app.with_db(|conn| Ok(events::table.order(events::seq).select(events::kind).load::<String>(conn)?)).await
}

async fn a_merge_moves_everything_and_leaves_a_tombstone_naming_the_target(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let (ana, ana_ticket) = customer_by_email(&app, "ana@example.org", Some("Ana Lima")).await;
    let (other, other_ticket) = customer_by_email(&app, "ana.lima@work.example", None).await;

    let response = merge(&app, &token, &ana, json!({ "source_customer_id": other })).await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let record = json_of(response, 201).await;
    assert_eq!(location, format!("/v1/merges/{}", record["id"].as_str().unwrap()));
    assert_eq!(record["target_id"], ana.as_str());
    assert_eq!(record["source_id"], other.as_str());
    assert_eq!(record["reason"], "agent");
    assert_eq!(record["moved"]["tickets"], json!([other_ticket]));
    assert_eq!(record["moved"]["identities"].as_array().unwrap().len(), 1);
    assert_eq!(record["moved"]["messages"].as_array().unwrap().len(), 1);
    assert_eq!(get(&app, &token, &location).await["id"], record["id"], "the record reads back");

    let target = get(&app, &token, &format!("/v1/customers/{ana}")).await;
    let values: HashSet<&str> =
        target["identities"].as_array().unwrap().iter().map(|i| i["value"].as_str().unwrap()).collect();
    assert_eq!(values, HashSet::from(["ana@example.org", "ana.lima@work.example"]));
    assert_eq!(target["merged_into"], Value::Null);
    let tombstone = get(&app, &token, &format!("/v1/customers/{other}")).await;
    assert_eq!(tombstone["merged_into"], ana.as_str(), "GET of the source names the target");
    assert_eq!(tombstone["identities"], json!([]));

    let listed = all_pages(&app, &token, "/v1/customers").await;
    assert!(listed.iter().all(|c| c["id"] != other.as_str()), "lists never show a tombstone");
    let found = get(&app, &token, "/v1/customers?identity=ANA.LIMA@work.example").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert_eq!(found["data"][0]["id"], ana.as_str());
    let tickets = all_pages(&app, &token, &format!("/v1/tickets?customer={ana}")).await;
    let ids: HashSet<&str> = tickets.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, HashSet::from([ana_ticket.as_str(), other_ticket.as_str()]));

    // Later mail from the moved address lands in the target's thread.
    let later = place(&app, email("ana.lima@work.example", "<later@work.example>")).await;
    assert_eq!(later.customer_id.to_string(), ana);
    let thread = all_pages(&app, &token, &format!("/v1/customers/{ana}/thread")).await;
    assert_eq!(thread.len(), 3);

    // Everything else on the tombstone answers with where it went.
    let refused = json_of(app.get_as(&format!("/v1/customers/{other}/thread"), &token).await, 409).await;
    assert_eq!(refused["code"], "customer_merged");
    assert_eq!(refused["extra"]["merged_into"], ana.as_str());
    let renamed = app.patch_as(&format!("/v1/customers/{other}"), &token, &json!({ "name": "x" })).await;
    assert_eq!(json_of(renamed, 409).await["code"], "customer_merged");
    assert!(event_kinds(&app).await.contains(&"customer.merged".to_owned()));
}

async fn a_dry_run_shows_what_would_move_and_each_conflict_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let (ana, _) = customer_by_email(&app, "ana@example.org", Some("Ana")).await;
    let (other, other_ticket) = customer_by_email(&app, "ana.lima@work.example", Some("Ana Lima")).await;
    let events_before = event_kinds(&app).await.len();

    let preview =
        json_of(merge(&app, &token, &ana, json!({ "source_customer_id": other, "dry_run": true })).await, 200).await;
    assert_eq!(preview["identities"][0]["value"], "ana.lima@work.example");
    assert_eq!(preview["tickets"][0]["id"], other_ticket.as_str());
    assert_eq!(preview["messages"], 1);
    assert_eq!(preview["notes"], 0);
    let name = preview["fields"].as_array().unwrap().iter().find(|f| f["field"] == "name").unwrap();
    assert_eq!(
        *name,
        json!({ "field": "name", "target": "Ana", "source": "Ana Lima", "winner": "target", "value": "Ana", "conflict": true })
    );

    let picked = json_of(
        merge(
            &app,
            &token,
            &ana,
            json!({ "source_customer_id": other, "dry_run": true, "choices": { "name": "source" } }),
        )
        .await,
        200,
    )
    .await;
    let name = picked["fields"].as_array().unwrap().iter().find(|f| f["field"] == "name").unwrap();
    assert_eq!((&name["winner"], &name["value"]), (&json!("source"), &json!("Ana Lima")));

    let unknown = merge(
        &app,
        &token,
        &ana,
        json!({ "source_customer_id": other, "dry_run": true, "choices": { "attributes.nope": "source" } }),
    )
    .await;
    assert_eq!(json_of(unknown, 422).await["extra"]["field"], "choices");

    assert_eq!(get(&app, &token, &format!("/v1/customers/{other}")).await["merged_into"], Value::Null);
    assert_eq!(event_kinds(&app).await.len(), events_before, "a preview writes nothing");
}

/// What an agent sees of two customers: each customer, their thread, their tickets.
async fn snapshot(app: &TestApp, token: &str, customers: &[&str]) -> Vec<Value> {
    let mut seen = Vec::new();
    for customer in customers {
        seen.push(get(app, token, &format!("/v1/customers/{customer}")).await);
        seen.push(Value::Array(all_pages(app, token, &format!("/v1/customers/{customer}/thread")).await));
        seen.push(Value::Array(all_pages(app, token, &format!("/v1/tickets?customer={customer}")).await));
    }
    seen
}

async fn merge_then_undo_restores_the_exact_earlier_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let (ana, _) = customer_by_email(&app, "ana@example.org", None).await;
    let (other, _) = customer_by_email(&app, "ana.lima@work.example", Some("Ana Lima")).await;
    place(&app, email("ana.lima@work.example", "<second@work.example>")).await;
    let phone = json!({ "kind": "phone", "value": "+14155550132" });
    assert_eq!(app.post_as(&format!("/v1/customers/{other}/identities"), &token, &phone).await.status(), 201);
    let before = snapshot(&app, &token, &[&ana, &other]).await;

    let record = json_of(merge(&app, &token, &ana, json!({ "source_customer_id": other })).await, 201).await;
    assert_eq!(record["fields"], json!([{ "field": "name", "before": null, "after": "Ana Lima" }]), "the gap filled");
    assert_eq!(get(&app, &token, &format!("/v1/customers/{ana}")).await["name"], "Ana Lima");

    let undo = format!("/v1/merges/{}/undo", record["id"].as_str().unwrap());
    let undone = json_of(app.post_as(&undo, &token, &json!({})).await, 200).await;
    assert!(undone["undone_at"].is_string());
    assert_eq!(undone["undo"]["review_tickets"], json!([]));
    assert_eq!(undone["undo"]["returned"]["identities"].as_array().unwrap().len(), 2);
    assert_eq!(undone["undo"]["returned"]["messages"].as_array().unwrap().len(), 2);
    assert_eq!(snapshot(&app, &token, &[&ana, &other]).await, before, "both customers exactly as before");

    let again = json_of(app.post_as(&undo, &token, &json!({})).await, 409).await;
    assert_eq!(again["code"], "conflict");

    // Two undos at once: one undoes, the other is told it was done.
    let record = json_of(merge(&app, &token, &ana, json!({ "source_customer_id": other })).await, 201).await;
    let undo = format!("/v1/merges/{}/undo", record["id"].as_str().unwrap());
    let empty = json!({});
    let (first, second) = tokio::join!(app.post_as(&undo, &token, &empty), app.post_as(&undo, &token, &empty));
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let kinds = event_kinds(&app).await;
    assert!(kinds.contains(&"customer.unmerged".to_owned()));
}

/// A message from `from` naming ticket `ticket` by id, as an API caller would.
fn email_to_ticket(from: &str, message_id: &str, ticket: &str) -> braid_db::placement::Inbound {
    let mut inbound = email(from, message_id);
    inbound.references = vec![InboundReference {
        source: ReferenceSource::Api,
        detail: ticket.to_owned(),
        target: ReferenceTarget::Ticket(ticket.parse().unwrap()),
    }];
    inbound
}

async fn an_undo_sends_later_messages_back_with_their_identity_and_flags_mixed_tickets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let (ana, ana_ticket) = customer_by_email(&app, "ana@example.org", None).await;
    let (other, other_ticket) = customer_by_email(&app, "ana.lima@work.example", None).await;
    let (bo, bo_ticket) = customer_by_email(&app, "bo@example.org", None).await;
    let (cy, cy_ticket) = customer_by_email(&app, "cy@example.org", None).await;

    // Ana and her other address: after the merge each writes into the other's ticket.
    let record = json_of(merge(&app, &token, &ana, json!({ "source_customer_id": other })).await, 201).await;
    place(&app, email_to_ticket("ana@example.org", "<a2@example.org>", &other_ticket)).await;
    place(&app, email_to_ticket("ana.lima@work.example", "<o2@work.example>", &ana_ticket)).await;
    let undo = format!("/v1/merges/{}/undo", record["id"].as_str().unwrap());
    let undone = json_of(app.post_as(&undo, &token, &json!({})).await, 200).await;
    let mut review: Vec<&str> =
        undone["undo"]["review_tickets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    review.sort();
    let mut expected = vec![ana_ticket.as_str(), other_ticket.as_str()];
    expected.sort();
    assert_eq!(review, expected, "both tickets hold messages from both sides");
    let ana_tickets = all_pages(&app, &token, &format!("/v1/tickets?customer={ana}")).await;
    assert_eq!(ana_tickets.len(), 2, "mixed tickets stay with the target");
    let other_view = get(&app, &token, &format!("/v1/customers/{other}")).await;
    assert_eq!(other_view["identities"][0]["value"], "ana.lima@work.example", "the identity went back");

    // Bo and Cy: after the merge every ticket is closed, and Cy's address opens a new one.
    let record = json_of(merge(&app, &token, &bo, json!({ "source_customer_id": cy })).await, 201).await;
    for ticket in [&bo_ticket, &cy_ticket] {
        for status in ["solved", "closed"] {
            let changed = app.patch_as(&format!("/v1/tickets/{ticket}"), &token, &json!({ "status": status })).await;
            assert_eq!(changed.status(), 200);
        }
    }
    let later = place(&app, email("cy@example.org", "<c2@example.org>")).await;
    let new_ticket = later.ticket.unwrap().id.to_string();
    assert_eq!(later.customer_id.to_string(), bo);
    let undo = format!("/v1/merges/{}/undo", record["id"].as_str().unwrap());
    let undone = json_of(app.post_as(&undo, &token, &json!({})).await, 200).await;
    assert_eq!(undone["undo"]["review_tickets"], json!([]));
    let cy_tickets: HashSet<String> = all_pages(&app, &token, &format!("/v1/tickets?customer={cy}"))
        .await
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(cy_tickets, HashSet::from([cy_ticket.clone(), new_ticket]), "the later ticket follows its identity");
    let cy_thread = all_pages(&app, &token, &format!("/v1/customers/{cy}/thread")).await;
    assert_eq!(cy_thread.len(), 2, "with its message");
    let bo_thread = all_pages(&app, &token, &format!("/v1/customers/{bo}/thread")).await;
    assert_eq!(bo_thread.len(), 1);
}

async fn merging_into_itself_into_a_tombstone_or_into_nobody_is_refused_clearly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let (a, _) = customer_by_email(&app, "a@example.org", None).await;
    let (b, _) = customer_by_email(&app, "b@example.org", None).await;
    let (c, _) = customer_by_email(&app, "c@example.org", None).await;

    let itself = json_of(merge(&app, &token, &a, json!({ "source_customer_id": a })).await, 422).await;
    assert_eq!(itself["extra"]["field"], "source_customer_id");
    let nobody = merge(&app, &token, &a, json!({ "source_customer_id": "0190f5c4-0000-7000-8000-000000000000" })).await;
    assert_eq!(json_of(nobody, 404).await["code"], "not_found");

    json_of(merge(&app, &token, &b, json!({ "source_customer_id": a })).await, 201).await;
    let into_tombstone = json_of(merge(&app, &token, &a, json!({ "source_customer_id": c })).await, 409).await;
    assert_eq!(into_tombstone["code"], "customer_merged");
    assert_eq!(into_tombstone["extra"]["merged_into"], b.as_str());
    let tombstone_again = json_of(merge(&app, &token, &c, json!({ "source_customer_id": a })).await, 409).await;
    assert_eq!(tombstone_again["code"], "customer_merged");

    let ticket = json!({ "customer_id": a, "subject": "Called in" });
    let on_tombstone = json_of(app.post_as("/v1/tickets", &token, &ticket).await, 409).await;
    assert_eq!(on_tombstone["code"], "customer_merged", "no ticket opens on a tombstone");

    // A chain: the tombstone names the live customer at its end.
    json_of(merge(&app, &token, &c, json!({ "source_customer_id": b })).await, 201).await;
    assert_eq!(get(&app, &token, &format!("/v1/customers/{a}")).await["merged_into"], c.as_str());
    let unknown = json_of(app.get_as("/v1/merges/0190f5c4-0000-7000-8000-000000000000", &token).await, 404).await;
    assert_eq!(unknown["code"], "not_found");
}

async fn fifty_concurrent_merges_over_chains_and_pairs_never_lose_or_duplicate_a_row(backend: Backend) {
    let app = TestApp::builder(backend).with_settings(|s| s.database_pool_size = 30).start().await;
    let token = app.agent_token("agent").await;
    let mut people = Vec::new();
    for i in 0..10 {
        people.push(customer_by_email(&app, &format!("p{i}@example.org"), None).await.0);
    }
    let (identities_before, messages_before, tickets_before) = app
        .with_db(|conn| {
            Ok((
                identities::table.count().get_result::<i64>(conn)?,
                messages::table.count().get_result::<i64>(conn)?,
                tickets::table.count().get_result::<i64>(conn)?,
            ))
        })
        .await;

    // Chains (i into i+1), the same pair both ways, and repeats, all at once.
    let pairs: Vec<(usize, usize)> = (0..50).map(|n| (n % 10, (n * 7 + 1) % 10)).filter(|(a, b)| a != b).collect();
    let requests = pairs.iter().map(|&(target, source)| {
        let (app, token) = (&app, &token);
        let (target, source) = (people[target].clone(), people[source].clone());
        async move {
            let response = merge(app, token, &target, json!({ "source_customer_id": source })).await;
            response.status().as_u16()
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| [201, 409].contains(s)), "{statuses:?}");
    assert!(statuses.contains(&201));

    let (owners, tombstones, thread_owners, message_threads, ticket_owners, merged_threads) = app
        .with_db(|conn| {
            Ok((
                identities::table.select(identities::customer_id).load::<String>(conn)?,
                customers::table
                    .filter(customers::merged_into.is_not_null())
                    .select(customers::id)
                    .load::<String>(conn)?,
                threads::table.select((threads::id, threads::customer_id)).load::<(String, String)>(conn)?,
                messages::table
                    .select((messages::thread_id, messages::ticket_id))
                    .load::<(String, Option<String>)>(conn)?,
                tickets::table.select((tickets::id, tickets::customer_id)).load::<(String, String)>(conn)?,
                threads::table.filter(threads::merged_into.is_not_null()).count().get_result::<i64>(conn)?,
            ))
        })
        .await;
    let tombstones: HashSet<String> = tombstones.into_iter().collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), tombstones.len(), "one tombstone per merge");
    assert_eq!(merged_threads as usize, tombstones.len());
    assert_eq!(owners.len() as i64, identities_before, "no identity lost or duplicated");
    assert!(owners.iter().all(|o| !tombstones.contains(o)), "no identity left on a tombstone");
    assert_eq!(message_threads.len() as i64, messages_before);
    assert_eq!(ticket_owners.len() as i64, tickets_before);
    let thread_owner: HashMap<String, String> = thread_owners.into_iter().collect();
    let ticket_owner: HashMap<String, String> = ticket_owners.into_iter().collect();
    for (thread, ticket) in message_threads {
        let owner = &thread_owner[&thread];
        assert!(!tombstones.contains(owner), "no message left on a tombstone");
        if let Some(ticket) = ticket {
            assert_eq!(&ticket_owner[&ticket], owner, "a message and its ticket belong to one customer");
        }
    }
    let live = get(&app, &token, "/v1/customers?limit=100").await;
    assert_eq!(live["data"].as_array().unwrap().len(), 10 - tombstones.len());
}

async fn a_merge_past_the_identity_cap_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.agent_token("agent").await;
    let many = |prefix: &str, n: usize| -> Value {
        let identities: Vec<Value> =
            (0..n).map(|i| json!({ "kind": "email", "value": format!("{prefix}{i}@example.org") })).collect();
        json!({ "identities": identities })
    };
    let a = json_of(app.post_as("/v1/customers", &token, &many("a", 30)).await, 201).await;
    let b = json_of(app.post_as("/v1/customers", &token, &many("b", 21)).await, 201).await;
    let refused =
        json_of(merge(&app, &token, a["id"].as_str().unwrap(), json!({ "source_customer_id": b["id"] })).await, 422)
            .await;
    assert_eq!(refused["extra"]["field"], "identities");
    assert_eq!(
        get(&app, &token, &format!("/v1/customers/{}", b["id"].as_str().unwrap())).await["merged_into"],
        Value::Null
    );
}
