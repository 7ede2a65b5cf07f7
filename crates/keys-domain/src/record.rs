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
mod tests;
