//! One declarative route table per component, served by one function.
//!
//! A component declares its routes as data ([`Route`]: method, path pattern, accepted query
//! parameters, whether the admin right is needed, handler) and hands its request to
//! [`serve`], which derives everything else the same way for every component:
//!
//! 1. 404 when no route's pattern matches the path (segments are percent-decoded first,
//!    `acme%3Afr` being `acme:fr`; one that does not decode to UTF-8 is kept as written);
//! 2. 405 with `Allow` (the methods of every route of that path) when none has the method;
//! 3. 400 for a query parameter the route does not accept, or one given twice;
//! 4. for an admin route, the caller's identity token and the *platform configuration*
//!    right (401 / 403), on every request;
//! 5. the handler, with the captures of the pattern and the caller.
//!
//! Patterns are `/`-separated segments under `/api/v1`: a literal, `{name}` (one non-empty
//! segment, captured), or a last `...` (any rest, even none: Envoy's ext_authz appends the
//! original path to `/authorize`).

use crate::auth::require_platform_configuration;
use crate::http::{ApiRequest, Response, route_not_found};
use keys_domain::Error;
use keys_domain::model::Actor;
use std::future::Future;
use std::pin::Pin;

/// What a handler returns.
pub type Answer<'a> = Pin<Box<dyn Future<Output = Result<Response, Error>> + 'a>>;

/// A handler: the request as matched, to its answer.
pub type Handler = for<'a> fn(&'a Matched<'a>) -> Answer<'a>;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (verification, health, scanners' reports, the screen's assets).
    Public,
    /// An administrator with the *platform configuration* right.
    Admin,
}

/// The query parameters a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// These (none when empty); anything else is a 400.
    Only(&'static [&'static str]),
    /// Any query, ignored (the forward-auth route, which sees the gateway's original request).
    Ignored,
}

/// No query parameter accepted.
pub const NO_QUERY: Query = Query::Only(&[]);

/// One route of a component.
pub struct Route {
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path pattern under `/api/v1` (see the module's documentation).
    pub path: &'static str,
    /// The query parameters it accepts.
    pub query: Query,
    /// Who may call it.
    pub access: Access,
    /// What answers it.
    pub handler: Handler,
}

impl Route {
    /// A route for administrators (the *platform configuration* right).
    pub const fn admin(
        method: &'static str,
        path: &'static str,
        query: Query,
        handler: Handler,
    ) -> Self {
        Self::new(Access::Admin, method, path, query, handler)
    }

    /// A route anyone may call.
    pub const fn public(
        method: &'static str,
        path: &'static str,
        query: Query,
        handler: Handler,
    ) -> Self {
        Self::new(Access::Public, method, path, query, handler)
    }

    const fn new(
        access: Access,
        method: &'static str,
        path: &'static str,
        query: Query,
        handler: Handler,
    ) -> Self {
        Self {
            method,
            path,
            query,
            access,
            handler,
        }
    }
}

/// A [`Handler`] made of an `async fn(&Matched<'_>) -> Result<Response, Error>`.
#[macro_export]
macro_rules! handler {
    ($f:path) => {{
        fn boxed<'a>(matched: &'a $crate::routes::Matched<'a>) -> $crate::routes::Answer<'a> {
            ::std::boxed::Box::pin($f(matched))
        }
        boxed as $crate::routes::Handler
    }};
}

/// A request matched to its route.
pub struct Matched<'a> {
    /// The request.
    pub req: &'a ApiRequest,
    /// The pattern's captures, in order.
    pub captures: Vec<String>,
    /// The query's parameters (only accepted ones, each once), decoded.
    pub query: Vec<(String, String)>,
    /// The caller, on an admin route.
    pub actor: Option<Actor>,
}

impl Matched<'_> {
    /// The `n`th capture of the pattern (`""` when the pattern has fewer).
    pub fn capture(&self, n: usize) -> &str {
        self.captures.get(n).map_or("", String::as_str)
    }

    /// The value of the query parameter `name`, if given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The caller of an admin route.
    pub fn actor(&self) -> Result<&Actor, Error> {
        self.actor
            .as_ref()
            .ok_or_else(|| Error::unexpected("a public route asked for its caller"))
    }
}

