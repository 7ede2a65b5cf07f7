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
