//! Documents fetched from outside and kept in the key-value store: an identity provider's
//! JWKS (`identity`) and the secret scanners' public keys (`secret-scanning`). One URL type
//! for where they come from, and one rule for when to fetch again: at once without a copy,
//! then only when the copy is stale, missing (the last fetch failed) or lacks what a request
//! needs (a token's `kid`, a report's key identifier), and at most once per refetch interval
//! (`upstream_refetch_secs`, default [`DEFAULT_REFETCH_SECS`]), so that made-up identifiers
//! cannot make the service hammer the provider.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Least time between two fetches of a document, in seconds, when `upstream_refetch_secs` is
/// not set.
pub const DEFAULT_REFETCH_SECS: i64 = 30;
/// The longest refetch interval accepted, in seconds.
pub const MAX_REFETCH_SECS: i64 = 3_600;

/// Reads `upstream_refetch_secs`: empty is [`DEFAULT_REFETCH_SECS`]; otherwise whole seconds
/// from 1 to [`MAX_REFETCH_SECS`].
pub fn refetch_secs(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(DEFAULT_REFETCH_SECS);
    }
    text.parse::<i64>()
        .ok()
        .filter(|secs| (1..=MAX_REFETCH_SECS).contains(secs))
        .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            format!(
                "upstream_refetch_secs must be whole seconds from 1 to {MAX_REFETCH_SECS}, \
                 not {text:?}"
            )
        })
}

/// An absolute `http` or `https` URL to fetch, split the way `wasi:http` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`.
    pub authority: String,
    /// `/path[?query]`.
    pub path_and_query: String,
}

impl OutboundUrl {
    /// Parses an absolute `http://` or `https://` URL (scheme in any case) without user
    /// information, fragment, white space or characters outside printable ASCII.
    pub fn parse(url: &str) -> Result<OutboundUrl, String> {
        let refuse = || format!("`{url}` is not an absolute http(s) URL");
        let (scheme, rest) = url.trim().split_once("://").ok_or_else(refuse)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(refuse());
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        let authority_ok = !authority.is_empty()
            && authority.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
            });
        let path_ok = !path.contains('#') && path.bytes().all(|b| b.is_ascii_graphic());
        if !authority_ok || !path_ok {
            return Err(refuse());
        }
        let path_and_query = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        Ok(OutboundUrl {
            scheme,
            authority: authority.to_owned(),
            path_and_query,
        })
    }
}

impl std::fmt::Display for OutboundUrl {
    /// The URL in its canonical form: `scheme://authority/path?query`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme, self.authority, self.path_and_query
        )
    }
}

/// What the store keeps of a document fetched from a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedDocument {
    /// The URL it was fetched from (a changed URL makes the copy unusable).
    pub url: String,
    /// The document of the last successful fetch, if any.
    pub document: Option<String>,
    /// When that fetch happened (Unix seconds).
    pub fetched_at: i64,
    /// Until when that document is fresh (Unix seconds).
    pub fresh_until: i64,
    /// When the last fetch was attempted, successful or not (Unix seconds).
    pub attempted_at: i64,
}

/// Whether to fetch the document now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// No fetch: use the copy (or, without one, fail until the next attempt is due).
    No,
    /// Fetch.
    Now,
}

