//! The edge topology on real Spin: one admin node (`spin up -c manage-keys -c
//! manage-permissions -c key-usage -c rebuild-records -c secret-scanning -c admin-ui`) and two edges (`spin up -c
//! verify-key -c kv-proxy`) sharing one `redis-server` that the tests start, stop, pause and restart.
//!
//! - Changes made on the admin node are seen at every edge: widening at once, and removals
//!   (narrowing, deactivation, regeneration without grace, deletion) before the admin call
//!   returns, checked with verifications at both edges racing each call.
//! - During a Redis outage (stopped, or paused as in a partition) every request answers 503
//!   `store_unavailable` within 250 ms at the edges and 1 s on the admin node, never `VALID`;
//!   once Redis is back the nodes answer normally within 5 s, without a restart.
//! - A Redis restarted empty shows on `GET /api/v1/health` until the rebuild runs.

use crate::concurrency::race;
use crate::helpers::App;
use serde_json::{Value, json};
use spin_test_host::redis_server::RedisServer;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The admin node's components.
const ADMIN_COMPONENTS: &[&str] = &[
    "manage-keys",
    "manage-permissions",
    "key-usage",
    "rebuild-records",
    "identity",
    "secret-scanning",
    "admin-ui",
];
/// The edge's components.
const EDGE_COMPONENTS: &[&str] = &["verify-key", "kv-proxy"];
/// During an outage, the longest an edge may take to answer.
const EDGE_OUTAGE_BOUND: Duration = Duration::from_millis(250);
/// During an outage, the longest the admin node may take to answer.
const ADMIN_OUTAGE_BOUND: Duration = Duration::from_secs(1);
/// Once Redis is back, the longest a node may take to answer normally again.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);

/// How a node reaches the shared Redis.
#[derive(Clone, Copy)]
enum Via {
    /// Spin's key-value API, the runtime config pointing `default` at Redis.
    SpinKeyValue,
    /// `kv_backend = redis`: the components speak to Redis themselves.
    Direct,
}

/// One Redis, one admin node and two edges.
struct Topology {
    redis: RedisServer,
    admin: Arc<App>,
    edges: Vec<Arc<App>>,
    _config: tempfile::TempDir,
}

impl Topology {
    /// Starts Redis and the three nodes, each reaching Redis as `admin` / `edges` say.
    fn start(admin: Via, edges: [Via; 2]) -> Topology {
        let redis = RedisServer::start().expect("redis-server runs");
        let config = tempfile::tempdir().unwrap();
        let runtime_config: PathBuf = config.path().join("runtime-config.toml");
        std::fs::write(
            &runtime_config,
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                redis.url()
            ),
        )
        .unwrap();
        let host = redis.host();
        let node = |components: &[&str], via: Via| {
            let backend = match via {
                Via::SpinKeyValue => "spin",
                Via::Direct => "redis",
            };
            let variables = [("kv_backend", backend), ("redis_host", host.as_str())];
            Arc::new(App::start_node(components, &runtime_config, &variables))
        };
        Topology {
            admin: node(ADMIN_COMPONENTS, admin),
            edges: edges
                .iter()
                .map(|via| node(EDGE_COMPONENTS, *via))
                .collect(),
            redis,
            _config: config,
        }
    }

    /// The verification code of `key` for `method` at every edge.
    async fn codes(&self, key: &str, method: Option<&str>) -> Vec<String> {
        let mut codes = Vec::new();
        for edge in &self.edges {
            codes.push(edge.code(key, method, None).await);
        }
        codes
    }
}

