//! The verification record: what verify-key reads from the key-value store for one secret
//! (the decision it takes from it is [`crate::verify`]).
//!
//! # Stored layout
//!
//! A record is UTF-8 text of fourteen lines separated by `\n` (no trailing newline):
//!
//! ```text
//! ingk-record/4
//! key_1a2b…                      key id
//! ingk_...Ab3d                   hint of the secret
//! 1                              1 active, 0 deactivated
//! 1893456000                     expiry, Unix seconds, or empty
//!                                end of a replaced secret's grace period, or empty
//! 1796000000                     the key's creation, Unix seconds (introspection's `iat`)
//! Welyb production               label (never holds a control character)
//! {"crm":"X-1"}                  metadata, compact JSON object, or empty
//! 100/60                         rate limit `limit/window_seconds`, or empty
//! 10000/day                      quota `limit/day|month`, or empty
//! 2,0,0;0a000000/08 cb007100/24  IP allowlist (crate::allowlist's encoding), or empty
//! ["employees.read","payroll.*"] method grants, JSON array
//! "all"                          companies: "all" or a JSON array of ids
//! ```
//!
//! verify-key reads it without a JSON parser: it splits the lines, and looks a method or a
//! company up in the raw arrays by substring search. That is sound because the grants and
//! company ids have grammars without quotes, commas, backslashes or control characters
//! (checked again by [`VerificationRecord::encode`]), so in these arrays `"x"` occurs exactly
//! when `x` is an item. The arrays and the metadata go into `/verify`'s answer as they are.
//! Records are written only by the admin components; verify-key checks the layout (tag,
//! line count, brackets, numbers, limits) and refuses a record it cannot read (fail closed).
//! It also reads the layouts of earlier versions, so that edges can be upgraded before the
//! admin components: `ingk-record/3` (thirteen lines, no creation time) and `ingk-record/2`
//! (ten lines, no limits either).

use crate::allowlist::IpAllowlist;
use crate::error::Error;
use crate::limits::{Quota, RateLimit};
use crate::permissions::{ALL_METHODS, CompanyScope, MethodGrant, meet_grants};
use crate::time::Timestamp;

/// Prefix of the key-value key holding the verification record of a secret (then its hash).
pub const RECORD_KEY_PREFIX: &str = "vk:";
/// Prefix of the key-value key holding when a key was last verified (then its id).
pub const LAST_USED_KEY_PREFIX: &str = "used:";
/// Key-value entry saying the verification records were written in full: set by the rebuild
/// and by the creation of a deployment's first key, read by the health route. A store that
/// lost its data (a Redis restarted without persistence) has no marker until the next rebuild.
pub const RECORDS_MARKER_KEY: &str = "meta:records-complete";
/// `last_used_at` is written at most once per this many seconds per key.
pub const LAST_USED_RESOLUTION_SECS: i64 = 60;
/// First line of every record: the layout's name and version.
pub const RECORD_FORMAT: &str = "ingk-record/4";
/// First line of the records of the previous version: thirteen lines, no creation time.
const RECORD_FORMAT_3: &str = "ingk-record/3";
/// First line of the records of earlier versions: ten lines, no limits.
const RECORD_FORMAT_2: &str = "ingk-record/2";
/// The company restriction of a key that may touch every company, as stored.
const ALL_COMPANIES: &str = "\"all\"";
const RECORD_LINES: usize = 14;
const RECORD_LINES_3: usize = 13;
const RECORD_LINES_2: usize = 10;

/// The key-value key of the record of the secret with this hash (hex).
pub fn record_key(hash_hex: &str) -> String {
    format!("{RECORD_KEY_PREFIX}{hash_hex}")
}

/// The key-value key of the last-use instant of a key.
pub fn last_used_key(key_id: &str) -> String {
    format!("{LAST_USED_KEY_PREFIX}{key_id}")
}

/// The time a last-use entry holds (decimal Unix seconds, as verify-key writes it); `None`
/// when unreadable.
pub fn last_used_value(bytes: &[u8]) -> Option<Timestamp> {
    std::str::from_utf8(bytes)
        .ok()?
        .parse::<i64>()
        .ok()
        .map(Timestamp::from_unix)
}

