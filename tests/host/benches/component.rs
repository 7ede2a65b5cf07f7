//! Component benchmark: the app's real `.wasm` components in the test host, next to the
//! `baseline` fixture (instantiate, answer 204: the floor of any Spin request), in one
//! process and one run, so every figure has a same-run ratio to the floor.
//!
//! ```text
//! cargo bench -p spin-test-host --bench component -- [SECTION]... [--quick]
//!     [--secs S] [--rounds R] [--http-secs S] [--admin-keys N]
//!     [--wasm COMPONENT_ID=PATH]... [--scenario N]
//! SECTION: sizes components growth memory http admin (default: all), soak (only when named)
//! ```
//!
//! `--wasm` loads another build of a component (experiments: other optimisation levels);
//! `soak --scenario N --secs S` runs the N-th scenario of `components` alone, for a profiler
//! (`perf record -- target/release/deps/component-* --bench soak --scenario 1 --secs 20`).
//!
//! * `sizes`: the release `.wasm` sizes against their budgets.
//! * `components`: requests per second and p50/p99 latency, in process (no TCP), with as many
//!   concurrent requests as cores, in `R` interleaved rounds of `S` seconds per scenario;
//!   ratios are taken to the baseline of the same round, then the median over rounds.
//! * `growth`: verify with 10, 10,000 and 100,000 verification records in the store (seeded
//!   directly with `TestHost::kv_put`, records built by `keys_domain::record`).
//! * `memory`: peak linear memory of one instance per scenario (the host's resource limiter),
//!   and the host's VmRSS every 10,000 of 100,000 verifications.
//! * `http`: the host's server mode (`TestHost::serve`, what `spin-test-host serve` runs)
//!   under `wrk -t2 -c64 --latency` (Debian's `wrk`; skipped when it is not installed).
//! * `admin`: median times of create, regenerate, permission update and listing 50 of
//!   10,000 keys, through the admin components (SQLite and key-value).
//!
//! It is a `harness = false` bench, not a test: it asserts only that the app answers as
//! expected, never a time. See docs/performance.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keys_domain::identity::sign_token;
use keys_domain::key::NewSecret;
use keys_domain::permissions::{CompanyId, CompanyScope};
use keys_domain::record::{VerificationRecord, last_used_key, record_key};
use keys_domain::time::Timestamp;
use serde_json::{Value, json};
use spin_test_host::{HostOptions, TestHost};

const SECRET: &str = "bench-identity-token-secret";
const BASELINE_ROUTE: &str = "/bench/baseline";

/// Budgets of the performance issue (KB = 1,000 bytes, the stricter reading).
const VERIFY_KEY_MAX_BYTES: u64 = 300_000;
const COMPONENT_MAX_BYTES: u64 = 400_000;
const PEAK_MEMORY_MAX_BYTES: usize = 2 << 20;

// ---------------------------------------------------------------------------------------
// Options

struct Options {
    sections: Vec<String>,
    secs: f64,
    rounds: usize,
    http_secs: u64,
    http_rounds: usize,
    admin_keys: usize,
    admin_samples: usize,
    growth_sizes: Vec<usize>,
    rss_requests: u64,
    rss_every: u64,
    /// Requests in flight in process (default: two per core, enough to keep every core busy).
    concurrency: Option<usize>,
    /// `soak`: the index of the scenario to run alone (for a profiler).
    scenario: usize,
    /// Component id → `.wasm` path replacing the manifest's source (experiments).
    wasm_overrides: Vec<(String, PathBuf)>,
    /// `variants`: other builds of verify-key to compare in the same run (name, path).
    variants: Vec<(String, PathBuf)>,
}

impl Options {
    fn parse() -> Options {
        let mut o = Options {
            sections: Vec::new(),
            // Short, many, interleaved rounds: on a shared machine, load changes between rounds
            // and a ratio to the baseline of the same round cancels most of it.
            secs: 0.25,
            rounds: 16,
            http_secs: 8,
            http_rounds: 2,
            admin_keys: 10_000,
            admin_samples: 101,
            growth_sizes: vec![10, 10_000, 100_000],
            rss_requests: 100_000,
            rss_every: 10_000,
            concurrency: None,
            scenario: 1,
            wasm_overrides: Vec::new(),
            variants: Vec::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .unwrap_or_else(|| panic!("{name} needs a value"))
            };
            match arg.as_str() {
                // `cargo bench` passes `--bench` to harness-less benches.
                "--bench" => {}
                "--quick" => {
                    o.secs = 0.2;
                    o.rounds = 2;
                    o.http_secs = 2;
                    o.http_rounds = 1;
                    o.admin_keys = 300;
                    o.admin_samples = 21;
                    o.growth_sizes = vec![10, 1_000, 5_000];
                    o.rss_requests = 10_000;
                    o.rss_every = 1_000;
                }
                "--secs" => o.secs = value("--secs").parse().expect("--secs S"),
                "--rounds" => o.rounds = value("--rounds").parse().expect("--rounds R"),
                "--http-secs" => o.http_secs = value("--http-secs").parse().expect("seconds"),
                "--admin-keys" => o.admin_keys = value("--admin-keys").parse().expect("count"),
                "--concurrency" => {
                    o.concurrency = Some(value("--concurrency").parse().expect("count"));
                }
                "--scenario" => o.scenario = value("--scenario").parse().expect("index"),
                "--wasm" => {
                    let v = value("--wasm");
                    let (id, path) = v.split_once('=').expect("--wasm COMPONENT_ID=PATH");
                    o.wasm_overrides.push((id.to_string(), from_root(path)));
                }
                "--variant" => {
                    let v = value("--variant");
                    let (name, path) = v.split_once('=').expect("--variant NAME=PATH");
                    o.variants.push((name.to_string(), from_root(path)));
                }
                s if s.starts_with('-') => panic!("unknown option {s}"),
                section => o.sections.push(section.to_string()),
            }
        }
        o
    }

    fn wants(&self, section: &str) -> bool {
        // `soak` and `variants` (experiments) run only when named.
        (self.sections.is_empty() && section != "soak" && section != "variants")
            || self.sections.iter().any(|s| s == section)
    }
}