impl CachedDocument {
    /// The stored form (JSON).
    pub fn encode(&self) -> Vec<u8> {
        // A struct of strings and integers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads the stored form; `None` when unreadable (as if never fetched).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// Whether to fetch: always without a copy of `url`; then, at most once per
    /// `interval_secs`, when the copy is stale, absent (the last fetch failed) or does not hold
    /// what the request needs (`lacking`).
    pub fn fetch(
        cached: Option<&CachedDocument>,
        url: &str,
        now: Timestamp,
        lacking: bool,
        interval_secs: i64,
    ) -> Fetch {
        let Some(cached) = cached.filter(|c| c.url == url) else {
            return Fetch::Now;
        };
        let due = now.unix() >= cached.fresh_until || cached.document.is_none() || lacking;
        if due && now.unix() - cached.attempted_at >= interval_secs {
            Fetch::Now
        } else {
            Fetch::No
        }
    }

    /// The copy after a fetch of `url` at `now`: the new document, fresh for `fresh_secs`; or,
    /// when the fetch failed (`None`), the previous copy of `url` (if any) with the attempt
    /// recorded, so that the next one waits its turn.
    pub fn after_fetch(
        previous: Option<CachedDocument>,
        url: &str,
        now: Timestamp,
        fetched: Option<(String, i64)>,
    ) -> CachedDocument {
        match fetched {
            Some((document, fresh_secs)) => CachedDocument {
                url: url.to_owned(),
                document: Some(document),
                fetched_at: now.unix(),
                fresh_until: now.unix().saturating_add(fresh_secs),
                attempted_at: now.unix(),
            },
            None => match previous.filter(|copy| copy.url == url) {
                Some(copy) => CachedDocument {
                    attempted_at: now.unix(),
                    ..copy
                },
                None => CachedDocument {
                    url: url.to_owned(),
                    document: None,
                    fetched_at: 0,
                    fresh_until: 0,
                    attempted_at: now.unix(),
                },
            },
        }
    }

    /// Whether the last attempt to fetch failed.
    pub fn last_attempt_failed(&self) -> bool {
        self.document.is_none() || self.fetched_at < self.attempted_at
    }

    /// The document to use at `now`: of `url`, fresh or stale by at most `stale_use_secs`
    /// (the provider could not be reached since).
    pub fn usable_document(&self, url: &str, now: Timestamp, stale_use_secs: i64) -> Option<&str> {
        (self.url == url && now.unix() < self.fresh_until.saturating_add(stale_use_secs))
            .then_some(self.document.as_deref())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);
    const URL: &str = "https://sso/jwks";
    const EVERY_30: i64 = DEFAULT_REFETCH_SECS;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix(NOW.unix() + secs)
    }

    fn cached(fetched_at: i64, document: bool) -> CachedDocument {
        CachedDocument {
            url: URL.into(),
            document: document.then(|| "{}".into()),
            fetched_at,
            fresh_until: fetched_at + 600,
            attempted_at: fetched_at,
        }
    }