/// Whether a verification at `at` rewrites a last-use entry holding `stored`: when it is
/// missing, unreadable, or [`LAST_USED_RESOLUTION_SECS`] old or more (at most one write a
/// minute per key).
pub fn last_used_due(stored: Option<&[u8]>, at: Timestamp) -> bool {
    stored
        .and_then(last_used_value)
        .is_none_or(|previous| at.unix() - previous.unix() >= LAST_USED_RESOLUTION_SECS)
}

/// Everything verify-key needs to answer for one secret, denormalised from SQLite; what
/// the admin components write (see the module docs for the stored layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRecord {
    /// The key's id.
    pub key_id: String,
    /// The key's label.
    pub label: String,
    /// Prefix and last four characters of the key's current secret.
    pub hint: String,
    /// False while the key is deactivated.
    pub active: bool,
    /// Method access authorizations (grant strings).
    pub methods: Vec<String>,
    /// Company access restrictions.
    pub companies: CompanyScope,
    /// When the key stops verifying, Unix seconds.
    pub expires_at: Option<i64>,
    /// For a regenerated key's previous secret: end of its grace period, Unix seconds.
    pub valid_until: Option<i64>,
    /// When the key was created, Unix seconds.
    pub created_at: i64,
    /// The key's free-form metadata, compact JSON text of an object.
    pub metadata: Option<String>,
    /// The key's rate limit, quota and IP allowlist.
    pub limits: Limits,
}

/// What limits a key's use beyond its permissions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limits {
    /// At most so many verifications per window.
    pub rate_limit: Option<RateLimit>,
    /// At most so many verifications per UTC day or month.
    pub quota: Option<Quota>,
    /// The addresses the key may be used from (empty: any).
    pub ip_allowlist: IpAllowlist,
}

impl Limits {
    /// The limits of `self` whose counters nobody uses once the key's limits are `new`
    /// (`None`: the key is deleted): its rate limit unless `new` counts the same windows,
    /// and its quota unless `new` counts the same periods. A changed `limit` over the same
    /// windows keeps its counters (what was used stays used).
    pub fn abandoned_by(&self, new: Option<&Limits>) -> (Option<RateLimit>, Option<Quota>) {
        let rate = self.rate_limit.filter(|old| {
            new.and_then(|n| n.rate_limit)
                .is_none_or(|r| r.window_seconds != old.window_seconds)
        });
        let quota = self.quota.filter(|old| {
            new.and_then(|n| n.quota)
                .is_none_or(|q| q.period != old.period)
        });
        (rate, quota)
    }
}

impl VerificationRecord {
    /// The record granting exactly what both `self` and `other` grant: a verification is
    /// `VALID` with it exactly when it is `VALID` with each of them. Active only if both are;
    /// the earlier expiry and the earlier end of grace (none means never); the methods and
    /// companies both allow. The key id, label, hint and metadata, which grant nothing, are
    /// those of `self`.
    ///
    /// While a change commits, a secret's record stands at the meet of its record before and
    /// after the change, so it grants no more than either state whatever fails.
    pub fn meet(&self, other: &Self) -> Self {
        let earlier = |a: Option<i64>, b: Option<i64>| a.into_iter().chain(b).min();
        Self {
            key_id: self.key_id.clone(),
            label: self.label.clone(),
            hint: self.hint.clone(),
            active: self.active && other.active,
            methods: meet_grants(&self.methods, &other.methods),
            companies: self.companies.meet(&other.companies),
            expires_at: earlier(self.expires_at, other.expires_at),
            valid_until: earlier(self.valid_until, other.valid_until),
            created_at: self.created_at,
            metadata: self.metadata.clone(),
            limits: Limits {
                rate_limit: RateLimit::stricter(self.limits.rate_limit, other.limits.rate_limit),
                quota: Quota::stricter(self.limits.quota, other.limits.quota),
                ip_allowlist: self.limits.ip_allowlist.meet(&other.limits.ip_allowlist),
            },
        }
    }

