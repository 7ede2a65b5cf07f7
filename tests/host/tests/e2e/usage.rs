//! Usage analytics: every verification attributed to a key is counted by code, per hour and
//! per day, summed over every key, and shown in the key list.

use crate::helpers::{self, App};
use keys_domain::time::Timestamp;
use serde_json::{Value, json};
use std::time::Duration;

/// How long counts may take to be written: verify-key writes its batches 500 ms after the
/// first verification they hold.
const COUNTING_DELAY: Duration = Duration::from_secs(10);

/// Polls `path` until `ready` holds for its JSON answer, within [`COUNTING_DELAY`].
async fn eventually(app: &App, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let what = format!("{path} showing the counts");
    let probe = || async {
        let reply = app.admin("GET", path, None).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        let answer = reply.json();
        if ready(&answer) {
            Ok(answer)
        } else {
            Err(answer.to_string())
        }
    };
    helpers::eventually(&what, COUNTING_DELAY, probe).await.0
}

/// The counts of the last bucket of a usage answer.
fn last_counts(usage: &Value) -> Value {
    usage["data"].as_array().unwrap().last().unwrap()["counts"].clone()
}

#[tokio::test]
async fn every_verification_of_a_key_is_counted_by_code_per_hour_and_per_day() {
    let app = App::start();
    let (key, secret) = app
        .create_key(json!({ "label": "Welyb", "methods": ["employees.read"] }))
        .await;
    let (other, other_secret) = app.create_key(json!({ "label": "Other" })).await;
    let id = key["id"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(
            app.code(&secret, Some("employees.read"), None).await,
            "VALID"
        );
    }
    assert_eq!(
        app.code(&secret, Some("payroll.read"), None).await,
        "METHOD_NOT_ALLOWED"
    );
    assert_eq!(app.code(&other_secret, None, None).await, "VALID");
    // Unknown keys are attributed to no key.
    assert_eq!(
        app.code(
            "ingk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            None,
            None
        )
        .await,
        "NOT_FOUND"
    );
    let expected = json!({ "VALID": 3, "METHOD_NOT_ALLOWED": 1 });

    let hourly = eventually(&app, &format!("/api/v1/keys/{id}/usage"), |u| {
        last_counts(u) == expected
    })
    .await;
    assert_eq!(hourly["granularity"], "hour");
    let buckets = hourly["data"].as_array().unwrap();
    assert_eq!(buckets.len(), 48, "the last 48 hours, oldest first");
    assert!(
        buckets[..47].iter().all(|b| b["counts"] == json!({})),
        "{hourly}"
    );
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0]["start"].as_str() < w[1]["start"].as_str())
    );
    assert_eq!(buckets[47]["start"].as_str().unwrap()[14..], *"00:00Z");

    let daily = app
        .admin(
            "GET",
            &format!("/api/v1/keys/{id}/usage?granularity=day"),
            None,
        )
        .await
        .json();
    assert_eq!(daily["data"].as_array().unwrap().len(), 30);
    assert_eq!(last_counts(&daily), expected);
    assert!(
        daily["data"][29]["start"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z")
    );

    let all = eventually(&app, "/api/v1/usage", |u| {
        last_counts(u) == json!({ "VALID": 4, "METHOD_NOT_ALLOWED": 1 })
    })
    .await;
    assert_eq!(
        all["top_keys"],
        json!([
            { "key_id": id, "label": "Welyb", "requests": 4 },
            { "key_id": other["id"], "label": "Other", "requests": 1 },
        ])
    );

    let listed = app.admin("GET", "/api/v1/keys", None).await.json();
    let requests: Vec<(&str, u64)> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["label"].as_str().unwrap(),
                k["requests_24h"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(requests, [("Other", 1), ("Welyb", 4)]);
    let shown = app
        .admin("GET", &format!("/api/v1/keys/{id}"), None)
        .await
        .json();
    assert!(shown["last_used_at"].is_string(), "{shown}");
}

#[tokio::test]
async fn usage_ranges_are_checked_and_usage_is_for_administrators_only() {
    let app = App::start();
    let (key, _) = app.create_key(json!({ "label": "Welyb" })).await;
    let id = key["id"].as_str().unwrap();
    let range = app
        .admin(
            "GET",
            &format!("/api/v1/keys/{id}/usage?from=2020-01-01T00:00:00Z&granularity=day"),
            None,
        )
        .await;
    assert_eq!(range.problem(400), "invalid_request");
    for query in [
        "granularity=minute",
        "from=yesterday",
        "to=2999-01-01T00:00:00Z",
        "limit=5",
    ] {
        let reply = app
            .admin("GET", &format!("/api/v1/keys/{id}/usage?{query}"), None)
            .await;
        assert_eq!(reply.problem(400), "invalid_request", "{query}");
    }
    let narrow = app
        .admin(
            "GET",
            &format!(
                "/api/v1/keys/{id}/usage?granularity=hour&from={}",
                hour_ago()
            ),
            None,
        )
        .await
        .json();
    assert_eq!(narrow["data"].as_array().unwrap().len(), 2);

    let unknown = app.admin("GET", "/api/v1/keys/key_nope/usage", None).await;
    assert_eq!(unknown.problem(404), "not_found");
    let post = app.admin("POST", "/api/v1/usage", None).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET"));
    for path in [
        "/api/v1/usage".to_owned(),
        format!("/api/v1/keys/{id}/usage"),
    ] {
        let anonymous = app.send(app.call("GET", &path)).await;
        assert_eq!(anonymous.status, 401, "{path}");
        let no_right = crate::helpers::token_with(json!({ "sub": "someone", "rights": [] }));
        let refused = app.send(app.call("GET", &path).bearer(&no_right)).await;
        assert_eq!(refused.status, 403, "{path}");
    }
}

/// An instant an hour ago, RFC 3339.
fn hour_ago() -> String {
    Timestamp::now().plus_seconds(-3600).to_string()
}

#[tokio::test]
async fn hours_that_ended_are_folded_into_sqlite_once_and_still_answered() {
    let app = App::start_test_host();
    let (key, _) = app.create_key(json!({ "label": "Welyb" })).await;
    let id = key["id"].as_str().unwrap();
    let hour = Timestamp::now().unix().div_euclid(3600);
    // Edge counters of three hours ago, of thirty hours ago, and of the hour before this one
    // (not folded yet: a late batch may still add to it).
    let seeded = [
        (hour - 3, "VALID", 7),
        (hour - 30, "RATE_LIMITED", 2),
        (hour - 1, "VALID", 4),
    ];
    for (h, code, n) in seeded {
        let name = format!("use:h:{h}:{id}:{code}");
        app.test_host()
            .kv_put("default", &name, &(n as i64).to_le_bytes())
            .unwrap();
    }
    let path = format!("/api/v1/keys/{id}/usage");
    for _ in 0..2 {
        let usage = app.admin("GET", &path, None).await.json();
        let data = usage["data"].as_array().unwrap();
        let at = |back: usize| &data[data.len() - 1 - back]["counts"];
        assert_eq!(at(3), &json!({ "VALID": 7 }), "{usage}");
        assert_eq!(at(30), &json!({ "RATE_LIMITED": 2 }));
        assert_eq!(at(1), &json!({ "VALID": 4 }));
    }
    let (kv, sqlite) = app.dump();
    assert!(
        !kv.contains_key(&format!("use:h:{}:{id}:VALID", hour - 3)),
        "a folded counter is deleted"
    );
    assert!(kv.contains_key(&format!("use:h:{}:{id}:VALID", hour - 1)));
    assert!(sqlite.contains("usage_hourly"), "{sqlite}");

    let daily = app
        .admin("GET", &format!("{path}?granularity=day"), None)
        .await
        .json();
    let total: u64 = daily["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["counts"].as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(total, 13, "each verification counted once: {daily}");
    let all = app
        .admin("GET", "/api/v1/usage?granularity=day", None)
        .await
        .json();
    assert_eq!(all["top_keys"][0]["requests"], 13);
    let listed = app.admin("GET", "/api/v1/keys", None).await.json();
    assert_eq!(
        listed["data"][0]["requests_24h"], 11,
        "the last 24 hours: 7 + 4"
    );
}

#[tokio::test]
async fn the_key_list_folds_the_hours_due_and_counts_them_once() {
    let app = App::start_test_host();
    let (key, _) = app.create_key(json!({ "label": "MyCompanyFile" })).await;
    let id = key["id"].as_str().unwrap();
    let hour = Timestamp::now().unix().div_euclid(3600);
    for (h, code, n) in [(hour - 5, "VALID", 6), (hour - 1, "METHOD_NOT_ALLOWED", 2)] {
        let name = format!("use:h:{h}:{id}:{code}");
        app.test_host()
            .kv_put("default", &name, &(n as i64).to_le_bytes())
            .unwrap();
    }
    for _ in 0..2 {
        let listed = app.admin("GET", "/api/v1/keys", None).await.json();
        assert_eq!(listed["data"][0]["requests_24h"], 8, "6 + 2: {listed}");
    }
    let (kv, _) = app.dump();
    assert!(
        !kv.contains_key(&format!("use:h:{}:{id}:VALID", hour - 5)),
        "the list folded the hour that ended"
    );
    assert!(
        kv.contains_key(&format!("use:h:{}:{id}:METHOD_NOT_ALLOWED", hour - 1)),
        "the hour before this one is not due yet"
    );
    let usage = app
        .admin("GET", &format!("/api/v1/keys/{id}/usage"), None)
        .await
        .json();
    let data = usage["data"].as_array().unwrap();
    assert_eq!(
        data[data.len() - 6]["counts"],
        json!({ "VALID": 6 }),
        "{usage}"
    );
    assert_eq!(
        data[data.len() - 2]["counts"],
        json!({ "METHOD_NOT_ALLOWED": 2 })
    );
}
