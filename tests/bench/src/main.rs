//! Benchmark driver: runs the app on real Spin (`spin up`) and measures its scenarios with
//! wrk, each against the two fixtures of the same `spin up` (`noop` and `one-read`), times
//! one-shot operations, reports the release sizes against their budgets and, in the test
//! host, the peak memory of one instance per scenario; prints a markdown report. See
//! [`cli::HELP`] for the usage.
//!
//! Not part of the test command: its figures mean something only on an idle machine.

mod app;
mod cli;
mod groups;
mod identity;
mod memory;
mod report;
mod runner;
mod scenarios;
mod sizes;
mod stats;
mod store;
mod wrk;

use anyhow::Context;
use cli::{Command, MEMORY, Options, SIZES};
use report::{RecordsRatio, Report};
use scenarios::{KEY_PLACEHOLDER, Keys, Measure, SCENARIOS, Store};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The script that finds (or installs) a Spin CLI 4.1+ and prints its path.
const ENSURE_SPIN: &str = "scripts/ensure-spin.sh";
/// Where the prebuilt Spin tools are unless `SPIN_TOOLS_DIR` says (relative to the root).
const DEFAULT_TOOLS_DIR: &str = "../shared/tools";
/// The variable naming the tools directory.
const TOOLS_DIR_VARIABLE: &str = "SPIN_TOOLS_DIR";
/// The tools' installer, which installs `spin-nodelay` with `--nodelay`.
const INSTALL_SPIN: &str = "install-spin.sh";
/// Where this checkout keeps the Spin builds it installs (relative to the root).
const LOCAL_TOOLS_BIN: &str = ".tools/bin";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    match cli::parse(std::env::args().skip(1))? {
        Command::Help => print!("{}", cli::HELP),
        Command::List => print!("{}", list()),
        Command::Run(options) => bench(&options)?,
    }
    Ok(())
}

/// The scenario table, one line each: name, request, keys, configuration (timed ones
/// marked), then the two tables.
fn list() -> String {
    let mut out = String::new();
    for s in SCENARIOS {
        let keys = match s.keys {
            Keys::None => "no key".to_owned(),
            Keys::Valid => "the valid key".to_owned(),
            Keys::Malformed => "the valid key, bad checksum".to_owned(),
            Keys::Limited => "a rate-limited key".to_owned(),
            Keys::Allowlisted => "a 100-block allowlisted key".to_owned(),
            Keys::Zipf(n) => format!("{n} keys, Zipf"),
            Keys::Admin(token) if s.request.path.contains(KEY_PLACEHOLDER) => {
                format!("the key's id, {} token", token.name())
            }
            Keys::Admin(token) => format!("{} token", token.name()),
        };
        let request = format!("{} {}", s.request.method, s.request.path);
        let timed = match s.measure {
            Measure::Load => "",
            Measure::Once => "timed: ",
        };
        out.push_str(&format!(
            "{:<26} {request:<44} {keys:<28} {timed}{}\n",
            s.name,
            s.config.describe()
        ));
    }
    out.push_str(&format!(
        "{SIZES:<26} the release .wasm sizes against their budgets\n\
         {MEMORY:<26} the peak linear memory of one instance per scenario (test host)\n"
    ));
    out
}

/// The repository's root (this crate is `tests/bench`).
fn repository_root() -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize()
        .with_context(|| format!("cannot resolve {}", root.display()))
}

/// The Spin CLI to run: from [`ENSURE_SPIN`] (which honours `SPIN_BIN`), or with `nodelay`
/// the `spin-nodelay` build that [`INSTALL_SPIN`]` --nodelay` installs into this checkout.
fn spin_binary(root: &Path, nodelay: bool) -> anyhow::Result<PathBuf> {
    let mut command = match nodelay {
        false => std::process::Command::new(root.join(ENSURE_SPIN)),
        true => {
            let tools = std::env::var_os(TOOLS_DIR_VARIABLE)
                .map_or_else(|| root.join(DEFAULT_TOOLS_DIR), PathBuf::from);
            let mut command = std::process::Command::new(tools.join(INSTALL_SPIN));
            command.arg("--nodelay").arg(root.join(LOCAL_TOOLS_BIN));
            command
        }
    };
    let output = command
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} found no Spin: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout)?;
    let path = stdout.lines().last().unwrap_or_default().trim();
    anyhow::ensure!(!path.is_empty(), "{command:?} printed no path");
    Ok(PathBuf::from(path))
}

