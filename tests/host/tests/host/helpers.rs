//! Shared helpers of the test host's tests: the fixture app, starting a host on it, and probe
//! scripts with their answers.

use std::path::PathBuf;

use serde_json::{Value, json};
use spin_test_host::{HostOptions, TestHost};

const BUILD: &str = "cargo build --target wasm32-wasip2 --release -p baseline -p probe";

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// The path of the built fixture component `name`; fails the test when it is not built.
pub fn wasm(name: &str) -> PathBuf {
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

/// The fixture app's `spin.toml`, once its components are known to be built.
pub fn manifest() -> PathBuf {
    wasm("baseline");
    wasm("probe");
    fixtures_dir().join("spin.toml")
}

/// Options for the fixture app with its required variable set.
pub fn options() -> HostOptions {
    HostOptions::new(manifest()).variable("secret_token", "s3cret")
}

/// A host running the fixture app with [`options`].
pub fn start() -> TestHost {
    TestHost::start(options()).expect("the fixture app starts")
}

/// A GET request of `path` with no body.
pub fn get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path).body(Vec::new()).unwrap()
}

/// Posts a probe script and returns the probe's JSON answer.
pub async fn run(host: &TestHost, path: &str, steps: Value) -> Value {
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
pub fn results(answer: &Value) -> Vec<Value> {
    answer["results"].as_array().unwrap().clone()
}

/// The value of a successful step; fails the test when the step failed.
pub fn ok(result: &Value) -> &Value {
    assert!(result.get("ok").is_some(), "expected ok, got {result}");
    &result["ok"]
}

/// The error of a failed step; fails the test when the step succeeded.
pub fn err(result: &Value) -> String {
    result["err"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {result}"))
        .to_string()
}
