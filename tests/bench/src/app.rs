//! The app on `spin up` for one group of scenarios: the repository's spin.toml with absolute
//! component paths plus the two fixtures at their own routes, served by one `spin up`
//! (through a runtime config on a `redis-server` of its own for the Redis store); the
//! admin-created key the scenarios verify; and a check that each scenario is answered as it
//! should be before it is measured.

use crate::scenarios::{COMPANY, Config, METHOD, Rendered, Store};
use anyhow::{Context, bail};
use keys_domain::identity::{PLATFORM_CONFIGURATION, sign_token};
use keys_domain::time::Timestamp;
use serde_json::{Value, json};
use spin_test_host::manifest::Manifest;
use spin_test_host::redis_server::RedisServer;
use spin_test_host::spin_cli::{SpinApp, SpinOptions};
use std::path::{Path, PathBuf};

/// The identity-token secret the app runs with.
const IDENTITY_SECRET: &str = "bench-identity-secret";
/// The variable holding it.
const IDENTITY_SECRET_VARIABLE: &str = "identity_token_secret";
/// How long the admin token lives, in seconds: the setup's few calls.
const TOKEN_LIFETIME_SECS: i64 = 600;
/// The app's manifest, relative to the repository root.
const APP_MANIFEST: &str = "spin.toml";
/// Where the release `.wasm` files are, relative to the repository root.
const WASM_DIR: &str = "target/wasm32-wasip2/release";
/// How `source` lines start in a manifest.
const SOURCE_PREFIX: &str = "source = \"";
/// The admin API.
const API: &str = "/api/v1";

/// A running `spin up` (stopped before its Redis when dropped: fields drop in order).
pub struct Running {
    /// The app.
    pub app: SpinApp,
    /// The Redis behind Spin's `default` store, for [`Store::Redis`].
    pub redis: Option<RedisServer>,
}

/// The key the scenarios verify, created through the admin API.
pub struct AdminKey {
    /// Its id.
    pub id: String,
    /// The key, granted [`METHOD`] on [`COMPANY`].
    pub valid: String,
    /// The same key with its last checksum character changed.
    pub malformed: String,
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

/// Starts `spin up` on `manifest` with `config`'s variables and arguments, its `default` store on `store`
/// (a runtime config in `dir` for Redis).
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
    for (name, value) in config.variables {
        options = options.variable(name, value);
    }
    options.args = config.spin_args.iter().map(|a| a.to_string()).collect();
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
    let app = SpinApp::start(options)?;
    Ok(Running { app, redis })
}

/// An identity token of an administrator, for the setup's admin calls.
pub fn admin_token() -> String {
    let now = Timestamp::now().unix();
    let claims = json!({
        "sub": "bench-admin",
        "name": "Benchmark",
        "iat": now,
        "exp": now + TOKEN_LIFETIME_SECS,
        "rights": [PLATFORM_CONFIGURATION],
    });
    sign_token(&claims, IDENTITY_SECRET)
}