/// Why a group of `config` cannot run on `store` with the manifest's `declared` variables.
fn unrunnable(config: &scenarios::Config, store: Store, declared: &[String]) -> Option<String> {
    let undeclared = config.undeclared(declared);
    if !undeclared.is_empty() {
        return Some(format!(
            "spin.toml declares no variable {}",
            undeclared.join(", ")
        ));
    }
    (config.needs_redis() && store == Store::Spin).then(|| "needs --store redis".to_owned())
}

/// Runs every group of the selected scenarios, the tables asked for, and prints the report.
fn bench(options: &Options) -> anyhow::Result<()> {
    let root = repository_root()?;
    let work = tempfile::Builder::new().prefix("bench-").tempdir()?;
    if let Some(base) = &options.base {
        let wasm = base.join("verify_key.wasm");
        anyhow::ensure!(wasm.exists(), "--base: no {}", wasm.display());
    }
    let (manifest, declared) = app::write_manifest(&root, work.path(), None)?;
    let spin = match options.scenarios.is_empty() {
        true => None,
        false => {
            wrk::ensure_installed()?;
            Some(spin_binary(&root, options.nodelay)?)
        }
    };
    let base = match &options.base {
        Some(dir) => {
            let base_dir = work.path().join("base");
            std::fs::create_dir_all(&base_dir)?;
            Some(app::write_manifest(&root, &base_dir, Some(dir))?.0)
        }
        None => None,
    };
    let header = report::Header::read(
        spin.as_deref(),
        options.nodelay,
        &root,
        options.store.name(),
        options.rounds,
        options.secs,
    );
    let mut report = Report::new(header);
    if let Some(spin) = &spin {
        let setup = runner::Setup {
            manifest: &manifest,
            spin,
            store: options.store,
            rounds: options.rounds,
            secs: options.secs,
            dir: work.path(),
            base: base.as_deref(),
        };
        for group in groups::groups(&options.scenarios) {
            let names: Vec<&str> = group.scenarios.iter().map(|s| s.name).collect();
            if let Some(why) = unrunnable(&group.config, options.store, &declared) {
                let measured: Vec<&str> = group
                    .scenarios
                    .iter()
                    .filter(|s| !scenarios::is_fixture(s))
                    .map(|s| s.name)
                    .collect();
                let why = format!("{} ({why})", measured.join(", "));
                eprintln!("==> skipped: {why}");
                report.skipped.push(why);
                continue;
            }
            eprintln!(
                "==> {}: {}",
                group.config.label(options.store),
                names.join(", ")
            );
            let measured = runner::run(&group, &setup)?;
            report.rows.extend(measured.rows);
            report.timed.extend(measured.timed);
            report.notes.extend(measured.notes);
        }
        report.records_ratio = RecordsRatio::of(&report.rows);
    }
    if options.sizes {
        report.sizes = sizes::measure(&root)?;
    }
    if options.memory {
        let (rows, skipped) = memory::measure(&manifest, &options.memory_scenarios())?;
        report.memory = rows;
        report.skipped.extend(skipped);
    }
    print!("{}", report.markdown());
    if let Some(path) = &options.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str) -> scenarios::Config {
        scenarios::find(name).unwrap().config
    }

    #[test]
    fn a_group_needing_redis_is_skipped_on_spins_store_and_runs_on_redis() {
        let declared: Vec<String> = scenarios::DIRECT_REDIS_VARIABLES
            .iter()
            .map(|v| v.to_string())
            .collect();
        let edge = config("verify-valid-edge-direct");
        assert_eq!(
            unrunnable(&edge, Store::Spin, &declared).as_deref(),
            Some("needs --store redis")
        );
        assert_eq!(unrunnable(&edge, Store::Redis, &declared), None);
        assert_eq!(unrunnable(&config("verify-valid"), Store::Spin, &[]), None);
    }

    #[test]
    fn a_group_setting_an_undeclared_variable_is_skipped_whatever_the_store() {
        let why = unrunnable(&config("verify-valid-cache"), Store::Redis, &[]).unwrap();
        assert_eq!(why, "spin.toml declares no variable verify_cache_ms");
    }

    #[test]
    fn the_list_names_every_scenario_once_then_both_tables() {
        let listed = list();
        let names: Vec<&str> = listed
            .lines()
            .map(|line| line.split_whitespace().next().unwrap_or_default())
            .collect();
        let mut expected: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        expected.extend([SIZES, MEMORY]);
        assert_eq!(names, expected);
        assert!(listed.contains("timed: 0 records, 1000 keys in SQLite"));
    }
}
