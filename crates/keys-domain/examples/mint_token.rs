//! Mints an HS256 identity token for local use, signed like the platform's.
//!
//! ```text
//! cargo run -q -p keys-domain --example mint_token -- <secret> [subject] [name] [minutes] [rights]
//! ```
//! `rights` is a comma-separated list (default `platform_configuration`; pass `-` for none).

use keys_domain::identity::{PLATFORM_CONFIGURATION, sign_token};
use keys_domain::time::Timestamp;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(secret) = args.first() else {
        eprintln!("usage: mint_token <secret> [subject] [name] [minutes] [rights]");
        std::process::exit(2);
    };
    let subject = args.get(1).map_or("dev-admin", String::as_str);
    let name = args.get(2).map_or("Local administrator", String::as_str);
    let minutes: i64 = args.get(3).and_then(|m| m.parse().ok()).unwrap_or(60);
    let rights: Vec<&str> = match args.get(4).map(String::as_str) {
        None => vec![PLATFORM_CONFIGURATION],
        Some("-") => vec![],
        Some(list) => list.split(',').collect(),
    };
    let claims = serde_json::json!({
        "sub": subject,
        "name": name,
        "iat": Timestamp::now().unix(),
        "exp": Timestamp::now().unix() + minutes * 60,
        "rights": rights,
    });
    println!("{}", sign_token(&claims, secret));
}
