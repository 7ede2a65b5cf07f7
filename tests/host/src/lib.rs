//! A test host that runs the app's Spin components (`.wasm`, built for `wasm32-wasip2` with
//! spin-sdk 7) the way Spin 4.1 runs them, for end-to-end tests in `cargo test` and, through
//! [`TestHost::serve`] or the `spin-test-host serve` binary, for browser tests and load
//! generators.
//!
//! It reads the app's `spin.toml`, compiles every component once, and for each request routes
//! by path, creates a fresh store and instance of the matched component, calls its
//! `wasi:http/handler@0.3.0` export and collects the response.
//!
//! # Spin behaviours reproduced
//!
//! * Manifest v2: `[[trigger.http]]` `route` / `component` (string ids; `route = { private =
//!   true }` is not routable), `[component.<id>]` `source`, `key_value_stores`,
//!   `sqlite_databases`, `allowed_outbound_hosts`, `environment`, `variables`; application
//!   `[variables]` with `required`, `default`, `secret`. Variable names and `{{ name }}`
//!   templates are checked as Spin checks them.
//! * Routing (base `/`): exact routes, `:name` segments, trailing `/...` (and `/*`) wildcards;
//!   segment by segment an exact segment beats `:name`, which beats the wildcard, so exact
//!   routes win and the longest wildcard prefix wins; one trailing `/` of the path is
//!   ignored; a later duplicate route replaces an earlier one. No match gives 404 with an empty
//!   body; `/.well-known/spin/health` answers `OK`.
//! * Request headers: `spin-full-url`, `spin-path-info` (with Spin's trailing-slash rules),
//!   `spin-matched-route`, `spin-raw-component-route`, `spin-component-route`,
//!   `spin-base-path` (`/`), `spin-client-addr` and `spin-path-match-<name>`, overriding any
//!   client-sent header of the same name. The guest sees an absolute URI (`http`, the `Host`
//!   header's authority) and, as in wasmtime's `wasi:http`, no `host` header.
//! * A handler error (`ErrorCode`, which is what an `Err` from a spin-sdk handler becomes) or a
//!   trap (a panic) gives 500 with an empty body.
//! * `spin:key-value@3.0.0`: every label a component lists is defined (as if a runtime config
//!   declared it), backed by one SQLite table per label shared by all components. `open` of a
//!   label the component does not list gives `access-denied` (Spin checks the list first), of a
//!   listed but undefined one `no-such-store`.
//! * `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics`, `batch`): the same stores, data and
//!   permissions as `spin:key-value`; `increment` keeps the `i64` as 8 bytes little-endian
//!   (absent: 0), atomically, as Spin's SQLite store does; `get-many` answers the present keys
//!   only; `list-keys` refuses a cursor.
//! * `spin:sqlite@3.1.0` (sync and async functions): one database file per label, a new
//!   SQLite connection per `open` (busy timeout 5 s), so a transaction spans execute calls of
//!   one connection and concurrent connections serialize; `access-denied` /
//!   `no-such-database` as for key-value; SQLite errors become `io(message)`.
//! * `spin:variables@3.0.0`: component variables are templates over application variables,
//!   whose values come from [`HostOptions::variable`] (like `SPIN_VARIABLE_*`) or their
//!   defaults; a required variable without value stops the host from starting. Invalid names
//!   give `invalid-name`, names the component does not declare `undefined`.
//! * WASI 0.2 and 0.3 clocks, random, stdio; no preopened directories; no sockets; the
//!   environment is the component's `environment` table (empty by default).
//! * Outbound HTTP: Spin's local service chaining (a request to `http://<id>.spin.internal`
//!   goes to component `<id>`, in a fresh instance, its whole path as the path info) when the
//!   caller's `allowed_outbound_hosts` names `http://<id>.spin.internal` literally; any other
//!   outbound request is denied (`HTTP-request-denied`).
//!
//! # Not reproduced
//!
//! * Runtime config files, other key-value or SQLite backends, Spin's single-table key-value
//!   layout, `wasi:keyvalue` compare-and-swap (`cas.new` fails with `other`), the panic of
//!   Spin's SQLite store on incrementing a value that is not 8 bytes (an `other` error here),
//!   `files`, inline components, `static_response`, component dependencies,
//!   application `base`, the Wagi and Spin-legacy executors, WASI 0.2 `incoming-handler`
//!   components, `/.well-known/spin/info`, self requests, HTTPS, request
//!   timeouts and instance reuse (Spin 4 may reuse an instance for several requests; this host
//!   always uses a fresh one), response streaming (the whole response is collected), the
//!   guest's work after it has returned its response only runs until the body is complete.
//! * Outbound networking of any kind but service chaining, OpenTelemetry, `spin.toml`
//!   `[component.x.build]`.
//!
//! # The real Spin CLI
//!
//! [`spin_cli::SpinApp`] runs the same app on `spin up` (the Spin users run) for the
//! end-to-end suite, with dumps and logs read from Spin's state directory.
//!
//! # Test helpers
//!
//! Faults can be injected into the key-value and SQLite calls ([`Fault`]), calls are counted
//! ([`Counters`]), stores can be dumped ([`TestHost::kv_dump`], [`TestHost::sqlite_dump`]),
//! the components' stdout and stderr are captured ([`TestHost::logs`], echoed to stderr when
//! `SPIN_TEST_HOST_ECHO=1`), and every request reports the peak linear memory of its
//! instance ([`RequestStats`]).

