//! The event types a webhook can be sent, and what an endpoint subscribes to.

use keys_domain::Error;
use keys_domain::events::EventKind;
use serde::{Serialize, Serializer};

/// A type of event sent to webhooks (the `type` of a message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventType {
    /// A key was created.
    KeyCreated,
    /// A key's label, metadata, expiry or limits changed.
    KeyUpdated,
    /// A key's method or company access changed.
    KeyPermissionsChanged,
    /// A key got a new secret.
    KeyRegenerated,
    /// A key was deactivated.
    KeyDeactivated,
    /// A key was reactivated.
    KeyActivated,
    /// A key was deleted.
    KeyDeleted,
    /// A secret scanner or a public report said one of the key's secrets was published.
    KeyLeakReported,
    /// A key's remaining time crossed one of the reminder thresholds.
    KeyExpiring,
    /// A key reached its expiry.
    KeyExpired,
    /// A key used 80 % or 100 % of its quota in a period.
    KeyQuotaThreshold,
    /// A key's verifications were refused by its rate limit (at most once per key and hour).
    KeyRateLimited,
    /// A key had no verification for the configured number of days.
    KeyUnused,
    /// A test message an administrator asked for.
    WebhookTest,
}

impl EventType {
    /// Every type, in the order the documentation lists them.
    pub const ALL: [EventType; 14] = [
        Self::KeyCreated,
        Self::KeyUpdated,
        Self::KeyPermissionsChanged,
        Self::KeyRegenerated,
        Self::KeyDeactivated,
        Self::KeyActivated,
        Self::KeyDeleted,
        Self::KeyLeakReported,
        Self::KeyExpiring,
        Self::KeyExpired,
        Self::KeyQuotaThreshold,
        Self::KeyRateLimited,
        Self::KeyUnused,
        Self::WebhookTest,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyCreated => "key.created",
            Self::KeyUpdated => "key.updated",
            Self::KeyPermissionsChanged => "key.permissions_changed",
            Self::KeyRegenerated => "key.regenerated",
            Self::KeyDeactivated => "key.deactivated",
            Self::KeyActivated => "key.activated",
            Self::KeyDeleted => "key.deleted",
            Self::KeyLeakReported => "key.leak_reported",
            Self::KeyExpiring => "key.expiring",
            Self::KeyExpired => "key.expired",
            Self::KeyQuotaThreshold => "key.quota_threshold",
            Self::KeyRateLimited => "key.rate_limited",
            Self::KeyUnused => "key.unused",
            Self::WebhookTest => "webhook.test",
        }
    }

    /// The type named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The type of the message an audit event sends: every edit of a key's label, metadata,
    /// expiry or limits is a `key.updated`.
    pub fn of_audit(kind: EventKind) -> Self {
        match kind {
            EventKind::Created => Self::KeyCreated,
            EventKind::LabelChanged
            | EventKind::MetadataChanged
            | EventKind::ExpiryChanged
            | EventKind::LimitsChanged => Self::KeyUpdated,
            EventKind::Regenerated => Self::KeyRegenerated,
            EventKind::Deactivated => Self::KeyDeactivated,
            EventKind::Activated => Self::KeyActivated,
            EventKind::PermissionsChanged => Self::KeyPermissionsChanged,
            EventKind::Deleted => Self::KeyDeleted,
            EventKind::LeakReported => Self::KeyLeakReported,
        }
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The wildcard subscription's one entry.
pub const EVERY_EVENT: &str = "*";

/// What an endpoint is sent: every event, or those of some types. `webhook.test` is sent to
/// an endpoint whenever an administrator asks, whatever it subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// `["*"]`: every type, present and future.
    Every,
    /// These types (sorted, each once, at least one).
    Only(Vec<EventType>),
}

