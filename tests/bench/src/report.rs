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
    /// `spin --version`.
    pub spin: String,
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
    /// Reads the date, the versions and the machine.
    pub fn read(spin: &Path, root: &Path, store: &'static str, rounds: u32, secs: u32) -> Self {
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
            spin: first_line(output(Command::new(spin).arg("--version"))),
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

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where and on what.
    pub header: Header,
    /// One per scenario and configuration.
    pub rows: Vec<Row>,
    /// The record-count ratio, when both its scenarios ran.
    pub records_ratio: Option<RecordsRatio>,
    /// Why some scenarios did not run.
    pub skipped: Vec<String>,
}

impl Report {
    /// The report as markdown: a header line, a line on the method, the table, then the
    /// record-count ratio and the skipped scenarios.
    pub fn markdown(&self) -> String {
        let h = &self.header;
        let mut out = format!(
            "Spin benchmark, {}: {}, commit {}, {} cores ({}), load {}\n\n",
            h.date, h.spin, h.commit, h.cores, h.cpu, h.load
        );
        out.push_str(&format!(
            "Store {}; wrk keep-alive on 127.0.0.1, -t{} -c{} (@16) and -t{} -c{} (@1), {} s per run; \
             medians over {} round(s); latencies in µs; ratios within each round.\n\n",
            h.store,
            THROUGHPUT.threads,
            THROUGHPUT.connections,
            SINGLE.threads,
            SINGLE.connections,
            h.secs,
            h.rounds
        ));
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
        for skipped in &self.skipped {
            out.push_str(&format!("\nSkipped: {skipped}\n"));
        }
        out
    }
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

    #[test]
    fn the_markdown_table_has_one_line_per_row_under_the_header_line() {
        let report = Report {
            header: Header {
                date: "2026-12-06T12:00:00Z".into(),
                spin: "spin 4.1.0".into(),
                commit: "abc1234-dirty".into(),
                cores: 2,
                cpu: "AMD EPYC".into(),
                load: "0.10 0.20 0.30".into(),
                store: "spin",
                rounds: 1,
                secs: 1,
            },
            rows: vec![row("noop", 2000.0, 1.0)],
            records_ratio: None,
            skipped: vec!["verify-valid-cache (no variable verify_cache_ms)".into()],
        };
        let text = report.markdown();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Spin benchmark, 2026-12-06T12:00:00Z: spin 4.1.0"));
        assert!(lines[0].contains("abc1234-dirty") && lines[0].contains("2 cores (AMD EPYC)"));
        assert!(text.contains("| scenario | config | req/s | ×noop |"));
        assert!(text.contains(
            "| noop | spin, 10 records | 2000 | 1.000 | 2.000 | 100 | 300 | 50 | 150 | 1/0 |"
        ));
        assert!(text.contains("Skipped: verify-valid-cache"));
    }
}