    /// The stored form. Fails, writing nothing, when a field would break the layout: a line
    /// break in a text, a grant or company id outside its grammar, metadata that is not a
    /// compact object.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let corrupt = |what: &str| Error::unexpected(format!("cannot store a record: {what}"));
        let one_line = |t: &str| !t.contains(['\n', '\r']);
        // Company ids are checked by their type; grants are strings, checked here.
        if !(one_line(&self.key_id) && one_line(&self.hint) && one_line(&self.label)) {
            return Err(corrupt("a line break in a text"));
        }
        if !self.methods.iter().all(|m| MethodGrant::parse(m).is_some()) {
            return Err(corrupt("a malformed method grant"));
        }
        if let Some(m) = &self.metadata
            && !(m.starts_with('{') && m.ends_with('}') && one_line(m))
        {
            return Err(corrupt("metadata that is not a compact JSON object"));
        }
        let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        let lines = [
            RECORD_FORMAT.to_owned(),
            self.key_id.clone(),
            self.hint.clone(),
            if self.active { "1" } else { "0" }.to_owned(),
            number(self.expires_at),
            number(self.valid_until),
            self.created_at.to_string(),
            self.label.clone(),
            self.metadata.clone().unwrap_or_default(),
            self.limits
                .rate_limit
                .map(|r| r.encode())
                .unwrap_or_default(),
            self.limits.quota.map(|q| q.encode()).unwrap_or_default(),
            self.limits.ip_allowlist.encode(),
            // Grants and company ids need no escaping: these are the raw arrays (or `"all"`)
            // that verify-key searches.
            serde_json::to_string(&self.methods).map_err(Error::unexpected)?,
            serde_json::to_string(&self.companies).map_err(Error::unexpected)?,
        ];
        Ok(lines.join("\n").into_bytes())
    }
}

/// A stored record as verify-key reads it: borrowed from the stored bytes, nothing parsed
/// beyond the line breaks and two numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// The key's id.
    pub key_id: &'a str,
    /// Prefix and last four characters of the key's current secret.
    pub hint: &'a str,
    /// False while the key is deactivated.
    pub active: bool,
    /// When the key stops verifying, Unix seconds.
    pub expires_at: Option<i64>,
    /// End of a replaced secret's grace period, Unix seconds.
    pub valid_until: Option<i64>,
    /// When the key was created, Unix seconds (`None` in a record of an earlier layout).
    pub created_at: Option<i64>,
    /// The key's label.
    pub label: &'a str,
    /// Compact JSON object, if any.
    pub metadata: Option<&'a str>,
    /// JSON array of the method grants.
    pub methods: &'a str,
    /// `"all"` or a JSON array of company ids.
    pub companies: &'a str,
    /// The rate limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// The quota, if any.
    pub quota: Option<Quota>,
    /// The encoded IP allowlist (empty: any address).
    pub ip_allowlist: &'a str,
}

impl<'a> RecordView<'a> {
    /// Reads a stored record; `None` when it does not have the layout of the module docs.
    pub fn decode(bytes: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (format, rest) = text.split_once('\n')?;
        let (count, with_created, with_limits) = match format {
            RECORD_FORMAT => (RECORD_LINES, true, true),
            RECORD_FORMAT_3 => (RECORD_LINES_3, false, true),
            RECORD_FORMAT_2 => (RECORD_LINES_2, false, false),
            _ => return None,
        };
        let mut lines = rest.splitn(count - 1, '\n');
        let mut next = || lines.next();
        let number = |line: &str| -> Option<Option<i64>> {
            if line.is_empty() {
                Some(None)
            } else {
                line.parse().ok().map(Some)
            }
        };
        let mut view = Self {
            key_id: next()?,
            hint: next()?,
            active: match next()? {
                "1" => true,
                "0" => false,
                _ => return None,
            },
            expires_at: number(next()?)?,
            valid_until: number(next()?)?,
            created_at: match with_created {
                true => Some(next()?.parse().ok()?),
                false => None,
            },
            label: next()?,
            metadata: Some(next()?).filter(|m| !m.is_empty()),
            rate_limit: None,
            quota: None,
            ip_allowlist: "",
            methods: "",
            companies: "",
        };
        if with_limits {
            view.rate_limit = optional(next()?, RateLimit::decode)?;
            view.quota = optional(next()?, Quota::decode)?;
            view.ip_allowlist = next()?;
        }
        view.methods = next()?;
        view.companies = next()?;
        let is_array = |list: &str| list.starts_with('[') && list.ends_with(']');
        // The last line takes the rest of the text: it must be one line too.
        let layout_ok = is_array(view.methods)
            && !view.companies.contains('\n')
            && (view.companies == ALL_COMPANIES || is_array(view.companies))
            && view
                .metadata
                .is_none_or(|m| m.starts_with('{') && m.ends_with('}'));
        layout_ok.then_some(view)
    }

