//! Rate limits and quotas at verification time, counted with the key-value store's atomic
//! increment (see `keys_domain::limits` for the algorithm and what several edges admit
//! together).
//!
//! # Leases
//!
//! An increment per verification would make every limited verification a store write (on
//! Spin's SQLite key-value store, a durable transaction of a few milliseconds). So an
//! instance takes units of a limit in advance, with one increment: its first lease of a
//! counter is a [`FIRST_LEASE_FRACTION`]th of the limit, each later one a
//! [`LEASE_FRACTION`]th of what the limit had left at the previous lease, each at least one
//! unit and at most [`MAX_LEASE`] (about what an instance serves before Spin retires it).
//! Near the limit leases shrink to one unit: counting is then exact. A lease is granted from what the increment returns, so
//! the units leased across every instance and edge never exceed the limit; what the limit
//! cannot grant is given back at once. The instance gives its unused units back when it
//! writes its usage batch (500 ms after its first verification, and before it is dropped);
//! until then, other instances can be refused up to the units it holds.

use keys_domain::Error;
use keys_domain::increments::Increment;
use keys_domain::limits::{LimitState, Quota, RateLimit, Window, counter_value, sweep};
use keys_domain::record::{LimitStates, RecordView, VerifyCode};
use keys_domain::time::Timestamp;
use keys_spin::kv::{Kv, LazyKv};
use spin_sdk::wasip3::clocks::monotonic_clock;
use std::cell::{Cell, RefCell};
use std::time::Duration;

/// Most units of a limit an instance leases at once: Spin's default reuse count of an
/// instance.
pub const MAX_LEASE: u64 = 128;
/// A lease is at most this fraction of what the limit has left.
const LEASE_FRACTION: u64 = 64;
/// An instance's first lease of a counter is this fraction of the limit (it does not know
/// yet what is left).
const FIRST_LEASE_FRACTION: u64 = 1024;

/// Units of one counter this instance holds.
struct Lease {
    /// The counter (its name holds the window).
    counter: String,
    /// Units not used yet.
    left: u64,
    /// The size of the next lease: a fraction of what the limit had left at the last one.
    next: u64,
    /// The `remaining` to report: what the limit had not granted at the last lease, plus
    /// `left`.
    remaining: u64,
    /// When the counter's window ends, Unix seconds: a lease is worthless after it.
    until: i64,
}

thread_local! {
    /// This instance's leases.
    static LEASES: RefCell<Vec<Lease>> = const { RefCell::new(Vec::new()) };
}

/// One limit of a key, as this verification counts it.
struct Counted {
    /// The counter of the current window.
    counter: String,
    /// The limit.
    limit: u64,
    /// The current window.
    window: Window,
}

impl Counted {
    fn rate(key_id: &str, rate: &RateLimit, now: Timestamp) -> Self {
        let window = rate.window(now);
        Self {
            counter: rate.counter_key(key_id, window.index),
            limit: rate.limit,
            window,
        }
    }

    fn quota(key_id: &str, quota: &Quota, now: Timestamp) -> Self {
        let window = quota.window(now);
        Self {
            counter: quota.counter_key(key_id, window.index),
            limit: quota.limit,
            window,
        }
    }

    fn state(&self, count: i64) -> LimitState {
        LimitState::new(self.limit, count, &self.window)
    }

    /// The state with `remaining` units left.
    fn state_left(&self, remaining: u64) -> LimitState {
        let used = self.limit.saturating_sub(remaining);
        LimitState::new(
            self.limit,
            i64::try_from(used).unwrap_or(i64::MAX),
            &self.window,
        )
    }
}

