//! The sync feed, `GET /v1/events`: every event exactly once, in log order, from a cursor;
//! filters that still move the cursor; retention that answers 410 with where to restart;
//! and, on PostgreSQL, concurrent transactions committing out of order while a follower
//! pages through.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use braid_core::EventKind;
use braid_db::events::{NewEvent, Position};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, both_backends};
use crate::tickets::customer;

both_backends!(
    the_feed_gives_every_event_once_in_log_order_and_then_waits_at_its_cursor,
    a_type_filter_returns_only_those_kinds_and_its_cursor_still_moves_past_the_rest,
    bad_cursors_types_and_limits_are_clear_errors,
    a_cursor_older_than_the_retention_answers_410_with_where_to_restart,
    the_feed_needs_its_own_scope,
    the_horizon_lag_is_a_metric,
    a_filter_matching_nothing_for_long_looks_through_a_bounded_stretch_per_page,
);

/// Pages through the feed from `after` until it is caught up; returns the events and the
/// last cursor.
async fn drain(app: &TestApp, key: &str, mut after: Option<String>, query: &str) -> (Vec<Value>, String) {
    let mut events = Vec::new();
    loop {
        let path = match &after {
            Some(after) => format!("/v1/events?after={after}&{query}"),
            None => format!("/v1/events?{query}"),
        };
        let response = app.get_as(&path, key).await;
        assert_eq!(response.status(), 200, "{path}");
        let page: Value = response.json().await.unwrap();
        events.extend(page["data"].as_array().unwrap().iter().cloned());
        after = Some(page["next_cursor"].as_str().unwrap().to_owned());
        if page["has_more"] == false {
            return (events, after.unwrap());
        }
    }
}

/// [`drain`] until `expected` events came. On PostgreSQL the feed holds back what other
/// transactions of the cluster may still precede (other tests run beside this one), so a
/// caught-up page can come before everything written is final.
async fn drain_until(
    app: &TestApp,
    key: &str,
    after: Option<String>,
    query: &str,
    expected: usize,
) -> (Vec<Value>, String) {
    let (mut events, mut cursor) = drain(app, key, after, query).await;
    let started = std::time::Instant::now();
    while events.len() < expected {
        assert!(started.elapsed() < Duration::from_secs(30), "{} of {expected} events: {events:?}", events.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (more, next) = drain(app, key, Some(cursor), query).await;
        events.extend(more);
        cursor = next;
    }
    (events, cursor)
}

/// Every event in the table, final or not, in log order.
async fn stored(app: &TestApp) -> Vec<Position> {
    use braid_db::schema::events;
    use diesel::prelude::*;
    let rows: Vec<(i64, i64)> = app
        .with_db(|conn| {
            Ok(events::table
                .order((events::tx.asc(), events::seq.asc()))
                .select((events::tx, events::seq))
                .load(conn)?)
        })
        .await;
    rows.into_iter().map(|(tx, seq)| Position { tx, seq }).collect()
}

fn position(event: &Value) -> Position {
    event["position"].as_str().unwrap().parse().unwrap()
}

async fn the_feed_gives_every_event_once_in_log_order_and_then_waits_at_its_cursor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, key) = (app.admin_token().await, app.api_key(&["events:read"]).await);
    for n in 0..4 {
        let customer = customer(&app, &admin, &format!("feed{n}@example.org")).await;
        let created =
            app.post_as("/v1/tickets", &admin, &json!({"customer_id": customer, "subject": format!("call {n}")})).await;
        assert_eq!(created.status(), 201);
    }
    let everything = stored(&app).await;
    assert!(everything.len() >= 8, "customers and tickets were recorded");

    let (events, cursor) = drain_until(&app, &key, None, "limit=2", everything.len()).await;
    let positions: Vec<Position> = events.iter().map(position).collect();
    assert_eq!(positions, everything, "each event once, in log order");
    // The feed carries the event as the stream does: kind, subject, owner, payload.
    let ticket = events.iter().find(|e| e["kind"] == "ticket.created").unwrap();
    assert_eq!(ticket["payload"]["subject"], "call 0");
    assert!(ticket["customer_id"].is_string() && ticket["ticket_id"] == ticket["subject_id"]);
    assert_eq!(cursor, everything.last().unwrap().to_string());

    // Caught up: the same cursor answers an empty page, and is handed back unchanged.
    let page: Value = app.get_as(&format!("/v1/events?after={cursor}"), &key).await.json().await.unwrap();
    assert_eq!(page, json!({"data": [], "next_cursor": cursor, "has_more": false}));

    // What is written next is the next page, and only it.
    let customer = customer(&app, &admin, "later@example.org").await;
    let written = stored(&app).await.len() - everything.len();
    let (later, _) = drain_until(&app, &key, Some(cursor), "limit=100", written).await;
    assert!(!later.is_empty() && later.iter().all(|e| position(e) > positions[positions.len() - 1]));
    assert!(later.iter().any(|e| e["kind"] == "customer.created" && e["subject_id"] == customer.as_str()));
}