    /// Whether the record still stands for a live secret at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.valid_until.is_none_or(|until| now.unix() < until)
    }

    /// Whether one of the grants covers `method` (a valid method name): the exact name, a
    /// `group.*` for one of its dotted prefixes, or `*`. Deny by default.
    pub fn allows_method(&self, method: &str) -> bool {
        has_item(self.methods, method, "")
            || has_item(self.methods, ALL_METHODS, "")
            || method
                .match_indices('.')
                .any(|(dot, _)| has_item(self.methods, &method[..dot], ".*"))
    }

    /// Whether the key may touch `company` (a valid company id).
    pub fn allows_company(&self, company: &str) -> bool {
        self.reaches_every_company() || has_item(self.companies, company, "")
    }

    /// Whether the key holds the `*` grant (every method).
    pub fn grants_every_method(&self) -> bool {
        has_item(self.methods, ALL_METHODS, "")
    }

    /// The method grants, in stored order, read from the raw array: its items hold no
    /// quote, comma or escape (see the module docs), so splitting at commas finds them.
    pub fn grants(&self) -> impl Iterator<Item = &'a str> {
        let inner = &self.methods[1..self.methods.len() - 1];
        inner
            .split(',')
            .map(|item| item.trim_matches('"'))
            .filter(|grant| !grant.is_empty())
    }

    /// Whether the key may touch every company.
    pub fn reaches_every_company(&self) -> bool {
        self.companies == ALL_COMPANIES
    }
}

/// An optional field of a record line: `Some(None)` for an empty line, `None` when malformed.
fn optional<T>(line: &str, decode: fn(&str) -> Option<T>) -> Option<Option<T>> {
    match line {
        "" => Some(None),
        line => decode(line).map(Some),
    }
}

/// Whether the raw JSON array `list`, whose items hold no quote, has the item `head` +
/// `tail`, i.e. contains `"head tail"`. An occurrence cannot start at an item's closing
/// quote (a comma or `]` follows it, never the first character of a valid name), so it
/// spans exactly one item. `head` and `tail` must hold no quote (callers pass valid names).
fn has_item(list: &str, head: &str, tail: &str) -> bool {
    let mut needle = String::with_capacity(head.len() + tail.len() + 2);
    needle.push('"');
    needle.push_str(head);
    needle.push_str(tail);
    needle.push('"');
    list.contains(needle.as_str())
}

