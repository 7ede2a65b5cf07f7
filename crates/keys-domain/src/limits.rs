//! Rate limits and quotas of a key: what an administrator may set, the windows verify-key
//! counts them in, the counters' key-value names and the `RateLimit-Policy` / `RateLimit`
//! fields of draft-ietf-httpapi-ratelimit-headers (draft 11).
//!
//! # Algorithm
//!
//! Both are **fixed windows** counted by the key-value store's atomic increment alone:
//! a rate limit of `limit` per `window_seconds` counts in windows aligned on multiples of
//! `window_seconds` since the Unix epoch; a quota counts per UTC day or UTC month. A request
//! that passed every other check increments the counter of its window and is admitted when
//! the returned count is at most `limit`; a request refused by the limit (or, for the rate
//! counter, by the quota after it) takes its increment back with a decrement. The increment
//! alone decides: no read-then-write, no compare-and-swap, so edges sharing one store (Redis:
//! `INCRBY`) admit at most `limit` requests per window between them, whatever their number.
//! What a fixed window allows is a burst at a boundary: up to `2 × limit` within
//! `window_seconds` straddling two windows. Edges whose clocks disagree by `s` seconds may
//! count a request near a boundary in the neighbouring window, which can add up to `limit`
//! more in that `s`-second band (NTP keeps `s` to milliseconds).

use crate::error::Error;
use crate::time::{SECONDS_PER_DAY, Timestamp};
use serde::{Deserialize, Serialize};

/// Longest rate-limit window: a day.
pub const MAX_WINDOW_SECONDS: u64 = 86_400;
/// Largest limit or quota accepted (counters are signed 64-bit integers).
pub const MAX_LIMIT: u64 = 1_000_000_000_000;
/// Prefix of the key-value counters of rate-limit windows.
pub const RATE_COUNTER_PREFIX: &str = "rl:";
/// Prefix of the key-value counters of quota periods.
pub const QUOTA_COUNTER_PREFIX: &str = "qt:";
/// Suffix of the entry naming the last windows that were counted for a key (see
/// [`sweep`]): written with `set` only, never incremented.
const POINTER_SUFFIX: &str = ":last";

/// At most `limit` verifications per `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Verifications admitted per window, at least 1.
    pub limit: u64,
    /// The window's length in seconds, 1 to 86,400.
    pub window_seconds: u64,
}

/// The period of a quota, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A UTC calendar day.
    Day,
    /// A UTC calendar month.
    Month,
}

impl Period {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
        }
    }
}

/// At most `limit` verifications per UTC day or month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Verifications admitted per period, at least 1.
    pub limit: u64,
    /// The period.
    pub period: Period,
}

/// One window a counter counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The window's number (windows since the epoch; days or months for quotas).
    pub index: i64,
    /// Seconds from now until the window ends, at least 1.
    pub reset: i64,
    /// The window's length in seconds.
    pub length: i64,
}

/// How a limit stands after (or without) a verification: `/verify`'s `rate_limit` and
/// `quota` objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LimitState {
    /// The limit.
    pub limit: u64,
    /// Verifications still admitted in the current window.
    pub remaining: u64,
    /// Seconds until the window ends and `remaining` goes back to `limit`.
    pub reset: i64,
    /// The window's length in seconds (the `w` of `RateLimit-Policy`; not in `/verify`).
    #[serde(skip)]
    pub window: i64,
}

impl LimitState {
    /// The state of `limit` when its counter holds `count` in `window`.
    pub fn new(limit: u64, count: i64, window: &Window) -> Self {
        let used = u64::try_from(count).unwrap_or(0);
        Self {
            limit,
            remaining: limit.saturating_sub(used),
            reset: window.reset,
            window: window.length,
        }
    }
}

/// A number field as sent: any JSON number, so that a negative or fractional value gets a
/// message naming the field instead of a generic parse error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitBody {
    limit: serde_json::Number,
    window_seconds: serde_json::Number,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaBody {
    limit: serde_json::Number,
    period: String,
}

/// A whole number in `1..=max`, or a 422 naming `field`.
fn whole(field: &str, n: &serde_json::Number, max: u64) -> Result<u64, Error> {
    n.as_u64()
        .filter(|v| (1..=max).contains(v))
        .ok_or_else(|| Error::invalid(format!("{field} must be a whole number from 1 to {max}")))
}

impl RateLimit {
    /// Reads the JSON value sent for `rate_limit`: `null` or `{"limit", "window_seconds"}`.
    pub fn parse_json(raw: &str) -> Result<Option<Self>, Error> {
        if raw.trim() == "null" {
            return Ok(None);
        }
        let body: RateLimitBody = serde_json::from_str(raw).map_err(|_| {
            Error::invalid(
                "rate_limit must be null or an object with exactly `limit` and `window_seconds`",
            )
        })?;
        Ok(Some(Self {
            limit: whole("rate_limit.limit", &body.limit, MAX_LIMIT)?,
            window_seconds: whole(
                "rate_limit.window_seconds",
                &body.window_seconds,
                MAX_WINDOW_SECONDS,
            )?,
        }))
    }

