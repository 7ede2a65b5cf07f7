//! Identity tokens of INGENEO administrators: JWTs carrying the caller's rights.
//!
//! Two kinds are accepted. HS256 tokens signed with a secret shared with the service
//! (`identity_token_secret`, for local use and platforms that can share one) are checked here,
//! in every admin component. Tokens of an OpenID Connect provider, signed with RS256, PS256,
//! ES256 or EdDSA keys published as a JWKS, are checked by the `identity` component (see
//! [`crate::jwks`]). Which of the two a token goes to is [`IdentityConfig::verifier`]'s
//! decision; the claims are checked the same way for both by [`Jws::caller`].

use crate::base64url;
use crate::error::Error;
use crate::time::Timestamp;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

/// The right needed to manage third-party API keys
/// ("Autoriser l'accès à la configuration de la plateforme"), unless `identity_admin_right`
/// names another.
pub const PLATFORM_CONFIGURATION: &str = "platform_configuration";
/// Where the rights are in the claims, unless `identity_rights_claim` says otherwise.
pub const DEFAULT_RIGHTS_CLAIM: &str = "rights";
/// Where the caller's display name is in the claims, unless `identity_name_claim` says
/// otherwise.
pub const DEFAULT_NAME_CLAIM: &str = "name";
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: i64 = 60;
/// Longest accepted token, in bytes.
pub const MAX_TOKEN_LEN: usize = 8192;
/// The algorithm of tokens signed with the shared secret.
pub const HS256: &str = "HS256";
/// The algorithms of tokens signed with a JWKS key.
pub const JWKS_ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// A claim's place in the token's claims: a dotted path of object members
/// (`realm_access.roles`), each segment non-empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// Parses a dotted path; empty segments (`a..b`, a leading or trailing dot) are refused.
    pub fn parse(path: &str) -> Result<ClaimPath, String> {
        let segments: Vec<String> = path.trim().split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!("`{path}` is not a dotted claim path"));
        }
        Ok(ClaimPath(segments))
    }

    /// The value at this path, if every member along it exists.
    fn find<'a>(&self, claims: &'a Value) -> Option<&'a Value> {
        self.0
            .iter()
            .try_fold(claims, |value, segment| value.get(segment.as_str()))
    }
}

/// How the claims of every identity token are checked, from the Spin variables.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    /// Required `iss`, when `identity_token_issuer` is set.
    pub issuer: Option<String>,
    /// Required `aud` member, when `identity_token_audience` is set.
    pub audience: Option<String>,
    /// Where the rights are (`identity_rights_claim`).
    pub rights_claim: ClaimPath,
    /// Where the display name is (`identity_name_claim`).
    pub name_claim: ClaimPath,
    /// The longest a token may live: its `exp` at most this many seconds after now (and after
    /// its `iat`), with [`LEEWAY_SECS`] (`identity_token_max_lifetime`).
    pub max_lifetime_secs: i64,
}

/// The longest an identity token may live unless `identity_token_max_lifetime` says
/// otherwise: a day.
pub const DEFAULT_MAX_LIFETIME_SECS: i64 = 86_400;

/// How identity tokens are checked in the admin components, from the Spin variables.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// The HS256 signing secret (`identity_token_secret`); HS256 tokens are refused without it.
    pub secret: Option<String>,
    /// Whether a JWKS is configured (`identity_jwks_url` or `identity_jwks`).
    pub jwks: bool,
    /// The claim checks.
    pub rules: ClaimRules,
    /// The right that manages keys (`identity_admin_right`).
    pub admin_right: String,
}

/// Which check a token goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verifier {
    /// HS256 with the shared secret, here.
    SharedSecret,
    /// The provider's JWKS, in the `identity` component.
    Jwks,
}

