//! Envoy's external authorization over gRPC (`envoy.service.auth.v3.Authorization/Check`):
//! the part of its messages this service reads and writes, gRPC's message framing, and how a
//! `Check` becomes a `/authorize` call and its answer a `CheckResponse`.
//!
//! The messages are declared here with the field numbers of Envoy's protos (prost ignores the
//! fields a message does not declare), rather than generated from them: the service needs a
//! dozen fields, and the generated crates turn on tonic's network transport, which does not
//! build for `wasm32-wasip2`.
//!
//! A `Check` is answered by asking `/authorize` (verify-key) the same question, so that both
//! modes give one verdict, with the same limits, usage counting and deadlines:
//!
//! | `/authorize` | gRPC status in the `CheckResponse` | Envoy answers the caller |
//! |---|---|---|
//! | 204 | `OK` (0): `x-api-key-id` and `x-api-key-hint` set upstream (overwriting any the caller sent), the key's header removed, `RateLimit` fields on the response | the upstream's answer |
//! | 400 | `INVALID_ARGUMENT` (3) | 400 and `/authorize`'s problem body |
//! | 401 | `UNAUTHENTICATED` (16) | 401, its body and `WWW-Authenticate` |
//! | 403 | `PERMISSION_DENIED` (7) | 403 and its body |
//! | 429 | `RESOURCE_EXHAUSTED` (8) | 429, its body, `Retry-After` and `RateLimit` fields |
//! | anything else, or no answer in time | `UNAVAILABLE` (14) | 503 and a problem body, `Retry-After: 1` |

use std::collections::HashMap;

/// The gRPC path of `Check`.
pub const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";
/// gRPC's media type.
pub const GRPC_MEDIA_TYPE: &str = "application/grpc";
/// The request header `/authorize` reads the key from (beside `Authorization: Bearer`).
pub const HEADER_API_KEY: &str = "x-api-key";
/// The request header `/authorize` reads the method from.
pub const HEADER_METHOD: &str = "x-api-method";
/// The request header `/authorize` reads the company from.
pub const HEADER_COMPANY: &str = "x-api-company";
/// The context extension (per-route `check_settings`) naming the method, which wins over the
/// method header.
pub const EXTENSION_METHOD: &str = "method";
/// The context extension naming the company, which wins over the company header.
pub const EXTENSION_COMPANY: &str = "company";
/// The upstream headers an allowed request gets (from `/authorize`'s answer).
const UPSTREAM_HEADERS: [&str; 2] = ["x-api-key-id", "x-api-key-hint"];
/// The answer headers of `/authorize` a denied request passes on to the caller.
const DENIED_HEADERS: [&str; 5] = [
    "content-type",
    "www-authenticate",
    "retry-after",
    "ratelimit-policy",
    "ratelimit",
];
/// The answer headers of `/authorize` an allowed request adds to the upstream's answer.
const ALLOWED_RESPONSE_HEADERS: [&str; 2] = ["ratelimit-policy", "ratelimit"];

/// gRPC status codes used here.
pub mod code {
    /// Success (and, in a `CheckResponse`, "allowed").
    pub const OK: i32 = 0;
    /// The request was malformed.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// The key may not make this call.
    pub const PERMISSION_DENIED: i32 = 7;
    /// The key's rate limit or quota is used up.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// The message used a compression this server does not speak.
    pub const UNIMPLEMENTED: i32 = 12;
    /// The check could not be made (a store or verify-key did not answer): fail closed.
    pub const UNAVAILABLE: i32 = 14;
    /// No key, or one that is unknown, inactive or expired.
    pub const UNAUTHENTICATED: i32 = 16;
}

/// `envoy.service.auth.v3.CheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckRequest {
    /// The request's attributes.
    #[prost(message, optional, tag = "1")]
    pub attributes: Option<AttributeContext>,
}

/// `envoy.service.auth.v3.AttributeContext` (the fields read here).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeContext {
    /// The downstream peer.
    #[prost(message, optional, tag = "1")]
    pub source: Option<Peer>,
    /// The request.
    #[prost(message, optional, tag = "4")]
    pub request: Option<RequestAttributes>,
    /// The route's `check_settings.context_extensions`.
    #[prost(map = "string, string", tag = "10")]
    pub context_extensions: HashMap<String, String>,
}

/// `AttributeContext.Peer` (its address).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Peer {
    /// Its address.
    #[prost(message, optional, tag = "1")]
    pub address: Option<Address>,
}

/// `envoy.config.core.v3.Address` (the socket address case).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Address {
    /// An IP address and port.
    #[prost(message, optional, tag = "1")]
    pub socket_address: Option<SocketAddress>,
}

/// `envoy.config.core.v3.SocketAddress` (its address).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SocketAddress {
    /// The IP address.
    #[prost(string, tag = "2")]
    pub address: String,
}

/// `AttributeContext.Request`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestAttributes {
    /// The HTTP request.
    #[prost(message, optional, tag = "2")]
    pub http: Option<HttpRequest>,
}

