//! Key-value stores through `spin:key-value` and `wasi:keyvalue`, and which stores and
//! databases a component may open.

use serde_json::{Value, json};

use crate::helpers::{err, ok, results, run, start};

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
