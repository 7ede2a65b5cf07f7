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
//!   holding no new shape costs no store call beyond usage's, and reads nothing.
//! - **In SQLite**, usage's fold reads each key's slots, then the shapes' counters, of every
//!   hour it folds, and adds them to `access_daily` (kept [`DAILY_RETENTION`] days) in the
//!   same transaction; reads combine those rows with the hours not folded yet.
//!
//! # Bounds
//!
//! A key counts at most [`MAX_SHAPES_PER_HOUR`] shapes an hour (its slots) and an instance's
//! batch at most [`MAX_BATCH_SHAPES`]: past either, a call is counted as the shape
//! [`OTHER`] / [`OTHER`] with its code, and the review says it is not complete. A shape
//! whose slot falls past the hour's bound is [moved](place) there: its counter is deleted
//! and its calls added to the [`OTHER`] shape's (whose slots are not bounded: three codes at
//! most), so the store holds at most about that many shapes per key and hour whatever a
//! caller sends. Method names and company ids are checked by their grammar before they are
//! counted; a malformed one is counted as [`OTHER`]. What an instance loses when it crashes
//! between creating a shape's counter and writing its slot is that shape's calls of the
//! hour; calls another instance adds to a shape while it is moved past the bound are lost.

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

/// A shape's method or company for what a query named: the name, or [`OTHER`] for a
/// malformed one, [`EVERY`] or [`NONE`] when it named none.
fn field(named: Option<&str>, valid: fn(&str) -> bool, strict: bool) -> &str {
    match named {
        Some(name) if valid(name) => name,
        Some(_) => OTHER,
        None if strict => EVERY,
        None => NONE,
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
    /// the code is not counted). Allocates only for a shape the batch does not hold yet.
    pub fn add(&mut self, key_id: &str, code: VerifyCode, query: &VerifyQuery<'_>, now: Timestamp) {
        if !ACCESS_CODES.contains(&code) {
            return;
        }
        let method = field(query.method, is_method_name, query.strict);
        let company = field(query.company, is_company_id, query.strict);
        let hour = Granularity::Hour.bucket(now);
        let mut bump = |method: &str, company: &str| {
            self.counts
                .iter_mut()
                .find(|c| {
                    c.hour == hour
                        && c.shape.code == code
                        && c.shape.method == method
                        && c.shape.company == company
                        && c.key_id == key_id
                })
                .map(|c| c.calls += 1)
                .is_some()
        };
        if bump(method, company) {
            return;
        }
        let full = self.named >= MAX_BATCH_SHAPES && method != OTHER && company != OTHER;
        if full && bump(OTHER, OTHER) {
            return;
        }
        let shape = if full {
            Shape::other(code)
        } else {
            Shape {
                code,
                method: method.to_owned(),
                company: company.to_owned(),
            }
        };
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

/// The usage counts `counts` hold: calls by (hour, key id, code), summed over shapes, in
/// order of first appearance (usage counts these codes through the access counts only).
pub fn by_code(counts: &[HourCount]) -> Vec<(i64, &str, VerifyCode, u64)> {
    let mut sums: Vec<(i64, &str, VerifyCode, u64)> = Vec::new();
    for c in counts {
        let calls = c.calls.max(0) as u64;
        match sums
            .iter_mut()
            .find(|(h, k, code, _)| *h == c.hour && *code == c.shape.code && *k == c.key_id)
        {
            Some((.., n)) => *n += calls,
            None => sums.push((c.hour, &c.key_id, c.shape.code, calls)),
        }
    }
    sums
}

/// The increments writing `counts`, one per entry, in its order.
pub fn increments(counts: &[HourCount]) -> Vec<Increment> {
    counts
        .iter()
        .map(|c| Increment {
            counter: counter_key(c.hour, &c.key_id, &c.shape),
            delta: c.calls,
        })
        .collect()
}

/// Shapes one key created in one hour: the first write of their counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// Hours since the epoch.
    pub hour: i64,
    /// The key.
    pub key_id: String,
    /// Each shape, with the calls its counter was created with.
    pub shapes: Vec<(Shape, i64)>,
}

impl Created {
    /// The increment taking their slots.
    pub fn slot_count(&self) -> Increment {
        Increment {
            counter: slots_key(self.hour, &self.key_id),
            delta: self.shapes.len() as i64,
        }
    }
}

/// The shapes `increments` created (the counter's new value is the increment's own delta),
/// grouped by (hour, key): each group takes that many slots with one increment.
pub fn new_shapes(increments: &[Increment], values: &[i64]) -> Vec<Created> {
    let mut groups: Vec<Created> = Vec::new();
    for (increment, value) in increments.iter().zip(values) {
        if *value != increment.delta {
            continue;
        }
        let Some((hour, key_id, shape)) = parse_counter(&increment.counter) else {
            continue;
        };
        let Some(shape) = Shape::decode(&shape) else {
            continue;
        };
        let entry = (shape, increment.delta);
        match groups
            .iter_mut()
            .find(|g| g.hour == hour && g.key_id == key_id)
        {
            Some(group) => group.shapes.push(entry),
            None => groups.push(Created {
                hour,
                key_id,
                shapes: vec![entry],
            }),
        }
    }
    groups
}

/// Where a group of created shapes goes, given the slot counter's value after the group's
/// increment (`last`): the slots to write (slot key, encoded shape), and, for the shapes
/// whose slot falls past [`MAX_SHAPES_PER_HOUR`] (an [`OTHER`] shape never does), the
/// counters to delete and the increments moving their calls to the [`OTHER`] shape.
pub fn place(group: &Created, last: i64) -> Placed {
    let first = last - group.shapes.len() as i64 + 1;
    let mut placed = Placed::default();
    for ((shape, calls), slot) in group.shapes.iter().zip(first..) {
        if slot <= MAX_SHAPES_PER_HOUR || shape.is_other() {
            placed
                .slots
                .push((slot_key(group.hour, &group.key_id, slot), shape.encode()));
        } else {
            placed
                .dropped
                .push(counter_key(group.hour, &group.key_id, shape));
            placed.moved.push(Increment {
                counter: counter_key(group.hour, &group.key_id, &Shape::other(shape.code)),
                delta: *calls,
            });
        }
    }
    placed
}

/// What [`place`] decided for a group of created shapes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Placed {
    /// Slots to write: (slot key, encoded shape).
    pub slots: Vec<(String, String)>,
    /// Counters of shapes past the bound, to delete.
    pub dropped: Vec<String>,
    /// Their calls, added to the [`OTHER`] shape of their code.
    pub moved: Vec<Increment>,
}

/// The (hour, key id, encoded shape) a [`counter_key`] names.
fn parse_counter(name: &str) -> Option<(i64, String, String)> {
    let rest = name.strip_prefix(ACCESS_PREFIX)?.strip_prefix("h:")?;
    let (hour, rest) = rest.split_once(':')?;
    let (key_id, shape) = rest.split_once(":c:")?;
    Some((hour.parse().ok()?, key_id.to_owned(), shape.to_owned()))
}

#[cfg(test)]
mod tests;
