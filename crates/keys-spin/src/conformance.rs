//! A component's route table against the API it documents (feature `conformance`, for the
//! components' tests).
//!
//! `docs/openapi.json` documents each operation once, and `spin.toml` sends each path to one
//! component. [`assert_documented`] checks a component's [`Route`] table against both: every
//! documented operation Spin routes to the component is served by the route [`select`]
//! picks (as a request would be), with the documented access (an `identityToken` operation is
//! an [`Access::Admin`] route, any other a public one) and exactly the documented query
//! parameters; and every route of the table serves some documented operation, unless the
//! component names it as undocumented on purpose (the screen's assets, private routes).

use crate::http::API_BASE;
use crate::routes::{Access, Query, Route, Selected, select};
use serde_json::Value;
use std::collections::BTreeSet;

/// The OpenAPI document, as the repository holds it.
const OPENAPI: &str = include_str!("../../../docs/openapi.json");
/// The Spin manifest, as the repository holds it.
const SPIN_TOML: &str = include_str!("../../../spin.toml");
/// The security scheme of administrators' operations.
const ADMIN_SCHEME: &str = "identityToken";

/// One documented operation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Operation {
    /// The method, upper case.
    method: String,
    /// The path template under `/api/v1`, e.g. `/keys/{id}`.
    template: String,
    /// Whether it asks for an administrator's identity token.
    admin: bool,
    /// The names of its query parameters.
    query: BTreeSet<String>,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.template)
    }
}

/// Every operation of the repository's OpenAPI document.
fn documented_operations() -> Vec<Operation> {
    let doc: Value = serde_json::from_str(OPENAPI).expect("docs/openapi.json is JSON");
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        let shared = item["parameters"].as_array().cloned().unwrap_or_default();
        for (method, op) in item.as_object().expect("a path item") {
            if !["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                continue;
            }
            let own = op["parameters"].as_array().cloned().unwrap_or_default();
            let query = shared
                .iter()
                .chain(&own)
                .map(|p| resolve(&doc, p))
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().expect("a parameter's name").to_owned())
                .collect();
            let admin = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get(ADMIN_SCHEME).is_some()));
            out.push(Operation {
                method: method.to_ascii_uppercase(),
                template: template.clone(),
                admin,
                query,
            });
        }
    }
    out
}

/// A parameter object, its `$ref` followed.
fn resolve<'a>(doc: &'a Value, parameter: &'a Value) -> &'a Value {
    match parameter["$ref"].as_str() {
        Some(pointer) => doc
            .pointer(pointer.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{pointer} is not in the document")),
        None => parameter,
    }
}

/// The public HTTP routes of spin.toml and their components (private routes are left out).
fn spin_routes() -> Vec<(String, String)> {
    let manifest: toml::Table = SPIN_TOML.parse().expect("spin.toml is TOML");
    let triggers = manifest["trigger"]["http"]
        .as_array()
        .expect("HTTP triggers");
    triggers
        .iter()
        .filter_map(|t| Some((t["route"].as_str()?.into(), t["component"].as_str()?.into())))
        .collect()
}

/// The component of `routes` (spin.toml's) that Spin sends `path` to (a full path,
/// templates' `{x}` segments standing for any value): of the routes matching it, the most
/// specific (most literal segments, then an exact route before a wildcard one).
fn routed_component<'r>(routes: &'r [(String, String)], path: &str) -> Option<&'r str> {
    routes
        .iter()
        .filter(|(route, _)| spin_route_matches(route, path))
        .max_by_key(|(route, _)| {
            let literal = route
                .split('/')
                .filter(|s| !s.starts_with(':') && *s != "...")
                .count();
            (literal, !route.ends_with("/..."))
        })
        .map(|(_, component)| component.as_str())
}

/// Whether a spin.toml route (`/a/:b/c`, `/a/...`) matches `path`, where a template's
/// `{x}` segment is matched only by a parameter or a wildcard, never by a literal.
fn spin_route_matches(route: &str, path: &str) -> bool {
    let mut parts = route.split('/');
    let mut segments = path.split('/');
    loop {
        match (parts.next(), segments.next()) {
            (Some("..."), _) => return true,
            (None, None) => return true,
            (Some(part), Some(segment)) if part.starts_with(':') && !segment.is_empty() => {}
            (Some(part), Some(segment)) if part == segment && !segment.starts_with('{') => {}
            _ => return false,
        }
    }
}

