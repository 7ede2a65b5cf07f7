//! The edge topology on real Spin: one admin node (`spin up -c manage-keys -c
//! manage-permissions -c key-usage -c rebuild-records -c identity -c secret-scanning -c
//! admin-ui`) and two edges (`spin up -c verify-key -c kv-proxy`) sharing one `redis-server`
//! that the tests start, stop, pause, slow down (through a proxy of their own) and restart.
//!
//! - Changes made on the admin node are seen at every edge: widening at once, and removals
//!   (narrowing, deactivation, regeneration without grace, deletion) before the admin call
//!   returns, checked with verifications at both edges racing each call.
//! - Through every store fault (replies 2 s late, Redis paused as in a partition, Redis
//!   stopped), on both `kv_backend` values, warm nodes (traffic with usage batches and limit
//!   leases before each fault, batches still pending when it starts) answer every request in
//!   time: 503 `store_unavailable` within 250 ms at the edges and 1 s on the admin node where
//!   the store is needed, never `VALID`, and a malformed key's refusal at once. The nodes
//!   answer normally within 5 s of the fault's end, except after a stop on Spin's key-value
//!   API, whose client reconnects with back-off (docs/deployment.md).
//! - A Redis restarted empty shows on `GET /api/v1/health` until the rebuild runs.
//! - The direct path speaks TLS to Redis (`redis_tls`) and checks its certificate.

use crate::concurrency::race;
use crate::helpers::{App, eventually};
use serde_json::{Value, json};
use spin_test_host::redis_server::RedisServer;
use spin_test_host::slow_proxy::SlowProxy;
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
    "webhooks",
    "admin-ui",
    "kv-proxy",
];
/// The edge's components.
const EDGE_COMPONENTS: &[&str] = &["verify-key", "kv-proxy", "ext-authz"];
/// During an outage, the longest an edge may take to answer.
const EDGE_OUTAGE_BOUND: Duration = Duration::from_millis(250);
/// During an outage, the longest the admin node may take to answer.
const ADMIN_OUTAGE_BOUND: Duration = Duration::from_secs(1);
/// Once Redis is back, the longest a node may take to answer normally again.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);
/// How late every reply of a slow Redis comes.
const SLOW_REPLIES: Duration = Duration::from_secs(2);
/// How long after a fault starts the requests are sent: past the moment the edges' usage
/// batches pending from the traffic before it are written (500 ms after their first count).
const FAULT_SETTLES: Duration = Duration::from_millis(600);
/// The rate limit of the limited key of the outage tests (per day: no window ends meanwhile).
const OUTAGE_LIMIT: u64 = 40;

/// What goes wrong with the shared Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StoreFault {
    /// Every reply comes [`SLOW_REPLIES`] late (a proxy holds it back).
    Slow,
    /// The process is frozen (SIGSTOP): connections open, nothing answers, as in a partition.
    Paused,
    /// The process is gone: connections refused.
    Stopped,
}

/// How a node reaches the shared Redis.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Via {
    /// Spin's key-value API, the runtime config pointing `default` at Redis.
    SpinKeyValue,
    /// `kv_backend = redis`: the components speak to Redis themselves.
    Direct,
}

/// One Redis behind a proxy that can slow it down, one admin node and two edges.
pub(crate) struct Topology {
    redis: RedisServer,
    proxy: SlowProxy,
    pub(crate) admin: Arc<App>,
    pub(crate) edges: Vec<Arc<App>>,
    _config: tempfile::TempDir,
}

impl Topology {
    /// Starts Redis and the three nodes, each reaching Redis as `admin` / `edges` say.
    fn start(admin: Via, edges: [Via; 2]) -> Topology {
        Self::start_with(admin, edges, &[])
    }

