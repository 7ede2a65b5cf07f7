//! Micro-benchmarks of verify-key's domain work, natively (no Wasm, no store):
//!
//! * `key/*`: parsing a presented key, checksum rejection of a malformed one, SHA-256;
//! * `record/*`: decoding a stored verification record (typical, and 50 methods × 200
//!   companies);
//! * `decide/*`: the decision alone on a decoded record;
//! * `verify/*`: the full decision as verify-key takes it — parse and checksum, SHA-256, hex,
//!   record key, decode the stored record, status, expiry, method (wildcards), company
//!   (budget: ≤ 2 µs median for 50 methods and 200 companies);
//! * `answer/*`: serialising `/verify`'s JSON answer (the component's shape, copied here);
//! * `proposal/*`: the same decision with the record decoded without allocating per string,
//!   to size the fix proposed in docs/performance.md. Not used by the app.
//!
//! Run: `cargo bench -p keys-domain --bench verify` (see docs/performance.md).

use criterion::Criterion;
use keys_domain::key::{KeyFormatError, NewSecret, PresentedKey};
use keys_domain::permissions::{
    CompanyId, CompanyScope, grants_allow, is_company_id, is_method_name,
};
use keys_domain::record::{VerificationRecord, VerifyCode, VerifyQuery, decide, record_key};
use keys_domain::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::hint::black_box;

/// A fixed "now", so that no benchmark reads the clock.
const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

/// The method asked in the large case: covered only by the last grant (`payroll.*`), so the
/// whole grant list is scanned.
const LARGE_METHOD: &str = "payroll.payslips.read";
/// The company asked in the large case: the last of the 200 (sorted), a full scan.
const LARGE_COMPANY: &str = "C199";

fn secret() -> NewSecret {
    NewSecret::from_random_bytes([42; 32])
}

