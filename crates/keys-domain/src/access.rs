//! Access counting for the access review: every verification of a key answered `VALID`,
//! `METHOD_NOT_ALLOWED` or `COMPANY_NOT_ALLOWED`, counted by the method and company it named
//! (its [`Shape`]), per key and UTC hour at the edge, then per key and UTC day in SQLite.
//! What the counts say about a key is [`review`].
//!
//! # Where the counts live
//!
//! - **At the edge**, each verify-key instance gathers its verifications in a [`Batch`] and
//!   writes them with usage's batch: one key-value increment per key, hour and shape
//!   ([`counter_key`]), in the same call as usage's increments. A shape's counter cannot be
//!   listed (a key-value store has no cheap listing), so the instance whose increment created
//!   it (the answer equals its own delta) registers it: it takes the next slot of the key's
//!   hour ([`slots_key`], an increment) and writes the shape there ([`slot_key`]). A batch
//!   holding no new shape costs no store call beyond usage's.
//! - **In SQLite**, usage's fold reads each key's slots, then the shapes' counters, of every
//!   hour it folds, and adds them to `access_daily` (kept [`DAILY_RETENTION`] days) in the
//!   same transaction; reads combine those rows with the hours not folded yet.
//!
//! # Bounds
//!
//! A key counts at most [`MAX_SHAPES_PER_HOUR`] shapes an hour (its slots) and an instance's
//! batch at most [`MAX_BATCH_SHAPES`]: past either, a call is counted as the shape
//! [`OTHER`] / [`OTHER`] with its code, and the review says it is not complete. Method names
//! and company ids are checked by their grammar before they are counted; a malformed one is
//! counted as [`OTHER`]. What an instance loses when it crashes between creating a shape's
//! counter and writing its slot is that shape's calls of the hour.

pub mod review;

use crate::increments::Increment;
use crate::permissions::{is_company_id, is_method_name};
use crate::time::Timestamp;
use crate::usage::Granularity;
use crate::verify::{VerifyCode, VerifyQuery};

pub use crate::usage::DAILY_RETENTION;

/// Prefix of every access counter, slot and slot count.
pub const ACCESS_PREFIX: &str = "acc:";
/// The codes counted: a call the key made, or one its permissions refused.
pub const ACCESS_CODES: [VerifyCode; 3] = [
    VerifyCode::Valid,
    VerifyCode::MethodNotAllowed,
    VerifyCode::CompanyNotAllowed,
];
/// Most shapes a key counts in one UTC hour; later new shapes count as [`OTHER`].
pub const MAX_SHAPES_PER_HOUR: i64 = 1000;
/// Most shapes one instance's batch holds; later new shapes count as [`OTHER`].
pub const MAX_BATCH_SHAPES: usize = 256;
/// A method or company past the bounds, or malformed: not a valid name of either kind.
pub const OTHER: &str = "(other)";
/// The method or company of a call that named none although the key had to allow every one
/// (a gateway interface's strict check, `VerifyQuery::strict`): it needed the `*` grant or
/// every company.
pub const EVERY: &str = "*";
/// The method or company of a call that named none and needed none.
pub const NONE: &str = "";

/// What a counted verification named: its code, method and company, each a name, [`NONE`],
/// [`EVERY`] or [`OTHER`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Shape {
    /// `VALID`, `METHOD_NOT_ALLOWED` or `COMPANY_NOT_ALLOWED`.
    pub code: VerifyCode,
    /// The method, [`NONE`], [`EVERY`] or [`OTHER`].
    pub method: String,
    /// The company, [`NONE`], [`EVERY`] or [`OTHER`].
    pub company: String,
}

impl Shape {
    /// The shape of a verification answered `code`, or `None` when that code is not counted.
    /// `strict` says whether an unnamed method or company had to be allowed in full.
    pub fn of(code: VerifyCode, query: &VerifyQuery<'_>) -> Option<Self> {
        if !ACCESS_CODES.contains(&code) {
            return None;
        }
        let field = |named: Option<&str>, valid: fn(&str) -> bool| match named {
            Some(name) if valid(name) => name.to_owned(),
            Some(_) => OTHER.to_owned(),
            None if query.strict => EVERY.to_owned(),
            None => NONE.to_owned(),
        };
        Some(Self {
            code,
            method: field(query.method, is_method_name),
            company: field(query.company, is_company_id),
        })
    }

    /// The shape standing for calls past the bounds.
    pub fn other(code: VerifyCode) -> Self {
        Self {
            code,
            method: OTHER.to_owned(),
            company: OTHER.to_owned(),
        }
    }

    /// The text a slot holds and a counter's name ends with: `CODE:method:company` (a method
    /// has no `:`; a company may, so it comes last).
    pub fn encode(&self) -> String {
        format!("{}:{}:{}", self.code.as_str(), self.method, self.company)
    }

    /// Reads [`Shape::encode`]'s text.
    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, ':');
        let code = parts.next()?;
        let code = ACCESS_CODES.into_iter().find(|c| c.as_str() == code)?;
        let method = parts.next()?;
        let company = parts.next()?;
        let known =
            |s: &str, valid: fn(&str) -> bool| [NONE, EVERY, OTHER].contains(&s) || valid(s);
        (known(method, is_method_name) && known(company, is_company_id)).then(|| Self {
            code,
            method: method.to_owned(),
            company: company.to_owned(),
        })
    }

    /// Whether this is the shape of calls past the bounds (or malformed).
    pub fn is_other(&self) -> bool {
        self.method == OTHER || self.company == OTHER
    }
}

