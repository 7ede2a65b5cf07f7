//! Envoy's external authorization over gRPC on real Spin: a real ext_authz client (the
//! generated `Authorization` client of `envoy-types`, over tonic's HTTP/2 transport) sends
//! `Check` to the ext-authz component, which answers as `/authorize` does (docs/gateway.md,
//! "Envoy").

use crate::authorize::authorize;
use crate::helpers::App;
use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use tonic::transport::Channel;

/// gRPC codes of the verdicts.
const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAUTHENTICATED: i32 = 16;
/// `HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD`.
const OVERWRITE: i32 = 2;

async fn client(app: &App) -> AuthorizationClient<Channel> {
    AuthorizationClient::connect(app.spin().url())
        .await
        .expect("an HTTP/2 connection to spin up")
}

/// A `Check` of a request with these headers and route context extensions, from `ip`.
fn check_request(
    headers: &[(&str, &str)],
    extensions: &[(&str, &str)],
    ip: Option<&str>,
) -> CheckRequest {
    let owned = |list: &[(&str, &str)]| -> HashMap<String, String> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let source = ip.map(|ip| Peer {
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: ip.to_owned(),
                ..Default::default()
            })),
        }),
        ..Default::default()
    });
    CheckRequest {
        attributes: Some(AttributeContext {
            source,
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    path: "/payroll/payslips".into(),
                    headers: owned(headers),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            context_extensions: owned(extensions),
            ..Default::default()
        }),
    }
}

async fn check(app: &App, request: CheckRequest) -> CheckResponse {
    client(app)
        .await
        .check(request)
        .await
        .expect("Check answers")
        .into_inner()
}

fn ok(response: &CheckResponse) -> &OkHttpResponse {
    match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) => ok,
        other => panic!("not allowed: {other:?} {:?}", response.status),
    }
}

fn denied(response: &CheckResponse) -> &DeniedHttpResponse {
    match &response.http_response {
        Some(HttpResponse::DeniedResponse(denied)) => denied,
        other => panic!("not denied: {other:?}"),
    }
}

fn code(response: &CheckResponse) -> i32 {
    response.status.as_ref().map_or(-1, |s| s.code)
}

fn denied_header<'a>(denied: &'a DeniedHttpResponse, name: &str) -> Option<&'a str> {
    denied
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .find(|h| h.key == name)
        .map(|h| h.value.as_str())
}

async fn started() -> (App, String, String) {
    let app = App::start_spin_with(&[]);
    app.register_company("ACME", "Acme").await;
    let (key, secret) = app
        .create_key(
            json!({ "label": "Envoy", "methods": ["employees.read"], "companies": ["ACME"] }),
        )
        .await;
    (app, key["id"].as_str().unwrap().to_owned(), secret)
}

#[tokio::test]
async fn an_allowed_check_sets_the_key_id_upstream_and_removes_the_key() {
    let (app, id, secret) = started().await;
    let headers = [
        ("x-api-key", secret.as_str()),
        ("x-api-company", "ACME"),
        ("x-api-key-id", "key_forged_by_the_caller"),
    ];
    let route = [("method", "employees.read")];
    let response = check(&app, check_request(&headers, &route, None)).await;

    assert_eq!(code(&response), OK);
    let allowed = ok(&response);
    let set: Vec<(&str, &str, i32)> = allowed
        .headers
        .iter()
        .map(|h| {
            let header = h.header.as_ref().unwrap();
            (header.key.as_str(), header.value.as_str(), h.append_action)
        })
        .collect();
    assert_eq!(set[0], ("x-api-key-id", id.as_str(), OVERWRITE));
    assert_eq!(set[1].0, "x-api-key-hint");
    assert_eq!(allowed.headers_to_remove, vec!["x-api-key"]);

    // A bearer key is taken too, and its header removed.
    let bearer = format!("Bearer {secret}");
    let headers = [("authorization", bearer.as_str())];
    let extensions = [("method", "employees.read"), ("company", "ACME")];
    let response = check(&app, check_request(&headers, &extensions, None)).await;
    assert_eq!(code(&response), OK, "{response:?}");
    assert_eq!(ok(&response).headers_to_remove, vec!["authorization"]);
}

#[tokio::test]
async fn denied_and_unauthenticated_checks_carry_the_status_and_body_of_authorize() {
    let (app, _, secret) = started().await;
    let key = secret.as_str();
    let with_company = vec![("x-api-key", key), ("x-api-company", "ACME")];
    for (method, headers, grpc, status) in [
        (Some("payroll.read"), with_company, PERMISSION_DENIED, 403),
        (
            Some("employees.read"),
            vec![("x-api-key", key)],
            PERMISSION_DENIED,
            403,
        ),
        (
            Some("employees.read"),
            vec![("x-api-company", "ACME")],
            UNAUTHENTICATED,
            401,
        ),
        (
            None,
            vec![("x-api-key", "ingk_not-a-key")],
            UNAUTHENTICATED,
            401,
        ),
    ] {
        let route: Vec<(&str, &str)> = method.map(|m| ("method", m)).into_iter().collect();
        let response = check(&app, check_request(&headers, &route, None)).await;
        let mut direct_headers = headers.clone();
        direct_headers.extend(method.map(|m| ("x-api-method", m)));
        let direct = authorize(&app, &direct_headers).await;

        assert_eq!(code(&response), grpc, "{headers:?}");
        let denied = denied(&response);
        assert_eq!(denied.status.as_ref().unwrap().code, status);
        assert_eq!(i32::from(direct.status), status);
        let body: Value = serde_json::from_str(&denied.body).unwrap();
        assert_eq!(body, direct.json(), "the body /authorize gives");
        assert_eq!(
            denied_header(denied, "content-type"),
            Some("application/problem+json")
        );
        if status == 401 {
            assert!(denied_header(denied, "www-authenticate").is_some());
        }
    }
}

