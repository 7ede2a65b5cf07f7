use super::review::{
    Context, Counted, Permissions, Window, has_unused_grant, merge, review, simulate,
};
use super::*;
use crate::permissions::CompanyScope;
use crate::record::test_support::companies;

const HOUR: i64 = 490_000;

fn at_hour(hour: i64) -> Timestamp {
    Timestamp::from_unix(hour * 3600 + 120)
}

fn query<'a>(method: Option<&'a str>, company: Option<&'a str>, strict: bool) -> VerifyQuery<'a> {
    VerifyQuery {
        method,
        company,
        ip: None,
        strict,
    }
}

/// The shape a batch counts one verification answered `code` for `q` as, if it counts it.
fn shape_of(code: VerifyCode, q: &VerifyQuery<'_>) -> Option<Shape> {
    let mut batch = Batch::default();
    batch.add("key_1", code, q, at_hour(HOUR));
    batch.drain().pop().map(|c| c.shape)
}

fn shape(code: VerifyCode, method: &str, company: &str) -> Shape {
    Shape {
        code,
        method: method.into(),
        company: company.into(),
    }
}

fn counted(code: VerifyCode, method: &str, company: &str, calls: u64) -> Counted {
    Counted {
        shape: shape(code, method, company),
        calls,
        last_hour: HOUR,
    }
}

fn permissions(methods: &[&str], companies: CompanyScope) -> Permissions {
    Permissions {
        methods: methods.iter().map(|m| m.to_string()).collect(),
        companies,
    }
}

/// Part of the default catalog: four methods under `payroll.`.
const CATALOG: [&str; 6] = [
    "payroll.accounting.read",
    "payroll.payslips.read",
    "payroll.variables.read",
    "payroll.variables.write",
    "employees.read",
    "documents.read",
];

fn catalog() -> Vec<String> {
    CATALOG.iter().map(|m| m.to_string()).collect()
}

fn registered(company: &str) -> bool {
    company != "GONE"
}

#[test]
fn a_shape_keeps_the_named_method_and_company_and_marks_what_was_not_named() {
    let named = shape_of(
        VerifyCode::Valid,
        &query(Some("employees.read"), Some("ACME"), false),
    );
    assert_eq!(
        named,
        Some(shape(VerifyCode::Valid, "employees.read", "ACME"))
    );
    let loose = shape_of(VerifyCode::Valid, &query(None, None, false));
    assert_eq!(loose, Some(shape(VerifyCode::Valid, NONE, NONE)));
    let strict = shape_of(VerifyCode::Valid, &query(None, None, true));
    assert_eq!(strict, Some(shape(VerifyCode::Valid, EVERY, EVERY)));
}

#[test]
fn a_malformed_method_or_company_is_counted_as_other() {
    let q = query(Some("Not A Method"), Some("a company with spaces"), false);
    let s = shape_of(VerifyCode::MethodNotAllowed, &q).unwrap();
    assert_eq!(s, shape(VerifyCode::MethodNotAllowed, OTHER, OTHER));
    assert!(s.is_other());
}

#[test]
fn only_valid_and_permission_refusals_are_counted() {
    let q = query(Some("employees.read"), None, false);
    for code in [
        VerifyCode::Disabled,
        VerifyCode::Expired,
        VerifyCode::IpNotAllowed,
        VerifyCode::RateLimited,
        VerifyCode::QuotaExceeded,
        VerifyCode::NotFound,
    ] {
        assert_eq!(shape_of(code, &q), None, "{code:?}");
    }
    for code in ACCESS_CODES {
        assert!(shape_of(code, &q).is_some());
    }
}

#[test]
fn a_shape_reads_back_what_it_wrote_even_with_a_colon_in_the_company() {
    for s in [
        shape(VerifyCode::Valid, "payroll.payslips.read", "org:ACME"),
        shape(VerifyCode::CompanyNotAllowed, NONE, EVERY),
        shape(VerifyCode::MethodNotAllowed, OTHER, OTHER),
    ] {
        assert_eq!(Shape::decode(&s.encode()), Some(s));
    }
    assert_eq!(Shape::decode("VALID:BAD METHOD:ACME"), None);
    assert_eq!(Shape::decode("RATE_LIMITED:a:b"), None);
    assert_eq!(Shape::decode("VALID:a"), None);
}

