//! Bad input on every route with a body or a query: each is a 4xx problem with a stable
//! `code` (never a 500), and the stores are exactly as they were. The shared request and
//! world are here; the tests are in `bodies`, `routes` and `echo`.

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

mod bodies;
mod echo;
mod routes;
