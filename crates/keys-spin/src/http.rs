//! Reading requests and writing responses; the one place errors become HTTP responses.

use bytes::Bytes;
use http_body_util::BodyExt;
use keys_domain::Error;
use keys_domain::error::json_error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::http::{FullBody, Request};

/// Every route of the service lives under this prefix (the routes themselves are in spin.toml).
pub const API_BASE: &str = "/api/v1";
/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The JSON media type.
pub const JSON: &str = "application/json";
/// The RFC 9457 problem media type.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The response type of every handler.
pub type Response = http::Response<FullBody<Bytes>>;

/// A request read whole: method, path under [`API_BASE`], query, headers and body.
pub struct ApiRequest {
    /// HTTP method.
    pub method: http::Method,
    /// Path with [`API_BASE`] removed, e.g. `/keys/key_123`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// Body, at most [`MAX_BODY_BYTES`].
    pub body: Bytes,
}

impl ApiRequest {
    /// Reads a request, refusing bodies over [`MAX_BODY_BYTES`] with 413.
    pub async fn read(req: Request) -> Result<Self, Error> {
        let (parts, mut body) = req.into_parts();
        let too_large = Error::PayloadTooLarge { limit: MAX_BODY_BYTES };
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
            return Err(too_large);
        }
        let mut buffer = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| Error::bad_request("the request body could not be read"))?;
            if let Ok(data) = frame.into_data() {
                if buffer.len() + data.len() > MAX_BODY_BYTES {
                    return Err(too_large);
                }
                buffer.extend_from_slice(&data);
            }
        }
        let path = parts.uri.path();
        let path = path.strip_prefix(API_BASE).unwrap_or(path).to_owned();
        Ok(Self {
            method: parts.method,
            path,
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            body: Bytes::from(buffer),
        })
    }

    /// A header's value, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Parses the body as JSON of type `T`, checking the content type.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.require_json()?;
        serde_json::from_slice(&self.body).map_err(|e| json_error(&e))
    }

    /// Like [`ApiRequest::json`], but an empty body reads as `T::default()`.
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, Error> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        self.json()
    }

    /// Fails with 400 unless the body is empty.
    pub fn require_empty_body(&self) -> Result<(), Error> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            Ok(())
        } else {
            Err(Error::bad_request("this route takes no request body"))
        }
    }

    fn require_json(&self) -> Result<(), Error> {
        let media = self.header("content-type").map(|v| v.split(';').next().unwrap_or("").trim());
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
                    if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") }
                )));
            }
            if params.iter().any(|(n, _)| *n == name) {
                return Err(Error::bad_request(format!("query parameter `{name}` is repeated")));
            }
            params.push((name.into_owned(), value.into_owned()));
        }
        Ok(params)
    }
}

/// A JSON response.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, Error> {
    let bytes = serde_json::to_vec(body).map_err(|e| Error::Unexpected(e.into()))?;
    Ok(with_body(status, JSON, bytes))
}

/// A response with no body.
pub fn empty(status: u16) -> Response {
    let mut response = http::Response::new(FullBody::new(Bytes::new()));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// A response with a body of the given media type.
pub fn with_body(status: u16, media_type: &'static str, body: impl Into<Bytes>) -> Response {
    let mut response = http::Response::new(FullBody::new(body.into()));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(media_type));
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
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

/// A problem response with an explicit code (used by the forward-auth route).
pub fn problem_with(status: u16, title: &'static str, code: &str, detail: &str) -> Response {
    let body = Problem { kind: "about:blank", title, status, detail, code };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    with_body(status, PROBLEM_JSON, bytes)
}

/// The one mapping from [`Error`] to an RFC 9457 problem response. Server errors are logged
/// (their cause never contains a secret: stores and parsing never see one in an error) and
/// reach the client as a fixed sentence.
pub fn problem(err: &Error) -> Response {
    if err.status() >= 500 {
        eprintln!("error: {}: {:#}", err.code(), SourceChain(err));
    }
    let detail = err.public_detail();
    let mut response = problem_with(err.status(), err.title(), err.code(), &detail);
    let headers = response.headers_mut();
    match err {
        Error::Unauthenticated(_) => {
            headers.insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"ingeneo-api-keys\""),
            );
        }
        Error::MethodNotAllowed { allow } => {
            headers.insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
        }
        _ => {}
    }
    response
}

/// Turns a handler's result into a response.
pub fn respond(result: Result<Response, Error>) -> Response {
    result.unwrap_or_else(|err| problem(&err))
}

struct SourceChain<'a>(&'a Error);

impl std::fmt::Display for SourceChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut source = std::error::Error::source(self.0);
        write!(f, "{}", self.0)?;
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// The 404 of a path no route of this component serves.
pub fn route_not_found(path: &str) -> Error {
    Error::NotFound(format!("no route {API_BASE}{}", path.chars().take(100).collect::<String>()))
}
