//! End-to-end tests of the test host with the fixture app in `tests/fixtures`.
//!
//! The fixtures must be built first:
//! `cargo build --target wasm32-wasip2 --release -p baseline -p probe`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use spin_test_host::{Counters, Fault, HostOptions, TestHost};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BUILD: &str = "cargo build --target wasm32-wasip2 --release -p baseline -p probe";

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn wasm(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the fixtures first with `{BUILD}`",
        path.display()
    );
    path
}

fn manifest() -> PathBuf {
    wasm("baseline");
    wasm("probe");
    fixtures_dir().join("spin.toml")
}

fn options() -> HostOptions {
    HostOptions::new(manifest()).variable("secret_token", "s3cret")
}

fn start() -> TestHost {
    TestHost::start(options()).expect("the fixture app starts")
}

fn get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path).body(Vec::new()).unwrap()
}

/// Posts a probe script and returns the probe's JSON answer.
async fn run(host: &TestHost, path: &str, steps: Value) -> Value {
    let body = serde_json::to_vec(&json!({ "steps": steps })).unwrap();
    let response = host
        .request(http::Request::post(path).body(body).unwrap())
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "{path}: {}\nlogs:\n{}",
        String::from_utf8_lossy(response.body()),
        host.logs()
    );
    serde_json::from_slice(response.body()).unwrap()
}

/// The per-step results of a probe answer.
fn results(answer: &Value) -> Vec<Value> {
    answer["results"].as_array().unwrap().clone()
}

fn ok(result: &Value) -> &Value {
    assert!(result.get("ok").is_some(), "expected ok, got {result}");
    &result["ok"]
}

fn err(result: &Value) -> String {
    result["err"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {result}"))
        .to_string()
}

#[test]
fn host_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<TestHost>();
}