#[test]
fn store_names_carry_the_hour_the_key_and_the_shape() {
    let s = shape(VerifyCode::Valid, "employees.read", "ACME");
    assert_eq!(slots_key(7, "key_1"), "acc:h:7:key_1:n");
    assert_eq!(slot_key(7, "key_1", 3), "acc:h:7:key_1:s:3");
    assert_eq!(
        counter_key(7, "key_1", &s),
        "acc:h:7:key_1:c:VALID:employees.read:ACME"
    );
    assert!(
        crate::increments::encode(&[Increment {
            counter: counter_key(7, "key_1", &shape(VerifyCode::Valid, NONE, NONE)),
            delta: 1,
        }])
        .is_ok()
    );
}

#[test]
fn a_batch_counts_each_key_hour_and_shape_once() {
    let mut batch = Batch::default();
    let q = query(Some("employees.read"), Some("ACME"), false);
    batch.add("key_1", VerifyCode::Valid, &q, at_hour(HOUR));
    batch.add("key_1", VerifyCode::Valid, &q, at_hour(HOUR));
    batch.add("key_2", VerifyCode::Valid, &q, at_hour(HOUR));
    batch.add("key_1", VerifyCode::Valid, &q, at_hour(HOUR + 1));
    batch.add("key_1", VerifyCode::RateLimited, &q, at_hour(HOUR));
    let counts = batch.drain();
    let calls: Vec<(i64, &str, i64)> = counts
        .iter()
        .map(|c| (c.hour, c.key_id.as_str(), c.calls))
        .collect();
    assert_eq!(
        calls,
        [
            (HOUR, "key_1", 2),
            (HOUR, "key_2", 1),
            (HOUR + 1, "key_1", 1)
        ]
    );
    assert!(batch.is_empty());
    let written = increments(&counts);
    assert_eq!(
        written[0],
        Increment {
            counter: format!("acc:h:{HOUR}:key_1:c:VALID:employees.read:ACME"),
            delta: 2,
        }
    );
    assert_eq!(written.len(), 3);
}

#[test]
fn usage_sums_the_access_counts_of_each_hour_key_and_code() {
    let count = |hour, key: &str, code, method: &str, calls| HourCount {
        hour,
        key_id: key.into(),
        shape: shape(code, method, "ACME"),
        calls,
    };
    let counts = [
        count(HOUR, "key_1", VerifyCode::Valid, "employees.read", 3),
        count(HOUR, "key_1", VerifyCode::Valid, "documents.read", 2),
        count(
            HOUR,
            "key_1",
            VerifyCode::MethodNotAllowed,
            "payroll.read",
            1,
        ),
        count(HOUR + 1, "key_1", VerifyCode::Valid, "employees.read", 4),
        count(HOUR, "key_2", VerifyCode::Valid, "employees.read", 5),
    ];
    assert_eq!(
        by_code(&counts),
        [
            (HOUR, "key_1", VerifyCode::Valid, 5),
            (HOUR, "key_1", VerifyCode::MethodNotAllowed, 1),
            (HOUR + 1, "key_1", VerifyCode::Valid, 4),
            (HOUR, "key_2", VerifyCode::Valid, 5),
        ]
    );
}

#[test]
fn a_full_batch_counts_new_shapes_as_other_and_keeps_counting_known_ones() {
    let mut batch = Batch::default();
    let names: Vec<String> = (0..=MAX_BATCH_SHAPES).map(|i| format!("m.n{i}")).collect();
    for name in &names {
        batch.add(
            "key_1",
            VerifyCode::Valid,
            &query(Some(name), None, false),
            at_hour(HOUR),
        );
    }
    batch.add(
        "key_1",
        VerifyCode::Valid,
        &query(Some(&names[0]), None, false),
        at_hour(HOUR),
    );
    batch.add(
        "key_1",
        VerifyCode::Valid,
        &query(Some("m.late"), None, false),
        at_hour(HOUR),
    );
    let counts = batch.drain();
    assert_eq!(counts.len(), MAX_BATCH_SHAPES + 1);
    assert_eq!(counts[0].calls, 2);
    let other = counts.last().unwrap();
    assert_eq!(other.shape, Shape::other(VerifyCode::Valid));
    assert_eq!(other.calls, 2);
}

fn created(shapes: &[(Shape, i64)]) -> Created {
    Created {
        hour: HOUR,
        key_id: "key_1".into(),
        shapes: shapes.to_vec(),
    }
}

