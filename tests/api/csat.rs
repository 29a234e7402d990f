//! Satisfaction surveys end to end: a solve schedules one survey, the timers send it on
//! the ticket's channel, the customer rates on the public page through the signed link
//! (agents cannot), the rating can change until the window closes and then locks, and a
//! bad rating closes the loop once.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, both_backends};
use crate::sla::{created, logged, read};

both_backends!(
    a_solve_sends_one_survey_and_the_customer_rates_it_until_it_locks,
    a_reopen_before_the_survey_goes_out_cancels_it_and_each_solve_has_its_own,
    a_bad_rating_reopens_the_ticket_when_set_so,
    the_survey_page_refuses_forged_links_agents_and_bad_input,
);

async fn settings(app: &TestApp, admin: &str, body: Value) {
    let changed = app.patch_as("/v1/csat/settings", admin, &body).await;
    assert_eq!(changed.status(), 200, "{:?}", changed.text().await);
}

/// A customer with a ticket through the API (answered by email), assigned to a new agent
/// and team: (ticket, customer, agent, team).
async fn ticket(app: &TestApp, admin: &str) -> (String, String, String, String) {
    let email = format!("{}@customers.example.org", uuid::Uuid::now_v7().simple());
    let body = json!({"name": "Ana Lima", "identities": [{"kind": "email", "value": email}]});
    let customer = created(app, admin, "/v1/customers", body).await["id"].as_str().unwrap().to_owned();
    let email = format!("{}@agents.example.org", uuid::Uuid::now_v7().simple());
    let agent = json!({"email": email, "name": "Bo", "role": "agent", "password": "a long enough password"});
    let agent = created(app, admin, "/v1/agents", agent).await["id"].as_str().unwrap().to_owned();
    let team = json!({"name": format!("Care {}", uuid::Uuid::now_v7().simple()), "member_ids": [agent]});
    let team = created(app, admin, "/v1/teams", team).await["id"].as_str().unwrap().to_owned();
    let body = json!({"customer_id": customer, "subject": "Broken zipper", "assignee_id": agent, "team_id": team,
                      "message": {"text": "The zipper broke on day two."}});
    let ticket = created(app, admin, "/v1/tickets", body).await["id"].as_str().unwrap().to_owned();
    (ticket, customer, agent, team)
}

async fn set_status(app: &TestApp, admin: &str, ticket: &str, status: &str) {
    let changed = app.patch_as(&format!("/v1/tickets/{ticket}"), admin, &json!({"status": status})).await;
    assert_eq!(changed.status(), 200, "{status}: {:?}", changed.text().await);
}

async fn satisfaction(app: &TestApp, admin: &str, ticket: &str) -> Value {
    read(app, admin, &format!("/v1/tickets/{ticket}/satisfaction")).await
}

