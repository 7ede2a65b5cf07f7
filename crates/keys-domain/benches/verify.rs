//! Micro-benchmarks of verify-key's domain work, natively (no Wasm, no store):
//!
//! * `key/*`: parsing a presented key, checksum rejection of a malformed one, SHA-256;
//! * `record/*`: encoding (admin side) and decoding (verify-key) a stored verification record,
//!   typical and 50 methods × 200 companies;
//! * `decide/*`: the decision alone on a decoded record;
//! * `verify/*`: the full decision as verify-key takes it — parse and checksum, SHA-256, hex,
//!   record key, decode the stored record, status, expiry, method (wildcards), company
//!   (budget: ≤ 2 µs median for 50 methods and 200 companies);
//! * `answer/*`: writing `/verify`'s JSON answer (`verify::verify_answer`);
//! * `allowlist/*`: the caller's address against a key's encoded IP allowlist
//!   (`allowlist::allows`): empty, and 100 entries, IPv4, mixed, IPv6 hosts (the longest
//!   entries) (budget: ≤ 2 µs median for 100 entries).
//!
//! Run: `cargo bench -p keys-domain --bench verify` (see docs/performance.md).

use criterion::Criterion;
use keys_domain::allowlist::{IpAllowlist, MAX_ENTRIES, allows};
use keys_domain::key::{KeyFormatError, NewSecret, PresentedKey};
use keys_domain::permissions::{CompanyId, CompanyScope};
use keys_domain::record::{RecordView, VerificationRecord, record_key};
use keys_domain::time::Timestamp;
use keys_domain::verify::{VerifyCode, VerifyQuery, decide, verify_answer};
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
        created_at: NOW.unix() - 86_400,
        metadata: Some(r#"{"crm":"X-1"}"#.into()),
        limits: Default::default(),
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
    let record = RecordView::decode(stored).expect("a valid record");
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
    let (typical, large) = (typical_record(), large_record());
    let typical_bytes = typical.encode().unwrap();
    let large_bytes = large.encode().unwrap();
    println!(
        "stored record sizes: typical {} bytes, 50 methods × 200 companies {} bytes",
        typical_bytes.len(),
        large_bytes.len()
    );
    let mut g = c.benchmark_group("record");
    g.bench_function("encode_50m_200c", |b| {
        b.iter(|| black_box(&large).encode().unwrap())
    });
    g.bench_function("decode_typical", |b| {
        b.iter(|| RecordView::decode(black_box(&typical_bytes)).unwrap())
    });
    g.bench_function("decode_50m_200c", |b| {
        b.iter(|| RecordView::decode(black_box(&large_bytes)).unwrap())
    });
    g.finish();

    let record = RecordView::decode(&large_bytes).unwrap();
    let query = VerifyQuery {
        method: Some(LARGE_METHOD),
        company: Some(LARGE_COMPANY),
        ip: None,
        strict: false,
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
    let typical = typical_record().encode().unwrap();
    let large = large_record().encode().unwrap();
    let typical_query = VerifyQuery {
        method: Some("employees.read"),
        company: Some("ACME"),
        ip: None,
        strict: false,
    };
    let large_query = VerifyQuery {
        method: Some(LARGE_METHOD),
        company: Some(LARGE_COMPANY),
        ip: None,
        strict: false,
    };
    assert_eq!(
        full_decision(&key, &large, large_query).0,
        VerifyCode::Valid
    );
    assert_eq!(
        full_decision(&key, &typical, typical_query).0,
        VerifyCode::Valid
    );
    // Near misses scan everything and must still be refused.
    for (method, company, code) in [
        ("payroll2.x", LARGE_COMPANY, VerifyCode::MethodNotAllowed),
        (LARGE_METHOD, "C200", VerifyCode::CompanyNotAllowed),
    ] {
        let q = VerifyQuery {
            method: Some(method),
            company: Some(company),
            ip: None,
            strict: false,
        };
        assert_eq!(full_decision(&key, &large, q).0, code);
    }
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
}

fn answer_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("answer");
    for (name, record) in [("typical", typical_record()), ("50m_200c", large_record())] {
        let bytes = record.encode().unwrap();
        let view = RecordView::decode(&bytes).unwrap();
        g.bench_function(format!("verify_json_{name}"), |b| {
            b.iter(|| {
                verify_answer(
                    VerifyCode::Valid,
                    Some(black_box(&view)),
                    &Default::default(),
                    &VerifyQuery {
                        method: Some("employees.read"),
                        company: Some("ACME"),
                        ip: None,
                        strict: false,
                    },
                )
            })
        });
    }
    g.finish();
}

