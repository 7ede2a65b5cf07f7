//! A scanner's public keys (GitHub's `public_keys` document, GitLab's in the same shape) and
//! the verification of a report's signature: base64 of the DER-encoded ECDSA P-256
//! signature, with SHA-256, of the raw request body.

use base64ct::{Base64, Encoding};
use keys_domain::Error;
use keys_domain::time::Timestamp;
use keys_domain::upstream::{CachedDocument, Fetch};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

/// Largest public-key document accepted, in bytes (GitHub's is about 1 KB).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
struct Document {
    public_keys: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    key_identifier: String,
    key: String,
}

/// What a key identifier the stored keys lack calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Fetch the keys again.
    Fetch,
    /// Too soon after a fetch that worked: the identifier is unknown (400).
    Refuse,
    /// Too soon after a fetch that failed: the keys are unavailable (502, retry later).
    Unavailable,
}

/// What an identifier the stored keys of `url` lack calls for at `now`, given the stored copy
/// and the refetch interval (`keys_domain::upstream`): a scanner's keys are never stale, they
/// are fetched again only for an identifier they lack.
pub fn on_unknown(
    cached: Option<&CachedDocument>,
    url: &str,
    now: Timestamp,
    interval_secs: i64,
) -> Unknown {
    match CachedDocument::fetch(cached, url, now, true, interval_secs) {
        Fetch::Now => Unknown::Fetch,
        Fetch::No if cached.is_some_and(|c| !c.last_attempt_failed()) => Unknown::Refuse,
        Fetch::No => Unknown::Unavailable,
    }
}

/// The usable keys of a document, by identifier.
pub struct PublicKeys(Vec<(String, VerifyingKey)>);

/// Why a report's signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No public key has the identifier the report names.
    UnknownIdentifier,
    /// The signature is not base64 of a DER ECDSA signature, or does not verify.
    Invalid,
}

impl From<SignatureError> for Error {
    fn from(err: SignatureError) -> Self {
        match err {
            SignatureError::UnknownIdentifier => Error::BadRequest {
                code: "unknown_key_identifier",
                detail: "no public key of the scanner has this key identifier".into(),
            },
            SignatureError::Invalid => Error::BadRequest {
                code: "invalid_signature",
                detail: "the signature does not verify against the scanner's public key".into(),
            },
        }
    }
}

impl PublicKeys {
    /// Reads a document `{"public_keys": [{"key_identifier", "key" (PEM), …}]}`. Entries whose
    /// key is not a P-256 public key are skipped; `None` when the text is not such a document
    /// or holds no usable key.
    pub fn parse(json: &[u8]) -> Option<Self> {
        let document: Document = serde_json::from_slice(json).ok()?;
        let keys: Vec<(String, VerifyingKey)> = document
            .public_keys
            .into_iter()
            .filter_map(|entry| {
                let key = VerifyingKey::from_public_key_pem(entry.key.trim()).ok()?;
                Some((entry.key_identifier, key))
            })
            .collect();
        (!keys.is_empty()).then_some(Self(keys))
    }

    /// Whether a key has this identifier.
    pub fn knows(&self, identifier: &str) -> bool {
        self.0.iter().any(|(id, _)| id == identifier)
    }

