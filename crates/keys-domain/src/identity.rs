//! Identity tokens of INGENEO administrators: HS256 JWTs carrying the caller's rights.

use crate::base64url;
use crate::error::Error;
use crate::time::Timestamp;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// The right needed to manage third-party API keys
/// ("Autoriser l'accès à la configuration de la plateforme").
pub const PLATFORM_CONFIGURATION: &str = "platform_configuration";
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: i64 = 60;
/// Longest accepted token, in bytes.
pub const MAX_TOKEN_LEN: usize = 8192;

/// How identity tokens are checked, from the Spin variables.
#[derive(Clone)]
pub struct IdentityConfig {
    /// The HS256 signing secret (`identity_token_secret`).
    pub secret: String,
    /// Required `iss`, when `identity_token_issuer` is set.
    pub issuer: Option<String>,
    /// Required `aud` member, when `identity_token_audience` is set.
    pub audience: Option<String>,
}

/// Who is calling, from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`.
    pub subject: String,
    /// The token's `name`, if any.
    pub name: Option<String>,
    /// The token's `rights`.
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

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// The `aud` claim: one string or an array of strings (RFC 7519 §4.1.3).
struct Audience(Vec<String>);

impl<'de> Deserialize<'de> for Audience {
    /// A hand-written visitor rather than an untagged enum: serde's untagged enums buffer
    /// the value first, which costs every admin component about 8 KB of code.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AudienceVisitor;
        impl<'de> serde::de::Visitor<'de> for AudienceVisitor {
            type Value = Audience;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Audience, A::Error> {
                let mut list = Vec::new();
                while let Some(one) = seq.next_element::<String>()? {
                    list.push(one);
                }
                Ok(Audience(list))
            }
        }
        d.deserialize_any(AudienceVisitor)
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    name: Option<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
    iss: Option<String>,
    aud: Option<Audience>,
    #[serde(default)]
    rights: Vec<String>,
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

/// Verifies an HS256 identity token and returns its caller.
pub fn verify_token(token: &str, config: &IdentityConfig, now: Timestamp) -> Result<Caller, Error> {
    let invalid = || Error::Unauthenticated("the identity token is invalid".into());
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
    if header.alg != "HS256" {
        return Err(invalid());
    }
    let signature = base64url::decode(signature_b64).ok_or_else(invalid)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(config.secret.as_bytes()).map_err(|_| invalid())?;
    mac.update(&token.as_bytes()[..header_b64.len() + 1 + claims_b64.len()]);
    mac.verify_slice(&signature).map_err(|_| invalid())?;

    let claims: Claims = decode_json(claims_b64).ok_or_else(invalid)?;
    let now = now.unix() as f64;
    let exp = claims
        .exp
        .ok_or_else(|| Error::Unauthenticated("the identity token has no expiry".into()))?;
    if now > exp + LEEWAY_SECS as f64 {
        return Err(Error::Unauthenticated(
            "the identity token has expired".into(),
        ));
    }
    if claims
        .nbf
        .is_some_and(|nbf| now + (LEEWAY_SECS as f64) < nbf)
    {
        return Err(Error::Unauthenticated(
            "the identity token is not valid yet".into(),
        ));
    }
    if let Some(issuer) = &config.issuer
        && claims.iss.as_deref() != Some(issuer)
    {
        return Err(Error::Unauthenticated(
            "the identity token has the wrong issuer".into(),
        ));
    }
    if let Some(audience) = &config.audience {
        let ok = claims
            .aud
            .is_some_and(|Audience(list)| list.iter().any(|a| a == audience));
        if !ok {
            return Err(Error::Unauthenticated(
                "the identity token has the wrong audience".into(),
            ));
        }
    }
    let subject = claims
        .sub
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::Unauthenticated("the identity token has no subject".into()))?;
    Ok(Caller {
        subject,
        name: claims.name,
        rights: claims.rights,
    })
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

    fn config() -> IdentityConfig {
        IdentityConfig {
            secret: SECRET.into(),
            issuer: None,
            audience: None,
        }
    }

    fn claims() -> serde_json::Value {
        json!({"sub": "u-42", "name": "Camille Martin", "exp": NOW.unix() + 300, "rights": ["platform_configuration"]})
    }

    fn check(token: &str, cfg: &IdentityConfig) -> Result<Caller, Error> {
        verify_token(token, cfg, NOW)
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
        let strict = IdentityConfig {
            issuer: Some("https://sso.ingeneo.example".into()),
            audience: Some("api-keys".into()),
            ..config()
        };
        assert!(check(&token, &strict).is_ok());
        let wrong_iss = IdentityConfig {
            issuer: Some("https://evil".into()),
            ..strict.clone()
        };
        assert!(check(&token, &wrong_iss).is_err());
        let wrong_aud = IdentityConfig {
            audience: Some("billing".into()),
            ..strict
        };
        assert!(check(&token, &wrong_aud).is_err());
    }

    #[test]
    fn the_audience_may_be_one_string_or_an_array_but_nothing_else() {
        let strict = IdentityConfig {
            audience: Some("api-keys".into()),
            ..config()
        };
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
}
