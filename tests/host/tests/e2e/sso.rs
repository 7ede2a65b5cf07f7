//! Administrators' tokens from an OpenID Connect provider, checked against its JWKS by the
//! `identity` component (through Spin's local service chaining), on real Spin. A stub server
//! of the tests plays the provider's `jwks_uri`; keys are generated per run.

use crate::helpers::{App, RIGHT, TOKEN_SECRET, eventually};
use crate::identity::{assert_every_admin_route_accepts, assert_every_admin_route_refuses};
use hmac::{Hmac, Mac};
use keys_domain::base64url;
use keys_domain::identity::sign_token;
use keys_domain::jwks::{Algorithm, JWKS_CACHE_KEY};
use keys_domain::mint::{SigningKey, jwks_of};
use keys_domain::time::Timestamp;
use serde_json::{Value, json};
use spin_test_host::stub_server::StubServer;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const ISSUER: &str = "https://sso.ingeneo.example/realms/ingeneo";
const AUDIENCE: &str = "api-keys";
const JWKS_PATH: &str = "/realms/ingeneo/protocol/openid-connect/certs";

/// One signing key per algorithm, generated once per run.
fn keys() -> &'static [SigningKey; 4] {
    static KEYS: OnceLock<[SigningKey; 4]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            SigningKey::generate(Algorithm::Rs256, "rsa-2026"),
            SigningKey::generate(Algorithm::Ps256, "rsa-pss-2026"),
            SigningKey::generate(Algorithm::Es256, "ec-2026"),
            SigningKey::generate(Algorithm::EdDsa, "ed-2026"),
        ]
    })
}

fn rsa() -> &'static SigningKey {
    &keys()[0]
}

fn now() -> i64 {
    Timestamp::now().unix()
}

/// Claims of a valid provider token, merged over the defaults (a null removes a claim).
fn claims(extra: Value) -> Value {
    let mut claims = json!({
        "iss": ISSUER, "aud": [AUDIENCE, "account"], "sub": "f:3c2b:camille", "name": "Camille Martin",
        "iat": now(), "exp": now() + 600, "rights": [RIGHT],
    });
    for (name, value) in extra.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// A provider publishing `keys` at [`JWKS_PATH`], cacheable for an hour.
fn provider(keys: &[&SigningKey]) -> StubServer {
    let server = StubServer::start().expect("the stub provider starts");
    publish(&server, keys);
    server
}

fn publish(server: &StubServer, keys: &[&SigningKey]) {
    server.set(
        JWKS_PATH,
        200,
        &[
            ("content-type", "application/jwk-set+json"),
            ("cache-control", "public, max-age=3600"),
        ],
        jwks_of(keys).to_string(),
    );
}

/// The app on `spin up` with only the JWKS URL, issuer and audience set (and the outbound
/// permission to the stub, which listens on plain HTTP) — no shared secret.
fn app_for(provider: &StubServer, extra: &[(&str, &str)]) -> App {
    let url = provider.url(JWKS_PATH);
    let origin = format!("http://{}", provider.host());
    let mut variables = vec![
        ("identity_token_secret", ""),
        ("identity_jwks_url", url.as_str()),
        ("identity_jwks_origin", origin.as_str()),
        ("identity_token_issuer", ISSUER),
        ("identity_token_audience", AUDIENCE),
    ];
    variables.extend_from_slice(extra);
    App::start_spin_with(&variables)
}

/// The stores, less the JWKS cache entry (fetching the JWKS is not a change of the app's data).
fn data(app: &App) -> (std::collections::BTreeMap<String, Vec<u8>>, String) {
    let (mut kv, sqlite) = app.dump();
    kv.remove(JWKS_CACHE_KEY);
    (kv, sqlite)
}

async fn create_with(app: &App, token: &str, label: &str) -> (u16, Value) {
    let reply = app
        .send(
            app.call("POST", "/api/v1/keys")
                .bearer(token)
                .json(&json!({ "label": label })),
        )
        .await;
    let body = reply.json();
    (reply.status, body)
}

/// Asserts `token` is refused on `POST /keys` with 401, an `invalid_token` challenge and
/// nothing written; returns the problem's detail.
async fn assert_refused(app: &App, token: &str) -> String {
    let before = data(app);
    let reply = app
        .send(
            app.call("POST", "/api/v1/keys")
                .bearer(token)
                .json(&json!({ "label": "Refused" })),
        )
        .await;
    assert_eq!(reply.status, 401, "{}", reply.text());
    assert_eq!(reply.problem(401), "unauthenticated");
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer realm=\"ingeneo-api-keys\", error=\"invalid_token\""),
        "{challenge}"
    );
    assert!(data(app) == before, "a refused token changed the stores");
    reply.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// An HS256 token whose MAC key is the RSA key's public JWK, naming that key: the classic
