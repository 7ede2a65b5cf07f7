//! `/verify`'s malformed requests, and problem details that never echo a key sent where a
//! name, an id or another type belongs.

use super::*;

#[tokio::test]
async fn verify_refuses_malformed_requests_but_answers_not_found_for_unknown_keys() {
    let mut world = World::new().await;
    let verify = "/api/v1/verify";
    let refused = vec![
        (
            Bad::new("POST", verify).raw(Some("application/json"), "{\"key\": "),
            400,
            INVALID,
        ),
        (
            Bad::new("POST", verify).raw(Some("text/plain"), "{\"key\": \"x\"}"),
            415,
            "unsupported_media_type",
        ),
        (
            Bad::new("POST", verify).raw(None, "{\"key\": \"x\"}"),
            415,
            "unsupported_media_type",
        ),
        (
            Bad::new("POST", verify).json(json!({ "key": "x", "scope": "all" })),
            400,
            INVALID,
        ),
    ];
    world.refuse_all(refused).await;

    let secret = &world.fx.secret;
    let last = secret.chars().last().unwrap();
    let wrong_checksum = format!(
        "{}{}",
        &secret[..secret.len() - 1],
        if last == 'a' { 'b' } else { 'a' }
    );
    let unknown_but_well_formed = NewSecret::from_random_bytes([42; 32]).expose().to_owned();
    for key in [
        "garbage".to_owned(),
        String::new(),
        "ingk_".to_owned(),
        wrong_checksum,
        unknown_but_well_formed,
        format!(" {secret}"),
        secret.to_ascii_lowercase(),
    ] {
        let reply = world
            .app
            .send(
                world
                    .app
                    .call("POST", verify)
                    .json(&json!({ "key": key, "method": "employees.read" })),
            )
            .await;

        assert_eq!(reply.status, 200, "{key:?}: {}", reply.text());
        assert_eq!(
            reply.json(),
            json!({ "valid": false, "code": "NOT_FOUND" }),
            "{key:?}"
        );
        assert!(
            world.app.dump() == world.before,
            "{key:?} changed the stores"
        );
    }
}

/// Bodies where a key sits in a field of the wrong type (or behind one).
fn bodies_with_a_misplaced_key(secret: &str) -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("POST", "/keys", json!({ "label": 5, "metadata": secret })),
        (
            "POST",
            "/keys",
            json!({ "label": "ok", "metadata": secret }),
        ),
        ("POST", "/keys", json!({ "label": "ok", "methods": secret })),
        (
            "POST",
            "/keys",
            json!({ "label": "ok", "companies": secret }),
        ),
        (
            "POST",
            "/keys",
            json!({ "label": "ok", "expires_at": [secret] }),
        ),
        (
            "POST",
            "/keys",
            json!({ "label": "ok", "expires_at": { "at": secret } }),
        ),
        ("POST", "/keys", json!({ "label": [secret] })),
        ("POST", "/keys", json!({ "label": { "text": secret } })),
        ("PATCH", "/keys/{id}", json!({ "metadata": secret })),
        ("PATCH", "/keys/{id}", json!({ "label": [secret] })),
        (
            "POST",
            "/keys/{id}/regenerate",
            json!({ "grace_period_seconds": secret }),
        ),
        (
            "PUT",
            "/keys/{id}/permissions",
            json!({ "methods": secret, "companies": "all" }),
        ),
        (
            "PUT",
            "/keys/{id}/permissions",
            json!({ "methods": [], "companies": secret }),
        ),
        (
            "PATCH",
            "/keys/{id}/permissions",
            json!({ "add_methods": secret }),
        ),
        (
            "PATCH",
            "/keys/{id}/permissions",
            json!({ "companies": { "only": secret } }),
        ),
        (
            "PUT",
            "/methods/{method}",
            json!({ "label": 5, "group": secret }),
        ),
        (
            "PUT",
            "/methods/{method}",
            json!({ "label": "x", "group": "e2e", "description": [secret] }),
        ),
        ("PUT", "/companies/{company}", json!({ "name": [secret] })),
        ("POST", "/verify", json!({ "key": [secret] })),
        ("POST", "/verify", json!({ "key": 5, "company": secret })),
        ("POST", "/verify", json!({ "key": { "value": secret } })),
    ]
}

/// Asserts no reply text holds the key or any key-like string.
fn assert_no_echo(secret: &str, texts: &[(String, String)]) {
    let leaks: Vec<String> = texts
        .iter()
        .filter(|(_, text)| shows_secret(text, secret))
        .map(|(what, text)| format!("{what}\n    → {text}"))
        .collect();
    assert!(
        leaks.is_empty(),
        "{} problem(s) echo the key:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

#[tokio::test]
async fn problem_details_never_echo_a_key_sent_in_a_wrong_typed_field() {
    let mut world = World::new().await;
    let secret = world.fx.secret.clone();
    let mut cases = Vec::new();
    let mut names = Vec::new();
    for (method, template, body) in bodies_with_a_misplaced_key(&secret) {
        names.push(format!("{method} {template} {body}"));
        let path = fill_path(template, &world.fx);
        cases.push((Bad::new(method, path).json(body), 400, INVALID));
    }

    let texts = world.refuse_all(cases).await;

    let seen: Vec<(String, String)> = names.into_iter().zip(texts).collect();
    assert_no_echo(&secret, &seen);
    assert!(
        !shows_secret(&world.app.logs(), &secret),
        "the logs hold the key"
    );
}

#[tokio::test]
async fn problem_details_never_echo_a_key_sent_in_place_of_a_name_or_an_id() {
    let world = World::new().await;
    let secret = world.fx.secret.clone();
    let requests: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/api/v1/keys".into(),
            Some(json!({ "label": "ok", secret.as_str(): 1 })),
        ),
        (
            "POST",
            "/api/v1/verify".into(),
            Some(json!({ "key": "x", secret.as_str(): 1 })),
        ),
        (
            "POST",
            "/api/v1/keys".into(),
            Some(json!({ "label": "ok", "methods": [secret] })),
        ),
        (
            "PUT",
            world.key("/permissions"),
            Some(json!({ "methods": [], "companies": [secret] })),
        ),
        ("GET", format!("/api/v1/keys/{secret}"), None),
        ("DELETE", format!("/api/v1/keys/{secret}"), None),
        ("GET", format!("/api/v1/keys/{secret}/permissions"), None),
        ("GET", format!("/api/v1/{secret}"), None),
        ("GET", format!("/api/v1/keys?{secret}=1"), None),
        ("DELETE", format!("/api/v1/methods/{secret}"), None),
    ];
    let mut seen = Vec::new();

    for (method, path, body) in requests {
        let mut call = world.app.call(method, &path).admin();
        if let Some(body) = &body {
            call = call.json(body);
        }
        let reply = world.app.send(call).await;

        let what = format!("{method} {path} {}", body.unwrap_or_default());
        assert!(
            (400..500).contains(&reply.status),
            "{what}: {}",
            reply.status
        );
        assert!(
            world.app.dump() == world.before,
            "{what} changed the stores"
        );
        seen.push((what, reply.text()));
    }

    assert_no_echo(&secret, &seen);
}
