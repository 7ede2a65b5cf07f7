//! The scenarios, as data: what each one sends, which keys and token its requests carry,
//! which `spin up` configuration it needs, how it is measured and what it must be answered.

use keys_domain::jwks::Algorithm;
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
/// The caller's address of the allowlist scenario: the last of its key's 100 entries.
pub const CALLER_IP: &str = "203.0.113.7";
/// The Spin variable of verify-key's record cache, in milliseconds.
const CACHE_VARIABLE: &str = "verify_cache_ms";
/// The variables a configuration with an identity provider sets, to the provider the
/// benchmark serves ([`crate::identity::Provider`]).
pub const PROVIDER_VARIABLES: &[&str] = &[
    "identity_jwks_url",
    "identity_jwks_origin",
    "identity_token_issuer",
    "identity_token_audience",
];
/// The variables a configuration with `kv_backend = redis` sets (the benchmark's Redis).
pub const DIRECT_REDIS_VARIABLES: &[&str] = &["kv_backend", "redis_host"];
/// The components of an edge (`deploy/spin-up.sh`): verify-key and the increments it chains to.
pub const EDGE_COMPONENTS: &[&str] = &["verify-key", "kv-proxy"];

/// `/verify`'s body: the key, a granted method and company.
const VERIFY_BODY: &str = r#"{"key":"{key}","method":"employees.read","company":"ACME"}"#;
/// `/verify`'s body with the caller's address [`CALLER_IP`].
const VERIFY_FROM_IP_BODY: &str =
    r#"{"key":"{key}","method":"employees.read","company":"ACME","ip":"203.0.113.7"}"#;
/// The headers of a JSON body.
const JSON_HEADERS: &[(&str, &str)] = &[("content-type", "application/json")];
/// `/authorize`'s headers: the key, a granted method and company.
const AUTHORIZE_HEADERS: &[(&str, &str)] = &[
    ("x-api-key", KEY_PLACEHOLDER),
    ("x-api-method", METHOD),
    ("x-api-company", COMPANY),
];
/// An admin token's header.
const ADMIN_HEADERS: &[(&str, &str)] = &[("authorization", "Bearer {token}")];
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

/// How verify-key reaches the verification records (the `kv_backend` variable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvBackend {
    /// Through Spin's key-value API: the `default` store, wherever `--store` puts it.
    Spin,
    /// Straight to the benchmark's Redis (`kv_backend = redis`): needs `--store redis`.
    Redis,
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

/// The kind of an admin identity token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// HS256, signed with the shared secret and checked in the admin component itself.
    Hs256,
    /// RS256, signed by the benchmark's identity provider, checked by `identity`.
    Rs256,
    /// ES256 (P-256), likewise.
    Es256,
    /// EdDSA (Ed25519), likewise.
    EdDsa,
}

impl Token {
    /// The JWKS algorithm of a provider's token; `None` for the shared secret's.
    pub fn algorithm(self) -> Option<Algorithm> {
        match self {
            Token::Hs256 => None,
            Token::Rs256 => Some(Algorithm::Rs256),
            Token::Es256 => Some(Algorithm::Es256),
            Token::EdDsa => Some(Algorithm::EdDsa),
        }
    }

    /// Its `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Token::Hs256 => "HS256",
            Token::Rs256 => "RS256",
            Token::Es256 => "ES256",
            Token::EdDsa => "EdDSA",
        }
    }
}

/// The keys a scenario's requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// No key: the request is the same every time.
    None,
    /// The key created through the admin API, granted [`METHOD`] on [`COMPANY`]; on a
    /// deployment without the admin API (an edge), the first synthetic key.
    Valid,
    /// The valid key with its last checksum character changed: refused before any store read.
    Malformed,
    /// A key created through the admin API with a rate limit and a quota far from used up.
    Limited,
    /// A key created through the admin API with a 100-entry IP allowlist whose last entry is
    /// [`CALLER_IP`].
    Allowlisted,
    /// The first so many synthetic keys, each request drawing one Zipf-like.
    Zipf(usize),
    /// The admin-created key's id, the request carrying an admin identity token of this kind.
    Admin(Token),
}

impl Keys {
    /// Whether these keys are made through the admin API, which an edge does not serve.
    pub fn need_admin_api(self) -> bool {
        matches!(self, Keys::Limited | Keys::Allowlisted | Keys::Admin(_))
    }
}

