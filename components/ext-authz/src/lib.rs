//! ext-authz: Envoy's external authorization over gRPC
//! (`envoy.service.auth.v3.Authorization/Check`, HTTP/2), at the edge beside verify-key.
//!
//! Each `Check` asks `/authorize` the same question through Spin's local service chaining:
//! the key from `x-api-key` or `authorization: Bearer`, the method and company from the
//! route's context extensions or from the request headers `ext_authz_method_header` and
//! `ext_authz_company_header`, the caller's address from Envoy's peer address. So the verdict,
//! the limits, the usage counting and the deadlines are `/authorize`'s, and verify-key's size
//! is untouched. The answer becomes a `CheckResponse` (`keys_domain::ext_authz`); an answer
//! that does not come within [`AUTHORIZE_DEADLINE`] denies the request (fail closed).

use keys_domain::Error;
use keys_domain::ext_authz::{
    self, AuthorizeAnswer, CheckRequest, FrameError, GRPC_MEDIA_TYPE, HeaderNames,
};
use keys_spin::deadline::Deadline;
use keys_spin::handler;
use keys_spin::http::{Response, with_body};
use keys_spin::outbound::{self, Outgoing};
use keys_spin::routes::{self, Matched, Query, Route};
use prost::Message;
use std::time::Duration;

keys_spin::export_http_handler!(dispatch);

/// Where verify-key answers (Spin's local service chaining).
const VERIFY_KEY_AUTHORITY: &str = "verify-key.spin.internal";
/// Its forward-auth route.
const AUTHORIZE_PATH: &str = "/api/v1/authorize";
/// How long `/authorize` may take: its own store calls are bounded at 200 ms together; the
/// rest is room for a loaded host. Past it, the request is denied.
const AUTHORIZE_DEADLINE: Duration = Duration::from_millis(1_000);
/// The largest `/authorize` answer read (a problem body).
const MAX_ANSWER: usize = 16 * 1024;
/// Variables naming the request headers that carry the method and the company.
const VAR_METHOD_HEADER: &str = "ext_authz_method_header";
const VAR_COMPANY_HEADER: &str = "ext_authz_company_header";

/// The route of ext-authz: gRPC's path of `Check` (gRPC sends no query).
const ROUTES: &[Route] = &[Route::public(
    "POST",
    ext_authz::CHECK_PATH,
    Query::Ignored,
    handler!(check),
)];

async fn dispatch(req: &keys_spin::http::ApiRequest) -> Result<Response, Error> {
    routes::serve_public(ROUTES, req).await
}

async fn check(m: &Matched<'_>) -> Result<Response, Error> {
    let req = m.req;
    let is_grpc = req
        .header("content-type")
        .is_some_and(|t| t.starts_with(GRPC_MEDIA_TYPE));
    if !is_grpc {
        return Err(Error::UnsupportedMediaType);
    }
    let message = match ext_authz::decode_frame(&req.body) {
        Ok(message) => message,
        Err(FrameError::Compressed) => {
            return Ok(grpc_error(
                ext_authz::code::UNIMPLEMENTED,
                "compressed messages are not accepted",
            ));
        }
        Err(FrameError::Malformed) => {
            return Ok(grpc_error(
                ext_authz::code::INVALID_ARGUMENT,
                "the body is not one gRPC message",
            ));
        }
    };
    let Ok(request) = CheckRequest::decode(message) else {
        return Ok(grpc_error(
            ext_authz::code::INVALID_ARGUMENT,
            "the message is not a CheckRequest",
        ));
    };
    let names = header_names().await?;
    let ip_header = keys_spin::config::client_ip_header().await;
    let sent = ext_authz::authorize_headers(&request, &names, &ip_header);
    let response = match ask_authorize(&sent).await {
        Ok(answer) => answer,
        Err(err) => {
            eprintln!("warning: a Check was denied, /authorize did not answer: {err}");
            ext_authz::unavailable()
        }
    };
    Ok(grpc_message(&response.encode_to_vec()))
}

/// Asks `/authorize` with the check's headers; its answer as a `CheckResponse`.
async fn ask_authorize(sent: &[(String, String)]) -> Result<ext_authz::CheckResponse, Error> {
    let headers: Vec<(&str, &str)> = sent.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let request = Outgoing {
        scheme: "http",
        authority: VERIFY_KEY_AUTHORITY,
        path_and_query: AUTHORIZE_PATH,
        headers: &headers,
        body: None,
    };
    let deadline = Deadline::new("verify-key", AUTHORIZE_DEADLINE);
    let answer = outbound::send(&deadline, "authorize", request, MAX_ANSWER).await?;
    let answer_headers: Vec<(String, String)> = answer.headers();
    let body = String::from_utf8_lossy(&answer.body);
    let answer = AuthorizeAnswer {
        status: answer.status,
        headers: &answer_headers,
        body: &body,
    };
    Ok(ext_authz::check_response(&answer, sent))
}

/// The header names of the method and the company (a malformed variable fails the check
/// with a 500 whose log line names it).
async fn header_names() -> Result<HeaderNames, Error> {
    let method = keys_spin::auth::variable(VAR_METHOD_HEADER).await?;
    let company = keys_spin::auth::variable(VAR_COMPANY_HEADER).await?;
    HeaderNames::parse(
        method.as_deref().unwrap_or_default(),
        company.as_deref().unwrap_or_default(),
    )
    .map_err(Error::unexpected)
}

/// A gRPC answer carrying `message`, with `grpc-status: 0` in its trailers.
fn grpc_message(message: &[u8]) -> Response {
    with_body(200, GRPC_MEDIA_TYPE, ext_authz::encode_frame(message)).trailer("grpc-status", "0")
}

/// A gRPC error with no message (*Trailers-Only*: the status in the headers).
fn grpc_error(code: i32, message: &str) -> Response {
    with_body(200, GRPC_MEDIA_TYPE, Vec::new())
        .header("grpc-status", code.to_string())
        .header("grpc-message", message)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_table_serves_the_documented_operations_spin_routes_here() {
        keys_spin::conformance::assert_documented(
            "ext-authz",
            super::ROUTES,
            // gRPC's Check, documented in docs/gateway.md (not an HTTP/JSON operation).
            &["POST /envoy.service.auth.v3.Authorization/Check"],
        );
    }
}
