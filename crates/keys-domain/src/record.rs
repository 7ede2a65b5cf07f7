//! The verification record: what verify-key reads from the key-value store for one secret,
//! and the decision it takes from it.

use crate::permissions::{CompanyScope, grants_allow, is_company_id, is_method_name};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Prefix of the key-value key holding the verification record of a secret (then its hash).
pub const RECORD_KEY_PREFIX: &str = "vk:";
/// Prefix of the key-value key holding when a key was last verified (then its id).
pub const LAST_USED_KEY_PREFIX: &str = "used:";
/// `last_used_at` is written at most once per this many seconds per key.
pub const LAST_USED_RESOLUTION_SECS: i64 = 60;

/// The key-value key of the record of the secret with this hash (hex).
pub fn record_key(hash_hex: &str) -> String {
    format!("{RECORD_KEY_PREFIX}{hash_hex}")
}

/// The key-value key of the last-use instant of a key.
pub fn last_used_key(key_id: &str) -> String {
    format!("{LAST_USED_KEY_PREFIX}{key_id}")
}

/// Everything verify-key needs to answer for one secret, denormalised from SQLite.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationRecord {
    /// The key's id.
    pub key_id: String,
    /// The key's label.
    pub label: String,
    /// Prefix and last four characters of the key's current secret.
    pub hint: String,
    /// False while the key is deactivated.
    pub active: bool,
    /// Method access authorizations (grant strings, validated when written).
    pub methods: Vec<String>,
    /// Company access restrictions.
    pub companies: CompanyScope,
    /// When the key stops verifying, Unix seconds.
    pub expires_at: Option<i64>,
    /// For a regenerated key's previous secret: end of its grace period, Unix seconds.
    pub valid_until: Option<i64>,
    /// The key's free-form metadata, kept as raw JSON: verify-key only passes it through.
    pub metadata: Option<Box<serde_json::value::RawValue>>,
}

/// The answer of a verification, checked in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
        }
    }
}

