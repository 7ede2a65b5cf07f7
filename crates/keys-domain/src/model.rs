//! Keys, their validated inputs, their public view and their audit events.

use crate::error::Error;
use crate::key::KEY_PREFIX;
use crate::permissions::{CompanyScope, MethodGrant};
use crate::record::VerificationRecord;
use crate::time::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// Largest metadata object, serialized, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;
/// Longest grace period of a regeneration: 7 days.
pub const MAX_GRACE_PERIOD_SECS: u32 = 7 * 24 * 3600;
/// Prefix of key ids.
pub const KEY_ID_PREFIX: &str = "key_";
/// Prefix of audit event ids.
pub const EVENT_ID_PREFIX: &str = "evt_";

/// A key's descriptive label: 1–200 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    /// Trims and checks a label.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid("label must not be empty"));
        }
        if trimmed.chars().count() > MAX_LABEL_CHARS {
            return Err(Error::invalid(format!(
                "label must be at most {MAX_LABEL_CHARS} characters"
            )));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(Error::invalid("label must not contain control characters"));
        }
        if trimmed.starts_with(KEY_PREFIX) {
            return Err(Error::invalid(format!(
                "label must not start with `{KEY_PREFIX}`: never put a key in a label"
            )));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free-form metadata of a key: a JSON object of at most 4 KiB.
pub fn check_metadata(metadata: &Map<String, Value>) -> Result<(), Error> {
    let size = serde_json::to_vec(metadata)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(Error::invalid(format!(
            "metadata must be at most {MAX_METADATA_BYTES} bytes of JSON"
        )));
    }
    Ok(())
}

/// Parses an expiry that must lie in the future.
pub fn parse_expiry(text: &str, now: Timestamp) -> Result<Timestamp, Error> {
    let at = Timestamp::parse_rfc3339(text).ok_or_else(|| {
        Error::invalid("expires_at must be an RFC 3339 date-time such as 2027-01-31T23:59:59Z")
    })?;
    if at <= now {
        return Err(Error::invalid("expires_at must be in the future"));
    }
    Ok(at)
}

/// Parses method grants, naming every malformed one.
pub fn parse_grants(texts: &[String]) -> Result<Vec<MethodGrant>, Error> {
    if texts.len() > crate::permissions::MAX_GRANTS {
        return Err(Error::invalid(format!(
            "at most {} method grants",
            crate::permissions::MAX_GRANTS
        )));
    }
    let mut grants = Vec::with_capacity(texts.len());
    let mut bad = Vec::new();
    for text in texts {
        match MethodGrant::parse(text) {
            Some(g) => grants.push(g),
            None => bad.push(text.as_str()),
        }
    }
    if !bad.is_empty() {
        return Err(Error::Invalid {
            code: "invalid_method",
            detail: format!(
                "not a method name, `group.*` or `*`: {}",
                bad.iter()
                    .map(|b| format!("`{}`", b.chars().take(100).collect::<String>()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(crate::permissions::normalize_grants(grants))
}

/// Checks the size of a company list.
pub fn check_companies(scope: &CompanyScope) -> Result<(), Error> {
    match scope {
        CompanyScope::Only(list) if list.len() > crate::permissions::MAX_COMPANIES => {
            Err(Error::invalid(format!(
                "at most {} companies",
                crate::permissions::MAX_COMPANIES
            )))
        }
        _ => Ok(()),
    }
}

/// Whether a key is in service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Verifies.
    Active,
    /// Deactivated: refuses with `DISABLED`, keeps its permissions.
    Inactive,
}

impl Status {
    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }

    /// Reads the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// Who made a change, from the identity token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The token's `sub`.
    pub id: String,
    /// The token's `name`, if any.
    pub name: Option<String>,
}

/// A key as stored in SQLite (never its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    /// Public id, `key_…`.
    pub id: String,
    /// Descriptive label.
    pub label: String,
    /// Prefix and last four characters of the current secret.
    pub hint: String,
    /// Active or inactive.
    pub status: Status,
    /// Method access authorizations, normalized grant strings.
    pub methods: Vec<String>,
    /// Company access restrictions.
    pub companies: CompanyScope,
    /// Free-form metadata.
    pub metadata: Option<Map<String, Value>>,
    /// Optional expiry.
    pub expires_at: Option<Timestamp>,
    /// Creation instant.
    pub created_at: Timestamp,
    /// Creator.
    pub created_by: Actor,
    /// Last change instant.
    pub updated_at: Timestamp,
}

impl StoredKey {
    /// The verification record of one of this key's secrets.
    pub fn record(&self, valid_until: Option<Timestamp>) -> VerificationRecord {
        VerificationRecord {
            key_id: self.id.clone(),
            label: self.label.clone(),
            hint: self.hint.clone(),
            active: self.status == Status::Active,
            methods: self.methods.clone(),
            companies: self.companies.clone(),
            expires_at: self.expires_at.map(Timestamp::unix),
            valid_until: valid_until.map(Timestamp::unix),
            metadata: self
                .metadata
                .as_ref()
                .and_then(|m| serde_json::value::to_raw_value(m).ok()),
        }
    }

    /// The public view of the key.
    pub fn view(&self, last_used_at: Option<Timestamp>) -> KeyView<'_> {
        KeyView {
            key: None,
            id: &self.id,
            label: &self.label,
            hint: &self.hint,
            status: self.status,
            methods: &self.methods,
            companies: &self.companies,
            created_at: self.created_at,
            created_by: &self.created_by,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
            last_used_at,
            metadata: self.metadata.as_ref(),
        }
    }
}

/// The key object of the API. Never carries the secret's hash; carries the secret itself
/// only in the answer to a create or a regenerate (see [`KeyView::with_secret`]).
#[derive(Debug, Serialize)]
pub struct KeyView<'a> {
    /// The secret, set only right after create or regenerate: shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
    /// Public id.
    pub id: &'a str,
    /// Label.
    pub label: &'a str,
    /// Prefix and last four characters.
    pub hint: &'a str,
    /// `active` or `inactive`.
    pub status: Status,
    /// Method access authorizations.
    pub methods: &'a [String],
    /// Company access restrictions: `"all"` or a list.
    pub companies: &'a CompanyScope,
    /// Creation instant.
    pub created_at: Timestamp,
    /// Creator.
    pub created_by: &'a Actor,
    /// Last change instant.
    pub updated_at: Timestamp,
    /// Expiry, if any.
    pub expires_at: Option<Timestamp>,
    /// Last successful verification, to the minute.
    pub last_used_at: Option<Timestamp>,
    /// Free-form metadata.
    pub metadata: Option<&'a Map<String, Value>>,
}

impl<'a> KeyView<'a> {
    /// This view plus the new secret: only for the answer to a create or a regenerate.
    pub fn with_secret(self, secret: &'a crate::key::NewSecret) -> Self {
        Self {
            key: Some(secret.expose()),
            ..self
        }
    }
}

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The key was created.
    Created,
    /// The label changed.
    LabelChanged,
    /// The metadata changed.
    MetadataChanged,
    /// The expiry changed.
    ExpiryChanged,
    /// A new secret replaced the old one.
    Regenerated,
    /// The key was deactivated.
    Deactivated,
    /// The key was reactivated.
    Activated,
    /// Method or company access changed.
    PermissionsChanged,
    /// The key was deleted.
    Deleted,
}

