//! Unit tests of [`crate::model`].

use super::*;
use crate::events::{Changes, limits_changes};

#[test]
fn a_limits_patch_replaces_only_the_fields_sent_and_null_removes() {
    let current = LimitsPatch::parse(
        Some(r#"{"limit": 10, "window_seconds": 60}"#),
        Some(r#"{"limit": 100, "period": "day"}"#),
        Some(r#"["10.0.0.0/8"]"#),
    )
    .unwrap()
    .apply(&Limits::default());
    let patched = LimitsPatch::parse(Some("null"), None, Some("[]"))
        .unwrap()
        .apply(&current);
    assert_eq!(patched.rate_limit, None);
    assert_eq!(patched.quota, current.quota);
    assert!(patched.ip_allowlist.is_empty());
    let nothing = LimitsPatch::parse(None, None, None)
        .unwrap()
        .apply(&current);
    assert_eq!(nothing, current);
    assert!(limits_changes(&current, &nothing).unwrap().is_none());
    let changes = limits_changes(&current, &patched)
        .unwrap()
        .unwrap()
        .into_json();
    assert_eq!(
        changes,
        r#"{"rate_limit":{"from":{"limit":10,"window_seconds":60},"to":null},"ip_allowlist":{"from":["10.0.0.0/8"],"to":[]}}"#
    );
}

#[test]
fn an_allowlist_that_is_not_an_array_of_strings_is_refused_naming_the_field() {
    for raw in [r#""10.0.0.0/8""#, "[42]", "{}"] {
        let err = LimitsPatch::parse(None, None, Some(raw)).unwrap_err();
        assert_eq!(err.status(), 422);
        assert!(err.to_string().starts_with("ip_allowlist"), "{err}");
    }
}

#[test]
fn limits_round_trip_through_their_sqlite_text() {
    let limits = LimitsPatch::parse(
        Some(r#"{"limit": 5, "window_seconds": 1}"#),
        Some(r#"{"limit": 7, "period": "month"}"#),
        Some(r#"["2001:db8::/32", "192.0.2.1"]"#),
    )
    .unwrap()
    .apply(&Limits::default());
    let text = limits_to_stored(&limits).unwrap().unwrap();
    assert_eq!(limits_from_stored(&text), Some(limits));
    assert_eq!(limits_to_stored(&Limits::default()).unwrap(), None);
    for corrupt in [
        "{}",
        r#"{"rate_limit":{"limit":0,"window_seconds":1},"quota":null,"ip_allowlist":[]}"#,
    ] {
        assert_eq!(limits_from_stored(corrupt), None, "{corrupt}");
    }
}

#[test]
fn labels_are_trimmed_and_bounded() {
    assert_eq!(
        Label::parse("  Welyb production  ").unwrap().as_str(),
        "Welyb production"
    );
    assert!(Label::parse("").is_err());
    assert!(Label::parse("   ").is_err());
    assert!(
        Label::parse(&"é".repeat(200)).is_ok(),
        "200 characters, not bytes"
    );
    assert!(Label::parse(&"é".repeat(201)).is_err());
    assert!(Label::parse("line\nbreak").is_err());
    assert_eq!(Label::parse("").unwrap_err().status(), 422);
}

#[test]
fn a_label_that_looks_like_a_key_is_refused() {
    assert!(Label::parse("ingk_abc").is_err());
}

#[test]
fn expiry_must_be_a_future_rfc3339_instant() {
    let now = Timestamp::from_unix(1_800_000_000);
    assert!(parse_expiry("2030-01-01T00:00:00Z", now).is_ok());
    assert!(parse_expiry(&now.to_string(), now).is_err());
    assert!(parse_expiry("tomorrow", now).is_err());
}

fn metadata(json: &str) -> Result<Metadata, serde_json::Error> {
    serde_json::from_str(json)
}

#[test]
fn metadata_is_bounded_in_size() {
    let small = metadata(&format!(r#"{{"crm":"{}"}}"#, "x".repeat(100))).unwrap();
    assert!(small.check().is_ok());
    let big = metadata(&format!(
        r#"{{"crm":"{}"}}"#,
        "x".repeat(MAX_METADATA_BYTES)
    ))
    .unwrap();
    assert_eq!(big.check().unwrap_err().status(), 422);
}

#[test]
fn metadata_is_an_object_kept_compact_and_in_order() {
    let m = metadata("{ \"z\" : [1, 2],\n \"a\": {\"s\": \"two  words, \\\" \\\\ \"} }").unwrap();
    assert_eq!(m.as_json(), r#"{"z":[1,2],"a":{"s":"two  words, \" \\ "}}"#);
    assert_eq!(serde_json::to_string(&m).unwrap(), m.as_json());
    for bad in ["\"x\"", "[1]", "null", "3", "{\"a\":1,\"a\":2}"] {
        assert!(metadata(bad).is_err(), "{bad}");
    }
    assert!(
        metadata("{\"a\":{\"b\":1},\"b\":{\"b\":2}}").is_ok(),
        "nested names may repeat"
    );
    assert_eq!(Metadata::from_stored("{}").unwrap().as_json(), "{}");
    assert!(Metadata::from_stored("[]").is_none());
    assert!(Metadata::from_stored("{").is_none());
}

#[test]
fn metadata_a_strict_parser_would_refuse_is_refused() {
    for bad in [
        r#"{"a":{"b":1,"b":2}}"#,
        r#"{"a":[{"x":1,"x":1}]}"#,
        r#"{"s":"\ud800"}"#,
        r#"{"s":"\udc00x"}"#,
        r#"{"n":1e400}"#,
        r#"{"n":-1e400}"#,
    ] {
        let err = metadata(bad).unwrap_err().to_string();
        assert!(!err.contains("ud800") && !err.contains("1e400"), "{err}");
        assert!(
            err.contains("twice") || err.contains("Unicode") || err.contains("range"),
            "{bad}: {err}"
        );
    }
    assert!(
        metadata(r#"{"s":"\ud83d\ude00","n":1e300}"#).is_ok(),
        "a pair is fine"
    );
}

#[test]
fn metadata_holding_a_key_anywhere_is_refused() {
    let key = crate::key::NewSecret::generate()
        .unwrap()
        .expose()
        .to_string();
    for json in [
        format!(r#"{{"secret":"{key}"}}"#),
        format!(r#"{{"deep":[{{"note":"copy of {key}"}}]}}"#),
        format!(r#"{{"{key}":1}}"#),
        format!(r#"{{"s":"\u200b{key}"}}"#),
    ] {
        let err = metadata(&json).unwrap().check().unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (422, "secret_in_text"),
            "{json}"
        );
    }
    assert!(metadata(r#"{"s":"ingk_ prefix"}"#).unwrap().check().is_ok());
}

#[test]
fn a_leak_concerns_the_live_secret_unless_it_says_otherwise() {
    let leak = |live_secret| Leak {
        reported_at: Timestamp::from_unix(1_800_000_000),
        url: None,
        source: None,
        scanner: "github",
        live_secret,
    };
    assert!(leak(true).to_stored().unwrap().concerns_live_secret());
    assert!(!leak(false).to_stored().unwrap().concerns_live_secret());
    let before = StoredLeak::from_stored(r#"{"scanner":"gitlab"}"#).unwrap();
    assert!(before.concerns_live_secret(), "the stricter reading");
}

#[test]
fn a_label_holding_a_key_or_bidi_controls_is_refused() {
    let key = crate::key::NewSecret::generate()
        .unwrap()
        .expose()
        .to_string();
    for label in [format!("copy of {key}"), format!("\u{200B}{key}")] {
        let err = Label::parse(&label).unwrap_err();
        assert_eq!(err.code(), "secret_in_text", "{label}");
    }
    let err = Label::parse("Welyb \u{202E}dorp").unwrap_err();
    assert_eq!(err.code(), "validation_failed");
    assert!(Label::parse("Welyb prod").is_ok());
}

#[test]
fn a_member_repeated_among_thousands_is_found() {
    let members: Vec<String> = (0..5_000).map(|i| format!(r#""m{i}":{i}"#)).collect();
    let many = format!("{{{}}}", members.join(","));
    let parsed = metadata(&many).unwrap();
    assert_eq!(
        parsed.check().unwrap_err().status(),
        422,
        "too big, but readable"
    );
    let repeated = format!(r#"{{{},"m4321":0}}"#, members.join(","));
    let err = metadata(&repeated).unwrap_err().to_string();
    assert!(err.contains("`m4321` twice"), "{err}");
}

#[test]
fn changes_are_a_json_object_of_members() {
    let changes = Changes::new()
        .change("label", &"A", &"B \"quoted\"")
        .unwrap()
        .set("grace_period_seconds", &60)
        .unwrap()
        .set("expires_at", &None::<Timestamp>)
        .unwrap()
        .into_json();
    let parsed: serde_json::Value = serde_json::from_str(&changes).unwrap();
    assert_eq!(
        parsed,
        serde_json::json!({
            "label": { "from": "A", "to": "B \"quoted\"" },
            "grace_period_seconds": 60,
            "expires_at": null,
        })
    );
    assert_eq!(Changes::new().into_json(), "{}");
}

#[test]
fn whole_numbers_may_be_written_with_a_fraction_of_zero() {
    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "whole_number")]
        n: u64,
    }
    let read = |json: &str| serde_json::from_str::<Body>(json).map(|b| b.n);
    assert_eq!(read(r#"{"n":60}"#).unwrap(), 60);
    assert_eq!(read(r#"{"n":60.0}"#).unwrap(), 60);
    assert_eq!(read(r#"{"n":6e1}"#).unwrap(), 60);
    assert_eq!(read(r#"{"n":-0.0}"#).unwrap(), 0);
    for bad in [
        r#"{"n":60.5}"#,
        r#"{"n":-1}"#,
        r#"{"n":-1.0}"#,
        r#"{"n":"60"}"#,
        r#"{"n":1e300}"#,
    ] {
        assert!(read(bad).is_err(), "{bad}");
    }
}

#[test]
fn grants_are_normalized_and_malformed_ones_named() {
    let parsed = parse_grants(&[
        "payroll.*".into(),
        "employees.read".into(),
        "payroll.*".into(),
    ])
    .unwrap();
    let texts: Vec<String> = parsed.iter().map(ToString::to_string).collect();
    assert_eq!(texts, ["employees.read", "payroll.*"]);
    let err = parse_grants(&["Employees".into(), "ok.read".into(), "a..b".into()]).unwrap_err();
    assert!(
        err.to_string().contains("`Employees`") && err.to_string().contains("`a..b`"),
        "{err}"
    );
    assert!(!err.to_string().contains("ok.read"));
}
