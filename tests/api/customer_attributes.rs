//! Custom attributes: admins define them, agents and integrations set a customer's values,
//! each checked against its definition.

use braid_core::{AttributeKey, AttributeKind, AttributeLabel};
use braid_db::customers::attributes::{self, NewDefinition};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, both_backends};

both_backends!(
    an_admin_defines_attributes_that_agents_read_by_key,
    definitions_are_checked_and_keys_are_unique,
    each_kind_refuses_values_of_another_with_a_422_naming_the_key,
    values_are_stored_normalised_with_who_set_them,
    listed_keys_are_set_null_removes_and_unlisted_keys_are_kept,
    an_unknown_key_is_refused_by_name_and_nothing_is_stored,
    deleting_a_definition_removes_its_values_from_every_customer,
    list_options_cannot_leave_out_a_value_a_customer_holds,
    definitions_and_values_per_customer_are_capped,
    every_change_is_an_event_with_old_and_new_values,
    unknown_customers_and_definitions_are_404s_and_merged_customers_409s,
);

pub async fn customer(app: &TestApp, token: &str) -> String {
    let created = app.post_as("/v1/customers", token, &json!({ "name": "Ana Lima" })).await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn define(app: &TestApp, admin: &str, body: Value) -> reqwest::Response {
    app.post_as("/v1/attribute-definitions", admin, &body).await
}

/// The definitions most tests use: one of each kind.
async fn define_one_of_each(app: &TestApp, admin: &str) {
    for body in [
        json!({ "key": "plan", "label": "Plan", "kind": "list", "options": ["free", "pro", "enterprise"] }),
        json!({ "key": "seats", "label": "Seats", "kind": "number" }),
        json!({ "key": "vip", "label": "VIP", "kind": "boolean" }),
        json!({ "key": "renewal_date", "label": "Renewal", "kind": "date" }),
        json!({ "key": "account_manager", "label": "Account manager", "kind": "text" }),
    ] {
        let response = define(app, admin, body.clone()).await;
        assert_eq!(response.status(), 201, "{body}: {}", response.text().await.unwrap());
    }
}

async fn set(app: &TestApp, token: &str, customer: &str, values: Value) -> reqwest::Response {
    app.request(reqwest::Method::PUT, &format!("/v1/customers/{customer}/attributes"), token)
        .json(&json!({ "values": values }))
        .send()
        .await
        .unwrap()
}

/// The customer's values as `{key: value}`.
async fn values(app: &TestApp, token: &str, customer: &str) -> Value {
    let response = app.get_as(&format!("/v1/customers/{customer}/attributes"), token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["key"].as_str().unwrap().to_owned(), a["value"].clone()))
        .collect()
}

async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/problem+json", "status {status}");
    (status, response.json().await.unwrap())
}

async fn an_admin_defines_attributes_that_agents_read_by_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, agent) = (app.admin_token().await, app.agent_token("agent").await);
    let created = define(
        &app,
        &admin,
        json!({ "key": "plan", "label": " Plan ", "kind": "list", "options": ["free", " pro"], "description": "From the CRM." }),
    )
    .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["location"], "/v1/attribute-definitions/plan");
    let plan: Value = created.json().await.unwrap();
    assert_eq!(
        (&plan["label"], &plan["kind"], &plan["options"]),
        (&json!("Plan"), &json!("list"), &json!(["free", "pro"]))
    );
    assert_eq!(define(&app, &admin, json!({ "key": "arr", "label": "ARR", "kind": "number" })).await.status(), 201);

    let listed: Value = app.get_as("/v1/attribute-definitions", &agent).await.json().await.unwrap();
    let keys: Vec<_> = listed["data"].as_array().unwrap().iter().map(|d| d["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["arr", "plan"], "by key");
    assert_eq!(app.get_as("/v1/attribute-definitions/plan", &agent).await.json::<Value>().await.unwrap(), plan);

    let patched = app
        .patch_as("/v1/attribute-definitions/plan", &admin, &json!({ "label": "Billing plan", "description": null }))
        .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        (&patched["label"], &patched["description"], &patched["options"]),
        (&json!("Billing plan"), &Value::Null, &json!(["free", "pro"]))
    );

    let kind_change = app.patch_as("/v1/attribute-definitions/plan", &admin, &json!({ "kind": "text" })).await;
    assert_eq!(kind_change.status(), 400, "the kind is fixed: unknown field");
    let options_on_number = app.patch_as("/v1/attribute-definitions/arr", &admin, &json!({ "options": ["a"] })).await;
    let (status, body) = problem(options_on_number).await;
    assert_eq!((status, &body["extra"]["field"]), (422, &json!("options")));
}

