//! The validated inputs of a key's create and edit: its label, its metadata (read as strictly
//! as a client's parser reads it back), expiry, method grants, companies, whole numbers and
//! limits.

use super::JsonObject;
use crate::allowlist::IpAllowlist;
use crate::error::Error;
use crate::key::{KEY_PREFIX, contains_key};
use crate::limits::{Quota, RateLimit};
use crate::permissions::{CompanyScope, MethodGrant};
use crate::record::Limits;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// Largest metadata object, serialized, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;

/// A key's descriptive label: 1–200 characters after trimming, no control characters, no
/// bidirectional controls, no key in it (422 `secret_in_text`).
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
        if trimmed.chars().any(is_bidi_control) {
            return Err(Error::invalid(
                "label must not contain bidirectional controls (they can make it read \
                 differently from what it holds)",
            ));
        }
        if contains_key(trimmed) {
            return Err(secret_in_text("label"));
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

/// Free-form metadata of a key: a JSON object, kept as compact JSON text in the order it was
/// sent. Reading one refuses anything but an object, a member name twice in any object, a
/// lone surrogate and a number out of range (400); the size limit and the key check are
/// [`Metadata::check`] (422).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metadata(JsonObject);

impl Metadata {
    /// Reads compact JSON text of an object, as [`Metadata::as_json`] gives and SQLite holds.
    pub fn from_stored(text: &str) -> Option<Self> {
        JsonObject::from_stored(text).map(Self)
    }

    /// The compact JSON text.
    pub fn as_json(&self) -> &str {
        self.0.as_json()
    }

    /// Fails with 422 when the metadata is over [`MAX_METADATA_BYTES`], or when one of its
    /// strings (names included) holds a key (`secret_in_text`: metadata is listed, audited
    /// and returned by `/verify`).
    pub fn check(&self) -> Result<(), Error> {
        if self.as_json().len() > MAX_METADATA_BYTES {
            return Err(Error::invalid(format!(
                "metadata must be at most {MAX_METADATA_BYTES} bytes of JSON"
            )));
        }
        if strict_json(self.as_json()).unwrap_or(false) {
            return Err(secret_in_text("metadata"));
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw = Box::<RawValue>::deserialize(d)?;
        if !raw.get().starts_with('{') {
            return Err(D::Error::invalid_type(
                serde::de::Unexpected::Other("a JSON value that is not an object"),
                &"a JSON object",
            ));
        }
        let text = compact_json(raw.get());
        strict_json(&text).map_err(D::Error::custom)?;
        Self::from_stored(&text).ok_or_else(|| D::Error::custom("metadata is not valid JSON"))
    }
}

/// Removes the insignificant whitespace of valid JSON text.
fn compact_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// Checks JSON text that serde_json's raw reader accepted as strictly as a client's parser
/// would read it back: no member twice in any object, at any depth; every string a valid
/// Unicode string (a lone surrogate such as `"\ud800"` is refused); every number within
/// the range of a double (`1e400` is refused). Stored text is re-served verbatim, so what a
/// strict parser would reject must not get in. Answers whether a string (a member name or a
/// value) holds a key ([`contains_key`]). The error says what is wrong, without echoing any
/// value (it could be a secret).
pub(crate) fn strict_json(text: &str) -> Result<bool, String> {
    /// A value read, and whether it holds a key.
    struct Strict(bool);
    impl<'de> Deserialize<'de> for Strict {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(StrictVisitor)
        }
    }
    struct StrictVisitor;
    impl<'de> serde::de::Visitor<'de> for StrictVisitor {
        type Value = Strict;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
            Ok(Strict(false))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
            Ok(Strict(false))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
            Ok(Strict(false))
        }
        fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Strict, E> {
            if n.is_finite() {
                Ok(Strict(false))
            } else {
                Err(E::custom(OUT_OF_RANGE))
            }
        }
        fn visit_str<E>(self, text: &str) -> Result<Strict, E> {
            Ok(Strict(contains_key(text)))
        }
        fn visit_unit<E>(self) -> Result<Strict, E> {
            Ok(Strict(false))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
            let mut key = false;
            while let Some(Strict(found)) = seq.next_element::<Strict>()? {
                key |= found;
            }
            Ok(Strict(key))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
            use serde::de::Error as _;
            let (mut names, mut key): (Vec<String>, bool) = (Vec::new(), false);
            while let Some(name) = map.next_key::<String>()? {
                let Strict(found) = map.next_value::<Strict>()?;
                key |= found || contains_key(&name);
                names.push(name);
            }
            // Sorted rather than compared pairwise: a 64 KiB body can hold thousands of
            // members, and this runs before the size check.
            names.sort_unstable();
            match names.windows(2).find(|w| w[0] == w[1]) {
                Some(twice) => Err(A::Error::custom(format!(
                    "metadata has the member `{}` twice",
                    twice[0].chars().take(100).collect::<String>()
                ))),
                None => Ok(Strict(key)),
            }
        }
    }
    /// The message of a number a double cannot hold.
    const OUT_OF_RANGE: &str = "metadata holds a number out of range";
    match serde_json::from_slice::<Strict>(text.as_bytes()) {
        Ok(Strict(key)) => Ok(key),
        Err(err) => {
            let message = err.to_string();
            Err(if message.contains("twice") {
                strip_position(&message)
            } else if message.contains(OUT_OF_RANGE) || message.contains("out of range") {
                OUT_OF_RANGE.to_owned()
            } else if message.contains("surrogate") || message.contains("escape") {
                "metadata holds a string that is not valid Unicode (a lone surrogate)".to_owned()
            } else {
                "metadata is not valid JSON".to_owned()
            })
        }
    }
}