#[tokio::test]
async fn a_method_the_caller_names_in_a_header_does_not_count_by_default() {
    let (app, _, secret) = started().await;
    let headers = [
        ("x-api-key", secret.as_str()),
        ("x-api-method", "employees.read"),
        ("x-api-company", "ACME"),
    ];
    let response = check(&app, check_request(&headers, &[], None)).await;
    assert_eq!(
        code(&response),
        PERMISSION_DENIED,
        "the route named no method"
    );
    let body: Value = serde_json::from_str(&denied(&response).body).unwrap();
    assert_eq!(body["code"], "METHOD_NOT_ALLOWED");

    let trusted = App::start_spin_with(&[("ext_authz_method_header", "x-api-method")]);
    trusted.register_company("ACME", "Acme").await;
    let (_, secret) = trusted
        .create_key(
            json!({ "label": "Envoy", "methods": ["employees.read"], "companies": ["ACME"] }),
        )
        .await;
    let headers = [
        ("x-api-key", secret.as_str()),
        ("x-api-method", "employees.read"),
        ("x-api-company", "ACME"),
    ];
    let response = check(&trusted, check_request(&headers, &[], None)).await;
    assert_eq!(
        code(&response),
        OK,
        "named by ext_authz_method_header: {response:?}"
    );
}

#[tokio::test]
async fn checks_consume_the_keys_limits_and_are_counted_as_authorize_calls() {
    let app = App::start_spin_with(&[]);
    let (key, secret) = app
        .create_key(json!({ "label": "Limited", "methods": ["*"], "rate_limit": { "limit": 2, "window_seconds": 3600 } }))
        .await;
    let headers = [("x-api-key", secret.as_str())];
    for _ in 0..2 {
        let response = check(&app, check_request(&headers, &[], Some("203.0.113.7"))).await;
        assert_eq!(code(&response), OK, "{response:?}");
    }
    let response = check(&app, check_request(&headers, &[], None)).await;
    assert_eq!(code(&response), RESOURCE_EXHAUSTED);
    let denied = denied(&response);
    assert_eq!(denied.status.as_ref().unwrap().code, 429);
    assert!(denied_header(denied, "retry-after").is_some());
    assert!(denied_header(denied, "ratelimit").is_some());
    let direct = authorize(&app, &headers).await;
    assert_eq!(
        direct.status, 429,
        "the same window: /authorize counted the checks"
    );
    let id = key["id"].as_str().unwrap();
    assert!(!id.is_empty());
}

#[tokio::test]
async fn the_callers_address_is_envoys_peer_address() {
    let app = App::start_spin_with(&[]);
    let (_, secret) = app
        .create_key(
            json!({ "label": "Office", "methods": ["*"], "ip_allowlist": ["203.0.113.0/24"] }),
        )
        .await;
    let headers = [
        ("x-api-key", secret.as_str()),
        ("x-api-client-ip", "203.0.113.9"),
    ];
    let inside = check(&app, check_request(&headers[..1], &[], Some("203.0.113.7"))).await;
    assert_eq!(code(&inside), OK, "{inside:?}");
    let outside = check(&app, check_request(&headers, &[], Some("198.51.100.1"))).await;
    assert_eq!(
        code(&outside),
        PERMISSION_DENIED,
        "a header the caller sent does not count"
    );
    let none = check(&app, check_request(&headers[..1], &[], None)).await;
    assert_eq!(code(&none), PERMISSION_DENIED);
}

#[tokio::test]
async fn a_check_that_cannot_be_made_is_denied_503_fail_closed() {
    // Redis where nothing listens: /authorize answers 503, and so must the check.
    let app = App::start_spin_with(&[("kv_backend", "redis"), ("redis_host", "127.0.0.1:9")]);
    let secret = keys_domain::key::NewSecret::generate().unwrap();
    let headers = [("x-api-key", secret.expose())];
    let started = std::time::Instant::now();
    let response = check(&app, check_request(&headers, &[], None)).await;

    assert_eq!(code(&response), 14, "UNAVAILABLE");
    let denied = denied(&response);
    assert_eq!(denied.status.as_ref().unwrap().code, 503);
    assert_eq!(denied_header(denied, "retry-after"), Some("1"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "bounded"
    );
    assert_eq!(authorize(&app, &headers).await.status, 503);
}
