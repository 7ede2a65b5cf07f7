//! The identity check every admin route runs first.
//!
//! HS256 tokens are checked here. Tokens signed with the provider's JWKS keys go to the
//! `identity` component through Spin's local service chaining: it alone holds the RSA, ECDSA
//! and Ed25519 code, the JWKS cache and the outbound permission to the provider, so the admin
//! components stay small and never reach the network.

use crate::deadline::Deadline;
use crate::http::ApiRequest;
use crate::outbound::{self, Outgoing};
use keys_domain::Error;
use keys_domain::identity::{
    Caller, ClaimPath, ClaimRules, DEFAULT_MAX_LIFETIME_SECS, DEFAULT_NAME_CLAIM,
    DEFAULT_RIGHTS_CLAIM, IdentityConfig, Jws, PLATFORM_CONFIGURATION, Verifier, bearer_token,
};
use keys_domain::model::Actor;
use keys_domain::time::Timestamp;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Spin variable holding the HS256 secret of identity tokens; empty: HS256 is refused.
pub const VAR_TOKEN_SECRET: &str = "identity_token_secret";
/// Spin variable holding the required issuer; empty means not checked (required with a JWKS).
pub const VAR_TOKEN_ISSUER: &str = "identity_token_issuer";
/// Spin variable holding the required audience; empty means not checked (required with a JWKS).
pub const VAR_TOKEN_AUDIENCE: &str = "identity_token_audience";
/// Spin variable holding the provider's JWKS URL.
pub const VAR_JWKS_URL: &str = "identity_jwks_url";
/// Spin variable holding a JWKS inline.
pub const VAR_JWKS: &str = "identity_jwks";
/// Spin variable naming the dotted claim path of the rights.
pub const VAR_RIGHTS_CLAIM: &str = "identity_rights_claim";
/// Spin variable naming the right that manages keys.
pub const VAR_ADMIN_RIGHT: &str = "identity_admin_right";
/// Spin variable naming the dotted claim path of the display name.
pub const VAR_NAME_CLAIM: &str = "identity_name_claim";
/// Spin variable bounding an identity token's lifetime, in seconds (empty: a day).
pub const VAR_MAX_LIFETIME: &str = "identity_token_max_lifetime";

/// Where the `identity` component answers (Spin's local service chaining).
pub const IDENTITY_AUTHORITY: &str = "identity.spin.internal";
/// The `identity` component's verification path.
pub const IDENTITY_VERIFY_PATH: &str = "/verify";
/// How long the `identity` component may take: a JWKS fetch (its own deadline) and a check.
const IDENTITY_DEADLINE: Duration = Duration::from_secs(6);
/// Largest answer read from the `identity` component.
const IDENTITY_MAX_ANSWER: usize = 16 * 1024;

/// A component variable; `None` when empty.
pub async fn variable(name: &str) -> Result<Option<String>, Error> {
    match spin_sdk::variables::get(name).await {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(err) => Err(Error::unexpected(format!(
            "reading variable {name}: {err:?}"
        ))),
    }
}

async fn claim_path(name: &str, default: &str) -> Result<ClaimPath, Error> {
    let path = variable(name).await?;
    ClaimPath::parse(path.as_deref().unwrap_or(default))
        .map_err(|why| Error::unexpected(format!("variable {name}: {why}")))
}

/// The claim checks, from the variables; with a JWKS, issuer and audience are required (a
/// provider signs tokens for many clients: without them, any of its tokens would do).
pub async fn claim_rules(jwks: bool) -> Result<ClaimRules, Error> {
    let max_lifetime_secs = match variable(VAR_MAX_LIFETIME).await? {
        None => DEFAULT_MAX_LIFETIME_SECS,
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|secs| (60..=31_536_000).contains(secs))
            .ok_or_else(|| {
                Error::unexpected(format!(
                    "variable {VAR_MAX_LIFETIME}: seconds from 60 to 31536000 (a year)"
                ))
            })?,
    };
    let rules = ClaimRules {
        issuer: variable(VAR_TOKEN_ISSUER).await?,
        audience: variable(VAR_TOKEN_AUDIENCE).await?,
        rights_claim: claim_path(VAR_RIGHTS_CLAIM, DEFAULT_RIGHTS_CLAIM).await?,
        name_claim: claim_path(VAR_NAME_CLAIM, DEFAULT_NAME_CLAIM).await?,
        max_lifetime_secs,
    };
    if jwks && (rules.issuer.is_none() || rules.audience.is_none()) {
        return Err(Error::unexpected(format!(
            "{VAR_TOKEN_ISSUER} and {VAR_TOKEN_AUDIENCE} are required with a JWKS"
        )));
    }
    Ok(rules)
}

