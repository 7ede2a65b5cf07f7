//! Secret-scanning partner endpoints on real Spin: a stub server plays GitHub's and GitLab's
//! public-key endpoints with keys generated per run, and reports are signed as the scanners
//! sign them. (The in-process test host refuses outbound HTTP, so these run on Spin; the one
//! store-fault test uses GitLab's keys given inline, which need no fetch.)

use crate::concurrency::race_call;
use crate::helpers::{App, eventually, shows_secret};
use crate::scanners::{
    GITHUB_KEYS_PATH, ScannerKey, Scanners, github_finding, github_report, keys_document,
    send_report, signed_report,
};
use keys_domain::key::{NewSecret, PresentedKey};
use serde_json::{Value, json};
use spin_test_host::Fault;
use std::time::Duration;

const LEAK_URL: &str = "https://github.com/partner/app/blob/main/.env";

fn hash_of(token: &str) -> String {
    PresentedKey::parse(token).unwrap().hash().to_hex()
}

async fn events_of(app: &App, key_id: &str) -> Vec<Value> {
    let reply = app
        .admin("GET", &format!("/api/v1/keys/{key_id}/events"), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["data"].as_array().unwrap().clone()
}

fn leak_events(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["type"] == "leak_reported")
        .collect()
}

#[tokio::test]
async fn a_signed_github_report_of_a_live_key_deactivates_it_before_the_answer() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let (key, secret) = app.create_key(json!({ "label": "Welyb production" })).await;
    let id = key["id"].as_str().unwrap();
    assert_eq!(app.code(&secret, None, None).await, "VALID");

    let reply = github_report(&app, &scanners, &json!([github_finding(&secret, LEAK_URL)])).await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!([{ "token_hash": hash_of(&secret), "token_type": "ingeneo_api_key", "label": "true_positive" }])
    );
    assert_eq!(app.code(&secret, None, None).await, "DISABLED");
    let shown = app
        .admin("GET", &format!("/api/v1/keys/{id}"), None)
        .await
        .json();
    assert_eq!(shown["status"], "inactive");
    assert_eq!(shown["leak"]["url"], LEAK_URL);
    assert_eq!(shown["leak"]["source"], "content");
    assert_eq!(shown["leak"]["scanner"], "github");
    assert!(shown["leak"]["reported_at"].is_string());
    let events = events_of(&app, id).await;
    let leaks = leak_events(&events);
    assert_eq!(leaks.len(), 1);
    assert_eq!(leaks[0]["actor"]["id"], "secret-scanning:github");
    assert_eq!(
        leaks[0]["changes"],
        json!({ "scanner": "github", "url": LEAK_URL, "source": "content", "action": "deactivated" })
    );
    let leaked = app
        .admin("GET", "/api/v1/keys?leaked=true", None)
        .await
        .json();
    let ids: Vec<&str> = leaked["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id]);
    let (kv, sqlite) = app.dump();
    let kv_text: String = kv
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    for text in [app.logs(), sqlite, kv_text] {
        assert!(
            !shows_secret(&text, &secret),
            "the token was kept or logged"
        );
    }
}

#[tokio::test]
async fn unknown_tokens_are_false_positives_and_malformed_ones_are_left_out() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let (_, secret) = app.create_key(json!({ "label": "Known" })).await;
    let unknown = NewSecret::generate().unwrap().expose().to_owned();
    let mut typo = secret.clone();
    typo.replace_range(10..11, if &secret[10..11] == "A" { "B" } else { "A" });
    // Warm the public-key cache, so that "nothing changed" is about the report alone.
    assert_eq!(github_report(&app, &scanners, &json!([])).await.status, 200);
    let before = app.dump();

    let reply = github_report(
        &app,
        &scanners,
        &json!([
            github_finding(&unknown, LEAK_URL),
            github_finding(&typo, LEAK_URL)
        ]),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!([{ "token_hash": hash_of(&unknown), "token_type": "ingeneo_api_key", "label": "false_positive" }])
    );
    assert!(app.dump() == before, "a false positive changed the stores");
    assert_eq!(app.code(&secret, None, None).await, "VALID");
}