/// A `spin up` configuration: application variables, the deployment, and what is written into
/// the stores before measuring (besides the admin-created key).
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
    /// `spin up -c` components (a selective deployment, e.g. [`EDGE_COMPONENTS`]); empty: the
    /// whole app. The fixtures are served either way.
    pub components: &'static [&'static str],
    /// How verify-key reaches the records.
    pub kv_backend: KvBackend,
    /// Whether a local identity provider serves a JWKS ([`PROVIDER_VARIABLES`]), so that the
    /// tokens of every [`Token`] kind are accepted.
    pub provider: bool,
    /// Keys created through the admin API and verified [`LISTED_VERIFICATIONS`] times each,
    /// so that the list reads usage counters and last uses.
    pub listed_keys: usize,
    /// Keys written straight into SQLite (one live secret each), for the rebuild to rewrite.
    pub sqlite_keys: usize,
}

/// How many times each listed key is verified before measuring.
pub const LISTED_VERIFICATIONS: usize = 3;

impl Config {
    /// How reports name it on `store`, e.g. `spin, 10 records, verify_cache_ms=1000`.
    pub fn label(&self, store: Store) -> String {
        format!("{}, {}", store.name(), self.describe())
    }

    /// Its records, variables and deployment, e.g. `10 records, verify_cache_ms=1000`.
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
        if !self.components.is_empty() {
            text.push_str(&format!(", -c {}", self.components.join(" -c ")));
        }
        if self.kv_backend == KvBackend::Redis {
            text.push_str(", kv_backend=redis");
        }
        if self.provider {
            text.push_str(", identity provider (JWKS)");
        }
        if self.listed_keys > 0 {
            text.push_str(&format!(", {} keys listed", self.listed_keys));
        }
        if self.sqlite_keys > 0 {
            text.push_str(&format!(", {} keys in SQLite", self.sqlite_keys));
        }
        text
    }

    /// Every application variable it sets: its own and those of the provider and of
    /// `kv_backend = redis`.
    pub fn variable_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.variables.iter().map(|(name, _)| *name).collect();
        if self.provider {
            names.extend(PROVIDER_VARIABLES);
        }
        if self.kv_backend == KvBackend::Redis {
            names.extend(DIRECT_REDIS_VARIABLES);
        }
        names
    }

    /// The names of its variables missing from `declared` (the manifest's variables).
    pub fn undeclared(&self, declared: &[String]) -> Vec<&'static str> {
        self.variable_names()
            .into_iter()
            .filter(|name| !declared.iter().any(|d| d == name))
            .collect()
    }

    /// Whether it serves the admin API (the whole app), through which keys are created.
    pub fn serves_admin_api(&self) -> bool {
        self.components.is_empty()
    }

    /// Whether it runs only with `--store redis`: an edge and `kv_backend = redis` read the
    /// records an admin node wrote into a shared Redis, and the rebuild refills that Redis (on
    /// Spin's SQLite key-value store every record write is a durable transaction of its own:
    /// minutes for 100,000 keys).
    pub fn needs_redis(&self) -> bool {
        !self.components.is_empty() || self.kv_backend == KvBackend::Redis || self.sqlite_keys > 0
    }
}

/// What a correct answer looks like, checked once before measuring (and every timed run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    /// The status.
    pub status: u16,
    /// Text the body must contain (empty: anything).
    pub body_contains: &'static str,
}

/// How a scenario is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// wrk at 16 connections and at one, in rounds beside the two fixtures of its `spin up`.
    Load,
    /// One request timed once per round, reported in a table of its own without ratios (a
    /// one-shot operation such as the rebuild, which no fixture compares with).
    Once,
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
    /// How it is measured.
    pub measure: Measure,
}

