//! Shared helpers of the end-to-end suite: the app running the real components on `spin up`
//! or in the test host, identity tokens, and request shortcuts.

use base64ct::{Base64, Encoding};
use keys_domain::identity::sign_token;
use keys_domain::time::Timestamp;
use serde_json::{Value, json};
use spin_test_host::spin_cli::{SpinApp, SpinOptions};
use spin_test_host::{HostOptions, TestHost};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The identity-token secret the app runs with in these tests.
pub const TOKEN_SECRET: &str = "e2e-identity-token-secret";
/// The right needed by admin routes.
pub const RIGHT: &str = "platform_configuration";
/// A token introspection client for apps that list one: the variable and its `id:secret`.
pub const INTROSPECTION_CLIENT: (&str, &str) =
    ("introspection_clients", "gateway:e2e-introspection-s3cret");

/// The `Authorization` value of HTTP Basic for `id:secret` (RFC 7617).
pub fn basic(credentials: &str) -> String {
    format!("Basic {}", Base64::encode_string(credentials.as_bytes()))
}

/// How often [`eventually`] probes again.
const EVENTUALLY_POLL: Duration = Duration::from_millis(50);

/// Runs `probe` until it gives `Ok`, for at most `timeout`: its value and how long that took.
/// Past `timeout`, fails naming `what` and the last `Err` (what was seen instead).
pub async fn eventually<T, Fut>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Fut,
) -> (T, Duration)
where
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let seen = match probe().await {
            Ok(value) => return (value, start.elapsed()),
            Err(seen) => seen,
        };
        assert!(
            start.elapsed() < timeout,
            "{what}: not within {timeout:?}; last seen: {seen}"
        );
        tokio::time::sleep(EVENTUALLY_POLL).await;
    }
}

