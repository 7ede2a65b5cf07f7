//! verify-key: answers whether a presented key may call a method for a company.
//!
//! `POST /verify` answers in JSON (always 200 for a well-formed body); `GET|POST /authorize`
//! is a forward-auth endpoint for API gateways (204 / 401 / 403 / 429); `POST /introspect`
//! is OAuth 2.0 Token Introspection (RFC 7662) for the clients of `introspection_clients`.
//! All three make the same verification ([`check`]), which costs one checksum, one SHA-256
//! and one key-value read (none on a hit of the record cache that `verify_cache_ms` turns
//! on: [`records`]); a key with a rate limit or quota takes its units from this instance's
//! leases, leasing more now and then ([`limits`]); usage is counted in memory and written in
//! batches ([`usage`]). Every store call is abandoned at its deadline,
//! and a verification's calls together within [`EDGE_REQUEST_BUDGET`]: during a store outage
//! the answer is a 503 within 250 ms, never a hang.

mod limits;
mod records;
mod usage;

use keys_domain::Error;
use keys_domain::introspection::{IntrospectionRequest, introspection_answer};
use keys_domain::key::PresentedKey;
use keys_domain::limits::{policy_field, state_field};
use keys_domain::record::RecordView;
use keys_domain::time::Timestamp;
use keys_domain::verify::{
    LimitStates, VerifyCode, VerifyQuery, authorize_status, decide, named_in_header, verify_answer,
};
use keys_spin::deadline::{EDGE_REQUEST_BUDGET, EDGE_STORE_DEADLINE};
use keys_spin::handler;
use keys_spin::http::{ApiRequest, Response, empty, json_bytes, problem_with};
use keys_spin::kv::LazyKv;
use keys_spin::routes::{self, Matched, NO_QUERY, Query, Route};
use serde::Deserialize;

/// Response header naming the verified key, for the upstream service.
const HEADER_KEY_ID: &str = "x-api-key-id";
/// Response header carrying the verified key's hint.
const HEADER_KEY_HINT: &str = "x-api-key-hint";
/// Request header carrying the key (alternative to `Authorization: Bearer`).
const HEADER_API_KEY: &str = "x-api-key";
/// Request header naming the method to check.
const HEADER_METHOD: &str = "x-api-method";
/// Request header naming the company to check.
const HEADER_COMPANY: &str = "x-api-company";
/// The limits of the key (draft-ietf-httpapi-ratelimit-headers).
const HEADER_RATELIMIT_POLICY: &str = "ratelimit-policy";
/// How the key's limits stand (draft-ietf-httpapi-ratelimit-headers).
const HEADER_RATELIMIT: &str = "ratelimit";

keys_spin::export_http_handler!(dispatch, usage::schedule);

/// The caller's address in a header value: its last comma-separated entry, so that a list
/// like `X-Forwarded-For` gives the address the nearest proxy appended.
fn last_address(value: &str) -> &str {
    value.rsplit(',').next().unwrap_or(value).trim()
}

/// The routes of verify-key. Anything after `/authorize` (and any query) is the request
/// Envoy's ext_authz forwards: ignored, the key is only ever read from the headers.
const ROUTES: &[Route] = &[
    Route::public("POST", "/verify", NO_QUERY, handler!(verify)),
    Route::public("POST", "/introspect", NO_QUERY, handler!(introspect)),
    Route::public("GET", "/health", NO_QUERY, handler!(health)),
    Route::public("GET", "/authorize/...", Query::Ignored, handler!(authorize)),
    Route::public(
        "POST",
        "/authorize/...",
        Query::Ignored,
        handler!(authorize),
    ),
];

async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    routes::serve_public(ROUTES, req).await
}

async fn health(_: &Matched<'_>) -> Result<Response, Error> {
    keys_spin::health::answer_edge(EDGE_STORE_DEADLINE).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    key: String,
    method: Option<String>,
    company: Option<String>,
    ip: Option<String>,
}