    /// [`Topology::start`], every node with `variables` besides.
    pub(crate) fn start_with(admin: Via, edges: [Via; 2], variables: &[(&str, &str)]) -> Topology {
        let redis = RedisServer::start().expect("redis-server runs");
        let proxy = SlowProxy::start(redis.addr()).expect("the proxy runs");
        let config = tempfile::tempdir().unwrap();
        let runtime_config: PathBuf = config.path().join("runtime-config.toml");
        std::fs::write(
            &runtime_config,
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://{}\"\n",
                proxy.host()
            ),
        )
        .unwrap();
        let host = proxy.host();
        let node = |components: &[&str], via: Via| {
            let backend = match via {
                Via::SpinKeyValue => "spin",
                Via::Direct => "redis",
            };
            let mut all = vec![("kv_backend", backend), ("redis_host", host.as_str())];
            all.extend_from_slice(variables);
            Arc::new(App::start_node(components, &runtime_config, &all))
        };
        Topology {
            admin: node(ADMIN_COMPONENTS, admin),
            edges: edges
                .iter()
                .map(|via| node(EDGE_COMPONENTS, *via))
                .collect(),
            redis,
            proxy,
            _config: config,
        }
    }

    /// Starts `fault` on the shared store.
    pub(crate) fn inject(&mut self, fault: StoreFault) {
        match fault {
            StoreFault::Slow => self.proxy.set_delay(SLOW_REPLIES),
            StoreFault::Paused => self.redis.pause(),
            StoreFault::Stopped => self.redis.stop(),
        }
    }

    /// Ends `fault` (a stopped Redis comes back empty).
    pub(crate) fn lift(&mut self, fault: StoreFault) {
        match fault {
            StoreFault::Slow => self.proxy.set_delay(Duration::ZERO),
            StoreFault::Paused => self.redis.resume(),
            StoreFault::Stopped => self.redis.restart().expect("redis-server restarts"),
        }
    }

    /// The verification code of `key` for `method` at every edge.
    pub(crate) async fn codes(&self, key: &str, method: Option<&str>) -> Vec<String> {
        let mut codes = Vec::new();
        for edge in &self.edges {
            codes.push(edge.code(key, method, None).await);
        }
        codes
    }
}

