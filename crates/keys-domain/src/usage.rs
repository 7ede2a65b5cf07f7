//! Usage analytics: every verification attributed to a key (any code but `NOT_FOUND`),
//! counted by code per UTC hour, then folded into hourly and daily totals in SQLite.
//!
//! # Where the counts live
//!
//! - **At the edge**, each verify-key instance gathers its verifications in a [`Pending`]
//!   batch and writes it with one key-value increment per key, code and hour
//!   (`use:h:{hour}:{key id}:{CODE}`, written by increment only, never `set`): a batch of one
//!   key's `DISABLED` answers is one write whatever their number. The codes the access
//!   review counts by method and company (`VALID`, `METHOD_NOT_ALLOWED`,
//!   `COMPANY_NOT_ALLOWED`: [`crate::access::ACCESS_CODES`]) get no counter of their own:
//!   their usage is the sum of their access counts ([`crate::access::by_code`]), so a
//!   verification costs one increment, not two. Counters of those codes written by earlier
//!   edges are still read.
//! - **In SQLite**, the admin side [folds](rollup_hours) every hour that ended at least an
//!   hour ago into `usage_hourly` (kept [`HOURLY_RETENTION`] hours) and `usage_daily` (kept
//!   [`DAILY_RETENTION`] days), in one transaction that also moves the fold's cursor, then
//!   deletes the folded counters. Reads combine the folded rows with the counters of the
//!   hours not folded yet, so an answer never waits for a fold and never counts an hour twice.

use crate::error::Error;
use crate::increments::Increment;
use crate::time::{SECONDS_PER_DAY, Timestamp};
use crate::verify::VerifyCode;
use serde::Serialize;
use serde::ser::SerializeMap;
use std::ops::Range as Span;

/// Prefix of every usage counter.
pub const USAGE_PREFIX: &str = "use:";
/// Hourly buckets are kept and answered for this many hours.
pub const HOURLY_RETENTION: i64 = 48;
/// Daily buckets are kept and answered for this many days.
pub const DAILY_RETENTION: i64 = 400;
/// Daily buckets answered when the request names no range.
pub const DEFAULT_DAYS: i64 = 30;
/// Most hours one fold takes on (a backlog is folded over several calls).
pub const MAX_FOLDED_HOURS: i64 = 7 * 24;
/// Keys listed in `GET /usage`'s `top_keys`.
pub const TOP_KEYS: usize = 10;
const SECONDS_PER_HOUR: i64 = 3600;
const HOURS_PER_DAY: i64 = 24;

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

    /// The bucket an hour falls in.
    pub fn bucket_of_hour(self, hour: i64) -> i64 {
        match self {
            Self::Hour => hour,
            Self::Day => day_of_hour(hour),
        }
    }

    /// The hours a bucket covers.
    pub fn hours(self, bucket: i64) -> Span<i64> {
        match self {
            Self::Hour => bucket..bucket + 1,
            Self::Day => bucket * HOURS_PER_DAY..(bucket + 1) * HOURS_PER_DAY,
        }
    }
}

/// The edge counter of `key_id`'s verifications answered `code` during hour `hour` (hours
/// since the epoch).
pub fn counter_key(hour: i64, key_id: &str, code: VerifyCode) -> String {
    format!("{USAGE_PREFIX}h:{hour}:{key_id}:{}", code.as_str())
}

/// The edge counters of `key_ids` for the hours of `hours`, hour by hour, each key's in the
/// order of [`COUNTED_CODES`].
pub fn counters(hours: Span<i64>, key_ids: &[&str]) -> Vec<(i64, usize, VerifyCode, String)> {
    let mut names = Vec::with_capacity(hours.clone().count() * key_ids.len() * COUNTED_CODES.len());
    for hour in hours {
        for (k, key_id) in key_ids.iter().enumerate() {
            for code in COUNTED_CODES {
                names.push((hour, k, code, counter_key(hour, key_id, code)));
            }
        }
    }
    names
}