async fn a_type_filter_returns_only_those_kinds_and_its_cursor_still_moves_past_the_rest(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, key) = (app.admin_token().await, app.api_key(&["events:read"]).await);
    let mut tickets = Vec::new();
    for n in 0..3 {
        let customer = customer(&app, &admin, &format!("filter{n}@example.org")).await;
        let created: Value = app
            .post_as("/v1/tickets", &admin, &json!({"customer_id": customer, "subject": format!("s{n}")}))
            .await
            .json()
            .await
            .unwrap();
        tickets.push(created["id"].as_str().unwrap().to_owned());
    }
    let (events, cursor) = drain_until(&app, &key, None, "types=ticket.created&limit=1", 3).await;
    assert!(events.iter().all(|e| e["kind"] == "ticket.created"), "{events:?}");
    let subjects: Vec<&str> = events.iter().map(|e| e["subject_id"].as_str().unwrap()).collect();
    assert_eq!(subjects, tickets);
    // The cursor moved to the head of the log, past the customers' events after the last
    // ticket: the next poll does not scan them again.
    let last = *stored(&app).await.last().unwrap();
    let (nothing, cursor) = drain_until(&app, &key, Some(cursor), "types=ticket.created", 0).await;
    assert_eq!(nothing, Vec::<Value>::new());
    let started = std::time::Instant::now();
    let mut cursor: Position = cursor.parse().unwrap();
    while cursor < last {
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let page: Value =
            app.get_as(&format!("/v1/events?after={cursor}&types=ticket.created"), &key).await.json().await.unwrap();
        assert_eq!(page["data"], json!([]));
        cursor = page["next_cursor"].as_str().unwrap().parse().unwrap();
    }
    assert_eq!(cursor, last);

    // Families and lists: `customer.*` is every customer event and nothing else.
    let (customers, _) = drain_until(&app, &key, None, "types=customer.*,identity.added", 3).await;
    assert!(customers.iter().all(|e| {
        let kind = e["kind"].as_str().unwrap();
        kind.starts_with("customer.") || kind == "identity.added"
    }));
    let total = stored(&app).await.len();
    let (all, _) = drain_until(&app, &key, None, "types=*", total).await;
    let (unfiltered, _) = drain_until(&app, &key, None, "", total).await;
    assert_eq!(all, unfiltered);
}

async fn bad_cursors_types_and_limits_are_clear_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = app.api_key(&["events:read"]).await;
    for (query, status, field) in [
        ("after=yesterday", 400, "after"),
        ("after=1.-2", 400, "after"),
        ("after=99999999999999999999.1", 400, "after"),
        ("types=ticket", 400, "types"),
        ("types=ticket.created,nope.*", 400, "types"),
        ("limit=0", 422, "limit"),
        ("limit=1001", 422, "limit"),
    ] {
        let response = app.get_as(&format!("/v1/events?{query}"), &key).await;
        assert_eq!(response.status(), status, "{query}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["extra"]["field"], field, "{query}: {problem}");
    }
    // A cursor past anything the log gave (a database restored elsewhere) would wait
    // forever: it is told to restart.
    let response = app.get_as("/v1/events?after=9000000000.1", &key).await;
    assert_eq!(response.status(), 410);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "cursor_expired");
    assert!(problem["extra"]["restart_cursor"].is_string());
}