/// Answers `req` with the route of `routes` it matches (see the module's documentation).
///
/// Once a handler has answered, the webhook dispatcher is nudged to send the messages the
/// request wrote, or, after an administrator's request, what is overdue
/// ([`crate::webhooks::nudge`]); a refused request starts nothing.
pub async fn serve(routes: &[Route], req: &ApiRequest) -> Result<Response, Error> {
    let answer = serve_with(routes, req, require_platform_configuration).await;
    if let Some(access) = answer.1 {
        crate::webhooks::nudge(access == Access::Admin);
    }
    answer.0
}

/// [`serve`] for a component whose routes are all public: the identity check is not linked
/// into it (it would add about 60 KB of token and outbound-HTTP code to verify-key). An admin
/// route in its table answers 500.
pub async fn serve_public(routes: &[Route], req: &ApiRequest) -> Result<Response, Error> {
    let refuse = |_: &ApiRequest| async {
        Err(Error::unexpected(
            "an admin route in the table of a component without the identity check",
        ))
    };
    serve_with(routes, req, refuse).await.0
}

/// The answer, and the access of the route whose handler gave it (`None` when the request
/// was refused before any handler ran).
async fn serve_with<'r, A, Checked>(
    routes: &[Route],
    req: &'r ApiRequest,
    authenticate: A,
) -> (Result<Response, Error>, Option<Access>)
where
    A: FnOnce(&'r ApiRequest) -> Checked,
    Checked: Future<Output = Result<Actor, Error>> + 'r,
{
    let (route, captures) = match select(routes, &req.method, &req.path_segments()) {
        Selected::Route(route, captures) => (route, captures),
        Selected::NoRoute => return (Err(route_not_found(&req.path)), None),
        Selected::NoMethod(methods) => {
            let allow = methods.join(", ");
            return (Err(Error::MethodNotAllowed { allow }), None);
        }
    };
    let query = match route.query {
        Query::Only(accepted) => match req.query_params(accepted) {
            Ok(query) => query,
            Err(err) => return (Err(err), None),
        },
        Query::Ignored => Vec::new(),
    };
    let actor = match route.access {
        Access::Admin => match authenticate(req).await {
            Ok(actor) => Some(actor),
            Err(err) => return (Err(err), None),
        },
        Access::Public => None,
    };
    let matched = Matched {
        req,
        captures,
        query,
        actor,
    };
    ((route.handler)(&matched).await, Some(route.access))
}

/// What a route table makes of a method and a path.
pub(crate) enum Selected<'r> {
    /// The route that serves them, and the pattern's captures.
    Route(&'r Route, Vec<String>),
    /// No pattern matches the path (404).
    NoRoute,
    /// Patterns match the path, with these methods but not this one (405 + `Allow`).
    NoMethod(Vec<&'static str>),
}

/// The route of `routes` serving `method` on the path of `segments`: of the patterns
/// matching the path, those with the most literal segments serve it (`/webhooks/dispatch`
/// is not `/webhooks/{id}`). One pass, each pattern matched once.
pub(crate) fn select<'r>(routes: &'r [Route], method: &str, segments: &[String]) -> Selected<'r> {
    let mut best = None;
    let mut methods: Vec<&'static str> = Vec::new();
    let mut found = None;
    for route in routes {
        let Some(captured) = captures(route.path, segments) else {
            continue;
        };
        let weight = literals(route.path);
        match best {
            Some(top) if weight < top => continue,
            Some(top) if weight == top => {}
            _ => {
                best = Some(weight);
                methods.clear();
                found = None;
            }
        }
        if found.is_none() && route.method == method {
            found = Some((route, captured));
        } else if !methods.contains(&route.method) {
            methods.push(route.method);
        }
    }
    match (found, methods.is_empty()) {
        (Some((route, captured)), _) => Selected::Route(route, captured),
        (None, true) => Selected::NoRoute,
        (None, false) => Selected::NoMethod(methods),
    }
}

/// How many literal segments `pattern` has: of the patterns matching a path, those with
/// the most serve it.
fn literals(pattern: &str) -> usize {
    pattern
        .trim_start_matches('/')
        .split('/')
        .filter(|part| !part.starts_with('{') && *part != "...")
        .count()
}

