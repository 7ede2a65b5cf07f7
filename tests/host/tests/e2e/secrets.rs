//! Where secrets may appear: a key's secret only in the answers to create and regenerate;
//! never in any other answer, the audit trail, the logs or the stores (which keep SHA-256
//! hashes only); the identity token nowhere at all.

use crate::helpers::{App, Reply, admin_token, key_like_strings, shows_secret};
use keys_domain::access::ACCESS_PREFIX;
use keys_domain::key::KeyHash;
use keys_domain::record::{RECORDS_MARKER_KEY, RecordView};
use keys_domain::time::Timestamp;
use keys_domain::usage::USAGE_PREFIX;
use serde_json::{Value, json};
use spin_test_host::Fault;
use std::collections::BTreeSet;

/// One answer seen during the lifecycle: what was asked, the secret it was meant to carry
/// (create and regenerate only), and its headers and body as text.
struct Seen {
    what: String,
    carries: Option<String>,
    text: String,
}

/// Runs requests with one identity token and keeps every answer.
struct Recorder<'a> {
    app: &'a App,
    token: String,
    seen: Vec<Seen>,
}

fn as_text(reply: &Reply) -> String {
    let mut text = String::new();
    for (name, value) in &reply.headers {
        text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
    }
    text.push_str(&reply.text());
    text
}

impl Recorder<'_> {
    /// An admin call; returns the JSON answer (Null when empty) after checking the status.
    async fn admin(&mut self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        let mut call = self.app.call(method, path).bearer(&self.token);
        if let Some(body) = &body {
            call = call.json(body);
        }
        let reply = self.app.send(call).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.text());
        let value = if reply.body.is_empty() {
            Value::Null
        } else {
            reply.json()
        };
        let carries = value.get("key").and_then(Value::as_str).map(str::to_owned);
        self.seen.push(Seen {
            what: format!("{method} {path}"),
            carries,
            text: as_text(&reply),
        });
        value
    }

    /// A create or regenerate: returns the new secret.
    async fn new_secret(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> String {
        let answer = self.admin(method, path, body, status).await;
        answer["key"].as_str().expect("a secret").to_owned()
    }

    /// POST /verify; returns the code.
    async fn verify(&mut self, key: &str, method: Option<&str>, company: Option<&str>) -> String {
        let reply = self
            .app
            .send(
                self.app
                    .call("POST", "/api/v1/verify")
                    .json(&json!({ "key": key, "method": method, "company": company })),
            )
            .await;
        self.seen.push(Seen {
            what: "POST /api/v1/verify".into(),
            carries: None,
            text: as_text(&reply),
        });
        if reply.status != 200 {
            return format!("HTTP {}", reply.status);
        }
        reply.json()["code"].as_str().unwrap().to_owned()
    }

    /// GET /authorize with the key as a bearer token; returns the status.
    async fn authorize(&mut self, key: &str, method: &str) -> u16 {
        let reply = self
            .app
            .send(
                self.app
                    .call("GET", "/api/v1/authorize")
                    .bearer(key)
                    .header("x-api-method", method)
                    .header("x-api-company", "acme"),
            )
            .await;
        self.seen.push(Seen {
            what: "GET /api/v1/authorize".into(),
            carries: None,
            text: as_text(&reply),
        });
        reply.status
    }
}

/// Whether `text` shows `secret` in any form: whole or in part (the first or last 16
/// characters of its random part), or its SHA-256.
fn leaks(text: &str, secret: &str) -> bool {
    let random = &secret["ingk_".len()..];
    text.contains(&random[..16])
        || text.contains(&random[random.len() - 16..])
        || text.contains(&KeyHash::of(secret).to_hex())
}

/// The verification-record names of the key-value store, by secret hash.
fn record_hashes(app: &App) -> BTreeSet<String> {
    app.dump()
        .0
        .keys()
        .filter_map(|k| k.strip_prefix("vk:").map(str::to_owned))
        .collect()
}

