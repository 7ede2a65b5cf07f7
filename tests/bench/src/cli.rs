//! The command line: which scenarios and tables, on which store and Spin build, how long;
//! `--list` and `--help`.

use crate::scenarios::{self, SCENARIOS, Scenario, Store};
use anyhow::{Context, bail};
use std::path::PathBuf;

/// `--help`.
pub const HELP: &str = "\
Runs the app on real Spin (`spin up`) and measures scenarios with wrk.

Usage: cargo run --release -p bench -- [SCENARIO|sizes|memory...] [--store spin|redis]
           [--nodelay] [--rounds N] [--secs S] [--json PATH] [--base DIR] [--list]

Scenarios sharing a `spin up` configuration (variables, deployment, data written into the
stores) run in one `spin up`, together with two fixtures served by it: `noop` (answers 204)
and `one-read` (one key-value read, 200). Each round measures noop, one-read and every load
scenario in turn, with wrk over keep-alive connections on 127.0.0.1: -t2 -c16 for
throughput (@16) and -t1 -c1 for the latency of one request at a time (@1; what an admin
screen on one keep-alive connection sees). The report gives the median over rounds of
req/s@16, its ratios to noop and to one-read of the same round, and the p50 and p99
latencies @16 and @1, as a markdown table on stdout.

Timed scenarios (the rebuild of every verification record into Redis from N keys written
into SQLite; --store redis) send one request per round, on a `spin up` of their own without
the fixtures: their table gives the median and the range of the rounds' seconds and keys per
second, and no ratio (no fixture does anything comparable).

Edge scenarios run `spin up -c verify-key -c kv-proxy` (and the fixtures) on records written
straight into the store, and with `kv_backend = redis` read Redis directly: they need
--store redis. Token scenarios serve a JWKS of RS256, ES256 and EdDSA keys generated per run
from a local server the benchmark starts and stops (the `identity` component fetches it
once), beside the HS256 secret.

Two more tables, named like scenarios:
  sizes               the release .wasm of every component against its budget (verify-key
                      300 KB, the others 400 KB) and the fixtures'
  memory              the peak linear memory of the one instance answering each selected
                      scenario (every scenario when none is named), in the test host, in
                      process (budget 2 MiB for verify-key); edges, Redis, the identity
                      provider, the access history and timed scenarios are left out

Options:
  SCENARIO...         scenarios to run (default: every scenario, sizes and memory; see
                      --list)
  --store spin|redis  Spin's `default` key-value store: its SQLite file (default), or a
                      redis-server of the benchmark's own through a runtime config
  --nodelay           run on spin-nodelay, the same Spin build plus TCP_NODELAY on accepted
                      connections (install-spin.sh --nodelay from $SPIN_TOOLS_DIR, default
                      ../shared/tools, into .tools/bin): not what users run, it shows the
                      component's cost apart from Spin's socket handling
  --rounds N          rounds per scenario (default 3)
  --secs S            seconds per wrk run (default 3)
  --json PATH         also write the report as JSON
  --base DIR          another build's .wasm files (e.g. an older commit's target/
                      wasm32-wasip2/release): a second `spin up` of each group runs the app
                      with that build's verify-key, and every scenario asking verify-key is
                      measured on both in each round (the other build's rows are named
                      `SCENARIO@base`, their ratios taken against this run's fixtures)
  --list              list the scenarios and exit
  -h, --help          show this help

Needs the components built (scripts/build-components.sh), wrk (installed with apt-get when
missing), a Spin CLI 4.1+ (scripts/ensure-spin.sh finds or installs one; SPIN_BIN picks
one) and, for --store redis, redis-server (REDIS_SERVER picks one). Scenarios whose
variables spin.toml does not declare, or that need --store redis, are skipped. Figures mean
something only on an idle machine.
";

/// The default number of rounds.
const DEFAULT_ROUNDS: u32 = 3;
/// The default length of one wrk run, in seconds.
const DEFAULT_SECS: u32 = 3;
/// The name of the sizes table on the command line.
pub const SIZES: &str = "sizes";
/// The name of the memory table on the command line.
pub const MEMORY: &str = "memory";

/// What to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The scenarios to run on Spin, in the order given.
    pub scenarios: Vec<&'static Scenario>,
    /// Whether to report the release sizes.
    pub sizes: bool,
    /// Whether to report the peak memory per scenario (see [`Options::memory_scenarios`]).
    pub memory: bool,
    /// Where Spin's `default` store lives.
    pub store: Store,
    /// Whether to run on the `spin-nodelay` build.
    pub nodelay: bool,
    /// Rounds per scenario.
    pub rounds: u32,
    /// Seconds per wrk run.
    pub secs: u32,
    /// Where to write the JSON report, if anywhere.
    pub json: Option<PathBuf>,
    /// Another build's `.wasm` directory, whose verify-key is measured beside this one.
    pub base: Option<PathBuf>,
}

