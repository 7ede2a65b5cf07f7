//! key-usage: the usage analytics verify-key counts — one key's verifications by code in
//! hourly or daily buckets (`GET /keys/{id}/usage`), and every key's together with the
//! busiest keys (`GET /usage`). Read-only; kept out of manage-keys so that the admin screen's
//! charts do not grow it.

use keys_domain::Error;
use keys_domain::time::Timestamp;
use keys_domain::usage::{Bucket, Granularity, Range, TOP_KEYS};
use keys_spin::auth::require_platform_configuration;
use keys_spin::db::Db;
use keys_spin::deadline::{ADMIN_STORE_DEADLINE, SQLITE_DEADLINE};
use keys_spin::http::{ApiRequest, Response, json, route_not_found};
use keys_spin::kv::Kv;
use keys_spin::{keys, usage};
use serde::Serialize;

keys_spin::export_http_handler!(dispatch);

/// The query parameters of both routes.
const PARAMETERS: &[&str] = &["granularity", "from", "to"];

/// Routes a request on its path under `/api/v1`.
async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let id = match segments.as_slice() {
        ["usage"] => None,
        ["keys", id, "usage"] => Some(*id),
        _ => return Err(route_not_found(&req.path)),
    };
    if req.method != "GET" {
        return Err(Error::MethodNotAllowed { allow: "GET" });
    }
    require_platform_configuration(req).await?;
    let range = range(req)?;
    match id {
        Some(id) => key_usage(id, &range).await,
        None => all_usage(&range).await,
    }
}

/// The range the query asks for.
fn range(req: &ApiRequest) -> Result<Range, Error> {
    let (mut granularity, mut from, mut to) = (None, None, None);
    for (name, value) in req.query_params(PARAMETERS)? {
        match name.as_str() {
            "granularity" => granularity = Some(value),
            "from" => from = Some(value),
            _ => to = Some(value),
        }
    }
    Range::parse(
        granularity.as_deref(),
        from.as_deref(),
        to.as_deref(),
        Timestamp::now(),
    )
}

/// The answer of both routes.
#[derive(Serialize)]
struct Usage<'a> {
    granularity: Granularity,
    from: Timestamp,
    to: Timestamp,
    data: Vec<Bucket>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_keys: Option<Vec<TopKey<'a>>>,
}

/// One of the busiest keys over the range.
#[derive(Serialize)]
struct TopKey<'a> {
    key_id: &'a str,
    label: &'a str,
    requests: u64,
}

/// Opens both stores and folds the hours due (`keys_spin::usage::fold`).
async fn folded() -> Result<(Db, Kv, usage::Cursor), Error> {
    let (db, kv) = (
        Db::open(SQLITE_DEADLINE).await?,
        Kv::open(ADMIN_STORE_DEADLINE).await?,
    );
    let cursor = usage::fold(&db, &kv, Timestamp::now()).await?;
    Ok((db, kv, cursor))
}

async fn key_usage(id: &str, range: &Range) -> Result<Response, Error> {
    let (db, kv, cursor) = folded().await?;
    let key = keys::load_or_404(&db, id).await?;
    let data = usage::series(&db, &kv, cursor, Some(&key.id), range).await?;
    json(200, &answer(range, data, None))
}

async fn all_usage(range: &Range) -> Result<Response, Error> {
    let (db, kv, cursor) = folded().await?;
    let labels = keys::labels(&db).await?;
    let data = usage::series(&db, &kv, cursor, None, range).await?;
    let ids: Vec<&str> = labels.iter().map(|(id, _)| id.as_str()).collect();
    let totals = usage::totals(&db, &kv, cursor, &ids, range).await?;
    let mut top: Vec<TopKey<'_>> = labels
        .iter()
        .zip(totals)
        .filter(|(_, requests)| *requests > 0)
        .map(|((key_id, label), requests)| TopKey {
            key_id,
            label,
            requests,
        })
        .collect();
    top.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.key_id.cmp(b.key_id)));
    top.truncate(TOP_KEYS);
    json(200, &answer(range, data, Some(top)))
}

fn answer<'a>(range: &Range, data: Vec<Bucket>, top_keys: Option<Vec<TopKey<'a>>>) -> Usage<'a> {
    Usage {
        granularity: range.granularity,
        from: range.start(),
        to: range.end(),
        data,
        top_keys,
    }
}
