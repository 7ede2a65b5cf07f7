//! Bad input on every route with a body or a query: each is a 4xx problem with a stable
//! `code` (never a 500), and the stores are exactly as they were.

use crate::helpers::{App, Fixtures, fill_path, shows_secret};
use keys_domain::key::NewSecret;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// A request that must be refused.
struct Bad {
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    /// Extra headers.
    headers: Vec<(&'static str, String)>,
}

impl Bad {
    fn new(method: &'static str, path: impl Into<String>) -> Self {
        Bad {
            method,
            path: path.into(),
            content_type: None,
            body: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A JSON body, sent as application/json.
    fn json(self, body: Value) -> Self {
        self.raw(Some("application/json"), serde_json::to_vec(&body).unwrap())
    }

    /// Any body with any content type.
    fn raw(mut self, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = content_type;
        self.body = body.into();
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let shown: String = body.chars().take(120).collect();
        format!(
            "{} {} [{:?}] {shown}",
            self.method, self.path, self.content_type
        )
    }
}

/// An app with a key, a company and a method, its schema migrated, and the stores as they
/// are then.
struct World {
    app: App,
    fx: Fixtures,
    before: (BTreeMap<String, Vec<u8>>, String),
}

impl World {
    async fn new() -> World {
        let app = App::start();
        let fx = app.fixtures("bad").await;
        // Warm-up: the schema is migrated and a listing works.
        assert_eq!(app.admin("GET", "/api/v1/keys", None).await.status, 200);
        let before = app.dump();
        World { app, fx, before }
    }

    fn key(&self, rest: &str) -> String {
        format!("/api/v1/keys/{}{rest}", self.fx.key_id)
    }

    /// Sends the request (with an admin token) and checks for a problem with this status and
    /// code, with the stores unchanged; returns the reply's text, or what went wrong.
    async fn check(&self, bad: Bad, status: u16, code: &str) -> Result<String, String> {
        let what = bad.describe();
        let mut call = self.app.call(bad.method, &bad.path).admin();
        if let Some(media) = bad.content_type {
            call = call.header("content-type", media);
        }
        for (name, value) in &bad.headers {
            call = call.header(name, value);
        }
        let before = self.app.dump();
        assert!(before == self.before, "the stores changed before {what}");

        let reply = self.app.send(call.body(bad.body)).await;

        let changed = self.app.dump() != before;
        let got_code = serde_json::from_slice::<Value>(&reply.body)
            .ok()
            .and_then(|b| b["code"].as_str().map(str::to_owned));
        let problem = reply.header("content-type") == Some("application/problem+json");
        if reply.status != status || got_code.as_deref() != Some(code) || !problem || changed {
            return Err(format!(
                "{what}\n    expected {status} {code}, got {} {}{}",
                reply.status,
                reply.text().chars().take(300).collect::<String>(),
                if changed {
                    " — and the stores changed"
                } else {
                    ""
                }
            ));
        }
        assert_eq!(reply.problem(status), code, "{what}");
        Ok(reply.text())
    }

    /// Checks every case (see [`World::check`]) and fails listing all that went wrong.
    /// Returns the texts of the replies.
    async fn refuse_all(&mut self, cases: Vec<(Bad, u16, &str)>) -> Vec<String> {
        let mut texts = Vec::new();
        let mut failures = Vec::new();
        for (bad, status, code) in cases {
            match self.check(bad, status, code).await {
                Ok(text) => texts.push(text),
                Err(failure) => {
                    failures.push(failure);
                    self.before = self.app.dump(); // judge the next case on its own
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} bad request(s) not refused as expected:\n{}",
            failures.len(),
            failures.join("\n")
        );
        texts
    }

    /// Like [`World::refuse_all`] for one case.
    async fn refuses(&mut self, bad: Bad, status: u16, code: &str) -> String {
        self.refuse_all(vec![(bad, status, code)]).await.remove(0)
    }

    /// Every route that takes a JSON body, with a body it accepts.
    fn body_routes(&self) -> Vec<(&'static str, String, Value)> {
        vec![
            ("POST", "/api/v1/keys".into(), json!({ "label": "New" })),
            ("PATCH", self.key(""), json!({ "label": "Renamed" })),
            (
                "POST",
                self.key("/regenerate"),
                json!({ "grace_period_seconds": 60 }),
            ),
            (
                "PUT",
                self.key("/permissions"),
                json!({ "methods": ["employees.read"], "companies": "all" }),
            ),
            (
                "PATCH",
                self.key("/permissions"),
                json!({ "add_methods": ["employees.read"] }),
            ),
            (
                "PUT",
                format!("/api/v1/methods/{}", self.fx.method),
                json!({ "label": "Renamed method", "group": "e2e" }),
            ),
            (
                "PUT",
                format!("/api/v1/companies/{}", self.fx.company),
                json!({ "name": "Renamed company" }),
            ),
            (
                "POST",
                "/api/v1/verify".into(),
                json!({ "key": self.fx.secret }),
            ),
        ]
    }
}

const INVALID: &str = "invalid_request";

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