/// The hours a fold takes on: from the fold's cursor (the first hour not folded yet; `None`
/// before the first fold: the hourly retention back) up to the hour that ended at least an
/// hour before `now`, at most [`MAX_FOLDED_HOURS`] of them, and none older than the daily
/// retention.
pub fn rollup_hours(next: Option<i64>, now: Timestamp) -> Span<i64> {
    let current = Granularity::Hour.bucket(now);
    let oldest = current - DAILY_RETENTION * HOURS_PER_DAY;
    let start = next.unwrap_or(current - HOURLY_RETENTION).max(oldest);
    let end = (current - 1).max(start);
    start..end.min(start + MAX_FOLDED_HOURS)
}

/// The code of a wire name, among [`COUNTED_CODES`].
pub fn code_named(name: &str) -> Option<VerifyCode> {
    COUNTED_CODES.into_iter().find(|c| c.as_str() == name)
}

/// The day an hour falls in.
pub fn day_of_hour(hour: i64) -> i64 {
    hour.div_euclid(HOURS_PER_DAY)
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

    /// The hours the range covers.
    pub fn hours(&self) -> Span<i64> {
        let g = self.granularity;
        g.hours(self.first).start..g.hours(self.first + self.count - 1).end
    }

    /// The buckets, oldest first, from counts by (bucket, code); buckets outside the range
    /// are ignored, codes with none left out.
    pub fn series(&self, counts: impl IntoIterator<Item = (i64, VerifyCode, u64)>) -> Vec<Bucket> {
        let mut buckets: Vec<Bucket> = self
            .buckets()
            .map(|b| Bucket {
                start: Timestamp::from_unix(b * self.granularity.seconds()),
                counts: Vec::new(),
            })
            .collect();
        for (bucket, code, n) in counts {
            let Some(slot) = usize::try_from(bucket - self.first)
                .ok()
                .and_then(|i| buckets.get_mut(i))
            else {
                continue;
            };
            match slot.counts.iter_mut().find(|(c, _)| *c == code) {
                Some((_, total)) => *total += n,
                None => slot.counts.push((code, n)),
            }
        }
        for bucket in &mut buckets {
            bucket.counts.retain(|(_, n)| *n > 0);
            bucket.counts.sort();
        }
        buckets
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

/// The verifications an instance has counted and not yet written, and when each key was
/// last verified `VALID`.
#[derive(Debug, Default)]
pub struct Pending {
    /// Verifications by (hour, key id, code). A short list: an instance serves few keys
    /// between two batches, and a linear search keeps verify-key small.
    counts: Vec<((i64, String, VerifyCode), i64)>,
    /// The latest `VALID` instant of each key.
    last_valid: Vec<(String, Timestamp)>,
}

impl Pending {
    /// Counts one verification of `key_id` answered `code` at `now` (a code the access
    /// counts hold is not counted here: only its last `VALID` instant is kept).
    pub fn add(&mut self, key_id: &str, code: VerifyCode, now: Timestamp) {
        let hour = Granularity::Hour.bucket(now);
        if !crate::access::ACCESS_CODES.contains(&code) {
            match self
                .counts
                .iter_mut()
                .find(|((h, k, c), _)| *h == hour && *c == code && k == key_id)
            {
                Some((_, n)) => *n += 1,
                None => self.counts.push(((hour, key_id.to_owned(), code), 1)),
            }
        }
        if code == VerifyCode::Valid {
            match self.last_valid.iter_mut().find(|(k, _)| k == key_id) {
                Some((_, at)) => *at = (*at).max(now),
                None => self.last_valid.push((key_id.to_owned(), now)),
            }
        }
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.last_valid.is_empty()
    }

    /// Empties the batch: the increments that write it (one per hour, key and code, in the
    /// order they were first counted) and each key's latest `VALID` instant.
    pub fn drain(&mut self) -> (Vec<Increment>, Vec<(String, Timestamp)>) {
        let counts = std::mem::take(&mut self.counts);
        let last_valid = std::mem::take(&mut self.last_valid);
        let increments = counts
            .into_iter()
            .map(|((hour, key_id, code), delta)| Increment {
                counter: counter_key(hour, &key_id, code),
                delta,
            })
            .collect();
        (increments, last_valid)
    }
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
    fn a_batch_writes_one_increment_per_hour_key_and_code_the_access_counts_do_not_hold() {
        let mut p = Pending::default();
        p.add("key_a", VerifyCode::Valid, now());
        p.add("key_a", VerifyCode::Valid, now().plus_seconds(10));
        p.add("key_a", VerifyCode::MethodNotAllowed, now());
        p.add("key_a", VerifyCode::Disabled, now());
        p.add("key_a", VerifyCode::Disabled, now());
        p.add("key_b", VerifyCode::Valid, now().plus_seconds(3600));
        p.add("key_b", VerifyCode::RateLimited, now().plus_seconds(3600));
        assert!(!p.is_empty());
        let (incs, last) = p.drain();
        assert!(p.is_empty());
        let hour = Granularity::Hour.bucket(now());
        assert_eq!(
            incs,
            vec![
                Increment {
                    counter: format!("use:h:{hour}:key_a:DISABLED"),
                    delta: 2
                },
                Increment {
                    counter: format!("use:h:{}:key_b:RATE_LIMITED", hour + 1),
                    delta: 1
                },
            ]
        );
        assert_eq!(
            last,
            vec![
                ("key_a".to_owned(), now().plus_seconds(10)),
                ("key_b".to_owned(), now().plus_seconds(3600))
            ]
        );
    }

    #[test]
    fn series_hold_every_bucket_oldest_first_with_only_non_zero_codes() {
        let r = Range::parse(None, Some("2027-01-15T07:00:00Z"), None, now()).unwrap();
        assert_eq!(r.count, 2);
        let first = r.first;
        let series = r.series([
            (first, VerifyCode::Valid, 5),
            (first + 1, VerifyCode::RateLimited, 2),
            (first + 1, VerifyCode::Valid, 0),
            (first + 1, VerifyCode::RateLimited, 1),
            (first + 7, VerifyCode::Valid, 9),
            (first - 1, VerifyCode::Valid, 9),
        ]);
        assert_eq!(
            serde_json::to_string(&series).unwrap(),
            "[{\"start\":\"2027-01-15T07:00:00Z\",\"counts\":{\"VALID\":5}},\
             {\"start\":\"2027-01-15T08:00:00Z\",\"counts\":{\"RATE_LIMITED\":3}}]"
        );
    }

    #[test]
    fn a_fold_takes_the_hours_that_ended_an_hour_ago_from_its_cursor() {
        let current = Granularity::Hour.bucket(now());
        // The first fold starts at the hourly retention.
        assert_eq!(rollup_hours(None, now()), current - 48..current - 1);
        assert_eq!(
            rollup_hours(Some(current - 5), now()),
            current - 5..current - 1
        );
        // Nothing to do once caught up (the previous hour is still open to late batches).
        assert!(rollup_hours(Some(current - 1), now()).is_empty());
        assert!(rollup_hours(Some(current + 3), now()).is_empty());
        // A backlog is taken a week at a time, and nothing older than the daily retention.
        let backlog = rollup_hours(Some(current - 1000), now());
        assert_eq!(backlog, current - 1000..current - 1000 + MAX_FOLDED_HOURS);
        assert_eq!(
            rollup_hours(Some(0), now()).start,
            current - DAILY_RETENTION * 24
        );
    }

    #[test]
    fn a_range_covers_the_hours_of_its_buckets_and_codes_are_read_back_by_name() {
        let daily = Range::parse(Some("day"), None, None, now()).unwrap();
        let hours = daily.hours();
        assert_eq!(hours.end - hours.start, 30 * 24);
        assert_eq!(day_of_hour(hours.start), daily.first);
        assert_eq!(
            Granularity::Day.bucket_of_hour(hours.end - 1),
            daily.first + 29
        );
        for code in COUNTED_CODES {
            assert_eq!(code_named(code.as_str()), Some(code));
        }
        assert_eq!(code_named("NOT_FOUND"), None);
        let names = counters(10..12, &["key_a", "key_b"]);
        assert_eq!(names.len(), 2 * 2 * 8);
        assert_eq!(names[9].3, "use:h:10:key_b:EXPIRED");
    }
}
