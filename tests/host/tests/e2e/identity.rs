//! Identity tokens on every admin route: who may call, who is refused (401 or 403, always
//! as a problem, never with a side effect), and who the audit trail names.

use crate::helpers::{
    App, Fixtures, Operation, RIGHT, TOKEN_SECRET, admin_operations, admin_token, sample_request,
    token_with,
};
use keys_domain::identity::sign_token;
use keys_domain::time::Timestamp;
use serde_json::{Value, json};

const ISSUER: &str = "https://sso.ingeneo.example";
const AUDIENCE: &str = "api-keys";
/// `{"alg":"none","typ":"JWT"}`, base64url without padding.
const ALG_NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";

fn now() -> i64 {
    Timestamp::now().unix()
}

/// Claims of a valid token, merged over the defaults (a null removes a claim), signed with
/// another secret than the app's.
fn token_signed_with(secret: &str) -> String {
    sign_token(
        &json!({ "sub": "u-1001", "name": "Camille Martin", "exp": now() + 600, "rights": [RIGHT] }),
        secret,
    )
}

/// The 33 admin operations of the document (all of manage-keys, manage-permissions,
/// key-usage, rebuild-records and webhooks: everything but /verify, /authorize, /introspect,
/// /health, /openapi.json, /leaks, /webhooks/dispatch and the secret-scanning endpoints).
fn operations() -> Vec<Operation> {
    let ops = admin_operations();
    let mut names: Vec<String> = ops.iter().map(ToString::to_string).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "DELETE /companies/{company}",
            "DELETE /keys/{id}",
            "DELETE /methods/{method}",
            "DELETE /webhooks/{webhook_id}",
            "GET /companies",
            "GET /events",
            "GET /keys",
            "GET /keys/{id}",
            "GET /keys/{id}/access-review",
            "GET /keys/{id}/events",
            "GET /keys/{id}/permissions",
            "GET /keys/{id}/usage",
            "GET /methods",
            "GET /usage",
            "GET /webhooks",
            "GET /webhooks/{webhook_id}",
            "GET /webhooks/{webhook_id}/deliveries",
            "PATCH /keys/{id}",
            "PATCH /keys/{id}/permissions",
            "PATCH /webhooks/{webhook_id}",
            "POST /keys",
            "POST /keys/{id}/access-review/simulate",
            "POST /keys/{id}/activate",
            "POST /keys/{id}/deactivate",
            "POST /keys/{id}/regenerate",
            "POST /verification-records/rebuild",
            "POST /webhooks",
            "POST /webhooks/{webhook_id}/deliveries/{message_id}/retry",
            "POST /webhooks/{webhook_id}/rotate-secret",
            "POST /webhooks/{webhook_id}/test",
            "PUT /companies/{company}",
            "PUT /keys/{id}/permissions",
            "PUT /methods/{method}",
        ],
        "the admin routes of docs/openapi.json"
    );
    ops
}

