//! The time-based events the dispatcher finds: expiry reminders and expiry, quota thresholds,
//! rate limiting and disuse. Each is sent once: an alert is identified by its key, its kind
//! and a *period* ([`Alert::period`]), and the dispatcher records which it has sent.

use crate::events::EventType;
use keys_domain::time::{SECONDS_PER_DAY, Timestamp};

/// Reminder thresholds when `expiry_reminder_days` is unset: 30, 7 and 1 day(s) before.
pub const DEFAULT_REMINDER_DAYS: &str = "30,7,1";
/// Days without a verification after which a key is reported unused, when `unused_key_days`
/// is unset.
pub const DEFAULT_UNUSED_DAYS: i64 = 90;
/// The most reminder thresholds, and the largest day count any of these variables takes.
const MAX_REMINDERS: usize = 10;
const MAX_DAYS: i64 = 3_650;
/// The least time between two looks for alerts by the components' nudges, in seconds (a
/// scheduler or an administrator makes the dispatcher look whenever it calls).
pub const SCAN_INTERVAL_SECS: i64 = 60;

/// Seconds in an hour: rate limits count refusals per hour.
const SECONDS_PER_HOUR: i64 = 3_600;

/// The quota thresholds, in percent of the period's quota.
pub const QUOTA_THRESHOLDS: [u64; 2] = [80, 100];

/// The days before expiry at which a reminder is sent, most first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderDays(Vec<i64>);

impl ReminderDays {
    /// Reads `expiry_reminder_days`: comma-separated whole days from 1 to 3,650, at most
    /// ten; empty is [`DEFAULT_REMINDER_DAYS`]; `none` sends no reminder.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = match text.trim() {
            "" => DEFAULT_REMINDER_DAYS,
            "none" => return Ok(Self(Vec::new())),
            t => t,
        };
        let refuse = || {
            format!(
                "expiry_reminder_days must be comma-separated whole days from 1 to {MAX_DAYS} \
                 (at most {MAX_REMINDERS}), or `none`, not {text:?}"
            )
        };
        let mut days = text
            .split(',')
            .map(|d| whole_days(d.trim()).ok_or_else(refuse))
            .collect::<Result<Vec<i64>, String>>()?;
        days.sort_unstable_by(|a, b| b.cmp(a));
        days.dedup();
        if days.len() > MAX_REMINDERS {
            return Err(refuse());
        }
        Ok(Self(days))
    }

    /// The thresholds, most days first.
    pub fn days(&self) -> &[i64] {
        &self.0
    }
}

/// Reads `unused_key_days`: whole days from 1 to 3,650; empty is [`DEFAULT_UNUSED_DAYS`].
pub fn unused_days(text: &str) -> Result<i64, String> {
    match text.trim() {
        "" => Ok(DEFAULT_UNUSED_DAYS),
        t => whole_days(t).ok_or_else(|| {
            format!("unused_key_days must be whole days from 1 to {MAX_DAYS}, not {t:?}")
        }),
    }
}

fn whole_days(text: &str) -> Option<i64> {
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse::<i64>().ok())
        .flatten()
        .filter(|d| (1..=MAX_DAYS).contains(d))
}

/// Whether a nudge should look for alerts at `now`, the last look having been at
/// `scanned_at` (`None`: never).
pub fn scan_due(scanned_at: Option<Timestamp>, now: Timestamp) -> bool {
    scanned_at.is_none_or(|at| now.unix() - at.unix() >= SCAN_INTERVAL_SECS)
}

/// A time-based event about one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// The key expires within `days` days (a reminder threshold).
    Expiring {
        /// The threshold crossed.
        days: i64,
        /// The expiry it is about.
        expires_at: Timestamp,
    },
    /// The key reached its expiry.
    Expired {
        /// The expiry.
        expires_at: Timestamp,
    },
    /// The key used `percent` % of its quota in a period.
    QuotaThreshold {
        /// 80 or 100.
        percent: u64,
        /// The period's number (days or months since the epoch).
        period_index: i64,
    },
    /// The key's rate limit refused verifications in an hour.
    RateLimited {
        /// The hour (hours since the epoch).
        hour: i64,
    },
    /// The key had no verification since `since`.
    Unused {
        /// Its last verification, or its creation when it never had one.
        since: Timestamp,
    },
}

impl Alert {
    /// The event type it is sent as.
    pub fn event_type(&self) -> EventType {
        match self {
            Self::Expiring { .. } => EventType::KeyExpiring,
            Self::Expired { .. } => EventType::KeyExpired,
            Self::QuotaThreshold { .. } => EventType::KeyQuotaThreshold,
            Self::RateLimited { .. } => EventType::KeyRateLimited,
            Self::Unused { .. } => EventType::KeyUnused,
        }
    }