/// Asserts that no store holds a secret and that the key-value store holds exactly the
/// records of `live` secrets, named by SHA-256 hex.
fn assert_stores_hold_hashes_only(app: &App, secrets: &[String], live: &[&String], when: &str) {
    let (kv, sqlite) = app.dump();
    let mut texts = vec![sqlite.clone()];
    for (name, value) in &kv {
        assert!(
            name.starts_with("vk:")
                || name.starts_with("used:")
                || name.starts_with(USAGE_PREFIX)
                // The edges' access counts (key id, hour and shape), left in the store until
                // an admin read folds them: a failed fold or flush can leave some behind.
                || name.starts_with(ACCESS_PREFIX)
                || name == RECORDS_MARKER_KEY,
            "{when}: unexpected key-value entry {name}"
        );
        texts.push(name.clone());
        texts.push(String::from_utf8_lossy(value).into_owned());
    }
    for text in &texts {
        assert!(
            key_like_strings(text).is_empty(),
            "{when}: a store holds a key: {text}"
        );
        for secret in secrets {
            assert!(
                !shows_secret(text, secret),
                "{when}: a store holds a secret"
            );
        }
    }
    let expected: BTreeSet<String> = live.iter().map(|s| KeyHash::of(s).to_hex()).collect();
    assert_eq!(
        record_hashes(app),
        expected,
        "{when}: records of live secrets"
    );
    for hash in &expected {
        assert!(
            hash.len() == 64
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{hash}"
        );
        assert!(
            sqlite.contains(hash),
            "{when}: SQLite keeps the hash of a live secret"
        );
    }
}

#[tokio::test]
async fn secrets_appear_only_in_create_and_regenerate_answers_and_never_in_trail_logs_or_stores() {
    secrets_story(&App::start(), Failures::None).await;
}

#[tokio::test]
async fn store_failures_along_the_story_are_logged_without_a_secret() {
    secrets_story(&App::start_test_host(), Failures::Injected).await;
}

/// Whether [`secrets_story`] injects store failures on the way (test host only).
#[derive(PartialEq)]
enum Failures {
    None,
    Injected,
}

