//! The scanners' public keys: where they come from (a URL, or inline for GitLab), their copy
//! in the key-value store, the refetch on an unknown key identifier (at most once per
//! [`REFETCH_AFTER_SECS`](leaks_domain::public_keys::REFETCH_AFTER_SECS)), and the check of a
//! report's signature.

use crate::misconfigured;
use keys_domain::Error;
use keys_domain::time::Timestamp;
use keys_spin::deadline::Deadline;
use keys_spin::http::ApiRequest;
use keys_spin::kv::Kv;
use keys_spin::outbound::{self, Outgoing};
use leaks_domain::public_keys::{
    LastFetch, MAX_DOCUMENT_BYTES, PublicKeys, SignatureError, Unknown,
};
use leaks_domain::report::Scanner;
use leaks_domain::url::FetchUrl;
use spin_sdk::variables;
use std::time::Duration;

/// Variable: the URL of GitHub's public keys.
const VAR_GITHUB_URL: &str = "github_secret_scanning_keys_url";
/// Variable: the URL of GitLab's public keys (empty: none).
const VAR_GITLAB_URL: &str = "gitlab_secret_scanning_keys_url";
/// Variable: GitLab's public keys themselves, as a document (empty: fetch them instead).
const VAR_GITLAB_INLINE: &str = "gitlab_secret_scanning_keys";
/// Key-value entry holding the last public-key document fetched, per scanner.
const KV_KEYS_PREFIX: &str = "scanner-keys:";
/// Key-value entry holding the [`LastFetch`] of the keys, per scanner.
const KV_CHECKED_PREFIX: &str = "scanner-keys-checked:";
/// How long fetching the public keys may take.
const FETCH_DEADLINE: Duration = Duration::from_secs(5);
/// The User-Agent of the fetch (GitHub's API refuses requests without one).
const USER_AGENT: &str = "ingeneo-api-keys";

/// Where a scanner's public keys come from.
pub enum Source {
    /// Fetched from this URL, and kept in the key-value store.
    Url(FetchUrl),
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
        FetchUrl::parse(&url)
            .map(Self::Url)
            .ok_or_else(|| misconfigured(name))
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
        Source::Url(url) => known_keys(scanner, url, kv, identifier).await?,
    };
    keys.verify(identifier, signature, &req.body)
        .map_err(Error::from)
}

/// The stored keys when they know `identifier`; otherwise freshly fetched ones, unless the
/// last fetch is too recent ([`LastFetch::on_unknown`]: then the stored ones, or 503 when
/// that fetch failed, so that the scanner retries).
async fn known_keys(
    scanner: Scanner,
    url: &FetchUrl,
    kv: &Kv,
    identifier: &str,
) -> Result<PublicKeys, Error> {
    let keys_entry = format!("{KV_KEYS_PREFIX}{}", scanner.as_str());
    let checked_entry = format!("{KV_CHECKED_PREFIX}{}", scanner.as_str());
    let stored = kv
        .get(&keys_entry)
        .await?
        .and_then(|bytes| PublicKeys::parse(&bytes));
    let stored = match stored {
        Some(keys) if keys.knows(identifier) => return Ok(keys),
        other => other,
    };
    let now = Timestamp::now();
    let last = kv
        .get(&checked_entry)
        .await?
        .and_then(|b| LastFetch::parse(&b));
    match (LastFetch::on_unknown(last, now.unix()), stored) {
        (Unknown::Fetch, _) => {}
        (Unknown::Refuse, Some(keys)) => return Ok(keys),
        (Unknown::Refuse, None) => return Err(SignatureError::UnknownIdentifier.into()),
        (Unknown::Unavailable, _) => return Err(unavailable()),
    }
    let fetched = fetch(url).await;
    let keys = fetched
        .as_ref()
        .ok()
        .and_then(|document| PublicKeys::parse(document));
    let this_fetch = LastFetch {
        at: now.unix(),
        ok: keys.is_some(),
    };
    kv.set(&checked_entry, this_fetch.encode().as_bytes())
        .await?;
    match (fetched, keys) {
        (Ok(document), Some(keys)) => {
            kv.set(&keys_entry, &document).await?;
            Ok(keys)
        }
        (fetched, _) => {
            let why = fetched
                .err()
                .unwrap_or_else(|| "not a public-key document".into());
            eprintln!(
                "warning: the public keys of {} could not be fetched: {why}",
                scanner.as_str()
            );
            Err(unavailable())
        }
    }
}

/// The 502 of a scanner whose public keys cannot be had now (the scanner retries).
fn unavailable() -> Error {
    Error::UpstreamUnavailable("the scanner's public keys could not be fetched".into())
}

/// GETs the document at `url` (200 only, at most [`MAX_DOCUMENT_BYTES`]).
async fn fetch(url: &FetchUrl) -> Result<Vec<u8>, String> {
    let deadline = Deadline::new("public keys", FETCH_DEADLINE);
    let request = Outgoing {
        scheme: if url.https { "https" } else { "http" },
        authority: &url.authority,
        path_and_query: &url.path_with_query,
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