/// algorithm-confusion forgery (a verifier that takes the key's bytes as an HMAC secret).
fn hs256_with_public_key(claims: &Value) -> String {
    let header = json!({"alg": "HS256", "kid": rsa().kid, "typ": "JWT"});
    let input = format!(
        "{}.{}",
        base64url::encode(header.to_string()),
        base64url::encode(claims.to_string())
    );
    let public = rsa().public_jwk().to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(public.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", base64url::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn with_only_the_jwks_url_issuer_and_audience_set_provider_tokens_of_every_algorithm_manage_keys()
 {
    let all: Vec<&SigningKey> = keys().iter().collect();
    let provider = provider(&all);
    let app = app_for(&provider, &[]);

    for key in keys() {
        let sub = format!("sub-{}", key.kid);
        let token = key.sign(&claims(json!({ "sub": sub })));
        let (status, created) = create_with(&app, &token, &key.kid).await;
        assert_eq!(status, 201, "{:?}: {created}", key.alg);
        let id = created["id"].as_str().unwrap();
        let events = app
            .send(
                app.call("GET", &format!("/api/v1/keys/{id}/events"))
                    .bearer(&token),
            )
            .await;
        assert_eq!(events.status, 200);
        assert_eq!(
            events.json()["data"][0]["actor"],
            json!({"id": sub, "name": "Camille Martin"})
        );
    }
    assert_every_admin_route_accepts(&app, "sso", || rsa().sign(&claims(json!({})))).await;
    assert_eq!(
        provider.hits(JWKS_PATH),
        1,
        "the JWKS is fetched once, then served from the key-value store"
    );

    let hs256 = sign_token(&claims(json!({})), TOKEN_SECRET);
    let detail = assert_refused(&app, &hs256).await;
    assert!(detail.contains("HS256"), "{detail}");
}

#[tokio::test]
async fn every_kind_of_bad_provider_token_is_a_401_invalid_token_with_no_side_effect() {
    let provider = provider(&[rsa(), &keys()[2]]);
    let app = app_for(&provider, &[]);
    let fx = app
        .fixtures_as("ssobad", &rsa().sign(&claims(json!({}))))
        .await;
    let stranger = SigningKey::generate(Algorithm::Es256, "ec-2026");
    let unknown_kid = SigningKey::generate(Algorithm::Es256, "ec-unknown");
    let alg_none = format!(
        "{}.{}.",
        base64url::encode(r#"{"alg":"none","typ":"JWT"}"#),
        base64url::encode(claims(json!({})).to_string())
    );
    let ok = claims(json!({}));
    let cases: Vec<(&str, String)> = vec![
        ("alg none", alg_none),
        (
            "HS256 keyed with the RSA public key",
            hs256_with_public_key(&ok),
        ),
        (
            "ES256 header naming the RSA key",
            keys()[2].sign_with_header(&json!({"alg": "ES256", "kid": rsa().kid}), &ok),
        ),
        (
            "RS384",
            rsa().sign_with_header(&json!({"alg": "RS384", "kid": rsa().kid}), &ok),
        ),
        ("unknown kid", unknown_kid.sign(&ok)),
        ("bad signature", stranger.sign(&ok)),
        (
            "wrong issuer",
            rsa().sign(&claims(json!({"iss": "https://evil.example"}))),
        ),
        ("no issuer", rsa().sign(&claims(json!({"iss": null})))),
        (
            "wrong audience",
            rsa().sign(&claims(json!({"aud": "billing"}))),
        ),
        ("expired", rsa().sign(&claims(json!({"exp": now() - 61})))),
        (
            "not yet valid",
            rsa().sign(&claims(json!({"nbf": now() + 120}))),
        ),
    ];
    for (case, token) in &cases {
        let detail = assert_refused(&app, token).await;
        assert!(!detail.is_empty(), "{case}");
    }
    // The forgeries an attacker would try are refused on every admin route.
    for (_, token) in &cases[..2] {
        let authorization = format!("Bearer {token}");
        assert_every_admin_route_refuses(&app, &fx, Some(&authorization), 401).await;
    }
    assert_eq!(
        provider.hits(JWKS_PATH),
        1,
        "an unknown kid within 30 s of the last fetch does not fetch again"
    );
}

/// The JWKS is fetched again for an unknown kid at most once per `upstream_refetch_secs`
/// (2 s here, 30 s by default).
#[tokio::test]
async fn a_rotated_key_is_picked_up_without_restart_while_the_old_one_keeps_working() {
    let old = rsa();
    let new = SigningKey::generate(Algorithm::Rs256, "rsa-2027");
    let provider = provider(&[old]);
    let app = app_for(&provider, &[("upstream_refetch_secs", "2")]);
    let first_fetch = Instant::now();
    assert_eq!(
        create_with(&app, &old.sign(&claims(json!({}))), "old")
            .await
            .0,
        201
    );

    publish(&provider, &[old, &new]);
    // Within the interval of the last fetch, an unknown kid does not make the JWKS be fetched
    // again: tried until the interval has passed, it is fetched once more, not once per try.
    let ghost = SigningKey::generate(Algorithm::Es256, "ec-ghost");
    let too_soon = std::cell::Cell::new(0);
    let refetched = || async {
        let detail = assert_refused(&app, &ghost.sign(&claims(json!({})))).await;
        assert!(detail.contains("not in the provider's JWKS"), "{detail}");
        match provider.hits(JWKS_PATH) {
            1 => {
                too_soon.set(too_soon.get() + 1);
                Err("no fetch yet".to_owned())
            }
            hits => Ok(hits),
        }
    };
    let (hits, _) = eventually(
        "a fetch once the interval passed",
        Duration::from_secs(10),
        refetched,
    )
    .await;
    assert_eq!(hits, 2, "one fetch for every try past the interval");
    assert!(too_soon.get() > 0, "the first try came within the interval");
    // Fetch times are whole Unix seconds: 2 s apart on the clock is more than 1 s in real time.
    assert!(
        first_fetch.elapsed() > Duration::from_secs(1),
        "fetched again within the interval: {:?}",
        first_fetch.elapsed()
    );
    // That fetch (for a kid the provider does not publish) brought the new key: accepted,
    // without a restart; the old one still works.
    assert_eq!(
        create_with(&app, &new.sign(&claims(json!({}))), "new")
            .await
            .0,
        201
    );
    assert_eq!(
        create_with(&app, &old.sign(&claims(json!({}))), "old again")
            .await
            .0,
        201
    );
    assert_eq!(provider.hits(JWKS_PATH), 2, "known kids need no fetch");
}

#[tokio::test]
async fn a_provider_that_is_down_gets_503_without_a_cached_jwks_and_is_not_needed_with_one() {
    let provider = StubServer::start().unwrap();
    provider.set(JWKS_PATH, 503, &[], "");
    let app = app_for(&provider, &[]);
    let token = rsa().sign(&claims(json!({})));

    let before = data(&app);
    let started = Instant::now();
    let reply = app
        .send(
            app.call("POST", "/api/v1/keys")
                .bearer(&token)
                .json(&json!({"label": "x"})),
        )
        .await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.problem(503), "identity_provider_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded: {:?}",
        started.elapsed()
    );
    assert!(data(&app) == before, "nothing was written");
    // A failed fetch is not retried on every request: the next 30 s answer 503 at once.
    let reply = app
        .send(app.call("GET", "/api/v1/keys").bearer(&token))
        .await;
    assert_eq!(reply.status, 503);
    assert_eq!(provider.hits(JWKS_PATH), 1);
    let logs = app.logs();
    assert!(logs.contains("fetching the JWKS from"), "{logs}");
    assert!(!logs.contains(&token), "tokens are never logged");

    // With a cached JWKS, the provider going away changes nothing.
    let up = self::provider(&[rsa()]);
    let cached = app_for(&up, &[]);
    assert_eq!(create_with(&cached, &token, "before").await.0, 201);
    drop(up);
    assert_eq!(create_with(&cached, &token, "during").await.0, 201);
    let unknown = SigningKey::generate(Algorithm::Es256, "ec-while-down");
    assert_refused(&cached, &unknown.sign(&claims(json!({})))).await;
}

#[tokio::test]
async fn keycloak_shaped_tokens_carry_their_roles_in_realm_access() {
    let provider = provider(&[rsa()]);
    let app = app_for(
        &provider,
        &[
            ("identity_rights_claim", "realm_access.roles"),
            ("identity_name_claim", "preferred_username"),
        ],
    );
    let keycloak = |roles: Value| {
        rsa().sign(&claims(json!({
            "rights": null, "name": null, "preferred_username": "camille.martin",
            "realm_access": {"roles": roles}, "resource_access": {"account": {"roles": ["view-profile"]}},
            "typ": "Bearer", "azp": "ingeneo-admin", "scope": "openid profile",
        })))
    };

    let (status, created) = create_with(
        &app,
        &keycloak(json!(["offline_access", RIGHT])),
        "Keycloak",
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["created_by"],
        json!({"id": "f:3c2b:camille", "name": "camille.martin"})
    );
    let (status, _) = create_with(&app, &keycloak(json!(["offline_access"])), "No role").await;
    assert_eq!(status, 403);
    let top_level = rsa().sign(&claims(json!({})));
    assert_eq!(
        create_with(&app, &top_level, "rights at the top").await.0,
        403,
        "the rights are read where identity_rights_claim says, nowhere else"
    );
}

#[tokio::test]
async fn entra_shaped_tokens_carry_app_roles_in_roles_and_an_inline_jwks_needs_no_network() {
    let ec = &keys()[2];
    let jwks = jwks_of(&[ec]).to_string();
    let app = App::start_spin_with(&[
        ("identity_token_secret", ""),
        ("identity_jwks", jwks.as_str()),
        (
            "identity_token_issuer",
            "https://login.microsoftonline.com/7a1b/v2.0",
        ),
        ("identity_token_audience", "api://ingeneo-api-keys"),
        ("identity_rights_claim", "roles"),
        ("identity_admin_right", "ApiKeys.Manage"),
    ]);
    let entra = |roles: Value| {
        ec.sign(&json!({
            "iss": "https://login.microsoftonline.com/7a1b/v2.0", "aud": "api://ingeneo-api-keys",
            "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "oid": "00000000-0000-0000-66f3-3332eca7ea81",
            "name": "Noor Haddad", "roles": roles, "tid": "7a1b", "ver": "2.0",
            "iat": now(), "nbf": now(), "exp": now() + 3600,
        }))
    };

    let (status, created) = create_with(&app, &entra(json!(["ApiKeys.Manage"])), "Entra").await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["created_by"]["name"], "Noor Haddad");
    assert_eq!(
        create_with(&app, &entra(json!([RIGHT])), "Default right")
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn a_jwks_without_issuer_and_audience_is_a_misconfiguration_that_accepts_nothing() {
    let provider = provider(&[rsa()]);
    let url = provider.url(JWKS_PATH);
    let origin = format!("http://{}", provider.host());
    let app = App::start_spin_with(&[
        ("identity_token_secret", ""),
        ("identity_jwks_url", url.as_str()),
        ("identity_jwks_origin", origin.as_str()),
    ]);
    let before = data(&app);

    let (status, problem) = create_with(&app, &rsa().sign(&claims(json!({}))), "x").await;

    assert_eq!(status, 500, "{problem}");
    assert!(data(&app) == before);
    assert_eq!(provider.hits(JWKS_PATH), 0, "refused before any fetch");
    let logs = app.logs();
    assert!(
        logs.contains("identity_token_issuer and identity_token_audience are required"),
        "{logs}"
    );
}
