//! Reading requests and writing responses directly on `wasi:http` 0.3 types, and the one
//! place errors become HTTP responses.
//!
//! The components export the `wasi:http` handler themselves (see [`export_http_handler`])
//! instead of going through spin-sdk's `http` crate conversions: that layer costs about
//! 90 KB of `.wasm` per component and time on every request, and these components need only
//! a method, a path, a few headers and a small body.

use keys_domain::Error;
use keys_domain::error::json_error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::wasip3::http::types::{
    ErrorCode, Fields, Method, Request as WasiRequest, Response as WasiResponse,
};
use spin_sdk::wasip3::{wit_future, wit_stream};
use spin_sdk::wit_bindgen::StreamResult;

/// Every route of the service lives under this prefix (the routes themselves are in spin.toml).
pub const API_BASE: &str = "/api/v1";
/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The JSON media type.
pub const JSON: &str = "application/json";
/// The RFC 9457 problem media type.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// The header stating the body's length, in bytes (lower case, as `wasi:http` wants names).
const CONTENT_LENGTH: &str = "content-length";

/// Exports a `wasi:http` handler that reads the request into an [`ApiRequest`], awaits
/// `$dispatch(&request) -> Result<Response, Error>`, [settles](settle) and writes the
/// response (errors go through [`problem`]). With `$after`, calls `$after()` once the
/// response is built: tasks it spawns run after the response is handed over.
#[macro_export]
macro_rules! export_http_handler {
    ($dispatch:path) => {
        $crate::export_http_handler!($dispatch, $crate::http::nothing_after);
    };
    ($dispatch:path, $after:path) => {
        struct HttpComponent;
        ::spin_sdk::wasip3::http::service::export!(HttpComponent);
        impl ::spin_sdk::wasip3::exports::http::handler::Guest for HttpComponent {
            async fn handle(
                request: ::spin_sdk::wasip3::http::types::Request,
            ) -> Result<
                ::spin_sdk::wasip3::http::types::Response,
                ::spin_sdk::wasip3::http::types::ErrorCode,
            > {
                let result = match $crate::http::ApiRequest::read(request).await {
                    Ok(request) => $dispatch(&request).await,
                    Err(err) => Err(err),
                };
                $crate::http::settle().await;
                let response = $crate::http::respond(result).into_wasi();
                $after();
                response
            }
        }
    };
}

/// The `$after` of a handler that does nothing after its response.
pub fn nothing_after() {}

/// How many times [`settle`] yields to the host.
const SETTLE_YIELDS: usize = 2;

/// Yields to the host twice before the response is handed over, so that headers and body
/// leave Spin in one write.
///
/// After a store call (key-value, SQLite) Spin's HTTP server may write the response headers
/// before the body has reached it; the body then leaves in a second small TCP segment, which
/// Nagle's algorithm holds until the client's delayed ACK (about 40 ms on a keep-alive
/// connection: Spin does not set `TCP_NODELAY`). Measured on Spin 4.1 with the app on one
/// keep-alive connection: without yielding, most `/verify` answers on one CPU and 1–2 % on
/// two waited 40 ms; one yield fixed the admin routes but not verify-key; two yields left no
/// stalled answer in 14,000 requests, at no measurable throughput cost. With many concurrent
/// keep-alive connections about 0.5 % of store-touching answers still wait: only Spin setting
/// `TCP_NODELAY` removes that. See docs/performance.md, "Keep-alive and Nagle".
pub async fn settle() {
    for _ in 0..SETTLE_YIELDS {
        spin_sdk::wit_bindgen::yield_async().await;
    }
}

/// A request read whole: method, path under [`API_BASE`], query, headers and body.
pub struct ApiRequest {
    /// HTTP method, upper case (`GET`, `POST`, …).
    pub method: String,
    /// Path with [`API_BASE`] removed, e.g. `/keys/key_123`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Request headers, names in lower case.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body, at most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
}

fn method_name(method: Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        // Methods are case-sensitive (RFC 9110 §9.1): `delete` is not `DELETE`, and gets the
        // 405 of an unknown method rather than a deletion.
        Method::Other(other) => other,
    }
}