// ---------------------------------------------------------------------------------------
// The app and its bench manifest

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A path given on the command line: relative ones are relative to the workspace root (cargo
/// runs benches in the package's directory).
fn from_root(path: &str) -> PathBuf {
    root().join(path)
}

fn wasm(name: &str) -> PathBuf {
    root().join(format!("target/wasm32-wasip2/release/{name}.wasm"))
}

/// The app's spin.toml with absolute sources, plus the baseline fixture on
/// [`BASELINE_ROUTE`]: one host routes both, so they share engine, router and stores.
fn write_bench_manifest(dir: &Path, overrides: &[(String, PathBuf)]) -> PathBuf {
    let text = std::fs::read_to_string(root().join("spin.toml")).expect("spin.toml");
    let mut manifest: toml::Table = toml::from_str(&text).expect("spin.toml parses");
    let components = manifest
        .get_mut("component")
        .and_then(toml::Value::as_table_mut)
        .expect("[component]");
    for (id, component) in components.iter_mut() {
        let table = component.as_table_mut().expect("component table");
        table.remove("build");
        let source = table["source"].as_str().expect("file source").to_string();
        let absolute = match overrides.iter().find(|(o, _)| o == id) {
            Some((_, path)) => {
                eprintln!("  component {id}: {} instead of {source}", path.display());
                path.clone()
            }
            None => root().join(&source),
        };
        assert!(
            absolute.exists(),
            "{} (component {id}) is missing: run scripts/build-components.sh",
            absolute.display()
        );
        table.insert(
            "source".into(),
            absolute.to_string_lossy().into_owned().into(),
        );
    }
    let baseline = wasm("baseline");
    assert!(
        baseline.exists(),
        "{} is missing: run scripts/build-components.sh",
        baseline.display()
    );
    let mut bench_baseline = toml::Table::new();
    bench_baseline.insert(
        "description".into(),
        "The baseline fixture: 204, nothing else.".into(),
    );
    bench_baseline.insert(
        "source".into(),
        baseline.to_string_lossy().into_owned().into(),
    );
    bench_baseline.insert(
        "allowed_outbound_hosts".into(),
        toml::Value::Array(Vec::new()),
    );
    components.insert("bench-baseline".into(), bench_baseline.into());
    let mut trigger = toml::Table::new();
    trigger.insert("route".into(), BASELINE_ROUTE.into());
    trigger.insert("component".into(), "bench-baseline".into());
    manifest
        .get_mut("trigger")
        .and_then(|t| t.get_mut("http"))
        .and_then(toml::Value::as_array_mut)
        .expect("[[trigger.http]]")
        .push(trigger.into());
    let path = dir.join("spin.toml");
    std::fs::write(&path, toml::to_string(&manifest).expect("serialises")).expect("write");
    path
}

fn start_host(manifest: &Path) -> TestHost {
    TestHost::start(HostOptions::new(manifest).variable("identity_token_secret", SECRET))
        .expect("the bench app starts")
}

fn admin_token() -> String {
    sign_token(
        &json!({
            "sub": "bench",
            "name": "Benchmark",
            "exp": Timestamp::now().unix() + 24 * 3600,
            "rights": ["platform_configuration"],
        }),
        SECRET,
    )
}

fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> http::Request<Vec<u8>> {
    let mut b = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    b.body(body.to_vec()).expect("valid request")
}

async fn admin(
    host: &TestHost,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let bearer = format!("Bearer {token}");
    let body = body
        .map(|b| serde_json::to_vec(&b).unwrap())
        .unwrap_or_default();
    let req = request(
        method,
        path,
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        &body,
    );
    let resp = host.request(req).await.expect("the host answers");
    let status = resp.status().as_u16();
    let value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    (status, value)
}

async fn admin_ok(
    host: &TestHost,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let (status, value) = admin(host, token, method, path, body).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {value}"
    );
    value
}

/// The 50 grants of the large key: 9 default catalog methods and 40 added ones (exact,
/// sorted), then `payroll.*`, which alone covers [`LARGE_METHOD`] and comes last.
fn large_grants() -> Vec<String> {
    let mut methods: Vec<String> = [
        "absences.read",
        "absences.write",
        "documents.read",
        "documents.write",
        "employees.read",
        "employees.write",
        "organization.read",
        "time.read",
        "time.write",
    ]
    .iter()
    .map(|m| m.to_string())
    .collect();
    methods.extend((0..40).map(|i| format!("bench.m{i:02}")));
    methods.push("payroll.*".into());
    methods
}

const LARGE_METHOD: &str = "payroll.payslips.read";
const LARGE_COMPANY: &str = "C199";

/// Keys made through the admin API, as an administrator would.
struct Keys {
    typical: String,
    large: String,
}

