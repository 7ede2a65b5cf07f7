//! The report: where and on what it ran, one row per scenario and configuration (medians
//! over rounds), the record-count ratio; as a markdown table and as JSON.

use crate::scenarios::RECORDS_RATIO;
use crate::stats::median;
use crate::wrk::{Measure, SINGLE, THROUGHPUT};
use serde::Serialize;
use std::path::Path;
use std::process::Command;

/// The columns of the table.
const COLUMNS: &[&str] = &[
    "scenario",
    "config",
    "req/s",
    "×noop",
    "×one-read",
    "p50@16",
    "p99@16",
    "p50@1",
    "p99@1",
    "errors/non-2xx",
];

/// Where, when and on what the benchmark ran.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    /// When it started, RFC 3339 UTC.
    pub date: String,
    /// `spin --version`; empty when no scenario ran on Spin.
    pub spin: String,
    /// Whether it was the `spin-nodelay` build (`TCP_NODELAY` on accepted connections).
    pub nodelay: bool,
    /// `git rev-parse --short HEAD`, with `-dirty` when tracked files changed.
    pub commit: String,
    /// CPUs available.
    pub cores: usize,
    /// The CPU model.
    pub cpu: String,
    /// The load averages over 1, 5 and 15 minutes.
    pub load: String,
    /// `spin` or `redis`.
    pub store: &'static str,
    /// Rounds per scenario.
    pub rounds: u32,
    /// Seconds per wrk run.
    pub secs: u32,
}

impl Header {
    /// Reads the date, the versions and the machine (`spin`: the Spin run, if any).
    pub fn read(
        spin: Option<&Path>,
        nodelay: bool,
        root: &Path,
        store: &'static str,
        rounds: u32,
        secs: u32,
    ) -> Self {
        let first_line = |text: String| text.lines().next().unwrap_or("").trim().to_owned();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map_or("unknown CPU", |(_, model)| model.trim())
            .to_owned();
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load = load
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        let commit = first_line(output(Command::new("git").arg("-C").arg(root).args([
            "rev-parse",
            "--short",
            "HEAD",
        ])));
        let changes = output(Command::new("git").arg("-C").arg(root).args([
            "status",
            "--porcelain",
            "--untracked-files=no",
        ]));
        Header {
            date: keys_domain::time::Timestamp::now().to_string(),
            spin: spin.map_or_else(String::new, |spin| {
                first_line(output(Command::new(spin).arg("--version")))
            }),
            nodelay,
            commit: if changes.trim().is_empty() {
                commit
            } else {
                format!("{commit}-dirty")
            },
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            load,
            store,
            rounds,
            secs,
        }
    }
}

/// A command's standard output, empty when it cannot run.
fn output(command: &mut Command) -> String {
    command
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// What one scenario measured in one round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundMeasure {
    /// At [`THROUGHPUT`].
    pub busy: Measure,
    /// At [`SINGLE`].
    pub single: Measure,
    /// `busy.rps` over noop's of the same round.
    pub vs_noop: f64,
    /// `busy.rps` over one-read's of the same round.
    pub vs_one_read: f64,
}

/// One line of the report: a scenario in a configuration, medians over rounds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The scenario (`NAME@base` for the `--base` build's verify-key).
    pub scenario: String,
    /// Its configuration's label.
    pub config: String,
    /// Requests per second @16.
    pub rps: f64,
    /// Ratio to noop @16.
    pub vs_noop: f64,
    /// Ratio to one-read @16.
    pub vs_one_read: f64,
    /// Median latency @16, µs.
    pub p50_16_us: f64,
    /// 99th percentile latency @16, µs.
    pub p99_16_us: f64,
    /// Median latency @1, µs.
    pub p50_1_us: f64,
    /// 99th percentile latency @1, µs.
    pub p99_1_us: f64,
    /// Socket errors and timeouts, every run together.
    pub socket_errors: u64,
    /// Answers over 399, every run together.
    pub status_errors: u64,
}