#[tokio::test]
async fn every_bad_report_is_a_4xx_problem_and_changes_nothing() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let (_, secret) = app.create_key(json!({ "label": "Target" })).await;
    assert_eq!(github_report(&app, &scanners, &json!([])).await.status, 200);
    let before = app.dump();
    let body = serde_json::to_vec(&json!([github_finding(&secret, LEAK_URL)])).unwrap();
    let impostor = ScannerKey::generate(&scanners.github.id);
    let unknown_id = ScannerKey::generate("github-key-unknown");
    let path = "/api/v1/secret-scanning/github";
    let signed = |body: &[u8], key: &ScannerKey| {
        app.call("POST", path)
            .header("content-type", "application/json")
            .header("github-public-key-identifier", &key.id)
            .header("github-public-key-signature", &key.sign(body))
    };
    let cases = vec![
        (
            "signed by another key",
            signed(&body, &impostor).body(body.clone()),
            400,
            "invalid_signature",
        ),
        (
            "signature of another body",
            signed(b"[]", &scanners.github).body(body.clone()),
            400,
            "invalid_signature",
        ),
        (
            "no signature headers",
            app.call("POST", path)
                .header("content-type", "application/json")
                .body(body.clone()),
            400,
            "invalid_signature",
        ),
        (
            "signature not base64",
            app.call("POST", path)
                .header("github-public-key-identifier", &scanners.github.id)
                .header("github-public-key-signature", "%%%")
                .body(body.clone()),
            400,
            "invalid_signature",
        ),
        (
            "unknown key identifier",
            signed(&body, &unknown_id).body(body.clone()),
            400,
            "unknown_key_identifier",
        ),
        (
            "signed, not JSON",
            signed(b"token=ingk_x", &scanners.github).body(b"token=ingk_x".to_vec()),
            400,
            "invalid_request",
        ),
        (
            "signed, an object",
            signed(br#"{"token":"x"}"#, &scanners.github).body(br#"{"token":"x"}"#.to_vec()),
            400,
            "invalid_request",
        ),
        (
            "a query",
            app.call("POST", &format!("{path}?x=1")).body(body.clone()),
            400,
            "invalid_request",
        ),
        (
            "over 64 KiB",
            app.call("POST", path).body(vec![b' '; 64 * 1024 + 1]),
            413,
            "payload_too_large",
        ),
    ];

    for (what, call, status, code) in cases {
        let reply = app.send(call).await;

        assert_eq!(reply.problem(status), code, "{what}");
        assert!(
            !shows_secret(&reply.text(), &secret),
            "{what} echoed the token"
        );
    }
    assert!(app.dump() == before, "a bad report changed the stores");
    assert_eq!(app.code(&secret, None, None).await, "VALID");
    assert_eq!(
        scanners.server.hits(GITHUB_KEYS_PATH),
        1,
        "an unknown identifier within 30 s of the last fetch is not fetched again"
    );
}

#[tokio::test]
async fn with_leak_action_report_the_key_is_flagged_and_keeps_working() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[("leak_action", "report")]);
    let (key, secret) = app.create_key(json!({ "label": "Flag only" })).await;
    let id = key["id"].as_str().unwrap();

    let reply = github_report(&app, &scanners, &json!([github_finding(&secret, LEAK_URL)])).await;

    assert_eq!(reply.json()[0]["label"], "true_positive");
    assert_eq!(app.code(&secret, None, None).await, "VALID");
    let shown = app
        .admin("GET", &format!("/api/v1/keys/{id}"), None)
        .await
        .json();
    assert_eq!(
        (shown["status"].as_str(), shown["leak"]["url"].as_str()),
        (Some("active"), Some(LEAK_URL))
    );
    let events = events_of(&app, id).await;
    assert_eq!(leak_events(&events)[0]["changes"]["action"], "flagged");
}

#[tokio::test]
async fn a_replayed_report_changes_nothing() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let (key, secret) = app.create_key(json!({ "label": "Replayed" })).await;
    let report = json!([github_finding(&secret, LEAK_URL)]);
    let first = github_report(&app, &scanners, &report).await;
    let after_first = app.dump();

    let again = github_report(&app, &scanners, &report).await;

    assert_eq!((again.status, again.json()), (200, first.json()));
    assert!(app.dump() == after_first, "the replay changed the stores");
    let events = events_of(&app, key["id"].as_str().unwrap()).await;
    assert_eq!(leak_events(&events).len(), 1);
}

