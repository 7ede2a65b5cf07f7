//! `GET /api/v1/health`: whether this node's stores answer and whether the verification
//! records look present. For probes and monitoring: no authentication, no secret in the
//! answer. 200 when everything checked is fine, 503 otherwise. Nothing is written, except the
//! records' marker on an admin node whose SQLite holds no live secret (below).
//!
//! - `key_value`: the store answered a read within the node's deadline.
//! - `verification_records`: `present` when the marker the rebuild writes (and the creation
//!   of a deployment's first key) is there, and, on a node with SQLite, when the record of
//!   the most recently created live secret is there too; `none` when SQLite holds no live
//!   secret (nothing to verify: the admin node then writes the marker, so that the edges of a
//!   new deployment report `present` once its health has been checked); `missing` otherwise:
//!   every key answers `NOT_FOUND` until `POST /api/v1/verification-records/rebuild` runs.
//! - `sqlite` (admin nodes only): the database answered.
//!
//! It also says how long after an admin call a change may take to reach every edge:
//! `verify_cache_ms` (0: at once; see `keys_domain::cache`); and the longest a key may live,
//! `max_key_lifetime_days` (0: no limit; see `keys_domain::expiry`), so that the screen can
//! offer the allowed expiries. A value of either variable out of its range fails the route
//! with a 500, so that probes keep a misconfigured node out.

use crate::db::{self, Db};
use crate::http::{Response, json};
use crate::kv::Kv;
use keys_domain::Error;
use keys_domain::record::{RECORDS_MARKER_KEY, record_key};
use keys_domain::time::Timestamp;
use serde::Serialize;
use spin_sdk::sqlite::Value;
use std::time::Duration;

/// The hash of the most recently created live secret.
const SQL_NEWEST_LIVE_SECRET: &str = "SELECT hash FROM key_secrets \
     WHERE valid_until IS NULL OR valid_until > ? ORDER BY created_at DESC, hash LIMIT 1";

/// How many keys the deployment has.
const SQL_COUNT_KEYS: &str = "SELECT COUNT(*) FROM api_keys";

/// One check's outcome.
#[derive(Serialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Check {
    Ok,
    Unavailable,
    Present,
    None,
    Missing,
    Unknown,
}

#[derive(Serialize)]
struct Checks {
    key_value: Check,
    verification_records: Check,
    #[serde(skip_serializing_if = "Option::is_none")]
    sqlite: Option<Check>,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    checks: Checks,
    verify_cache_ms: u64,
    max_key_lifetime_days: u32,
}

/// Answers the health route on a node without SQLite (an edge): the key-value store and the
/// marker only.
pub async fn answer_edge(limit: Duration) -> Result<Response, Error> {
    let (key_value, marker, _) = key_value_check(limit).await;
    let records = match (key_value, marker) {
        (Check::Ok, true) => Check::Present,
        (Check::Ok, false) => Check::Missing,
        _ => Check::Unknown,
    };
    respond(key_value, records, None).await
}

/// Answers the health route on a node holding the SQLite database (the admin node): also
/// checks SQLite and that the newest live secret has its record.
pub async fn answer_admin(limit: Duration) -> Result<Response, Error> {
    let (key_value, marker, kv) = key_value_check(limit).await;
    let (sqlite, records) = match newest_live_secret(limit).await {
        Err(err) => (unavailable(&err), Check::Unknown),
        Ok(None) => (Check::Ok, nothing_to_verify(marker, kv.as_ref()).await),
        Ok(Some(hash)) => match &kv {
            None => (Check::Ok, Check::Unknown),
            Some(kv) => match kv.get(&record_key(&hash)).await {
                Ok(Some(_)) if marker => (Check::Ok, Check::Present),
                Ok(_) => (Check::Ok, Check::Missing),
                Err(err) => (Check::Ok, unavailable(&err)),
            },
        },
    };
    respond(key_value, records, Some(sqlite)).await
}

/// With no live secret in SQLite, the verification records are complete by definition: the
/// marker is written when missing (a new deployment, or a store restarted empty before any
/// key existed), so that edges report healthy too. `none` either way; a failed write is
/// logged and retried by the next health check.
async fn nothing_to_verify(marker: bool, kv: Option<&Kv>) -> Check {
    if let (false, Some(kv)) = (marker, kv)
        && let Err(err) = mark_records_complete(kv).await
    {
        eprintln!(
            "warning: health: could not mark the (empty) verification records complete: {err}"
        );
    }
    Check::None
}

/// Opens the store and reads the marker: the store's check, whether the marker is there, and
/// the store when it answered.
async fn key_value_check(limit: Duration) -> (Check, bool, Option<Kv>) {
    let kv = match Kv::open(limit).await {
        Ok(kv) => kv,
        Err(err) => return (unavailable(&err), false, None),
    };
    match kv.get(RECORDS_MARKER_KEY).await {
        Ok(marker) => (Check::Ok, marker.is_some(), Some(kv)),
        Err(err) => (unavailable(&err), false, None),
    }
}

async fn respond(
    key_value: Check,
    records: Check,
    sqlite: Option<Check>,
) -> Result<Response, Error> {
    let verify_cache_ms = crate::config::verify_cache().await?.millis();
    let max_key_lifetime_days = crate::config::expiry_policy().await?.max_days();
    let status = if key_value != Check::Ok || sqlite.is_some_and(|s| s != Check::Ok) {
        "unavailable"
    } else if records == Check::Missing {
        "records_missing"
    } else {
        "ok"
    };
    let code = if status == "ok" { 200 } else { 503 };
    let checks = Checks {
        key_value,
        verification_records: records,
        sqlite,
    };
    let health = Health {
        status,
        checks,
        verify_cache_ms,
        max_key_lifetime_days,
    };
    json(code, &health)
}

fn unavailable(err: &Error) -> Check {
    eprintln!("warning: health: {err}");
    Check::Unavailable
}

async fn newest_live_secret(limit: Duration) -> Result<Option<String>, Error> {
    let db = Db::open(limit).await?;
    let now = Value::Integer(Timestamp::now().unix());
    let rows = db.rows(SQL_NEWEST_LIVE_SECRET, vec![now]).await?;
    rows.first().map(|row| db::text(row, 0)).transpose()
}

/// Records that the verification records are complete (see [`RECORDS_MARKER_KEY`]).
pub async fn mark_records_complete(kv: &Kv) -> Result<(), Error> {
    let now = Timestamp::now().unix().to_string();
    kv.set(RECORDS_MARKER_KEY, now.as_bytes()).await
}

/// After a key was created: when it is the deployment's only key, its record is the whole
/// set, so the marker is written. Best effort: the key is created either way, and the
/// rebuild writes the marker too.
pub async fn after_key_created(db: &Db, kv: &Kv) {
    let count = db.rows(SQL_COUNT_KEYS, vec![]).await;
    let only = count.is_ok_and(|rows| rows.first().and_then(|r| r.get::<i64>(0)) == Some(1));
    if only && let Err(err) = mark_records_complete(kv).await {
        eprintln!("warning: could not mark the verification records complete: {err}");
    }
}
