//! OAuth 2.0 token introspection (RFC 7662): `POST /api/v1/introspect` answers the clients
//! listed in `introspection_clients`, with `/verify`'s decision, limits and usage counting.

use crate::helpers::{self, App, INTROSPECTION_CLIENT, Reply, basic};
use keys_domain::key::NewSecret;
use keys_domain::time::Timestamp;
use serde_json::{Value, json};
use std::time::Duration;

/// The media type of introspection requests.
const FORM: &str = "application/x-www-form-urlencoded";
/// A second listed client, beside [`INTROSPECTION_CLIENT`]'s.
const MONITOR: &str = "monitor:m0n1t0r";
/// The `WWW-Authenticate` challenge of a refused introspection client.
const BASIC_CHALLENGE: &str = "Basic realm=\"ingeneo-introspection\"";
/// How long usage counts may take to be written (verify-key writes its batches 500 ms after
/// the first verification they hold).
const COUNTING_DELAY: Duration = Duration::from_secs(10);

/// The app, with two introspection clients listed.
fn start() -> App {
    let clients = format!("{},{MONITOR}", INTROSPECTION_CLIENT.1);
    App::start_with(&[(INTROSPECTION_CLIENT.0, &clients)])
}

/// `POST /api/v1/introspect` with this `Authorization` (if any) and form body.
async fn introspect(app: &App, authorization: Option<&str>, form: &str) -> Reply {
    let mut call = app
        .call("POST", "/api/v1/introspect")
        .header("content-type", FORM)
        .body(form.to_owned());
    if let Some(authorization) = authorization {
        call = call.header("authorization", authorization);
    }
    app.send(call).await
}