    /// Checks that `signature` (base64 of DER) is the signature of `body` by the key named
    /// `identifier`.
    pub fn verify(
        &self,
        identifier: &str,
        signature: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let (_, key) = self
            .0
            .iter()
            .find(|(id, _)| id == identifier)
            .ok_or(SignatureError::UnknownIdentifier)?;
        let der = Base64::decode_vec(signature.trim()).map_err(|_| SignatureError::Invalid)?;
        let signature = Signature::from_der(&der).map_err(|_| SignatureError::Invalid)?;
        // Signers that do not normalise `s` (Go's crypto/ecdsa, OpenSSL) are as valid.
        let signature = signature.normalize_s().unwrap_or(signature);
        key.verify(body, &signature)
            .map_err(|_| SignatureError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    use rand_core::OsRng;

    fn document(entries: &[(&str, &SigningKey)]) -> Vec<u8> {
        let keys: Vec<serde_json::Value> = entries
            .iter()
            .map(|(id, key)| {
                let pem = key
                    .verifying_key()
                    .to_public_key_pem(LineEnding::LF)
                    .unwrap();
                serde_json::json!({ "key_identifier": id, "key": pem, "is_current": true })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({ "public_keys": keys })).unwrap()
    }

    fn sign(key: &SigningKey, body: &[u8]) -> String {
        let signature: Signature = key.sign(body);
        Base64::encode_string(signature.to_der().as_bytes())
    }

    #[test]
    fn a_report_signed_by_a_published_key_verifies() {
        let (old, current) = (
            SigningKey::random(&mut OsRng),
            SigningKey::random(&mut OsRng),
        );
        let keys = PublicKeys::parse(&document(&[("old", &old), ("current", &current)])).unwrap();
        let body = br#"[{"token":"x","type":"t"}]"#;

        assert_eq!(keys.verify("current", &sign(&current, body), body), Ok(()));
        assert_eq!(keys.verify("old", &sign(&old, body), body), Ok(()));
    }

    #[test]
    fn a_signature_by_another_key_or_over_another_body_is_invalid() {
        let (published, other) = (
            SigningKey::random(&mut OsRng),
            SigningKey::random(&mut OsRng),
        );
        let keys = PublicKeys::parse(&document(&[("k1", &published)])).unwrap();
        let body = b"[]";

        assert_eq!(
            keys.verify("k1", &sign(&other, body), body),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            keys.verify("k1", &sign(&published, b"[ ]"), body),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            keys.verify("k1", "not base64!", body),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            keys.verify("k1", "AAAA", body),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn an_identifier_no_key_has_is_unknown() {
        let key = SigningKey::random(&mut OsRng);
        let keys = PublicKeys::parse(&document(&[("k1", &key)])).unwrap();

        assert!(keys.knows("k1") && !keys.knows("k2"));
        assert_eq!(
            keys.verify("k2", &sign(&key, b"[]"), b"[]"),
            Err(SignatureError::UnknownIdentifier)
        );
        let err = Error::from(SignatureError::UnknownIdentifier);
        assert_eq!((err.status(), err.code()), (400, "unknown_key_identifier"));
    }

    #[test]
    fn a_signature_with_a_high_s_verifies_too() {
        let key = SigningKey::random(&mut OsRng);
        let keys = PublicKeys::parse(&document(&[("k1", &key)])).unwrap();
        let body = b"[]";
        let signed: Signature = key.sign(body);
        let low = signed.normalize_s().unwrap_or(signed);
        let (r, s) = low.split_scalars();
        let high = Signature::from_scalars(r, -*s).unwrap();
        assert!(high.normalize_s().is_some(), "the test needs a high s");

        let encoded = Base64::encode_string(high.to_der().as_bytes());
        assert_eq!(keys.verify("k1", &encoded, body), Ok(()));
    }

    #[test]
    fn an_unknown_identifier_is_fetched_at_most_once_per_interval() {
        const URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";
        let at = |secs: i64| Timestamp::from_unix(1_000 + secs);
        let worked = CachedDocument::after_fetch(None, URL, at(0), Some(("{}".into(), i64::MAX)));
        let failed = CachedDocument::after_fetch(None, URL, at(0), None);
        let stale_failed = CachedDocument::after_fetch(Some(worked.clone()), URL, at(5), None);
        assert_eq!(on_unknown(None, URL, at(0), 30), Unknown::Fetch);
        assert_eq!(on_unknown(Some(&worked), URL, at(29), 30), Unknown::Refuse);
        assert_eq!(
            on_unknown(Some(&failed), URL, at(29), 30),
            Unknown::Unavailable
        );
        assert_eq!(
            on_unknown(Some(&stale_failed), URL, at(34), 30),
            Unknown::Unavailable
        );
        assert_eq!(on_unknown(Some(&worked), URL, at(30), 30), Unknown::Fetch);
        assert_eq!(on_unknown(Some(&failed), URL, at(30), 30), Unknown::Fetch);
        assert_eq!(on_unknown(Some(&worked), URL, at(1), 1), Unknown::Fetch);
        assert_eq!(
            on_unknown(Some(&worked), "https://elsewhere/keys", at(1), 30),
            Unknown::Fetch
        );
    }

    #[test]
    fn documents_without_a_usable_key_are_refused() {
        assert!(PublicKeys::parse(b"not json").is_none());
        assert!(PublicKeys::parse(br#"{"public_keys":[]}"#).is_none());
        assert!(
            PublicKeys::parse(br#"{"public_keys":[{"key_identifier":"a","key":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}]}"#)
                .is_none()
        );
    }
}
