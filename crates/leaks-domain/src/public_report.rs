//! The public leaked-key report, `POST /api/v1/leaks`: anyone who comes across published
//! INGENEO keys may send them, unauthenticated, and each live one is deactivated (or
//! flagged) as for a scanner's report. What a caller learns is only how many entries were
//! received: never which were keys, live or not (see docs/secret-scanning.md, "Public
//! leaked-key report"). This module reads the report, says what each entry stands for, when
//! a report of a key adds nothing, and how reports are rate-limited per client address and
//! overall.

use crate::report::{Finding, LeakAction};
use keys_domain::Error;
use keys_domain::limits::{RateLimit, Window};
use keys_domain::model::StoredLeak;
use keys_domain::time::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// Most entries one report may hold (422 `too_many_keys` beyond).
pub const MAX_KEYS: usize = 100;
/// The `source` of a leak reported through the public route (in the key's `leak` and in the
/// `leak_reported` event).
pub const PUBLIC_SOURCE: &str = "public_report";
/// Reports admitted per client address (an IPv4 address, an IPv6 /64, or the one shared
/// bucket of reports without a readable address) per [`WINDOW_SECONDS`].
pub const REPORTS_PER_ADDRESS: u64 = 10;
/// Reports admitted from all addresses together per [`WINDOW_SECONDS`].
pub const REPORTS_OVERALL: u64 = 600;
/// The fixed window both limits count in, in seconds.
pub const WINDOW_SECONDS: u64 = 60;
/// How many per-address counters there are: addresses are hashed into this many slots, so
/// that the key-value store holds a bounded number of counters whatever the addresses (and
/// no address at all). Two addresses sharing a slot share its budget.
pub const ADDRESS_SLOTS: u32 = 4096;
/// Prefix of the key-value counters (and their pointer entries) of public reports.
pub const COUNTER_PREFIX: &str = "leak-reports:";
/// Code of the 422 of a report holding more than [`MAX_KEYS`] entries.
const TOO_MANY_KEYS: &str = "too_many_keys";

/// The body of a report as sent: `{"keys": [..]}`, nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    keys: Vec<String>,
}

/// A report whose size is within bounds: at most [`MAX_KEYS`] entries, any text each.
pub struct PublicReport {
    keys: Vec<String>,
}

impl std::fmt::Debug for PublicReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicReport")
            .field("received", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl PublicReport {
    /// Checks the number of entries of a body read as [`ReportBody`]: more than
    /// [`MAX_KEYS`] is a 422 that echoes none of them.
    pub fn parse(body: ReportBody) -> Result<Self, Error> {
        if body.keys.len() > MAX_KEYS {
            return Err(Error::Invalid {
                code: TOO_MANY_KEYS,
                detail: format!("a report names at most {MAX_KEYS} keys"),
            });
        }
        Ok(Self { keys: body.keys })
    }

    /// The whole answer: how many entries were received, duplicates and entries that are
    /// not keys included. The same for any content of the same length: it says nothing
    /// about what the entries were.
    pub fn receipt(&self) -> Receipt {
        Receipt {
            received: self.keys.len(),
        }
    }

    /// One finding per entry, as a scanner would report it: no URL, the source
    /// [`PUBLIC_SOURCE`]. Entries that are not keys are sorted out like a scanner's tokens
    /// (`report::well_formed`).
    pub fn findings(&self) -> Vec<Finding> {
        self.keys
            .iter()
            .map(|key| Finding {
                token: key.clone(),
                token_type: PUBLIC_SOURCE.to_owned(),
                url: None,
                source: Some(PUBLIC_SOURCE.to_owned()),
            })
            .collect()
    }
}

/// The answer to a report (202).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// Entries received.
    pub received: usize,
}

