//! The storage guarantees of placement, under real concurrency on both backends: the
//! database, not luck, keeps customers, identities, tickets and messages from doubling.

use std::collections::HashSet;

use braid_core::placement::{Authorship, PlacementPolicy, PlacementReason, ReferenceSource};
use braid_core::{Channel, IdentityKind, IdentityValue, Trust};
use braid_db::placement::{self, Inbound, InboundReference, Placement, ReferenceTarget};
use braid_db::schema::{customers, events, identities, messages, tickets};
use diesel::prelude::*;

use crate::helpers::{Backend, TestApp, both_backends};

both_backends!(
    fifty_concurrent_first_messages_of_a_new_sender_make_one_customer_identity_and_ticket,
    fifty_concurrent_messages_of_a_customer_with_no_open_ticket_open_exactly_one,
    fifty_concurrent_copies_of_one_message_store_it_once,
    the_same_channel_reference_twice_gives_one_message,
    a_reply_to_a_known_message_joins_its_ticket,
    quoting_another_customers_message_does_not_join_their_ticket,
    every_placement_writes_its_events_in_order,
    a_reader_of_the_event_log_never_skips_an_event_that_commits_late,
    a_thread_remembers_its_latest_message_even_when_an_older_one_arrives_last,
);

pub fn email(from: &str, message_id: &str) -> Inbound {
    Inbound {
        channel: Channel::Email,
        channel_ref: Some(message_id.to_owned()),
        content_digest: format!("test:{from}:{message_id}"),
        noted: vec![],
        follow_ups: Default::default(),
        echo: false,
        sender: IdentityValue::parse(IdentityKind::Email, from).unwrap(),
        sender_trust: Trust::Claimed,
        sender_source: braid_core::TrustSource::Sender,
        sender_name: braid_core::CustomerName::from_inbound("Ana Lima"),
        language: None,
        utc_offset: None,
        subject: Some("My order never arrived".into()),
        text: format!("message {message_id}"),
        html: None,
        references: vec![],
        authorship: Authorship::Person,
        details: serde_json::json!({}),
        original: None,
        received_at: braid_db::now(),
    }
}

fn replying_to(mut inbound: Inbound, message_id: &str) -> Inbound {
    inbound.references = vec![InboundReference {
        source: ReferenceSource::InReplyTo,
        detail: message_id.to_owned(),
        target: ReferenceTarget::Message(message_id.to_owned()),
    }];
    inbound
}

pub async fn place(app: &TestApp, inbound: Inbound) -> Placement {
    app.with_db(move |conn| placement::place(conn, &inbound, &PlacementPolicy::default())).await
}

/// Runs all placements at once, each on its own pooled connection.
async fn place_concurrently(app: &TestApp, inbounds: Vec<Inbound>) -> Vec<Placement> {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(inbounds.len()));
    let tasks: Vec<_> = inbounds
        .into_iter()
        .map(|inbound| {
            let db = app.db.clone();
            let barrier = barrier.clone();
            tokio::task::spawn_blocking(move || {
                let mut conn = db.get().expect("a connection");
                barrier.wait();
                placement::place(&mut conn, &inbound, &PlacementPolicy::default())
            })
        })
        .collect();
    let mut placements = Vec::new();
    for task in tasks {
        placements.push(task.await.unwrap().expect("every placement succeeds"));
    }
    placements
}

struct Counts {
    customers: i64,
    identities: i64,
    tickets: i64,
    messages: i64,
}

async fn counts(app: &TestApp) -> Counts {
    app.with_db(|conn| {
        Ok(Counts {
            customers: customers::table.count().get_result(conn)?,
            identities: identities::table.count().get_result(conn)?,
            tickets: tickets::table.count().get_result(conn)?,
            messages: messages::table.count().get_result(conn)?,
        })
    })
    .await
}

fn concurrent_app(backend: Backend) -> crate::helpers::TestAppBuilder {
    // Enough connections that all fifty placements are truly in flight together.
    TestApp::builder(backend).with_settings(|s| s.database_pool_size = 50)
}

