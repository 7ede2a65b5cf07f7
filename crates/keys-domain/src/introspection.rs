//! OAuth 2.0 Token Introspection (RFC 7662) of API keys: the clients allowed to introspect
//! (the `introspection_clients` variable) and their HTTP Basic credentials, the form body of
//! a request, and the answer. The decision is `/verify`'s ([`crate::verify::decide`], then
//! the limits): a key is `active` exactly when it would be `VALID`.

use crate::base64url;
use crate::error::Error;
use crate::record::RecordView;
use crate::verify::{VerifyCode, json_string};
use sha2::{Digest, Sha256};

/// The media type of an introspection request's body (RFC 7662 §2.1).
pub const FORM: &str = "application/x-www-form-urlencoded";
/// The `token_type` of an active answer.
pub const TOKEN_TYPE: &str = "api_key";
/// The answer for any token that is not active: nothing else is said of it (RFC 7662 §2.2).
pub const INACTIVE: &[u8] = br#"{"active":false}"#;
/// The form parameters a request may carry: RFC 7662's two, and `/verify`'s method and
/// company.
const PARAMETERS: [&str; 4] = ["token", "token_type_hint", "method", "company"];
/// [`PARAMETERS`], as a refusal lists them.
const PARAMETERS_LISTED: &str = "token, token_type_hint, method, company";
/// How much of an unknown parameter's name its refusal repeats, in characters.
const ECHOED_NAME_CHARS: usize = 40;
/// The HTTP authentication scheme of introspection clients (RFC 7617).
const BASIC_SCHEME: &str = "basic";

/// A client allowed to introspect: its id and the SHA-256 of its secret.
#[derive(Clone)]
struct Client {
    id: String,
    secret_digest: [u8; 32],
}

/// The clients allowed to introspect keys. Without any, introspection is off: every request
/// is refused as unauthenticated.
#[derive(Clone, Default)]
pub struct IntrospectionClients(Vec<Client>);

impl IntrospectionClients {
    /// Parses `id:secret,id:secret…` (white space around an entry ignored; empty or blank: no
    /// client). Ids and secrets are non-empty ASCII letters, digits, `-`, `.` and `_`: the
    /// form encoding that RFC 6749 §2.3.1 asks clients to apply before Basic leaves them as
    /// they are, so clients that apply it and clients that do not send the same credentials.
    /// An id is listed once. Only the secrets' SHA-256 is kept. The error never quotes the
    /// value, which holds secrets.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let mut clients: Vec<Client> = Vec::new();
        for (n, entry) in text.split(',').map(str::trim).enumerate() {
            let (id, secret) = entry
                .split_once(':')
                .filter(|(id, secret)| is_credential(id) && is_credential(secret))
                .ok_or_else(|| {
                    format!(
                        "introspection_clients: entry {} is not `id:secret` (each non-empty \
                         ASCII letters, digits, `-`, `.` and `_`)",
                        n + 1
                    )
                })?;
            if clients.iter().any(|c| c.id == id) {
                return Err(format!(
                    "introspection_clients: the client id of entry {} is listed twice",
                    n + 1
                ));
            }
            clients.push(Client {
                id: id.to_owned(),
                secret_digest: Sha256::digest(secret).into(),
            });
        }
        Ok(Self(clients))
    }

    /// Checks a request's `Authorization` header: `Basic` (the scheme's name in any case)
    /// with a listed id and its secret (RFC 7617). Otherwise a 401 with a `Basic` challenge
    /// ([`Error::ClientUnauthenticated`]), the same for an unknown id and a wrong secret.
    ///
    /// Constant time: the presented secret's SHA-256 is compared with every client's digest
    /// byte by byte, the differences gathered with XOR and OR and read once at the end, so
    /// the time taken says nothing of how much of a secret is right, nor of its length. Ids
    /// are not secret, and compared plainly.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<(), Error> {
        let refused = |detail: &str| Err(Error::ClientUnauthenticated(detail.to_owned()));
        if self.0.is_empty() {
            return refused(
                "token introspection is off: this deployment lists no introspection client",
            );
        }
        let Some(credentials) = authorization.and_then(basic_credentials) else {
            return refused(
                "send the introspection client's id and secret as `Authorization: Basic`",
            );
        };
        let (id, secret) = credentials.split_once(':').unwrap_or((&credentials, ""));
        let digest: [u8; 32] = Sha256::digest(secret).into();
        let known = self.0.iter().fold(false, |known, client| {
            known | (client.id == id) & digests_equal(&client.secret_digest, &digest)
        });
        match known {
            true => Ok(()),
            false => refused("unknown introspection client or wrong secret"),
        }
    }
}

