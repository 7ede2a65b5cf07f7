//! Configuration read from Spin variables, once per component instance.

use keys_domain::Error;
use keys_domain::cache::CachePolicy;
use keys_domain::expiry::ExpiryPolicy;
use keys_domain::introspection::IntrospectionClients;
use keys_domain::upstream;
use std::cell::OnceCell;
use std::thread::LocalKey;

/// Variable bounding how long an edge may answer from a record it read earlier
/// ([`keys_domain::cache`]): milliseconds, `0` (the default) for never.
pub const VAR_VERIFY_CACHE_MS: &str = "verify_cache_ms";
/// Variable: the least time between two fetches of a document from outside (an identity
/// provider's JWKS, a scanner's public keys), in seconds (`keys_domain::upstream`).
pub const VAR_UPSTREAM_REFETCH_SECS: &str = "upstream_refetch_secs";

/// Variable: the longest a key may live, in whole days (`keys_domain::expiry`); `0` (the
/// default) for no limit.
pub const VAR_MAX_KEY_LIFETIME_DAYS: &str = "max_key_lifetime_days";

/// Variable listing the clients allowed to introspect keys (RFC 7662): comma-separated
/// `id:secret` pairs, a secret variable; empty (the default) turns introspection off.
pub const VAR_INTROSPECTION_CLIENTS: &str = "introspection_clients";

/// Variable naming the request header that carries the caller's address, set by the gateway:
/// `/authorize`'s IP allowlists and the public leak report's per-address limit read it, and
/// ext-authz sends Envoy's peer address in it.
pub const VAR_CLIENT_IP_HEADER: &str = "client_ip_header";
/// The header that carries the caller's address when the variable is empty or unset.
pub const DEFAULT_CLIENT_IP_HEADER: &str = "x-api-client-ip";

/// A variable's parsed value, or why it is refused.
type Parsed<T> = OnceCell<Result<T, String>>;

thread_local! {
    static VERIFY_CACHE: Parsed<CachePolicy> = const { OnceCell::new() };
    static REFETCH_SECS: Parsed<i64> = const { OnceCell::new() };
    static INTROSPECTION_CLIENTS: Parsed<IntrospectionClients> = const { OnceCell::new() };
    static CLIENT_IP_HEADER: Parsed<String> = const { OnceCell::new() };
    static EXPIRY_POLICY: Parsed<ExpiryPolicy> = const { OnceCell::new() };
}

/// The deployment's record cache policy (`verify_cache_ms`; unset or empty is off). A value
/// out of range fails every request that needs it with a 500 whose log line names the
/// variable and its range: an edge never guesses a revocation bound the operator did not
/// choose.
pub async fn verify_cache() -> Result<CachePolicy, Error> {
    read_once(&VERIFY_CACHE, VAR_VERIFY_CACHE_MS, CachePolicy::parse).await
}

/// The least time between two fetches of a document from outside, in seconds
/// (`upstream_refetch_secs`; unset or empty: 30). A value out of range fails the requests
/// that need it with a 500 whose log line names the variable and its range.
pub async fn refetch_secs() -> Result<i64, Error> {
    read_once(
        &REFETCH_SECS,
        VAR_UPSTREAM_REFETCH_SECS,
        upstream::refetch_secs,
    )
    .await
}

/// The deployment's expiry policy (`max_key_lifetime_days`; unset or empty: none). A value
/// out of range fails every request that needs it with a 500 whose log line names the
/// variable and its range: keys are never created under a limit the operator did not choose.
pub async fn expiry_policy() -> Result<ExpiryPolicy, Error> {
    read_once(
        &EXPIRY_POLICY,
        VAR_MAX_KEY_LIFETIME_DAYS,
        ExpiryPolicy::parse,
    )
    .await
}

/// The clients allowed to introspect keys (`introspection_clients`; unset or empty: none,
/// introspection is off). A malformed list fails every introspection with a 500 whose log
/// line names the variable and the entry, never its value.
pub async fn introspection_clients() -> Result<IntrospectionClients, Error> {
    read_once(
        &INTROSPECTION_CLIENTS,
        VAR_INTROSPECTION_CLIENTS,
        IntrospectionClients::parse,
    )
    .await
}

/// The name (lower case) of the header carrying the caller's address (`client_ip_header`;
/// unset or empty: `x-api-client-ip`), read once per instance.
pub async fn client_ip_header() -> String {
    let name = |text: &str| {
        let name = text.trim().to_ascii_lowercase();
        Ok(match name.is_empty() {
            true => DEFAULT_CLIENT_IP_HEADER.to_owned(),
            false => name,
        })
    };
    read_once(&CLIENT_IP_HEADER, VAR_CLIENT_IP_HEADER, name)
        .await
        .unwrap_or_else(|_| DEFAULT_CLIENT_IP_HEADER.to_owned())
}

/// The variable `name` parsed with `parse`, read and parsed once per instance (unset reads
/// as empty).
async fn read_once<T: Clone + 'static>(
    cell: &'static LocalKey<Parsed<T>>,
    name: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, Error> {
    let parsed = match cell.with(|c| c.get().cloned()) {
        Some(parsed) => parsed,
        None => {
            let text = spin_sdk::variables::get(name).await.unwrap_or_default();
            let parsed = parse(&text);
            cell.with(|c| c.get_or_init(|| parsed).clone())
        }
    };
    parsed.map_err(Error::unexpected)
}
