//! The webhooks' store: endpoints, the outbox of their messages and the alerts sent, in
//! SQLite (see `0007_webhooks.sql`), and the nudge that has the `webhooks` component send
//! new messages at once.
//!
//! Every audit event of a key writes, in the same transaction ([`enqueue_key_event`], called
//! by [`crate::keys::record_event`]), one message per enabled endpoint subscribed to its
//! type: no change without its messages, no message without its change. Once the request is
//! answered, [`nudge`] asks the `webhooks` component (Spin's local service chaining) to
//! dispatch, in a task of its own, so that the first attempt is not on the admin's latency
//! path. Requests that enqueued nothing nudge it too, at most once a minute per instance,
//! when a message is due or the time-based alerts have not been looked for in a minute.

use crate::db::{self, Db};
use crate::deadline::{Deadline, SQLITE_DEADLINE};
use crate::outbound::{self, Outgoing};
use keys_domain::Error;
use keys_domain::events::EventKind;
use keys_domain::key::random_id;
use keys_domain::model::Actor;
use keys_domain::time::Timestamp;
use serde::Serialize;
use serde_json::value::RawValue;
use spin_sdk::sqlite::{RowResult, Value};
use std::cell::{Cell, RefCell};
use std::time::Duration;
use webhooks_domain::alerts;
use webhooks_domain::delivery::{self, Attempt, DeliveryView, MESSAGE_ID_PREFIX, Next, Status};
use webhooks_domain::events::{EventType, Subscription};
use webhooks_domain::webhook::{DisabledReason, Webhook};

const SQL_ENABLED_WEBHOOKS: &str = "SELECT id, events FROM webhooks WHERE enabled = 1";
const SQL_INSERT_MESSAGE: &str = "INSERT INTO webhook_messages \
     (id, webhook_id, type, body, created_at, status, next_attempt_at) \
     VALUES (?, ?, ?, ?, ?, 'pending', ?)";
const SQL_DISPATCHER: &str =
    "SELECT internal_token, scanned_at FROM webhook_dispatcher WHERE id = 1";
const SQL_INIT_DISPATCHER: &str =
    "INSERT OR IGNORE INTO webhook_dispatcher (id, scanned_at, internal_token) VALUES (1, 0, ?)";
const SQL_SET_SCANNED: &str = "UPDATE webhook_dispatcher SET scanned_at = ? WHERE id = 1";
/// The messages of enabled endpoints due at `?1`, the oldest due first.
macro_rules! due_messages {
    () => {
        "SELECT m.id FROM webhook_messages m JOIN webhooks w ON w.id = m.webhook_id \
         WHERE m.next_attempt_at IS NOT NULL AND m.next_attempt_at <= ?1 AND w.enabled = 1 \
         ORDER BY m.next_attempt_at, m.seq"
    };
}
/// The columns [`webhook_from_row`] reads.
macro_rules! webhook_columns {
    () => {
        "SELECT id, url, description, events, enabled, disabled_reason, failing_since, \
         previous_secret_expires_at, created_at, created_by_id, created_by_name, updated_at, seq \
         FROM webhooks"
    };
}
/// The columns [`message_from_row`] reads.
macro_rules! message_columns {
    () => {
        "SELECT id, type, status, created_at, attempts, next_attempt_at, seq, body, webhook_id \
         FROM webhook_messages"
    };
}
const SQL_ANY_DUE: &str = concat!(due_messages!(), " LIMIT 1");
/// Puts the due messages off by the claim (`?2`), at most `?3` of them; returns their ids.
const SQL_CLAIM_DUE: &str = concat!(
    "UPDATE webhook_messages SET next_attempt_at = ?2 WHERE id IN (",
    due_messages!(),
    " LIMIT ?3) RETURNING id"
);
const SQL_SELECT_WEBHOOK: &str = concat!(webhook_columns!(), " WHERE id = ?");
const SQL_WEBHOOK_PAGE: &str = concat!(webhook_columns!(), " WHERE seq > ? ORDER BY seq LIMIT ?");
const SQL_INSERT_WEBHOOK: &str = "INSERT INTO webhooks (id, url, description, events, enabled, \
     disabled_reason, failing_since, secret, created_at, created_by_id, created_by_name, updated_at) \
     VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?)";
