//! What only the test host can measure: the peak linear memory of the one instance that
//! answers a scenario's request (the host's resource limiter), in process, on the same
//! benchmark manifest and with the same keys as on Spin.

use crate::app;
use crate::groups;
use crate::identity::{IDENTITY_SECRET, IDENTITY_SECRET_VARIABLE};
use crate::report::MemoryRow;
use crate::runner;
use crate::scenarios::{Config, KvBackend, Measure, Scenario};
use crate::store;
use anyhow::Context;
use spin_test_host::{HostOptions, TestHost};
use std::path::Path;

/// The budget of one verify-key instance, bytes (2 MiB).
pub const VERIFY_KEY_PEAK_BUDGET: usize = 2 << 20;
/// The component held to [`VERIFY_KEY_PEAK_BUDGET`].
const VERIFY_KEY: &str = "verify-key";
/// The key-value store the synthetic records go to.
const DEFAULT_STORE: &str = "default";

/// Why the test host cannot answer `scenario` as Spin does; `None` when it can.
pub fn why_not(scenario: &Scenario) -> Option<&'static str> {
    let config = &scenario.config;
    if scenario.measure != Measure::Load {
        Some("timed scenarios")
    } else if !config.components.is_empty() {
        Some("edges, the same components as the whole app's rows")
    } else if config.kv_backend == KvBackend::Redis {
        Some("kv_backend = redis, the test host having no Redis")
    } else if config.provider {
        Some("an identity provider, the test host sending no request but service chaining")
    } else if config.access_days > 0 {
        Some("access counts, written into Spin's SQLite file, named otherwise in the test host")
    } else {
        None
    }
}

/// How the memory table names `config`: without Spin's instance flags, which the test host
/// (a fresh instance per request) does not take.
fn label(config: &Config) -> String {
    Config {
        spin_args: &[],
        ..*config
    }
    .describe()
}

/// The line naming the scenarios of `incapable` by reason; `None` when there are none.
fn skipped(incapable: &[&Scenario]) -> Option<String> {
    let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
    for scenario in incapable {
        let why = why_not(scenario).unwrap_or_default();
        match reasons.iter_mut().find(|(r, _)| *r == why) {
            Some((_, names)) => names.push(scenario.name),
            None => reasons.push((why, vec![scenario.name])),
        }
    }
    (!reasons.is_empty()).then(|| {
        let parts: Vec<String> = reasons
            .iter()
            .map(|(why, names)| format!("{} ({why})", names.join(", ")))
            .collect();
        format!("memory of {}", parts.join("; "))
    })
}

/// The peak linear memory of one instance per scenario of `scenarios` the test host can
/// answer, on `manifest` (the benchmark manifest); and one line naming those it cannot, why.
pub fn measure(
    manifest: &Path,
    scenarios: &[&'static Scenario],
) -> anyhow::Result<(Vec<MemoryRow>, Option<String>)> {
    let (capable, incapable): (Vec<&'static Scenario>, Vec<&'static Scenario>) =
        scenarios.iter().partition(|s| why_not(s).is_none());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for group in groups::by_config(&capable) {
        let config = &group.config;
        eprintln!("==> memory (test host): {}", label(config));
        let mut options =
            HostOptions::new(manifest).variable(IDENTITY_SECRET_VARIABLE, IDENTITY_SECRET);
        for (name, value) in config.variables {
            options = options.variable(name, value);
        }
        let host = TestHost::start(options)?;
        let synthetic = store::synthetic_keys(config.records)?;
        for key in &synthetic {
            host.kv_put(DEFAULT_STORE, &key.record_key, &key.record)?;
        }
        let keys = runtime.block_on(app::make_keys(&host, config, &group.scenarios, &synthetic))?;
        for scenario in &group.scenarios {
            let (requests, _) = runner::variants(scenario, &keys, &synthetic, None)?;
            let request = requests.first().context("a scenario has a request")?;
            let (response, stats) = runtime
                .block_on(host.request_with_stats(app::http_request(request)?))
                .with_context(|| format!("{}: the test host failed", scenario.name))?;
            let body = String::from_utf8_lossy(response.body());
            anyhow::ensure!(
                response.status().as_u16() == scenario.expect.status
                    && body.contains(scenario.expect.body_contains),
                "{} answered {} {body:?} in the test host",
                scenario.name,
                response.status()
            );
            rows.push(MemoryRow {
                scenario: scenario.name,
                config: label(config),
                budget: (stats.component == VERIFY_KEY).then_some(VERIFY_KEY_PEAK_BUDGET),
                component: stats.component,
                peak_bytes: stats.peak_memory_bytes,
            });
        }
    }
    Ok((rows, skipped(&incapable)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::{SCENARIOS, find};

    #[test]
    fn the_test_host_answers_the_whole_apps_load_scenarios_on_spins_store() {
        for name in [
            "noop",
            "one-read",
            "verify-valid",
            "verify-allowlist",
            "admin-list-20",
        ] {
            assert_eq!(why_not(find(name).unwrap()), None, "{name}");
        }
    }

    #[test]
    fn the_test_host_leaves_out_edges_redis_providers_access_counts_and_timed_scenarios() {
        for name in [
            "verify-valid-edge",
            "verify-valid-edge-direct",
            "admin-token-rs256",
            "access-review-90d",
            "rebuild-1k",
        ] {
            assert!(why_not(find(name).unwrap()).is_some(), "{name}");
        }
        assert!(SCENARIOS.iter().any(|s| why_not(s).is_none()));
    }

    #[test]
    fn the_scenarios_left_out_are_named_once_grouped_by_reason() {
        let names = [
            "verify-valid-edge",
            "rebuild-1k",
            "verify-valid-edge-direct",
        ];
        let incapable: Vec<&Scenario> = names.iter().map(|n| find(n).unwrap()).collect();
        assert_eq!(
            skipped(&incapable).unwrap(),
            "memory of verify-valid-edge, verify-valid-edge-direct (edges, the same components \
             as the whole app's rows); rebuild-1k (timed scenarios)"
        );
        assert_eq!(skipped(&[]), None);
    }

    #[test]
    fn the_memory_table_leaves_spins_instance_flags_out_of_a_configurations_label() {
        let cached = find("verify-valid-cache").unwrap().config;
        assert_eq!(label(&cached), "10 records, verify_cache_ms=1000");
    }
}