async fn create_keys(host: &TestHost, token: &str) -> Keys {
    for id in ["ACME", "GLOBEX"] {
        admin_ok(
            host,
            token,
            "PUT",
            &format!("/api/v1/companies/{id}"),
            Some(json!({"name": id})),
        )
        .await;
    }
    for i in 0..200 {
        admin_ok(
            host,
            token,
            "PUT",
            &format!("/api/v1/companies/C{i:03}"),
            Some(json!({"name": format!("Company {i}")})),
        )
        .await;
    }
    for i in 0..40 {
        admin_ok(
            host,
            token,
            "PUT",
            &format!("/api/v1/methods/bench.m{i:02}"),
            Some(json!({"label": format!("Bench method {i}"), "group": "bench"})),
        )
        .await;
    }
    let typical = admin_ok(
        host,
        token,
        "POST",
        "/api/v1/keys",
        Some(json!({
            "label": "Welyb production",
            "methods": ["absences.read", "employees.read", "payroll.*"],
            "companies": ["ACME", "GLOBEX"],
            "metadata": {"crm": "X-1"},
        })),
    )
    .await;
    let companies: Vec<String> = (0..200).map(|i| format!("C{i:03}")).collect();
    let large = admin_ok(
        host,
        token,
        "POST",
        "/api/v1/keys",
        Some(json!({
            "label": "Large integration",
            "methods": large_grants(),
            "companies": companies,
        })),
    )
    .await;
    assert_eq!(
        large["methods"].as_array().map(Vec::len),
        Some(50),
        "{large}"
    );
    Keys {
        typical: typical["key"].as_str().unwrap().to_string(),
        large: large["key"].as_str().unwrap().to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios and the load driver

type MakeRequest = dyn Fn(u64) -> http::Request<Vec<u8>> + Send + Sync;

struct Scenario {
    name: String,
    expect: u16,
    make: Box<MakeRequest>,
}

impl Scenario {
    fn new(
        name: &str,
        expect: u16,
        make: impl Fn(u64) -> http::Request<Vec<u8>> + Send + Sync + 'static,
    ) -> Arc<Scenario> {
        Arc::new(Scenario {
            name: name.to_string(),
            expect,
            make: Box::new(make),
        })
    }
}

fn verify_body(key: &str, method: &str, company: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"key": key, "method": method, "company": company})).unwrap()
}

fn verify_scenario(name: &str, key: &str, method: &str, company: &str) -> Arc<Scenario> {
    let body = verify_body(key, method, company);
    Scenario::new(name, 200, move |_| {
        request(
            "POST",
            "/api/v1/verify",
            &[("content-type", "application/json")],
            &body,
        )
    })
}

fn authorize_scenario(name: &str, key: &str, method: &str, company: &str) -> Arc<Scenario> {
    let (key, method, company) = (key.to_string(), method.to_string(), company.to_string());
    Scenario::new(name, 204, move |_| {
        request(
            "GET",
            "/api/v1/authorize",
            &[
                ("x-api-key", &key),
                ("x-api-method", &method),
                ("x-api-company", &company),
            ],
            &[],
        )
    })
}

fn baseline_scenario() -> Arc<Scenario> {
    Scenario::new("baseline (204 fixture)", 204, |_| {
        request("GET", BASELINE_ROUTE, &[], &[])
    })
}

/// The answer of one scenario, checked once before it is measured.
async fn check_answer(host: &TestHost, sc: &Scenario, body_contains: Option<&str>) {
    let resp = host.request((sc.make)(0)).await.expect("answers");
    let text = String::from_utf8_lossy(resp.body()).into_owned();
    assert_eq!(resp.status().as_u16(), sc.expect, "{}: {text}", sc.name);
    if let Some(needle) = body_contains {
        assert!(text.contains(needle), "{}: {text}", sc.name);
    }
}

/// One measured run of a scenario.
struct Run {
    requests: u64,
    elapsed: Duration,
    latencies_ns: Vec<u64>,
}

impl Run {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Sends requests from `concurrency` tasks for `duration`, recording every latency.
async fn drive(host: &TestHost, sc: &Arc<Scenario>, concurrency: usize, duration: Duration) -> Run {
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let host = host.clone();
            let sc = sc.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(16_384);
                let mut i = t as u64;
                while Instant::now() < deadline {
                    let req = (sc.make)(i);
                    i += concurrency as u64;
                    let t0 = Instant::now();
                    let resp = host.request(req).await.expect("the host answers");
                    latencies.push(t0.elapsed().as_nanos() as u64);
                    assert_eq!(
                        resp.status().as_u16(),
                        sc.expect,
                        "{}: {}",
                        sc.name,
                        String::from_utf8_lossy(resp.body())
                    );
                }
                latencies
            })
        })
        .collect();
    let mut latencies_ns = Vec::new();
    for task in tasks {
        latencies_ns.extend(task.await.expect("driver task"));
    }
    Run {
        requests: latencies_ns.len() as u64,
        elapsed: start.elapsed(),
        latencies_ns,
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median_f64(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    }
}

fn us(ns: u64) -> String {
    format!("{:.0} µs", ns as f64 / 1_000.0)
}

/// Per-scenario results over the rounds.
#[derive(Default)]
struct Tally {
    rps: Vec<f64>,
    ratio: Vec<f64>,
    latencies_ns: Vec<u64>,
    /// Process CPU time (all threads) spent while this scenario ran: user, system (ticks).
    cpu_ticks: (u64, u64),
}

impl Tally {
    /// CPU microseconds per request: (user, system).
    fn cpu_us_per_request(&self) -> (f64, f64) {
        let per_tick_us = 1e6 / clock_ticks_per_second() as f64;
        let n = self.latencies_ns.len().max(1) as f64;
        (
            self.cpu_ticks.0 as f64 * per_tick_us / n,
            self.cpu_ticks.1 as f64 * per_tick_us / n,
        )
    }
}

/// The process's user and system CPU time so far, in clock ticks (/proc/self/stat).
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at field 3.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(0);
    (field(14), field(15))
}

fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Runs `scenarios` (the first is the reference) in `rounds` interleaved rounds.
async fn measure(
    host_of: &dyn Fn(usize) -> TestHost,
    scenarios: &[Arc<Scenario>],
    rounds: usize,
    secs: f64,
    concurrency: usize,
) -> Vec<Tally> {
    let duration = Duration::from_secs_f64(secs);
    // Warm-up: fills caches, the allocator's pools and the store's pages.
    for (i, sc) in scenarios.iter().enumerate() {
        drive(&host_of(i), sc, concurrency, duration / 4).await;
    }
    let mut tallies: Vec<Tally> = scenarios.iter().map(|_| Tally::default()).collect();
    for round in 0..rounds {
        let mut reference = f64::NAN;
        for (i, sc) in scenarios.iter().enumerate() {
            let before = cpu_ticks();
            let run = drive(&host_of(i), sc, concurrency, duration).await;
            let after = cpu_ticks();
            let rps = run.rps();
            if i == 0 {
                reference = rps;
            }
            let t = &mut tallies[i];
            t.rps.push(rps);
            t.ratio.push(rps / reference);
            t.latencies_ns.extend(run.latencies_ns);
            t.cpu_ticks.0 += after.0 - before.0;
            t.cpu_ticks.1 += after.1 - before.1;
        }
        eprintln!("  round {}/{rounds} done", round + 1);
    }
    for t in &mut tallies {
        t.latencies_ns.sort_unstable();
    }
    tallies
}

fn print_table(
    title: &str,
    scenarios: &[Arc<Scenario>],
    tallies: &[Tally],
    budgets: &[Option<f64>],
) {
    println!("\n### {title}\n");
    println!(
        "| scenario | req/s (median) | ratio to first (median) | ratio p25–p75 | p50 | p99 \
         | CPU/req user + sys | CPU ratio | budget | |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let reference_cpu = {
        let (u, s) = tallies[0].cpu_us_per_request();
        u + s
    };
    for ((sc, t), budget) in scenarios.iter().zip(tallies).zip(budgets) {
        let ratio = median_f64(&t.ratio);
        let (budget_text, verdict) = match budget {
            Some(b) => (
                format!("≥ {b:.2}"),
                if ratio >= *b { "met" } else { "MISSED" },
            ),
            None => (String::new(), ""),
        };
        let mut ratios = t.ratio.clone();
        ratios.sort_by(f64::total_cmp);
        let quartile = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
        let (user, sys) = t.cpu_us_per_request();
        println!(
            "| {} | {:.0} | {:.3} | {:.2}–{:.2} | {} | {} | {:.0} + {:.0} µs | {:.3} | {} | {} |",
            sc.name,
            median_f64(&t.rps),
            ratio,
            quartile(0.25),
            quartile(0.75),
            us(percentile(&t.latencies_ns, 50.0)),
            us(percentile(&t.latencies_ns, 99.0)),
            user,
            sys,
            reference_cpu / (user + sys),
            budget_text,
            verdict
        );
    }
}

// ---------------------------------------------------------------------------------------
// Sections

/// Every component of spin.toml (and the baseline fixture) against its size budget.
fn sizes() {
    let text = std::fs::read_to_string(root().join("spin.toml")).expect("spin.toml");
    let manifest: toml::Table = toml::from_str(&text).expect("spin.toml parses");
    let mut files: Vec<(String, PathBuf)> = manifest
        .get("component")
        .and_then(toml::Value::as_table)
        .expect("[component]")
        .iter()
        .filter_map(|(id, c)| Some((id.clone(), root().join(c.get("source")?.as_str()?))))
        .collect();
    files.push(("baseline (fixture)".into(), wasm("baseline")));
    println!("\n### Component sizes (release .wasm)\n");
    println!("| component | bytes | budget | |");
    println!("|---|---:|---:|---|");
    for (id, path) in files {
        let budget = if id == "verify-key" {
            VERIFY_KEY_MAX_BYTES
        } else {
            COMPONENT_MAX_BYTES
        };
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        let verdict = if len <= budget { "met" } else { "MISSED" };
        println!("| {id} | {len} | ≤ {budget} | {verdict} |");
    }
}

struct Context {
    rt: tokio::runtime::Runtime,
    manifest: PathBuf,
    cores: usize,
    concurrency: usize,
    host: TestHost,
    keys: Keys,
}

fn main_scenarios(keys: &Keys) -> Vec<Arc<Scenario>> {
    let unknown = NewSecret::from_random_bytes([7; 32]).expose().to_string();
    let malformed = {
        let mut b = keys.typical.as_bytes().to_vec();
        b[20] = if b[20] == b'a' { b'b' } else { b'a' };
        String::from_utf8(b).unwrap()
    };
    vec![
        baseline_scenario(),
        verify_scenario(
            "POST /verify, valid (typical key)",
            &keys.typical,
            "employees.read",
            "ACME",
        ),
        authorize_scenario(
            "GET /authorize, valid (typical key)",
            &keys.typical,
            "employees.read",
            "ACME",
        ),
        verify_scenario(
            "POST /verify, valid (50 methods, 200 companies)",
            &keys.large,
            LARGE_METHOD,
            LARGE_COMPANY,
        ),
        authorize_scenario(
            "GET /authorize, valid (50 methods, 200 companies)",
            &keys.large,
            LARGE_METHOD,
            LARGE_COMPANY,
        ),
        verify_scenario(
            "POST /verify, malformed key (checksum)",
            &malformed,
            "employees.read",
            "ACME",
        ),
        verify_scenario(
            "POST /verify, unknown key",
            &unknown,
            "employees.read",
            "ACME",
        ),
        // verify-key's cheapest answer (no body, no store): its instantiation cost.
        Scenario::new("GET /verify → 405 (verify-key, no work)", 405, |_| {
            request("GET", "/api/v1/verify", &[], &[])
        }),
    ]
}

