//! The forward-auth endpoint for API gateways, and the cost of the verify hot path.

use crate::helpers::{self, App};
use serde_json::json;
use std::time::Duration;

/// `/authorize` with these header lines, in order (a name may come twice).
pub async fn authorize(app: &App, headers: &[(&str, &str)]) -> crate::helpers::Reply {
    let mut call = app.call("GET", "/api/v1/authorize");
    for (name, value) in headers {
        call = call.header(name, value);
    }
    app.send(call).await
}

#[tokio::test]
async fn an_allowed_call_gets_204_with_the_key_id_and_hint() {
    let app = App::start();
    app.register_company("ACME", "Acme").await;
    let (key, secret) = app
        .create_key(
            json!({ "label": "Gateway", "methods": ["employees.read"], "companies": ["ACME"] }),
        )
        .await;
    let bearer = format!("Bearer {secret}");
    let reply = authorize(
        &app,
        &[
            ("authorization", &bearer),
            ("x-api-method", "employees.read"),
            ("x-api-company", "ACME"),
        ],
    )
    .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert_eq!(reply.header("x-api-key-id"), key["id"].as_str());
    assert_eq!(reply.header("x-api-key-hint"), key["hint"].as_str());

    let call = [
        ("x-api-method", "employees.read"),
        ("x-api-company", "ACME"),
    ];
    let via_header = authorize(&app, &[("x-api-key", &secret), call[0], call[1]]).await;
    assert_eq!(via_header.status, 204);
    let post = app
        .send(
            app.call("POST", "/api/v1/authorize")
                .header("x-api-key", &secret)
                .header(call[0].0, call[0].1)
                .header(call[1].0, call[1].1),
        )
        .await;
    assert_eq!(post.status, 204);
}

#[tokio::test]
async fn missing_malformed_unknown_inactive_or_expired_keys_get_401_with_invalid_token() {
    let app = App::start();
    let (key, secret) = app.create_key(json!({ "label": "Gateway" })).await;
    let unknown = keys_domain::key::NewSecret::generate()
        .unwrap()
        .expose()
        .to_owned();
    let mut cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![], "NOT_FOUND"),
        (vec![("x-api-key", "not-a-key".into())], "NOT_FOUND"),
        (
            vec![("authorization", format!("Bearer {unknown}"))],
            "NOT_FOUND",
        ),
        (
            vec![("authorization", format!("Basic {secret}"))],
            "NOT_FOUND",
        ),
    ];
    for (headers, code) in cases.drain(..) {
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let reply = authorize(&app, &pairs).await;
        assert_eq!(reply.problem(401), code, "{headers:?}");
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
    }
    app.admin(
        "POST",
        &format!("/api/v1/keys/{}/deactivate", key["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(
        authorize(&app, &[("x-api-key", &secret)])
            .await
            .problem(401),
        "DISABLED"
    );
}

#[tokio::test]
async fn an_empty_method_or_company_header_names_nothing() {
    let app = App::start();
    app.register_company("ACME", "Acme").await;
    let (_, everywhere) = app
        .create_key(json!({ "label": "Every company", "methods": ["employees.read"] }))
        .await;
    let (_, restricted) = app
        .create_key(json!({ "label": "ACME only", "methods": ["*"], "companies": ["ACME"] }))
        .await;
    // What a gateway sends when it fills the header from a source the request lacks.
    let allowed = authorize(
        &app,
        &[
            ("x-api-key", &everywhere),
            ("x-api-method", "employees.read"),
            ("x-api-company", ""),
        ],
    )
    .await;
    assert_eq!(allowed.status, 204, "{}", allowed.text());
    let unnamed = |key: &str, method: &'static str| {
        let key = key.to_owned();
        let app = &app;
        async move {
            let headers = [
                ("x-api-key", key.as_str()),
                ("x-api-method", method),
                ("x-api-company", ""),
            ];
            authorize(app, &headers).await
        }
    };
    assert_eq!(
        unnamed(&restricted, "employees.read").await.problem(403),
        "COMPANY_NOT_ALLOWED",
        "an empty company is refused like a missing one for a restricted key"
    );
    assert_eq!(
        unnamed(&everywhere, "").await.problem(403),
        "METHOD_NOT_ALLOWED",
        "an empty method is refused like a missing one without `*`"
    );
}

