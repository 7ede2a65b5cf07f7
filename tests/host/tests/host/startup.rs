//! Starting a host: what it needs and checks, where its state lives, and how component
//! variables resolve.

use serde_json::json;
use spin_test_host::{HostOptions, TestHost};

use crate::helpers::{err, manifest, ok, options, results, run, start};

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
