//! One group of scenarios on one `spin up`: start it, create the admin key, write the
//! synthetic records, check every scenario's answer, warm up, then the rounds.

use crate::app::{self, AdminKey};
use crate::groups::Group;
use crate::report::{RoundMeasure, Row};
use crate::scenarios::HISTORY_COMPANIES;
use crate::scenarios::{Expect, Keys, Rendered, Scenario, Store, asks_verify_key};
use crate::stats::{ZIPF_EXPONENT, ZIPF_TOTAL, zipf_cumulative};
use crate::store::{self, SyntheticKey};
use crate::wrk::{self, Measure, SINGLE, THROUGHPUT};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Seconds of warm-up per scenario before the rounds (each component instantiated, caches
/// and connections warm).
const WARMUP_SECS: u32 = 1;
/// The pause after each scenario's runs: verify-key writes its usage counts in batches
/// 500 ms after their first count, and they should land before the next scenario's runs, not
/// during them.
const QUIET: Duration = Duration::from_millis(1_000);
/// Where [`crate::groups::groups`] puts the fixtures in every group.
const NOOP_AT: usize = 0;
const ONE_READ_AT: usize = 1;

/// What a group runs with.
pub struct Setup<'a> {
    /// The benchmark manifest.
    pub manifest: &'a Path,
    /// The Spin binary.
    pub spin: &'a Path,
    /// Where the store lives.
    pub store: Store,
    /// Rounds per scenario.
    pub rounds: u32,
    /// Seconds per wrk run.
    pub secs: u32,
    /// A directory for scripts and the runtime config.
    pub dir: &'a Path,
    /// The `--base` app's manifest (another build's verify-key), when comparing.
    pub base: Option<&'a Path>,
}

/// A `spin up` of a group, ready to be measured: the app, its admin key and its synthetic
/// keys.
struct Prepared {
    running: app::Running,
    admin: AdminKey,
    synthetic: Vec<SyntheticKey>,
}

