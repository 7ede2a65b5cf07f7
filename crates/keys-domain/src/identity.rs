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
mod tests;
