//! The bounded-staleness record cache of an edge instance (`verify_cache_ms`).
//!
//! By default every verification reads its key's record from the key-value store, so a
//! revocation holds at every edge as soon as the admin call that made it returns. An operator
//! may trade that for throughput: with `verify_cache_ms = N` (1 to [`MAX_CACHE_MS`]), an
//! instance answers from a record — found or not found — that it read at most N ms earlier.
//! A change then reaches every edge at most N ms after the admin call returns.
//!
//! An entry's age counts from the moment its read *started*: a read that starts after the
//! admin call returned sees the change, so no entry outlives the change by more than N ms.
//!
//! Entries are keyed by the key's SHA-256 ([`KeyHash`]): the cache holds no secret, only
//! what the store holds. It is bounded twice over, whatever the traffic: found records by
//! count ([`FOUND_ENTRIES`]) and by size ([`FOUND_BYTES`]), not-found hashes by count
//! ([`NOT_FOUND_ENTRIES`]), in two separate parts so that a flood of unknown keys cannot push
//! out the records of live ones. When a part is full the oldest entry goes first (every entry
//! lives for the same time, so it is also the one that would have expired first).

use crate::key::KeyHash;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

/// The longest `verify_cache_ms` accepted: 5 s.
pub const MAX_CACHE_MS: u64 = 5_000;
/// Most found records one instance keeps.
pub const FOUND_ENTRIES: usize = 4_096;
/// Most bytes of found records one instance keeps (records are a few hundred bytes).
pub const FOUND_BYTES: usize = 2 * 1024 * 1024;
/// Most not-found hashes one instance keeps.
pub const NOT_FOUND_ENTRIES: usize = 4_096;

/// What the `verify_cache_ms` variable asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// Every verification reads its record (`0` or empty: the default).
    Off,
    /// Answers from records read at most this long ago.
    For(Duration),
}

impl CachePolicy {
    /// Parses the variable: empty or `0` is [`CachePolicy::Off`], `1` to [`MAX_CACHE_MS`]
    /// (milliseconds, digits only) a bounded cache; anything else is refused with the reason.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self::Off);
        }
        let ms = text
            .parse::<u64>()
            .ok()
            .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
            .filter(|&ms| ms <= MAX_CACHE_MS)
            .ok_or_else(|| {
                format!(
                    "verify_cache_ms must be a whole number of milliseconds from 0 to \
                     {MAX_CACHE_MS}, not {text:?}"
                )
            })?;
        Ok(match ms {
            0 => Self::Off,
            ms => Self::For(Duration::from_millis(ms)),
        })
    }

    /// The bound in milliseconds (0 when off), as the health route reports it.
    pub fn millis(self) -> u64 {
        match self {
            Self::Off => 0,
            Self::For(bound) => u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// What the cache knows of a key's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// Nothing fresh enough: read the store.
    Unknown,
    /// The store had no record.
    NotFound,
    /// The store had this record.
    Found(Rc<[u8]>),
}

/// Records read recently by this instance, each answerable for the cache's bound. Time is
/// monotonic nanoseconds, given by the caller.
pub struct RecordCache {
    bound: u64,
    found: Part,
    not_found: Part,
}

impl RecordCache {
    /// An empty cache whose entries may be answered from for `bound`.
    pub fn new(bound: Duration) -> Self {
        Self {
            bound: u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX),
            found: Part::new(FOUND_ENTRIES, FOUND_BYTES),
            not_found: Part::new(NOT_FOUND_ENTRIES, usize::MAX),
        }
    }

    /// What is known of `hash` at `now`; an entry older than the bound is dropped and is
    /// [`Cached::Unknown`].
    pub fn get(&mut self, hash: &KeyHash, now: u64) -> Cached {
        let bound = self.bound;
        for part in [&mut self.found, &mut self.not_found] {
            let Some(entry) = part.entries.get(hash) else {
                continue;
            };
            if now.saturating_sub(entry.read_at) > bound {
                part.remove(hash);
                return Cached::Unknown;
            }
            return match &entry.record {
                Some(record) => Cached::Found(record.clone()),
                None => Cached::NotFound,
            };
        }
        Cached::Unknown
    }

    /// Keeps what a read of `hash` that started at `read_at` found (`None`: no record). A
    /// record larger than the cache's byte bound is not kept.
    pub fn put(&mut self, hash: KeyHash, record: Option<&[u8]>, read_at: u64, now: u64) {
        self.found.expire(self.bound, now);
        self.not_found.expire(self.bound, now);
        // A key is in one part at most: a newer read replaces what an older one found.
        self.found.remove(&hash);
        self.not_found.remove(&hash);
        if now.saturating_sub(read_at) > self.bound {
            return;
        }
        match record {
            Some(record) => self.found.insert(hash, Some(record.into()), read_at),
            None => self.not_found.insert(hash, None, read_at),
        }
    }
}

