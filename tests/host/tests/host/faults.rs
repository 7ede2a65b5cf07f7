//! Injected key-value and SQLite faults: which calls fail under each [`Fault`].

use serde_json::{Value, json};
use spin_test_host::Fault;

use crate::helpers::{err, ok, results, run, start};

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