/// The project's own spin.toml, after checking the components are built.
pub fn manifest() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for name in [
        "manage_keys",
        "manage_permissions",
        "verify_key",
        "kv_proxy",
        "rebuild_records",
        "secret_scanning",
        "admin_ui",
    ] {
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

/// The webhook settings every app of the suite runs with unless a test sets its own: the
/// sealing key (32 bytes, standard base64), an origin where nothing listens (the discard
/// port: every attempt is refused at once) and the scheduler's dispatch token.
pub const WEBHOOK_DEFAULTS: [(&str, &str); 3] = [
    (
        "webhook_encryption_key",
        "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=",
    ),
    ("webhook_origin", "http://127.0.0.1:9"),
    ("webhook_dispatch_token", DISPATCH_TOKEN),
];
/// The scheduler's dispatch token of the suite (`webhook_dispatch_token`).
pub const DISPATCH_TOKEN: &str = "e2e-dispatch-token";

/// `options` with the identity secret, the webhook defaults a test does not set, and then
/// `variables` set through `set`.
fn with_variables<O>(options: O, variables: &[(&str, &str)], set: fn(O, &str, &str) -> O) -> O {
    let secret = [("identity_token_secret", TOKEN_SECRET)];
    let defaults = WEBHOOK_DEFAULTS
        .iter()
        .filter(|(name, _)| !variables.iter().any(|(n, _)| n == name));
    secret
        .iter()
        .chain(defaults)
        .chain(variables)
        .fold(options, |options, (name, value)| set(options, name, value))
}

/// The options of `spin up` for the app, with the identity secret and `variables` set.
fn spin_options(variables: &[(&str, &str)]) -> SpinOptions {
    with_variables(
        SpinOptions::new(manifest()),
        variables,
        SpinOptions::variable,
    )
}

/// Environment variable choosing where [`App::start`] runs the app: `spin` (the default:
/// `spin up`, the Spin CLI on `PATH` or `$SPIN_BIN`) or `host` (the in-process test host).
pub const TARGET_VAR: &str = "E2E_TARGET";

/// Where the app runs.
pub enum Target {
    /// The real Spin CLI.
    Spin(SpinApp),
    /// The in-process test host (fault injection, call counters).
    Host(TestHost),
}

/// The app under test, with fresh stores.
pub struct App {
    pub target: Target,
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
    /// Starts the app with the identity secret set, on the target [`TARGET_VAR`] names.
    pub fn start() -> App {
        Self::start_with(&[])
    }

    /// Starts the app with extra variables, on the target [`TARGET_VAR`] names.
    pub fn start_with(variables: &[(&str, &str)]) -> App {
        match std::env::var(TARGET_VAR).as_deref() {
            Ok("host") => Self::start_test_host_with(variables),
            Ok("spin") | Err(_) => Self::start_spin_with(variables),
            Ok(other) => panic!("{TARGET_VAR}={other}: expected `spin` or `host`"),
        }
    }

    /// Starts the app on `spin up`.
    pub fn start_spin_with(variables: &[(&str, &str)]) -> App {
        Self::on_spin(spin_options(variables))
    }

    /// Starts some components of the app on `spin up` (selective deployment) with a runtime
    /// config: one node of a multi-node deployment.
    pub fn start_node(
        components: &[&str],
        runtime_config: &Path,
        variables: &[(&str, &str)],
    ) -> App {
        Self::start_node_in(components, runtime_config, variables, &[])
    }

    /// [`App::start_node`] with environment variables for the `spin` process.
    pub fn start_node_in(
        components: &[&str],
        runtime_config: &Path,
        variables: &[(&str, &str)],
        environment: &[(&str, &str)],
    ) -> App {
        let mut options = spin_options(variables);
        options.components = components.iter().map(|c| c.to_string()).collect();
        options.runtime_config = Some(runtime_config.to_path_buf());
        options.environment = environment
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::on_spin(options)
    }

    /// Runs `spin up` with `options`; blocks until Spin answers (nothing else runs on the
    /// test's runtime yet).
    fn on_spin(options: SpinOptions) -> App {
        App {
            target: Target::Spin(SpinApp::start(options).expect("spin up serves the app")),
        }
    }

    /// Starts the app in the test host, for tests that inject faults or count store calls.
    pub fn start_test_host() -> App {
        Self::start_test_host_with(&[])
    }

    /// Starts the app in the test host with extra variables.
    pub fn start_test_host_with(variables: &[(&str, &str)]) -> App {
        let options = with_variables(
            HostOptions::new(manifest()),
            variables,
            HostOptions::variable,
        );
        App {
            target: Target::Host(TestHost::start(options).expect("the app starts")),
        }
    }

    /// The test host running the app (for faults and counters); panics on Spin.
    pub fn test_host(&self) -> &TestHost {
        match &self.target {
            Target::Host(host) => host,
            Target::Spin(_) => panic!("this test needs the test host: use App::start_test_host"),
        }
    }

    /// The Spin server running the app; panics on the test host.
    pub fn spin(&self) -> &SpinApp {
        match &self.target {
            Target::Spin(spin) => spin,
            Target::Host(_) => panic!("this test needs real Spin: use App::start_spin_with"),
        }
    }

    /// Everything the components wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        match &self.target {
            Target::Spin(spin) => spin.logs(),
            Target::Host(host) => host.logs(),
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
        let response = match &self.target {
            Target::Spin(spin) => spin.request(request).await,
            Target::Host(host) => host.request(request).await,
        }
        .expect("the app answers");
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
        match &self.target {
            Target::Spin(spin) => (
                spin.kv_dump("default").unwrap(),
                spin.sqlite_dump("default").unwrap(),
            ),
            Target::Host(host) => (
                host.kv_dump("default").unwrap(),
                host.sqlite_dump("default").unwrap(),
            ),
        }
    }
}

// --- Shared by the identity, bad-input, OpenAPI and secrets modules. ---

/// The OpenAPI document of the repository (`docs/openapi.json`).
pub fn openapi_document() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("docs/openapi.json is JSON")
}

/// The HTTP methods the suite checks routes for.
pub const HTTP_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Documented paths that need no identity token (the secret-scanning ones are signed by the
/// scanners instead).
pub const PUBLIC_PATHS: [&str; 9] = [
    "/leaks",
    "/webhooks/dispatch",
    "/verify",
    "/authorize",
    "/introspect",
    "/openapi.json",
    "/health",
    "/secret-scanning/github",
    "/secret-scanning/gitlab",
];

/// One documented operation: upper-case method and path template under `/api/v1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Operation {
    /// `GET`, `POST`, ...
    pub method: String,
    /// E.g. `/keys/{id}/permissions`.
    pub template: String,
}