/// Checksum, hash, the record (one key-value read, or this instance's record cache when
/// `verify_cache_ms` is set: see [`records`]), decision, limits; counts the verification when
/// the key exists and answers with `answer`, given the code, the record and the limits'
/// states. Store failures and unreadable records are errors (never `VALID`). `answer` is a
/// trait object so that the routes share one copy of this code (generic, one copy per route
/// of the three made `verify_key.wasm` 3 KB larger).
async fn check(
    key: &str,
    query: VerifyQuery<'_>,
    answer: &dyn Fn(VerifyCode, Option<&RecordView<'_>>, &LimitStates) -> Response,
) -> Result<Response, Error> {
    let Ok(presented) = PresentedKey::parse(key) else {
        return Ok(answer(VerifyCode::NotFound, None, &LimitStates::default()));
    };
    let kv = LazyKv::within(EDGE_STORE_DEADLINE, EDGE_REQUEST_BUDGET);
    let found = records::lookup(&kv, &presented.hash()).await?;
    let record = match &found.record {
        Some(bytes) => Some(RecordView::decode(bytes).ok_or_else(|| {
            Error::unexpected("a verification record is unreadable; refusing".to_string())
        })?),
        None => None,
    };
    let now = Timestamp::now();
    let code = decide(record.as_ref(), now, query);
    let Some(record) = record.filter(|_| code != VerifyCode::NotFound) else {
        return Ok(answer(code, None, &LimitStates::default()));
    };
    let (code, states) = limits::apply(&kv, &record, code, now, !found.cached).await?;
    usage::count(record.key_id, code, &query, now);
    Ok(answer(code, Some(&record), &states))
}

async fn verify(m: &Matched<'_>) -> Result<Response, Error> {
    let body: VerifyBody = m.req.json()?;
    let query = VerifyQuery {
        method: body.method.as_deref(),
        company: body.company.as_deref(),
        ip: body.ip.as_deref(),
        strict: false,
    };
    let answer = |code, record: Option<&RecordView<'_>>, states: &LimitStates| {
        json_bytes(200, verify_answer(code, record, states, &query))
    };
    check(&body.key, query, &answer).await
}

/// Token introspection (RFC 7662): the caller authenticates as a client of
/// `introspection_clients` with HTTP Basic (401 otherwise, before the body is read), then
/// asks about a `token`, optionally for a `method` and a `company` (a form body). The answer
/// is always 200 with `{"active": false}` unless the key would be `VALID` for `/verify` (the
/// same check: limits consumed, usage counted, a store failure a 503). Every answer, like
/// every answer of the service, carries `Cache-Control: no-store`.
async fn introspect(m: &Matched<'_>) -> Result<Response, Error> {
    let req = m.req;
    keys_spin::config::introspection_clients()
        .await?
        .authenticate(req.single_header("authorization")?)?;
    let asked = IntrospectionRequest::parse(req.header("content-type"), &req.body)?;
    let query = VerifyQuery {
        method: asked.method.as_deref(),
        company: asked.company.as_deref(),
        ip: None,
        strict: false,
    };
    let answer = |code, record: Option<&RecordView<'_>>, _: &LimitStates| {
        json_bytes(200, introspection_answer(code, record))
    };
    check(&asked.token, query, &answer).await
}

