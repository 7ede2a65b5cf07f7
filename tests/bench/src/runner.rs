//! One group of scenarios on one `spin up`: start it, create the admin key, write the
//! synthetic records, check every scenario's answer, warm up, then the rounds.

use crate::app::{self, AdminKey};
use crate::groups::Group;
use crate::report::{RoundMeasure, Row};
use crate::scenarios::{Keys, Rendered, Scenario, Store};
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
        Keys::Zipf(n) => {
            let keys = synthetic
                .get(..n)
                .with_context(|| format!("{} draws from {n} synthetic keys", scenario.name))?;
            let rendered = keys.iter().map(|k| request.render(&k.secret)).collect();
            (rendered, zipf_cumulative(n, ZIPF_EXPONENT, ZIPF_TOTAL))
        }
    })
}

/// Runs `group` on a `spin up` of its own; one row per scenario.
pub fn run(group: &Group, setup: &Setup<'_>) -> anyhow::Result<Vec<Row>> {
    let running = app::start(
        setup.manifest,
        setup.spin,
        setup.store,
        &group.config,
        setup.dir,
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let admin = runtime.block_on(app::create_key(&running.app))?;
    let synthetic = store::synthetic_keys(group.config.records)?;
    match &running.redis {
        Some(redis) => store::fill_redis(redis.addr(), &synthetic)?,
        None => store::fill_spin(running.app.state_dir(), &synthetic)?,
    }
    let mut scripts: Vec<PathBuf> = Vec::new();
    for scenario in &group.scenarios {
        let (requests, cumulative) = variants(scenario, &admin, &synthetic)?;
        let expect = scenario.expect;
        for request in [requests.first(), requests.last()].into_iter().flatten() {
            let checked = app::check(&running.app, request, expect.status, expect.body_contains);
            runtime
                .block_on(checked)
                .with_context(|| format!("{} does not answer as expected", scenario.name))?;
        }
        let path = setup.dir.join(format!("{}.lua", scenario.name));
        std::fs::write(&path, wrk::script(&requests, &cumulative)?)?;
        scripts.push(path);
    }
    let measured = measure(group, &scripts, setup, &running.app.url())?;
    let label = group.config.label(setup.store);
    Ok(group
        .scenarios
        .iter()
        .zip(&measured)
        .map(|(scenario, rounds)| Row::of(scenario.name, label.clone(), rounds))
        .collect())
}

/// Warms every scenario up, then runs the rounds: in each, every scenario in turn at
/// [`THROUGHPUT`] and at [`SINGLE`]. The measures of each scenario, round by round.
fn measure(
    group: &Group,
    scripts: &[PathBuf],
    setup: &Setup<'_>,
    url: &str,
) -> anyhow::Result<Vec<Vec<RoundMeasure>>> {
    for script in scripts {
        wrk::run(script, THROUGHPUT, WARMUP_SECS, url)?;
        std::thread::sleep(QUIET);
    }
    let mut measured: Vec<Vec<RoundMeasure>> = vec![Vec::new(); scripts.len()];
    for round in 1..=setup.rounds {
        let mut busy: Vec<Measure> = Vec::new();
        let mut single: Vec<Measure> = Vec::new();
        for (scenario, script) in group.scenarios.iter().zip(scripts) {
            let at_16 = wrk::run(script, THROUGHPUT, setup.secs, url)?;
            let at_1 = wrk::run(script, SINGLE, setup.secs, url)?;
            eprintln!(
                "    round {round}/{}: {:<26} {:>9.0} req/s@16",
                setup.rounds, scenario.name, at_16.rps
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
