//! What a probe of the running app found, each fixed and kept fixed: repeated headers on the
//! forward-auth route, a gateway that names no method or company, revoked keys describing
//! themselves, and the hygiene of answers (sniffing, caching, the case of methods).

use crate::authorize::authorize;
use crate::helpers::App;
use keys_domain::time::Timestamp;
use serde_json::json;

#[tokio::test]
async fn the_callers_address_is_the_last_entry_of_every_line_of_its_header() {
    let app = App::start_with(&[("client_ip_header", "X-Forwarded-For")]);
    let (_, secret) = app
        .create_key(json!({
            "label": "Behind HAProxy",
            "methods": ["*"],
            "ip_allowlist": ["10.0.0.0/8"]
        }))
        .await;
    let key = ("x-api-key", secret.as_str());
    // HAProxy's `option forwardfor` appends a line of its own: the client wrote the first.
    let two_lines = [
        key,
        ("x-forwarded-for", "10.9.9.9"),
        ("x-forwarded-for", "203.0.113.7"),
    ];
    assert_eq!(
        authorize(&app, &two_lines).await.problem(403),
        "IP_NOT_ALLOWED"
    );
    let one_line = [key, ("x-forwarded-for", "10.9.9.9, 203.0.113.7")];
    assert_eq!(
        authorize(&app, &one_line).await.problem(403),
        "IP_NOT_ALLOWED"
    );
    let appended = [
        key,
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-for", "10.9.9.9"),
    ];
    assert_eq!(authorize(&app, &appended).await.status, 204);
}

#[tokio::test]
async fn a_key_method_or_company_named_twice_is_refused_with_400() {
    let app = App::start();
    let (_, secret) = app
        .create_key(json!({ "label": "Twice", "methods": ["*"] }))
        .await;
    let (_, other) = app
        .create_key(json!({ "label": "Other", "methods": ["*"] }))
        .await;
    let bearer = format!("Bearer {secret}");
    let twice: [&[(&str, &str)]; 5] = [
        &[("x-api-key", &secret), ("x-api-key", &other)],
        &[("authorization", &bearer), ("x-api-key", &other)],
        &[("authorization", &bearer), ("authorization", &bearer)],
        &[
            ("x-api-key", &secret),
            ("x-api-method", "employees.read"),
            ("x-api-method", "payroll.read"),
        ],
        &[
            ("x-api-key", &secret),
            ("x-api-company", "ACME"),
            ("x-api-company", "OTHER"),
        ],
    ];
    for headers in twice {
        let reply = authorize(&app, headers).await;
        assert_eq!(reply.problem(400), "invalid_request", "{headers:?}");
    }
    assert_eq!(authorize(&app, &[("x-api-key", &secret)]).await.status, 204);
}

#[tokio::test]
async fn a_gateway_that_names_no_method_or_company_is_refused_unless_the_key_grants_them_all() {
    let app = App::start();
    app.register_company("ACME", "Acme").await;
    let (_, no_grant) = app.create_key(json!({ "label": "No grant" })).await;
    let unnamed = authorize(&app, &[("x-api-key", &no_grant)]).await;
    assert_eq!(
        unnamed.problem(403),
        "METHOD_NOT_ALLOWED",
        "no grant, no access"
    );

    let (key, narrow) = app
        .create_key(json!({
            "label": "Narrow",
            "methods": ["employees.read"],
            "companies": ["ACME"]
        }))
        .await;
    let method = ("x-api-method", "employees.read");
    let company = ("x-api-company", "ACME");
    let no_method = authorize(&app, &[("x-api-key", &narrow), company]).await;
    assert_eq!(no_method.problem(403), "METHOD_NOT_ALLOWED");
    let no_company = authorize(&app, &[("x-api-key", &narrow), method]).await;
    assert_eq!(no_company.problem(403), "COMPANY_NOT_ALLOWED");
    let both = authorize(&app, &[("x-api-key", &narrow), method, company]).await;
    assert_eq!(both.status, 204, "{}", both.text());

    let (_, everything) = app
        .create_key(json!({ "label": "Everything", "methods": ["*"] }))
        .await;
    assert_eq!(
        authorize(&app, &[("x-api-key", &everything)]).await.status,
        204
    );

    // The key's own state comes first: an inactive key stays 401.
    let id = key["id"].as_str().unwrap();
    let path = format!("/api/v1/keys/{id}/deactivate");
    assert_eq!(app.admin("POST", &path, None).await.status, 200);
    let inactive = authorize(&app, &[("x-api-key", &narrow)]).await;
    assert_eq!(inactive.problem(401), "DISABLED");

    // `/verify` without a method answers the key's state, and says so.
    let answer = app.verify(&no_grant, None, None).await;
    assert_eq!(answer["code"], "VALID");
    assert_eq!(answer["checked"], json!(["key"]));
    let answer = app
        .verify(&everything, Some("employees.read"), Some("ACME"))
        .await;
    assert_eq!(answer["checked"], json!(["key", "method", "company"]));
}

