//! The routes of manage-permissions, one function each.

use keys_domain::Error;
use keys_domain::events::{Changes, EventKind, Reason};
use keys_domain::model::{Actor, StoredKey, check_companies, parse_grants};
use keys_domain::permissions::{CompanyId, CompanyScope, GrantsChange, MethodGrant, MethodName};
use keys_domain::time::Timestamp;
use keys_spin::catalog;
use keys_spin::db::{self, Db};
use keys_spin::deadline::SQLITE_DEADLINE;
use keys_spin::handler;
use keys_spin::http::{ApiRequest, Response, empty, json};
use keys_spin::keys;
use keys_spin::paging::{DEFAULT_LIMIT, List, Page, cut_page, parse_limit};
use keys_spin::routes::{self, Matched, NO_QUERY, Query, Route};
use serde::{Deserialize, Serialize};
use spin_sdk::sqlite::Value;

const SQL_LIST_METHODS: &str = "SELECT name, group_name, label_fr, label_en, description FROM api_methods ORDER BY group_name, name";
const SQL_UPSERT_METHOD: &str = "INSERT INTO api_methods (name, group_name, label_fr, label_en, description) \
     VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET group_name = excluded.group_name, \
     label_fr = excluded.label_fr, label_en = excluded.label_en, description = excluded.description";
const SQL_DELETE_METHOD: &str = "DELETE FROM api_methods WHERE name = ?";
const SQL_KEYS_GRANTING: &str = "SELECT id FROM api_keys WHERE EXISTS (SELECT 1 FROM json_each(api_keys.methods) WHERE value = ?)";
const SQL_LIST_COMPANIES: &str = "SELECT id, name FROM companies WHERE (?1 IS NULL OR id LIKE ?1 ESCAPE '\\' \
     OR name LIKE ?1 ESCAPE '\\') AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3";
const SQL_UPSERT_COMPANY: &str = "INSERT INTO companies (id, name) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name";
const SQL_DELETE_COMPANY: &str = "DELETE FROM companies WHERE id = ?";
const SQL_KEYS_RESTRICTED_TO: &str = "SELECT id FROM api_keys WHERE companies <> '\"all\"' \
     AND EXISTS (SELECT 1 FROM json_each(api_keys.companies) WHERE value = ?)";

/// Longest catalog label or company name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Longest catalog description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 2000;

/// The routes of manage-permissions. The lists answer with or without a trailing `/`.
const ROUTES: &[Route] = &[
    Route::admin(
        "GET",
        "/keys/{id}/permissions",
        NO_QUERY,
        handler!(get_permissions),
    ),
    Route::admin(
        "PUT",
        "/keys/{id}/permissions",
        NO_QUERY,
        handler!(put_permissions),
    ),
    Route::admin(
        "PATCH",
        "/keys/{id}/permissions",
        NO_QUERY,
        handler!(patch_permissions),
    ),
    Route::admin("GET", "/methods", NO_QUERY, handler!(list_methods)),
    Route::admin("GET", "/methods/", NO_QUERY, handler!(list_methods)),
    Route::admin("PUT", "/methods/{name}", NO_QUERY, handler!(put_method)),
    Route::admin(
        "DELETE",
        "/methods/{name}",
        NO_QUERY,
        handler!(delete_method),
    ),
    Route::admin("GET", "/companies", COMPANY_QUERY, handler!(list_companies)),
    Route::admin(
        "GET",
        "/companies/",
        COMPANY_QUERY,
        handler!(list_companies),
    ),
    Route::admin("PUT", "/companies/{id}", NO_QUERY, handler!(put_company)),
    Route::admin(
        "DELETE",
        "/companies/{id}",
        NO_QUERY,
        handler!(delete_company),
    ),
];

/// The query parameters of the company list.
const COMPANY_QUERY: Query = Query::Only(&["q", "limit", "cursor"]);

/// Answers a request with its route.
pub async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    routes::serve(ROUTES, req).await
}

#[derive(Serialize)]
struct Permissions<'a> {
    methods: &'a [String],
    companies: &'a CompanyScope,
}

fn permissions_of(key: &StoredKey) -> Permissions<'_> {
    Permissions {
        methods: &key.methods,
        companies: &key.companies,
    }
}

async fn get_permissions(m: &Matched<'_>) -> Result<Response, Error> {
    let id = m.capture(0);
    let db = Db::open(SQLITE_DEADLINE).await?;
    let key = keys::load_or_404(&db, id).await?;
    json(200, &permissions_of(&key))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    methods: Vec<String>,
    companies: CompanyScope,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    reason: Option<String>,
}