impl ApiRequest {
    /// Reads a request, refusing bodies over [`MAX_BODY_BYTES`] with 413.
    pub async fn read(request: WasiRequest) -> Result<Self, Error> {
        let method = method_name(request.get_method());
        let target = request.get_path_with_query().unwrap_or_default();
        let headers: Vec<(String, Vec<u8>)> = request
            .get_headers()
            .copy_all()
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect();
        let too_large = Error::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        };
        let declared = headers
            .iter()
            .find(|(n, _)| n == CONTENT_LENGTH)
            .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
            return Err(too_large);
        }
        let mut body = Vec::new();
        if method == "GET" || method == "HEAD" {
            // No route reads a GET or HEAD body: skip opening the stream (a few host calls
            // less on the forward-auth hot path).
            return Ok(Self::new(method, &target, headers, body));
        }
        let (done, done_reader) = wit_future::new(|| Ok(()));
        let (mut stream, _trailers) = WasiRequest::consume_body(request, done_reader);
        loop {
            let (result, chunk) = stream.read(Vec::with_capacity(16 * 1024)).await;
            match result {
                StreamResult::Complete(_) => {
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(too_large);
                    }
                    body.extend_from_slice(&chunk);
                }
                StreamResult::Dropped | StreamResult::Cancelled => break,
            }
        }
        drop(done);
        Ok(Self::new(method, &target, headers, body))
    }

    fn new(method: String, target: &str, headers: Vec<(String, Vec<u8>)>, body: Vec<u8>) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (target, None),
        };
        let path = path.strip_prefix(API_BASE).unwrap_or(path).to_owned();
        Self {
            method,
            path,
            query,
            headers,
            body,
        }
    }

    /// The segments of [`ApiRequest::path`], each percent-decoded (`acme%3Afr` is `acme:fr`,
    /// as clients that encode every reserved character send it); a segment that does not
    /// decode to UTF-8 is kept as written (it then matches no literal, and no id is valid).
    pub fn path_segments(&self) -> Vec<String> {
        self.path
            .trim_start_matches('/')
            .split('/')
            .map(
                |s| match percent_encoding::percent_decode_str(s).decode_utf8() {
                    Ok(decoded) => decoded.into_owned(),
                    Err(_) => s.to_owned(),
                },
            )
            .collect()
    }

    /// A header's value, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The last line of the header `name` (lower case), when it is UTF-8: for a list header
    /// whose lines are one list in order (`X-Forwarded-For`), where the last entry is.
    pub fn last_header_line(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rfind(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The header `name` (lower case), which must come at most once: a second line is a 400
    /// (which line counts differs between proxies and servers, so no line is trusted).
    pub fn single_header(&self, name: &str) -> Result<Option<&str>, Error> {
        let mut lines = self.headers.iter().filter(|(n, _)| n == name);
        match (lines.next(), lines.next()) {
            (None, _) => Ok(None),
            (Some((_, value)), None) => Ok(std::str::from_utf8(value).ok()),
            (Some(_), Some(_)) => Err(Error::bad_request(format!(
                "the header {name} must come at most once"
            ))),
        }
    }

    /// Parses the body as a JSON object of type `T`, checking the content type. (serde's
    /// derived structs would also take an array of the fields in order: refused here.)
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.require_json()?;
        if self.body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Error::bad_request("the JSON body must be an object"));
        }
        serde_json::from_slice(&self.body).map_err(|e| json_error(&e))
    }

    /// Like [`ApiRequest::json`], but an empty body (no byte at all) reads as `T::default()`.
    /// A body of white space only is not JSON: refused like any other malformed body.
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, Error> {
        if self.body.is_empty() {
            return Ok(T::default());
        }
        self.json()
    }

    /// Fails with 400 unless the body is empty (no byte at all) or an empty JSON object (`{}`,
    /// which generated clients and many HTTP libraries send on every POST).
    pub fn require_empty_body(&self) -> Result<(), Error> {
        if self.body.is_empty() {
            return Ok(());
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Nothing {}
        self.json::<Nothing>().map(drop).map_err(|err| match err {
            Error::UnsupportedMediaType => err,
            _ => Error::bad_request("this route takes no request body (or `{}`)"),
        })
    }

    fn require_json(&self) -> Result<(), Error> {
        let media = self
            .header("content-type")
            .map(|v| v.split(';').next().unwrap_or("").trim());
        match media {
            Some(m) if m.eq_ignore_ascii_case(JSON) => Ok(()),
            _ => Err(Error::UnsupportedMediaType),
        }
    }

    /// The query parameters, refusing any name not in `allowed` and any repeated name.
    pub fn query_params(&self, allowed: &[&str]) -> Result<Vec<(String, String)>, Error> {
        let raw = self.query.as_deref().unwrap_or("");
        let mut params: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                return Err(Error::bad_request(format!(
                    "unknown query parameter `{}`; allowed: {}",
                    name.chars().take(40).collect::<String>(),
                    if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    }
                )));
            }
            if params.iter().any(|(n, _)| *n == name) {
                return Err(Error::bad_request(format!(
                    "query parameter `{name}` is repeated"
                )));
            }
            params.push((name.into_owned(), value.into_owned()));
        }
        Ok(params)
    }
}

