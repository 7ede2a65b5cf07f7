//! The routes of manage-keys, one function each.

use keys_domain::Error;
use keys_domain::access::review::{self, Window};
use keys_domain::cloudevents::{self, Audited};
use keys_domain::events::{Changes, EventKind};
use keys_domain::expiry::ExpiryPolicy;
use keys_domain::key::{NewSecret, random_id};
use keys_domain::lifecycle;
use keys_domain::model::{
    KEY_ID_PREFIX, Label, LimitsPatch, Metadata, Status, StoredKey, check_companies, parse_expiry,
    parse_grants,
};
use keys_domain::permissions::CompanyScope;
use keys_domain::record::Limits;
use keys_domain::time::Timestamp;
use keys_spin::catalog;
use keys_spin::config;
use keys_spin::db::Db;
use keys_spin::deadline::{ADMIN_STORE_DEADLINE, SQLITE_DEADLINE};
use keys_spin::handler;
use keys_spin::health;
use keys_spin::http::{API_BASE, ApiRequest, Response, empty, json, with_body};
use keys_spin::keys::{self, ListFilter};
use keys_spin::paging::{DEFAULT_LIMIT, Page, parse_cursor, parse_limit};
use keys_spin::routes::{self, Matched, NO_QUERY, Query, Route};
use keys_spin::{access, usage};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The query parameters of the lists of events.
const PAGE_QUERY: Query = Query::Only(&["limit", "cursor"]);

/// The routes of manage-keys.
const ROUTES: &[Route] = &[
    Route::admin(
        "GET",
        "/keys",
        Query::Only(&["status", "q", "leaked", "unused_grants", "limit", "cursor"]),
        handler!(list),
    ),
    Route::admin("POST", "/keys", NO_QUERY, handler!(create)),
    Route::admin("GET", "/keys/{id}", NO_QUERY, handler!(get)),
    Route::admin("PATCH", "/keys/{id}", NO_QUERY, handler!(update)),
    Route::admin("DELETE", "/keys/{id}", NO_QUERY, handler!(delete)),
    Route::admin(
        "POST",
        "/keys/{id}/regenerate",
        NO_QUERY,
        handler!(regenerate),
    ),
    Route::admin(
        "POST",
        "/keys/{id}/deactivate",
        NO_QUERY,
        handler!(deactivate),
    ),
    Route::admin("POST", "/keys/{id}/activate", NO_QUERY, handler!(activate)),
    Route::admin("GET", "/keys/{id}/events", PAGE_QUERY, handler!(key_events)),
    Route::admin("GET", "/events", PAGE_QUERY, handler!(all_events)),
    // Reached on a node without verify-key (which serves the route where it runs).
    Route::public("GET", "/health", NO_QUERY, handler!(health)),
];

/// Answers a request with its route.
pub async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    routes::serve(ROUTES, req).await
}

async fn health(_: &Matched<'_>) -> Result<Response, Error> {
    health::answer_admin(ADMIN_STORE_DEADLINE).await
}

async fn deactivate(m: &Matched<'_>) -> Result<Response, Error> {
    set_status(m, Status::Inactive).await
}

async fn activate(m: &Matched<'_>) -> Result<Response, Error> {
    set_status(m, Status::Active).await
}

async fn key_events(m: &Matched<'_>) -> Result<Response, Error> {
    events(m, Some(m.capture(0))).await
}

async fn all_events(m: &Matched<'_>) -> Result<Response, Error> {
    events(m, None).await
}

fn internal(err: impl std::fmt::Display) -> Error {
    Error::unexpected(err)
}

/// The body of a create or an edit: the fields of a key a client sets. A create needs
/// `label`; an edit may not send `methods` or `companies` (a key's permissions change through
/// `/keys/{id}/permissions`). Where an edit may clear a field, `null` and absence differ; an
/// optional field that is never null refuses `null` (see [`keys_spin::http::present`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    label: Option<String>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    methods: Option<Vec<String>>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    companies: Option<CompanyScope>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    expires_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    metadata: Option<Option<Metadata>>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    rate_limit: Option<Option<Box<RawValue>>>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    quota: Option<Option<Box<RawValue>>>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    ip_allowlist: Option<Option<Box<RawValue>>>,
}

impl KeyBody {
    /// The label a create must send (400 without it, as for any missing field).
    fn required_label(&self) -> Result<&str, Error> {
        self.label
            .as_deref()
            .ok_or_else(|| Error::bad_request("the JSON body is invalid: missing field `label`"))
    }