/// Whether a report of a live secret of a key adds nothing to what the key already shows,
/// so that no event is written and nothing changes: the key already carries a leak report
/// covering that secret (of its live secret when `current`; any, for a replaced secret still
/// in its grace period) and the action is already in place (the key inactive, when `action`
/// deactivates). Anyone can repeat a public report, so for one any earlier report counts; a
/// scanner's must also repeat an event already recorded (its URL tells two places apart).
/// A regeneration clears the leak, so a report of the new secret is new again, from anyone.
pub fn adds_nothing(
    leak: Option<&StoredLeak>,
    current: bool,
    action: LeakAction,
    active: bool,
) -> bool {
    let covered = leak.is_some_and(|leak| !current || leak.concerns_live_secret());
    covered && (action == LeakAction::Report || !active)
}

/// Whom a report is counted against, besides everyone: a slot of client addresses, or the
/// shared bucket of reports without a readable address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// An address, hashed into one of [`ADDRESS_SLOTS`] slots (IPv6 by its /64).
    Slot(u32),
    /// No address header, or one that is not an IP address.
    Unknown,
}

impl Client {
    /// The client of a request whose address header (the last line, as verify-key reads
    /// `client_ip_header`) is `value`: its last comma-separated entry, so that a list like
    /// `X-Forwarded-For` gives the address the nearest proxy appended.
    pub fn of_header(value: Option<&str>) -> Self {
        let Some(last) = value.and_then(|v| v.rsplit(',').next()) else {
            return Self::Unknown;
        };
        let text = last.trim();
        let text = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        let Ok(address) = text.parse::<IpAddr>() else {
            return Self::Unknown;
        };
        let bytes: Vec<u8> = match address.to_canonical() {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            // One subscriber usually holds a whole /64: counted as one address.
            IpAddr::V6(v6) => v6.octets()[..8].to_vec(),
        };
        let digest = Sha256::digest(&bytes);
        let first = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        Self::Slot(first % ADDRESS_SLOTS)
    }
}

/// One of the two limits a report is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// [`REPORTS_PER_ADDRESS`] for this client.
    PerAddress(Client),
    /// [`REPORTS_OVERALL`] for everyone.
    Overall,
}

impl Budget {
    /// The budgets a report from `client` is counted against, in order: its own first, so
    /// that one address refused by its own limit does not use up everyone's.
    pub fn of(client: Client) -> [Self; 2] {
        [Self::PerAddress(client), Self::Overall]
    }

    /// The limit as a fixed-window rate limit.
    fn rate(self) -> RateLimit {
        let limit = match self {
            Self::PerAddress(_) => REPORTS_PER_ADDRESS,
            Self::Overall => REPORTS_OVERALL,
        };
        RateLimit {
            limit,
            window_seconds: WINDOW_SECONDS,
        }
    }

    /// The window `now` falls in.
    pub fn window(self, now: Timestamp) -> Window {
        self.rate().window(now)
    }

    fn name(self) -> String {
        match self {
            Self::PerAddress(Client::Slot(slot)) => format!("{COUNTER_PREFIX}slot-{slot}"),
            Self::PerAddress(Client::Unknown) => format!("{COUNTER_PREFIX}unknown"),
            Self::Overall => format!("{COUNTER_PREFIX}all"),
        }
    }

    /// The counter of the window numbered `index`.
    pub fn counter_key(self, index: i64) -> String {
        format!("{}:{index}", self.name())
    }

    /// The entry naming the windows counted last (`keys_domain::limits::sweep`).
    pub fn pointer_key(self) -> String {
        format!("{}:last", self.name())
    }

