//! verify-key: answers whether a presented key may call a method for a company.
//!
//! `POST /verify` answers in JSON (always 200 for a well-formed body); `GET|POST /authorize`
//! is a forward-auth endpoint for API gateways (204 / 401 / 403). Both cost one checksum, one
//! SHA-256 and one key-value read; a valid answer adds the `last_used_at` bookkeeping.

use keys_domain::Error;
use keys_domain::key::PresentedKey;
use keys_domain::permissions::CompanyScope;
use keys_domain::record::{
    LAST_USED_RESOLUTION_SECS, VerificationRecord, VerifyCode, VerifyQuery, authorize_status,
    decide, last_used_key, record_key,
};
use keys_domain::time::Timestamp;
use keys_spin::http::{ApiRequest, Response, empty, json, problem_with, route_not_found};
use keys_spin::kv::Kv;
use serde::{Deserialize, Serialize};

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

#[derive(Serialize)]
struct VerifyAnswer<'a> {
    valid: bool,
    code: VerifyCode,
    #[serde(flatten)]
    details: Option<Details<'a>>,
}

#[derive(Serialize)]
struct Details<'a> {
    key_id: &'a str,
    label: &'a str,
    methods: &'a [String],
    companies: &'a CompanyScope,
    expires_at: Option<Timestamp>,
    metadata: Option<&'a serde_json::value::RawValue>,
}

/// The outcome of one verification: the code and, when the key exists, its record.
struct Outcome {
    code: VerifyCode,
    record: Option<VerificationRecord>,
}

/// Checksum, hash, one key-value read, decision. Store failures are errors (never `VALID`).
async fn check(key: &str, query: VerifyQuery<'_>) -> Result<Outcome, Error> {
    let Ok(presented) = PresentedKey::parse(key) else {
        return Ok(Outcome {
            code: VerifyCode::NotFound,
            record: None,
        });
    };
    let kv = Kv::open().await?;
    let record = match kv.get(&record_key(&presented.hash().to_hex())).await? {
        Some(bytes) => Some(
            serde_json::from_slice::<VerificationRecord>(&bytes).map_err(|_| {
                Error::unexpected("a verification record is corrupt; refusing".to_string())
            })?,
        ),
        None => None,
    };
    let now = Timestamp::now();
    let code = decide(record.as_ref(), now, query);
    if code == VerifyCode::Valid
        && let Some(r) = &record
    {
        touch_last_used(&kv, &r.key_id, now).await;
    }
    let record = record.filter(|_| code != VerifyCode::NotFound);
    Ok(Outcome { code, record })
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
    let outcome = check(&body.key, query).await?;
    let details = outcome.record.as_ref().map(|r| Details {
        key_id: &r.key_id,
        label: &r.label,
        methods: &r.methods,
        companies: &r.companies,
        expires_at: r.expires_at.map(Timestamp::from_unix),
        metadata: r.metadata.as_deref(),
    });
    json(
        200,
        &VerifyAnswer {
            valid: outcome.code == VerifyCode::Valid,
            code: outcome.code,
            details,
        },
    )
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
    let outcome = match check(key, query).await {
        Ok(outcome) => outcome,
        Err(err) => return keys_spin::http::problem(&err),
    };
    match (authorize_status(outcome.code), &outcome.record) {
        (204, Some(record)) => empty(204)
            .header(HEADER_KEY_ID, record.key_id.as_str())
            .header(HEADER_KEY_HINT, record.hint.as_str()),
        (403, _) => problem_with(
            403,
            "Forbidden",
            outcome.code.as_str(),
            "the key may not make this call",
        ),
        _ => unauthorized(outcome.code, "the API key is unknown, inactive or expired"),
    }
}

fn unauthorized(code: VerifyCode, detail: &str) -> Response {
    problem_with(401, "Unauthorized", code.as_str(), detail)
        .header("www-authenticate", "Bearer error=\"invalid_token\"")
}
