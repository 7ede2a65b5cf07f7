//! Access counts on the admin side (`keys_domain::access`): reading the edges' hourly shapes
//! (slot counts, slots, then counters), folding them into `access_daily` with usage's fold
//! (`crate::usage::fold`), and reading one key's counts over a review window: the folded
//! days plus the hours not folded yet.
//!
//! `access_daily` is keyed by key, shape, then day (a table without row ids, its rows in that
//! order), so a review reads each of the key's shapes as one run of days and sums it without
//! sorting: a year of 13 methods × 50 companies is 237,250 rows, read in about 30 ms. The
//! fold also keeps, in `access_methods`, the last day each key's `VALID` calls named each
//! method, which is all the key list's `unused_grants` filter reads.

use crate::db::{self, Db};
use crate::kv::Kv;
use crate::usage::Cursor;
use keys_domain::Error;
use keys_domain::access::review::{Counted, Window, merge};
use keys_domain::access::{HourCount, Shape, counter_key, slot_key, slots_key};
use keys_domain::limits::counter_value;
use keys_domain::usage::{DAILY_RETENTION, code_named, day_of_hour};
use keys_domain::verify::VerifyCode;
use spin_sdk::sqlite::Value;
use std::ops::Range;

const SQL_ADD_DAILY: &str = "INSERT INTO access_daily \
     (key_id, day, code, method, company, n, last_hour) VALUES (?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (key_id, code, method, company, day) \
     DO UPDATE SET n = n + excluded.n, last_hour = MAX(last_hour, excluded.last_hour)";
const SQL_USED_METHOD: &str = "INSERT INTO access_methods (key_id, method, last_day) \
     VALUES (?, ?, ?) ON CONFLICT (key_id, method) \
     DO UPDATE SET last_day = MAX(last_day, excluded.last_day)";
const SQL_PRUNE_DAILY: &str = "DELETE FROM access_daily WHERE day < ?";
const SQL_PRUNE_METHODS: &str = "DELETE FROM access_methods WHERE last_day < ?";
const SQL_DELETE_KEY: &str = "DELETE FROM access_daily WHERE key_id = ?";
const SQL_DELETE_KEY_METHODS: &str = "DELETE FROM access_methods WHERE key_id = ?";
/// One key's folded counts from a day on, by shape.
const SQL_KEY_COUNTS: &str = "SELECT code, method, company, SUM(n), MAX(last_hour) \
     FROM access_daily WHERE key_id = ? AND day >= ? GROUP BY code, method, company";
/// The methods each key's `VALID` calls named from a day on.
const SQL_USED_METHODS: &str = "SELECT key_id, method FROM access_methods WHERE last_day >= ?";

/// The shapes counted at the edge over some hours, and every store entry they were read
/// from (what a fold deletes once it has committed).
#[derive(Default)]
pub struct EdgeCounts {
    /// Each shape's calls of each key hour.
    pub counts: Vec<HourCount>,
    /// The slot counts, slots and counters read.
    pub entries: Vec<String>,
}

/// Reads the shapes `key_ids` registered over `hours`: the slot counts, then the slots of
/// those that have some, then the counters of the shapes they hold. A slot not written yet
/// (its instance is between its two calls) or unreadable is skipped; its calls are read once
/// it is there.
pub async fn edge_counts(
    kv: &Kv,
    hours: Range<i64>,
    key_ids: &[&str],
) -> Result<EdgeCounts, Error> {
    let mut pairs: Vec<(i64, &str)> = Vec::new();
    for hour in hours {
        pairs.extend(key_ids.iter().map(|k| (hour, *k)));
    }
    let count_names: Vec<String> = pairs.iter().map(|(h, k)| slots_key(*h, k)).collect();
    let taken = kv.get_many(&count_names).await?;
    let mut entries = Vec::new();
    let mut slots: Vec<(i64, &str, String)> = Vec::new();
    for ((pair, name), n) in pairs.iter().zip(count_names).zip(taken) {
        let Some(n) = n.as_deref().and_then(counter_value) else {
            continue;
        };
        entries.push(name);
        slots.extend((1..=n).map(|slot| (pair.0, pair.1, slot_key(pair.0, pair.1, slot))));
    }
    let slot_names: Vec<String> = slots.iter().map(|(.., name)| name.clone()).collect();
    let shapes = kv.get_many(&slot_names).await?;
    entries.extend(slot_names);
    let found: Vec<(i64, &str, Shape)> = slots
        .into_iter()
        .zip(shapes)
        .filter_map(|((hour, key_id, _), value)| {
            let shape = Shape::decode(std::str::from_utf8(&value?).ok()?)?;
            Some((hour, key_id, shape))
        })
        .collect();
    let counter_names: Vec<String> = found
        .iter()
        .map(|(hour, key_id, shape)| counter_key(*hour, key_id, shape))
        .collect();
    let calls = kv.get_many(&counter_names).await?;
    entries.extend(counter_names);
    let counts = found
        .into_iter()
        .zip(calls)
        .filter_map(|((hour, key_id, shape), n)| {
            let calls = n.as_deref().and_then(counter_value).filter(|n| *n > 0)?;
            Some(HourCount {
                hour,
                key_id: key_id.to_owned(),
                shape,
                calls,
            })
        })
        .collect();
    Ok(EdgeCounts { counts, entries })
}

