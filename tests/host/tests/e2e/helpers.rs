//! Shared helpers of the end-to-end suite: an app running the real components in the test
//! host, identity tokens, and request shortcuts.

use keys_domain::identity::sign_token;
use keys_domain::time::Timestamp;
use serde_json::{Value, json};
use spin_test_host::{HostOptions, TestHost};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The identity-token secret the app runs with in these tests.
pub const TOKEN_SECRET: &str = "e2e-identity-token-secret";
/// The right needed by admin routes.
pub const RIGHT: &str = "platform_configuration";

/// The project's own spin.toml, after checking the components are built.
pub fn manifest() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for name in ["manage_keys", "manage_permissions", "verify_key"] {
        let wasm = root.join(format!("target/wasm32-wasip2/release/{name}.wasm"));
        assert!(
            wasm.exists(),
            "{} is missing: run scripts/build-components.sh",
            wasm.display()
        );
    }
    root.join("spin.toml")
}

/// A signed identity token with these claims merged over sane defaults.
pub fn token_with(claims: Value) -> String {
    let mut base = json!({
        "sub": "u-1001",
        "name": "Camille Martin",
        "exp": Timestamp::now().unix() + 600,
        "rights": [RIGHT],
    });
    for (k, v) in claims.as_object().expect("claims object") {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    sign_token(&base, TOKEN_SECRET)
}

/// A token of an administrator holding the right.
pub fn admin_token() -> String {
    token_with(json!({}))
}

/// An HTTP answer.
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (panics with the body text when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a problem response with this status and returns its `code`.
    pub fn problem(&self, status: u16) -> String {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let body = self.json();
        for field in ["type", "title", "detail", "code"] {
            assert!(body[field].is_string(), "problem without {field}: {body}");
        }
        assert_eq!(body["status"], status);
        body["code"].as_str().unwrap().to_owned()
    }
}

/// The app under test, with fresh stores.
pub struct App {
    pub host: TestHost,
}

/// A request about to be sent.
pub struct Call {
    builder: http::request::Builder,
    body: Vec<u8>,
}

impl Call {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    /// Sets a JSON body with its content type.
    pub fn json(mut self, body: &Value) -> Self {
        self.body = serde_json::to_vec(body).unwrap();
        self.header("content-type", "application/json")
    }

    /// Sets a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Adds the admin bearer token.
    pub fn admin(self) -> Self {
        let token = admin_token();
        self.bearer(&token)
    }

    /// Adds a bearer token.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
}

impl App {
    /// Starts the app with the identity secret set.
    pub fn start() -> App {
        Self::start_with(&[])
    }

    /// Starts the app with extra variables.
    pub fn start_with(variables: &[(&str, &str)]) -> App {
        let mut options =
            HostOptions::new(manifest()).variable("identity_token_secret", TOKEN_SECRET);
        for (name, value) in variables {
            options = options.variable(name, value);
        }
        App {
            host: TestHost::start(options).expect("the app starts"),
        }
    }

    /// Begins a request.
    pub fn call(&self, method: &str, path: &str) -> Call {
        Call {
            builder: http::Request::builder().method(method).uri(path),
            body: Vec::new(),
        }
    }

    /// Sends a request.
    pub async fn send(&self, call: Call) -> Reply {
        let request = call.builder.body(call.body).expect("valid request");
        let response = self.host.request(request).await.expect("the host answers");
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    /// Sends an admin request with an optional JSON body.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut call = self.call(method, path).admin();
        if let Some(body) = body {
            call = call.json(&body);
        }
        self.send(call).await
    }

    /// Creates a key and returns its object and its secret.
    pub async fn create_key(&self, body: Value) -> (Value, String) {
        let reply = self.admin("POST", "/api/v1/keys", Some(body)).await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        let object = reply.json();
        let secret = object["key"]
            .as_str()
            .expect("the secret is returned once")
            .to_owned();
        (object, secret)
    }

    /// Registers a company.
    pub async fn register_company(&self, id: &str, name: &str) {
        let reply = self
            .admin(
                "PUT",
                &format!("/api/v1/companies/{id}"),
                Some(json!({ "name": name })),
            )
            .await;
        assert!(
            reply.status == 201 || reply.status == 200,
            "{}",
            reply.text()
        );
    }

    /// Asks /verify and returns the JSON answer (asserting 200).
    pub async fn verify(&self, key: &str, method: Option<&str>, company: Option<&str>) -> Value {
        let reply = self
            .send(
                self.call("POST", "/api/v1/verify")
                    .json(&json!({ "key": key, "method": method, "company": company })),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    }

    /// The verify code for a key, method and company.
    pub async fn code(&self, key: &str, method: Option<&str>, company: Option<&str>) -> String {
        self.verify(key, method, company).await["code"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Both stores, for "nothing changed" assertions.
    pub fn dump(&self) -> (BTreeMap<String, Vec<u8>>, String) {
        (
            self.host.kv_dump("default").unwrap(),
            self.host.sqlite_dump("default").unwrap(),
        )
    }
}