/// Forward-auth: 204 with the key's id and hint, 401 for a missing, malformed, unknown,
/// inactive or expired key, 403 for an address, method or company not allowed (or not named
/// while the key restricts it: a check that cannot be made is a refusal), 429 with
/// `Retry-After` when a rate limit or quota is used up, 400 for a request that names the
/// key, method or company twice. Answers for a key with limits carry `RateLimit-Policy` and
/// `RateLimit`.
///
/// The key, method and company each come from exactly one header line, and the caller's
/// address from the last entry of its header's last line (the one the nearest proxy
/// appended). Two lines of one of them, or a key both in `Authorization` and `X-Api-Key`, are
/// a 400: proxies and servers disagree on which line wins, and a caller must not get to
/// choose.
async fn authorize(m: &Matched<'_>) -> Result<Response, Error> {
    let req = m.req;
    let bearer = req
        .single_header("authorization")?
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let api_key = req.single_header(HEADER_API_KEY)?.map(str::trim);
    let key = match (bearer, api_key) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_request(
                "send the API key once: `Authorization: Bearer <key>` or `X-Api-Key`, not both",
            ));
        }
        (Some(key), None) | (None, Some(key)) => key,
        (None, None) => {
            return Ok(unauthorized(
                VerifyCode::NotFound,
                "no API key: send `Authorization: Bearer <key>` or `X-Api-Key`",
            ));
        }
    };
    let query = VerifyQuery {
        method: named_in_header(req.single_header(HEADER_METHOD)?),
        company: named_in_header(req.single_header(HEADER_COMPANY)?),
        // The lines of a list header are one list in order: its last entry is in the last line.
        ip: req
            .last_header_line(&keys_spin::config::client_ip_header().await)
            .map(last_address),
        strict: true,
    };
    let answer = |code, record: Option<&RecordView<'_>>, states: &LimitStates| {
        let status = authorize_status(code);
        let response = match (status, record) {
            (204, Some(record)) => empty(204)
                .header(HEADER_KEY_ID, record.key_id)
                .header(HEADER_KEY_HINT, record.hint)
                .header("cache-control", "no-store"),
            (403, _) => problem_with(
                403,
                "Forbidden",
                code.as_str(),
                forbidden_detail(code, &query),
            ),
            (429, _) => {
                let exhausted = match code {
                    VerifyCode::RateLimited => states.rate_limit,
                    _ => states.quota,
                };
                let retry_after = exhausted.map_or(1, |s| s.reset);
                problem_with(
                    429,
                    "Too Many Requests",
                    code.as_str(),
                    limited_detail(code),
                )
                .header("retry-after", retry_after.to_string())
            }
            _ => unauthorized(code, "the API key is unknown, inactive or expired"),
        };
        with_limit_fields(response, states)
    };
    check(key, query, &answer).await
}

/// Why a 403 refused the call.
fn forbidden_detail(code: VerifyCode, query: &VerifyQuery<'_>) -> &'static str {
    match code {
        VerifyCode::IpNotAllowed => "the key may not be used from this address",
        VerifyCode::MethodNotAllowed if query.method.is_none() => {
            "no method named (`X-Api-Method`), and the key does not grant every method"
        }
        VerifyCode::CompanyNotAllowed if query.company.is_none() => {
            "no company named (`X-Api-Company`), and the key is restricted to companies"
        }
        _ => "the key may not make this call",
    }
}

/// Why a 429 refused the call.
fn limited_detail(code: VerifyCode) -> &'static str {
    match code {
        VerifyCode::RateLimited => "the key's rate limit is used up for now",
        _ => "the key's quota is used up for this period",
    }
}

/// Adds `RateLimit-Policy` and `RateLimit` for a key with a rate limit or quota.
fn with_limit_fields(response: Response, states: &LimitStates) -> Response {
    let (rate, quota) = (states.rate_limit.as_ref(), states.quota.as_ref());
    match (policy_field(rate, quota), state_field(rate, quota)) {
        (Some(policy), Some(state)) => response
            .header(HEADER_RATELIMIT_POLICY, policy)
            .header(HEADER_RATELIMIT, state),
        _ => response,
    }
}

fn unauthorized(code: VerifyCode, detail: &str) -> Response {
    problem_with(401, "Unauthorized", code.as_str(), detail)
        .header("www-authenticate", "Bearer error=\"invalid_token\"")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_table_serves_the_documented_operations_spin_routes_here() {
        keys_spin::conformance::assert_documented("verify-key", super::ROUTES, &[]);
    }
}