impl IdentityConfig {
    /// Decides which check `jws` goes to, or refuses it. HS256 needs the secret and, when a
    /// JWKS is configured, a header without `kid` (a token naming a key id claims to be signed
    /// by a published key, so it is never checked against the secret). The JWKS algorithms need
    /// a JWKS. Every other algorithm, `none` included, is refused.
    pub fn verifier(&self, jws: &Jws<'_>) -> Result<Verifier, Error> {
        let alg = jws.header.alg.as_str();
        if alg == HS256 {
            if self.secret.is_none() {
                return Err(invalid_token(
                    "HS256 identity tokens are not accepted: no shared secret is configured",
                ));
            }
            if self.jwks && jws.header.kid.is_some() {
                return Err(invalid_token(
                    "an HS256 identity token may not name a key id (`kid`)",
                ));
            }
            return Ok(Verifier::SharedSecret);
        }
        if JWKS_ALGORITHMS.contains(&alg) {
            if !self.jwks {
                return Err(invalid_token(&format!(
                    "{alg} identity tokens are not accepted: no JWKS is configured"
                )));
            }
            return Ok(Verifier::Jwks);
        }
        Err(invalid_token(
            "the identity token's algorithm is not accepted",
        ))
    }
}

/// A 401 for a token that does not verify.
pub fn invalid_token(reason: &str) -> Error {
    Error::InvalidToken(reason.to_owned())
}

/// Who is calling, from a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The token's `sub`.
    pub subject: String,
    /// The token's display name, if any.
    pub name: Option<String>,
    /// The token's rights.
    pub rights: Vec<String>,
}

impl Caller {
    /// Fails with 403 unless the caller holds `right`.
    pub fn require(&self, right: &str) -> Result<(), Error> {
        if self.rights.iter().any(|r| r == right) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this action needs the right `{right}`"
            )))
        }
    }
}

/// The JOSE header members that matter here. A member twice is refused (serde's derive).
#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    /// The signature algorithm.
    pub alg: String,
    /// The signing key's id, if named.
    pub kid: Option<String>,
    /// Extensions the token says must be understood (RFC 7515 §4.1.11): none is, so a token
    /// naming any is refused.
    pub crit: Option<serde::de::IgnoredAny>,
}

/// A compact JWS split into its parts; nothing is verified yet.
#[derive(Debug)]
pub struct Jws<'a> {
    /// The decoded header.
    pub header: Header,
    token: &'a str,
    claims_b64: &'a str,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

impl<'a> Jws<'a> {
    /// Splits and decodes a compact JWS (`header.claims.signature`); anything else is a 401.
    pub fn parse(token: &'a str) -> Result<Jws<'a>, Error> {
        let invalid = || invalid_token("the identity token is invalid");
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid());
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let header: Header = decode_json(header_b64).ok_or_else(invalid)?;
        if header.crit.is_some() {
            return Err(invalid_token(
                "the identity token names critical header extensions (`crit`), none of which \
                 is understood here",
            ));
        }
        let signature = base64url::decode(signature_b64).ok_or_else(invalid)?;
        Ok(Jws {
            header,
            token,
            claims_b64,
            signature,
        })
    }

