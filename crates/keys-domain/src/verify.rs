//! The verification decision: what a record allows for a query (method, company, caller's
//! address), in the documented order of codes, and the answers `/verify` and `/authorize`
//! give from it. The record itself and its stored layout are [`crate::record`].

use crate::allowlist;
use crate::limits::LimitState;
use crate::permissions::{is_company_id, is_method_name};
use crate::record::RecordView;
use crate::time::Timestamp;
use serde::Serialize;

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

/// A gateway header naming the method or company (`X-Api-Method`, `X-Api-Company`), or
/// `None` when it names nothing: absent, or empty, as gateways that fill a header from a
/// template send it when the template's source is missing (Caddy's `header_up` does). An
/// empty value is then refused like an absent one in a strict check, never like a bad name.
pub fn named_in_header(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
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

/// Writes `text` as a JSON string.
pub(crate) fn json_string(out: &mut Vec<u8>, text: &str) {
    // Serializing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_empty_gateway_header_names_nothing() {
        assert_eq!(named_in_header(None), None);
        assert_eq!(named_in_header(Some("")), None);
        assert_eq!(named_in_header(Some("ACME")), Some("ACME"));
    }

    use super::*;
    use crate::allowlist::IpAllowlist;
    use crate::permissions::CompanyScope;
    use crate::record::test_support::*;

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