/// The gateway client's introspection of `form`: a 200 JSON answer, never cached.
async fn ask(app: &App, form: &str) -> Value {
    let reply = introspect(app, Some(&basic(INTROSPECTION_CLIENT.1)), form).await;
    assert_eq!(reply.status, 200, "{form}: {}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    reply.json()
}

#[tokio::test]
async fn a_valid_key_is_active_with_its_scope_subject_companies_expiry_and_creation() {
    let app = start();
    app.register_company("ACME", "Acme").await;
    let exp = Timestamp::now().unix() + 86_400;
    let (key, secret) = app
        .create_key(json!({
            "label": "Flex gateway",
            "methods": ["employees.read", "payroll.*"],
            "companies": ["ACME"],
            "expires_at": Timestamp::from_unix(exp).to_string(),
        }))
        .await;
    let id = key["id"].as_str().unwrap();
    let iat = Timestamp::parse_rfc3339(key["created_at"].as_str().unwrap())
        .unwrap()
        .unix();

    let answer = ask(
        &app,
        &format!("token={secret}&token_type_hint=access_token&method=employees.read&company=ACME"),
    )
    .await;

    assert_eq!(
        answer,
        json!({
            "active": true,
            "scope": "employees.read payroll.*",
            "client_id": id,
            "sub": id,
            "token_type": "api_key",
            "exp": exp,
            "iat": iat,
            "companies": ["ACME"],
        })
    );
    assert_eq!(
        ask(&app, &format!("token={secret}")).await["active"],
        true,
        "without a method or company, the key's own state, as /verify answers it"
    );
    let (_, everything) = app
        .create_key(json!({ "label": "Everything", "methods": ["*"] }))
        .await;
    let open = ask(&app, &format!("token={everything}")).await;
    assert_eq!(
        (&open["scope"], &open["companies"]),
        (&json!("*"), &json!("all"))
    );
    assert!(open.get("exp").is_none(), "no expiry, no exp: {open}");
    let monitor = introspect(&app, Some(&basic(MONITOR)), &format!("token={secret}")).await;
    assert_eq!(
        monitor.status,
        200,
        "every listed client: {}",
        monitor.text()
    );
}

#[tokio::test]
async fn a_key_that_would_not_be_valid_is_inactive_and_nothing_more_is_said() {
    let app = start();
    app.register_company("ACME", "Acme").await;
    let (key, secret) = app
        .create_key(
            json!({ "label": "Gateway", "methods": ["employees.read"], "companies": ["ACME"] }),
        )
        .await;
    let unknown = NewSecret::generate().unwrap().expose().to_owned();
    let inactive = json!({ "active": false });

    for form in [
        format!("token={secret}&method=payroll.payslips.read"),
        format!("token={secret}&method=employees.read&company=GLOBEX"),
        format!("token={secret}&method=..%2F..%2Fetc"),
        format!("token={unknown}"),
        "token=not-a-key".to_owned(),
        "token=".to_owned(),
    ] {
        assert_eq!(ask(&app, &form).await, inactive, "{form}");
    }
    let id = key["id"].as_str().unwrap();
    app.admin("POST", &format!("/api/v1/keys/{id}/deactivate"), None)
        .await;
    let deactivated = introspect(
        &app,
        Some(&basic(INTROSPECTION_CLIENT.1)),
        &format!("token={secret}&method=employees.read"),
    )
    .await;
    assert_eq!(deactivated.text(), r#"{"active":false}"#);
}

#[tokio::test]
async fn a_caller_without_a_listed_clients_credentials_gets_401_with_a_basic_challenge() {
    let app = start();
    let (_, secret) = app.create_key(json!({ "label": "Probe" })).await;
    let form = format!("token={secret}");

    for authorization in [
        None,
        Some(basic("gateway:wrong")),
        Some(basic("stranger:e2e-introspection-s3cret")),
        Some(basic("gateway")),
        Some(format!("Bearer {secret}")),
    ] {
        let reply = introspect(&app, authorization.as_deref(), &form).await;

        assert_eq!(reply.problem(401), "invalid_client", "{authorization:?}");
        assert_eq!(reply.header("www-authenticate"), Some(BASIC_CHALLENGE));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert!(!helpers::shows_secret(&reply.text(), &secret));
    }
}

#[tokio::test]
async fn with_no_client_listed_introspection_is_off_and_answers_401_to_everyone() {
    let app = App::start();
    let (_, secret) = app.create_key(json!({ "label": "Probe" })).await;

    let reply = introspect(
        &app,
        Some(&basic(INTROSPECTION_CLIENT.1)),
        &format!("token={secret}"),
    )
    .await;

    assert_eq!(reply.problem(401), "invalid_client");
    assert_eq!(reply.header("www-authenticate"), Some(BASIC_CHALLENGE));
    let detail = reply.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("off"), "{detail}");
}

#[tokio::test]
async fn a_request_that_is_not_a_well_formed_introspection_is_a_400_problem() {
    let app = start();
    let (_, secret) = app.create_key(json!({ "label": "Probe" })).await;
    let authorization = basic(INTROSPECTION_CLIENT.1);
    let cases = [
        (
            Some("application/json"),
            json!({ "token": secret }).to_string(),
            FORM,
        ),
        (None, format!("token={secret}"), FORM),
        (
            Some(FORM),
            format!("token={secret}&token={secret}"),
            "repeated",
        ),
        (
            Some(FORM),
            format!("token={secret}&company=A&company=A"),
            "repeated",
        ),
        (
            Some(FORM),
            format!("token={secret}&client_secret=x"),
            "`client_secret`",
        ),
        (
            Some(FORM),
            "token_type_hint=access_token".to_owned(),
            "`token` is required",
        ),
        (Some(FORM), "token=%FF".to_owned(), "UTF-8"),
    ];

    for (media, body, says) in cases {
        let mut call = app
            .call("POST", "/api/v1/introspect")
            .header("authorization", &authorization)
            .body(body.clone());
        if let Some(media) = media {
            call = call.header("content-type", media);
        }
        let reply = app.send(call).await;

        assert_eq!(reply.problem(400), "invalid_request", "{media:?} {body}");
        let detail = reply.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains(says), "{body}: {detail}");
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert!(!helpers::shows_secret(&reply.text(), &secret));
    }
    let in_query = app
        .send(
            app.call("POST", &format!("/api/v1/introspect?token={secret}"))
                .header("authorization", &authorization)
                .header("content-type", FORM)
                .body(format!("token={secret}")),
        )
        .await;
    assert_eq!(in_query.problem(400), "invalid_request", "no query at all");
    let get = app.send(app.call("GET", "/api/v1/introspect")).await;
    assert_eq!(get.problem(405), "method_not_allowed");
    assert_eq!(get.header("allow"), Some("POST"));
    let huge = introspect(
        &app,
        Some(&authorization),
        &format!("token={secret}&company={}", "a".repeat(70 * 1024)),
    )
    .await;
    assert_eq!(huge.problem(413), "payload_too_large");
}

#[tokio::test]
async fn an_introspection_consumes_the_limits_and_counts_in_usage_as_a_verification_does() {
    crate::limits::within_one_day(|| async move {
        let app = start();
        let (key, secret) = app
            .create_key(json!({
                "label": "Metered",
                "methods": ["employees.read"],
                "quota": { "limit": 2, "period": "day" },
            }))
            .await;
        let form = format!("token={secret}&method=employees.read");

        assert_eq!(ask(&app, &form).await["active"], true);
        assert_eq!(
            app.code(&secret, Some("employees.read"), None).await,
            "VALID"
        );
        assert_eq!(
            ask(&app, &form).await,
            json!({ "active": false }),
            "the quota is used up"
        );
        assert_eq!(
            app.code(&secret, Some("employees.read"), None).await,
            "QUOTA_EXCEEDED"
        );

        let path = format!(
            "/api/v1/keys/{}/usage?granularity=day",
            key["id"].as_str().unwrap()
        );
        let expected = json!({ "VALID": 2, "QUOTA_EXCEEDED": 2 });
        helpers::eventually("introspections counted", COUNTING_DELAY, || async {
            let usage = app.admin("GET", &path, None).await.json();
            let counts = usage["data"].as_array().unwrap().last().unwrap()["counts"].clone();
            if counts == expected {
                Ok(())
            } else {
                Err(counts.to_string())
            }
        })
        .await;
    })
    .await;
}
