//! Administrators' identity tokens: HS256 tokens signed with the shared secret the app runs
//! with, and the tokens of a local identity provider whose JWKS a stub server of the
//! benchmark serves (keys generated per run with keys-domain's `mint`), checked by the
//! `identity` component.

use crate::scenarios::Token;
use anyhow::Context;
use keys_domain::identity::{PLATFORM_CONFIGURATION, sign_token};
use keys_domain::mint::{SigningKey, jwks_of};
use keys_domain::time::Timestamp;
use serde_json::{Value, json};
use spin_test_host::stub_server::StubServer;

/// The identity-token secret the app runs with.
pub const IDENTITY_SECRET: &str = "bench-identity-secret";
/// The variable holding it.
pub const IDENTITY_SECRET_VARIABLE: &str = "identity_token_secret";
/// The provider's `iss`, carried by every token (checked only where a provider is configured).
const ISSUER: &str = "https://sso.bench.example";
/// The audience the app is configured with, carried by every token.
const AUDIENCE: &str = "api-keys";
/// Where the provider serves its JWKS.
const JWKS_PATH: &str = "/certs";
/// The JWKS's `Cache-Control`: fetched once for a whole run.
const JWKS_CACHE_CONTROL: &str = "public, max-age=3600";
/// How long a token lives, in seconds: a whole run, within the app's default longest
/// lifetime (a day).
const TOKEN_LIFETIME_SECS: i64 = 6 * 3600;

/// The claims of an administrator's token, issued now.
fn claims() -> Value {
    let now = Timestamp::now().unix();
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "bench-admin",
        "name": "Benchmark",
        "iat": now,
        "exp": now + TOKEN_LIFETIME_SECS,
        "rights": [PLATFORM_CONFIGURATION],
    })
}

/// An administrator's HS256 token, signed with [`IDENTITY_SECRET`].
pub fn admin_token() -> String {
    sign_token(&claims(), IDENTITY_SECRET)
}

/// A local identity provider: one signing key per provider [`Token`] kind, their JWKS served
/// over HTTP on 127.0.0.1 until it is dropped.
pub struct Provider {
    server: StubServer,
    keys: Vec<(Token, SigningKey)>,
}

impl Provider {
    /// Generates the keys and starts serving their JWKS.
    pub fn start() -> anyhow::Result<Provider> {
        let keys: Vec<(Token, SigningKey)> = [Token::Rs256, Token::Es256, Token::EdDsa]
            .into_iter()
            .filter_map(|kind| {
                let alg = kind.algorithm()?;
                Some((
                    kind,
                    SigningKey::generate(alg, &format!("bench-{}", kind.name())),
                ))
            })
            .collect();
        let server = StubServer::start().context("cannot start the identity provider")?;
        let published: Vec<&SigningKey> = keys.iter().map(|(_, key)| key).collect();
        server.set(
            JWKS_PATH,
            200,
            &[
                ("content-type", "application/jwk-set+json"),
                ("cache-control", JWKS_CACHE_CONTROL),
            ],
            jwks_of(&published).to_string(),
        );
        Ok(Provider { server, keys })
    }

    /// The app's variables naming this provider, in the order of
    /// [`crate::scenarios::PROVIDER_VARIABLES`].
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        vec![
            ("identity_jwks_url", self.server.url(JWKS_PATH)),
            (
                "identity_jwks_origin",
                format!("http://{}", self.server.host()),
            ),
            ("identity_token_issuer", ISSUER.to_owned()),
            ("identity_token_audience", AUDIENCE.to_owned()),
        ]
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> usize {
        self.server.hits(JWKS_PATH)
    }

    /// The JWKS it serves.
    #[cfg(test)]
    fn jwks(&self) -> Value {
        jwks_of(&self.keys.iter().map(|(_, key)| key).collect::<Vec<_>>())
    }
}

/// An administrator's token of `kind`: HS256 with the shared secret, or signed by `provider`.
pub fn token(kind: Token, provider: Option<&Provider>) -> anyhow::Result<String> {
    if kind == Token::Hs256 {
        return Ok(admin_token());
    }
    let provider =
        provider.with_context(|| format!("a {} token needs an identity provider", kind.name()))?;
    let (_, key) = provider
        .keys
        .iter()
        .find(|(k, _)| *k == kind)
        .with_context(|| format!("the provider has no {} key", kind.name()))?;
    Ok(key.sign(&claims()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::PROVIDER_VARIABLES;
    use keys_domain::identity::{
        ClaimPath, ClaimRules, DEFAULT_MAX_LIFETIME_SECS, DEFAULT_NAME_CLAIM, DEFAULT_RIGHTS_CLAIM,
        Jws,
    };
    use keys_domain::jwks::Jwks;

    /// The rules of an app configured with the provider's issuer and audience.
    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: Some(ISSUER.to_owned()),
            audience: Some(AUDIENCE.to_owned()),
            rights_claim: ClaimPath::parse(DEFAULT_RIGHTS_CLAIM).unwrap(),
            name_claim: ClaimPath::parse(DEFAULT_NAME_CLAIM).unwrap(),
            max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
        }
    }

    #[test]
    fn an_hs256_token_verifies_with_the_secret_and_names_an_administrator() {
        let token = token(Token::Hs256, None).unwrap();
        let jws = Jws::parse(&token).unwrap();
        jws.verify_shared_secret(IDENTITY_SECRET).unwrap();
        let caller = jws.caller(&rules(), Timestamp::now()).unwrap();
        caller.require(PLATFORM_CONFIGURATION).unwrap();
    }

    #[test]
    fn every_provider_token_verifies_against_the_jwks_the_provider_serves() {
        let provider = Provider::start().unwrap();
        let jwks = Jwks::parse(provider.jwks().to_string().as_bytes()).unwrap();
        for kind in [Token::Rs256, Token::Es256, Token::EdDsa] {
            let token = token(kind, Some(&provider)).unwrap();
            let jws = Jws::parse(&token).unwrap();
            assert_eq!(jws.header.alg, kind.name());
            jwks.verify(&jws).unwrap();
            jws.caller(&rules(), Timestamp::now()).unwrap();
        }
        assert_eq!(provider.fetches(), 0);
    }

    #[test]
    fn a_provider_token_without_a_provider_is_an_error() {
        assert!(token(Token::Es256, None).is_err());
    }

    #[test]
    fn the_provider_sets_exactly_the_provider_variables_its_origin_without_a_path() {
        let provider = Provider::start().unwrap();
        let variables = provider.variables();
        let names: Vec<&str> = variables.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, PROVIDER_VARIABLES);
        let (url, origin) = (&variables[0].1, &variables[1].1);
        assert!(url.starts_with(origin.as_str()) && url.ends_with(JWKS_PATH));
        assert_eq!(origin.matches('/').count(), 2, "{origin}");
    }
}
