//! The secret scanners, played by the tests: a stub server publishes GitHub's and GitLab's
//! public keys (P-256 keys generated per run), and reports are signed as the scanners sign
//! them: base64 of the DER ECDSA P-256 / SHA-256 signature over the raw body.

use crate::helpers::{App, Call, Reply};
use base64ct::{Base64, Encoding};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use rand_core::OsRng;
use serde_json::{Value, json};
use spin_test_host::stub_server::StubServer;

/// Where the stub publishes GitHub's keys.
pub const GITHUB_KEYS_PATH: &str = "/meta/public_keys/secret_scanning";
/// Where the stub publishes GitLab's keys.
pub const GITLAB_KEYS_PATH: &str = "/gitlab/secret_detection_keys";

/// A signing key of a scanner and its identifier.
pub struct ScannerKey {
    /// The identifier the scanner names in its header.
    pub id: String,
    /// The private key.
    pub key: SigningKey,
}

impl ScannerKey {
    /// A new key named `id`.
    pub fn generate(id: &str) -> Self {
        ScannerKey {
            id: id.to_owned(),
            key: SigningKey::random(&mut OsRng),
        }
    }

    /// base64 of the DER signature of `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        let signature: Signature = self.key.sign(body);
        Base64::encode_string(signature.to_der().as_bytes())
    }
}

/// A public-key document listing `keys`, in GitHub's shape.
pub fn keys_document(keys: &[&ScannerKey]) -> String {
    let entries: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(n, k)| {
            let pem = k
                .key
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap();
            json!({ "key_identifier": k.id, "key": pem, "is_current": n + 1 == keys.len() })
        })
        .collect();
    json!({ "public_keys": entries }).to_string()
}

/// The two scanners and the stub serving their keys.
pub struct Scanners {
    /// The stub server (dropping it takes the scanners' key endpoints down).
    pub server: StubServer,
    /// GitHub's current key.
    pub github: ScannerKey,
    /// GitLab's current key.
    pub gitlab: ScannerKey,
}

impl Scanners {
    /// Starts the stub with one key per scanner published.
    pub fn start() -> Scanners {
        let scanners = Scanners {
            server: StubServer::start().expect("the stub server starts"),
            github: ScannerKey::generate("github-key-1"),
            gitlab: ScannerKey::generate("gitlab-key-1"),
        };
        scanners.publish_github(&[&scanners.github]);
        scanners.server.set(
            GITLAB_KEYS_PATH,
            200,
            &[("content-type", "application/json")],
            keys_document(&[&scanners.gitlab]),
        );
        scanners
    }

    /// Makes the stub publish these keys as GitHub's.
    pub fn publish_github(&self, keys: &[&ScannerKey]) {
        self.server.set(
            GITHUB_KEYS_PATH,
            200,
            &[("content-type", "application/json")],
            keys_document(keys),
        );
    }

    /// The app's variables pointing at the stub (plus `extra`).
    pub fn variables(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let origin = format!("http://{}", self.server.host());
        let mut vars = vec![
            (
                "github_secret_scanning_keys_url".to_owned(),
                self.server.url(GITHUB_KEYS_PATH),
            ),
            (
                "github_secret_scanning_keys_origin".to_owned(),
                origin.clone(),
            ),
            (
                "gitlab_secret_scanning_keys_url".to_owned(),
                self.server.url(GITLAB_KEYS_PATH),
            ),
            ("gitlab_secret_scanning_keys_origin".to_owned(), origin),
        ];
        vars.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        vars
    }

    /// Starts the app on `spin up`, whatever `E2E_TARGET` says (the test host refuses
    /// outbound HTTP, and the component fetches the keys), with [`Scanners::variables`].
    pub fn start_app(&self, extra: &[(&str, &str)]) -> App {
        let vars = self.variables(extra);
        let borrowed: Vec<(&str, &str)> =
            vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        App::start_spin_with(&borrowed)
    }
}

/// A GitHub finding of `token`, found at `url`.
pub fn github_finding(token: &str, url: &str) -> Value {
    json!({ "token": token, "type": "ingeneo_api_key", "url": url, "source": "content" })
}

/// A request of `body` to `/secret-scanning/{scanner}` signed by `key`.
pub fn signed_call(app: &App, scanner: &str, key: &ScannerKey, body: &[u8]) -> Call {
    app.call("POST", &format!("/api/v1/secret-scanning/{scanner}"))
        .header("content-type", "application/json")
        .header(&format!("{scanner}-public-key-identifier"), &key.id)
        .header(&format!("{scanner}-public-key-signature"), &key.sign(body))
        .body(body.to_vec())
}

/// [`signed_call`] of `findings` as JSON.
pub fn signed_report(app: &App, scanner: &str, key: &ScannerKey, findings: &Value) -> Call {
    signed_call(app, scanner, key, &serde_json::to_vec(findings).unwrap())
}

/// Sends `body` to `/secret-scanning/{scanner}` signed by `key`.
pub async fn send_report(app: &App, scanner: &str, key: &ScannerKey, body: &[u8]) -> Reply {
    app.send(signed_call(app, scanner, key, body)).await
}

/// Sends GitHub's report of `findings`, signed with GitHub's current key.
pub async fn github_report(app: &App, scanners: &Scanners, findings: &Value) -> Reply {
    let body = serde_json::to_vec(findings).unwrap();
    send_report(app, "github", &scanners.github, &body).await
}
