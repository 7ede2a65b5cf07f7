//! The scanners' public keys: where they come from (a URL, or inline for GitLab), their copy
//! in the key-value store (a `keys_domain::upstream::CachedDocument`), the refetch on an
//! unknown key identifier (at most once per `upstream_refetch_secs`, 30 s by default:
//! [`on_unknown`]), and the check of a report's signature.

use crate::misconfigured;
use keys_domain::Error;
use keys_domain::time::Timestamp;
use keys_domain::upstream::{CachedDocument, OutboundUrl};
use keys_spin::deadline::Deadline;
use keys_spin::http::ApiRequest;
use keys_spin::kv::Kv;
use keys_spin::outbound::{self, Outgoing};
use leaks_domain::public_keys::{
    MAX_DOCUMENT_BYTES, PublicKeys, SignatureError, Unknown, on_unknown,
};
use leaks_domain::report::Scanner;
use spin_sdk::variables;
use std::time::Duration;

/// Variable: the URL of GitHub's public keys.
const VAR_GITHUB_URL: &str = "github_secret_scanning_keys_url";
/// Variable: the URL of GitLab's public keys (empty: none).
const VAR_GITLAB_URL: &str = "gitlab_secret_scanning_keys_url";
/// Variable: GitLab's public keys themselves, as a document (empty: fetch them instead).
const VAR_GITLAB_INLINE: &str = "gitlab_secret_scanning_keys";
/// Key-value entry holding the [`CachedDocument`] of a scanner's public keys, per scanner.
/// (Builds before 2026-12-06 kept the document and its last fetch under `scanner-keys:` and
/// `scanner-keys-checked:`, which are no longer read: the keys are fetched once more.)
const KV_DOCUMENT_PREFIX: &str = "scanner-document:";
/// How long fetching the public keys may take.
const FETCH_DEADLINE: Duration = Duration::from_secs(5);
/// The User-Agent of the fetch (GitHub's API refuses requests without one).
const USER_AGENT: &str = "ingeneo-api-keys";

/// Where a scanner's public keys come from.
pub enum Source {
    /// Fetched from this URL, and kept in the key-value store.
    Url(OutboundUrl),
    /// Given in the configuration.
    Inline(String),
}

impl Source {
    /// The configured source of `scanner`'s keys; 404 for GitLab when it has none (the
    /// deployment does not take GitLab's reports).
    pub async fn configured(scanner: Scanner) -> Result<Self, Error> {
        if scanner == Scanner::GitLab {
            let inline = variable(VAR_GITLAB_INLINE).await?;
            if !inline.trim().is_empty() {
                return Ok(Self::Inline(inline));
            }
        }
        let name = match scanner {
            Scanner::GitHub => VAR_GITHUB_URL,
            Scanner::GitLab => VAR_GITLAB_URL,
        };
        let url = variable(name).await?;
        if url.is_empty() && scanner == Scanner::GitLab {
            return Err(Error::NotFound(
                "this deployment takes no GitLab secret-detection reports".into(),
            ));
        }
        OutboundUrl::parse(&url)
            .map(Self::Url)
            .map_err(|_| misconfigured(name))
    }
}

async fn variable(name: &str) -> Result<String, Error> {
    variables::get(name).await.map_err(|_| misconfigured(name))
}

/// Checks that the report was signed by `scanner`: its key identifier and signature headers
/// (400 `invalid_signature` when missing), a known identifier (400 `unknown_key_identifier`),
/// a signature of the raw body that verifies (400 `invalid_signature`).
pub async fn authenticate(
    scanner: Scanner,
    source: &Source,
    kv: &Kv,
    req: &ApiRequest,
) -> Result<(), Error> {
    let header = |name| req.header(name).map(str::trim).filter(|v| !v.is_empty());
    let (Some(identifier), Some(signature)) = (
        header(scanner.key_identifier_header()),
        header(scanner.signature_header()),
    ) else {
        return Err(Error::BadRequest {
            code: "invalid_signature",
            detail: format!(
                "a report must carry the {} and {} headers",
                scanner.key_identifier_header(),
                scanner.signature_header()
            ),
        });
    };
    let keys = match source {
        Source::Inline(document) => PublicKeys::parse(document.as_bytes())
            .ok_or_else(|| misconfigured(VAR_GITLAB_INLINE))?,
        Source::Url(target) => known_keys(scanner, target, kv, identifier).await?,
    };
    keys.verify(identifier, signature, &req.body)
        .map_err(Error::from)
}

/// The stored keys when they know `identifier`; otherwise freshly fetched ones, unless the
/// last fetch is too recent ([`on_unknown`]: then the stored ones, or 502 when that fetch
/// failed, so that the scanner retries). A fetch that fails is a 502 too: whether the
/// identifier is the scanner's cannot be known.
async fn known_keys(
    scanner: Scanner,
    target: &OutboundUrl,
    kv: &Kv,
    identifier: &str,
) -> Result<PublicKeys, Error> {
    let entry = format!("{KV_DOCUMENT_PREFIX}{}", scanner.as_str());
    let url = target.to_string();
    let cached: Option<CachedDocument> = kv
        .get(&entry)
        .await?
        .and_then(|bytes| CachedDocument::decode(&bytes));
    let now = Timestamp::now();
    let stored = cached
        .as_ref()
        .and_then(|copy| copy.usable_document(&url, now, 0))
        .and_then(|document| PublicKeys::parse(document.as_bytes()));
    let stored = match stored {
        Some(keys) if keys.knows(identifier) => return Ok(keys),
        other => other,
    };
    let interval = keys_spin::config::refetch_secs().await?;
    match (on_unknown(cached.as_ref(), &url, now, interval), stored) {
        (Unknown::Fetch, _) => {}
        (Unknown::Refuse, Some(keys)) => return Ok(keys),
        (Unknown::Refuse, None) => return Err(SignatureError::UnknownIdentifier.into()),
        (Unknown::Unavailable, _) => return Err(unavailable()),
    }
    let fetched = fetch(target).await.and_then(|document| {
        let keys = PublicKeys::parse(&document).ok_or("not a public-key document".to_owned())?;
        let text = String::from_utf8(document).map_err(|_| "not UTF-8".to_owned())?;
        Ok((keys, text))
    });
    let (keys, fetched) = match fetched {
        // The keys stay fresh until an identifier they lack comes.
        Ok((keys, text)) => (Some(keys), Some((text, i64::MAX))),
        Err(why) => {
            eprintln!(
                "warning: the public keys of {} could not be fetched: {why}",
                scanner.as_str()
            );
            (None, None)
        }
    };
    let copy = CachedDocument::after_fetch(cached, &url, now, fetched);
    kv.set(&entry, &copy.encode()).await?;
    keys.ok_or_else(unavailable)
}

/// The 502 of a scanner whose public keys cannot be had now (the scanner retries).
fn unavailable() -> Error {
    Error::UpstreamUnavailable("the scanner's public keys could not be fetched".into())
}

/// GETs the document at `target` (200 only, at most [`MAX_DOCUMENT_BYTES`]).
async fn fetch(target: &OutboundUrl) -> Result<Vec<u8>, String> {
    let deadline = Deadline::new("public keys", FETCH_DEADLINE);
    let request = Outgoing {
        scheme: &target.scheme,
        authority: &target.authority,
        path_and_query: &target.path_and_query,
        headers: &[("accept", "application/json"), ("user-agent", USER_AGENT)],
        body: None,
    };
    let answer = outbound::send(&deadline, "fetch", request, MAX_DOCUMENT_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(format!("status {}", answer.status));
    }
    Ok(answer.body)
}