pub(crate) fn id_of(key: &Value) -> String {
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
/// a malformed key.
async fn assert_outage_answers(t: &Topology, keys: &OutageKeys, phase: &str) {
    let malformed = "ingk_not-a-key";
    let mut answers = Vec::new();
    for _ in 0..2 {
        for (n, edge) in t.edges.iter().enumerate() {
            let verify = |key: &str| {
                edge.call("POST", "/api/v1/verify")
                    .json(&json!({ "key": key }))
            };
            let authorize = |key: &str| {
                edge.call("GET", "/api/v1/authorize")
                    .header("x-api-key", key)
            };
            let calls = [
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
            ];
            for (what, call, expect) in calls {
                let answer = timed(&format!("edge {n} {what}"), edge, call).await;
                answers.push((EDGE_OUTAGE_BOUND, expect, answer));
            }
        }
        let admin = &t.admin;
        let id = &keys.scratch_id;
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
            let answer = timed(what, admin, call).await;
            answers.push((ADMIN_OUTAGE_BOUND, Expect::Unavailable, answer));
        }
    }
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

async fn health(node: &App) -> (u16, Value) {
    let reply = node.send(node.call("GET", "/api/v1/health")).await;
    (reply.status, reply.json())
}

/// Warm nodes through every store fault: before each, traffic on every edge (usage batches,
/// limit leases; the first time until every edge's batch is written), then the fault, while
/// the batches pending from that traffic are written; every request answers in time. Where
/// the nodes recover on their own (`recovers`), they answer normally within
/// [`RECOVERY_BOUND`] of the fault's end, and the limited key never admitted more than its
/// limit. Redis is stopped last: it comes back empty.
async fn every_fault_on_warm_nodes(via: Via, recovers: &[StoreFault]) -> (Topology, OutageKeys) {
    let mut t = Topology::start(via, [via, via]);
    crate::limits::clear_of_boundary(86_400).await;
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

#[tokio::test]
async fn a_new_deployment_reports_healthy_everywhere_once_its_admin_node_was_checked() {
    let t = Topology::start(Via::Direct, [Via::Direct, Via::SpinKeyValue]);
    // Until then, an edge cannot tell an empty deployment from a store that lost its data.
    let (status, body) = health(&t.edges[0]).await;
    assert_eq!((status, &body["status"]), (503, &json!("records_missing")));
    let (status, body) = health(&t.admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "status": "ok", "verify_cache_ms": 0, "max_key_lifetime_days": 0, "checks": {
            "key_value": "ok", "verification_records": "none", "sqlite": "ok" } })
    );
    let present = json!({ "status": "ok", "verify_cache_ms": 0, "max_key_lifetime_days": 0, "checks": {
        "key_value": "ok", "verification_records": "present" } });
    for edge in &t.edges {
        assert_eq!(health(edge).await, (200, present.clone()));
    }
    t.admin.create_key(json!({ "label": "First" })).await;
    for edge in &t.edges {
        assert_eq!(health(edge).await, (200, present.clone()));
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
    let given_back = || async {
        let after = t.edges[0].verify(&secret, None, None).await;
        assert_eq!(after["code"], "RATE_LIMITED");
        match after["quota"]["remaining"] == 975 {
            true => Ok(()),
            false => Err(after.to_string()),
        }
    };
    let what = "the leased quota units given back";
    eventually(what, Duration::from_secs(10), given_back).await;

    // Both edges' batches reach the same counters; the admin node reads them.
    let path = format!("/api/v1/keys/{id}/usage");
    let path_counts = |counts: &Value| {
        (
            counts["VALID"].as_u64(),
            counts["RATE_LIMITED"].as_u64().unwrap_or(0),
        )
    };
    let added_up = || async {
        let usage = t.admin.admin("GET", &path, None).await.json();
        let counts = &usage["data"].as_array().unwrap().last().unwrap()["counts"];
        // The 80 of the burst and the checks above, all counted at one of the two edges.
        let (valid, limited) = path_counts(counts);
        match valid == Some(25) && limited >= 56 && counts.as_object().unwrap().len() == 2 {
            true => Ok(()),
            false => Err(counts.to_string()),
        }
    };
    eventually(
        "the edges' counts adding up",
        Duration::from_secs(10),
        added_up,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_direct_path_speaks_tls_to_redis_and_checks_its_certificate() {
    let redis = RedisServer::start_tls().expect("redis-server runs with TLS");
    let ca = redis.ca_file().unwrap();
    let config = tempfile::tempdir().unwrap();
    let runtime_config = config.path().join("runtime-config.toml");
    let url = format!("rediss://{}", redis.host());
    std::fs::write(
        &runtime_config,
        format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n"),
    )
    .unwrap();
    let host = redis.host();
    let variables = [
        ("kv_backend", "redis"),
        ("redis_host", host.as_str()),
        ("redis_tls", "true"),
    ];
    // OpenSSL, under Spin's TLS client, trusts the authorities of `SSL_CERT_FILE`.
    let trusting = [("SSL_CERT_FILE", ca.to_str().unwrap())];
    let admin = App::start_node_in(ADMIN_COMPONENTS, &runtime_config, &variables, &trusting);
    let edge = App::start_node_in(EDGE_COMPONENTS, &runtime_config, &variables, &trusting);
    let (key, secret) = admin
        .create_key(json!({
            "label": "Over TLS",
            "rate_limit": { "limit": 100, "window_seconds": 86_400 }
        }))
        .await;
    let answer = edge.verify(&secret, None, None).await;
    assert_eq!(answer["code"], "VALID", "{answer}");
    assert_eq!(
        answer["rate_limit"]["remaining"], 99,
        "counted over TLS: {answer}"
    );
    let id = id_of(&key);
    let deactivated = admin
        .admin("POST", &format!("/api/v1/keys/{id}/deactivate"), None)
        .await;
    assert_eq!(deactivated.status, 200, "{}", deactivated.text());
    assert_eq!(edge.code(&secret, None, None).await, "DISABLED");

    // An edge that does not trust the server's authority refuses the connection: 503.
    let doubting = App::start_node(EDGE_COMPONENTS, &runtime_config, &variables);
    let refused = doubting
        .send(
            doubting
                .call("POST", "/api/v1/verify")
                .json(&json!({ "key": secret })),
        )
        .await;
    assert_eq!(refused.problem(503), "store_unavailable");
}
