//! Standard Webhooks 1.0 signing: a secret is `whsec_` followed by the standard base64 of
//! [`SECRET_BYTES`] random bytes; a message's `webhook-signature` is `v1,` followed by the
//! base64 HMAC-SHA256, keyed by the secret's bytes, of `{webhook-id}.{webhook-timestamp}.{body}`.
//! While a rotated secret still signs, the header carries both signatures, space-separated.

use hmac::{Hmac, Mac};
use keys_domain::base64url::{decode_standard, encode_standard};
use sha2::Sha256;

/// The prefix of a signing secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret.
pub const SECRET_BYTES: usize = 32;

/// A signing secret. Its `Debug` form hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

impl SigningSecret {
    /// A new random secret.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// The secret's bytes (what the stored form seals).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The form shown once to the administrator: `whsec_` + base64.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", encode_standard(&self.0))
    }

    /// Reads the shown form back (receivers and tests do).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = decode_standard(text.strip_prefix(SECRET_PREFIX)?)?;
        (!bytes.is_empty()).then_some(Self(bytes))
    }

    /// This secret's `v1,` signature of a message.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts any key");
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", encode_standard(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret still signing, space-separated.
pub fn signature_header(
    secrets: &[&SigningSecret],
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let signatures: Vec<String> = secrets
        .iter()
        .map(|s| s.sign(message_id, timestamp, body))
        .collect();
    signatures.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_webhooks_example_signature_is_reproduced() {
        // The example of the Standard Webhooks specification (and its reference libraries'
        // tests): this secret, id, timestamp and body sign to this value.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_new_secret_is_whsec_and_32_random_bytes_and_reads_back() {
        let (a, b) = (
            SigningSecret::generate().unwrap(),
            SigningSecret::generate().unwrap(),
        );
        assert_ne!(a, b);
        assert_eq!(a.bytes().len(), SECRET_BYTES);
        let shown = a.expose();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&shown), Some(a.clone()));
        assert_eq!(format!("{a:?}"), "SigningSecret(..)");
        assert_eq!(SigningSecret::parse("whsec_"), None);
        assert_eq!(SigningSecret::parse(&shown[6..]), None);
    }

    #[test]
    fn a_rotated_secret_signs_beside_the_new_one() {
        let (new, old) = (
            SigningSecret::generate().unwrap(),
            SigningSecret::generate().unwrap(),
        );
        let header = signature_header(&[&new, &old], "msg_1", 1_700_000_000, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            vec![
                new.sign("msg_1", 1_700_000_000, b"{}"),
                old.sign("msg_1", 1_700_000_000, b"{}")
            ]
        );
        assert_ne!(parts[0], parts[1]);
    }
}
