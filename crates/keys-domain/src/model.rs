//! Keys, their validated inputs, their public view and their audit events.

mod input;

pub use input::{
    Label, LimitsPatch, MAX_LABEL_CHARS, MAX_METADATA_BYTES, Metadata, check_companies,
    parse_expiry, parse_grants, whole_number,
};
pub(crate) use input::{is_bidi_control, secret_in_text, strict_json};

use crate::allowlist::IpAllowlist;
use crate::error::Error;
use crate::limits::{Quota, RateLimit};
use crate::permissions::CompanyScope;
use crate::record::{Limits, VerificationRecord};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Longest grace period of a regeneration: 7 days.
pub const MAX_GRACE_PERIOD_SECS: u32 = 7 * 24 * 3600;
/// Prefix of key ids.
pub const KEY_ID_PREFIX: &str = "key_";
/// Prefix of audit event ids.
pub const EVENT_ID_PREFIX: &str = "evt_";

/// A JSON object kept as compact JSON text, as written: the admin components only store and
/// return such objects (metadata, leaks), and a `serde_json::Value` tree would cost every
/// admin component about 10 KB of code.
#[derive(Debug, Clone)]
pub struct JsonObject(Box<RawValue>);

impl JsonObject {
    /// Reads compact JSON text of an object, as [`JsonObject::as_json`] gives and SQLite
    /// holds.
    pub fn from_stored(text: &str) -> Option<Self> {
        // `from_slice`, like the request bodies: one JSON reader in the components' code.
        serde_json::from_slice::<Box<RawValue>>(text.as_bytes())
            .ok()
            .filter(|raw| raw.get().starts_with('{'))
            .map(Self)
    }

    /// The compact JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for JsonObject {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

impl Serialize for JsonObject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
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
    pub metadata: Option<Metadata>,
    /// Optional expiry.
    pub expires_at: Option<Timestamp>,
    /// Creation instant.
    pub created_at: Timestamp,
    /// Creator.
    pub created_by: Actor,
    /// Last change instant.
    pub updated_at: Timestamp,
    /// The last leak a secret scanner reported, until the key is regenerated.
    pub leak: Option<StoredLeak>,
    /// Rate limit, quota and IP allowlist.
    pub limits: Limits,
}

/// [`Limits`] as SQLite keeps them: a JSON object (`NULL` when the key has none).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredLimits {
    rate_limit: Option<RateLimit>,
    quota: Option<Quota>,
    ip_allowlist: Vec<String>,
}

/// The SQLite text of a key's limits; `None` when it has none.
pub fn limits_to_stored(limits: &Limits) -> Result<Option<String>, Error> {
    if *limits == Limits::default() {
        return Ok(None);
    }
    let stored = StoredLimits {
        rate_limit: limits.rate_limit,
        quota: limits.quota,
        ip_allowlist: limits.ip_allowlist.entries(),
    };
    serde_json::to_string(&stored)
        .map(Some)
        .map_err(Error::unexpected)
}

/// Reads [`limits_to_stored`]'s text back; `None` when it is not what that function writes.
pub fn limits_from_stored(text: &str) -> Option<Limits> {
    let stored: StoredLimits = serde_json::from_str(text).ok()?;
    let rate_limit = match stored.rate_limit {
        Some(r) => Some(RateLimit::decode(&r.encode())?),
        None => None,
    };
    let quota = match stored.quota {
        Some(q) => Some(Quota::decode(&q.encode())?),
        None => None,
    };
    Some(Limits {
        rate_limit,
        quota,
        ip_allowlist: IpAllowlist::from_canonical(&stored.ip_allowlist)?,
    })
}

/// A leak of a key's secret reported by a secret scanner (GitHub, GitLab): where it was
/// found. Never holds the secret. Stored and shown as [`StoredLeak`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leak<'a> {
    /// When the report arrived.
    pub reported_at: Timestamp,
    /// Where the secret was found, as the scanner gave it.
    pub url: Option<&'a str>,
    /// What kind of place it was found in (GitHub's `source`, e.g. `content`), if given.
    pub source: Option<&'a str>,
    /// Which scanner reported it: `github` or `gitlab`.
    pub scanner: &'a str,
    /// Whether the key's live secret is the one reported (not only a replaced secret still in
    /// its grace period, which the report ends): then the key is reactivated only after a
    /// regeneration.
    pub live_secret: bool,
}

impl Leak<'_> {
    /// The form SQLite keeps and the key JSON shows.
    pub fn to_stored(&self) -> Result<StoredLeak, Error> {
        let text = serde_json::to_string(self).map_err(Error::unexpected)?;
        StoredLeak::from_stored(&text).ok_or_else(|| Error::unexpected("leak is not an object"))
    }
}

/// A [`Leak`] as compact JSON text, kept as written (a [`JsonObject`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredLeak(JsonObject);

impl StoredLeak {
    /// Reads the JSON object SQLite holds.
    pub fn from_stored(text: &str) -> Option<Self> {
        JsonObject::from_stored(text).map(Self)
    }

    /// The compact JSON text.
    pub fn as_json(&self) -> &str {
        self.0.as_json()
    }

    /// Whether the key's live secret is the published one (a leak stored before
    /// `live_secret` existed counts as one: the stricter reading).
    pub fn concerns_live_secret(&self) -> bool {
        #[derive(Deserialize)]
        struct Member {
            live_secret: Option<bool>,
        }
        serde_json::from_str::<Member>(self.as_json())
            .ok()
            .and_then(|m| m.live_secret)
            .unwrap_or(true)
    }
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
            created_at: self.created_at.unix(),
            metadata: self.metadata.as_ref().map(|m| m.as_json().to_owned()),
            limits: self.limits.clone(),
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
            leak: self.leak.as_ref(),
            rate_limit: self.limits.rate_limit.as_ref(),
            quota: self.limits.quota.as_ref(),
            ip_allowlist: self.limits.ip_allowlist.entries(),
            grace_secrets: None,
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
    pub metadata: Option<&'a Metadata>,
    /// The leak a secret scanner reported, until the key is regenerated (`null`: none).
    pub leak: Option<&'a StoredLeak>,
    /// At most so many verifications per window (`null`: no rate limit).
    pub rate_limit: Option<&'a RateLimit>,
    /// At most so many verifications per UTC day or month (`null`: no quota).
    pub quota: Option<&'a Quota>,
    /// The caller addresses allowed, canonical CIDR blocks (empty: any address).
    pub ip_allowlist: Vec<String>,
    /// The replaced secrets still in their grace period: only in `GET /keys/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_secrets: Option<Vec<GraceSecret>>,
}

/// A replaced secret still in its grace period, as a key's page names it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraceSecret {
    /// Its hint (`null` for a secret made before hints were kept).
    pub hint: Option<String>,
    /// When its grace period ends.
    pub valid_until: Timestamp,
}

impl<'a> KeyView<'a> {
    /// This view plus the key's replaced secrets still in their grace period.
    pub fn with_grace_secrets(self, grace_secrets: Vec<GraceSecret>) -> Self {
        Self {
            grace_secrets: Some(grace_secrets),
            ..self
        }
    }

    /// This view plus the new secret: only for the answer to a create or a regenerate.
    pub fn with_secret(self, secret: &'a crate::key::NewSecret) -> Self {
        Self {
            key: Some(secret.expose()),
            ..self
        }
    }
}

#[cfg(test)]
mod tests;
