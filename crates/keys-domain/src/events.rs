//! The audit trail's vocabulary: what an event records ([`EventKind`]) and what it changed
//! ([`Changes`]), and how an edit of limits reads in it.

use crate::error::Error;
use crate::key::contains_key;
use crate::model::{is_bidi_control, secret_in_text};
use crate::record::Limits;
use serde::Serialize;

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
    /// A secret scanner reported one of the key's secrets as published.
    LeakReported,
    /// The rate limit, quota or IP allowlist changed.
    LimitsChanged,
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
            Self::LeakReported => "leak_reported",
            Self::LimitsChanged => "limits_changed",
        }
    }
}

/// Longest reason of a change, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// Why an administrator made a change (`reason` of a permissions change, e.g. `access
/// review`), kept in its audit event: 1–200 characters after trimming, no control
/// characters, no bidirectional controls, no key in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Reason(String);

impl Reason {
    /// Trims and checks a reason.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let trimmed = text.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > MAX_REASON_CHARS {
            return Err(Error::invalid(format!(
                "reason must be 1 to {MAX_REASON_CHARS} characters"
            )));
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() || is_bidi_control(c))
        {
            return Err(Error::invalid(
                "reason must not contain control characters or bidirectional controls",
            ));
        }
        if contains_key(trimmed) {
            return Err(secret_in_text("reason"));
        }
        Ok(Self(trimmed.to_owned()))
    }
}

/// What an audit event changed: a JSON object written member by member, e.g.
/// `{"label":{"from":"A","to":"B"}}`. Never give it a secret.
#[derive(Debug)]
pub struct Changes(String);

impl Default for Changes {
    fn default() -> Self {
        Self("{".to_owned())
    }
}

impl Changes {
    /// No change recorded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the member `name` with `value`.
    pub fn set(mut self, name: &str, value: &impl Serialize) -> Result<Self, Error> {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&to_json(&name)?);
        self.0.push(':');
        self.0.push_str(&to_json(value)?);
        Ok(self)
    }

    /// Adds the member `name` with `{"from": from, "to": to}`.
    pub fn change(
        self,
        name: &str,
        from: &impl Serialize,
        to: &impl Serialize,
    ) -> Result<Self, Error> {
        #[derive(Serialize)]
        struct FromTo<'a, F: Serialize, T: Serialize> {
            from: &'a F,
            to: &'a T,
        }
        self.set(name, &FromTo { from, to })
    }

    /// The JSON object.
    pub fn into_json(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

fn to_json(value: &impl Serialize) -> Result<String, Error> {
    serde_json::to_string(value).map_err(Error::unexpected)
}

/// The audit record of a change of limits: `{"field": {"from", "to"}}` for each that
/// changed; `None` when none did.
pub fn limits_changes(from: &Limits, to: &Limits) -> Result<Option<Changes>, Error> {
    let mut changes = Changes::new();
    let mut any = false;
    if from.rate_limit != to.rate_limit {
        changes = changes.change("rate_limit", &from.rate_limit, &to.rate_limit)?;
        any = true;
    }
    if from.quota != to.quota {
        changes = changes.change("quota", &from.quota, &to.quota)?;
        any = true;
    }
    if from.ip_allowlist != to.ip_allowlist {
        changes = changes.change(
            "ip_allowlist",
            &from.ip_allowlist.entries(),
            &to.ip_allowlist.entries(),
        )?;
        any = true;
    }
    Ok(any.then_some(changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_trimmed_and_kept_as_written() {
        let reason = Reason::parse("  access review ").unwrap();
        let changes = Changes::new().set("reason", &reason).unwrap();
        assert_eq!(changes.into_json(), r#"{"reason":"access review"}"#);
        assert!(Reason::parse(&"é".repeat(MAX_REASON_CHARS)).is_ok());
    }

    #[test]
    fn an_empty_long_or_hidden_reason_is_refused() {
        for bad in [
            "   ".to_owned(),
            "x".repeat(MAX_REASON_CHARS + 1),
            "line\nbreak".to_owned(),
            "right\u{202e}left".to_owned(),
        ] {
            assert_eq!(Reason::parse(&bad).unwrap_err().status(), 422, "{bad:?}");
        }
    }
}