const SQL_UPDATE_WEBHOOK: &str = "UPDATE webhooks SET url = ?, description = ?, events = ?, enabled = ?, \
     disabled_reason = ?, failing_since = ?, updated_at = ? WHERE id = ?";
const SQL_SECRETS: &str =
    "SELECT secret, previous_secret, previous_secret_expires_at FROM webhooks WHERE id = ?";
const SQL_ROTATE: &str = "UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = ?, \
     secret = ?, updated_at = ? WHERE id = ?";
const SQL_DELETE_WEBHOOK: &str = "DELETE FROM webhooks WHERE id = ?";
const SQL_DELETE_MESSAGES_OF_WEBHOOK: &str = "DELETE FROM webhook_messages WHERE webhook_id = ?";
const SQL_MESSAGES_PAGE: &str = concat!(
    message_columns!(),
    " WHERE webhook_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
);
const SQL_MESSAGE: &str = concat!(message_columns!(), " WHERE id = ?");
const SQL_RECORD_ATTEMPT: &str =
    "UPDATE webhook_messages SET status = ?, attempts = ?, next_attempt_at = ? WHERE id = ?";
const SQL_INSERT_ALERT: &str = "INSERT INTO webhook_alerts (key_id, kind, period, at) VALUES (?, ?, ?, ?) \
     ON CONFLICT DO NOTHING RETURNING key_id";

/// Where the `webhooks` component answers (Spin's local service chaining).
pub const WEBHOOKS_AUTHORITY: &str = "webhooks.spin.internal";
/// Its dispatch route.
pub const DISPATCH_PATH: &str = "/api/v1/webhooks/dispatch";
/// How often an instance with nothing enqueued nudges the dispatcher at most.
const NUDGE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a nudge may take: the dispatcher sends what is due before it answers.
const NUDGE_DEADLINE: Duration = Duration::from_secs(120);

thread_local! {
    /// The internal token, once this request enqueued a message (taken by [`nudge`]).
    static ENQUEUED: RefCell<Option<String>> = const { RefCell::new(None) };
    /// When this instance last nudged the dispatcher (or, before its first nudge, served its
    /// first request), in monotonic nanoseconds.
    static LAST_NUDGE: Cell<Option<u64>> = const { Cell::new(None) };
    /// Whether this instance's nudge is under way.
    static IN_FLIGHT: Cell<bool> = const { Cell::new(false) };
    /// The token of messages enqueued while the nudge was under way: one more round after it.
    static AGAIN: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn unexpected(what: &str) -> Error {
    Error::unexpected(format!("stored webhook data is corrupt: {what}"))
}

fn random(prefix: &str) -> Result<String, Error> {
    random_id(prefix).map_err(|e| Error::unexpected(format!("random: {e}")))
}

/// The data of a key event's message: the key as the API shows it (`null` once deleted),
/// and the audit event.
#[derive(Serialize)]
struct KeyEventData<'a> {
    key: Option<keys_domain::model::KeyView<'a>>,
    event: AuditEvent<'a>,
}

#[derive(Serialize)]
struct AuditEvent<'a> {
    id: &'a str,
    key_id: &'a str,
    kind: EventKind,
    actor: &'a Actor,
    at: Timestamp,
    changes: &'a RawValue,
}

/// One audit event, as [`enqueue_key_event`] sends it.
pub struct KeyEvent<'a> {
    /// The audit event's id.
    pub id: &'a str,
    /// The key.
    pub key_id: &'a str,
    /// What happened.
    pub kind: EventKind,
    /// Who did it.
    pub actor: &'a Actor,
    /// When.
    pub at: Timestamp,
    /// What changed, as the audit trail has it (JSON).
    pub changes: &'a str,
}

