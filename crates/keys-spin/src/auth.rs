//! The identity check every admin route runs first.

use crate::http::ApiRequest;
use keys_domain::Error;
use keys_domain::identity::{
    Caller, IdentityConfig, PLATFORM_CONFIGURATION, bearer_token, verify_token,
};
use keys_domain::model::Actor;
use keys_domain::time::Timestamp;

/// Spin variable holding the HS256 secret of identity tokens (required).
pub const VAR_TOKEN_SECRET: &str = "identity_token_secret";
/// Spin variable holding the required issuer; empty means not checked.
pub const VAR_TOKEN_ISSUER: &str = "identity_token_issuer";
/// Spin variable holding the required audience; empty means not checked.
pub const VAR_TOKEN_AUDIENCE: &str = "identity_token_audience";

async fn variable(name: &str) -> Result<Option<String>, Error> {
    match spin_sdk::variables::get(name).await {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(err) => Err(Error::unexpected(format!(
            "reading variable {name}: {err:?}"
        ))),
    }
}

/// Loads the identity configuration; a missing secret is a server error (fail closed).
pub async fn identity_config() -> Result<IdentityConfig, Error> {
    let secret = variable(VAR_TOKEN_SECRET)
        .await?
        .ok_or_else(|| Error::unexpected(format!("variable {VAR_TOKEN_SECRET} is empty")))?;
    Ok(IdentityConfig {
        secret,
        issuer: variable(VAR_TOKEN_ISSUER).await?,
        audience: variable(VAR_TOKEN_AUDIENCE).await?,
    })
}

/// Authenticates the caller and checks the `platform_configuration` right; returns the actor
/// to record in the audit trail.
pub async fn require_platform_configuration(req: &ApiRequest) -> Result<Actor, Error> {
    let token = bearer_token(req.header("authorization"))?;
    let config = identity_config().await?;
    let caller: Caller = verify_token(token, &config, Timestamp::now())?;
    caller.require(PLATFORM_CONFIGURATION)?;
    Ok(Actor {
        id: caller.subject,
        name: caller.name,
    })
}