/// Applies the key's rate limit and quota to a verification decided `code` so far: when
/// `code` is `VALID`, counts it (and turns it into `RATE_LIMITED` or `QUOTA_EXCEEDED` when a
/// limit is used up); otherwise, when `read_refused` is set, reads how the limits stand (a
/// refusal answered from the record cache reports nothing, so that it makes no store call).
/// A store failure fails the verification (never `VALID`).
pub async fn apply(
    kv: &LazyKv,
    record: &RecordView<'_>,
    code: VerifyCode,
    now: Timestamp,
    read_refused: bool,
) -> Result<(VerifyCode, LimitStates), Error> {
    let rate = record
        .rate_limit
        .map(|r| (r, Counted::rate(record.key_id, &r, now)));
    let quota = record
        .quota
        .map(|q| (q, Counted::quota(record.key_id, &q, now)));
    if rate.is_none() && quota.is_none() {
        return Ok((code, LimitStates::default()));
    }
    if code != VerifyCode::Valid && !read_refused {
        return Ok((code, LimitStates::default()));
    }
    if code != VerifyCode::Valid {
        return Ok((
            code,
            LimitStates {
                rate_limit: read(kv, rate.as_ref().map(|(_, c)| c)).await?,
                quota: read(kv, quota.as_ref().map(|(_, c)| c)).await?,
            },
        ));
    }
    let mut states = LimitStates::default();
    if let Some((limit, counted)) = &rate {
        let sweep = |i| limit.counter_key(record.key_id, i);
        match take(kv, counted, &limit.pointer_key(record.key_id), sweep, now).await? {
            Ok(state) => states.rate_limit = Some(state),
            Err(state) => {
                states.rate_limit = Some(state);
                states.quota = read(kv, quota.as_ref().map(|(_, c)| c)).await?;
                return Ok((VerifyCode::RateLimited, states));
            }
        }
    }
    if let Some((limit, counted)) = &quota {
        let sweep = |i| limit.counter_key(record.key_id, i);
        match take(kv, counted, &limit.pointer_key(record.key_id), sweep, now).await? {
            Ok(state) => states.quota = Some(state),
            Err(state) => {
                // Refused: the rate limit's unit goes back to this instance's lease.
                if let Some((_, rate)) = &rate {
                    states.rate_limit = untake(&rate.counter).map(|left| rate.state_left(left));
                }
                states.quota = Some(state);
                return Ok((VerifyCode::QuotaExceeded, states));
            }
        }
    }
    Ok((VerifyCode::Valid, states))
}

/// Takes one unit of `counted` for this verification: from this instance's lease, or by
/// leasing more with one increment. `Ok` with the state after it; `Err` with the state when
/// the limit is used up (nothing taken).
///
/// One lease of a counter is in flight per instance at a time: the instance's other
/// verifications of the counter wait for it and take from it, and the next lease covers at
/// least every verification then waiting. A burst on one instance costs one or two
/// increments instead of one each (each an increment through `kv-proxy`, on Spin's SQLite
/// store a durable transaction of a few milliseconds, serialised).
async fn take(
    kv: &LazyKv,
    counted: &Counted,
    pointer_key: &str,
    counter_key: impl Fn(i64) -> String,
    now: Timestamp,
) -> Result<Result<LimitState, LimitState>, Error> {
    let leased_unit = || match LEASES.with(|l| take_leased(&mut l.borrow_mut(), &counted.counter)) {
        Leased::Taken(remaining) => Err(remaining),
        Leased::Empty(next) => Ok(next),
        Leased::First => Ok((counted.limit / FIRST_LEASE_FRACTION).clamp(1, MAX_LEASE)),
    };
    // Most verifications find a unit in the instance's lease: no bookkeeping for them.
    let mut base = match leased_unit() {
        Err(remaining) => return Ok(Ok(counted.state_left(remaining))),
        Ok(base) => base,
    };
    let demand = Demand::enter(&counted.counter);
    while demand.in_flight() {
        leased().await;
        base = match leased_unit() {
            Err(remaining) => return Ok(Ok(counted.state_left(remaining))),
            Ok(base) => base,
        };
    }
    let size = base.max(demand.waiting()).clamp(1, MAX_LEASE);
    let _fetching = demand.fetch();
    let kv = kv.get().await?;
    let n = kv.increment(&counted.counter, size as i64).await?;
    if n == size as i64 {
        forget_old_windows(kv, pointer_key, counted, counter_key).await;
    }
    // What the limit cannot grant goes back at once.
    let over = u64::try_from(n - counted.limit as i64)
        .unwrap_or(0)
        .min(size);
    if over > 0 {
        give_back(kv, &counted.counter, over).await;
    }
    let granted = size - over;
    if granted == 0 {
        return Ok(Err(counted.state_left(0)));
    }
    let used = u64::try_from(n).unwrap_or(0) - over;
    // Concurrent verifications of this instance may have leased too: their units add up.
    let remaining = LEASES.with(|l| {
        let mut leases = l.borrow_mut();
        let position = leases
            .iter()
            .position(|lease| lease.counter == counted.counter);
        let i = position.unwrap_or_else(|| {
            leases.push(Lease {
                counter: counted.counter.clone(),
                left: 0,
                next: 1,
                remaining: 0,
                until: now.unix() + counted.window.reset,
            });
            leases.len() - 1
        });
        let lease = &mut leases[i];
        lease.left += granted - 1;
        let unleased = counted.limit.saturating_sub(used);
        lease.next = (unleased / LEASE_FRACTION).clamp(1, MAX_LEASE);
        lease.remaining = unleased + lease.left;
        lease.remaining
    });
    Ok(Ok(counted.state_left(remaining)))
}

