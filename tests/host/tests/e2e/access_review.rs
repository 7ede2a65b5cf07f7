//! The access review: every verification with a method (and company) is counted per key,
//! method, company and day; a key's review shows its unused grants, the methods and
//! companies it used, what was refused, and the narrowest permissions covering its traffic,
//! which a dry run checks and a permissions change applies; the key list finds keys with
//! unused grants.

use crate::helpers::{self, App};
use keys_domain::time::Timestamp;
use serde_json::{Value, json};
use std::time::Duration;

/// How long counts may take to be written: verify-key writes its batches 500 ms after the
/// first verification they hold.
const COUNTING_DELAY: Duration = Duration::from_secs(10);

/// Polls a key's review until `ready` holds, within [`COUNTING_DELAY`].
async fn review_when(app: &App, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/api/v1/keys/{id}/access-review");
    let probe = || async {
        let reply = app.admin("GET", &path, None).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        let answer = reply.json();
        if ready(&answer) {
            Ok(answer)
        } else {
            Err(answer.to_string())
        }
    };
    helpers::eventually("the review showing the calls", COUNTING_DELAY, probe)
        .await
        .0
}

async fn simulate(app: &App, id: &str, body: Value) -> Value {
    let path = format!("/api/v1/keys/{id}/access-review/simulate");
    let reply = app.admin("POST", &path, Some(body)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

/// The ids of the keys a list answer holds.
async fn listed(app: &App, query: &str) -> Vec<String> {
    let reply = app
        .admin("GET", &format!("/api/v1/keys?{query}"), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_review_shows_unused_grants_the_traffic_and_a_suggestion_that_a_dry_run_confirms() {
    let app = App::start();
    app.register_company("ACME", "Acme").await;
    app.register_company("BETA", "Beta").await;
    let (key, secret) = app
        .create_key(json!({
            "label": "Payroll partner",
            "methods": ["payroll.*", "employees.read"],
            "companies": "all",
        }))
        .await;
    let id = key["id"].as_str().unwrap();
    let (quiet, _) = app
        .create_key(json!({ "label": "Quiet", "methods": [] }))
        .await;
    for _ in 0..3 {
        let code = app.code(&secret, Some("payroll.payslips.read"), Some("ACME"));
        assert_eq!(code.await, "VALID");
    }
    let code = app.code(&secret, Some("payroll.variables.read"), Some("ACME"));
    assert_eq!(code.await, "VALID");
    for _ in 0..2 {
        let code = app.code(&secret, Some("documents.read"), Some("BETA"));
        assert_eq!(code.await, "METHOD_NOT_ALLOWED");
    }

    let review = review_when(&app, id, |r| {
        r["calls"] == 4 && r["refused"].get(0).is_some_and(|x| x["calls"] == 2)
    })
    .await;
    assert_eq!(review["days"], 90);
    assert_eq!(review["complete"], true);
    let grant = |name: &str| {
        let grants = review["methods"].as_array().unwrap();
        grants.iter().find(|g| g["grant"] == name).unwrap().clone()
    };
    let payroll = grant("payroll.*");
    let used: Vec<(&str, u64)> = payroll["used"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["method"].as_str().unwrap(), u["calls"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        used,
        [("payroll.payslips.read", 3), ("payroll.variables.read", 1)],
        "{review}"
    );
    let hour_start = Timestamp::now().unix().div_euclid(3600) * 3600;
    assert_eq!(
        payroll["used"][0]["last_used_at"],
        Timestamp::from_unix(hour_start).to_string(),
        "to the hour"
    );
    assert_eq!(
        grant("employees.read"),
        json!({ "grant": "employees.read", "used": [] })
    );
    assert_eq!(review["companies"]["scope"], "all");
    let companies = review["companies"]["used"].as_array().unwrap();
    assert_eq!(companies.len(), 1, "{review}");
    assert_eq!(
        (&companies[0]["company"], &companies[0]["calls"]),
        (&json!("ACME"), &json!(4))
    );
    let refused = review["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{review}");
    assert_eq!(refused[0]["method"], "documents.read");
    assert_eq!(refused[0]["company"], "BETA");
    assert_eq!(refused[0]["code"], "METHOD_NOT_ALLOWED");
    assert_eq!(
        review["suggestion"],
        json!({
            "methods": ["payroll.payslips.read", "payroll.variables.read"],
            "companies": ["ACME"],
        })
    );

    let dry_run = simulate(&app, id, review["suggestion"].clone()).await;
    assert_eq!(
        dry_run,
        json!({ "calls": 4, "would_be_refused": 0, "refused": [] })
    );
    let narrower = json!({ "methods": ["payroll.payslips.read"], "companies": "all", "days": 30 });
    let dry_run = simulate(&app, id, narrower).await;
    assert_eq!(
        dry_run,
        json!({
            "calls": 4,
            "would_be_refused": 1,
            "refused": [{ "method": "payroll.variables.read", "company": "ACME", "calls": 1 }],
        })
    );

    // The list finds the key (employees.read unused) and the key without grants does not
    // count as having unused ones.
    let quiet_id = quiet["id"].as_str().unwrap();
    assert_eq!(listed(&app, "unused_grants=true").await, [id]);
    assert_eq!(listed(&app, "unused_grants=false").await, [quiet_id]);

    // Applying the suggestion narrows the key, with the reason in its audit event.
    let mut applied = review["suggestion"].clone();
    applied["reason"] = json!("access review");
    let reply = app
        .admin(
            "PUT",
            &format!("/api/v1/keys/{id}/permissions"),
            Some(applied),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let events = app
        .admin("GET", &format!("/api/v1/keys/{id}/events"), None)
        .await
        .json();
    let changed = &events["data"][0];
    assert_eq!(changed["type"], "permissions_changed", "{events}");
    assert_eq!(changed["changes"]["reason"], "access review");
    assert!(listed(&app, "unused_grants=true").await.is_empty());
    let after = app
        .admin("GET", &format!("/api/v1/keys/{id}/access-review"), None)
        .await
        .json();
    assert_eq!(
        after["suggestion"]["methods"],
        review["suggestion"]["methods"]
    );
    assert!(
        after["methods"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| !g["used"].as_array().unwrap().is_empty()),
        "{after}"
    );
}

#[tokio::test]
async fn review_parameters_are_checked_and_the_review_is_for_administrators_only() {
    let app = App::start();
    let (key, _) = app.create_key(json!({ "label": "Welyb" })).await;
    let id = key["id"].as_str().unwrap();
    let path = format!("/api/v1/keys/{id}/access-review");
    for days in ["0", "401", "abc", "1.5"] {
        let reply = app.admin("GET", &format!("{path}?days={days}"), None).await;
        assert_eq!(reply.problem(400), "invalid_request", "{days}");
        let detail = reply.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("days"), "{days}: {detail}");
    }
    let reply = app.admin("GET", &format!("{path}?day=3"), None).await;
    reply.problem(400);
    let empty = app.admin("GET", &format!("{path}?days=400"), None).await;
    assert_eq!(empty.status, 200);
    let empty = empty.json();
    assert_eq!(
        (&empty["calls"], &empty["suggestion"]),
        (&json!(0), &Value::Null)
    );
    app.admin("GET", "/api/v1/keys/key_nope/access-review", None)
        .await
        .problem(404);
    let anonymous = app.send(app.call("GET", &path)).await;
    anonymous.problem(401);

    let simulate = format!("{path}/simulate");
    let bad = [
        json!({ "methods": ["Not A Grant"], "companies": "all" }),
        json!({ "methods": [], "companies": "all", "days": 0 }),
        json!({ "methods": [], "companies": "some" }),
    ];
    for body in bad {
        let reply = app.admin("POST", &simulate, Some(body.clone())).await;
        assert!(
            reply.status == 400 || reply.status == 422,
            "{body}: {}",
            reply.text()
        );
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
    }
    // JSON Schema's integers may be written with a fraction of zero.
    let whole = json!({ "methods": [], "companies": "all", "days": 30.0 });
    let reply = app.admin("POST", &simulate, Some(whole)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let unknown = json!({ "methods": [], "companies": "all", "extra": 1 });
    app.admin("POST", &simulate, Some(unknown))
        .await
        .problem(400);

    let (kv_before, sql_before) = app.dump();
    let long = json!({ "methods": [], "companies": "all", "reason": "x".repeat(201) });
    app.admin("PUT", &format!("/api/v1/keys/{id}/permissions"), Some(long))
        .await
        .problem(422);
    let (kv_after, sql_after) = app.dump();
    assert_eq!(kv_before, kv_after, "a refused change writes nothing");
    assert_eq!(sql_before, sql_after);
}

/// The rows of `table` in a database dump.
fn rows_of<'a>(dump: &'a str, table: &str) -> &'a str {
    let start = dump.find(&format!("table {table:?}")).expect("the table");
    let rest = &dump[start..];
    let body = rest.find('\n').map_or("", |eol| &rest[eol..]);
    body.find("\ntable ").map_or(body, |end| &body[..end])
}

#[tokio::test]
async fn hours_that_ended_are_folded_with_usage_and_answered_once() {
    let app = App::start_test_host();
    app.register_company("ACME", "Acme").await;
    let (key, _) = app
        .create_key(json!({ "label": "Welyb", "methods": ["employees.read"] }))
        .await;
    let id = key["id"].as_str().unwrap();
    let hour = Timestamp::now().unix().div_euclid(3600);
    // What an edge writes: the shapes' counters, the slots naming them and the slot count,
    // three hours ago (due for the fold) and in the current hour (not due).
    let seeded = [
        (hour - 3, "VALID:employees.read:ACME", 5),
        (hour - 3, "COMPANY_NOT_ALLOWED:employees.read:BETA", 1),
        (hour, "VALID:employees.read:ACME", 2),
    ];
    let host = app.test_host();
    let mut slots: Vec<(i64, i64)> = Vec::new();
    for (h, shape, n) in seeded {
        let slot = match slots.iter_mut().find(|(sh, _)| *sh == h) {
            Some((_, taken)) => {
                *taken += 1;
                *taken
            }
            None => {
                slots.push((h, 1));
                1
            }
        };
        let counter = format!("acc:h:{h}:{id}:c:{shape}");
        host.kv_put("default", &counter, &(n as i64).to_le_bytes())
            .unwrap();
        host.kv_put(
            "default",
            &format!("acc:h:{h}:{id}:s:{slot}"),
            shape.as_bytes(),
        )
        .unwrap();
    }
    for (h, taken) in &slots {
        host.kv_put(
            "default",
            &format!("acc:h:{h}:{id}:n"),
            &taken.to_le_bytes(),
        )
        .unwrap();
    }
    let path = format!("/api/v1/keys/{id}/access-review");
    for _ in 0..2 {
        let review = app.admin("GET", &path, None).await.json();
        assert_eq!(review["calls"], 7, "5 folded + 2 not folded yet: {review}");
        assert_eq!(review["methods"][0]["used"][0]["calls"], 7);
        assert_eq!(
            review["methods"][0]["used"][0]["last_used_at"],
            Timestamp::from_unix(hour * 3600).to_string()
        );
        assert_eq!(review["refused"][0]["company"], "BETA");
        assert_eq!(review["refused"][0]["code"], "COMPANY_NOT_ALLOWED");
    }
    let (kv, sqlite) = app.dump();
    let old = hour - 3;
    assert!(
        !kv.keys().any(|k| k.starts_with(&format!("acc:h:{old}:"))),
        "the folded hour's entries are deleted"
    );
    assert!(kv.contains_key(&format!("acc:h:{hour}:{id}:n")));
    assert!(rows_of(&sqlite, "access_daily").contains(id), "{sqlite}");
    assert!(rows_of(&sqlite, "access_methods").contains("employees.read"));

    // Deleting the key deletes its counts, folded or not.
    let reply = app
        .admin("DELETE", &format!("/api/v1/keys/{id}"), None)
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    let (kv, sqlite) = app.dump();
    assert!(
        !kv.keys().any(|k| k.starts_with("acc:")),
        "{:?}",
        kv.keys().collect::<Vec<_>>()
    );
    for table in ["access_daily", "access_methods"] {
        assert!(!rows_of(&sqlite, table).contains(id), "{table}: {sqlite}");
    }
}
