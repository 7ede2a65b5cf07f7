//! Bad bodies: malformed or mistyped JSON, unknown fields, refused content, sizes and media
//! types, bodies where none is taken, nesting beyond serde_json's limit.

use super::*;

#[tokio::test]
async fn malformed_json_is_a_400_on_every_route_with_a_body() {
    let mut world = World::new().await;
    let malformed: [&[u8]; 9] = [
        b"{",
        b"{\"label\": }",
        b"not json",
        b"{\"label\": \"x\",}",
        b"{'label': 'x'}",
        b"{\"label\": \"x\"} trailing",
        b"\xff\xfe{}",
        b"null",
        b"42",
    ];
    let mut cases = Vec::new();
    for (method, path, _) in world.body_routes() {
        for body in malformed {
            let bad = Bad::new(method, &path).raw(Some("application/json"), body);
            cases.push((bad, 400, INVALID));
        }
    }

    world.refuse_all(cases).await;
}

#[tokio::test]
async fn a_json_array_instead_of_an_object_is_a_400_on_every_route_with_a_body() {
    let mut world = World::new().await;
    let mut cases = Vec::new();
    for (method, path, good) in world.body_routes() {
        // The accepted body's values, in order, as an array: what a positional reading
        // of the fields would take.
        let values: Vec<Value> = good.as_object().unwrap().values().cloned().collect();
        for body in [json!([]), Value::Array(values)] {
            cases.push((Bad::new(method, &path).json(body), 400, INVALID));
        }
    }

    world.refuse_all(cases).await;
}

#[tokio::test]
async fn an_empty_body_is_a_400_where_a_body_is_required() {
    let mut world = World::new().await;
    let cases = world
        .body_routes()
        .into_iter()
        .filter(|(_, path, _)| !path.ends_with("/regenerate")) // its body is optional
        .map(|(method, path, _)| {
            let bad = Bad::new(method, path).raw(Some("application/json"), "");
            (bad, 400, INVALID)
        })
        .collect();

    world.refuse_all(cases).await;
}

#[tokio::test]
async fn wrong_types_and_missing_fields_are_a_400() {
    let mut world = World::new().await;
    let keys = "/api/v1/keys".to_owned();
    let method = format!("/api/v1/methods/{}", world.fx.method);
    let company = format!("/api/v1/companies/{}", world.fx.company);
    let verify = "/api/v1/verify".to_owned();
    let bodies: Vec<(&str, String, Value)> = vec![
        ("POST", keys.clone(), json!({})),
        ("POST", keys.clone(), json!({ "label": 5 })),
        ("POST", keys.clone(), json!({ "label": null })),
        ("POST", keys.clone(), json!({ "label": ["x"] })),
        (
            "POST",
            keys.clone(),
            json!({ "label": "ok", "methods": "x" }),
        ),
        (
            "POST",
            keys.clone(),
            json!({ "label": "ok", "methods": [5] }),
        ),
        (
            "POST",
            keys.clone(),
            json!({ "label": "ok", "methods": null }),
        ),
        (
            "POST",
            keys.clone(),
            json!({ "label": "ok", "companies": 3 }),
        ),
        (
            "POST",
            keys.clone(),
            json!({ "label": "ok", "companies": "some" }),
        ),
        (
            "POST",
            keys.clone(),
            json!({ "label": "ok", "companies": [5] }),
        ),
        (
            "POST",
            keys.clone(),
            json!({ "label": "ok", "companies": ["bad id!"] }),
        ),
        (
            "POST",
            keys.clone(),
            json!({ "label": "ok", "expires_at": 5 }),
        ),
        (
            "POST",
            keys.clone(),
            json!({ "label": "ok", "metadata": "x" }),
        ),
        (
            "POST",
            keys.clone(),
            json!({ "label": "ok", "metadata": [1] }),
        ),
        ("PATCH", world.key(""), json!({ "label": 5 })),
        ("PATCH", world.key(""), json!({ "label": null })),
        // A key's permissions change through /keys/{id}/permissions, not an edit.
        ("PATCH", world.key(""), json!({ "methods": [] })),
        ("PATCH", world.key(""), json!({ "companies": "all" })),
        ("PATCH", world.key(""), json!({ "expires_at": true })),
        ("PATCH", world.key(""), json!({ "metadata": "x" })),
        (
            "POST",
            world.key("/regenerate"),
            json!({ "grace_period_seconds": -1 }),
        ),
        (
            "POST",
            world.key("/regenerate"),
            json!({ "grace_period_seconds": "10" }),
        ),
        (
            "POST",
            world.key("/regenerate"),
            json!({ "grace_period_seconds": 1.5 }),
        ),
        (
            "POST",
            world.key("/regenerate"),
            json!({ "grace_period_seconds": null }),
        ),
        (
            "PUT",
            world.key("/permissions"),
            json!({ "methods": "x", "companies": "all" }),
        ),
        (
            "PUT",
            world.key("/permissions"),
            json!({ "methods": [], "companies": 3 }),
        ),
        (
            "PUT",
            world.key("/permissions"),
            json!({ "methods": [], "companies": null }),
        ),
        ("PUT", world.key("/permissions"), json!({ "methods": [] })),
        (
            "PUT",
            world.key("/permissions"),
            json!({ "companies": "all" }),
        ),
        (
            "PATCH",
            world.key("/permissions"),
            json!({ "add_methods": "x" }),
        ),
        (
            "PATCH",
            world.key("/permissions"),
            json!({ "remove_methods": [1] }),
        ),
        (
            "PATCH",
            world.key("/permissions"),
            json!({ "companies": 3 }),
        ),
        (
            "PATCH",
            world.key("/permissions"),
            json!({ "companies": null }),
        ),
        // `reason` is optional but never null (the document's `Reason` is a string).
        (
            "PATCH",
            world.key("/permissions"),
            json!({ "add_methods": [], "reason": null }),
        ),
        (
            "PUT",
            world.key("/permissions"),
            json!({ "methods": [], "companies": "all", "reason": null }),
        ),
        ("PUT", method.clone(), json!({ "label": 5, "group": "e2e" })),
        ("PUT", method.clone(), json!({ "label": "x" })),
        ("PUT", method.clone(), json!({ "label": "x", "group": 5 })),
        (
            "PUT",
            method.clone(),
            json!({ "label": { "fr": "x" }, "group": "e2e" }),
        ),
        (
            "PUT",
            method.clone(),
            json!({ "label": "x", "group": "e2e", "description": 5 }),
        ),
        ("PUT", company.clone(), json!({})),
        ("PUT", company.clone(), json!({ "name": 5 })),
        ("PUT", company.clone(), json!({ "name": null })),
        ("POST", verify.clone(), json!({})),
        ("POST", verify.clone(), json!({ "key": 5 })),
        ("POST", verify.clone(), json!({ "key": "x", "method": 5 })),
        ("POST", verify.clone(), json!({ "key": "x", "company": [] })),
    ];
    let cases = bodies
        .into_iter()
        .map(|(verb, path, body)| (Bad::new(verb, path).json(body), 400, INVALID))
        .collect();

    world.refuse_all(cases).await;
}

