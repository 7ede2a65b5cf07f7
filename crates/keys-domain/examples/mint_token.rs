//! Mints an identity token for local use, signed like the platform's.
//!
//! ```text
//! # HS256, signed with the shared secret (identity_token_secret):
//! cargo run -q -p keys-domain --example mint_token -- <secret> [subject] [name] [minutes] [rights]
//!
//! # RS256, PS256, ES256 or EdDSA, like an OpenID Connect provider: creates a signing key
//! # (a private JWK) in <key.json> and prints the JWKS to configure (identity_jwks):
//! cargo run -q -p keys-domain --example mint_token -- --new-key <RS256|PS256|ES256|EdDSA> <key.json>
//! # then signs tokens with it; issuer and audience must match identity_token_issuer/_audience:
//! cargo run -q -p keys-domain --example mint_token -- --key <key.json> --iss <issuer> --aud <audience> \
//!     [subject] [name] [minutes] [rights]
//! ```
//! `rights` is a comma-separated list (default `platform_configuration`; pass `-` for none).
//! `--iss` and `--aud` may be given in the HS256 form too.

use keys_domain::identity::{PLATFORM_CONFIGURATION, sign_token};
use keys_domain::jwks::Algorithm;
use keys_domain::mint::{SigningKey, jwks_of};
use keys_domain::time::Timestamp;
use serde_json::{Value, json};

const USAGE: &str = "usage: mint_token <secret> [subject] [name] [minutes] [rights]
       mint_token --new-key <RS256|PS256|ES256|EdDSA> <key.json>
       mint_token --key <key.json> --iss <issuer> --aud <audience> [subject] [name] [minutes] [rights]";

fn fail(message: &str) -> ! {
    eprintln!("{message}\n{USAGE}");
    std::process::exit(2);
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--new-key") {
        let (Some(alg), Some(path)) = (args.get(1), args.get(2)) else {
            fail("--new-key needs an algorithm and a file");
        };
        let alg = Algorithm::from_name(alg).unwrap_or_else(|| fail("unknown algorithm"));
        let kid = format!("local-{}", Timestamp::now().unix());
        let key = SigningKey::generate(alg, &kid);
        let private = serde_json::to_string_pretty(&key.private_jwk()).expect("JSON");
        std::fs::write(path, private).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
        println!("{}", jwks_of(&[&key]));
        return;
    }
    let mut option = |name: &str| -> Option<String> {
        let at = args.iter().position(|a| a == name)?;
        let value = args.get(at + 1).cloned();
        args.drain(at..(at + 2).min(args.len()));
        Some(value.unwrap_or_else(|| fail(&format!("{name} needs a value"))))
    };
    let key_file = option("--key");
    let issuer = option("--iss");
    let audience = option("--aud");
    let signer: Box<dyn Fn(&Value) -> String> = match key_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
            let jwk: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
            let key = SigningKey::from_private_jwk(&jwk).unwrap_or_else(|e| fail(&e));
            Box::new(move |claims| key.sign(claims))
        }
        None => {
            let secret = if args.is_empty() {
                fail("a secret or --key is needed")
            } else {
                args.remove(0)
            };
            Box::new(move |claims| sign_token(claims, &secret))
        }
    };
    let subject = args.first().map_or("dev-admin", String::as_str);
    let name = args.get(1).map_or("Local administrator", String::as_str);
    let minutes: i64 = args.get(2).and_then(|m| m.parse().ok()).unwrap_or(60);
    let rights: Vec<&str> = match args.get(3).map(String::as_str) {
        None => vec![PLATFORM_CONFIGURATION],
        Some("-") => vec![],
        Some(list) => list.split(',').collect(),
    };
    let mut claims = json!({
        "sub": subject,
        "name": name,
        "iat": Timestamp::now().unix(),
        "exp": Timestamp::now().unix() + minutes * 60,
        "rights": rights,
    });
    if let Some(issuer) = issuer {
        claims["iss"] = json!(issuer);
    }
    if let Some(audience) = audience {
        claims["aud"] = json!(audience);
    }
    println!("{}", signer(&claims));
}
