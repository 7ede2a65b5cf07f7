//! Base64url without padding (RFC 4648 §5), the encoding of JSON Web Token parts, and the
//! standard padded alphabet (RFC 4648 §4) of Standard Webhooks' secrets and signatures
//! ([`encode_standard`], [`decode_standard`]).
//!
//! Hand-written rather than taken from the `base64` crate: the service needs only these two
//! forms, and the crate's general engine cost every admin component about 4 KB of code.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes `bytes` in the standard alphabet (`+`, `/`), padded with `=`.
pub fn encode_standard(bytes: impl AsRef<[u8]>) -> String {
    let mut out: String = encode(bytes)
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// Decodes padded standard base64, refusing anything but its one canonical form.
pub fn decode_standard(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) || text.contains(['-', '_']) {
        return None;
    }
    let unpadded = text.strip_suffix("==").or_else(|| text.strip_suffix('='));
    let unpadded = unpadded.unwrap_or(text);
    if unpadded.contains('=') {
        return None;
    }
    let url: String = unpadded
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    decode(&url)
}

/// Encodes `bytes`, without padding.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    let bytes = bytes.as_ref();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Decodes unpadded base64url. Refuses any other character, padding, an impossible length
/// and non-zero unused bits, so every byte string has exactly one accepted encoding.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(sextet(c)?) << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1;
        if n & (0x00ff_ffff >> (8 * bytes)) != 0 {
            return None;
        }
        out.extend((0..bytes).map(|i| (n >> (16 - 8 * i)) as u8));
    }
    Some(out)
}

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_4648_test_vectors_encode_and_decode() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain), encoded);
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn the_url_alphabet_is_used_and_every_byte_round_trips() {
        assert_eq!(encode([0xfb, 0xff, 0xbf]), "-_-_");
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..all.len() {
            assert_eq!(decode(&encode(&all[..len])).unwrap(), &all[..len]);
        }
    }

    #[test]
    fn the_standard_form_pads_and_uses_plus_and_slash() {
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v")] {
            assert_eq!(encode_standard(plain), encoded);
            assert_eq!(decode_standard(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(encode_standard([0xfb, 0xff, 0xbf]), "+/+/");
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..all.len() {
            assert_eq!(
                decode_standard(&encode_standard(&all[..len])).unwrap(),
                &all[..len]
            );
        }
        for bad in ["Zg", "Zg=", "Z===", "Zm8=Zm8=", "-_-_", "Zh==", "Zm9v\n"] {
            assert_eq!(decode_standard(bad), None, "{bad}");
        }
    }

    #[test]
    fn anything_but_canonical_unpadded_base64url_is_refused() {
        for bad in ["Z", "Zg==", "Zm9v+", "Zm9v/", "Zm 9v", "Zh", "Zm9", "Zm9vY"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
