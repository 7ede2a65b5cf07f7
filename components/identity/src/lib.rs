//! identity: checks the identity tokens an OpenID Connect provider signs with the keys of its
//! JWKS (RS256, PS256, ES256, EdDSA), for the admin components, which call it through Spin's
//! local service chaining (`GET http://identity.spin.internal/verify` with the token as `Authorization: Bearer`, a private route: clients
//! cannot reach it).
//!
//! The JWKS comes inline (`identity_jwks`) or from `identity_jwks_url`. A fetched JWKS is kept
//! in the key-value store for as long as its `Cache-Control` allows (5 min to 24 h), shared by
//! every instance and node; it is fetched again when it goes stale or when a token names a key
//! it does not hold (the provider rotated its keys), at most once per `upstream_refetch_secs`
//! (30 s by default; `keys_domain::upstream`). While the provider
//! cannot be reached, a stale copy keeps serving for up to a day; without any copy the answer
//! is 503 and no token is accepted.

use keys_domain::Error;
use keys_domain::identity::{Jws, bearer_token, invalid_token};
use keys_domain::jwks::{
    JWKS_CACHE_KEY, Jwks, MAX_JWKS_BYTES, Refusal, STALE_USE_SECS, VerifiedTokens, cache_secs,
};
use keys_domain::time::Timestamp;
use keys_domain::upstream::{CachedDocument, Fetch, OutboundUrl};
use keys_spin::auth::{IDENTITY_VERIFY_PATH, VAR_JWKS, VAR_JWKS_URL, claim_rules, variable};
use keys_spin::deadline::{ADMIN_STORE_DEADLINE, Deadline};
use keys_spin::handler;
use keys_spin::http::{ApiRequest, Response, json};
use keys_spin::kv::Kv;
use keys_spin::outbound::{self, Outgoing};
use keys_spin::routes::{self, Matched, NO_QUERY, Route};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

keys_spin::export_http_handler!(dispatch);

/// How long the provider may take to answer a JWKS fetch.
const FETCH_DEADLINE: Duration = Duration::from_secs(3);

/// The one route of identity: `GET /verify` (the token in `Authorization: Bearer`), 200 with
/// the caller, 401 for a token that does not verify, 503 when no JWKS can be had. The token is
/// this route's whole business, so it is public to the route table.
const ROUTES: &[Route] = &[Route::public(
    "GET",
    IDENTITY_VERIFY_PATH,
    NO_QUERY,
    handler!(verify_token),
)];

async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    routes::serve_public(ROUTES, req).await
}

async fn verify_token(m: &Matched<'_>) -> Result<Response, Error> {
    let token = bearer_token(m.req.header("authorization"))?;
    let now = Timestamp::now();
    let jws = Jws::parse(token)?;
    check_signature(&jws, now).await?;
    let caller = jws.caller(&claim_rules(true).await?, now)?;
    json(200, &caller)
}

/// Checks the token's signature with the configured JWKS.
async fn check_signature(jws: &Jws<'_>, now: Timestamp) -> Result<(), Error> {
    match (variable(VAR_JWKS_URL).await?, variable(VAR_JWKS).await?) {
        (None, Some(inline)) => refusal(verify(jws, &inline)?),
        (Some(url), None) => check_with_fetched(jws, &url, now).await,
        (Some(_), Some(_)) => Err(Error::unexpected(format!(
            "set only one of {VAR_JWKS_URL} and {VAR_JWKS}"
        ))),
        (None, None) => Err(Error::unexpected(format!(
            "neither {VAR_JWKS_URL} nor {VAR_JWKS} is set"
        ))),
    }
}

fn refusal(outcome: Result<(), Refusal>) -> Result<(), Error> {
    outcome.map_err(|refusal| invalid_token(refusal.reason()))
}

/// Checks `jws`'s signature with the keys of `document`, unless this instance already did;
/// fails only when `document` is not a usable JWKS.
fn verify(jws: &Jws<'_>, document: &str) -> Result<Result<(), Refusal>, Error> {
    let (jwks, generation) = parsed(document)?;
    if VERIFIED.with_borrow(|verified| verified.contains(jws, generation)) {
        return Ok(Ok(()));
    }
    let outcome = jwks.verify(jws);
    if outcome.is_ok() {
        VERIFIED.with_borrow_mut(|verified| verified.insert(jws, generation));
    }
    Ok(outcome)
}