/// Waits for the ticket's survey of `cycle` to be sent; returns the link's path, read
/// from the stored message as the customer's channel carries it.
pub(crate) async fn sent_link(app: &TestApp, admin: &str, ticket: &str, cycle: usize) -> String {
    for _ in 0..100 {
        let surveys = satisfaction(app, admin, ticket).await;
        if let Some(sent) = surveys["surveys"].as_array().unwrap().get(cycle - 1).filter(|s| s["state"] == "sent") {
            let message = sent["message_id"].as_str().unwrap().to_owned();
            let text = app.with_db(move |conn| Ok(braid_db::messages::get(conn, message.parse().unwrap())?.text)).await;
            let at = text.find("/csat/v1/").expect("a survey link");
            let link: String = text[at..].chars().take_while(|c| !c.is_whitespace() && *c != '?').collect();
            return link;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the survey was never sent: {}", satisfaction(app, admin, ticket).await);
}

async fn rate_json(app: &TestApp, link: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new().post(app.url(link)).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn a_solve_sends_one_survey_and_the_customer_rates_it_until_it_locks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    settings(&app, &admin, json!({"enabled": true, "delay_minutes": 0, "question": "Did we fix it?"})).await;
    let (ticket, customer, agent, team) = ticket(&app, &admin).await;
    set_status(&app, &admin, &ticket, "solved").await;
    let link = sent_link(&app, &admin, &ticket, 1).await;

    // The survey went on the ticket's channel, as an automated reply; agents read it
    // without a working link.
    let thread = read(&app, &admin, &format!("/v1/tickets/{ticket}/messages")).await;
    let survey_message = thread["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (survey_message["direction"].as_str(), survey_message["channel"].as_str()),
        (Some("outbound"), Some("email"))
    );
    assert_eq!(survey_message["details"]["automated"], "csat_survey");
    let shown = survey_message["text"].as_str().unwrap();
    assert!(shown.starts_with("Did we fix it?"), "{shown}");
    assert!(shown.contains("/csat/v1/csat1.…?rating=good"), "agents see no token: {shown}");
    assert!(!shown.contains(&link[9..]), "{shown}");
    assert_eq!(
        read(&app, &admin, &format!("/v1/tickets/{ticket}")).await["status"],
        "solved",
        "a survey reopens nothing"
    );

    // Opening a rating link shows the page with that rating chosen, and records nothing
    // itself: a mail scanner fetching both links rates nothing.
    let page = reqwest::get(app.url(&format!("{link}?rating=bad"))).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'nonce-"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("Did we fix it?") && html.contains("requestSubmit"), "{html}");
    assert_eq!(satisfaction(&app, &admin, &ticket).await["rating"], Value::Null);

    // The page's form posts the click: recorded, attributed to the assignee and team at the solve.
    let form = reqwest::Client::new().post(app.url(&link)).form(&[("rating", "good"), ("comment", "")]).send().await;
    let form = form.unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("Thank you"));
    let rated = satisfaction(&app, &admin, &ticket).await;
    let survey = &rated["surveys"][0];
    assert_eq!((rated["rating"].as_str(), survey["cycle"].as_i64()), (Some("good"), Some(1)));
    assert_eq!(
        (survey["assignee_id"].as_str(), survey["team_id"].as_str()),
        (Some(agent.as_str()), Some(team.as_str()))
    );
    let first_rated_at = survey["first_rated_at"].clone();

    // Changed to bad with a comment: the loop closes once, with a follow-up for the team.
    let (status, view) = rate_json(&app, &link, json!({"rating": "bad", "comment": "It broke again."})).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!((view["rating"].as_str(), view["comment"].as_str()), (Some("bad"), Some("It broke again.")));
    let rated = satisfaction(&app, &admin, &ticket).await;
    let survey = &rated["surveys"][0];
    assert_eq!(survey["first_rated_at"], first_rated_at, "the first rating's time stays");
    let follow_up = survey["follow_up_ticket_id"].as_str().expect("a follow-up").to_owned();
    let follow_up = read(&app, &admin, &format!("/v1/tickets/{follow_up}")).await;
    assert_eq!(
        (follow_up["team_id"].as_str(), follow_up["customer_id"].as_str()),
        (Some(team.as_str()), Some(customer.as_str()))
    );
    assert_eq!(follow_up["tags"], json!(["csat:bad"]));
    let notes = read(&app, &admin, &format!("/v1/tickets/{}/messages", follow_up["id"].as_str().unwrap())).await;
    assert!(notes["data"][0]["text"].as_str().unwrap().contains("It broke again."), "{notes}");
    // A comment added after the loop closed reaches the follow-up.
    let (status, _) = rate_json(&app, &link, json!({"rating": "bad", "comment": "And the strap too."})).await;
    assert_eq!(status, 200);
    let notes = read(&app, &admin, &format!("/v1/tickets/{}/messages", follow_up["id"].as_str().unwrap())).await;
    assert!(notes["data"][1]["text"].as_str().unwrap().contains("And the strap too."), "{notes}");
    let (status, _) = rate_json(&app, &link, json!({"rating": "good"})).await;
    assert_eq!(status, 200);
    let (status, view) = rate_json(&app, &link, json!({"rating": "bad"})).await;
    assert_eq!(
        (status, view["comment"].as_str()),
        (200, Some("And the strap too.")),
        "a rating alone keeps the comment"
    );
    let tickets =
        read(&app, &admin, &format!("/v1/tickets?customer={customer}&status=open,pending,on_hold,solved")).await;
    assert_eq!(tickets["data"].as_array().unwrap().len(), 2, "one follow-up however often it turns bad: {tickets}");
    assert_eq!(logged(&app, "survey.rated").await.len(), 5);
    assert_eq!(logged(&app, "survey.sent").await.len(), 1);

    // The customer's context shows the rating.
    let context = read(&app, &admin, &format!("/v1/customers/{customer}/context")).await;
    assert_eq!(context["ratings"][0]["rating"], "bad");

    // The window closes: the rating locks.
    let survey_id = rated["surveys"][0]["id"].as_str().unwrap().to_owned();
    app.with_db(move |conn| {
        use braid_db::schema::surveys;
        use diesel::prelude::*;
        let past = (braid_db::now() - chrono::Duration::minutes(1)).naive_utc();
        diesel::update(surveys::table.find(survey_id)).set(surveys::expires_at.eq(past)).execute(conn)?;
        Ok(())
    })
    .await;
    let (status, problem) = rate_json(&app, &link, json!({"rating": "good"})).await;
    assert_eq!((status, problem["code"].as_str()), (410, Some("survey_closed")), "{problem}");
    assert_eq!(reqwest::get(app.url(&link)).await.unwrap().status(), 410);
    assert_eq!(satisfaction(&app, &admin, &ticket).await["rating"], "bad");
}

async fn a_reopen_before_the_survey_goes_out_cancels_it_and_each_solve_has_its_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    settings(&app, &admin, json!({"enabled": true, "delay_minutes": 60})).await;
    let (ticket, ..) = ticket(&app, &admin).await;
    set_status(&app, &admin, &ticket, "solved").await;
    let surveys = satisfaction(&app, &admin, &ticket).await;
    assert_eq!(surveys["surveys"][0]["state"], "scheduled");
    set_status(&app, &admin, &ticket, "open").await;
    set_status(&app, &admin, &ticket, "solved").await;
    let surveys = satisfaction(&app, &admin, &ticket).await;
    let states: Vec<(i64, &str)> = surveys["surveys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["cycle"].as_i64().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, vec![(1, "cancelled"), (2, "scheduled")]);
    assert_eq!(app.with_db(|conn| braid_db::due_jobs::count(conn, braid_db::csat::SURVEY)).await, 1);

    // Due now: sent once however many nodes fire it at the same moment.
    let id = surveys["surveys"][1]["id"].as_str().unwrap().to_owned();
    app.with_db({
        let id = id.clone();
        move |conn| braid_db::due_jobs::schedule(conn, braid_db::csat::SURVEY, &id, Some(braid_db::now()))
    })
    .await;
    let links = braid_db::csat::Links {
        tokens: braid_core::csat::SurveyTokens::new(b"another node's view of the key"),
        base_url: "https://help.example".into(),
    };
    let job = braid_db::due_jobs::Due { id: String::new(), kind: braid_db::csat::SURVEY.into(), subject: id };
    let firings = (0..4).map(|_| {
        let (job, links) = (job.clone(), links.clone());
        app.with_db(move |conn| braid_db::csat::fire(conn, &job, &links, braid_db::now()))
    });
    let _ = futures_util::future::join_all(firings).await;
    let _ = sent_link(&app, &admin, &ticket, 2).await;
    let sent: Vec<Value> = logged(&app, "message.created")
        .await
        .into_iter()
        .filter(|m| m["payload"]["details"]["automated"] == "csat_survey")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:#?}");

    // Closed before its time: it never goes out (a closed ticket takes no messages).
    set_status(&app, &admin, &ticket, "open").await;
    set_status(&app, &admin, &ticket, "solved").await;
    set_status(&app, &admin, &ticket, "closed").await;
    let third = satisfaction(&app, &admin, &ticket).await["surveys"][2]["id"].as_str().unwrap().to_owned();
    app.with_db({
        let third = third.clone();
        move |conn| braid_db::due_jobs::schedule(conn, braid_db::csat::SURVEY, &third, Some(braid_db::now()))
    })
    .await;
    let mut state = Value::Null;
    for _ in 0..100 {
        state = satisfaction(&app, &admin, &ticket).await["surveys"][2]["state"].clone();
        if state == "cancelled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "cancelled");
    assert_eq!(
        app.with_db(|conn| braid_db::due_jobs::count(conn, braid_db::csat::SURVEY)).await,
        0,
        "no retrying forever"
    );
    let (ticket, ..) = self::ticket(&app, &admin).await;

    // Off: solves schedule nothing.
    settings(&app, &admin, json!({"enabled": false})).await;
    set_status(&app, &admin, &ticket, "open").await;
    set_status(&app, &admin, &ticket, "solved").await;
    assert_eq!(satisfaction(&app, &admin, &ticket).await["surveys"], json!([]));
}

async fn a_bad_rating_reopens_the_ticket_when_set_so(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    settings(&app, &admin, json!({"enabled": true, "delay_minutes": 0, "on_bad_rating": "reopen"})).await;
    let (ticket, ..) = ticket(&app, &admin).await;
    set_status(&app, &admin, &ticket, "solved").await;
    let link = sent_link(&app, &admin, &ticket, 1).await;
    let (status, _) = rate_json(&app, &link, json!({"rating": "bad", "comment": "Still broken"})).await;
    assert_eq!(status, 200);
    let now = read(&app, &admin, &format!("/v1/tickets/{ticket}")).await;
    assert_eq!(now["status"], "open");
    let thread = read(&app, &admin, &format!("/v1/tickets/{ticket}/messages")).await;
    let note = thread["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(note["direction"], "note");
    assert!(note["text"].as_str().unwrap().contains("Still broken"), "{note}");
    let surveys = satisfaction(&app, &admin, &ticket).await;
    assert!(surveys["surveys"][0]["loop_closed_at"].is_string());
    assert_eq!(surveys["surveys"][0]["follow_up_ticket_id"], Value::Null);
}

async fn the_survey_page_refuses_forged_links_agents_and_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    settings(&app, &admin, json!({"enabled": true, "delay_minutes": 0})).await;
    let (ticket, ..) = ticket(&app, &admin).await;
    set_status(&app, &admin, &ticket, "solved").await;
    let link = sent_link(&app, &admin, &ticket, 1).await;

    // A made-up link, one signed with another key, and garbage: all simply not found.
    let other = braid_core::csat::SurveyTokens::new(b"not our key");
    let claims = braid_core::csat::Claims {
        survey: braid_core::SurveyId::new(),
        ticket: ticket.parse().unwrap(),
        customer: braid_core::CustomerId::new(),
        cycle: 1,
        expires: chrono::Utc::now().timestamp() + 3600,
    };
    for forged in [format!("/csat/v1/{}", other.sign(&claims)), "/csat/v1/nope".into(), format!("{link}x")] {
        assert_eq!(reqwest::get(app.url(&forged)).await.unwrap().status(), 404, "{forged}");
        let (status, _) = rate_json(&app, &forged, json!({"rating": "good"})).await;
        assert_eq!(status, 404, "{forged}");
    }

    // An agent's credentials: refused, even with the customer's link.
    let agent = reqwest::Client::new().post(app.url(&link)).bearer_auth(&admin).json(&json!({"rating": "good"})).send();
    assert_eq!(agent.await.unwrap().status(), 403);

    // Bad input: each a clear 4xx, and nothing recorded.
    let client = reqwest::Client::new();
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (client.post(app.url(&link)).json(&json!({"rating": "meh"})), 400),
        (client.post(app.url(&link)).json(&json!({"rating": "good", "extra": 1})), 400),
        (client.post(app.url(&link)).json(&json!({"rating": "good", "comment": "x".repeat(2001)})), 422),
        (client.post(app.url(&link)).header("content-type", "text/plain").body("rating=good"), 415),
        (client.post(app.url(&link)).json(&json!({"rating": "good", "comment": "x".repeat(9000)})), 413),
        (client.post(app.url(&link)).header("content-type", "application/json").body("{"), 400),
    ];
    for (request, expected) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{:?}", response.text().await);
    }
    assert_eq!(satisfaction(&app, &admin, &ticket).await["rating"], Value::Null);
    let bad = app.patch_as("/v1/csat/settings", &admin, &json!({"window_days": 0})).await;
    assert_eq!(bad.status(), 422);
    let bad = app.patch_as("/v1/csat/settings", &admin, &json!({"on_bad_rating": "shout"})).await;
    assert_eq!(bad.status(), 400);
}
