//! webhooks: the endpoints administrators register to be told of key events, their signing
//! secrets, their delivery logs, and the dispatcher that sends the outbox's messages and
//! finds the time-based events (docs/webhooks.md). The messages of key changes are written
//! by the components that make the changes, in their transactions (`keys_spin::webhooks`).

mod alerts;
mod send;

use keys_domain::Error;
use keys_domain::key::random_id;
use keys_domain::time::Timestamp;
use keys_spin::db::Db;
use keys_spin::deadline::SQLITE_DEADLINE;
use keys_spin::handler;
use keys_spin::http::{API_BASE, ApiRequest, Response, empty, json};
use keys_spin::paging::{DEFAULT_LIMIT, Page, parse_cursor, parse_limit};
use keys_spin::routes::{self, Matched, NO_QUERY, Query, Route};
use keys_spin::webhooks;
use serde::{Deserialize, Serialize};
use webhooks_domain::delivery::{self, DeliveryView};
use webhooks_domain::events::EventType;
use webhooks_domain::origin::Origin;
use webhooks_domain::sealing::SealingKey;
use webhooks_domain::signing::SigningSecret;
use webhooks_domain::webhook::{Create, Edit, ROTATION_OVERLAP_SECS, WEBHOOK_ID_PREFIX, Webhook};

keys_spin::export_http_handler!(dispatch);

/// Variable: where webhooks may be sent (one `allowed_outbound_hosts` entry).
const VAR_ORIGIN: &str = "webhook_origin";
/// Secret variable: the key that seals signing secrets (32 bytes, standard base64).
const VAR_ENCRYPTION_KEY: &str = "webhook_encryption_key";
/// Secret variable: a bearer token a scheduler may call the dispatch route with.
const VAR_DISPATCH_TOKEN: &str = "webhook_dispatch_token";
/// The list parameters.
const PAGED: Query = Query::Only(&["limit", "cursor"]);
/// Messages one dispatch sends at most; the rest wait for the next.
const MESSAGES_PER_DISPATCH: u32 = 100;

/// The routes of webhooks.
const ROUTES: &[Route] = &[
    Route::admin("GET", "/webhooks", PAGED, handler!(list)),
    Route::admin("POST", "/webhooks", NO_QUERY, handler!(create)),
    Route::public(
        "POST",
        "/webhooks/dispatch",
        NO_QUERY,
        handler!(dispatch_due),
    ),
    Route::admin("GET", "/webhooks/{id}", NO_QUERY, handler!(get)),
    Route::admin("PATCH", "/webhooks/{id}", NO_QUERY, handler!(edit)),
    Route::admin("DELETE", "/webhooks/{id}", NO_QUERY, handler!(delete)),
    Route::admin(
        "POST",
        "/webhooks/{id}/rotate-secret",
        NO_QUERY,
        handler!(rotate),
    ),
    Route::admin("POST", "/webhooks/{id}/test", NO_QUERY, handler!(test)),
    Route::admin(
        "GET",
        "/webhooks/{id}/deliveries",
        PAGED,
        handler!(deliveries),
    ),
    Route::admin(
        "POST",
        "/webhooks/{id}/deliveries/{message_id}/retry",
        NO_QUERY,
        handler!(retry),
    ),
];

async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    routes::serve(ROUTES, req).await
}

/// The deployment's webhook origin (`webhook_origin`; unset: `https://*`). A malformed one
/// fails the request with a 500 whose log line names the variable.
async fn origin() -> Result<Origin, Error> {
    let text = keys_spin::auth::variable(VAR_ORIGIN).await?;
    Origin::parse(text.as_deref().unwrap_or_default()).map_err(Error::unexpected)
}

/// The key sealing signing secrets: without it, webhooks cannot be created, rotated or sent
/// (503 `not_configured`, naming the variable).
async fn sealing_key() -> Result<SealingKey, Error> {
    match keys_spin::auth::variable(VAR_ENCRYPTION_KEY).await? {
        Some(text) => SealingKey::parse(&text).map_err(Error::unexpected),
        None => Err(Error::NotConfigured(format!(
            "webhooks need the secret variable {VAR_ENCRYPTION_KEY} (32 random bytes, \
             standard base64); it is not set"
        ))),
    }
}

/// The body of a create.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    enabled: Option<bool>,
}

/// The body of an edit: each field absent is unchanged; `description: null` clears it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    url: Option<String>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "keys_spin::http::present")]
    enabled: Option<bool>,
}

fn internal(err: impl std::fmt::Display) -> Error {
    Error::unexpected(err)
}

