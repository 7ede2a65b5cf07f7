//! Warm nodes through every store fault (slow replies, Redis paused, Redis stopped), on both
//! `kv_backend` values: every request answered in time during the fault, normal answers
//! after it, and a Redis restarted empty reported until the rebuild.

use super::{StoreFault, Topology, Via, health, id_of};
use crate::helpers::{App, eventually};
use serde_json::json;
use std::time::{Duration, Instant};

/// During an outage, the longest an edge may take to answer.
const EDGE_OUTAGE_BOUND: Duration = Duration::from_millis(250);
/// During an outage, the longest the admin node may take to answer.
const ADMIN_OUTAGE_BOUND: Duration = Duration::from_secs(1);
/// Once Redis is back, the longest a node may take to answer normally again.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);
/// How long after a fault starts the requests are sent: past the moment the edges' usage
/// batches pending from the traffic before it are written (500 ms after their first count).
const FAULT_SETTLES: Duration = Duration::from_millis(600);
/// The rate limit of the limited key of the outage tests (per day: no window ends meanwhile).
const OUTAGE_LIMIT: u64 = 40;

/// What one request during an outage answered, and how long it took.
struct Answer {
    what: String,
    status: u16,
    body: String,
    took: Duration,
}

async fn timed(what: &str, node: &App, call: crate::helpers::Call) -> Answer {
    let started = Instant::now();
    let reply = node.send(call).await;
    Answer {
        what: what.to_owned(),
        status: reply.status,
        body: reply.text(),
        took: started.elapsed(),
    }
}

/// The keys the outage tests verify: one plain, one with a rate limit, and one per edge that
/// only that edge verifies (its `last_used_at` shows that edge's usage batch was written).
struct OutageKeys {
    plain: String,
    limited: String,
    per_edge: Vec<(String, String)>,
    /// A key the admin calls during the outages change (their outcome is unknown: a write
    /// whose answer timed out may still have reached Redis).
    scratch_id: String,
}

impl OutageKeys {
    async fn create(t: &Topology) -> OutageKeys {
        let (_, plain) = t.admin.create_key(json!({ "label": "Plain" })).await;
        let (_, limited) = t
            .admin
            .create_key(json!({
                "label": "Limited",
                "rate_limit": { "limit": OUTAGE_LIMIT, "window_seconds": 86_400 }
            }))
            .await;
        let mut per_edge = Vec::new();
        for n in 0..t.edges.len() {
            let (key, secret) = t
                .admin
                .create_key(json!({ "label": format!("Edge {n}") }))
                .await;
            per_edge.push((id_of(&key), secret));
        }
        let (scratch, _) = t.admin.create_key(json!({ "label": "Scratch" })).await;
        OutageKeys {
            plain,
            limited,
            per_edge,
            scratch_id: id_of(&scratch),
        }
    }
}

/// Traffic on every edge: the plain key, the limited key (its instances lease units) and the
/// edge's own key; returns how many verifications of the limited key were `VALID`.
async fn traffic(t: &Topology, keys: &OutageKeys) -> u64 {
    let mut valid = 0;
    for (n, edge) in t.edges.iter().enumerate() {
        for _ in 0..2 {
            assert_eq!(edge.code(&keys.plain, None, None).await, "VALID");
            assert_eq!(edge.code(&keys.per_edge[n].1, None, None).await, "VALID");
            valid += u64::from(edge.code(&keys.limited, None, None).await == "VALID");
        }
    }
    valid
}