/// Adds folded hours' counts to `access_daily` (and the methods of `VALID` ones to
/// `access_methods`), and drops what is past the retention (inside usage's fold
/// transaction).
pub async fn add_daily(db: &Db, counts: &[HourCount], today: i64) -> Result<(), Error> {
    for c in counts {
        let (key_id, day) = (Value::Text(c.key_id.clone()), day_of_hour(c.hour));
        let params = vec![
            key_id.clone(),
            Value::Integer(day),
            Value::Text(c.shape.code.as_str().to_owned()),
            Value::Text(c.shape.method.clone()),
            Value::Text(c.shape.company.clone()),
            Value::Integer(c.calls),
            Value::Integer(c.hour),
        ];
        db.exec(SQL_ADD_DAILY, params).await?;
        if c.shape.code == VerifyCode::Valid {
            let params = vec![
                key_id,
                Value::Text(c.shape.method.clone()),
                Value::Integer(day),
            ];
            db.exec(SQL_USED_METHOD, params).await?;
        }
    }
    let oldest = vec![Value::Integer(today - DAILY_RETENTION + 1)];
    db.exec(SQL_PRUNE_DAILY, oldest.clone()).await?;
    db.exec(SQL_PRUNE_METHODS, oldest).await
}

/// The hours of `window` not folded yet, as `cursor` says.
fn unfolded(window: &Window, cursor: Cursor) -> Range<i64> {
    let hours = window.hours();
    hours.start.max(cursor.first_unfolded())..hours.end
}

/// One key's counts over `window`, one entry per shape.
pub async fn key_counts(
    db: &Db,
    kv: &Kv,
    cursor: Cursor,
    key_id: &str,
    window: &Window,
) -> Result<Vec<Counted>, Error> {
    let params = vec![
        Value::Text(key_id.to_owned()),
        Value::Integer(window.first_day),
    ];
    let mut counts = Vec::new();
    for row in db.rows(SQL_KEY_COUNTS, params).await? {
        let shape = Shape {
            code: code_named(&db::text(&row, 0)?).ok_or_else(corrupt)?,
            method: db::text(&row, 1)?,
            company: db::text(&row, 2)?,
        };
        counts.push(Counted {
            shape,
            calls: db::int(&row, 3)?.max(0) as u64,
            last_hour: db::int(&row, 4)?,
        });
    }
    let edge = edge_counts(kv, unfolded(window, cursor), &[key_id]).await?;
    counts.extend(edge.counts.into_iter().map(|c| Counted {
        shape: c.shape,
        calls: c.calls as u64,
        last_hour: c.hour,
    }));
    Ok(merge(counts))
}

fn corrupt() -> Error {
    Error::unexpected("stored data is corrupt: access count code")
}

/// The methods each of `key_ids`' `VALID` calls named over `window` (same order as
/// `key_ids`).
pub async fn used_methods(
    db: &Db,
    kv: &Kv,
    cursor: Cursor,
    key_ids: &[&str],
    window: &Window,
) -> Result<Vec<Vec<String>>, Error> {
    let mut used = vec![Vec::new(); key_ids.len()];
    let rows = db
        .rows(SQL_USED_METHODS, vec![Value::Integer(window.first_day)])
        .await?;
    for row in rows {
        let key_id = db::text(&row, 0)?;
        if let Some(i) = key_ids.iter().position(|k| *k == key_id) {
            used[i].push(db::text(&row, 1)?);
        }
    }
    let edge = edge_counts(kv, unfolded(window, cursor), key_ids).await?;
    for c in edge.counts {
        if c.shape.code == VerifyCode::Valid
            && let Some(i) = key_ids.iter().position(|k| *k == c.key_id)
        {
            used[i].push(c.shape.method);
        }
    }
    Ok(used)
}

/// Deletes a deleted key's folded access counts (inside the deletion's transaction).
pub async fn delete_key(db: &Db, key_id: &str) -> Result<(), Error> {
    let key = vec![Value::Text(key_id.to_owned())];
    db.exec(SQL_DELETE_KEY, key.clone()).await?;
    db.exec(SQL_DELETE_KEY_METHODS, key).await
}
