//! What the host does around each instance: captures its output, turns a panic or a handler
//! error into 500, and measures its peak memory.

use serde_json::json;

use crate::helpers::{get, run, start};

#[tokio::test(flavor = "multi_thread")]
async fn component_output_is_captured() {
    let host = start();
    run(
        &host,
        "/probe/log",
        json!([{"print": "to stdout 1234"}, {"eprint": "to stderr 5678"}]),
    )
    .await;
    let logs = host.logs();
    assert!(logs.contains("to stdout 1234\n"), "{logs}");
    assert!(logs.contains("to stderr 5678\n"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn panics_and_handler_errors_give_500() {
    let host = start();
    for step in [json!({"panic": "boom 42"}), json!({"fail": "refused"})] {
        let body = serde_json::to_vec(&json!({ "steps": [step] })).unwrap();
        let (response, stats) = host
            .request_with_stats(http::Request::post("/probe/x").body(body).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        assert!(response.body().is_empty());
        assert_eq!(stats.component, "probe");
    }
    assert!(host.logs().contains("boom 42"), "{}", host.logs());
    // The host goes on serving.
    assert_eq!(host.request(get("/probe/x")).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn peak_memory_is_reported_per_request() {
    let host = start();
    let (_, baseline) = host.request_with_stats(get("/baseline")).await.unwrap();
    assert!(baseline.peak_memory_bytes >= 64 * 1024, "{baseline:?}");
    let (_, plain) = host.request_with_stats(get("/probe/m")).await.unwrap();
    assert_eq!(plain.component, "probe");
    let body = serde_json::to_vec(&json!({ "steps": [{"grow_mb": 16}] })).unwrap();
    let (response, grown) = host
        .request_with_stats(http::Request::post("/probe/m").body(body).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        grown.peak_memory_bytes >= plain.peak_memory_bytes + 16 * 1024 * 1024,
        "{plain:?} {grown:?}"
    );
    // Each request gets a fresh instance.
    let (_, again) = host.request_with_stats(get("/probe/m")).await.unwrap();
    assert_eq!(again.peak_memory_bytes, plain.peak_memory_bytes);
}