/// The verifications of this instance inside [`take`] for one counter, and whether one of
/// them is leasing.
struct Wanted {
    counter: String,
    waiting: u64,
    in_flight: bool,
}

thread_local! {
    /// The counters this instance's verifications are taking units of.
    static WANTED: RefCell<Vec<Wanted>> = const { RefCell::new(Vec::new()) };
    /// Bumped when a lease ends.
    static LEASE_ENDS: Cell<u64> = const { Cell::new(0) };
}

/// How often a verification waiting for another's lease looks whether it ended. (Each
/// request is a task of its own, and wit-bindgen, as built here, cannot wake one task from
/// another: the waiting task sleeps on the clock instead.)
const LEASE_POLL: Duration = Duration::from_millis(1);

/// One verification's place in [`WANTED`], for as long as it takes a unit (dropped with it,
/// even when its request is abandoned).
struct Demand {
    counter: String,
}

impl Demand {
    fn enter(counter: &str) -> Self {
        WANTED.with_borrow_mut(
            |wanted| match wanted.iter_mut().find(|w| w.counter == counter) {
                Some(w) => w.waiting += 1,
                None => wanted.push(Wanted {
                    counter: counter.to_owned(),
                    waiting: 1,
                    in_flight: false,
                }),
            },
        );
        Self {
            counter: counter.to_owned(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Wanted) -> T) -> T {
        WANTED.with_borrow_mut(|wanted| {
            let entry = wanted.iter_mut().find(|w| w.counter == self.counter);
            f(entry.expect("a demand has its entry"))
        })
    }

    /// How many verifications of this instance want a unit of the counter now.
    fn waiting(&self) -> u64 {
        self.with(|w| w.waiting)
    }

    /// Whether another verification of this instance is leasing units of the counter.
    fn in_flight(&self) -> bool {
        self.with(|w| w.in_flight)
    }

    /// Marks this verification as the one leasing, until the guard is dropped.
    fn fetch(&self) -> Fetching<'_> {
        self.with(|w| w.in_flight = true);
        Fetching(self)
    }
}

impl Drop for Demand {
    fn drop(&mut self) {
        WANTED.with_borrow_mut(|wanted| {
            if let Some(i) = wanted.iter().position(|w| w.counter == self.counter) {
                wanted[i].waiting -= 1;
                if wanted[i].waiting == 0 {
                    wanted.swap_remove(i);
                }
            }
        });
    }
}