fn id_of(key: &Value) -> String {
    key["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_on_the_admin_node_are_seen_at_every_edge_before_the_call_returns() {
    // The admin node and one edge through Spin's key-value API, the other edge direct: both
    // ways read and write the same entries.
    let t = Topology::start(Via::SpinKeyValue, [Via::Direct, Via::SpinKeyValue]);
    let (key, secret) = t
        .admin
        .create_key(json!({ "label": "Welyb", "methods": ["employees.read"] }))
        .await;
    let id = id_of(&key);
    assert_eq!(
        t.codes(&secret, Some("employees.read")).await,
        ["VALID", "VALID"]
    );
    assert!(
        t.edges[0].spin().kv_dump("default").unwrap().is_empty(),
        "the edges keep nothing of their own: the records are in Redis"
    );

    // Widening is visible at once.
    assert_eq!(
        t.codes(&secret, Some("documents.read")).await,
        ["METHOD_NOT_ALLOWED", "METHOD_NOT_ALLOWED"]
    );
    let widened = t
        .admin
        .admin(
            "PATCH",
            &format!("/api/v1/keys/{id}/permissions"),
            Some(json!({ "add_methods": ["documents.read"] })),
        )
        .await;
    assert_eq!(widened.status, 200, "{}", widened.text());
    assert_eq!(
        t.codes(&secret, Some("documents.read")).await,
        ["VALID", "VALID"]
    );

    // Removals, each raced by verifications at both edges.
    let (admin, edges) = (&t.admin, &t.edges[..]);
    let permissions = format!("/api/v1/keys/{id}/permissions");
    let narrowing = json!({ "remove_methods": ["documents.read"] });
    let request = ("PATCH", permissions.as_str(), Some(narrowing));
    race(admin, edges, &secret, Some("documents.read"), request, 200).await;
    let deactivate = format!("/api/v1/keys/{id}/deactivate");
    race(
        admin,
        edges,
        &secret,
        None,
        ("POST", &deactivate, None),
        200,
    )
    .await;
    let reactivated = admin
        .admin("POST", &format!("/api/v1/keys/{id}/activate"), None)
        .await;
    assert_eq!(reactivated.status, 200);
    assert_eq!(t.codes(&secret, None).await, ["VALID", "VALID"]);

    let regenerate = format!("/api/v1/keys/{id}/regenerate");
    let reply = race(
        admin,
        edges,
        &secret,
        None,
        ("POST", &regenerate, None),
        200,
    )
    .await;
    let regenerated = reply.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(t.codes(&regenerated, None).await, ["VALID", "VALID"]);

    let key_path = format!("/api/v1/keys/{id}");
    race(
        admin,
        edges,
        &regenerated,
        None,
        ("DELETE", &key_path, None),
        204,
    )
    .await;
    assert_eq!(
        t.codes(&regenerated, None).await,
        ["NOT_FOUND", "NOT_FOUND"]
    );
}

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

/// Sends every kind of request to every node and checks each answered 503
/// `store_unavailable` within its bound, never `VALID`.
async fn assert_outage_answers(t: &Topology, secret: &str, id: &str, phase: &str) {
    let mut answers = Vec::new();
    for _ in 0..3 {
        for (n, edge) in t.edges.iter().enumerate() {
            let verify = edge
                .call("POST", "/api/v1/verify")
                .json(&json!({ "key": secret }));
            answers.push((
                EDGE_OUTAGE_BOUND,
                timed(&format!("edge {n} /verify"), edge, verify).await,
            ));
            let authorize = edge
                .call("GET", "/api/v1/authorize")
                .header("x-api-key", secret);
            answers.push((
                EDGE_OUTAGE_BOUND,
                timed(&format!("edge {n} /authorize"), edge, authorize).await,
            ));
        }
        let admin = &t.admin;
        let calls = [
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
        ];
        for (what, call) in calls {
            answers.push((ADMIN_OUTAGE_BOUND, timed(what, admin, call).await));
        }
    }
    let wrong: Vec<String> = answers
        .iter()
        .filter(|(bound, a)| {
            a.status != 503
                || !a.body.contains("store_unavailable")
                || a.body.contains("VALID")
                || a.took > *bound
        })
        .map(|(bound, a)| {
            format!(
                "{}: {} in {:?} (bound {bound:?}): {}",
                a.what, a.status, a.took, a.body
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{phase}: every request answers 503 store_unavailable in time:\n{}",
        wrong.join("\n")
    );
}

/// Waits until every edge answers `expected` for `secret` and the admin node lists keys;
/// fails after [`RECOVERY_BOUND`].
async fn assert_recovers(t: &Topology, secret: &str, expected: &str, phase: &str) {
    let started = Instant::now();
    loop {
        let mut fine = t.admin.admin("GET", "/api/v1/keys", None).await.status == 200;
        for edge in &t.edges {
            let reply = edge
                .send(
                    edge.call("POST", "/api/v1/verify")
                        .json(&json!({ "key": secret })),
                )
                .await;
            fine &= reply.status == 200 && reply.json()["code"] == expected;
        }
        if fine {
            return;
        }
        assert!(
            started.elapsed() < RECOVERY_BOUND,
            "{phase}: the nodes did not answer normally within {RECOVERY_BOUND:?} of Redis coming back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn health(node: &App) -> (u16, Value) {
    let reply = node.send(node.call("GET", "/api/v1/health")).await;
    (reply.status, reply.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_answers_503_in_time_and_the_nodes_recover_without_a_restart() {
    let mut t = Topology::start(Via::Direct, [Via::Direct, Via::Direct]);
    let (key, secret) = t.admin.create_key(json!({ "label": "Welyb" })).await;
    let id = id_of(&key);
    assert_eq!(t.codes(&secret, None).await, ["VALID", "VALID"]);

    // A partition: Redis takes the connections and never answers.
    t.redis.pause();
    assert_outage_answers(&t, &secret, &id, "Redis paused").await;
    t.redis.resume();
    assert_recovers(&t, &secret, "VALID", "after the pause").await;

    // Redis stopped: connections refused. Back without persistence: empty.
    t.redis.stop();
    assert_outage_answers(&t, &secret, &id, "Redis stopped").await;
    let (status, body) = health(&t.edges[0]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["key_value"], "unavailable");
    t.redis.restart().unwrap();
    // Fails closed: the lost records answer NOT_FOUND, and the health route says why.
    assert_recovers(&t, &secret, "NOT_FOUND", "after the restart").await;
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
    assert_eq!(t.codes(&secret, None).await, ["VALID", "VALID"]);
    for node in [&t.admin, &t.edges[0], &t.edges[1]] {
        let (status, body) = health(node).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["checks"]["verification_records"], "present", "{body}");
    }
}

#[tokio::test]
async fn the_health_route_of_a_new_deployment_says_there_is_nothing_to_verify() {
    let t = Topology::start(Via::Direct, [Via::Direct, Via::SpinKeyValue]);
    let (status, body) = health(&t.admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "status": "ok", "checks": {
            "key_value": "ok", "verification_records": "none", "sqlite": "ok" } })
    );
    // The edges cannot tell an empty deployment from a lost store until the first key.
    let (status, body) = health(&t.edges[0]).await;
    assert_eq!((status, &body["status"]), (503, &json!("records_missing")));
    t.admin.create_key(json!({ "label": "First" })).await;
    for edge in &t.edges {
        let (status, body) = health(edge).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({ "status": "ok", "checks": {
                "key_value": "ok", "verification_records": "present" } })
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_edges_on_one_redis_together_admit_no_more_than_the_limit_and_count_every_verification()
{
    // One edge through Spin's key-value API (wasi:keyvalue increment on Redis), the other
    // direct (INCRBY): both count in the same Redis counters.
    let t = Topology::start(Via::Direct, [Via::SpinKeyValue, Via::Direct]);
    let (key, secret) = t
        .admin
        .create_key(json!({
            "label": "Burst",
            "rate_limit": { "limit": 25, "window_seconds": 3600 },
            "quota": { "limit": 1000, "period": "day" }
        }))
        .await;
    let id = id_of(&key);
    crate::limits::clear_of_boundary(86_400).await;
    let calls: Vec<_> = (0..80)
        .map(|i| {
            let (edge, secret) = (t.edges[i % 2].clone(), secret.clone());
            tokio::spawn(async move { edge.code(&secret, None, None).await })
        })
        .collect();
    let mut valid = 0;
    for call in calls {
        let code = call.await.unwrap();
        assert!(code == "VALID" || code == "RATE_LIMITED", "{code}");
        valid += usize::from(code == "VALID");
    }
    assert_eq!(valid, 25, "the two edges together admit exactly the limit");
    // Only the admitted verifications consumed the quota, once the edges have given back the
    // quota units their instances leased and did not use (with their usage batches).
    let start = Instant::now();
    loop {
        let after = t.edges[0].verify(&secret, None, None).await;
        assert_eq!(after["code"], "RATE_LIMITED");
        if after["quota"]["remaining"] == 975 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "leased quota units never came back: {after}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Both edges' batches reach the same counters; the admin node reads them.
    let path = format!("/api/v1/keys/{id}/usage");
    let path_counts = |counts: &Value| {
        (
            counts["VALID"].as_u64(),
            counts["RATE_LIMITED"].as_u64().unwrap_or(0),
        )
    };
    let start = Instant::now();
    loop {
        let usage = t.admin.admin("GET", &path, None).await.json();
        let counts = &usage["data"].as_array().unwrap().last().unwrap()["counts"];
        // The 80 of the burst and the checks above, all counted at one of the two edges.
        let (valid, limited) = path_counts(counts);
        if valid == Some(25) && limited >= 56 && counts.as_object().unwrap().len() == 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the edges' counts never added up: {counts}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