/// Starts `manifest` for `group` (its runtime config in `dir`), creates the admin key and
/// writes the synthetic records and the access history.
fn prepare(
    manifest: &Path,
    group: &Group,
    setup: &Setup<'_>,
    dir: &Path,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Prepared> {
    let running = app::start(manifest, setup.spin, setup.store, &group.config, dir)?;
    let admin = runtime.block_on(app::create_key(&running.app))?;
    let synthetic = store::synthetic_keys(group.config.records)?;
    match &running.redis {
        Some(redis) => store::fill_redis(redis.addr(), &synthetic)?,
        None => store::fill_spin(running.app.state_dir(), &synthetic)?,
    }
    if group.config.access_days > 0 {
        let rows = store::fill_access_history(
            running.app.state_dir(),
            &admin.id,
            group.config.access_days,
            HISTORY_COMPANIES,
        )?;
        eprintln!("    {rows} rows of access counts written");
    }
    Ok(Prepared {
        running,
        admin,
        synthetic,
    })
}

/// One measured line: a scenario, or its `--base` twin.
struct Entry {
    /// The report's name.
    name: String,
    /// The app it is sent to (an index into the prepared apps).
    app: usize,
    /// Its requests.
    requests: Vec<Rendered>,
    /// Their cumulative Zipf weights, for several.
    cumulative: Vec<u64>,
    /// The answer expected.
    expect: Expect,
}

/// The requests of `scenario` and, for several, their cumulative Zipf weights.
fn variants(
    scenario: &Scenario,
    admin: &AdminKey,
    synthetic: &[SyntheticKey],
) -> anyhow::Result<(Vec<Rendered>, Vec<u64>)> {
    let request = &scenario.request;
    Ok(match scenario.keys {
        Keys::None => (vec![request.render("")], Vec::new()),
        Keys::Valid => (vec![request.render(&admin.valid)], Vec::new()),
        Keys::Malformed => (vec![request.render(&admin.malformed)], Vec::new()),
        Keys::Admin => (
            vec![request.render(&admin.id).with_token(&app::admin_token())],
            Vec::new(),
        ),
        Keys::Zipf(n) => {
            let keys = synthetic
                .get(..n)
                .with_context(|| format!("{} draws from {n} synthetic keys", scenario.name))?;
            let rendered = keys.iter().map(|k| request.render(&k.secret)).collect();
            (rendered, zipf_cumulative(n, ZIPF_EXPONENT, ZIPF_TOTAL))
        }
    })
}

/// Runs `group` on a `spin up` of its own (and, with `--base`, a second one with the other
/// build's verify-key); one row per scenario and build.
pub fn run(group: &Group, setup: &Setup<'_>) -> anyhow::Result<Vec<Row>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut apps = vec![prepare(setup.manifest, group, setup, setup.dir, &runtime)?];
    if let Some(manifest) = setup.base {
        let dir = manifest.parent().unwrap_or(setup.dir);
        apps.push(prepare(manifest, group, setup, dir, &runtime)?);
    }
    let mut entries = Vec::new();
    for scenario in &group.scenarios {
        for (n, prepared) in apps.iter().enumerate() {
            if n > 0 && !asks_verify_key(scenario) {
                continue;
            }
            let (requests, cumulative) = variants(scenario, &prepared.admin, &prepared.synthetic)?;
            let name = match n {
                0 => scenario.name.to_owned(),
                _ => format!("{}@base", scenario.name),
            };
            entries.push(Entry {
                name,
                app: n,
                requests,
                cumulative,
                expect: scenario.expect,
            });
        }
    }
    let mut scripts: Vec<PathBuf> = Vec::new();
    for (n, entry) in entries.iter().enumerate() {
        let (app, expect) = (&apps[entry.app].running.app, entry.expect);
        for request in [entry.requests.first(), entry.requests.last()]
            .into_iter()
            .flatten()
        {
            let checked = app::check(app, request, expect.status, expect.body_contains);
            runtime
                .block_on(checked)
                .with_context(|| format!("{} does not answer as expected", entry.name))?;
        }
        let path = setup.dir.join(format!("{n}.lua"));
        std::fs::write(&path, wrk::script(&entry.requests, &entry.cumulative)?)?;
        scripts.push(path);
    }
    let targets: Vec<(&str, &Path, String)> = entries
        .iter()
        .zip(&scripts)
        .map(|(e, s)| (e.name.as_str(), s.as_path(), apps[e.app].running.app.url()))
        .collect();
    let measured = measure(&targets, setup)?;
    let label = group.config.label(setup.store);
    Ok(entries
        .into_iter()
        .zip(&measured)
        .map(|(entry, rounds)| Row::of(entry.name, label.clone(), rounds))
        .collect())
}

/// Warms every scenario up, then runs the rounds: in each, every scenario in turn at
/// [`THROUGHPUT`] and at [`SINGLE`]. The measures of each scenario, round by round.
fn measure(
    targets: &[(&str, &Path, String)],
    setup: &Setup<'_>,
) -> anyhow::Result<Vec<Vec<RoundMeasure>>> {
    for (_, script, url) in targets {
        wrk::run(script, THROUGHPUT, WARMUP_SECS, url)?;
        std::thread::sleep(QUIET);
    }
    let mut measured: Vec<Vec<RoundMeasure>> = vec![Vec::new(); targets.len()];
    for round in 1..=setup.rounds {
        let mut busy: Vec<Measure> = Vec::new();
        let mut single: Vec<Measure> = Vec::new();
        for (name, script, url) in targets {
            let at_16 = wrk::run(script, THROUGHPUT, setup.secs, url)?;
            let at_1 = wrk::run(script, SINGLE, setup.secs, url)?;
            eprintln!(
                "    round {round}/{}: {:<26} {:>9.0} req/s@16",
                setup.rounds, name, at_16.rps
            );
            busy.push(at_16);
            single.push(at_1);
            std::thread::sleep(QUIET);
        }
        for (i, rounds) in measured.iter_mut().enumerate() {
            rounds.push(RoundMeasure {
                busy: busy[i],
                single: single[i],
                vs_noop: busy[i].rps / busy[NOOP_AT].rps,
                vs_one_read: busy[i].rps / busy[ONE_READ_AT].rps,
            });
        }
    }
    Ok(measured)
}
