//! Identity tokens signed with an OpenID Connect provider's published keys (a JWKS, RFC 7517):
//! the keys, the signature check (RS256, PS256, ES256, EdDSA with Ed25519; RFC 7518, RFC
//! 8037) and how long a fetched JWKS is kept. The RSA, ECDSA and Ed25519 arithmetic is
//! RustCrypto's (`rsa`, `p256`, `ed25519-dalek`); only the JWK members are read here.

use crate::base64url;
use crate::identity::Jws;
use ed25519_dalek::Verifier as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Key-value entry holding the [`CachedDocument`](crate::upstream::CachedDocument) of
/// `identity_jwks_url`.
pub const JWKS_CACHE_KEY: &str = "meta:identity-jwks";
/// Smallest accepted RSA modulus, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest JWKS document read, in bytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Shortest time a fetched JWKS is kept, whatever its `Cache-Control` says, in seconds.
pub const MIN_CACHE_SECS: i64 = 5 * 60;
/// Longest time a fetched JWKS is kept before it is fetched again, in seconds.
pub const MAX_CACHE_SECS: i64 = 24 * 60 * 60;
/// How long a JWKS is kept when its response says nothing about caching, in seconds.
pub const DEFAULT_CACHE_SECS: i64 = 60 * 60;
/// How long an expired copy keeps being used while the provider cannot be reached, in
/// seconds.
pub const STALE_USE_SECS: i64 = 24 * 60 * 60;

/// A signature algorithm of the JWKS path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256, salt of 32 bytes.
    Ps256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// EdDSA on Ed25519.
    EdDsa,
}

impl Algorithm {
    /// The algorithm a JOSE `alg` names, if it is one of ours.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "RS256" => Some(Algorithm::Rs256),
            "PS256" => Some(Algorithm::Ps256),
            "ES256" => Some(Algorithm::Es256),
            "EdDSA" => Some(Algorithm::EdDsa),
            _ => None,
        }
    }
}

/// A public key of a supported type.
#[derive(Debug, Clone)]
enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Whether `alg` is an algorithm of this key's type (RFC 7518 §3.1: RSA keys sign RS256
    /// and PS256, P-256 keys ES256, Ed25519 keys EdDSA). This is what stops a token from
    /// choosing how its key is used.
    fn signs(&self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (PublicKey::Rsa(_), Algorithm::Rs256 | Algorithm::Ps256)
                | (PublicKey::P256(_), Algorithm::Es256)
                | (PublicKey::Ed25519(_), Algorithm::EdDsa)
        )
    }

    fn verify(&self, alg: Algorithm, input: &[u8], signature: &[u8]) -> bool {
        match (self, alg) {
            (PublicKey::Rsa(key), Algorithm::Rs256) => key
                .verify(
                    rsa::Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(input),
                    signature,
                )
                .is_ok(),
            (PublicKey::Rsa(key), Algorithm::Ps256) => key
                .verify(rsa::Pss::new::<Sha256>(), &Sha256::digest(input), signature)
                .is_ok(),
            (PublicKey::P256(key), Algorithm::Es256) => {
                // JWS carries ECDSA signatures as R || S, 32 bytes each (RFC 7518 §3.4).
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|sig| key.verify(input, &sig).is_ok())
            }
            (PublicKey::Ed25519(key), Algorithm::EdDsa) => {
                ed25519_dalek::Signature::from_slice(signature)
                    .is_ok_and(|sig| key.verify_strict(input, &sig).is_ok())
            }
            _ => false,
        }
    }
}

/// One usable key of a JWKS.
#[derive(Debug, Clone)]
struct Key {
    kid: Option<String>,
    alg: Option<Algorithm>,
    public: PublicKey,
}

/// A JWK as published; every member optional, so that a key of another type is skipped
/// rather than failing the whole set.
#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<RawJwk>,
}