/// Writes the messages of a key's audit event for every enabled endpoint subscribed to its
/// type, within the caller's transaction. The key's view is read as the transaction sees it.
pub async fn enqueue_key_event(db: &Db, event: KeyEvent<'_>) -> Result<(), Error> {
    let event_type = EventType::of_audit(event.kind);
    let targets = subscribed(db, event_type).await?;
    if targets.is_empty() {
        return Ok(());
    }
    let key = crate::keys::load(db, event.key_id).await?;
    let changes =
        RawValue::from_string(event.changes.to_owned()).map_err(|_| unexpected("changes"))?;
    let data = KeyEventData {
        key: key.as_ref().map(|k| k.view(None)),
        event: AuditEvent {
            id: event.id,
            key_id: event.key_id,
            kind: event.kind,
            actor: event.actor,
            at: event.at,
            changes: &changes,
        },
    };
    let body = delivery::body(event_type.as_str(), event.at, &data);
    enqueue(db, &targets, event_type, &body, event.at).await
}

/// The enabled endpoints subscribed to `event_type`.
pub async fn subscribed(db: &Db, event_type: EventType) -> Result<Vec<String>, Error> {
    let rows = db.rows(SQL_ENABLED_WEBHOOKS, vec![]).await?;
    let mut ids = Vec::new();
    for row in &rows {
        let subscription =
            Subscription::from_stored(&db::text(row, 1)?).ok_or_else(|| unexpected("events"))?;
        if subscription.includes(event_type) {
            ids.push(db::text(row, 0)?);
        }
    }
    Ok(ids)
}

/// Writes one message of `body` per endpoint of `webhook_ids`, due at once. The request then
/// nudges the dispatcher ([`nudge`]).
pub async fn enqueue(
    db: &Db,
    webhook_ids: &[String],
    event_type: EventType,
    body: &str,
    now: Timestamp,
) -> Result<(), Error> {
    for webhook_id in webhook_ids {
        enqueue_one(db, webhook_id, event_type, body, now).await?;
    }
    Ok(())
}

/// Writes one message to one endpoint, due at once; returns its id.
pub async fn enqueue_one(
    db: &Db,
    webhook_id: &str,
    event_type: EventType,
    body: &str,
    now: Timestamp,
) -> Result<String, Error> {
    let id = random(MESSAGE_ID_PREFIX)?;
    db.exec(
        SQL_INSERT_MESSAGE,
        vec![
            Value::Text(id.clone()),
            Value::Text(webhook_id.to_owned()),
            Value::Text(event_type.as_str().to_owned()),
            Value::Text(body.to_owned()),
            Value::Integer(now.unix()),
            Value::Integer(now.unix()),
        ],
    )
    .await?;
    if ENQUEUED.with(|e| e.borrow().is_none()) {
        let token = internal_token(db).await?;
        ENQUEUED.with(|e| *e.borrow_mut() = Some(token));
    }
    Ok(id)
}

/// The token with which components ask the dispatcher to send, if one was made.
pub async fn existing_internal_token(db: &Db) -> Result<Option<String>, Error> {
    Ok(dispatcher_row(db).await?.map(|(token, _)| token))
}

/// Whether any endpoint is enabled.
pub async fn any_enabled(db: &Db) -> Result<bool, Error> {
    Ok(!db.rows(SQL_ENABLED_WEBHOOKS, vec![]).await?.is_empty())
}

/// The token with which components ask the dispatcher to send (made on first use).
pub async fn internal_token(db: &Db) -> Result<String, Error> {
    if let Some((token, _)) = dispatcher_row(db).await? {
        return Ok(token);
    }
    let token = random("wht_")?;
    db.exec(SQL_INIT_DISPATCHER, vec![Value::Text(token)])
        .await?;
    dispatcher_row(db)
        .await?
        .map(|(token, _)| token)
        .ok_or_else(|| unexpected("dispatcher"))
}