/// Sends every admin operation with this `Authorization` header (or none) and asserts each
/// is refused with `status` as a problem, with a Bearer challenge on 401, and that the
/// stores did not change.
pub(crate) async fn assert_every_admin_route_refuses(
    app: &App,
    fx: &Fixtures,
    authorization: Option<&str>,
    status: u16,
) {
    let expected_code = if status == 401 {
        "unauthenticated"
    } else {
        "forbidden"
    };
    for op in operations() {
        let sample = sample_request(&op, fx);
        let mut call = sample.call(app);
        if let Some(value) = authorization {
            call = call.header("authorization", value);
        }
        let before = app.dump();

        let reply = app.send(call).await;

        assert_eq!(
            reply.status,
            status,
            "{op} with {authorization:?}: {}",
            reply.text()
        );
        assert_eq!(reply.problem(status), expected_code, "{op}");
        if status == 401 {
            let challenge = reply.header("www-authenticate").unwrap_or_default();
            assert!(
                challenge.starts_with("Bearer"),
                "{op}: WWW-Authenticate is {challenge:?}"
            );
        }
        assert!(
            app.dump() == before,
            "{op}: a refused call changed the stores"
        );
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_request_without_a_token_is_unauthenticated_on_every_admin_route() {
    let app = App::start();
    let fx = app.fixtures("notoken").await;

    assert_every_admin_route_refuses(&app, &fx, None, 401).await;
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_unauthenticated_on_every_admin_route() {
    let app = App::start();
    let fx = app.fixtures("othersecret").await;
    let forged = token_signed_with("not-the-e2e-identity-token-secret");

    assert_every_admin_route_refuses(&app, &fx, Some(&bearer(&forged)), 401).await;
}

#[tokio::test]
async fn a_token_expired_beyond_the_leeway_is_unauthenticated_on_every_admin_route() {
    let app = App::start();
    let fx = app.fixtures("expired").await;
    let expired = token_with(json!({ "exp": now() - 61 }));

    assert_every_admin_route_refuses(&app, &fx, Some(&bearer(&expired)), 401).await;
}

#[tokio::test]
async fn a_token_not_valid_yet_beyond_the_leeway_is_unauthenticated_on_every_admin_route() {
    let app = App::start();
    let fx = app.fixtures("early").await;
    let early = token_with(json!({ "nbf": now() + 120 }));

    assert_every_admin_route_refuses(&app, &fx, Some(&bearer(&early)), 401).await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_unauthenticated_on_every_admin_route() {
    let app = App::start();
    let fx = app.fixtures("algnone").await;
    let claims = admin_token().split('.').nth(1).unwrap().to_owned();
    let unsigned = format!("{ALG_NONE_HEADER}.{claims}.");
    let with_stolen_signature = {
        let good = admin_token();
        let signature = good.rsplit('.').next().unwrap().to_owned();
        format!("{ALG_NONE_HEADER}.{claims}.{signature}")
    };

    assert_every_admin_route_refuses(&app, &fx, Some(&bearer(&unsigned)), 401).await;
    assert_every_admin_route_refuses(&app, &fx, Some(&bearer(&with_stolen_signature)), 401).await;
}

#[tokio::test]
async fn a_valid_token_without_the_right_is_forbidden_on_every_admin_route() {
    let app = App::start();
    let fx = app.fixtures("noright").await;
    let other_right = token_with(json!({ "rights": ["payroll_admin"] }));
    let no_rights = token_with(json!({ "rights": null }));

    assert_every_admin_route_refuses(&app, &fx, Some(&bearer(&other_right)), 403).await;
    assert_every_admin_route_refuses(&app, &fx, Some(&bearer(&no_rights)), 403).await;
}

#[tokio::test]
async fn a_wrong_issuer_or_audience_is_unauthenticated_on_every_admin_route_when_they_are_configured()
 {
    let app = App::start_with(&[
        ("identity_token_issuer", ISSUER),
        ("identity_token_audience", AUDIENCE),
    ]);
    let good = token_with(json!({ "iss": ISSUER, "aud": [AUDIENCE, "billing"] }));
    let fx = app.fixtures_as("issaud", &good).await;
    let wrong_issuer = token_with(json!({ "iss": "https://evil.example", "aud": AUDIENCE }));
    let no_issuer = token_with(json!({ "aud": AUDIENCE }));
    let wrong_audience = token_with(json!({ "iss": ISSUER, "aud": ["billing"] }));
    let no_audience = token_with(json!({ "iss": ISSUER }));

    for token in [wrong_issuer, no_issuer, wrong_audience, no_audience] {
        assert_every_admin_route_refuses(&app, &fx, Some(&bearer(&token)), 401).await;
    }
}

/// Sends every admin operation, each on fresh fixtures tagged `tag<n>`, with a token made by
/// `token` and asserts a 2xx.
pub(crate) async fn assert_every_admin_route_accepts(
    app: &App,
    tag: &str,
    token: impl Fn() -> String,
) {
    for (n, op) in operations().into_iter().enumerate() {
        let fx = app.fixtures_as(&format!("{tag}{n}"), &token()).await;
        let sample = sample_request(&op, &fx);

        let reply = app.send(sample.call(app).bearer(&token())).await;

        assert!(
            (200..300).contains(&reply.status),
            "{op}: {} {}",
            reply.status,
            reply.text()
        );
    }
}

#[tokio::test]
async fn a_good_token_is_accepted_on_every_admin_route() {
    let app = App::start();

    assert_every_admin_route_accepts(&app, "ok", admin_token).await;
}

#[tokio::test]
async fn a_matching_issuer_and_audience_are_accepted_on_every_admin_route_when_configured() {
    let app = App::start_with(&[
        ("identity_token_issuer", ISSUER),
        ("identity_token_audience", AUDIENCE),
    ]);

    assert_every_admin_route_accepts(&app, "one", || {
        token_with(json!({ "iss": ISSUER, "aud": AUDIENCE }))
    })
    .await;
    assert_every_admin_route_accepts(&app, "many", || {
        token_with(json!({ "iss": ISSUER, "aud": ["billing", AUDIENCE] }))
    })
    .await;
}

#[tokio::test]
async fn tokens_within_the_sixty_second_leeway_are_accepted() {
    let app = App::start();
    let just_expired = token_with(json!({ "exp": now() - 45 }));
    let almost_valid = token_with(json!({ "nbf": now() + 30 }));

    for token in [just_expired, almost_valid] {
        let reply = app
            .send(app.call("GET", "/api/v1/keys").bearer(&token))
            .await;

        assert_eq!(reply.status, 200, "{}", reply.text());
    }
}

#[tokio::test]
async fn malformed_authorization_headers_and_incomplete_tokens_are_unauthenticated() {
    let app = App::start();
    let fx = app.fixtures("malformed").await;
    let good = admin_token();
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = {
        // Same header and signature, claims of someone else: the signature no longer fits.
        let other = token_with(json!({ "sub": "u-6666" }));
        format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap(),
            parts[2]
        )
    };
    let headers = [
        format!("Basic {good}"),
        good.clone(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer not-a-token".to_owned(),
        "Bearer a.b.c".to_owned(),
        format!("Bearer {}.{}", parts[0], parts[1]),
        format!("Bearer {good}.extra"),
        bearer(&tampered),
        bearer(&token_with(json!({ "exp": null }))),
        bearer(&token_with(json!({ "sub": null }))),
        bearer(&token_with(json!({ "sub": "" }))),
        // Rights of the wrong shape (one string of space-separated rights is accepted, as in
        // OAuth's `scope` and Entra ID's `scp`).
        bearer(&token_with(json!({ "rights": 42 }))),
        bearer(&token_with(json!({ "rights": [RIGHT, 42] }))),
        bearer(&format!("{}{}", good, "x".repeat(9000))),
        bearer(&sign_token(&json!({ "sub": "u-1" }), TOKEN_SECRET)),
    ];

    for header in &headers {
        assert_every_admin_route_refuses(&app, &fx, Some(header), 401).await;
    }
}

fn actor(event: &Value) -> (Value, Value) {
    (event["actor"]["id"].clone(), event["actor"]["name"].clone())
}

#[tokio::test]
async fn the_audit_trail_names_the_token_subject_and_name_as_actor() {
    let app = App::start();
    let noor = token_with(json!({ "sub": "u-7007", "name": "Noor Haddad" }));
    let nameless = token_with(json!({ "sub": "svc-provisioning", "name": null }));

    let created = app
        .send(
            app.call("POST", "/api/v1/keys")
                .bearer(&noor)
                .json(&json!({ "label": "Audited" })),
        )
        .await;
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let renamed = app
        .send(
            app.call("PATCH", &format!("/api/v1/keys/{id}"))
                .bearer(&nameless)
                .json(&json!({ "label": "Audited twice" })),
        )
        .await;
    let permitted = app
        .send(
            app.call("PATCH", &format!("/api/v1/keys/{id}/permissions"))
                .bearer(&noor)
                .json(&json!({ "add_methods": ["employees.read"] })),
        )
        .await;
    let deactivated = app
        .send(
            app.call("POST", &format!("/api/v1/keys/{id}/deactivate"))
                .bearer(&nameless),
        )
        .await;

    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(
        created.json()["created_by"],
        json!({ "id": "u-7007", "name": "Noor Haddad" })
    );
    assert_eq!(
        [renamed.status, permitted.status, deactivated.status],
        [200, 200, 200]
    );
    let events = app
        .admin("GET", &format!("/api/v1/keys/{id}/events"), None)
        .await
        .json();
    let trail: Vec<(Value, (Value, Value))> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].clone(), actor(e)))
        .collect();
    assert_eq!(
        trail,
        [
            (
                json!("deactivated"),
                (json!("svc-provisioning"), Value::Null)
            ),
            (
                json!("permissions_changed"),
                (json!("u-7007"), json!("Noor Haddad"))
            ),
            (
                json!("label_changed"),
                (json!("svc-provisioning"), Value::Null)
            ),
            (json!("created"), (json!("u-7007"), json!("Noor Haddad"))),
        ]
    );
}
