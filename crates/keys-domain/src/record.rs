//! The verification record: what verify-key reads from the key-value store for one secret,
//! and the decision and answer it takes from it.
//!
//! # Stored layout
//!
//! A record is UTF-8 text of thirteen lines separated by `\n` (no trailing newline):
//!
//! ```text
//! ingk-record/3
//! key_1a2b…                      key id
//! ingk_...Ab3d                   hint of the secret
//! 1                              1 active, 0 deactivated
//! 1893456000                     expiry, Unix seconds, or empty
//!                                end of a replaced secret's grace period, or empty
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
//! It also reads the ten-line layout `ingk-record/2` of earlier versions (no limits), so that
//! edges can be upgraded before the admin components.

use crate::allowlist::{self, IpAllowlist};
use crate::error::Error;
use crate::limits::{LimitState, Quota, RateLimit};
use crate::permissions::{
    ALL_METHODS, CompanyScope, MethodGrant, is_company_id, is_method_name, meet_grants,
};
use crate::time::Timestamp;
use serde::Serialize;

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
pub const RECORD_FORMAT: &str = "ingk-record/3";
/// First line of the records of earlier versions: ten lines, no limits.
const RECORD_FORMAT_2: &str = "ingk-record/2";
/// The company restriction of a key that may touch every company, as stored.
const ALL_COMPANIES: &str = "\"all\"";
const RECORD_LINES: usize = 13;
const RECORD_LINES_2: usize = 10;

/// The key-value key of the record of the secret with this hash (hex).
pub fn record_key(hash_hex: &str) -> String {
    format!("{RECORD_KEY_PREFIX}{hash_hex}")
}

/// The key-value key of the last-use instant of a key.
pub fn last_used_key(key_id: &str) -> String {
    format!("{LAST_USED_KEY_PREFIX}{key_id}")
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
        let with_limits = match format {
            RECORD_FORMAT => true,
            RECORD_FORMAT_2 => false,
            _ => return None,
        };
        let count = if with_limits {
            RECORD_LINES
        } else {
            RECORD_LINES_2
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

/// The answer of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCode {
    /// The key may make this call.
    Valid,
    /// No such key (unknown, deleted, or a replaced secret past its grace period).
    NotFound,
    /// The key is deactivated.
    Disabled,
    /// The key is past its expiry.
    Expired,
    /// The key may not call this method.
    MethodNotAllowed,
    /// The key may not touch this company.
    CompanyNotAllowed,
    /// The caller's address is not in the key's IP allowlist (or was not given).
    IpNotAllowed,
    /// The key's rate limit is used up for the current window.
    RateLimited,
    /// The key's quota is used up for the current day or month.
    QuotaExceeded,
}

impl VerifyCode {
    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::NotFound => "NOT_FOUND",
            Self::Disabled => "DISABLED",
            Self::Expired => "EXPIRED",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::CompanyNotAllowed => "COMPANY_NOT_ALLOWED",
            Self::IpNotAllowed => "IP_NOT_ALLOWED",
            Self::RateLimited => "RATE_LIMITED",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
        }
    }
}

/// The forward-auth (`/authorize`) status of a verification: 204 allowed, 401 when the key
/// itself is refused (missing, malformed, unknown, inactive, expired), 403 when the key is
/// good but not for this address, method or company, 429 when its rate limit or quota is
/// used up.
pub fn authorize_status(code: VerifyCode) -> u16 {
    match code {
        VerifyCode::Valid => 204,
        VerifyCode::IpNotAllowed | VerifyCode::MethodNotAllowed | VerifyCode::CompanyNotAllowed => {
            403
        }
        VerifyCode::RateLimited | VerifyCode::QuotaExceeded => 429,
        VerifyCode::NotFound | VerifyCode::Disabled | VerifyCode::Expired => 401,
    }
}

/// What a verification asks: the method and company to check, each optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyQuery<'a> {
    /// The API method about to be called; `None` means not checked.
    pub method: Option<&'a str>,
    /// The company about to be touched; `None` means not checked.
    pub company: Option<&'a str>,
    /// The caller's address; checked only against a key with an IP allowlist, which refuses
    /// a verification without one.
    pub ip: Option<&'a str>,
    /// Whether a check that is not asked for is a refusal: the method must be named unless
    /// the key grants every method (`*`), and the company unless the key reaches every
    /// company. Gateway interfaces (`/authorize`) verify calls, where an unnamed method means
    /// a route nobody mapped; `/verify` answers the key's state when nothing is named.
    pub strict: bool,
}