    /// Refuses, on an edit, the fields only a create sets (400, as for any unknown field).
    fn check_edit(&self) -> Result<(), Error> {
        let sent = [
            ("methods", self.methods.is_some()),
            ("companies", self.companies.is_some()),
        ];
        match sent.iter().find(|(_, sent)| *sent) {
            Some((name, _)) => Err(Error::bad_request(format!(
                "the JSON body is invalid: unknown field `{name}`: a key's permissions \
                 change through /keys/{{id}}/permissions"
            ))),
            None => Ok(()),
        }
    }
}

/// Reads the limit fields of a create or an edit, kept as raw JSON so that a value of the
/// wrong type gets the 422 of its field (see [`LimitsPatch::parse`]).
fn parse_limits(
    rate_limit: &Option<Option<Box<RawValue>>>,
    quota: &Option<Option<Box<RawValue>>>,
    ip_allowlist: &Option<Option<Box<RawValue>>>,
) -> Result<LimitsPatch, Error> {
    LimitsPatch::parse(raw(rate_limit), raw(quota), raw(ip_allowlist))
}

/// The raw JSON of a field: `None` when absent, `"null"` when null.
fn raw(field: &Option<Option<Box<RawValue>>>) -> Option<&str> {
    field
        .as_ref()
        .map(|sent| sent.as_deref().map_or("null", RawValue::get))
}

async fn create(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, actor) = (m.req, m.actor()?);
    let body: KeyBody = req.json()?;
    let now = Timestamp::now();
    let label = Label::parse(body.required_label()?)?;
    let grants = parse_grants(body.methods.as_deref().unwrap_or_default())?;
    let companies = body.companies.unwrap_or(CompanyScope::All);
    check_companies(&companies)?;
    let companies = companies.normalized();
    let expires_at = body
        .expires_at
        .flatten()
        .map(|t| parse_expiry(&t, now))
        .transpose()?;
    config::expiry_policy().await?.check(expires_at, now)?;
    let metadata = body.metadata.flatten();
    if let Some(m) = &metadata {
        m.check()?;
    }
    let limits =
        parse_limits(&body.rate_limit, &body.quota, &body.ip_allowlist)?.apply(&Limits::default());
    let (db, kv) = keys::open_stores().await?;
    catalog::check_grants(&db, &grants).await?;
    catalog::check_companies(&db, &companies).await?;

    let secret = NewSecret::generate().map_err(internal)?;
    let key = StoredKey {
        id: random_id(KEY_ID_PREFIX).map_err(internal)?,
        label: label.as_str().to_owned(),
        hint: secret.hint(),
        status: Status::Active,
        methods: grants.iter().map(ToString::to_string).collect(),
        companies,
        metadata,
        expires_at,
        created_at: now,
        created_by: actor.clone(),
        updated_at: now,
        leak: None,
        limits,
    };
    let summary = Changes::new()
        .set("label", &key.label)?
        .set("methods", &key.methods)?
        .set("companies", &key.companies)?
        .set("expires_at", &key.expires_at)?
        .set("metadata", &key.metadata)?
        .set("rate_limit", &key.limits.rate_limit)?
        .set("quota", &key.limits.quota)?
        .set("ip_allowlist", &key.limits.ip_allowlist.entries())?;
    keys::change(
        &db,
        &kv,
        &key.id,
        now,
        Box::pin(async {
            keys::insert(&db, &key, &secret.hash().to_hex()).await?;
            keys::record_event(&db, &key.id, EventKind::Created, actor, now, summary).await
        }),
    )
    .await?;
    health::after_key_created(&db, &kv).await;
    let location = format!("{API_BASE}/keys/{}", key.id);
    Ok(json(201, &key.view(None).with_secret(&secret))?.header("location", location))
}

async fn list(m: &Matched<'_>) -> Result<Response, Error> {
    let mut unused_grants = None;
    let mut filter = ListFilter {
        status: None,
        label_contains: None,
        leaked: None,
        after: None,
        limit: DEFAULT_LIMIT,
    };
    for (name, value) in m.query.iter().cloned() {
        match name.as_str() {
            "status" => {
                filter.status =
                    Some(Status::parse(&value).ok_or_else(|| {
                        Error::bad_request("status must be `active` or `inactive`")
                    })?)
            }
            "q" => {
                if value.chars().count() > 200 {
                    return Err(Error::bad_request("q must be at most 200 characters"));
                }
                filter.label_contains = Some(value).filter(|v| !v.is_empty());
            }
            "leaked" => filter.leaked = Some(boolean("leaked", &value)?),
            "unused_grants" => unused_grants = Some(boolean("unused_grants", &value)?),
            "limit" => filter.limit = parse_limit(&value)?,
            _ => filter.after = Some(parse_cursor(&value)?),
        }
    }
    let (db, kv) = keys::open_stores().await?;
    let (found, next) = match unused_grants {
        None => keys::list(&db, &filter).await?,
        Some(wanted) => {
            let window = Window::new(review::DEFAULT_DAYS, Timestamp::now())?;
            let cursor = usage::fold(&db, &kv, window.now).await?;
            let keep = async |page: &[&StoredKey]| {
                let ids: Vec<&str> = page.iter().map(|k| k.id.as_str()).collect();
                let used = access::used_methods(&db, &kv, cursor, &ids, &window).await?;
                Ok(page
                    .iter()
                    .zip(used)
                    .map(|(k, used)| review::has_unused_grant(&k.methods, &used) == wanted)
                    .collect())
            };
            keys::list_where(&db, &filter, keep).await?
        }
    };
    let ids: Vec<&str> = found.iter().map(|k| k.id.as_str()).collect();
    let requests = usage::last_24_hours(&db, &kv, &ids, Timestamp::now()).await?;
    let last_used = keys::last_used_many(&kv, &ids).await?;
    let data: Vec<ListedKey> = found
        .iter()
        .zip(requests.into_iter().zip(last_used))
        .map(|(key, (requests_24h, last_used))| ListedKey {
            key: key.view(last_used),
            requests_24h,
        })
        .collect();
    json(
        200,
        &Page {
            data,
            next_cursor: next.map(|n| n.to_string()),
        },
    )
}

