//! The deployment's expiry policy (`max_key_lifetime_days`): when set, every key created or
//! whose expiry is edited must expire, and within that many days.
//!
//! The policy bounds what an administrator chooses, not what already exists: a key created
//! before the policy keeps its expiry (or its lack of one) through edits of other fields and
//! through regenerations, until its expiry itself is edited.

use crate::error::Error;
use crate::time::{SECONDS_PER_DAY, Timestamp};

/// Longest lifetime the variable accepts, in days (about ten years).
pub const MAX_LIFETIME_DAYS: u32 = 3650;

/// The longest a key may live from its creation or from the edit of its expiry, in whole
/// days; none (every expiry allowed, and none required) by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpiryPolicy {
    max_days: u32,
}

impl ExpiryPolicy {
    /// No limit: every expiry is allowed, and none is required.
    pub const NONE: Self = Self { max_days: 0 };

    /// Parses the variable: a whole number of days from 0 (none, as an empty value) to
    /// [`MAX_LIFETIME_DAYS`]. The error names the variable and its range.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self::NONE);
        }
        text.parse::<u32>()
            .ok()
            .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
            .filter(|&days| days <= MAX_LIFETIME_DAYS)
            .map(|max_days| Self { max_days })
            .ok_or_else(|| {
                format!(
                    "max_key_lifetime_days must be a whole number of days from 0 to \
                     {MAX_LIFETIME_DAYS}, not {text:?}"
                )
            })
    }

    /// A policy of `days` days (0: none), at most [`MAX_LIFETIME_DAYS`].
    pub fn of_days(days: u32) -> Self {
        Self {
            max_days: days.min(MAX_LIFETIME_DAYS),
        }
    }

    /// The limit in days, 0 when there is none (as the health route reports it).
    pub fn max_days(self) -> u32 {
        self.max_days
    }

    /// The latest expiry allowed at `now`, `None` without a limit.
    pub fn latest(self, now: Timestamp) -> Option<Timestamp> {
        (self.max_days > 0).then(|| now.plus_seconds(i64::from(self.max_days) * SECONDS_PER_DAY))
    }

    /// Checks the expiry of a new key at `now`: with a limit, it must be set (422
    /// `expiry_required`) and no later than [`ExpiryPolicy::latest`] (422 `expiry_too_far`).
    pub fn check(self, expires_at: Option<Timestamp>, now: Timestamp) -> Result<(), Error> {
        let Some(latest) = self.latest(now) else {
            return Ok(());
        };
        let days = self.max_days;
        match expires_at {
            None => Err(Error::Invalid {
                code: "expiry_required",
                detail: format!(
                    "this deployment requires every key to expire within {days} days \
                     (max_key_lifetime_days): set expires_at, at the latest {latest}"
                ),
            }),
            Some(at) if at > latest => Err(Error::Invalid {
                code: "expiry_too_far",
                detail: format!(
                    "expires_at must be at most {days} days from now (max_key_lifetime_days): \
                     at the latest {latest}"
                ),
            }),
            Some(_) => Ok(()),
        }
    }

    /// Checks an edit of a key's expiry from `current` to `requested` at `now`: an edit that
    /// leaves the expiry as it is changes nothing and passes (a key older than the policy
    /// keeps what it had); any other is checked as [`ExpiryPolicy::check`] does.
    pub fn check_edit(
        self,
        current: Option<Timestamp>,
        requested: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), Error> {
        if requested == current {
            return Ok(());
        }
        self.check(requested, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);
    const DAY: i64 = SECONDS_PER_DAY;

    fn code(result: Result<(), Error>) -> (u16, &'static str) {
        let err = result.unwrap_err();
        (err.status(), err.code())
    }

    #[test]
    fn the_variable_is_a_whole_number_of_days_up_to_ten_years_and_empty_means_none() {
        assert_eq!(ExpiryPolicy::parse("").unwrap(), ExpiryPolicy::NONE);
        assert_eq!(ExpiryPolicy::parse(" 0 ").unwrap(), ExpiryPolicy::NONE);
        assert_eq!(ExpiryPolicy::parse("90").unwrap().max_days(), 90);
        assert_eq!(ExpiryPolicy::parse("3650").unwrap().max_days(), 3650);
        for bad in ["3651", "-1", "+5", "1.5", "90d", "ninety", "99999999999"] {
            let err = ExpiryPolicy::parse(bad).unwrap_err();
            assert!(
                err.starts_with(
                    "max_key_lifetime_days must be a whole number of days from 0 to 3650"
                ),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn without_a_limit_any_expiry_or_none_is_allowed() {
        let none = ExpiryPolicy::NONE;
        assert_eq!(none.latest(NOW), None);
        assert!(none.check(None, NOW).is_ok());
        assert!(
            none.check(Some(NOW.plus_seconds(50 * 365 * DAY)), NOW)
                .is_ok()
        );
        assert!(none.check_edit(Some(NOW), None, NOW).is_ok());
    }

    #[test]
    fn with_a_limit_a_new_key_must_expire() {
        let policy = ExpiryPolicy::of_days(90);
        assert_eq!(code(policy.check(None, NOW)), (422, "expiry_required"));
        let detail = policy.check(None, NOW).unwrap_err().to_string();
        assert!(detail.contains("within 90 days"), "{detail}");
        assert!(
            detail.contains(&NOW.plus_seconds(90 * DAY).to_string()),
            "{detail}"
        );
    }

    #[test]
    fn with_a_limit_an_expiry_up_to_the_last_allowed_second_passes_and_beyond_it_is_refused() {
        let policy = ExpiryPolicy::of_days(90);
        let latest = NOW.plus_seconds(90 * DAY);
        assert_eq!(policy.latest(NOW), Some(latest));
        assert!(policy.check(Some(NOW.plus_seconds(1)), NOW).is_ok());
        assert!(policy.check(Some(latest), NOW).is_ok());
        assert_eq!(
            code(policy.check(Some(latest.plus_seconds(1)), NOW)),
            (422, "expiry_too_far")
        );
    }

    #[test]
    fn an_edit_to_no_expiry_or_beyond_the_limit_is_refused_but_keeping_the_old_expiry_is_not() {
        let policy = ExpiryPolicy::of_days(30);
        let legacy = Some(NOW.plus_seconds(400 * DAY));
        assert_eq!(
            code(policy.check_edit(legacy, None, NOW)),
            (422, "expiry_required")
        );
        assert_eq!(
            code(policy.check_edit(None, Some(NOW.plus_seconds(31 * DAY)), NOW)),
            (422, "expiry_too_far")
        );
        assert!(policy.check_edit(legacy, legacy, NOW).is_ok());
        assert!(policy.check_edit(None, None, NOW).is_ok());
        assert!(
            policy
                .check_edit(legacy, Some(NOW.plus_seconds(DAY)), NOW)
                .is_ok()
        );
    }

    #[test]
    fn a_policy_is_never_longer_than_ten_years() {
        assert_eq!(
            ExpiryPolicy::of_days(u32::MAX).max_days(),
            MAX_LIFETIME_DAYS
        );
    }
}
