//! Paged reads for the admin lists: keys by filter, and audit events.

use super::{KEY_COLUMNS, key_from_row, parse_json};
use crate::db::{self, Db};
use keys_domain::Error;
use keys_domain::model::{Actor, Status, StoredKey};
use keys_domain::time::Timestamp;
use serde::Serialize;
use serde_json::value::RawValue;
use spin_sdk::sqlite::Value;

/// Filters of the key list.
#[derive(Clone)]
pub struct ListFilter {
    /// Only keys in this status.
    pub status: Option<Status>,
    /// Only keys whose label contains this text (case-insensitive for ASCII).
    pub label_contains: Option<String>,
    /// Only keys with (`true`) or without (`false`) a reported leak.
    pub leaked: Option<bool>,
    /// Only keys listed after this cursor.
    pub after: Option<i64>,
    /// Page size.
    pub limit: u32,
}

/// One page of keys, newest first, and the cursor of the next page.
async fn page(db: &Db, filter: &ListFilter) -> Result<(Vec<(StoredKey, i64)>, Option<i64>), Error> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE (?1 IS NULL OR status = ?1) \
         AND (?2 IS NULL OR label LIKE ?2 ESCAPE '\\') AND (?3 IS NULL OR seq < ?3) \
         AND (?5 IS NULL OR (leak IS NOT NULL) = ?5) ORDER BY seq DESC LIMIT ?4"
    );
    let pattern = filter
        .label_contains
        .as_deref()
        .map(|q| format!("%{}%", escape_like(q)));
    let rows = db
        .rows(
            &sql,
            vec![
                db::opt_text_param(filter.status.map(Status::as_str)),
                db::opt_text_param(pattern.as_deref()),
                db::opt_int_param(filter.after),
                Value::Integer(i64::from(filter.limit) + 1),
                db::opt_int_param(filter.leaked.map(i64::from)),
            ],
        )
        .await?;
    let keys = rows
        .iter()
        .map(key_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::paging::cut_page(keys, filter.limit, |(_, seq)| *seq))
}

/// One page of keys, newest first, and the cursor of the next page.
pub async fn list(db: &Db, filter: &ListFilter) -> Result<(Vec<StoredKey>, Option<i64>), Error> {
    let (keys, next) = page(db, filter).await?;
    Ok((keys.into_iter().map(|(k, _)| k).collect(), next))
}

/// Pages scanned at most by [`list_where`] for one answer.
const MAX_SCANNED_PAGES: usize = 20;

/// [`list`] keeping only the keys `keep` accepts (it answers for a page at a time, in
/// order): pages are scanned until `filter.limit` keys are kept, the keys run out or
/// [`MAX_SCANNED_PAGES`] pages were scanned; the cursor continues after the last key
/// scanned, so a page may hold fewer keys than the limit while more follow.
pub async fn list_where(
    db: &Db,
    filter: &ListFilter,
    keep: impl AsyncFn(&[&StoredKey]) -> Result<Vec<bool>, Error>,
) -> Result<(Vec<StoredKey>, Option<i64>), Error> {
    let limit = filter.limit as usize;
    let mut after = filter.after;
    let mut kept = Vec::new();
    for _ in 0..MAX_SCANNED_PAGES {
        let scan = ListFilter {
            after,
            ..filter.clone()
        };
        let (found, next) = page(db, &scan).await?;
        let keys: Vec<&StoredKey> = found.iter().map(|(k, _)| k).collect();
        let verdicts = keep(&keys).await?;
        let count = found.len();
        for (i, ((key, seq), keep)) in found.into_iter().zip(verdicts).enumerate() {
            if !keep {
                continue;
            }
            kept.push(key);
            if kept.len() == limit {
                let more = i + 1 < count || next.is_some();
                return Ok((kept, more.then_some(seq)));
            }
        }
        after = next;
        if after.is_none() {
            break;
        }
    }
    Ok((kept, after))
}

/// Escapes `\`, `%` and `_` for a `LIKE … ESCAPE '\'` pattern.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// An audit event as the API shows it.
#[derive(Serialize)]
pub struct EventView {
    /// Event id.
    pub id: String,
    /// The key concerned.
    pub key_id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: String,
    /// Who did it.
    pub actor: Actor,
    /// When.
    pub at: Timestamp,
    /// What changed (`{"field": {"from": …, "to": …}}`), never a secret.
    pub changes: Box<RawValue>,
}

/// One page of audit events, newest first, optionally of one key.
pub async fn list_events(
    db: &Db,
    key_id: Option<&str>,
    after: Option<i64>,
    limit: u32,
) -> Result<(Vec<EventView>, Option<i64>), Error> {
    const SQL: &str = "SELECT id, key_id, kind, actor_id, actor_name, at, changes, seq FROM audit_events \
         WHERE (?1 IS NULL OR key_id = ?1) AND (?2 IS NULL OR seq < ?2) ORDER BY seq DESC LIMIT ?3";
    let rows = db
        .rows(
            SQL,
            vec![
                db::opt_text_param(key_id),
                db::opt_int_param(after),
                Value::Integer(i64::from(limit) + 1),
            ],
        )
        .await?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        events.push((
            EventView {
                id: db::text(row, 0)?,
                key_id: db::text(row, 1)?,
                kind: db::text(row, 2)?,
                actor: Actor {
                    id: db::text(row, 3)?,
                    name: db::opt_text(row, 4),
                },
                at: Timestamp::from_unix(db::int(row, 5)?),
                changes: parse_json(&db::text(row, 6)?, "changes")?,
            },
            db::int(row, 7)?,
        ));
    }
    let (events, next) = crate::paging::cut_page(events, limit, |(_, seq)| *seq);
    Ok((events.into_iter().map(|(e, _)| e).collect(), next))
}
