//! The expiry policy (`max_key_lifetime_days`): with a limit, a key is created and its expiry
//! edited only to an instant within it; a refusal is a 422 naming why and writes nothing;
//! regeneration keeps the key's expiry; the health route reports the limit; a value out of
//! range keeps the routes that need it out of service.

use crate::helpers::App;
use keys_domain::time::Timestamp;
use serde_json::{Value, json};

/// The limit the tests run with, in days.
const DAYS: i64 = 30;

/// The RFC 3339 text of now plus `days` days.
fn in_days(days: i64) -> String {
    Timestamp::now().plus_seconds(days * 86_400).to_string()
}

async fn health(app: &App) -> (u16, Value) {
    let reply = app.send(app.call("GET", "/api/v1/health")).await;
    (reply.status, reply.json())
}

fn with_limit() -> App {
    App::start_with(&[("max_key_lifetime_days", &DAYS.to_string())])
}

#[tokio::test]
async fn without_a_lifetime_limit_a_key_needs_no_expiry_and_health_reports_none() {
    let app = App::start();

    let (key, _) = app.create_key(json!({ "label": "Forever" })).await;

    assert_eq!(key["expires_at"], Value::Null);
    assert_eq!(health(&app).await.1["max_key_lifetime_days"], 0);
}

#[tokio::test]
async fn with_a_lifetime_limit_a_key_is_created_only_with_an_expiry_within_it() {
    let app = with_limit();
    assert_eq!(health(&app).await.1["max_key_lifetime_days"], DAYS);
    let expires_at = in_days(DAYS - 1);
    let (key, _) = app
        .create_key(json!({ "label": "Within", "expires_at": expires_at }))
        .await;
    assert_eq!(key["expires_at"], json!(expires_at));
    let before = app.dump();

    let missing = app
        .admin("POST", "/api/v1/keys", Some(json!({ "label": "No end" })))
        .await;
    let null = app
        .admin(
            "POST",
            "/api/v1/keys",
            Some(json!({ "label": "No end", "expires_at": null })),
        )
        .await;
    let too_far = app
        .admin(
            "POST",
            "/api/v1/keys",
            Some(json!({ "label": "Too far", "expires_at": in_days(DAYS + 1) })),
        )
        .await;

    assert_eq!(missing.problem(422), "expiry_required");
    assert_eq!(null.problem(422), "expiry_required");
    assert_eq!(too_far.problem(422), "expiry_too_far");
    for reply in [&missing, &too_far] {
        let detail = reply.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("30 days"), "{detail}");
        assert!(detail.contains("max_key_lifetime_days"), "{detail}");
    }
    assert!(app.dump() == before, "a refused creation wrote something");
}

#[tokio::test]
async fn with_a_lifetime_limit_an_edit_cannot_remove_the_expiry_or_push_it_beyond_the_limit() {
    let app = with_limit();
    let (key, _) = app
        .create_key(json!({ "label": "Partner", "expires_at": in_days(10) }))
        .await;
    let path = format!("/api/v1/keys/{}", key["id"].as_str().unwrap());
    let before = app.dump();

    let removed = app
        .admin("PATCH", &path, Some(json!({ "expires_at": null })))
        .await;
    let too_far = app
        .admin(
            "PATCH",
            &path,
            Some(json!({ "label": "Renamed", "expires_at": in_days(DAYS + 1) })),
        )
        .await;

    assert_eq!(removed.problem(422), "expiry_required");
    assert_eq!(too_far.problem(422), "expiry_too_far");
    assert!(app.dump() == before, "a refused edit wrote something");
    let later = in_days(DAYS);
    let moved = app
        .admin("PATCH", &path, Some(json!({ "expires_at": later })))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text());
    let relabelled = app
        .admin("PATCH", &path, Some(json!({ "label": "Partner prod" })))
        .await;
    assert_eq!(relabelled.status, 200, "{}", relabelled.text());
    assert_eq!(
        (
            &relabelled.json()["label"],
            &relabelled.json()["expires_at"]
        ),
        (&json!("Partner prod"), &json!(later))
    );
}

#[tokio::test]
async fn with_a_lifetime_limit_a_regeneration_keeps_the_key_s_expiry() {
    let app = with_limit();
    let expires_at = in_days(5);
    let (key, _) = app
        .create_key(json!({ "label": "Rotated", "expires_at": expires_at }))
        .await;
    let id = key["id"].as_str().unwrap();

    let reply = app
        .admin("POST", &format!("/api/v1/keys/{id}/regenerate"), None)
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    let regenerated = reply.json();
    assert_eq!(regenerated["expires_at"], json!(expires_at));
    let secret = regenerated["key"].as_str().unwrap();
    let verdict = app.verify(secret, None, None).await;
    assert_eq!(
        (&verdict["code"], &verdict["expires_at"]),
        (&json!("VALID"), &json!(expires_at))
    );
}

#[tokio::test]
async fn a_lifetime_limit_out_of_range_refuses_creation_and_health_naming_the_variable() {
    let app = App::start_spin_with(&[("max_key_lifetime_days", "3651")]);

    let (status, body) = health(&app).await;
    let create = app
        .admin(
            "POST",
            "/api/v1/keys",
            Some(json!({ "label": "Any", "expires_at": in_days(1) })),
        )
        .await;

    assert_eq!(status, 500, "{body}");
    assert_eq!(create.problem(500), "internal_error");
    let listed = app.admin("GET", "/api/v1/keys", None).await;
    assert_eq!(listed.json()["data"], json!([]));
    assert!(
        app.logs()
            .contains("max_key_lifetime_days must be a whole number of days from 0 to 3650"),
        "{}",
        app.logs()
    );
}