async fn a_cursor_older_than_the_retention_answers_410_with_where_to_restart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, key) = (app.admin_token().await, app.api_key(&["events:read"]).await);
    let old = customer(&app, &admin, "old@example.org").await;
    // A ticket with its first message: two events of one transaction.
    let opened =
        json!({"customer_id": old, "subject": "Called", "message": {"text": "About a refund", "kind": "customer"}});
    assert_eq!(app.post_as("/v1/tickets", &admin, &opened).await.status(), 201);
    let (first, _) = drain_until(&app, &key, None, "limit=1", 1).await;
    let old_cursor = first[0]["position"].as_str().unwrap().to_owned();

    // Everything written so far is past its retention.
    let cutoff = braid_db::now() + chrono::Duration::seconds(1);
    let (mut pruned, started) = (0, std::time::Instant::now());
    // Only final events are pruned: on PostgreSQL, other tests' transactions may hold some
    // back for a moment.
    while !stored(&app).await.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30));
        match app.with_db(move |conn| braid_db::events::prune(conn, cutoff, 1)).await {
            0 => tokio::time::sleep(Duration::from_millis(20)).await,
            n => pruned += n,
        }
        // A batch of one never ends inside the ticket's transaction: what is kept starts
        // at a transaction's first event.
        let (cut, kept) = app
            .with_db(|conn| Ok((braid_db::events::pruned_through(conn)?, braid_db::events::since(conn, None, 1000)?)))
            .await;
        assert!(
            cut.tx == 0 || kept.iter().all(|e| e.position.tx != cut.tx),
            "pruned through {cut}, inside a transaction"
        );
    }
    assert!(pruned >= 1);
    let newer = customer(&app, &admin, "new@example.org").await;
    let kept = stored(&app).await.len();

    let response = app.get_as(&format!("/v1/events?after={old_cursor}"), &key).await;
    assert_eq!(response.status(), 410);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "cursor_expired");
    let restart = problem["extra"]["restart_cursor"].as_str().unwrap().to_owned();
    assert!(restart.parse::<Position>().unwrap() > old_cursor.parse::<Position>().unwrap());

    // The restart cursor is the log's head: a reader that reloaded state follows on from
    // it and gets what comes next; from no cursor at all, the kept log is whole.
    let (from_start, _) = drain_until(&app, &key, None, "", kept).await;
    assert!(from_start.iter().any(|e| e["subject_id"] == newer.as_str()));
    assert!(restart.parse::<Position>().unwrap() <= position(from_start.last().unwrap()));
    let later = customer(&app, &admin, "later@example.org").await;
    let (mut next, mut cursor) = (Vec::new(), restart);
    let started = std::time::Instant::now();
    while !next.iter().any(|e: &Value| e["subject_id"] == later.as_str()) {
        assert!(started.elapsed() < Duration::from_secs(30), "{next:?}");
        let (more, after) = drain(&app, &key, Some(cursor), "").await;
        next.extend(more);
        cursor = after;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The stream refuses the same stale position with a close code saying so.
    let token = app.admin_token().await;
    let mut ws = crate::chat::socket_at(&app.url(&format!("/v1/stream?after={old_cursor}")), None, Some(&token)).await;
    loop {
        let heard =
            tokio::time::timeout(Duration::from_secs(30), futures_util::StreamExt::next(&mut ws)).await.unwrap();
        match heard {
            // The socket says where it stands, then finds the log pruned past it.
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) if text.contains("\"ready\"") => continue,
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 4010);
                break;
            }
            other => panic!("expected a 4010 close, got {other:?}"),
        }
    }
}

async fn the_feed_needs_its_own_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tickets = app.api_key(&["tickets:read", "customers:read"]).await;
    assert_eq!(app.get_as("/v1/events", &tickets).await.status(), 403);
    assert_eq!(app.get("/v1/events").await.status(), 401);
    let agent = app.agent_token("agent").await;
    assert_eq!(app.get_as("/v1/events", &agent).await.status(), 200, "agents see every change anyway");
}

async fn the_horizon_lag_is_a_metric(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let line = metrics.lines().find(|l| l.starts_with("braid_event_horizon_lag_seconds ")).expect("the gauge");
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value >= 0.0);
}