async fn dispatcher_row(db: &Db) -> Result<Option<(String, Timestamp)>, Error> {
    let rows = db.rows(SQL_DISPATCHER, vec![]).await?;
    rows.first()
        .map(|r| Ok((db::text(r, 0)?, Timestamp::from_unix(db::int(r, 1)?))))
        .transpose()
}

/// When the dispatcher last looked for time-based alerts (`None`: never).
pub async fn scanned_at(db: &Db) -> Result<Option<Timestamp>, Error> {
    Ok(dispatcher_row(db).await?.and_then(|(_, at)| last_scan(at)))
}

/// The stored time of the last look for alerts, `None` while there was none (stored as 0).
fn last_scan(stored: Timestamp) -> Option<Timestamp> {
    (stored.unix() > 0).then_some(stored)
}

/// Records that the dispatcher looked for time-based alerts at `now`.
pub async fn set_scanned(db: &Db, now: Timestamp) -> Result<(), Error> {
    internal_token(db).await?;
    db.exec(SQL_SET_SCANNED, vec![Value::Integer(now.unix())])
        .await
}

/// Once a request is answered: asks the dispatcher to send, in a task of its own, when this
/// request enqueued messages, or, when `may_check` (an administrator's request), at most once
/// a minute per instance (the first time a minute after its first request), when a message
/// is due or the alerts were not looked for in a minute. One nudge per instance is under way
/// at a time; messages enqueued meanwhile make it ask once more when it ends. Failures are
/// logged: the next nudge or the scheduled dispatch sends what this one did not.
pub fn nudge(may_check: bool) {
    let enqueued = ENQUEUED.with(|e| e.borrow_mut().take());
    let now_ns = spin_sdk::wasip3::clocks::monotonic_clock::now();
    let interval = u64::try_from(NUDGE_INTERVAL.as_nanos()).unwrap_or(u64::MAX);
    // An instance's first request starts its minute: a short-lived instance (and the test
    // host's, one per request) leaves the overdue work to the scheduled dispatch.
    let last = LAST_NUDGE.with(|l| {
        let last = l.get().unwrap_or(now_ns);
        l.set(Some(last));
        last
    });
    let overdue_check = may_check && now_ns.saturating_sub(last) >= interval;
    if enqueued.is_none() && !overdue_check {
        return;
    }
    if IN_FLIGHT.get() {
        // Folded into one more round once the nudge under way ends: a burst of changes makes
        // a few dispatches that each send many messages, not one dispatch per change.
        if enqueued.is_some() {
            AGAIN.with(|a| *a.borrow_mut() = enqueued);
        }
        return;
    }
    IN_FLIGHT.set(true);
    LAST_NUDGE.with(|l| l.set(Some(now_ns)));
    spin_sdk::wit_bindgen::spawn(async move {
        let mut round = enqueued;
        loop {
            if let Err(err) = send_nudge(round).await {
                eprintln!("warning: the webhook dispatcher was not reached: {err:#}");
            }
            round = AGAIN.with(|a| a.borrow_mut().take());
            if round.is_none() {
                break;
            }
        }
        IN_FLIGHT.set(false);
    });
}

/// Called by the dispatcher once it has sent what it wrote itself: nothing left to nudge
/// for, and no overdue check for another minute.
pub fn dispatched() {
    ENQUEUED.with(|e| e.borrow_mut().take());
    let now_ns = spin_sdk::wasip3::clocks::monotonic_clock::now();
    LAST_NUDGE.with(|l| l.set(Some(now_ns)));
}

