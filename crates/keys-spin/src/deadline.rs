//! Deadlines on store calls.
//!
//! A store that stops answering (Redis down or partitioned, a remote libSQL unreachable) must
//! not hang the requests that use it: every key-value and SQLite call is raced against a
//! monotonic-clock timer, and a call that loses the race fails with 503 `store_unavailable`.
//! Once one call of a request has missed its deadline, the store counts as unavailable for
//! the rest of that request: later calls (a clean-up after a failed change, say) fail at
//! once instead of each waiting out a deadline of its own, so a request waits for at most
//! one deadline per store, whatever it was doing.
//!
//! A deadline may also bound the request's calls together ([`Deadline::with_budget`]): each
//! call then gets what is left of the budget when that is less than its own limit, so a store
//! that answers each call just in time cannot add their limits up.
//!
//! The abandoned host call is dropped, which cancels it: the host stops waiting for it.

use keys_domain::Error;
use spin_sdk::wasip3::clocks::monotonic_clock;
use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

/// How long one key-value call may take at the edge (verify-key): its answers must come
/// within 250 ms even when the store is gone (this leaves room for a loaded host), and a
/// healthy store answers in well under 1 ms.
pub const EDGE_STORE_DEADLINE: Duration = Duration::from_millis(150);

/// How long all the key-value calls of one verification may take together: the record's
/// read, the limits' leases (through `kv-proxy`) and their housekeeping. Under the 250 ms an
/// edge must answer within during a store outage, with room for a loaded host.
pub const EDGE_REQUEST_BUDGET: Duration = Duration::from_millis(200);

/// How long one key-value call may take on an admin route, whose answers must come within
/// 1 s during a key-value outage: one missed deadline, and some local work besides. The
/// health route reads SQLite within it too (a read does not wait for the write lock).
pub const ADMIN_STORE_DEADLINE: Duration = Duration::from_millis(400);

/// How long one SQLite statement may take on an admin route. Longer than the key-value
/// deadline because admin writes queue for SQLite's write lock (`BEGIN IMMEDIATE`): 16
/// concurrent creates waited up to 1.4 s for it (docs/performance.md), and 48 concurrent
/// administrators on one node must all get their answer. A local SQLite file does not go
/// away; a remote libSQL database that stops answering fails requests within this time.
pub const SQLITE_DEADLINE: Duration = Duration::from_secs(5);

/// The deadline of one store's calls within one request.
pub struct Deadline {
    store: &'static str,
    limit: Duration,
    missed: Cell<bool>,
    /// The budget of all the calls together, if any.
    budget: Option<Duration>,
    /// When the budget ends, in monotonic nanoseconds, from the first call on.
    budget_end: Cell<Option<u64>>,
}

impl Deadline {
    /// A deadline of `limit` per call to `store` (named in errors and logs).
    pub const fn new(store: &'static str, limit: Duration) -> Self {
        Self {
            store,
            limit,
            missed: Cell::new(false),
            budget: None,
            budget_end: Cell::new(None),
        }
    }

    /// Bounds every call together to `budget`, counted from the start of the first call (one
    /// clock read per request: the first call's own limit needs none).
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Runs `call` unless an earlier call missed its deadline; fails with a store error when
    /// `call` fails (its error is logged as `why`) or does not finish within the limit.
    pub async fn run<T>(&self, what: &str, call: Call<'_, T>) -> Result<T, Error> {
        self.run_within(what, call, self.limit).await
    }

    /// [`Deadline::run`] with a limit of its own, for a call whose size grows with the data
    /// (listing the whole store).
    pub async fn run_within<T>(
        &self,
        what: &str,
        call: Call<'_, T>,
        limit: Duration,
    ) -> Result<T, Error> {
        if self.missed.get() {
            return Err(self.error(what, "not attempted: the store missed a deadline earlier"));
        }
        let limit = match (self.budget, self.budget_end.get()) {
            (None, _) => limit,
            (Some(budget), None) => {
                let nanos = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX);
                let end = monotonic_clock::now().saturating_add(nanos);
                self.budget_end.set(Some(end));
                limit.min(budget)
            }
            (Some(_), Some(end)) => {
                let left = end.saturating_sub(monotonic_clock::now());
                limit.min(Duration::from_nanos(left))
            }
        };
        match race(call, limit).await {
            Some(Ok(value)) => Ok(value),
            Some(Err(why)) => Err(self.error(what, why)),
            None => {
                self.missed.set(true);
                let waited = format!("no answer within {} ms", limit.as_millis());
                Err(self.error(what, waited))
            }
        }
    }

    /// The limit of each call.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    fn error(&self, what: &str, why: impl std::fmt::Display) -> Error {
        Error::store(format!("{}: {what}: {why}", self.store))
    }
}

/// `call`'s output, or `None` when `limit` passes first (then `call` is dropped, which
/// cancels the host call).
async fn race<T>(mut call: Call<'_, T>, limit: Duration) -> Option<Result<T, String>> {
    let nanos = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
    let mut timer = pin!(monotonic_clock::wait_for(nanos));
    poll_fn(|cx| {
        if let Poll::Ready(output) = call.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// A store call, boxed so the deadline code exists once per result type rather than once
/// per call site (it keeps the `.wasm` files small); its error is the store's own message.
pub type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + 'a>>;

/// Boxes a store call for [`Deadline::run`], turning its error into text.
pub fn call<'a, T, E: std::fmt::Debug>(
    call: impl Future<Output = Result<T, E>> + 'a,
) -> Call<'a, T> {
    Box::pin(async move { call.await.map_err(|err| format!("{err:?}")) })
}