#[tokio::test]
async fn a_report_naming_50_tokens_deactivates_every_key_in_one_answer() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let mut secrets = Vec::new();
    for n in 0..50 {
        secrets.push(
            app.create_key(json!({ "label": format!("Bulk {n}") }))
                .await
                .1,
        );
    }
    let findings: Vec<Value> = secrets
        .iter()
        .enumerate()
        .map(|(n, s)| github_finding(s, &format!("{LEAK_URL}#L{n}")))
        .collect();

    let reply = github_report(&app, &scanners, &Value::Array(findings)).await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    let labels = reply.json();
    assert_eq!(labels.as_array().unwrap().len(), 50);
    for (entry, secret) in labels.as_array().unwrap().iter().zip(&secrets) {
        assert_eq!(entry["token_hash"], hash_of(secret));
        assert_eq!(entry["label"], "true_positive");
        assert_eq!(app.code(secret, None, None).await, "DISABLED");
    }
    let leaked = app
        .admin("GET", "/api/v1/keys?leaked=true&limit=100", None)
        .await
        .json();
    assert_eq!(leaked["data"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn a_gitlab_report_signed_with_the_inline_key_deactivates_the_key() {
    let scanners = Scanners::start();
    let inline = ScannerKey::generate("gitlab-inline-1");
    let document = keys_document(&[&inline]);
    let app = scanners.start_app(&[
        ("gitlab_secret_scanning_keys", &document),
        ("gitlab_secret_scanning_keys_url", ""),
    ]);
    let (key, secret) = app.create_key(json!({ "label": "GitLab leak" })).await;
    let body = serde_json::to_vec(&json!([{ "type": "ingeneo_api_key", "token": secret, "url": "https://gitlab.com/p/r/-/blob/main/x" }])).unwrap();

    let reply = send_report(&app, "gitlab", &inline, &body).await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()[0]["label"], "true_positive");
    assert_eq!(app.code(&secret, None, None).await, "DISABLED");
    let shown = app
        .admin(
            "GET",
            &format!("/api/v1/keys/{}", key["id"].as_str().unwrap()),
            None,
        )
        .await
        .json();
    assert_eq!(shown["leak"]["scanner"], "gitlab");
    assert_eq!(shown["leak"]["source"], Value::Null);
    let refused = send_report(&app, "gitlab", &scanners.gitlab, &body).await;
    assert_eq!(refused.problem(400), "unknown_key_identifier");
}

#[tokio::test]
async fn a_gitlab_report_is_verified_with_keys_fetched_from_its_url() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let (_, secret) = app.create_key(json!({ "label": "GitLab fetched" })).await;
    let body = serde_json::to_vec(
        &json!([{ "type": "t", "token": secret, "url": "https://gitlab.com/x" }]),
    )
    .unwrap();

    let reply = send_report(&app, "gitlab", &scanners.gitlab, &body).await;

    assert_eq!(reply.json()[0]["label"], "true_positive");
    assert_eq!(app.code(&secret, None, None).await, "DISABLED");
}

#[tokio::test]
async fn replaced_and_deleted_secrets_are_true_positives_that_revoke_nothing_more() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let (key, old_secret) = app.create_key(json!({ "label": "Rotated" })).await;
    let id = key["id"].as_str().unwrap();
    let regenerated = app
        .admin("POST", &format!("/api/v1/keys/{id}/regenerate"), None)
        .await;
    let new_secret = regenerated.json()["key"].as_str().unwrap().to_owned();
    let (gone, gone_secret) = app.create_key(json!({ "label": "Deleted" })).await;
    let gone_id = gone["id"].as_str().unwrap();
    assert_eq!(
        app.admin("DELETE", &format!("/api/v1/keys/{gone_id}"), None)
            .await
            .status,
        204
    );

    let reply = github_report(
        &app,
        &scanners,
        &json!([
            github_finding(&old_secret, LEAK_URL),
            github_finding(&gone_secret, LEAK_URL)
        ]),
    )
    .await;

    let labels: Vec<Value> = reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["label"].clone())
        .collect();
    assert_eq!(labels, [json!("true_positive"), json!("true_positive")]);
    assert_eq!(app.code(&new_secret, None, None).await, "VALID");
    let shown = app
        .admin("GET", &format!("/api/v1/keys/{id}"), None)
        .await
        .json();
    assert_eq!(
        (shown["status"].as_str(), &shown["leak"]),
        (Some("active"), &Value::Null)
    );
    for key_id in [id, gone_id] {
        let events = events_of(&app, key_id).await;
        assert_eq!(
            leak_events(&events)[0]["changes"]["action"],
            "already_revoked",
            "{key_id}"
        );
    }
}