impl Options {
    /// The scenarios whose peak memory is measured: those run on Spin, or every one when
    /// none is.
    pub fn memory_scenarios(&self) -> Vec<&'static Scenario> {
        match self.scenarios.is_empty() {
            true => SCENARIOS.iter().collect(),
            false => self.scenarios.clone(),
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Measure.
    Run(Options),
    /// List the scenarios.
    List,
    /// Show [`HELP`].
    Help,
}

/// Reads the arguments (without the program's name).
pub fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Command> {
    let mut options = Options {
        scenarios: Vec::new(),
        sizes: false,
        memory: false,
        store: Store::Spin,
        nodelay: false,
        rounds: DEFAULT_ROUNDS,
        secs: DEFAULT_SECS,
        json: None,
        base: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--list" => return Ok(Command::List),
            "--store" => {
                options.store = match value("--store")?.as_str() {
                    "spin" => Store::Spin,
                    "redis" => Store::Redis,
                    other => bail!("--store is spin or redis, not {other:?}"),
                }
            }
            "--nodelay" => options.nodelay = true,
            "--rounds" => options.rounds = positive("--rounds", &value("--rounds")?)?,
            "--secs" => options.secs = positive("--secs", &value("--secs")?)?,
            "--json" => options.json = Some(PathBuf::from(value("--json")?)),
            "--base" => options.base = Some(PathBuf::from(value("--base")?)),
            flag if flag.starts_with('-') => bail!("unknown option {flag} (see --help)"),
            SIZES => options.sizes = true,
            MEMORY => options.memory = true,
            name => {
                let scenario = scenarios::find(name).with_context(|| {
                    let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
                    format!(
                        "no scenario {name:?}; scenarios: {}, and the tables {SIZES}, {MEMORY}",
                        names.join(", ")
                    )
                })?;
                if !options.scenarios.contains(&scenario) {
                    options.scenarios.push(scenario);
                }
            }
        }
    }
    if options.scenarios.is_empty() && !options.sizes && !options.memory {
        options.scenarios = SCENARIOS.iter().collect();
        options.sizes = true;
        options.memory = true;
    }
    Ok(Command::Run(options))
}

/// A whole number of at least 1.
fn positive(name: &str, value: &str) -> anyhow::Result<u32> {
    match value.parse() {
        Ok(n) if n >= 1 => Ok(n),
        _ => bail!("{name} takes a whole number of at least 1, not {value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> anyhow::Result<Options> {
        match parse(args.iter().map(|a| a.to_string()))? {
            Command::Run(options) => Ok(options),
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn no_arguments_run_every_scenario_and_both_tables_on_spins_store_three_rounds_of_three_seconds()
     {
        let options = run(&[]).unwrap();
        assert_eq!(options.scenarios.len(), SCENARIOS.len());
        assert!(options.sizes && options.memory && !options.nodelay);
        assert_eq!(
            (options.store, options.rounds, options.secs),
            (Store::Spin, 3, 3)
        );
        assert_eq!(options.json, None);
        assert_eq!(options.base, None);
    }

    #[test]
    fn naming_only_tables_runs_no_scenario_on_spin_and_measures_every_scenarios_memory() {
        let options = run(&["memory"]).unwrap();
        assert!(options.scenarios.is_empty());
        assert!(options.memory && !options.sizes);
        assert_eq!(options.memory_scenarios().len(), SCENARIOS.len());
        let options = run(&["sizes"]).unwrap();
        assert!(options.scenarios.is_empty() && options.sizes && !options.memory);
    }

    #[test]
    fn memory_beside_named_scenarios_measures_those_scenarios() {
        let options = run(&["verify-valid", "memory", "--nodelay"]).unwrap();
        let names: Vec<&str> = options.memory_scenarios().iter().map(|s| s.name).collect();
        assert_eq!(names, ["verify-valid"]);
        assert!(options.nodelay && !options.sizes);
    }

    #[test]
    fn no_scenario_takes_the_name_of_a_table() {
        assert!(
            SCENARIOS
                .iter()
                .all(|s| s.name != SIZES && s.name != MEMORY)
        );
    }

    #[test]
    fn named_scenarios_and_options_are_taken_as_given() {
        let options = run(&[
            "verify-valid",
            "--store",
            "redis",
            "--rounds",
            "1",
            "noop",
            "--secs",
            "2",
            "--json",
            "out.json",
            "verify-valid",
            "--base",
            "/old",
        ])
        .unwrap();
        assert_eq!(options.base, Some(PathBuf::from("/old")));
        let names: Vec<&str> = options.scenarios.iter().map(|s| s.name).collect();
        assert_eq!(names, ["verify-valid", "noop"]);
        assert_eq!(
            (options.store, options.rounds, options.secs),
            (Store::Redis, 1, 2)
        );
        assert_eq!(options.json, Some(PathBuf::from("out.json")));
    }

    #[test]
    fn unknown_scenarios_stores_and_options_and_zero_rounds_are_refused() {
        assert!(run(&["verify-everything"]).is_err());
        assert!(run(&["--store", "memcached"]).is_err());
        assert!(run(&["--rounds", "0"]).is_err());
        assert!(run(&["--secs"]).is_err());
        assert!(run(&["--fast"]).is_err());
    }

    #[test]
    fn help_and_list_are_answered_instead_of_a_run() {
        let parse = |args: &[&str]| parse(args.iter().map(|a| a.to_string())).unwrap();
        assert_eq!(parse(&["noop", "--help"]), Command::Help);
        assert_eq!(parse(&["--list", "noop"]), Command::List);
    }
}
