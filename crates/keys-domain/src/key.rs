//! The API key secret: format, generation, checksum and hashing.
//!
//! A key reads `ingk_` + 43 base62 characters (256 bits from the OS CSPRNG) + 6 base62
//! characters of CRC32 checksum over those 43 characters, GitHub-style. Secret scanners find
//! leaked keys with the regular expression [`KEY_REGEX`]; garbage is rejected by the checksum
//! before any store is touched.

use sha2::{Digest, Sha256};
use std::fmt;

/// The prefix every INGENEO third-party API key starts with.
pub const KEY_PREFIX: &str = "ingk_";
/// Number of base62 characters carrying the 256 random bits.
pub const RANDOM_LEN: usize = 43;
/// Number of base62 characters of the CRC32 checksum.
pub const CHECKSUM_LEN: usize = 6;
/// Total length of a key.
pub const KEY_LEN: usize = KEY_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
/// Regular expression matching a key, for secret scanners.
pub const KEY_REGEX: &str = r"\bingk_[0-9A-Za-z]{49}\b";

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a presented string is not a well-formed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// Wrong prefix, length or characters.
    #[error("the key is not in the INGENEO key format")]
    Malformed,
    /// Right shape, wrong checksum: a typo or a made-up key.
    #[error("the key's checksum does not match")]
    BadChecksum,
}

/// A freshly generated key secret. Shown to the caller once, then only its hash is kept.
pub struct NewSecret {
    text: String,
}

impl NewSecret {
    /// Draws 256 bits from the OS CSPRNG and builds a checksummed key.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random)?;
        Ok(Self::from_random_bytes(random))
    }

    /// Builds the key for given random bytes (deterministic; used by `generate` and tests).
    pub fn from_random_bytes(random: [u8; 32]) -> Self {
        let mut text = String::with_capacity(KEY_LEN);
        text.push_str(KEY_PREFIX);
        let body = base62_fixed(&random, RANDOM_LEN);
        text.push_str(&body);
        text.push_str(&checksum(body.as_bytes()));
        Self { text }
    }

    /// The key text, to hand to the caller exactly once.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The SHA-256 of the key, the only form in which it is stored.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.text)
    }

    /// The hint shown in lists: prefix and last four characters.
    pub fn hint(&self) -> String {
        hint_of(&self.text)
    }
}

impl fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewSecret(<redacted>)")
    }
}

/// A presented key that passed the format and checksum checks.
#[derive(Clone, Copy)]
pub struct PresentedKey<'a>(&'a str);

impl<'a> PresentedKey<'a> {
    /// Checks prefix, length, alphabet and checksum, without allocating.
    pub fn parse(text: &'a str) -> Result<Self, KeyFormatError> {
        let bytes = text.as_bytes();
        if bytes.len() != KEY_LEN || !text.starts_with(KEY_PREFIX) {
            return Err(KeyFormatError::Malformed);
        }
        let rest = &bytes[KEY_PREFIX.len()..];
        if !rest.iter().all(u8::is_ascii_alphanumeric) {
            return Err(KeyFormatError::Malformed);
        }
        let (body, sum) = rest.split_at(RANDOM_LEN);
        let mut expected = [0u8; CHECKSUM_LEN];
        checksum_into(body, &mut expected);
        if expected != sum {
            return Err(KeyFormatError::BadChecksum);
        }
        Ok(Self(text))
    }

    /// The SHA-256 of the key, used to look it up.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(self.0)
    }
}

impl fmt::Debug for PresentedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresentedKey(<redacted>)")
    }
}

/// SHA-256 of a key. Lookups are by this value, so secrets are never compared directly.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Hashes a key's text.
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// Lower-case hex, 64 characters: the form stored in SQLite and in key-value keys.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        }
        out
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({})", self.to_hex())
    }
}

/// A random public identifier: `prefix` + 22 base62 characters (128 bits from the OS CSPRNG).
pub fn random_id(prefix: &str) -> Result<String, getrandom::Error> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random)?;
    Ok(format!("{prefix}{}", base62_fixed(&random, 22)))
}