#![deny(missing_docs)]

mod interfaces;
pub mod manifest;
pub mod redis_server;
pub mod router;
mod serve;
pub mod slow_proxy;
pub mod spin_cli;
mod state;
pub mod stores;
pub mod stub_server;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ProfilingStrategy, Store,
};
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

use crate::interfaces::Grants;
use crate::manifest::Manifest;
use crate::router::{RouteMatch, Router};
use crate::state::{InstanceState, LogSink};
pub use crate::stores::{Counters, Fault};
use crate::stores::{Stores, lock};

/// The authority used for `spin-full-url` and the guest's URI when a request has no `Host`.
pub const DEFAULT_AUTHORITY: &str = "127.0.0.1:3000";

/// The client address reported when a request carries no [`ClientAddr`] extension.
pub const DEFAULT_CLIENT_ADDR: &str = "127.0.0.1:0";

/// What a host runs: the manifest, the values of application variables and where state lives.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The path of the app's `spin.toml`.
    pub manifest: PathBuf,
    /// Application variable values by name (what Spin's `SPIN_VARIABLE_<NAME>` would give).
    pub variables: HashMap<String, String>,
    /// Where the key-value file and SQLite databases live; `None` for a temporary directory.
    pub state_dir: Option<PathBuf>,
}

impl HostOptions {
    /// Options for the manifest at `manifest`, with no variables and temporary state.
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        HostOptions {
            manifest: manifest.into(),
            variables: HashMap::new(),
            state_dir: None,
        }
    }

    /// Gives the application variable `name` the value `value`.
    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.variables.insert(name.to_string(), value.to_string());
        self
    }

    /// Keeps the key-value file and SQLite databases in `dir` (kept after the host is dropped).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }
}

/// What the host measured while handling one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestStats {
    /// The id of the component that handled the request (empty when no route matched).
    pub component: String,
    /// The largest total linear memory, in bytes, the instance had.
    pub peak_memory_bytes: usize,
}

/// The client address of a request, as a request extension (the TCP peer in serve mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// A running app: cheap to clone, usable from many tokio tasks at once.
#[derive(Clone)]
pub struct TestHost {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    router: Router,
    components: HashMap<String, LoadedComponent>,
    stores: Arc<Stores>,
    logs: LogSink,
    /// Hands chained requests back to this host (see [`TestHost::chained`]).
    chain: Arc<state::ChainFn>,
}