/// A `true` or `false` query parameter.
fn boolean(name: &str, value: &str) -> Result<bool, Error> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::bad_request(format!(
            "{name} must be `true` or `false`"
        ))),
    }
}

/// A key in the list: the key and its verifications over the last 24 hours.
#[derive(serde::Serialize)]
struct ListedKey<'a> {
    #[serde(flatten)]
    key: keys_domain::model::KeyView<'a>,
    requests_24h: u64,
}

async fn get(m: &Matched<'_>) -> Result<Response, Error> {
    let id = m.capture(0);
    let (db, kv) = keys::open_stores().await?;
    let key = keys::load_or_404(&db, id).await?;
    let grace = keys::grace_secrets(&db, id, Timestamp::now()).await?;
    let last_used = keys::last_used(&kv, &key.id).await?;
    json(200, &key.view(last_used).with_grace_secrets(grace))
}

async fn update(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, id, actor) = (m.req, m.capture(0), m.actor()?);
    let body: KeyBody = req.json()?;
    body.check_edit()?;
    let now = Timestamp::now();
    let label = body.label.as_deref().map(Label::parse).transpose()?;
    let expires_at = body
        .expires_at
        .map(|e| e.map(|t| parse_expiry(&t, now)).transpose())
        .transpose()?;
    if let Some(Some(m)) = &body.metadata {
        m.check()?;
    }
    // Only an edit of the expiry needs the policy (and fails with it when misconfigured).
    let policy = match expires_at {
        Some(_) => config::expiry_policy().await?,
        None => ExpiryPolicy::NONE,
    };
    let edit = lifecycle::Edit {
        label,
        expires_at,
        metadata: body.metadata,
        limits: parse_limits(&body.rate_limit, &body.quota, &body.ip_allowlist)?,
    };
    let (db, kv) = keys::open_stores().await?;
    // The limits before the change, when it changes them (otherwise none abandoned).
    let mut old_limits = Limits::default();
    let updated = keys::change(
        &db,
        &kv,
        id,
        now,
        Box::pin(async {
            let mut key = keys::load_or_404(&db, id).await?;
            if let Some(requested) = edit.expires_at {
                policy.check_edit(key.expires_at, requested, now)?;
            }
            let edited = lifecycle::edit(&mut key, edit, now)?;
            if !edited.events.is_empty() {
                keys::update(&db, &key).await?;
                for (kind, changes) in edited.events {
                    keys::record_event(&db, id, kind, actor, now, changes).await?;
                }
            }
            old_limits = edited.old_limits.unwrap_or_default();
            Ok(())
        }),
    )
    .await?
    .ok_or_else(|| keys::not_found(id))?;
    keys::forget_limit_counters(&kv, id, &old_limits, Some(&updated.limits)).await;
    let last_used = keys::last_used_after_change(&kv, id).await;
    json(200, &updated.view(last_used))
}

async fn delete(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, id, actor) = (m.req, m.capture(0), m.actor()?);
    req.require_empty_body()?;
    let now = Timestamp::now();
    let (db, kv) = keys::open_stores().await?;
    let mut gone_limits = Limits::default();
    keys::change(
        &db,
        &kv,
        id,
        now,
        Box::pin(async {
            let key = keys::load_or_404(&db, id).await?;
            gone_limits = key.limits.clone();
            keys::record_event(
                &db,
                id,
                EventKind::Deleted,
                actor,
                now,
                Changes::new()
                    .set("label", &key.label)?
                    .set("hint", &key.hint)?,
            )
            .await?;
            keys::delete(&db, id).await
        }),
    )
    .await?;
    usage::forget_key(&db, &kv, id, now).await;
    keys::forget_limit_counters(&kv, id, &gone_limits, None).await;
    Ok(empty(204))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RegenerateBody {
    #[serde(default, deserialize_with = "keys_domain::model::whole_number")]
    grace_period_seconds: u64,
}

