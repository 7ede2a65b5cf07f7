//! Benchmark driver: runs the app on real Spin (`spin up`) and measures its scenarios with
//! wrk, each against the two fixtures of the same `spin up` (`noop` and `one-read`), and
//! prints a markdown report. See [`cli::HELP`] for the usage.
//!
//! Not part of the test command: its figures mean something only on an idle machine.

mod app;
mod cli;
mod groups;
mod report;
mod runner;
mod scenarios;
mod stats;
mod store;
mod wrk;

use anyhow::Context;
use cli::{Command, Options};
use report::{RecordsRatio, Report};
use scenarios::{Keys, SCENARIOS};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The script that finds (or installs) a Spin CLI 4.1+ and prints its path.
const ENSURE_SPIN: &str = "scripts/ensure-spin.sh";

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

/// The scenario table, one line each: name, request, keys, configuration.
fn list() -> String {
    let mut out = String::new();
    for s in SCENARIOS {
        let keys = match s.keys {
            Keys::None => "no key".to_owned(),
            Keys::Valid => "the admin-created key".to_owned(),
            Keys::Malformed => "the admin key, bad checksum".to_owned(),
            Keys::Zipf(n) => format!("{n} keys, Zipf"),
            Keys::Admin => "the admin key's id, admin token".to_owned(),
        };
        let request = format!("{} {}", s.request.method, s.request.path);
        let config = s.config.describe();
        out.push_str(&format!(
            "{:<26} {request:<24} {keys:<28} {config}\n",
            s.name
        ));
    }
    out
}

/// The repository's root (this crate is `tests/bench`).
fn repository_root() -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize()
        .with_context(|| format!("cannot resolve {}", root.display()))
}

/// The Spin CLI to run, from [`ENSURE_SPIN`] (which honours `SPIN_BIN`).
fn spin_binary(root: &Path) -> anyhow::Result<PathBuf> {
    let output = std::process::Command::new(root.join(ENSURE_SPIN))
        .output()
        .with_context(|| format!("cannot run {ENSURE_SPIN}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{ENSURE_SPIN} found no Spin: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(PathBuf::from(String::from_utf8(output.stdout)?.trim()))
}

/// Runs every group of the selected scenarios and prints the report.
fn bench(options: &Options) -> anyhow::Result<()> {
    let root = repository_root()?;
    wrk::ensure_installed()?;
    let spin = spin_binary(&root)?;
    let work = tempfile::Builder::new().prefix("bench-").tempdir()?;
    if let Some(base) = &options.base {
        let wasm = base.join("verify_key.wasm");
        anyhow::ensure!(wasm.exists(), "--base: no {}", wasm.display());
    }
    let (manifest, declared) = app::write_manifest(&root, work.path(), None)?;
    let base = match &options.base {
        Some(dir) => {
            let base_dir = work.path().join("base");
            std::fs::create_dir_all(&base_dir)?;
            Some(app::write_manifest(&root, &base_dir, Some(dir))?.0)
        }
        None => None,
    };
    let header = report::Header::read(
        &spin,
        &root,
        options.store.name(),
        options.rounds,
        options.secs,
    );
    let setup = runner::Setup {
        manifest: &manifest,
        spin: &spin,
        store: options.store,
        rounds: options.rounds,
        secs: options.secs,
        dir: work.path(),
        base: base.as_deref(),
    };
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for group in groups::groups(&options.scenarios) {
        let names: Vec<&str> = group.scenarios.iter().map(|s| s.name).collect();
        let undeclared = group.config.undeclared(&declared);
        if !undeclared.is_empty() {
            let measured: Vec<&str> = group
                .scenarios
                .iter()
                .filter(|s| !scenarios::is_fixture(s))
                .map(|s| s.name)
                .collect();
            let why = format!(
                "{} (spin.toml declares no variable {})",
                measured.join(", "),
                undeclared.join(", ")
            );
            eprintln!("==> skipped: {why}");
            skipped.push(why);
            continue;
        }
        eprintln!(
            "==> {}: {}",
            group.config.label(options.store),
            names.join(", ")
        );
        rows.extend(runner::run(&group, &setup)?);
    }
    let report = Report {
        header,
        records_ratio: RecordsRatio::of(&rows),
        rows,
        skipped,
    };
    print!("{}", report.markdown());
    if let Some(path) = &options.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