#[tokio::test]
async fn the_new_secret_of_a_regenerated_key_found_at_the_same_place_is_deactivated_again() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let (key, secret) = app.create_key(json!({ "label": "Leaked twice" })).await;
    let id = key["id"].as_str().unwrap();
    github_report(&app, &scanners, &json!([github_finding(&secret, LEAK_URL)])).await;
    assert_eq!(app.code(&secret, None, None).await, "DISABLED");
    let regenerated = app
        .admin(
            "POST",
            &format!("/api/v1/keys/{id}/regenerate"),
            Some(json!({})),
        )
        .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.text());
    let new_secret = regenerated.json()["key"].as_str().unwrap().to_owned();
    let activated = app
        .admin("POST", &format!("/api/v1/keys/{id}/activate"), None)
        .await;
    assert_eq!(activated.status, 200, "{}", activated.text());
    assert_eq!(app.code(&new_secret, None, None).await, "VALID");

    // The partner pastes the new secret into the same file: the same report, another secret.
    let again = json!([github_finding(&new_secret, LEAK_URL)]);
    let answer = github_report(&app, &scanners, &again).await;

    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(app.code(&new_secret, None, None).await, "DISABLED");
    let events = events_of(&app, id).await;
    assert_eq!(leak_events(&events).len(), 2, "{events:?}");
}

#[tokio::test]
async fn regenerating_a_leaked_key_clears_the_flag_and_ends_the_published_secret_at_once() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[("leak_action", "report")]);
    let (key, secret) = app.create_key(json!({ "label": "To rotate" })).await;
    let id = key["id"].as_str().unwrap();
    github_report(&app, &scanners, &json!([github_finding(&secret, LEAK_URL)])).await;

    let regenerated = app
        .admin(
            "POST",
            &format!("/api/v1/keys/{id}/regenerate"),
            Some(json!({ "grace_period_seconds": 3600 })),
        )
        .await;

    assert_eq!(regenerated.status, 200, "{}", regenerated.text());
    assert_eq!(regenerated.json()["leak"], Value::Null);
    assert_eq!(
        app.code(&secret, None, None).await,
        "NOT_FOUND",
        "no grace for a leaked secret"
    );
    let new_secret = regenerated.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(app.code(&new_secret, None, None).await, "VALID");
    let leaked = app
        .admin("GET", "/api/v1/keys?leaked=true", None)
        .await
        .json();
    assert_eq!(leaked["data"], json!([]));
}

#[tokio::test]
async fn a_leaked_secret_in_its_grace_period_ends_at_once_with_the_key_deactivated() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let (key, old_secret) = app.create_key(json!({ "label": "In grace" })).await;
    let id = key["id"].as_str().unwrap();
    let regenerated = app
        .admin(
            "POST",
            &format!("/api/v1/keys/{id}/regenerate"),
            Some(json!({ "grace_period_seconds": 3600 })),
        )
        .await;
    let new_secret = regenerated.json()["key"].as_str().unwrap().to_owned();

    github_report(
        &app,
        &scanners,
        &json!([github_finding(&old_secret, LEAK_URL)]),
    )
    .await;

    assert_eq!(app.code(&new_secret, None, None).await, "DISABLED");
    let shown = app
        .admin("GET", &format!("/api/v1/keys/{id}"), None)
        .await
        .json();
    assert_eq!(
        shown["leak"]["live_secret"], false,
        "only the replaced secret was published"
    );
    let reactivated = app
        .admin("POST", &format!("/api/v1/keys/{id}/activate"), None)
        .await;
    assert_eq!(
        reactivated.status, 200,
        "the live secret was never published"
    );
    assert_eq!(app.code(&new_secret, None, None).await, "VALID");
    assert_eq!(app.code(&old_secret, None, None).await, "NOT_FOUND");
}

/// The keys are fetched again for an unknown identifier at most once per
/// `upstream_refetch_secs` (2 s here, 30 s by default).
#[tokio::test]
async fn a_rotated_github_key_is_fetched_again_once_the_refetch_interval_has_passed() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[("upstream_refetch_secs", "2")]);
    let (_, secret) = app.create_key(json!({ "label": "Rotation" })).await;
    assert_eq!(github_report(&app, &scanners, &json!([])).await.status, 200);
    let rotated = ScannerKey::generate("github-key-2");
    scanners.publish_github(&[&scanners.github, &rotated]);
    let body = serde_json::to_vec(&json!([github_finding(&secret, LEAK_URL)])).unwrap();

    // Too soon: refused as unknown, without a fetch, until the interval has passed; then one
    // fetch, and the report is accepted.
    let too_soon = std::cell::Cell::new(0);
    let accepted = || async {
        let reply = send_report(&app, "github", &rotated, &body).await;
        match reply.status {
            200 => Ok(reply),
            _ => {
                assert_eq!(reply.problem(400), "unknown_key_identifier");
                assert_eq!(scanners.server.hits(GITHUB_KEYS_PATH), 1);
                too_soon.set(too_soon.get() + 1);
                Err(reply.text())
            }
        }
    };
    let (accepted, _) =
        eventually("the rotated key fetched", Duration::from_secs(10), accepted).await;
    assert!(
        too_soon.get() > 0,
        "the first report came within the interval"
    );

    assert_eq!(accepted.json()[0]["label"], "true_positive");
    assert_eq!(scanners.server.hits(GITHUB_KEYS_PATH), 2);
    assert_eq!(app.code(&secret, None, None).await, "DISABLED");
}

