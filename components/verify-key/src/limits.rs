//! Rate limits and quotas at verification time: one atomic increment per limit the key has,
//! taken back when the limit refuses (see `keys_domain::limits` for the algorithm and what
//! several edges admit together).

use keys_domain::Error;
use keys_domain::limits::{LimitState, Quota, RateLimit, Window, counter_value, sweep};
use keys_domain::record::{LimitStates, RecordView, VerifyCode};
use keys_domain::time::Timestamp;
use keys_spin::kv::Kv;

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
}

/// Applies the key's rate limit and quota to a verification decided `code` so far: when
/// `code` is `VALID`, counts it (and turns it into `RATE_LIMITED` or `QUOTA_EXCEEDED` when a
/// limit is used up); otherwise only reads how the limits stand. A store failure fails the
/// verification (never `VALID`).
pub async fn apply(
    kv: &Kv,
    record: &RecordView<'_>,
    code: VerifyCode,
    now: Timestamp,
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
    let mut rate_count = None;
    if let Some((limit, counted)) = &rate {
        let n = kv.increment(&counted.counter, 1).await?;
        if n == 1 {
            forget_old_windows(kv, &limit.pointer_key(record.key_id), counted, |i| {
                limit.counter_key(record.key_id, i)
            })
            .await;
        }
        if n > counted.limit as i64 {
            take_back(kv, &counted.counter).await;
            states.rate_limit = Some(counted.state(n - 1));
            states.quota = read(kv, quota.as_ref().map(|(_, c)| c)).await?;
            return Ok((VerifyCode::RateLimited, states));
        }
        states.rate_limit = Some(counted.state(n));
        rate_count = Some(n);
    }
    if let Some((limit, counted)) = &quota {
        let n = kv.increment(&counted.counter, 1).await?;
        if n == 1 {
            forget_old_windows(kv, &limit.pointer_key(record.key_id), counted, |i| {
                limit.counter_key(record.key_id, i)
            })
            .await;
        }
        if n > counted.limit as i64 {
            take_back(kv, &counted.counter).await;
            // Refused: the rate counter gives its increment back too.
            if let (Some((_, rate)), Some(count)) = (&rate, rate_count) {
                take_back(kv, &rate.counter).await;
                states.rate_limit = Some(rate.state(count - 1));
            }
            states.quota = Some(counted.state(n - 1));
            return Ok((VerifyCode::QuotaExceeded, states));
        }
        states.quota = Some(counted.state(n));
    }
    Ok((VerifyCode::Valid, states))
}

/// How a limit stands, without counting (absent counter: nothing used).
async fn read(kv: &Kv, counted: Option<&Counted>) -> Result<Option<LimitState>, Error> {
    let Some(counted) = counted else {
        return Ok(None);
    };
    let count = kv
        .get(&counted.counter)
        .await?
        .and_then(|bytes| counter_value(&bytes))
        .unwrap_or(0);
    Ok(Some(counted.state(count)))
}

/// Takes back the increment of a refused verification. A failure leaves the counter one
/// higher than the verifications it admitted (stricter, never looser), and is logged.
async fn take_back(kv: &Kv, counter: &str) {
    if let Err(err) = kv.increment(counter, -1).await {
        eprintln!("warning: could not take back a refused verification's count: {err:#}");
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