/// The whole lifecycle, recording every answer, then the checks that no secret, hash or token
/// leaks into answers, the trail, the stores or the logs.
async fn secrets_story(app: &App, failures: Failures) {
    let token = admin_token();
    let mut r = Recorder {
        app,
        token: token.clone(),
        seen: Vec::new(),
    };
    let mut secrets: Vec<String> = Vec::new();

    // Catalog and registry.
    r.admin(
        "PUT",
        "/api/v1/companies/acme",
        Some(json!({ "name": "ACME" })),
        201,
    )
    .await;
    r.admin(
        "PUT",
        "/api/v1/companies/globex",
        Some(json!({ "name": "Globex" })),
        201,
    )
    .await;
    r.admin(
        "PUT",
        "/api/v1/methods/e2e.secrets",
        Some(json!({ "label": { "fr": "Secrets", "en": "Secrets" }, "group": "e2e" })),
        201,
    )
    .await;

    // Create, verify, forward-auth.
    let tomorrow = Timestamp::now().plus_seconds(86_400).to_string();
    let created = r
        .admin(
            "POST",
            "/api/v1/keys",
            Some(json!({
                "label": "Welyb production",
                "methods": ["employees.read", "e2e.secrets"],
                "companies": ["acme", "globex"],
                "metadata": { "crm": "42" },
                "expires_at": tomorrow,
            })),
            201,
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let key = |rest: &str| format!("/api/v1/keys/{id}{rest}");
    let first = created["key"].as_str().unwrap().to_owned();
    secrets.push(first.clone());
    assert_eq!(
        r.verify(&first, Some("employees.read"), Some("acme")).await,
        "VALID"
    );
    assert_eq!(r.authorize(&first, "employees.read").await, 204);
    assert_eq!(r.authorize(&first, "payroll.payslips.read").await, 403);

    // Regenerate with a grace period, then without.
    let second = r
        .new_secret(
            "POST",
            &key("/regenerate"),
            Some(json!({ "grace_period_seconds": 3600 })),
            200,
        )
        .await;
    secrets.push(second.clone());
    assert_eq!(r.verify(&first, None, None).await, "VALID");
    assert_eq!(r.verify(&second, None, None).await, "VALID");
    let third = r.new_secret("POST", &key("/regenerate"), None, 200).await;
    secrets.push(third.clone());
    assert_eq!(r.verify(&first, None, None).await, "NOT_FOUND");
    assert_eq!(r.verify(&second, None, None).await, "NOT_FOUND");
    assert_eq!(
        r.verify(&third, Some("e2e.secrets"), Some("globex")).await,
        "VALID"
    );

    // Read, list, edit.
    r.admin("GET", "/api/v1/keys", None, 200).await;
    r.admin(
        "GET",
        "/api/v1/keys?q=welyb&status=active&limit=5",
        None,
        200,
    )
    .await;
    r.admin("GET", &key(""), None, 200).await;
    r.admin(
        "PATCH",
        &key(""),
        Some(json!({ "label": "Welyb", "metadata": { "crm": "43" }, "expires_at": null })),
        200,
    )
    .await;

    // Permissions, catalog and registry changes that rewrite the key.
    r.admin("GET", &key("/permissions"), None, 200).await;
    r.admin(
        "PUT",
        &key("/permissions"),
        Some(json!({ "methods": ["employees.read", "e2e.secrets"], "companies": ["acme", "globex"] })),
        200,
    )
    .await;
    r.admin("DELETE", "/api/v1/companies/globex", None, 204)
        .await;
    r.admin("DELETE", "/api/v1/methods/e2e.secrets", None, 204)
        .await;
    r.admin(
        "PATCH",
        &key("/permissions"),
        Some(json!({ "add_methods": ["absences.*"], "remove_methods": ["employees.read"], "companies": "all" })),
        200,
    )
    .await;
    r.admin("GET", "/api/v1/methods", None, 200).await;
    r.admin("GET", "/api/v1/companies", None, 200).await;
    assert_eq!(
        r.verify(&third, Some("absences.read"), Some("globex"))
            .await,
        "VALID"
    );

    // Deactivate, activate.
    r.admin("POST", &key("/deactivate"), None, 200).await;
    assert_eq!(r.verify(&third, None, None).await, "DISABLED");
    assert_eq!(r.authorize(&third, "absences.read").await, 401);
    r.admin("POST", &key("/activate"), None, 200).await;

    // Failures on the way: store errors are logged, and must not log a secret.
    if failures == Failures::Injected {
        let host = app.test_host();
        host.set_kv_fault(Fault::Always);
        assert_eq!(r.verify(&third, None, None).await, "HTTP 503");
        host.set_kv_fault(Fault::Writes);
        r.admin("POST", &key("/regenerate"), None, 503).await;
        r.admin(
            "POST",
            "/api/v1/keys",
            Some(json!({ "label": "Lost" })),
            503,
        )
        .await;
        host.set_kv_fault(Fault::None);
        // That create was saved before its record could be written: a key whose secret
        // nobody received, which an administrator deletes.
        let lost = r.admin("GET", "/api/v1/keys?q=Lost", None, 200).await;
        let lost_id = lost["data"][0]["id"].as_str().unwrap().to_owned();
        r.admin("DELETE", &format!("/api/v1/keys/{lost_id}"), None, 204)
            .await;
        host.set_sqlite_fault(Fault::Writes);
        r.admin("PATCH", &key(""), Some(json!({ "label": "Never" })), 503)
            .await;
        host.set_sqlite_fault(Fault::None);
    }

    // Rebuild the verification records; the stores then hold the live secret's hash only.
    r.admin("POST", "/api/v1/verification-records/rebuild", None, 200)
        .await;
    assert_eq!(r.verify(&third, Some("absences.read"), None).await, "VALID");
    assert_stores_hold_hashes_only(app, &secrets, &[&third], "after the rebuild");

    // A second key, created and deleted.
    let doomed = r
        .new_secret(
            "POST",
            "/api/v1/keys",
            Some(json!({ "label": "Doomed" })),
            201,
        )
        .await;
    secrets.push(doomed.clone());
    let doomed_id = r.seen.last().unwrap().text.clone();
    let doomed_id = doomed_id
        .split("\"id\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    r.admin("DELETE", &format!("/api/v1/keys/{doomed_id}"), None, 204)
        .await;
    assert_eq!(r.verify(&doomed, None, None).await, "NOT_FOUND");

    // The audit trail.
    let key_events = r.admin("GET", &key("/events?limit=100"), None, 200).await;
    let all_events = r.admin("GET", "/api/v1/events?limit=100", None, 200).await;
    r.admin(
        "GET",
        &format!("/api/v1/keys/{doomed_id}/events"),
        None,
        200,
    )
    .await;

    // Only create and regenerate answers carry a secret: their own, once.
    let carriers: Vec<&str> = r
        .seen
        .iter()
        .filter(|s| s.carries.is_some())
        .map(|s| s.what.as_str())
        .collect();
    assert_eq!(
        carriers,
        [
            "POST /api/v1/keys",
            &*format!("POST {}", key("/regenerate")),
            &*format!("POST {}", key("/regenerate")),
            "POST /api/v1/keys",
        ]
    );
    for seen in &r.seen {
        let found = key_like_strings(&seen.text);
        match &seen.carries {
            Some(own) => assert_eq!(found.as_slice(), std::slice::from_ref(own), "{}", seen.what),
            None => assert!(
                found.is_empty(),
                "{} answered a key: {}",
                seen.what,
                seen.text
            ),
        }
        for secret in &secrets {
            if seen.carries.as_ref() == Some(secret) {
                continue;
            }
            assert!(
                !leaks(&seen.text, secret),
                "{} answered a secret or its hash: {}",
                seen.what,
                seen.text
            );
        }
        if let Some(own) = &seen.carries {
            assert!(
                !seen.text.contains(&KeyHash::of(own).to_hex()),
                "{} answered the hash of its secret",
                seen.what
            );
        }
        assert!(
            !seen.text.contains(&token),
            "{} echoes the identity token",
            seen.what
        );
    }

    // The audit trail holds no secret, no hash of one, no identity token.
    let kinds: BTreeSet<&str> = all_events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for kind in [
        "created",
        "regenerated",
        "label_changed",
        "metadata_changed",
        "expiry_changed",
        "permissions_changed",
        "deactivated",
        "activated",
        "deleted",
    ] {
        assert!(
            kinds.contains(kind),
            "the trail has a {kind} event: {kinds:?}"
        );
    }
    assert!(key_events["data"].as_array().unwrap().len() >= 10);
    let signature = token.rsplit('.').next().unwrap();
    for events in [&key_events, &all_events] {
        let text = events.to_string();
        assert!(
            key_like_strings(&text).is_empty(),
            "the trail holds a key: {text}"
        );
        for secret in &secrets {
            assert!(
                !leaks(&text, secret),
                "the trail holds a secret or its hash"
            );
        }
        assert!(
            !text.contains(signature),
            "the trail holds the identity token"
        );
    }

    // The components' logs hold no secret and no identity token.
    let logs = app.logs();
    assert_eq!(
        logs.contains("error:"),
        failures == Failures::Injected,
        "store failures, and only they, are logged: {logs}"
    );
    assert!(
        key_like_strings(&logs).is_empty(),
        "the logs hold a key: {logs}"
    );
    for secret in &secrets {
        assert!(
            !leaks(&logs, secret),
            "the logs hold a secret or its hash: {logs}"
        );
    }
    assert!(
        !logs.contains(signature) && !logs.contains(&token),
        "the logs hold the identity token: {logs}"
    );

    // The stores hold hashes only, of the one live secret; never the identity token.
    assert_stores_hold_hashes_only(app, &secrets, &[&third], "at the end");
    let (kv, sqlite) = app.dump();
    assert!(
        !sqlite.contains(signature),
        "SQLite holds the identity token"
    );
    assert!(
        kv.values()
            .all(|v| !String::from_utf8_lossy(v).contains(signature)),
        "the key-value store holds the identity token"
    );
}

#[tokio::test]
async fn a_grace_period_secret_is_stored_as_its_hash_until_it_ends() {
    let app = App::start();
    let (key, first) = app.create_key(json!({ "label": "Rolling" })).await;
    let id = key["id"].as_str().unwrap();

    let rolled = app
        .admin(
            "POST",
            &format!("/api/v1/keys/{id}/regenerate"),
            Some(json!({ "grace_period_seconds": 600 })),
        )
        .await;

    assert_eq!(rolled.status, 200, "{}", rolled.text());
    let second = rolled.json()["key"].as_str().unwrap().to_owned();
    let secrets = [first.clone(), second.clone()];
    assert_stores_hold_hashes_only(&app, &secrets, &[&first, &second], "in the grace period");
    let record = &app.dump().0[&format!("vk:{}", KeyHash::of(&first).to_hex())];
    let record = RecordView::decode(record).expect("a readable record");
    assert!(record.valid_until.is_some(), "{record:?}");
}