#[test]
fn created_shapes_take_the_slots_their_increment_reserved() {
    let s = shape(VerifyCode::Valid, "employees.read", "ACME");
    let t = shape(VerifyCode::MethodNotAllowed, "documents.read", "BETA");
    let group = created(&[(s.clone(), 3), (t.clone(), 1)]);
    assert_eq!(group.slot_count().counter, format!("acc:h:{HOUR}:key_1:n"));
    assert_eq!(group.slot_count().delta, 2);
    let placed = place(&group, 7);
    assert_eq!(
        placed.slots,
        [
            (format!("acc:h:{HOUR}:key_1:s:6"), s.encode()),
            (format!("acc:h:{HOUR}:key_1:s:7"), t.encode()),
        ]
    );
    assert!(placed.dropped.is_empty() && placed.moved.is_empty());
}

#[test]
fn shapes_past_the_hours_bound_move_their_calls_to_other_and_other_always_has_a_slot() {
    let s = shape(VerifyCode::Valid, "employees.read", "ACME");
    let t = shape(VerifyCode::MethodNotAllowed, "documents.read", "BETA");
    let other = Shape::other(VerifyCode::Valid);
    let group = created(&[(s.clone(), 3), (t.clone(), 2), (other.clone(), 4)]);
    let placed = place(&group, MAX_SHAPES_PER_HOUR + 2);
    assert_eq!(
        placed.slots,
        [
            (slot_key(HOUR, "key_1", MAX_SHAPES_PER_HOUR), s.encode()),
            (
                slot_key(HOUR, "key_1", MAX_SHAPES_PER_HOUR + 2),
                other.encode()
            ),
        ]
    );
    assert_eq!(placed.dropped, [counter_key(HOUR, "key_1", &t)]);
    assert_eq!(
        placed.moved,
        [Increment {
            counter: counter_key(HOUR, "key_1", &Shape::other(VerifyCode::MethodNotAllowed)),
            delta: 2,
        }]
    );
}

#[test]
fn only_the_increment_that_created_a_counter_registers_its_shape() {
    let s = shape(VerifyCode::Valid, "employees.read", "ACME");
    let t = shape(VerifyCode::MethodNotAllowed, "documents.read", "BETA");
    let written = [
        Increment {
            counter: counter_key(HOUR, "key_1", &s),
            delta: 3,
        },
        Increment {
            counter: counter_key(HOUR, "key_1", &t),
            delta: 2,
        },
        Increment {
            counter: counter_key(HOUR, "key_2", &s),
            delta: 1,
        },
    ];
    // key_1's first shape existed (5 ≠ 3); the two others were created by these increments.
    let found = new_shapes(&written, &[5, 2, 1]);
    assert_eq!(
        found,
        [
            Created {
                hour: HOUR,
                key_id: "key_1".into(),
                shapes: vec![(t, 2)],
            },
            Created {
                hour: HOUR,
                key_id: "key_2".into(),
                shapes: vec![(s, 1)],
            },
        ]
    );
}

#[test]
fn a_window_covers_whole_days_up_to_now_and_refuses_other_lengths() {
    let now = Timestamp::from_unix(20_000 * 86_400 + 5 * 3600 + 30);
    let w = Window::parse(None, now).unwrap();
    assert_eq!((w.days, w.first_day), (90, 20_000 - 89));
    assert_eq!(w.from().unix(), (20_000 - 89) * 86_400);
    assert_eq!(w.hours(), (20_000 - 89) * 24..20_000 * 24 + 6);
    assert_eq!(Window::parse(Some("1"), now).unwrap().first_day, 20_000);
    assert_eq!(Window::parse(Some("400"), now).unwrap().days, 400);
    for bad in ["0", "401", "-3", "+5", "ninety", "1.5", ""] {
        let err = Window::parse(Some(bad), now).unwrap_err();
        assert_eq!(err.status(), 400, "{bad}");
    }
    assert_eq!(Window::new(401, now).unwrap_err().status(), 422);
    assert_eq!(Window::new(0, now).unwrap_err().status(), 422);
}

#[test]
fn merging_adds_the_calls_of_equal_shapes_and_keeps_the_latest_hour() {
    let mut late = counted(VerifyCode::Valid, "employees.read", "ACME", 2);
    late.last_hour = HOUR + 5;
    let merged = merge([
        counted(VerifyCode::Valid, "employees.read", "ACME", 3),
        counted(VerifyCode::Valid, "documents.read", "ACME", 1),
        late,
    ]);
    assert_eq!(merged.len(), 2);
    let employees = merged
        .iter()
        .find(|c| c.shape.method == "employees.read")
        .unwrap();
    assert_eq!((employees.calls, employees.last_hour), (5, HOUR + 5));
}