async fn fifty_concurrent_first_messages_of_a_new_sender_make_one_customer_identity_and_ticket(backend: Backend) {
    let app = concurrent_app(backend).start().await;
    let inbounds = (0..50).map(|i| email("Ana@Example.org", &format!("<m{i}@mail.example.org>"))).collect();

    let placements = place_concurrently(&app, inbounds).await;

    let counts = counts(&app).await;
    assert_eq!(counts.customers, 1);
    assert_eq!(counts.identities, 1);
    assert_eq!(counts.tickets, 1);
    assert_eq!(counts.messages, 50);
    let customers: HashSet<_> = placements.iter().map(|p| p.customer_id).collect();
    let tickets: HashSet<_> = placements.iter().map(|p| p.ticket.unwrap().id).collect();
    assert_eq!((customers.len(), tickets.len()), (1, 1));
    assert_eq!(placements.iter().filter(|p| p.new_customer).count(), 1);
    assert_eq!(placements.iter().filter(|p| p.new_ticket).count(), 1);
}

async fn fifty_concurrent_messages_of_a_customer_with_no_open_ticket_open_exactly_one(backend: Backend) {
    let app = concurrent_app(backend).start().await;
    let first = place(&app, email("fay@example.org", "<old@x>")).await;
    let old_ticket = first.ticket.unwrap().id.to_string();
    app.with_db(move |conn| {
        diesel::update(tickets::table.find(old_ticket)).set(tickets::status.eq("closed")).execute(conn)?;
        Ok(())
    })
    .await;
    let inbounds = (0..50).map(|i| email("fay@example.org", &format!("<new{i}@x>"))).collect();

    let placements = place_concurrently(&app, inbounds).await;

    assert_eq!(counts(&app).await.tickets, 2, "the closed ticket and exactly one new one");
    let tickets: HashSet<_> = placements.iter().map(|p| p.ticket.unwrap().id).collect();
    assert_eq!(tickets.len(), 1);
    assert_ne!(tickets.into_iter().next(), first.ticket.map(|t| t.id));
}

async fn fifty_concurrent_copies_of_one_message_store_it_once(backend: Backend) {
    let app = concurrent_app(backend).start().await;
    let inbounds = (0..50).map(|_| email("bob@example.org", "<retry@mail.example.org>")).collect();

    let placements = place_concurrently(&app, inbounds).await;

    let counts = counts(&app).await;
    assert_eq!((counts.customers, counts.identities, counts.tickets, counts.messages), (1, 1, 1, 1));
    let ids: HashSet<_> = placements.iter().map(|p| p.message.id).collect();
    assert_eq!(ids.len(), 1, "every copy answers with the one stored message");
    assert_eq!(placements.iter().filter(|p| !p.duplicate).count(), 1);
}

async fn the_same_channel_reference_twice_gives_one_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = place(&app, email("cy@example.org", "<once@x>")).await;
    let mut again = email("cy@example.org", "<once@x>");
    again.text = "a provider retry may even differ in body".into();
    let second = place(&app, again).await;

    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(second.message.id, first.message.id);
    assert_eq!(second.message.text, first.message.text);
    assert_eq!(second.ticket.map(|t| t.id), first.ticket.map(|t| t.id));
    assert_eq!(second.customer_id, first.customer_id);
    assert!(matches!(placement::reasons_for(&second)[0], PlacementReason::Duplicate { .. }));
    assert_eq!(counts(&app).await.messages, 1);
}

async fn a_reply_to_a_known_message_joins_its_ticket(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = place(&app, email("dee@example.org", "<first@x>")).await;
    let reply = place(&app, replying_to(email("DEE@example.org", "<second@x>"), "<first@x>")).await;

    assert_eq!(reply.customer_id, first.customer_id, "the address is case-folded to the same identity");
    assert_eq!(reply.ticket.unwrap().id, first.ticket.unwrap().id);
    assert!(!reply.new_ticket);
    assert!(matches!(
        reply.message.placement[1],
        PlacementReason::Reference { source: ReferenceSource::InReplyTo, .. }
    ));
    assert_eq!(reply.message.thread_id, first.message.thread_id);
}

async fn quoting_another_customers_message_does_not_join_their_ticket(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let victim = place(&app, email("victim@example.org", "<secret@x>")).await;
    let stranger = place(&app, replying_to(email("stranger@example.org", "<probe@x>"), "<secret@x>")).await;

    assert_ne!(stranger.customer_id, victim.customer_id);
    assert_ne!(stranger.ticket.unwrap().id, victim.ticket.unwrap().id);
    assert_ne!(stranger.message.thread_id, victim.message.thread_id);
    assert!(stranger.new_ticket);
    assert!(stranger.message.placement.iter().any(|reason| matches!(
        reason,
        PlacementReason::ReferenceIgnored { why: braid_core::placement::IgnoredWhy::OtherCustomer, .. }
    )));
}