/// Whether `text` may be a client id or secret (see [`IntrospectionClients::parse`]).
fn is_credential(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// The `user-id:password` of a `Basic` header value (RFC 7617), when it is one: base64 with
/// padding (RFC 4648 §4) of UTF-8 text.
fn basic_credentials(header: &str) -> Option<String> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case(BASIC_SCHEME) {
        return None;
    }
    String::from_utf8(base64url::decode_standard(encoded.trim())?).ok()
}

/// Whether two digests are equal, looking at every byte whatever the differences.
pub(crate) fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let differences = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(differences) == 0
}

/// What an introspection request asks: the token, and the method and company to check it
/// for (each optional, checked as `/verify` checks them).
#[derive(Debug, PartialEq, Eq)]
pub struct IntrospectionRequest {
    /// The presented token: an API key, or anything else (then not active).
    pub token: String,
    /// The API method about to be called.
    pub method: Option<String>,
    /// The company about to be touched.
    pub company: Option<String>,
}

impl IntrospectionRequest {
    /// Reads a request's body, of media type `content_type` (parameters such as `charset`
    /// aside). A 400 for another media type, a body (or a name or value once percent-decoded)
    /// that is not UTF-8, a parameter other than `token`, `token_type_hint`, `method` and
    /// `company`, one given twice, or no `token`. `+` is a space; empty `&`-separated parts
    /// are skipped. `token_type_hint` is accepted and ignored: API keys are this server's one
    /// type of token, and RFC 7662 §2.1 lets it ignore the hint.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, Error> {
        let media = content_type.map(|v| v.split(';').next().unwrap_or("").trim());
        if !media.is_some_and(|m| m.eq_ignore_ascii_case(FORM)) {
            return Err(Error::bad_request(format!(
                "the request body must be {FORM} (RFC 7662 §2.1)"
            )));
        }
        let text = std::str::from_utf8(body)
            .map_err(|_| Error::bad_request("the form body is not UTF-8"))?;
        let mut values: [Option<String>; PARAMETERS.len()] = Default::default();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decode(name)?;
            let Some(at) = PARAMETERS.iter().position(|p| *p == name) else {
                return Err(Error::bad_request(format!(
                    "unknown form parameter `{}`; allowed: {PARAMETERS_LISTED}",
                    name.chars().take(ECHOED_NAME_CHARS).collect::<String>(),
                )));
            };
            if values[at].replace(form_decode(value)?).is_some() {
                return Err(Error::bad_request(format!(
                    "the form parameter `{name}` is repeated"
                )));
            }
        }
        let [token, _hint, method, company] = values;
        let token =
            token.ok_or_else(|| Error::bad_request("the form parameter `token` is required"))?;
        Ok(Self {
            token,
            method,
            company,
        })
    }
}

/// A form name or value, decoded: `+` is a space, then percent-decoding, to UTF-8.
fn form_decode(text: &str) -> Result<String, Error> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| Error::bad_request("a form parameter is not UTF-8 once decoded"))
}