impl Operation {
    /// Whether the operation is an admin route (it needs an identity token).
    pub fn is_admin(&self) -> bool {
        !PUBLIC_PATHS.contains(&self.template.as_str())
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.template)
    }
}

/// Every operation of an OpenAPI document, in document order.
pub fn documented_operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            let upper = method.to_ascii_uppercase();
            if HTTP_METHODS.contains(&upper.as_str()) || upper == "HEAD" || upper == "OPTIONS" {
                out.push(Operation {
                    method: upper,
                    template: template.clone(),
                });
            }
        }
    }
    out
}

/// Every admin operation of the repository's document.
pub fn admin_operations() -> Vec<Operation> {
    documented_operations(&openapi_document())
        .into_iter()
        .filter(Operation::is_admin)
        .collect()
}

/// Real things to put in path parameters: a key and its secret, a registered company, a
/// method of the catalog, a webhook endpoint and one of its messages.
pub struct Fixtures {
    /// A key's id.
    pub key_id: String,
    /// That key's secret.
    pub secret: String,
    /// A registered company id.
    pub company: String,
    /// A method name in the catalog.
    pub method: String,
    /// A webhook endpoint's id (disabled: the fixtures make no background work).
    pub webhook_id: String,
    /// The id of a message of that endpoint (its test message).
    pub message_id: String,
}

/// A request an operation accepts: the path with real ids, a valid body, extra headers.
pub struct Sample {
    /// HTTP method.
    pub method: String,
    /// Absolute path, e.g. `/api/v1/keys/key_…`.
    pub path: String,
    /// JSON body, if the operation takes one.
    pub body: Option<Value>,
    /// Form body (`application/x-www-form-urlencoded`), if the operation takes one instead.
    pub form: Option<String>,
    /// Extra request headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Sample {
    /// The request, without any identity token.
    pub fn call(&self, app: &App) -> Call {
        let mut call = app.call(&self.method, &self.path);
        if let Some(body) = &self.body {
            call = call.json(body);
        }
        if let Some(form) = &self.form {
            call = call
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone());
        }
        for (name, value) in &self.headers {
            call = call.header(name, value);
        }
        call
    }
}

/// The absolute path of a template with `{id}`, `{method}` and `{company}` filled in.
pub fn fill_path(template: &str, fx: &Fixtures) -> String {
    let path = template
        .replace("{id}", &fx.key_id)
        .replace("{method}", &fx.method)
        .replace("{company}", &fx.company)
        .replace("{webhook_id}", &fx.webhook_id)
        .replace("{message_id}", &fx.message_id);
    assert!(!path.contains('{'), "unknown path parameter in {template}");
    format!("/api/v1{path}")
}

/// A request the operation accepts (a 2xx with an admin token), on these fixtures.
pub fn sample_request(op: &Operation, fx: &Fixtures) -> Sample {
    let body = match (op.method.as_str(), op.template.as_str()) {
        ("POST", "/keys") => Some(json!({ "label": "Sample key" })),
        ("PATCH", "/keys/{id}") => Some(json!({ "label": "Sample key renamed" })),
        ("POST", "/keys/{id}/regenerate") => Some(json!({ "grace_period_seconds": 60 })),
        ("PUT", "/keys/{id}/permissions") => {
            Some(json!({ "methods": [fx.method], "companies": [fx.company] }))
        }
        ("PATCH", "/keys/{id}/permissions") => Some(json!({ "add_methods": ["employees.read"] })),
        ("PUT", "/methods/{method}") => Some(json!({ "label": "Sample method", "group": "e2e" })),
        ("PUT", "/companies/{company}") => Some(json!({ "name": "Sample company" })),
        ("POST", "/verify") => Some(json!({ "key": fx.secret })),
        ("POST", "/leaks") => Some(json!({ "keys": [fx.secret] })),
        ("POST", "/keys/{id}/access-review/simulate") => {
            Some(json!({ "methods": [fx.method], "companies": "all" }))
        }
        ("POST", "/webhooks") => {
            Some(json!({ "url": "http://127.0.0.1:9/sample", "events": ["key.unused"] }))
        }
        ("PATCH", "/webhooks/{webhook_id}") => Some(json!({ "description": "Renamed" })),
        _ => None,
    };
    let headers = match op.template.as_str() {
        "/webhooks/dispatch" => vec![("authorization", format!("Bearer {DISPATCH_TOKEN}"))],
        "/authorize" => vec![("x-api-key", fx.secret.clone())],
        "/introspect" => vec![("authorization", basic(INTROSPECTION_CLIENT.1))],
        _ => Vec::new(),
    };
    let form = match op.template.as_str() {
        "/introspect" => Some(format!("token={}", fx.secret)),
        _ => None,
    };
    Sample {
        method: op.method.clone(),
        path: fill_path(&op.template, fx),
        body,
        form,
        headers,
    }
}

