use super::*;
use spin_test_host::manifest::Manifest;
use std::path::Path;

#[test]
fn scenario_names_are_unique() {
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        assert!(
            SCENARIOS[i + 1..].iter().all(|s| s.name != scenario.name),
            "{} twice",
            scenario.name
        );
    }
}

#[test]
fn every_zipf_scenario_runs_with_at_least_as_many_synthetic_records_as_it_draws_from() {
    for scenario in SCENARIOS {
        if let Keys::Zipf(n) = scenario.keys {
            assert!(scenario.config.records >= n, "{}", scenario.name);
        }
    }
}

#[test]
fn the_record_count_ratio_compares_the_same_request_on_two_store_sizes() {
    let (large, small) = (
        find(RECORDS_RATIO.0).unwrap(),
        find(RECORDS_RATIO.1).unwrap(),
    );
    assert_eq!(large.request, small.request);
    assert_eq!(large.keys, small.keys);
    assert_eq!((large.config.records, small.config.records), (100_000, 10));
}

#[test]
fn a_configuration_needs_every_variable_it_sets_declared() {
    let declared = vec!["identity_token_secret".to_owned()];
    assert_eq!(BASE_CACHED.undeclared(&declared), [CACHE_VARIABLE]);
    assert!(BASE.undeclared(&declared).is_empty());
    let declared = vec![CACHE_VARIABLE.to_owned()];
    assert!(BASE_CACHED.undeclared(&declared).is_empty());
}

#[test]
fn a_provider_or_a_direct_redis_configuration_needs_the_variables_it_sets_at_start_declared() {
    assert_eq!(PROVIDER.undeclared(&[]), PROVIDER_VARIABLES);
    assert_eq!(EDGE_DIRECT.undeclared(&[]), DIRECT_REDIS_VARIABLES);
    assert!(EDGE.undeclared(&[]).is_empty());
}

#[test]
fn the_apps_manifest_declares_every_variable_and_component_the_scenarios_use() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let manifest = Manifest::load(&root.join("spin.toml")).unwrap();
    let declared: Vec<String> = manifest.variables.keys().cloned().collect();
    for scenario in SCENARIOS {
        assert!(
            scenario.config.undeclared(&declared).is_empty(),
            "{}",
            scenario.name
        );
        for component in scenario.config.components {
            assert!(
                manifest.components.contains_key(*component),
                "{}: {component}",
                scenario.name
            );
        }
    }
}

#[test]
fn scenarios_on_a_deployment_without_the_admin_api_carry_no_key_made_through_it() {
    let edges: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| !s.config.serves_admin_api())
        .collect();
    assert!(!edges.is_empty());
    for scenario in edges {
        assert!(!scenario.keys.need_admin_api(), "{}", scenario.name);
        assert!(scenario.config.records >= 1, "{}", scenario.name);
        assert!(scenario.config.needs_redis(), "{}", scenario.name);
    }
}

#[test]
fn only_edges_direct_redis_and_the_rebuild_need_the_redis_store() {
    assert!(!BASE.needs_redis() && !LISTED.needs_redis() && !PROVIDER.needs_redis());
    assert!(!HISTORY.needs_redis() && !LARGE.needs_redis());
    assert!(EDGE.needs_redis() && EDGE_DIRECT.needs_redis());
    assert!(rebuilding(1, true).needs_redis() && rebuilding(1, false).needs_redis());
}

#[test]
fn provider_tokens_run_only_where_a_provider_serves_their_jwks() {
    for scenario in SCENARIOS {
        if let Keys::Admin(token) = scenario.keys
            && token.algorithm().is_some()
        {
            assert!(scenario.config.provider, "{}", scenario.name);
        }
    }
    let kinds: Vec<&str> = SCENARIOS
        .iter()
        .filter(|s| s.config.provider)
        .filter_map(|s| match s.keys {
            Keys::Admin(token) => Some(token.name()),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["HS256", "RS256", "ES256", "EdDSA"]);
}

#[test]
fn timed_scenarios_have_configurations_of_their_own_with_keys_in_sqlite() {
    for timed in SCENARIOS.iter().filter(|s| s.measure == Measure::Once) {
        assert!(timed.config.sqlite_keys > 0, "{}", timed.name);
        assert!(timed.config.serves_admin_api(), "{}", timed.name);
        assert!(
            SCENARIOS
                .iter()
                .filter(|s| s.measure == Measure::Load)
                .all(|s| s.config != timed.config),
            "{} shares a `spin up` with a load scenario",
            timed.name
        );
        assert!(!asks_verify_key(timed));
    }
}

#[test]
fn the_fixtures_are_load_scenarios_of_the_default_configuration() {
    for fixture in [NOOP, ONE_READ] {
        assert!(is_fixture(&fixture));
        assert_eq!(
            (fixture.measure, fixture.config),
            (Measure::Load, BASE),
            "{}",
            fixture.name
        );
    }
}

#[test]
fn a_rendered_request_carries_the_key_in_its_body_and_headers() {
    let verify = VERIFY.render("ingk_K");
    assert_eq!(
        verify.body,
        r#"{"key":"ingk_K","method":"employees.read","company":"ACME"}"#
    );
    let authorize = AUTHORIZE.render("ingk_K");
    assert_eq!(authorize.headers[0], ("x-api-key".into(), "ingk_K".into()));
    assert_eq!(authorize.body, "");
}

#[test]
fn the_allowlist_scenario_verifies_from_the_allowlists_last_address() {
    let scenario = find("verify-allowlist").unwrap();
    assert_eq!(scenario.keys, Keys::Allowlisted);
    let body: serde_json::Value =
        serde_json::from_str(&scenario.request.render("ingk_K").body).unwrap();
    assert_eq!(body["ip"], CALLER_IP);
    assert_eq!(
        (body["method"].as_str(), body["company"].as_str()),
        (Some(METHOD), Some(COMPANY))
    );
}

#[test]
fn an_admin_request_carries_the_key_id_in_its_path_and_a_token_in_its_header() {
    let review = find("access-review-365d").unwrap();
    assert_eq!(review.keys, Keys::Admin(Token::Hs256));
    let rendered = review.request.render("key_1").with_token("T");
    assert_eq!(rendered.path, "/api/v1/keys/key_1/access-review?days=365");
    assert_eq!(
        rendered.headers,
        [("authorization".into(), "Bearer T".into())]
    );
    assert!(review.config.access_days >= 365);
    assert!(!asks_verify_key(review));
    assert!(asks_verify_key(find("authorize-valid").unwrap()));
}

#[test]
fn a_configuration_label_names_the_store_the_records_the_variables_and_the_deployment() {
    assert_eq!(BASE.label(Store::Spin), "spin, 10 records");
    assert_eq!(
        THOUSAND_CACHED.label(Store::Redis),
        "redis, 1000 records, verify_cache_ms=1000, long-lived instances"
    );
    assert_eq!(
        EDGE_DIRECT.label(Store::Redis),
        "redis, 10 records, -c verify-key -c kv-proxy, kv_backend=redis"
    );
    assert_eq!(LISTED.describe(), "10 records, 20 keys listed");
    assert_eq!(PROVIDER.describe(), "10 records, identity provider (JWKS)");
    assert_eq!(
        rebuilding(1_000, false).describe(),
        "0 records, 1000 keys in SQLite"
    );
}