    /// The bytes the signature covers: `header.claims`, as sent.
    pub fn signing_input(&self) -> &'a [u8] {
        let end = self.token.len() - self.token.rsplit('.').next().map_or(0, str::len) - 1;
        &self.token.as_bytes()[..end]
    }

    /// Checks the HS256 signature with the shared secret.
    pub fn verify_shared_secret(&self, secret: &str) -> Result<(), Error> {
        let invalid = || invalid_token("the identity token's signature does not verify");
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| invalid())?;
        mac.update(self.signing_input());
        mac.verify_slice(&self.signature).map_err(|_| invalid())
    }

    /// Checks the claims of a token whose signature verified and returns its caller: each
    /// claim once, `exp` required and at most [`ClaimRules::max_lifetime_secs`] ahead (and
    /// after `iat`), `iat` not in the future and `nbf` passed when present (with
    /// [`LEEWAY_SECS`]), `iss` and `aud` when configured,
    /// a non-empty `sub`; the rights are the strings at the rights claim (an array of strings,
    /// or one string of space-separated rights), none when absent.
    pub fn caller(&self, rules: &ClaimRules, now: Timestamp) -> Result<Caller, Error> {
        let claims = base64url::decode(self.claims_b64)
            .filter(|bytes| {
                // A claim twice is refused: parsers disagree on which one counts.
                std::str::from_utf8(bytes).is_ok_and(|text| crate::model::strict_json(text).is_ok())
            })
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .filter(Value::is_object)
            .ok_or_else(|| {
                invalid_token("the identity token's claims are not a JSON object, each claim once")
            })?;
        let now = now.unix() as f64;
        let exp = claims["exp"]
            .as_f64()
            .ok_or_else(|| invalid_token("the identity token has no expiry"))?;
        if now > exp + LEEWAY_SECS as f64 {
            return Err(invalid_token("the identity token has expired"));
        }
        let longest = (rules.max_lifetime_secs + LEEWAY_SECS) as f64;
        if exp > now + longest {
            return Err(invalid_token(
                "the identity token lives longer than identity_token_max_lifetime allows",
            ));
        }
        if let Some(iat) = claims.get("iat") {
            let iat = iat
                .as_f64()
                .ok_or_else(|| invalid_token("the identity token's `iat` is not a number"))?;
            if iat > now + LEEWAY_SECS as f64 {
                return Err(invalid_token("the identity token was issued in the future"));
            }
            if exp - iat > longest {
                return Err(invalid_token(
                    "the identity token lives longer than identity_token_max_lifetime allows",
                ));
            }
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf
                .as_f64()
                .ok_or_else(|| invalid_token("the identity token's `nbf` is not a number"))?;
            if now + (LEEWAY_SECS as f64) < nbf {
                return Err(invalid_token("the identity token is not valid yet"));
            }
        }
        if let Some(issuer) = &rules.issuer
            && claims["iss"].as_str() != Some(issuer)
        {
            return Err(invalid_token("the identity token has the wrong issuer"));
        }
        if let Some(audience) = &rules.audience {
            let ok = match &claims["aud"] {
                Value::String(one) => one == audience,
                Value::Array(list) => list.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !ok {
                return Err(invalid_token("the identity token has the wrong audience"));
            }
        }
        let subject = claims["sub"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid_token("the identity token has no subject"))?;
        let rights = match rules.rights_claim.find(&claims) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(list)) => list.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|right| right.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| invalid_token("the identity token's rights are not strings"))?,
            Some(_) => return Err(invalid_token("the identity token's rights are not strings")),
        };
        Ok(Caller {
            subject: subject.to_owned(),
            name: rules
                .name_claim
                .find(&claims)
                .and_then(Value::as_str)
                .map(str::to_owned),
            rights,
        })
    }
}

/// Reads the bearer token out of an `Authorization` header value.
pub fn bearer_token(header: Option<&str>) -> Result<&str, Error> {
    let value =
        header.ok_or_else(|| Error::Unauthenticated("an identity token is required".into()))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        Error::Unauthenticated("the Authorization header must read `Bearer <token>`".into())
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Error::Unauthenticated(
            "the Authorization header must read `Bearer <token>`".into(),
        ));
    }
    Ok(token.trim())
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = base64url::decode(part)?;
    serde_json::from_slice(&bytes).ok()
}

