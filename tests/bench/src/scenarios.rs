//! The scenarios, as data: what each one sends, which keys its requests carry, which `spin
//! up` configuration it needs and what it must be answered.

use serde::Serialize;

/// Stands for the key (or, for an admin request, the key's id) in a request's path, body and
/// header values.
pub const KEY_PLACEHOLDER: &str = "{key}";
/// Stands for an admin identity token in a request's header values.
pub const TOKEN_PLACEHOLDER: &str = "{token}";
/// The method the benchmark keys are granted, and that verifications ask for.
pub const METHOD: &str = "employees.read";
/// The company the benchmark keys are restricted to, and that verifications ask for.
pub const COMPANY: &str = "ACME";
/// The Spin variable of verify-key's record cache, in milliseconds.
const CACHE_VARIABLE: &str = "verify_cache_ms";

/// `/verify`'s body: the key, a granted method and company.
const VERIFY_BODY: &str = r#"{"key":"{key}","method":"employees.read","company":"ACME"}"#;
/// The headers of a JSON body.
const JSON_HEADERS: &[(&str, &str)] = &[("content-type", "application/json")];
/// `/authorize`'s headers: the key, a granted method and company.
const AUTHORIZE_HEADERS: &[(&str, &str)] = &[
    ("x-api-key", KEY_PLACEHOLDER),
    ("x-api-method", METHOD),
    ("x-api-company", COMPANY),
];
/// verify-key's record cache on, for a second.
const CACHE_ON: &[(&str, &str)] = &[(CACHE_VARIABLE, "1000")];
/// The `spin up` flags of an edge with the record cache on (deploy/spin-up.sh): instances live
/// long enough for their caches to serve (Spin's defaults retire one after 128 requests or
/// 1 s idle).
const LONG_LIVED_INSTANCES: &[&str] = &[
    "--max-instance-reuse-count",
    "1000000",
    "--idle-instance-timeout",
    "10s",
];

/// Where Spin's `default` key-value store lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    /// Spin's default: a SQLite file in the state directory.
    Spin,
    /// A `redis-server` of the benchmark's own, through the runtime config.
    Redis,
}

impl Store {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Store::Spin => "spin",
            Store::Redis => "redis",
        }
    }
}

/// What one request of a scenario is; `{key}` in the path, the body or a header value stands
/// for the key (its id, for [`Keys::Admin`]), `{token}` in a header value for an admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The HTTP method.
    pub method: &'static str,
    /// The path (and query).
    pub path: &'static str,
    /// The body; empty for none.
    pub body: &'static str,
    /// Header names (lower case) and values.
    pub headers: &'static [(&'static str, &'static str)],
}

impl Request {
    /// This request carrying `key`.
    pub fn render(&self, key: &str) -> Rendered {
        Rendered {
            method: self.method,
            path: self.path.replace(KEY_PLACEHOLDER, key),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.replace(KEY_PLACEHOLDER, key)))
                .collect(),
            body: self.body.replace(KEY_PLACEHOLDER, key),
        }
    }
}

/// A request with its key filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The HTTP method.
    pub method: &'static str,
    /// The path (and query).
    pub path: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body; empty for none.
    pub body: String,
}

impl Rendered {
    /// This request with `token` for `{token}` in its header values.
    pub fn with_token(mut self, token: &str) -> Self {
        for (_, value) in &mut self.headers {
            *value = value.replace(TOKEN_PLACEHOLDER, token);
        }
        self
    }
}

/// The keys a scenario's requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// No key: the request is the same every time.
    None,
    /// The key created through the admin API, granted [`METHOD`] on [`COMPANY`].
    Valid,
    /// That key with its last checksum character changed: refused before any store read.
    Malformed,
    /// The first so many synthetic keys, each request drawing one Zipf-like.
    Zipf(usize),
    /// The admin-created key's id, the request carrying an admin identity token.
    Admin,
}

/// A `spin up` configuration: application variables and the synthetic records written into
/// the store (besides the admin-created key's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `--variable` pairs beyond the identity secret.
    pub variables: &'static [(&'static str, &'static str)],
    /// Synthetic verification records written straight into the store.
    pub records: usize,
    /// More `spin up` arguments.
    pub spin_args: &'static [&'static str],
    /// Days of access counts written straight into SQLite for the admin-created key
    /// (`store::fill_access_history`): every catalog method for each of [`HISTORY_COMPANIES`]
    /// companies, every day.
    pub access_days: u32,
}

