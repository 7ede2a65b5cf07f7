//! rebuild-records: rewrites the key-value verification records from SQLite, the system of
//! record. For recovery after a store failure, after upgrading from an earlier record layout,
//! or to fill a new key-value store (see docs/consistency.md).
//!
//! A component of its own because it is rarely called and is the only code that lists the
//! whole key-value store: kept out of manage-keys, which instantiates on every admin call.

use keys_domain::Error;
use keys_domain::time::Timestamp;
use keys_spin::handler;
use keys_spin::http::{ApiRequest, Response, json};
use keys_spin::keys;
use keys_spin::routes::{self, Matched, NO_QUERY, Route};

keys_spin::export_http_handler!(dispatch);

/// The one route of rebuild-records.
const ROUTES: &[Route] = &[Route::admin(
    "POST",
    "/verification-records/rebuild",
    NO_QUERY,
    handler!(rebuild),
)];

async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    routes::serve(ROUTES, req).await
}

async fn rebuild(m: &Matched<'_>) -> Result<Response, Error> {
    let actor = m.actor()?;
    m.req.require_empty_body()?;
    let (db, kv) = keys::open_stores().await?;
    let report = keys::rebuild(&db, &kv, Timestamp::now()).await?;
    keys_spin::health::mark_records_complete(&kv).await?;
    eprintln!(
        "info: verification records rebuilt by {}: {} written, {} stale removed",
        actor.id, report.records_written, report.stale_records_removed
    );
    json(200, &report)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_table_serves_the_documented_operations_spin_routes_here() {
        keys_spin::conformance::assert_documented("rebuild-records", super::ROUTES, &[]);
    }
}
