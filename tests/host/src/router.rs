//! HTTP routing the way Spin's HTTP trigger routes (application base `/`).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::manifest::HttpRoute;

/// The routing table built from the manifest's `[[trigger.http]]` entries.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
}

#[derive(Debug, Clone)]
struct Route {
    /// The route as written in the manifest (`spin-raw-component-route`).
    raw: String,
    /// The route after Spin's sanitising (`spin-matched-route`).
    based: String,
    /// The path segments before any trailing wildcard.
    segments: Vec<Segment>,
    /// Whether the route ends in `/...` (or `/*`).
    trailing_wildcard: bool,
    component: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Exact(String),
    Param(String),
}

/// The result of routing one request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The id of the component that handles the request.
    pub component: String,
    /// The route as written in the manifest, e.g. `/api/v1/...`.
    pub raw_route: String,
    /// The route combined with the base `/`, e.g. `/api/v1/...` (`/` becomes empty).
    pub based_route: String,
    /// The part of the path matched by a trailing wildcard (empty for other routes).
    pub path_info: String,
    /// The values of the `:name` segments, by name.
    pub named_wildcards: BTreeMap<String, String>,
}

impl RouteMatch {
    /// The route without its trailing wildcard (`spin-component-route`).
    pub fn component_route(&self) -> &str {
        self.raw_route
            .strip_suffix("/...")
            .unwrap_or(&self.raw_route)
    }
}

impl Router {
    /// Builds the router; a later duplicate of a route replaces the earlier one, like Spin.
    pub fn new(routes: &[HttpRoute]) -> anyhow::Result<Router> {
        let mut built: Vec<Route> = Vec::new();
        for r in routes {
            let route = Route::parse(&r.route, &r.component)?;
            if let Some(existing) = built.iter_mut().find(|e| e.raw == route.raw) {
                eprintln!(
                    "spin-test-host: route {} of component {} duplicates the one of {} and replaces it",
                    route.raw, route.component, existing.component
                );
                *existing = route;
            } else {
                built.push(route);
            }
        }
        Ok(Router { routes: built })
    }

    /// Finds the most specific route matching `path` (no query string).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let segments = split(path);
        let mut best: Option<(&Route, BTreeMap<String, String>)> = None;
        for route in &self.routes {
            let Some(captures) = route.matches(&segments) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((current, _)) => route.specificity_cmp(current) == Ordering::Less,
            };
            if better {
                best = Some((route, captures));
            }
        }
        let (route, named_wildcards) = best?;
        Some(RouteMatch {
            component: route.component.clone(),
            raw_route: route.raw.clone(),
            based_route: route.based.clone(),
            path_info: if route.trailing_wildcard {
                path_info(path, route.segments.len())
            } else {
                String::new()
            },
            named_wildcards,
        })
    }
}

impl Route {
    fn parse(raw: &str, component: &str) -> anyhow::Result<Route> {
        // Spin prefixes a missing `/` and strips one trailing `/` (base `/` becomes empty).
        let absolute = if raw.starts_with('/') {
            raw.to_string()
        } else {
            format!("/{raw}")
        };
        let based = absolute.strip_suffix('/').unwrap_or(&absolute).to_string();
        let (prefix, trailing_wildcard) = match based
            .strip_suffix("/...")
            .or_else(|| based.strip_suffix("/*"))
        {
            Some(prefix) => (prefix, true),
            None if based == "..." || based == "*" => ("", true),
            None => (based.as_str(), false),
        };
        let mut segments = Vec::new();
        for part in split(prefix) {
            if let Some(name) = part.strip_prefix(':') {
                anyhow::ensure!(!name.is_empty(), "route {raw:?}: empty `:` wildcard name");
                segments.push(Segment::Param(name.to_string()));
            } else {
                anyhow::ensure!(
                    part != "..." && part != "*",
                    "route {raw:?}: a wildcard may only end a route"
                );
                segments.push(Segment::Exact(part.to_string()));
            }
        }
        Ok(Route {
            raw: raw.to_string(),
            based,
            segments,
            trailing_wildcard,
            component: component.to_string(),
        })
    }

    fn matches(&self, path: &[&str]) -> Option<BTreeMap<String, String>> {
        let fits = if self.trailing_wildcard {
            path.len() >= self.segments.len()
        } else {
            path.len() == self.segments.len()
        };
        if !fits {
            return None;
        }
        let mut captures = BTreeMap::new();
        for (segment, part) in self.segments.iter().zip(path) {
            match segment {
                Segment::Exact(text) if text == part => {}
                Segment::Param(name) if !part.is_empty() => {
                    captures.insert(name.clone(), (*part).to_string());
                }
                _ => return None,
            }
        }
        Some(captures)
    }

