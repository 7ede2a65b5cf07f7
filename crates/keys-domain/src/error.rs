//! The one error type of the service and its HTTP meaning.

/// Everything a request can fail with. Client errors explain themselves; server errors say
/// nothing internal (their cause goes to the log, never to the client).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is not well-formed: bad JSON, wrong types, unknown fields, bad query.
    #[error("{detail}")]
    BadRequest {
        /// Stable machine-readable code.
        code: &'static str,
        /// What is wrong, in words.
        detail: String,
    },
    /// The request is well-formed but its content is refused (e.g. an empty label).
    #[error("{detail}")]
    Invalid {
        /// Stable machine-readable code.
        code: &'static str,
        /// What is wrong, in words.
        detail: String,
    },
    /// No identity token, or an `Authorization` header that is not `Bearer <token>`.
    #[error("{0}")]
    Unauthenticated(String),
    /// An identity token that does not verify: bad signature, refused algorithm, unknown key,
    /// wrong issuer or audience, expired, not yet valid. Answered like
    /// [`Error::Unauthenticated`], with `error="invalid_token"` in `WWW-Authenticate`.
    #[error("{0}")]
    InvalidToken(String),
    /// A token introspection client (RFC 7662 §2.1) without valid HTTP Basic credentials:
    /// 401 with code `invalid_client` (RFC 6749 §5.2) and a `Basic` challenge.
    #[error("{0}")]
    ClientUnauthenticated(String),
    /// A valid identity token without the needed right.
    #[error("{0}")]
    Forbidden(String),
    /// The addressed resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not for this HTTP method.
    #[error("method not allowed; allowed: {allow}")]
    MethodNotAllowed {
        /// The value of the `Allow` header.
        allow: String,
    },
    /// The body is larger than accepted.
    #[error("the request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not JSON.
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// The change conflicts with the current state.
    #[error("{detail}")]
    Conflict {
        /// Stable machine-readable code.
        code: &'static str,
        /// What stands in the way, in words.
        detail: String,
    },
    /// A store (SQLite or key-value) failed: the request was refused, nothing was granted.
    /// Holds the cause, for the log only.
    #[error("a store is unavailable: {0}")]
    StoreUnavailable(String),
    /// A store failed after the change was committed to SQLite, while the key's verification
    /// records were being brought up to it: they grant no more than the state before the
    /// change and the state after it both do, until the call is repeated or the records are
    /// rebuilt. Answered like [`Error::StoreUnavailable`]; holds the cause, for the log only.
    #[error("a store is unavailable after the commit: {0}")]
    StoreFailedAfterCommit(String),
    /// The identity provider's JWKS could not be fetched and no usable copy is cached: the
    /// token could not be checked, so it was not accepted. Holds the cause, for the log only.
    #[error("the identity provider is unavailable: {0}")]
    IdentityProviderUnavailable(String),
    /// A service outside this one (a secret scanner's public keys) could not be reached or
    /// answered unusably, so the request could not be checked: 502. Holds the cause, for the
    /// log only.
    #[error("an upstream service is unavailable: {0}")]
    UpstreamUnavailable(String),
    /// Too many requests in the current window (the public leak report's limits): 429
    /// with `Retry-After`.
    #[error("{detail}")]
    TooManyRequests {
        /// Which limit, in words.
        detail: String,
        /// Seconds until the window ends.
        retry_after_secs: i64,
    },
    /// A feature the deployment has not configured (webhooks without their encryption key):
    /// 503 with code `not_configured`. Holds what is missing, naming variables, never their
    /// values: it is shown to the client.
    #[error("{0}")]
    NotConfigured(String),
    /// Anything else that should not happen. Holds the cause, for the log only.
    #[error("internal error: {0}")]
    Unexpected(String),
}