/// Signs claims into an HS256 token: for tests and for developers minting local tokens.
pub fn sign_token(claims: &serde_json::Value, secret: &str) -> String {
    let header = base64url::encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = base64url::encode(claims.to_string());
    let signing_input = format!("{header}.{body}");
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    let signature = base64url::encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "test-secret";
    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: None,
            audience: None,
            rights_claim: ClaimPath::parse(DEFAULT_RIGHTS_CLAIM).unwrap(),
            name_claim: ClaimPath::parse(DEFAULT_NAME_CLAIM).unwrap(),
            max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
        }
    }

    fn config() -> IdentityConfig {
        IdentityConfig {
            secret: Some(SECRET.into()),
            jwks: false,
            rules: rules(),
            admin_right: PLATFORM_CONFIGURATION.into(),
        }
    }

    fn with_rules(rules: ClaimRules) -> IdentityConfig {
        IdentityConfig { rules, ..config() }
    }

    fn claims() -> serde_json::Value {
        json!({"sub": "u-42", "name": "Camille Martin", "exp": NOW.unix() + 300, "rights": ["platform_configuration"]})
    }

    /// What the admin components do with a token (keys-spin `auth`): route it, check HS256
    /// with the secret, then the claims.
    fn verify_shared_secret_token(
        token: &str,
        config: &IdentityConfig,
        now: Timestamp,
    ) -> Result<Caller, Error> {
        let jws = Jws::parse(token)?;
        match (config.verifier(&jws)?, &config.secret) {
            (Verifier::SharedSecret, Some(secret)) => jws.verify_shared_secret(secret)?,
            _ => return Err(invalid_token("the identity token is not an HS256 token")),
        }
        jws.caller(&config.rules, now)
    }

    fn check(token: &str, cfg: &IdentityConfig) -> Result<Caller, Error> {
        verify_shared_secret_token(token, cfg, NOW)
    }

    #[test]
    fn a_well_signed_token_yields_its_caller() {
        let caller = check(&sign_token(&claims(), SECRET), &config()).unwrap();
        assert_eq!(caller.subject, "u-42");
        assert_eq!(caller.name.as_deref(), Some("Camille Martin"));
        assert!(caller.require(PLATFORM_CONFIGURATION).is_ok());
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let err = check(&sign_token(&claims(), "other"), &config()).unwrap_err();
        assert_eq!(err.status(), 401);
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let token = sign_token(&claims(), SECRET);
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims();
        forged["rights"] = json!(["platform_configuration", "superuser"]);
        let forged_body = base64url::encode(forged.to_string());
        let forged_token = format!("{}.{}.{}", parts[0], forged_body, parts[2]);
        assert_eq!(check(&forged_token, &config()).unwrap_err().status(), 401);
    }

    #[test]
    fn the_none_algorithm_and_others_are_refused() {
        let token = sign_token(&claims(), SECRET);
        let body = token.split('.').nth(1).unwrap();
        for alg in ["none", "HS512", "RS256"] {
            let header = base64url::encode(format!(r#"{{"alg":"{alg}"}}"#));
            assert!(
                check(&format!("{header}.{body}."), &config()).is_err(),
                "{alg}"
            );
        }
    }

    /// A token of these raw claims and this raw header, signed with [`SECRET`].
    fn sign_raw(header: &str, claims: &str) -> String {
        let input = format!(
            "{}.{}",
            base64url::encode(header.as_bytes()),
            base64url::encode(claims.as_bytes())
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", base64url::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_token_living_too_long_or_issued_in_the_future_is_refused() {
        let mut c = claims();
        c["exp"] = json!(1e308);
        assert!(
            check(&sign_token(&c, SECRET), &config()).is_err(),
            "exp 1e308"
        );
        c["exp"] = json!(NOW.unix() + DEFAULT_MAX_LIFETIME_SECS + LEEWAY_SECS);
        assert!(
            check(&sign_token(&c, SECRET), &config()).is_ok(),
            "a day and the leeway"
        );
        c["exp"] = json!(NOW.unix() + DEFAULT_MAX_LIFETIME_SECS + LEEWAY_SECS + 1);
        assert!(check(&sign_token(&c, SECRET), &config()).is_err());
        let mut c = claims();
        c["iat"] = json!(NOW.unix() + LEEWAY_SECS + 1);
        assert!(
            check(&sign_token(&c, SECRET), &config()).is_err(),
            "iat ahead"
        );
        c["iat"] = json!(NOW.unix() + LEEWAY_SECS);
        assert!(
            check(&sign_token(&c, SECRET), &config()).is_ok(),
            "within the leeway"
        );
        c["iat"] = json!(NOW.unix() - 2 * DEFAULT_MAX_LIFETIME_SECS);
        assert!(
            check(&sign_token(&c, SECRET), &config()).is_err(),
            "issued two days before its expiry"
        );
    }

    #[test]
    fn a_claim_twice_or_an_unknown_critical_extension_is_refused() {
        let exp = NOW.unix() + 300;
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let twice = format!(
            r#"{{"sub":"u-1","exp":{exp},"rights":[],"rights":["platform_configuration"]}}"#
        );
        assert!(check(&sign_raw(header, &twice), &config()).is_err());
        let once = format!(r#"{{"sub":"u-1","exp":{exp},"rights":["platform_configuration"]}}"#);
        assert!(check(&sign_raw(header, &once), &config()).is_ok());
        let critical = r#"{"alg":"HS256","typ":"JWT","crit":["exp-ext"],"exp-ext":1}"#;
        assert!(check(&sign_raw(critical, &once), &config()).is_err());
        let alg_twice = r#"{"alg":"none","alg":"HS256"}"#;
        assert!(check(&sign_raw(alg_twice, &once), &config()).is_err());
    }

    #[test]
    fn expiry_is_checked_with_sixty_seconds_of_leeway() {
        let mut c = claims();
        c["exp"] = json!(NOW.unix() - 60);
        assert!(check(&sign_token(&c, SECRET), &config()).is_ok());
        c["exp"] = json!(NOW.unix() - 61);
        assert_eq!(
            check(&sign_token(&c, SECRET), &config())
                .unwrap_err()
                .to_string(),
            "the identity token has expired"
        );
        c.as_object_mut().unwrap().remove("exp");
        assert!(
            check(&sign_token(&c, SECRET), &config()).is_err(),
            "a token without exp is refused"
        );
    }

    #[test]
    fn not_before_is_checked_when_present() {
        let mut c = claims();
        c["nbf"] = json!(NOW.unix() + 60);
        assert!(check(&sign_token(&c, SECRET), &config()).is_ok());
        c["nbf"] = json!(NOW.unix() + 61);
        assert!(check(&sign_token(&c, SECRET), &config()).is_err());
    }

    #[test]
    fn issuer_and_audience_are_checked_only_when_configured() {
        let mut c = claims();
        c["iss"] = json!("https://sso.ingeneo.example");
        c["aud"] = json!(["api-keys", "other"]);
        let token = sign_token(&c, SECRET);
        assert!(check(&token, &config()).is_ok());
        let strict = ClaimRules {
            issuer: Some("https://sso.ingeneo.example".into()),
            audience: Some("api-keys".into()),
            ..rules()
        };
        assert!(check(&token, &with_rules(strict.clone())).is_ok());
        let wrong_iss = ClaimRules {
            issuer: Some("https://evil".into()),
            ..strict.clone()
        };
        assert!(check(&token, &with_rules(wrong_iss)).is_err());
        let wrong_aud = ClaimRules {
            audience: Some("billing".into()),
            ..strict
        };
        assert!(check(&token, &with_rules(wrong_aud)).is_err());
    }

    #[test]
    fn the_audience_may_be_one_string_or_an_array_but_nothing_else() {
        let strict = with_rules(ClaimRules {
            audience: Some("api-keys".into()),
            ..rules()
        });
        for (aud, accepted) in [
            (json!("api-keys"), true),
            (json!(["other", "api-keys"]), true),
            (json!("other"), false),
            (json!([]), false),
            (json!(42), false),
            (json!({"aud": "api-keys"}), false),
        ] {
            let mut c = claims();
            c["aud"] = aud.clone();
            assert_eq!(
                check(&sign_token(&c, SECRET), &strict).is_ok(),
                accepted,
                "{aud}"
            );
        }
    }

    #[test]
    fn a_token_without_the_right_is_forbidden_not_unauthenticated() {
        let mut c = claims();
        c["rights"] = json!(["payroll_admin"]);
        let caller = check(&sign_token(&c, SECRET), &config()).unwrap();
        assert_eq!(
            caller.require(PLATFORM_CONFIGURATION).unwrap_err().status(),
            403
        );
        c.as_object_mut().unwrap().remove("rights");
        let caller = check(&sign_token(&c, SECRET), &config()).unwrap();
        assert_eq!(
            caller.require(PLATFORM_CONFIGURATION).unwrap_err().status(),
            403
        );
    }

    #[test]
    fn garbage_tokens_are_refused_without_panicking() {
        for junk in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "é.é.é",
            &"x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(
                check(junk, &config()).unwrap_err().status(),
                401,
                "{junk:?}"
            );
        }
    }

    #[test]
    fn the_bearer_scheme_is_required() {
        assert_eq!(bearer_token(Some("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(Some("bearer abc")).unwrap(), "abc");
        for bad in [
            None,
            Some("abc"),
            Some("Basic abc"),
            Some("Bearer "),
            Some("Bearer"),
        ] {
            assert_eq!(bearer_token(bad).unwrap_err().status(), 401, "{bad:?}");
        }
    }

    #[test]
    fn rights_and_name_are_read_at_the_configured_claim_paths() {
        let keycloak = ClaimRules {
            rights_claim: ClaimPath::parse("realm_access.roles").unwrap(),
            name_claim: ClaimPath::parse("preferred_username").unwrap(),
            ..rules()
        };
        let c = json!({"sub": "f:1", "exp": NOW.unix() + 60, "preferred_username": "camille",
            "realm_access": {"roles": ["offline_access", "platform_configuration"]}});
        let caller = check(&sign_token(&c, SECRET), &with_rules(keycloak)).unwrap();
        assert_eq!(caller.name.as_deref(), Some("camille"));
        assert!(caller.require(PLATFORM_CONFIGURATION).is_ok());

        let entra = ClaimRules {
            rights_claim: ClaimPath::parse("roles").unwrap(),
            ..rules()
        };
        let c = json!({"sub": "oid-1", "exp": NOW.unix() + 60, "roles": ["ApiKeys.Admin"]});
        let caller = check(&sign_token(&c, SECRET), &with_rules(entra)).unwrap();
        assert_eq!(caller.rights, ["ApiKeys.Admin"]);
        assert_eq!(caller.name, None);
    }

    #[test]
    fn rights_may_be_a_space_separated_string_but_not_other_shapes() {
        for (rights, expected) in [
            (
                json!("openid platform_configuration"),
                Some(vec!["openid", "platform_configuration"]),
            ),
            (json!(null), Some(vec![])),
            (json!(["a", 1]), None),
            (json!({"a": true}), None),
            (json!(7), None),
        ] {
            let mut c = claims();
            c["rights"] = rights.clone();
            let got = check(&sign_token(&c, SECRET), &config())
                .ok()
                .map(|caller| caller.rights);
            let expected: Option<Vec<String>> =
                expected.map(|list| list.into_iter().map(String::from).collect());
            assert_eq!(got, expected, "{rights}");
        }
    }

    #[test]
    fn claim_paths_refuse_empty_segments() {
        for bad in ["", ".", "a..b", ".roles", "roles."] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            ClaimPath::parse(" realm_access.roles ").unwrap(),
            ClaimPath(vec!["realm_access".into(), "roles".into()])
        );
    }

    fn token_with_header(header: &str) -> String {
        let body = base64url::encode(claims().to_string());
        format!("{}.{body}.c2ln", base64url::encode(header))
    }

    #[test]
    fn each_algorithm_goes_to_its_verifier_or_is_refused() {
        let both = IdentityConfig {
            jwks: true,
            ..config()
        };
        let jwks_only = IdentityConfig {
            secret: None,
            ..both.clone()
        };
        let cases = [
            (r#"{"alg":"HS256"}"#, &both, Some(Verifier::SharedSecret)),
            (r#"{"alg":"HS256","kid":"k1"}"#, &both, None),
            (
                r#"{"alg":"HS256","kid":"k1"}"#,
                &config(),
                Some(Verifier::SharedSecret),
            ),
            (r#"{"alg":"HS256"}"#, &jwks_only, None),
            (
                r#"{"alg":"RS256","kid":"k1"}"#,
                &jwks_only,
                Some(Verifier::Jwks),
            ),
            (r#"{"alg":"PS256"}"#, &both, Some(Verifier::Jwks)),
            (r#"{"alg":"ES256"}"#, &both, Some(Verifier::Jwks)),
            (r#"{"alg":"EdDSA"}"#, &both, Some(Verifier::Jwks)),
            (r#"{"alg":"RS256"}"#, &config(), None),
            (r#"{"alg":"none"}"#, &both, None),
            (r#"{"alg":"RS384"}"#, &both, None),
            (r#"{"alg":"HS512"}"#, &both, None),
        ];
        for (header, cfg, expected) in cases {
            let token = token_with_header(header);
            let got = Jws::parse(&token).and_then(|jws| cfg.verifier(&jws));
            match expected {
                Some(verifier) => assert_eq!(got.unwrap(), verifier, "{header}"),
                None => assert_eq!(got.unwrap_err().status(), 401, "{header}"),
            }
        }
    }

    #[test]
    fn the_signing_input_is_the_header_and_claims_as_sent() {
        let token = sign_token(&claims(), SECRET);
        let jws = Jws::parse(&token).unwrap();
        let (input, _) = token.rsplit_once('.').unwrap();
        assert_eq!(jws.signing_input(), input.as_bytes());
    }

    #[test]
    fn refusals_of_a_token_are_invalid_token_errors_and_a_missing_token_is_not() {
        let err = check(&sign_token(&claims(), "other"), &config()).unwrap_err();
        assert!(matches!(err, Error::InvalidToken(_)), "{err:?}");
        assert!(matches!(
            bearer_token(None).unwrap_err(),
            Error::Unauthenticated(_)
        ));
    }
}