/// `AttributeContext.HttpRequest` (its headers).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpRequest {
    /// The headers, names in lower case; repeated ones joined with commas.
    #[prost(map = "string, string", tag = "3")]
    pub headers: HashMap<String, String>,
    /// The headers, when Envoy sends them as a list (`encode_raw_headers`).
    #[prost(message, optional, tag = "13")]
    pub header_map: Option<HeaderMap>,
}

/// `envoy.config.core.v3.HeaderMap`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderMap {
    /// The headers.
    #[prost(message, repeated, tag = "1")]
    pub headers: Vec<HeaderValue>,
}

/// `envoy.config.core.v3.HeaderValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderValue {
    /// The name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value, as text.
    #[prost(string, tag = "2")]
    pub value: String,
    /// The value, as bytes (`encode_raw_headers`).
    #[prost(bytes = "vec", tag = "3")]
    pub raw_value: Vec<u8>,
}

/// `envoy.config.core.v3.HeaderValueOption`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderValueOption {
    /// The header.
    #[prost(message, optional, tag = "1")]
    pub header: Option<HeaderValue>,
    /// `HeaderAppendAction`: 2 = `OVERWRITE_IF_EXISTS_OR_ADD`.
    #[prost(int32, tag = "3")]
    pub append_action: i32,
}

/// `HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD`: a header the caller sent is replaced.
const OVERWRITE_IF_EXISTS_OR_ADD: i32 = 2;

/// `envoy.service.auth.v3.CheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckResponse {
    /// The verdict: `OK` allows.
    #[prost(message, optional, tag = "1")]
    pub status: Option<RpcStatus>,
    /// What the caller gets when denied.
    #[prost(message, optional, tag = "2")]
    pub denied_response: Option<DeniedHttpResponse>,
    /// What changes when allowed.
    #[prost(message, optional, tag = "3")]
    pub ok_response: Option<OkHttpResponse>,
}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// The gRPC code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Why, in words.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `envoy.service.auth.v3.DeniedHttpResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeniedHttpResponse {
    /// The HTTP status.
    #[prost(message, optional, tag = "1")]
    pub status: Option<HttpStatus>,
    /// The answer's headers.
    #[prost(message, repeated, tag = "2")]
    pub headers: Vec<HeaderValueOption>,
    /// The answer's body.
    #[prost(string, tag = "3")]
    pub body: String,
}

/// `envoy.type.v3.HttpStatus`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpStatus {
    /// The status code (`envoy.type.v3.StatusCode` numbers are the HTTP codes).
    #[prost(int32, tag = "1")]
    pub code: i32,
}

/// `envoy.service.auth.v3.OkHttpResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OkHttpResponse {
    /// Headers set on the request sent upstream.
    #[prost(message, repeated, tag = "2")]
    pub headers: Vec<HeaderValueOption>,
    /// Headers removed from the request sent upstream.
    #[prost(string, repeated, tag = "5")]
    pub headers_to_remove: Vec<String>,
    /// Headers added to the answer sent to the caller.
    #[prost(message, repeated, tag = "6")]
    pub response_headers_to_add: Vec<HeaderValueOption>,
}

/// Why a gRPC request body is not one message this server reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Not one length-prefixed message (or more than one).
    Malformed,
    /// A compressed message: no compression is offered.
    Compressed,
}

/// The message of a gRPC request body: one length-prefixed message, uncompressed.
pub fn decode_frame(body: &[u8]) -> Result<&[u8], FrameError> {
    let (&flag, rest) = body.split_first().ok_or(FrameError::Malformed)?;
    let (length, message) = rest.split_first_chunk::<4>().ok_or(FrameError::Malformed)?;
    if flag == 1 {
        return Err(FrameError::Compressed);
    }
    if flag != 0 || message.len() != u32::from_be_bytes(*length) as usize {
        return Err(FrameError::Malformed);
    }
    Ok(message)
}

/// A message as a gRPC body: uncompressed, length-prefixed.
pub fn encode_frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + message.len());
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// Which request headers carry the method and the company when the route's context
/// extensions do not name them (`ext_authz_method_header`, `ext_authz_company_header`).
///
/// The method has no header by default: the headers of a `Check` are the caller's own, and
/// the method a route implements is the route's to say (its context extensions), not the
/// caller's. Name one only where a filter before ext_authz sets it and drops the caller's.
/// The company comes from `x-api-company` by default, the header the upstream acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderNames {
    /// The method's header, lower case, if any.
    pub method: Option<String>,
    /// The company's header, lower case.
    pub company: String,
}

impl Default for HeaderNames {
    fn default() -> Self {
        Self {
            method: None,
            company: HEADER_COMPANY.to_owned(),
        }
    }
}

impl HeaderNames {
    /// Reads the two variables (empty: the default). A name must be a valid header name; the
    /// error names the variable.
    pub fn parse(method: &str, company: &str) -> Result<Self, String> {
        let read = |text: &str, variable: &str| {
            let name = text.trim().to_ascii_lowercase();
            let token = name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            match token {
                true => Ok((!name.is_empty()).then_some(name)),
                false => Err(format!("{variable} must be a header name, not {text:?}")),
            }
        };
        Ok(Self {
            method: read(method, "ext_authz_method_header")?,
            company: read(company, "ext_authz_company_header")?
                .unwrap_or_else(|| HEADER_COMPANY.to_owned()),
        })
    }
}