thread_local! {
    /// This instance's identity configuration, read from its eight variables by its first
    /// admin request, which saves the later ones about 0.2 ms. A variable changed at run
    /// time (a provider such as Vault) takes effect with the next instance, at most 128
    /// requests later. A configuration error is not kept: every request reports it.
    static IDENTITY_CONFIG: RefCell<Option<Rc<IdentityConfig>>> = const { RefCell::new(None) };
}

/// This instance's identity configuration, loaded by its first call.
async fn identity_config() -> Result<Rc<IdentityConfig>, Error> {
    if let Some(known) = IDENTITY_CONFIG.with(|c| c.borrow().clone()) {
        return Ok(known);
    }
    let config = Rc::new(load_identity_config().await?);
    IDENTITY_CONFIG.with(|c| *c.borrow_mut() = Some(config.clone()));
    Ok(config)
}

/// Loads the identity configuration; neither a secret nor a JWKS is a server error (fail
/// closed).
async fn load_identity_config() -> Result<IdentityConfig, Error> {
    let secret = variable(VAR_TOKEN_SECRET).await?;
    let jwks = variable(VAR_JWKS_URL).await?.is_some() || variable(VAR_JWKS).await?.is_some();
    if secret.is_none() && !jwks {
        return Err(Error::unexpected(format!(
            "set {VAR_TOKEN_SECRET}, {VAR_JWKS_URL} or {VAR_JWKS}"
        )));
    }
    Ok(IdentityConfig {
        secret,
        jwks,
        rules: claim_rules(jwks).await?,
        admin_right: variable(VAR_ADMIN_RIGHT)
            .await?
            .unwrap_or_else(|| PLATFORM_CONFIGURATION.to_owned()),
    })
}

/// Authenticates the caller and checks the right that manages keys; returns the actor to
/// record in the audit trail.
pub async fn require_platform_configuration(req: &ApiRequest) -> Result<Actor, Error> {
    let token = bearer_token(req.header("authorization"))?;
    let config = identity_config().await?;
    let jws = Jws::parse(token)?;
    let caller: Caller = match (config.verifier(&jws)?, &config.secret) {
        (Verifier::SharedSecret, Some(secret)) => {
            jws.verify_shared_secret(secret)?;
            jws.caller(&config.rules, Timestamp::now())?
        }
        _ => ask_identity_component(token).await?,
    };
    caller.require(&config.admin_right)?;
    Ok(Actor {
        id: caller.subject,
        name: caller.name,
    })
}

/// Has the `identity` component check a JWKS-signed token: 200 with the caller, or its
/// problem answer (401, 503), passed on as the same error.
async fn ask_identity_component(token: &str) -> Result<Caller, Error> {
    let deadline = Deadline::new("identity component", IDENTITY_DEADLINE);
    let authorization = format!("Bearer {token}");
    let request = Outgoing {
        scheme: "http",
        authority: IDENTITY_AUTHORITY,
        path_and_query: IDENTITY_VERIFY_PATH,
        headers: &[("authorization", &authorization)],
        body: None,
    };
    let answer = outbound::send(&deadline, "verify", request, IDENTITY_MAX_ANSWER)
        .await
        .map_err(|e| Error::IdentityProviderUnavailable(e.to_string()))?;
    let problem: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    let detail = || problem["detail"].as_str().unwrap_or_default().to_owned();
    match (answer.status, problem["code"].as_str()) {
        (200, _) => serde_json::from_slice(&answer.body)
            .map_err(|e| Error::unexpected(format!("identity component answer: {e}"))),
        (401, _) => Err(Error::InvalidToken(detail())),
        // Its key-value store (the JWKS cache) did not answer.
        (503, Some("store_unavailable")) => {
            Err(Error::store("identity component: key-value store"))
        }
        (503, _) => Err(Error::IdentityProviderUnavailable(detail())),
        (status, _) => Err(Error::unexpected(format!(
            "identity component answered {status}"
        ))),
    }
}
