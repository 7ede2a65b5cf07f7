//! verify-key: answers whether a presented key may call a method for a company.
//!
//! `POST /verify` answers in JSON (always 200 for a well-formed body); `GET|POST /authorize`
//! is a forward-auth endpoint for API gateways (204 / 401 / 403). Both cost one checksum, one
//! SHA-256 and one key-value read; a valid answer adds the `last_used_at` bookkeeping.

use keys_domain::Error;
use keys_domain::key::PresentedKey;
use keys_domain::record::{
    LAST_USED_RESOLUTION_SECS, RecordView, VerifyCode, VerifyQuery, authorize_status, decide,
    last_used_key, record_key, verify_answer,
};
use keys_domain::time::Timestamp;
use keys_spin::deadline::EDGE_STORE_DEADLINE;
use keys_spin::http::{ApiRequest, Response, empty, json_bytes, problem_with, route_not_found};
use keys_spin::kv::Kv;
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

keys_spin::export_http_handler!(dispatch);

/// Routes a request on its path under `/api/v1`.
async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    match (req.path.as_str(), req.method.as_str()) {
        ("/verify", "POST") => {
            req.no_query()?;
            verify(req).await
        }
        ("/verify", _) => Err(Error::MethodNotAllowed { allow: "POST" }),
        ("/health", "GET") => {
            req.no_query()?;
            keys_spin::health::answer_edge(EDGE_STORE_DEADLINE).await
        }
        ("/health", _) => Err(Error::MethodNotAllowed { allow: "GET" }),
        (path, method) if path == "/authorize" || path.starts_with("/authorize/") => match method {
            // Anything after /authorize (and any query) is the request Envoy's ext_authz
            // forwards: ignored, the key is only ever read from the headers.
            "GET" | "POST" => Ok(authorize(req).await),
            _ => Err(Error::MethodNotAllowed { allow: "GET, POST" }),
        },
        (path, _) => Err(route_not_found(path)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    key: String,
    method: Option<String>,
    company: Option<String>,
}

/// Checksum, hash, one key-value read, decision; calls `answer` with the code and, when the
/// key exists, its record. Store failures and unreadable records are errors (never `VALID`).
async fn check<T>(
    key: &str,
    query: VerifyQuery<'_>,
    answer: impl FnOnce(VerifyCode, Option<&RecordView<'_>>) -> T,
) -> Result<T, Error> {
    let Ok(presented) = PresentedKey::parse(key) else {
        return Ok(answer(VerifyCode::NotFound, None));
    };
    let kv = Kv::open(EDGE_STORE_DEADLINE).await?;
    let stored = kv.get(&record_key(&presented.hash().to_hex())).await?;
    let record = match &stored {
        Some(bytes) => Some(RecordView::decode(bytes).ok_or_else(|| {
            Error::unexpected("a verification record is unreadable; refusing".to_string())
        })?),
        None => None,
    };
    let now = Timestamp::now();
    let code = decide(record.as_ref(), now, query);
    if code == VerifyCode::Valid
        && let Some(r) = &record
    {
        touch_last_used(&kv, r.key_id, now).await;
    }
    Ok(answer(
        code,
        record.as_ref().filter(|_| code != VerifyCode::NotFound),
    ))
}

/// Records the last use of a key, at most once per minute. Display information only: a
/// failure here is logged and does not change the answer.
async fn touch_last_used(kv: &Kv, key_id: &str, now: Timestamp) {
    let name = last_used_key(key_id);
    let previous = kv.get(&name).await.ok().flatten().and_then(|b| {
        std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
    });
    if previous.is_none_or(|p| now.unix() - p >= LAST_USED_RESOLUTION_SECS)
        && let Err(err) = kv.set(&name, now.unix().to_string().as_bytes()).await
    {
        eprintln!("warning: could not record last use: {err:#}");
    }
}

async fn verify(req: &ApiRequest) -> Result<Response, Error> {
    let body: VerifyBody = req.json()?;
    let query = VerifyQuery {
        method: body.method.as_deref(),
        company: body.company.as_deref(),
    };
    let answer = check(&body.key, query, verify_answer).await?;
    Ok(json_bytes(200, answer))
}

/// Forward-auth: 204 with the key's id and hint, 401 for a missing, malformed, unknown,
/// inactive or expired key, 403 for a method or company not allowed.
async fn authorize(req: &ApiRequest) -> Response {
    let bearer = req
        .header("authorization")
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(key) = bearer.or_else(|| req.header(HEADER_API_KEY).map(str::trim)) else {
        return unauthorized(
            VerifyCode::NotFound,
            "no API key: send `Authorization: Bearer <key>` or `X-Api-Key`",
        );
    };
    let query = VerifyQuery {
        method: req.header(HEADER_METHOD),
        company: req.header(HEADER_COMPANY),
    };
    let decided = check(key, query, |code, record| {
        let status = authorize_status(code);
        match (status, record) {
            (204, Some(record)) => empty(204)
                .header(HEADER_KEY_ID, record.key_id)
                .header(HEADER_KEY_HINT, record.hint),
            (403, _) => problem_with(
                403,
                "Forbidden",
                code.as_str(),
                "the key may not make this call",
            ),
            _ => unauthorized(code, "the API key is unknown, inactive or expired"),
        }
    });
    decided
        .await
        .unwrap_or_else(|err| keys_spin::http::problem(&err))
}

fn unauthorized(code: VerifyCode, detail: &str) -> Response {
    problem_with(401, "Unauthorized", code.as_str(), detail)
        .header("www-authenticate", "Bearer error=\"invalid_token\"")
}