#[tokio::test]
async fn a_key_that_cannot_be_used_tells_nothing_but_its_code_and_id() {
    let app = App::start();
    app.register_company("ACME", "Acme").await;
    let body = json!({
        "label": "Partner prod",
        "methods": ["employees.read"],
        "companies": ["ACME"],
        "metadata": { "contract": "C-42" },
        "ip_allowlist": ["10.0.0.0/8"]
    });
    let (key, secret) = app.create_key(body).await;
    let id = key["id"].as_str().unwrap();
    let from = |ip: &str| {
        app.call("POST", "/api/v1/verify")
            .json(&json!({ "key": secret, "ip": ip }))
    };
    let elsewhere = app.send(from("203.0.113.7")).await.json();
    assert_eq!(
        elsewhere,
        json!({ "valid": false, "code": "IP_NOT_ALLOWED", "key_id": id })
    );
    let path = format!("/api/v1/keys/{id}/deactivate");
    assert_eq!(app.admin("POST", &path, None).await.status, 200);
    let disabled = app.send(from("10.1.2.3")).await.json();
    assert_eq!(
        disabled,
        json!({ "valid": false, "code": "DISABLED", "key_id": id })
    );
}

#[tokio::test]
async fn answers_are_never_sniffed_nor_cached_and_methods_are_case_sensitive() {
    let app = App::start();
    let (key, secret) = app
        .create_key(json!({ "label": "Hygiene", "methods": ["*"] }))
        .await;
    let verified = app
        .send(
            app.call("POST", "/api/v1/verify")
                .json(&json!({ "key": secret })),
        )
        .await;
    assert_eq!(verified.header("x-content-type-options"), Some("nosniff"));
    let listed = app.admin("GET", "/api/v1/keys", None).await;
    assert_eq!(listed.header("x-content-type-options"), Some("nosniff"));
    let allowed = authorize(&app, &[("x-api-key", &secret)]).await;
    assert_eq!(allowed.status, 204);
    assert_eq!(allowed.header("cache-control"), Some("no-store"));

    let path = format!("/api/v1/keys/{}", key["id"].as_str().unwrap());
    let lower = app.send(app.call("delete", &path).admin()).await;
    assert_eq!(lower.problem(405), "method_not_allowed");
    assert_eq!(
        app.admin("GET", &path, None).await.status,
        200,
        "not deleted"
    );
}