impl RawJwk {
    /// The key, when it is a signature key of a supported type; `None` for anything else
    /// (encryption keys, other curves, algorithms not accepted here, RSA keys under
    /// [`MIN_RSA_BITS`], malformed members).
    fn into_key(self) -> Option<Key> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        let alg = match self.alg.as_deref() {
            None => None,
            Some(name) => Some(Algorithm::from_name(name)?),
        };
        let public = match (self.kty.as_deref()?, self.crv.as_deref()) {
            ("RSA", _) => {
                let n = rsa::BigUint::from_bytes_be(&base64url::decode(self.n.as_deref()?)?);
                let e = rsa::BigUint::from_bytes_be(&base64url::decode(self.e.as_deref()?)?);
                let key = rsa::RsaPublicKey::new(n, e).ok()?;
                if rsa::traits::PublicKeyParts::size(&key) * 8 < MIN_RSA_BITS {
                    return None;
                }
                PublicKey::Rsa(key)
            }
            ("EC", Some("P-256")) => {
                let x = base64url::decode(self.x.as_deref()?)?;
                let y = base64url::decode(self.y.as_deref()?)?;
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut sec1 = Vec::with_capacity(65);
                sec1.push(0x04);
                sec1.extend_from_slice(&x);
                sec1.extend_from_slice(&y);
                PublicKey::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).ok()?)
            }
            ("OKP", Some("Ed25519")) => {
                let x: [u8; 32] = base64url::decode(self.x.as_deref()?)?.try_into().ok()?;
                PublicKey::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(&x).ok()?)
            }
            _ => return None,
        };
        if alg.is_some_and(|alg| !public.signs(alg)) {
            return None;
        }
        Some(Key {
            kid: self.kid,
            alg,
            public,
        })
    }
}

/// The usable keys of a JWKS document.
#[derive(Debug, Clone)]
pub struct Jwks {
    keys: Vec<Key>,
}

/// Why a token's signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No key of the set has the token's `kid` (or, without `kid`, none signs its algorithm):
    /// the provider may have rotated its keys, so the JWKS is worth fetching again.
    UnknownKey,
    /// The key the token names is not of its algorithm's type, or is reserved to another
    /// algorithm.
    AlgorithmMismatch,
    /// The signature does not verify.
    BadSignature,
    /// The token's algorithm is not one of the JWKS algorithms.
    UnsupportedAlgorithm,
}

impl Refusal {
    /// The reason, as told to the client.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::UnknownKey => "the identity token's signing key is not in the provider's JWKS",
            Refusal::AlgorithmMismatch => {
                "the identity token's algorithm does not match its signing key"
            }
            Refusal::BadSignature => "the identity token's signature does not verify",
            Refusal::UnsupportedAlgorithm => "the identity token's algorithm is not accepted",
        }
    }
}

impl Jwks {
    /// Parses a JWKS document. Keys of unsupported types are skipped; a document that is not
    /// a JWKS, or has no usable key, is an error (named for the log).
    pub fn parse(document: &[u8]) -> Result<Jwks, String> {
        if document.len() > MAX_JWKS_BYTES {
            return Err(format!("the JWKS exceeds {MAX_JWKS_BYTES} bytes"));
        }
        let raw: RawJwks =
            serde_json::from_slice(document).map_err(|e| format!("not a JWKS: {e}"))?;
        let keys: Vec<Key> = raw.keys.into_iter().filter_map(RawJwk::into_key).collect();
        if keys.is_empty() {
            return Err("the JWKS has no usable signature key".into());
        }
        Ok(Jwks { keys })
    }

    /// Checks the signature of `jws` with the key its `kid` names or, without `kid`, with any
    /// key of its algorithm's type.
    pub fn verify(&self, jws: &Jws<'_>) -> Result<(), Refusal> {
        let alg = Algorithm::from_name(&jws.header.alg).ok_or(Refusal::UnsupportedAlgorithm)?;
        let named: Vec<&Key> = match &jws.header.kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(|key| key.kid.as_deref() == Some(kid.as_str()))
                .collect(),
            None => self
                .keys
                .iter()
                .filter(|key| key.public.signs(alg))
                .collect(),
        };
        if named.is_empty() {
            return Err(Refusal::UnknownKey);
        }
        let usable: Vec<&Key> = named
            .into_iter()
            .filter(|key| key.public.signs(alg) && key.alg.is_none_or(|a| a == alg))
            .collect();
        if usable.is_empty() {
            return Err(Refusal::AlgorithmMismatch);
        }
        let input = jws.signing_input();
        if usable
            .iter()
            .any(|key| key.public.verify(alg, input, &jws.signature))
        {
            Ok(())
        } else {
            Err(Refusal::BadSignature)
        }
    }
}