/// An allowlist of `MAX_ENTRIES` IPv4 blocks (`10.0.0.0/24` … `10.0.99.0/24`), none of which
/// holds `192.0.2.1`: every entry is compared.
fn v4_allowlist() -> IpAllowlist {
    let entries: Vec<String> = (0..MAX_ENTRIES).map(|i| format!("10.0.{i}.0/24")).collect();
    IpAllowlist::parse(&entries).unwrap()
}

/// An allowlist of `MAX_ENTRIES` blocks, IPv4 and IPv6 in turn (`10.0.i.0/24`,
/// `2001:db8:i::/48`), the last one `2001:db8:63::/48`: `2001:db8:63::1` matches it only.
fn mixed_allowlist() -> IpAllowlist {
    let entries: Vec<String> = (0..MAX_ENTRIES)
        .map(|i| match i % 2 {
            0 => format!("10.0.{i}.0/24"),
            _ => format!("2001:db8:{i:x}::/48"),
        })
        .collect();
    IpAllowlist::parse(&entries).unwrap()
}

/// An allowlist of `MAX_ENTRIES` IPv6 hosts (`2001:db8::` … `2001:db8::63`): the longest
/// entries (every digit of the address), none of which holds `2001:db8::ffff`.
fn v6_hosts_allowlist() -> IpAllowlist {
    let entries: Vec<String> = (0..MAX_ENTRIES)
        .map(|i| format!("2001:db8::{i:x}"))
        .collect();
    IpAllowlist::parse(&entries).unwrap()
}

fn allowlist_benches(c: &mut Criterion) {
    let (v4, mixed) = (v4_allowlist().encode(), mixed_allowlist().encode());
    let v6_hosts = v6_hosts_allowlist().encode();
    let (v4_miss, v6_last, v6_miss) = ("192.0.2.1", "2001:db8:63::1", "2001:db8::ffff");
    assert!(!allows(&v4, Some(v4_miss)));
    assert!(allows(&mixed, Some(v6_last)));
    assert!(!allows(&mixed, Some("2001:db8:64::1")));
    assert!(!allows(&v6_hosts, Some(v6_miss)));
    assert!(allows("", Some(v4_miss)));
    println!(
        "encoded allowlist sizes: 100 IPv4 {} bytes, 100 mixed {} bytes, 100 IPv6 hosts {} bytes",
        v4.len(),
        mixed.len(),
        v6_hosts.len()
    );
    let mut g = c.benchmark_group("allowlist");
    g.bench_function("empty", |b| {
        b.iter(|| allows(black_box(""), black_box(Some(v4_miss))))
    });
    g.bench_function("100_v4_no_match", |b| {
        b.iter(|| allows(black_box(&v4), black_box(Some(v4_miss))))
    });
    g.bench_function("100_mixed_v6_matches_last", |b| {
        b.iter(|| allows(black_box(&mixed), black_box(Some(v6_last))))
    });
    g.bench_function("100_v6_hosts_no_match", |b| {
        b.iter(|| allows(black_box(&v6_hosts), black_box(Some(v6_miss))))
    });
    g.finish();
}

/// Every benchmark, in the order of the summary, with its budget (median, ns) if any.
const SUMMARY: &[(&str, Option<f64>)] = &[
    ("key/parse_malformed_checksum", None),
    ("key/parse_malformed_length", None),
    ("key/parse_valid", None),
    ("key/sha256", None),
    ("key/sha256_hex_record_key", None),
    ("record/encode_50m_200c", None),
    ("record/decode_typical", None),
    ("record/decode_50m_200c", None),
    ("decide/50m_200c_wildcard_last_company_last", None),
    ("verify/full_decision_typical", None),
    ("verify/full_decision_50m_200c", Some(2_000.0)),
    ("answer/verify_json_typical", None),
    ("answer/verify_json_50m_200c", None),
    ("allowlist/empty", None),
    ("allowlist/100_v4_no_match", Some(2_000.0)),
    ("allowlist/100_mixed_v6_matches_last", Some(2_000.0)),
    ("allowlist/100_v6_hosts_no_match", Some(2_000.0)),
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
    allowlist_benches(&mut c);
    c.final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` runs each benchmark once and
    // writes no estimates.
    if std::env::args().any(|a| a == "--bench") {
        summary(started);
    }
}
