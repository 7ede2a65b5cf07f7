//! Embeds `docs/openapi.json` without the white space between its tokens: the served
//! document is the same JSON, 36 KB lighter in the component (the repository keeps it
//! indented for reading and review).

use std::path::Path;

/// The document, from this crate's directory.
const OPENAPI: &str = "../../docs/openapi.json";

fn main() {
    println!("cargo::rerun-if-changed={OPENAPI}");
    let text = std::fs::read_to_string(OPENAPI).expect("docs/openapi.json is readable");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out).join("openapi.json"), compact(&text))
        .expect("OUT_DIR is writable");
}

/// `json` without white space outside its strings.
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}