async fn create(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, actor) = (m.req, m.actor()?);
    let body: CreateBody = req.json()?;
    let now = Timestamp::now();
    let origin = origin().await?;
    let id = random_id(WEBHOOK_ID_PREFIX).map_err(internal)?;
    let hook = Webhook::create(
        id,
        Create {
            url: &body.url,
            events: &body.events,
            description: body.description.as_deref(),
            enabled: body.enabled,
        },
        &origin,
        actor,
        now,
    )?;
    let key = sealing_key().await?;
    let secret = SigningSecret::generate().map_err(internal)?;
    let sealed = key.seal(&hook.id, secret.bytes()).map_err(internal)?;
    let db = Db::open(SQLITE_DEADLINE).await?;
    webhooks::insert(&db, &hook, &sealed).await?;
    let location = format!("{API_BASE}/webhooks/{}", hook.id);
    Ok(json(201, &hook.view(now).with_secret(secret.expose()))?.header("location", location))
}

async fn list(m: &Matched<'_>) -> Result<Response, Error> {
    let (limit, after) = paging(m)?;
    let db = Db::open(SQLITE_DEADLINE).await?;
    let (hooks, next) = webhooks::list(&db, after, limit).await?;
    let now = Timestamp::now();
    let page = Page {
        data: hooks.iter().map(|h| h.view(now)).collect(),
        next_cursor: next.map(|n| n.to_string()),
    };
    json(200, &page)
}

fn paging(m: &Matched<'_>) -> Result<(u32, Option<i64>), Error> {
    let limit = m.param("limit").map(parse_limit).transpose()?;
    let cursor = m.param("cursor").map(parse_cursor).transpose()?;
    Ok((limit.unwrap_or(DEFAULT_LIMIT), cursor))
}

async fn get(m: &Matched<'_>) -> Result<Response, Error> {
    let db = Db::open(SQLITE_DEADLINE).await?;
    let hook = webhooks::load_or_404(&db, m.capture(0)).await?;
    json(200, &hook.view(Timestamp::now()))
}

async fn edit(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, id) = (m.req, m.capture(0));
    let body: EditBody = req.json()?;
    let now = Timestamp::now();
    let origin = origin().await?;
    let db = Db::open(SQLITE_DEADLINE).await?;
    let mut edited = None;
    db.transaction(Box::pin(async {
        let mut hook = webhooks::load_or_404(&db, id).await?;
        let changes = Edit {
            url: body.url.as_deref(),
            events: body.events.as_deref(),
            description: body.description.as_ref().map(Option::as_deref),
            enabled: body.enabled,
        };
        hook.edit(changes, &origin, now)?;
        webhooks::update(&db, &hook).await?;
        edited = Some(hook);
        Ok(())
    }))
    .await?;
    let hook = edited.ok_or_else(|| webhooks::not_found(id))?;
    json(200, &hook.view(now))
}

async fn delete(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, id) = (m.req, m.capture(0));
    req.require_empty_body()?;
    let db = Db::open(SQLITE_DEADLINE).await?;
    db.transaction(Box::pin(async {
        webhooks::load_or_404(&db, id).await?;
        webhooks::delete(&db, id).await
    }))
    .await?;
    Ok(empty(204))
}

async fn rotate(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, id) = (m.req, m.capture(0));
    req.require_empty_body()?;
    let now = Timestamp::now();
    let key = sealing_key().await?;
    let secret = SigningSecret::generate().map_err(internal)?;
    let sealed = key.seal(id, secret.bytes()).map_err(internal)?;
    let db = Db::open(SQLITE_DEADLINE).await?;
    let mut rotated = None;
    db.transaction(Box::pin(async {
        webhooks::load_or_404(&db, id).await?;
        let until = now.plus_seconds(ROTATION_OVERLAP_SECS);
        webhooks::rotate(&db, id, &sealed, until, now).await?;
        rotated = Some(webhooks::load_or_404(&db, id).await?);
        Ok(())
    }))
    .await?;
    let hook = rotated.ok_or_else(|| webhooks::not_found(id))?;
    json(200, &hook.view(now).with_secret(secret.expose()))
}

/// The data of a `webhook.test` message.
#[derive(Serialize)]
struct TestData<'a> {
    webhook_id: &'a str,
    requested_by: &'a keys_domain::model::Actor,
}

async fn test(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, id, actor) = (m.req, m.capture(0), m.actor()?);
    req.require_empty_body()?;
    let now = Timestamp::now();
    let key = sealing_key().await?;
    let origin = origin().await?;
    let db = Db::open(SQLITE_DEADLINE).await?;
    let hook = webhooks::load_or_404(&db, id).await?;
    let data = TestData {
        webhook_id: id,
        requested_by: actor,
    };
    let body = delivery::body(EventType::WebhookTest.as_str(), now, &data);
    let message_id = webhooks::enqueue_one(&db, id, EventType::WebhookTest, &body, now).await?;
    let message = webhooks::message(&db, &message_id)
        .await?
        .ok_or_else(|| send::no_message(&message_id))?;
    let sent = send::attempt(&db, &key, &origin, &hook, &message).await?;
    webhooks::dispatched();
    json(200, &sent)
}

