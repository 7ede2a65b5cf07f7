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

mod outages;

use crate::concurrency::race;
use crate::helpers::{App, eventually};
use serde_json::{Value, json};
use spin_test_host::redis_server::RedisServer;
use spin_test_host::slow_proxy::SlowProxy;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
/// How late every reply of a slow Redis comes.
const SLOW_REPLIES: Duration = Duration::from_secs(2);

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

async fn health(node: &App) -> (u16, Value) {
    let reply = node.send(node.call("GET", "/api/v1/health")).await;
    (reply.status, reply.json())
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
    crate::limits::within_one_day(|| async move {
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
    })
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
