//! Store failures fail closed: verification never says yes when a store fails, and an admin
//! call whose write fails answers 5xx and leaves the key on the safe side.

use crate::helpers::App;
use serde_json::json;
use spin_test_host::Fault;

async fn verify_status(app: &App, key: &str) -> (u16, String) {
    let reply = app
        .send(
            app.call("POST", "/api/v1/verify")
                .json(&json!({ "key": key })),
        )
        .await;
    (reply.status, reply.text())
}

#[tokio::test]
async fn with_the_key_value_store_failing_verification_refuses() {
    let app = App::start_test_host();
    let (_, secret) = app.create_key(json!({ "label": "Fragile" })).await;
    for fault in [Fault::Always, Fault::Nth(1), Fault::Nth(2)] {
        app.test_host().set_kv_fault(fault);
        let (status, body) = verify_status(&app, &secret).await;
        assert_eq!(status, 503, "{fault:?}: {body}");
        assert!(!body.contains("VALID"), "{body}");
        app.test_host().set_kv_fault(Fault::Always);
        let gateway = app
            .send(
                app.call("GET", "/api/v1/authorize")
                    .header("x-api-key", &secret),
            )
            .await;
        assert_eq!(gateway.problem(503), "store_unavailable");
        app.test_host().set_kv_fault(Fault::None);
    }
    assert_eq!(
        app.code(&secret, None, None).await,
        "VALID",
        "and recovers with the store"
    );
}

#[tokio::test]
async fn a_failing_last_use_write_does_not_change_a_valid_answer() {
    let app = App::start_test_host();
    let (_, secret) = app.create_key(json!({ "label": "Read only store" })).await;
    app.test_host().set_kv_fault(Fault::Writes);
    assert_eq!(app.code(&secret, None, None).await, "VALID");
}

#[tokio::test]
async fn a_deactivation_whose_key_value_write_fails_answers_5xx_and_changes_nothing() {
    let app = App::start_test_host();
    let (key, secret) = app.create_key(json!({ "label": "Stays" })).await;
    let id = key["id"].as_str().unwrap();
    app.test_host().set_kv_fault(Fault::Writes);
    let reply = app
        .admin("POST", &format!("/api/v1/keys/{id}/deactivate"), None)
        .await;
    assert_eq!(reply.problem(503), "store_unavailable");
    app.test_host().set_kv_fault(Fault::None);

    // SQLite was rolled back: the key is still active, no event says otherwise; the admin
    // was told the call failed and can retry.
    let read = app
        .admin("GET", &format!("/api/v1/keys/{id}"), None)
        .await
        .json();
    assert_eq!(read["status"], "active");
    let events = app
        .admin("GET", &format!("/api/v1/keys/{id}/events"), None)
        .await
        .json();
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
    let retry = app
        .admin("POST", &format!("/api/v1/keys/{id}/deactivate"), None)
        .await;
    assert_eq!(retry.status, 200);
    assert_eq!(app.code(&secret, None, None).await, "DISABLED");
}

/// Counts the store calls an admin call makes, on a twin key, so a fault can hit one
/// precise call of the real one.
async fn calls_of(app: &App, method: &str, path: &str) -> (u64, u64) {
    app.test_host().reset_counters();
    let reply = app.admin(method, path, None).await;
    assert!(reply.status < 300, "{}", reply.text());
    let c = app.test_host().counters();
    (
        c.kv_get + c.kv_set + c.kv_delete + c.kv_other,
        c.sqlite_execute + c.sqlite_other,
    )
}

#[tokio::test]
async fn a_deactivation_whose_commit_fails_leaves_the_key_refused_until_rebuilt() {
    let app = App::start_test_host();
    let (twin, _) = app.create_key(json!({ "label": "Twin" })).await;
    let (key, secret) = app.create_key(json!({ "label": "Target" })).await;
    let (_, sqlite_calls) = calls_of(
        &app,
        "POST",
        &format!("/api/v1/keys/{}/deactivate", twin["id"].as_str().unwrap()),
    )
    .await;

    // COMMIT is the last SQLite call of a deactivation: make exactly it fail.
    app.test_host().set_sqlite_fault(Fault::Nth(sqlite_calls));
    let id = key["id"].as_str().unwrap();
    let reply = app
        .admin("POST", &format!("/api/v1/keys/{id}/deactivate"), None)
        .await;
    assert_eq!(reply.problem(503), "store_unavailable");
    app.test_host().set_sqlite_fault(Fault::None);

    // The key-value record had already been narrowed; after the failed commit it was
    // removed: the key refuses rather than trusting either side.
    assert_eq!(app.code(&secret, None, None).await, "NOT_FOUND");
    assert_eq!(
        app.admin("GET", &format!("/api/v1/keys/{id}"), None)
            .await
            .json()["status"],
        "active"
    );

    // The rebuild route restores what SQLite holds.
    let rebuilt = app
        .admin("POST", "/api/v1/verification-records/rebuild", None)
        .await;
    assert_eq!(rebuilt.status, 200, "{}", rebuilt.text());
    assert_eq!(rebuilt.json()["records_written"], 2);
    assert_eq!(app.code(&secret, None, None).await, "VALID");
}

