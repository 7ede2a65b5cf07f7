//! The stub HTTP server that plays the third parties components fetch from.

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
