//! The public leaked-key report, `POST /api/v1/leaks`, on real Spin: anyone may report keys
//! found published; a live one is deactivated as for a scanner's report, and the answer only
//! counts the entries received, whatever they were (docs/secret-scanning.md, "Public
//! leaked-key report").

use crate::helpers::{App, Reply, shows_secret};
use keys_domain::key::NewSecret;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

const PATH: &str = "/api/v1/leaks";
/// The request header carrying the caller's address (`client_ip_header`'s default).
const CLIENT_IP: &str = "x-api-client-ip";
/// Reports admitted per address per minute (`leaks_domain::public_report`).
const PER_ADDRESS: usize = 10;

async fn report(app: &App, keys: &[&str]) -> Reply {
    app.send(app.call("POST", PATH).json(&json!({ "keys": keys })))
        .await
}

async fn report_from(app: &App, address: &str, keys: &[&str]) -> Reply {
    let call = app
        .call("POST", PATH)
        .header(CLIENT_IP, address)
        .json(&json!({ "keys": keys }));
    app.send(call).await
}

fn unknown_key() -> String {
    NewSecret::generate().unwrap().expose().to_owned()
}

/// `secret` with one character changed: the right format, a wrong checksum.
fn typo_of(secret: &str) -> String {
    let mut typo = secret.to_owned();
    typo.replace_range(10..11, if &secret[10..11] == "A" { "B" } else { "A" });
    typo
}

async fn leak_events(app: &App, key_id: &str) -> Vec<Value> {
    let reply = app
        .admin("GET", &format!("/api/v1/keys/{key_id}/events"), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "leak_reported")
        .cloned()
        .collect()
}

async fn key_view(app: &App, key_id: &str) -> Value {
    app.admin("GET", &format!("/api/v1/keys/{key_id}"), None)
        .await
        .json()
}

/// Both stores without the report counters (which every admitted report moves).
fn stores_but_counters(app: &App) -> (BTreeMap<String, Vec<u8>>, String) {
    let (mut kv, sqlite) = app.dump();
    kv.retain(|name, _| !name.starts_with("leak-reports:"));
    (kv, sqlite)
}

fn accepted(reply: &Reply, received: usize) {
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert_eq!(reply.json(), json!({ "received": received }));
}