    /// Orders two routes matching the same path: `Less` means `self` is more specific.
    ///
    /// Segment by segment an exact segment beats a `:name`, which beats the trailing
    /// wildcard; so an exact route beats a wildcard one and the longest wildcard prefix wins.
    fn specificity_cmp(&self, other: &Route) -> Ordering {
        fn rank(route: &Route, i: usize) -> u8 {
            match route.segments.get(i) {
                Some(Segment::Exact(_)) => 0,
                Some(Segment::Param(_)) => 1,
                None if route.trailing_wildcard => 3,
                None => 2,
            }
        }
        let len = self.segments.len().max(other.segments.len()) + 1;
        for i in 0..len {
            match rank(self, i).cmp(&rank(other, i)) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        Ordering::Equal
    }
}

/// The path's segments, ignoring the leading `/` and one trailing `/` (like routefinder).
fn split(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

/// The path after the first `prefix_segments` segments, keeping Spin's trailing-slash rules:
/// route `/foo/...` gives `""` for `/foo`, `/` for `/foo/`, `/bar` for `/foo/bar`.
fn path_info(path: &str, prefix_segments: usize) -> String {
    let mut rest = path;
    for _ in 0..prefix_segments {
        let after_slash = rest.strip_prefix('/').unwrap_or(rest);
        rest = match after_slash.find('/') {
            Some(i) => &after_slash[i..],
            None => "",
        };
    }
    rest.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let routes: Vec<HttpRoute> = routes
            .iter()
            .map(|(route, component)| HttpRoute {
                route: route.to_string(),
                component: component.to_string(),
            })
            .collect();
        Router::new(&routes).unwrap()
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_beats_param_beats_wildcard() {
        let r = router(&[
            ("/...", "all"),
            ("/items/...", "items-wild"),
            ("/items/:id", "item"),
            ("/items/special", "special"),
        ]);
        assert_eq!(component(&r, "/items/special").as_deref(), Some("special"));
        assert_eq!(component(&r, "/items/42").as_deref(), Some("item"));
        assert_eq!(component(&r, "/items/42/x").as_deref(), Some("items-wild"));
        assert_eq!(component(&r, "/items").as_deref(), Some("items-wild"));
        assert_eq!(component(&r, "/other").as_deref(), Some("all"));
        assert_eq!(component(&r, "/").as_deref(), Some("all"));
    }

    #[test]
    fn longest_wildcard_prefix_wins_in_any_order() {
        for routes in [
            [
                ("/one/...", "1"),
                ("/one/two/...", "2"),
                ("/one/two/three/...", "3"),
            ],
            [
                ("/one/two/three/...", "3"),
                ("/one/two/...", "2"),
                ("/one/...", "1"),
            ],
        ] {
            let r = router(&routes);
            assert_eq!(component(&r, "/one/two/three/four").as_deref(), Some("3"));
            assert_eq!(component(&r, "/one/two").as_deref(), Some("2"));
            assert_eq!(component(&r, "/one/x").as_deref(), Some("1"));
        }
    }

    #[test]
    fn path_info_keeps_spin_trailing_slash_rules() {
        let r = router(&[("/test/...", "c"), ("/exact", "e")]);
        let info = |p: &str| r.route(p).unwrap().path_info;
        assert_eq!(info("/test"), "");
        assert_eq!(info("/test/"), "/");
        assert_eq!(info("/test/hello"), "/hello");
        assert_eq!(info("/test/hello/"), "/hello/");
        assert_eq!(info("/exact"), "");
        assert_eq!(info("/exact/"), "");
        let all = router(&[("/...", "c")]);
        assert_eq!(all.route("/1/2/3").unwrap().path_info, "/1/2/3");
    }

    #[test]
    fn named_wildcards_and_route_headers() {
        let r = router(&[("/1/:two/...", "c"), ("/", "root")]);
        let m = r.route("/1/2/3").unwrap();
        assert_eq!(m.named_wildcards["two"], "2");
        assert_eq!(m.path_info, "/3");
        assert_eq!(m.raw_route, "/1/:two/...");
        assert_eq!(m.based_route, "/1/:two/...");
        assert_eq!(m.component_route(), "/1/:two");
        let root = r.route("/").unwrap();
        assert_eq!(root.component, "root");
        assert_eq!(root.based_route, "");
        assert_eq!(root.raw_route, "/");
        assert!(r.route("/nope").is_none());
    }

    #[test]
    fn later_duplicate_wins() {
        let r = router(&[("/foo", "first"), ("/foo", "second")]);
        assert_eq!(component(&r, "/foo").as_deref(), Some("second"));
    }
}
