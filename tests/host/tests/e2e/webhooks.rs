//! Webhooks on real Spin (docs/webhooks.md): a receiver of the tests' own (the stub server)
//! gets key events and time-based alerts, each signature checked with the Standard Webhooks
//! reference library (PyPI `standardwebhooks`, scripts/ensure-webhook-verifier.sh); failed
//! attempts are retried with one `webhook-id`; nothing is sent once the endpoint is
//! deleted; and, on the test host, an outbox write that fails leaves neither the change nor
//! its message.

use crate::helpers::{App, DISPATCH_TOKEN, admin_token, eventually};
use keys_domain::time::Timestamp;
use serde_json::{Value, json};
use spin_test_host::Fault;
use spin_test_host::stub_server::{Received, StubServer};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const HOOK: &str = "/hook";
/// How long a message may take to arrive after the change that causes it.
const ARRIVAL: Duration = Duration::from_secs(10);
/// The outbox insert (`keys_spin::webhooks::SQL_INSERT_MESSAGE`), for fault injection.
const SQL_INSERT_MESSAGE: &str = "INSERT INTO webhook_messages (id, webhook_id, type, body, created_at, status, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)";

/// The app on real Spin, sending webhooks to `receiver` (the suite's other defaults).
fn start(receiver: &StubServer) -> App {
    let origin = format!("http://{}", receiver.host());
    App::start_spin_with(&[("webhook_origin", &origin)])
}

/// Registers an endpoint for `events` at the receiver; returns its object (with its secret).
async fn register(app: &App, receiver: &StubServer, events: Value) -> Value {
    let body = json!({ "url": receiver.url(HOOK), "events": events, "description": "e2e" });
    let reply = app.admin("POST", "/api/v1/webhooks", Some(body)).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()
}

fn event_type(message: &Received) -> String {
    let body: Value = serde_json::from_slice(&message.body).expect("a JSON body");
    body["type"].as_str().unwrap_or_default().to_owned()
}

/// Waits until the receiver has got a message of each of `types`; returns every message.
async fn received_types(receiver: &StubServer, types: &[&str]) -> Vec<Received> {
    let (messages, _) = eventually("the messages arrive", ARRIVAL, || async {
        let messages = receiver.received(HOOK);
        let seen: Vec<String> = messages.iter().map(event_type).collect();
        match types.iter().all(|t| seen.iter().any(|s| s == t)) {
            true => Ok(messages),
            false => Err(format!("{seen:?}")),
        }
    })
    .await;
    messages
}

