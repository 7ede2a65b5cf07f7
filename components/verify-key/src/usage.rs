//! Usage counting at the edge: each instance gathers its verifications in memory and writes
//! them to the key-value store's hourly counters in one batch (`keys_domain::usage`).
//!
//! The first verification added to an empty batch schedules a task, run after its response
//! has been handed over, that waits [`FLUSH_INTERVAL`] and then writes the batch: each key's
//! `last_used_at` when the stored one is [`LAST_USED_RESOLUTION_SECS`](keys_domain::record::LAST_USED_RESOLUTION_SECS) old or more (a read,
//! and at most a write a minute per key), then one increment per key, code and hour whatever
//! the number of verifications, sent with the leases' unused units to `kv-proxy` in one call
//! (see `keys_spin::kv`). The same call carries the access counts by method and company
//! (`keys_domain::access`), which are also the usage counts of `VALID`, `METHOD_NOT_ALLOWED`
//! and `COMPANY_NOT_ALLOWED`; the shapes it creates then take their slots, two more calls
//! that a batch of known shapes never makes. Spin keeps an instance until its tasks end, so an
//! instance that is retired (after its reuse count) or goes idle writes its batch first. What
//! an instance holds when it crashes (a trap, the process killed) is lost: at most its last
//! [`FLUSH_INTERVAL`] of verifications. A batch whose writing fails is dropped, and logged.

use keys_domain::Error;
use keys_domain::access::{self, Batch};
use keys_domain::increments::Increment;
use keys_domain::record::{last_used_due, last_used_key};
use keys_domain::time::Timestamp;
use keys_domain::usage::Pending;
use keys_domain::verify::{VerifyCode, VerifyQuery};
use keys_spin::deadline::EDGE_STORE_DEADLINE;
use keys_spin::kv::Kv;
use spin_sdk::wasip3::clocks::monotonic_clock;
use std::cell::{Cell, RefCell};
use std::time::Duration;

/// How long a batch gathers verifications before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

thread_local! {
    /// This instance's verifications not yet written.
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
    /// This instance's access counts not yet written.
    static ACCESS: RefCell<Batch> = RefCell::new(Batch::default());
    /// Whether a task to write them is scheduled.
    static SCHEDULED: Cell<bool> = const { Cell::new(false) };
}

/// Counts one verification attributed to `key_id`, by code and by what it named.
pub fn count(key_id: &str, code: VerifyCode, query: &VerifyQuery<'_>, now: Timestamp) {
    PENDING.with(|p| p.borrow_mut().add(key_id, code, now));
    ACCESS.with(|a| a.borrow_mut().add(key_id, code, query, now));
}

/// Schedules the batch's writing unless it is empty or already scheduled. Called once the
/// response is built, so that the task starts after the response is handed over.
pub fn schedule() {
    let empty = PENDING.with(|p| p.borrow().is_empty()) && ACCESS.with(|a| a.borrow().is_empty());
    if SCHEDULED.get() || empty {
        return;
    }
    SCHEDULED.set(true);
    spin_sdk::wit_bindgen::spawn(async {
        let nanos = u64::try_from(FLUSH_INTERVAL.as_nanos()).unwrap_or(u64::MAX);
        monotonic_clock::wait_for(nanos).await;
        SCHEDULED.set(false);
        flush().await;
    });
}

/// Writes the batch: the last-use entries first (plain reads and writes, which show the
/// store answers), then, in one call to `kv-proxy`, the units this instance's leases give back
/// and the counts, usage's and access's, then the slots of the shapes that call created.
async fn flush() {
    let (mut increments, last_valid) = PENDING.with(|p| p.borrow_mut().drain());
    let counts = ACCESS.with(|a| a.borrow_mut().drain());
    let result = async {
        let kv = Kv::open(EDGE_STORE_DEADLINE).await?;
        let names: Vec<String> = last_valid.iter().map(|(id, _)| last_used_key(id)).collect();
        let stored = kv.get_many(&names).await?;
        for ((name, (_, at)), stored) in names.iter().zip(&last_valid).zip(stored) {
            if last_used_due(stored.as_deref(), *at) {
                kv.set(name, at.unix().to_string().as_bytes()).await?;
            }
        }
        let mut all = crate::limits::leases_to_give_back(Timestamp::now());
        all.append(&mut increments);
        let first_access = all.len();
        all.extend(access::increments(&counts));
        let values = kv.increment_many(&all).await?;
        register(&kv, &all[first_access..], &values[first_access..]).await
    };
    if let Err(err) = result.await {
        eprintln!("warning: usage counts of this instance were lost: {err:#}");
    }
}

/// Registers the shapes whose counters `written` created (`values`: the counters' new
/// values): each key hour takes as many slots as it has new shapes, with one increment, and
/// writes them there; shapes past the hour's bound move to the `(other)` shape, which is
/// registered in turn when that creates it (a second pass, of `(other)` shapes only).
async fn register(kv: &Kv, written: &[Increment], values: &[i64]) -> Result<(), Error> {
    let mut created = access::new_shapes(written, values);
    while !created.is_empty() {
        let slot_counts: Vec<Increment> = created.iter().map(access::Created::slot_count).collect();
        let taken = kv.increment_many(&slot_counts).await?;
        let (mut dropped, mut moved) = (Vec::new(), Vec::new());
        for (group, last) in created.iter().zip(taken) {
            let placed = access::place(group, last);
            for (slot, shape) in &placed.slots {
                kv.set(slot, shape.as_bytes()).await?;
            }
            dropped.extend(placed.dropped);
            moved.extend(placed.moved);
        }
        if moved.is_empty() {
            break;
        }
        kv.delete_many(&dropped).await?;
        let values = kv.increment_many(&moved).await?;
        created = access::new_shapes(&moved, &values);
    }
    Ok(())
}
