//! Usage analytics: every verification attributed to a key (any code but `NOT_FOUND`),
//! counted by code in hourly and daily UTC buckets of the key-value store.
//!
//! # Counters
//!
//! Every counter is written with the store's atomic increment only (never `set`), named
//! `use:{h|d}:{bucket}:{key}:{CODE}` (a code's count) or `use:{h|d}:{bucket}:{key}` (all
//! codes), where `bucket` is the hour or day number since the epoch and `key` a key id or
//! `*` for every key together. verify-key adds a verification to its instance's
//! [`Pending`] batch and applies the batch with a handful of increments (see verify-key's
//! docs for when); the admin routes read buckets back with one batched read.
//!
//! # Retention
//!
//! Hourly buckets are read for the last [`HOURLY_RETENTION`] hours, daily buckets for the
//! last [`DAILY_RETENTION`] days. The store has no expiry: the batch that opens a key's day
//! (its daily total's increment returns what the batch added, which exactly one batch sees)
//! deletes that key's hourly counters of the days [`SWEPT_DAYS`] back and its daily counters
//! past the retention. A key unused for longer than that range keeps the hourly counters of
//! its last used day (at most 24 × 9 entries) until it is used again or deleted.

use crate::error::Error;
use crate::record::VerifyCode;
use crate::time::{SECONDS_PER_DAY, Timestamp};
use serde::Serialize;
use serde::ser::SerializeMap;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// Prefix of every usage counter.
pub const USAGE_PREFIX: &str = "use:";
/// The scope name of the counters summed over every key.
pub const ALL_KEYS: &str = "*";
/// Hourly buckets are kept and answered for this many hours.
pub const HOURLY_RETENTION: i64 = 48;
/// Daily buckets are kept and answered for this many days.
pub const DAILY_RETENTION: i64 = 400;
/// Daily buckets answered when the request names no range.
pub const DEFAULT_DAYS: i64 = 30;
/// Days before the current one whose hourly counters the day's first batch deletes.
pub const SWEPT_DAYS: RangeInclusive<i64> = 3..=9;
/// Keys listed in `GET /usage`'s `top_keys`.
pub const TOP_KEYS: usize = 10;
const SECONDS_PER_HOUR: i64 = 3600;

/// Every code a verification attributed to a key can have, in the order of the checks.
pub const COUNTED_CODES: [VerifyCode; 8] = [
    VerifyCode::Disabled,
    VerifyCode::Expired,
    VerifyCode::IpNotAllowed,
    VerifyCode::MethodNotAllowed,
    VerifyCode::CompanyNotAllowed,
    VerifyCode::RateLimited,
    VerifyCode::QuotaExceeded,
    VerifyCode::Valid,
];

/// The size of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// UTC hours.
    Hour,
    /// UTC days.
    Day,
}

impl Granularity {
    fn seconds(self) -> i64 {
        match self {
            Self::Hour => SECONDS_PER_HOUR,
            Self::Day => SECONDS_PER_DAY,
        }
    }

    fn tag(self) -> char {
        match self {
            Self::Hour => 'h',
            Self::Day => 'd',
        }
    }

    /// Buckets kept and answered.
    fn retention(self) -> i64 {
        match self {
            Self::Hour => HOURLY_RETENTION,
            Self::Day => DAILY_RETENTION,
        }
    }

    /// Buckets answered by default.
    fn default_count(self) -> i64 {
        match self {
            Self::Hour => HOURLY_RETENTION,
            Self::Day => DEFAULT_DAYS,
        }
    }

    /// The bucket `at` falls in.
    pub fn bucket(self, at: Timestamp) -> i64 {
        at.unix().div_euclid(self.seconds())
    }
}

/// The counter of `code` (`None`: every code) for `scope` (a key id or [`ALL_KEYS`]) in
/// bucket `bucket`.
pub fn counter_key(
    granularity: Granularity,
    bucket: i64,
    scope: &str,
    code: Option<VerifyCode>,
) -> String {
    let tag = granularity.tag();
    match code {
        Some(code) => format!("{USAGE_PREFIX}{tag}:{bucket}:{scope}:{}", code.as_str()),
        None => format!("{USAGE_PREFIX}{tag}:{bucket}:{scope}"),
    }
}

/// Buckets asked for by `GET /keys/{id}/usage` and `GET /usage`: `count` buckets from
/// `first`, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Bucket size.
    pub granularity: Granularity,
    /// The first bucket's number.
    pub first: i64,
    /// How many buckets.
    pub count: i64,
}

