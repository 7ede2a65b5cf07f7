//! A scanner's report: which scanner, what it found, and the answer it expects.

use keys_domain::Error;
use keys_domain::key::PresentedKey;
use serde::{Deserialize, Serialize};

/// Longest URL or source kept from a report, in characters (a longer one is cut): they are
/// shown on the key's page, and a scanner's URL is well under this.
pub const MAX_PLACE_CHARS: usize = 2048;
/// Longest token type echoed back in the feedback, in characters.
pub const MAX_TYPE_CHARS: usize = 100;

/// A secret scanner that reports leaked keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanner {
    /// GitHub's secret-scanning partner program.
    GitHub,
    /// GitLab's secret-detection partner API.
    GitLab,
}

impl Scanner {
    /// The route segment, the stored and audit form: `github` or `gitlab`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GitHub => "github",
            Self::GitLab => "gitlab",
        }
    }

    /// The request header naming the public key that signed the report (lower case).
    pub fn key_identifier_header(self) -> &'static str {
        match self {
            Self::GitHub => "github-public-key-identifier",
            Self::GitLab => "gitlab-public-key-identifier",
        }
    }

    /// The request header carrying the report's signature (lower case).
    pub fn signature_header(self) -> &'static str {
        match self {
            Self::GitHub => "github-public-key-signature",
            Self::GitLab => "gitlab-public-key-signature",
        }
    }

    /// The scanner as an audit-trail actor's name.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::GitHub => "GitHub secret scanning",
            Self::GitLab => "GitLab secret detection",
        }
    }
}

/// Who reports a leak: a secret scanner (signed), or anyone through the public report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reporter {
    /// A scanner's signed report.
    Scanner(Scanner),
    /// The public report, `POST /api/v1/leaks` (see [`crate::public_report`]).
    Public,
}

impl Reporter {
    /// The `scanner` of the key's leak and of the `leak_reported` event, and the actor's
    /// suffix (`secret-scanning:public`): `github`, `gitlab` or `public`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scanner(scanner) => scanner.as_str(),
            Self::Public => "public",
        }
    }

    /// The reporter as an audit-trail actor's name.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Scanner(scanner) => scanner.display_name(),
            Self::Public => "Public leak report",
        }
    }
}

/// What a true positive does to a live key (the `leak_action` variable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakAction {
    /// Deactivate the key and flag it (the default).
    Deactivate,
    /// Only flag it: the key keeps working.
    Report,
}

impl LeakAction {
    /// Reads the variable's value; empty is the default.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "" | "deactivate" => Some(Self::Deactivate),
            "report" => Some(Self::Report),
            _ => None,
        }
    }
}

/// One match of a report, as a scanner sends it (GitHub: `token`, `type`, `url`, `source`;
/// GitLab: `type`, `token`, `url`). Other members are ignored: scanners add fields.
#[derive(Deserialize)]
pub struct Finding {
    /// The matched text. Never logged, never stored.
    pub token: String,
    /// The scanner's name of the token format.
    #[serde(rename = "type")]
    pub token_type: String,
    /// Where the token was found.
    #[serde(default)]
    pub url: Option<String>,
    /// What kind of place it was found in (GitHub only: `content`, `commit`, `npm`, …).
    #[serde(default)]
    pub source: Option<String>,
}

impl std::fmt::Debug for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finding")
            .field("token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("url", &self.url)
            .field("source", &self.source)
            .finish()
    }
}

/// Reads a report: a JSON array of findings (anything else is a 400 that echoes nothing).
pub fn parse_report(body: &[u8]) -> Result<Vec<Finding>, Error> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        return Err(Error::bad_request(
            "a report must be a JSON array of findings",
        ));
    }
    serde_json::from_slice(body).map_err(|e| keys_domain::error::json_error(&e))
}

/// A finding whose token is in the INGENEO key format, checksum included: the only kind
/// worth a store lookup. Other tokens are ignored (left out of the answer).
pub struct WellFormed<'a> {
    /// The finding.
    pub finding: &'a Finding,
    /// SHA-256 hex of its token, the form keys are stored and looked up in.
    pub hash: String,
}

/// The findings of a report whose token is a well-formed key, in report order.
pub fn well_formed(findings: &[Finding]) -> Vec<WellFormed<'_>> {
    findings
        .iter()
        .filter_map(|finding| {
            let key = PresentedKey::parse(&finding.token).ok()?;
            Some(WellFormed {
                finding,
                hash: key.hash().to_hex(),
            })
        })
        .collect()
}

/// Whether a reported token was one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// A secret we issued: live, replaced or deleted.
    TruePositive,
    /// A well-formed token we never issued.
    FalsePositive,
}

/// One entry of the answer, as GitHub's partner protocol has it.
#[derive(Debug, Serialize)]
pub struct Feedback<'a> {
    /// SHA-256 hex of the token.
    pub token_hash: &'a str,
    /// The type the scanner gave, echoed (cut at [`MAX_TYPE_CHARS`]).
    pub token_type: String,
    /// Ours or not.
    pub label: Label,
}