    /// The kind, as the record of sent alerts names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Expiring { .. } => "expiring",
            Self::Expired { .. } => "expired",
            Self::QuotaThreshold { .. } => "quota_threshold",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unused { .. } => "unused",
        }
    }

    /// What makes the alert once-only within its kind: a reminder per threshold and expiry
    /// (an expiry moved later gets its reminders again), a quota threshold per period, rate
    /// limiting per hour, disuse per last use (a key used again, then idle again, is reported
    /// again).
    pub fn period(&self) -> String {
        match self {
            Self::Expiring { days, expires_at } => format!("{}:{days}", expires_at.unix()),
            Self::Expired { expires_at } => expires_at.unix().to_string(),
            Self::QuotaThreshold {
                percent,
                period_index,
            } => format!("{period_index}:{percent}"),
            Self::RateLimited { hour } => hour.to_string(),
            Self::Unused { since } => since.unix().to_string(),
        }
    }
}

/// The expiry alert due for a key expiring at `expires_at`: `Expired` once it is past;
/// before, the reminder of the nearest threshold its remaining time has crossed (a key
/// created 5 days before its expiry gets the 7-day reminder, not the 30-day one).
pub fn expiry(expires_at: Timestamp, now: Timestamp, reminders: &ReminderDays) -> Option<Alert> {
    let remaining = expires_at.unix() - now.unix();
    if remaining <= 0 {
        return Some(Alert::Expired { expires_at });
    }
    reminders
        .days()
        .iter()
        .rev()
        .find(|days| remaining <= **days * SECONDS_PER_DAY)
        .map(|&days| Alert::Expiring { days, expires_at })
}

/// The quota thresholds `used` of `limit` has reached in the period `period_index`.
pub fn quota(limit: u64, used: u64, period_index: i64) -> Vec<Alert> {
    QUOTA_THRESHOLDS
        .into_iter()
        .filter(|percent| u128::from(used) * 100 >= u128::from(limit) * u128::from(*percent))
        .map(|percent| Alert::QuotaThreshold {
            percent,
            period_index,
        })
        .collect()
}

/// The hours (since the epoch) whose rate-limit refusals are looked at, at `now`: the last
/// one and this one, so that a dispatch at least hourly misses none.
pub fn rate_hours(now: Timestamp) -> [i64; 2] {
    let hour = now.unix().div_euclid(SECONDS_PER_HOUR);
    [hour - 1, hour]
}

/// The rate-limiting alerts of a key, from its refusals counted in each hour of
/// [`rate_hours`]: one per hour with any, with that hour's refusals.
pub fn rate_limited(refusals: [(i64, i64); 2]) -> Vec<(Alert, i64)> {
    refusals
        .into_iter()
        .filter(|(_, refused)| *refused > 0)
        .map(|(hour, refused)| (Alert::RateLimited { hour }, refused))
        .collect()
}

/// When hour `hour` (since the epoch) starts.
pub fn hour_start(hour: i64) -> Timestamp {
    Timestamp::from_unix(hour * SECONDS_PER_HOUR)
}