    /// Whether the report that brought the counter of `window` to `count` is admitted; a
    /// refusal is a 429 whose `Retry-After` is the end of the window. A refused report
    /// stays counted (no give-back): a client over its limit stays over it.
    pub fn admit(self, count: i64, window: &Window) -> Result<(), Error> {
        let rate = self.rate();
        if u64::try_from(count).is_ok_and(|c| c <= rate.limit) {
            return Ok(());
        }
        let whose = match self {
            Self::PerAddress(_) => "from this address",
            Self::Overall => "in all",
        };
        Err(Error::TooManyRequests {
            detail: format!(
                "at most {} leak reports {whose} per {} seconds; retry later",
                rate.limit, rate.window_seconds
            ),
            retry_after_secs: window.reset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::well_formed;
    use keys_domain::key::NewSecret;
    use keys_domain::model::Leak;

    fn key(seed: u8) -> String {
        NewSecret::from_random_bytes([seed; 32]).expose().to_owned()
    }

    fn parse(json: &str) -> Result<PublicReport, Error> {
        let body: ReportBody =
            serde_json::from_str(json).map_err(|e| keys_domain::error::json_error(&e))?;
        PublicReport::parse(body)
    }

    fn leak(live_secret: bool) -> StoredLeak {
        Leak {
            reported_at: Timestamp::from_unix(1_800_000_000),
            url: None,
            source: Some(PUBLIC_SOURCE),
            scanner: "public",
            live_secret,
        }
        .to_stored()
        .unwrap()
    }

    #[test]
    fn a_report_counts_every_entry_it_received_whatever_it_holds() {
        let body = format!(
            r#"{{"keys":["{}","{}","hello","","{}"]}}"#,
            key(1),
            key(1),
            key(2)
        );

        let report = parse(&body).unwrap();

        assert_eq!(report.receipt(), Receipt { received: 5 });
        assert_eq!(
            serde_json::to_string(&report.receipt()).unwrap(),
            r#"{"received":5}"#
        );
    }

    #[test]
    fn the_receipt_is_the_same_for_any_entries_of_the_same_number() {
        let live = parse(&format!(r#"{{"keys":["{}"]}}"#, key(3))).unwrap();
        let junk = parse(r#"{"keys":["ingk_not-a-key"]}"#).unwrap();

        assert_eq!(live.receipt(), junk.receipt());
    }

    #[test]
    fn a_hundred_entries_are_accepted_and_a_hundred_and_one_are_a_422() {
        let entries = |n: usize| vec!["\"x\""; n].join(",");

        assert_eq!(
            parse(&format!(r#"{{"keys":[{}]}}"#, entries(100)))
                .unwrap()
                .receipt()
                .received,
            100
        );
        let err = parse(&format!(r#"{{"keys":[{}]}}"#, entries(101))).unwrap_err();
        assert_eq!((err.status(), err.code()), (422, "too_many_keys"));
    }

    #[test]
    fn unknown_members_missing_keys_and_wrong_types_are_a_400_that_echoes_no_key() {
        let secret = key(4);
        for body in [
            format!(r#"{{"keys":["{secret}"],"url":"x"}}"#),
            format!(r#"{{"key":"{secret}"}}"#),
            format!(r#"{{"keys":"{secret}"}}"#),
            r#"{"keys":[1]}"#.to_owned(),
            r#"{"keys":null}"#.to_owned(),
            r#"{"keys":[],"keys":[]}"#.to_owned(),
        ] {
            let err = parse(&body).unwrap_err();
            assert_eq!(err.status(), 400, "{body}");
            assert!(!err.to_string().contains(&secret[5..20]), "{err}");
        }
    }

    #[test]
    fn an_empty_report_is_received_as_zero() {
        assert_eq!(parse(r#"{"keys":[]}"#).unwrap().receipt().received, 0);
    }

    #[test]
    fn only_well_formed_entries_become_lookups_with_the_public_source() {
        let good = key(5);
        let mut typo = good.clone();
        typo.replace_range(10..11, if &good[10..11] == "A" { "B" } else { "A" });
        let report = parse(&format!(r#"{{"keys":["{good}","{typo}","ghp_x"]}}"#)).unwrap();

        let findings = report.findings();
        let found = well_formed(&findings);

        assert_eq!(found.len(), 1);
        assert_eq!(found[0].finding.source.as_deref(), Some("public_report"));
        assert_eq!(found[0].finding.url, None);
    }

    #[test]
    fn a_report_never_shows_its_entries_in_debug_output() {
        let secret = key(6);
        let report = parse(&format!(r#"{{"keys":["{secret}"]}}"#)).unwrap();

        assert!(!format!("{report:?}").contains(&secret));
    }

    #[test]
    fn a_key_without_a_leak_is_always_acted_on() {
        for action in [LeakAction::Deactivate, LeakAction::Report] {
            for (current, active) in [(true, true), (true, false), (false, true)] {
                assert!(!adds_nothing(None, current, action, active));
            }
        }
    }

    #[test]
    fn a_repeated_report_of_a_deactivated_leaked_key_adds_nothing() {
        let leaked = leak(true);

        assert!(adds_nothing(
            Some(&leaked),
            true,
            LeakAction::Deactivate,
            false
        ));
        assert!(adds_nothing(Some(&leaked), true, LeakAction::Report, true));
    }

    #[test]
    fn a_flagged_key_still_active_is_deactivated_once_the_action_is_deactivate() {
        assert!(!adds_nothing(
            Some(&leak(true)),
            true,
            LeakAction::Deactivate,
            true
        ));
    }

    #[test]
    fn the_live_secret_is_new_when_only_a_replaced_one_was_reported() {
        let replaced_only = leak(false);

        assert!(!adds_nothing(
            Some(&replaced_only),
            true,
            LeakAction::Report,
            true
        ));
        assert!(adds_nothing(
            Some(&replaced_only),
            false,
            LeakAction::Report,
            true
        ));
    }

    #[test]
    fn addresses_are_read_from_the_last_entry_and_ipv6_by_its_64() {
        let a = Client::of_header(Some("198.51.100.7"));

        assert!(matches!(a, Client::Slot(s) if s < ADDRESS_SLOTS));
        assert_eq!(Client::of_header(Some("10.0.0.1, 198.51.100.7 ")), a);
        assert_eq!(Client::of_header(Some("::ffff:198.51.100.7")), a);
        assert_eq!(
            Client::of_header(Some("2001:db8:1:2::1")),
            Client::of_header(Some("[2001:db8:1:2:ffff::9]"))
        );
        assert_ne!(
            Client::of_header(Some("198.51.100.7")),
            Client::of_header(Some("198.51.100.8"))
        );
    }

    #[test]
    fn no_address_or_an_unreadable_one_shares_one_bucket() {
        for value in [None, Some(""), Some("unknown"), Some("198.51.100.7:443")] {
            assert_eq!(Client::of_header(value), Client::Unknown, "{value:?}");
        }
    }

    #[test]
    fn counters_are_named_per_slot_per_window_under_their_own_prefix() {
        let budgets = Budget::of(Client::Slot(42));

        assert_eq!(budgets[0].counter_key(7), "leak-reports:slot-42:7");
        assert_eq!(budgets[1].counter_key(7), "leak-reports:all:7");
        assert_eq!(
            Budget::PerAddress(Client::Unknown).pointer_key(),
            "leak-reports:unknown:last"
        );
    }

    #[test]
    fn windows_are_fixed_minutes() {
        let window = Budget::Overall.window(Timestamp::from_unix(125));

        assert_eq!((window.index, window.reset, window.length), (2, 55, 60));
    }

    #[test]
    fn the_eleventh_report_of_an_address_in_a_minute_is_a_429_with_retry_after() {
        let budget = Budget::PerAddress(Client::Unknown);
        let window = budget.window(Timestamp::from_unix(125));

        assert!(budget.admit(10, &window).is_ok());
        let err = budget.admit(11, &window).unwrap_err();
        assert_eq!((err.status(), err.code()), (429, "rate_limited"));
        assert!(matches!(
            err,
            Error::TooManyRequests {
                retry_after_secs: 55,
                ..
            }
        ));
    }

    #[test]
    fn everyone_together_gets_six_hundred_reports_a_minute() {
        let window = Budget::Overall.window(Timestamp::from_unix(0));

        assert!(Budget::Overall.admit(600, &window).is_ok());
        assert_eq!(
            Budget::Overall.admit(601, &window).unwrap_err().status(),
            429
        );
    }
}
