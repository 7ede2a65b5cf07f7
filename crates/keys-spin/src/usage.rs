//! Usage analytics on the admin side (`keys_domain::usage`): folding the edges' hourly
//! counters (and, in the same transaction, their access counts: `crate::access`) into SQLite, and reading a key's buckets, every key's, the busiest keys and each
//! listed key's last 24 hours from the folded rows plus the counters not folded yet.

use crate::access;
use crate::db::{self, Db};
use crate::kv::Kv;
use keys_domain::Error;
use keys_domain::access::by_code;
use keys_domain::limits::counter_value;
use keys_domain::time::Timestamp;
use keys_domain::usage::{
    Bucket, DAILY_RETENTION, Granularity, HOURLY_RETENTION, Range, code_named, counters,
    day_of_hour, rollup_hours,
};
use spin_sdk::sqlite::Value;
use std::ops::Range as Span;

/// The fold's cursor: the first hour not folded yet.
const SQL_NEXT_HOUR: &str = "SELECT next_hour FROM usage_rollup WHERE id = 1";
const SQL_SET_NEXT_HOUR: &str = "INSERT INTO usage_rollup (id, next_hour) VALUES (1, ?) \
     ON CONFLICT (id) DO UPDATE SET next_hour = excluded.next_hour";
const SQL_KEY_IDS: &str = "SELECT id FROM api_keys ORDER BY seq";
const SQL_ADD_HOURLY: &str = "INSERT INTO usage_hourly (key_id, hour, code, n) VALUES (?, ?, ?, ?) \
     ON CONFLICT (key_id, hour, code) DO UPDATE SET n = n + excluded.n";
const SQL_ADD_DAILY: &str = "INSERT INTO usage_daily (key_id, day, code, n) VALUES (?, ?, ?, ?) \
     ON CONFLICT (key_id, day, code) DO UPDATE SET n = n + excluded.n";
const SQL_PRUNE_HOURLY: &str = "DELETE FROM usage_hourly WHERE hour < ?";
const SQL_PRUNE_DAILY: &str = "DELETE FROM usage_daily WHERE day < ?";
/// A key's (`?1`) or, with `?1` NULL, every key's folded counts by bucket and code.
const SQL_HOURLY_COUNTS: &str = "SELECT hour, code, SUM(n) FROM usage_hourly \
     WHERE (?1 IS NULL OR key_id = ?1) AND hour >= ?2 AND hour < ?3 GROUP BY hour, code";
const SQL_DAILY_COUNTS: &str = "SELECT day, code, SUM(n) FROM usage_daily \
     WHERE (?1 IS NULL OR key_id = ?1) AND day >= ?2 AND day < ?3 GROUP BY day, code";
/// Every key's folded total over a span of buckets.
const SQL_HOURLY_TOTALS: &str =
    "SELECT key_id, SUM(n) FROM usage_hourly WHERE hour >= ? AND hour < ? GROUP BY key_id";
const SQL_DAILY_TOTALS: &str =
    "SELECT key_id, SUM(n) FROM usage_daily WHERE day >= ? AND day < ? GROUP BY key_id";
/// Hours summed for a list's `requests_24h`: the current one and the 23 before.
const LIST_HOURS: i64 = 24;

/// Where the fold stands, as [`fold`] left it: reads combine the folded rows before it with
/// the key-value store's counters from it on.
#[derive(Clone, Copy)]
pub struct Cursor(Option<i64>);

impl Cursor {
    /// The first hour whose counters are read from the key-value store (every hour, before
    /// the first fold).
    pub(crate) fn first_unfolded(self) -> i64 {
        self.0.unwrap_or(i64::MIN)
    }
}

/// The first hour not folded yet (`None` before the first fold).
async fn next_hour(db: &Db) -> Result<Option<i64>, Error> {
    let rows = db.rows(SQL_NEXT_HOUR, Vec::new()).await?;
    rows.first().map(|row| db::int(row, 0)).transpose()
}

/// Every key's id, oldest first.
async fn key_ids(db: &Db) -> Result<Vec<String>, Error> {
    let rows = db.rows(SQL_KEY_IDS, Vec::new()).await?;
    rows.iter().map(|row| db::text(row, 0)).collect()
}

