//! Serving over TCP: [`spin_test_host::TestHost::serve`] and the `spin-test-host serve` binary.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{manifest, start};

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
