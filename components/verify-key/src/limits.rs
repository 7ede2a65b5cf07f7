//! Rate limits and quotas at verification time, counted with the key-value store's atomic
//! increment (see `keys_domain::limits` for the algorithm and what several edges admit
//! together), through this instance's leases of units (`keys_domain::lease`: sizes, grants,
//! give-backs). This module makes the increments and lets an instance's concurrent
//! verifications of one counter share one lease in flight.

use keys_domain::Error;
use keys_domain::increments::Increment;
use keys_domain::lease::{Grant, Leases};
use keys_domain::limits::{Limit, LimitState, Window, counter_value, sweep};
use keys_domain::record::RecordView;
use keys_domain::time::Timestamp;
use keys_domain::verify::{LimitStates, VerifyCode};
use keys_spin::kv::{Kv, LazyKv};
use spin_sdk::wasip3::clocks::monotonic_clock;
use std::cell::{Cell, RefCell};
use std::time::Duration;

thread_local! {
    /// This instance's leases.
    static LEASES: RefCell<Leases> = RefCell::new(Leases::default());
}

/// One limit of a key, as this verification counts it.
struct Counted<'a> {
    /// The limit.
    of: Limit,
    /// The key.
    key_id: &'a str,
    /// The counter of the current window.
    counter: String,
    /// The current window.
    window: Window,
}

impl<'a> Counted<'a> {
    fn new(of: Limit, key_id: &'a str, now: Timestamp) -> Self {
        let window = of.window(now);
        Self {
            counter: of.counter_key(key_id, window.index),
            of,
            key_id,
            window,
        }
    }

    /// How many verifications the window admits.
    fn limit(&self) -> u64 {
        self.of.limit()
    }

    fn state(&self, count: i64) -> LimitState {
        LimitState::new(self.limit(), count, &self.window)
    }

    /// The state with `remaining` units left.
    fn state_left(&self, remaining: u64) -> LimitState {
        let used = self.limit().saturating_sub(remaining);
        LimitState::new(
            self.limit(),
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
        .map(|r| Counted::new(Limit::Rate(r), record.key_id, now));
    let quota = record
        .quota
        .map(|q| Counted::new(Limit::Quota(q), record.key_id, now));
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
                rate_limit: read(kv, rate.as_ref()).await?,
                quota: read(kv, quota.as_ref()).await?,
            },
        ));
    }
    let mut states = LimitStates::default();
    if let Some(counted) = &rate {
        match take(kv, counted, now).await? {
            Ok(state) => states.rate_limit = Some(state),
            Err(state) => {
                states.rate_limit = Some(state);
                states.quota = read(kv, quota.as_ref()).await?;
                return Ok((VerifyCode::RateLimited, states));
            }
        }
    }
    if let Some(counted) = &quota {
        match take(kv, counted, now).await? {
            Ok(state) => states.quota = Some(state),
            Err(state) => {
                // Refused: the rate limit's unit goes back to this instance's lease.
                if let Some(rate) = &rate {
                    let left = LEASES.with_borrow_mut(|l| l.untake(&rate.counter));
                    states.rate_limit = left.map(|left| rate.state_left(left));
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
    counted: &Counted<'_>,
    now: Timestamp,
) -> Result<Result<LimitState, LimitState>, Error> {
    let leased_unit = || LEASES.with_borrow_mut(|l| l.take(&counted.counter, counted.limit()));
    // Most verifications find a unit in the instance's lease: no bookkeeping for them.
    let mut base = match leased_unit() {
        Ok(remaining) => return Ok(Ok(counted.state_left(remaining))),
        Err(base) => base,
    };
    let demand = Demand::enter(&counted.counter);
    while demand.in_flight() {
        leased().await;
        base = match leased_unit() {
            Ok(remaining) => return Ok(Ok(counted.state_left(remaining))),
            Err(base) => base,
        };
    }
    let size = Leases::size(base, demand.waiting());
    let _fetching = demand.fetch();
    let kv = kv.get().await?;
    let count = kv.increment(&counted.counter, size as i64).await?;
    let until = now.unix() + counted.window.reset;
    let Grant { over, remaining } =
        LEASES.with_borrow_mut(|l| l.grant(&counted.counter, counted.limit(), size, count, until));
    if count == size as i64 {
        forget_old_windows(kv, counted).await;
    }
    if over > 0 {
        give_back(kv, &counted.counter, over).await;
    }
    Ok(match remaining {
        Some(remaining) => Ok(counted.state_left(remaining)),
        None => Err(counted.state_left(0)),
    })
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

/// Takes every unused leased unit of this instance, as the increments that give them back
/// (`keys_domain::lease::Leases::give_back`). Called with the usage batch, which sends them;
/// if that fails, the units stay counted as used (stricter, never looser).
pub fn leases_to_give_back(now: Timestamp) -> Vec<Increment> {
    LEASES.with_borrow_mut(|l| l.give_back(now.unix()))
}

/// How a limit stands, without counting (absent counter: nothing used).
async fn read(kv: &LazyKv, counted: Option<&Counted<'_>>) -> Result<Option<LimitState>, Error> {
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
async fn forget_old_windows(kv: &Kv, counted: &Counted<'_>) {
    let pointer_key = counted.of.pointer_key(counted.key_id);
    let result = async {
        let pointer = kv.get(&pointer_key).await?;
        let (old, pointer) = sweep(pointer.as_deref(), counted.window.index);
        kv.set(&pointer_key, pointer.as_bytes()).await?;
        let counter_key = |index| counted.of.counter_key(counted.key_id, index);
        let old: Vec<String> = old.into_iter().map(counter_key).collect();
        kv.delete_many(&old).await
    };
    if let Err(err) = result.await {
        eprintln!("warning: could not delete past limit counters: {err:#}");
    }
}