/// One edge count: (hour, index in the key ids asked for, code, count).
type EdgeCount = (i64, usize, keys_domain::verify::VerifyCode, u64);

/// The edge counts of `key_ids` over `hours` (those above zero): the usage counters, plus the
/// access counts summed by code (`keys_domain::access::by_code`), and the access counts
/// themselves, for a fold.
async fn edge_counts(
    kv: &Kv,
    hours: Span<i64>,
    key_ids: &[&str],
) -> Result<(Vec<EdgeCount>, access::EdgeCounts), Error> {
    if hours.is_empty() || key_ids.is_empty() {
        return Ok((Vec::new(), access::EdgeCounts::default()));
    }
    let names = counters(hours.clone(), key_ids);
    let wanted: Vec<String> = names.iter().map(|(.., name)| name.clone()).collect();
    let values = kv.get_many(&wanted).await?;
    let mut counts: Vec<EdgeCount> = names
        .into_iter()
        .zip(values)
        .filter_map(|((hour, key, code, _), value)| {
            let n = value.and_then(|bytes| counter_value(&bytes))?;
            (n > 0).then_some((hour, key, code, n as u64))
        })
        .collect();
    let shapes = access::edge_counts(kv, hours, key_ids).await?;
    for (hour, key_id, code, n) in by_code(&shapes.counts) {
        if let Some(key) = key_ids.iter().position(|k| *k == key_id) {
            counts.push((hour, key, code, n));
        }
    }
    Ok((counts, shapes))
}

/// Folds every hour that ended at least an hour ago (a week of them at most per call) into
/// `usage_hourly` and `usage_daily`, moving the cursor in the same SQLite transaction, then
/// deletes the folded edge counters. Concurrent folds are serialised by the transaction's
/// write lock; a fold that fails changes nothing (its counters stay, and are read from the
/// key-value store until a later fold takes them).
pub async fn fold(db: &Db, kv: &Kv, now: Timestamp) -> Result<Cursor, Error> {
    let mut next = next_hour(db).await?;
    // Most calls find nothing due: they take no write lock.
    if rollup_hours(next, now).is_empty() {
        return Ok(Cursor(next));
    }
    let mut folded: Vec<String> = Vec::new();
    db.transaction(Box::pin(async {
        // Read again under the write lock: a concurrent fold may have moved the cursor.
        next = next_hour(db).await?;
        let hours = rollup_hours(next, now);
        if hours.is_empty() {
            return Ok(());
        }
        let ids = key_ids(db).await?;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (counts, shapes) = edge_counts(kv, hours.clone(), &ids).await?;
        for (hour, key, code, n) in counts {
            for (sql, bucket) in [(SQL_ADD_HOURLY, hour), (SQL_ADD_DAILY, day_of_hour(hour))] {
                let params = vec![
                    Value::Text(ids[key].to_owned()),
                    Value::Integer(bucket),
                    Value::Text(code.as_str().to_owned()),
                    Value::Integer(n as i64),
                ];
                db.exec(sql, params).await?;
            }
        }
        let current = Granularity::Hour.bucket(now);
        let today = Granularity::Day.bucket(now);
        access::add_daily(db, &shapes.counts, today).await?;
        db.exec(
            SQL_PRUNE_HOURLY,
            vec![Value::Integer(current - HOURLY_RETENTION + 1)],
        )
        .await?;
        db.exec(
            SQL_PRUNE_DAILY,
            vec![Value::Integer(today - DAILY_RETENTION + 1)],
        )
        .await?;
        db.exec(SQL_SET_NEXT_HOUR, vec![Value::Integer(hours.end)])
            .await?;
        next = Some(hours.end);
        folded = counters(hours, &ids)
            .into_iter()
            .map(|(.., name)| name)
            .chain(shapes.entries)
            .collect();
        Ok(())
    }))
    .await?;
    // After the commit: counters of folded hours are never read again, so one left behind by
    // a failure here is only an orphan.
    if let Err(err) = kv.delete_many(&folded).await {
        eprintln!("warning: could not delete folded usage counters: {err:#}");
    }
    Ok(Cursor(next))
}