#[tokio::test]
async fn a_scanner_whose_keys_cannot_be_fetched_gets_a_502_and_nothing_changes() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let (_, secret) = app.create_key(json!({ "label": "Provider down" })).await;
    scanners.server.set(GITHUB_KEYS_PATH, 500, &[], "");
    let before = app.dump();

    let reply = github_report(&app, &scanners, &json!([github_finding(&secret, LEAK_URL)])).await;

    assert_eq!(reply.problem(502), "upstream_unavailable");
    assert_eq!(
        reply.header("retry-after"),
        Some("1"),
        "the scanner retries"
    );
    let (kv, sqlite) = app.dump();
    assert!(sqlite == before.1, "SQLite changed");
    let new_entries: Vec<&String> = kv.keys().filter(|k| !before.0.contains_key(*k)).collect();
    assert_eq!(
        new_entries,
        ["scanner-document:github"],
        "only the failed fetch is noted"
    );
    let noted: Value = serde_json::from_slice(&kv["scanner-document:github"]).unwrap();
    assert_eq!(noted["document"], Value::Null, "{noted}");
}

#[tokio::test]
async fn a_report_whose_key_value_write_fails_answers_503_and_its_retry_deactivates_the_key() {
    let inline = ScannerKey::generate("gitlab-inline-faults");
    let document = keys_document(&[&inline]);
    let app = App::start_test_host_with(&[("gitlab_secret_scanning_keys", &document)]);
    let (key, secret) = app.create_key(json!({ "label": "Fragile leak" })).await;
    let id = key["id"].as_str().unwrap();
    let body = serde_json::to_vec(
        &json!([{ "type": "t", "token": secret, "url": "https://gitlab.com/x" }]),
    )
    .unwrap();
    app.test_host().set_kv_fault(Fault::Writes);

    let failed = send_report(&app, "gitlab", &inline, &body).await;

    assert_eq!(failed.problem(503), "store_unavailable");
    app.test_host().set_kv_fault(Fault::None);
    let shown = app
        .admin("GET", &format!("/api/v1/keys/{id}"), None)
        .await
        .json();
    assert_eq!(
        (shown["status"].as_str(), &shown["leak"]),
        (Some("active"), &Value::Null),
        "rolled back"
    );
    assert!(leak_events(&events_of(&app, id).await).is_empty());

    let retried = send_report(&app, "gitlab", &inline, &body).await;

    assert_eq!(retried.json()[0]["label"], "true_positive");
    assert_eq!(app.code(&secret, None, None).await, "DISABLED");
    assert_eq!(leak_events(&events_of(&app, id).await).len(), 1);
}

#[tokio::test]
async fn the_leaked_filter_takes_true_or_false_only() {
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let (leaked, secret) = app.create_key(json!({ "label": "Leaked" })).await;
    let (clean, _) = app.create_key(json!({ "label": "Clean" })).await;
    github_report(&app, &scanners, &json!([github_finding(&secret, LEAK_URL)])).await;
    let ids = |reply: Value| -> Vec<String> {
        reply["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect()
    };

    let with = app
        .admin("GET", "/api/v1/keys?leaked=true", None)
        .await
        .json();
    let without = app
        .admin("GET", "/api/v1/keys?leaked=false", None)
        .await
        .json();
    let bad = app.admin("GET", "/api/v1/keys?leaked=yes", None).await;

    assert_eq!(ids(with), [leaked["id"].as_str().unwrap()]);
    assert_eq!(ids(without), [clean["id"].as_str().unwrap()]);
    assert_eq!(bad.problem(400), "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_verification_succeeds_with_a_reported_key_once_the_report_is_answered() {
    let scanners = Scanners::start();
    let app = std::sync::Arc::new(scanners.start_app(&[]));
    let (_, secret) = app.create_key(json!({ "label": "Raced" })).await;
    // Fetch the keys first, so the race measures the report, not the fetch.
    assert_eq!(github_report(&app, &scanners, &json!([])).await.status, 200);
    let report = signed_report(
        &app,
        "github",
        &scanners.github,
        &json!([github_finding(&secret, LEAK_URL)]),
    );

    let reply = race_call(&app, std::slice::from_ref(&app), &secret, None, report, 200).await;

    assert_eq!(reply.json()[0]["label"], "true_positive");
}