/// A key with the right shape and one character changed: fails the checksum.
fn typo(key: &str) -> String {
    let mut bytes = key.as_bytes().to_vec();
    bytes[20] = if bytes[20] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

/// The record of a typical key: three grants (one wildcard), two companies.
fn typical_record() -> VerificationRecord {
    VerificationRecord {
        key_id: "key_2nZC75o5FAuE1pPsAOXydQ".into(),
        label: "Welyb production".into(),
        hint: "ingk_...VZ8f".into(),
        active: true,
        methods: vec![
            "absences.read".into(),
            "employees.read".into(),
            "payroll.*".into(),
        ],
        companies: CompanyScope::Only(vec![
            CompanyId::parse("ACME").unwrap(),
            CompanyId::parse("GLOBEX").unwrap(),
        ]),
        expires_at: Some(NOW.unix() + 86_400),
        valid_until: None,
        metadata: Some(
            serde_json::value::RawValue::from_string(r#"{"crm":"X-1"}"#.into()).unwrap(),
        ),
    }
}

/// The record of a key with 50 grants (49 exact, then `payroll.*`) and 200 companies, in
/// the order the admin components write them (sorted).
fn large_record() -> VerificationRecord {
    let mut methods: Vec<String> = [
        "absences.read",
        "absences.write",
        "documents.read",
        "documents.write",
        "employees.read",
        "employees.write",
        "organization.read",
        "time.read",
        "time.write",
    ]
    .iter()
    .map(|m| m.to_string())
    .collect();
    methods.extend((0..40).map(|i| format!("bench.m{i:02}")));
    methods.sort();
    methods.push("payroll.*".into());
    assert_eq!(methods.len(), 50);
    let companies = (0..200)
        .map(|i| CompanyId::parse(&format!("C{i:03}")).unwrap())
        .collect();
    VerificationRecord {
        methods,
        companies: CompanyScope::Only(companies),
        ..typical_record()
    }
}

/// Everything verify-key does between reading the body and writing the answer, minus the
/// key-value read (the stored bytes are given).
fn full_decision(key: &str, stored: &[u8], query: VerifyQuery<'_>) -> (VerifyCode, usize) {
    let Ok(presented) = PresentedKey::parse(key) else {
        return (VerifyCode::NotFound, 0);
    };
    let name = record_key(&presented.hash().to_hex());
    // The component reads `name` from the store here.
    let record: VerificationRecord = serde_json::from_slice(stored).expect("a valid record");
    (decide(Some(&record), NOW, query), name.len())
}

fn key_benches(c: &mut Criterion) {
    let secret = secret();
    let key = secret.expose().to_string();
    let bad_checksum = typo(&key);
    let bad_shape = format!("{key}x");
    assert_eq!(
        PresentedKey::parse(&bad_checksum).err(),
        Some(KeyFormatError::BadChecksum)
    );
    let mut g = c.benchmark_group("key");
    g.bench_function("parse_malformed_checksum", |b| {
        b.iter(|| PresentedKey::parse(black_box(&bad_checksum)).is_err())
    });
    g.bench_function("parse_malformed_length", |b| {
        b.iter(|| PresentedKey::parse(black_box(&bad_shape)).is_err())
    });
    g.bench_function("parse_valid", |b| {
        b.iter(|| PresentedKey::parse(black_box(&key)).is_ok())
    });
    let presented = PresentedKey::parse(&key).unwrap();
    g.bench_function("sha256", |b| b.iter(|| black_box(presented).hash()));
    g.bench_function("sha256_hex_record_key", |b| {
        b.iter(|| record_key(&black_box(presented).hash().to_hex()))
    });
    g.finish();
}

fn record_benches(c: &mut Criterion) {
    let typical = serde_json::to_vec(&typical_record()).unwrap();
    let large = serde_json::to_vec(&large_record()).unwrap();
    println!(
        "stored record sizes: typical {} bytes, 50 methods × 200 companies {} bytes",
        typical.len(),
        large.len()
    );
    let mut g = c.benchmark_group("record");
    g.bench_function("decode_typical", |b| {
        b.iter(|| serde_json::from_slice::<VerificationRecord>(black_box(&typical)).unwrap())
    });
    g.bench_function("decode_50m_200c", |b| {
        b.iter(|| serde_json::from_slice::<VerificationRecord>(black_box(&large)).unwrap())
    });
    g.finish();

    let record = large_record();
    let query = VerifyQuery {
        method: Some(LARGE_METHOD),
        company: Some(LARGE_COMPANY),
    };
    assert_eq!(decide(Some(&record), NOW, query), VerifyCode::Valid);
    let mut g = c.benchmark_group("decide");
    g.bench_function("50m_200c_wildcard_last_company_last", |b| {
        b.iter(|| decide(Some(black_box(&record)), NOW, black_box(query)))
    });
    g.finish();
}

fn verify_benches(c: &mut Criterion) {
    let secret = secret();
    let key = secret.expose().to_string();
    let typical = serde_json::to_vec(&typical_record()).unwrap();
    let large = serde_json::to_vec(&large_record()).unwrap();
    let typical_query = VerifyQuery {
        method: Some("employees.read"),
        company: Some("ACME"),
    };
    let large_query = VerifyQuery {
        method: Some(LARGE_METHOD),
        company: Some(LARGE_COMPANY),
    };
    assert_eq!(
        full_decision(&key, &large, large_query).0,
        VerifyCode::Valid
    );
    assert_eq!(
        full_decision(&key, &typical, typical_query).0,
        VerifyCode::Valid
    );
    let mut g = c.benchmark_group("verify");
    g.bench_function("full_decision_typical", |b| {
        b.iter(|| {
            full_decision(
                black_box(&key),
                black_box(&typical),
                black_box(typical_query),
            )
        })
    });
    g.bench_function("full_decision_50m_200c", |b| {
        b.iter(|| full_decision(black_box(&key), black_box(&large), black_box(large_query)))
    });
    g.finish();

    // The proposal: decode the record without allocating a String per grant and company.
    assert_eq!(
        borrowed_full_decision(&key, &large, large_query).0,
        VerifyCode::Valid
    );
    assert_eq!(
        borrowed_full_decision(&key, &typical, typical_query).0,
        VerifyCode::Valid
    );
    for (name, other_method, other_company) in [
        ("method", Some("payroll2.x"), Some(LARGE_COMPANY)),
        ("company", Some(LARGE_METHOD), Some("C200")),
    ] {
        let q = VerifyQuery {
            method: other_method,
            company: other_company,
        };
        assert_eq!(
            borrowed_full_decision(&key, &large, q).0,
            full_decision(&key, &large, q).0,
            "the proposal decides like the domain ({name})"
        );
    }
    let mut g = c.benchmark_group("proposal");
    g.bench_function("borrowed_decode_50m_200c", |b| {
        b.iter(|| serde_json::from_slice::<RecordView<'_>>(black_box(&large)).unwrap())
    });
    g.bench_function("borrowed_full_decision_typical", |b| {
        b.iter(|| {
            borrowed_full_decision(
                black_box(&key),
                black_box(&typical),
                black_box(typical_query),
            )
        })
    });
    g.bench_function("borrowed_full_decision_50m_200c", |b| {
        b.iter(|| {
            borrowed_full_decision(black_box(&key), black_box(&large), black_box(large_query))
        })
    });

    // The second proposal: the lists kept as raw JSON, scanned in place.
    for (q, stored) in [(large_query, &large), (typical_query, &typical)] {
        assert_eq!(raw_full_decision(&key, stored, q).0, VerifyCode::Valid);
    }
    for (method, company) in [
        (Some("payroll2.x"), Some(LARGE_COMPANY)),
        (Some(LARGE_METHOD), Some("C200")),
        (Some("payroll"), None),
        (Some("bench.m3"), None),
        (Some("bench.m39"), Some("C19")),
        (Some("employees.read"), Some("C000")),
        (None, Some("ACME")),
    ] {
        let q = VerifyQuery { method, company };
        for stored in [&large, &typical] {
            assert_eq!(
                raw_full_decision(&key, stored, q).0,
                full_decision(&key, stored, q).0,
                "the raw proposal decides like the domain ({method:?}, {company:?})"
            );
        }
    }
    g.bench_function("raw_full_decision_typical", |b| {
        b.iter(|| {
            raw_full_decision(
                black_box(&key),
                black_box(&typical),
                black_box(typical_query),
            )
        })
    });
    g.bench_function("raw_full_decision_50m_200c", |b| {
        b.iter(|| raw_full_decision(black_box(&key), black_box(&large), black_box(large_query)))
    });
    let raw: RecordRaw<'_> = serde_json::from_slice(&large).unwrap();
    let answer = RawAnswer {
        valid: true,
        code: VerifyCode::Valid,
        key_id: raw.key_id,
        label: &raw.label,
        methods: raw.methods,
        companies: raw.companies,
        expires_at: raw.expires_at.map(Timestamp::from_unix),
        metadata: raw.metadata,
    };
    g.bench_function("raw_answer_json_50m_200c", |b| {
        b.iter(|| serde_json::to_vec(black_box(&answer)).unwrap())
    });
    g.finish();
}

/// A verification record with the grant and company lists left as raw JSON: serde_json only
/// checks them while skipping, and the decision scans them in place (no allocation).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // decoded to be checked
struct RecordRaw<'a> {
    key_id: &'a str,
    #[serde(borrow)]
    label: std::borrow::Cow<'a, str>,
    hint: &'a str,
    active: bool,
    #[serde(borrow)]
    methods: &'a serde_json::value::RawValue,
    #[serde(borrow)]
    companies: &'a serde_json::value::RawValue,
    expires_at: Option<i64>,
    valid_until: Option<i64>,
    #[serde(borrow)]
    metadata: Option<&'a serde_json::value::RawValue>,
}

/// The strings of a raw JSON array of grants or company ids. Their grammars exclude `"`,
/// `\`, `,` and white space, so splitting on commas is exact; anything else (a string
/// with an escape, white space) returns `None` and a real implementation would fall back to
/// the full decoder.
fn raw_strings(raw: &str) -> Option<impl Iterator<Item = &str>> {
    let inner = raw.strip_prefix('[')?.strip_suffix(']')?;
    if inner.bytes().any(|b| b == b'\\' || b.is_ascii_whitespace()) {
        return None;
    }
    Some(
        inner
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_matches('"')),
    )
}

/// [`full_decision`] over a [`RecordRaw`]: same order of checks as `record::decide`.
fn raw_full_decision(key: &str, stored: &[u8], query: VerifyQuery<'_>) -> (VerifyCode, usize) {
    let Ok(presented) = PresentedKey::parse(key) else {
        return (VerifyCode::NotFound, 0);
    };
    let name = record_key(&presented.hash().to_hex());
    let r: RecordRaw<'_> = serde_json::from_slice(stored).expect("a valid record");
    let code = if r.valid_until.is_some_and(|until| NOW.unix() >= until) {
        VerifyCode::NotFound
    } else if !r.active {
        VerifyCode::Disabled
    } else if r.expires_at.is_some_and(|at| NOW.unix() >= at) {
        VerifyCode::Expired
    } else if query.method.is_some_and(|m| {
        !is_method_name(m)
            || !raw_strings(r.methods.get())
                .expect("plain grants")
                .any(|g| keys_domain::permissions::grant_covers(g, m))
    }) {
        VerifyCode::MethodNotAllowed
    } else if query.company.is_some_and(|c| {
        !is_company_id(c)
            || (r.companies.get() != "\"all\""
                && !raw_strings(r.companies.get())
                    .expect("plain ids")
                    .any(|x| x == c))
    }) {
        VerifyCode::CompanyNotAllowed
    } else {
        VerifyCode::Valid
    };
    (code, name.len())
}

/// `/verify`'s answer with the lists copied from the record's raw JSON.
#[derive(Serialize)]
struct RawAnswer<'a> {
    valid: bool,
    code: VerifyCode,
    key_id: &'a str,
    label: &'a str,
    methods: &'a serde_json::value::RawValue,
    companies: &'a serde_json::value::RawValue,
    expires_at: Option<Timestamp>,
    metadata: Option<&'a serde_json::value::RawValue>,
}

