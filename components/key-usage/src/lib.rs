//! key-usage: the usage analytics verify-key counts — one key's verifications by code in
//! hourly or daily buckets (`GET /keys/{id}/usage`), every key's together with the busiest
//! keys (`GET /usage`), and a key's access review: which of its grants and companies its
//! calls used, what was refused, the narrowest permissions that cover its traffic
//! (`GET /keys/{id}/access-review`) and how that traffic would fare under others
//! (`POST /keys/{id}/access-review/simulate`). Read-only; kept out of manage-keys so that
//! the admin screen's charts do not grow it.

use keys_domain::Error;
use keys_domain::access::review::{self, Context, Counted, Permissions, Window};
use keys_domain::model::whole_number;
use keys_domain::model::{check_companies, parse_grants};
use keys_domain::permissions::CompanyScope;
use keys_domain::time::Timestamp;
use keys_domain::usage::{Bucket, Granularity, Range, TOP_KEYS};
use keys_spin::db::Db;
use keys_spin::handler;
use keys_spin::http::{ApiRequest, Response, json};
use keys_spin::kv::Kv;
use keys_spin::routes::{self, Matched, NO_QUERY, Query, Route};
use keys_spin::{access, catalog, keys, usage};
use serde::{Deserialize, Serialize};

keys_spin::export_http_handler!(dispatch);

/// The query parameters of both routes.
const PARAMETERS: Query = Query::Only(&["granularity", "from", "to"]);

/// The routes of key-usage.
const ROUTES: &[Route] = &[
    Route::admin("GET", "/keys/{id}/usage", PARAMETERS, handler!(key_usage)),
    Route::admin("GET", "/usage", PARAMETERS, handler!(all_usage)),
    Route::admin(
        "GET",
        "/keys/{id}/access-review",
        Query::Only(&["days"]),
        handler!(access_review),
    ),
    Route::admin(
        "POST",
        "/keys/{id}/access-review/simulate",
        NO_QUERY,
        handler!(simulate),
    ),
];

async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    routes::serve(ROUTES, req).await
}

/// The range the query asks for.
fn range(m: &Matched<'_>) -> Result<Range, Error> {
    Range::parse(
        m.param("granularity"),
        m.param("from"),
        m.param("to"),
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
    let (db, kv) = keys::open_stores().await?;
    let cursor = usage::fold(&db, &kv, Timestamp::now()).await?;
    Ok((db, kv, cursor))
}

async fn key_usage(m: &Matched<'_>) -> Result<Response, Error> {
    let (id, range) = (m.capture(0), &range(m)?);
    let (db, kv, cursor) = folded().await?;
    let key = keys::load_or_404(&db, id).await?;
    let data = usage::series(&db, &kv, cursor, Some(&key.id), range).await?;
    json(200, &answer(range, data, None))
}

async fn all_usage(m: &Matched<'_>) -> Result<Response, Error> {
    let range = &range(m)?;
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

/// A key's permissions and its access counts over `window`.
async fn key_access(id: &str, window: &Window) -> Result<(Db, Permissions, Vec<Counted>), Error> {
    let (db, kv, cursor) = folded().await?;
    let key = keys::load_or_404(&db, id).await?;
    let counts = access::key_counts(&db, &kv, cursor, &key.id, window).await?;
    let current = Permissions {
        methods: key.methods,
        companies: key.companies,
    };
    Ok((db, current, counts))
}

async fn access_review(m: &Matched<'_>) -> Result<Response, Error> {
    let window = Window::parse(m.param("days"), Timestamp::now())?;
    let (db, current, counts) = key_access(m.capture(0), &window).await?;
    let catalog: Vec<String> = catalog::method_names(&db)
        .await?
        .into_iter()
        .map(|m| m.as_str().to_owned())
        .collect();
    let mut registered = Vec::new();
    for c in review::named_companies(&counts) {
        if catalog::company_exists(&db, c).await? {
            registered.push(c.to_owned());
        }
    }
    let ctx = Context {
        current: &current,
        catalog: &catalog,
        registered: &|c: &str| registered.iter().any(|r| r == c),
    };
    json(200, &review::review(&window, &counts, &ctx))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimulateBody {
    methods: Vec<String>,
    companies: CompanyScope,
    #[serde(default = "default_days", deserialize_with = "whole_number")]
    days: u64,
}

fn default_days() -> u64 {
    review::DEFAULT_DAYS as u64
}

async fn simulate(m: &Matched<'_>) -> Result<Response, Error> {
    let body: SimulateBody = m.req.json()?;
    let grants = parse_grants(&body.methods)?;
    check_companies(&body.companies)?;
    let days = i64::try_from(body.days).unwrap_or(i64::MAX);
    let window = Window::new(days, Timestamp::now())?;
    let (_, _, counts) = key_access(m.capture(0), &window).await?;
    let proposed = Permissions {
        methods: grants.iter().map(ToString::to_string).collect(),
        companies: body.companies,
    };
    json(200, &review::simulate(&counts, &proposed))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_table_serves_the_documented_operations_spin_routes_here() {
        keys_spin::conformance::assert_documented("key-usage", super::ROUTES, &[]);
    }
}