/// A serde_json message without its " at line 1 column N" suffix.
fn strip_position(message: &str) -> String {
    message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned()
}

/// Whether `c` is a bidirectional control: an embedding, override or isolate, or the
/// Arabic letter mark.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The 422 of a text that holds a key.
pub(crate) fn secret_in_text(field: &str) -> Error {
    Error::Invalid {
        code: "secret_in_text",
        detail: format!(
            "{field} holds an API key: never put a key in a label or metadata (regenerate the \
             key if it was a live one)"
        ),
    }
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

/// Checks the size of a company list as sent, repeated ids included (call it before
/// [`CompanyScope::normalized`]), so the limit is exactly the OpenAPI document's `maxItems`.
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

/// Reads a JSON number with no fractional part (`60`, `60.0`, `6e1`) as a `u64`: JSON
/// Schema's `integer`, which the OpenAPI document promises (a schema-driven client may well
/// send `60.0`). Negative and fractional numbers are refused like any wrong type (400).
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    /// Largest integer an `f64` holds exactly (2^53).
    const MAX_EXACT_F64: f64 = 9_007_199_254_740_992.0;
    struct WholeNumber;
    impl serde::de::Visitor<'_> for WholeNumber {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number, 0 or more")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            if v.fract() == 0.0 && (0.0..=MAX_EXACT_F64).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    d.deserialize_u64(WholeNumber)
}

/// The limits a create or an edit sends: each `None` when the field is absent (unchanged),
/// `Some(None)` / an empty allowlist when it is `null`.
#[derive(Debug, Default)]
pub struct LimitsPatch {
    /// `rate_limit`, if sent.
    pub rate_limit: Option<Option<RateLimit>>,
    /// `quota`, if sent.
    pub quota: Option<Option<Quota>>,
    /// `ip_allowlist`, if sent (`null` and `[]` both clear it).
    pub ip_allowlist: Option<IpAllowlist>,
}

impl LimitsPatch {
    /// Reads the raw JSON of the three fields (`None`: absent). Every malformed value is a
    /// 422 naming its field.
    pub fn parse(
        rate_limit: Option<&str>,
        quota: Option<&str>,
        ip_allowlist: Option<&str>,
    ) -> Result<Self, Error> {
        let ip_allowlist = ip_allowlist
            .map(|raw| {
                if raw.trim() == "null" {
                    return Ok(IpAllowlist::default());
                }
                let entries: Vec<String> = serde_json::from_str(raw).map_err(|_| {
                    Error::invalid("ip_allowlist must be null or an array of CIDR strings")
                })?;
                IpAllowlist::parse(&entries)
            })
            .transpose()?;
        Ok(Self {
            rate_limit: rate_limit.map(RateLimit::parse_json).transpose()?,
            quota: quota.map(Quota::parse_json).transpose()?,
            ip_allowlist,
        })
    }

    /// `limits` with the sent fields replaced.
    pub fn apply(self, limits: &Limits) -> Limits {
        Limits {
            rate_limit: self.rate_limit.unwrap_or(limits.rate_limit),
            quota: self.quota.unwrap_or(limits.quota),
            ip_allowlist: self
                .ip_allowlist
                .unwrap_or_else(|| limits.ip_allowlist.clone()),
        }
    }
}
