use super::*;
use keys_domain::allowlist::{IpAllowlist, allows};
use keys_domain::key::{KeyFormatError, NewSecret, PresentedKey};
use keys_domain::limits::{Quota, RateLimit};

const APP: &str = "spin_manifest_version = 2\n\n[component.a]\n\
                   source = \"target/wasm32-wasip2/release/a.wasm\"\n\
                   [component.b]\nsource = \"/abs/b.wasm\"\n";

#[test]
fn the_bench_manifest_makes_relative_sources_absolute_and_leaves_absolute_ones() {
    let manifest = bench_manifest(APP, Path::new("/repo"));
    assert!(manifest.contains("source = \"/repo/target/wasm32-wasip2/release/a.wasm\"\n"));
    assert!(manifest.contains("source = \"/abs/b.wasm\"\n"));
}

#[test]
fn the_bench_manifest_routes_both_fixtures_and_lets_one_read_open_the_default_store() {
    let manifest = bench_manifest(APP, Path::new("/repo"));
    let parsed = Manifest::parse(&manifest, Path::new("/")).unwrap();
    let route = |path: &str| {
        parsed
            .routes
            .iter()
            .find(|r| r.route == path)
            .map(|r| r.component.clone())
    };
    assert_eq!(route("/bench/noop").as_deref(), Some("bench-noop"));
    assert_eq!(route("/bench/one-read").as_deref(), Some("bench-one-read"));
    let one_read = &parsed.components["bench-one-read"];
    assert_eq!(
        one_read.source,
        Path::new("/repo/target/wasm32-wasip2/release/one_read.wasm")
    );
    assert!(one_read.key_value_stores.contains("default"));
    assert!(parsed.components["bench-noop"].key_value_stores.is_empty());
}

#[test]
fn the_base_manifest_takes_verify_key_and_nothing_else_from_the_other_build() {
    let app = "[component.verify-key]\nsource = \"target/wasm32-wasip2/release/verify_key.wasm\"\n\
               [component.kv-proxy]\nsource = \"target/wasm32-wasip2/release/kv_proxy.wasm\"\n";
    let ours = bench_manifest(app, Path::new("/repo"));
    let theirs = base_manifest(&ours, Path::new("/repo"), Path::new("/old"));
    assert!(theirs.contains("source = \"/old/verify_key.wasm\"\n"));
    assert!(theirs.contains("source = \"/repo/target/wasm32-wasip2/release/kv_proxy.wasm\"\n"));
    assert!(!theirs.contains("/repo/target/wasm32-wasip2/release/verify_key.wasm"));
}

#[test]
fn the_fixture_components_are_the_ones_the_bench_manifest_adds() {
    let parsed = Manifest::parse(&bench_manifest(APP, Path::new("/repo")), Path::new("/")).unwrap();
    for id in FIXTURE_COMPONENTS {
        assert!(parsed.components.contains_key(*id), "{id}");
    }
}

#[test]
fn a_limited_keys_rate_limit_and_quota_are_accepted_and_far_from_a_runs_traffic() {
    let body = KeyKind::Limited.body("L");
    let rate = RateLimit::parse_json(&body["rate_limit"].to_string())
        .unwrap()
        .unwrap();
    let quota = Quota::parse_json(&body["quota"].to_string())
        .unwrap()
        .unwrap();
    // An hour at 100,000 verifications a second stays under both.
    assert!(rate.limit.min(quota.limit) > 100_000 * 3_600);
    assert_eq!(rate.window_seconds, LIMIT_WINDOW_SECS);
    assert_eq!(body["methods"], json!([METHOD]));
    assert_eq!(KeyKind::Plain.body("P").get("rate_limit"), None);
}

#[test]
fn an_allowlisted_key_admits_the_callers_address_as_the_last_of_a_hundred_blocks() {
    let body = KeyKind::Allowlisted.body("A");
    let entries: Vec<String> = serde_json::from_value(body["ip_allowlist"].clone()).unwrap();
    assert_eq!(entries.len(), ALLOWLIST_LEN);
    assert_eq!(entries.last().map(String::as_str), Some(CALLER_IP));
    let allowlist = IpAllowlist::parse(&entries).unwrap();
    assert_eq!(allowlist.entries().len(), ALLOWLIST_LEN);
    let line = allowlist.encode();
    assert!(allows(&line, Some(CALLER_IP)));
    assert!(!allows(&line, Some("203.0.113.8")));
}

#[test]
fn an_edge_serves_its_components_and_the_fixtures_and_nothing_else() {
    let edge = crate::scenarios::find("verify-valid-edge").unwrap().config;
    let options = spin_options(SpinOptions::new("spin.toml"), &edge, None, None).unwrap();
    assert_eq!(
        options.components,
        ["verify-key", "kv-proxy", "bench-noop", "bench-one-read"]
    );
    let whole = crate::scenarios::find("verify-valid").unwrap().config;
    let options = spin_options(SpinOptions::new("spin.toml"), &whole, None, None).unwrap();
    assert!(options.components.is_empty());
}

#[test]
fn kv_backend_redis_names_the_benchmarks_redis_and_is_refused_without_one() {
    let direct = crate::scenarios::find("verify-valid-edge-direct")
        .unwrap()
        .config;
    assert!(spin_options(SpinOptions::new("spin.toml"), &direct, None, None).is_err());
}

#[test]
fn a_configuration_with_a_provider_names_it_in_the_apps_variables() {
    let config = crate::scenarios::find("admin-token-es256").unwrap().config;
    let provider = Provider::start().unwrap();
    let options = spin_options(
        SpinOptions::new("spin.toml"),
        &config,
        None,
        Some(&provider),
    )
    .unwrap();
    let names: Vec<&str> = options.variables.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, crate::scenarios::PROVIDER_VARIABLES);
}

#[test]
fn a_listed_key_counts_once_its_list_entry_shows_every_verification() {
    let page = json!({"data": [
        {"id": "key_a", "requests_24h": LISTED_VERIFICATIONS},
        {"id": "key_b", "requests_24h": 0},
        {"id": "key_c", "requests_24h": LISTED_VERIFICATIONS - 1},
        {"id": "key_d", "requests_24h": LISTED_VERIFICATIONS},
    ]});
    assert_eq!(fully_counted(&page), 2);
    assert_eq!(fully_counted(&json!({"title": "Forbidden"})), 0);
}

#[test]
fn a_key_with_a_wrong_checksum_character_is_refused_by_its_checksum() {
    for random in [[0u8; 32], [7u8; 32], [255u8; 32]] {
        let secret = NewSecret::from_random_bytes(random);
        let malformed = with_wrong_checksum(secret.expose());
        assert_eq!(malformed.len(), secret.expose().len());
        assert_eq!(
            PresentedKey::parse(&malformed).err(),
            Some(KeyFormatError::BadChecksum)
        );
    }
}