async fn deliveries(m: &Matched<'_>) -> Result<Response, Error> {
    let (limit, before) = paging(m)?;
    let db = Db::open(SQLITE_DEADLINE).await?;
    let id = m.capture(0);
    webhooks::load_or_404(&db, id).await?;
    let (messages, next) = webhooks::messages(&db, id, before, limit).await?;
    let page = Page {
        data: messages
            .into_iter()
            .map(|m| m.view)
            .collect::<Vec<DeliveryView>>(),
        next_cursor: next.map(|n| n.to_string()),
    };
    json(200, &page)
}

async fn retry(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, id, message_id) = (m.req, m.capture(0), m.capture(1));
    req.require_empty_body()?;
    let key = sealing_key().await?;
    let origin = origin().await?;
    let db = Db::open(SQLITE_DEADLINE).await?;
    let hook = webhooks::load_or_404(&db, id).await?;
    let message = match webhooks::message(&db, message_id).await? {
        Some(message) if message.webhook_id == hook.id => message,
        _ => {
            return Err(Error::NotFound(format!(
                "no message {message_id} of webhook {id}"
            )));
        }
    };
    let sent = send::attempt(&db, &key, &origin, &hook, &message).await?;
    json(200, &sent)
}

/// What a dispatch did.
#[derive(Serialize, Default)]
struct Dispatched {
    /// Attempts made.
    attempted: usize,
    /// Of which delivered.
    delivered: usize,
    /// Alerts found and written to the outbox (their first attempts are among the above).
    alerts: usize,
}

/// Looks for the time-based alerts, then sends every due message (up to
/// [`MESSAGES_PER_DISPATCH`]). Callers: a scheduler (`webhook_dispatch_token`) or an
/// administrator, and the components' nudges (the internal token), for which the alerts are
/// looked for only when they were not in the last minute.
async fn dispatch_due(m: &Matched<'_>) -> Result<Response, Error> {
    let db = Db::open(SQLITE_DEADLINE).await?;
    let caller = authorize_dispatch(m.req, &db).await?;
    let now = Timestamp::now();
    let mut done = Dispatched::default();
    if !webhooks::any_enabled(&db).await? {
        // Nothing to send or look for: a dispatch then writes nothing.
        webhooks::dispatched();
        return json(200, &done);
    }
    let scanned = webhooks::scanned_at(&db).await?;
    if caller == Caller::Scheduler || webhooks_domain::alerts::scan_due(scanned, now) {
        webhooks::set_scanned(&db, now).await?;
        done.alerts = alerts::find(&db, now).await?;
    }
    let due = webhooks::claim_due(&db, now, MESSAGES_PER_DISPATCH).await?;
    if !due.is_empty() {
        let key = sealing_key().await?;
        let origin = origin().await?;
        let outcomes = send::claimed(&db, &key, &origin, &due).await;
        done.attempted = outcomes.len();
        done.delivered = outcomes.iter().filter(|d| **d).count();
    }
    webhooks::dispatched();
    json(200, &done)
}

/// Who called the dispatch route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// A component's nudge: the alerts are looked for at most once a minute.
    Nudge,
    /// A scheduler (`webhook_dispatch_token`) or an administrator: they are looked for now.
    Scheduler,
}

/// The dispatch route takes the internal token of the components' nudges, the scheduler's
/// `webhook_dispatch_token`, or an administrator's identity token.
async fn authorize_dispatch(req: &ApiRequest, db: &Db) -> Result<Caller, Error> {
    if let Ok(presented) = keys_domain::identity::bearer_token(req.header("authorization")) {
        let matches = |token: &str| keys_domain::key::tokens_equal(token, presented);
        let scheduler = keys_spin::auth::variable(VAR_DISPATCH_TOKEN).await?;
        if scheduler.as_deref().is_some_and(matches) {
            return Ok(Caller::Scheduler);
        }
        let internal = webhooks::existing_internal_token(db).await?;
        if internal.as_deref().is_some_and(matches) {
            return Ok(Caller::Nudge);
        }
    }
    keys_spin::auth::require_platform_configuration(req).await?;
    Ok(Caller::Scheduler)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_table_serves_the_documented_operations_spin_routes_here() {
        keys_spin::conformance::assert_documented("webhooks", super::ROUTES, &[]);
    }
}