struct Entry {
    record: Option<Rc<[u8]>>,
    read_at: u64,
}

/// One part of the cache: its entries, and their order of reading (oldest first; an
/// entry replaced since leaves a stale item, skipped when it comes up).
struct Part {
    entries: HashMap<KeyHash, Entry>,
    order: VecDeque<(KeyHash, u64)>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl Part {
    fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    fn insert(&mut self, hash: KeyHash, record: Option<Rc<[u8]>>, read_at: u64) {
        let size = record.as_ref().map_or(0, |r| r.len());
        if size > self.max_bytes {
            return;
        }
        while self.entries.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            if !self.pop_oldest() {
                break;
            }
        }
        self.bytes += size;
        self.entries.insert(hash, Entry { record, read_at });
        self.order.push_back((hash, read_at));
        // Stale items (entries replaced or dropped) never outnumber the live ones for long.
        if self.order.len() > 2 * self.max_entries.max(self.entries.len()) {
            let entries = &self.entries;
            self.order
                .retain(|(hash, at)| entries.get(hash).is_some_and(|e| e.read_at == *at));
        }
    }

    /// Drops the oldest entry; `false` when there is none.
    fn pop_oldest(&mut self) -> bool {
        while let Some((hash, at)) = self.order.pop_front() {
            if self.entries.get(&hash).is_some_and(|e| e.read_at == at) {
                self.remove(&hash);
                return true;
            }
        }
        false
    }

    /// Drops every entry read more than `bound` before `now`.
    fn expire(&mut self, bound: u64, now: u64) {
        while let Some(&(hash, at)) = self.order.front() {
            if now.saturating_sub(at) <= bound {
                break;
            }
            self.order.pop_front();
            if self.entries.get(&hash).is_some_and(|e| e.read_at == at) {
                self.remove(&hash);
            }
        }
    }

