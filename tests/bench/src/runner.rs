//! One group of scenarios on one `spin up`: start it, make the keys, write the synthetic
//! records (and the access history, the keys in SQLite), check every scenario's answer, warm
//! up, then the rounds: wrk for the load scenarios, one timed request each for the others.

use crate::app::{self, GroupKeys};
use crate::groups::Group;
use crate::identity::{self, Provider};
use crate::report::{RoundMeasure, Row, TimedRow};
use crate::scenarios::{
    Expect, HISTORY_COMPANIES, Keys, Measure, Rendered, Scenario, Store, asks_verify_key,
};
use crate::stats::{ZIPF_EXPONENT, ZIPF_TOTAL, zipf_cumulative};
use crate::store::{self, SyntheticKey};
use crate::wrk::{self, SINGLE, THROUGHPUT};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Seconds of warm-up per scenario before the rounds (each component instantiated, caches
/// and connections warm).
const WARMUP_SECS: u32 = 1;
/// The pause after each scenario's runs (and each timed request): verify-key writes its usage
/// counts in batches 500 ms after their first count, and they should land before the next
/// scenario's runs, not during them.
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

/// A `spin up` of a group, ready to be measured: the app, the keys its requests carry and its
/// synthetic keys.
struct Prepared {
    running: app::Running,
    keys: GroupKeys,
    synthetic: Vec<SyntheticKey>,
}

/// Starts `manifest` for `group` (its runtime config in `dir`), makes the keys, and writes the
/// synthetic records, the access history and the keys in SQLite.
fn prepare(
    manifest: &Path,
    group: &Group,
    setup: &Setup<'_>,
    dir: &Path,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Prepared> {
    let config = &group.config;
    let running = app::start(manifest, setup.spin, setup.store, config, dir)?;
    let synthetic = store::synthetic_keys(config.records)?;
    let keys = runtime.block_on(app::make_keys(
        &running.app,
        config,
        &group.scenarios,
        &synthetic,
    ))?;
    match &running.redis {
        Some(redis) => store::fill_redis(redis.addr(), &synthetic)?,
        None => store::fill_spin(running.app.state_dir(), &synthetic)?,
    }
    if config.access_days > 0 {
        let id = keys
            .id
            .as_deref()
            .context("access counts need the admin-created key")?;
        let rows = store::fill_access_history(
            running.app.state_dir(),
            id,
            config.access_days,
            HISTORY_COMPANIES,
        )?;
        eprintln!("    {rows} rows of access counts written");
    }
    if config.sqlite_keys > 0 {
        store::fill_sqlite_keys(running.app.state_dir(), config.sqlite_keys)?;
        eprintln!("    {} keys written into SQLite", config.sqlite_keys);
    }
    Ok(Prepared {
        running,
        keys,
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

/// The requests of `scenario` carrying `keys` (or one of `synthetic`, a token minted by
/// `provider`) and, for several, their cumulative Zipf weights.
pub fn variants(
    scenario: &Scenario,
    keys: &GroupKeys,
    synthetic: &[SyntheticKey],
    provider: Option<&Provider>,
) -> anyhow::Result<(Vec<Rendered>, Vec<u64>)> {
    let request = &scenario.request;
    let made = |key: &Option<String>| {
        key.clone()
            .with_context(|| format!("{}: its key was not made", scenario.name))
    };
    Ok(match scenario.keys {
        Keys::None => (vec![request.render("")], Vec::new()),
        Keys::Valid => (vec![request.render(&keys.valid)], Vec::new()),
        Keys::Malformed => (vec![request.render(&keys.malformed)], Vec::new()),
        Keys::Limited => (vec![request.render(&made(&keys.limited)?)], Vec::new()),
        Keys::Allowlisted => (vec![request.render(&made(&keys.allowlisted)?)], Vec::new()),
        Keys::Admin(kind) => {
            let token = identity::token(kind, provider)?;
            let rendered = request.render(&made(&keys.id)?).with_token(&token);
            (vec![rendered], Vec::new())
        }
        Keys::Zipf(n) => {
            let drawn = synthetic
                .get(..n)
                .with_context(|| format!("{} draws from {n} synthetic keys", scenario.name))?;
            let rendered = drawn.iter().map(|k| request.render(&k.secret)).collect();
            (rendered, zipf_cumulative(n, ZIPF_EXPONENT, ZIPF_TOTAL))
        }
    })
}

/// What one group measured.
#[derive(Default)]
pub struct Measured {
    /// One row per load scenario and build.
    pub rows: Vec<Row>,
    /// One row per timed scenario.
    pub timed: Vec<TimedRow>,
    /// What else the run saw (the identity provider's JWKS fetches).
    pub notes: Vec<String>,
}

/// Runs `group` on a `spin up` of its own (and, with `--base` and a scenario asking
/// verify-key, a second one with the other build's verify-key).
pub fn run(group: &Group, setup: &Setup<'_>) -> anyhow::Result<Measured> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut apps = vec![prepare(setup.manifest, group, setup, setup.dir, &runtime)?];
    let compares = group
        .scenarios
        .iter()
        .any(|s| s.measure == Measure::Load && asks_verify_key(s));
    if let Some(manifest) = setup.base.filter(|_| compares) {
        let dir = manifest.parent().unwrap_or(setup.dir);
        apps.push(prepare(manifest, group, setup, dir, &runtime)?);
    }
    let label = group.config.label(setup.store);
    let mut measured = Measured::default();
    let load: Vec<&Scenario> = group
        .scenarios
        .iter()
        .copied()
        .filter(|s| s.measure == Measure::Load)
        .collect();
    if !load.is_empty() {
        measured.rows = run_load(&load, &apps, setup, &runtime, &label)?;
    }
    for scenario in group
        .scenarios
        .iter()
        .filter(|s| s.measure == Measure::Once)
    {
        measured
            .timed
            .push(run_once(scenario, &apps[0], setup, &runtime, &label)?);
    }
    if let Some(provider) = &apps[0].running.provider {
        measured.notes.push(format!(
            "{label}: the identity provider's JWKS was fetched {} time(s)",
            provider.fetches()
        ));
    }
    Ok(measured)
}

/// Checks and measures the load scenarios `load` (the fixtures first) on `apps`; one row per
/// scenario and build.
fn run_load(
    load: &[&Scenario],
    apps: &[Prepared],
    setup: &Setup<'_>,
    runtime: &tokio::runtime::Runtime,
    label: &str,
) -> anyhow::Result<Vec<Row>> {
    let mut entries = Vec::new();
    for scenario in load {
        for (n, prepared) in apps.iter().enumerate() {
            if n > 0 && !asks_verify_key(scenario) {
                continue;
            }
            let (requests, cumulative) = variants(
                scenario,
                &prepared.keys,
                &prepared.synthetic,
                prepared.running.provider.as_ref(),
            )?;
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
    Ok(entries
        .into_iter()
        .zip(&measured)
        .map(|(entry, rounds)| Row::of(entry.name, label.to_owned(), rounds))
        .collect())
}

/// Times `scenario`'s request once per round on `prepared`, checking every answer.
fn run_once(
    scenario: &Scenario,
    prepared: &Prepared,
    setup: &Setup<'_>,
    runtime: &tokio::runtime::Runtime,
    label: &str,
) -> anyhow::Result<TimedRow> {
    let (requests, _) = variants(
        scenario,
        &prepared.keys,
        &prepared.synthetic,
        prepared.running.provider.as_ref(),
    )?;
    let request = requests.first().context("a timed scenario has a request")?;
    let expect = scenario.expect;
    let mut secs = Vec::new();
    let mut answer = String::new();
    for round in 1..=setup.rounds {
        let started = Instant::now();
        answer = runtime
            .block_on(app::check(
                &prepared.running.app,
                request,
                expect.status,
                expect.body_contains,
            ))
            .with_context(|| format!("{} does not answer as expected", scenario.name))?;
        secs.push(started.elapsed().as_secs_f64());
        eprintln!(
            "    round {round}/{}: {:<26} {:>9.2} s",
            setup.rounds,
            scenario.name,
            secs.last().copied().unwrap_or_default()
        );
        std::thread::sleep(QUIET);
    }
    Ok(TimedRow::of(
        scenario.name,
        label.to_owned(),
        scenario.config.sqlite_keys,
        &secs,
        answer.trim().to_owned(),
    ))
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
        let mut busy: Vec<wrk::Measure> = Vec::new();
        let mut single: Vec<wrk::Measure> = Vec::new();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::find;

    fn keys(limited: Option<&str>) -> GroupKeys {
        GroupKeys {
            valid: "ingk_VALID".into(),
            malformed: "ingk_VALIB".into(),
            id: Some("key_1".into()),
            limited: limited.map(str::to_owned),
            allowlisted: None,
        }
    }

    fn one(name: &str, keys: &GroupKeys) -> anyhow::Result<Rendered> {
        let (mut requests, cumulative) = variants(find(name).unwrap(), keys, &[], None)?;
        assert!(cumulative.is_empty() && requests.len() == 1, "{name}");
        Ok(requests.remove(0))
    }

    #[test]
    fn each_scenario_carries_the_key_its_data_names() {
        let keys = keys(Some("ingk_LIMITED"));
        assert!(
            one("verify-valid", &keys)
                .unwrap()
                .body
                .contains("ingk_VALID\"")
        );
        assert!(
            one("verify-malformed", &keys)
                .unwrap()
                .body
                .contains("ingk_VALIB\"")
        );
        assert!(
            one("verify-limited", &keys)
                .unwrap()
                .body
                .contains("ingk_LIMITED\"")
        );
        let get = one("admin-get", &keys).unwrap();
        assert_eq!(get.path, "/api/v1/keys/key_1");
        assert!(
            get.headers[0].1.starts_with("Bearer ey"),
            "{:?}",
            get.headers
        );
    }

    #[test]
    fn a_key_the_group_did_not_make_or_a_provider_token_without_a_provider_is_an_error() {
        let keys = keys(None);
        assert!(one("verify-limited", &keys).is_err());
        assert!(one("verify-allowlist", &keys).is_err());
        assert!(one("admin-token-es256", &keys).is_err());
        assert!(one("admin-token-hs256", &keys).is_ok());
    }

    #[test]
    fn a_zipf_scenario_draws_from_as_many_synthetic_keys_as_it_names() {
        let synthetic = store::synthetic_keys(1_000).unwrap();
        let scenario = find("verify-zipf-1000").unwrap();
        let (requests, cumulative) = variants(scenario, &keys(None), &synthetic, None).unwrap();
        assert_eq!((requests.len(), cumulative.len()), (1_000, 1_000));
        assert!(variants(scenario, &keys(None), &synthetic[..999], None).is_err());
    }
}
