//! Routing as Spin routes: route precedence, Spin's request headers, 404 for unmatched paths and
//! the health endpoint.

use serde_json::Value;
use spin_test_host::{HostOptions, TestHost};

use crate::helpers::{get, start, wasm};

#[tokio::test(flavor = "multi_thread")]
async fn baseline_answers_204_with_no_body() {
    let host = start();
    for path in ["/baseline", "/", "/anything/else?q=1"] {
        let (response, stats) = host.request_with_stats(get(path)).await.unwrap();
        assert_eq!(response.status(), 204, "{path}");
        assert!(response.body().is_empty());
        assert_eq!(stats.component, "baseline");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_follow_spin_precedence() {
    let host = start();
    let cases = [
        ("/probe/exact", "probe", "/probe/exact"),
        ("/probe/items/42", "probe", "/probe/items/:item_id"),
        ("/probe/items/fixed", "restricted", "/probe/items/fixed"),
        ("/probe/deep/x/y", "restricted", "/probe/deep/..."),
        ("/probe/deep", "restricted", "/probe/deep/..."),
        ("/probe/items/42/more", "probe", "/probe/..."),
        ("/probe", "probe", "/probe/..."),
        ("/probe/exact/", "probe", "/probe/exact"),
    ];
    for (path, component, route) in cases {
        let (response, stats) = host.request_with_stats(get(path)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(stats.component, component, "{path}");
        let answer: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(answer["headers"]["spin-matched-route"], route, "{path}");
    }
    let answer: Value =
        serde_json::from_slice(host.request(get("/probe/items/42")).await.unwrap().body()).unwrap();
    assert_eq!(answer["headers"]["spin-path-match-item-id"], "42");
    assert_eq!(answer["headers"]["spin-path-info"], "");
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_headers_are_set_like_spin() {
    let host = start();
    let request = http::Request::get("/probe/a/b/?x=y")
        .header("host", "example.com:8080")
        .header("spin-path-info", "/forged")
        .body(Vec::new())
        .unwrap();
    let answer: Value =
        serde_json::from_slice(host.request(request).await.unwrap().body()).unwrap();
    let headers = &answer["headers"];
    assert_eq!(
        headers["spin-full-url"],
        "http://example.com:8080/probe/a/b/?x=y"
    );
    assert_eq!(headers["spin-path-info"], "/a/b/");
    assert_eq!(headers["spin-matched-route"], "/probe/...");
    assert_eq!(headers["spin-raw-component-route"], "/probe/...");
    assert_eq!(headers["spin-component-route"], "/probe");
    assert_eq!(headers["spin-base-path"], "/");
    assert_eq!(headers["spin-client-addr"], "127.0.0.1:0");
    assert_eq!(answer["uri"], "http://example.com:8080/probe/a/b/?x=y");
    assert_eq!(answer["has_host_header"], false);
    assert_eq!(answer["method"], "GET");

    let answer: Value =
        serde_json::from_slice(host.request(get("/probe/exact")).await.unwrap().body()).unwrap();
    assert_eq!(
        answer["headers"]["spin-full-url"],
        "http://127.0.0.1:3000/probe/exact"
    );
    assert_eq!(answer["headers"]["spin-path-info"], "");
    assert_eq!(answer["headers"]["spin-component-route"], "/probe/exact");
}

#[tokio::test(flavor = "multi_thread")]
async fn unmatched_paths_get_404_and_health_answers() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"only\"\n\
             [[trigger.http]]\nroute = \"/only\"\ncomponent = \"baseline\"\n\
             [component.baseline]\nsource = {:?}\n",
            wasm("baseline").display().to_string()
        ),
    )
    .unwrap();
    let host = TestHost::start(HostOptions::new(&manifest)).unwrap();
    assert_eq!(host.request(get("/only")).await.unwrap().status(), 204);
    let (response, stats) = host.request_with_stats(get("/other")).await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.body().is_empty());
    assert_eq!(stats.component, "");
    let health = host.request(get("/.well-known/spin/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.body(), b"OK");
}