/// The optional `reason` of a permissions change.
fn reason(text: Option<&str>) -> Result<Option<Reason>, Error> {
    text.map(Reason::parse).transpose()
}

async fn put_permissions(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, id, actor) = (m.req, m.capture(0), m.actor()?);
    let body: PutBody = req.json()?;
    let grants = parse_grants(&body.methods)?;
    check_companies(&body.companies)?;
    let companies = Companies::Set(body.companies.normalized());
    let reason = reason(body.reason.as_deref())?;
    apply(actor, id, GrantsChange::Replace(grants), companies, reason).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    #[serde(default)]
    add_methods: Vec<String>,
    #[serde(default)]
    remove_methods: Vec<String>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    companies: Option<CompanyScope>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    reason: Option<String>,
}

async fn patch_permissions(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, id, actor) = (m.req, m.capture(0), m.actor()?);
    let body: PatchBody = req.json()?;
    let grants = GrantsChange::toggle(
        parse_grants(&body.add_methods)?,
        parse_grants(&body.remove_methods)?,
    )?;
    if let Some(c) = &body.companies {
        check_companies(c)?;
    }
    let reason = reason(body.reason.as_deref())?;
    let companies = match body.companies {
        Some(scope) => Companies::Set(scope.normalized()),
        None => Companies::Keep,
    };
    apply(actor, id, grants, companies, reason).await
}

/// What a change does to a key's companies.
enum Companies {
    /// Leaves them.
    Keep,
    /// Replaces them.
    Set(CompanyScope),
    /// Removes one company from a key restricted to companies (a registry deletion),
    /// reading the key's list inside the change's transaction.
    Remove(String),
}

/// Validates and applies a permissions change under the key consistency protocol; one
/// audit event (before → after, and the change's `reason` when given) when anything changed. The catalog and registry are checked
/// inside the change's write transaction, so a concurrent deletion of a method or company
/// either happens before the check (refused: 422) or waits for the change to commit (and
/// then finds the key, and narrows it).
async fn apply(
    actor: &Actor,
    id: &str,
    grants: GrantsChange,
    companies: Companies,
    reason: Option<Reason>,
) -> Result<Response, Error> {
    let (db, kv) = keys::open_stores().await?;
    let now = Timestamp::now();
    let key = keys::change(
        &db,
        &kv,
        id,
        now,
        Box::pin(async {
            catalog::check_grants(&db, grants.given()).await?;
            if let Companies::Set(scope) = &companies {
                catalog::check_companies(&db, scope).await?;
            }
            let mut key = keys::load_or_404(&db, id).await?;
            let methods = grants.apply(&key.methods);
            let companies = match companies {
                Companies::Keep => key.companies.clone(),
                Companies::Set(scope) => scope,
                Companies::Remove(gone) => key.companies.without(&gone),
            };
            if methods == key.methods && companies == key.companies {
                return Ok(());
            }
            let mut changes = Changes::new()
                .change("methods", &key.methods, &methods)?
                .change("companies", &key.companies, &companies)?;
            if let Some(reason) = &reason {
                changes = changes.set("reason", reason)?;
            }
            key.methods = methods;
            key.companies = companies;
            key.updated_at = now;
            keys::update(&db, &key).await?;
            keys::record_event(&db, id, EventKind::PermissionsChanged, actor, now, changes).await
        }),
    )
    .await?
    .ok_or_else(|| keys::not_found(id))?;
    json(200, &permissions_of(&key))
}