#[tokio::test]
async fn unknown_fields_are_a_400_on_every_route_with_a_body() {
    let mut world = World::new().await;
    let mut cases = Vec::new();
    for (method, path, good) in world.body_routes() {
        for extra in ["extra", "Label", "key", "status", "id"] {
            if good.get(extra).is_some() {
                continue;
            }
            let mut body = good.clone();
            body[extra] = json!("x");
            cases.push((Bad::new(method, &path).json(body), 400, INVALID));
        }
    }

    world.refuse_all(cases).await;
}

#[tokio::test]
async fn labels_that_are_empty_blank_too_long_or_key_like_are_a_422() {
    let mut world = World::new().await;
    let labels = [
        String::new(),
        "   ".into(),
        "\t\n".into(),
        "x".repeat(201),
        "é".repeat(201),
        "ingk_abc".into(),
        "  ingk_abc".into(),
        "line\nbreak".into(),
        "nul\u{0}byte".into(),
    ];
    let mut cases = Vec::new();
    for label in &labels {
        for (method, path) in [
            ("POST", "/api/v1/keys".to_owned()),
            ("PATCH", world.key("")),
        ] {
            let bad = Bad::new(method, &path).json(json!({ "label": label }));
            cases.push((bad, 422, "validation_failed"));
        }
    }

    world.refuse_all(cases).await;
}

