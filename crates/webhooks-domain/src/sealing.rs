//! Signing secrets sealed at rest: AES-256-GCM under the deployment's
//! `webhook_encryption_key` (32 random bytes, standard base64), a fresh 96-bit nonce per
//! seal. The stored form is `v1.` + base64url(nonce ‖ ciphertext ‖ tag); the webhook's id is
//! the associated data, so a sealed secret copied to another webhook does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use keys_domain::base64url::{decode, decode_standard, encode};

const VERSION: &str = "v1.";
const NONCE_BYTES: usize = 12;

/// The key that seals signing secrets. Its `Debug` form hides it.
#[derive(Clone)]
pub struct SealingKey(Aes256Gcm);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

impl SealingKey {
    /// Reads `webhook_encryption_key`: the standard base64 of exactly 32 bytes. The error
    /// names the variable, never its value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = decode_standard(text.trim())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                "webhook_encryption_key must be 32 random bytes in standard base64 (44 characters, \
             e.g. `openssl rand -base64 32`)"
                    .to_owned()
            })?;
        Aes256Gcm::new_from_slice(&bytes)
            .map(Self)
            .map_err(|_| "webhook_encryption_key has the wrong length".to_owned())
    }

    /// Seals `secret` for the webhook `webhook_id`.
    pub fn seal(&self, webhook_id: &str, secret: &[u8]) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| format!("random: {e}"))?;
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: webhook_id.as_bytes(),
                },
            )
            .map_err(|_| "sealing failed".to_owned())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", encode(out)))
    }

    /// Opens a sealed secret of the webhook `webhook_id`; `None` when it was not sealed by
    /// this key for this webhook, or was altered.
    pub fn open(&self, webhook_id: &str, stored: &str) -> Option<Vec<u8>> {
        let bytes = decode(stored.strip_prefix(VERSION)?)?;
        if bytes.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: webhook_id.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keys_domain::base64url::encode_standard;

    fn key(byte: u8) -> SealingKey {
        SealingKey::parse(&encode_standard([byte; 32])).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_for_its_webhook_only() {
        let sealed = key(1).seal("wh_a", b"secret bytes").unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("secret"));
        assert_eq!(key(1).open("wh_a", &sealed).unwrap(), b"secret bytes");
        assert_eq!(key(2).open("wh_a", &sealed), None);
        assert_eq!(key(1).open("wh_b", &sealed), None);
    }

    #[test]
    fn each_seal_uses_a_new_nonce_and_an_altered_seal_does_not_open() {
        let (a, b) = (
            key(1).seal("wh_a", b"same").unwrap(),
            key(1).seal("wh_a", b"same").unwrap(),
        );
        assert_ne!(a, b);
        let mut altered = a.into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            key(1).open("wh_a", &String::from_utf8(altered).unwrap()),
            None
        );
        assert_eq!(key(1).open("wh_a", "v2.AAAA"), None);
        assert_eq!(key(1).open("wh_a", "v1.AAAA"), None);
    }

    #[test]
    fn the_key_must_be_32_bytes_of_standard_base64() {
        for bad in [
            "",
            "short",
            &encode_standard([0u8; 16]),
            &encode_standard([0u8; 33]),
        ] {
            let err = SealingKey::parse(bad).unwrap_err();
            assert!(err.contains("webhook_encryption_key"));
        }
        assert_eq!(format!("{:?}", key(3)), "SealingKey(..)");
    }
}