/// `/verify`'s answer, with the same fields and order as components/verify-key.
#[derive(Serialize)]
struct Answer<'a> {
    valid: bool,
    code: VerifyCode,
    key_id: &'a str,
    label: &'a str,
    methods: &'a [String],
    companies: &'a CompanyScope,
    expires_at: Option<Timestamp>,
    metadata: Option<&'a serde_json::value::RawValue>,
}

fn answer_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("answer");
    for (name, record) in [("typical", typical_record()), ("50m_200c", large_record())] {
        let answer = Answer {
            valid: true,
            code: VerifyCode::Valid,
            key_id: &record.key_id,
            label: &record.label,
            methods: &record.methods,
            companies: &record.companies,
            expires_at: record.expires_at.map(Timestamp::from_unix),
            metadata: record.metadata.as_deref(),
        };
        g.bench_function(format!("verify_json_{name}"), |b| {
            b.iter(|| serde_json::to_vec(black_box(&answer)).unwrap())
        });
    }
    g.finish();
}

/// A verification record read in place: strings borrowed from the stored bytes (grants and
/// company ids cannot contain JSON escapes; a record that has some would fall back to the
/// owned decoder in a real implementation — here it fails, which the asserts would show).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the fields the decision does not read are decoded to be checked
struct RecordView<'a> {
    key_id: &'a str,
    label: std::borrow::Cow<'a, str>,
    hint: &'a str,
    active: bool,
    #[serde(borrow)]
    methods: Vec<&'a str>,
    #[serde(borrow)]
    companies: ScopeView<'a>,
    expires_at: Option<i64>,
    valid_until: Option<i64>,
    #[serde(borrow)]
    metadata: Option<&'a serde_json::value::RawValue>,
}