impl Config {
    /// How reports name it on `store`, e.g. `spin, 10 records, verify_cache_ms=1000`.
    pub fn label(&self, store: Store) -> String {
        format!("{}, {}", store.name(), self.describe())
    }

    /// Its records and variables, e.g. `10 records, verify_cache_ms=1000`.
    pub fn describe(&self) -> String {
        let mut text = format!("{} records", self.records);
        for (name, value) in self.variables {
            text.push_str(&format!(", {name}={value}"));
        }
        if !self.spin_args.is_empty() {
            text.push_str(", long-lived instances");
        }
        if self.access_days > 0 {
            text.push_str(&format!(
                ", {} days of access counts ({HISTORY_COMPANIES} companies)",
                self.access_days
            ));
        }
        text
    }
}

impl Config {
    /// The names of its variables missing from `declared` (the manifest's variables).
    pub fn undeclared(&self, declared: &[String]) -> Vec<&'static str> {
        self.variables
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !declared.iter().any(|d| d == name))
            .collect()
    }
}

/// What a correct answer looks like, checked once before measuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    /// The status.
    pub status: u16,
    /// Text the body must contain (empty: anything).
    pub body_contains: &'static str,
}

/// One benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// Its name on the command line and in reports.
    pub name: &'static str,
    /// What each request is.
    pub request: Request,
    /// The keys the requests carry.
    pub keys: Keys,
    /// The `spin up` it needs.
    pub config: Config,
    /// What each answer must be.
    pub expect: Expect,
}

/// `records` synthetic records, with verify-key's record cache on (`cached`) or off.
const fn config(records: usize, cached: bool) -> Config {
    match cached {
        true => Config {
            variables: CACHE_ON,
            records,
            spin_args: LONG_LIVED_INSTANCES,
            access_days: 0,
        },
        false => Config {
            variables: &[],
            records,
            spin_args: &[],
            access_days: 0,
        },
    }
}

/// The default configuration: no variables, ten synthetic records.
const BASE: Config = config(10, false);
/// [`BASE`] with verify-key's record cache on.
const BASE_CACHED: Config = config(10, true);
/// A thousand synthetic keys to draw from.
const THOUSAND: Config = config(1_000, false);
/// [`THOUSAND`] with verify-key's record cache on.
const THOUSAND_CACHED: Config = config(1_000, true);
/// A hundred thousand synthetic records in the store.
const LARGE: Config = config(100_000, false);
/// Companies in the access history of [`HISTORY`].
pub const HISTORY_COMPANIES: usize = 50;
/// A year of access counts for the admin-created key.
const HISTORY: Config = Config {
    access_days: 365,
    ..BASE
};
/// An admin token's header.
const ADMIN_HEADERS: &[(&str, &str)] = &[("authorization", "Bearer {token}")];
/// A review's answer.
const REVIEWED: Expect = Expect {
    status: 200,
    body_contains: r#""complete":true"#,
};

const VERIFY: Request = Request {
    method: "POST",
    path: "/api/v1/verify",
    body: VERIFY_BODY,
    headers: JSON_HEADERS,
};
const AUTHORIZE: Request = Request {
    method: "GET",
    path: "/api/v1/authorize",
    body: "",
    headers: AUTHORIZE_HEADERS,
};
const VALID_ANSWER: Expect = Expect {
    status: 200,
    body_contains: r#""code":"VALID""#,
};
const NOT_FOUND_ANSWER: Expect = Expect {
    status: 200,
    body_contains: r#""code":"NOT_FOUND""#,
};
const AUTHORIZED: Expect = Expect {
    status: 204,
    body_contains: "",
};

/// The no-op fixture (`baseline`: instantiate, answer 204), measured in every run.
pub const NOOP: Scenario = Scenario {
    name: "noop",
    request: Request {
        method: "GET",
        path: "/bench/noop",
        body: "",
        headers: &[],
    },
    keys: Keys::None,
    config: BASE,
    expect: Expect {
        status: 204,
        body_contains: "",
    },
};

