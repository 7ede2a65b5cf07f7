use super::*;

fn stores() -> Stores {
    Stores::new(
        None,
        ["default".to_string()].into(),
        ["default".to_string()].into(),
    )
    .unwrap()
}

#[test]
fn kv_round_trip_and_dump() {
    let s = stores();
    s.kv_set("default", "a", b"1").unwrap();
    s.kv_set("default", "a", b"2").unwrap();
    s.kv_set("default", "b", b"3").unwrap();
    s.kv_delete("default", "b").unwrap();
    assert_eq!(
        s.kv_get("default", "a").unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert!(!s.kv_exists("default", "b").unwrap());
    let dump = s.kv_dump("default").unwrap();
    assert_eq!(dump.len(), 1);
    assert!(s.kv_dump("nope").is_err());
}

#[test]
fn increments_from_many_threads_all_count() {
    let s = Arc::new(stores());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    s.kv_increment("default", "n", 2).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(s.kv_increment("default", "n", 0), Ok(400));
    assert_eq!(
        s.kv_get("default", "n").unwrap(),
        Some(400_i64.to_le_bytes().to_vec())
    );
}

#[test]
fn get_many_answers_each_present_key_once_in_the_order_asked() {
    let s = stores();
    s.kv_set_many(
        "default",
        &[("b".into(), b"2".to_vec()), ("a".into(), b"1".to_vec())],
    )
    .unwrap();
    let asked = ["b", "absent", "a", "b"].map(String::from);
    assert_eq!(
        s.kv_get_many("default", &asked).unwrap(),
        [
            ("b".to_string(), b"2".to_vec()),
            ("a".to_string(), b"1".to_vec())
        ]
    );
    s.kv_delete_many("default", &asked).unwrap();
    assert!(s.kv_dump("default").unwrap().is_empty());
}

#[test]
fn faults_count_calls() {
    let s = stores();
    s.set_kv_fault(Fault::Nth(2));
    assert!(!s.kv_call(KvCall::Open));
    assert!(s.kv_call(KvCall::Get));
    assert!(!s.kv_call(KvCall::Get));
    s.set_kv_fault(Fault::Writes);
    assert!(!s.kv_call(KvCall::Open));
    assert!(!s.kv_call(KvCall::Get));
    assert!(s.kv_call(KvCall::Set));
    assert!(s.kv_call(KvCall::Delete));
    s.set_kv_fault(Fault::Always);
    assert!(s.kv_call(KvCall::Open));
    assert_eq!(s.counters().kv_get, 3);
    s.reset_counters();
    assert_eq!(s.counters(), Counters::default());
}

#[test]
fn a_statement_fault_fails_that_statement_and_an_after_statement_fault_every_later_call() {
    let s = stores();
    let conn = s.sqlite_open("default").unwrap();
    s.sqlite_execute(&conn, "CREATE TABLE t (a)", &[]).unwrap();
    s.set_sqlite_fault(Fault::Statement("COMMIT"));
    s.set_kv_fault(Fault::AfterStatement("COMMIT"));
    assert!(!s.kv_call(KvCall::Set), "nothing fails before the commit");
    assert!(s.sqlite_execute(&conn, "BEGIN", &[]).is_ok());
    assert!(
        s.sqlite_execute(&conn, "INSERT INTO t VALUES (1)", &[])
            .is_ok()
    );
    assert!(!s.kv_call(KvCall::Set));
    assert_eq!(
        s.sqlite_execute(&conn, "COMMIT", &[]).unwrap_err(),
        INJECTED_FAULT
    );
    assert!(s.sqlite_execute(&conn, "ROLLBACK", &[]).is_ok());
    assert!(
        s.kv_call(KvCall::Delete),
        "the store is gone after the commit"
    );
    assert!(s.kv_call(KvCall::Get));

    s.set_sqlite_fault(Fault::AfterStatement("COMMIT"));
    s.set_kv_fault(Fault::AfterStatement("COMMIT"));
    assert!(!s.kv_call(KvCall::Get), "setting a fault starts it afresh");
    assert!(s.sqlite_execute(&conn, "BEGIN", &[]).is_ok());
    assert!(s.sqlite_execute(&conn, "COMMIT", &[]).is_ok());
    assert!(s.sqlite_execute(&conn, "SELECT 1", &[]).is_err());
    assert!(
        s.kv_call(KvCall::Get),
        "the key-value fault saw this commit too"
    );
}

#[test]
fn sqlite_dump_is_deterministic_and_unambiguous() {
    let s = stores();
    let conn = s.sqlite_open("default").unwrap();
    for sql in [
        "CREATE TABLE t (a, b)",
        "INSERT INTO t VALUES (2, 'x'), (1, x'00ff'), (1, NULL), (1.5, '1')",
        "CREATE TABLE a (x INTEGER)",
    ] {
        s.sqlite_execute(&conn, sql, &[]).unwrap();
    }
    s.set_sqlite_fault(Fault::Writes);
    assert!(s.sqlite_execute(&conn, "SELECT * FROM t", &[]).is_ok());
    assert_eq!(
        s.sqlite_execute(&conn, "DELETE FROM t", &[]).unwrap_err(),
        INJECTED_FAULT
    );
    let dump = s.sqlite_dump("default").unwrap();
    assert_eq!(
        dump,
        "table \"a\": CREATE TABLE a (x INTEGER)\n\
         table \"t\": CREATE TABLE t (a, b)\n  (1, NULL)\n  (1, x'00ff')\n  (1.5, \"1\")\n  (2, \"x\")\n"
    );
}