#[tokio::test(flavor = "multi_thread")]
async fn state_dir_keeps_data_and_temporary_state_is_removed() {
    let host = start();
    let temporary = host.state_dir().to_path_buf();
    assert!(temporary.exists());
    drop(host);
    assert!(
        !temporary.exists(),
        "{} was not removed",
        temporary.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let steps = json!([
        {"kv_open": "default"},
        {"kv_set": ["kept", "yes"]},
        {"sql_open": "default"},
        {"sql": ["CREATE TABLE kept (v)", []]},
    ]);
    let host = TestHost::start(options().state_dir(dir.path())).unwrap();
    run(&host, "/probe/keep", steps).await;
    drop(host);
    let host = TestHost::start(options().state_dir(dir.path())).unwrap();
    assert_eq!(host.kv_dump("default").unwrap()["kept"], b"yes");
    assert!(
        host.sqlite_dump("default")
            .unwrap()
            .contains("CREATE TABLE kept")
    );
}

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

#[tokio::test(flavor = "multi_thread")]
async fn start_fails_clearly() {
    let err = TestHost::start(HostOptions::new(manifest())).err().unwrap();
    assert!(format!("{err:#}").contains("secret_token"), "{err:#}");
    let err = TestHost::start(options().variable("no_such_variable", "x"))
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("no_such_variable"), "{err:#}");

    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("spin.toml");
    std::fs::write(
        &manifest,
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n\
         [component.c]\nsource = \"missing.wasm\"\n",
    )
    .unwrap();
    let err = TestHost::start(HostOptions::new(&manifest)).err().unwrap();
    assert!(format!("{err:#}").contains("missing.wasm"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_round_trips_and_is_shared_between_components() {
    let host = start();
    let answer = run(
        &host,
        "/probe/kv",
        json!([
            {"kv_open": "shared"},
            {"kv_set": ["k1", "v1"]},
            {"kv_set": ["k2", "v2"]},
            {"kv_set": ["k1", "v1b"]},
            {"kv_get": "k1"},
            {"kv_get": "absent"},
            {"kv_exists": "k2"},
            {"kv_delete": "k2"},
            {"kv_delete": "never-there"},
            {"kv_exists": "k2"},
            {"kv_keys": null},
            {"kv_open": "default"},
            {"kv_set": ["only-default", "d"]},
        ]),
    )
    .await;
    let r = results(&answer);
    assert_eq!(ok(&r[4]), "v1b");
    assert_eq!(ok(&r[5]), &Value::Null);
    assert_eq!(ok(&r[6]), true);
    assert_eq!(ok(&r[9]), false);
    assert_eq!(ok(&r[10]), &json!(["k1"]));
    assert!(r.iter().all(|x| x.get("ok").is_some()), "{r:?}");

    // Another component, other request: same store.
    let answer = run(
        &host,
        "/restricted/kv",
        json!([{"kv_open": "shared"}, {"kv_get": "k1"}, {"kv_keys": null}]),
    )
    .await;
    assert_eq!(ok(&results(&answer)[1]), "v1b");
    assert_eq!(ok(&results(&answer)[2]), &json!(["k1"]));

    let shared = host.kv_dump("shared").unwrap();
    assert_eq!(shared.len(), 1);
    assert_eq!(shared["k1"], b"v1b");
    assert_eq!(host.kv_dump("default").unwrap()["only-default"], b"d");
    assert!(host.kv_dump("no-such-label").is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_counter_incremented_through_wasi_keyvalue_reads_back_through_spin_key_value_as_eight_little_endian_bytes()
 {
    let host = start();

    let answer = run(
        &host,
        "/probe/count",
        json!([
            {"wkv_open": "default"},
            {"wkv_increment": ["hits", 5]},
            {"wkv_increment": ["hits", -2]},
            {"kv_open": "default"},
            {"kv_get_bytes": "hits"},
            {"kv_set": ["label", "abc"]},
            {"wkv_increment": ["label", 1]},
            {"wkv_get": "label"},
        ]),
    )
    .await;

    let r = results(&answer);
    assert_eq!(ok(&r[1]), 5, "an absent counter starts at 0");
    assert_eq!(ok(&r[2]), 3);
    assert_eq!(ok(&r[4]), &json!(3_i64.to_le_bytes()));
    assert!(
        err(&r[6]).contains("3 bytes long"),
        "a value that is not 8 bytes is no counter: {}",
        r[6]
    );
    assert_eq!(
        ok(&r[7]),
        &json!(b"abc"),
        "unchanged, and read by the other API"
    );
    assert_eq!(
        host.kv_dump("default").unwrap()["hits"],
        3_i64.to_le_bytes()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_injected_key_value_failure_fails_increments_and_batches_too() {
    let host = start();
    run(
        &host,
        "/probe/seed",
        json!([{"wkv_open": "default"}, {"wkv_increment": ["hits", 1]}]),
    )
    .await;
    let steps = json!([
        {"wkv_open": "default"},
        {"wkv_increment": ["hits", 1]},
        {"wkv_get_many": ["hits"]},
        {"wkv_set_many": [["other", "x"]]},
        {"wkv_delete_many": ["other"]},
    ]);
    let outcome = |answer: &Value| -> Vec<bool> {
        results(answer)
            .iter()
            .map(|r| r.get("ok").is_some())
            .collect()
    };

    host.set_kv_fault(Fault::Nth(2));
    let answer = run(&host, "/probe/f", steps.clone()).await;
    assert_eq!(outcome(&answer), [true, false, true, true, true]);
    assert_eq!(
        err(&results(&answer)[1]),
        "Error::Other(\"injected fault\")"
    );
    assert_eq!(
        ok(&results(&answer)[2]),
        &json!({ "hits": 1_i64.to_le_bytes() })
    );

    host.set_kv_fault(Fault::Writes);
    let answer = run(&host, "/probe/f", steps.clone()).await;
    assert_eq!(outcome(&answer), [true, false, true, false, false]);

    host.set_kv_fault(Fault::Always);
    let answer = run(&host, "/probe/f", json!([{"wkv_open": "default"}])).await;
    assert_eq!(
        err(&results(&answer)[0]),
        "Error::Other(\"injected fault\")"
    );

    host.set_kv_fault(Fault::None);
    assert_eq!(
        host.kv_dump("default").unwrap()["hits"],
        1_i64.to_le_bytes(),
        "no failed increment counted"
    );
    assert!(
        outcome(&run(&host, "/probe/f", steps).await)
            .iter()
            .all(|ok| *ok)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_keyvalue_buckets_and_batches_share_the_spin_key_value_stores() {
    let host = start();

    let answer = run(
        &host,
        "/probe/wkv",
        json!([
            {"kv_open": "shared"},
            {"kv_set": ["a", "1"]},
            {"wkv_open": "shared"},
            {"wkv_get": "a"},
            {"wkv_set": ["b", "2"]},
            {"wkv_exists": "b"},
            {"wkv_set_many": [["c", "3"], ["d", "4"]]},
            {"wkv_get_many": ["a", "absent", "c", "a"]},
            {"wkv_delete_many": ["c", "absent"]},
            {"wkv_delete": "d"},
            {"wkv_keys": null},
            {"wkv_keys": "a cursor"},
            {"kv_get": "b"},
            {"wkv_cas": "a"},
            {"wkv_open": "nope"},
        ]),
    )
    .await;

    let r = results(&answer);
    assert_eq!(ok(&r[3]), &json!(b"1"));
    assert_eq!(ok(&r[5]), true);
    assert_eq!(
        ok(&r[7]),
        &json!({ "a": b"1", "c": b"3" }),
        "get-many answers the present keys only"
    );
    assert_eq!(ok(&r[10]), &json!({ "keys": ["a", "b"], "cursor": null }));
    assert!(err(&r[11]).contains("cursor not supported"), "{}", r[11]);
    assert_eq!(ok(&r[12]), "2");
    assert!(err(&r[13]).contains("unsupported"), "{}", r[13]);
    assert_eq!(err(&r[14]), "Error::AccessDenied");

    let answer = run(
        &host,
        "/restricted/wkv",
        json!([{"wkv_open": "default"}, {"wkv_open": "shared"}, {"wkv_get": "b"}]),
    )
    .await;
    let r = results(&answer);
    assert_eq!(err(&r[0]), "Error::AccessDenied");
    assert_eq!(ok(&r[2]), &json!(b"2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_keyvalue_calls_are_counted_by_kind_and_empty_batches_not_at_all() {
    let host = start();

    run(
        &host,
        "/probe/c",
        json!([
            {"wkv_open": "default"},
            {"wkv_get": "a"},
            {"wkv_set": ["a", "1"]},
            {"wkv_delete": "a"},
            {"wkv_exists": "a"},
            {"wkv_keys": null},
            {"wkv_increment": ["n", 1]},
            {"wkv_increment": ["n", 1]},
            {"wkv_get_many": ["n", "m"]},
            {"wkv_set_many": [["m", "1"]]},
            {"wkv_delete_many": ["m"]},
            {"wkv_get_many": []},
            {"wkv_set_many": []},
            {"wkv_delete_many": []},
        ]),
    )
    .await;

    let c = host.counters();
    assert_eq!((c.kv_get, c.kv_set, c.kv_delete, c.kv_other), (1, 1, 1, 3));
    assert_eq!(
        (
            c.kv_increment,
            c.kv_get_many,
            c.kv_set_many,
            c.kv_delete_many
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(c.kv_calls(), 11);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_round_trips_with_transactions_across_calls() {
    let host = start();
    let answer = run(
        &host,
        "/probe/sql",
        json!([
            {"sql_open": "shared"},
            {"sql": ["CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)", []]},
            {"sql": ["BEGIN IMMEDIATE", []]},
            {"sql": ["INSERT INTO t (name, score, data) VALUES (?, ?, ?)", ["a", 1.5, {"blob": [0, 255]}]]},
            {"sql": ["INSERT INTO t (name, score, data) VALUES (?, ?, ?)", ["b", null, null]]},
            {"sql": ["COMMIT", []]},
            {"sql": ["SELECT id, name, score, data FROM t ORDER BY id", []]},
            {"sql": ["SELECT nope FROM t", []]},
            {"sql_open_sync": "shared"},
            {"sql_sync": ["INSERT INTO t (name) VALUES (?)", ["c"]]},
            {"sql_sync": ["SELECT count(*) AS n FROM t", []]},
        ]),
    )
    .await;
    let r = results(&answer);
    assert_eq!(ok(&r[4])["last_insert_rowid"], 2);
    assert_eq!(ok(&r[4])["changes"], 1);
    let select = ok(&r[6]);
    assert_eq!(select["columns"], json!(["id", "name", "score", "data"]));
    assert_eq!(
        select["rows"],
        json!([[1, "a", 1.5, {"blob": [0, 255]}], [2, "b", null, null]])
    );
    assert!(err(&r[7]).contains("Io"), "{}", err(&r[7]));
    assert_eq!(ok(&r[9])["last_insert_rowid"], 3);
    assert_eq!(ok(&r[10])["rows"], json!([[3]]));

    // An uncommitted transaction is rolled back when the request's connection closes.
    run(
        &host,
        "/probe/sql",
        json!([
            {"sql_open": "shared"},
            {"sql": ["BEGIN", []]},
            {"sql": ["DELETE FROM t", []]},
        ]),
    )
    .await;
    // Another component sees the same database.
    let answer = run(
        &host,
        "/restricted/sql",
        json!([{"sql_open": "shared"}, {"sql": ["SELECT name FROM t ORDER BY name", []]}]),
    )
    .await;
    assert_eq!(
        ok(&results(&answer)[1])["rows"],
        json!([["a"], ["b"], ["c"]])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_transactions_serialize() {
    let host = start();
    run(
        &host,
        "/probe/sql",
        json!([
            {"sql_open": "default"},
            {"sql": ["CREATE TABLE counter (n INTEGER)", []]},
            {"sql": ["INSERT INTO counter VALUES (0)", []]},
        ]),
    )
    .await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            run(
                &host,
                "/probe/sql",
                json!([
                    {"sql_open": "default"},
                    {"sql": ["BEGIN IMMEDIATE", []]},
                    {"sql": ["SELECT n FROM counter", []]},
                    {"grow_mb": 1},
                    {"sql": ["UPDATE counter SET n = n + 1", []]},
                    {"sql": ["COMMIT", []]},
                ]),
            )
            .await
        }));
    }
    for task in tasks {
        let answer = task.await.unwrap();
        assert!(
            results(&answer).iter().all(|r| r.get("ok").is_some()),
            "{answer}"
        );
    }
    assert_eq!(
        host.sqlite_dump("default").unwrap(),
        "table \"counter\": CREATE TABLE counter (n INTEGER)\n  (12)\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unlisted_stores_and_databases_are_denied() {
    let host = start();
    let answer = run(
        &host,
        "/restricted/deny",
        json!([
            {"kv_open": "default"},
            {"kv_open": "not-configured-anywhere"},
            {"sql_open": "default"},
            {"sql_open_sync": "default"},
            {"sql_open": "nope"},
        ]),
    )
    .await;
    for result in results(&answer) {
        assert!(err(&result).contains("AccessDenied"), "{result}");
    }
    // The probe may open both labels it lists.
    let answer = run(
        &host,
        "/probe/allow",
        json!([{"kv_open": "default"}, {"kv_open": "shared"}, {"sql_open": "shared"}]),
    )
    .await;
    assert!(results(&answer).iter().all(|r| r.get("ok").is_some()));
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_resolve_from_options_and_defaults() {
    let host = start();
    let steps = json!([
        {"var": "greeting"},
        {"var": "token"},
        {"var": "plain"},
        {"var": "undeclared"},
        {"var": "Bad-Name"},
        {"var": "secret_token"},
    ]);
    let r = results(&run(&host, "/probe/vars", steps.clone()).await);
    assert_eq!(ok(&r[0]), "hello, world");
    assert_eq!(ok(&r[1]), "s3cret");
    assert_eq!(ok(&r[2]), "literal value");
    assert!(err(&r[3]).contains("Undefined"), "{}", err(&r[3]));
    assert!(err(&r[4]).contains("InvalidName"), "{}", err(&r[4]));
    // Application variables are not component variables.
    assert!(err(&r[5]).contains("Undefined"), "{}", err(&r[5]));

    let r = results(
        &run(
            &host,
            "/restricted/vars",
            json!([{"var": "greeting"}, {"var": "token"}]),
        )
        .await,
    );
    assert_eq!(ok(&r[0]), "restricted hello");
    assert!(err(&r[1]).contains("Undefined"));

    let host = TestHost::start(options().variable("greeting", "hi")).unwrap();
    let r = results(&run(&host, "/probe/vars", json!([{"var": "greeting"}])).await);
    assert_eq!(ok(&r[0]), "hi, world");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_faults() {
    let host = start();
    let steps = json!([
        {"kv_open": "shared"},
        {"kv_get": "a"},
        {"kv_set": ["a", "1"]},
        {"kv_get": "a"},
        {"kv_delete": "a"},
        {"kv_exists": "a"},
    ]);
    let outcome = |answer: Value| -> Vec<bool> {
        results(&answer)
            .iter()
            .map(|r| r.get("ok").is_some())
            .collect()
    };

    host.set_kv_fault(Fault::Always);
    let answer = run(&host, "/probe/f", json!([{"kv_open": "shared"}])).await;
    assert_eq!(
        err(&results(&answer)[0]),
        "Error::Other(\"injected fault\")"
    );

    host.set_kv_fault(Fault::Nth(2));
    let answer = run(&host, "/probe/f", steps.clone()).await;
    assert_eq!(
        outcome(answer.clone()),
        [true, false, true, true, true, true]
    );
    assert!(err(&results(&answer)[1]).contains("injected fault"));

    host.set_kv_fault(Fault::Nth(1));
    assert_eq!(
        outcome(
            run(
                &host,
                "/probe/f",
                json!([{"kv_open": "shared"}, {"kv_open": "shared"}])
            )
            .await
        ),
        [false, true]
    );

    host.set_kv_fault(Fault::Writes);
    assert_eq!(
        outcome(run(&host, "/probe/f", steps.clone()).await),
        [true, true, false, true, false, true]
    );

    host.set_kv_fault(Fault::None);
    assert!(
        outcome(run(&host, "/probe/f", steps).await)
            .iter()
            .all(|ok| *ok)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_faults() {
    let host = start();
    let outcome = |answer: Value| -> Vec<bool> {
        results(&answer)
            .iter()
            .map(|r| r.get("ok").is_some())
            .collect()
    };
    run(
        &host,
        "/probe/sql",
        json!([{"sql_open": "shared"}, {"sql": ["CREATE TABLE f (x)", []]}]),
    )
    .await;

    host.set_sqlite_fault(Fault::Always);
    let answer = run(&host, "/probe/f", json!([{"sql_open": "shared"}])).await;
    assert_eq!(err(&results(&answer)[0]), "Error::Io(\"injected fault\")");

    host.set_sqlite_fault(Fault::Writes);
    let steps = json!([
        {"sql_open": "shared"},
        {"sql": ["BEGIN", []]},
        {"sql": ["SELECT * FROM f", []]},
        {"sql": ["INSERT INTO f VALUES (1)", []]},
        {"sql": ["COMMIT", []]},
        {"sql_open_sync": "shared"},
        {"sql_sync": ["INSERT INTO f VALUES (2)", []]},
        {"sql_sync": ["SELECT * FROM f", []]},
    ]);
    assert_eq!(
        outcome(run(&host, "/probe/f", steps.clone()).await),
        [true, true, true, false, true, true, false, true]
    );

    host.set_sqlite_fault(Fault::Nth(3));
    assert_eq!(
        outcome(run(&host, "/probe/f", steps.clone()).await),
        [true, true, false, true, true, true, true, true]
    );

    host.set_sqlite_fault(Fault::None);
    assert!(
        outcome(run(&host, "/probe/f", steps).await)
            .iter()
            .all(|ok| *ok)
    );
    assert!(
        host.sqlite_dump("shared")
            .unwrap()
            .contains("  (1)\n  (2)\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_count_calls_by_kind() {
    let host = start();
    host.request(get("/baseline")).await.unwrap();
    assert_eq!(host.counters(), Counters::default());
    run(
        &host,
        "/probe/c",
        json!([
            {"kv_open": "default"},
            {"kv_get": "a"},
            {"kv_get": "b"},
            {"kv_set": ["a", "1"]},
            {"kv_delete": "a"},
            {"kv_exists": "a"},
            {"kv_keys": null},
            {"sql_open": "default"},
            {"sql": ["SELECT 1", []]},
            {"sql": ["SELECT 2", []]},
        ]),
    )
    .await;
    let counters = host.counters();
    assert_eq!(
        (
            counters.kv_get,
            counters.kv_set,
            counters.kv_delete,
            counters.kv_other
        ),
        (2, 1, 1, 3)
    );
    assert_eq!(counters.sqlite_execute, 2);
    // open + changes + last-insert-rowid after each of the two statements.
    assert_eq!(counters.sqlite_other, 5);
    host.reset_counters();
    assert_eq!(host.counters(), Counters::default());
}

#[tokio::test(flavor = "multi_thread")]
async fn dumps_show_unchanged_stores() {
    let host = start();
    run(
        &host,
        "/probe/setup",
        json!([
            {"kv_open": "default"},
            {"kv_set": ["b", "2"]},
            {"kv_set": ["a", "1"]},
            {"sql_open": "default"},
            {"sql": ["CREATE TABLE z (v)", []]},
            {"sql": ["CREATE TABLE y (k TEXT, v)", []]},
            {"sql": ["INSERT INTO y VALUES ('b', x'01'), ('a', 'it''s'), ('a', 2.0), ('a', NULL)", []]},
        ]),
    )
    .await;
    let kv_before = host.kv_dump("default").unwrap();
    let sql_before = host.sqlite_dump("default").unwrap();
    assert_eq!(
        kv_before.clone().into_iter().collect::<Vec<_>>(),
        vec![
            ("a".to_string(), b"1".to_vec()),
            ("b".to_string(), b"2".to_vec())
        ]
    );
    assert_eq!(
        sql_before,
        "table \"y\": CREATE TABLE y (k TEXT, v)\n  (\"a\", NULL)\n  (\"a\", 2.0)\n  (\"a\", \"it's\")\n  (\"b\", x'01')\n\
         table \"z\": CREATE TABLE z (v)\n"
    );
    // A read-only request leaves both unchanged.
    run(
        &host,
        "/probe/read",
        json!([
            {"kv_open": "default"},
            {"kv_get": "a"},
            {"sql_open": "default"},
            {"sql": ["SELECT * FROM y", []]},
        ]),
    )
    .await;
    assert_eq!(host.kv_dump("default").unwrap(), kv_before);
    assert_eq!(host.sqlite_dump("default").unwrap(), sql_before);
    assert_eq!(host.sqlite_dump("shared").unwrap(), "");
    assert!(host.sqlite_dump("unknown").is_err());
}

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

/// Sends one HTTP/1.1 request over TCP and returns the status line, headers and body.
async fn http_over_tcp(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(60),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("the server answers")
    .unwrap();
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_over_tcp() {
    let host = start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn({
        let host = host.clone();
        async move { host.serve(listener).await }
    });
    let response = http_over_tcp(addr, "/baseline").await;
    assert!(response.starts_with("HTTP/1.1 204"), "{response}");

    let mut tasks = Vec::new();
    for i in 0..8 {
        tasks.push(tokio::spawn(http_over_tcp(
            addr,
            if i % 2 == 0 {
                "/probe/tcp?x=1"
            } else {
                "/nowhere"
            },
        )));
    }
    for task in tasks {
        let response = task.await.unwrap();
        assert!(response.starts_with("HTTP/1.1 2"), "{response}");
    }
    let response = http_over_tcp(addr, "/probe/tcp?x=1").await;
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    let answer: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        answer["headers"]["spin-full-url"],
        format!("http://{addr}/probe/tcp?x=1")
    );
    let client = answer["headers"]["spin-client-addr"].as_str().unwrap();
    assert!(
        client.starts_with("127.0.0.1:") && client != "127.0.0.1:0",
        "{client}"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_serves_the_app() {
    let manifest = manifest();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_spin-test-host"))
        .args(["serve", "--manifest"])
        .arg(&manifest)
        .args(["--listen", "127.0.0.1:0", "--var", "secret_token=from-cli"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        let n = tokio::time::timeout(Duration::from_secs(120), stdout.read(&mut byte))
            .await
            .expect("the binary starts")
            .unwrap();
        assert_eq!(
            n,
            1,
            "the binary exited: {}",
            String::from_utf8_lossy(&line)
        );
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let response = http_over_tcp(addr.parse().unwrap(), "/baseline").await;
    assert!(response.starts_with("HTTP/1.1 204"), "{response}");
    child.kill().await.unwrap();
}

/// One blocking HTTP/1.1 GET on a fresh connection; the raw response.
fn stub_get(host: &str, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
    )?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn the_stub_server_answers_what_was_set_counts_hits_and_refuses_once_dropped() {
    use spin_test_host::stub_server::StubServer;
    let server = StubServer::start().unwrap();
    server.set(
        "/jwks",
        200,
        &[("cache-control", "max-age=60")],
        r#"{"keys":[]}"#,
    );
    let answer = stub_get(&server.host(), "/jwks").unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.contains("cache-control: max-age=60\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n{\"keys\":[]}"), "{answer}");
    assert!(
        stub_get(&server.host(), "/other")
            .unwrap()
            .starts_with("HTTP/1.1 404 ")
    );
    server.set("/jwks", 503, &[], "");
    assert!(
        stub_get(&server.host(), "/jwks")
            .unwrap()
            .starts_with("HTTP/1.1 503 ")
    );
    assert_eq!(server.hits("/jwks"), 2);
    assert_eq!(server.hits("/other"), 1);
    let host = server.host();
    drop(server);
    assert!(
        stub_get(&host, "/jwks").is_err(),
        "a dropped server refuses connections"
    );
}