    #[test]
    fn the_refetch_interval_is_thirty_seconds_unless_set_from_one_to_an_hour() {
        assert_eq!(refetch_secs(""), Ok(30));
        assert_eq!(refetch_secs(" 1 "), Ok(1));
        assert_eq!(refetch_secs("3600"), Ok(3_600));
        for bad in ["0", "3601", "-5", "+5", "1.5", "30s"] {
            let err = refetch_secs(bad).unwrap_err();
            assert!(err.contains("from 1 to 3600"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_document_is_fetched_when_missing_stale_or_lacking_but_at_most_once_per_interval() {
        assert_eq!(
            CachedDocument::fetch(None, URL, NOW, false, EVERY_30),
            Fetch::Now
        );
        let fresh = cached(NOW.unix(), true);
        let fetch = |copy, now, lacking| CachedDocument::fetch(Some(copy), URL, now, lacking, 30);
        assert_eq!(
            CachedDocument::fetch(Some(&fresh), "https://other/jwks", NOW, false, EVERY_30),
            Fetch::Now
        );
        assert_eq!(fetch(&fresh, at(10), false), Fetch::No);
        assert_eq!(fetch(&fresh, at(29), true), Fetch::No);
        assert_eq!(fetch(&fresh, at(30), true), Fetch::Now);
        assert_eq!(fetch(&fresh, at(600), false), Fetch::Now);
        let failed = cached(NOW.unix(), false);
        assert_eq!(fetch(&failed, at(5), false), Fetch::No);
        assert_eq!(fetch(&failed, at(30), false), Fetch::Now);
    }

    #[test]
    fn a_shorter_interval_lets_a_lacking_document_be_fetched_sooner() {
        let fresh = cached(NOW.unix(), true);
        assert_eq!(
            CachedDocument::fetch(Some(&fresh), URL, at(1), true, 1),
            Fetch::Now
        );
        assert_eq!(
            CachedDocument::fetch(Some(&fresh), URL, at(1), false, 1),
            Fetch::No,
            "a fresh copy that holds what is needed is not fetched again"
        );
    }

    #[test]
    fn a_failed_fetch_keeps_the_previous_copy_and_records_the_attempt() {
        let copy = cached(NOW.unix(), true);
        let after = CachedDocument::after_fetch(Some(copy.clone()), URL, at(40), None);
        assert_eq!(after.document, copy.document);
        assert_eq!(after.attempted_at, at(40).unix());
        assert!(after.last_attempt_failed());
        let other = CachedDocument::after_fetch(Some(copy), "https://new/jwks", at(40), None);
        assert_eq!((other.document, other.fresh_until), (None, 0));
        assert!(!cached(NOW.unix(), true).last_attempt_failed());
    }

    #[test]
    fn a_successful_fetch_replaces_the_copy_and_is_fresh_for_its_lifetime() {
        let fetched = Some(("{\"keys\":[]}".to_owned(), 300));
        let after =
            CachedDocument::after_fetch(Some(cached(NOW.unix(), true)), URL, at(50), fetched);
        assert_eq!(after.document.as_deref(), Some("{\"keys\":[]}"));
        assert_eq!(
            (after.fetched_at, after.fresh_until),
            (at(50).unix(), at(350).unix())
        );
        assert!(!after.last_attempt_failed());
        let forever = CachedDocument::after_fetch(None, URL, NOW, Some(("d".into(), i64::MAX)));
        assert_eq!(forever.fresh_until, i64::MAX);
    }

    #[test]
    fn a_copy_round_trips_through_its_stored_form_and_junk_reads_as_none() {
        let copy = cached(NOW.unix(), true);
        assert_eq!(CachedDocument::decode(&copy.encode()), Some(copy));
        assert_eq!(CachedDocument::decode(b"12 ok"), None);
    }

    #[test]
    fn a_stale_copy_serves_for_its_grace_after_it_expires_and_never_for_another_url() {
        let copy = cached(NOW.unix(), true);
        let day = 24 * 60 * 60;
        assert!(copy.usable_document(URL, at(600 + day - 1), day).is_some());
        assert!(copy.usable_document(URL, at(600 + day), day).is_none());
        assert!(
            copy.usable_document("https://other/jwks", NOW, day)
                .is_none()
        );
        assert!(
            cached(NOW.unix(), false)
                .usable_document(URL, NOW, day)
                .is_none()
        );
        let forever = CachedDocument {
            fresh_until: i64::MAX,
            ..copy
        };
        assert!(forever.usable_document(URL, at(10 * day), day).is_some());
    }

    #[test]
    fn urls_are_split_for_wasi_http_and_odd_ones_refused() {
        let url = OutboundUrl::parse(
            "https://sso.ingeneo.example/realms/ingeneo/protocol/openid-connect/certs",
        )
        .unwrap();
        assert_eq!(
            (
                url.scheme.as_str(),
                url.authority.as_str(),
                url.path_and_query.as_str()
            ),
            (
                "https",
                "sso.ingeneo.example",
                "/realms/ingeneo/protocol/openid-connect/certs"
            )
        );
        let url = OutboundUrl::parse("HTTP://127.0.0.1:8080?x=1").unwrap();
        assert_eq!(
            (
                url.scheme.as_str(),
                url.authority.as_str(),
                url.path_and_query.as_str()
            ),
            ("http", "127.0.0.1:8080", "/?x=1")
        );
        assert_eq!(url.to_string(), "http://127.0.0.1:8080/?x=1");
        let url = OutboundUrl::parse("http://h").unwrap();
        assert_eq!(url.path_and_query, "/");
        let url = OutboundUrl::parse("http://[::1]:9/keys").unwrap();
        assert_eq!(url.authority, "[::1]:9");
        for bad in [
            "",
            "sso/jwks",
            "ftp://sso/jwks",
            "https:///jwks",
            "https://u:p@sso/jwks",
            "https://sso/jwks#k",
            "https://sso/a b",
            "https://sso/é",
        ] {
            assert!(OutboundUrl::parse(bad).is_err(), "{bad:?}");
        }
    }
}