/// Waits until every edge's usage batch has been written (each edge's own key has a
/// `last_used_at`).
async fn batches_written(t: &Topology, keys: &OutageKeys) {
    for (id, _) in &keys.per_edge {
        let path = format!("/api/v1/keys/{id}");
        let started = Instant::now();
        while t.admin.admin("GET", &path, None).await.json()["last_used_at"].is_null() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the edge's usage batch was never written"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Sends every kind of request to every node and checks each answered in time: 503
/// `store_unavailable` where the answer needs the store, never `VALID`; the normal answer for
/// a malformed key. Each node gets its requests in turn, twice over ([`twice_in_turn`]), while
/// the other nodes get theirs: the nodes are independent, as they are deployed.
async fn assert_outage_answers(t: &Topology, keys: &OutageKeys, phase: &str) {
    let edges = t
        .edges
        .iter()
        .enumerate()
        .map(|(n, edge)| edge_outage_answers(n, edge, keys));
    let (edges, admin) = tokio::join!(
        futures::future::join_all(edges),
        admin_outage_answers(&t.admin, &keys.scratch_id)
    );
    let answers: Vec<_> = edges.into_iter().flatten().chain(admin).collect();
    let slowest = |bound: Duration| {
        let took = answers
            .iter()
            .filter(|(b, ..)| *b == bound)
            .map(|(.., a)| a.took);
        took.max().unwrap_or_default()
    };
    eprintln!(
        "{phase}: slowest answer {:?} at the edges, {:?} on the admin node",
        slowest(EDGE_OUTAGE_BOUND),
        slowest(ADMIN_OUTAGE_BOUND)
    );
    let wrong: Vec<String> = answers
        .iter()
        .filter(|(bound, expect, a)| a.took > *bound || !expect.met(a))
        .map(|(bound, expect, a)| {
            format!(
                "{}: {} in {:?} (bound {bound:?}, expected {expect:?}): {}",
                a.what, a.status, a.took, a.body
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{phase}: every request answers as expected, in time:\n{}",
        wrong.join("\n")
    );
}

/// `calls()`'s requests to `node`, one after the other, twice over (an instance whose store
/// call timed out must answer in time again), each timed against `bound`.
async fn twice_in_turn(
    node: &App,
    bound: Duration,
    calls: impl Fn() -> Vec<(String, crate::helpers::Call, Expect)>,
) -> Vec<(Duration, Expect, Answer)> {
    let mut answers = Vec::new();
    for _ in 0..2 {
        for (what, call, expect) in calls() {
            answers.push((bound, expect, timed(&what, node, call).await));
        }
    }
    answers
}

/// One edge's requests during an outage, each with its expected answer.
async fn edge_outage_answers(
    n: usize,
    edge: &App,
    keys: &OutageKeys,
) -> Vec<(Duration, Expect, Answer)> {
    let malformed = "ingk_not-a-key";
    let verify = |key: &str| {
        edge.call("POST", "/api/v1/verify")
            .json(&json!({ "key": key }))
    };
    let authorize = |key: &str| {
        edge.call("GET", "/api/v1/authorize")
            .header("x-api-key", key)
    };
    let calls = || {
        [
            ("/verify malformed", verify(malformed), Expect::NotFound),
            (
                "/authorize malformed",
                authorize(malformed),
                Expect::Status(401),
            ),
            ("/verify", verify(&keys.plain), Expect::Unavailable),
            (
                "/verify limited",
                verify(&keys.limited),
                Expect::Unavailable,
            ),
            ("/authorize", authorize(&keys.plain), Expect::Unavailable),
            (
                "/authorize limited",
                authorize(&keys.limited),
                Expect::Unavailable,
            ),
            (
                "/health",
                edge.call("GET", "/api/v1/health"),
                Expect::Status(503),
            ),
        ]
        .into_iter()
        .map(|(what, call, expect)| (format!("edge {n} {what}"), call, expect))
        .collect()
    };
    twice_in_turn(edge, EDGE_OUTAGE_BOUND, calls).await
}

/// The admin node's requests during an outage: each must answer 503 `store_unavailable`.
/// They change the key `id`.
async fn admin_outage_answers(admin: &App, id: &str) -> Vec<(Duration, Expect, Answer)> {
    let calls = || {
        [
            ("admin GET /keys", admin.call("GET", "/api/v1/keys").admin()),
            (
                "admin GET /keys/{id}",
                admin.call("GET", &format!("/api/v1/keys/{id}")).admin(),
            ),
            (
                "admin POST /keys",
                admin
                    .call("POST", "/api/v1/keys")
                    .admin()
                    .json(&json!({ "label": "During the outage" })),
            ),
            (
                "admin deactivate",
                admin
                    .call("POST", &format!("/api/v1/keys/{id}/deactivate"))
                    .admin(),
            ),
            (
                "admin PATCH permissions",
                admin
                    .call("PATCH", &format!("/api/v1/keys/{id}/permissions"))
                    .admin()
                    .json(&json!({ "add_methods": ["documents.read"] })),
            ),
            (
                "admin rebuild",
                admin
                    .call("POST", "/api/v1/verification-records/rebuild")
                    .admin(),
            ),
        ]
        .into_iter()
        .map(|(what, call)| (what.to_owned(), call, Expect::Unavailable))
        .collect()
    };
    twice_in_turn(admin, ADMIN_OUTAGE_BOUND, calls).await
}

/// What a request during an outage must answer.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// 503 `store_unavailable`.
    Unavailable,
    /// 200 `NOT_FOUND` (a malformed key needs no store).
    NotFound,
    /// This status.
    Status(u16),
}

impl Expect {
    fn met(self, a: &Answer) -> bool {
        let never_valid = !a.body.contains("\"VALID\"");
        never_valid
            && match self {
                Expect::Unavailable => a.status == 503 && a.body.contains("store_unavailable"),
                Expect::NotFound => a.status == 200 && a.body.contains("\"NOT_FOUND\""),
                Expect::Status(status) => a.status == status,
            }
    }
}

/// Waits until every edge answers `expected` for `secret` and the admin node lists keys;
/// fails after [`RECOVERY_BOUND`].
async fn assert_recovers(t: &Topology, secret: &str, expected: &str, phase: &str) {
    let normal = || async {
        let listed = t.admin.admin("GET", "/api/v1/keys", None).await.status;
        let mut seen = vec![format!("admin list {listed}")];
        for edge in &t.edges {
            let reply = edge
                .send(
                    edge.call("POST", "/api/v1/verify")
                        .json(&json!({ "key": secret })),
                )
                .await;
            let code = match reply.status {
                200 => reply.json()["code"].to_string(),
                _ => reply.text(),
            };
            seen.push(format!("{} {code}", reply.status));
        }
        let fine = listed == 200
            && seen[1..]
                .iter()
                .all(|s| *s == format!("200 \"{expected}\""));
        if fine { Ok(()) } else { Err(seen.join(", ")) }
    };
    let what = format!("{phase}: normal answers after Redis came back");
    let ((), took) = eventually(&what, RECOVERY_BOUND, normal).await;
    eprintln!("{phase}: normal answers {took:?} after Redis came back");
}

/// Warm nodes through every store fault: before each, traffic on every edge (usage batches,
/// limit leases; the first time until every edge's batch is written), then the fault, while
/// the batches pending from that traffic are written; every request answers in time. Where
/// the nodes recover on their own (`recovers`), they answer normally within
/// [`RECOVERY_BOUND`] of the fault's end, and the limited key never admitted more than its
/// limit. Redis is stopped last: it comes back empty.
async fn every_fault_on_warm_nodes(via: Via, recovers: &[StoreFault]) -> (Topology, OutageKeys) {
    crate::limits::within_one_day(|| async move {
        let mut t = Topology::start(via, [via, via]);
        let keys = OutageKeys::create(&t).await;
        let mut admitted = traffic(&t, &keys).await;
        batches_written(&t, &keys).await;
        for fault in [StoreFault::Slow, StoreFault::Paused, StoreFault::Stopped] {
            admitted += traffic(&t, &keys).await;
            t.inject(fault);
            tokio::time::sleep(FAULT_SETTLES).await;
            let phase = format!("{via:?}, Redis {fault:?}");
            assert_outage_answers(&t, &keys, &phase).await;
            t.lift(fault);
            if matches!(fault, StoreFault::Stopped) || !recovers.contains(&fault) {
                continue;
            }
            assert_recovers(&t, &keys.plain, "VALID", &phase).await;
        }
        // Leases taken before the outages granted nothing beyond the limit.
        assert!(admitted <= OUTAGE_LIMIT, "{admitted} admitted");
        (t, keys)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn warm_nodes_reaching_redis_directly_answer_in_time_through_every_fault_and_recover() {
    let (t, keys) =
        every_fault_on_warm_nodes(Via::Direct, &[StoreFault::Slow, StoreFault::Paused]).await;
    // Redis came back empty: the lost records answer NOT_FOUND (fails closed), and the health
    // route says why, until the rebuild.
    assert_recovers(&t, &keys.plain, "NOT_FOUND", "after the restart").await;
    for node in [&t.admin, &t.edges[0], &t.edges[1]] {
        let (status, body) = health(node).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["status"], "records_missing", "{body}");
    }
    let rebuilt = t
        .admin
        .admin("POST", "/api/v1/verification-records/rebuild", None)
        .await;
    assert_eq!(rebuilt.status, 200, "{}", rebuilt.text());
    assert_eq!(t.codes(&keys.plain, None).await, ["VALID", "VALID"]);
    for node in [&t.admin, &t.edges[0], &t.edges[1]] {
        let (status, body) = health(node).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["checks"]["verification_records"], "present", "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn warm_nodes_on_spins_key_value_api_answer_in_time_through_every_fault() {
    // Spin's Redis client reconnects with back-off after Redis was stopped (about two
    // minutes, docs/deployment.md): only the slow and paused store are waited out here.
    every_fault_on_warm_nodes(Via::SpinKeyValue, &[StoreFault::Slow, StoreFault::Paused]).await;
}