/// Sends one request and collects the answer.
async fn send(
    app: &SpinApp,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> anyhow::Result<http::Response<Vec<u8>>> {
    let mut request = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request.body(body.as_bytes().to_vec())?;
    app.request(request)
        .await
        .with_context(|| format!("{method} {path}"))
}

/// One admin call; its JSON answer, which must come with 200 or 201.
async fn admin(app: &SpinApp, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    let headers = [
        ("authorization".into(), format!("Bearer {}", admin_token())),
        ("content-type".into(), "application/json".into()),
    ];
    let path = format!("{API}{path}");
    let response = send(app, method, &path, &headers, &body.to_string()).await?;
    let text = String::from_utf8_lossy(response.body());
    if !matches!(response.status().as_u16(), 200 | 201) {
        bail!("{method} {path} answered {}: {text}", response.status());
    }
    serde_json::from_str(&text).with_context(|| format!("{method} {path} answered {text}"))
}

/// Registers [`COMPANY`] and creates a key granted [`METHOD`] on it.
pub async fn create_key(app: &SpinApp) -> anyhow::Result<AdminKey> {
    admin(
        app,
        "PUT",
        &format!("/companies/{COMPANY}"),
        json!({"name": "Acme"}),
    )
    .await?;
    let created = admin(
        app,
        "POST",
        "/keys",
        json!({"label": "Bench", "methods": [METHOD], "companies": [COMPANY]}),
    )
    .await?;
    let valid = created["key"]
        .as_str()
        .context("the created key's answer has no `key`")?
        .to_owned();
    let id = created["id"]
        .as_str()
        .context("the created key's answer has no `id`")?
        .to_owned();
    Ok(AdminKey {
        id,
        malformed: with_wrong_checksum(&valid),
        valid,
    })
}

/// `key` with its last character, part of its checksum, changed.
fn with_wrong_checksum(key: &str) -> String {
    let (body, last) = key.split_at(key.len() - 1);
    let other = if last == "A" { 'B' } else { 'A' };
    format!("{body}{other}")
}

/// Sends `request` once and checks its status and that its body contains `contains`.
pub async fn check(
    app: &SpinApp,
    request: &Rendered,
    status: u16,
    contains: &str,
) -> anyhow::Result<()> {
    let response = send(
        app,
        request.method,
        &request.path,
        &request.headers,
        &request.body,
    )
    .await?;
    let body = String::from_utf8_lossy(response.body());
    if response.status().as_u16() != status || !body.contains(contains) {
        bail!(
            "{} {} answered {} {body:?}; expected {status} with {contains:?}",
            request.method,
            request.path,
            response.status()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keys_domain::key::{KeyFormatError, NewSecret, PresentedKey};

    const APP: &str = "spin_manifest_version = 2\n\n[component.a]\n\
                       source = \"target/wasm32-wasip2/release/a.wasm\"\n\
                       [component.b]\nsource = \"/abs/b.wasm\"\n";

    #[test]
    fn the_bench_manifest_makes_relative_sources_absolute_and_leaves_absolute_ones() {
        let manifest = bench_manifest(APP, Path::new("/repo"));
        assert!(manifest.contains("source = \"/repo/target/wasm32-wasip2/release/a.wasm\"\n"));
        assert!(manifest.contains("source = \"/abs/b.wasm\"\n"));
    }

    #[test]
    fn the_bench_manifest_routes_both_fixtures_and_lets_one_read_open_the_default_store() {
        let manifest = bench_manifest(APP, Path::new("/repo"));
        let parsed = Manifest::parse(&manifest, Path::new("/")).unwrap();
        let route = |path: &str| {
            parsed
                .routes
                .iter()
                .find(|r| r.route == path)
                .map(|r| r.component.clone())
        };
        assert_eq!(route("/bench/noop").as_deref(), Some("bench-noop"));
        assert_eq!(route("/bench/one-read").as_deref(), Some("bench-one-read"));
        let one_read = &parsed.components["bench-one-read"];
        assert_eq!(
            one_read.source,
            Path::new("/repo/target/wasm32-wasip2/release/one_read.wasm")
        );
        assert!(one_read.key_value_stores.contains("default"));
        assert!(parsed.components["bench-noop"].key_value_stores.is_empty());
    }

    #[test]
    fn the_base_manifest_takes_verify_key_and_nothing_else_from_the_other_build() {
        let app = "[component.verify-key]\nsource = \"target/wasm32-wasip2/release/verify_key.wasm\"\n\
                   [component.kv-proxy]\nsource = \"target/wasm32-wasip2/release/kv_proxy.wasm\"\n";
        let ours = bench_manifest(app, Path::new("/repo"));
        let theirs = base_manifest(&ours, Path::new("/repo"), Path::new("/old"));
        assert!(theirs.contains("source = \"/old/verify_key.wasm\"\n"));
        assert!(theirs.contains("source = \"/repo/target/wasm32-wasip2/release/kv_proxy.wasm\"\n"));
        assert!(!theirs.contains("/repo/target/wasm32-wasip2/release/verify_key.wasm"));
    }

    #[test]
    fn a_key_with_a_wrong_checksum_character_is_refused_by_its_checksum() {
        for random in [[0u8; 32], [7u8; 32], [255u8; 32]] {
            let secret = NewSecret::from_random_bytes(random);
            let malformed = with_wrong_checksum(secret.expose());
            assert_eq!(malformed.len(), secret.expose().len());
            assert_eq!(
                PresentedKey::parse(&malformed).err(),
                Some(KeyFormatError::BadChecksum)
            );
        }
    }
}