    /// The window `now` falls in.
    pub fn window(&self, now: Timestamp) -> Window {
        let length = self.window_seconds as i64;
        let index = now.unix().div_euclid(length);
        Window {
            index,
            reset: (index + 1) * length - now.unix(),
            length,
        }
    }

    /// The form stored on a line of the verification record: `limit/window_seconds`.
    pub fn encode(&self) -> String {
        format!("{}/{}", self.limit, self.window_seconds)
    }

    /// Reads [`RateLimit::encode`]'s form back (`None` when malformed).
    pub fn decode(line: &str) -> Option<Self> {
        let (limit, window) = line.split_once('/')?;
        let (limit, window_seconds) = (limit.parse().ok()?, window.parse().ok()?);
        ((1..=MAX_LIMIT).contains(&limit) && (1..=MAX_WINDOW_SECONDS).contains(&window_seconds))
            .then_some(Self {
                limit,
                window_seconds,
            })
    }

    /// The counter of `key_id` for the window numbered `index`.
    pub fn counter_key(&self, key_id: &str, index: i64) -> String {
        format!(
            "{RATE_COUNTER_PREFIX}{key_id}:{}:{index}",
            self.window_seconds
        )
    }

    /// The entry naming the windows of `key_id` counted last (see [`sweep`]).
    pub fn pointer_key(&self, key_id: &str) -> String {
        format!(
            "{RATE_COUNTER_PREFIX}{key_id}:{}{POINTER_SUFFIX}",
            self.window_seconds
        )
    }

    /// The limit that admits no more than either: the lower limit per second; on a tie, the
    /// longer window. Used for the records that stand while a change commits.
    pub fn stricter(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => {
                // a.limit / a.window vs b.limit / b.window, in integers.
                let (ra, rb) = (
                    u128::from(a.limit) * u128::from(b.window_seconds),
                    u128::from(b.limit) * u128::from(a.window_seconds),
                );
                Some(
                    if ra < rb || (ra == rb && a.window_seconds >= b.window_seconds) {
                        a
                    } else {
                        b
                    },
                )
            }
            (one, other) => one.or(other),
        }
    }
}

impl Quota {
    /// Reads the JSON value sent for `quota`: `null` or `{"limit", "period"}`.
    pub fn parse_json(raw: &str) -> Result<Option<Self>, Error> {
        if raw.trim() == "null" {
            return Ok(None);
        }
        let body: QuotaBody = serde_json::from_str(raw).map_err(|_| {
            Error::invalid("quota must be null or an object with exactly `limit` and `period`")
        })?;
        let period = match body.period.as_str() {
            "day" => Period::Day,
            "month" => Period::Month,
            _ => return Err(Error::invalid("quota.period must be `day` or `month`")),
        };
        Ok(Some(Self {
            limit: whole("quota.limit", &body.limit, MAX_LIMIT)?,
            period,
        }))
    }

    /// The period `now` falls in (days or months since the epoch).
    pub fn window(&self, now: Timestamp) -> Window {
        match self.period {
            Period::Day => {
                let index = now.unix().div_euclid(SECONDS_PER_DAY);
                Window {
                    index,
                    reset: (index + 1) * SECONDS_PER_DAY - now.unix(),
                    length: SECONDS_PER_DAY,
                }
            }
            Period::Month => {
                let index = now.month_index();
                let (start, end) = (
                    Timestamp::month_start(index).unix(),
                    Timestamp::month_start(index + 1).unix(),
                );
                Window {
                    index,
                    reset: end - now.unix(),
                    length: end - start,
                }
            }
        }
    }

    /// The form stored on a line of the verification record: `limit/day` or `limit/month`.
    pub fn encode(&self) -> String {
        format!("{}/{}", self.limit, self.period.as_str())
    }

    /// Reads [`Quota::encode`]'s form back (`None` when malformed).
    pub fn decode(line: &str) -> Option<Self> {
        let (limit, period) = line.split_once('/')?;
        let limit = limit.parse().ok().filter(|l| (1..=MAX_LIMIT).contains(l))?;
        let period = match period {
            "day" => Period::Day,
            "month" => Period::Month,
            _ => return None,
        };
        Some(Self { limit, period })
    }

    /// The counter of `key_id` for the period numbered `index`.
    pub fn counter_key(&self, key_id: &str, index: i64) -> String {
        format!(
            "{QUOTA_COUNTER_PREFIX}{key_id}:{}:{index}",
            self.period.as_str()
        )
    }

    /// The entry naming the periods of `key_id` counted last (see [`sweep`]).
    pub fn pointer_key(&self, key_id: &str) -> String {
        format!(
            "{QUOTA_COUNTER_PREFIX}{key_id}:{}{POINTER_SUFFIX}",
            self.period.as_str()
        )
    }

    /// The quota that admits no more than either: the lower limit; on a tie, per month.
    pub fn stricter(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) if b.limit < a.limit => Some(b),
            (Some(a), Some(b)) if b.limit == a.limit && b.period == Period::Month => Some(b),
            (Some(a), _) => Some(a),
            (None, b) => b,
        }
    }
}

