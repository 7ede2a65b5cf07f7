//! Call counters and store dumps: what tests read of the stores besides the components'
//! answers.

use serde_json::json;
use spin_test_host::Counters;

use crate::helpers::{get, run, start};

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