async fn definitions_are_checked_and_keys_are_unique(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    for (body, field) in [
        (json!({ "key": "Plan", "label": "Plan", "kind": "text" }), "key"),
        (json!({ "key": "2fa", "label": "2FA", "kind": "boolean" }), "key"),
        (json!({ "key": "k".repeat(65), "label": "Long", "kind": "text" }), "key"),
        (json!({ "key": "plan", "label": "", "kind": "text" }), "label"),
        (json!({ "key": "plan", "label": "P\u{202E}lan", "kind": "text" }), "label"),
        (json!({ "key": "plan", "label": "x".repeat(101), "kind": "text" }), "label"),
        (json!({ "key": "plan", "label": "Plan", "kind": "enum" }), "kind"),
        (json!({ "key": "plan", "label": "Plan", "kind": "list" }), "options"),
        (json!({ "key": "plan", "label": "Plan", "kind": "list", "options": [] }), "options"),
        (json!({ "key": "plan", "label": "Plan", "kind": "list", "options": ["a", "a"] }), "options"),
        (
            json!({ "key": "plan", "label": "Plan", "kind": "list", "options": (0..201).map(|i| format!("o{i}")).collect::<Vec<_>>() }),
            "options",
        ),
        (json!({ "key": "plan", "label": "Plan", "kind": "text", "options": ["a"] }), "options"),
        (json!({ "key": "plan", "label": "Plan", "kind": "text", "description": "x".repeat(1001) }), "description"),
    ] {
        let (status, problem) = problem(define(&app, &admin, body.clone()).await).await;
        assert_eq!((status, problem["extra"]["field"].as_str()), (422, Some(field)), "{body}");
    }
    assert_eq!(define(&app, &admin, json!({ "key": "plan", "label": "Plan", "kind": "text" })).await.status(), 201);
    let (status, twice) =
        problem(define(&app, &admin, json!({ "key": "plan", "label": "Other", "kind": "number" })).await).await;
    assert_eq!((status, twice["code"].as_str()), (409, Some("conflict")));
    let listed: Value = app.get_as("/v1/attribute-definitions", &admin).await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "nothing refused was stored");
}

async fn each_kind_refuses_values_of_another_with_a_422_naming_the_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, agent) = (app.admin_token().await, app.agent_token("agent").await);
    define_one_of_each(&app, &admin).await;
    let ana = customer(&app, &agent).await;
    for (key, bad) in [
        ("plan", json!("platinum")),
        ("plan", json!("Pro")),
        ("plan", json!(1)),
        ("seats", json!("12")),
        ("seats", json!(true)),
        ("vip", json!("yes")),
        ("vip", json!(1)),
        ("renewal_date", json!("2026-02-30")),
        ("renewal_date", json!("30/01/2026")),
        ("renewal_date", json!("2026-01-30T00:00:00Z")),
        ("account_manager", json!("")),
        ("account_manager", json!("x".repeat(1001))),
        ("account_manager", json!("Bo\u{0}b")),
        ("account_manager", json!("\u{202E}boB")),
        ("account_manager", json!(["Bob"])),
        ("account_manager", json!({ "name": "Bob" })),
    ] {
        let (status, body) = problem(set(&app, &agent, &ana, json!({ key: bad })).await).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("validation_failed")), "{key}: {bad}");
        assert_eq!(body["extra"]["field"], format!("values.{key}"), "{key}: {bad}");
    }
    let (status, body) = problem(set(&app, &agent, &ana, json!({ "Not A Key": 1 })).await).await;
    assert_eq!((status, body["extra"]["field"].as_str()), (422, Some("values")));
    assert_eq!(values(&app, &agent, &ana).await, json!({}), "nothing refused was stored");
}