/// The captures of `pattern` in `segments`, or `None` when it does not match.
fn captures(pattern: &str, segments: &[String]) -> Option<Vec<String>> {
    let mut taken = Vec::new();
    let mut parts = pattern.trim_start_matches('/').split('/');
    let mut segments = segments.iter();
    loop {
        match (parts.next(), segments.next()) {
            (Some("..."), _) => return Some(taken),
            (None, None) => return Some(taken),
            (Some(part), Some(segment)) if part.starts_with('{') && part.ends_with('}') => {
                if segment.is_empty() {
                    return None;
                }
                taken.push(segment.clone());
            }
            (Some(part), Some(segment)) if part == segment => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(path: &str) -> Vec<String> {
        path.trim_start_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect()
    }

    async fn nothing(_: &Matched<'_>) -> Result<Response, Error> {
        Err(Error::unexpected("not called"))
    }

    const TABLE: &[Route] = &[
        Route::admin("GET", "/webhooks", NO_QUERY, crate::handler!(nothing)),
        Route::admin("POST", "/webhooks", NO_QUERY, crate::handler!(nothing)),
        Route::admin("GET", "/webhooks/{id}", NO_QUERY, crate::handler!(nothing)),
        Route::public(
            "POST",
            "/webhooks/dispatch",
            NO_QUERY,
            crate::handler!(nothing),
        ),
    ];

    fn selected(
        method: &str,
        path: &str,
    ) -> Result<(&'static str, Vec<String>), Vec<&'static str>> {
        match select(TABLE, method, &segments(path)) {
            Selected::Route(route, captures) => Ok((route.path, captures)),
            Selected::NoRoute => Err(Vec::new()),
            Selected::NoMethod(methods) => Err(methods),
        }
    }

    #[test]
    fn the_pattern_with_the_most_literal_segments_serves_a_path() {
        assert_eq!(
            selected("POST", "/webhooks/dispatch"),
            Ok(("/webhooks/dispatch", vec![]))
        );
        assert_eq!(
            selected("GET", "/webhooks/wh_1"),
            Ok(("/webhooks/{id}", vec!["wh_1".to_owned()]))
        );
    }

    #[test]
    fn a_path_served_without_the_method_names_the_methods_it_has() {
        assert_eq!(selected("DELETE", "/webhooks"), Err(vec!["GET", "POST"]));
        // The literal route alone serves /webhooks/dispatch: GET is not borrowed from {id}.
        assert_eq!(selected("GET", "/webhooks/dispatch"), Err(vec!["POST"]));
    }

    #[test]
    fn a_path_no_pattern_matches_has_no_route() {
        assert_eq!(selected("GET", "/webhook"), Err(vec![]));
        assert_eq!(selected("GET", "/webhooks/wh_1/extra"), Err(vec![]));
    }

    #[test]
    fn a_literal_pattern_matches_its_path_only() {
        assert_eq!(captures("/keys", &segments("/keys")), Some(vec![]));
        assert_eq!(captures("/keys", &segments("/keys/")), None);
        assert_eq!(captures("/keys", &segments("/key")), None);
        assert_eq!(captures("/keys/", &segments("/keys/")), Some(vec![]));
    }

    #[test]
    fn a_capture_takes_one_non_empty_segment() {
        assert_eq!(
            captures("/keys/{id}/events", &segments("/keys/key_1/events")),
            Some(vec!["key_1".to_owned()])
        );
        assert_eq!(captures("/keys/{id}", &segments("/keys/")), None);
        assert_eq!(captures("/keys/{id}", &segments("/keys/a/b")), None);
    }

    #[test]
    fn literal_segments_outnumber_captures_in_the_pattern_that_serves() {
        assert_eq!(literals("/webhooks/dispatch"), 2);
        assert_eq!(literals("/webhooks/{id}"), 1);
        assert_eq!(literals("/authorize/..."), 1);
    }

    #[test]
    fn a_trailing_rest_matches_anything_after_its_prefix_even_nothing() {
        assert_eq!(
            captures("/authorize/...", &segments("/authorize")),
            Some(vec![])
        );
        assert_eq!(
            captures("/authorize/...", &segments("/authorize/a/b?c")),
            Some(vec![])
        );
        assert_eq!(captures("/authorize/...", &segments("/authorized")), None);
    }
}