/// Reads a JSON field that is present as `Some` (with `#[serde(default, deserialize_with =
/// "keys_spin::http::present")]`): on an `Option<Option<T>>`, `null` and absence can be told
/// apart; on an `Option<T>` whose `T` is not nullable, an optional field sent as `null` is
/// refused like any other value of the wrong type, as the document's schema says.
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A response to send: status, headers, a small body and trailers.
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(&'static str, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Trailer names (lower case) and values, sent after the body (gRPC's `grpc-status`).
    pub trailers: Vec<(&'static str, String)>,
}

impl Response {
    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds a trailer.
    pub fn trailer(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.trailers.push((name, value.into()));
        self
    }

    /// Converts into a `wasi:http` response; the body is written by a spawned task.
    ///
    /// A response with a body always carries its `Content-Length`. Without it Spin sends the
    /// body chunked, and the last chunk (`0\r\n\r\n`) leaves in a segment of its own once the
    /// guest closes the stream; Spin's listener does not set `TCP_NODELAY`, so on a keep-alive
    /// connection Nagle's algorithm holds that segment until the client's delayed ACK, about
    /// 40 ms (see docs/performance.md, "Keep-alive and Nagle").
    pub fn into_wasi(self) -> Result<WasiResponse, ErrorCode> {
        let mut entries: Vec<(String, Vec<u8>)> = self
            .headers
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.into_bytes()))
            .collect();
        if !self.body.is_empty() {
            entries.push((
                CONTENT_LENGTH.to_owned(),
                self.body.len().to_string().into_bytes(),
            ));
        }
        let headers = Fields::from_list(&entries)
            .map_err(|e| ErrorCode::InternalError(Some(format!("response headers: {e:?}"))))?;
        let (trailers_writer, trailers) = wit_future::new(|| Ok(None));
        let trailer_fields = match self.trailers.is_empty() {
            true => None,
            false => {
                let entries: Vec<(String, Vec<u8>)> = self
                    .trailers
                    .into_iter()
                    .map(|(n, v)| (n.to_owned(), v.into_bytes()))
                    .collect();
                Some(Fields::from_list(&entries).map_err(|e| {
                    ErrorCode::InternalError(Some(format!("response trailers: {e:?}")))
                })?)
            }
        };
        let body = if self.body.is_empty() && trailer_fields.is_none() {
            drop(trailers_writer);
            None
        } else {
            let (mut writer, reader) = wit_stream::new::<u8>();
            let bytes = self.body;
            spin_sdk::wit_bindgen::spawn(async move {
                let _unwritten = writer.write_all(bytes).await;
                drop(writer);
                match trailer_fields {
                    Some(fields) => {
                        let _unsent = trailers_writer.write(Ok(Some(fields))).await;
                    }
                    None => drop(trailers_writer),
                }
            });
            Some(reader)
        };
        let (response, _sent) = WasiResponse::new(headers, body, trailers);
        response
            .set_status_code(self.status)
            .map_err(|()| ErrorCode::InternalError(Some("invalid status code".into())))?;
        Ok(response)
    }
}

/// A JSON response.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, Error> {
    let bytes = serde_json::to_vec(body).map_err(Error::unexpected)?;
    Ok(with_body(status, JSON, bytes))
}

/// A JSON response from an already encoded body.
pub fn json_bytes(status: u16, body: Vec<u8>) -> Response {
    with_body(status, JSON, body)
}

