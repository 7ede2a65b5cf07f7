use super::*;

const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

#[test]
fn a_rate_limit_is_read_from_its_json_object_or_null() {
    assert_eq!(
        RateLimit::parse_json(r#"{"limit": 100, "window_seconds": 60}"#).unwrap(),
        Some(RateLimit {
            limit: 100,
            window_seconds: 60
        })
    );
    assert_eq!(RateLimit::parse_json("null").unwrap(), None);
}

#[test]
fn malformed_rate_limits_are_refused_naming_the_field() {
    for (raw, field) in [
        (r#"{"limit": 0, "window_seconds": 60}"#, "rate_limit.limit"),
        (r#"{"limit": -5, "window_seconds": 60}"#, "rate_limit.limit"),
        (
            r#"{"limit": 1.5, "window_seconds": 60}"#,
            "rate_limit.limit",
        ),
        (
            r#"{"limit": 10, "window_seconds": 0}"#,
            "rate_limit.window_seconds",
        ),
        (
            r#"{"limit": 10, "window_seconds": 86401}"#,
            "rate_limit.window_seconds",
        ),
        (r#"{"limit": 10}"#, "rate_limit"),
        (r#"{"limit": "10", "window_seconds": 60}"#, "rate_limit"),
        (
            r#"{"limit": 10, "window_seconds": 60, "burst": 3}"#,
            "rate_limit",
        ),
        ("42", "rate_limit"),
        (r#""fast""#, "rate_limit"),
    ] {
        let err = RateLimit::parse_json(raw).unwrap_err();
        assert_eq!(err.status(), 422, "{raw}");
        assert!(err.to_string().starts_with(field), "{raw}: {err}");
    }
}

#[test]
fn malformed_quotas_are_refused_naming_the_field() {
    for (raw, field) in [
        (r#"{"limit": 0, "period": "day"}"#, "quota.limit"),
        (r#"{"limit": 10, "period": "week"}"#, "quota.period"),
        (r#"{"limit": 10, "period": 7}"#, "quota"),
        (r#"{"period": "day"}"#, "quota"),
        ("[]", "quota"),
    ] {
        let err = Quota::parse_json(raw).unwrap_err();
        assert_eq!(err.status(), 422, "{raw}");
        assert!(err.to_string().starts_with(field), "{raw}: {err}");
    }
    assert_eq!(
        Quota::parse_json(r#"{"limit": 5000, "period": "month"}"#).unwrap(),
        Some(Quota {
            limit: 5000,
            period: Period::Month
        })
    );
}

#[test]
fn rate_windows_are_aligned_on_the_epoch_and_reset_at_their_end() {
    let r = RateLimit {
        limit: 5,
        window_seconds: 60,
    };
    let w = r.window(Timestamp::from_unix(1_800_000_030));
    assert_eq!((w.index, w.reset, w.length), (30_000_000, 30, 60));
    let w = r.window(Timestamp::from_unix(1_800_000_059));
    assert_eq!((w.index, w.reset), (30_000_000, 1));
    assert_eq!(
        r.window(Timestamp::from_unix(1_800_000_060)).index,
        30_000_001
    );
}

#[test]
fn quota_periods_are_utc_days_and_months() {
    let day = Quota {
        limit: 1,
        period: Period::Day,
    };
    // 2027-01-15T08:00:00Z.
    let t = Timestamp::parse_rfc3339("2027-01-15T08:00:00Z").unwrap();
    let w = day.window(t);
    assert_eq!((w.reset, w.length), (16 * 3600, 86_400));
    let month = Quota {
        limit: 1,
        period: Period::Month,
    };
    let w = month.window(t);
    assert_eq!(w.reset, (16 * 86_400) + 16 * 3600);
    assert_eq!(w.length, 31 * 86_400);
    let feb = month.window(Timestamp::parse_rfc3339("2027-02-28T23:59:59Z").unwrap());
    assert_eq!(
        (feb.index, feb.reset, feb.length),
        (w.index + 1, 1, 28 * 86_400)
    );
}

#[test]
fn limits_survive_the_record_line_and_malformed_lines_are_refused() {
    let r = RateLimit {
        limit: 100,
        window_seconds: 3600,
    };
    assert_eq!(RateLimit::decode(&r.encode()), Some(r));
    let q = Quota {
        limit: 7,
        period: Period::Day,
    };
    assert_eq!(Quota::decode(&q.encode()), Some(q));
    for bad in ["", "100", "0/60", "10/0", "10/86401", "x/60", "-1/60"] {
        assert_eq!(RateLimit::decode(bad), None, "{bad}");
    }
    for bad in ["", "10/week", "0/day", "10"] {
        assert_eq!(Quota::decode(bad), None, "{bad}");
    }
}

#[test]
fn counters_are_named_by_key_window_length_and_window() {
    let r = RateLimit {
        limit: 1,
        window_seconds: 60,
    };
    assert_eq!(r.counter_key("key_a", 7), "rl:key_a:60:7");
    assert_eq!(r.pointer_key("key_a"), "rl:key_a:60:last");
    let q = Quota {
        limit: 1,
        period: Period::Month,
    };
    assert_eq!(q.counter_key("key_a", 683), "qt:key_a:month:683");
}

#[test]
fn the_stricter_of_two_limits_admits_no_more_than_either() {
    let per = |limit, window_seconds| {
        Some(RateLimit {
            limit,
            window_seconds,
        })
    };
    assert_eq!(RateLimit::stricter(per(10, 60), per(100, 60)), per(10, 60));
    assert_eq!(
        RateLimit::stricter(per(100, 3600), per(10, 60)),
        per(100, 3600)
    );
    assert_eq!(RateLimit::stricter(None, per(10, 60)), per(10, 60));
    assert_eq!(RateLimit::stricter(None, None), None);
    let q = |limit, period| Some(Quota { limit, period });
    assert_eq!(
        Quota::stricter(q(10, Period::Day), q(5, Period::Month)),
        q(5, Period::Month)
    );
    assert_eq!(
        Quota::stricter(q(10, Period::Day), None),
        q(10, Period::Day)
    );
}

#[test]
fn a_first_request_deletes_the_windows_two_or_more_back_and_keeps_the_previous_named() {
    // Nothing counted before: only the window two back (absent, harmless) is deleted.
    assert_eq!(sweep(None, 10), (vec![8], "10".to_owned()));
    // The previous window stays named; an older one is deleted.
    assert_eq!(sweep(Some(b"7 9"), 10), (vec![7, 8], "9 10".to_owned()));
    // After a gap, every named window goes.
    assert_eq!(sweep(Some(b"3 4"), 10), (vec![3, 4, 8], "10".to_owned()));
    // A kept window is deleted by the next first request.
    let (_, pointer) = sweep(Some(b"9"), 10);
    assert_eq!(sweep(Some(pointer.as_bytes()), 15).0, vec![9, 10, 13]);
    // A garbled pointer deletes nothing it cannot read.
    assert_eq!(sweep(Some(b"\xff"), 10), (vec![8], "10".to_owned()));
}

#[test]
fn counter_values_read_both_the_sqlite_and_the_redis_encodings() {
    assert_eq!(counter_value(&42i64.to_le_bytes()), Some(42));
    assert_eq!(counter_value(&0i64.to_le_bytes()), Some(0));
    assert_eq!(counter_value(b"42"), Some(42));
    assert_eq!(counter_value(b"12345678"), Some(12_345_678));
    assert_eq!(counter_value(b"-1"), Some(-1));
    assert_eq!(counter_value(b"x"), None);
}

#[test]
fn limit_states_never_report_negative_remaining() {
    let w = Window {
        index: 0,
        reset: 5,
        length: 60,
    };
    assert_eq!(LimitState::new(10, 3, &w).remaining, 7);
    assert_eq!(LimitState::new(10, 12, &w).remaining, 0);
    assert_eq!(LimitState::new(10, -1, &w).remaining, 10);
}

#[test]
fn the_ratelimit_fields_follow_the_draft_syntax() {
    let r = RateLimit {
        limit: 100,
        window_seconds: 60,
    };
    let q = Quota {
        limit: 1000,
        period: Period::Day,
    };
    let rs = LimitState::new(r.limit, 58, &r.window(NOW));
    let qs = LimitState::new(q.limit, 1, &q.window(NOW));
    assert_eq!(
        policy_field(Some(&rs), Some(&qs)).unwrap(),
        "\"rate\";q=100;w=60, \"quota\";q=1000;w=86400"
    );
    let t = r.window(NOW).reset;
    assert_eq!(
        state_field(Some(&rs), None).unwrap(),
        format!("\"rate\";r=42;t={t}")
    );
    assert_eq!(policy_field(None, None), None);
    assert_eq!(state_field(None, None), None);
}

#[test]
fn named_entries_are_the_counters_of_the_windows_a_pointer_names_then_the_pointer() {
    let rate = RateLimit {
        limit: 5,
        window_seconds: 60,
    };
    let entries = named_entries(rate.pointer_key("key_a"), Some(b"41 42"), |i| {
        rate.counter_key("key_a", i)
    });
    assert_eq!(
        entries,
        ["rl:key_a:60:41", "rl:key_a:60:42", "rl:key_a:60:last"]
    );
    assert_eq!(
        named_entries("p".into(), Some(b"\xff"), |i| i.to_string()),
        ["p"],
        "an unreadable pointer names no window"
    );
    assert_eq!(named_entries("p".into(), None, |i| i.to_string()), ["p"]);
}

#[test]
fn a_rate_limit_and_a_quota_are_counted_through_one_interface() {
    let rate = Limit::Rate(RateLimit {
        limit: 10,
        window_seconds: 60,
    });
    let quota = Limit::Quota(Quota {
        limit: 1_000,
        period: Period::Day,
    });
    let now = Timestamp::from_unix(86_400 + 90);
    assert_eq!((rate.limit(), quota.limit()), (10, 1_000));
    assert_eq!(
        (rate.window(now).index, quota.window(now).index),
        (1_441, 1)
    );
    assert_eq!(rate.counter_key("key_1", 7), "rl:key_1:60:7");
    assert_eq!(quota.counter_key("key_1", 7), "qt:key_1:day:7");
    assert_eq!(rate.pointer_key("key_1"), "rl:key_1:60:last");
    assert_eq!(quota.pointer_key("key_1"), "qt:key_1:day:last");
}