async fn every_placement_writes_its_events_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = place(&app, email("eve@example.org", "<e1@x>")).await;
    place(&app, email("eve@example.org", "<e2@x>")).await;
    place(&app, email("eve@example.org", "<e2@x>")).await; // a duplicate records nothing

    let log = settled_log(&app, 5).await;
    let kinds: Vec<_> = log.iter().filter(|e| e.customer_id.is_some()).map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["customer.created", "ticket.created", "message.created", "message.created"]);
    assert!(log.windows(2).all(|pair| pair[0].position < pair[1].position));
    assert_eq!(log[1].customer_id.as_deref(), Some(first.customer_id.to_string().as_str()));
    let seqs: i64 = app.with_db(|conn| Ok(events::table.count().get_result(conn)?)).await;
    assert_eq!(seqs as usize, log.len());
}

/// The event log once at least `events` are readable. Readers see only what no running
/// transaction can precede, and the oldest transaction running anywhere on the server
/// (other tests' too) can take a moment to finish.
async fn settled_log(app: &TestApp, events: usize) -> Vec<braid_db::events::Event> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let log = app.with_db(|conn| braid_db::events::since(conn, None, 100)).await;
        if log.len() >= events || std::time::Instant::now() > deadline {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Writers append events without waiting for each other, so a transaction that wrote
/// first may commit last. A reader must then not run ahead: had it returned the later
/// event first, resuming from there would skip the earlier one for good.
async fn a_reader_of_the_event_log_never_skips_an_event_that_commits_late(backend: Backend) {
    use braid_db::events::{self as log, NewEvent};
    use diesel::connection::TransactionManager;

    let app = TestApp::spawn(backend).await;
    let db = app.db.clone();
    let names = tokio::task::spawn_blocking(move || {
        let event =
            |name: &str| NewEvent::new(braid_core::EventKind::TeamCreated, name, &name, braid_db::now()).unwrap();
        let ours = |event: &log::Event| ["slow", "quick"].contains(&event.subject_id.as_str());
        let read = || -> Vec<String> {
            let events = log::since(&mut db.get().unwrap(), None, 100).unwrap();
            events.into_iter().filter(ours).map(|e| e.subject_id).collect()
        };

        let mut slow = db.get().unwrap();
        type Manager = <braid_db::DbConn as Connection>::TransactionManager;
        match backend {
            Backend::Postgres => {
                Manager::begin_transaction(&mut slow).unwrap();
                log::append(&mut slow, vec![event("slow")]).unwrap();
                db.get().unwrap().transaction(|quick| log::append(quick, vec![event("quick")])).unwrap();
                assert_eq!(read(), Vec::<String>::new(), "nothing past a transaction still running");
                Manager::commit_transaction(&mut slow).unwrap();
            }
            // One writer at a time: the slow transaction would only make the quick one wait.
            Backend::Sqlite => {
                slow.transaction(|slow| log::append(slow, vec![event("slow")])).unwrap();
                db.get().unwrap().transaction(|quick| log::append(quick, vec![event("quick")])).unwrap();
            }
        }
        // The horizon is the oldest transaction running anywhere on the server (other
        // tests' too), so it can take a moment to pass ours.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let seen = read();
            if seen.len() == 2 || std::time::Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    assert_eq!(names, ["slow", "quick"]);
}

/// Mail arrives out of order (a provider retrying a day later, an import): the thread's
/// latest-activity time, which sorts inboxes, must not move back.
async fn a_thread_remembers_its_latest_message_even_when_an_older_one_arrives_last(backend: Backend) {
    use braid_db::schema::threads;

    let app = TestApp::spawn(backend).await;
    let latest = |thread: braid_core::ThreadId| {
        app.with_db(move |conn| {
            let at: Option<chrono::NaiveDateTime> =
                threads::table.find(thread.to_string()).select(threads::last_message_at).first(conn)?;
            Ok(at.map(|at| at.and_utc().timestamp_micros()))
        })
    };
    let first = place(&app, email("una@example.org", "<u1@x>")).await;
    let thread = first.message.thread_id;
    let mut late = email("una@example.org", "<u0@x>");
    late.received_at = first.message.created_at - chrono::Duration::hours(1);
    place(&app, late).await;
    assert_eq!(
        latest(thread).await,
        Some(first.message.created_at.timestamp_micros()),
        "an older message moves nothing"
    );

    let newer = place(&app, email("una@example.org", "<u2@x>")).await;
    assert_eq!(latest(thread).await, Some(newer.message.created_at.timestamp_micros()), "a newer one moves it on");
}