#[tokio::test]
async fn refused_content_is_a_422_with_its_own_code() {
    let mut world = World::new().await;
    let keys = "/api/v1/keys".to_owned();
    let method = format!("/api/v1/methods/{}", world.fx.method);
    let company = format!("/api/v1/companies/{}", world.fx.company);
    let past = "2020-01-01T00:00:00Z";
    let big = json!({ "blob": "x".repeat(5000) });
    let label = |extra: Value| {
        let mut body = json!({ "label": "ok" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let bodies: Vec<(&str, String, Value, &str)> = vec![
        (
            "POST",
            keys.clone(),
            label(json!({ "methods": ["Bad Method"] })),
            "invalid_method",
        ),
        (
            "POST",
            keys.clone(),
            label(json!({ "methods": ["nope.read"] })),
            "unknown_method",
        ),
        (
            "POST",
            keys.clone(),
            label(json!({ "methods": ["nope.*"] })),
            "unknown_method",
        ),
        (
            "POST",
            keys.clone(),
            label(json!({ "companies": ["unregistered"] })),
            "unknown_company",
        ),
        (
            "POST",
            keys.clone(),
            label(json!({ "expires_at": past })),
            "validation_failed",
        ),
        (
            "POST",
            keys.clone(),
            label(json!({ "expires_at": "tomorrow" })),
            "validation_failed",
        ),
        (
            "POST",
            keys.clone(),
            label(json!({ "metadata": big })),
            "validation_failed",
        ),
        (
            "PATCH",
            world.key(""),
            json!({ "expires_at": past }),
            "validation_failed",
        ),
        (
            "PATCH",
            world.key(""),
            json!({ "metadata": big }),
            "validation_failed",
        ),
        (
            "POST",
            world.key("/regenerate"),
            json!({ "grace_period_seconds": 604_801 }),
            "validation_failed",
        ),
        (
            "POST",
            world.key("/regenerate"),
            json!({ "grace_period_seconds": 4_294_967_296_u64 }),
            "validation_failed",
        ),
        (
            "PUT",
            world.key("/permissions"),
            json!({ "methods": ["a..b"], "companies": "all" }),
            "invalid_method",
        ),
        (
            "PUT",
            world.key("/permissions"),
            json!({ "methods": [], "companies": ["unregistered"] }),
            "unknown_company",
        ),
        (
            "PATCH",
            world.key("/permissions"),
            json!({ "add_methods": ["nope.read"] }),
            "unknown_method",
        ),
        (
            "PATCH",
            world.key("/permissions"),
            json!({ "add_methods": ["employees.read"], "remove_methods": ["employees.read"] }),
            "validation_failed",
        ),
        (
            "PUT",
            "/api/v1/methods/Bad.Name".into(),
            json!({ "label": "x", "group": "e2e" }),
            "validation_failed",
        ),
        (
            "PUT",
            method.clone(),
            json!({ "label": " ", "group": "e2e" }),
            "validation_failed",
        ),
        (
            "PUT",
            method,
            json!({ "label": "x", "group": "Bad Group" }),
            "validation_failed",
        ),
        (
            "PUT",
            format!("/api/v1/companies/{}", "c".repeat(65)),
            json!({ "name": "x" }),
            "validation_failed",
        ),
        ("PUT", company, json!({ "name": "" }), "validation_failed"),
    ];
    let cases = bodies
        .into_iter()
        .map(|(verb, path, body, code)| (Bad::new(verb, path).json(body), 422, code))
        .collect();

    world.refuse_all(cases).await;
}

#[tokio::test]
async fn unknown_ids_are_a_404_on_every_route_that_names_one() {
    let mut world = World::new().await;
    let ghost = "/api/v1/keys/key_0000000000000000000000";
    let requests: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", ghost.into(), None),
        ("PATCH", ghost.into(), Some(json!({ "label": "x" }))),
        ("DELETE", ghost.into(), None),
        ("POST", format!("{ghost}/regenerate"), None),
        (
            "POST",
            format!("{ghost}/regenerate"),
            Some(json!({ "grace_period_seconds": 60 })),
        ),
        ("POST", format!("{ghost}/deactivate"), None),
        ("POST", format!("{ghost}/activate"), None),
        ("GET", format!("{ghost}/events"), None),
        ("GET", format!("{ghost}/permissions"), None),
        (
            "PUT",
            format!("{ghost}/permissions"),
            Some(json!({ "methods": [], "companies": "all" })),
        ),
        ("PATCH", format!("{ghost}/permissions"), Some(json!({}))),
        ("GET", "/api/v1/keys/not-even-an-id".into(), None),
        ("DELETE", "/api/v1/methods/nope.nope".into(), None),
        ("DELETE", "/api/v1/companies/nope".into(), None),
    ];
    let cases = requests
        .into_iter()
        .map(|(method, path, body)| {
            let bad = match body {
                Some(body) => Bad::new(method, path).json(body),
                None => Bad::new(method, path),
            };
            (bad, 404, "not_found")
        })
        .collect();

    world.refuse_all(cases).await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_a_413_on_every_route_with_a_body() {
    let mut world = World::new().await;
    let too_big = serde_json::to_vec(&json!({ "label": "x".repeat(64 * 1024) })).unwrap();
    assert!(too_big.len() > 64 * 1024);
    let mut cases = Vec::new();
    for (method, path, _) in world.body_routes() {
        let streamed = Bad::new(method, &path).raw(Some("application/json"), too_big.clone());
        let declared = Bad::new(method, &path)
            .raw(Some("application/json"), too_big.clone())
            .header("content-length", too_big.len().to_string());
        cases.push((streamed, 413, "payload_too_large"));
        cases.push((declared, 413, "payload_too_large"));
    }

    world.refuse_all(cases).await;
}

#[tokio::test]
async fn a_body_of_exactly_64_kib_is_read_and_judged_on_its_content() {
    let mut world = World::new().await;
    let mut body = serde_json::to_vec(&json!({ "label": "" })).unwrap();
    let padding = 64 * 1024 - body.len();
    body.splice(10..10, std::iter::repeat_n(b'x', padding));
    assert_eq!(body.len(), 64 * 1024);

    world
        .refuses(
            Bad::new("POST", "/api/v1/keys").raw(Some("application/json"), body),
            422,
            "validation_failed",
        )
        .await;
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_a_415_on_every_route_with_a_body() {
    let mut world = World::new().await;
    let media_types = [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
        Some("application/json-seq"),
        Some("multipart/form-data; boundary=x"),
        Some(""),
    ];
    let mut cases = Vec::new();
    for (method, path, good) in world.body_routes() {
        for media in media_types {
            let bad = Bad::new(method, &path).raw(media, serde_json::to_vec(&good).unwrap());
            cases.push((bad, 415, "unsupported_media_type"));
        }
    }

    world.refuse_all(cases).await;
}

#[tokio::test]
async fn routes_without_a_body_refuse_one() {
    let mut world = World::new().await;
    let paths = [
        ("POST", world.key("/deactivate")),
        ("POST", world.key("/activate")),
        ("DELETE", world.key("")),
        ("POST", "/api/v1/verification-records/rebuild".to_owned()),
        ("DELETE", format!("/api/v1/methods/{}", world.fx.method)),
        ("DELETE", format!("/api/v1/companies/{}", world.fx.company)),
    ];
    // White space alone is not JSON, hence not `{}`: only no byte at all is no body.
    let bodies: [&[u8]; 3] = [br#"{"confirm":true}"#, b" ", b"\x0c\n"];
    let cases = paths
        .into_iter()
        .chain([("POST", world.key("/regenerate"))])
        .flat_map(|(method, path)| {
            bodies.map(|body| {
                let bad = Bad::new(method, &path).raw(Some("application/json"), body);
                (bad, 400, INVALID)
            })
        })
        .collect();

    world.refuse_all(cases).await;
}

#[tokio::test]
async fn routes_without_a_body_accept_an_empty_json_object() {
    let world = World::new().await;
    let calls = [
        ("POST", world.key("/deactivate"), 200),
        ("POST", world.key("/activate"), 200),
        (
            "POST",
            "/api/v1/verification-records/rebuild".to_owned(),
            200,
        ),
        (
            "DELETE",
            format!("/api/v1/methods/{}", world.fx.method),
            204,
        ),
        (
            "DELETE",
            format!("/api/v1/companies/{}", world.fx.company),
            204,
        ),
        ("DELETE", world.key(""), 204),
    ];
    for (method, path, status) in calls {
        let call = world.app.call(method, &path).admin().json(&json!({}));
        let reply = world.app.send(call).await;
        assert_eq!(
            reply.status,
            status,
            "{method} {path} with {{}}: {}",
            reply.text()
        );
    }
    let gone = world.app.admin("GET", &world.key(""), None).await;
    assert_eq!(gone.problem(404), "not_found");
}

#[tokio::test]
async fn deeply_nested_json_is_read_to_serde_json_s_limit_and_refused_beyond_without_a_trap() {
    // The components run on a 128 KiB stack (.cargo/config.toml): JSON nesting must stay
    // within it. 120 levels of metadata are accepted; far deeper bodies are a 400.
    let app = App::start();
    let nested = |depth: usize| format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    let ok = app
        .send(
            app.call("POST", "/api/v1/keys")
                .admin()
                .header("content-type", "application/json")
                .body(format!(r#"{{"label":"Deep","metadata":{}}}"#, nested(120))),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text());
    let secret = ok.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(app.code(&secret, None, None).await, "VALID");
    let before = app.dump();
    for (method, path) in [("POST", "/api/v1/keys"), ("POST", "/api/v1/verify")] {
        let deep = app
            .send(
                app.call(method, path)
                    .admin()
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"label":{}}}"#, nested(5_000))),
            )
            .await;
        assert_eq!(deep.problem(400), "invalid_request", "{path}");
    }
    assert_eq!(app.dump(), before);
}