async fn send_nudge(enqueued: Option<String>) -> Result<(), Error> {
    let token = match enqueued {
        Some(token) => token,
        None => {
            let db = Db::open(SQLITE_DEADLINE).await?;
            let now = Timestamp::now();
            let Some((token, scanned_at)) = dispatcher_row(&db).await? else {
                return Ok(());
            };
            if !any_enabled(&db).await? {
                return Ok(());
            }
            let due = !db
                .rows(SQL_ANY_DUE, vec![Value::Integer(now.unix())])
                .await?
                .is_empty();
            if !due && !alerts::scan_due(last_scan(scanned_at), now) {
                return Ok(());
            }
            token
        }
    };
    let authorization = format!("Bearer {token}");
    let request = Outgoing {
        scheme: "http",
        authority: WEBHOOKS_AUTHORITY,
        path_and_query: DISPATCH_PATH,
        headers: &[
            ("authorization", &authorization),
            ("content-type", "application/json"),
        ],
        body: Some(b"{}"),
    };
    let deadline = Deadline::new("webhooks component", NUDGE_DEADLINE);
    let answer = outbound::send(&deadline, "dispatch", request, 64 * 1024).await?;
    match answer.status {
        200 => Ok(()),
        status => Err(Error::unexpected(format!(
            "the dispatcher answered {status}"
        ))),
    }
}

/// Reads an endpoint from a row of `webhook_columns!`; returns it with its `seq`.
fn webhook_from_row(row: &RowResult) -> Result<(Webhook, i64), Error> {
    let time = |i| db::opt_int(row, i).map(Timestamp::from_unix);
    let hook = Webhook {
        id: db::text(row, 0)?,
        url: db::text(row, 1)?,
        description: db::opt_text(row, 2),
        subscription: Subscription::from_stored(&db::text(row, 3)?)
            .ok_or_else(|| unexpected("events"))?,
        enabled: db::int(row, 4)? == 1,
        disabled_reason: db::opt_text(row, 5)
            .map(|r| DisabledReason::parse(&r).ok_or_else(|| unexpected("disabled_reason")))
            .transpose()?,
        failing_since: time(6),
        previous_secret_expires_at: time(7),
        created_at: Timestamp::from_unix(db::int(row, 8)?),
        created_by: Actor {
            id: db::text(row, 9)?,
            name: db::opt_text(row, 10),
        },
        updated_at: Timestamp::from_unix(db::int(row, 11)?),
    };
    Ok((hook, db::int(row, 12)?))
}

/// The 404 of an unknown endpoint.
pub fn not_found(id: &str) -> Error {
    Error::NotFound(format!("no webhook {id}"))
}

/// An endpoint, or a 404.
pub async fn load_or_404(db: &Db, id: &str) -> Result<Webhook, Error> {
    let rows = db
        .rows(SQL_SELECT_WEBHOOK, vec![Value::Text(id.to_owned())])
        .await?;
    match rows.first() {
        Some(row) => Ok(webhook_from_row(row)?.0),
        None => Err(not_found(id)),
    }
}

/// A page of endpoints after the cursor `after` (a `seq`), in creation order; the next
/// page's cursor when there is one.
pub async fn list(
    db: &Db,
    after: Option<i64>,
    limit: u32,
) -> Result<(Vec<Webhook>, Option<i64>), Error> {
    let rows = db
        .rows(
            SQL_WEBHOOK_PAGE,
            vec![
                Value::Integer(after.unwrap_or(0)),
                Value::Integer(i64::from(limit) + 1),
            ],
        )
        .await?;
    let rows = rows
        .iter()
        .map(webhook_from_row)
        .collect::<Result<Vec<_>, Error>>()?;
    let (page, next) = crate::paging::cut_page(rows, limit, |(_, seq)| *seq);
    Ok((page.into_iter().map(|(h, _)| h).collect(), next))
}

/// Stores a new endpoint with its sealed secret.
pub async fn insert(db: &Db, hook: &Webhook, sealed_secret: &str) -> Result<(), Error> {
    db.exec(
        SQL_INSERT_WEBHOOK,
        vec![
            Value::Text(hook.id.clone()),
            Value::Text(hook.url.clone()),
            db::opt_text_param(hook.description.as_deref()),
            Value::Text(hook.subscription.to_stored()),
            Value::Integer(i64::from(hook.enabled)),
            Value::Text(sealed_secret.to_owned()),
            Value::Integer(hook.created_at.unix()),
            Value::Text(hook.created_by.id.clone()),
            db::opt_text_param(hook.created_by.name.as_deref()),
            Value::Integer(hook.updated_at.unix()),
        ],
    )
    .await
}

