//! admin-ui: the *Paramètres / Administration / APIs / APIs externes* screen, as static assets
//! embedded in the component, plus the screen's configuration and the OpenAPI document.
//! The page calls the API under `/api/v1` with the administrator's identity token.

use keys_domain::Error;
use keys_spin::handler;
use keys_spin::http::{ApiRequest, Response, json, with_body};
use keys_spin::routes::{self, Matched, Query, Route};
use serde::Serialize;

keys_spin::export_http_handler!(dispatch);

/// Spin variable: where the "Developer documentation" link points.
const VAR_DEVELOPER_DOCS_URL: &str = "developer_docs_url";
/// Spin variable: where the "SSO documentation" link points.
const VAR_SSO_DOCS_URL: &str = "sso_docs_url";

/// Content-Security-Policy of every answer: no inline script or style, nothing from elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    path: &'static str,
    media_type: &'static str,
    body: &'static [u8],
    cache: &'static str,
}

/// The assets, by request path. The page is revalidated on every load; scripts and styles
/// are revalidated after an hour (their ETag changes with their content).
const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        media_type: "text/html; charset=utf-8",
        body: include_bytes!("../ui/index.html"),
        cache: "no-cache",
    },
    Asset {
        path: "/index.html",
        media_type: "text/html; charset=utf-8",
        body: include_bytes!("../ui/index.html"),
        cache: "no-cache",
    },
    Asset {
        path: "/sso.html",
        media_type: "text/html; charset=utf-8",
        body: include_bytes!("../ui/sso.html"),
        cache: "no-cache",
    },
    Asset {
        path: "/assets/app.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/app.js"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/i18n.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/i18n.js"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/core.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/core.js"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/expiry.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/expiry.js"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/webhooks.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/webhooks.js"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/key-list.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/key-list.js"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/key-page.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/key-page.js"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/leaks.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/leaks.js"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/limits.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/limits.js"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/permissions.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/permissions.js"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/review.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/review.js"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/usage.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/usage.js"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/app.css",
        media_type: "text/css; charset=utf-8",
        body: include_bytes!("../ui/app.css"),
        cache: "public, max-age=3600",
    },
    Asset {
        path: "/assets/favicon.svg",
        media_type: "image/svg+xml",
        body: include_bytes!("../ui/favicon.svg"),
        cache: "public, max-age=86400",
    },
    // Routed from /api/v1/openapi.json (the request reader strips /api/v1); build.rs embeds
    // docs/openapi.json without its indentation.
    Asset {
        path: "/openapi.json",
        media_type: "application/json",
        body: include_bytes!(concat!(env!("OUT_DIR"), "/openapi.json")),
        cache: "no-cache",
    },
];

/// The screen's configuration, from Spin variables.
#[derive(Serialize)]
struct UiConfig {
    developer_docs_url: String,
    sso_docs_url: String,
}

async fn variable_or(name: &str, default: &str) -> String {
    match spin_sdk::variables::get(name).await {
        Ok(value) if !value.trim().is_empty() => value,
        _ => default.to_owned(),
    }
}

/// FNV-1a 64-bit hash of an asset, as a strong ETag.
fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

/// The screen's security headers (`X-Content-Type-Options: nosniff` comes with every body:
/// `keys_spin::http::with_body`).
fn secured(response: Response) -> Response {
    response
        .header("content-security-policy", CSP)
        .header("referrer-policy", "no-referrer")
        .header("x-frame-options", "DENY")
}

/// The routes of admin-ui: every path, read only; [`asset`] tells what is there.
const ROUTES: &[Route] = &[
    Route::public("GET", "/...", Query::Ignored, handler!(asset)),
    Route::public("HEAD", "/...", Query::Ignored, handler!(asset)),
];

async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    routes::serve_public(ROUTES, req).await
}

/// Serves an asset, the configuration, or a 404 (a problem document under `/api/`).
async fn asset(m: &Matched<'_>) -> Result<Response, Error> {
    let (req, path) = (m.req, m.req.path.as_str());
    if path == "/config.json" {
        let config = UiConfig {
            developer_docs_url: variable_or(VAR_DEVELOPER_DOCS_URL, "/api/v1/openapi.json").await,
            sso_docs_url: variable_or(VAR_SSO_DOCS_URL, "/sso.html").await,
        };
        return json(200, &config).map(secured);
    }
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        if path.starts_with("/api/") {
            return Err(keys_spin::http::route_not_found(path));
        }
        return Ok(secured(with_body(
            404,
            "text/plain; charset=utf-8",
            "Page introuvable / Page not found\n",
        )));
    };
    let tag = etag(asset.body);
    let mut response = if req.header("if-none-match") == Some(tag.as_str()) {
        keys_spin::http::empty(304)
    } else {
        let body = if req.method == "HEAD" {
            Vec::new()
        } else {
            asset.body.to_vec()
        };
        with_body(200, asset.media_type, body)
    };
    response
        .headers
        .retain(|(name, _)| *name != "cache-control");
    Ok(secured(
        response
            .header("cache-control", asset.cache)
            .header("etag", tag),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_table_serves_the_documented_operations_spin_routes_here() {
        keys_spin::conformance::assert_documented(
            "admin-ui",
            super::ROUTES,
            // The screen's assets, and the OpenAPI document among them.
            &["GET /...", "HEAD /..."],
        );
    }
}