struct LoadedComponent {
    grants: Arc<Grants>,
    environment: Vec<(String, String)>,
    pre: ServicePre<InstanceState>,
}

impl TestHost {
    /// Reads the manifest, resolves variables, creates the stores and compiles every component.
    pub fn start(options: HostOptions) -> anyhow::Result<TestHost> {
        let manifest = Manifest::load(&options.manifest)?;
        let values = manifest.resolve_app_variables(&options.variables)?;
        let router = Router::new(&manifest.routes)?;
        let stores = Arc::new(Stores::new(
            options.state_dir.as_deref(),
            manifest.key_value_labels(),
            manifest.sqlite_labels(),
        )?);
        let engine = engine().clone();
        let mut linker = Linker::<InstanceState>::new(&engine);
        state::add_to_linker(&mut linker)?;

        let mut components = HashMap::new();
        for (id, config) in &manifest.components {
            let mut variables = HashMap::new();
            for (name, template) in &config.variables {
                let value = manifest::expand_template(template, &values)
                    .map_err(|e| anyhow::anyhow!("component {id:?} variable {name:?}: {e}"))?;
                variables.insert(name.clone(), value);
            }
            let component = compile(&engine, &config.source)
                .with_context(|| format!("cannot load component {id:?}"))?;
            let pre = linker.instantiate_pre(&component).map_err(|e| {
                anyhow::Error::from(e).context(format!("cannot link component {id:?}"))
            })?;
            let pre = ServicePre::new(pre).map_err(|e| {
                anyhow::Error::from(e).context(format!(
                    "component {id:?} does not export wasi:http/handler@0.3.0"
                ))
            })?;
            let chained = config
                .allowed_outbound_hosts
                .iter()
                .filter_map(|host| host.strip_prefix("http://")?.strip_suffix(".spin.internal"))
                .map(str::to_owned)
                .collect();
            let grants = Arc::new(Grants {
                component: id.clone(),
                key_value_stores: config.key_value_stores.clone(),
                sqlite_databases: config.sqlite_databases.clone(),
                variables,
                chained,
            });
            let environment = config
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            components.insert(
                id.clone(),
                LoadedComponent {
                    grants,
                    environment,
                    pre,
                },
            );
        }

        let echo = std::env::var("SPIN_TEST_HOST_ECHO").is_ok_and(|v| v == "1");
        let inner = Arc::new_cyclic(|me: &std::sync::Weak<Inner>| {
            let me = me.clone();
            let chain: Arc<state::ChainFn> = Arc::new(move |component, req| {
                let me = me.clone();
                Box::pin(async move {
                    let inner = me.upgrade().context("the host is gone")?;
                    TestHost { inner }.chained(&component, req).await
                })
            });
            Inner {
                engine,
                router,
                components,
                stores,
                logs: LogSink::new(echo),
                chain,
            }
        });
        Ok(TestHost { inner })
    }

    /// Handles a request chained to `component` (`http://<component>.spin.internal`): the
    /// whole path is the component's path info, as Spin's synthetic route gives it.
    async fn chained(
        &self,
        component: &str,
        req: http::Request<Vec<u8>>,
    ) -> anyhow::Result<http::Response<Vec<u8>>> {
        let loaded = self
            .inner
            .components
            .get(component)
            .with_context(|| format!("no component {component:?} to chain to"))?;
        let path = req.uri().path().to_owned();
        let route = RouteMatch {
            component: component.to_owned(),
            raw_route: "/...".to_owned(),
            based_route: "/...".to_owned(),
            path_info: path,
            named_wildcards: BTreeMap::new(),
        };
        let req = prepare_request(req, &route)?;
        let (result, _) = self.execute(loaded, req).await;
        result?.map_err(|code| anyhow::anyhow!("component {component:?} failed: {code:?}"))
    }