/// `"all"` or a list of borrowed company ids.
enum ScopeView<'a> {
    All,
    Only(Vec<&'a str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for ScopeView<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ScopeView<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"all\" or an array of company ids")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                if v == "all" {
                    Ok(ScopeView::All)
                } else {
                    Err(E::custom("not \"all\""))
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(id) = seq.next_element::<&'de str>()? {
                    list.push(id);
                }
                Ok(ScopeView::Only(list))
            }
        }
        d.deserialize_any(V)
    }
}

/// [`full_decision`] over a [`RecordView`]: same order of checks as `record::decide`.
fn borrowed_full_decision(key: &str, stored: &[u8], query: VerifyQuery<'_>) -> (VerifyCode, usize) {
    let Ok(presented) = PresentedKey::parse(key) else {
        return (VerifyCode::NotFound, 0);
    };
    let name = record_key(&presented.hash().to_hex());
    let r: RecordView<'_> = serde_json::from_slice(stored).expect("a valid record");
    let code = if r.valid_until.is_some_and(|until| NOW.unix() >= until) {
        VerifyCode::NotFound
    } else if !r.active {
        VerifyCode::Disabled
    } else if r.expires_at.is_some_and(|at| NOW.unix() >= at) {
        VerifyCode::Expired
    } else if query
        .method
        .is_some_and(|m| !is_method_name(m) || !grants_allow(&r.methods, m))
    {
        VerifyCode::MethodNotAllowed
    } else if query.company.is_some_and(|c| {
        !is_company_id(c)
            || match &r.companies {
                ScopeView::All => false,
                ScopeView::Only(list) => !list.contains(&c),
            }
    }) {
        VerifyCode::CompanyNotAllowed
    } else {
        VerifyCode::Valid
    };
    (code, name.len())
}