/// How many verified signatures an instance remembers.
pub const VERIFIED_CAPACITY: usize = 64;

/// The tokens whose signature one instance has verified, each under one JWKS document (named
/// by the caller's generation number, which changes whenever the document does): a reused
/// instance then skips the RSA or ECDSA arithmetic for a token it has seen (an administrator's
/// screen sends the same token with every call). Only the signature is remembered; the claims
/// (expiry above all) are checked on every request. Holds SHA-256 digests, never tokens.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    entries: std::collections::VecDeque<([u8; 32], u64)>,
}

impl VerifiedTokens {
    /// Whether `jws`'s signature was verified under the document of `generation`.
    pub fn contains(&self, jws: &Jws<'_>, generation: u64) -> bool {
        let digest = Self::digest(jws);
        self.entries.contains(&(digest, generation))
    }

    /// Remembers that `jws`'s signature verified under the document of `generation`,
    /// forgetting the oldest entry beyond [`VERIFIED_CAPACITY`] and every entry of an older
    /// document.
    pub fn insert(&mut self, jws: &Jws<'_>, generation: u64) {
        self.entries.retain(|(_, g)| *g == generation);
        if self.entries.len() == VERIFIED_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back((Self::digest(jws), generation));
    }

    fn digest(jws: &Jws<'_>) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(jws.signing_input());
        hasher.update(b".");
        hasher.update(&jws.signature);
        hasher.finalize().into()
    }
}