/// The answer to the introspection of a key verified `code`: [`INACTIVE`] unless it is
/// `VALID`; otherwise `active: true`, `scope` (the grants, space-separated; absent when the
/// key has none), `client_id` and `sub` (the key's id), `token_type` ([`TOKEN_TYPE`]), `exp`
/// (when this secret stops working, Unix seconds: the key's expiry or the end of a replaced
/// secret's grace period, the earlier; absent when neither is set) and `companies` (`"all"`
/// or the ids, as `/verify` gives them) and `iat` (the key's creation, Unix seconds; absent
/// from a record written before records held it, until the key changes or the records are
/// rebuilt). Written directly, like `/verify`'s answer.
pub fn introspection_answer(code: VerifyCode, record: Option<&RecordView<'_>>) -> Vec<u8> {
    let Some(r) = record.filter(|_| code == VerifyCode::Valid) else {
        return INACTIVE.to_vec();
    };
    let mut out = Vec::with_capacity(160 + r.methods.len() + r.companies.len());
    out.extend_from_slice(b"{\"active\":true");
    // Grants need no JSON escaping (lower-case letters, digits, `_`, `-`, `.` and `*`).
    for (i, grant) in r.grants().enumerate() {
        out.extend_from_slice(if i == 0 { b",\"scope\":\"" } else { b" " });
        out.extend_from_slice(grant.as_bytes());
    }
    if r.grants().next().is_some() {
        out.push(b'"');
    }
    for name in ["client_id", "sub"] {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        json_string(&mut out, r.key_id);
    }
    out.extend_from_slice(b",\"token_type\":");
    json_string(&mut out, TOKEN_TYPE);
    if let Some(exp) = r.expires_at.into_iter().chain(r.valid_until).min() {
        out.extend_from_slice(format!(",\"exp\":{exp}").as_bytes());
    }
    if let Some(iat) = r.created_at {
        out.extend_from_slice(format!(",\"iat\":{iat}").as_bytes());
    }
    out.extend_from_slice(b",\"companies\":");
    out.extend_from_slice(r.companies.as_bytes());
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::CompanyScope;
    use crate::record::test_support::*;
    use serde_json::{Value, json};

    const GATEWAY: &str = "gateway:s3cret";

    fn clients(text: &str) -> IntrospectionClients {
        IntrospectionClients::parse(text).unwrap()
    }

    fn refusal(result: Result<(), Error>) -> String {
        match result {
            Err(err @ Error::ClientUnauthenticated(_)) => {
                assert_eq!((err.status(), err.code()), (401, "invalid_client"));
                err.to_string()
            }
            other => panic!("expected a client refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_listed_client_with_its_secret_is_authenticated() {
        let listed = clients(" other:x-y_z.1 , gateway:s3cret ");
        // base64("gateway:s3cret"), as curl -u gateway:s3cret sends it.
        for header in [
            "Basic Z2F0ZXdheTpzM2NyZXQ=",
            "basic Z2F0ZXdheTpzM2NyZXQ=",
            "BASIC  Z2F0ZXdheTpzM2NyZXQ= ",
        ] {
            assert!(listed.authenticate(Some(header)).is_ok(), "{header}");
        }
        // base64("other:x-y_z.1")
        assert!(
            listed
                .authenticate(Some("Basic b3RoZXI6eC15X3ouMQ=="))
                .is_ok()
        );
    }

    #[test]
    fn a_wrong_secret_an_unknown_id_or_no_basic_credentials_are_refused_alike() {
        let listed = clients(GATEWAY);
        let wrong = refusal(listed.authenticate(Some("Basic Z2F0ZXdheTp3cm9uZw==")));
        let unknown = refusal(listed.authenticate(Some("Basic b3RoZXI6czNjcmV0")));
        assert_eq!(
            wrong, unknown,
            "an unknown id and a wrong secret look the same"
        );
        for header in [
            None,
            Some("Bearer Z2F0ZXdheTpzM2NyZXQ="),
            Some("Basic"),
            Some("Basic Z2F0ZXdheTpzM2NyZXQ"),   // padding missing
            Some("Basic Z2F0ZXdheTpzM2NyZXQ=="), // too much padding
            Some("Basic Z2F0ZXdheQ=="),          // "gateway": no colon, no secret
            Some("Basic OnMzY3JldA=="),          // ":s3cret": no id
            Some("Basic Z2F0ZXdheTpzM2NyZXQ6d2l0aDpjb2xvbnM="), // a longer secret
            Some("Basic !!!!"),
        ] {
            refusal(listed.authenticate(header));
        }
    }

    #[test]
    fn without_clients_introspection_is_off_and_refuses_everyone() {
        for off in ["", "  "] {
            let detail = refusal(clients(off).authenticate(Some("Basic Z2F0ZXdheTpzM2NyZXQ=")));
            assert!(detail.contains("off"), "{detail}");
        }
    }

    #[test]
    fn a_malformed_client_list_is_refused_without_quoting_it() {
        for bad in [
            "gateway",
            "gateway:",
            ":s3cret",
            "gateway:s3cret,",
            "gateway:s3cret,,other:x",
            "gateway:s3c ret",
            "gateway:s3cret:more",
            "gate way:s3cret",
            "gateway:sécret",
            "gateway:s3cret,gateway:other",
        ] {
            let err = IntrospectionClients::parse(bad).err().expect(bad);
            assert!(err.starts_with("introspection_clients: "), "{err}");
            assert!(!err.contains("s3c"), "the secret is never quoted: {err}");
        }
    }

    #[test]
    fn digests_compare_equal_only_when_every_byte_is() {
        let a = [7u8; 32];
        assert!(digests_equal(&a, &a));
        for at in [0, 17, 31] {
            let mut b = a;
            b[at] ^= 1;
            assert!(!digests_equal(&a, &b), "{at}");
        }
    }

    fn form(body: &str) -> Result<IntrospectionRequest, Error> {
        IntrospectionRequest::parse(Some(FORM), body.as_bytes())
    }

    fn bad_request(result: Result<IntrospectionRequest, Error>) -> String {
        match result {
            Err(err @ Error::BadRequest { .. }) => err.to_string(),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn a_form_body_gives_the_token_and_the_method_and_company_to_check() {
        let asked = form(
            "token=ingk_abc&token_type_hint=access_token&method=employees.read&company=acme%3Afr",
        )
        .unwrap();
        assert_eq!(
            asked,
            IntrospectionRequest {
                token: "ingk_abc".into(),
                method: Some("employees.read".into()),
                company: Some("acme:fr".into()),
            }
        );
        assert_eq!(
            form("&token=a+b%2B&").unwrap(),
            IntrospectionRequest {
                token: "a b+".into(),
                method: None,
                company: None,
            }
        );
        assert_eq!(
            form("token").unwrap().token,
            "",
            "a name alone has an empty value"
        );
        let typed = IntrospectionRequest::parse(
            Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
            b"token=t",
        );
        assert_eq!(typed.unwrap().token, "t");
    }

    #[test]
    fn a_body_that_is_not_a_form_is_a_bad_request() {
        for media in [None, Some("application/json"), Some("text/plain")] {
            let detail = bad_request(IntrospectionRequest::parse(media, b"token=t"));
            assert!(detail.contains(FORM), "{detail}");
        }
        bad_request(IntrospectionRequest::parse(Some(FORM), b"token=\xff"));
        bad_request(form("token=%FF"));
        bad_request(form("%FF=t"));
    }

    #[test]
    fn a_missing_token_an_unknown_or_a_repeated_parameter_is_a_bad_request() {
        assert!(bad_request(form("")).contains("`token` is required"));
        assert!(bad_request(form("method=employees.read")).contains("`token` is required"));
        let unknown = bad_request(form("token=t&client_secret=x"));
        assert!(unknown.contains("`client_secret`"), "{unknown}");
        assert!(unknown.contains(PARAMETERS_LISTED));
        assert_eq!(PARAMETERS_LISTED, PARAMETERS.join(", "));
        let long = bad_request(form(&format!("{}=1&token=t", "n".repeat(500))));
        assert!(long.len() < 200, "a long name is cut: {long}");
        for repeated in [
            "token=a&token=b",
            "token=t&method=a.b&method=a.b",
            "token=t&token_type_hint=x&token_type_hint=x",
            "token=t&company=A&company=B",
        ] {
            assert!(
                bad_request(form(repeated)).contains("repeated"),
                "{repeated}"
            );
        }
    }

    fn answer(code: VerifyCode, record: &crate::record::VerificationRecord) -> Value {
        let bytes = record.encode().unwrap();
        let view = RecordView::decode(&bytes).unwrap();
        serde_json::from_slice(&introspection_answer(code, Some(&view))).unwrap()
    }

    #[test]
    fn a_valid_key_is_active_with_its_scope_id_companies_expiry_and_creation() {
        let mut r = record();
        r.expires_at = Some(1_893_456_000);
        assert_eq!(
            answer(VerifyCode::Valid, &r),
            json!({
                "active": true,
                "scope": "employees.read payroll.*",
                "client_id": "key_1",
                "sub": "key_1",
                "token_type": "api_key",
                "exp": 1_893_456_000,
                "iat": 1_796_000_000,
                "companies": ["ACME"],
            })
        );
        r.valid_until = Some(1_893_000_000);
        assert_eq!(
            answer(VerifyCode::Valid, &r)["exp"],
            1_893_000_000,
            "a replaced secret stops at the end of its grace period"
        );
        r.expires_at = None;
        r.valid_until = None;
        r.methods.clear();
        r.companies = CompanyScope::All;
        assert_eq!(
            answer(VerifyCode::Valid, &r),
            json!({
                "active": true,
                "client_id": "key_1",
                "sub": "key_1",
                "token_type": "api_key",
                "iat": 1_796_000_000,
                "companies": "all",
            }),
            "no grant, no scope; no expiry, no exp"
        );
    }

    #[test]
    fn a_record_of_the_previous_layout_gives_no_iat() {
        let current = String::from_utf8(record().encode().unwrap()).unwrap();
        let mut lines: Vec<&str> = current.split('\n').collect();
        lines.remove(6);
        lines[0] = "ingk-record/3";
        let v3 = lines.join("\n");
        let view = RecordView::decode(v3.as_bytes()).unwrap();
        let answer: Value =
            serde_json::from_slice(&introspection_answer(VerifyCode::Valid, Some(&view))).unwrap();
        assert_eq!(answer["active"], true);
        assert!(answer.get("iat").is_none(), "{answer}");
    }

    #[test]
    fn any_other_verdict_is_inactive_and_says_nothing_else() {
        let r = record();
        for code in [
            VerifyCode::NotFound,
            VerifyCode::Disabled,
            VerifyCode::Expired,
            VerifyCode::IpNotAllowed,
            VerifyCode::MethodNotAllowed,
            VerifyCode::CompanyNotAllowed,
            VerifyCode::RateLimited,
            VerifyCode::QuotaExceeded,
        ] {
            assert_eq!(answer(code, &r), json!({ "active": false }), "{code:?}");
        }
        assert_eq!(introspection_answer(VerifyCode::NotFound, None), INACTIVE);
    }
}
