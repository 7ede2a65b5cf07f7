//! The webhook endpoints: their rows, edits and sealed secrets.

use super::unexpected;
use crate::db::{self, Db};
use keys_domain::Error;
use keys_domain::model::Actor;
use keys_domain::time::Timestamp;
use spin_sdk::sqlite::{RowResult, Value};
use webhooks_domain::events::Subscription;
use webhooks_domain::webhook::{DisabledReason, Webhook};

/// The columns [`webhook_from_row`] reads.
macro_rules! webhook_columns {
    () => {
        "SELECT id, url, description, events, enabled, disabled_reason, failing_since, \
         previous_secret_expires_at, created_at, created_by_id, created_by_name, updated_at, seq \
         FROM webhooks"
    };
}
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