/// The one-read fixture (the floor of a verification), measured in every run.
pub const ONE_READ: Scenario = Scenario {
    name: "one-read",
    request: Request {
        method: "POST",
        path: "/bench/one-read",
        body: VERIFY_BODY,
        headers: JSON_HEADERS,
    },
    keys: Keys::Valid,
    config: BASE,
    expect: Expect {
        status: 200,
        body_contains: r#""found":false"#,
    },
};

/// The scenario the record-count ratio divides by (ten records) and the one it divides.
pub const RECORDS_RATIO: (&str, &str) = ("verify-valid-100k", "verify-valid");

/// Every scenario, in report order.
pub const SCENARIOS: &[Scenario] = &[
    NOOP,
    ONE_READ,
    verify("verify-valid", Keys::Valid, BASE, VALID_ANSWER),
    verify("verify-malformed", Keys::Malformed, BASE, NOT_FOUND_ANSWER),
    authorize("authorize-valid", Keys::Valid, BASE),
    verify("verify-valid-cache", Keys::Valid, BASE_CACHED, VALID_ANSWER),
    verify(
        "verify-malformed-cache",
        Keys::Malformed,
        BASE_CACHED,
        NOT_FOUND_ANSWER,
    ),
    authorize("authorize-valid-cache", Keys::Valid, BASE_CACHED),
    verify(
        "verify-zipf-1000",
        Keys::Zipf(1_000),
        THOUSAND,
        VALID_ANSWER,
    ),
    authorize("authorize-zipf-1000", Keys::Zipf(1_000), THOUSAND),
    verify(
        "verify-zipf-1000-cache",
        Keys::Zipf(1_000),
        THOUSAND_CACHED,
        VALID_ANSWER,
    ),
    authorize(
        "authorize-zipf-1000-cache",
        Keys::Zipf(1_000),
        THOUSAND_CACHED,
    ),
    verify("verify-valid-100k", Keys::Valid, LARGE, VALID_ANSWER),
    review("access-review-90d", "/api/v1/keys/{key}/access-review"),
    review(
        "access-review-365d",
        "/api/v1/keys/{key}/access-review?days=365",
    ),
];

/// An access review of the admin-created key, whose [`HISTORY`] holds a year of counts.
const fn review(name: &'static str, path: &'static str) -> Scenario {
    Scenario {
        name,
        request: Request {
            method: "GET",
            path,
            body: "",
            headers: ADMIN_HEADERS,
        },
        keys: Keys::Admin,
        config: HISTORY,
        expect: REVIEWED,
    }
}

/// A `/verify` scenario.
const fn verify(name: &'static str, keys: Keys, config: Config, expect: Expect) -> Scenario {
    Scenario {
        name,
        request: VERIFY,
        keys,
        config,
        expect,
    }
}

/// An `/authorize` scenario, answered 204.
const fn authorize(name: &'static str, keys: Keys, config: Config) -> Scenario {
    Scenario {
        name,
        request: AUTHORIZE,
        keys,
        config,
        expect: AUTHORIZED,
    }
}

/// The scenario named `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// Whether `scenario` asks verify-key, so that `--base` measures it on the other build too.
pub fn asks_verify_key(scenario: &Scenario) -> bool {
    ["/api/v1/verify", "/api/v1/authorize"]
        .iter()
        .any(|p| scenario.request.path.starts_with(p))
}

/// Whether `scenario` is one of the two fixtures measured in every run.
pub fn is_fixture(scenario: &Scenario) -> bool {
    scenario.name == NOOP.name || scenario.name == ONE_READ.name
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn an_admin_request_carries_the_key_id_in_its_path_and_a_token_in_its_header() {
        let review = find("access-review-365d").unwrap();
        assert_eq!(review.keys, Keys::Admin);
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
    fn a_configuration_label_names_the_store_the_records_and_the_variables() {
        assert_eq!(BASE.label(Store::Spin), "spin, 10 records");
        assert_eq!(
            THOUSAND_CACHED.label(Store::Redis),
            "redis, 1000 records, verify_cache_ms=1000, long-lived instances"
        );
    }
}
