//! kv-proxy: makes the counter increments of the other components (verify-key's limit leases
//! and usage batches) on the `default` key-value store, for callers that reach it through
//! Spin's local service chaining (`POST http://kv-proxy.spin.internal/increment`, a private
//! route: clients cannot reach it).
//!
//! Spin offers increments only as `wasi:keyvalue`'s synchronous call, which holds the whole
//! instance making it for as long as the store does not answer (Spin's Redis client retries
//! a lost connection for minutes). Made here, such a call holds only this instance; the
//! caller's own call is asynchronous and abandoned at its deadline, so an edge keeps
//! answering during a store outage (see `keys_domain::increments` and docs/consistency.md).

use keys_domain::Error;
use keys_domain::increments::{self, INCREMENT_PATH};
use keys_spin::handler;
use keys_spin::http::{ApiRequest, Response, with_body};
use keys_spin::routes::{self, Matched, NO_QUERY, Route};
use spin_sdk::experimental::wasi::keyvalue::{atomics, store};
use std::cell::RefCell;
use std::rc::Rc;

keys_spin::export_http_handler!(dispatch);

/// The label of the store, as `key_value_stores` in spin.toml names it.
const STORE_LABEL: &str = "default";

thread_local! {
    /// This instance's handle on the `default` store, opened by its first request.
    static BUCKET: RefCell<Option<Rc<store::Bucket>>> = const { RefCell::new(None) };
}

/// The one route of kv-proxy: `POST /increment`, 200 with each counter's new value, 400 for a
/// malformed body, 503 when the store fails (the increments before the failure are made).
const ROUTES: &[Route] = &[Route::public(
    "POST",
    INCREMENT_PATH,
    NO_QUERY,
    handler!(increment),
)];

async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    routes::serve_public(ROUTES, req).await
}

async fn increment(m: &Matched<'_>) -> Result<Response, Error> {
    let body = std::str::from_utf8(&m.req.body)
        .map_err(|_| Error::bad_request("the body must be UTF-8 text"))?;
    let wanted = increments::parse(body).map_err(|why| Error::bad_request(why.0))?;
    let bucket = bucket()?;
    let mut values = Vec::with_capacity(wanted.len());
    for increment in wanted {
        let value = atomics::increment(&bucket, &increment.counter, increment.delta)
            .map_err(|err| failed("increment", err))?;
        values.push(value);
    }
    Ok(with_body(
        200,
        "text/plain",
        increments::encode_values(&values),
    ))
}

/// This instance's handle on the `default` store, opened when there is none.
fn bucket() -> Result<Rc<store::Bucket>, Error> {
    if let Some(open) = BUCKET.with(|b| b.borrow().clone()) {
        return Ok(open);
    }
    let bucket = Rc::new(store::open(STORE_LABEL).map_err(|err| failed("open", err))?);
    BUCKET.with(|b| *b.borrow_mut() = Some(bucket.clone()));
    Ok(bucket)
}

/// The 503 of a failed call; drops the handle, so the next request opens it again.
fn failed(what: &str, err: store::Error) -> Error {
    BUCKET.with(|b| b.borrow_mut().take());
    Error::store(format!("key-value: {what}: {err:?}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_table_serves_the_documented_operations_spin_routes_here() {
        keys_spin::conformance::assert_documented(
            "kv-proxy",
            super::ROUTES,
            // A private route (service chaining from verify-key and secret-scanning).
            &["POST /increment"],
        );
    }
}