/// A transaction on PostgreSQL that holds its events uncommitted while a later one commits
/// holds the feed back: readers get its events after it commits, never skip them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_back_transaction_shows_as_horizon_lag_and_is_never_skipped() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let key = app.api_key(&["events:read"]).await;
    let (_, start) = drain(&app, &key, None, "").await;
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (began, begun) = tokio::sync::oneshot::channel();
    let db = app.db.clone();
    let slow = tokio::task::spawn_blocking(move || {
        let mut conn = db.get().unwrap();
        diesel::Connection::transaction(&mut *conn, |conn| {
            braid_db::events::append(conn, vec![event("slow", 0, 1)])?;
            began.send(()).unwrap();
            released.recv().unwrap();
            Ok::<_, braid_db::DbError>(())
        })
        .unwrap();
    });
    begun.await.unwrap();
    app.with_db(|conn| braid_db::events::append(conn, vec![event("fast", 0, 1)])).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let (held, cursor) = drain(&app, &key, Some(start.clone()), "").await;
    assert_eq!(held, Vec::<Value>::new(), "the committed event waits behind the running transaction");
    assert_eq!(cursor, start);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let lag: f64 = metrics
        .lines()
        .find(|l| l.starts_with("braid_event_horizon_lag_seconds "))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(lag >= 1.0, "lag {lag}");

    release.send(()).unwrap();
    slow.await.unwrap();
    let (both, _) = drain(&app, &key, Some(cursor), "").await;
    let writers: Vec<&str> = both.iter().map(|e| e["payload"]["writer"].as_str().unwrap()).collect();
    assert_eq!(writers, ["slow", "fast"], "log order is transaction order, not commit order");
}

fn event(writer: &str, n: usize, of: usize) -> NewEvent {
    NewEvent::new(
        EventKind::TicketUpdated,
        format!("{writer}-{n}"),
        &json!({"writer": writer, "n": n, "of": of}),
        braid_db::now(),
    )
    .unwrap()
}

