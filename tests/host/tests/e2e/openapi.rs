//! The served OpenAPI document is the repository's, and it agrees with the routes the app
//! serves: every documented operation is routed, every undocumented method is a 405 naming
//! exactly the documented ones.

use crate::helpers::{
    App, HTTP_METHODS, INTROSPECTION_CLIENT, Reply, documented_operations, fill_path,
    openapi_document, sample_request,
};
use crate::scanners::{Scanners, github_finding, signed_report};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Whether a reply is the app's (or the host's) "no such route" answer.
fn is_route_level_404(reply: &Reply) -> bool {
    if reply.status != 404 {
        return false;
    }
    if reply.body.is_empty() {
        return true; // the host router found no component
    }
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    body["code"] == "not_found"
        && body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("no route"))
}

/// The documented methods of each path template.
fn methods_by_path(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for op in documented_operations(doc) {
        map.entry(op.template).or_default().insert(op.method);
    }
    map
}

/// Whether a template (`{x}` matching any one segment) matches a path.
fn template_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
}

async fn served_document(app: &App) -> Reply {
    app.send(app.call("GET", "/api/v1/openapi.json")).await
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_json_and_equals_the_repository_one() {
    let app = App::start();

    let reply = served_document(&app).await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    let media = reply.header("content-type").unwrap_or_default();
    assert!(media.starts_with("application/json"), "{media}");
    let served = reply.json();
    let version = served["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi {version}");
    assert!(served == openapi_document(), "served ≠ docs/openapi.json");
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    // The scanners' public keys come from a stub, so that a signed report can be accepted;
    // an introspection client is listed, so that the sample introspection is answered.
    let scanners = Scanners::start();
    let app = scanners.start_app(&[INTROSPECTION_CLIENT]);
    let served = served_document(&app).await.json();
    let operations = documented_operations(&served);
    assert!(operations.len() >= 20, "{operations:?}");

    for (n, op) in operations.iter().enumerate() {
        let fx = app.fixtures(&format!("op{n}")).await;
        let call = match op.template.strip_prefix("/secret-scanning/") {
            Some(scanner) => {
                let key = if scanner == "github" {
                    &scanners.github
                } else {
                    &scanners.gitlab
                };
                signed_report(
                    &app,
                    scanner,
                    key,
                    &json!([github_finding(&fx.secret, "https://example.com/x")]),
                )
            }
            None if op.is_admin() => sample_request(op, &fx).call(&app).admin(),
            None => sample_request(op, &fx).call(&app),
        };

        let reply = app.send(call).await;

        assert!(
            !is_route_level_404(&reply),
            "{op} is documented but not routed: {}",
            reply.text()
        );
        assert_ne!(reply.status, 405, "{op} is documented: {}", reply.text());
        let documented = &served["paths"][&op.template][op.method.to_ascii_lowercase()]["responses"]
            [reply.status.to_string()];
        assert!(
            !documented.is_null(),
            "{op} answered {}, a status its document does not list: {}",
            reply.status,
            reply.text()
        );
        assert!(
            reply.status < 300,
            "{op} refused a valid request: {} {}",
            reply.status,
            reply.text()
        );
    }
}

#[tokio::test]
async fn every_undocumented_method_on_a_documented_path_is_a_405_naming_the_documented_ones() {
    let app = App::start();
    let fx = app.fixtures("wrongmethod").await;
    let served = served_document(&app).await.json();

    for (template, documented) in methods_by_path(&served) {
        let path = fill_path(&template, &fx);
        // With a query too: the method is refused before anything else is looked at.
        let paths = [path.clone(), format!("{path}?limit=1&x=1")];
        for (method, path) in HTTP_METHODS
            .into_iter()
            .filter(|m| !documented.contains(*m))
            .flat_map(|m| paths.iter().map(move |p| (m, p)))
        {
            let before = app.dump();

            let reply = app.send(app.call(method, path).admin()).await;

            assert_eq!(
                reply.status,
                405,
                "{method} {template} is not documented: {}",
                reply.text()
            );
            assert_eq!(reply.problem(405), "method_not_allowed");
            // Among the checked methods (HEAD, which goes with GET, and OPTIONS aside).
            let allow: BTreeSet<String> = reply
                .header("allow")
                .unwrap_or_else(|| panic!("{method} {template}: no Allow header"))
                .split(',')
                .map(|m| m.trim().to_owned())
                .filter(|m| HTTP_METHODS.contains(&m.as_str()))
                .collect();
            let expected: BTreeSet<String> = documented
                .iter()
                .filter(|m| HTTP_METHODS.contains(&m.as_str()))
                .cloned()
                .collect();
            assert_eq!(allow, expected, "Allow of {template}");
            assert!(
                app.dump() == before,
                "{method} {template} changed the stores"
            );
        }
    }
}

/// The documented path whose sub-paths answer as it does (Envoy's ext_authz appends the
/// original path to it; its operations' descriptions say so).
const PREFIX_PATH: &str = "/authorize";

#[tokio::test]
async fn paths_next_to_documented_ones_are_not_served() {
    let app = App::start();
    let fx = app.fixtures("neighbours").await;
    let served = served_document(&app).await.json();
    let paths = methods_by_path(&served);

    for template in paths.keys() {
        let neighbour = format!("{template}/extra");
        if paths.keys().any(|t| template_matches(t, &neighbour)) || template == PREFIX_PATH {
            continue;
        }
        for method in HTTP_METHODS {
            let reply = app
                .send(app.call(method, &fill_path(&neighbour, &fx)).admin())
                .await;

            assert!(
                is_route_level_404(&reply),
                "{method} {neighbour} is served but not documented: {} {}",
                reply.status,
                reply.text()
            );
            assert_eq!(reply.problem(404), "not_found");
        }
    }
}

#[tokio::test]
async fn the_document_marks_exactly_the_admin_routes_as_needing_an_identity_token() {
    let doc = openapi_document();

    for op in documented_operations(&doc) {
        let security = &doc["paths"][&op.template][op.method.to_ascii_lowercase()]["security"];
        let needs_token = security
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("identityToken").is_some()));

        assert_eq!(needs_token, op.is_admin(), "{op}");
    }
}

#[tokio::test]
async fn every_path_under_authorize_answers_as_authorize_does_as_documented() {
    let app = App::start();
    let fx = app.fixtures("prefix").await;
    let served = served_document(&app).await.json();
    let documented = &methods_by_path(&served)[PREFIX_PATH];
    for method in documented {
        let description = served["paths"][PREFIX_PATH][method.to_ascii_lowercase()]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(
            description.contains("Every path under `/authorize/`"),
            "{method} {PREFIX_PATH}: {description}"
        );
    }

    for sub_path in ["/extra", "/api/v1/keys?x=1", "/"] {
        let path = format!("/api/v1{PREFIX_PATH}{sub_path}");
        for method in HTTP_METHODS {
            let allowed = app
                .send(app.call(method, &path).header("x-api-key", &fx.secret))
                .await;
            let refused = app.send(app.call(method, &path)).await;

            if documented.contains(method) {
                assert_eq!(allowed.status, 204, "{method} {path}: {}", allowed.text());
                assert_eq!(refused.problem(401), "NOT_FOUND", "{method} {path}");
            } else {
                assert_eq!(
                    allowed.problem(405),
                    "method_not_allowed",
                    "{method} {path}"
                );
                assert_eq!(allowed.header("allow"), Some("GET, POST"));
            }
        }
    }
}
