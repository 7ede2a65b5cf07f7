//! A per-instance circuit breaker for store calls that can outlive their caller's deadline.
//!
//! A call through `kv-proxy` (an increment) is abandoned at its deadline, but the proxy's own
//! instance may stay held by the store until it answers. So once such a call fails, an
//! instance stops making them (each would only add a held request) until the store has shown
//! it answers again: a request whose own abandonable call (a record read) just succeeded may
//! then try one call, the probe. Its success closes the breaker; its failure opens it again.

/// The breaker's state; times are monotonic nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Breaker {
    /// Calls go through.
    #[default]
    Closed,
    /// The last call failed: calls are refused until a probe.
    Open,
    /// One call, started at this time, is probing; others are refused meanwhile. A probe that
    /// never reports (its request was dropped) counts as failed after [`Breaker::admit`]'s
    /// `probe_limit`.
    Probing(u64),
}

impl Breaker {
    /// Whether a call may be made now (`now`), when the request making it has (`answered`)
    /// or has not had an abandonable call to the store answered within its deadline. A probe
    /// admitted here moves the breaker to [`Breaker::Probing`].
    pub fn admit(&mut self, now: u64, answered: bool, probe_limit: u64) -> bool {
        match *self {
            Breaker::Closed => true,
            Breaker::Probing(since) if now.saturating_sub(since) < probe_limit => false,
            Breaker::Open | Breaker::Probing(_) => {
                if answered {
                    *self = Breaker::Probing(now);
                }
                answered
            }
        }
    }

    /// Records how an admitted call ended.
    pub fn record(&mut self, succeeded: bool) {
        *self = if succeeded {
            Breaker::Closed
        } else {
            Breaker::Open
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 1_000;

    #[test]
    fn a_closed_breaker_admits_every_call() {
        let mut breaker = Breaker::default();
        assert!(breaker.admit(0, false, LIMIT));
        assert!(breaker.admit(1, true, LIMIT));
        assert_eq!(breaker, Breaker::Closed);
    }

    #[test]
    fn after_a_failure_only_a_request_the_store_just_answered_may_probe() {
        let mut breaker = Breaker::default();
        breaker.record(false);
        assert!(!breaker.admit(10, false, LIMIT), "no answer seen: refused");
        assert!(breaker.admit(20, true, LIMIT), "the probe");
        assert!(!breaker.admit(30, true, LIMIT), "one probe at a time");
        breaker.record(true);
        assert!(breaker.admit(40, false, LIMIT), "closed again");
    }

    #[test]
    fn a_failed_probe_opens_the_breaker_again() {
        let mut breaker = Breaker::Open;
        assert!(breaker.admit(0, true, LIMIT));
        breaker.record(false);
        assert_eq!(breaker, Breaker::Open);
        assert!(!breaker.admit(5, false, LIMIT));
    }

    #[test]
    fn a_probe_that_never_reports_lets_another_probe_after_its_limit() {
        let mut breaker = Breaker::Open;
        assert!(breaker.admit(100, true, LIMIT));
        assert!(!breaker.admit(100 + LIMIT - 1, true, LIMIT));
        assert!(
            !breaker.admit(100 + LIMIT, false, LIMIT),
            "still needs an answer"
        );
        assert!(breaker.admit(100 + LIMIT, true, LIMIT));
        assert_eq!(breaker, Breaker::Probing(100 + LIMIT));
    }
}