impl EventKind {
    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::LabelChanged => "label_changed",
            Self::MetadataChanged => "metadata_changed",
            Self::ExpiryChanged => "expiry_changed",
            Self::Regenerated => "regenerated",
            Self::Deactivated => "deactivated",
            Self::Activated => "activated",
            Self::PermissionsChanged => "permissions_changed",
            Self::Deleted => "deleted",
        }
    }
}

/// A `{"from": …, "to": …}` pair for an audit event.
pub fn change(from: impl Serialize, to: impl Serialize) -> Value {
    serde_json::json!({ "from": from, "to": to })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(
            Label::parse("  Welyb production  ").unwrap().as_str(),
            "Welyb production"
        );
        assert!(Label::parse("").is_err());
        assert!(Label::parse("   ").is_err());
        assert!(
            Label::parse(&"é".repeat(200)).is_ok(),
            "200 characters, not bytes"
        );
        assert!(Label::parse(&"é".repeat(201)).is_err());
        assert!(Label::parse("line\nbreak").is_err());
        assert_eq!(Label::parse("").unwrap_err().status(), 422);
    }

    #[test]
    fn a_label_that_looks_like_a_key_is_refused() {
        assert!(Label::parse("ingk_abc").is_err());
    }

    #[test]
    fn expiry_must_be_a_future_rfc3339_instant() {
        let now = Timestamp::from_unix(1_800_000_000);
        assert!(parse_expiry("2030-01-01T00:00:00Z", now).is_ok());
        assert!(parse_expiry(&now.to_string(), now).is_err());
        assert!(parse_expiry("tomorrow", now).is_err());
    }

    #[test]
    fn metadata_is_bounded_in_size() {
        let mut map = Map::new();
        map.insert("crm".into(), Value::String("x".repeat(100)));
        assert!(check_metadata(&map).is_ok());
        map.insert("big".into(), Value::String("x".repeat(MAX_METADATA_BYTES)));
        assert_eq!(check_metadata(&map).unwrap_err().status(), 422);
    }

    #[test]
    fn grants_are_normalized_and_malformed_ones_named() {
        let parsed = parse_grants(&[
            "payroll.*".into(),
            "employees.read".into(),
            "payroll.*".into(),
        ])
        .unwrap();
        let texts: Vec<String> = parsed.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["employees.read", "payroll.*"]);
        let err = parse_grants(&["Employees".into(), "ok.read".into(), "a..b".into()]).unwrap_err();
        assert!(
            err.to_string().contains("`Employees`") && err.to_string().contains("`a..b`"),
            "{err}"
        );
        assert!(!err.to_string().contains("ok.read"));
    }
}
