//! No double fault grants more than SQLite. For every kind of admin change, two failures are
//! staged in the test host:
//!
//! * the `COMMIT` fails and then every key-value call fails (the clean-up deletes too): the
//!   call answers 503, SQLite keeps the old state, and the records left in the store grant
//!   no more than that old state;
//! * the `COMMIT` succeeds and every key-value call after it fails: a change that widens
//!   access answers 503 with the change saved, and the records grant no more than both the
//!   old and the new state allow until a retry (or the rebuild) brings them to the new
//!   state; a change that only narrows access is complete before its commit and answers 2xx.
//!
//! What the records grant is measured on the stored records themselves, decided natively at
//! several instants for a grid of methods and companies (so later expiries show), and through
//! `/verify` with the old secret.

use crate::helpers::{App, Reply};
use keys_domain::record::RecordView;
use keys_domain::time::Timestamp;
use keys_domain::verify::{VerifyCode, VerifyQuery, decide};
use serde_json::{Value, json};
use spin_test_host::Fault;
use std::collections::BTreeSet;

/// The statement whose failure, or success, the faults of this module are staged around.
const COMMIT: &str = "COMMIT";
const DAY: i64 = 86_400;
/// Companies registered in every app of this module.
const REGISTERED: [&str; 3] = ["ACME", "GLOBEX", "INITECH"];
/// Methods every verification is asked for (`None`: not checked).
const METHOD_PROBES: [Option<&str>; 6] = [
    None,
    Some("employees.read"),
    Some("employees.write"),
    Some("payroll.payslips.read"),
    Some("time.read"),
    Some("absences.read"),
];
/// Companies every verification is asked for; `UMBRELLA` is not registered (only `all`
/// reaches it).
const COMPANY_PROBES: [Option<&str>; 5] = [
    None,
    Some("ACME"),
    Some("GLOBEX"),
    Some("INITECH"),
    Some("UMBRELLA"),
];
/// Instants the stored records are decided at, in days from now.
const DAYS_AHEAD: [i64; 4] = [0, 2, 60, 400];

/// Every probe a set of records answers `VALID`, as readable lines.
type Grants = BTreeSet<String>;

/// What the stored verification records grant, decided as verify-key decides.
fn stored_grants(app: &App) -> Grants {
    let now = Timestamp::now().unix();
    let mut out = Grants::new();
    for (name, bytes) in app.dump().0 {
        let Some(hash) = name.strip_prefix("vk:") else {
            continue;
        };
        let view = RecordView::decode(&bytes);
        assert!(view.is_some(), "the record {name} is unreadable");
        for days in DAYS_AHEAD {
            let at = Timestamp::from_unix(now + days * DAY);
            for method in METHOD_PROBES {
                for company in COMPANY_PROBES {
                    let query = VerifyQuery {
                        method,
                        company,
                        ip: None,
                        strict: false,
                    };
                    if decide(view.as_ref(), at, query) == VerifyCode::Valid {
                        out.insert(format!("{} +{days}d {method:?} {company:?}", &hash[..12]));
                    }
                }
            }
        }
    }
    out
}

/// The probes `/verify` answers `VALID` for this secret now.
async fn verified_grants(app: &App, secret: &str) -> Grants {
    let mut out = Grants::new();
    for method in METHOD_PROBES {
        for company in COMPANY_PROBES {
            if app.code(secret, method, company).await == "VALID" {
                out.insert(format!("{method:?} {company:?}"));
            }
        }
    }
    out
}

fn assert_within(inner: &Grants, outer: &Grants, what: &str) {
    let beyond: Vec<&String> = inner.difference(outer).collect();
    assert!(
        beyond.is_empty(),
        "{what}: {} probe(s) VALID beyond it, e.g. {:?}",
        beyond.len(),
        &beyond[..beyond.len().min(6)]
    );
}