/// The `/authorize` call a `Check` makes: its headers, names lower case.
pub fn authorize_headers(
    request: &CheckRequest,
    names: &HeaderNames,
    client_ip_header: &str,
) -> Vec<(String, String)> {
    let attributes = request.attributes.as_ref();
    let headers = attributes
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref())
        .map(request_headers)
        .unwrap_or_default();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let extension = |name: &str| {
        attributes
            .and_then(|a| a.context_extensions.get(name))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let mut out = Vec::new();
    for name in ["authorization", HEADER_API_KEY] {
        if let Some(value) = header(name) {
            out.push((name.to_owned(), value));
        }
    }
    let method = extension(EXTENSION_METHOD).or_else(|| names.method.as_deref().and_then(header));
    let company = extension(EXTENSION_COMPANY).or_else(|| header(&names.company));
    out.extend(method.map(|m| (HEADER_METHOD.to_owned(), m)));
    out.extend(company.map(|c| (HEADER_COMPANY.to_owned(), c)));
    let ip = attributes
        .and_then(|a| a.source.as_ref())
        .and_then(|p| p.address.as_ref())
        .and_then(|a| a.socket_address.as_ref())
        .map(|s| s.address.clone())
        .filter(|a| !a.is_empty());
    out.extend(ip.map(|ip| (client_ip_header.to_ascii_lowercase(), ip)));
    out
}

/// The request's headers, from the map or, when Envoy sends a list, from the list (names
/// lower case, values as text).
fn request_headers(http: &HttpRequest) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = http
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    if let Some(map) = &http.header_map {
        for h in &map.headers {
            let value = match h.value.is_empty() {
                true => String::from_utf8_lossy(&h.raw_value).into_owned(),
                false => h.value.clone(),
            };
            out.push((h.key.to_ascii_lowercase(), value));
        }
    }
    out
}

/// `/authorize`'s answer.
pub struct AuthorizeAnswer<'a> {
    /// Its status.
    pub status: u16,
    /// Its headers, names lower case.
    pub headers: &'a [(String, String)],
    /// Its body.
    pub body: &'a str,
}

/// The `CheckResponse` of `/authorize`'s answer (see the module's table); `sent` are the
/// headers the check sent, so that an allowed request loses the one that carried the key.
pub fn check_response(answer: &AuthorizeAnswer<'_>, sent: &[(String, String)]) -> CheckResponse {
    let pick = |names: &[&str]| -> Vec<HeaderValueOption> {
        answer
            .headers
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .map(|(n, v)| overwrite(n, v))
            .collect()
    };
    if answer.status == 204 {
        let removed = ["authorization", HEADER_API_KEY]
            .into_iter()
            .filter(|name| sent.iter().any(|(n, _)| n == name))
            .map(str::to_owned)
            .collect();
        return CheckResponse {
            status: Some(RpcStatus {
                code: code::OK,
                message: String::new(),
            }),
            denied_response: None,
            ok_response: Some(OkHttpResponse {
                headers: pick(&UPSTREAM_HEADERS),
                headers_to_remove: removed,
                response_headers_to_add: pick(&ALLOWED_RESPONSE_HEADERS),
            }),
        };
    }
    let (grpc, status) = match answer.status {
        400 => (code::INVALID_ARGUMENT, 400),
        401 => (code::UNAUTHENTICATED, 401),
        403 => (code::PERMISSION_DENIED, 403),
        429 => (code::RESOURCE_EXHAUSTED, 429),
        _ => return unavailable(),
    };
    denied(grpc, status, pick(&DENIED_HEADERS), answer.body)
}

/// The `CheckResponse` when the check could not be made: denied, 503 (fail closed).
pub fn unavailable() -> CheckResponse {
    let body = r#"{"type":"about:blank","title":"Service unavailable","status":503,"detail":"The key could not be checked; the request was not let through. Retry later.","code":"store_unavailable"}"#;
    let headers = vec![
        overwrite("content-type", "application/problem+json"),
        overwrite("retry-after", "1"),
    ];
    denied(code::UNAVAILABLE, 503, headers, body)
}

fn denied(grpc: i32, status: i32, headers: Vec<HeaderValueOption>, body: &str) -> CheckResponse {
    CheckResponse {
        status: Some(RpcStatus {
            code: grpc,
            message: String::new(),
        }),
        denied_response: Some(DeniedHttpResponse {
            status: Some(HttpStatus { code: status }),
            headers,
            body: body.to_owned(),
        }),
        ok_response: None,
    }
}

fn overwrite(name: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: name.to_owned(),
            value: value.to_owned(),
            raw_value: Vec::new(),
        }),
        append_action: OVERWRITE_IF_EXISTS_OR_ADD,
    }
}

#[cfg(test)]
mod tests;