/// The forward-auth (`/authorize`) status of a verification: 204 allowed, 401 when the key
/// itself is refused (missing, malformed, unknown, inactive, expired), 403 when the key is
/// good but not for this method or company.
pub fn authorize_status(code: VerifyCode) -> u16 {
    match code {
        VerifyCode::Valid => 204,
        VerifyCode::MethodNotAllowed | VerifyCode::CompanyNotAllowed => 403,
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
}

/// Whether a record still stands for a live secret at `now`.
pub fn is_live(record: &VerificationRecord, now: Timestamp) -> bool {
    record.valid_until.is_none_or(|until| now.unix() < until)
}

/// The verify decision: not found, disabled, expired, method, company — in that order.
pub fn decide(
    record: Option<&VerificationRecord>,
    now: Timestamp,
    query: VerifyQuery<'_>,
) -> VerifyCode {
    let Some(record) = record.filter(|r| is_live(r, now)) else {
        return VerifyCode::NotFound;
    };
    if !record.active {
        return VerifyCode::Disabled;
    }
    if record.expires_at.is_some_and(|at| now.unix() >= at) {
        return VerifyCode::Expired;
    }
    // A malformed method or company can never have been granted, whatever the grants say.
    if query
        .method
        .is_some_and(|m| !is_method_name(m) || !grants_allow(&record.methods, m))
    {
        return VerifyCode::MethodNotAllowed;
    }
    if query
        .company
        .is_some_and(|c| !is_company_id(c) || !record.companies.allows(c))
    {
        return VerifyCode::CompanyNotAllowed;
    }
    VerifyCode::Valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::CompanyId;

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn record() -> VerificationRecord {
        VerificationRecord {
            key_id: "key_1".into(),
            label: "Welyb".into(),
            hint: "ingk_...abcd".into(),
            active: true,
            methods: vec!["employees.read".into(), "payroll.*".into()],
            companies: CompanyScope::Only(vec![CompanyId::parse("ACME").unwrap()]),
            expires_at: None,
            valid_until: None,
            metadata: None,
        }
    }

    fn ask<'a>(method: Option<&'a str>, company: Option<&'a str>) -> VerifyQuery<'a> {
        VerifyQuery { method, company }
    }

    #[test]
    fn a_missing_record_is_not_found() {
        assert_eq!(decide(None, NOW, ask(None, None)), VerifyCode::NotFound);
    }

    #[test]
    fn an_active_key_with_the_method_and_company_is_valid() {
        let r = record();
        assert_eq!(
            decide(Some(&r), NOW, ask(Some("employees.read"), Some("ACME"))),
            VerifyCode::Valid
        );
        assert_eq!(
            decide(Some(&r), NOW, ask(Some("payroll.payslips.read"), None)),
            VerifyCode::Valid
        );
        assert_eq!(decide(Some(&r), NOW, ask(None, None)), VerifyCode::Valid);
    }

    #[test]
    fn codes_are_checked_in_the_documented_order() {
        let mut r = record();
        r.active = false;
        r.expires_at = Some(NOW.unix() - 1);
        let q = ask(Some("employees.write"), Some("OTHER"));
        assert_eq!(decide(Some(&r), NOW, q), VerifyCode::Disabled);
        r.active = true;
        assert_eq!(decide(Some(&r), NOW, q), VerifyCode::Expired);
        r.expires_at = None;
        assert_eq!(decide(Some(&r), NOW, q), VerifyCode::MethodNotAllowed);
        assert_eq!(
            decide(Some(&r), NOW, ask(Some("employees.read"), Some("OTHER"))),
            VerifyCode::CompanyNotAllowed
        );
    }

    #[test]
    fn a_key_expires_at_the_exact_second_of_its_expiry() {
        let mut r = record();
        r.expires_at = Some(NOW.unix() + 1);
        assert_eq!(decide(Some(&r), NOW, ask(None, None)), VerifyCode::Valid);
        r.expires_at = Some(NOW.unix());
        assert_eq!(decide(Some(&r), NOW, ask(None, None)), VerifyCode::Expired);
    }

    #[test]
    fn a_replaced_secret_verifies_until_its_grace_period_ends_then_is_not_found() {
        let mut r = record();
        r.valid_until = Some(NOW.unix() + 1);
        assert_eq!(decide(Some(&r), NOW, ask(None, None)), VerifyCode::Valid);
        r.valid_until = Some(NOW.unix());
        assert_eq!(decide(Some(&r), NOW, ask(None, None)), VerifyCode::NotFound);
        r.active = false;
        assert_eq!(
            decide(Some(&r), NOW, ask(None, None)),
            VerifyCode::NotFound,
            "details of a dead secret are never shown"
        );
    }

    #[test]
    fn a_key_without_methods_is_denied_every_method_but_passes_when_no_method_is_asked() {
        let mut r = record();
        r.methods.clear();
        assert_eq!(
            decide(Some(&r), NOW, ask(Some("employees.read"), None)),
            VerifyCode::MethodNotAllowed
        );
        assert_eq!(
            decide(Some(&r), NOW, ask(None, Some("ACME"))),
            VerifyCode::Valid
        );
    }

    #[test]
    fn a_key_restricted_to_no_company_reaches_none() {
        let mut r = record();
        r.companies = CompanyScope::Only(vec![]);
        assert_eq!(
            decide(Some(&r), NOW, ask(None, Some("ACME"))),
            VerifyCode::CompanyNotAllowed
        );
        r.companies = CompanyScope::All;
        assert_eq!(
            decide(Some(&r), NOW, ask(None, Some("NEWCO"))),
            VerifyCode::Valid
        );
    }

    #[test]
    fn malformed_methods_and_companies_are_never_allowed_even_by_wildcards() {
        let mut r = record();
        r.methods = vec!["*".into()];
        r.companies = CompanyScope::All;
        assert_eq!(
            decide(Some(&r), NOW, ask(Some("employees.read"), Some("ACME"))),
            VerifyCode::Valid
        );
        assert_eq!(
            decide(Some(&r), NOW, ask(Some("DROP TABLE"), None)),
            VerifyCode::MethodNotAllowed
        );
        assert_eq!(
            decide(Some(&r), NOW, ask(Some(""), None)),
            VerifyCode::MethodNotAllowed
        );
        assert_eq!(
            decide(Some(&r), NOW, ask(None, Some("a/b"))),
            VerifyCode::CompanyNotAllowed
        );
        assert_eq!(
            decide(Some(&r), NOW, ask(None, Some(""))),
            VerifyCode::CompanyNotAllowed
        );
    }

    #[test]
    fn records_round_trip_through_json_and_refuse_unknown_fields() {
        let mut r = record();
        r.metadata =
            Some(serde_json::value::RawValue::from_string(r#"{"crm":"X-1"}"#.into()).unwrap());
        let json = serde_json::to_string(&r).unwrap();
        let back = serde_json::from_str::<VerificationRecord>(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        assert_eq!(back.metadata.unwrap().get(), r#"{"crm":"X-1"}"#);
        let tampered = json.replacen('{', "{\"admin\":true,", 1);
        assert!(serde_json::from_str::<VerificationRecord>(&tampered).is_err());
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
        for code in [VerifyCode::MethodNotAllowed, VerifyCode::CompanyNotAllowed] {
            assert_eq!(authorize_status(code), 403, "{code:?}");
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
    }
}