#[tokio::test]
async fn a_method_or_company_not_allowed_gets_403() {
    let app = App::start();
    app.register_company("ACME", "Acme").await;
    let (_, secret) = app
        .create_key(
            json!({ "label": "Gateway", "methods": ["employees.read"], "companies": ["ACME"] }),
        )
        .await;
    let method = authorize(
        &app,
        &[
            ("x-api-key", &secret),
            ("x-api-method", "payroll.payslips.read"),
        ],
    )
    .await;
    assert_eq!(method.problem(403), "METHOD_NOT_ALLOWED");
    let company = authorize(
        &app,
        &[
            ("x-api-key", &secret),
            ("x-api-method", "employees.read"),
            ("x-api-company", "GLOBEX"),
        ],
    )
    .await;
    assert_eq!(company.problem(403), "COMPANY_NOT_ALLOWED");
    let garbage = authorize(
        &app,
        &[("x-api-key", &secret), ("x-api-method", "../../etc")],
    )
    .await;
    assert_eq!(garbage.problem(403), "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn the_key_is_never_read_from_the_query_string() {
    let app = App::start();
    let (_, secret) = app.create_key(json!({ "label": "Query" })).await;
    let reply = app
        .send(app.call(
            "GET",
            &format!("/api/v1/authorize?key={secret}&api_key={secret}"),
        ))
        .await;
    assert_eq!(reply.problem(401), "NOT_FOUND");
}

#[tokio::test]
async fn a_verification_costs_one_key_value_read_and_no_sqlite() {
    let app = App::start_test_host();
    let (_, secret) = app
        .create_key(json!({ "label": "Hot path", "methods": ["employees.read"] }))
        .await;
    for method in ["employees.read", "payroll.read"] {
        app.test_host().reset_counters();
        app.verify(&secret, Some(method), None).await;
        let c = app.test_host().counters();
        // Counted when the answer is back: the usage batch is written later. (The store's
        // opening, `kv_other`, happens once per instance; every request is one here.)
        assert_eq!(
            (c.kv_calls() - c.kv_other, c.kv_get, c.sqlite_execute),
            (1, 1, 0),
            "{method}: {c:?}"
        );
    }

    let mut garbage = secret.clone();
    garbage.replace_range(10..11, if &secret[10..11] == "A" { "B" } else { "A" });
    app.test_host().reset_counters();
    assert_eq!(app.code(&garbage, None, None).await, "NOT_FOUND");
    let c = app.test_host().counters();
    assert_eq!(
        (c.kv_get, c.kv_other, c.sqlite_execute),
        (0, 0, 0),
        "a bad checksum touches no store: {c:?}"
    );
}

#[tokio::test]
async fn usage_and_last_use_are_written_after_the_answer_never_on_its_path() {
    let app = App::start_test_host();
    let (key, secret) = app.create_key(json!({ "label": "Busy" })).await;
    app.test_host().reset_counters();
    app.verify(&secret, None, None).await;
    let at_answer = app.test_host().counters();
    assert_eq!(
        (at_answer.kv_set, at_answer.kv_increment),
        (0, 0),
        "nothing is written before the answer: {at_answer:?}"
    );
    let path = format!("/api/v1/keys/{}", key["id"].as_str().unwrap());
    let start = std::time::Instant::now();
    while app.admin("GET", &path, None).await.json()["last_used_at"].is_null() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "never written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // One batch: the key's access count of this hour (also its VALID usage), then, the count
    // being new, its slot's count; the last use and the slot's shape.
    let written = || async {
        let c = app.test_host().counters();
        match (c.kv_increment, c.kv_set) {
            (2, 2) => Ok(()),
            seen => Err(format!("{seen:?}: {c:?}")),
        }
    };
    helpers::eventually("the batch written", Duration::from_secs(10), written).await;
    let again = app.test_host().counters();
    assert_eq!(
        (again.kv_increment, again.kv_set),
        (2, 2),
        "nothing more: {again:?}"
    );
}

#[tokio::test]
async fn envoy_style_paths_under_authorize_get_the_same_answer() {
    let app = App::start();
    let (_, secret) = app
        .create_key(json!({ "label": "Envoy", "methods": ["employees.read"] }))
        .await;
    let allowed = app
        .send(
            app.call("GET", "/api/v1/authorize/api/employees/42")
                .header("x-api-key", &secret)
                .header("x-api-method", "employees.read"),
        )
        .await;
    assert_eq!(allowed.status, 204, "{}", allowed.text());
    let refused = app
        .send(
            app.call("GET", "/api/v1/authorize/api/payroll")
                .header("x-api-key", &secret)
                .header("x-api-method", "payroll.read"),
        )
        .await;
    assert_eq!(refused.problem(403), "METHOD_NOT_ALLOWED");
    let wrong_method = app.send(app.call("DELETE", "/api/v1/authorize/x")).await;
    assert_eq!(wrong_method.problem(405), "method_not_allowed");
}
