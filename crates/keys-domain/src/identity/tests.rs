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
    let twice =
        format!(r#"{{"sub":"u-1","exp":{exp},"rights":[],"rights":["platform_configuration"]}}"#);
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