impl Range {
    /// Reads the query parameters (each optional): `granularity` (`hour`, the default, or
    /// `day`), `from` and `to` (RFC 3339; `from` is rounded down and `to` up to a bucket
    /// boundary). Without `to`, the range ends with the current bucket; without `from`, it
    /// holds 48 hourly or 30 daily buckets. Both must lie within the retention; a 400 names
    /// the parameter otherwise.
    pub fn parse(
        granularity: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        now: Timestamp,
    ) -> Result<Self, Error> {
        let granularity = match granularity {
            None | Some("hour") => Granularity::Hour,
            Some("day") => Granularity::Day,
            Some(_) => return Err(Error::bad_request("granularity must be `hour` or `day`")),
        };
        let instant = |name: &str, text: Option<&str>| {
            text.map(|t| {
                Timestamp::parse_rfc3339(t).ok_or_else(|| {
                    Error::bad_request(format!("{name} must be an RFC 3339 date-time"))
                })
            })
            .transpose()
        };
        let (from, to) = (instant("from", from)?, instant("to", to)?);
        let len = granularity.seconds();
        let current = granularity.bucket(now);
        let oldest = current - granularity.retention() + 1;
        // `end` is exclusive: the bucket after the last one answered.
        let end = match to {
            Some(to) => to.unix().div_euclid(len) + i64::from(to.unix().rem_euclid(len) != 0),
            None => current + 1,
        };
        let first = match from {
            Some(from) => granularity.bucket(from),
            None => end - granularity.default_count(),
        };
        let retained = match granularity {
            Granularity::Hour => "hourly usage is kept for 48 hours (ask granularity=day)",
            Granularity::Day => "daily usage is kept for 400 days",
        };
        if end > current + 1 {
            return Err(Error::bad_request("to must not be in the future"));
        }
        if first < oldest && from.is_some() {
            return Err(Error::bad_request(format!("from is too old: {retained}")));
        }
        let first = first.max(oldest);
        if end <= first {
            return Err(Error::bad_request(format!(
                "to must be after from, within the retention: {retained}"
            )));
        }
        Ok(Self {
            granularity,
            first,
            count: end - first,
        })
    }

    /// The buckets' numbers, oldest first.
    pub fn buckets(&self) -> impl Iterator<Item = i64> + '_ {
        self.first..self.first + self.count
    }

    /// When the first bucket starts.
    pub fn start(&self) -> Timestamp {
        Timestamp::from_unix(self.first * self.granularity.seconds())
    }

    /// When the last bucket ends.
    pub fn end(&self) -> Timestamp {
        Timestamp::from_unix((self.first + self.count) * self.granularity.seconds())
    }

    /// Every counter of `scope` the range covers, bucket by bucket, each in the order of
    /// [`COUNTED_CODES`]: what [`Range::series`] reads back.
    pub fn code_counters(&self, scope: &str) -> Vec<String> {
        self.buckets()
            .flat_map(|b| {
                COUNTED_CODES
                    .iter()
                    .map(move |c| counter_key(self.granularity, b, scope, Some(*c)))
            })
            .collect()
    }

    /// The all-codes counters of `scope` the range covers, bucket by bucket.
    pub fn total_counters(&self, scope: &str) -> Vec<String> {
        self.buckets()
            .map(|b| counter_key(self.granularity, b, scope, None))
            .collect()
    }

    /// The buckets from the values of [`Range::code_counters`], in the same order (absent
    /// or unreadable counters count 0).
    pub fn series(&self, values: &[Option<i64>]) -> Vec<Bucket> {
        self.buckets()
            .zip(values.chunks(COUNTED_CODES.len()))
            .map(|(b, chunk)| Bucket {
                start: Timestamp::from_unix(b * self.granularity.seconds()),
                counts: COUNTED_CODES
                    .iter()
                    .zip(chunk)
                    .filter_map(|(code, v)| v.filter(|n| *n > 0).map(|n| (*code, n as u64)))
                    .collect(),
            })
            .collect()
    }
}

/// One bucket of `GET /keys/{id}/usage`: when it starts and its non-zero counts by code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// The bucket's first instant.
    pub start: Timestamp,
    /// Verifications by code; codes with none are left out.
    #[serde(serialize_with = "counts_by_name")]
    pub counts: Vec<(VerifyCode, u64)>,
}

fn counts_by_name<S: serde::Serializer>(
    counts: &[(VerifyCode, u64)],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(counts.len()))?;
    for (code, n) in counts {
        map.serialize_entry(code.as_str(), n)?;
    }
    map.end()
}

/// One increment a batch applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Increment {
    /// The counter.
    pub counter: String,
    /// What to add.
    pub delta: i64,
    /// For the daily total of a scope: the scope and day whose retention sweep is due when
    /// the increment returns `delta` (the batch opened the day).
    pub opens_day: Option<(String, i64)>,
}