#[tokio::test]
async fn a_regenerations_grace_period_bounds_every_older_secret_of_the_key() {
    let app = App::start();
    let (key, first) = app.create_key(json!({ "label": "Rotated" })).await;
    let id = key["id"].as_str().unwrap();
    let regenerate = format!("/api/v1/keys/{id}/regenerate");
    let week = json!({ "grace_period_seconds": 604_800 });
    let second = app.admin("POST", &regenerate, Some(week)).await.json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let second_grace = json!({ "grace_period_seconds": 1 });
    let third = app
        .admin("POST", &regenerate, Some(second_grace))
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    for secret in [&first, &second, &third] {
        assert_eq!(app.code(secret, None, None).await, "VALID");
    }
    // One second of grace for every older secret, the first one's week included: both end at
    // the first second at least one second after the last regeneration (at most two seconds).
    let shown = app
        .admin("GET", &format!("/api/v1/keys/{id}"), None)
        .await
        .json();
    let ends: Vec<&str> = shown["grace_secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["valid_until"].as_str().unwrap())
        .collect();
    let regenerated = Timestamp::parse_rfc3339(shown["updated_at"].as_str().unwrap()).unwrap();
    assert_eq!(ends, [ends[0]; 2], "{shown}");
    let end = Timestamp::parse_rfc3339(ends[0]).unwrap();
    assert_eq!(end, regenerated.plus_seconds(2), "{shown}");
    // Waits for the end on the clock the app reads (at most two seconds).
    let end = std::time::UNIX_EPOCH + std::time::Duration::from_secs(end.unix() as u64);
    if let Ok(left) = end.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(left).await;
    }
    assert_eq!(app.code(&first, None, None).await, "NOT_FOUND");
    assert_eq!(app.code(&second, None, None).await, "NOT_FOUND");
    assert_eq!(app.code(&third, None, None).await, "VALID");
}

#[tokio::test]
async fn a_key_whose_secret_was_reported_leaked_is_reactivated_only_after_a_regeneration() {
    use crate::scanners::{Scanners, github_finding, github_report};
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let (key, published) = app
        .create_key(json!({ "label": "Published", "methods": ["*"] }))
        .await;
    let id = key["id"].as_str().unwrap();
    let findings = json!([github_finding(
        &published,
        "https://github.com/p/r/blob/main/.env"
    )]);
    assert_eq!(github_report(&app, &scanners, &findings).await.status, 200);
    assert_eq!(app.code(&published, None, None).await, "DISABLED");
    let shown = app
        .admin("GET", &format!("/api/v1/keys/{id}"), None)
        .await
        .json();
    assert_eq!(shown["leak"]["live_secret"], true);

    let activate = format!("/api/v1/keys/{id}/activate");
    let refused = app.admin("POST", &activate, None).await;
    assert_eq!(refused.problem(409), "leaked_secret");
    assert_eq!(app.code(&published, None, None).await, "DISABLED");

    let regenerate = format!("/api/v1/keys/{id}/regenerate");
    let regenerated = app.admin("POST", &regenerate, None).await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.text());
    let fresh = regenerated.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(app.admin("POST", &activate, None).await.status, 200);
    assert_eq!(app.code(&fresh, None, None).await, "VALID");
    assert_eq!(app.code(&published, None, None).await, "NOT_FOUND");
}

#[tokio::test]
async fn a_key_pasted_into_a_label_or_metadata_is_refused_and_nothing_is_written() {
    let app = App::start();
    let (key, secret) = app.create_key(json!({ "label": "Live" })).await;
    let before = app.dump();
    let hidden = format!("\u{200B}{secret}");
    let bodies = [
        json!({ "label": format!("copy of {secret}") }),
        json!({ "label": hidden }),
        json!({ "label": "Partner", "metadata": { "secret": secret } }),
        json!({ "label": "Partner", "metadata": { "notes": [format!("old key {secret}")] } }),
    ];
    let path = format!("/api/v1/keys/{}", key["id"].as_str().unwrap());
    for body in &bodies {
        let created = app.admin("POST", "/api/v1/keys", Some(body.clone())).await;
        assert_eq!(created.problem(422), "secret_in_text", "{body}");
        assert!(
            !created.text().contains(&secret),
            "the answer never echoes it"
        );
        let edited = app.admin("PATCH", &path, Some(body.clone())).await;
        assert_eq!(edited.problem(422), "secret_in_text", "{body}");
    }
    let bidi = app
        .admin(
            "POST",
            "/api/v1/keys",
            Some(json!({ "label": "Welyb \u{202E}dorp" })),
        )
        .await;
    assert_eq!(bidi.problem(422), "validation_failed");
    assert_eq!(app.dump(), before, "nothing was written");
}