    /// Handles one request (absolute-path URI such as `/api/v1/verify?x=y`).
    pub async fn request(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> anyhow::Result<http::Response<Vec<u8>>> {
        Ok(self.request_with_stats(req).await?.0)
    }

    /// Handles one request and tells which component ran and how much memory it used.
    pub async fn request_with_stats(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> anyhow::Result<(http::Response<Vec<u8>>, RequestStats)> {
        let path = req.uri().path().to_string();
        let no_component = RequestStats {
            component: String::new(),
            peak_memory_bytes: 0,
        };
        if let Some(well_known) = path.strip_prefix("/.well-known/spin/") {
            let response = match well_known {
                "health" => simple_response(http::StatusCode::OK, b"OK"),
                _ => simple_response(http::StatusCode::NOT_FOUND, b""),
            };
            return Ok((response, no_component));
        }
        let Some(route) = self.inner.router.route(&path) else {
            return Ok((
                simple_response(http::StatusCode::NOT_FOUND, b""),
                no_component,
            ));
        };
        let component = self
            .inner
            .components
            .get(&route.component)
            .context("routed to an unknown component")?;
        let req = prepare_request(req, &route)?;
        let (result, peak_memory_bytes) = self.execute(component, req).await;
        let stats = RequestStats {
            component: route.component.clone(),
            peak_memory_bytes,
        };
        let response = match result {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => {
                eprintln!(
                    "spin-test-host: component {:?} returned an error for {path}: {code:?}",
                    route.component
                );
                simple_response(http::StatusCode::INTERNAL_SERVER_ERROR, b"")
            }
            Err(error) => {
                eprintln!(
                    "spin-test-host: component {:?} failed on {path}: {error:#}",
                    route.component
                );
                simple_response(http::StatusCode::INTERNAL_SERVER_ERROR, b"")
            }
        };
        Ok((response, stats))
    }

    /// Runs one request in a fresh store and instance; also returns the instance's peak memory.
    async fn execute(
        &self,
        component: &LoadedComponent,
        req: http::Request<Vec<u8>>,
    ) -> (
        anyhow::Result<Result<http::Response<Vec<u8>>, ErrorCode>>,
        usize,
    ) {
        let chain: std::sync::Weak<state::ChainFn> = Arc::downgrade(&self.inner.chain);
        let state = InstanceState::new(
            component.grants.clone(),
            self.inner.stores.clone(),
            &self.inner.logs,
            &component.environment,
            chain,
        );
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|state| &mut state.memory);
        let result = run_handler(&mut store, &component.pre, req).await;
        let peak = store.data().memory.peak();
        tokio::spawn(finish_tasks(store));
        (result, peak)
    }

    /// Sets which key-value calls fail from now on (and restarts the `Nth` count).
    pub fn set_kv_fault(&self, f: Fault) {
        self.inner.stores.set_kv_fault(f);
    }

    /// Sets which SQLite calls fail from now on (and restarts the `Nth` count).
    pub fn set_sqlite_fault(&self, f: Fault) {
        self.inner.stores.set_sqlite_fault(f);
    }

    /// The numbers of key-value and SQLite calls made so far.
    pub fn counters(&self) -> Counters {
        self.inner.stores.counters()
    }

    /// Sets all call counters to zero.
    pub fn reset_counters(&self) {
        self.inner.stores.reset_counters();
    }

    /// Every key and value of the key-value store `label`.
    pub fn kv_dump(&self, label: &str) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
        self.inner.stores.kv_dump(label)
    }

    /// Writes `value` under `key` in the key-value store `label`, as a component's `set`
    /// would, but from the test itself: not counted in [`Counters`] and never faulted.
    ///
    /// Test-only seeding (e.g. the benchmarks' 100,000 verification records); the app's own
    /// writes go through its components.
    pub fn kv_put(&self, label: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.inner.stores.has_kv_label(label),
            "no key-value store {label:?}"
        );
        Ok(self.inner.stores.kv_set(label, key, value)?)
    }

    /// A deterministic text of every user table and row of the SQLite database `label`.
    pub fn sqlite_dump(&self, label: &str) -> anyhow::Result<String> {
        self.inner.stores.sqlite_dump(label)
    }

    /// Everything the components wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        self.inner.logs.contents()
    }

    /// The directory holding the key-value file and the SQLite databases.
    pub fn state_dir(&self) -> &Path {
        self.inner.stores.dir()
    }

    /// Serves HTTP/1.1 on `listener` until an accept fails, handling requests concurrently.
    pub async fn serve(&self, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
        serve::serve(self.clone(), listener).await
    }
}