/// Whether two bearer tokens are equal, compared through their SHA-256 digests with every
/// byte looked at, so that the time taken says nothing of where they differ.
pub fn tokens_equal(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b): ([u8; 32], [u8; 32]) = (Sha256::digest(a).into(), Sha256::digest(b).into());
    crate::introspection::digests_equal(&a, &b)
}

/// The hint of a key: its prefix, `...` and its last four characters (ASCII, so it fits in
/// an HTTP header).
fn hint_of(key: &str) -> String {
    format!("{KEY_PREFIX}...{}", &key[key.len() - 4..])
}

fn checksum(body: &[u8]) -> String {
    let mut out = [0u8; CHECKSUM_LEN];
    checksum_into(body, &mut out);
    out.iter().map(|&b| b as char).collect()
}

/// CRC-32 (IEEE 802.3, as in zlib and PNG), one table lookup per byte.
///
/// Hand-written rather than taken from `crc32fast`: that crate's slicing-by-16 tables are
/// 16 KiB of read-only data in every component, for a 43-byte input.
fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &b| {
        CRC32_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

/// The CRC-32 of every byte value (reflected polynomial `0xEDB88320`), built at compile time.
const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

fn checksum_into(body: &[u8], out: &mut [u8; CHECKSUM_LEN]) {
    let mut n = crc32(body);
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
}

/// Big-endian base62 of `bytes`, left-padded with '0' to `width` characters.
fn base62_fixed(bytes: &[u8], width: usize) -> String {
    let mut digits = bytes.to_vec();
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        let mut remainder: u32 = 0;
        for d in digits.iter_mut() {
            let acc = (remainder << 8) | u32::from(*d);
            *d = (acc / 62) as u8;
            remainder = acc % 62;
        }
        *slot = BASE62[remainder as usize];
    }
    debug_assert!(digits.iter().all(|&d| d == 0), "width too small");
    String::from_utf8(out).expect("base62 alphabet is ASCII")
}