/// The verifications an instance has counted and not yet written, and when each key was
/// last verified `VALID`.
#[derive(Debug, Default)]
pub struct Pending {
    /// Verifications by (hour, key id, code).
    counts: BTreeMap<(i64, String, VerifyCode), i64>,
    /// The latest `VALID` instant of each key.
    last_valid: BTreeMap<String, Timestamp>,
    /// How many verifications the batch holds.
    total: u64,
    /// When the oldest of them was counted.
    since: Option<Timestamp>,
}

impl Pending {
    /// Counts one verification of `key_id` answered `code` at `now`.
    pub fn add(&mut self, key_id: &str, code: VerifyCode, now: Timestamp) {
        let hour = Granularity::Hour.bucket(now);
        *self
            .counts
            .entry((hour, key_id.to_owned(), code))
            .or_default() += 1;
        if code == VerifyCode::Valid {
            self.last_valid.insert(key_id.to_owned(), now);
        }
        self.total += 1;
        self.since.get_or_insert(now);
    }

    /// How many verifications are waiting.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// When the oldest waiting verification was counted.
    pub fn since(&self) -> Option<Timestamp> {
        self.since
    }

    /// Empties the batch: the increments that write it (summed per counter, in a stable
    /// order) and each key's latest `VALID` instant.
    pub fn drain(&mut self) -> (Vec<Increment>, Vec<(String, Timestamp)>) {
        let counts = std::mem::take(&mut self.counts);
        let last_valid = std::mem::take(&mut self.last_valid);
        self.total = 0;
        self.since = None;
        let mut sums: BTreeMap<String, (i64, Option<(String, i64)>)> = BTreeMap::new();
        let mut add = |counter: String, delta: i64, opens_day: Option<(String, i64)>| {
            let entry = sums.entry(counter).or_insert((0, opens_day));
            entry.0 += delta;
        };
        for ((hour, key_id, code), n) in counts {
            let day = (hour * SECONDS_PER_HOUR).div_euclid(SECONDS_PER_DAY);
            for scope in [key_id.as_str(), ALL_KEYS] {
                add(
                    counter_key(Granularity::Hour, hour, scope, Some(code)),
                    n,
                    None,
                );
                add(
                    counter_key(Granularity::Day, day, scope, Some(code)),
                    n,
                    None,
                );
                add(counter_key(Granularity::Hour, hour, scope, None), n, None);
                add(
                    counter_key(Granularity::Day, day, scope, None),
                    n,
                    Some((scope.to_owned(), day)),
                );
            }
        }
        let increments = sums
            .into_iter()
            .map(|(counter, (delta, opens_day))| Increment {
                counter,
                delta,
                opens_day,
            })
            .collect();
        (increments, last_valid.into_iter().collect())
    }
}