/// A response with no body.
pub fn empty(status: u16) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body: Vec::new(),
        trailers: Vec::new(),
    }
}

/// A response with a body of the given media type, never cached nor sniffed.
pub fn with_body(status: u16, media_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
    Response {
        status,
        headers: vec![
            ("content-type", media_type.into()),
            ("cache-control", "no-store".into()),
            ("x-content-type-options", "nosniff".into()),
        ],
        body: body.into(),
        trailers: Vec::new(),
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
    code: &'a str,
}

/// `Retry-After` of a 503: a store outage is worth retrying a second later, with back-off.
const STORE_RETRY_AFTER_SECS: &str = "1";

/// A problem response with an explicit code (used by the forward-auth route).
pub fn problem_with(status: u16, title: &'static str, code: &str, detail: &str) -> Response {
    let body = Problem {
        kind: "about:blank",
        title,
        status,
        detail,
        code,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    with_body(status, PROBLEM_JSON, bytes)
}

/// The `WWW-Authenticate` challenge of admin routes (RFC 6750).
const BEARER_CHALLENGE: &str = "Bearer realm=\"ingeneo-api-keys\"";
/// The `WWW-Authenticate` challenge of the token introspection route (RFC 7617): its clients
/// authenticate with HTTP Basic, in a realm of their own.
const BASIC_CHALLENGE: &str = "Basic realm=\"ingeneo-introspection\"";

/// The one mapping from [`Error`] to an RFC 9457 problem response. Server errors are logged
/// (their cause never contains a secret: stores and parsing never see one in an error) and
/// reach the client as a fixed sentence.
pub fn problem(err: &Error) -> Response {
    if err.status() >= 500 {
        eprintln!("error: {}: {err}", err.code());
    }
    let detail = redact_keys(&err.public_detail());
    let response = problem_with(err.status(), err.title(), err.code(), &detail);
    match err {
        Error::Unauthenticated(_) => response.header("www-authenticate", BEARER_CHALLENGE),
        Error::ClientUnauthenticated(_) => response.header("www-authenticate", BASIC_CHALLENGE),
        // RFC 6750 §3: the description is one of this service's own sentences, quoted.
        Error::InvalidToken(reason) => response.header(
            "www-authenticate",
            format!(
                "{BEARER_CHALLENGE}, error=\"invalid_token\", error_description=\"{}\"",
                reason.replace(['"', '\\'], "'")
            ),
        ),
        Error::MethodNotAllowed { allow } => response.header("allow", allow.as_str()),
        Error::TooManyRequests {
            retry_after_secs, ..
        } => response.header("retry-after", (*retry_after_secs).max(1).to_string()),
        _ if matches!(err.status(), 502 | 503) => {
            response.header("retry-after", STORE_RETRY_AFTER_SECS)
        }
        _ => response,
    }
}

/// Replaces anything shaped like an API key (`ingk_` and what follows) with `ingk_…`: a key
/// pasted in the wrong place (an id, a field name, a method) is never echoed back.
pub fn redact_keys(text: &str) -> String {
    let prefix = keys_domain::key::KEY_PREFIX;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at]);
        out.push_str(prefix);
        out.push('…');
        let after = &rest[at + prefix.len()..];
        let tail = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        rest = &after[tail..];
    }
    out.push_str(rest);
    out
}

/// Turns a handler's result into a response.
pub fn respond(result: Result<Response, Error>) -> Response {
    result.unwrap_or_else(|err| problem(&err))
}

/// The 404 of a path no route of this component serves.
pub fn route_not_found(path: &str) -> Error {
    Error::NotFound(format!(
        "no route {API_BASE}{}",
        path.chars().take(100).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::redact_keys;

    #[test]
    fn key_shaped_text_is_redacted_wherever_it_appears() {
        let key = "ingk_abcDEF123";
        assert_eq!(
            redact_keys(&format!("no API key with id `{key}`")),
            "no API key with id `ingk_…`"
        );
        assert_eq!(redact_keys(&format!("{key},{key}")), "ingk_…,ingk_…");
        assert_eq!(redact_keys("nothing to hide"), "nothing to hide");
        assert_eq!(redact_keys("ends with ingk_"), "ends with ingk_…");
    }
}
