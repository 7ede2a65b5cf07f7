//! Outbound HTTP on `wasi:http` 0.3 types: the admin components' call to the `identity`
//! component and verify-key's increments to `kv-proxy` (Spin's local service chaining), and
//! the fetches of JWKS and of the scanners' public keys. Every request is bounded in time and
//! in response size.

use crate::deadline::{Call, Deadline};
use keys_domain::Error;
use spin_sdk::wasip3::http::client;
use spin_sdk::wasip3::http::types::{Fields, Method, Request, Response, Scheme};
use spin_sdk::wasip3::{wit_future, wit_stream};
use spin_sdk::wit_bindgen::StreamResult;

/// A request to send: a `GET` unless it has a body, then a `POST`.
pub struct Outgoing<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// `host[:port]`.
    pub authority: &'a str,
    /// `/path[?query]`.
    pub path_and_query: &'a str,
    /// Request headers (lower-case names).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body of a `POST`; `None` for a `GET`.
    pub body: Option<&'a [u8]>,
}

/// A response received in full.
pub struct Received {
    /// The status code.
    pub status: u16,
    headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// Every header whose value is UTF-8, names lower case.
    pub fn headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter_map(|(n, v)| Some((n.to_ascii_lowercase(), String::from_utf8(v.clone()).ok()?)))
            .collect()
    }

    /// A header's value (case-insensitive name), when it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Sends `request` and reads its response, which must come in full, at most `max_body`
/// bytes, within `deadline`'s limit; any failure is an error naming `what`, for the log.
pub async fn send(
    deadline: &Deadline,
    what: &str,
    request: Outgoing<'_>,
    max_body: usize,
) -> Result<Received, Error> {
    let exchange: Call<'_, Received> = Box::pin(exchange(request, max_body));
    deadline.run(what, exchange).await
}

async fn exchange(request: Outgoing<'_>, max_body: usize) -> Result<Received, String> {
    let entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.as_bytes().to_vec()))
        .collect();
    let headers =
        Fields::from_list(&entries).map_err(|_| "the request headers are invalid".to_owned())?;
    let (trailers_writer, trailers) = wit_future::new(|| Ok(None));
    let contents = request.body.map(|body| {
        let (mut writer, reader) = wit_stream::new::<u8>();
        let bytes = body.to_vec();
        spin_sdk::wit_bindgen::spawn(async move {
            let _unwritten = writer.write_all(bytes).await;
        });
        reader
    });
    drop(trailers_writer);
    let (outgoing, _sent) = Request::new(headers, contents, trailers, None);
    if request.body.is_some() {
        outgoing
            .set_method(&Method::Post)
            .map_err(|()| "the request's method is invalid".to_owned())?;
    }
    let scheme = match request.scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => Scheme::Other(other.to_owned()),
    };
    outgoing
        .set_scheme(Some(&scheme))
        .and_then(|()| outgoing.set_authority(Some(request.authority)))
        .and_then(|()| outgoing.set_path_with_query(Some(request.path_and_query)))
        .map_err(|()| "the request's target is invalid".to_owned())?;
    let response = client::send(outgoing).await.map_err(|e| format!("{e:?}"))?;
    read(response, max_body).await
}

async fn read(response: Response, max_body: usize) -> Result<Received, String> {
    let status = response.get_status_code();
    let headers = response.get_headers().copy_all();
    let (done, done_reader) = wit_future::new(|| Ok(()));
    let (mut stream, _trailers) = Response::consume_body(response, done_reader);
    let mut body = Vec::new();
    loop {
        let (result, chunk) = stream.read(Vec::with_capacity(16 * 1024)).await;
        match result {
            StreamResult::Complete(_) => {
                if body.len() + chunk.len() > max_body {
                    return Err(format!("the response exceeds {max_body} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            StreamResult::Dropped | StreamResult::Cancelled => break,
        }
    }
    drop(done);
    Ok(Received {
        status,
        headers,
        body,
    })
}