impl App {
    /// Creates fixtures named after `tag` (lower-case letters and digits) as the default admin.
    pub async fn fixtures(&self, tag: &str) -> Fixtures {
        self.fixtures_as(tag, &admin_token()).await
    }

    /// Creates fixtures named after `tag` with this identity token: a key granting every
    /// method and company (so `/authorize` admits it without naming them), the company
    /// `acme-<tag>` and the catalog method `e2e.<tag>`.
    pub async fn fixtures_as(&self, tag: &str, token: &str) -> Fixtures {
        let created = self
            .send(
                self.call("POST", "/api/v1/keys")
                    .bearer(token)
                    .json(&json!({ "label": format!("Fixture {tag}"), "methods": ["*"] })),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
        let key = created.json();
        let company = format!("acme-{tag}");
        let registered = self
            .send(
                self.call("PUT", &format!("/api/v1/companies/{company}"))
                    .bearer(token)
                    .json(&json!({ "name": format!("Acme {tag}") })),
            )
            .await;
        assert_eq!(registered.status, 201, "{}", registered.text());
        let method = format!("e2e.{tag}");
        let added = self
            .send(
                self.call("PUT", &format!("/api/v1/methods/{method}"))
                    .bearer(token)
                    .json(&json!({ "label": format!("Probe {tag}"), "group": "e2e" })),
            )
            .await;
        assert_eq!(added.status, 201, "{}", added.text());
        let webhook = self
            .send(
                self.call("POST", "/api/v1/webhooks")
                    .bearer(token)
                    .json(&json!({
                        "url": format!("http://127.0.0.1:9/fixture-{tag}"),
                        "events": ["key.unused"],
                        "enabled": false,
                    })),
            )
            .await;
        assert_eq!(webhook.status, 201, "{}", webhook.text());
        let webhook_id = webhook.json()["id"].as_str().unwrap().to_owned();
        let test = self
            .send(
                self.call("POST", &format!("/api/v1/webhooks/{webhook_id}/test"))
                    .bearer(token),
            )
            .await;
        assert_eq!(test.status, 200, "{}", test.text());
        Fixtures {
            key_id: key["id"].as_str().unwrap().to_owned(),
            secret: key["key"].as_str().unwrap().to_owned(),
            company,
            method,
            webhook_id,
            message_id: test.json()["id"].as_str().unwrap().to_owned(),
        }
    }
}

/// Every substring of `text` shaped like a key (`\bingk_[0-9A-Za-z]{49}\b`).
pub fn key_like_strings(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("ingk_").map(|i| i + from) {
        let body_start = at + "ingk_".len();
        let body_end = body_start + 49;
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        if body_end <= bytes.len()
            && bytes[body_start..body_end]
                .iter()
                .all(u8::is_ascii_alphanumeric)
            && (at == 0 || !word(bytes[at - 1]))
            && (body_end == bytes.len() || !word(bytes[body_end]))
        {
            found.push(text[at..body_end].to_owned());
        }
        from = body_start;
    }
    found
}

/// Whether `text` shows `secret`, whole or in part: a key-like string, or the first or last
/// 16 characters of its random part.
pub fn shows_secret(text: &str, secret: &str) -> bool {
    let random = &secret["ingk_".len()..];
    !key_like_strings(text).is_empty()
        || text.contains(&random[..16])
        || text.contains(&random[random.len() - 16..])
}