async fn values_are_stored_normalised_with_who_set_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, agent) = (app.admin_token().await, app.agent_token("agent").await);
    let connector = app.api_key(&["customers:write", "customers:read"]).await;
    define_one_of_each(&app, &admin).await;
    let ana = customer(&app, &agent).await;

    let by_agent = set(
        &app,
        &agent,
        &ana,
        json!({ "plan": " pro ", "renewal_date": " 2027-01-31 ", "account_manager": "  Bob\r\nthe second " }),
    )
    .await;
    assert_eq!(by_agent.status(), 200);
    let by_connector = set(&app, &connector, &ana, json!({ "seats": 12, "vip": false })).await;
    let body: Value = by_connector.json().await.unwrap();
    let rows: Vec<_> = body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["key"].as_str().unwrap(), a["value"].clone(), a["source"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            ("account_manager", json!("Bob\nthe second"), "agent"),
            ("plan", json!("pro"), "agent"),
            ("renewal_date", json!("2027-01-31"), "agent"),
            ("seats", json!(12), "connector"),
            ("vip", json!(false), "connector"),
        ],
        "all of them, by key, normalised, each with its source"
    );
}

async fn listed_keys_are_set_null_removes_and_unlisted_keys_are_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, agent) = (app.admin_token().await, app.agent_token("agent").await);
    define_one_of_each(&app, &admin).await;
    let (ana, bob) = (customer(&app, &agent).await, customer(&app, &agent).await);
    assert_eq!(set(&app, &agent, &ana, json!({ "plan": "pro", "seats": 12, "vip": true })).await.status(), 200);
    assert_eq!(set(&app, &agent, &bob, json!({ "plan": "free" })).await.status(), 200);

    let changed = set(&app, &agent, &ana, json!({ "seats": 15, "vip": null, "renewal_date": null })).await;
    assert_eq!(changed.status(), 200);
    assert_eq!(values(&app, &agent, &ana).await, json!({ "plan": "pro", "seats": 15 }));
    assert_eq!(values(&app, &agent, &bob).await, json!({ "plan": "free" }), "another customer's values are theirs");
    assert_eq!(set(&app, &agent, &ana, json!({})).await.status(), 200, "nothing to change is fine");
    assert_eq!(values(&app, &agent, &ana).await, json!({ "plan": "pro", "seats": 15 }));
}

async fn an_unknown_key_is_refused_by_name_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, agent) = (app.admin_token().await, app.agent_token("agent").await);
    define_one_of_each(&app, &admin).await;
    let ana = customer(&app, &agent).await;
    let (status, body) = problem(set(&app, &agent, &ana, json!({ "plan": "pro", "shoe_size": 44 })).await).await;
    assert_eq!((status, body["extra"]["field"].as_str()), (422, Some("values.shoe_size")));
    assert!(body["detail"].as_str().unwrap().contains("`shoe_size`"), "{body}");
    assert_eq!(values(&app, &agent, &ana).await, json!({}), "the known key was not stored either");
}

async fn deleting_a_definition_removes_its_values_from_every_customer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, agent) = (app.admin_token().await, app.agent_token("agent").await);
    define_one_of_each(&app, &admin).await;
    let (ana, bob) = (customer(&app, &agent).await, customer(&app, &agent).await);
    set(&app, &agent, &ana, json!({ "plan": "pro", "seats": 3 })).await;
    set(&app, &agent, &bob, json!({ "plan": "free" })).await;

    assert_eq!(app.delete_as("/v1/attribute-definitions/plan", &admin).await.status(), 204);

    assert_eq!(values(&app, &agent, &ana).await, json!({ "seats": 3 }));
    assert_eq!(values(&app, &agent, &bob).await, json!({}));
    assert_eq!(app.get_as("/v1/attribute-definitions/plan", &agent).await.status(), 404);
    assert_eq!(app.delete_as("/v1/attribute-definitions/plan", &admin).await.status(), 404);
    let (status, _) = problem(set(&app, &agent, &ana, json!({ "plan": "pro" })).await).await;
    assert_eq!(status, 422, "the key is unknown now");
    let again = define(&app, &admin, json!({ "key": "plan", "label": "Plan", "kind": "text" })).await;
    assert_eq!(again.status(), 201, "the key is free again");
    assert_eq!(values(&app, &agent, &bob).await, json!({}), "and starts with no values");
}