/// A lease in flight; its end (or its request's) lets the verifications waiting for it go
/// on.
struct Fetching<'a>(&'a Demand);

impl Drop for Fetching<'_> {
    fn drop(&mut self) {
        self.0.with(|w| w.in_flight = false);
        LEASE_ENDS.set(LEASE_ENDS.get().wrapping_add(1));
    }
}

/// Waits until a lease in flight of this instance ends (within that lease's deadline).
async fn leased() {
    let started = LEASE_ENDS.get();
    let nanos = u64::try_from(LEASE_POLL.as_nanos()).unwrap_or(u64::MAX);
    while LEASE_ENDS.get() == started {
        monotonic_clock::wait_for(nanos).await;
    }
}

/// What this instance's lease of a counter gives.
enum Leased {
    /// A unit, and the `remaining` to report.
    Taken(u64),
    /// Nothing: lease this many more.
    Empty(u64),
    /// No lease of this counter yet.
    First,
}

fn take_leased(leases: &mut [Lease], counter: &str) -> Leased {
    match leases.iter_mut().find(|l| l.counter == counter) {
        Some(lease) if lease.left > 0 => {
            lease.left -= 1;
            lease.remaining = lease.remaining.saturating_sub(1);
            Leased::Taken(lease.remaining)
        }
        Some(lease) => Leased::Empty(lease.next),
        None => Leased::First,
    }
}

/// Puts a unit taken for a refused verification back into this instance's lease; returns
/// the `remaining` to report.
fn untake(counter: &str) -> Option<u64> {
    LEASES.with(|l| {
        let mut leases = l.borrow_mut();
        let lease = leases.iter_mut().find(|l| l.counter == counter)?;
        lease.left += 1;
        lease.remaining += 1;
        Some(lease.remaining)
    })
}

/// Takes every unused leased unit of this instance, as the increments that give them back
/// (those of ended windows are dropped: their counters are no longer read). Called with the
/// usage batch, which sends them; if that fails, the units stay counted as used (stricter,
/// never looser).
pub fn leases_to_give_back(now: Timestamp) -> Vec<Increment> {
    let leases = LEASES.with(|l| std::mem::take(&mut *l.borrow_mut()));
    leases
        .into_iter()
        .filter(|lease| lease.left > 0 && now.unix() < lease.until)
        .map(|lease| Increment {
            counter: lease.counter,
            delta: -(lease.left as i64),
        })
        .collect()
}

/// How a limit stands, without counting (absent counter: nothing used).
async fn read(kv: &LazyKv, counted: Option<&Counted>) -> Result<Option<LimitState>, Error> {
    let Some(counted) = counted else {
        return Ok(None);
    };
    let count = kv
        .get()
        .await?
        .get(&counted.counter)
        .await?
        .and_then(|bytes| counter_value(&bytes))
        .unwrap_or(0);
    Ok(Some(counted.state(count)))
}

/// Gives `units` back to a counter. A failure leaves the counter higher than the
/// verifications it admitted (stricter, never looser), and is logged.
async fn give_back(kv: &Kv, counter: &str, units: u64) {
    if let Err(err) = kv.increment(counter, -(units as i64)).await {
        eprintln!("warning: could not give units back to a limit counter: {err:#}");
    }
}

/// The first verification of a window deletes the counters of past windows
/// (`keys_domain::limits::sweep`). Housekeeping only: a failure is logged.
async fn forget_old_windows(
    kv: &Kv,
    pointer_key: &str,
    counted: &Counted,
    counter_key: impl Fn(i64) -> String,
) {
    let result = async {
        let pointer = kv.get(pointer_key).await?;
        let (old, pointer) = sweep(pointer.as_deref(), counted.window.index);
        kv.set(pointer_key, pointer.as_bytes()).await?;
        let old: Vec<String> = old.into_iter().map(counter_key).collect();
        kv.delete_many(&old).await
    };
    if let Err(err) = result.await {
        eprintln!("warning: could not delete past limit counters: {err:#}");
    }
}