/// The buckets of `key_id` (`None`: every key together) over `range`, oldest first.
pub async fn series(
    db: &Db,
    kv: &Kv,
    cursor: Cursor,
    key_id: Option<&str>,
    range: &Range,
) -> Result<Vec<Bucket>, Error> {
    let next = cursor.first_unfolded();
    let g = range.granularity;
    let sql = match g {
        Granularity::Hour => SQL_HOURLY_COUNTS,
        Granularity::Day => SQL_DAILY_COUNTS,
    };
    let params = vec![
        db::opt_text_param(key_id),
        Value::Integer(range.first),
        Value::Integer(range.first + range.count),
    ];
    let mut counts = Vec::new();
    for row in db.rows(sql, params).await? {
        let code = code_named(&db::text(&row, 1)?)
            .ok_or_else(|| Error::unexpected("stored data is corrupt: usage code"))?;
        counts.push((db::int(&row, 0)?, code, db::int(&row, 2)?.max(0) as u64));
    }
    let all;
    let ids: Vec<&str> = match key_id {
        Some(id) => vec![id],
        None => {
            all = key_ids(db).await?;
            all.iter().map(String::as_str).collect()
        }
    };
    let hours = range.hours();
    let unfolded = hours.start.max(next)..hours.end;
    for (hour, _, code, n) in edge_counts(kv, unfolded, &ids).await?.0 {
        counts.push((g.bucket_of_hour(hour), code, n));
    }
    Ok(range.series(counts))
}

/// Each key's verifications over `range` (same order as `ids`).
pub async fn totals(
    db: &Db,
    kv: &Kv,
    cursor: Cursor,
    ids: &[&str],
    range: &Range,
) -> Result<Vec<u64>, Error> {
    let next = cursor.first_unfolded();
    let sql = match range.granularity {
        Granularity::Hour => SQL_HOURLY_TOTALS,
        Granularity::Day => SQL_DAILY_TOTALS,
    };
    let params = vec![
        Value::Integer(range.first),
        Value::Integer(range.first + range.count),
    ];
    let mut totals = vec![0u64; ids.len()];
    for row in db.rows(sql, params).await? {
        let id = db::text(&row, 0)?;
        if let Some(i) = ids.iter().position(|k| *k == id) {
            totals[i] += db::int(&row, 1)?.max(0) as u64;
        }
    }
    let hours = range.hours();
    for (_, key, _, n) in edge_counts(kv, hours.start.max(next)..hours.end, ids)
        .await?
        .0
    {
        totals[key] += n;
    }
    Ok(totals)
}

/// Each key's verifications over the current hour and the 23 before (same order as `ids`).
///
/// Folds first, so that the key-value store is read for the two newest hours only (the
/// list would otherwise read up to 24 hours × 8 codes of counters per key). A fold that
/// fails is logged, and the counters it left are read instead.
pub async fn last_24_hours(
    db: &Db,
    kv: &Kv,
    ids: &[&str],
    now: Timestamp,
) -> Result<Vec<u64>, Error> {
    let cursor = match fold(db, kv, now).await {
        Ok(cursor) => cursor,
        Err(err) => {
            eprintln!("warning: usage fold before the key list: {err:#}");
            Cursor(next_hour(db).await?)
        }
    };
    let range = Range {
        granularity: Granularity::Hour,
        first: Granularity::Hour.bucket(now) - LIST_HOURS + 1,
        count: LIST_HOURS,
    };
    totals(db, kv, cursor, ids, &range).await
}

/// Deletes the edge counters and access counts not folded yet of a deleted key (its folded
/// usage rows stay: they are part of every key's sums; its folded access rows go with the
/// key, `access::delete_key`). Housekeeping: a failure is logged.
pub async fn forget_key(db: &Db, kv: &Kv, key_id: &str, now: Timestamp) {
    let result = async {
        let current = Granularity::Hour.bucket(now);
        let next = next_hour(db).await?.unwrap_or(current - HOURLY_RETENTION);
        let mut names: Vec<String> = counters(next..current + 1, &[key_id])
            .into_iter()
            .map(|(.., name)| name)
            .collect();
        names.extend(
            access::edge_counts(kv, next..current + 1, &[key_id])
                .await?
                .entries,
        );
        kv.delete_many(&names).await
    };
    if let Err(err) = result.await {
        eprintln!("warning: could not delete a deleted key's usage counters: {err:#}");
    }
}
