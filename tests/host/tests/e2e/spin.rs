//! What only real Spin shows: keep-alive connections (Spin's listener does not set
//! `TCP_NODELAY`) and instance reuse (a WASIp3 instance serves up to 128 requests, up to 16 at
//! once, so whatever a component keeps in memory lives across requests).

use crate::helpers::{App, admin_token, token_with};
use futures::future::join_all;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Requests per case on the keep-alive connection.
const KEEP_ALIVE_REQUESTS: usize = 25;
/// The median a keep-alive answer must stay under. A held segment costs the client's delayed
/// ACK, about 40 ms; an answer itself takes about a millisecond. scripts/test.sh runs this
/// test alone, after the rest of the suite, so that it measures the answers, not the load
/// of the concurrency tests beside it.
const KEEP_ALIVE_MEDIAN_BOUND: Duration = Duration::from_millis(5);

/// Builds one request of a keep-alive case.
type MakeRequest<'a> = Box<dyn Fn() -> http::Request<Vec<u8>> + 'a>;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn keep_alive_answers_do_not_wait_for_the_clients_delayed_ack() {
    let app = App::start_spin_with(&[]);
    let (key, secret) = app
        .create_key(json!({ "label": "Keep-alive", "methods": ["employees.read"] }))
        .await;
    let id = key["id"].as_str().unwrap().to_owned();
    let (gone, gone_secret) = app.create_key(json!({ "label": "Gone" })).await;
    let deleted = app
        .admin(
            "DELETE",
            &format!("/api/v1/keys/{}", gone["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    let token = admin_token();
    let verify = |key: &str| {
        http::Request::post("/api/v1/verify")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&json!({ "key": key, "method": "employees.read" })).unwrap())
            .unwrap()
    };
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut builder = http::Request::get(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Vec::new()).unwrap()
    };
    let bearer = format!("Bearer {token}");
    let cases: Vec<(&str, u16, MakeRequest)> = vec![
        ("POST /verify, valid key", 200, Box::new(|| verify(&secret))),
        (
            "POST /verify, unknown key",
            200,
            Box::new(|| verify(&gone_secret)),
        ),
        (
            "GET /authorize, allowed",
            204,
            Box::new(|| {
                get(
                    "/api/v1/authorize",
                    &[("x-api-key", &secret), ("x-api-method", "employees.read")],
                )
            }),
        ),
        (
            "GET /authorize, method not allowed",
            403,
            Box::new(|| {
                get(
                    "/api/v1/authorize",
                    &[("x-api-key", &secret), ("x-api-method", "payroll.read")],
                )
            }),
        ),
        (
            "GET /keys",
            200,
            Box::new(|| get("/api/v1/keys", &[("authorization", &bearer)])),
        ),
        (
            "GET /keys/{id}",
            200,
            Box::new(|| get(&format!("/api/v1/keys/{id}"), &[("authorization", &bearer)])),
        ),
        ("GET / (the screen)", 200, Box::new(|| get("/", &[]))),
    ];

    let mut connection = app.spin().connect().await.unwrap();
    let mut failures = Vec::new();
    for (name, status, request) in &cases {
        let mut samples = Vec::with_capacity(KEEP_ALIVE_REQUESTS);
        for _ in 0..KEEP_ALIVE_REQUESTS {
            let started = Instant::now();
            let reply = connection.send(request()).await.unwrap();
            samples.push(started.elapsed());
            assert_eq!(reply.status().as_u16(), *status, "{name}");
        }
        let median = median(samples);
        eprintln!("keep-alive {name}: median {median:?}");
        if median >= KEEP_ALIVE_MEDIAN_BOUND {
            failures.push(format!("{name}: median {median:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "answers waited on one keep-alive connection (bound {KEEP_ALIVE_MEDIAN_BOUND:?}):\n{}",
        failures.join("\n")
    );
}

/// A key of the reuse tests and what its verification must answer.
struct Tenant {
    secret: String,
    id: String,
    label: String,
    allowed: String,
    company: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_verifications_on_shared_instances_each_answer_for_their_own_key() {
    let app = App::start_spin_with(&[]);
    let mut tenants = Vec::new();
    for i in 0..8 {
        let company = format!("tenant-{i}");
        app.register_company(&company, &format!("Tenant {i}")).await;
        let allowed = ["employees.read", "absences.read", "payroll.payslips.read"][i % 3];
        let label = format!("Tenant {i} integration");
        let (key, secret) = app
            .create_key(json!({
                "label": label,
                "methods": [allowed],
                "companies": [company],
                "metadata": { "tenant": i },
            }))
            .await;
        tenants.push(Tenant {
            secret,
            id: key["id"].as_str().unwrap().to_owned(),
            label,
            allowed: allowed.to_owned(),
            company,
        });
    }
    // 8 rounds of 64 requests at once: more than one instance's 16 concurrent slots, all
    // tenants interleaved, each answer checked against its own key.
    for round in 0..8 {
        let calls = (0..64).map(|n| {
            let tenant = &tenants[(n + round) % tenants.len()];
            let other = &tenants[(n + round + 1) % tenants.len()];
            let app = &app;
            async move {
                let own = app
                    .verify(&tenant.secret, Some(&tenant.allowed), Some(&tenant.company))
                    .await;
                let foreign_company = app
                    .verify(&tenant.secret, Some(&tenant.allowed), Some(&other.company))
                    .await;
                (tenant, own, foreign_company)
            }
        });
        for (tenant, own, foreign) in join_all(calls).await {
            assert_eq!(own["code"], "VALID", "{own}");
            assert_eq!(own["key_id"], tenant.id.as_str(), "{own}");
            assert_eq!(own["label"], tenant.label.as_str(), "{own}");
            assert_eq!(own["methods"], json!([tenant.allowed]), "{own}");
            assert_eq!(own["companies"], json!([tenant.company]), "{own}");
            assert_eq!(foreign["code"], "COMPANY_NOT_ALLOWED", "{foreign}");
            assert_eq!(foreign["key_id"], tenant.id.as_str(), "{foreign}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_administrators_on_shared_instances_are_each_recorded_as_themselves() {
    let app = App::start_spin_with(&[]);
    let calls = (0..48).map(|n| {
        let app = &app;
        async move {
            let subject = format!("admin-{}", n % 12);
            // Every fourth caller lacks the right: it must be refused, whoever ran before it.
            let rights = if n % 4 == 3 {
                json!([])
            } else {
                json!(["platform_configuration"])
            };
            let token = token_with(
                json!({ "sub": subject, "name": format!("Admin {n}"), "rights": rights }),
            );
            let reply = app
                .send(
                    app.call("POST", "/api/v1/keys")
                        .bearer(&token)
                        .json(&json!({ "label": format!("Created by {n}") })),
                )
                .await;
            (n, subject, reply)
        }
    });
    for (n, subject, reply) in join_all(calls).await {
        if n % 4 == 3 {
            assert_eq!(reply.problem(403), "forbidden", "caller {n}");
            continue;
        }
        assert_eq!(reply.status, 201, "caller {n}: {}", reply.text());
        let key = reply.json();
        assert_eq!(key["label"], format!("Created by {n}"));
        assert_eq!(key["created_by"]["id"], subject.as_str(), "caller {n}");
        assert_eq!(
            key["created_by"]["name"],
            format!("Admin {n}"),
            "caller {n}"
        );
        let events = app
            .admin(
                "GET",
                &format!("/api/v1/keys/{}/events", key["id"].as_str().unwrap()),
                None,
            )
            .await
            .json();
        let actors: Vec<&Value> = events["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["actor"]["id"])
            .collect();
        assert_eq!(actors, [&json!(subject)], "caller {n}: {events}");
    }
}

#[tokio::test]
async fn nothing_kept_in_a_warm_instance_outlives_a_revocation() {
    let app = App::start_spin_with(&[]);
    let (key, secret) = app
        .create_key(json!({ "label": "Warm", "methods": ["employees.read", "absences.read"] }))
        .await;
    let path = |rest: &str| format!("/api/v1/keys/{}{rest}", key["id"].as_str().unwrap());
    // Warm verify-key's instances on this key.
    for _ in 0..20 {
        assert_eq!(
            app.code(&secret, Some("absences.read"), None).await,
            "VALID"
        );
    }

    let narrowed = app
        .admin(
            "PATCH",
            &path("/permissions"),
            Some(json!({ "remove_methods": ["absences.read"] })),
        )
        .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.text());
    assert_eq!(
        app.code(&secret, Some("absences.read"), None).await,
        "METHOD_NOT_ALLOWED"
    );

    assert_eq!(
        app.admin("POST", &path("/deactivate"), None).await.status,
        200
    );
    assert_eq!(
        app.code(&secret, Some("employees.read"), None).await,
        "DISABLED"
    );
    assert_eq!(
        app.admin("POST", &path("/activate"), None).await.status,
        200
    );
    assert_eq!(
        app.code(&secret, Some("employees.read"), None).await,
        "VALID"
    );

    let regenerated = app.admin("POST", &path("/regenerate"), None).await.json();
    let fresh = regenerated["key"].as_str().unwrap();
    assert_eq!(
        app.code(&secret, Some("employees.read"), None).await,
        "NOT_FOUND"
    );
    assert_eq!(app.code(fresh, Some("employees.read"), None).await, "VALID");

    assert_eq!(app.admin("DELETE", &path(""), None).await.status, 204);
    assert_eq!(
        app.code(fresh, Some("employees.read"), None).await,
        "NOT_FOUND"
    );
    let forward = app
        .send(
            app.call("GET", "/api/v1/authorize")
                .header("x-api-key", fresh)
                .header("x-api-method", "employees.read"),
        )
        .await;
    assert_eq!(forward.status, 401);
}

#[tokio::test]
async fn changes_refused_inside_their_transaction_leave_the_instance_able_to_write() {
    // A reused instance keeps its SQLite connections across requests: a change refused after
    // its transaction began (an unknown key is found missing inside it) must hand back a
    // connection with no transaction open, or the instance's next writes would run inside
    // that transaction or wait for its write lock.
    let app = App::start_spin_with(&[]);
    let unknown = "/api/v1/keys/key_0000000000000000000000";
    for round in 0..8 {
        let refused = app
            .admin("PATCH", unknown, Some(json!({ "label": "Nobody" })))
            .await;
        assert_eq!(refused.status, 404, "{}", refused.text());
        let (key, _) = app
            .create_key(json!({ "label": format!("After refusal {round}") }))
            .await;
        let path = format!("/api/v1/keys/{}", key["id"].as_str().unwrap());
        let renamed = app
            .admin(
                "PATCH",
                &path,
                Some(json!({ "label": format!("Renamed {round}") })),
            )
            .await;
        assert_eq!(renamed.status, 200, "{}", renamed.text());
        assert_eq!(
            app.admin("GET", &path, None).await.json()["label"],
            format!("Renamed {round}")
        );
    }
    let listed = app.admin("GET", "/api/v1/keys", None).await.json();
    let labels: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        (0..8)
            .rev()
            .map(|r| format!("Renamed {r}"))
            .collect::<Vec<_>>()
    );
}