/// `records` synthetic records, with verify-key's record cache on (`cached`) or off.
const fn config(records: usize, cached: bool) -> Config {
    let (variables, spin_args): (&[(&str, &str)], &[&str]) = match cached {
        true => (CACHE_ON, LONG_LIVED_INSTANCES),
        false => (&[], &[]),
    };
    Config {
        variables,
        records,
        spin_args,
        access_days: 0,
        components: &[],
        kv_backend: KvBackend::Spin,
        provider: false,
        listed_keys: 0,
        sqlite_keys: 0,
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
/// Twenty keys created and verified, for the admin reads.
const LISTED: Config = Config {
    listed_keys: 20,
    ..BASE
};
/// An identity provider beside the shared secret, for the token kinds.
const PROVIDER: Config = Config {
    provider: true,
    ..BASE
};
/// An edge: verify-key and kv-proxy only, reading through Spin's key-value API.
const EDGE: Config = Config {
    components: EDGE_COMPONENTS,
    ..BASE
};
/// An edge reading Redis directly.
const EDGE_DIRECT: Config = Config {
    kv_backend: KvBackend::Redis,
    ..EDGE
};
/// `keys` keys in SQLite for the rebuild into Redis, written through Spin's key-value API
/// (`direct`: with `kv_backend = redis`).
const fn rebuilding(keys: usize, direct: bool) -> Config {
    Config {
        records: 0,
        sqlite_keys: keys,
        kv_backend: match direct {
            true => KvBackend::Redis,
            false => KvBackend::Spin,
        },
        ..BASE
    }
}

const VERIFY: Request = Request {
    method: "POST",
    path: "/api/v1/verify",
    body: VERIFY_BODY,
    headers: JSON_HEADERS,
};
const VERIFY_FROM_IP: Request = Request {
    body: VERIFY_FROM_IP_BODY,
    ..VERIFY
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
/// A review's answer.
const REVIEWED: Expect = Expect {
    status: 200,
    body_contains: r#""complete":true"#,
};
/// A list of listed keys, each verified [`LISTED_VERIFICATIONS`] times.
const LISTED_ANSWER: Expect = Expect {
    status: 200,
    body_contains: r#""requests_24h":3"#,
};
/// One key's page.
const KEY_ANSWER: Expect = Expect {
    status: 200,
    body_contains: r#""grace_secrets""#,
};
/// A page of the key list.
const LIST_ANSWER: Expect = Expect {
    status: 200,
    body_contains: r#""data""#,
};
/// The rebuild's report.
const REBUILT: Expect = Expect {
    status: 200,
    body_contains: r#""records_written""#,
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
    measure: Measure::Load,
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
    measure: Measure::Load,
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
    verify("verify-limited", Keys::Limited, BASE, VALID_ANSWER),
    Scenario {
        request: VERIFY_FROM_IP,
        ..verify("verify-allowlist", Keys::Allowlisted, BASE, VALID_ANSWER)
    },
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
    verify("verify-valid-edge", Keys::Valid, EDGE, VALID_ANSWER),
    verify(
        "verify-valid-edge-direct",
        Keys::Valid,
        EDGE_DIRECT,
        VALID_ANSWER,
    ),
    admin(
        "access-review-90d",
        "/api/v1/keys/{key}/access-review",
        Token::Hs256,
        HISTORY,
        REVIEWED,
    ),
    admin(
        "access-review-365d",
        "/api/v1/keys/{key}/access-review?days=365",
        Token::Hs256,
        HISTORY,
        REVIEWED,
    ),
    admin(
        "admin-list-20",
        "/api/v1/keys?limit=20",
        Token::Hs256,
        LISTED,
        LISTED_ANSWER,
    ),
    admin(
        "admin-get",
        "/api/v1/keys/{key}",
        Token::Hs256,
        LISTED,
        KEY_ANSWER,
    ),
    token("admin-token-hs256", Token::Hs256),
    token("admin-token-rs256", Token::Rs256),
    token("admin-token-es256", Token::Es256),
    token("admin-token-eddsa", Token::EdDsa),
    rebuild("rebuild-1k", rebuilding(1_000, false)),
    rebuild("rebuild-1k-direct", rebuilding(1_000, true)),
    rebuild("rebuild-100k", rebuilding(100_000, false)),
    rebuild("rebuild-100k-direct", rebuilding(100_000, true)),
];

/// An admin `GET` of `path` with a token of kind `token`.
const fn admin(
    name: &'static str,
    path: &'static str,
    token: Token,
    config: Config,
    expect: Expect,
) -> Scenario {
    Scenario {
        name,
        request: Request {
            method: "GET",
            path,
            body: "",
            headers: ADMIN_HEADERS,
        },
        keys: Keys::Admin(token),
        config,
        expect,
        measure: Measure::Load,
    }
}

/// The cheapest admin read (a one-key page of the list) with a token of kind `token`: the
/// identity check's cost.
const fn token(name: &'static str, token: Token) -> Scenario {
    admin(name, "/api/v1/keys?limit=1", token, PROVIDER, LIST_ANSWER)
}

/// The rebuild of every verification record from SQLite, timed once per round.
const fn rebuild(name: &'static str, config: Config) -> Scenario {
    Scenario {
        request: Request {
            method: "POST",
            path: "/api/v1/verification-records/rebuild",
            body: "",
            headers: ADMIN_HEADERS,
        },
        measure: Measure::Once,
        ..admin(name, "", Token::Hs256, config, REBUILT)
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
        measure: Measure::Load,
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
        measure: Measure::Load,
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
mod tests;