#[tokio::test]
async fn a_regeneration_whose_new_record_cannot_be_written_is_kept_but_returns_no_new_secret() {
    let app = App::start_test_host();
    let (twin, _) = app.create_key(json!({ "label": "Twin" })).await;
    let (key, secret) = app.create_key(json!({ "label": "Target" })).await;
    let id = key["id"].as_str().unwrap();
    let twin_path = format!("/api/v1/keys/{}/regenerate", twin["id"].as_str().unwrap());
    // Key-value calls of a regeneration: open, delete the old record (before the commit),
    // set the new one (after it), read the last use. Fail the set.
    let (kv_calls, _) = calls_of(&app, "POST", &twin_path).await;
    assert_eq!(kv_calls, 4);
    app.test_host().set_kv_fault(Fault::Nth(3));
    let reply = app
        .admin("POST", &format!("/api/v1/keys/{id}/regenerate"), None)
        .await;
    assert_eq!(reply.problem(503), "store_unavailable");
    assert!(
        !reply.text().contains("ingk_"),
        "no new secret escapes a failed call"
    );
    app.test_host().set_kv_fault(Fault::None);
    assert_eq!(
        app.code(&secret, None, None).await,
        "NOT_FOUND",
        "the old secret ended, as asked"
    );

    // SQLite holds the regeneration; its new secret, never shown, has a record only once
    // rebuilt. A retry issues a secret that works.
    let read = app
        .admin("GET", &format!("/api/v1/keys/{id}"), None)
        .await
        .json();
    assert_ne!(read["hint"], key["hint"], "the change was saved");
    let rebuilt = app
        .admin("POST", "/api/v1/verification-records/rebuild", None)
        .await
        .json();
    assert_eq!(rebuilt["records_written"], 2);
    assert_eq!(app.code(&secret, None, None).await, "NOT_FOUND");
    let retry = app
        .admin("POST", &format!("/api/v1/keys/{id}/regenerate"), None)
        .await;
    assert_eq!(retry.status, 200, "{}", retry.text());
    let new_secret = retry.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(app.code(&new_secret, None, None).await, "VALID");
}

#[tokio::test]
async fn a_create_whose_sqlite_write_fails_answers_5xx_and_writes_nothing() {
    let app = App::start_test_host();
    app.admin("GET", "/api/v1/keys", None).await;
    let before = app.dump();
    app.test_host().set_sqlite_fault(Fault::Writes);
    let reply = app
        .admin("POST", "/api/v1/keys", Some(json!({ "label": "Never" })))
        .await;
    assert_eq!(reply.problem(503), "store_unavailable");
    app.test_host().set_sqlite_fault(Fault::None);
    assert_eq!(app.dump(), before);
}

#[tokio::test]
async fn with_sqlite_down_admin_routes_answer_503_and_verification_still_works() {
    let app = App::start_test_host();
    let (_, secret) = app.create_key(json!({ "label": "Independent" })).await;
    app.test_host().set_sqlite_fault(Fault::Always);
    assert_eq!(
        app.admin("GET", "/api/v1/keys", None).await.problem(503),
        "store_unavailable"
    );
    assert_eq!(
        app.code(&secret, None, None).await,
        "VALID",
        "verify-key never touches SQLite"
    );
}

#[tokio::test]
async fn rebuild_removes_records_sqlite_does_not_know() {
    let app = App::start_test_host();
    app.create_key(json!({ "label": "Warm-up" })).await;
    app.create_key(json!({ "label": "Twin" })).await;
    // Admin changes never leave a record SQLite does not know (a new secret's record is
    // written only after the commit), but a key-value store restored from an older backup
    // can hold one: a copy of a live record under another secret's hash.
    let (kv, _) = app.dump();
    let (_, live) = kv.iter().find(|(name, _)| name.starts_with("vk:")).unwrap();
    let ghost = format!("vk:{}", "0".repeat(64));
    app.test_host().kv_put("default", &ghost, live).unwrap();
    let records = |app: &App| app.dump().0.keys().filter(|k| k.starts_with("vk:")).count();
    assert_eq!(records(&app), 3, "warm-up, twin, and the stale record");
    assert_eq!(
        app.admin("GET", "/api/v1/keys", None).await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let rebuilt = app
        .admin("POST", "/api/v1/verification-records/rebuild", None)
        .await
        .json();
    assert_eq!(
        rebuilt,
        json!({ "records_written": 2, "stale_records_removed": 1 })
    );
    assert_eq!(records(&app), 2);
    assert!(!app.dump().0.contains_key(&ghost));
}

#[tokio::test]
async fn a_record_left_by_an_earlier_build_fails_closed_until_the_rebuild_rewrites_it() {
    let app = App::start_test_host();
    let (_, secret) = app
        .create_key(json!({ "label": "Welyb", "methods": ["employees.read"] }))
        .await;
    let name = format!("vk:{}", keys_domain::key::KeyHash::of(&secret).to_hex());
    // The JSON layout written before `ingk-record/2`, granting everything.
    let earlier = json!({
        "key_id": "key_x", "label": "Welyb", "hint": "ingk_...xxxx", "active": true,
        "methods": ["*"], "companies": "all", "expires_at": null, "valid_until": null,
        "metadata": null,
    });
    app.test_host()
        .kv_put("default", &name, earlier.to_string().as_bytes())
        .unwrap();

    let (status, body) = verify_status(&app, &secret).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("internal_error"), "{body}");
    assert!(!body.contains("VALID"), "{body}");
    let gateway = app
        .send(
            app.call("GET", "/api/v1/authorize")
                .header("x-api-key", &secret)
                .header("x-api-method", "payroll.read"),
        )
        .await;
    assert_eq!(gateway.status, 500, "{}", gateway.text());

    let rebuilt = app
        .admin("POST", "/api/v1/verification-records/rebuild", None)
        .await;
    assert_eq!(rebuilt.status, 200, "{}", rebuilt.text());
    assert_eq!(
        app.code(&secret, Some("employees.read"), None).await,
        "VALID"
    );
    assert_eq!(
        app.code(&secret, Some("payroll.read"), None).await,
        "METHOD_NOT_ALLOWED",
        "the rewritten record carries SQLite's grants, not the stale ones"
    );
}