impl Row {
    /// The row of `scenario` in `config` from its rounds (at least one).
    pub fn of(scenario: String, config: String, rounds: &[RoundMeasure]) -> Row {
        let m = |figure: fn(&RoundMeasure) -> f64| {
            let values: Vec<f64> = rounds.iter().map(figure).collect();
            median(&values).unwrap_or(f64::NAN)
        };
        let errors = |count: fn(&Measure) -> u64| -> u64 {
            rounds
                .iter()
                .map(|r| count(&r.busy) + count(&r.single))
                .sum()
        };
        Row {
            scenario,
            config,
            rps: m(|r| r.busy.rps),
            vs_noop: m(|r| r.vs_noop),
            vs_one_read: m(|r| r.vs_one_read),
            p50_16_us: m(|r| r.busy.p50_us as f64),
            p99_16_us: m(|r| r.busy.p99_us as f64),
            p50_1_us: m(|r| r.single.p50_us as f64),
            p99_1_us: m(|r| r.single.p99_us as f64),
            socket_errors: errors(|m| m.socket_errors),
            status_errors: errors(|m| m.status_errors),
        }
    }
}

/// How much a store of 100,000 records costs `verify-valid` against one of 10.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordsRatio {
    /// The scenario on the large store.
    pub large: &'static str,
    /// The scenario on the small store.
    pub small: &'static str,
    /// Ratio of their req/s@16.
    pub rps: f64,
    /// Ratio of their ratios to noop (each of its own run).
    pub vs_noop: f64,
}

impl RecordsRatio {
    /// The ratio, when both scenarios are among `rows`.
    pub fn of(rows: &[Row]) -> Option<Self> {
        let (large, small) = RECORDS_RATIO;
        let find = |name: &str| rows.iter().find(|r| r.scenario == name);
        let (l, s) = (find(large)?, find(small)?);
        Some(RecordsRatio {
            large,
            small,
            rps: l.rps / s.rps,
            vs_noop: l.vs_noop / s.vs_noop,
        })
    }
}

/// A timed scenario: one request per round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimedRow {
    /// The scenario.
    pub scenario: &'static str,
    /// Its configuration's label.
    pub config: String,
    /// Keys in SQLite it processed.
    pub keys: usize,
    /// Median seconds over rounds.
    pub median_secs: f64,
    /// Fastest round, seconds.
    pub min_secs: f64,
    /// Slowest round, seconds.
    pub max_secs: f64,
    /// The last answer's body.
    pub answer: String,
}

impl TimedRow {
    /// The row of `scenario` from its rounds' seconds (at least one).
    pub fn of(
        scenario: &'static str,
        config: String,
        keys: usize,
        secs: &[f64],
        answer: String,
    ) -> TimedRow {
        let fold = |pick: fn(f64, f64) -> f64| secs.iter().copied().reduce(pick);
        TimedRow {
            scenario,
            config,
            keys,
            median_secs: median(secs).unwrap_or(f64::NAN),
            min_secs: fold(f64::min).unwrap_or(f64::NAN),
            max_secs: fold(f64::max).unwrap_or(f64::NAN),
            answer,
        }
    }

    /// Keys per second at the median.
    pub fn keys_per_sec(&self) -> f64 {
        self.keys as f64 / self.median_secs
    }
}

/// A release `.wasm` against its budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeRow {
    /// The component id (or the fixture's name).
    pub component: String,
    /// Its size.
    pub bytes: u64,
    /// Its budget, for the app's components.
    pub budget: Option<u64>,
}

/// The peak linear memory of the one instance that answered a scenario's request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryRow {
    /// The scenario.
    pub scenario: &'static str,
    /// Its configuration, as the test host ran it.
    pub config: String,
    /// The component that answered.
    pub component: String,
    /// The instance's largest linear memory, bytes.
    pub peak_bytes: usize,
    /// Its budget, for verify-key.
    pub budget: Option<usize>,
}

