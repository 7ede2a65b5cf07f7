//! Bounded staleness (`verify_cache_ms`) on real Spin: an admin node and two edges on one
//! Redis (one edge direct, one through Spin's key-value API), every node with a 1 s record
//! cache.
//!
//! - Every removal (narrowing, deactivation, regeneration without grace, a leak report,
//!   deletion) is refused at every edge by every verification that starts more than 1 s after
//!   the admin call returned, while verifications race the call; widening shows within 1 s.
//! - The edges do answer from their caches: within the bound, some verifications still
//!   succeed, and a verification answers while the store is paused.
//! - A new key is `VALID` at once, though unknown keys were cached as not found just before:
//!   the cache is keyed by the key's hash, and a new secret's hash was never looked up.
//! - A value of `verify_cache_ms` out of range keeps the node out of service (500 on health
//!   and verifications, a log line naming the variable).
//!
//! With the default (`0`) every other test of the suite runs as strict as ever.

use crate::concurrency::race_within;
use crate::helpers::{App, eventually};
use crate::scanners::{Scanners, github_finding, github_report, signed_report};
use crate::topology::{StoreFault, Topology, Via, id_of};
use keys_domain::key::NewSecret;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The cache bound of these tests.
const BOUND: Duration = Duration::from_millis(1_000);
/// How long past the bound a widening may take to show in these tests: scheduling of the
/// test's own requests, not the cache.
const MARGIN: Duration = Duration::from_millis(250);
/// Where the leaked key of these tests was found.
const LEAK_URL: &str = "https://github.com/partner/app/blob/main/.env";

/// An admin node and two edges (one direct, one through Spin's key-value API) on one Redis,
/// every node with a record cache of [`BOUND`], the admin node taking `scanners`' reports.
fn cached_topology(scanners: &Scanners) -> Topology {
    let variables = scanners.variables(&[("verify_cache_ms", &BOUND.as_millis().to_string())]);
    let borrowed: Vec<(&str, &str)> = variables
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    Topology::start_with(Via::Direct, [Via::Direct, Via::SpinKeyValue], &borrowed)
}

/// Verifies `key` for `method` at `edge` until it answers `code`; fails past [`BOUND`] +
/// [`MARGIN`].
async fn shows_within(edge: &App, key: &str, method: Option<&str>, code: &str) {
    let answers = || async {
        let seen = edge.code(key, method, None).await;
        if seen == code { Ok(()) } else { Err(seen) }
    };
    eventually(&format!("{code} at the edge"), BOUND + MARGIN, answers).await;
}

async fn health(node: &App) -> (u16, Value) {
    let reply = node.send(node.call("GET", "/api/v1/health")).await;
    (reply.status, reply.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_a_one_second_record_cache_every_removal_reaches_every_edge_within_the_bound() {
    let scanners = Scanners::start();
    let t = cached_topology(&scanners);
    for node in std::iter::once(&t.admin).chain(&t.edges) {
        assert_eq!(health(node).await.1["verify_cache_ms"], 1_000);
    }
    let (admin, edges) = (&t.admin, &t.edges[..]);

    // Unknown keys cached as not found before the key exists do not hide it.
    for _ in 0..3 {
        let unknown = NewSecret::generate().unwrap();
        assert_eq!(t.codes(unknown.expose(), None).await, ["NOT_FOUND"; 2]);
    }
    let (key, secret) = admin
        .create_key(json!({ "label": "Cached", "methods": ["employees.read", "documents.read"] }))
        .await;
    let id = id_of(&key);
    assert_eq!(t.codes(&secret, Some("documents.read")).await, ["VALID"; 2]);

    let mut stale = 0;
    let mut removal = async |method, call, status| {
        let (reply, seen) = race_within(admin, edges, &secret, method, call, status, BOUND).await;
        stale += seen;
        reply
    };
    let narrowing = admin
        .call("PATCH", &format!("/api/v1/keys/{id}/permissions"))
        .admin()
        .json(&json!({ "remove_methods": ["documents.read"] }));
    removal(Some("documents.read"), narrowing, 200).await;
    let deactivation = admin
        .call("POST", &format!("/api/v1/keys/{id}/deactivate"))
        .admin();
    removal(None, deactivation, 200).await;

    // Widening takes up to the bound too.
    let activated = admin
        .admin("POST", &format!("/api/v1/keys/{id}/activate"), None)
        .await;
    assert_eq!(activated.status, 200, "{}", activated.text());
    for edge in edges {
        shows_within(edge, &secret, None, "VALID").await;
    }

    let regeneration = admin
        .call("POST", &format!("/api/v1/keys/{id}/regenerate"))
        .admin();
    let regenerated = removal(None, regeneration, 200).await.json();
    let secret = regenerated["key"].as_str().unwrap().to_owned();
    // The new secret was never looked up: valid at once.
    assert_eq!(t.codes(&secret, None).await, ["VALID"; 2]);

    // Fetch the scanner's keys first, so the race measures the report, not the fetch.
    assert_eq!(
        github_report(admin, &scanners, &json!([])).await.status,
        200
    );
    let report = signed_report(
        admin,
        "github",
        &scanners.github,
        &json!([github_finding(&secret, LEAK_URL)]),
    );
    let (reply, seen) = race_within(admin, edges, &secret, None, report, 200, BOUND).await;
    assert_eq!(reply.json()[0]["label"], "true_positive");
    stale += seen;

    let (other, other_secret) = admin.create_key(json!({ "label": "Deleted" })).await;
    assert_eq!(t.codes(&other_secret, None).await, ["VALID"; 2]);
    let deletion = admin
        .call("DELETE", &format!("/api/v1/keys/{}", id_of(&other)))
        .admin();
    let (_, seen) = race_within(admin, edges, &other_secret, None, deletion, 204, BOUND).await;
    stale += seen;

    assert!(
        stale > 0,
        "the edges answered from their caches within the bound (else the cache is off)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edge_answers_a_key_it_just_read_while_the_store_is_paused_until_the_bound_passes() {
    let scanners = Scanners::start();
    let mut t = cached_topology(&scanners);
    let (_, secret) = t.admin.create_key(json!({ "label": "Paused" })).await;
    assert_eq!(t.codes(&secret, None).await, ["VALID"; 2]);

    t.inject(StoreFault::Paused);
    let read = Instant::now();
    let codes = t.codes(&secret, None).await;
    let answered = read.elapsed();
    // Past the bound the record must be read again, and the store does not answer.
    tokio::time::sleep(BOUND).await;
    let edge = &t.edges[0];
    let verify = edge
        .call("POST", "/api/v1/verify")
        .json(&json!({ "key": secret }));
    let later = edge.send(verify).await;
    t.lift(StoreFault::Paused);

    assert_eq!(codes, ["VALID"; 2], "answered from the cache");
    assert!(
        answered < Duration::from_millis(100),
        "no store call: {answered:?}"
    );
    assert_eq!(later.problem(503), "store_unavailable");
}

#[tokio::test]
async fn a_cache_bound_out_of_range_keeps_the_node_out_of_service() {
    let app = App::start_spin_with(&[("verify_cache_ms", "5001")]);
    let (status, body) = health(&app).await;
    assert_eq!(status, 500, "{body}");
    let secret = NewSecret::generate().unwrap();
    let reply = app
        .send(
            app.call("POST", "/api/v1/verify")
                .json(&json!({ "key": secret.expose() })),
        )
        .await;
    assert_eq!(reply.problem(500), "internal_error");
    assert!(
        app.logs()
            .contains("verify_cache_ms must be a whole number of milliseconds from 0 to 5000"),
        "{}",
        app.logs()
    );
}