/// Checks with the JWKS of `url`: the stored copy, fetched again when stale or when it does
/// not hold the token's key (then the token is checked once more).
async fn check_with_fetched(jws: &Jws<'_>, url: &str, now: Timestamp) -> Result<(), Error> {
    let target = OutboundUrl::parse(url)
        .map_err(|why| Error::unexpected(format!("variable {VAR_JWKS_URL}: {why}")))?;
    let interval = keys_spin::config::refetch_secs().await?;
    let kv = Kv::open(ADMIN_STORE_DEADLINE).await?;
    let mut cached: Option<CachedDocument> = kv
        .get(JWKS_CACHE_KEY)
        .await?
        .and_then(|bytes| CachedDocument::decode(&bytes));
    let mut unknown_key = false;
    loop {
        if CachedDocument::fetch(cached.as_ref(), url, now, unknown_key, interval) == Fetch::Now {
            let fetched = match fetch_document(&target).await {
                Ok(fetched) => Some(fetched),
                Err(why) => {
                    eprintln!("warning: fetching the JWKS from {url} failed: {why}");
                    None
                }
            };
            let copy = CachedDocument::after_fetch(cached.take(), url, now, fetched);
            kv.set(JWKS_CACHE_KEY, &copy.encode()).await?;
            cached = Some(copy);
        }
        let document = cached
            .as_ref()
            .and_then(|copy| copy.usable_document(url, now, STALE_USE_SECS))
            .ok_or_else(|| {
                Error::IdentityProviderUnavailable(format!("no usable JWKS from {url}"))
            })?;
        match verify(jws, document)? {
            Err(Refusal::UnknownKey) if !unknown_key => unknown_key = true,
            outcome => return refusal(outcome),
        }
    }
}

/// One GET of the JWKS: its document, checked to be a usable JWKS, and how long it is fresh.
async fn fetch_document(target: &OutboundUrl) -> Result<(String, i64), String> {
    let deadline = Deadline::new("identity provider", FETCH_DEADLINE);
    let request = Outgoing {
        scheme: &target.scheme,
        authority: &target.authority,
        path_and_query: &target.path_and_query,
        headers: &[("accept", "application/jwk-set+json, application/json")],
        body: None,
    };
    let answer = outbound::send(&deadline, "JWKS fetch", request, MAX_JWKS_BYTES)
        .await
        .map_err(|err| err.to_string())?;
    if answer.status != 200 {
        return Err(format!("the provider answered {}", answer.status));
    }
    let fresh_secs = cache_secs(answer.header("cache-control"), answer.header("age"));
    Jwks::parse(&answer.body)?;
    let document = String::from_utf8(answer.body).map_err(|_| "the JWKS is not UTF-8")?;
    Ok((document, fresh_secs))
}

thread_local! {
    /// The last JWKS document parsed by this instance (Spin reuses instances), with its keys
    /// and its generation number.
    static PARSED: RefCell<Option<(String, Rc<Jwks>, u64)>> = const { RefCell::new(None) };
    /// The signatures this instance verified.
    static VERIFIED: RefCell<VerifiedTokens> = RefCell::new(VerifiedTokens::default());
}

/// The keys of `document`, parsed once per instance while it stays the same, and the
/// document's generation number (it changes with the document).
fn parsed(document: &str) -> Result<(Rc<Jwks>, u64), Error> {
    if let Some(found) = PARSED.with_borrow(|last| {
        last.as_ref()
            .filter(|(doc, _, _)| doc == document)
            .map(|(_, jwks, generation)| (Rc::clone(jwks), *generation))
    }) {
        return Ok(found);
    }
    let jwks = Rc::new(
        Jwks::parse(document.as_bytes())
            .map_err(|why| Error::IdentityProviderUnavailable(format!("the JWKS: {why}")))?,
    );
    let generation = PARSED.with_borrow(|last| last.as_ref().map_or(0, |(_, _, g)| g + 1));
    PARSED.set(Some((document.to_owned(), Rc::clone(&jwks), generation)));
    Ok((jwks, generation))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_table_serves_the_documented_operations_spin_routes_here() {
        keys_spin::conformance::assert_documented(
            "identity",
            super::ROUTES,
            // A private route (service chaining from the admin components).
            &["GET /verify"],
        );
    }
}