/// The disuse alert of a key created at `created_at` and last verified at `last_used_at`,
/// when that was `days` days or more before `now`.
pub fn unused(
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
    now: Timestamp,
    days: i64,
) -> Option<Alert> {
    let since = last_used_at.map_or(created_at, |used| used.max(created_at));
    (now.unix() - since.unix() >= days * SECONDS_PER_DAY).then_some(Alert::Unused { since })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn days(n: i64) -> i64 {
        n * SECONDS_PER_DAY
    }

    #[test]
    fn every_alert_is_sent_as_its_own_key_event_type() {
        let alerts = [
            Alert::Expiring {
                days: 7,
                expires_at: NOW,
            },
            Alert::Expired { expires_at: NOW },
            Alert::QuotaThreshold {
                percent: 80,
                period_index: 1,
            },
            Alert::RateLimited { hour: 1 },
            Alert::Unused { since: NOW },
        ];
        let types: Vec<&str> = alerts.iter().map(|a| a.event_type().as_str()).collect();
        assert_eq!(
            types,
            [
                "key.expiring",
                "key.expired",
                "key.quota_threshold",
                "key.rate_limited",
                "key.unused"
            ]
        );
    }

    #[test]
    fn rate_limiting_is_looked_for_in_the_last_hour_and_this_one() {
        let hour = NOW.unix() / 3_600;
        assert_eq!(rate_hours(NOW), [hour - 1, hour]);
        assert_eq!(rate_hours(hour_start(hour)), [hour - 1, hour]);
        assert_eq!(hour_start(hour).unix() % 3_600, 0);
    }

    #[test]
    fn an_hour_with_refusals_gives_one_rate_limiting_alert() {
        assert_eq!(
            rate_limited([(10, 3), (11, 0)]),
            [(Alert::RateLimited { hour: 10 }, 3)]
        );
        assert_eq!(
            rate_limited([(10, 1), (11, 250)]),
            [
                (Alert::RateLimited { hour: 10 }, 1),
                (Alert::RateLimited { hour: 11 }, 250)
            ]
        );
        assert!(rate_limited([(10, 0), (11, 0)]).is_empty());
    }

    #[test]
    fn reminder_days_default_to_30_7_1_and_are_checked() {
        assert_eq!(ReminderDays::parse("").unwrap().days(), &[30, 7, 1]);
        assert_eq!(ReminderDays::parse(" 1, 14 ,1").unwrap().days(), &[14, 1]);
        assert!(ReminderDays::parse("none").unwrap().days().is_empty());
        for bad in [
            "0",
            "-1",
            "7,",
            "x",
            "3651",
            "1,2,3,4,5,6,7,8,9,10,11",
            "+5",
        ] {
            let err = ReminderDays::parse(bad).unwrap_err();
            assert!(err.contains("expiry_reminder_days"), "{bad}");
        }
        assert_eq!(unused_days(""), Ok(90));
        assert_eq!(unused_days("30"), Ok(30));
        assert!(unused_days("0").unwrap_err().contains("unused_key_days"));
    }

    #[test]
    fn a_key_gets_the_reminder_of_the_nearest_threshold_crossed() {
        let r = ReminderDays::parse("30,7,1").unwrap();
        let at = |left: i64| expiry(NOW.plus_seconds(left), NOW, &r);
        assert_eq!(at(days(31)), None);
        let expires_at = NOW.plus_seconds(days(30));
        assert_eq!(
            at(days(30)),
            Some(Alert::Expiring {
                days: 30,
                expires_at
            })
        );
        let expires_at = NOW.plus_seconds(days(5));
        assert_eq!(
            at(days(5)),
            Some(Alert::Expiring {
                days: 7,
                expires_at
            })
        );
        assert_eq!(
            at(3_600).map(|a| a.period()),
            Some(format!("{}:1", NOW.unix() + 3_600))
        );
        assert_eq!(at(0), Some(Alert::Expired { expires_at: NOW }));
        assert_eq!(
            expiry(
                NOW.plus_seconds(60),
                NOW,
                &ReminderDays::parse("none").unwrap()
            ),
            None
        );
    }

    #[test]
    fn quota_thresholds_fire_at_80_and_100_percent() {
        assert!(quota(1_000, 799, 7).is_empty());
        assert_eq!(
            quota(1_000, 800, 7),
            vec![Alert::QuotaThreshold {
                percent: 80,
                period_index: 7
            }]
        );
        let both = quota(5, 5, 7);
        assert_eq!(both.len(), 2);
        assert_eq!(both[1].period(), "7:100");
        assert_eq!(quota(3, 3, 1).len(), 2);
        assert_eq!(quota(u64::MAX, u64::MAX, 1).len(), 2);
    }

    #[test]
    fn a_key_is_unused_after_the_days_since_its_last_use_or_creation() {
        let created = NOW.plus_seconds(-days(100));
        assert_eq!(
            unused(created, None, NOW, 90),
            Some(Alert::Unused { since: created })
        );
        let used = NOW.plus_seconds(-days(89));
        assert_eq!(unused(created, Some(used), NOW, 90), None);
        let used = NOW.plus_seconds(-days(90));
        assert_eq!(
            unused(created, Some(used), NOW, 90).map(|a| (a.kind(), a.period())),
            Some(("unused", used.unix().to_string()))
        );
        assert_eq!(unused(NOW.plus_seconds(-days(10)), None, NOW, 90), None);
    }

    #[test]
    fn alerts_are_looked_for_at_first_and_then_once_a_minute() {
        assert!(scan_due(None, NOW));
        assert!(!scan_due(Some(NOW.plus_seconds(-59)), NOW));
        assert!(scan_due(Some(NOW.plus_seconds(-60)), NOW));
    }

    #[test]
    fn periods_tell_alerts_of_one_kind_apart() {
        let a = Alert::RateLimited { hour: 500_000 };
        assert_eq!(
            (a.kind(), a.period()),
            ("rate_limited", "500000".to_owned())
        );
        let e = Alert::Expired { expires_at: NOW };
        assert_eq!(e.period(), NOW.unix().to_string());
    }
}