/// Instantiates the component, calls its handler and collects the response.
async fn run_handler(
    store: &mut Store<InstanceState>,
    pre: &ServicePre<InstanceState>,
    req: http::Request<Vec<u8>>,
) -> anyhow::Result<Result<http::Response<Vec<u8>>, ErrorCode>> {
    let service = pre.instantiate_async(&mut *store).await?;
    let req = req.map(|body| Full::new(Bytes::from(body)).map_err(wasmtime_wasi_http::Error::from));
    let (request, request_io) =
        wasmtime_wasi_http::p3::Request::from_http(&mut store.data_mut().hooks, req);
    let result = store
        .run_concurrent(async move |accessor| {
            let respond = async {
                let response = match service.handle(accessor, request).await? {
                    Ok(response) => response,
                    Err(code) => return Ok(Err(code)),
                };
                let response =
                    accessor.with(|store| response.into_http(store, async { Ok(()) }))?;
                let (parts, body) = response.into_parts();
                let body = body
                    .collect()
                    .await
                    .map_err(|e| wasmtime::format_err!("cannot read the response body: {e}"))?
                    .to_bytes();
                Ok::<_, wasmtime::Error>(Ok(http::Response::from_parts(parts, body.to_vec())))
            };
            let consume_request = async {
                request_io
                    .await
                    .map_err(|e| wasmtime::format_err!("cannot send the request body: {e}"))
            };
            let (response, ()) = tokio::try_join!(respond, consume_request)?;
            Ok::<_, wasmtime::Error>(response)
        })
        .await??;
    Ok(result)
}

/// Lets the tasks an instance keeps running after its response (verify-key's usage batch)
/// run to their end, in the background, as Spin does before it drops an instance.
async fn finish_tasks(mut store: Store<InstanceState>) {
    let finished = store
        .run_concurrent(async |accessor| {
            std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await
        })
        .await;
    if let Err(error) = finished {
        eprintln!("spin-test-host: a task after the response failed: {error:#}");
    }
}

/// Adds Spin's request headers and gives the request an absolute URI.
fn prepare_request(
    req: http::Request<Vec<u8>>,
    route: &RouteMatch,
) -> anyhow::Result<http::Request<Vec<u8>>> {
    let (mut parts, body) = req.into_parts();
    let authority = match parts.headers.get(http::header::HOST) {
        Some(host) => host
            .to_str()
            .context("'Host' header is not valid UTF-8")?
            .to_string(),
        None => parts
            .uri
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string()),
    };
    let scheme = parts.uri.scheme_str().unwrap_or("http").to_string();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/")
        .to_string();
    let full_url = format!("{scheme}://{authority}{path_and_query}");
    parts.uri = full_url
        .parse()
        .with_context(|| format!("invalid request URL {full_url:?}"))?;
    let client_addr = parts
        .extensions
        .get::<ClientAddr>()
        .map(|a| a.0.to_string())
        .unwrap_or_else(|| DEFAULT_CLIENT_ADDR.to_string());

    let mut headers = vec![
        ("spin-path-info".to_string(), route.path_info.clone()),
        ("spin-full-url".to_string(), full_url),
        ("spin-matched-route".to_string(), route.based_route.clone()),
        ("spin-base-path".to_string(), "/".to_string()),
        (
            "spin-raw-component-route".to_string(),
            route.raw_route.clone(),
        ),
        (
            "spin-component-route".to_string(),
            route.component_route().to_string(),
        ),
        ("spin-client-addr".to_string(), client_addr),
    ];
    for (name, value) in &route.named_wildcards {
        let name = name.to_ascii_lowercase().replace('_', "-");
        headers.push((format!("spin-path-match-{name}"), value.clone()));
    }
    for (name, value) in headers {
        parts.headers.insert(
            http::HeaderName::try_from(name.as_str())?,
            http::HeaderValue::try_from(value.as_str())?,
        );
    }
    Ok(http::Request::from_parts(parts, body))
}