/// Every benchmark, in the order of the summary, with its budget (median, ns) if any.
const SUMMARY: &[(&str, Option<f64>)] = &[
    ("key/parse_malformed_checksum", None),
    ("key/parse_malformed_length", None),
    ("key/parse_valid", None),
    ("key/sha256", None),
    ("key/sha256_hex_record_key", None),
    ("record/decode_typical", None),
    ("record/decode_50m_200c", None),
    ("decide/50m_200c_wildcard_last_company_last", None),
    ("verify/full_decision_typical", None),
    ("verify/full_decision_50m_200c", Some(2_000.0)),
    ("answer/verify_json_typical", None),
    ("answer/verify_json_50m_200c", None),
    ("proposal/borrowed_decode_50m_200c", None),
    ("proposal/borrowed_full_decision_typical", None),
    ("proposal/borrowed_full_decision_50m_200c", None),
    ("proposal/raw_full_decision_typical", None),
    ("proposal/raw_full_decision_50m_200c", Some(2_000.0)),
    ("proposal/raw_answer_json_50m_200c", None),
];

/// Where criterion writes its estimates (its own rule: `CRITERION_HOME`, else the cargo
/// target directory).
fn criterion_dir() -> std::path::PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("criterion")
}

/// Prints the median of every benchmark of this run (criterion's `estimates.json` written
/// since `started`; older ones are from another run and shown as not run).
fn summary(started: std::time::SystemTime) {
    println!("\n### Domain micro-benchmarks (native, criterion medians)\n");
    println!("| benchmark | median | budget | |");
    println!("|---|---:|---:|---|");
    for (id, budget) in SUMMARY {
        let path = criterion_dir().join(id).join("new/estimates.json");
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified >= started);
        let median = std::fs::read(&path)
            .ok()
            .filter(|_| fresh)
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|v| v["median"]["point_estimate"].as_f64());
        let Some(ns) = median else {
            println!("| {id} | not run | | |");
            continue;
        };
        let shown = if ns >= 1_000.0 {
            format!("{:.2} µs", ns / 1_000.0)
        } else {
            format!("{ns:.1} ns")
        };
        let (limit, verdict) = match budget {
            Some(b) => (
                format!("≤ {:.0} µs", b / 1_000.0),
                if ns <= *b { "met" } else { "MISSED" },
            ),
            None => (String::new(), ""),
        };
        println!("| {id} | {shown} | {limit} | {verdict} |");
    }
}

fn main() {
    let started = std::time::SystemTime::now();
    let mut c = Criterion::default().configure_from_args();
    key_benches(&mut c);
    record_benches(&mut c);
    verify_benches(&mut c);
    answer_benches(&mut c);
    c.final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` runs each benchmark once and
    // writes no estimates.
    if std::env::args().any(|a| a == "--bench") {
        summary(started);
    }
}