impl Error {
    /// A 400 with code `invalid_request`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "invalid_request",
            detail: detail.into(),
        }
    }

    /// A 422 with code `validation_failed`.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::Invalid {
            code: "validation_failed",
            detail: detail.into(),
        }
    }

    /// A 409 with its own `code`: the change conflicts with the key's state.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }

    /// A 503 for a failing store; `cause` goes to the log only.
    pub fn store(cause: impl std::fmt::Display) -> Self {
        Self::StoreUnavailable(cause.to_string())
    }

    /// A 503 for a store failing once the change was committed; `cause` goes to the log only.
    pub fn store_after_commit(cause: impl std::fmt::Display) -> Self {
        Self::StoreFailedAfterCommit(cause.to_string())
    }

    /// A 500; `cause` goes to the log only.
    pub fn unexpected(cause: impl std::fmt::Display) -> Self {
        Self::Unexpected(cause.to_string())
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthenticated(_) | Self::InvalidToken(_) | Self::ClientUnauthenticated(_) => {
                401
            }
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict { .. } => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::Invalid { .. } => 422,
            Self::TooManyRequests { .. } => 429,
            Self::Unexpected(_) => 500,
            Self::StoreUnavailable(_)
            | Self::StoreFailedAfterCommit(_)
            | Self::IdentityProviderUnavailable(_)
            | Self::NotConfigured(_) => 503,
            Self::UpstreamUnavailable(_) => 502,
        }
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Invalid { code, .. } => code,
            Self::Unauthenticated(_) | Self::InvalidToken(_) => "unauthenticated",
            Self::ClientUnauthenticated(_) => "invalid_client",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Conflict { code, .. } => code,
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::StoreUnavailable(_) | Self::StoreFailedAfterCommit(_) => "store_unavailable",
            Self::IdentityProviderUnavailable(_) => "identity_provider_unavailable",
            Self::UpstreamUnavailable(_) => "upstream_unavailable",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::NotConfigured(_) => "not_configured",
            Self::Unexpected(_) => "internal_error",
        }
    }

    /// The short human title of this error's kind.
    pub fn title(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "Bad request",
            Self::Invalid { .. } => "Validation failed",
            Self::Unauthenticated(_) | Self::InvalidToken(_) | Self::ClientUnauthenticated(_) => {
                "Authentication required"
            }
            Self::Forbidden(_) => "Forbidden",
            Self::NotFound(_) => "Not found",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::Conflict { .. } => "Conflict",
            Self::PayloadTooLarge { .. } => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::StoreUnavailable(_)
            | Self::StoreFailedAfterCommit(_)
            | Self::IdentityProviderUnavailable(_)
            | Self::NotConfigured(_) => "Service unavailable",
            Self::UpstreamUnavailable(_) => "Bad gateway",
            Self::TooManyRequests { .. } => "Too many requests",
            Self::Unexpected(_) => "Internal error",
        }
    }

    /// The detail shown to the client: the message for client errors, a fixed sentence for
    /// server errors so nothing internal leaks.
    pub fn public_detail(&self) -> String {
        match self {
            Self::StoreUnavailable(_) => {
                "A store did not answer; the request was not carried out. Retry later.".into()
            }
            Self::StoreFailedAfterCommit(_) => "The change was saved, but a store did not answer \
                 while verification was being brought up to date: until this call is repeated \
                 or the verification records are rebuilt, verification grants no more than \
                 both the previous and the new state allow."
                .into(),
            Self::IdentityProviderUnavailable(_) => "The identity provider's signing keys could \
                 not be fetched, so the identity token could not be checked. Retry later."
                .into(),
            Self::UpstreamUnavailable(_) => "A service this request depends on could not be \
                 reached, so the request could not be checked. Retry later."
                .into(),
            Self::Unexpected(_) => "The request could not be carried out.".into(),
            other => other.to_string(),
        }
    }
}

/// Turns a serde_json error into a 400 whose detail never echoes string values from the
/// body (they could be secrets).
pub fn json_error(err: &serde_json::Error) -> Error {
    let message = redact_quoted(&err.to_string());
    Error::bad_request(format!("the JSON body is invalid: {message}"))
}

fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for ch in message.chars() {
        if ch == '"' {
            if inside {
                out.push('…');
            }
            inside = !inside;
            out.push(ch);
        } else if !inside {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_never_echo_string_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Body {
            n: u32,
        }
        let err = serde_json::from_str::<Body>(r#"{"n": "ingk_secret"}"#).unwrap_err();
        let problem = json_error(&err);
        assert_eq!(problem.status(), 400);
        assert!(!problem.to_string().contains("ingk_secret"), "{problem}");
        assert!(problem.to_string().contains("invalid type"));
    }

    #[test]
    fn server_errors_hide_their_cause() {
        let err = Error::unexpected("table api_keys is locked");
        assert_eq!(err.status(), 500);
        assert!(!err.public_detail().contains("api_keys"));
        let err = Error::store("disk full at /var/x");
        assert_eq!(err.status(), 503);
        assert!(!err.public_detail().contains("/var/x"));
        let err = Error::store_after_commit("key-value: set: timeout at 10.0.0.7");
        assert_eq!((err.status(), err.code()), (503, "store_unavailable"));
        assert!(!err.public_detail().contains("10.0.0.7"));
        assert!(err.public_detail().contains("saved"));
    }

    #[test]
    fn too_many_requests_is_a_429_saying_when_to_retry() {
        let err = Error::TooManyRequests {
            detail: "at most 10 per 60 seconds".into(),
            retry_after_secs: 42,
        };
        assert_eq!((err.status(), err.code()), (429, "rate_limited"));
        assert_eq!(err.public_detail(), "at most 10 per 60 seconds");
    }

    #[test]
    fn each_error_kind_has_its_status_and_code() {
        let cases: [(Error, u16, &str); 11] = [
            (Error::bad_request("x"), 400, "invalid_request"),
            (
                Error::ClientUnauthenticated("x".into()),
                401,
                "invalid_client",
            ),
            (Error::invalid("x"), 422, "validation_failed"),
            (Error::Unauthenticated("x".into()), 401, "unauthenticated"),
            (Error::InvalidToken("x".into()), 401, "unauthenticated"),
            (
                Error::IdentityProviderUnavailable("x".into()),
                503,
                "identity_provider_unavailable",
            ),
            (
                Error::UpstreamUnavailable("x".into()),
                502,
                "upstream_unavailable",
            ),
            (Error::Forbidden("x".into()), 403, "forbidden"),
            (
                Error::PayloadTooLarge { limit: 1 },
                413,
                "payload_too_large",
            ),
            (Error::UnsupportedMediaType, 415, "unsupported_media_type"),
            (Error::NotConfigured("x".into()), 503, "not_configured"),
        ];
        for (err, status, code) in cases {
            assert_eq!((err.status(), err.code()), (status, code));
        }
    }
}
