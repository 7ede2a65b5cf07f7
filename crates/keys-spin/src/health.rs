//! `GET /api/v1/health`: whether this node's stores answer and whether the verification
//! records look present. For probes and monitoring: no authentication, no secret in the
//! answer, nothing written. 200 when everything checked is fine, 503 otherwise.
//!
//! - `key_value`: the store answered a read within the node's deadline.
//! - `verification_records`: `present` when the marker the rebuild writes (and the creation
//!   of a deployment's first key) is there, and, on a node with SQLite, when the record of
//!   the most recently created live secret is there too; `none` when SQLite holds no live
//!   secret (nothing to verify); `missing` otherwise: every key answers `NOT_FOUND` until
//!   `POST /api/v1/verification-records/rebuild` runs.
//! - `sqlite` (admin nodes only): the database answered.

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
}

/// Answers the health route; `with_sqlite` on nodes that hold the SQLite database.
pub async fn answer(limit: Duration, with_sqlite: bool) -> Result<Response, Error> {
    let (key_value, marker, kv) = match Kv::open(limit).await {
        Ok(kv) => match kv.get(RECORDS_MARKER_KEY).await {
            Ok(marker) => (Check::Ok, marker.is_some(), Some(kv)),
            Err(err) => (unavailable(&err), false, None),
        },
        Err(err) => (unavailable(&err), false, None),
    };
    let mut records = match (&kv, marker) {
        (None, _) => Check::Unknown,
        (Some(_), true) => Check::Present,
        (Some(_), false) => Check::Missing,
    };
    let mut sqlite = None;
    if with_sqlite {
        match newest_live_secret(limit).await {
            Ok(newest) => {
                sqlite = Some(Check::Ok);
                records = match (newest, &kv) {
                    (None, _) => Check::None,
                    (Some(_), None) => Check::Unknown,
                    (Some(hash), Some(kv)) => match kv.get(&record_key(&hash)).await {
                        Ok(Some(_)) if marker => Check::Present,
                        Ok(_) => Check::Missing,
                        Err(err) => unavailable(&err),
                    },
                };
            }
            Err(err) => sqlite = Some(unavailable(&err)),
        }
    }
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
    json(code, &Health { status, checks })
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