/// Where SQLite must stand once the change committed.
enum Committed {
    /// This field of `GET /keys/{id}` has this value.
    Field(&'static str, Value),
    /// This field of `GET /keys/{id}` differs from before the change.
    Changed(&'static str),
    /// The key is gone.
    Gone,
}

/// One kind of admin change, on a key created with `create` (then deactivated when
/// `deactivated`).
struct Case {
    create: Value,
    deactivated: bool,
    method: &'static str,
    /// The call's path; `{id}` stands for the key's id.
    path: &'static str,
    body: Option<Value>,
    /// Whether the new state grants something the old one does not (so the records need a
    /// second phase after the commit).
    widens: bool,
    committed: Committed,
}

fn rfc3339_in_days(days: i64) -> String {
    Timestamp::now().plus_seconds(days * DAY).to_string()
}

fn key_with(methods: &[&str], companies: Value) -> Value {
    json!({ "label": "Subject", "methods": methods, "companies": companies })
}

impl Case {
    /// A change that widens access (see [`Case::narrowing`]).
    fn new(
        create: Value,
        (method, path, body): (&'static str, &'static str, Option<Value>),
        committed: Committed,
    ) -> Self {
        Case {
            create,
            deactivated: false,
            method,
            path,
            body,
            widens: true,
            committed,
        }
    }

    fn narrowing(mut self) -> Self {
        self.widens = false;
        self
    }

    fn deactivated(mut self) -> Self {
        self.deactivated = true;
        self
    }

    fn is_regeneration(&self) -> bool {
        self.path.ends_with("/regenerate")
    }
}

/// The app with the registered companies and the key of `case` in its old state.
struct Subject {
    app: App,
    id: String,
    secret: String,
}

impl Subject {
    async fn start(case: &Case) -> Subject {
        let app = App::start_test_host();
        for company in REGISTERED {
            app.register_company(company, company).await;
        }
        let (key, secret) = app.create_key(case.create.clone()).await;
        let id = key["id"].as_str().unwrap().to_owned();
        if case.deactivated {
            let reply = app
                .admin("POST", &format!("/api/v1/keys/{id}/deactivate"), None)
                .await;
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
        Subject { app, id, secret }
    }

    async fn apply(&self, case: &Case) -> Reply {
        let path = case.path.replace("{id}", &self.id);
        self.app.admin(case.method, &path, case.body.clone()).await
    }

    async fn key(&self) -> Reply {
        let path = format!("/api/v1/keys/{}", self.id);
        self.app.admin("GET", &path, None).await
    }

    async fn event_count(&self) -> usize {
        let path = format!("/api/v1/keys/{}/events?limit=100", self.id);
        let events = self.app.admin("GET", &path, None).await.json();
        events["data"].as_array().map_or(0, Vec::len)
    }

    async fn rebuild(&self) {
        let reply = self
            .app
            .admin("POST", "/api/v1/verification-records/rebuild", None)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
}

/// Runs both double faults on one kind of change.
async fn check(case: Case) {
    // Arrange: the old state, everywhere.
    let subject = Subject::start(&case).await;
    let app = &subject.app;
    let host = app.test_host();
    let old_grants = stored_grants(app);
    let old_verified = verified_grants(app, &subject.secret).await;
    let old_key = subject.key().await.json();
    let old_sqlite = app.dump().1;

    // The commit fails, then the key-value store is unreachable: nothing can be cleaned up.
    host.set_sqlite_fault(Fault::Statement(COMMIT));
    host.set_kv_fault(Fault::AfterStatement(COMMIT));
    let reply = subject.apply(&case).await;
    host.set_sqlite_fault(Fault::None);
    host.set_kv_fault(Fault::None);
    assert_eq!(reply.problem(503), "store_unavailable");
    assert_eq!(app.dump().1, old_sqlite, "SQLite rolled the change back");
    assert_within(
        &stored_grants(app),
        &old_grants,
        "after a failed commit, the records against the old state SQLite keeps",
    );
    assert_within(
        &verified_grants(app, &subject.secret).await,
        &old_verified,
        "after a failed commit, /verify with the old secret against the old state",
    );
    subject.rebuild().await;
    assert_eq!(
        stored_grants(app),
        old_grants,
        "the rebuild restores the old state"
    );

    // The commit succeeds, then the key-value store is unreachable.
    host.set_kv_fault(Fault::AfterStatement(COMMIT));
    let reply = subject.apply(&case).await;
    host.set_kv_fault(Fault::None);
    if case.widens {
        assert_eq!(reply.problem(503), "store_unavailable");
        assert!(
            reply.json()["detail"].as_str().unwrap().contains("saved"),
            "the answer says the change was saved: {}",
            reply.text()
        );
    } else {
        assert!(reply.status < 300, "{}", reply.text());
    }
    let left_grants = stored_grants(app);
    let left_verified = verified_grants(app, &subject.secret).await;
    let new_key = subject.key().await;
    match &case.committed {
        Committed::Gone => assert_eq!(new_key.status, 404, "{}", new_key.text()),
        Committed::Field(field, value) => {
            assert_eq!(&new_key.json().pointer(field).unwrap().clone(), value)
        }
        Committed::Changed(field) => {
            assert_ne!(new_key.json().pointer(field), old_key.pointer(field))
        }
    }

    // Restore, by a retry of the call where repeating it means the same change, else by the
    // rebuild (a regeneration repeated is a new one, which must then work too).
    let (new_grants, new_verified) = if case.widens && !case.is_regeneration() {
        let events = subject.event_count().await;
        let retry = subject.apply(&case).await;
        assert!(retry.status < 300, "{}", retry.text());
        assert_eq!(
            subject.event_count().await,
            events,
            "the retry changed nothing, so no event says it did"
        );
        let restored = (
            stored_grants(app),
            verified_grants(app, &subject.secret).await,
        );
        subject.rebuild().await;
        assert_eq!(
            stored_grants(app),
            restored.0,
            "the retry restored every record: the rebuild finds nothing to change"
        );
        restored
    } else {
        subject.rebuild().await;
        (
            stored_grants(app),
            verified_grants(app, &subject.secret).await,
        )
    };
    assert_within(
        &left_grants,
        &old_grants,
        "after a lost store, against the old state",
    );
    assert_within(
        &left_grants,
        &new_grants,
        "after a lost store, against the new state",
    );
    assert_within(
        &left_verified,
        &old_verified,
        "/verify with the old secret, old state",
    );
    assert_within(
        &left_verified,
        &new_verified,
        "/verify with the old secret, new state",
    );
    if case.widens {
        assert!(
            !new_grants.is_subset(&old_grants),
            "the change under test does widen access"
        );
    } else {
        assert_eq!(
            left_grants, new_grants,
            "a narrowing change is complete before its commit"
        );
    }
    if case.is_regeneration() {
        let retry = subject.apply(&case).await;
        assert_eq!(retry.status, 200, "{}", retry.text());
        let secret = retry.json()["key"].as_str().unwrap().to_owned();
        assert_eq!(app.code(&secret, None, None).await, "VALID");
    }
}

const PERMISSIONS: &str = "/api/v1/keys/{id}/permissions";
const KEY: &str = "/api/v1/keys/{id}";

#[tokio::test]
async fn adding_a_method_group_never_grants_it_early_whatever_fails() {
    check(Case::new(
        key_with(&["employees.read"], json!(["ACME"])),
        (
            "PATCH",
            PERMISSIONS,
            Some(json!({ "add_methods": ["payroll.*"] })),
        ),
        Committed::Field("/methods", json!(["employees.read", "payroll.*"])),
    ))
    .await;
}

#[tokio::test]
async fn granting_every_method_never_grants_them_early_whatever_fails() {
    check(Case::new(
        key_with(&["employees.read"], json!(["ACME"])),
        (
            "PUT",
            PERMISSIONS,
            Some(json!({ "methods": ["*"], "companies": ["ACME"] })),
        ),
        Committed::Field("/methods", json!(["*"])),
    ))
    .await;
}

#[tokio::test]
async fn replacing_the_methods_and_companies_never_grants_the_new_ones_early() {
    check(Case::new(
        key_with(&["employees.read"], json!(["ACME"])),
        (
            "PUT",
            PERMISSIONS,
            Some(json!({ "methods": ["payroll.*"], "companies": "all" })),
        ),
        Committed::Field("/companies", json!("all")),
    ))
    .await;
}

#[tokio::test]
async fn adding_a_company_never_grants_it_early_whatever_fails() {
    check(Case::new(
        key_with(&["employees.read"], json!(["ACME"])),
        (
            "PATCH",
            PERMISSIONS,
            Some(json!({ "companies": ["ACME", "GLOBEX"] })),
        ),
        Committed::Field("/companies", json!(["ACME", "GLOBEX"])),
    ))
    .await;
}

#[tokio::test]
async fn opening_a_key_to_all_companies_never_grants_them_early_whatever_fails() {
    check(Case::new(
        key_with(&["employees.read"], json!(["ACME"])),
        ("PATCH", PERMISSIONS, Some(json!({ "companies": "all" }))),
        Committed::Field("/companies", json!("all")),
    ))
    .await;
}

#[tokio::test]
async fn a_later_expiry_never_applies_early_whatever_fails() {
    let mut create = key_with(&["employees.read"], json!("all"));
    create["expires_at"] = json!(rfc3339_in_days(1));
    let later = rfc3339_in_days(30);
    check(Case::new(
        create,
        ("PATCH", KEY, Some(json!({ "expires_at": later }))),
        Committed::Field("/expires_at", json!(later)),
    ))
    .await;
}

#[tokio::test]
async fn removing_the_expiry_never_applies_early_whatever_fails() {
    let mut create = key_with(&["employees.read"], json!("all"));
    create["expires_at"] = json!(rfc3339_in_days(1));
    check(Case::new(
        create,
        ("PATCH", KEY, Some(json!({ "expires_at": null }))),
        Committed::Field("/expires_at", Value::Null),
    ))
    .await;
}

#[tokio::test]
async fn a_reactivation_never_applies_early_whatever_fails() {
    check(
        Case::new(
            key_with(&["employees.read"], json!("all")),
            ("POST", "/api/v1/keys/{id}/activate", None),
            Committed::Field("/status", json!("active")),
        )
        .deactivated(),
    )
    .await;
}

#[tokio::test]
async fn a_regeneration_with_grace_never_lets_the_new_secret_verify_early() {
    check(Case::new(
        key_with(&["employees.read"], json!("all")),
        (
            "POST",
            "/api/v1/keys/{id}/regenerate",
            Some(json!({ "grace_period_seconds": 3600 })),
        ),
        Committed::Changed("/hint"),
    ))
    .await;
}

#[tokio::test]
async fn a_regeneration_without_grace_never_lets_the_new_secret_verify_early() {
    check(Case::new(
        key_with(&["employees.read"], json!("all")),
        ("POST", "/api/v1/keys/{id}/regenerate", None),
        Committed::Changed("/hint"),
    ))
    .await;
}

#[tokio::test]
async fn removing_a_method_group_holds_whatever_fails() {
    check(
        Case::new(
            key_with(&["employees.read", "payroll.*"], json!(["ACME"])),
            (
                "PATCH",
                PERMISSIONS,
                Some(json!({ "remove_methods": ["payroll.*"] })),
            ),
            Committed::Field("/methods", json!(["employees.read"])),
        )
        .narrowing(),
    )
    .await;
}

#[tokio::test]
async fn an_earlier_expiry_holds_whatever_fails() {
    let mut create = key_with(&["employees.read"], json!("all"));
    create["expires_at"] = json!(rfc3339_in_days(30));
    let earlier = rfc3339_in_days(1);
    check(
        Case::new(
            create,
            ("PATCH", KEY, Some(json!({ "expires_at": earlier }))),
            Committed::Field("/expires_at", json!(earlier)),
        )
        .narrowing(),
    )
    .await;
}

#[tokio::test]
async fn a_deactivation_holds_whatever_fails() {
    check(
        Case::new(
            key_with(&["employees.read"], json!("all")),
            ("POST", "/api/v1/keys/{id}/deactivate", None),
            Committed::Field("/status", json!("inactive")),
        )
        .narrowing(),
    )
    .await;
}

#[tokio::test]
async fn a_deletion_holds_whatever_fails() {
    check(
        Case::new(
            key_with(&["employees.read"], json!("all")),
            ("DELETE", KEY, None),
            Committed::Gone,
        )
        .narrowing(),
    )
    .await;
}

#[tokio::test]
async fn removing_a_method_from_the_catalog_holds_whatever_fails() {
    check(
        Case::new(
            key_with(&["employees.read", "time.read"], json!("all")),
            ("DELETE", "/api/v1/methods/time.read", None),
            Committed::Field("/methods", json!(["employees.read"])),
        )
        .narrowing(),
    )
    .await;
}

#[tokio::test]
async fn removing_a_company_from_the_registry_holds_whatever_fails() {
    check(
        Case::new(
            key_with(&["employees.read"], json!(["ACME", "GLOBEX"])),
            ("DELETE", "/api/v1/companies/GLOBEX", None),
            Committed::Field("/companies", json!(["ACME"])),
        )
        .narrowing(),
    )
    .await;
}

#[tokio::test]
async fn a_create_whose_commit_fails_leaves_no_record_even_when_the_clean_up_fails() {
    let app = App::start_test_host();
    // The first admin call migrates the schema, in a transaction of its own.
    app.admin("GET", "/api/v1/keys", None).await;
    let before = app.dump();
    app.test_host().set_sqlite_fault(Fault::Statement(COMMIT));
    app.test_host().set_kv_fault(Fault::AfterStatement(COMMIT));
    let reply = app
        .admin("POST", "/api/v1/keys", Some(json!({ "label": "Ghost" })))
        .await;
    app.test_host().set_sqlite_fault(Fault::None);
    app.test_host().set_kv_fault(Fault::None);
    assert_eq!(reply.problem(503), "store_unavailable");
    assert_eq!(app.dump(), before, "neither store holds the key");
}

#[tokio::test]
async fn a_create_whose_record_cannot_be_written_after_the_commit_keeps_a_key_nobody_holds() {
    let app = App::start_test_host();
    // The first admin call migrates the schema, in a transaction of its own.
    app.admin("GET", "/api/v1/keys", None).await;
    app.test_host().set_kv_fault(Fault::AfterStatement(COMMIT));
    let reply = app
        .admin("POST", "/api/v1/keys", Some(json!({ "label": "Unheld" })))
        .await;
    app.test_host().set_kv_fault(Fault::None);
    assert_eq!(reply.problem(503), "store_unavailable");
    assert!(!reply.text().contains("ingk_"), "no secret escapes a 503");
    assert!(
        !app.dump().0.keys().any(|k| k.starts_with("vk:")),
        "no record was written"
    );
    // The key was saved: its secret was never shown, so an administrator deletes it (or
    // regenerates it to get a secret).
    let listed = app.admin("GET", "/api/v1/keys?q=Unheld", None).await.json();
    let id = listed["data"][0]["id"].as_str().unwrap();
    let regenerated = app
        .admin("POST", &format!("/api/v1/keys/{id}/regenerate"), None)
        .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.text());
    let secret = regenerated.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(app.code(&secret, None, None).await, "VALID");
}

#[tokio::test]
async fn a_repeated_call_that_changes_nothing_still_rewrites_the_keys_records() {
    let app = App::start_test_host();
    let (key, secret) = app.create_key(json!({ "label": "Repeated" })).await;
    let id = key["id"].as_str().unwrap();
    let deactivate = format!("/api/v1/keys/{id}/deactivate");
    assert_eq!(app.admin("POST", &deactivate, None).await.status, 200);
    // A failed commit whose clean-up succeeds removes the key's record.
    app.test_host().set_sqlite_fault(Fault::Statement(COMMIT));
    let reply = app
        .admin("POST", &format!("/api/v1/keys/{id}/activate"), None)
        .await;
    app.test_host().set_sqlite_fault(Fault::None);
    assert_eq!(reply.problem(503), "store_unavailable");
    assert_eq!(app.code(&secret, None, None).await, "NOT_FOUND");

    let logged = events_of(&app, id).await;
    assert_eq!(app.admin("POST", &deactivate, None).await.status, 200);
    assert_eq!(
        app.code(&secret, None, None).await,
        "DISABLED",
        "a deactivation of an inactive key writes its record back"
    );
    let same_label = json!({ "label": "Repeated" });
    let path = format!("/api/v1/keys/{id}");
    assert_eq!(
        app.admin("PATCH", &path, Some(same_label)).await.status,
        200
    );
    assert_eq!(
        events_of(&app, id).await,
        logged,
        "no event for changes that changed nothing"
    );
}

async fn events_of(app: &App, id: &str) -> Value {
    let path = format!("/api/v1/keys/{id}/events");
    app.admin("GET", &path, None).await.json()["data"].clone()
}