fn simple_response(status: http::StatusCode, body: &[u8]) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(body.to_vec());
    *response.status_mut() = status;
    response
}

/// Environment variable that makes the host write a perf map of the compiled components.
const PERFMAP_VAR: &str = "SPIN_TEST_HOST_PERFMAP";

/// The process-wide engine: compiled components are shared by all hosts of a test binary.
///
/// Instances are allocated like Spin allocates them: from wasmtime's pooling allocator with
/// spin-core's default limits, which keeps memory and stack slots mapped and reuses them
/// instead of mapping and unmapping them for every request. Where the pool cannot be
/// reserved (a small virtual address space, e.g. under `ulimit -v`), the host falls back to
/// on-demand allocation, as Spin does, and says so on stderr.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model_async(true);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(spin_pooling_config()));
        if std::env::var_os(PERFMAP_VAR).is_some() {
            // Names the components' compiled functions for `perf report` (/tmp/perf-PID.map).
            config.profiler(ProfilingStrategy::PerfMap);
        }
        Engine::new(&config).unwrap_or_else(|err| {
            eprintln!(
                "spin-test-host: pooling allocator unavailable ({err:#}); allocating on demand"
            );
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&config).expect("the wasmtime configuration is valid")
        })
    })
}

/// How many Spin processes' worth of instances the process-wide pool holds: the hosts of a
/// test binary share one engine where each Spin process has its own, and `scripts/test.sh`
/// runs four tests at a time.
const HOSTS_AT_ONCE: u32 = 4;

/// spin-core's default pooling limits (Spin 3 and 4, without their `SPIN_WASMTIME_*`
/// overrides) for each instance; the totals (instances, memories, tables, stacks) are Spin's times
/// [`HOSTS_AT_ONCE`].
fn spin_pooling_config() -> PoolingAllocationConfig {
    const MIB: usize = 1 << 20;
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(1_000 * HOSTS_AT_ONCE)
        .total_core_instances(1_000 * HOSTS_AT_ONCE)
        .total_stacks(1_000 * HOSTS_AT_ONCE)
        .max_component_instance_size(10 * MIB)
        .max_core_instance_size(10 * MIB)
        .max_core_instances_per_component(200)
        .max_tables_per_component(20)
        .table_elements(100_000)
        .max_memories_per_component(32)
        .total_memories(1_000 * HOSTS_AT_ONCE)
        .total_tables(2_000 * HOSTS_AT_ONCE)
        .max_memory_size(4 << 30)
        .linear_memory_keep_resident(2 * MIB)
        .table_keep_resident(MIB / 2);
    pooling
}

/// Compiles a component file, or reuses the compilation of the same unchanged file.
fn compile(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    type Cache = Mutex<HashMap<PathBuf, (SystemTime, u64, Component)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let metadata = std::fs::metadata(path).with_context(|| {
        format!(
            "cannot read {} (build the components first, e.g. `cargo build --target wasm32-wasip2 --release`)",
            path.display()
        )
    })?;
    let key = (metadata.modified()?, metadata.len());
    let mut cache = lock(CACHE.get_or_init(Default::default));
    if let Some((modified, len, component)) = cache.get(path)
        && (*modified, *len) == key
    {
        return Ok(component.clone());
    }
    let component = Component::from_file(engine, path).map_err(|e| {
        anyhow::Error::from(e).context(format!("cannot compile {}", path.display()))
    })?;
    cache.insert(path.to_path_buf(), (key.0, key.1, component.clone()));
    Ok(component)
}