/// `met` when `value` is within `budget`, `MISSED` when over, nothing without a budget.
fn verdict<T: PartialOrd>(value: T, budget: Option<T>) -> &'static str {
    match budget {
        Some(budget) if value <= budget => "met",
        Some(_) => "MISSED",
        None => "",
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where and on what.
    pub header: Header,
    /// One per load scenario and configuration.
    pub rows: Vec<Row>,
    /// The record-count ratio, when both its scenarios ran.
    pub records_ratio: Option<RecordsRatio>,
    /// One per timed scenario.
    pub timed: Vec<TimedRow>,
    /// The release sizes, when asked for.
    pub sizes: Vec<SizeRow>,
    /// The peak memory per scenario, when asked for.
    pub memory: Vec<MemoryRow>,
    /// What else the runs saw.
    pub notes: Vec<String>,
    /// Why some scenarios did not run (or were not measured in the test host).
    pub skipped: Vec<String>,
}

impl Report {
    /// An empty report of a run described by `header`.
    pub fn new(header: Header) -> Self {
        Self {
            header,
            rows: Vec::new(),
            records_ratio: None,
            timed: Vec::new(),
            sizes: Vec::new(),
            memory: Vec::new(),
            notes: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// The report as markdown: a header line, then each table that has rows (load scenarios
    /// with a line on the method and the record-count ratio, timed scenarios, sizes, memory),
    /// the notes and the skipped scenarios.
    pub fn markdown(&self) -> String {
        let h = &self.header;
        let spin = match (h.spin.as_str(), h.nodelay) {
            ("", _) => "Spin not run".to_owned(),
            (version, false) => version.to_owned(),
            (version, true) => {
                format!("{version}, spin-nodelay (TCP_NODELAY on accepted connections)")
            }
        };
        let mut out = format!(
            "Spin benchmark, {}: {spin}, commit {}, {} cores ({}), load {}\n",
            h.date, h.commit, h.cores, h.cpu, h.load
        );
        if !self.rows.is_empty() {
            out.push_str(&self.load_table());
        }
        if !self.timed.is_empty() {
            out.push_str(&format!(
                "\nTimed (store {}; one request per round, {} round(s); no ratio: no fixture does \
                 anything comparable):\n\n\
                 | scenario | config | keys | median s | min–max s | keys/s | answer |\n\
                 |---|---|---:|---:|---:|---:|---|\n",
                h.store, h.rounds
            ));
            for t in &self.timed {
                out.push_str(&format!(
                    "| {} | {} | {} | {:.2} | {:.2}–{:.2} | {:.0} | `{}` |\n",
                    t.scenario,
                    t.config,
                    t.keys,
                    t.median_secs,
                    t.min_secs,
                    t.max_secs,
                    t.keys_per_sec(),
                    t.answer
                ));
            }
        }
        if !self.sizes.is_empty() {
            out.push_str(
                "\nRelease .wasm sizes (KB = 1,000 bytes):\n\n\
                 | component | bytes | budget | |\n|---|---:|---:|---|\n",
            );
            for z in &self.sizes {
                let budget = z.budget.map_or(String::new(), |b| format!("≤ {b}"));
                out.push_str(&format!(
                    "| {} | {} | {budget} | {} |\n",
                    z.component,
                    z.bytes,
                    verdict(z.bytes, z.budget)
                ));
            }
        }
        if !self.memory.is_empty() {
            out.push_str(
                "\nPeak linear memory of the one instance answering each scenario (test host, \
                 in process, one request):\n\n\
                 | scenario | config | component | peak | budget | |\n|---|---|---|---:|---:|---|\n",
            );
            for m in &self.memory {
                let budget = m
                    .budget
                    .map_or(String::new(), |b| format!("≤ {:.0} MiB", mib(b)));
                out.push_str(&format!(
                    "| {} | {} | {} | {} B ({:.2} MiB) | {budget} | {} |\n",
                    m.scenario,
                    m.config,
                    m.component,
                    m.peak_bytes,
                    mib(m.peak_bytes),
                    verdict(m.peak_bytes, m.budget)
                ));
            }
        }
        for note in &self.notes {
            out.push_str(&format!("\nNote: {note}\n"));
        }
        for skipped in &self.skipped {
            out.push_str(&format!("\nSkipped: {skipped}\n"));
        }
        out
    }

    /// The line on the method, the table of the load scenarios and the record-count ratio.
    fn load_table(&self) -> String {
        let h = &self.header;
        let mut out = format!(
            "\nStore {}; wrk keep-alive on 127.0.0.1, -t{} -c{} (@16) and -t{} -c{} (@1), {} s per run; \
             medians over {} round(s); latencies in µs; ratios within each round.\n\n",
            h.store,
            THROUGHPUT.threads,
            THROUGHPUT.connections,
            SINGLE.threads,
            SINGLE.connections,
            h.secs,
            h.rounds
        );
        out.push_str(&format!("| {} |\n", COLUMNS.join(" | ")));
        let align: Vec<&str> = COLUMNS
            .iter()
            .enumerate()
            .map(|(i, _)| if i < 2 { "---" } else { "---:" })
            .collect();
        out.push_str(&format!("|{}|\n", align.join("|")));
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {:.0} | {:.3} | {:.3} | {:.0} | {:.0} | {:.0} | {:.0} | {}/{} |\n",
                r.scenario,
                r.config,
                r.rps,
                r.vs_noop,
                r.vs_one_read,
                r.p50_16_us,
                r.p99_16_us,
                r.p50_1_us,
                r.p99_1_us,
                r.socket_errors,
                r.status_errors
            ));
        }
        if let Some(ratio) = &self.records_ratio {
            out.push_str(&format!(
                "\n{} / {} (100,000 vs 10 records): req/s ×{:.3}, ×noop ×{:.3}\n",
                ratio.large, ratio.small, ratio.rps, ratio.vs_noop
            ));
        }
        out
    }
}

