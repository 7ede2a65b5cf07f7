//! The units of rate limits and quotas an edge instance holds in advance (its *leases*).
//!
//! An increment per verification would make every limited verification a store write (on
//! Spin's SQLite key-value store, a durable transaction of a few milliseconds). So an
//! instance takes units of a limit in advance, with one increment: its first lease of a
//! counter is a [`FIRST_LEASE_FRACTION`]th of the limit, each later one a
//! [`LEASE_FRACTION`]th of what the limit had left at the previous lease, each at least one
//! unit and at most [`MAX_LEASE`] (about what an instance serves before Spin retires it), and
//! at least as many as the instance's verifications then waiting for the counter. Near the
//! limit leases shrink to one unit: counting is then exact.
//!
//! A lease is granted from what the increment returns, so the units leased across every
//! instance and edge never exceed the limit; what the limit cannot grant is given back at
//! once ([`Grant::over`]). The instance gives its unused units back with its usage batch
//! ([`Leases::give_back`]); until then, other instances can be refused up to the units it
//! holds. verify-key's `limits` module makes the increments and shares one lease in flight
//! between an instance's concurrent verifications.

use crate::increments::Increment;

/// Most units of a limit an instance leases at once: Spin's default reuse count of an
/// instance.
pub const MAX_LEASE: u64 = 128;
/// A lease is at most this fraction of what the limit has left.
pub const LEASE_FRACTION: u64 = 64;
/// An instance's first lease of a counter is this fraction of the limit (it does not know
/// yet what is left).
pub const FIRST_LEASE_FRACTION: u64 = 1024;

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

/// What one lease's increment gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Units the limit could not grant: to give back to the counter at once.
    pub over: u64,
    /// The `remaining` to report when a unit was granted for the verification that leased;
    /// `None` when the limit is used up (nothing granted).
    pub remaining: Option<u64>,
}

/// The leases of one instance.
#[derive(Default)]
pub struct Leases(Vec<Lease>);

impl Leases {
    /// Takes one unit of `counter` (whose limit is `limit`): `Ok` with the `remaining` to
    /// report, or `Err` with the size of the lease to ask for (the first lease of a counter is
    /// a fraction of the limit, later ones what the last lease set).
    pub fn take(&mut self, counter: &str, limit: u64) -> Result<u64, u64> {
        match self.0.iter_mut().find(|l| l.counter == counter) {
            Some(lease) if lease.left > 0 => {
                lease.left -= 1;
                lease.remaining = lease.remaining.saturating_sub(1);
                Ok(lease.remaining)
            }
            Some(lease) => Err(lease.next),
            None => Err((limit / FIRST_LEASE_FRACTION).clamp(1, MAX_LEASE)),
        }
    }

    /// The size of a lease: `base` ([`Leases::take`]'s), raised to the verifications
    /// `waiting` for it, within 1 and [`MAX_LEASE`].
    pub fn size(base: u64, waiting: u64) -> u64 {
        base.max(waiting).clamp(1, MAX_LEASE)
    }

    /// Records a lease of `size` units of `counter` (limit `limit`, window ending at `until`,
    /// Unix seconds) whose increment returned `count`: one unit goes to the verification that
    /// leased, the rest to the instance; what the limit cannot grant is to be given back.
    /// Units leased meanwhile by the instance's other verifications add up.
    pub fn grant(&mut self, counter: &str, limit: u64, size: u64, count: i64, until: i64) -> Grant {
        let limit_i64 = i64::try_from(limit).unwrap_or(i64::MAX);
        let over = u64::try_from(count.saturating_sub(limit_i64))
            .unwrap_or(0)
            .min(size);
        let granted = size - over;
        if granted == 0 {
            return Grant {
                over,
                remaining: None,
            };
        }
        let used = u64::try_from(count).unwrap_or(0).saturating_sub(over);
        let i = match self.0.iter().position(|l| l.counter == counter) {
            Some(i) => i,
            None => {
                self.0.push(Lease {
                    counter: counter.to_owned(),
                    left: 0,
                    next: 1,
                    remaining: 0,
                    until,
                });
                self.0.len() - 1
            }
        };
        let lease = &mut self.0[i];
        lease.left += granted - 1;
        let unleased = limit.saturating_sub(used);
        lease.next = (unleased / LEASE_FRACTION).clamp(1, MAX_LEASE);
        lease.remaining = unleased + lease.left;
        Grant {
            over,
            remaining: Some(lease.remaining),
        }
    }