/// Asserts that `routes`, the table of `component` (its id in spin.toml), serves exactly
/// the documented operations spin.toml routes to it, each with the documented access and
/// query parameters; `undocumented` names the routes (`"METHOD /pattern"`) that may serve
/// paths the document does not list.
pub fn assert_documented(component: &str, routes: &[Route], undocumented: &[&str]) {
    let spin = spin_routes();
    let mut served = vec![false; routes.len()];
    for op in documented_operations() {
        if routed_component(&spin, &format!("{API_BASE}{}", op.template)) != Some(component) {
            continue;
        }
        let segments: Vec<String> = op
            .template
            .trim_start_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect();
        let route = match select(routes, &op.method, &segments) {
            Selected::Route(route, _) => route,
            Selected::NoRoute => panic!("{op} is documented and routed to {component}: no route"),
            Selected::NoMethod(allow) => {
                panic!("{op} is documented and routed to {component}: 405, Allow {allow:?}")
            }
        };
        let index = routes
            .iter()
            .position(|r| std::ptr::eq(r, route))
            .expect("a route of the table");
        served[index] = true;
        let access = match op.admin {
            true => Access::Admin,
            false => Access::Public,
        };
        assert_eq!(route.access, access, "{op}: the access of {}", route.path);
        match route.query {
            Query::Only(accepted) => {
                let accepted: BTreeSet<String> =
                    accepted.iter().map(|name| (*name).to_owned()).collect();
                assert_eq!(accepted, op.query, "{op}: the query parameters");
            }
            Query::Ignored => assert!(
                op.query.is_empty(),
                "{op}: documents query parameters that its route ignores"
            ),
        }
    }
    let names: Vec<String> = routes
        .iter()
        .map(|route| format!("{} {}", route.method, route.path))
        .collect();
    for (name, served) in names.iter().zip(served) {
        assert!(
            served || undocumented.contains(&name.as_str()),
            "{component} serves {name}, which docs/openapi.json does not document"
        );
    }
    for name in undocumented {
        assert!(
            names.iter().any(|n| n == name),
            "{component} names {name} as undocumented, but has no such route"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_sends_a_path_to_its_most_specific_route() {
        let spin = spin_routes();
        let routed = |path: &str| routed_component(&spin, path).unwrap_or_default();
        assert_eq!(routed("/api/v1/keys/{id}"), "manage-keys");
        assert_eq!(
            routed("/api/v1/keys/{id}/permissions"),
            "manage-permissions"
        );
        assert_eq!(
            routed("/api/v1/keys/{id}/access-review/simulate"),
            "key-usage"
        );
        assert_eq!(routed("/api/v1/verify"), "verify-key");
        assert_eq!(routed("/api/v1/authorize"), "verify-key");
        assert_eq!(routed("/api/v1/openapi.json"), "admin-ui");
        assert_eq!(routed("/index.html"), "admin-ui");
    }

    #[test]
    fn a_template_segment_is_matched_by_parameters_and_wildcards_only() {
        assert!(spin_route_matches(
            "/api/v1/keys/:id/usage",
            "/api/v1/keys/{id}/usage"
        ));
        assert!(spin_route_matches("/api/v1/...", "/api/v1/keys/{id}"));
        assert!(!spin_route_matches("/api/v1/usage", "/api/v1/{x}"));
        assert!(!spin_route_matches("/api/v1/keys/:id", "/api/v1/keys/"));
    }

    #[test]
    fn the_document_marks_admin_operations_and_their_query_parameters() {
        let ops = documented_operations();
        let find = |method: &str, template: &str| {
            ops.iter()
                .find(|op| op.method == method && op.template == template)
                .unwrap_or_else(|| panic!("{method} {template}"))
        };
        let list = find("GET", "/keys");
        assert!(list.admin);
        assert!(list.query.contains("limit") && list.query.contains("cursor"));
        let verify = find("POST", "/verify");
        assert!(!verify.admin);
        assert!(verify.query.is_empty());
        // Header parameters are not query parameters.
        assert!(find("GET", "/authorize").query.is_empty());
    }
}
