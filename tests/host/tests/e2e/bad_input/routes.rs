//! Bad routes and queries: unknown paths, wrong methods (405 with `Allow`), odd or unknown
//! query parameters.

use super::*;

#[tokio::test]
async fn unknown_routes_under_the_api_are_a_404_problem() {
    let mut world = World::new().await;
    let paths = [
        "/api/v1".to_owned(),
        "/api/v1/".to_owned(),
        "/api/v1/nope".to_owned(),
        "/api/v1/key".to_owned(),
        world.key("/nope"),
        world.key("/permissions/extra"),
        world.key("/events/extra"),
        "/api/v1/events/evt_x".to_owned(),
        "/api/v1/verification-records".to_owned(),
        "/api/v1/verification-records/rebuild/now".to_owned(),
        "/api/v1/methods/employees.read/keys".to_owned(),
        format!("/api/v1/companies/{}/keys", world.fx.company),
        "/api/v1/verify/extra".to_owned(),
        "/api/v1/openapi.yaml".to_owned(),
    ];
    let mut cases = Vec::new();
    for path in &paths {
        for method in ["GET", "POST"] {
            cases.push((Bad::new(method, path), 404, "not_found"));
        }
    }

    let texts = world.refuse_all(cases).await;

    for text in texts {
        assert!(text.contains("no route"), "{text}");
    }
}

/// The methods an `Allow` header names, HEAD aside (it goes with GET).
fn allowed(reply: &crate::helpers::Reply) -> BTreeSet<String> {
    reply
        .header("allow")
        .unwrap_or_default()
        .split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty() && m != "HEAD")
        .collect()
}

#[tokio::test]
async fn wrong_methods_are_a_405_with_an_allow_header() {
    let world = World::new().await;
    let method = format!("/api/v1/methods/{}", world.fx.method);
    let company = format!("/api/v1/companies/{}", world.fx.company);
    let cases = [
        ("PUT", "/api/v1/keys".to_owned(), "GET, POST"),
        ("DELETE", "/api/v1/keys".to_owned(), "GET, POST"),
        ("POST", world.key(""), "GET, PATCH, DELETE"),
        ("PUT", world.key(""), "GET, PATCH, DELETE"),
        ("GET", world.key("/regenerate"), "POST"),
        ("DELETE", world.key("/deactivate"), "POST"),
        ("PUT", world.key("/activate"), "POST"),
        ("POST", world.key("/events"), "GET"),
        ("DELETE", "/api/v1/events".to_owned(), "GET"),
        (
            "GET",
            "/api/v1/verification-records/rebuild".to_owned(),
            "POST",
        ),
        ("DELETE", world.key("/permissions"), "GET, PUT, PATCH"),
        ("POST", world.key("/permissions"), "GET, PUT, PATCH"),
        ("POST", "/api/v1/methods".to_owned(), "GET"),
        ("GET", method.clone(), "PUT, DELETE"),
        ("PATCH", method, "PUT, DELETE"),
        ("POST", "/api/v1/companies".to_owned(), "GET"),
        ("GET", company, "PUT, DELETE"),
        ("GET", "/api/v1/verify".to_owned(), "POST"),
        ("PUT", "/api/v1/authorize".to_owned(), "GET, POST"),
        ("POST", "/api/v1/openapi.json".to_owned(), "GET"),
    ];

    for (verb, path, allow) in cases {
        let reply = world.app.send(world.app.call(verb, &path).admin()).await;

        assert_eq!(reply.problem(405), "method_not_allowed", "{verb} {path}");
        let expected: BTreeSet<String> = allow.split(", ").map(str::to_owned).collect();
        assert_eq!(allowed(&reply), expected, "{verb} {path}");
        assert!(world.app.dump() == world.before, "{verb} {path}");
    }
}

#[tokio::test]
async fn odd_query_strings_on_lists_are_a_400() {
    let mut world = World::new().await;
    let long_q = "q".repeat(201);
    let pages = [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "limit=",
        "limit=1.5",
    ];
    let mut paths: Vec<String> = Vec::new();
    for list in ["/api/v1/keys", "/api/v1/events", &world.key("/events")] {
        for query in [
            "foo=1",
            "limit=5&limit=6",
            "cursor=1&cursor=2",
            "cursor=abc",
            "cursor=0",
            "cursor=-5",
            "cursor=+5",
            "cursor=05",
            "cursor=1000000000000000000",
            "cursor=",
            "=x",
        ]
        .iter()
        .chain(&pages)
        {
            paths.push(format!("{list}?{query}"));
        }
    }
    for query in [
        "status=maybe",
        "status=ACTIVE",
        "status=",
        "status=active&status=inactive",
        "q=a&q=b",
    ] {
        paths.push(format!("/api/v1/keys?{query}"));
    }
    paths.push(format!("/api/v1/keys?q={long_q}"));
    paths.push("/api/v1/events?status=active".into());
    for query in ["foo=1", "cursor=!!!", "q=a&q=b", "status=active"]
        .iter()
        .chain(&pages)
    {
        paths.push(format!("/api/v1/companies?{query}"));
    }
    paths.push(format!("/api/v1/companies?q={long_q}"));
    for query in ["limit=10", "q=x", "foo"] {
        paths.push(format!("/api/v1/methods?{query}"));
    }
    paths.push(world.key("?foo=1"));
    paths.push(world.key("/permissions?foo=1"));
    let cases = paths
        .into_iter()
        .map(|path| (Bad::new("GET", path), 400, INVALID))
        .collect();

    world.refuse_all(cases).await;
}

#[tokio::test]
async fn an_unknown_query_parameter_is_a_400_on_every_route_that_takes_none() {
    let mut world = World::new().await;
    let method = format!("/api/v1/methods/{}", world.fx.method);
    let company = format!("/api/v1/companies/{}", world.fx.company);
    // Deletions last, so that each case finds what it names.
    let requests: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/api/v1/keys".into(),
            Some(json!({ "label": "Query" })),
        ),
        ("PATCH", world.key(""), Some(json!({ "label": "Query" }))),
        ("POST", world.key("/regenerate"), None),
        ("POST", world.key("/deactivate"), None),
        ("POST", world.key("/activate"), None),
        ("POST", "/api/v1/verification-records/rebuild".into(), None),
        (
            "PUT",
            world.key("/permissions"),
            Some(json!({ "methods": ["employees.read"], "companies": "all" })),
        ),
        (
            "PATCH",
            world.key("/permissions"),
            Some(json!({ "add_methods": ["employees.read"] })),
        ),
        (
            "PUT",
            method.clone(),
            Some(json!({ "label": "Query", "group": "e2e" })),
        ),
        ("PUT", company.clone(), Some(json!({ "name": "Query" }))),
        (
            "POST",
            "/api/v1/verify".into(),
            Some(json!({ "key": world.fx.secret })),
        ),
        ("DELETE", method, None),
        ("DELETE", company, None),
        ("DELETE", world.key(""), None),
    ];
    let cases = requests
        .into_iter()
        .map(|(method, path, body)| {
            let path = format!("{path}?dry_run=1");
            let bad = match body {
                Some(body) => Bad::new(method, path).json(body),
                None => Bad::new(method, path),
            };
            (bad, 400, INVALID)
        })
        .collect();

    world.refuse_all(cases).await;
}
