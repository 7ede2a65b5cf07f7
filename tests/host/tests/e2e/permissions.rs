//! Method access authorizations, company access restrictions, the method catalog and the
//! company registry, seen through verification.

use crate::helpers::App;
use serde_json::json;

async fn permissions(
    app: &App,
    id: &str,
    method: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let reply = app
        .admin(
            method,
            &format!("/api/v1/keys/{id}/permissions"),
            Some(body),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[tokio::test]
async fn the_permissions_screen_story_is_enforced_by_verification_at_once() {
    let app = App::start();
    app.register_company("ACME", "Acme SA").await;
    app.register_company("GLOBEX", "Globex SARL").await;
    let (key, secret) = app.create_key(json!({ "label": "Welyb" })).await;
    let id = key["id"].as_str().unwrap();

    // Enable two methods, restrict to one company.
    let after = permissions(
        &app,
        id,
        "PATCH",
        json!({ "add_methods": ["employees.read", "absences.read"] }),
    )
    .await;
    assert_eq!(after["methods"], json!(["absences.read", "employees.read"]));
    permissions(&app, id, "PATCH", json!({ "companies": ["ACME"] })).await;

    assert_eq!(
        app.code(&secret, Some("employees.read"), Some("ACME"))
            .await,
        "VALID"
    );
    assert_eq!(
        app.code(&secret, Some("payroll.payslips.read"), Some("ACME"))
            .await,
        "METHOD_NOT_ALLOWED"
    );
    assert_eq!(
        app.code(&secret, Some("employees.read"), Some("GLOBEX"))
            .await,
        "COMPANY_NOT_ALLOWED"
    );

    // Widen: a group wildcard and every company.
    permissions(
        &app,
        id,
        "PATCH",
        json!({ "add_methods": ["payroll.*"], "companies": "all" }),
    )
    .await;
    assert_eq!(
        app.code(&secret, Some("payroll.payslips.read"), Some("GLOBEX"))
            .await,
        "VALID"
    );

    // Narrow: remove the wildcard; verification follows before the call returns.
    permissions(
        &app,
        id,
        "PATCH",
        json!({ "remove_methods": ["payroll.*"] }),
    )
    .await;
    assert_eq!(
        app.code(&secret, Some("payroll.payslips.read"), None).await,
        "METHOD_NOT_ALLOWED"
    );

    // Replace both at once.
    let replaced = permissions(
        &app,
        id,
        "PUT",
        json!({ "methods": ["*"], "companies": ["GLOBEX"] }),
    )
    .await;
    assert_eq!(
        replaced,
        json!({ "methods": ["*"], "companies": ["GLOBEX"] })
    );
    assert_eq!(
        app.code(&secret, Some("documents.write"), Some("GLOBEX"))
            .await,
        "VALID"
    );
    assert_eq!(
        app.code(&secret, Some("documents.write"), Some("ACME"))
            .await,
        "COMPANY_NOT_ALLOWED"
    );

    let read = app
        .admin("GET", &format!("/api/v1/keys/{id}/permissions"), None)
        .await
        .json();
    assert_eq!(read, replaced);

    let events = app
        .admin("GET", &format!("/api/v1/keys/{id}/events"), None)
        .await
        .json();
    let changes: Vec<&serde_json::Value> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "permissions_changed")
        .collect();
    assert_eq!(changes.len(), 5, "one audit event per change");
    assert_eq!(changes[0]["changes"]["methods"]["to"], json!(["*"]));
    assert_eq!(changes[0]["changes"]["companies"]["from"], "all");
}

#[tokio::test]
async fn a_change_that_changes_nothing_writes_no_audit_event() {
    let app = App::start();
    let (key, _) = app
        .create_key(json!({ "label": "Same", "methods": ["employees.read"] }))
        .await;
    let id = key["id"].as_str().unwrap();
    permissions(
        &app,
        id,
        "PATCH",
        json!({ "add_methods": ["employees.read"] }),
    )
    .await;
    let events = app
        .admin("GET", &format!("/api/v1/keys/{id}/events"), None)
        .await
        .json();
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn grants_outside_the_catalog_and_unregistered_companies_are_refused_by_name() {
    let app = App::start();
    let (key, _) = app.create_key(json!({ "label": "Strict" })).await;
    let id = key["id"].as_str().unwrap();

    let unknown = app
        .admin(
            "PATCH",
            &format!("/api/v1/keys/{id}/permissions"),
            Some(json!({ "add_methods": ["employees.read", "rockets.launch", "space.*"] })),
        )
        .await;
    assert_eq!(unknown.problem(422), "unknown_method");
    let detail = unknown.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("`rockets.launch`") && detail.contains("`space.*`"),
        "{detail}"
    );
    assert!(!detail.contains("employees.read"), "{detail}");

    let company = app
        .admin(
            "PUT",
            &format!("/api/v1/keys/{id}/permissions"),
            Some(json!({ "methods": [], "companies": ["NOPE"] })),
        )
        .await;
    assert_eq!(company.problem(422), "unknown_company");

    let on_create = app
        .admin(
            "POST",
            "/api/v1/keys",
            Some(json!({ "label": "X", "methods": ["rockets.launch"] })),
        )
        .await;
    assert_eq!(on_create.problem(422), "unknown_method");
    let malformed = app
        .admin(
            "POST",
            "/api/v1/keys",
            Some(json!({ "label": "X", "methods": ["Employees.Read"] })),
        )
        .await;
    assert_eq!(malformed.problem(422), "invalid_method");
}

#[tokio::test]
async fn all_companies_includes_companies_registered_later() {
    let app = App::start();
    let (_, secret) = app.create_key(json!({ "label": "All" })).await;
    app.register_company("NEWCO", "NewCo").await;
    assert_eq!(app.code(&secret, None, Some("NEWCO")).await, "VALID");
}

#[tokio::test]
async fn deleting_a_company_removes_it_from_restrictions_and_never_widens_to_all() {
    let app = App::start();
    app.register_company("ACME", "Acme").await;
    let (key, secret) = app
        .create_key(json!({ "label": "Only Acme", "companies": ["ACME"] }))
        .await;
    assert_eq!(app.code(&secret, None, Some("ACME")).await, "VALID");

    let deleted = app.admin("DELETE", "/api/v1/companies/ACME", None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    let id = key["id"].as_str().unwrap();
    let now = app
        .admin("GET", &format!("/api/v1/keys/{id}/permissions"), None)
        .await
        .json();
    assert_eq!(now["companies"], json!([]));
    assert_eq!(
        app.code(&secret, None, Some("ACME")).await,
        "COMPANY_NOT_ALLOWED"
    );
    assert_eq!(
        app.code(&secret, None, Some("OTHER")).await,
        "COMPANY_NOT_ALLOWED"
    );
    assert_eq!(
        app.code(&secret, None, None).await,
        "VALID",
        "no company asked, nothing checked"
    );
}

#[tokio::test]
async fn removing_a_method_from_the_catalog_removes_its_exact_grants_from_every_key() {
    let app = App::start();
    let (key, secret) = app
        .create_key(json!({ "label": "Docs", "methods": ["documents.read", "documents.*"] }))
        .await;
    let id = key["id"].as_str().unwrap();
    let removed = app
        .admin("DELETE", "/api/v1/methods/documents.read", None)
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text());

    let now = app
        .admin("GET", &format!("/api/v1/keys/{id}/permissions"), None)
        .await
        .json();
    assert_eq!(
        now["methods"],
        json!(["documents.*"]),
        "the wildcard stays for methods added later"
    );
    let catalog = app.admin("GET", "/api/v1/methods", None).await.json();
    assert!(!catalog.to_string().contains("\"documents.read\""));
    let events = app
        .admin("GET", &format!("/api/v1/keys/{id}/events"), None)
        .await
        .json();
    assert_eq!(events["data"][0]["type"], "permissions_changed");
    assert_eq!(
        app.code(&secret, Some("documents.write"), None).await,
        "VALID"
    );
}

#[tokio::test]
async fn the_default_catalog_is_there_and_can_be_extended_in_two_languages() {
    let app = App::start();
    let catalog = app.admin("GET", "/api/v1/methods", None).await.json();
    let names: Vec<&str> = catalog["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"employees.read") && names.contains(&"payroll.payslips.read"),
        "{names:?}"
    );
    let first = &catalog["data"][0];
    assert!(first["label"]["fr"].is_string() && first["label"]["en"].is_string());

    let added = app
        .admin(
            "PUT",
            "/api/v1/methods/expenses.read",
            Some(json!({ "label": { "fr": "Consulter les notes de frais", "en": "Read expense reports" }, "group": "expenses" })),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.text());
    let again = app
        .admin(
            "PUT",
            "/api/v1/methods/expenses.read",
            Some(json!({ "label": "Notes de frais", "group": "expenses" })),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json()["label"],
        json!({ "fr": "Notes de frais", "en": "Notes de frais" })
    );
    let (_, secret) = app
        .create_key(json!({ "label": "Expenses", "methods": ["expenses.*"] }))
        .await;
    assert_eq!(
        app.code(&secret, Some("expenses.read"), None).await,
        "VALID"
    );
}

#[tokio::test]
async fn the_company_registry_searches_and_paginates() {
    let app = App::start();
    for (id, name) in [
        ("C1", "Alpha"),
        ("C2", "Beta"),
        ("C3", "Alphabet"),
        ("C4", "Gamma"),
    ] {
        app.register_company(id, name).await;
    }
    let alpha = app
        .admin("GET", "/api/v1/companies?q=alpha", None)
        .await
        .json();
    assert_eq!(alpha["data"].as_array().unwrap().len(), 2);
    let page = app
        .admin("GET", "/api/v1/companies?limit=3", None)
        .await
        .json();
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = app
        .admin(
            "GET",
            &format!("/api/v1/companies?limit=3&cursor={cursor}"),
            None,
        )
        .await
        .json();
    assert_eq!(rest["data"][0]["id"], "C4");
    assert!(rest["next_cursor"].is_null());
    let bad = app
        .admin(
            "PUT",
            "/api/v1/companies/has%20space",
            Some(json!({ "name": "X" })),
        )
        .await;
    assert_eq!(bad.problem(422), "validation_failed");
}

#[tokio::test]
async fn a_company_id_may_arrive_percent_encoded_in_the_path() {
    let app = App::start();

    let created = app
        .admin(
            "PUT",
            "/api/v1/companies/acme%3Afr",
            Some(json!({ "name": "Acme France" })),
        )
        .await;
    let deleted = app
        .admin("DELETE", "/api/v1/companies/acme%3Afr", None)
        .await;

    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["id"], "acme:fr");
    assert_eq!(deleted.status, 204, "{}", deleted.text());
}