async fn regenerate(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, id, actor) = (m.req, m.capture(0), m.actor()?);
    let body: RegenerateBody = req.json_or_default()?;
    let grace_secs = lifecycle::grace_period(body.grace_period_seconds)?;
    let now = Timestamp::now();
    let secret = NewSecret::generate().map_err(internal)?;
    let (db, kv) = keys::open_stores().await?;
    let key = keys::change(
        &db,
        &kv,
        id,
        now,
        Box::pin(async {
            let mut key = keys::load_or_404(&db, id).await?;
            let done = lifecycle::regenerate(&mut key, secret.hint(), grace_secs, now)?;
            keys::retire_current_secret(&db, id, done.grace_until).await?;
            keys::add_secret(&db, id, &secret.hash().to_hex(), &secret.hint(), now).await?;
            keys::update(&db, &key).await?;
            keys::record_event(&db, id, EventKind::Regenerated, actor, now, done.changes).await
        }),
    )
    .await?
    .ok_or_else(|| keys::not_found(id))?;
    let last_used = keys::last_used_after_change(&kv, id).await;
    json(200, &key.view(last_used).with_secret(&secret))
}

async fn set_status(m: &Matched<'_>, status: Status) -> Result<Response, Error> {
    let (req, id, actor) = (m.req, m.capture(0), m.actor()?);
    req.require_empty_body()?;
    let now = Timestamp::now();
    let (db, kv) = keys::open_stores().await?;
    let key = keys::change(
        &db,
        &kv,
        id,
        now,
        Box::pin(async {
            let mut key = keys::load_or_404(&db, id).await?;
            if let Some((kind, changes)) = lifecycle::change_status(&mut key, status, now)? {
                keys::update(&db, &key).await?;
                keys::record_event(&db, id, kind, actor, now, changes).await?;
            }
            Ok(())
        }),
    )
    .await?
    .ok_or_else(|| keys::not_found(id))?;
    let last_used = keys::last_used_after_change(&kv, id).await;
    json(200, &key.view(last_used))
}

async fn events(m: &Matched<'_>, key_id: Option<&str>) -> Result<Response, Error> {
    let (mut limit, mut after) = (DEFAULT_LIMIT, None);
    for (name, value) in &m.query {
        match name.as_str() {
            "limit" => limit = parse_limit(value)?,
            _ => after = Some(parse_cursor(value)?),
        }
    }
    let db = Db::open(SQLITE_DEADLINE).await?;
    let (data, next) = keys::list_events(&db, key_id, after, limit).await?;
    if let Some(id) = key_id
        && data.is_empty()
        && after.is_none()
        && keys::load(&db, id).await?.is_none()
    {
        return Err(keys::not_found(id));
    }
    let next_cursor = next.map(|n| n.to_string());
    if !wants_cloudevents(m.req) {
        return Ok(json(200, &Page { data, next_cursor })?.header("vary", "accept"));
    }
    let source = format!("{API_BASE}/keys");
    let batch: Vec<_> = data
        .iter()
        .map(|e| {
            let audited = Audited {
                id: &e.id,
                key_id: &e.key_id,
                kind: &e.kind,
                at: e.at,
            };
            cloudevents::audit_event(&source, audited, e)
        })
        .collect();
    let bytes = serde_json::to_vec(&batch).map_err(internal)?;
    let mut response =
        with_body(200, cloudevents::BATCH_MEDIA_TYPE, bytes).header("vary", "accept");
    if let Some(cursor) = next_cursor {
        let path = format!("{API_BASE}{}", m.req.path);
        response = response.header("link", cloudevents::next_link(&path, limit, &cursor));
    }
    Ok(response)
}

/// Whether the request's `Accept` asks for the audit trail as a batch of CloudEvents (every
/// line of the header, as one list).
fn wants_cloudevents(req: &ApiRequest) -> bool {
    let lines: Vec<&str> = req
        .headers
        .iter()
        .filter(|(name, _)| name == "accept")
        .filter_map(|(_, value)| std::str::from_utf8(value).ok())
        .collect();
    cloudevents::wants_batch(&lines.join(","))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_table_serves_the_documented_operations_spin_routes_here() {
        keys_spin::conformance::assert_documented(
            "manage-keys",
            super::ROUTES,
            // Served where verify-key is not deployed beside it (an admin node: spin.toml sends
            // /api/v1/health to verify-key when both run).
            &["GET /health"],
        );
    }
}