/// The number of slots `key_id` has taken in hour `hour` (a counter).
pub fn slots_key(hour: i64, key_id: &str) -> String {
    format!("{ACCESS_PREFIX}h:{hour}:{key_id}:n")
}

/// Slot `slot` (from 1) of `key_id` in hour `hour`: the encoded shape registered there.
pub fn slot_key(hour: i64, key_id: &str, slot: i64) -> String {
    format!("{ACCESS_PREFIX}h:{hour}:{key_id}:s:{slot}")
}

/// The counter of `key_id`'s calls of `shape` in hour `hour`.
pub fn counter_key(hour: i64, key_id: &str, shape: &Shape) -> String {
    format!("{ACCESS_PREFIX}h:{hour}:{key_id}:c:{}", shape.encode())
}

/// One shape's calls of one key in one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourCount {
    /// Hours since the epoch.
    pub hour: i64,
    /// The key.
    pub key_id: String,
    /// What the calls named.
    pub shape: Shape,
    /// How many.
    pub calls: i64,
}

/// The verifications an instance has counted by shape and not yet written.
#[derive(Debug, Default)]
pub struct Batch {
    /// A short list, searched linearly (verify-key stays small), of at most
    /// [`MAX_BATCH_SHAPES`] shapes plus one [`OTHER`] shape per key, hour and code.
    counts: Vec<HourCount>,
    /// How many entries are not [`OTHER`] shapes.
    named: usize,
}

impl Batch {
    /// Counts one verification of `key_id` answered `code` for `query` at `now` (nothing when
    /// the code is not counted).
    pub fn add(&mut self, key_id: &str, code: VerifyCode, query: &VerifyQuery<'_>, now: Timestamp) {
        let Some(mut shape) = Shape::of(code, query) else {
            return;
        };
        let hour = Granularity::Hour.bucket(now);
        let found = |counts: &mut Vec<HourCount>, shape: &Shape| {
            counts
                .iter_mut()
                .find(|c| c.hour == hour && c.shape == *shape && c.key_id == key_id)
                .map(|c| c.calls += 1)
                .is_some()
        };
        if found(&mut self.counts, &shape) {
            return;
        }
        if self.named >= MAX_BATCH_SHAPES && !shape.is_other() {
            shape = Shape::other(code);
            if found(&mut self.counts, &shape) {
                return;
            }
        }
        if !shape.is_other() {
            self.named += 1;
        }
        self.counts.push(HourCount {
            hour,
            key_id: key_id.to_owned(),
            shape,
            calls: 1,
        });
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Empties the batch.
    pub fn drain(&mut self) -> Vec<HourCount> {
        self.named = 0;
        std::mem::take(&mut self.counts)
    }
}

/// The distinct (hour, key) pairs of `counts`, in order of first appearance: the slot
/// counts a batch reads before it is written.
pub fn key_hours(counts: &[HourCount]) -> Vec<(i64, String)> {
    let mut pairs: Vec<(i64, String)> = Vec::new();
    for c in counts {
        if !pairs.iter().any(|(h, k)| *h == c.hour && *k == c.key_id) {
            pairs.push((c.hour, c.key_id.clone()));
        }
    }
    pairs
}

/// The increments writing `counts`, one per entry in its order. `full` holds the (hour,
/// key) pairs whose slots were all taken when the batch began: a shape of theirs counts as
/// [`OTHER`] unless `exists` says its counter exists already (it was registered earlier).
pub fn increments(
    counts: &[HourCount],
    full: &[(i64, String)],
    exists: impl Fn(&HourCount) -> bool,
) -> Vec<Increment> {
    counts
        .iter()
        .map(|c| {
            let is_full = full.iter().any(|(h, k)| *h == c.hour && *k == c.key_id);
            let shape = if is_full && !c.shape.is_other() && !exists(c) {
                Shape::other(c.shape.code)
            } else {
                c.shape.clone()
            };
            Increment {
                counter: counter_key(c.hour, &c.key_id, &shape),
                delta: c.calls,
            }
        })
        .collect()
}

/// The shapes a batch's increments created (the counter's new value is the batch's own
/// delta), grouped by (hour, key): each group takes that many slots with one increment of
/// [`slots_key`]. Returned as (hour, key id, encoded shapes).
pub fn new_shapes(increments: &[Increment], values: &[i64]) -> Vec<(i64, String, Vec<String>)> {
    let mut groups: Vec<(i64, String, Vec<String>)> = Vec::new();
    for (increment, value) in increments.iter().zip(values) {
        if *value != increment.delta {
            continue;
        }
        let Some((hour, key_id, shape)) = parse_counter(&increment.counter) else {
            continue;
        };
        match groups
            .iter_mut()
            .find(|(h, k, _)| *h == hour && *k == key_id)
        {
            Some((.., shapes)) => shapes.push(shape),
            None => groups.push((hour, key_id, vec![shape])),
        }
    }
    groups
}

/// The (hour, key id, encoded shape) a [`counter_key`] names.
fn parse_counter(name: &str) -> Option<(i64, String, String)> {
    let rest = name.strip_prefix(ACCESS_PREFIX)?.strip_prefix("h:")?;
    let (hour, rest) = rest.split_once(':')?;
    let (key_id, shape) = rest.split_once(":c:")?;
    Some((hour.parse().ok()?, key_id.to_owned(), shape.to_owned()))
}

/// The slots a group of `count` new shapes took, given the slot counter's value after its
/// increment by `count`: `value - count + 1 ..= value`.
pub fn taken_slots(value: i64, count: usize) -> std::ops::RangeInclusive<i64> {
    value - count as i64 + 1..=value
}

#[cfg(test)]
mod tests;
