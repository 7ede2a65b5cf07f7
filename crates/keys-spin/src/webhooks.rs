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

mod dispatcher;
mod endpoints;

pub use dispatcher::{
    DISPATCH_PATH, WEBHOOKS_AUTHORITY, dispatched, existing_internal_token, internal_token, nudge,
    scanned_at, set_scanned,
};
pub use endpoints::{
    SealedSecrets, delete, insert, list, load_or_404, not_found, rotate, secrets, update,
};

use crate::db::{self, Db};
use keys_domain::Error;
use keys_domain::events::EventKind;
use keys_domain::key::random_id;
use keys_domain::model::Actor;
use keys_domain::time::Timestamp;
use serde::Serialize;
use serde_json::value::RawValue;
use spin_sdk::sqlite::{RowResult, Value};
use std::cell::RefCell;
use webhooks_domain::delivery::{self, Attempt, DeliveryView, MESSAGE_ID_PREFIX, Next, Status};
use webhooks_domain::events::{EventType, Subscription};

const SQL_ENABLED_WEBHOOKS: &str = "SELECT id, events FROM webhooks WHERE enabled = 1";
const SQL_INSERT_MESSAGE: &str = "INSERT INTO webhook_messages \
     (id, webhook_id, type, body, created_at, status, next_attempt_at) \
     VALUES (?, ?, ?, ?, ?, 'pending', ?)";
/// The messages of enabled endpoints due at `?1`, the oldest due first.
macro_rules! due_messages {
    () => {
        "SELECT m.id FROM webhook_messages m JOIN webhooks w ON w.id = m.webhook_id \
         WHERE m.next_attempt_at IS NOT NULL AND m.next_attempt_at <= ?1 AND w.enabled = 1 \
         ORDER BY m.next_attempt_at, m.seq"
    };
}
/// The columns [`message_from_row`] reads.
macro_rules! message_columns {
    () => {
        "SELECT id, type, status, created_at, attempts, next_attempt_at, seq, body, webhook_id \
         FROM webhook_messages"
    };
}
/// One message due at `?1`, if any: whether a nudge has something to send.
const SQL_ANY_DUE: &str = concat!(due_messages!(), " LIMIT 1");
/// Puts the due messages off by the claim (`?2`), at most `?3` of them; returns their ids.
const SQL_CLAIM_DUE: &str = concat!(
    "UPDATE webhook_messages SET next_attempt_at = ?2 WHERE id IN (",
    due_messages!(),
    " LIMIT ?3) RETURNING id"
);
const SQL_MESSAGES_PAGE: &str = concat!(
    message_columns!(),
    " WHERE webhook_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
);
const SQL_MESSAGE: &str = concat!(message_columns!(), " WHERE id = ?");
const SQL_RECORD_ATTEMPT: &str =
    "UPDATE webhook_messages SET status = ?, attempts = ?, next_attempt_at = ? WHERE id = ?";
const SQL_INSERT_ALERT: &str = "INSERT INTO webhook_alerts (key_id, kind, period, at) VALUES (?, ?, ?, ?) \
     ON CONFLICT DO NOTHING RETURNING key_id";

thread_local! {
    /// The internal token, once this request enqueued a message (taken by [`nudge`]).
    static ENQUEUED: RefCell<Option<String>> = const { RefCell::new(None) };
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

/// Whether any endpoint is enabled.
pub async fn any_enabled(db: &Db) -> Result<bool, Error> {
    Ok(!db.rows(SQL_ENABLED_WEBHOOKS, vec![]).await?.is_empty())
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