async fn list_options_cannot_leave_out_a_value_a_customer_holds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, agent) = (app.admin_token().await, app.agent_token("agent").await);
    define_one_of_each(&app, &admin).await;
    let (ana, bob) = (customer(&app, &agent).await, customer(&app, &agent).await);
    set(&app, &agent, &ana, json!({ "plan": "pro" })).await;
    set(&app, &agent, &bob, json!({ "plan": "pro" })).await;

    let options = async |options: Value| {
        app.patch_as("/v1/attribute-definitions/plan", &admin, &json!({ "options": options })).await
    };
    let (status, body) = problem(options(json!(["free", "enterprise"])).await).await;
    assert_eq!(
        (status, body["code"].as_str(), body["extra"]["field"].as_str()),
        (409, Some("conflict"), Some("options"))
    );
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("\"pro\"") && detail.contains("2 customer"), "{detail}");
    let unchanged: Value = app.get_as("/v1/attribute-definitions/plan", &agent).await.json().await.unwrap();
    assert_eq!(unchanged["options"], json!(["free", "pro", "enterprise"]));

    let added = options(json!(["free", "pro", "business", "enterprise"])).await;
    assert_eq!(added.status(), 200, "adding or reordering options is always fine");
    set(&app, &agent, &ana, json!({ "plan": null })).await;
    set(&app, &agent, &bob, json!({ "plan": "business" })).await;
    assert_eq!(options(json!(["free", "business"])).await.status(), 200, "once no one holds `pro` it can go");
    let (status, _) = problem(set(&app, &agent, &ana, json!({ "plan": "pro" })).await).await;
    assert_eq!(status, 422, "and is no longer a value");
}

async fn definitions_and_values_per_customer_are_capped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, agent) = (app.admin_token().await, app.agent_token("agent").await);
    // Through the storage layer, for speed; the 201st through the API.
    app.with_db(|conn| {
        for i in 0..200 {
            let new = NewDefinition {
                key: AttributeKey::parse(&format!("a{i:03}")).unwrap(),
                label: AttributeLabel::parse(&format!("A {i}")).unwrap(),
                kind: AttributeKind::Number,
                options: None,
                description: None,
            };
            attributes::create(conn, &new)?;
        }
        Ok(())
    })
    .await;
    let (status, body) =
        problem(define(&app, &admin, json!({ "key": "one_more", "label": "One more", "kind": "text" })).await).await;
    assert_eq!((status, body["extra"]["field"].as_str()), (422, Some("attribute_definitions")));

    let ana = customer(&app, &agent).await;
    let values_for =
        |range: std::ops::Range<usize>| Value::Object(range.map(|i| (format!("a{i:03}"), json!(i))).collect());
    let (status, body) = problem(set(&app, &agent, &ana, values_for(0..101)).await).await;
    assert_eq!((status, body["extra"]["field"].as_str()), (422, Some("attributes")));
    assert_eq!(values(&app, &agent, &ana).await, json!({}));
    assert_eq!(set(&app, &agent, &ana, values_for(0..100)).await.status(), 200);
    let (status, _) = problem(set(&app, &agent, &ana, values_for(100..101)).await).await;
    assert_eq!(status, 422, "a 101st value");
    let swap = set(&app, &agent, &ana, json!({ "a000": null, "a100": 1, "a001": 7 })).await;
    assert_eq!(swap.status(), 200, "changing and swapping values at the cap is fine");
    let after = values(&app, &agent, &ana).await;
    assert_eq!((after.as_object().unwrap().len(), &after["a001"], &after["a100"]), (100, &json!(7), &json!(1)));
}

/// The events about `customer`, oldest first, as `(kind, payload)`.
async fn events_of(app: &TestApp, subject: String) -> Vec<(String, Value)> {
    use braid_db::schema::events;
    let rows: Vec<(String, String)> = app
        .with_db(move |conn| {
            Ok(events::table
                .filter(events::subject_id.eq(subject))
                .order((events::tx.asc(), events::seq.asc()))
                .select((events::kind, events::payload))
                .load(conn)?)
        })
        .await;
    rows.into_iter().map(|(kind, payload)| (kind, serde_json::from_str(&payload).unwrap())).collect()
}