/// The scenario: `payroll.*`, `employees.read` and every company; payslips for ACME
/// three times, variables for ACME once, documents for BETA twice (refused).
fn scenario() -> Vec<Counted> {
    merge([
        counted(VerifyCode::Valid, "payroll.payslips.read", "ACME", 3),
        counted(VerifyCode::Valid, "payroll.variables.read", "ACME", 1),
        counted(VerifyCode::MethodNotAllowed, "documents.read", "BETA", 2),
    ])
}

fn scenario_key() -> Permissions {
    permissions(&["payroll.*", "employees.read"], CompanyScope::All)
}

fn review_of(counts: &[Counted], current: &Permissions) -> super::review::Review {
    let catalog = catalog();
    let ctx = Context {
        current,
        catalog: &catalog,
        registered: &registered,
    };
    review(&Window::new(90, at_hour(HOUR)).unwrap(), counts, &ctx)
}

#[test]
fn the_review_marks_unused_grants_and_suggests_the_methods_and_companies_used() {
    let r = review_of(&scenario(), &scenario_key());
    assert_eq!(r.calls, 4);
    let payroll = &r.methods[0];
    assert_eq!(payroll.grant, "payroll.*");
    let used: Vec<(&str, u64)> = payroll
        .used
        .iter()
        .map(|u| (u.name.as_str(), u.calls))
        .collect();
    assert_eq!(
        used,
        [("payroll.payslips.read", 3), ("payroll.variables.read", 1)]
    );
    assert_eq!(r.methods[1].grant, "employees.read");
    assert!(r.methods[1].used.is_empty());
    let used: Vec<(&str, u64)> = r
        .companies
        .used
        .iter()
        .map(|u| (u.name.as_str(), u.calls))
        .collect();
    assert_eq!(used, [("ACME", 4)]);
    assert_eq!(super::review::named_companies(&scenario()), ["ACME"]);
    assert_eq!(r.companies.scope, CompanyScope::All);
    assert_eq!(r.refused.len(), 1);
    assert_eq!(r.refused[0].method.as_deref(), Some("documents.read"));
    assert_eq!(r.refused[0].company.as_deref(), Some("BETA"));
    assert_eq!(
        (r.refused[0].code, r.refused[0].calls),
        (VerifyCode::MethodNotAllowed, 2)
    );
    assert_eq!(
        r.suggestion,
        Some(permissions(
            &["payroll.payslips.read", "payroll.variables.read"],
            companies(&["ACME"])
        ))
    );
    assert!(r.complete);
}

#[test]
fn the_review_answers_the_documented_json() {
    let r = review_of(&scenario(), &scenario_key());
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json["methods"][0]["used"][0]["method"],
        "payroll.payslips.read"
    );
    assert!(json["methods"][0]["used"][0].get("company").is_none());
    assert_eq!(json["companies"]["scope"], "all");
    assert_eq!(json["companies"]["used"][0]["company"], "ACME");
    assert_eq!(
        json["companies"]["used"][0]["last_used_at"],
        at_hour(HOUR).plus_seconds(-120).to_string()
    );
    assert_eq!(json["refused"][0]["code"], "METHOD_NOT_ALLOWED");
    assert_eq!(json["suggestion"]["companies"], serde_json::json!(["ACME"]));
    assert_eq!(
        json["left_out"],
        serde_json::json!({"methods": [], "companies": []})
    );
    assert_eq!(json["days"], 90);
}

#[test]
fn simulating_the_suggestion_refuses_nothing_and_a_narrower_set_refuses_what_it_drops() {
    let counts = scenario();
    let suggestion = review_of(&counts, &scenario_key()).suggestion.unwrap();
    let sim = simulate(&counts, &suggestion);
    assert_eq!((sim.calls, sim.would_be_refused), (4, 0));
    let narrower = permissions(&["payroll.payslips.read"], CompanyScope::All);
    let sim = simulate(&counts, &narrower);
    assert_eq!((sim.calls, sim.would_be_refused), (4, 1));
    assert_eq!(
        sim.refused[0].method.as_deref(),
        Some("payroll.variables.read")
    );
    assert_eq!(sim.refused[0].company.as_deref(), Some("ACME"));
    let no_company = permissions(&["*"], companies(&[]));
    assert_eq!(simulate(&counts, &no_company).would_be_refused, 4);
}

#[test]
fn a_wildcard_is_kept_only_when_every_catalog_method_under_it_was_used() {
    let counts = merge([
        counted(VerifyCode::Valid, "payroll.accounting.read", "ACME", 1),
        counted(VerifyCode::Valid, "payroll.payslips.read", "ACME", 3),
        counted(VerifyCode::Valid, "payroll.variables.read", "ACME", 1),
        counted(VerifyCode::Valid, "payroll.variables.write", "ACME", 1),
        counted(VerifyCode::Valid, "employees.read", "ACME", 1),
    ]);
    let r = review_of(&counts, &scenario_key());
    assert_eq!(
        r.suggestion.unwrap().methods,
        ["employees.read", "payroll.*"]
    );
}