    /// Puts back a unit taken for a verification another limit refused; the `remaining` to
    /// report (`None` without a lease of `counter`).
    pub fn untake(&mut self, counter: &str) -> Option<u64> {
        let lease = self.0.iter_mut().find(|l| l.counter == counter)?;
        lease.left += 1;
        lease.remaining += 1;
        Some(lease.remaining)
    }

    /// Empties the leases into the increments that give their unused units back at `now`
    /// (Unix seconds); those of ended windows are dropped, their counters no longer read.
    pub fn give_back(&mut self, now: i64) -> Vec<Increment> {
        std::mem::take(&mut self.0)
            .into_iter()
            .filter(|lease| lease.left > 0 && now < lease.until)
            .map(|lease| Increment {
                counter: lease.counter,
                delta: -i64::try_from(lease.left).unwrap_or(i64::MAX),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTER: &str = "rl:key_1:100";

    #[test]
    fn a_first_lease_is_a_fraction_of_the_limit_within_one_and_the_most() {
        let mut leases = Leases::default();
        assert_eq!(leases.take(COUNTER, 10), Err(1));
        assert_eq!(leases.take(COUNTER, 10_240), Err(10));
        assert_eq!(leases.take(COUNTER, 1_000_000_000), Err(MAX_LEASE));
    }

    #[test]
    fn a_lease_covers_every_verification_waiting_for_it_up_to_the_most() {
        assert_eq!(Leases::size(1, 5), 5);
        assert_eq!(Leases::size(10, 5), 10);
        assert_eq!(Leases::size(0, 0), 1);
        assert_eq!(Leases::size(1, 500), MAX_LEASE);
    }

    #[test]
    fn a_granted_lease_gives_one_unit_now_and_keeps_the_rest_for_later_verifications() {
        let mut leases = Leases::default();
        // 10 units of a limit of 1,000, the counter at 10 after the increment.
        let grant = leases.grant(COUNTER, 1_000, 10, 10, 3_600);
        assert_eq!(
            grant,
            Grant {
                over: 0,
                remaining: Some(999)
            }
        );
        for remaining in (990..999).rev() {
            assert_eq!(leases.take(COUNTER, 1_000), Ok(remaining));
        }
        // Used up: the next lease is a 64th of what the limit had left (990).
        assert_eq!(leases.take(COUNTER, 1_000), Err(990 / LEASE_FRACTION));
    }

    #[test]
    fn what_the_limit_cannot_grant_goes_back_at_once() {
        let mut leases = Leases::default();
        // 10 units asked, the counter at 13 of a limit of 5: 8 over, 2 granted.
        let grant = leases.grant(COUNTER, 5, 10, 13, 3_600);
        assert_eq!(
            grant,
            Grant {
                over: 8,
                remaining: Some(1)
            }
        );
        assert_eq!(leases.take(COUNTER, 5), Ok(0));
        assert_eq!(leases.take(COUNTER, 5), Err(1), "near the limit, one unit");
    }

    #[test]
    fn a_limit_used_up_grants_nothing_and_everything_goes_back() {
        let mut leases = Leases::default();
        let grant = leases.grant(COUNTER, 5, 3, 8, 3_600);
        assert_eq!(
            grant,
            Grant {
                over: 3,
                remaining: None
            }
        );
        assert!(leases.give_back(0).is_empty());
    }

    #[test]
    fn leases_of_one_counter_granted_together_add_up() {
        let mut leases = Leases::default();
        leases.grant(COUNTER, 1_000, 4, 4, 3_600);
        let second = leases.grant(COUNTER, 1_000, 4, 8, 3_600);
        assert_eq!(second.remaining, Some(992 + 6));
        assert_eq!(
            leases.give_back(0),
            [Increment {
                counter: COUNTER.into(),
                delta: -6
            }]
        );
    }

    #[test]
    fn a_unit_put_back_is_taken_again() {
        let mut leases = Leases::default();
        assert_eq!(leases.untake(COUNTER), None);
        leases.grant(COUNTER, 100, 1, 1, 3_600);
        assert_eq!(leases.untake(COUNTER), Some(100));
        assert_eq!(leases.take(COUNTER, 100), Ok(99));
    }

    #[test]
    fn unused_units_go_back_except_those_of_ended_windows() {
        let mut leases = Leases::default();
        leases.grant(COUNTER, 1_000, 5, 5, 3_600);
        leases.grant("qt:key_1:20000", 1_000, 3, 3, 100);
        leases.grant("rl:key_2:100", 1_000, 1, 1, 3_600);
        assert_eq!(
            leases.give_back(200),
            [Increment {
                counter: COUNTER.into(),
                delta: -4
            }]
        );
        assert!(leases.give_back(200).is_empty(), "emptied");
    }
}