/// Stores an endpoint's edited fields.
pub async fn update(db: &Db, hook: &Webhook) -> Result<(), Error> {
    db.exec(
        SQL_UPDATE_WEBHOOK,
        vec![
            Value::Text(hook.url.clone()),
            db::opt_text_param(hook.description.as_deref()),
            Value::Text(hook.subscription.to_stored()),
            Value::Integer(i64::from(hook.enabled)),
            db::opt_text_param(hook.disabled_reason.map(DisabledReason::as_str)),
            db::opt_int_param(hook.failing_since.map(Timestamp::unix)),
            Value::Integer(hook.updated_at.unix()),
            Value::Text(hook.id.clone()),
        ],
    )
    .await
}

/// Deletes an endpoint and its messages (none is sent after).
pub async fn delete(db: &Db, id: &str) -> Result<(), Error> {
    db.exec(
        SQL_DELETE_MESSAGES_OF_WEBHOOK,
        vec![Value::Text(id.to_owned())],
    )
    .await?;
    db.exec(SQL_DELETE_WEBHOOK, vec![Value::Text(id.to_owned())])
        .await
}

/// An endpoint's sealed secrets: the current one, and the one before the last rotation with
/// the end of its overlap.
pub struct SealedSecrets {
    /// The current secret, sealed.
    pub current: String,
    /// The previous secret, sealed, and until when it signs.
    pub previous: Option<(String, Timestamp)>,
}

/// An endpoint's sealed secrets.
pub async fn secrets(db: &Db, id: &str) -> Result<SealedSecrets, Error> {
    let rows = db
        .rows(SQL_SECRETS, vec![Value::Text(id.to_owned())])
        .await?;
    let row = rows.first().ok_or_else(|| not_found(id))?;
    let previous = match (db::opt_text(row, 1), db::opt_int(row, 2)) {
        (Some(sealed), Some(until)) => Some((sealed, Timestamp::from_unix(until))),
        _ => None,
    };
    Ok(SealedSecrets {
        current: db::text(row, 0)?,
        previous,
    })
}

/// Replaces an endpoint's secret; the current one keeps signing until `overlap_until`.
pub async fn rotate(
    db: &Db,
    id: &str,
    sealed_secret: &str,
    overlap_until: Timestamp,
    now: Timestamp,
) -> Result<(), Error> {
    db.exec(
        SQL_ROTATE,
        vec![
            Value::Integer(overlap_until.unix()),
            Value::Text(sealed_secret.to_owned()),
            Value::Integer(now.unix()),
            Value::Text(id.to_owned()),
        ],
    )
    .await
}

/// A message of the outbox.
pub struct Message {
    /// As the delivery log shows it.
    pub view: DeliveryView,
    /// Its endpoint.
    pub webhook_id: String,
    /// The bytes signed and sent.
    pub body: String,
    /// Its `seq` (the delivery log's cursor).
    pub seq: i64,
}

fn message_from_row(row: &RowResult) -> Result<Message, Error> {
    let attempts: Vec<Attempt> =
        serde_json::from_str(&db::text(row, 4)?).map_err(|_| unexpected("attempts"))?;
    Ok(Message {
        view: DeliveryView {
            id: db::text(row, 0)?,
            r#type: db::text(row, 1)?,
            status: Status::parse(&db::text(row, 2)?).ok_or_else(|| unexpected("status"))?,
            created_at: Timestamp::from_unix(db::int(row, 3)?),
            attempts,
            next_attempt_at: db::opt_int(row, 5).map(Timestamp::from_unix),
        },
        seq: db::int(row, 6)?,
        body: db::text(row, 7)?,
        webhook_id: db::text(row, 8)?,
    })
}