/// The property behind the feed: writers commit many transactions concurrently, in an
/// order unrelated to when they began, while a follower pages through with a small page.
/// Every event arrives exactly once, in position order, and a page never splits a
/// transaction; the follower filters by kind, and a third of the transactions also write
/// a kind it skips.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transactions_committing_out_of_order_reach_a_follower_exactly_once_in_order() {
    let seed: u64 = std::env::var("FEED_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("FEED_SEED={seed}");
    let app = TestApp::builder(Backend::Postgres).with_settings(|s| s.database_pool_size = 16).start().await;
    let key = app.api_key(&["events:read"]).await;
    let (_, start) = drain(&app, &key, None, "").await;

    const WRITERS: usize = 8;
    const TRANSACTIONS: usize = 25;
    let mut written = 0;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed + w as u64);
        let plan: Vec<(usize, u64)> = (0..TRANSACTIONS).map(|_| (rng.gen_range(1..=4), rng.gen_range(0..25))).collect();
        written += plan.iter().map(|(size, _)| size).sum::<usize>();
        let db = app.db.clone();
        writers.push(tokio::task::spawn_blocking(move || {
            for (t, (size, hold_ms)) in plan.into_iter().enumerate() {
                let mut conn = db.get().unwrap();
                let writer = format!("w{w}t{t}");
                diesel::Connection::transaction(&mut *conn, |conn| {
                    // The transaction id is taken by the first write; holding the
                    // transaction open after it lets later ones commit first.
                    braid_db::events::append(conn, vec![event(&writer, 0, size)])?;
                    std::thread::sleep(Duration::from_millis(hold_ms));
                    braid_db::events::append(conn, (1..size).map(|n| event(&writer, n, size)).collect())?;
                    // Events the follower's filter passes over, between and after its own:
                    // its cursor must still move past them without losing a neighbour.
                    if t % 3 == 0 {
                        let skipped = NewEvent::new(
                            EventKind::TeamUpdated,
                            format!("{writer}-team"),
                            &json!({}),
                            braid_db::now(),
                        );
                        braid_db::events::append(conn, vec![skipped.unwrap()])?;
                    }
                    Ok::<_, braid_db::DbError>(())
                })
                .unwrap();
            }
        }));
    }

    let mut seen = Vec::new();
    let mut cursor = start;
    let started = std::time::Instant::now();
    while seen.len() < written {
        assert!(started.elapsed() < Duration::from_secs(120), "saw {} of {written}", seen.len());
        let page: Value = app
            .get_as(&format!("/v1/events?after={cursor}&limit=3&types=ticket.updated"), &key)
            .await
            .json()
            .await
            .unwrap();
        let events = page["data"].as_array().unwrap_or_else(|| panic!("{page}")).clone();
        // A page holds whole transactions.
        let mut per_writer: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for event in &events {
            let entry = per_writer.entry(event["payload"]["writer"].as_str().unwrap().to_owned()).or_default();
            entry.0 += 1;
            entry.1 = event["payload"]["of"].as_u64().unwrap() as usize;
        }
        for (writer, (count, of)) in per_writer {
            assert_eq!(count, of, "transaction {writer} split across pages (seed {seed})");
        }
        seen.extend(events);
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if page["has_more"] == false {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let (rest, _) = drain(&app, &key, Some(cursor), "types=ticket.updated").await;
    assert_eq!(rest, Vec::<Value>::new(), "nothing arrives twice (seed {seed})");

    let positions: Vec<Position> = seen.iter().map(position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in position order (seed {seed})");
    let ids: HashSet<&str> = seen.iter().map(|e| e["subject_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), written, "each event exactly once (seed {seed})");
}

/// Appends `count` events of `kind` in transactions of `per_tx` (statements of 2,000 rows).
async fn bulk(app: &TestApp, kind: EventKind, count: usize, per_tx: usize) {
    let mut left = count;
    while left > 0 {
        let in_tx = left.min(per_tx);
        left -= in_tx;
        app.with_db(move |conn| {
            braid_db::dialect::write_transaction(conn, |conn| {
                let mut rest = in_tx;
                while rest > 0 {
                    let n = rest.min(2000);
                    rest -= n;
                    let batch =
                        (0..n).map(|i| NewEvent::new(kind, format!("bulk-{i}"), &json!({}), braid_db::now()).unwrap());
                    braid_db::events::append(conn, batch.collect())?;
                }
                Ok(())
            })
        })
        .await;
    }
}

async fn a_filter_matching_nothing_for_long_looks_through_a_bounded_stretch_per_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = app.api_key(&["events:read"]).await;
    let (_, start) = drain(&app, &key, None, "").await;
    bulk(&app, EventKind::TeamUpdated, braid_db::events::MAX_SCAN as usize + 5_000, 10_000).await;
    bulk(&app, EventKind::TicketUpdated, 1, 1).await;

    // The first page looks through 50,000 positions, finds nothing, and says there is more.
    let page = settled(&app, &key, &format!("/v1/events?after={start}&types=ticket.updated")).await;
    assert_eq!((page["data"].as_array().unwrap().len(), &page["has_more"]), (0, &json!(true)), "{page}");
    let moved = page["next_cursor"].as_str().unwrap().to_owned();
    assert!(moved.parse::<Position>().unwrap() > start.parse::<Position>().unwrap());
    // The next one finds the ticket event behind the stretch, and the log ends there.
    let page = settled(&app, &key, &format!("/v1/events?after={moved}&types=ticket.updated")).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["has_more"], false);
}

/// A transaction larger than a page's extension is split after it, and its positions
/// resume exactly (PostgreSQL: SQLite records no transactions).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_past_the_extension_cap_is_split_and_resumes_exactly() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let key = app.api_key(&["events:read"]).await;
    let (_, start) = drain(&app, &key, None, "").await;
    let cap = braid_db::events::MAX_EXTENSION as usize;
    bulk(&app, EventKind::TeamUpdated, cap + 7, cap + 7).await;
    // Events written before the bulk (the key's, held back then by other tests' open
    // transactions) may come first, each a page of its own.
    let mut cursor = start;
    let page = loop {
        let page = settled(&app, &key, &format!("/v1/events?after={cursor}&limit=1")).await;
        if page["data"][0]["kind"] == "team.updated" {
            break page;
        }
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
    };
    assert_eq!((page["data"].as_array().unwrap().len(), &page["has_more"]), (1 + cap, &json!(true)));
    let next = page["next_cursor"].as_str().unwrap();
    let rest = settled(&app, &key, &format!("/v1/events?after={next}&limit=100")).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 6, "the rest of the transaction, once");
    assert_eq!(rest["has_more"], false);
}

/// A feed page once it shows something: on PostgreSQL, other tests' transactions on the
/// same server may hold the log's final part back for a moment (nothing, nothing more).
async fn settled(app: &TestApp, key: &str, path: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let page: Value = app.get_as(path, key).await.json().await.unwrap();
        if !page["data"].as_array().unwrap().is_empty() || page["has_more"] == true {
            return page;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the log stayed held back: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