#[test]
fn the_suggestion_never_widens_the_key_and_names_what_the_catalog_lost() {
    let counts = merge([
        // Allowed earlier, before the key was narrowed to payroll.*.
        counted(VerifyCode::Valid, "documents.read", "ACME", 2),
        // A method since removed from the catalog, and a company since unregistered.
        counted(VerifyCode::Valid, "payroll.retired.read", "GONE", 1),
        counted(VerifyCode::Valid, "payroll.payslips.read", "BETA", 1),
    ]);
    let current = permissions(&["payroll.*"], companies(&["ACME", "BETA", "GONE"]));
    let r = review_of(&counts, &current);
    let s = r.suggestion.unwrap();
    assert_eq!(s.methods, ["payroll.payslips.read"]);
    assert_eq!(s.companies, companies(&["ACME", "BETA"]));
    assert_eq!(r.left_out.methods, ["payroll.retired.read"]);
    assert_eq!(r.left_out.companies, ["GONE"]);
}

#[test]
fn calls_that_had_to_be_allowed_everything_keep_the_star_and_all_companies() {
    let counts = merge([
        counted(VerifyCode::Valid, EVERY, EVERY, 2),
        counted(VerifyCode::Valid, "employees.read", "ACME", 1),
    ]);
    let r = review_of(&counts, &permissions(&["*"], CompanyScope::All));
    assert_eq!(
        r.suggestion.unwrap(),
        permissions(&["*"], CompanyScope::All)
    );
    assert_eq!(r.methods[0].used[0].name, EVERY);
}

#[test]
fn calls_that_named_nothing_and_needed_nothing_constrain_nothing() {
    let counts = merge([
        counted(VerifyCode::Valid, NONE, NONE, 5),
        counted(VerifyCode::Valid, "employees.read", NONE, 1),
    ]);
    let r = review_of(&counts, &permissions(&["*"], CompanyScope::All));
    assert_eq!(r.calls, 6);
    assert_eq!(
        r.suggestion.unwrap(),
        permissions(&["employees.read"], companies(&[]))
    );
    let sim = simulate(&counts, &permissions(&[], companies(&[])));
    assert_eq!((sim.calls, sim.would_be_refused), (6, 1));
}

#[test]
fn calls_past_the_bounds_make_the_review_incomplete_and_the_suggestion_the_key_as_it_is() {
    let counts = merge([
        counted(VerifyCode::Valid, "employees.read", "ACME", 1),
        counted(VerifyCode::Valid, OTHER, OTHER, 1),
    ]);
    let current = scenario_key();
    let r = review_of(&counts, &current);
    assert!(!r.complete);
    assert_eq!(r.suggestion, Some(current.clone()));
    let sim = simulate(
        &counts,
        &permissions(&["employees.read"], CompanyScope::All),
    );
    assert_eq!(sim.would_be_refused, 1);
    assert_eq!(sim.refused[0].method, Some(OTHER.to_owned()));
}

#[test]
fn a_window_without_calls_has_no_suggestion() {
    let refused_only = merge([counted(
        VerifyCode::CompanyNotAllowed,
        "employees.read",
        NONE,
        1,
    )]);
    let r = review_of(&refused_only, &scenario_key());
    assert_eq!((r.calls, r.suggestion), (0, None));
    assert_eq!(r.refused[0].company, None);
    assert!(r.methods.iter().all(|g| g.used.is_empty()));
}

#[test]
fn a_key_has_an_unused_grant_when_no_valid_call_matched_it() {
    let grants = ["payroll.*".to_owned(), "employees.read".to_owned()];
    let used = |names: &[&str]| names.iter().map(|m| m.to_string()).collect::<Vec<_>>();
    assert!(has_unused_grant(&grants, &used(&["payroll.payslips.read"])));
    assert!(!has_unused_grant(
        &grants,
        &used(&["payroll.payslips.read", "employees.read"])
    ));
    assert!(has_unused_grant(&grants, &used(&[])));
    assert!(has_unused_grant(&grants, &used(&[NONE, EVERY])));
    assert!(!has_unused_grant(&["*".to_owned()], &used(&[EVERY])));
    assert!(!has_unused_grant(&grants, &used(&[OTHER])));
    assert!(!has_unused_grant(&[], &used(&[])));
}