#[tokio::test]
async fn metadata_a_strict_json_parser_would_refuse_is_refused_with_400() {
    let app = App::start();
    let before = app.dump();
    for metadata in [
        r#"{"s":"\ud800"}"#,
        r#"{"n":1e400}"#,
        r#"{"a":{"b":1,"b":2}}"#,
    ] {
        let body = format!(r#"{{"label":"Strict","metadata":{metadata}}}"#);
        let reply = app
            .send(
                app.call("POST", "/api/v1/keys")
                    .admin()
                    .body(body.clone())
                    .header("content-type", "application/json"),
            )
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
    }
    assert_eq!(app.dump(), before, "nothing was written");
}

/// An HS256 token of this raw header and these raw claims, signed with the app's secret.
fn raw_token(header: &str, claims: &str) -> String {
    use hmac::{Hmac, Mac};
    use keys_domain::base64url::encode;
    let input = format!(
        "{}.{}",
        encode(header.as_bytes()),
        encode(claims.as_bytes())
    );
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(crate::helpers::TOKEN_SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn identity_tokens_that_live_too_long_or_say_things_twice_are_refused() {
    let app = App::start();
    let now = keys_domain::time::Timestamp::now().unix();
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let claims = |extra: &str| {
        format!(
            r#"{{"sub":"u-9","exp":{},"rights":["platform_configuration"]{extra}}}"#,
            now + 600
        )
    };
    let refused = [
        (
            "exp 1e308",
            raw_token(
                header,
                r#"{"sub":"u-9","exp":1e308,"rights":["platform_configuration"]}"#,
            ),
        ),
        (
            "a week",
            raw_token(
                header,
                &format!(
                    r#"{{"sub":"u-9","exp":{},"rights":["platform_configuration"]}}"#,
                    now + 7 * 86_400
                ),
            ),
        ),
        (
            "iat ahead",
            raw_token(header, &claims(&format!(r#","iat":{}"#, now + 3_600))),
        ),
        (
            "crit",
            raw_token(r#"{"alg":"HS256","crit":["x-ext"],"x-ext":1}"#, &claims("")),
        ),
        (
            "rights twice",
            raw_token(
                header,
                &format!(
                    r#"{{"sub":"u-9","exp":{},"rights":[],"rights":["platform_configuration"]}}"#,
                    now + 600
                ),
            ),
        ),
    ];
    for (what, token) in refused {
        let reply = app
            .send(app.call("GET", "/api/v1/keys").bearer(&token))
            .await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text());
    }
    let fine = raw_token(header, &claims(&format!(r#","iat":{now}"#)));
    let reply = app
        .send(app.call("GET", "/api/v1/keys").bearer(&fine))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn catalog_deletions_racing_permission_edits_leave_no_key_with_a_deleted_entry() {
    let app = std::sync::Arc::new(App::start());
    let (key, secret) = app.create_key(json!({ "label": "Racer" })).await;
    let id = key["id"].as_str().unwrap().to_owned();
    for n in 0..25 {
        let (method, company) = (format!("race.m{n}"), format!("RACE{n}"));
        let label = json!({ "label": "Race", "group": "race" });
        let put = app
            .admin("PUT", &format!("/api/v1/methods/{method}"), Some(label))
            .await;
        assert_eq!(put.status, 201, "{}", put.text());
        app.register_company(&company, "Race").await;
        let edit = {
            let (app, path) = (app.clone(), format!("/api/v1/keys/{id}/permissions"));
            let body = json!({ "methods": [method], "companies": [company] });
            tokio::spawn(async move { app.admin("PUT", &path, Some(body)).await.status })
        };
        let delete = |path: String| {
            let app = app.clone();
            tokio::spawn(async move { app.admin("DELETE", &path, None).await.status })
        };
        let deletes = [
            delete(format!("/api/v1/methods/{method}")),
            delete(format!("/api/v1/companies/{company}")),
        ];
        let edited = edit.await.unwrap();
        assert!(edited == 200 || edited == 422, "round {n}: edit {edited}");
        for deleted in deletes {
            assert_eq!(deleted.await.unwrap(), 204, "round {n}");
        }
        let held = app
            .admin("GET", &format!("/api/v1/keys/{id}/permissions"), None)
            .await
            .json();
        assert!(
            !held["methods"]
                .to_string()
                .contains(&format!("\"{method}\"")),
            "round {n}: the key kept the deleted method: {held}"
        );
        assert!(
            !held["companies"]
                .to_string()
                .contains(&format!("\"{company}\"")),
            "round {n}: the key kept the deleted company: {held}"
        );
        let code = app.code(&secret, Some(&method), Some(&company)).await;
        assert_ne!(code, "VALID", "round {n}");
    }
}

#[tokio::test]
async fn a_company_id_that_a_url_cannot_name_is_refused() {
    let app = App::start();
    for id in ["%2E%2E", "%2E"] {
        let path = format!("/api/v1/companies/{id}");
        let body = json!({ "name": "Parent" });
        let reply = app.admin("PUT", &path, Some(body)).await;
        assert_eq!(reply.problem(422), "validation_failed", "{id}");
    }
    let listed = app.admin("GET", "/api/v1/companies", None).await.json();
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn a_replayed_leak_report_is_logged_as_a_replay_not_as_a_new_deactivation() {
    use crate::scanners::{Scanners, github_finding, github_report};
    let scanners = Scanners::start();
    let app = scanners.start_app(&[]);
    let (_, secret) = app.create_key(json!({ "label": "Replayed" })).await;
    let findings = json!([github_finding(
        &secret,
        "https://github.com/p/r/blob/main/.env"
    )]);
    for _ in 0..2 {
        assert_eq!(github_report(&app, &scanners, &findings).await.status, 200);
    }
    let logs = app.logs();
    assert_eq!(
        logs.matches(": deactivated").count(),
        1,
        "one deactivation: {logs}"
    );
    assert_eq!(logs.matches("already recorded").count(), 1, "{logs}");
}

#[tokio::test]
async fn a_keys_page_names_its_replaced_secrets_still_in_their_grace_period() {
    let app = App::start();
    let (key, _) = app.create_key(json!({ "label": "Graced" })).await;
    let path = format!("/api/v1/keys/{}", key["id"].as_str().unwrap());
    assert_eq!(
        app.admin("GET", &path, None).await.json()["grace_secrets"],
        json!([])
    );
    let regenerate = format!("{path}/regenerate");
    let day = json!({ "grace_period_seconds": 86_400 });
    let regenerated = app.admin("POST", &regenerate, Some(day)).await.json();
    let shown = app.admin("GET", &path, None).await.json();
    let graced = shown["grace_secrets"].as_array().unwrap();
    assert_eq!(graced.len(), 1, "{shown}");
    assert_eq!(graced[0]["hint"], key["hint"], "the replaced secret's hint");
    assert!(graced[0]["valid_until"].is_string());
    let new_secret = regenerated["key"].as_str().unwrap();
    assert!(!shown.to_string().contains(new_secret), "never a secret");
    // A regeneration without grace ends them all.
    app.admin("POST", &regenerate, None).await;
    assert_eq!(
        app.admin("GET", &path, None).await.json()["grace_secrets"],
        json!([])
    );
}

#[tokio::test]
async fn kv_proxy_is_reachable_only_through_service_chaining() {
    let app = App::start();
    for path in ["/increment", "/api/v1/increment"] {
        let reply = app
            .send(
                app.call("POST", path)
                    .header("content-type", "text/plain")
                    .body("1000 forged-counter\n"),
            )
            .await;
        assert_ne!(reply.status, 200, "{path}: {}", reply.text());
    }
    let (kv, _) = app.dump();
    assert!(
        !kv.contains_key("forged-counter"),
        "no client can write a counter"
    );
}