    fn remove(&mut self, hash: &KeyHash) {
        if let Some(entry) = self.entries.remove(hash) {
            self.bytes -= entry.record.map_or(0, |r| r.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn hash(n: u32) -> KeyHash {
        KeyHash::of(&format!("key {n}"))
    }

    fn cache_of(ms: u64) -> RecordCache {
        RecordCache::new(Duration::from_millis(ms))
    }

    /// How many entries the cache holds (found, not found).
    fn len(cache: &RecordCache) -> (usize, usize) {
        (cache.found.entries.len(), cache.not_found.entries.len())
    }

    #[test]
    fn an_empty_or_zero_setting_turns_the_cache_off() {
        assert_eq!(CachePolicy::parse(""), Ok(CachePolicy::Off));
        assert_eq!(CachePolicy::parse(" 0 "), Ok(CachePolicy::Off));
        assert_eq!(CachePolicy::Off.millis(), 0);
    }

    #[test]
    fn a_setting_from_one_to_five_thousand_bounds_the_cache() {
        assert_eq!(
            CachePolicy::parse("1"),
            Ok(CachePolicy::For(Duration::from_millis(1)))
        );
        let most = CachePolicy::parse("5000").unwrap();
        assert_eq!(most, CachePolicy::For(Duration::from_secs(5)));
        assert_eq!(most.millis(), 5_000);
    }

    #[test]
    fn any_other_setting_is_refused_with_its_range() {
        for text in [
            "5001",
            "-1",
            "+5",
            "1.5",
            "1s",
            "ten",
            "99999999999999999999",
        ] {
            let err = CachePolicy::parse(text).unwrap_err();
            assert!(err.contains("0 to 5000"), "{text}: {err}");
        }
    }

    #[test]
    fn a_record_is_answered_until_its_bound_and_not_after() {
        let mut cache = cache_of(1_000);
        cache.put(hash(1), Some(b"record"), 0, 2 * MS);
        assert_eq!(
            cache.get(&hash(1), 1_000 * MS),
            Cached::Found(Rc::from(&b"record"[..]))
        );
        assert_eq!(cache.get(&hash(1), 1_000 * MS + 1), Cached::Unknown);
        assert_eq!(len(&cache), (0, 0));
    }

    #[test]
    fn age_counts_from_when_the_read_started() {
        let mut cache = cache_of(100);
        // A read that took 80 ms leaves 20 ms to answer from.
        cache.put(hash(1), Some(b"r"), 0, 80 * MS);
        assert_ne!(cache.get(&hash(1), 100 * MS), Cached::Unknown);
        assert_eq!(cache.get(&hash(1), 101 * MS), Cached::Unknown);
        // A read that outlived the bound is not kept at all.
        cache.put(hash(2), Some(b"r"), 0, 150 * MS);
        assert_eq!(cache.get(&hash(2), 150 * MS), Cached::Unknown);
    }

    #[test]
    fn a_missing_record_is_remembered_as_not_found() {
        let mut cache = cache_of(1_000);
        cache.put(hash(1), None, 0, 0);
        assert_eq!(cache.get(&hash(1), 10 * MS), Cached::NotFound);
        assert_eq!(cache.get(&hash(2), 10 * MS), Cached::Unknown);
    }

    #[test]
    fn a_newer_read_replaces_what_an_older_one_found() {
        let mut cache = cache_of(1_000);
        cache.put(hash(1), None, 0, 0);
        cache.put(hash(1), Some(b"now live"), 5 * MS, 6 * MS);
        assert_eq!(
            cache.get(&hash(1), 7 * MS),
            Cached::Found(Rc::from(&b"now live"[..]))
        );
        cache.put(hash(1), None, 8 * MS, 9 * MS);
        assert_eq!(cache.get(&hash(1), 10 * MS), Cached::NotFound);
        assert_eq!(len(&cache), (0, 1));
        assert_eq!(cache.found.bytes, 0);
    }

    #[test]
    fn a_flood_of_unknown_keys_stays_within_its_bound_and_keeps_live_records() {
        let mut cache = cache_of(5_000);
        cache.put(hash(0), Some(b"live"), 0, 0);
        for n in 1..=3 * NOT_FOUND_ENTRIES as u32 {
            cache.put(hash(n), None, u64::from(n), u64::from(n));
            assert!(len(&cache).1 <= NOT_FOUND_ENTRIES);
        }
        assert_eq!(len(&cache), (1, NOT_FOUND_ENTRIES));
        assert_eq!(
            cache.get(&hash(0), MS),
            Cached::Found(Rc::from(&b"live"[..]))
        );
        // The oldest not-found entries went first.
        assert_eq!(cache.get(&hash(1), MS), Cached::Unknown);
        let newest = 3 * NOT_FOUND_ENTRIES as u32;
        assert_eq!(cache.get(&hash(newest), MS), Cached::NotFound);
    }

    #[test]
    fn found_records_are_bounded_by_count() {
        let mut cache = cache_of(5_000);
        for n in 0..FOUND_ENTRIES as u32 + 10 {
            cache.put(hash(n), Some(b"r"), 0, 0);
        }
        assert_eq!(len(&cache).0, FOUND_ENTRIES);
        assert_eq!(cache.get(&hash(0), 0), Cached::Unknown);
    }

    #[test]
    fn found_records_are_bounded_by_bytes() {
        let mut cache = cache_of(5_000);
        let record = vec![7u8; 64 * 1024];
        for n in 0..64 {
            cache.put(hash(n), Some(&record), 0, 0);
            assert!(cache.found.bytes <= FOUND_BYTES);
        }
        assert_eq!(len(&cache).0, FOUND_BYTES / record.len());
        let huge = vec![0u8; FOUND_BYTES + 1];
        cache.put(hash(100), Some(&huge), 0, 0);
        assert_eq!(cache.get(&hash(100), 0), Cached::Unknown);
    }

    #[test]
    fn expired_entries_leave_when_new_ones_come() {
        let mut cache = cache_of(10);
        for n in 0..100 {
            cache.put(hash(n), Some(b"r"), 0, 0);
        }
        cache.put(hash(1_000), None, 11 * MS, 11 * MS);
        assert_eq!(len(&cache), (0, 1));
        assert_eq!(cache.found.bytes, 0);
    }

    #[test]
    fn rereading_one_key_again_and_again_keeps_the_order_bounded() {
        let mut cache = cache_of(1_000);
        for t in 0..100_000u64 {
            cache.put(hash(1), Some(b"r"), t, t);
        }
        assert_eq!(len(&cache), (1, 0));
        assert!(cache.found.order.len() <= 2 * FOUND_ENTRIES);
    }
}