impl VerifyQuery<'_> {
    /// What a verdict covers, in the order checked: the key itself, then its address (when
    /// the key has an IP allowlist), the method and the company when named (or, with
    /// [`VerifyQuery::strict`], required).
    pub fn checked(&self, record: &RecordView<'_>) -> Vec<&'static str> {
        let mut checked = vec!["key"];
        if !record.ip_allowlist.is_empty() {
            checked.push("ip");
        }
        if self.method.is_some() || self.strict && !record.grants_every_method() {
            checked.push("method");
        }
        if self.company.is_some() || self.strict && !record.reaches_every_company() {
            checked.push("company");
        }
        checked
    }
}

/// The verify decision up to the limits: not found, disabled, expired, address, method,
/// company — in that order (an unnamed method or company is refused in a
/// [strict](VerifyQuery::strict) query unless the key grants them all). `VALID` here still has the rate limit and quota to pass (see
/// [`RecordView::rate_limit`]); verify-key counts those in the key-value store.
pub fn decide(
    record: Option<&RecordView<'_>>,
    now: Timestamp,
    query: VerifyQuery<'_>,
) -> VerifyCode {
    let Some(record) = record.filter(|r| r.is_live(now)) else {
        return VerifyCode::NotFound;
    };
    if !record.active {
        return VerifyCode::Disabled;
    }
    if record.expires_at.is_some_and(|at| now.unix() >= at) {
        return VerifyCode::Expired;
    }
    if !allowlist::allows(record.ip_allowlist, query.ip) {
        return VerifyCode::IpNotAllowed;
    }
    // A malformed method or company can never have been granted, whatever the grants say
    // (and the raw-array lookups rely on valid names).
    let method_allowed = match query.method {
        Some(m) => is_method_name(m) && record.allows_method(m),
        None => !query.strict || record.grants_every_method(),
    };
    if !method_allowed {
        return VerifyCode::MethodNotAllowed;
    }
    let company_allowed = match query.company {
        Some(c) => is_company_id(c) && record.allows_company(c),
        None => !query.strict || record.reaches_every_company(),
    };
    if !company_allowed {
        return VerifyCode::CompanyNotAllowed;
    }
    VerifyCode::Valid
}

/// How a key's limits stand, for `/verify`'s answer and `/authorize`'s headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitStates {
    /// The rate limit's state, when the key has one.
    pub rate_limit: Option<LimitState>,
    /// The quota's state, when the key has one.
    pub quota: Option<LimitState>,
}

/// `/verify`'s JSON answer: `{"valid", "code"}`; plus `key_id` when the key exists but
/// cannot be used (`DISABLED`, `EXPIRED`, `IP_NOT_ALLOWED`: a revoked secret tells nothing
/// more about its key); plus, for a usable key (`VALID`, `METHOD_NOT_ALLOWED`,
/// `COMPANY_NOT_ALLOWED`, `RATE_LIMITED`, `QUOTA_EXCEEDED`), `checked` (what the verdict
/// covers, [`VerifyQuery::checked`]), `label`, `methods`, `companies`, `expires_at`,
/// `metadata`, and `rate_limit` / `quota` (`{"limit", "remaining", "reset"}`) when the key has
/// them. Written directly: the arrays and the metadata are copied from the record, not
/// re-encoded.
pub fn verify_answer(
    code: VerifyCode,
    record: Option<&RecordView<'_>>,
    limits: &LimitStates,
    query: &VerifyQuery<'_>,
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(128 + record.map_or(0, |r| r.methods.len() + r.companies.len()));
    out.extend_from_slice(b"{\"valid\":");
    out.extend_from_slice(if code == VerifyCode::Valid {
        b"true"
    } else {
        b"false"
    });
    out.extend_from_slice(b",\"code\":\"");
    out.extend_from_slice(code.as_str().as_bytes());
    out.push(b'"');
    if let Some(r) = record.filter(|_| code != VerifyCode::NotFound) {
        out.extend_from_slice(b",\"key_id\":");
        json_string(&mut out, r.key_id);
        if matches!(
            code,
            VerifyCode::Disabled | VerifyCode::Expired | VerifyCode::IpNotAllowed
        ) {
            out.push(b'}');
            return out;
        }
        out.extend_from_slice(b",\"checked\":[");
        for (i, item) in query.checked(r).into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_string(&mut out, item);
        }
        out.push(b']');
        out.extend_from_slice(b",\"label\":");
        json_string(&mut out, r.label);
        out.extend_from_slice(b",\"methods\":");
        out.extend_from_slice(r.methods.as_bytes());
        out.extend_from_slice(b",\"companies\":");
        out.extend_from_slice(r.companies.as_bytes());
        out.extend_from_slice(b",\"expires_at\":");
        match r.expires_at {
            Some(at) => json_string(&mut out, &Timestamp::from_unix(at).to_string()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"metadata\":");
        out.extend_from_slice(r.metadata.unwrap_or("null").as_bytes());
        for (name, state) in [("rate_limit", limits.rate_limit), ("quota", limits.quota)] {
            if let Some(state) = state {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":");
                // Serializing three integers into a `Vec` cannot fail.
                let _ = serde_json::to_writer(&mut out, &state);
            }
        }
    }
    out.push(b'}');
    out
}