async fn every_change_is_an_event_with_old_and_new_values(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, agent) = (app.admin_token().await, app.agent_token("agent").await);
    define_one_of_each(&app, &admin).await;
    let ana = customer(&app, &agent).await;
    set(&app, &agent, &ana, json!({ "plan": "pro", "seats": 12 })).await;
    set(&app, &agent, &ana, json!({ "plan": "pro", "seats": 15, "vip": null })).await;
    set(&app, &agent, &ana, json!({ "plan": "pro" })).await;

    let events: Vec<_> = events_of(&app, ana.clone())
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "customer.attributes_updated")
        .collect();
    assert_eq!(events.len(), 2, "a request that changes nothing records nothing: {events:?}");
    assert_eq!(
        events[0].1["changes"],
        json!([{ "key": "plan", "old": null, "new": "pro" }, { "key": "seats", "old": null, "new": 12 }])
    );
    assert_eq!(events[1].1["changes"], json!([{ "key": "seats", "old": 12, "new": 15 }]), "only what changed");
    assert_eq!((&events[1].1["customer_id"], &events[1].1["source"]), (&json!(ana), &json!("agent")));

    app.patch_as("/v1/attribute-definitions/seats", &admin, &json!({ "label": "Licensed seats" })).await;
    app.delete_as("/v1/attribute-definitions/seats", &admin).await;
    let kinds: Vec<_> = events_of(&app, "seats".into())
        .await
        .into_iter()
        .map(|(kind, payload)| (kind, payload["values_removed"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("attribute_definition.created".to_owned(), Value::Null),
            ("attribute_definition.updated".to_owned(), Value::Null),
            ("attribute_definition.deleted".to_owned(), json!(1)),
        ]
    );
}

async fn unknown_customers_and_definitions_are_404s_and_merged_customers_409s(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, agent) = (app.admin_token().await, app.agent_token("agent").await);
    define_one_of_each(&app, &admin).await;
    let nobody = braid_core::CustomerId::new().to_string();
    for response in [
        app.get_as(&format!("/v1/customers/{nobody}/attributes"), &agent).await,
        set(&app, &agent, &nobody, json!({ "plan": "pro" })).await,
        app.get_as("/v1/attribute-definitions/nothing_here", &agent).await,
        app.get_as("/v1/attribute-definitions/Not%20a%20key", &agent).await,
        app.patch_as("/v1/attribute-definitions/nothing_here", &admin, &json!({ "label": "X" })).await,
        app.delete_as("/v1/attribute-definitions/nothing_here", &admin).await,
    ] {
        let (status, body) = problem(response).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    }

    let (ana, into) = (customer(&app, &agent).await, customer(&app, &agent).await);
    set(&app, &agent, &ana, json!({ "plan": "pro" })).await;
    merge(&app, &ana, &into).await;
    for response in [
        app.get_as(&format!("/v1/customers/{ana}/attributes"), &agent).await,
        set(&app, &agent, &ana, json!({ "plan": "free" })).await,
    ] {
        let (status, body) = problem(response).await;
        assert_eq!((status, body["code"].as_str()), (409, Some("customer_merged")));
        assert_eq!(body["extra"]["merged_into"], json!(into));
    }
}

/// Marks `source` merged into `target` as a merge leaves it (a tombstone and its thread),
/// without moving anything: what the refusals need, before the merge endpoint exists.
pub async fn merge(app: &TestApp, source: &str, target: &str) {
    use braid_db::schema::{customers, threads};
    let (source, target) = (source.to_owned(), target.to_owned());
    app.with_db(move |conn| {
        let target_thread: String =
            threads::table.filter(threads::customer_id.eq(&target)).select(threads::id).first(conn)?;
        diesel::update(customers::table.find(&source)).set(customers::merged_into.eq(&target)).execute(conn)?;
        diesel::update(threads::table.filter(threads::customer_id.eq(&source)))
            .set(threads::merged_into.eq(target_thread))
            .execute(conn)?;
        Ok(())
    })
    .await;
}
