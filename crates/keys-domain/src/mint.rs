//! Signing identity tokens the way an OpenID Connect provider does, for local use (the
//! `mint_token` example) and for tests: keys generated here, kept as private JWKs, published as
//! a JWKS. Never part of a component.

use crate::base64url;
use crate::jwks::Algorithm;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Size of generated RSA keys, in bits.
pub const RSA_BITS: usize = 2048;

/// A private signing key of one of the JWKS algorithms, with its key id.
#[derive(Clone)]
pub struct SigningKey {
    /// The key id published in the JWKS and named in the tokens' `kid`.
    pub kid: String,
    /// The algorithm it signs with.
    pub alg: Algorithm,
    secret: Secret,
}

#[derive(Clone)]
enum Secret {
    Rsa(Box<rsa::RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::Rs256 => "RS256",
        Algorithm::Ps256 => "PS256",
        Algorithm::Es256 => "ES256",
        Algorithm::EdDsa => "EdDSA",
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> Value {
    Value::String(base64url::encode(bytes))
}

fn member(jwk: &Value, name: &str) -> Result<Vec<u8>, String> {
    jwk[name]
        .as_str()
        .and_then(base64url::decode)
        .ok_or_else(|| format!("the JWK has no valid `{name}`"))
}

impl SigningKey {
    /// Generates a key for `alg`.
    pub fn generate(alg: Algorithm, kid: &str) -> SigningKey {
        let secret = match alg {
            Algorithm::Rs256 | Algorithm::Ps256 => Secret::Rsa(Box::new(
                rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS)
                    .expect("RSA key generation"),
            )),
            Algorithm::Es256 => Secret::P256(
                std::iter::repeat_with(random_32)
                    .find_map(|bytes| p256::ecdsa::SigningKey::from_slice(&bytes).ok())
                    .expect("a valid scalar"),
            ),
            Algorithm::EdDsa => {
                Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(&random_32()))
            }
        };
        SigningKey {
            kid: kid.to_owned(),
            alg,
            secret,
        }
    }

    /// The public JWK, as a JWKS publishes it.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = match &self.secret {
            Secret::Rsa(key) => {
                json!({"kty": "RSA", "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be())})
            }
            Secret::P256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                json!({"kty": "EC", "crv": "P-256", "x": b64(point.x().expect("uncompressed")), "y": b64(point.y().expect("uncompressed"))})
            }
            Secret::Ed25519(key) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.verifying_key().to_bytes())})
            }
        };
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(alg_name(self.alg));
        jwk["use"] = json!("sig");
        jwk
    }

    /// The private JWK (RFC 7517 / RFC 7518 §6 members), to keep the key in a file.
    pub fn private_jwk(&self) -> Value {
        let mut jwk = self.public_jwk();
        match &self.secret {
            Secret::Rsa(key) => {
                let primes = key.primes();
                jwk["d"] = b64(key.d().to_bytes_be());
                jwk["p"] = b64(primes[0].to_bytes_be());
                jwk["q"] = b64(primes[1].to_bytes_be());
            }
            Secret::P256(key) => jwk["d"] = b64(key.to_bytes()),
            Secret::Ed25519(key) => jwk["d"] = b64(key.to_bytes()),
        }
        jwk
    }

    /// Reads a private JWK written by [`SigningKey::private_jwk`].
    pub fn from_private_jwk(jwk: &Value) -> Result<SigningKey, String> {
        let alg = jwk["alg"]
            .as_str()
            .and_then(Algorithm::from_name)
            .ok_or("the JWK's `alg` is not RS256, PS256, ES256 or EdDSA")?;
        let kid = jwk["kid"]
            .as_str()
            .ok_or("the JWK has no `kid`")?
            .to_owned();
        let big = |name| member(jwk, name).map(|b| rsa::BigUint::from_bytes_be(&b));
        let secret = match alg {
            Algorithm::Rs256 | Algorithm::Ps256 => Secret::Rsa(Box::new(
                rsa::RsaPrivateKey::from_components(
                    big("n")?,
                    big("e")?,
                    big("d")?,
                    vec![big("p")?, big("q")?],
                )
                .map_err(|e| format!("the RSA JWK is invalid: {e}"))?,
            )),
            Algorithm::Es256 => Secret::P256(
                p256::ecdsa::SigningKey::from_slice(&member(jwk, "d")?)
                    .map_err(|_| "the EC JWK's `d` is invalid")?,
            ),
            Algorithm::EdDsa => Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                &member(jwk, "d")?
                    .try_into()
                    .map_err(|_| "the OKP JWK's `d` is not 32 bytes")?,
            )),
        };
        Ok(SigningKey { kid, alg, secret })
    }

    /// Signs `claims` into a compact JWS whose header names this key's `alg` and `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": alg_name(self.alg), "kid": self.kid, "typ": "JWT"});
        self.sign_with_header(&header, claims)
    }

    /// Signs `claims` under any header (tests use it to forge `alg` and `kid`).
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            base64url::encode(header.to_string()),
            base64url::encode(claims.to_string())
        );
        let digest = Sha256::digest(input.as_bytes());
        let signature = match (&self.secret, self.alg) {
            (Secret::Rsa(key), Algorithm::Ps256) => key
                .sign_with_rng(
                    &mut rsa::rand_core::OsRng,
                    rsa::Pss::new::<Sha256>(),
                    &digest,
                )
                .expect("RSA-PSS signing"),
            (Secret::Rsa(key), _) => key
                .sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest)
                .expect("RSA signing"),
            (Secret::P256(key), _) => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
                signature.to_bytes().to_vec()
            }
            (Secret::Ed25519(key), _) => {
                use ed25519_dalek::Signer;
                key.sign(input.as_bytes()).to_bytes().to_vec()
            }
        };
        format!("{input}.{}", base64url::encode(signature))
    }
}

/// A JWKS publishing the public half of `keys`.
pub fn jwks_of(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|key| key.public_jwk()).collect::<Vec<_>>()})
}
