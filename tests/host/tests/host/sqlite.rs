//! SQLite databases: values, transactions across calls and concurrent connections.

use serde_json::json;

use crate::helpers::{err, ok, results, run, start};

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
