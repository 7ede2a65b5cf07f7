//! Configuration read from Spin variables, once per component instance.

use keys_domain::Error;
use keys_domain::cache::CachePolicy;
use std::cell::OnceCell;

/// Variable bounding how long an edge may answer from a record it read earlier
/// ([`keys_domain::cache`]): milliseconds, `0` (the default) for never.
pub const VAR_VERIFY_CACHE_MS: &str = "verify_cache_ms";

thread_local! {
    /// The cache policy, or why the variable is refused.
    static VERIFY_CACHE: OnceCell<Result<CachePolicy, String>> = const { OnceCell::new() };
}

/// The deployment's record cache policy (`verify_cache_ms`; unset or empty is off). A value
/// out of range fails every request that needs it with a 500 whose log line names the
/// variable and its range: an edge never guesses a revocation bound the operator did not
/// choose.
pub async fn verify_cache() -> Result<CachePolicy, Error> {
    let known = VERIFY_CACHE.with(|c| c.get().cloned());
    let policy = match known {
        Some(policy) => policy,
        None => {
            let text = spin_sdk::variables::get(VAR_VERIFY_CACHE_MS)
                .await
                .unwrap_or_default();
            let policy = CachePolicy::parse(&text);
            VERIFY_CACHE.with(|c| c.get_or_init(|| policy).clone())
        }
    };
    policy.map_err(Error::unexpected)
}