fn json_string(out: &mut Vec<u8>, text: &str) {
    // Serializing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Period;
    use crate::permissions::CompanyId;

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

    fn companies(ids: &[&str]) -> CompanyScope {
        CompanyScope::Only(ids.iter().map(|c| CompanyId::parse(c).unwrap()).collect())
    }

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn record() -> VerificationRecord {
        VerificationRecord {
            key_id: "key_1".into(),
            label: "Welyb".into(),
            hint: "ingk_...abcd".into(),
            active: true,
            methods: vec!["employees.read".into(), "payroll.*".into()],
            companies: companies(&["ACME"]),
            expires_at: None,
            valid_until: None,
            metadata: None,
            limits: Limits::default(),
        }
    }

    /// Encodes, decodes and decides, as the components do.
    fn check(record: &VerificationRecord, query: VerifyQuery<'_>) -> VerifyCode {
        let bytes = record.encode().unwrap();
        let view = RecordView::decode(&bytes).expect("an encoded record decodes");
        decide(Some(&view), NOW, query)
    }

    fn ask<'a>(method: Option<&'a str>, company: Option<&'a str>) -> VerifyQuery<'a> {
        VerifyQuery {
            method,
            company,
            ip: None,
            strict: false,
        }
    }

    fn strictly<'a>(method: Option<&'a str>, company: Option<&'a str>) -> VerifyQuery<'a> {
        VerifyQuery {
            strict: true,
            ..ask(method, company)
        }
    }

    #[test]
    fn a_missing_record_is_not_found() {
        assert_eq!(decide(None, NOW, ask(None, None)), VerifyCode::NotFound);
    }

    #[test]
    fn an_active_key_with_the_method_and_company_is_valid() {
        let r = record();
        assert_eq!(
            check(&r, ask(Some("employees.read"), Some("ACME"))),
            VerifyCode::Valid
        );
        assert_eq!(
            check(&r, ask(Some("payroll.payslips.read"), None)),
            VerifyCode::Valid
        );
        assert_eq!(check(&r, ask(None, None)), VerifyCode::Valid);
    }

    #[test]
    fn codes_are_checked_in_the_documented_order() {
        let mut r = record();
        r.active = false;
        r.expires_at = Some(NOW.unix() - 1);
        let q = ask(Some("employees.write"), Some("OTHER"));
        assert_eq!(check(&r, q), VerifyCode::Disabled);
        r.active = true;
        assert_eq!(check(&r, q), VerifyCode::Expired);
        r.expires_at = None;
        assert_eq!(check(&r, q), VerifyCode::MethodNotAllowed);
        assert_eq!(
            check(&r, ask(Some("employees.read"), Some("OTHER"))),
            VerifyCode::CompanyNotAllowed
        );
    }

    #[test]
    fn a_key_expires_at_the_exact_second_of_its_expiry() {
        let mut r = record();
        r.expires_at = Some(NOW.unix() + 1);
        assert_eq!(check(&r, ask(None, None)), VerifyCode::Valid);
        r.expires_at = Some(NOW.unix());
        assert_eq!(check(&r, ask(None, None)), VerifyCode::Expired);
    }

    #[test]
    fn a_replaced_secret_verifies_until_its_grace_period_ends_then_is_not_found() {
        let mut r = record();
        r.valid_until = Some(NOW.unix() + 1);
        assert_eq!(check(&r, ask(None, None)), VerifyCode::Valid);
        r.valid_until = Some(NOW.unix());
        assert_eq!(check(&r, ask(None, None)), VerifyCode::NotFound);
        r.active = false;
        assert_eq!(
            check(&r, ask(None, None)),
            VerifyCode::NotFound,
            "details of a dead secret are never shown"
        );
    }

    #[test]
    fn a_key_without_methods_is_denied_every_method_but_passes_when_no_method_is_asked() {
        let mut r = record();
        r.methods.clear();
        assert_eq!(
            check(&r, ask(Some("employees.read"), None)),
            VerifyCode::MethodNotAllowed
        );
        assert_eq!(check(&r, ask(None, Some("ACME"))), VerifyCode::Valid);
    }

    #[test]
    fn a_strict_query_refuses_what_it_does_not_name_unless_the_key_grants_it_all() {
        let r = record();
        assert_eq!(
            check(&r, strictly(None, Some("ACME"))),
            VerifyCode::MethodNotAllowed,
            "no method named, and the key does not grant them all"
        );
        assert_eq!(
            check(&r, strictly(Some("employees.read"), None)),
            VerifyCode::CompanyNotAllowed,
            "no company named, and the key is restricted to companies"
        );
        assert_eq!(
            check(&r, strictly(Some("employees.read"), Some("ACME"))),
            VerifyCode::Valid
        );
        let mut everything = record();
        everything.methods = vec!["*".into()];
        everything.companies = CompanyScope::All;
        assert_eq!(check(&everything, strictly(None, None)), VerifyCode::Valid);
        let mut empty = record();
        empty.methods.clear();
        assert_eq!(
            check(&empty, strictly(None, Some("ACME"))),
            VerifyCode::MethodNotAllowed,
            "no grant, no access"
        );
        let mut inactive = record();
        inactive.active = false;
        assert_eq!(
            check(&inactive, strictly(None, None)),
            VerifyCode::Disabled,
            "the key's own state comes first"
        );
    }

    #[test]
    fn a_verdict_says_what_it_covered() {
        let r = record();
        let bytes = r.encode().unwrap();
        let view = RecordView::decode(&bytes).unwrap();
        assert_eq!(ask(None, None).checked(&view), ["key"]);
        assert_eq!(ask(Some("a.b"), None).checked(&view), ["key", "method"]);
        assert_eq!(
            strictly(None, None).checked(&view),
            ["key", "method", "company"]
        );
        let mut fenced = limited();
        fenced.limits.ip_allowlist = IpAllowlist::parse(&["10.0.0.0/8".into()]).unwrap();
        let bytes = fenced.encode().unwrap();
        let view = RecordView::decode(&bytes).unwrap();
        assert_eq!(
            ask(None, Some("ACME")).checked(&view),
            ["key", "ip", "company"]
        );
    }

    #[test]
    fn a_key_restricted_to_no_company_reaches_none() {
        let mut r = record();
        r.companies = companies(&[]);
        assert_eq!(
            check(&r, ask(None, Some("ACME"))),
            VerifyCode::CompanyNotAllowed
        );
        r.companies = CompanyScope::All;
        assert_eq!(check(&r, ask(None, Some("NEWCO"))), VerifyCode::Valid);
    }

    #[test]
    fn malformed_methods_and_companies_are_never_allowed_even_by_wildcards() {
        let mut r = record();
        r.methods = vec!["*".into()];
        r.companies = CompanyScope::All;
        assert_eq!(
            check(&r, ask(Some("employees.read"), Some("ACME"))),
            VerifyCode::Valid
        );
        assert_eq!(
            check(&r, ask(Some("DROP TABLE"), None)),
            VerifyCode::MethodNotAllowed
        );
        assert_eq!(check(&r, ask(Some(""), None)), VerifyCode::MethodNotAllowed);
        assert_eq!(
            check(&r, ask(None, Some("a/b"))),
            VerifyCode::CompanyNotAllowed
        );
        assert_eq!(
            check(&r, ask(None, Some(""))),
            VerifyCode::CompanyNotAllowed
        );
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
        assert_eq!(text.lines().count(), 13, "{text}");
        assert!(
            text.starts_with("ingk-record/3\nkey_1\ningk_...abcd\n1\n"),
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
            good.replacen("ingk-record/3", "ingk-record/1", 1),
            good.replacen("ingk-record/3", "ingk-record/2", 1),
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
    fn raw_lookups_decide_like_the_grant_rules_on_every_combination() {
        use crate::permissions::grant_covers;
        let grants = [
            "*", "a.*", "a.b", "a.b.*", "a.bc", "ab.*", "b.a", "b.a-b.*", "c_d.e",
        ];
        let methods = [
            "a", "a.b", "a.b.c", "a.bc", "a.bcd", "ab.c", "ab", "b.a", "b.a-b.x", "b.a-bx.y",
            "b.a", "c_d.e", "c_d.ef", "x.a.b",
        ];
        // Every subset of the grants, against every method.
        for mask in 0u32..(1 << grants.len()) {
            let chosen: Vec<&str> = (0..grants.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| grants[i])
                .collect();
            let mut r = record();
            r.methods = chosen.iter().map(|g| g.to_string()).collect();
            let bytes = r.encode().unwrap();
            let view = RecordView::decode(&bytes).unwrap();
            for method in methods {
                let expected = chosen.iter().any(|g| grant_covers(g, method));
                assert_eq!(view.allows_method(method), expected, "{chosen:?} {method}");
            }
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
    fn the_verify_answer_carries_details_only_for_existing_keys() {
        let mut r = record();
        r.metadata = Some(r#"{"crm":"X-1"}"#.into());
        r.expires_at = Some(1_893_456_000);
        r.label = "Welyb \"prod\"".into();
        let bytes = r.encode().unwrap();
        let view = RecordView::decode(&bytes).unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&verify_answer(
            VerifyCode::Valid,
            Some(&view),
            &LimitStates::default(),
            &ask(Some("employees.read"), None),
        ))
        .unwrap();
        assert_eq!(
            answer,
            serde_json::json!({
                "valid": true,
                "code": "VALID",
                "key_id": "key_1",
                "checked": ["key", "method"],
                "label": "Welyb \"prod\"",
                "methods": ["employees.read", "payroll.*"],
                "companies": ["ACME"],
                "expires_at": "2030-01-01T00:00:00Z",
                "metadata": { "crm": "X-1" },
            })
        );
        for code in [
            VerifyCode::Disabled,
            VerifyCode::Expired,
            VerifyCode::IpNotAllowed,
        ] {
            let denied: serde_json::Value = serde_json::from_slice(&verify_answer(
                code,
                Some(&view),
                &LimitStates::default(),
                &ask(None, None),
            ))
            .unwrap();
            assert_eq!(
                denied,
                serde_json::json!({ "valid": false, "code": code.as_str(), "key_id": "key_1" }),
                "a key that cannot be used tells nothing more about itself"
            );
        }
        let refused: serde_json::Value = serde_json::from_slice(&verify_answer(
            VerifyCode::MethodNotAllowed,
            Some(&view),
            &LimitStates::default(),
            &ask(Some("documents.read"), Some("ACME")),
        ))
        .unwrap();
        assert_eq!(
            refused["checked"],
            serde_json::json!(["key", "method", "company"])
        );
        assert_eq!(refused["metadata"]["crm"], "X-1");
        r.metadata = None;
        r.expires_at = None;
        r.companies = CompanyScope::All;
        let bytes = r.encode().unwrap();
        let view = RecordView::decode(&bytes).unwrap();
        let plain: serde_json::Value = serde_json::from_slice(&verify_answer(
            VerifyCode::Valid,
            Some(&view),
            &LimitStates::default(),
            &ask(None, None),
        ))
        .unwrap();
        assert_eq!(plain["checked"], serde_json::json!(["key"]));
        assert_eq!(
            (
                &plain["companies"],
                &plain["expires_at"],
                &plain["metadata"]
            ),
            (
                &serde_json::json!("all"),
                &serde_json::Value::Null,
                &serde_json::Value::Null
            )
        );
        for record in [None, Some(&view)] {
            assert_eq!(
                verify_answer(
                    VerifyCode::NotFound,
                    record,
                    &LimitStates::default(),
                    &ask(None, None)
                ),
                br#"{"valid":false,"code":"NOT_FOUND"}"#
            );
        }
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

    fn limited() -> VerificationRecord {
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
        // The ten lines under the new tag, or thirteen under the old, are refused.
        assert!(RecordView::decode(v2.replace("/2", "/3").as_bytes()).is_none());
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
    fn the_address_is_checked_after_expiry_and_before_the_method() {
        let r = limited();
        let ask = |ip, method| VerifyQuery {
            method,
            company: None,
            ip,
            strict: false,
        };
        assert_eq!(check(&r, ask(Some("10.1.2.3"), None)), VerifyCode::Valid);
        assert_eq!(check(&r, ask(Some("2001:db8::7"), None)), VerifyCode::Valid);
        assert_eq!(
            check(&r, ask(Some("192.0.2.1"), None)),
            VerifyCode::IpNotAllowed
        );
        assert_eq!(check(&r, ask(None, None)), VerifyCode::IpNotAllowed);
        assert_eq!(
            check(&r, ask(Some("192.0.2.1"), Some("nope.read"))),
            VerifyCode::IpNotAllowed
        );
        assert_eq!(
            check(&r, ask(Some("10.0.0.1"), Some("nope.read"))),
            VerifyCode::MethodNotAllowed
        );
        let mut expired = r.clone();
        expired.expires_at = Some(NOW.unix() - 1);
        assert_eq!(
            check(&expired, ask(Some("192.0.2.1"), None)),
            VerifyCode::Expired
        );
        // Without an allowlist the address is not looked at, even when missing or garbled.
        assert_eq!(
            check(&record(), ask(Some("garbage"), None)),
            VerifyCode::Valid
        );
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
    fn the_verify_answer_carries_the_limit_states_the_key_has() {
        let bytes = limited().encode().unwrap();
        let view = RecordView::decode(&bytes).unwrap();
        let states = LimitStates {
            rate_limit: Some(LimitState::new(
                100,
                58,
                &crate::limits::Window {
                    index: 0,
                    reset: 20,
                    length: 60,
                },
            )),
            quota: None,
        };
        let answer: serde_json::Value = serde_json::from_slice(&verify_answer(
            VerifyCode::RateLimited,
            Some(&view),
            &states,
            &ask(None, None),
        ))
        .unwrap();
        assert_eq!(answer["code"], "RATE_LIMITED");
        assert_eq!(
            answer["rate_limit"],
            serde_json::json!({"limit": 100, "remaining": 42, "reset": 20})
        );
        assert!(answer.get("quota").is_none());
        assert_eq!(
            verify_answer(VerifyCode::NotFound, None, &states, &ask(None, None)),
            br#"{"valid":false,"code":"NOT_FOUND"}"#
        );
    }

    #[test]
    fn forward_auth_maps_key_problems_to_401_and_access_problems_to_403() {
        assert_eq!(authorize_status(VerifyCode::Valid), 204);
        for code in [
            VerifyCode::NotFound,
            VerifyCode::Disabled,
            VerifyCode::Expired,
        ] {
            assert_eq!(authorize_status(code), 401, "{code:?}");
        }
        for code in [
            VerifyCode::IpNotAllowed,
            VerifyCode::MethodNotAllowed,
            VerifyCode::CompanyNotAllowed,
        ] {
            assert_eq!(authorize_status(code), 403, "{code:?}");
        }
        for code in [VerifyCode::RateLimited, VerifyCode::QuotaExceeded] {
            assert_eq!(authorize_status(code), 429, "{code:?}");
        }
    }

    #[test]
    fn codes_have_stable_wire_names() {
        assert_eq!(
            serde_json::to_string(&VerifyCode::MethodNotAllowed).unwrap(),
            "\"METHOD_NOT_ALLOWED\""
        );
        assert_eq!(
            VerifyCode::CompanyNotAllowed.as_str(),
            "COMPANY_NOT_ALLOWED"
        );
        for code in crate::usage::COUNTED_CODES {
            assert_eq!(
                serde_json::to_string(&code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
        }
    }
}