#[derive(Serialize)]
struct MethodView {
    name: String,
    group: String,
    label: Labels,
    description: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Labels {
    fr: String,
    en: String,
}

async fn list_methods(_: &Matched<'_>) -> Result<Response, Error> {
    let db = Db::open(SQLITE_DEADLINE).await?;
    let rows = db.rows(SQL_LIST_METHODS, vec![]).await?;
    let data = rows
        .iter()
        .map(|r| {
            Ok(MethodView {
                name: db::text(r, 0)?,
                group: db::text(r, 1)?,
                label: Labels {
                    fr: db::text(r, 2)?,
                    en: db::text(r, 3)?,
                },
                description: db::opt_text(r, 4),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    json(200, &List { data })
}

/// A method's label as sent: one text for both languages, or `{"fr": …, "en": …}`.
enum LabelInput {
    Both(String),
    Each(Labels),
}

impl<'de> Deserialize<'de> for LabelInput {
    /// A hand-written visitor rather than an untagged enum, which would buffer the value
    /// first (more code in the component, vaguer errors).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LabelVisitor;
        impl<'de> serde::de::Visitor<'de> for LabelVisitor {
            type Value = LabelInput;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a text or an object {\"fr\": text, \"en\": text}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LabelInput, E> {
                Ok(LabelInput::Both(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<LabelInput, A::Error> {
                Labels::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(LabelInput::Each)
            }
        }
        d.deserialize_any(LabelVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodBody {
    label: LabelInput,
    #[serde(default)]
    description: Option<String>,
    group: String,
}

fn check_text(field: &str, text: &str, max: usize) -> Result<String, Error> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max || trimmed.chars().any(char::is_control)
    {
        return Err(Error::invalid(format!(
            "{field} must be 1 to {max} characters without control characters"
        )));
    }
    Ok(trimmed.to_owned())
}

async fn put_method(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, name) = (m.req, m.capture(0));
    let name = MethodName::parse(name).ok_or_else(|| {
        Error::invalid(
            "method names are dotted lower-case segments such as `payroll.payslips.read`",
        )
    })?;
    let body: MethodBody = req.json()?;
    let labels = match body.label {
        LabelInput::Both(text) => {
            let l = check_text("label", &text, MAX_NAME_CHARS)?;
            Labels {
                fr: l.clone(),
                en: l,
            }
        }
        LabelInput::Each(Labels { fr, en }) => Labels {
            fr: check_text("label.fr", &fr, MAX_NAME_CHARS)?,
            en: check_text("label.en", &en, MAX_NAME_CHARS)?,
        },
    };
    let description = body
        .description
        .map(|d| check_text("description", &d, MAX_DESCRIPTION_CHARS))
        .transpose()?;
    let group = body.group.trim();
    if group.is_empty()
        || group.len() > 50
        || !group
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(Error::invalid(
            "group must be 1 to 50 characters of a-z 0-9 _ -",
        ));
    }
    let db = Db::open(SQLITE_DEADLINE).await?;
    let existed = catalog::method_exists(&db, name.as_str()).await?;
    db.exec(
        SQL_UPSERT_METHOD,
        vec![
            Value::Text(name.to_string()),
            Value::Text(group.to_owned()),
            Value::Text(labels.fr.clone()),
            Value::Text(labels.en.clone()),
            db::opt_text_param(description.as_deref()),
        ],
    )
    .await?;
    let view = MethodView {
        name: name.to_string(),
        group: group.to_owned(),
        label: labels,
        description,
    };
    json(if existed { 200 } else { 201 }, &view)
}

/// Removes a method from every key that grants it exactly (one audited change per key,
/// each under the key consistency protocol), then from the catalog. Wildcard grants stay:
/// they may cover methods added later.
async fn delete_method(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, name, actor) = (m.req, m.capture(0), m.actor()?);
    req.require_empty_body()?;
    let db = Db::open(SQLITE_DEADLINE).await?;
    if !catalog::method_exists(&db, name).await? {
        return Err(Error::NotFound("no such method in the catalog".into()));
    }
    let grant = MethodGrant::parse(name).ok_or_else(|| Error::invalid("malformed method name"))?;
    let narrow = |key_id: String| {
        let (actor, grant) = (&actor, grant.clone());
        async move {
            let grants = GrantsChange::Toggle {
                add: Vec::new(),
                remove: vec![grant],
            };
            apply(actor, &key_id, grants, Companies::Keep, None)
                .await
                .map(drop)
        }
    };
    remove_entry(&db, SQL_KEYS_GRANTING, SQL_DELETE_METHOD, name, narrow).await?;
    Ok(empty(204))
}

/// The keys `sql_holders` names for `entry`.
async fn holders(db: &Db, sql_holders: &'static str, entry: &str) -> Result<Vec<String>, Error> {
    let rows = db
        .rows(sql_holders, vec![Value::Text(entry.to_owned())])
        .await?;
    rows.iter().map(|row| db::text(row, 0)).collect()
}

/// How many times a deletion narrows the keys that hold its entry before it gives up: each
/// pass takes the keys an edit gave the entry while the previous pass ran.
const DELETION_PASSES: usize = 5;

/// Narrows every key that holds `entry` (the keys `sql_holders` names), then, inside one
/// write transaction, deletes the entry (`sql_delete`) if no key holds it any more; otherwise
/// (an edit gave it to a key meanwhile) narrows again. Permission edits check the catalog
/// inside their own write transaction, so once the entry is gone no edit can give it again.
/// A failure half way leaves the entry, and some keys already narrowed: repeating the call
/// finishes the job.
async fn remove_entry<F, Fut>(
    db: &Db,
    sql_holders: &'static str,
    sql_delete: &'static str,
    entry: &str,
    narrow: F,
) -> Result<(), Error>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    for _ in 0..DELETION_PASSES {
        for key_id in holders(db, sql_holders, entry).await? {
            narrow(key_id).await?;
        }
        let removed = std::cell::Cell::new(false);
        db.transaction(Box::pin(async {
            if holders(db, sql_holders, entry).await?.is_empty() {
                db.exec(sql_delete, vec![Value::Text(entry.to_owned())])
                    .await?;
                removed.set(true);
            }
            Ok(())
        }))
        .await?;
        if removed.get() {
            return Ok(());
        }
    }
    Err(Error::conflict(
        "busy_entry",
        "keys kept being given this entry while it was being deleted; nothing was deleted \
         from the catalog: try again",
    ))
}

#[derive(Serialize)]
struct CompanyView {
    id: String,
    name: String,
}

async fn list_companies(m: &Matched<'_>) -> Result<Response, Error> {
    let (mut q, mut limit, mut after) = (None, DEFAULT_LIMIT, None);
    for (name, value) in m.query.iter().cloned() {
        match name.as_str() {
            "q" if value.chars().count() <= 200 => q = Some(value).filter(|v| !v.is_empty()),
            "q" => return Err(Error::bad_request("q must be at most 200 characters")),
            "limit" => limit = parse_limit(&value)?,
            _ => {
                after = Some(
                    CompanyId::parse(&value)
                        .ok_or_else(|| Error::bad_request("cursor is not one this API returned"))?,
                )
            }
        }
    }
    let pattern = q.map(|q| format!("%{}%", keys::escape_like(&q)));
    let db = Db::open(SQLITE_DEADLINE).await?;
    let rows = db
        .rows(
            SQL_LIST_COMPANIES,
            vec![
                db::opt_text_param(pattern.as_deref()),
                db::opt_text_param(after.as_ref().map(CompanyId::as_str)),
                Value::Integer(i64::from(limit) + 1),
            ],
        )
        .await?;
    let data = rows
        .iter()
        .map(|r| {
            Ok(CompanyView {
                id: db::text(r, 0)?,
                name: db::text(r, 1)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let (data, next_cursor) = cut_page(data, limit, |c| c.id.clone());
    json(
        200,
        &Page {
            data,
            next_cursor: next_cursor.map(|c| c.as_str().to_owned()),
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompanyBody {
    name: String,
}

async fn put_company(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, id) = (m.req, m.capture(0));
    let id = CompanyId::parse(id).ok_or_else(|| {
        Error::invalid("company ids are 1-64 characters of A-Z a-z 0-9 . _ : -, not `.` or `..`")
    })?;
    let body: CompanyBody = req.json()?;
    let name = check_text("name", &body.name, MAX_NAME_CHARS)?;
    let db = Db::open(SQLITE_DEADLINE).await?;
    let existed = catalog::company_exists(&db, id.as_str()).await?;
    db.exec(
        SQL_UPSERT_COMPANY,
        vec![
            Value::Text(id.as_str().to_owned()),
            Value::Text(name.clone()),
        ],
    )
    .await?;
    json(
        if existed { 200 } else { 201 },
        &CompanyView {
            id: id.as_str().to_owned(),
            name,
        },
    )
}

/// Removes a company from every key restricted to it (one audited change per key), then from
/// the registry (see [`remove_entry`]). A key whose list becomes empty reaches no company.
async fn delete_company(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, id, actor) = (m.req, m.capture(0), m.actor()?);
    req.require_empty_body()?;
    let db = Db::open(SQLITE_DEADLINE).await?;
    if !catalog::company_exists(&db, id).await? {
        return Err(Error::NotFound("no such company in the registry".into()));
    }
    let narrow = |key_id: String| {
        let actor = &actor;
        async move {
            let companies = Companies::Remove(id.to_owned());
            apply(actor, &key_id, GrantsChange::Keep, companies, None)
                .await
                .map(drop)
        }
    };
    remove_entry(&db, SQL_KEYS_RESTRICTED_TO, SQL_DELETE_COMPANY, id, narrow).await?;
    Ok(empty(204))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_table_serves_the_documented_operations_spin_routes_here() {
        keys_spin::conformance::assert_documented(
            "manage-permissions",
            super::ROUTES,
            // The lists also answer with a trailing slash (spin.toml's `/methods/...` route).
            &["GET /methods/", "GET /companies/"],
        );
    }
}