/// Characters that do not show and are dropped before looking for a key in free text:
/// zero-width spaces and joiners, the word joiner and invisible operators, the byte order
/// mark, the soft hyphen, and the bidirectional marks, embeddings, overrides and isolates.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Whether `text` holds a well-formed key (prefix, alphabet, checksum) anywhere, once the
/// invisible characters are dropped: a secret pasted into a label or metadata, even behind
/// other words or a zero-width space, is found; a word merely starting with `ingk_` is not.
pub fn contains_key(text: &str) -> bool {
    let visible: String = text.chars().filter(|c| !is_invisible(*c)).collect();
    let bytes = visible.as_bytes();
    visible.match_indices(KEY_PREFIX).any(|(at, _)| {
        let starts_word = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        let end = at + KEY_LEN;
        let ends_word = bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
        starts_word
            && ends_word
            && end <= bytes.len()
            && PresentedKey::parse(&visible[at..end]).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_equal_only_when_every_byte_is() {
        assert!(tokens_equal("dispatch-token", "dispatch-token"));
        assert!(!tokens_equal("dispatch-token", "dispatch-tokem"));
        assert!(!tokens_equal("dispatch-token", "dispatch-token "));
        assert!(!tokens_equal("", "x"));
    }

    fn sample() -> NewSecret {
        NewSecret::from_random_bytes([7u8; 32])
    }

    #[test]
    fn a_generated_key_has_the_documented_shape() {
        let key = NewSecret::generate().unwrap();
        let text = key.expose();
        assert_eq!(text.len(), KEY_LEN);
        assert!(text.starts_with("ingk_"));
        assert!(text[5..].bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn a_generated_key_parses_back() {
        let key = NewSecret::generate().unwrap();
        assert!(PresentedKey::parse(key.expose()).is_ok());
    }

    #[test]
    fn two_generated_keys_differ() {
        let a = NewSecret::generate().unwrap();
        let b = NewSecret::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn the_largest_random_value_fits_the_fixed_width() {
        let key = NewSecret::from_random_bytes([0xff; 32]);
        assert_eq!(key.expose().len(), KEY_LEN);
        let zero = NewSecret::from_random_bytes([0; 32]);
        assert!(zero.expose().starts_with("ingk_0000000000"));
        assert!(PresentedKey::parse(zero.expose()).is_ok());
    }

    #[test]
    fn base62_encodes_small_numbers_like_positional_notation() {
        assert_eq!(base62_fixed(&[0, 61], 3), "00z");
        assert_eq!(base62_fixed(&[0, 62], 3), "010");
        assert_eq!(base62_fixed(&[1, 0], 3), "048"); // 256 = 4*62 + 8
    }

    #[test]
    fn the_checksum_is_the_standard_crc32() {
        // Check values of CRC-32/ISO-HDLC (zlib, PNG), the CRC that crc32fast computed for
        // every key issued before this implementation: old keys keep verifying.
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn a_single_changed_character_fails_the_checksum() {
        let key = sample();
        let text = key.expose();
        for i in KEY_PREFIX.len()..text.len() {
            let mut bytes = text.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let altered = String::from_utf8(bytes).unwrap();
            assert_eq!(
                PresentedKey::parse(&altered).unwrap_err(),
                KeyFormatError::BadChecksum,
                "position {i}"
            );
        }
    }

    #[test]
    fn wrong_prefix_length_or_alphabet_is_malformed() {
        let key = sample();
        let text = key.expose();
        let cases = [
            String::new(),
            "ingk_".to_string(),
            text.replacen("ingk_", "ingx_", 1),
            text[..text.len() - 1].to_string(),
            format!("{text}A"),
            text.replacen(&text[10..11], "-", 1),
            format!(" {}", &text[1..]),
            text.replacen(&text[20..21], "é", 1),
        ];
        for case in cases {
            assert_eq!(
                PresentedKey::parse(&case).unwrap_err(),
                KeyFormatError::Malformed,
                "{case:?}"
            );
        }
    }

    #[test]
    fn the_hash_is_the_sha256_of_the_key_text() {
        assert_eq!(
            KeyHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let key = sample();
        assert_eq!(
            key.hash(),
            PresentedKey::parse(key.expose()).unwrap().hash()
        );
    }

    #[test]
    fn the_hint_shows_the_prefix_and_last_four_characters_only() {
        let key = sample();
        let hint = key.hint();
        assert!(hint.starts_with("ingk_..."));
        assert!(key.expose().ends_with(&hint["ingk_...".len()..]));
        assert_eq!(hint.len(), "ingk_...".len() + 4);
    }

    #[test]
    fn random_ids_carry_their_prefix_and_differ() {
        let a = random_id("key_").unwrap();
        assert_eq!(a.len(), 4 + 22);
        assert!(a.starts_with("key_"));
        assert_ne!(a, random_id("key_").unwrap());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let key = sample();
        assert!(!format!("{key:?}").contains(&key.expose()[5..]));
        let presented = PresentedKey::parse(key.expose()).unwrap();
        assert!(!format!("{presented:?}").contains(&key.expose()[5..]));
    }

    #[test]
    fn a_key_is_found_in_free_text_even_behind_invisible_characters() {
        let secret = NewSecret::generate().unwrap();
        let key = secret.expose().to_string();
        assert!(contains_key(&key));
        assert!(contains_key(&format!("copy of {key}")));
        assert!(contains_key(&format!("({key})")));
        let hidden = format!("{}\u{200B}{}", &key[..10], &key[10..]);
        assert!(contains_key(&hidden), "a zero-width space inside");
        assert!(contains_key(&format!("\u{200B}{key}")));
        let mut wrong = key.clone();
        let last = if key.ends_with('A') { "B" } else { "A" };
        wrong.replace_range(KEY_LEN - 1.., last);
        assert!(!contains_key(&wrong), "a bad checksum is no key");
        assert!(!contains_key("ingk_ is our prefix"));
        assert!(!contains_key(&format!("x{key}")), "inside a longer word");
        assert!(!contains_key(&format!("{key}x")), "inside a longer word");
    }
}