/// Records and queries shared by the tests of this module and of [`crate::verify`].
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::permissions::CompanyId;
    use crate::time::Timestamp;
    use crate::verify::{VerifyCode, VerifyQuery, decide};

    pub(crate) fn companies(ids: &[&str]) -> CompanyScope {
        CompanyScope::Only(ids.iter().map(|c| CompanyId::parse(c).unwrap()).collect())
    }

    pub(crate) const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    pub(crate) fn record() -> VerificationRecord {
        VerificationRecord {
            key_id: "key_1".into(),
            label: "Welyb".into(),
            hint: "ingk_...abcd".into(),
            active: true,
            methods: vec!["employees.read".into(), "payroll.*".into()],
            companies: companies(&["ACME"]),
            expires_at: None,
            valid_until: None,
            created_at: 1_796_000_000,
            metadata: None,
            limits: Limits::default(),
        }
    }

    /// Encodes, decodes and decides, as the components do.
    pub(crate) fn check(record: &VerificationRecord, query: VerifyQuery<'_>) -> VerifyCode {
        let bytes = record.encode().unwrap();
        let view = RecordView::decode(&bytes).expect("an encoded record decodes");
        decide(Some(&view), NOW, query)
    }

    pub(crate) fn ask<'a>(method: Option<&'a str>, company: Option<&'a str>) -> VerifyQuery<'a> {
        VerifyQuery {
            method,
            company,
            ip: None,
            strict: false,
        }
    }

    pub(crate) fn strictly<'a>(
        method: Option<&'a str>,
        company: Option<&'a str>,
    ) -> VerifyQuery<'a> {
        VerifyQuery {
            strict: true,
            ..ask(method, company)
        }
    }

    pub(crate) fn limited() -> VerificationRecord {
        let mut r = record();
        r.limits = Limits {
            rate_limit: Some(RateLimit {
                limit: 100,
                window_seconds: 60,
            }),
            quota: Some(Quota {
                limit: 5000,
                period: crate::limits::Period::Month,
            }),
            ip_allowlist: IpAllowlist::parse(&["10.0.0.0/8".into(), "2001:db8::/32".into()])
                .unwrap(),
        };
        r
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::limits::Period;
    use crate::verify::{VerifyCode, VerifyQuery, decide};

    #[test]
    fn limits_abandon_the_counters_of_windows_and_periods_nobody_counts_any_more() {
        let rate = |limit, window_seconds| RateLimit {
            limit,
            window_seconds,
        };
        let quota = |limit, period| Quota { limit, period };
        let old = Limits {
            rate_limit: Some(rate(10, 60)),
            quota: Some(quota(100, Period::Day)),
            ..Limits::default()
        };
        assert_eq!(
            old.abandoned_by(None),
            (Some(rate(10, 60)), Some(quota(100, Period::Day))),
            "a deleted key abandons both"
        );
        let raised = Limits {
            rate_limit: Some(rate(20, 60)),
            quota: Some(quota(500, Period::Day)),
            ..Limits::default()
        };
        assert_eq!(old.abandoned_by(Some(&raised)), (None, None));
        let reshaped = Limits {
            rate_limit: Some(rate(10, 3600)),
            quota: Some(quota(100, Period::Month)),
            ..Limits::default()
        };
        assert_eq!(
            old.abandoned_by(Some(&reshaped)),
            (Some(rate(10, 60)), Some(quota(100, Period::Day)))
        );
        assert_eq!(
            old.abandoned_by(Some(&Limits::default())),
            (Some(rate(10, 60)), Some(quota(100, Period::Day))),
            "removed limits"
        );
        assert_eq!(Limits::default().abandoned_by(None), (None, None));
    }

    #[test]
    fn records_round_trip_through_their_stored_layout() {
        let mut r = record();
        r.metadata = Some(r#"{"crm":"X-1","n":[1,2]}"#.into());
        r.expires_at = Some(NOW.unix() + 3600);
        r.valid_until = Some(NOW.unix() + 60);
        r.label = "Welyb \"prod\" — paie".into();
        let bytes = r.encode().unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(text.lines().count(), 14, "{text}");
        assert!(
            text.starts_with("ingk-record/4\nkey_1\ningk_...abcd\n1\n"),
            "{text}"
        );
        let view = RecordView::decode(&bytes).unwrap();
        assert_eq!(
            view,
            RecordView {
                key_id: "key_1",
                hint: "ingk_...abcd",
                active: true,
                expires_at: Some(NOW.unix() + 3600),
                valid_until: Some(NOW.unix() + 60),
                created_at: Some(1_796_000_000),
                label: "Welyb \"prod\" — paie",
                metadata: Some(r#"{"crm":"X-1","n":[1,2]}"#),
                methods: r#"["employees.read","payroll.*"]"#,
                companies: r#"["ACME"]"#,
                rate_limit: None,
                quota: None,
                ip_allowlist: "",
            }
        );
        r.companies = CompanyScope::All;
        r.methods.clear();
        r.metadata = None;
        r.active = false;
        let bytes = r.encode().unwrap();
        let view = RecordView::decode(&bytes).unwrap();
        assert_eq!(
            (view.companies, view.methods, view.metadata, view.active),
            ("\"all\"", "[]", None, false)
        );
    }

    #[test]
    fn a_record_that_would_break_the_layout_is_never_written() {
        let cases: [fn(&mut VerificationRecord); 5] = [
            |r| r.label = "two\nlines".into(),
            |r| r.key_id = "key\r1".into(),
            |r| r.methods.push("payroll\",\"*".into()),
            |r| r.methods.push("*.read".into()),
            |r| r.metadata = Some("[1]".into()),
        ];
        for (i, spoil) in cases.iter().enumerate() {
            let mut r = record();
            spoil(&mut r);
            assert!(r.encode().is_err(), "case {i}: {r:?}");
        }
    }

    #[test]
    fn a_record_without_the_layout_is_refused() {
        let good = String::from_utf8(record().encode().unwrap()).unwrap();
        let bad = [
            String::new(),
            good.replacen("ingk-record/4", "ingk-record/1", 1),
            good.replacen("ingk-record/4", "ingk-record/2", 1),
            good.replacen("ingk-record/4", "ingk-record/3", 1),
            good.replacen("\n1796000000\n", "\nyesterday\n", 1),
            good.replacen("\n1796000000\n", "\n\n", 1),
            good.replacen("\n1\n", "\nyes\n", 1),
            good.rsplit_once('\n').unwrap().0.to_owned(),
            good.replacen("[\"employees", "\"employees", 1),
            good.replacen("[\"ACME\"]", "ACME", 1),
            format!("{good}\nextra"),
            format!("{good}\n]"),
            r#"{"key_id":"key_1","label":"Welyb","hint":"h","active":true,"methods":["*"],"companies":"all","expires_at":null,"valid_until":null,"metadata":null}"#.to_owned(),
        ];
        for text in bad {
            assert!(RecordView::decode(text.as_bytes()).is_none(), "{text}");
        }
        assert!(RecordView::decode(b"\xff\xfe").is_none());
    }

    #[test]
    fn method_lookups_match_whole_items_only() {
        let mut r = record();
        r.methods = vec![
            "employees.read".into(),
            "payroll.payslips.*".into(),
            "time.read".into(),
        ];
        r.companies = companies(&["ACME", "ACME-2", "B"]);
        let bytes = r.encode().unwrap();
        let view = RecordView::decode(&bytes).unwrap();
        for (method, allowed) in [
            ("employees.read", true),
            ("employees.rea", false),
            ("mployees.read", false),
            ("employees.read.all", false),
            ("payroll.payslips.read", true),
            ("payroll.payslips.2026.read", true),
            ("payroll.payslips", false),
            ("payroll.read", false),
            ("time.read", true),
            ("read", false),
        ] {
            assert_eq!(view.allows_method(method), allowed, "{method}");
        }
        for (company, allowed) in [
            ("ACME", true),
            ("ACME-2", true),
            ("ACM", false),
            ("CME", false),
            ("B", true),
            ("C", false),
        ] {
            assert_eq!(view.allows_company(company), allowed, "{company}");
        }
        r.methods = vec!["*".into()];
        let bytes = r.encode().unwrap();
        assert!(
            RecordView::decode(&bytes)
                .unwrap()
                .allows_method("any.thing")
        );
    }

    #[test]
    fn the_grants_are_read_from_the_raw_array_in_stored_order() {
        let mut r = record();
        for grants in [
            vec![],
            vec!["*"],
            vec!["employees.read", "payroll.*", "a-b_c.d"],
        ] {
            r.methods = grants.iter().map(|g| g.to_string()).collect();
            let bytes = r.encode().unwrap();
            let view = RecordView::decode(&bytes).unwrap();
            assert_eq!(view.grants().collect::<Vec<_>>(), grants);
        }
    }

    #[test]
    fn every_company_is_allowed_by_all_and_a_list_only_reaches_its_members() {
        let mut r = record();
        r.companies = CompanyScope::All;
        let bytes = r.encode().unwrap();
        assert!(
            RecordView::decode(&bytes)
                .unwrap()
                .allows_company("anything")
        );
        r.companies = companies(&["ACME"]);
        let bytes = r.encode().unwrap();
        let view = RecordView::decode(&bytes).unwrap();
        assert!(view.allows_company("ACME") && !view.allows_company("acme"));
        r.companies = companies(&[]);
        let bytes = r.encode().unwrap();
        assert!(
            !RecordView::decode(&bytes).unwrap().allows_company("ACME"),
            "an emptied list reaches no company"
        );
    }

    #[test]
    fn the_meet_of_two_records_is_valid_exactly_when_both_are() {
        let methods: [&[&str]; 4] = [&["employees.read"], &["payroll.*"], &["*"], &[]];
        let scopes = [
            CompanyScope::All,
            companies(&["ACME"]),
            companies(&["ACME", "GLOBEX"]),
            companies(&[]),
        ];
        let instants = [None, Some(NOW.unix()), Some(NOW.unix() + 10)];
        let mut records = Vec::new();
        for grants in methods {
            for scope in &scopes {
                for active in [true, false] {
                    for expires_at in instants {
                        for valid_until in instants {
                            let mut r = record();
                            r.methods = grants.iter().map(|g| g.to_string()).collect();
                            r.companies = scope.clone();
                            r.active = active;
                            r.expires_at = expires_at;
                            r.valid_until = valid_until;
                            records.push(r);
                        }
                    }
                }
            }
        }
        let method_probes = [None, Some("employees.read"), Some("payroll.payslips.read")];
        let company_probes = [None, Some("ACME"), Some("GLOBEX"), Some("INITECH")];
        let mut mine = record();
        mine.label = "Renamed".into();
        mine.hint = "ingk_...wxyz".into();
        mine.metadata = Some(r#"{"crm":"X-2"}"#.into());
        let encoded: Vec<Vec<u8>> = records.iter().map(|r| r.encode().unwrap()).collect();
        let valid = |bytes: &[u8], at: Timestamp, q: VerifyQuery<'_>| {
            decide(RecordView::decode(bytes).as_ref(), at, q) == VerifyCode::Valid
        };
        // 288 records make 82,944 pairs: take every seventh, shifted by row so that every
        // record meets records of every kind.
        let step = 7;
        for (i, (a, a_bytes)) in records.iter().zip(&encoded).enumerate() {
            for (b, b_bytes) in records.iter().zip(&encoded).skip(i % step).step_by(step) {
                let meet = a.meet(b).encode().unwrap();
                for at in [NOW.unix() - 1, NOW.unix(), NOW.unix() + 5, NOW.unix() + 20] {
                    let at = Timestamp::from_unix(at);
                    for method in method_probes {
                        for company in company_probes {
                            let q = ask(method, company);
                            assert_eq!(
                                valid(&meet, at, q),
                                valid(a_bytes, at, q) && valid(b_bytes, at, q),
                                "{a:?} ∧ {b:?} at {at:?} for {q:?}"
                            );
                        }
                    }
                }
            }
        }
        let meet = mine.meet(&record());
        assert_eq!(
            (
                meet.label.as_str(),
                meet.hint.as_str(),
                meet.metadata.as_deref()
            ),
            ("Renamed", "ingk_...wxyz", Some(r#"{"crm":"X-2"}"#)),
            "descriptive fields come from the receiver"
        );
    }

    #[test]
    fn a_record_meets_itself_and_any_wider_record_unchanged() {
        let narrow = record();
        assert_eq!(narrow.meet(&narrow), narrow);
        let mut wide = record();
        wide.methods = vec!["*".into()];
        wide.companies = CompanyScope::All;
        wide.expires_at = None;
        let mut narrow = record();
        narrow.expires_at = Some(NOW.unix() + 60);
        narrow.valid_until = Some(NOW.unix() + 30);
        assert_eq!(narrow.meet(&wide), narrow);
        narrow.active = false;
        assert_eq!(narrow.meet(&wide), narrow);
    }

    #[test]
    fn limits_round_trip_through_the_record() {
        let r = limited();
        let bytes = r.encode().unwrap();
        let view = RecordView::decode(&bytes).unwrap();
        assert_eq!(view.rate_limit, r.limits.rate_limit);
        assert_eq!(view.quota, r.limits.quota);
        assert_eq!(view.ip_allowlist, r.limits.ip_allowlist.encode());
        assert_eq!(view.companies, r#"["ACME"]"#);
    }

    #[test]
    fn records_of_the_earlier_layout_still_decode_without_limits() {
        let v2 = "ingk-record/2\nkey_1\ningk_...abcd\n1\n\n\nWelyb\n\n[\"*\"]\n\"all\"";
        let view = RecordView::decode(v2.as_bytes()).unwrap();
        assert_eq!(
            (view.key_id, view.methods, view.companies),
            ("key_1", "[\"*\"]", "\"all\"")
        );
        assert_eq!(
            (view.rate_limit, view.quota, view.ip_allowlist),
            (None, None, "")
        );
        // The ten lines under a later tag are refused.
        assert!(RecordView::decode(v2.replace("/2", "/3").as_bytes()).is_none());
        assert!(RecordView::decode(v2.replace("/2", "/4").as_bytes()).is_none());
    }

    #[test]
    fn records_of_the_previous_layout_decode_without_a_creation_time() {
        let current = String::from_utf8(limited().encode().unwrap()).unwrap();
        let mut lines: Vec<&str> = current.split('\n').collect();
        lines.remove(6);
        lines[0] = "ingk-record/3";
        let v3 = lines.join("\n");
        let view = RecordView::decode(v3.as_bytes()).unwrap();
        let now = RecordView::decode(current.as_bytes()).unwrap();
        assert_eq!(view.created_at, None);
        assert_eq!(now.created_at, Some(1_796_000_000));
        assert_eq!(
            RecordView {
                created_at: None,
                ..now
            },
            view
        );
    }

    #[test]
    fn a_record_with_malformed_limits_is_refused() {
        let bytes = limited().encode().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        for (from, to) in [("100/60", "0/60"), ("5000/month", "5000/week")] {
            let broken = text.replace(from, to);
            assert!(RecordView::decode(broken.as_bytes()).is_none(), "{broken}");
        }
    }

    #[test]
    fn the_meet_keeps_the_stricter_limits_and_the_common_addresses() {
        let (a, mut b) = (limited(), limited());
        b.limits.rate_limit = Some(RateLimit {
            limit: 10,
            window_seconds: 60,
        });
        b.limits.ip_allowlist = IpAllowlist::parse(&["10.9.0.0/16".into()]).unwrap();
        let m = a.meet(&b);
        assert_eq!(m.limits.rate_limit, b.limits.rate_limit);
        assert_eq!(m.limits.quota, a.limits.quota);
        assert_eq!(
            m.limits.ip_allowlist.entries(),
            vec!["10.9.0.0/16".to_owned()]
        );
        assert_eq!(record().meet(&a).limits, a.limits);
    }

    #[test]
    fn a_last_use_is_rewritten_at_most_once_a_minute_and_when_unreadable() {
        let at = Timestamp::from_unix(1_000);
        assert_eq!(last_used_value(b"940"), Some(Timestamp::from_unix(940)));
        assert_eq!(last_used_value(b"soon"), None);
        assert!(last_used_due(None, at));
        assert!(last_used_due(Some(b"junk"), at));
        assert!(last_used_due(Some(b"940"), at));
        assert!(!last_used_due(Some(b"941"), at));
    }
}
