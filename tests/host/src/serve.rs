//! Serve mode: HTTP/1.1 over TCP with hyper, one task per connection.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::{ClientAddr, TestHost};

/// Accepts connections on `listener` until accepting fails.
pub async fn serve(host: TestHost, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    loop {
        let (stream, client_addr) = listener.accept().await?;
        let host = host.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let host = host.clone();
                async move { Ok::<_, Infallible>(handle(&host, req, client_addr).await) }
            });
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("spin-test-host: connection from {client_addr}: {error}");
            }
        });
    }
}

async fn handle(
    host: &TestHost,
    req: http::Request<Incoming>,
    client_addr: SocketAddr,
) -> http::Response<Full<Bytes>> {
    let (mut parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes().to_vec(),
        Err(error) => return plain(http::StatusCode::BAD_REQUEST, error.to_string()),
    };
    parts.extensions.insert(ClientAddr(client_addr));
    match host.request(http::Request::from_parts(parts, body)).await {
        Ok(response) => response.map(|body| Full::new(Bytes::from(body))),
        Err(error) => {
            eprintln!("spin-test-host: request failed: {error:?}");
            plain(http::StatusCode::INTERNAL_SERVER_ERROR, String::new())
        }
    }
}

fn plain(status: http::StatusCode, text: String) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response
}
