//! rebuild-records: rewrites the key-value verification records from SQLite, the system of
//! record. For recovery after a store failure, after upgrading from an earlier record layout,
//! or to fill a new key-value store (see docs/consistency.md).
//!
//! A component of its own because it is rarely called and is the only code that lists the
//! whole key-value store: kept out of manage-keys, which instantiates on every admin call.

use keys_domain::Error;
use keys_domain::model::Actor;
use keys_domain::time::Timestamp;
use keys_spin::auth::require_platform_configuration;
use keys_spin::db::Db;
use keys_spin::deadline::{ADMIN_STORE_DEADLINE, SQLITE_DEADLINE};
use keys_spin::http::{ApiRequest, Response, json, route_not_found};
use keys_spin::keys;
use keys_spin::kv::Kv;

keys_spin::export_http_handler!(dispatch);

/// Serves `POST /verification-records/rebuild` (404 for other paths, 405 for other methods).
async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    match (req.path.as_str(), req.method.as_str()) {
        ("/verification-records/rebuild", "POST") => {
            req.no_query()?;
            rebuild(req).await
        }
        ("/verification-records/rebuild", _) => Err(Error::MethodNotAllowed { allow: "POST" }),
        (path, _) => Err(route_not_found(path)),
    }
}

async fn rebuild(req: &ApiRequest) -> Result<Response, Error> {
    let actor: Actor = require_platform_configuration(req).await?;
    req.require_empty_body()?;
    let (db, kv) = (
        Db::open(SQLITE_DEADLINE).await?,
        Kv::open(ADMIN_STORE_DEADLINE).await?,
    );
    let report = keys::rebuild(&db, &kv, Timestamp::now()).await?;
    keys_spin::health::mark_records_complete(&kv).await?;
    eprintln!(
        "info: verification records rebuilt by {}: {} written, {} stale removed",
        actor.id, report.records_written, report.stale_records_removed
    );
    json(200, &report)
}
