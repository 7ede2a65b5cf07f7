//! The app on `spin up` for one group of scenarios: the repository's spin.toml with absolute
//! component paths plus the two fixtures at their own routes, served by one `spin up`
//! (through a runtime config on a `redis-server` of its own for the Redis store, beside an
//! identity provider of its own when the group needs one); the keys the scenarios carry, made
//! through the admin API (on `spin up` or in the test host); and a check that each scenario is
//! answered as it should be before it is measured.

use crate::identity::{IDENTITY_SECRET, IDENTITY_SECRET_VARIABLE, Provider, admin_token};
use crate::scenarios::{
    CALLER_IP, COMPANY, Config, Keys, KvBackend, LISTED_VERIFICATIONS, METHOD, Rendered, Scenario,
    Store,
};
use crate::store::SyntheticKey;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use spin_test_host::TestHost;
use spin_test_host::manifest::Manifest;
use spin_test_host::redis_server::RedisServer;
use spin_test_host::spin_cli::{SpinApp, SpinOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The app's manifest, relative to the repository root.
pub const APP_MANIFEST: &str = "spin.toml";
/// Where the release `.wasm` files are, relative to the repository root.
pub const WASM_DIR: &str = "target/wasm32-wasip2/release";
/// How `source` lines start in a manifest.
const SOURCE_PREFIX: &str = "source = \"";
/// The admin API.
const API: &str = "/api/v1";

/// A running `spin up` (stopped before its Redis and its identity provider when dropped:
/// fields drop in order).
pub struct Running {
    /// The app.
    pub app: SpinApp,
    /// The Redis behind Spin's `default` store, for [`Store::Redis`].
    pub redis: Option<RedisServer>,
    /// The identity provider, for a configuration with one.
    pub provider: Option<Provider>,
}

/// The manifest `spin up` serves: `app` (the text of the repository's spin.toml) with every
/// relative `source` made absolute under `root`, plus the no-op fixture at `/bench/noop` and
/// the one-read fixture at `/bench/one-read`.
pub fn bench_manifest(app: &str, root: &Path) -> String {
    let mut out = String::with_capacity(app.len() + 1024);
    for line in app.lines() {
        match line.strip_prefix(SOURCE_PREFIX) {
            Some(path) if !path.starts_with('/') => {
                out.push_str(&format!("{SOURCE_PREFIX}{}/{path}", root.display()));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    let wasm = root.join(WASM_DIR);
    out.push_str(&format!(
        r#"
# --- Benchmark fixtures (tests/bench): the floor of every measure, in the same `spin up`.
[[trigger.http]]
route = "/bench/noop"
component = "bench-noop"

[component.bench-noop]
description = "Answers 204 and nothing else (tests/fixtures/baseline)."
source = "{noop}"
allowed_outbound_hosts = []

[[trigger.http]]
route = "/bench/one-read"
component = "bench-one-read"

[component.bench-one-read]
description = "Reads one key-value entry and answers 200 (tests/fixtures/one-read)."
source = "{one_read}"
allowed_outbound_hosts = []
key_value_stores = ["default"]
"#,
        noop = wasm.join("baseline.wasm").display(),
        one_read = wasm.join("one_read.wasm").display(),
    ));
    out
}

/// Where verify-key's component comes from in the app's manifest.
const VERIFY_KEY_WASM: &str = "verify_key.wasm";

/// `manifest` (a benchmark manifest of `root`) with verify-key's `.wasm` taken from `base`,
/// another build's directory of `.wasm` files: the `--base` app.
pub fn base_manifest(manifest: &str, root: &Path, base: &Path) -> String {
    let ours = format!(
        "{SOURCE_PREFIX}{}\"",
        root.join(WASM_DIR).join(VERIFY_KEY_WASM).display()
    );
    let theirs = format!("{SOURCE_PREFIX}{}\"", base.join(VERIFY_KEY_WASM).display());
    manifest.replace(&ours, &theirs)
}

/// Writes the benchmark manifest into `dir` (with `base`, the `--base` app's: verify-key from
/// that directory) and checks it: it parses, and every component it runs is built. Returns
/// its path and the application variables it declares.
pub fn write_manifest(
    root: &Path,
    dir: &Path,
    base: Option<&Path>,
) -> anyhow::Result<(PathBuf, Vec<String>)> {
    let app_path = root.join(APP_MANIFEST);
    let app = std::fs::read_to_string(&app_path)
        .with_context(|| format!("cannot read {}", app_path.display()))?;
    let mut text = bench_manifest(&app, root);
    if let Some(base) = base {
        text = base_manifest(&text, root, base);
    }
    let path = dir.join(APP_MANIFEST);
    std::fs::write(&path, text)?;
    let manifest = Manifest::load(&path)?;
    let missing: Vec<String> = manifest
        .components
        .values()
        .filter(|c| !c.source.exists())
        .map(|c| c.source.display().to_string())
        .collect();
    if !missing.is_empty() {
        bail!(
            "not built (run scripts/build-components.sh): {}",
            missing.join(", ")
        );
    }
    Ok((path, manifest.variables.into_keys().collect()))
}

/// The fixtures' component ids, served beside a selective deployment's components.
pub const FIXTURE_COMPONENTS: &[&str] = &["bench-noop", "bench-one-read"];

/// What requests are sent to: `spin up`, or the test host in process.
pub trait Server {
    /// Sends one request and collects the answer.
    fn send_request(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = anyhow::Result<http::Response<Vec<u8>>>>;
}

impl Server for SpinApp {
    fn send_request(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = anyhow::Result<http::Response<Vec<u8>>>> {
        self.request(request)
    }
}

impl Server for TestHost {
    fn send_request(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = anyhow::Result<http::Response<Vec<u8>>>> {
        self.request(request)
    }
}

/// The `spin up` arguments and variables of `config`, beyond the identity secret: its
/// components with the fixtures, its variables, and those naming `provider` and, for
/// `kv_backend = redis`, `redis`.
pub fn spin_options(
    mut options: SpinOptions,
    config: &Config,
    redis: Option<&RedisServer>,
    provider: Option<&Provider>,
) -> anyhow::Result<SpinOptions> {
    for (name, value) in config.variables {
        options = options.variable(name, value);
    }
    if let Some(provider) = provider {
        for (name, value) in provider.variables() {
            options = options.variable(name, &value);
        }
    }
    if config.kv_backend == KvBackend::Redis {
        let redis = redis.context("kv_backend = redis needs the Redis store (--store redis)")?;
        options = options
            .variable(KV_BACKEND_VARIABLE, KV_BACKEND_REDIS)
            .variable(REDIS_HOST_VARIABLE, &redis.host());
    }
    if !config.components.is_empty() {
        options.components = config
            .components
            .iter()
            .chain(FIXTURE_COMPONENTS)
            .map(|c| c.to_string())
            .collect();
    }
    options.args = config.spin_args.iter().map(|a| a.to_string()).collect();
    Ok(options)
}

/// The variable choosing how verify-key reaches the records (one of
/// [`crate::scenarios::DIRECT_REDIS_VARIABLES`]).
const KV_BACKEND_VARIABLE: &str = "kv_backend";
/// Its value for Redis, reached directly.
const KV_BACKEND_REDIS: &str = "redis";
/// The variable naming the Redis of `kv_backend = redis` (the other).
const REDIS_HOST_VARIABLE: &str = "redis_host";

/// Starts `spin up` on `manifest` with `config`, its `default` store on `store` (a runtime
/// config in `dir` for Redis), with an identity provider of its own when `config` has one.
pub fn start(
    manifest: &Path,
    spin: &Path,
    store: Store,
    config: &Config,
    dir: &Path,
) -> anyhow::Result<Running> {
    let mut options = SpinOptions::new(manifest)
        .binary(spin)
        .variable(IDENTITY_SECRET_VARIABLE, IDENTITY_SECRET);
    let redis = match store {
        Store::Spin => None,
        Store::Redis => {
            let redis = RedisServer::start()?;
            let runtime_config = dir.join("runtime-config.toml");
            std::fs::write(
                &runtime_config,
                format!(
                    "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                    redis.url()
                ),
            )?;
            options.runtime_config = Some(runtime_config);
            Some(redis)
        }
    };
    let provider = match config.provider {
        true => Some(Provider::start()?),
        false => None,
    };
    let options = spin_options(options, config, redis.as_ref(), provider.as_ref())?;
    let app = SpinApp::start(options)?;
    Ok(Running {
        app,
        redis,
        provider,
    })
}

/// The HTTP request `method path` with `headers` and `body`.
fn build(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> anyhow::Result<http::Request<Vec<u8>>> {
    let mut request = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    Ok(request.body(body.as_bytes().to_vec())?)
}

/// The HTTP request of `rendered`.
pub fn http_request(rendered: &Rendered) -> anyhow::Result<http::Request<Vec<u8>>> {
    build(
        rendered.method,
        &rendered.path,
        &rendered.headers,
        &rendered.body,
    )
}

/// Sends one request and collects the answer.
async fn send<S: Server>(
    server: &S,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> anyhow::Result<http::Response<Vec<u8>>> {
    server
        .send_request(build(method, path, headers, body)?)
        .await
        .with_context(|| format!("{method} {path}"))
}

/// One admin call with a JSON body (none for `null`); its JSON answer, which must come with
/// 200 or 201.
async fn admin<S: Server>(
    server: &S,
    method: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let mut headers = vec![("authorization".into(), format!("Bearer {}", admin_token()))];
    let body = match body {
        Value::Null => String::new(),
        body => {
            headers.push(("content-type".into(), "application/json".into()));
            body.to_string()
        }
    };
    let path = format!("{API}{path}");
    let response = send(server, method, &path, &headers, &body).await?;
    let text = String::from_utf8_lossy(response.body());
    if !matches!(response.status().as_u16(), 200 | 201) {
        bail!("{method} {path} answered {}: {text}", response.status());
    }
    serde_json::from_str(&text).with_context(|| format!("{method} {path} answered {text}"))
}

/// A key the setup creates through the admin API, granted [`METHOD`] on [`COMPANY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// No limits.
    Plain,
    /// A rate limit and a quota of [`FAR_LIMIT`] each: every answer stays `VALID`.
    Limited,
    /// An IP allowlist of [`ALLOWLIST_LEN`] blocks, [`CALLER_IP`] the last.
    Allowlisted,
}

/// The limit and quota of a [`KeyKind::Limited`] key: never reached in a run.
const FAR_LIMIT: u64 = 1_000_000_000;
/// The rate limit's window, in seconds (the longest accepted).
const LIMIT_WINDOW_SECS: u64 = 86_400;
/// Blocks in a [`KeyKind::Allowlisted`] key's allowlist (the most accepted).
pub const ALLOWLIST_LEN: usize = 100;

impl KeyKind {
    /// The body of `POST /keys` creating it, labelled `label`.
    pub fn body(self, label: &str) -> Value {
        let mut body = json!({"label": label, "methods": [METHOD], "companies": [COMPANY]});
        match self {
            KeyKind::Plain => {}
            KeyKind::Limited => {
                body["rate_limit"] =
                    json!({"limit": FAR_LIMIT, "window_seconds": LIMIT_WINDOW_SECS});
                body["quota"] = json!({"limit": FAR_LIMIT, "period": "month"});
            }
            KeyKind::Allowlisted => {
                let mut blocks: Vec<String> = (0..ALLOWLIST_LEN - 1)
                    .map(|i| format!("10.{i}.0.0/16"))
                    .collect();
                blocks.push(CALLER_IP.to_owned());
                body["ip_allowlist"] = json!(blocks);
            }
        }
        body
    }
}

/// A key created through the admin API.
pub struct CreatedKey {
    /// Its id.
    pub id: String,
    /// The key itself.
    pub secret: String,
}

/// Registers [`COMPANY`], which every created key is restricted to.
pub async fn register_company<S: Server>(server: &S) -> anyhow::Result<()> {
    admin(
        server,
        "PUT",
        &format!("/companies/{COMPANY}"),
        json!({"name": "Acme"}),
    )
    .await?;
    Ok(())
}

/// Creates a key of `kind` labelled `label` (after [`register_company`]).
pub async fn create_key<S: Server>(
    server: &S,
    kind: KeyKind,
    label: &str,
) -> anyhow::Result<CreatedKey> {
    let created = admin(server, "POST", "/keys", kind.body(label)).await?;
    let field = |name: &str| {
        created[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the created key's answer has no `{name}`"))
    };
    Ok(CreatedKey {
        id: field("id")?,
        secret: field("key")?,
    })
}

/// How long a listed key's usage counters may take to show in the list: verify-key writes an
/// instance's batch 500 ms after its first count, later on a loaded machine.
const USAGE_WAIT: Duration = Duration::from_secs(20);
/// How often the list is read while waiting for them.
const USAGE_POLL: Duration = Duration::from_millis(200);

/// Creates `count` plain keys and verifies each [`LISTED_VERIFICATIONS`] times, so that the
/// list reads usage counters and last uses. One key at a time, each until the list shows its
/// verifications counted: an instance's batch of many keys' first counts (a few increments
/// each) can miss the store deadline on Spin's SQLite store, and its counts are then lost.
pub async fn create_listed<S: Server>(server: &S, count: usize) -> anyhow::Result<()> {
    let headers = [("content-type".to_owned(), "application/json".to_owned())];
    for n in 0..count {
        let key = create_key(server, KeyKind::Plain, &format!("Bench listed {n}")).await?;
        let body = json!({"key": key.secret, "method": METHOD, "company": COMPANY}).to_string();
        for _ in 0..LISTED_VERIFICATIONS {
            let answer = send(server, "POST", VERIFY_PATH, &headers, &body).await?;
            let text = String::from_utf8_lossy(answer.body());
            anyhow::ensure!(
                text.contains(r#""code":"VALID""#),
                "a listed key does not verify: {text}"
            );
        }
        wait_counted(server).await?;
    }
    Ok(())
}

/// Waits until the newest key shows its [`LISTED_VERIFICATIONS`] verifications counted, at
/// most [`USAGE_WAIT`].
async fn wait_counted<S: Server>(server: &S) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    loop {
        let page = admin(server, "GET", "/keys?limit=1", Value::Null).await?;
        if fully_counted(&page) == 1 {
            return Ok(());
        }
        if started.elapsed() > USAGE_WAIT {
            bail!(
                "a listed key does not show its {LISTED_VERIFICATIONS} verifications after \
                 {USAGE_WAIT:?} (its counts were lost?): {page}"
            );
        }
        tokio::time::sleep(USAGE_POLL).await;
    }
}

/// How many keys of a `GET /keys` page count [`LISTED_VERIFICATIONS`] requests.
fn fully_counted(page: &Value) -> usize {
    page["data"].as_array().map_or(0, |keys| {
        keys.iter()
            .filter(|key| key["requests_24h"] == json!(LISTED_VERIFICATIONS))
            .count()
    })
}

/// `/verify`, for the listed keys' verifications.
const VERIFY_PATH: &str = "/api/v1/verify";

/// The keys a group's requests carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKeys {
    /// The valid key: created through the admin API, or on an edge the first synthetic key.
    pub valid: String,
    /// The valid key with a wrong checksum character.
    pub malformed: String,
    /// The admin-created valid key's id (none on an edge).
    pub id: Option<String>,
    /// A [`KeyKind::Limited`] key, when a scenario of the group carries one.
    pub limited: Option<String>,
    /// A [`KeyKind::Allowlisted`] key, likewise.
    pub allowlisted: Option<String>,
}

/// Makes the keys `scenarios` (of one group, on `config`) carry: through the admin API when
/// `config` serves it (and the listed keys), else from the first of `synthetic`.
pub async fn make_keys<S: Server>(
    server: &S,
    config: &Config,
    scenarios: &[&Scenario],
    synthetic: &[SyntheticKey],
) -> anyhow::Result<GroupKeys> {
    if !config.serves_admin_api() {
        if let Some(scenario) = scenarios.iter().find(|s| s.keys.need_admin_api()) {
            bail!(
                "{} carries a key made through the admin API, which its deployment does not serve",
                scenario.name
            );
        }
        let valid = synthetic
            .first()
            .context("a deployment without the admin API needs synthetic records")?
            .secret
            .clone();
        return Ok(GroupKeys {
            malformed: with_wrong_checksum(&valid),
            valid,
            id: None,
            limited: None,
            allowlisted: None,
        });
    }
    register_company(server).await?;
    let plain = create_key(server, KeyKind::Plain, "Bench").await?;
    let carried = |keys: Keys| scenarios.iter().any(|s| s.keys == keys);
    let limited = match carried(Keys::Limited) {
        true => Some(
            create_key(server, KeyKind::Limited, "Bench limited")
                .await?
                .secret,
        ),
        false => None,
    };
    let allowlisted = match carried(Keys::Allowlisted) {
        true => Some(
            create_key(server, KeyKind::Allowlisted, "Bench allowlist")
                .await?
                .secret,
        ),
        false => None,
    };
    if config.listed_keys > 0 {
        create_listed(server, config.listed_keys).await?;
    }
    Ok(GroupKeys {
        malformed: with_wrong_checksum(&plain.secret),
        valid: plain.secret,
        id: Some(plain.id),
        limited,
        allowlisted,
    })
}

/// `key` with its last character, part of its checksum, changed.
fn with_wrong_checksum(key: &str) -> String {
    let (body, last) = key.split_at(key.len() - 1);
    let other = if last == "A" { 'B' } else { 'A' };
    format!("{body}{other}")
}

/// Sends `request` once, checks its status and that its body contains `contains`, and
/// returns the body.
pub async fn check<S: Server>(
    server: &S,
    request: &Rendered,
    status: u16,
    contains: &str,
) -> anyhow::Result<String> {
    let response = send(
        server,
        request.method,
        &request.path,
        &request.headers,
        &request.body,
    )
    .await?;
    let body = String::from_utf8_lossy(response.body()).into_owned();
    if response.status().as_u16() != status || !body.contains(contains) {
        bail!(
            "{} {} answered {} {body:?}; expected {status} with {contains:?}",
            request.method,
            request.path,
            response.status()
        );
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