#[tokio::test]
async fn a_reported_live_key_is_deactivated_before_the_answer_and_shows_the_leak() {
    let app = App::start();
    let (key, secret) = app.create_key(json!({ "label": "Found on a forum" })).await;
    let id = key["id"].as_str().unwrap();
    assert_eq!(app.code(&secret, None, None).await, "VALID");

    let reply = report(&app, &[&secret]).await;

    accepted(&reply, 1);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(app.code(&secret, None, None).await, "DISABLED");
    let shown = key_view(&app, id).await;
    assert_eq!(shown["status"], "inactive");
    assert_eq!(shown["leak"]["scanner"], "public");
    assert_eq!(shown["leak"]["source"], "public_report");
    assert_eq!(shown["leak"]["url"], Value::Null);
    assert_eq!(shown["leak"]["live_secret"], true);
    assert!(shown["leak"]["reported_at"].is_string());
    let events = leak_events(&app, id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"]["id"], "secret-scanning:public");
    assert_eq!(
        events[0]["changes"],
        json!({ "scanner": "public", "url": null, "source": "public_report", "action": "deactivated" })
    );
    let leaked = app
        .admin("GET", "/api/v1/keys?leaked=true", None)
        .await
        .json();
    assert_eq!(leaked["data"][0]["id"], id);
    let activated = app
        .admin("POST", &format!("/api/v1/keys/{id}/activate"), None)
        .await;
    assert_eq!(activated.problem(409), "leaked_secret");
    let (kv, sqlite) = app.dump();
    let kv_text: String = kv
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    for text in [app.logs(), sqlite, kv_text] {
        assert!(!shows_secret(&text, &secret), "the key was kept or logged");
    }
}

#[tokio::test]
async fn live_unknown_deactivated_and_malformed_entries_get_the_same_answer() {
    let app = App::start();
    let (_, live) = app.create_key(json!({ "label": "Live" })).await;
    let (second, second_live) = app.create_key(json!({ "label": "Live too" })).await;
    let unknown = unknown_key();

    let for_live = report(&app, &[&live]).await;
    let for_unknown = report(&app, &[&unknown]).await;
    let for_deactivated = report(&app, &[&live]).await;
    let for_malformed = report(&app, &["ingk_not-a-key"]).await;
    let for_typo = report(&app, &[&typo_of(&second_live)]).await;

    for reply in [
        &for_live,
        &for_unknown,
        &for_deactivated,
        &for_malformed,
        &for_typo,
    ] {
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(reply.body, for_live.body, "the answer tells entries apart");
        for header in ["content-type", "content-length", "cache-control"] {
            assert_eq!(reply.header(header), for_live.header(header), "{header}");
        }
    }
    assert_eq!(
        app.code(&second_live, None, None).await,
        "VALID",
        "a typo is no key"
    );

    let mix = report(
        &app,
        &[&second_live, &unknown, "hello", "", &live, &second_live],
    )
    .await;

    accepted(&mix, 6);
    assert_eq!(app.code(&second_live, None, None).await, "DISABLED");
    assert_eq!(
        leak_events(&app, second["id"].as_str().unwrap())
            .await
            .len(),
        1,
        "one event for a key named twice"
    );
    for reply in [for_live, for_unknown, mix] {
        assert!(!shows_secret(&reply.text(), &live));
    }
}

#[tokio::test]
async fn a_replayed_report_changes_nothing_and_a_regenerated_key_can_be_reported_again() {
    let app = App::start();
    let (key, secret) = app.create_key(json!({ "label": "Replayed" })).await;
    let id = key["id"].as_str().unwrap();
    let first = report(&app, &[&secret]).await;
    let after_first = stores_but_counters(&app);

    let again = report(&app, &[&secret]).await;

    assert_eq!((again.status, &again.body), (202, &first.body));
    assert!(
        stores_but_counters(&app) == after_first,
        "the replay changed the stores"
    );
    assert_eq!(leak_events(&app, id).await.len(), 1);
    assert_eq!(app.code(&secret, None, None).await, "DISABLED");

    let regenerated = app
        .admin("POST", &format!("/api/v1/keys/{id}/regenerate"), None)
        .await;
    let new_secret = regenerated.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(regenerated.json()["leak"], Value::Null);
    let reported = report(&app, &[&new_secret]).await;

    accepted(&reported, 1);
    let events = leak_events(&app, id).await;
    assert_eq!(events.len(), 2, "the new secret's leak is a new one");
    assert_eq!(key_view(&app, id).await["leak"]["live_secret"], true);
    assert_eq!(app.code(&new_secret, None, None).await, "DISABLED");
}

#[tokio::test]
async fn with_leak_action_report_the_key_is_only_flagged_and_a_replay_adds_nothing() {
    let app = App::start_with(&[("leak_action", "report")]);
    let (key, secret) = app.create_key(json!({ "label": "Flag only" })).await;
    let id = key["id"].as_str().unwrap();

    accepted(&report(&app, &[&secret]).await, 1);
    accepted(&report(&app, &[&secret]).await, 1);

    assert_eq!(app.code(&secret, None, None).await, "VALID");
    let shown = key_view(&app, id).await;
    assert_eq!(
        (shown["status"].as_str(), shown["leak"]["source"].as_str()),
        (Some("active"), Some("public_report"))
    );
    let events = leak_events(&app, id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["changes"]["action"], "flagged");
}

#[tokio::test]
async fn bad_reports_are_refused_before_anything_is_counted_or_changed() {
    let app = App::start();
    let (_, secret) = app.create_key(json!({ "label": "Untouched" })).await;
    let before = app.dump();
    let many: Vec<String> = (0..101).map(|_| secret.clone()).collect();
    let body = |value: Value| serde_json::to_vec(&value).unwrap();
    let cases = vec![
        (
            "101 keys",
            app.call("POST", PATH).json(&json!({ "keys": many })),
            422,
            "too_many_keys",
        ),
        (
            "not declared JSON",
            app.call("POST", PATH)
                .header("content-type", "text/plain")
                .body(body(json!({ "keys": [secret] }))),
            415,
            "unsupported_media_type",
        ),
        (
            "no content type",
            app.call("POST", PATH)
                .body(body(json!({ "keys": [secret] }))),
            415,
            "unsupported_media_type",
        ),
        (
            "over 64 KiB",
            app.call("POST", PATH)
                .header("content-type", "application/json")
                .body(vec![b' '; 64 * 1024 + 1]),
            413,
            "payload_too_large",
        ),
        (
            "an unknown field",
            app.call("POST", PATH)
                .json(&json!({ "keys": [secret], "url": "https://example.com" })),
            400,
            "invalid_request",
        ),
        (
            "no keys",
            app.call("POST", PATH).json(&json!({})),
            400,
            "invalid_request",
        ),
        (
            "a key that is not a string",
            app.call("POST", PATH)
                .json(&json!({ "keys": [{ "key": secret }] })),
            400,
            "invalid_request",
        ),
        (
            "an array",
            app.call("POST", PATH).json(&json!([secret])),
            400,
            "invalid_request",
        ),
        (
            "a query",
            app.call("POST", &format!("{PATH}?dry_run=1"))
                .json(&json!({ "keys": [secret] })),
            400,
            "invalid_request",
        ),
    ];

    for (what, call, status, code) in cases {
        let reply = app.send(call).await;

        assert_eq!(reply.problem(status), code, "{what}");
        assert!(
            !shows_secret(&reply.text(), &secret),
            "{what} echoed the key"
        );
    }
    let get = app.send(app.call("GET", PATH)).await;
    assert_eq!(get.problem(405), "method_not_allowed");
    assert_eq!(get.header("allow"), Some("POST"));
    assert!(
        app.dump() == before,
        "a refused report changed or counted something"
    );
    assert_eq!(app.code(&secret, None, None).await, "VALID");
}

/// Milliseconds since the epoch, to tell whether some requests fell in one minute.
fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

#[tokio::test]
async fn an_address_past_ten_reports_a_minute_gets_a_429_with_retry_after_and_others_do_not() {
    let app = App::start();
    // The limits count in fixed minutes: a run that crossed into the next minute is run
    // again from another address (the next one cannot cross again), never waited for.
    let mut refused = None;
    for address in ["198.51.100.10", "198.51.100.11"] {
        let started = now_ms();
        for n in 0..PER_ADDRESS {
            let reply = report_from(&app, address, &[]).await;
            assert_eq!(reply.status, 202, "report {n}: {}", reply.text());
        }
        let over = report_from(&app, address, &[]).await;
        if started / 60_000 == now_ms() / 60_000 {
            refused = Some(over);
            break;
        }
    }
    let refused = refused.expect("one run fell within a minute");

    assert_eq!(refused.problem(429), "rate_limited");
    let retry_after: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    accepted(&report_from(&app, "203.0.113.5", &[]).await, 0);
    accepted(&report(&app, &[]).await, 0);
    let ipv6_neighbour = report_from(&app, "2001:db8:5:6::1", &[]).await;
    accepted(&ipv6_neighbour, 0);
}