impl<'a> Feedback<'a> {
    /// The feedback on one well-formed finding.
    pub fn new(found: &'a WellFormed<'_>, label: Label) -> Self {
        Self {
            token_hash: &found.hash,
            token_type: cut(&found.finding.token_type, MAX_TYPE_CHARS),
            label,
        }
    }
}

/// `text` cut to `max` characters, never inside a character.
pub fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keys_domain::key::NewSecret;

    fn key(seed: u8) -> String {
        NewSecret::from_random_bytes([seed; 32]).expose().to_owned()
    }

    #[test]
    fn a_github_report_is_read_with_its_url_and_source() {
        let body = format!(
            r#"[{{"token":"{}","type":"ingeneo_api_key","url":"https://github.com/o/r/blob/x/.env","source":"content","extra":1}}]"#,
            key(1)
        );
        let findings = parse_report(body.as_bytes()).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].token_type, "ingeneo_api_key");
        assert_eq!(findings[0].source.as_deref(), Some("content"));
    }

    #[test]
    fn a_gitlab_report_has_no_source() {
        let body = format!(r#"[{{"type":"ingk","token":"{}","url":null}}]"#, key(2));
        let findings = parse_report(body.as_bytes()).unwrap();
        assert_eq!(
            (findings[0].url.as_deref(), findings[0].source.as_deref()),
            (None, None)
        );
    }

    #[test]
    fn anything_but_an_array_of_findings_is_a_400_that_echoes_no_token() {
        let secret = key(3);
        for body in [
            format!(r#"{{"token":"{secret}","type":"x"}}"#),
            format!(r#"[{{"token":"{secret}"}}]"#),
            format!(r#"[{{"token":1,"type":"{secret}"}}]"#),
            "not json".to_owned(),
            String::new(),
        ] {
            let err = parse_report(body.as_bytes()).unwrap_err();
            assert_eq!(err.status(), 400, "{body}");
            assert!(!err.to_string().contains(&secret[5..20]), "{err}");
        }
    }

    #[test]
    fn only_tokens_in_the_key_format_with_their_checksum_are_looked_up() {
        let good = key(4);
        let mut typo = good.clone();
        typo.replace_range(10..11, if &good[10..11] == "A" { "B" } else { "A" });
        let body = format!(
            r#"[{{"token":"{good}","type":"t"}},{{"token":"{typo}","type":"t"}},{{"token":"ghp_x","type":"t"}}]"#
        );
        let findings = parse_report(body.as_bytes()).unwrap();
        let found = well_formed(&findings);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].hash,
            PresentedKey::parse(&good).unwrap().hash().to_hex()
        );
    }

    #[test]
    fn feedback_reads_as_github_expects() {
        let body = format!(r#"[{{"token":"{}","type":"ingk"}}]"#, key(5));
        let findings = parse_report(body.as_bytes()).unwrap();
        let found = well_formed(&findings);
        let json = serde_json::to_value(Feedback::new(&found[0], Label::FalsePositive)).unwrap();
        assert_eq!(json["label"], "false_positive");
        assert_eq!(json["token_type"], "ingk");
        assert_eq!(json["token_hash"].as_str().unwrap().len(), 64);
        assert_eq!(
            serde_json::to_value(Label::TruePositive).unwrap(),
            "true_positive"
        );
    }

    #[test]
    fn a_finding_never_shows_its_token_in_debug_output() {
        let secret = key(6);
        let body = format!(r#"[{{"token":"{secret}","type":"t"}}]"#);
        let findings = parse_report(body.as_bytes()).unwrap();
        assert!(!format!("{:?}", findings[0]).contains(&secret));
    }

    #[test]
    fn the_leak_action_is_deactivate_unless_report_is_asked_for() {
        assert_eq!(LeakAction::parse(""), Some(LeakAction::Deactivate));
        assert_eq!(
            LeakAction::parse("deactivate"),
            Some(LeakAction::Deactivate)
        );
        assert_eq!(LeakAction::parse("report"), Some(LeakAction::Report));
        assert_eq!(LeakAction::parse("delete"), None);
    }

    #[test]
    fn a_public_reporter_is_named_apart_from_the_scanners() {
        assert_eq!(Reporter::Public.as_str(), "public");
        assert_eq!(Reporter::Scanner(Scanner::GitHub).as_str(), "github");
        assert_eq!(
            Reporter::Scanner(Scanner::GitLab).display_name(),
            "GitLab secret detection"
        );
    }

    #[test]
    fn scanners_are_named_by_their_headers() {
        assert_eq!(Scanner::GitLab.as_str(), "gitlab");
        assert_eq!(
            Scanner::GitLab.signature_header(),
            "gitlab-public-key-signature"
        );
    }

    #[test]
    fn long_text_is_cut_on_character_boundaries() {
        assert_eq!(cut("ééé", 2), "éé");
        assert_eq!(cut("ab", 5), "ab");
    }
}
