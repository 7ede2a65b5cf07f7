//! Reading the usage counters verify-key writes (`keys_domain::usage`): a key's buckets, the
//! sum over every key, the busiest keys and each listed key's last 24 hours.

use crate::kv::Kv;
use keys_domain::Error;
use keys_domain::limits::counter_value;
use keys_domain::time::Timestamp;
use keys_domain::usage::{ALL_KEYS, Bucket, DAILY_RETENTION, Granularity, HOURLY_RETENTION, Range};

/// Hours summed for a list's `requests_24h`: the current one and the 23 before.
const LIST_HOURS: i64 = 24;

/// The values of `names`, decoded (absent or unreadable: `None`).
async fn values(kv: &Kv, names: &[String]) -> Result<Vec<Option<i64>>, Error> {
    let raw = kv.get_many(names).await?;
    Ok(raw
        .into_iter()
        .map(|v| v.and_then(|bytes| counter_value(&bytes)))
        .collect())
}

/// The buckets of `scope` (a key id or `*`) over `range`, oldest first.
pub async fn series(kv: &Kv, scope: &str, range: &Range) -> Result<Vec<Bucket>, Error> {
    let counts = values(kv, &range.code_counters(scope)).await?;
    Ok(range.series(&counts))
}

/// The verifications of every key summed over `range`, by key (same order as `ids`).
pub async fn totals(kv: &Kv, ids: &[&str], range: &Range) -> Result<Vec<u64>, Error> {
    let names: Vec<String> = ids.iter().flat_map(|id| range.total_counters(id)).collect();
    let counts = values(kv, &names).await?;
    let per_key = usize::try_from(range.count).unwrap_or(0).max(1);
    Ok(counts
        .chunks(per_key)
        .map(|chunk| chunk.iter().flatten().map(|n| (*n).max(0) as u64).sum())
        .chain(std::iter::repeat(0))
        .take(ids.len())
        .collect())
}

/// Each key's verifications over the last 24 hours (same order as `ids`).
pub async fn last_24_hours(kv: &Kv, ids: &[&str], now: Timestamp) -> Result<Vec<u64>, Error> {
    let current = Granularity::Hour.bucket(now);
    let range = Range {
        granularity: Granularity::Hour,
        first: current - LIST_HOURS + 1,
        count: LIST_HOURS,
    };
    totals(kv, ids, &range).await
}

/// Deletes the usage counters of a deleted key (its buckets within the retention; the sum
/// over every key keeps its verifications). Housekeeping: a failure is logged.
pub async fn forget_key(kv: &Kv, key_id: &str) {
    debug_assert_ne!(key_id, ALL_KEYS);
    let now = Timestamp::now();
    let mut names = Vec::new();
    for (granularity, retention) in [
        (Granularity::Hour, HOURLY_RETENTION),
        (Granularity::Day, DAILY_RETENTION),
    ] {
        let current = granularity.bucket(now);
        let range = Range {
            granularity,
            first: current - retention + 1,
            count: retention,
        };
        names.extend(range.code_counters(key_id));
        names.extend(range.total_counters(key_id));
    }
    if let Err(err) = kv.delete_many(&names).await {
        eprintln!("warning: could not delete a deleted key's usage counters: {err:#}");
    }
}