/// How long a fetched JWKS is fresh, from its response's `Cache-Control` and `Age`: the
/// `max-age` less the `Age`, [`DEFAULT_CACHE_SECS`] without `max-age`, and always between
/// [`MIN_CACHE_SECS`] and [`MAX_CACHE_SECS`] (`no-cache` and `no-store` give the minimum: a
/// JWKS fetched per request would make the provider part of every admin call).
pub fn cache_secs(cache_control: Option<&str>, age: Option<&str>) -> i64 {
    let mut secs = DEFAULT_CACHE_SECS;
    for directive in cache_control.unwrap_or("").split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-cache" || directive == "no-store" {
            return MIN_CACHE_SECS;
        }
        if let Some(value) = directive.strip_prefix("max-age=") {
            secs = value.trim_matches('"').parse().unwrap_or(MIN_CACHE_SECS);
        }
    }
    let age: i64 = age.and_then(|a| a.trim().parse().ok()).unwrap_or(0);
    secs.saturating_sub(age)
        .clamp(MIN_CACHE_SECS, MAX_CACHE_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{ClaimPath, ClaimRules};
    use crate::mint::{SigningKey, jwks_of};
    use crate::time::Timestamp;
    use serde_json::{Value, json};
    use std::sync::OnceLock;

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    /// One key per algorithm, generated once per test run (RSA generation takes a while).
    fn keys() -> &'static [SigningKey; 4] {
        static KEYS: OnceLock<[SigningKey; 4]> = OnceLock::new();
        KEYS.get_or_init(|| {
            let rsa = SigningKey::generate(Algorithm::Rs256, "rsa-1");
            let mut pss = rsa.clone();
            pss.alg = Algorithm::Ps256;
            pss.kid = "rsa-pss".into();
            [
                rsa,
                pss,
                SigningKey::generate(Algorithm::Es256, "ec-1"),
                SigningKey::generate(Algorithm::EdDsa, "ed-1"),
            ]
        })
    }

    fn jwks() -> Jwks {
        let all: Vec<&SigningKey> = keys().iter().collect();
        Jwks::parse(jwks_of(&all).to_string().as_bytes()).unwrap()
    }

    fn claims() -> Value {
        json!({"sub": "u-1", "exp": NOW.unix() + 300, "rights": ["platform_configuration"]})
    }

    fn check(token: &str) -> Result<(), Refusal> {
        jwks().verify(&Jws::parse(token).unwrap())
    }

    #[test]
    fn tokens_of_each_algorithm_verify_with_their_published_key() {
        for key in keys() {
            let token = key.sign(&claims());
            assert_eq!(check(&token), Ok(()), "{:?}", key.alg);
            let rules = ClaimRules {
                issuer: None,
                audience: None,
                rights_claim: ClaimPath::parse("rights").unwrap(),
                name_claim: ClaimPath::parse("name").unwrap(),
                max_lifetime_secs: crate::identity::DEFAULT_MAX_LIFETIME_SECS,
            };
            let caller = Jws::parse(&token).unwrap().caller(&rules, NOW).unwrap();
            assert_eq!(caller.subject, "u-1");
        }
    }

    #[test]
    fn a_token_signed_by_another_key_or_tampered_with_does_not_verify() {
        for key in keys() {
            let stranger = SigningKey::generate(key.alg, &key.kid);
            assert_eq!(
                check(&stranger.sign(&claims())),
                Err(Refusal::BadSignature),
                "{:?}",
                key.alg
            );

            let token = key.sign(&claims());
            let (head, rest) = token.split_once('.').unwrap();
            let (_, signature) = rest.split_once('.').unwrap();
            let mut forged = claims();
            forged["sub"] = json!("someone-else");
            let forged = format!(
                "{head}.{}.{signature}",
                base64url::encode(forged.to_string())
            );
            assert_eq!(check(&forged), Err(Refusal::BadSignature), "{:?}", key.alg);
        }
    }

    #[test]
    fn a_token_may_not_pick_an_algorithm_its_key_is_not_for() {
        let [rsa, _, ec, ed] = keys();
        // ES256 and EdDSA headers naming the RSA key, RS256 naming the EC key...
        for (signer, alg, kid) in [
            (ec, "ES256", &rsa.kid),
            (ed, "EdDSA", &ec.kid),
            (rsa, "RS256", &ed.kid),
            (rsa, "PS256", &rsa.kid),
        ] {
            let token = signer.sign_with_header(&json!({"alg": alg, "kid": kid}), &claims());
            assert_eq!(
                check(&token),
                Err(Refusal::AlgorithmMismatch),
                "{alg} with {kid}"
            );
        }
        let token = rsa.sign_with_header(&json!({"alg": "HS256", "kid": rsa.kid}), &claims());
        assert_eq!(check(&token), Err(Refusal::UnsupportedAlgorithm));
    }

    #[test]
    fn an_unknown_kid_is_told_apart_so_the_jwks_can_be_fetched_again() {
        let newcomer = SigningKey::generate(Algorithm::Es256, "ec-2");
        assert_eq!(check(&newcomer.sign(&claims())), Err(Refusal::UnknownKey));
        let only_ec = Jwks::parse(jwks_of(&[&keys()[2]]).to_string().as_bytes()).unwrap();
        let token = keys()[0].sign_with_header(&json!({"alg": "RS256"}), &claims());
        assert_eq!(
            only_ec.verify(&Jws::parse(&token).unwrap()),
            Err(Refusal::UnknownKey)
        );
        assert_eq!(
            check(&token),
            Ok(()),
            "without kid, any key of the type is tried"
        );
    }

    #[test]
    fn keys_of_other_types_are_skipped_and_a_set_without_usable_keys_is_refused() {
        let mut set = jwks_of(&[&keys()[2]]);
        let list = set["keys"].as_array_mut().unwrap();
        list.push(json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}));
        list.push(json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"}));
        list.push(json!({"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB", "kid": "enc"}));
        list.push(json!({"kty": "RSA", "n": base64url::encode([0xffu8; 128]), "e": "AQAB", "kid": "rsa-1024"}));
        list.push(json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "bad-point"}));
        let jwks = Jwks::parse(set.to_string().as_bytes()).unwrap();
        assert_eq!(jwks.keys.len(), 1);
        for kid in ["hmac", "p384", "enc", "rsa-1024", "bad-point"] {
            let token = keys()[2].sign_with_header(&json!({"alg": "ES256", "kid": kid}), &claims());
            assert_eq!(
                jwks.verify(&Jws::parse(&token).unwrap()),
                Err(Refusal::UnknownKey),
                "{kid}"
            );
        }
        for bad in [
            &b"{}"[..],
            b"[]",
            b"not json",
            br#"{"keys": []}"#,
            br#"{"keys": [{"kty": "oct"}]}"#,
        ] {
            assert!(
                Jwks::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_jwk_reserved_to_an_algorithm_refuses_the_others() {
        let mut jwk = keys()[0].public_jwk();
        jwk["alg"] = json!("PS256");
        let jwks = Jwks::parse(json!({"keys": [jwk]}).to_string().as_bytes()).unwrap();
        let rs256 = keys()[0].sign(&claims());
        assert_eq!(
            jwks.verify(&Jws::parse(&rs256).unwrap()),
            Err(Refusal::AlgorithmMismatch)
        );
    }

    #[test]
    fn private_jwks_round_trip() {
        for key in keys() {
            let again = SigningKey::from_private_jwk(&key.private_jwk()).unwrap();
            assert_eq!(again.public_jwk(), key.public_jwk());
            assert_eq!(check(&again.sign(&claims())), Ok(()));
        }
    }

    #[test]
    fn verified_signatures_are_remembered_per_document_and_bounded() {
        let key = &keys()[2];
        let tokens: Vec<String> = (0..=VERIFIED_CAPACITY)
            .map(|n| key.sign(&json!({"sub": format!("u-{n}"), "exp": 1})))
            .collect();
        let jws: Vec<Jws<'_>> = tokens.iter().map(|t| Jws::parse(t).unwrap()).collect();
        let mut verified = VerifiedTokens::default();
        assert!(!verified.contains(&jws[0], 1));
        verified.insert(&jws[0], 1);
        assert!(verified.contains(&jws[0], 1));
        assert!(
            !verified.contains(&jws[0], 2),
            "another document: verify again"
        );
        assert!(!verified.contains(&jws[1], 1));
        for one in &jws[1..] {
            verified.insert(one, 1);
        }
        assert!(
            !verified.contains(&jws[0], 1),
            "the oldest is forgotten beyond the capacity"
        );
        assert!(verified.contains(&jws[VERIFIED_CAPACITY], 1));
        verified.insert(&jws[0], 2);
        assert!(
            !verified.contains(&jws[VERIFIED_CAPACITY], 1),
            "a new document drops the rest"
        );
        let (input, _) = tokens[0].rsplit_once('.').unwrap();
        let other_signature = format!("{input}.{}", base64url::encode([7u8; 64]));
        assert!(
            !verified.contains(&Jws::parse(&other_signature).unwrap(), 2),
            "the same claims with another signature are not a hit"
        );
    }

    #[test]
    fn the_cache_lifetime_follows_cache_control_within_bounds() {
        for (cache_control, age, secs) in [
            (None, None, DEFAULT_CACHE_SECS),
            (Some("public, max-age=7200"), None, 7200),
            (Some("max-age=7200"), Some("200"), 7000),
            (Some("max-age=10"), None, MIN_CACHE_SECS),
            (Some("max-age=31536000"), None, MAX_CACHE_SECS),
            (Some("no-store"), None, MIN_CACHE_SECS),
            (Some("max-age=3600, no-cache"), None, MIN_CACHE_SECS),
            (Some("max-age=junk"), None, MIN_CACHE_SECS),
        ] {
            assert_eq!(
                cache_secs(cache_control, age),
                secs,
                "{cache_control:?} {age:?}"
            );
        }
    }
}