/// The counters of past windows to delete, and the pointer to write, when the window `index`
/// receives its first request (the increment returned 1: exactly one request, across every
/// edge, sees that).
///
/// The store has no expiry, so counters of past windows are deleted by the first request of
/// a later window. The pointer (`pointer`, as stored) names the last one or two windows that
/// were counted. Every named window at least two windows old is deleted (the window just
/// before may still receive increments from an edge whose clock is a little behind); the
/// one just before stays named, so that the next first request deletes it. Each counter is
/// thus deleted once it is two windows old and another window is counted, and a key keeps at
/// most its last two windows' counters. A lost race between two first requests (of
/// consecutive windows, at the same instant) can leave one counter behind.
pub fn sweep(pointer: Option<&[u8]>, index: i64) -> (Vec<i64>, String) {
    let named = named_windows(pointer);
    let mut delete: Vec<i64> = named.iter().copied().filter(|w| *w <= index - 2).collect();
    // The window two before this one, named or not: covers a pointer lost in a race.
    if !delete.contains(&(index - 2)) {
        delete.push(index - 2);
    }
    let kept = named.iter().copied().filter(|w| *w == index - 1);
    let pointer = kept
        .chain([index])
        .map(|w| w.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    (delete, pointer)
}

/// A rate limit or a quota: both are counted the same way, in windows with counters and a
/// pointer entry per key (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A rate limit.
    Rate(RateLimit),
    /// A quota.
    Quota(Quota),
}

impl Limit {
    /// How many verifications a window admits.
    pub fn limit(&self) -> u64 {
        match self {
            Self::Rate(rate) => rate.limit,
            Self::Quota(quota) => quota.limit,
        }
    }

    /// The window `now` falls in.
    pub fn window(&self, now: Timestamp) -> Window {
        match self {
            Self::Rate(rate) => rate.window(now),
            Self::Quota(quota) => quota.window(now),
        }
    }

    /// The counter of `key_id` for the window numbered `index`.
    pub fn counter_key(&self, key_id: &str, index: i64) -> String {
        match self {
            Self::Rate(rate) => rate.counter_key(key_id, index),
            Self::Quota(quota) => quota.counter_key(key_id, index),
        }
    }

    /// The entry naming the windows of `key_id` counted last (see [`sweep`]).
    pub fn pointer_key(&self, key_id: &str) -> String {
        match self {
            Self::Rate(rate) => rate.pointer_key(key_id),
            Self::Quota(quota) => quota.pointer_key(key_id),
        }
    }
}

/// The windows a pointer entry (as stored) names; none when it is absent or unreadable.
fn named_windows(pointer: Option<&[u8]>) -> Vec<i64> {
    pointer
        .and_then(|p| std::str::from_utf8(p).ok())
        .map(|p| p.split(' ').filter_map(|w| w.parse().ok()).collect())
        .unwrap_or_default()
}

/// Every entry of one limit's counters that its pointer entry (`pointer_key`, whose value is
/// `pointer`) knows of: the counters of the windows it names, then the pointer itself.
pub fn named_entries(
    pointer_key: String,
    pointer: Option<&[u8]>,
    counter_key: impl Fn(i64) -> String,
) -> Vec<String> {
    let mut entries: Vec<String> = named_windows(pointer)
        .into_iter()
        .map(counter_key)
        .collect();
    entries.push(pointer_key);
    entries
}

/// The decoded value of a counter: Spin's SQLite key-value store keeps 8 bytes little-endian,
/// Redis (`INCRBY`) decimal text. Eight bytes whose last is zero are the former (a decimal
/// text never holds a zero byte, and a count below 2^56 always ends in one).
pub fn counter_value(bytes: &[u8]) -> Option<i64> {
    if let Ok(le) = <[u8; 8]>::try_from(bytes)
        && le[7] == 0
    {
        return Some(i64::from_le_bytes(le));
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// The `RateLimit-Policy` field for a key's limits (`None` without any): items `"rate"`
/// and `"quota"` with `q` (the limit) and `w` (the window in seconds).
pub fn policy_field(rate: Option<&LimitState>, quota: Option<&LimitState>) -> Option<String> {
    field(rate, quota, |s| format!("q={};w={}", s.limit, s.window))
}

/// The `RateLimit` field: items `"rate"` and `"quota"` with `r` (remaining) and `t` (seconds
/// until the window ends).
pub fn state_field(rate: Option<&LimitState>, quota: Option<&LimitState>) -> Option<String> {
    field(rate, quota, |s| format!("r={};t={}", s.remaining, s.reset))
}

/// A structured-field list of the `"rate"` and `"quota"` items, each with `parameters`.
fn field(
    rate: Option<&LimitState>,
    quota: Option<&LimitState>,
    parameters: impl Fn(&LimitState) -> String,
) -> Option<String> {
    let items: Vec<String> = [("rate", rate), ("quota", quota)]
        .into_iter()
        .filter_map(|(name, state)| state.map(|s| format!("\"{name}\";{}", parameters(s))))
        .collect();
    (!items.is_empty()).then(|| items.join(", "))
}

#[cfg(test)]
mod tests;