impl Subscription {
    /// Reads the `events` field: `["*"]`, or a non-empty list of known types (each once; the
    /// wildcard never beside a type).
    pub fn parse(names: &[String]) -> Result<Self, Error> {
        if names.is_empty() {
            return Err(Error::invalid(
                "events must list at least one event type, or be [\"*\"]",
            ));
        }
        if names.iter().any(|n| n == EVERY_EVENT) {
            return match names.len() {
                1 => Ok(Self::Every),
                _ => Err(Error::invalid("\"*\" stands alone in events")),
            };
        }
        let mut types = Vec::with_capacity(names.len());
        let mut unknown = Vec::new();
        for name in names {
            match EventType::parse(name) {
                Some(t) if t != EventType::WebhookTest => types.push(t),
                _ => unknown.push(name.as_str()),
            }
        }
        if !unknown.is_empty() {
            return Err(Error::Invalid {
                code: "invalid_event_type",
                detail: format!(
                    "unknown event types: {}; known: {}",
                    quoted(&unknown),
                    Self::subscribable().join(", ")
                ),
            });
        }
        let count = types.len();
        types.sort();
        types.dedup();
        if types.len() != count {
            return Err(Error::invalid("events lists a type twice"));
        }
        Ok(Self::Only(types))
    }

    /// Whether the endpoint is sent events of type `t`.
    pub fn includes(&self, t: EventType) -> bool {
        match self {
            Self::Every => true,
            Self::Only(types) => t == EventType::WebhookTest || types.contains(&t),
        }
    }

    /// The wire form: `["*"]` or the type names.
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            Self::Every => vec![EVERY_EVENT],
            Self::Only(types) => types.iter().map(|t| t.as_str()).collect(),
        }
    }

    /// The stored form (the wire form as JSON).
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.names()).unwrap_or_default()
    }

    /// Reads the stored form.
    pub fn from_stored(text: &str) -> Option<Self> {
        let names: Vec<String> = serde_json::from_str(text).ok()?;
        Self::parse(&names).ok()
    }

    /// The types an endpoint may subscribe to by name.
    fn subscribable() -> Vec<&'static str> {
        EventType::ALL
            .iter()
            .filter(|t| **t != EventType::WebhookTest)
            .map(|t| t.as_str())
            .collect()
    }
}

fn quoted(names: &[&str]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(5)
        .map(|n| serde_json::to_string(&n.chars().take(64).collect::<String>()).unwrap_or_default())
        .collect();
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn every_type_reads_back_from_its_wire_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("key.Created"), None);
    }

    #[test]
    fn edits_of_label_metadata_expiry_and_limits_are_key_updated() {
        for kind in [
            EventKind::LabelChanged,
            EventKind::MetadataChanged,
            EventKind::ExpiryChanged,
            EventKind::LimitsChanged,
        ] {
            assert_eq!(EventType::of_audit(kind), EventType::KeyUpdated);
        }
        assert_eq!(
            EventType::of_audit(EventKind::LeakReported),
            EventType::KeyLeakReported
        );
        assert_eq!(
            EventType::of_audit(EventKind::Deleted),
            EventType::KeyDeleted
        );
    }

    #[test]
    fn the_wildcard_subscribes_to_everything_and_stands_alone() {
        let every = Subscription::parse(&names(&["*"])).unwrap();
        assert!(EventType::ALL.into_iter().all(|t| every.includes(t)));
        assert_eq!(every.names(), vec!["*"]);
        let err = Subscription::parse(&names(&["*", "key.created"])).unwrap_err();
        assert_eq!(err.code(), "validation_failed");
    }

    #[test]
    fn a_list_subscribes_to_its_types_and_always_to_tests() {
        let some = Subscription::parse(&names(&["key.leak_reported", "key.created"])).unwrap();
        assert_eq!(some.names(), vec!["key.created", "key.leak_reported"]);
        assert!(some.includes(EventType::KeyCreated));
        assert!(some.includes(EventType::WebhookTest));
        assert!(!some.includes(EventType::KeyDeleted));
        assert_eq!(Subscription::from_stored(&some.to_stored()), Some(some));
    }

    #[test]
    fn unknown_empty_and_repeated_types_are_refused() {
        let err = Subscription::parse(&names(&["key.created", "key.exploded"])).unwrap_err();
        assert_eq!((err.status(), err.code()), (422, "invalid_event_type"));
        assert!(err.to_string().contains("\"key.exploded\""));
        let err = Subscription::parse(&names(&["webhook.test"])).unwrap_err();
        assert_eq!(err.code(), "invalid_event_type");
        assert_eq!(Subscription::parse(&[]).unwrap_err().status(), 422);
        let err = Subscription::parse(&names(&["key.created", "key.created"])).unwrap_err();
        assert_eq!(err.code(), "validation_failed");
    }
}