/// The counters of `scope` that the first batch of day `day` deletes: its hourly counters of
/// the days [`SWEPT_DAYS`] back and its daily counters of the same number of days past the
/// daily retention.
pub fn expired_counters(scope: &str, day: i64) -> Vec<String> {
    let per_bucket = COUNTED_CODES.len() + 1;
    let days = SWEPT_DAYS.count();
    let mut names = Vec::with_capacity(days * (24 + 1) * per_bucket);
    let every_code = |g, b| {
        COUNTED_CODES
            .iter()
            .map(move |c| counter_key(g, b, scope, Some(*c)))
            .chain([counter_key(g, b, scope, None)])
    };
    for back in SWEPT_DAYS {
        let old_day = day - back;
        let first_hour = old_day * 24;
        for hour in first_hour..first_hour + 24 {
            names.extend(every_code(Granularity::Hour, hour));
        }
        names.extend(every_code(
            Granularity::Day,
            day - DAILY_RETENTION - (back - SWEPT_DAYS.start()),
        ));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2027-01-15T08:30:00Z.
    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2027-01-15T08:30:00Z").unwrap()
    }

    #[test]
    fn the_default_hourly_range_is_the_last_48_hours_ending_with_the_current_one() {
        let r = Range::parse(None, None, None, now()).unwrap();
        assert_eq!(r.granularity, Granularity::Hour);
        assert_eq!(r.count, 48);
        assert_eq!(r.end().to_string(), "2027-01-15T09:00:00Z");
        assert_eq!(r.start().to_string(), "2027-01-13T09:00:00Z");
    }

    #[test]
    fn the_default_daily_range_is_the_last_30_days_ending_today() {
        let r = Range::parse(Some("day"), None, None, now()).unwrap();
        assert_eq!(r.count, 30);
        assert_eq!(r.end().to_string(), "2027-01-16T00:00:00Z");
        assert_eq!(r.start().to_string(), "2026-12-17T00:00:00Z");
    }

    #[test]
    fn from_and_to_are_rounded_out_to_bucket_boundaries() {
        let r = Range::parse(
            Some("hour"),
            Some("2027-01-15T01:10:00Z"),
            Some("2027-01-15T03:05:00Z"),
            now(),
        )
        .unwrap();
        assert_eq!(r.start().to_string(), "2027-01-15T01:00:00Z");
        assert_eq!(r.end().to_string(), "2027-01-15T04:00:00Z");
        assert_eq!(r.count, 3);
    }

    #[test]
    fn ranges_outside_the_retention_or_backwards_are_refused_naming_the_parameter() {
        for (g, from, to, word) in [
            (Some("minute"), None, None, "granularity"),
            (None, Some("yesterday"), None, "from"),
            (None, None, Some("2027-01-15"), "to"),
            (None, Some("2027-01-13T08:00:00Z"), None, "from is too old"),
            (
                None,
                None,
                Some("2027-01-15T10:00:00Z"),
                "to must not be in the future",
            ),
            (
                None,
                Some("2027-01-15T05:00:00Z"),
                Some("2027-01-15T04:00:00Z"),
                "to must be after from",
            ),
            (
                Some("day"),
                Some("2025-12-01T00:00:00Z"),
                None,
                "from is too old",
            ),
        ] {
            let err = Range::parse(g, from, to, now()).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.to_string().starts_with(word), "{err}");
        }
    }

    #[test]
    fn a_batch_sums_per_counter_for_the_key_and_for_every_key() {
        let mut p = Pending::default();
        p.add("key_a", VerifyCode::Valid, now());
        p.add("key_a", VerifyCode::Valid, now().plus_seconds(10));
        p.add("key_a", VerifyCode::MethodNotAllowed, now());
        p.add("key_b", VerifyCode::Valid, now());
        assert_eq!(p.len(), 4);
        let (incs, last) = p.drain();
        assert!(p.is_empty());
        let get = |name: &str| incs.iter().find(|i| i.counter == name).map(|i| i.delta);
        let hour = Granularity::Hour.bucket(now());
        let day = Granularity::Day.bucket(now());
        assert_eq!(get(&format!("use:h:{hour}:key_a:VALID")), Some(2));
        assert_eq!(get(&format!("use:h:{hour}:key_a")), Some(3));
        assert_eq!(
            get(&format!("use:d:{day}:key_a:METHOD_NOT_ALLOWED")),
            Some(1)
        );
        assert_eq!(get(&format!("use:h:{hour}:*:VALID")), Some(3));
        assert_eq!(get(&format!("use:d:{day}:*")), Some(4));
        let opens: Vec<_> = incs.iter().filter_map(|i| i.opens_day.clone()).collect();
        assert_eq!(
            opens,
            vec![
                ("*".to_owned(), day),
                ("key_a".to_owned(), day),
                ("key_b".to_owned(), day)
            ]
        );
        assert_eq!(
            last,
            vec![
                ("key_a".to_owned(), now().plus_seconds(10)),
                ("key_b".to_owned(), now())
            ]
        );
    }

    #[test]
    fn series_hold_every_bucket_oldest_first_with_only_non_zero_codes() {
        let r = Range::parse(None, Some("2027-01-15T07:00:00Z"), None, now()).unwrap();
        assert_eq!(r.count, 2);
        let names = r.code_counters("key_a");
        assert_eq!(names.len(), 16);
        let mut values = vec![None; 16];
        values[7] = Some(5); // first bucket, VALID
        values[8 + 5] = Some(2); // second bucket, RATE_LIMITED
        values[8 + 6] = Some(0);
        let series = r.series(&values);
        assert_eq!(
            serde_json::to_string(&series).unwrap(),
            "[{\"start\":\"2027-01-15T07:00:00Z\",\"counts\":{\"VALID\":5}},\
             {\"start\":\"2027-01-15T08:00:00Z\",\"counts\":{\"RATE_LIMITED\":2}}]"
        );
    }

    #[test]
    fn the_first_batch_of_a_day_deletes_old_hourly_and_daily_counters_only() {
        let day = Granularity::Day.bucket(now());
        let names = expired_counters("key_a", day);
        let hour_of = |d: i64| d * 24;
        assert!(names.contains(&format!("use:h:{}:key_a:VALID", hour_of(day - 3))));
        assert!(names.contains(&format!("use:h:{}:key_a", hour_of(day - 9) + 23)));
        assert!(
            !names
                .iter()
                .any(|n| n.contains(&format!(":{}:", hour_of(day - 2) + 23)))
        );
        assert!(names.contains(&format!("use:d:{}:key_a", day - DAILY_RETENTION)));
        assert!(!names.contains(&format!("use:d:{}:key_a", day - DAILY_RETENTION + 1)));
        assert_eq!(names.len(), 7 * 25 * 9);
    }
}