/// Each message checked by the reference library with `secret`: its type, or why it failed.
fn verified(secret: &str, messages: &[Received]) -> Vec<Result<String, String>> {
    let python = Command::new("scripts/ensure-webhook-verifier.sh")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("scripts/ensure-webhook-verifier.sh runs");
    assert!(python.status.success(), "{python:?}");
    let python = String::from_utf8(python.stdout).unwrap();
    let request = json!({
        "secret": secret,
        "messages": messages.iter().map(|m| json!({
            "headers": header_map(m).into_iter().collect::<serde_json::Map<_, _>>(),
            "body": String::from_utf8(m.body.clone()).unwrap(),
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new(python.trim())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/e2e/verify_webhooks.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the verifier starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    results
        .into_iter()
        .map(|r| match r["ok"].as_bool() {
            Some(true) => Ok(r["type"].as_str().unwrap().to_owned()),
            _ => Err(r["error"].as_str().unwrap_or_default().to_owned()),
        })
        .collect()
}

fn header_map(message: &Received) -> Vec<(String, Value)> {
    message
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

async fn dispatch(app: &App) -> Value {
    let call = app
        .call("POST", "/api/v1/webhooks/dispatch")
        .bearer(DISPATCH_TOKEN);
    let reply = app.send(call).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[tokio::test]
async fn a_receiver_gets_signed_key_events_and_alerts_that_the_reference_library_verifies() {
    let receiver = StubServer::start().unwrap();
    receiver.set(HOOK, 204, &[], "");
    let app = start(&receiver);
    let hook = register(&app, &receiver, json!(["*"])).await;
    let secret = hook["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));

    let (key, key_secret) = app.create_key(json!({ "label": "Welyb" })).await;
    let id = key["id"].as_str().unwrap();
    let path = format!("/api/v1/keys/{id}");
    let reply = app.admin("POST", &format!("{path}/deactivate"), None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = app.admin("POST", &format!("{path}/activate"), None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let leak = app
        .call("POST", "/api/v1/leaks")
        .json(&json!({ "keys": [key_secret] }));
    assert_eq!(app.send(leak).await.status, 202);

    let in_three_days = Timestamp::now().plus_seconds(3 * 86_400).to_string();
    app.create_key(json!({ "label": "Expiring", "expires_at": in_three_days }))
        .await;
    let quota = json!({ "label": "Quota", "quota": { "limit": 5, "period": "day" } });
    let (_, quota_secret) = app.create_key(quota).await;
    for _ in 0..5 {
        assert_eq!(app.code(&quota_secret, None, None).await, "VALID");
    }
    let rate =
        json!({ "label": "Throttled", "rate_limit": { "limit": 1, "window_seconds": 3600 } });
    let (_, rate_secret) = app.create_key(rate).await;
    assert_eq!(app.code(&rate_secret, None, None).await, "VALID");
    assert_eq!(app.code(&rate_secret, None, None).await, "RATE_LIMITED");
    // The alerts are found by a dispatch once the edge's usage batch is written (500 ms).
    eventually("key.rate_limited is found", ARRIVAL, || async {
        dispatch(&app).await;
        let seen: Vec<String> = receiver.received(HOOK).iter().map(event_type).collect();
        match seen.iter().any(|t| t == "key.rate_limited") {
            true => Ok(()),
            false => Err(format!("{seen:?}")),
        }
    })
    .await;

    let types = [
        "key.created",
        "key.deactivated",
        "key.activated",
        "key.leak_reported",
        "key.expiring",
        "key.quota_threshold",
        "key.rate_limited",
    ];
    let messages = received_types(&receiver, &types).await;
    let results = verified(secret, &messages);
    assert_eq!(results.len(), messages.len());
    for (result, message) in results.iter().zip(&messages) {
        assert!(result.is_ok(), "{result:?}: {:?}", header_map(message));
    }
    let verified_types: Vec<&str> = results.iter().map(|r| r.as_deref().unwrap()).collect();
    for t in types {
        assert!(verified_types.contains(&t), "{t} in {verified_types:?}");
    }
    // A signature made with another secret is refused by the same check.
    let other = app
        .admin(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": receiver.url("/other"), "events": ["*"]})),
        )
        .await
        .json();
    let refused = verified(other["secret"].as_str().unwrap(), &messages[..1]);
    assert!(refused[0].is_err(), "{refused:?}");

    let body = |t: &str| -> Value {
        let m = messages.iter().find(|m| event_type(m) == t).unwrap();
        serde_json::from_slice(&m.body).unwrap()
    };
    let leaked = body("key.leak_reported");
    assert_eq!(leaked["data"]["key"]["id"], id);
    assert_eq!(leaked["data"]["key"]["status"], "inactive");
    assert!(
        !String::from_utf8_lossy(
            &messages
                .iter()
                .flat_map(|m| m.body.clone())
                .collect::<Vec<u8>>()
        )
        .contains(&key_secret)
    );
    let expiring = body("key.expiring");
    assert_eq!(expiring["data"]["alert"]["reminder_days"], 7);
    // Sent side by side: they may arrive in either order.
    let mut thresholds: Vec<u64> = messages
        .iter()
        .filter(|m| event_type(m) == "key.quota_threshold")
        .map(|m| {
            serde_json::from_slice::<Value>(&m.body).unwrap()["data"]["alert"]["threshold_percent"]
                .as_u64()
                .unwrap()
        })
        .collect();
    thresholds.sort_unstable();
    assert_eq!(thresholds, vec![80, 100]);

    let throttled = body("key.rate_limited");
    assert_eq!(throttled["data"]["key"]["label"], "Throttled");
    assert_eq!(throttled["data"]["alert"]["refused_so_far"], 1);
    let rate_limited = messages
        .iter()
        .filter(|m| event_type(m) == "key.rate_limited");
    assert_eq!(rate_limited.count(), 1, "once per key and hour");

    // Each alert is sent once: a second dispatch finds nothing new.
    let again = dispatch(&app).await;
    assert_eq!(again["alerts"], 0, "{again}");
}

#[tokio::test]
async fn a_receiver_answering_500_sees_every_retry_with_one_webhook_id() {
    let receiver = StubServer::start().unwrap();
    receiver.set(HOOK, 500, &[], "down");
    let app = start(&receiver);
    let hook = register(&app, &receiver, json!(["key.created"])).await;
    let hook_id = hook["id"].as_str().unwrap();
    app.create_key(json!({ "label": "Retried" })).await;
    received_types(&receiver, &["key.created"]).await;

    let deliveries = format!("/api/v1/webhooks/{hook_id}/deliveries");
    let log = app.admin("GET", &deliveries, None).await.json();
    let message = &log["data"][0];
    assert_eq!(message["type"], "key.created");
    assert_eq!(message["status"], "pending");
    assert_eq!(message["attempts"][0]["http_status"], 500);
    let first_at =
        Timestamp::parse_rfc3339(message["attempts"][0]["at"].as_str().unwrap()).unwrap();
    let due = Timestamp::parse_rfc3339(message["next_attempt_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        due.unix() - first_at.unix(),
        5,
        "the first retry is 5 s later"
    );
    let message_id = message["id"].as_str().unwrap().to_owned();

    // The scheduled retry, once due: the 5 s pass in the store instead of on the clock.
    let due_now = format!(
        "UPDATE webhook_messages SET next_attempt_at = strftime('%s', 'now') WHERE id = '{message_id}'"
    );
    assert_eq!(app.spin().sqlite_execute(&due_now).unwrap(), 1);
    let sent = dispatch(&app).await;
    assert_eq!(sent["attempted"], 1, "{sent}");
    assert_eq!(receiver.received(HOOK).len(), 2);
    // And one by hand.
    let retry = format!("{deliveries}/{message_id}/retry");
    let reply = app.admin("POST", &retry, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let retried = reply.json();
    assert_eq!(
        retried["attempts"].as_array().unwrap().len(),
        3,
        "{retried}"
    );
    assert_eq!(retried["status"], "pending");

    let attempts = receiver.received(HOOK);
    assert_eq!(attempts.len(), 3);
    for attempt in &attempts {
        assert_eq!(attempt.header("webhook-id"), Some(message_id.as_str()));
    }
    let results = verified(hook["secret"].as_str().unwrap(), &attempts);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let unknown = app
        .admin("POST", &format!("{deliveries}/msg_unknown/retry"), None)
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn nothing_is_sent_after_the_webhook_is_deleted() {
    let receiver = StubServer::start().unwrap();
    receiver.set(HOOK, 500, &[], "");
    let app = start(&receiver);
    let hook = register(&app, &receiver, json!(["*"])).await;
    let path = format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap());
    app.create_key(json!({ "label": "Before" })).await;
    received_types(&receiver, &["key.created"]).await;
    let before = receiver.hits(HOOK);

    assert_eq!(app.admin("DELETE", &path, None).await.status, 204);
    assert_eq!(app.admin("GET", &path, None).await.status, 404);
    let (key, _) = app.create_key(json!({ "label": "After" })).await;
    let id = key["id"].as_str().unwrap();
    app.admin("POST", &format!("/api/v1/keys/{id}/deactivate"), None)
        .await;
    let done = dispatch(&app).await;
    assert_eq!(done["attempted"], 0, "{done}");
    assert_eq!(receiver.hits(HOOK), before);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_and_both_verify() {
    let receiver = StubServer::start().unwrap();
    receiver.set(HOOK, 200, &[], "");
    let app = start(&receiver);
    let hook = register(&app, &receiver, json!(["key.created"])).await;
    let path = format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap());
    let shown = app.admin("GET", &path, None).await.json();
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown once: {shown}"
    );

    let rotated = app
        .admin("POST", &format!("{path}/rotate-secret"), None)
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let rotated = rotated.json();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, hook["secret"].as_str().unwrap());
    assert!(rotated["previous_secret_expires_at"].is_string());

    let test = app.admin("POST", &format!("{path}/test"), None).await;
    assert_eq!(test.status, 200, "{}", test.text());
    assert_eq!(test.json()["status"], "delivered");
    let messages = received_types(&receiver, &["webhook.test"]).await;
    let signature = messages[0].header("webhook-signature").unwrap();
    assert_eq!(signature.split(' ').count(), 2, "{signature}");
    assert_eq!(
        verified(new_secret, &messages),
        vec![Ok("webhook.test".to_owned())]
    );
    let old = verified(hook["secret"].as_str().unwrap(), &messages);
    assert_eq!(old, vec![Ok("webhook.test".to_owned())]);
    assert!(!app.logs().contains(new_secret));
}

#[tokio::test]
async fn endpoints_outside_the_origin_and_bad_subscriptions_are_refused() {
    let receiver = StubServer::start().unwrap();
    let app = start(&receiver);
    for (url, events, code) in [
        ("https://hooks.example.com/x", json!(["*"]), "invalid_url"),
        ("http://10.0.0.1/x", json!(["*"]), "invalid_url"),
        (
            receiver.url(HOOK).as_str(),
            json!(["key.exploded"]),
            "invalid_event_type",
        ),
        (receiver.url(HOOK).as_str(), json!([]), "validation_failed"),
    ] {
        let body = json!({ "url": url, "events": events });
        let reply = app.admin("POST", "/api/v1/webhooks", Some(body)).await;
        assert_eq!(reply.status, 422, "{url}: {}", reply.text());
        assert_eq!(reply.json()["code"], code, "{url}");
    }
    let list = app.admin("GET", "/api/v1/webhooks", None).await.json();
    assert_eq!(list["data"], json!([]), "nothing was written");

    // Optional fields the document does not make nullable refuse `null` (400), on a create
    // and on an edit, and the endpoint is left as it was.
    let url = receiver.url(HOOK);
    let null_enabled = json!({ "url": url, "events": ["*"], "enabled": null });
    let reply = app
        .admin("POST", "/api/v1/webhooks", Some(null_enabled))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["code"], "invalid_request");
    let created = register(&app, &receiver, json!(["*"])).await;
    let path = format!("/api/v1/webhooks/{}", created["id"].as_str().unwrap());
    let before = app.admin("GET", &path, None).await.json();
    for field in ["url", "events", "enabled"] {
        let reply = app
            .admin("PATCH", &path, Some(json!({ field: null })))
            .await;
        assert_eq!(reply.status, 400, "{field}: {}", reply.text());
        assert_eq!(reply.json()["code"], "invalid_request", "{field}");
    }
    assert_eq!(app.admin("GET", &path, None).await.json(), before);

    let anonymous = app
        .send(app.call("POST", "/api/v1/webhooks/dispatch"))
        .await;
    assert_eq!(anonymous.status, 401);
    let wrong = app
        .send(
            app.call("POST", "/api/v1/webhooks/dispatch")
                .bearer("not-the-token"),
        )
        .await;
    assert_eq!(wrong.status, 401);
    let admin = app
        .send(
            app.call("POST", "/api/v1/webhooks/dispatch")
                .bearer(&admin_token()),
        )
        .await;
    assert_eq!(admin.status, 200, "{}", admin.text());
}

#[tokio::test]
async fn without_the_encryption_key_creating_a_webhook_is_a_503_naming_the_variable() {
    let app = App::start_spin_with(&[("webhook_encryption_key", "")]);
    let body = json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] });
    let reply = app.admin("POST", "/api/v1/webhooks", Some(body)).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.json()["code"], "not_configured");
    assert!(app.logs().contains("webhook_encryption_key"));
}

#[tokio::test]
async fn an_outbox_write_that_fails_leaves_neither_the_change_nor_the_message() {
    let app = App::start_test_host();
    let body = json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] });
    let hook = app
        .admin("POST", "/api/v1/webhooks", Some(body))
        .await
        .json();
    let deliveries = format!(
        "/api/v1/webhooks/{}/deliveries",
        hook["id"].as_str().unwrap()
    );
    let (key, secret) = app.create_key(json!({ "label": "Guarded" })).await;
    let id = key["id"].as_str().unwrap();
    let before = app.admin("GET", &deliveries, None).await.json()["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, 1, "key.created");
    let events = format!("/api/v1/keys/{id}/events");
    let events_before = app.admin("GET", &events, None).await.json();

    app.test_host()
        .set_sqlite_fault(Fault::Statement(SQL_INSERT_MESSAGE));
    let reply = app
        .admin("POST", &format!("/api/v1/keys/{id}/deactivate"), None)
        .await;
    app.test_host().set_sqlite_fault(Fault::None);
    assert_eq!(reply.status, 503, "{}", reply.text());

    let key = app
        .admin("GET", &format!("/api/v1/keys/{id}"), None)
        .await
        .json();
    assert_eq!(key["status"], "active", "no change without its message");
    assert_eq!(app.code(&secret, None, None).await, "VALID");
    assert_eq!(app.admin("GET", &events, None).await.json(), events_before);
    let after = app.admin("GET", &deliveries, None).await.json();
    assert_eq!(
        after["data"].as_array().unwrap().len(),
        1,
        "no message without its change"
    );
}