fn components(cx: &Context, o: &Options) {
    let scenarios = main_scenarios(&cx.keys);
    let expect = [
        None,
        Some("\"VALID\""),
        None,
        Some("\"VALID\""),
        None,
        Some("NOT_FOUND"),
        Some("NOT_FOUND"),
        None,
    ];
    let tallies = cx.rt.block_on(async {
        for (sc, needle) in scenarios.iter().zip(expect) {
            check_answer(&cx.host, sc, needle).await;
        }
        let host = cx.host.clone();
        measure(
            &move |_| host.clone(),
            &scenarios,
            o.rounds,
            o.secs,
            cx.concurrency,
        )
        .await
    });
    print_table(
        &format!(
            "In-process throughput and latency ({} concurrent requests, {} rounds × {} s)",
            cx.concurrency, o.rounds, o.secs
        ),
        &scenarios,
        &tallies,
        &[
            None,
            Some(0.85),
            Some(0.85),
            Some(0.85),
            Some(0.85),
            Some(0.95),
            None,
            None,
        ],
    );

    // Latency of one request at a time: the service time, without queueing behind others.
    let rounds = (o.rounds / 4).max(2);
    let tallies = cx.rt.block_on(async {
        let host = cx.host.clone();
        measure(&move |_| host.clone(), &scenarios, rounds, o.secs, 1).await
    });
    println!(
        "\n### In-process latency, one request at a time ({rounds} rounds × {} s)\n",
        o.secs
    );
    println!("| scenario | p50 | p99 | p99.9 | p50 minus baseline p50 |");
    println!("|---|---:|---:|---:|---:|");
    let base = percentile(&tallies[0].latencies_ns, 50.0) as f64;
    for (sc, t) in scenarios.iter().zip(&tallies) {
        let p50 = percentile(&t.latencies_ns, 50.0);
        println!(
            "| {} | {} | {} | {} | {:+.0} µs |",
            sc.name,
            us(p50),
            us(percentile(&t.latencies_ns, 99.0)),
            us(percentile(&t.latencies_ns, 99.9)),
            (p50 as f64 - base) / 1_000.0
        );
    }
}

/// Other builds of verify-key (`--variant NAME=PATH`, e.g. another opt-level) against the
/// current one and the baseline, in the same run: one host per build, keys made in each.
fn variants(cx: &Context, o: &Options) {
    let mut builds = vec![(
        "current".to_string(),
        wasm("verify_key"),
        cx.host.clone(),
        None,
    )];
    for (name, path) in &o.variants {
        let dir = tempfile::tempdir().expect("temp dir");
        let manifest =
            write_bench_manifest(dir.path(), &[("verify-key".to_string(), path.clone())]);
        let host = start_host(&manifest);
        builds.push((name.clone(), path.clone(), host, Some(dir)));
    }
    let mut scenarios = vec![baseline_scenario()];
    let mut hosts = vec![cx.host.clone()];
    println!("\n### verify-key builds compared (same run)\n");
    println!("| build | .wasm bytes |");
    println!("|---|---:|");
    for (name, path, host, _) in &builds {
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        println!("| {name} ({}) | {len} |", path.display());
        let keys = cx.rt.block_on(create_keys(host, &admin_token()));
        let all = main_scenarios(&keys);
        for index in [1, 3, 5] {
            let sc = all[index].clone();
            let name = format!("{name}: {}", sc.name);
            let expect = sc.expect;
            scenarios.push(Scenario::new(&name, expect, move |i| (sc.make)(i)));
            hosts.push(host.clone());
        }
    }
    let tallies = cx.rt.block_on(async {
        let hosts = hosts.clone();
        measure(
            &move |i| hosts[i].clone(),
            &scenarios,
            o.rounds,
            o.secs,
            cx.concurrency,
        )
        .await
    });
    print_table(
        &format!(
            "verify-key builds ({} concurrent requests, {} rounds × {} s)",
            cx.concurrency, o.rounds, o.secs
        ),
        &scenarios,
        &tallies,
        &vec![None; scenarios.len()],
    );
}

/// Runs one scenario alone for `--secs` (default 1; use ~20 under `perf record`).
fn soak(cx: &Context, o: &Options) {
    let scenarios = main_scenarios(&cx.keys);
    let sc = scenarios
        .get(o.scenario)
        .unwrap_or_else(|| panic!("--scenario 0..{}", scenarios.len() - 1));
    let before = cpu_ticks();
    let run = cx.rt.block_on(drive(
        &cx.host,
        sc,
        cx.concurrency,
        Duration::from_secs_f64(o.secs),
    ));
    let after = cpu_ticks();
    let mut l = run.latencies_ns.clone();
    l.sort_unstable();
    let tally = Tally {
        latencies_ns: l.clone(),
        cpu_ticks: (after.0 - before.0, after.1 - before.1),
        ..Tally::default()
    };
    let (user, sys) = tally.cpu_us_per_request();
    println!(
        "\n### Soak: {} for {:.1} s: {:.0} req/s, p50 {}, p99 {}, CPU/req {:.0} µs user + {:.0} µs sys",
        sc.name,
        run.elapsed.as_secs_f64(),
        run.rps(),
        us(percentile(&l, 50.0)),
        us(percentile(&l, 99.0)),
        user,
        sys
    );
}

