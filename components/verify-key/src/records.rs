//! The presented key's verification record: read from the key-value store, or, when the
//! deployment sets `verify_cache_ms`, from what this instance read at most that long ago
//! (`keys_domain::cache`). With the cache off (the default) every verification reads.

use keys_domain::Error;
use keys_domain::cache::{CachePolicy, Cached, RecordCache};
use keys_domain::key::KeyHash;
use keys_domain::record::record_key;
use keys_spin::kv::LazyKv;
use spin_sdk::wasip3::clocks::monotonic_clock;
use std::cell::RefCell;
use std::ops::Deref;
use std::rc::Rc;

thread_local! {
    /// This instance's record cache, made by its first verification when the policy has one.
    static CACHE: RefCell<Option<RecordCache>> = const { RefCell::new(None) };
}

/// A record's bytes, as read now or as kept by the cache.
pub enum RecordBytes {
    Read(Vec<u8>),
    Cached(Rc<[u8]>),
}

impl Deref for RecordBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Read(bytes) => bytes,
            Self::Cached(bytes) => bytes,
        }
    }
}

/// What is known of a key's record, and where it came from.
pub struct Lookup {
    /// The record (`None`: the store has none).
    pub record: Option<RecordBytes>,
    /// Whether the answer came from the cache (no store call was made).
    pub cached: bool,
}

/// The record of the key hashed `hash`. A cache hit makes no store call and does not suspend.
pub async fn lookup(kv: &LazyKv, hash: &KeyHash) -> Result<Lookup, Error> {
    let CachePolicy::For(bound) = keys_spin::config::verify_cache().await? else {
        let record = read(kv, hash).await?.map(RecordBytes::Read);
        return Ok(Lookup {
            record,
            cached: false,
        });
    };
    let started = monotonic_clock::now();
    let known = CACHE.with_borrow_mut(|cache| {
        cache
            .get_or_insert_with(|| RecordCache::new(bound))
            .get(hash, started)
    });
    let (record, cached) = match known {
        Cached::Found(bytes) => (Some(RecordBytes::Cached(bytes)), true),
        Cached::NotFound => (None, true),
        Cached::Unknown => {
            let record = read(kv, hash).await?;
            let now = monotonic_clock::now();
            CACHE.with_borrow_mut(|cache| {
                if let Some(cache) = cache {
                    cache.put(*hash, record.as_deref(), started, now);
                }
            });
            (record.map(RecordBytes::Read), false)
        }
    };
    Ok(Lookup { record, cached })
}

async fn read(kv: &LazyKv, hash: &KeyHash) -> Result<Option<Vec<u8>>, Error> {
    kv.get().await?.get(&record_key(&hash.to_hex())).await
}