/// `bytes` in MiB.
fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(rps: f64, p50_us: u64, errors: u64) -> Measure {
        Measure {
            rps,
            p50_us,
            p99_us: p50_us * 3,
            requests: 1000,
            socket_errors: errors,
            status_errors: 0,
        }
    }

    fn round(rps: f64, vs_noop: f64) -> RoundMeasure {
        RoundMeasure {
            busy: measure(rps, 100, 1),
            single: measure(rps / 4.0, 50, 0),
            vs_noop,
            vs_one_read: vs_noop * 2.0,
        }
    }

    fn row(scenario: &'static str, rps: f64, vs_noop: f64) -> Row {
        Row::of(
            scenario.into(),
            "spin, 10 records".into(),
            &[round(rps, vs_noop)],
        )
    }

    #[test]
    fn a_row_takes_the_median_of_each_figure_over_rounds_and_sums_the_errors() {
        let rounds = [round(900.0, 0.5), round(1000.0, 0.4), round(1200.0, 0.6)];
        let row = Row::of("verify-valid".into(), "spin, 10 records".into(), &rounds);
        assert_eq!(row.rps, 1000.0);
        assert_eq!(row.vs_noop, 0.5);
        assert_eq!(row.vs_one_read, 1.0);
        assert_eq!(row.p50_16_us, 100.0);
        assert_eq!(row.p99_1_us, 150.0);
        assert_eq!((row.socket_errors, row.status_errors), (3, 0));
    }

    #[test]
    fn the_records_ratio_divides_the_large_store_by_the_small_one() {
        let rows = [
            row("verify-valid", 1000.0, 0.5),
            row("verify-valid-100k", 800.0, 0.25),
        ];
        let ratio = RecordsRatio::of(&rows).unwrap();
        assert_eq!((ratio.rps, ratio.vs_noop), (0.8, 0.5));
        assert_eq!(RecordsRatio::of(&rows[..1]), None);
    }

    fn header(spin: &str, nodelay: bool) -> Header {
        Header {
            date: "2026-12-06T12:00:00Z".into(),
            spin: spin.into(),
            nodelay,
            commit: "abc1234-dirty".into(),
            cores: 2,
            cpu: "AMD EPYC".into(),
            load: "0.10 0.20 0.30".into(),
            store: "spin",
            rounds: 1,
            secs: 1,
        }
    }

    #[test]
    fn the_markdown_table_has_one_line_per_row_under_the_header_line() {
        let report = Report {
            rows: vec![row("noop", 2000.0, 1.0)],
            skipped: vec!["verify-valid-cache (no variable verify_cache_ms)".into()],
            ..Report::new(header("spin 4.1.0", false))
        };
        let text = report.markdown();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Spin benchmark, 2026-12-06T12:00:00Z: spin 4.1.0,"));
        assert!(lines[0].contains("abc1234-dirty") && lines[0].contains("2 cores (AMD EPYC)"));
        assert!(text.contains("| scenario | config | req/s | ×noop |"));
        assert!(text.contains(
            "| noop | spin, 10 records | 2000 | 1.000 | 2.000 | 100 | 300 | 50 | 150 | 1/0 |"
        ));
        assert!(text.contains("Skipped: verify-valid-cache"));
        assert!(!text.contains("Timed") && !text.contains("sizes") && !text.contains("Peak"));
    }

    #[test]
    fn the_header_names_the_nodelay_build_and_a_run_without_spin() {
        let nodelay = Report::new(header("spin 4.1.0", true)).markdown();
        assert!(
            nodelay
                .lines()
                .next()
                .unwrap()
                .contains("spin 4.1.0, spin-nodelay")
        );
        let none = Report::new(header("", false)).markdown();
        assert!(none.lines().next().unwrap().contains(": Spin not run,"));
        assert!(!none.contains("wrk"));
    }

    #[test]
    fn a_timed_row_takes_the_median_and_the_range_of_its_rounds() {
        let row = TimedRow::of(
            "rebuild-1k",
            "spin".into(),
            1_000,
            &[4.0, 2.0, 3.0],
            "{}".into(),
        );
        assert_eq!(
            (row.median_secs, row.min_secs, row.max_secs),
            (3.0, 2.0, 4.0)
        );
        assert!((row.keys_per_sec() - 333.3).abs() < 0.1);
    }

    #[test]
    fn timed_sizes_and_memory_tables_give_each_figure_against_its_budget() {
        let report = Report {
            timed: vec![TimedRow::of(
                "rebuild-1k",
                "spin, 0 records, 1000 keys in SQLite".into(),
                1_000,
                &[0.5],
                r#"{"records_written":1001}"#.into(),
            )],
            sizes: vec![
                SizeRow {
                    component: "verify-key".into(),
                    bytes: 300_001,
                    budget: Some(300_000),
                },
                SizeRow {
                    component: "kv-proxy".into(),
                    bytes: 150_000,
                    budget: Some(400_000),
                },
                SizeRow {
                    component: "noop (fixture)".into(),
                    bytes: 70_000,
                    budget: None,
                },
            ],
            memory: vec![MemoryRow {
                scenario: "verify-valid",
                config: "10 records".into(),
                component: "verify-key".into(),
                peak_bytes: 196_608,
                budget: Some(2 << 20),
            }],
            notes: vec!["the JWKS was fetched 1 time(s)".into()],
            ..Report::new(header("spin 4.1.0", false))
        };
        let text = report.markdown();
        assert!(text.contains(
            "| rebuild-1k | spin, 0 records, 1000 keys in SQLite | 1000 | 0.50 | 0.50–0.50 | 2000 | `{\"records_written\":1001}` |"
        ));
        assert!(text.contains("| verify-key | 300001 | ≤ 300000 | MISSED |"));
        assert!(text.contains("| kv-proxy | 150000 | ≤ 400000 | met |"));
        assert!(text.contains("| noop (fixture) | 70000 |  |  |"));
        assert!(text.contains(
            "| verify-valid | 10 records | verify-key | 196608 B (0.19 MiB) | ≤ 2 MiB | met |"
        ));
        assert!(text.contains("Note: the JWKS was fetched 1 time(s)"));
        assert!(!text.contains("| scenario | config | req/s"));
    }
}