/// splitmix64: a cheap, well-mixed index from a request counter.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Seeds `n` verification records (typical shape), each with a `used:` entry a day ahead
/// unless `last_use_writes`, and returns their secrets.
fn seed(host: &TestHost, n: usize, tag: u8, last_use_writes: bool) -> Vec<String> {
    let now = Timestamp::now().unix();
    let mut secrets = Vec::with_capacity(n);
    for i in 0..n {
        let mut random = [tag; 32];
        random[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let secret = NewSecret::from_random_bytes(random);
        let key_id = format!("key_bench{tag:02x}{i:08}");
        let record = VerificationRecord {
            key_id: key_id.clone(),
            label: format!("Seeded key {i}"),
            hint: secret.hint(),
            active: true,
            methods: vec![
                "absences.read".into(),
                "employees.read".into(),
                "payroll.*".into(),
            ],
            companies: CompanyScope::Only(vec![
                CompanyId::parse("ACME").unwrap(),
                CompanyId::parse("GLOBEX").unwrap(),
            ]),
            expires_at: None,
            valid_until: None,
            created_at: 1_796_000_000,
            metadata: None,
            limits: Default::default(),
        };
        host.kv_put(
            "default",
            &record_key(&secret.hash().to_hex()),
            &record.encode().expect("a well-formed record"),
        )
        .expect("seed record");
        if !last_use_writes {
            host.kv_put(
                "default",
                &last_used_key(&key_id),
                (now + 86_400).to_string().as_bytes(),
            )
            .expect("seed last use");
        }
        secrets.push(secret.expose().to_string());
    }
    secrets
}

fn random_key_scenario(name: &str, secrets: Vec<String>) -> Arc<Scenario> {
    let bodies: Vec<Vec<u8>> = secrets
        .iter()
        .map(|k| verify_body(k, "employees.read", "ACME"))
        .collect();
    Scenario::new(name, 200, move |i| {
        let body = &bodies[(mix(i) % bodies.len() as u64) as usize];
        request(
            "POST",
            "/api/v1/verify",
            &[("content-type", "application/json")],
            body,
        )
    })
}

fn growth(cx: &Context, o: &Options) {
    let mut hosts = Vec::new();
    let mut scenarios = Vec::new();
    let mut sizes: Vec<(usize, bool)> = o.growth_sizes.iter().map(|&n| (n, false)).collect();
    sizes.push((*o.growth_sizes.last().unwrap(), true));
    for (i, &(n, writes)) in sizes.iter().enumerate() {
        let host = start_host(&cx.manifest);
        let t0 = Instant::now();
        let secrets = seed(&host, n, i as u8 + 1, writes);
        eprintln!(
            "  seeded {n} records in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        let name = if writes {
            format!("verify, random key of {n} (no used: entries: last-use writes)")
        } else {
            format!("verify, random key of {n}")
        };
        let sc = random_key_scenario(&name, secrets);
        cx.rt.block_on(check_answer(&host, &sc, Some("\"VALID\"")));
        hosts.push(host);
        scenarios.push(sc);
    }
    let tallies = cx.rt.block_on(async {
        let hosts = hosts.clone();
        measure(
            &move |i| hosts[i].clone(),
            &scenarios,
            o.rounds,
            o.secs,
            cx.concurrency,
        )
        .await
    });
    let mut budgets = vec![None; scenarios.len()];
    budgets[o.growth_sizes.len() - 1] = Some(0.9);
    print_table(
        &format!(
            "Growth: verify with N records in the store ({} concurrent, {} rounds × {} s)",
            cx.concurrency, o.rounds, o.secs
        ),
        &scenarios,
        &tallies,
        &budgets,
    );
    for (host, (n, _)) in hosts.iter().zip(&sizes) {
        let size = |name: &str| {
            std::fs::metadata(host.state_dir().join(name)).map_or(0, |m| m.len()) as f64 / 1e6
        };
        println!(
            "{n} records: key-value file {:.1} MB + WAL {:.1} MB",
            size("sqlite_key_value.db"),
            size("sqlite_key_value.db-wal")
        );
    }
    native_kv_get(&o.growth_sizes);
}

/// The host's key-value `get` alone (SQLite behind the test host's `spin:key-value`), native,
/// one thread: what one store read costs at each store size.
fn native_kv_get(sizes: &[usize]) {
    use spin_test_host::stores::Stores;
    println!("\n### The host's key-value get alone (native, one thread, random present keys)\n");
    println!("| records | median | p99 |");
    println!("|---:|---:|---:|");
    let value = vec![b'x'; 300];
    for &n in sizes {
        let stores =
            Stores::new(None, ["default".to_string()].into(), Default::default()).expect("stores");
        let names: Vec<String> = (0..n)
            .map(|i| record_key(&keys_domain::key::KeyHash::of(&i.to_string()).to_hex()))
            .collect();
        for name in &names {
            stores.kv_set("default", name, &value).expect("set");
        }
        let samples = 20_000;
        let mut l = Vec::with_capacity(samples);
        for i in 0..samples as u64 {
            let name = &names[(mix(i) % n as u64) as usize];
            let t0 = Instant::now();
            let got = stores.kv_get("default", name).expect("get");
            l.push(t0.elapsed().as_nanos() as u64);
            assert!(got.is_some());
        }
        l.sort_unstable();
        println!(
            "| {n} | {:.1} µs | {:.1} µs |",
            percentile(&l, 50.0) as f64 / 1e3,
            percentile(&l, 99.0) as f64 / 1e3
        );
    }
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn memory(cx: &Context, o: &Options) {
    let scenarios = main_scenarios(&cx.keys);
    println!("\n### Peak linear memory of one instance (resource limiter)\n");
    println!("| scenario | component | peak linear memory | budget | |");
    println!("|---|---|---:|---:|---|");
    cx.rt.block_on(async {
        for sc in &scenarios {
            let (_, stats) = cx
                .host
                .request_with_stats((sc.make)(0))
                .await
                .expect("answers");
            let (budget, verdict) = if stats.component == "verify-key" {
                (
                    "≤ 2 MiB".to_string(),
                    if stats.peak_memory_bytes <= PEAK_MEMORY_MAX_BYTES {
                        "met"
                    } else {
                        "MISSED"
                    },
                )
            } else {
                (String::new(), "")
            };
            println!(
                "| {} | {} | {} B ({:.2} MiB) | {budget} | {verdict} |",
                sc.name,
                stats.component,
                stats.peak_memory_bytes,
                stats.peak_memory_bytes as f64 / (1 << 20) as f64
            );
        }
    });

    // Host RSS over many verifications (typical key).
    let sc = scenarios[1].clone();
    let total = o.rss_requests;
    let every = o.rss_every;
    let samples = Arc::new(Mutex::new(vec![(0u64, vm_rss_kib())]));
    let counter = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    cx.rt.block_on(async {
        let tasks: Vec<_> = (0..cx.concurrency)
            .map(|_| {
                let (host, sc, samples, counter) = (
                    cx.host.clone(),
                    sc.clone(),
                    samples.clone(),
                    counter.clone(),
                );
                tokio::spawn(async move {
                    loop {
                        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                        if n > total {
                            break;
                        }
                        let resp = host.request((sc.make)(n)).await.expect("answers");
                        assert_eq!(resp.status().as_u16(), sc.expect);
                        if n % every == 0 {
                            samples.lock().unwrap().push((n, vm_rss_kib()));
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let mut samples = samples.lock().unwrap().clone();
    samples.sort_unstable();
    println!(
        "\n### Host memory over {total} verifications ({:.1} s)\n",
        t0.elapsed().as_secs_f64()
    );
    println!(
        "VmRSS (KiB) every {every}: {}",
        samples
            .iter()
            .map(|(n, kib)| format!("{n}:{kib}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if samples.len() > 2 {
        let first = samples[1].1 as f64;
        let last = samples.last().unwrap().1 as f64;
        let max = samples[1..].iter().map(|s| s.1).max().unwrap() as f64;
        let min = samples[1..].iter().map(|s| s.1).min().unwrap() as f64;
        println!(
            "from the first sample to the last: {:+.1} % ({:+.0} KiB); spread after the first: {:.0} KiB",
            (last - first) / first * 100.0,
            last - first,
            max - min
        );
    }
}

/// Runs wrk and returns (requests/s, p50 µs, p99 µs, non-2xx count).
fn wrk(url: &str, secs: u64, args: &[&str]) -> Option<(f64, f64, f64, u64)> {
    let out = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{secs}s"), "--latency"])
        .args(args)
        .arg(url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rps = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut errors = 0;
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("50%") {
            p50 = parse_wrk_duration(v.trim());
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = parse_wrk_duration(v.trim());
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors = v.trim().parse().unwrap_or(u64::MAX);
        }
    }
    if rps.is_none() {
        eprintln!(
            "wrk output not understood:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some((rps?, p50?, p99?, errors))
}

/// `812.00us`, `1.23ms`, `2.00s` → µs.
fn parse_wrk_duration(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|v| v * scale)
}

fn http_section(cx: &Context, o: &Options) {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("\n### HTTP: skipped (wrk not found: apt-get install -y wrk)");
        return;
    }
    let listener = cx
        .rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let host = cx.host.clone();
    cx.rt.spawn(async move { host.serve(listener).await });
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("verify.lua");
    let body = String::from_utf8(verify_body(&cx.keys.typical, "employees.read", "ACME")).unwrap();
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = '{body}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        ),
    )
    .unwrap();
    let base = format!("http://{addr}");
    let key_header = format!("X-Api-Key: {}", cx.keys.typical);
    let script_path = script.to_string_lossy().into_owned();
    type Case<'a> = (&'a str, String, Vec<&'a str>);
    let cases: Vec<Case<'_>> = vec![
        (
            "baseline (204 fixture)",
            format!("{base}{BASELINE_ROUTE}"),
            vec![],
        ),
        (
            "POST /verify, valid (typical key)",
            format!("{base}/api/v1/verify"),
            vec!["-s", &script_path],
        ),
        (
            "GET /authorize, valid (typical key)",
            format!("{base}/api/v1/authorize"),
            vec![
                "-H",
                &key_header,
                "-H",
                "X-Api-Method: employees.read",
                "-H",
                "X-Api-Company: ACME",
            ],
        ),
    ];
    let mut results: BTreeMap<usize, Vec<(f64, f64, f64, u64)>> = BTreeMap::new();
    for round in 0..o.http_rounds {
        for (i, (_, url, args)) in cases.iter().enumerate() {
            if let Some(r) = wrk(url, o.http_secs, args) {
                results.entry(i).or_default().push(r);
            }
        }
        eprintln!("  http round {}/{} done", round + 1, o.http_rounds);
    }
    println!(
        "\n### HTTP: server mode under wrk -t2 -c64 ({} rounds × {} s; wrk shares the {} cores)\n",
        o.http_rounds, o.http_secs, cx.cores
    );
    println!(
        "| scenario | req/s (median) | ratio to baseline | p50 (median) | p99 (median) | non-2xx |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let base_rps = results
        .get(&0)
        .map(|r| median_f64(&r.iter().map(|x| x.0).collect::<Vec<_>>()));
    for (i, (name, _, _)) in cases.iter().enumerate() {
        let Some(r) = results.get(&i) else {
            println!("| {name} | failed | | | | |");
            continue;
        };
        let rps = median_f64(&r.iter().map(|x| x.0).collect::<Vec<_>>());
        let p50 = median_f64(&r.iter().map(|x| x.1).collect::<Vec<_>>());
        let p99 = median_f64(&r.iter().map(|x| x.2).collect::<Vec<_>>());
        let errors: u64 = r.iter().map(|x| x.3).sum();
        println!(
            "| {name} | {rps:.0} | {:.3} | {:.0} µs | {:.0} µs | {errors} |",
            rps / base_rps.unwrap_or(f64::NAN),
            p50,
            p99
        );
    }
}

/// Times `n` sequential requests made by `call(i)`; returns sorted latencies.
async fn time_each<F, Fut>(n: usize, mut call: F) -> Vec<u64>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = Instant::now();
        call(i).await;
        out.push(t0.elapsed().as_nanos() as u64);
    }
    out.sort_unstable();
    out
}

fn admin_section(cx: &Context, o: &Options) {
    let host = start_host(&cx.manifest);
    let token = admin_token();
    let n = o.admin_keys;
    let samples = o.admin_samples;
    let rows = cx.rt.block_on(async {
        // Seed: n keys through the admin API, two at a time (SQLite serialises the writes).
        let t0 = Instant::now();
        let ids = Arc::new(Mutex::new(Vec::with_capacity(n)));
        let next = Arc::new(AtomicU64::new(0));
        let seeders: Vec<_> = (0..2)
            .map(|_| {
                let (host, token, ids, next) = (host.clone(), token.clone(), ids.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        if i >= n {
                            break;
                        }
                        let key = admin_ok(
                            &host,
                            &token,
                            "POST",
                            "/api/v1/keys",
                            Some(json!({"label": format!("Seeded key {i}"), "methods": ["employees.read"]})),
                        )
                        .await;
                        ids.lock().unwrap().push(key["id"].as_str().unwrap().to_string());
                    }
                })
            })
            .collect();
        for s in seeders {
            s.await.unwrap();
        }
        let seed_secs = t0.elapsed().as_secs_f64();
        eprintln!("  seeded {n} keys through POST /keys in {seed_secs:.1} s");
        let ids = ids.lock().unwrap().clone();

        let create = time_each(samples, |i| {
            let (host, token) = (host.clone(), token.clone());
            async move {
                admin_ok(&host, &token, "POST", "/api/v1/keys",
                    Some(json!({"label": format!("Timed key {i}"), "methods": ["employees.read", "payroll.*"]})),
                ).await;
            }
        })
        .await;
        let regenerate = time_each(samples, |i| {
            let (host, token, id) = (host.clone(), token.clone(), ids[i].clone());
            async move {
                admin_ok(&host, &token, "POST", &format!("/api/v1/keys/{id}/regenerate"), None).await;
            }
        })
        .await;
        let permissions = time_each(samples, |i| {
            let (host, token, id) = (host.clone(), token.clone(), ids[samples + i].clone());
            async move {
                admin_ok(&host, &token, "PUT", &format!("/api/v1/keys/{id}/permissions"),
                    Some(json!({"methods": ["employees.read", "absences.*"], "companies": "all"})),
                ).await;
            }
        })
        .await;
        let list = time_each(samples, |_| {
            let (host, token) = (host.clone(), token.clone());
            async move {
                let page = admin_ok(&host, &token, "GET", "/api/v1/keys?limit=50", None).await;
                assert_eq!(page["data"].as_array().map(Vec::len), Some(50));
            }
        })
        .await;
        let verify_secret = admin_ok(&host, &token, "POST", "/api/v1/keys",
            Some(json!({"label": "Verify", "methods": ["employees.read"]}))).await["key"]
            .as_str()
            .unwrap()
            .to_string();
        let body = verify_body(&verify_secret, "employees.read", "ACME");
        let verify = time_each(samples, |_| {
            let (host, body) = (host.clone(), body.clone());
            async move {
                let r = host
                    .request(request("POST", "/api/v1/verify", &[("content-type", "application/json")], &body))
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        })
        .await;
        (seed_secs, vec![
            ("POST /keys (create)", create),
            ("POST /keys/{id}/regenerate", regenerate),
            ("PUT /keys/{id}/permissions", permissions),
            ("GET /keys?limit=50 (list 50)", list),
            ("POST /verify, same store (reference)", verify),
        ])
    });
    let (seed_secs, rows) = rows;
    println!(
        "\n### Admin paths with {n} keys (sequential, {samples} samples each; seeding {n} keys took {seed_secs:.1} s, {:.2} ms per key)\n",
        seed_secs * 1000.0 / n as f64
    );
    println!("| call | median | p90 | min |");
    println!("|---|---:|---:|---:|");
    for (name, l) in rows {
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms |",
            percentile(&l, 50.0) as f64 / 1e6,
            percentile(&l, 90.0) as f64 / 1e6,
            l[0] as f64 / 1e6
        );
    }
}

// ---------------------------------------------------------------------------------------

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} cores, {cpu}")
}

fn main() {
    let o = Options::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let concurrency = o.concurrency.unwrap_or(2 * cores);
    println!("## Component benchmark\n\nmachine: {}", machine());
    if o.wants("sizes") {
        sizes();
    }
    let needs_app = [
        "components",
        "soak",
        "variants",
        "growth",
        "memory",
        "http",
        "admin",
    ]
    .iter()
    .any(|s| o.wants(s));
    if !needs_app {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = write_bench_manifest(dir.path(), &o.wasm_overrides);
    let t0 = Instant::now();
    let host = start_host(&manifest);
    eprintln!(
        "  host started (components compiled) in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let token = admin_token();
    let keys = rt.block_on(create_keys(&host, &token));
    let cx = Context {
        rt,
        manifest,
        cores,
        concurrency,
        host,
        keys,
    };
    if o.wants("components") {
        components(&cx, &o);
    }
    if o.wants("soak") {
        soak(&cx, &o);
    }
    if o.wants("variants") {
        variants(&cx, &o);
    }
    if o.wants("growth") {
        growth(&cx, &o);
    }
    if o.wants("memory") {
        memory(&cx, &o);
    }
    if o.wants("http") {
        http_section(&cx, &o);
    }
    if o.wants("admin") {
        admin_section(&cx, &o);
    }
}