/// A page of an endpoint's messages, newest first, before the cursor `before` (a `seq`).
pub async fn messages(
    db: &Db,
    webhook_id: &str,
    before: Option<i64>,
    limit: u32,
) -> Result<(Vec<Message>, Option<i64>), Error> {
    let rows = db
        .rows(
            SQL_MESSAGES_PAGE,
            vec![
                Value::Text(webhook_id.to_owned()),
                Value::Integer(before.unwrap_or(i64::MAX)),
                Value::Integer(i64::from(limit) + 1),
            ],
        )
        .await?;
    let rows = rows
        .iter()
        .map(message_from_row)
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(crate::paging::cut_page(rows, limit, |m| m.seq))
}

/// A message of the outbox, if there is one of that id.
pub async fn message(db: &Db, id: &str) -> Result<Option<Message>, Error> {
    let rows = db
        .rows(SQL_MESSAGE, vec![Value::Text(id.to_owned())])
        .await?;
    rows.first().map(message_from_row).transpose()
}

/// Claims up to `limit` due messages of enabled endpoints, in one statement: each is put
/// off by [`delivery::CLAIM_SECS`] so that no other dispatcher takes it meanwhile.
pub async fn claim_due(db: &Db, now: Timestamp, limit: u32) -> Result<Vec<String>, Error> {
    let rows = db
        .rows(
            SQL_CLAIM_DUE,
            vec![
                Value::Integer(now.unix()),
                Value::Integer(now.unix() + delivery::CLAIM_SECS),
                Value::Integer(i64::from(limit)),
            ],
        )
        .await?;
    rows.iter().map(|row| db::text(row, 0)).collect()
}

/// Records an attempt at message `id`: its new status and next attempt, and its endpoint's
/// failing streak, disabling the endpoint when it has failed for 5 days. Returns the message
/// as recorded (`None` when it or its endpoint was deleted meanwhile).
pub async fn record_attempt(
    db: &Db,
    id: &str,
    attempt: Attempt,
) -> Result<Option<DeliveryView>, Error> {
    let mut recorded = None;
    db.transaction(Box::pin(async {
        let Some(mut message) = message(db, id).await? else {
            return Ok(());
        };
        let Ok(mut hook) = load_or_404(db, &message.webhook_id).await else {
            return Ok(());
        };
        let view = &mut message.view;
        view.attempts.push(attempt.clone());
        let Next {
            status,
            next_attempt_at,
        } = delivery::after_attempt(view.status, &attempt, view.attempts.len());
        view.status = status;
        view.next_attempt_at = next_attempt_at;
        let attempts = serde_json::to_string(&view.attempts).map_err(Error::unexpected)?;
        db.exec(
            SQL_RECORD_ATTEMPT,
            vec![
                Value::Text(status.as_str().to_owned()),
                Value::Text(attempts),
                db::opt_int_param(next_attempt_at.map(Timestamp::unix)),
                Value::Text(id.to_owned()),
            ],
        )
        .await?;
        if hook.after_attempt(&attempt) {
            update(db, &hook).await?;
        }
        recorded = Some(message.view);
        Ok(())
    }))
    .await?;
    Ok(recorded)
}

/// Records an alert about `key_id` as sent, with its messages to the endpoints subscribed to
/// `event_type`, in one transaction; does nothing when it was already sent.
pub async fn send_alert_once(
    db: &Db,
    key_id: &str,
    kind: &str,
    period: &str,
    event_type: EventType,
    body: &str,
    now: Timestamp,
) -> Result<bool, Error> {
    let mut sent = false;
    db.transaction(Box::pin(async {
        let inserted = db
            .rows(
                SQL_INSERT_ALERT,
                vec![
                    Value::Text(key_id.to_owned()),
                    Value::Text(kind.to_owned()),
                    Value::Text(period.to_owned()),
                    Value::Integer(now.unix()),
                ],
            )
            .await?;
        if inserted.is_empty() {
            return Ok(());
        }
        let targets = subscribed(db, event_type).await?;
        enqueue(db, &targets, event_type, body, now).await?;
        sent = true;
        Ok(())
    }))
    .await?;
    Ok(sent)
}
