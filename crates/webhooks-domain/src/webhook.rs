//! An endpoint: what an administrator gives (URL, events, description, enabled), what the
//! service keeps beside it, its edits and its public view. Its signing secrets are kept
//! apart, sealed (see [`crate::sealing`]), and never part of a view but the answer that
//! creates or rotates one.

use crate::delivery::{Attempt, endpoint_after_attempt};
use crate::events::Subscription;
use crate::origin::Origin;
use keys_domain::Error;
use keys_domain::model::Actor;
use keys_domain::time::Timestamp;
use serde::Serialize;

/// The prefix of a webhook id.
pub const WEBHOOK_ID_PREFIX: &str = "wh_";
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// How long a rotated secret keeps signing beside the new one: 24 h.
pub const ROTATION_OVERLAP_SECS: i64 = 86_400;

/// Why the service disabled an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DisabledReason {
    /// Every attempt failed for 5 days (see [`crate::delivery`]).
    Failing,
}

impl DisabledReason {
    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failing => "failing",
        }
    }

    /// Reads the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        (text == "failing").then_some(Self::Failing)
    }
}

/// An endpoint as stored (without its secrets).
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// `wh_…`.
    pub id: String,
    /// Where messages go (admitted by the origin when it was set).
    pub url: String,
    /// What it is for.
    pub description: Option<String>,
    /// The events it is sent.
    pub subscription: Subscription,
    /// Whether messages are written for it and sent.
    pub enabled: bool,
    /// Why the service disabled it, if it did.
    pub disabled_reason: Option<DisabledReason>,
    /// Since when every attempt to it has failed.
    pub failing_since: Option<Timestamp>,
    /// Until when the secret before the last rotation still signs.
    pub previous_secret_expires_at: Option<Timestamp>,
    /// Creation instant.
    pub created_at: Timestamp,
    /// Creator.
    pub created_by: Actor,
    /// Last change instant.
    pub updated_at: Timestamp,
}

/// What a create gives, as sent.
pub struct Create<'a> {
    /// `url`.
    pub url: &'a str,
    /// `events`.
    pub events: &'a [String],
    /// `description`, absent or `null` for none.
    pub description: Option<&'a str>,
    /// `enabled`, absent for `true`.
    pub enabled: Option<bool>,
}

/// What an edit gives: each `None` when the field is absent (unchanged).
#[derive(Default)]
pub struct Edit<'a> {
    /// `url`.
    pub url: Option<&'a str>,
    /// `events`.
    pub events: Option<&'a [String]>,
    /// `description`; `Some(None)` for `null` (cleared).
    pub description: Option<Option<&'a str>>,
    /// `enabled`.
    pub enabled: Option<bool>,
}

impl Webhook {
    /// A new endpoint of `id` from a create, checked against `origin`.
    pub fn create(
        id: String,
        create: Create<'_>,
        origin: &Origin,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Self, Error> {
        origin.admit(create.url)?;
        Ok(Self {
            id,
            url: create.url.to_owned(),
            description: description(create.description)?,
            subscription: Subscription::parse(create.events)?,
            enabled: create.enabled.unwrap_or(true),
            disabled_reason: None,
            failing_since: None,
            previous_secret_expires_at: None,
            created_at: now,
            created_by: actor.clone(),
            updated_at: now,
        })
    }

    /// Applies an edit, every field checked before any is applied. Enabling an endpoint the
    /// service disabled clears the reason and its failing streak; a new URL clears the
    /// streak too.
    pub fn edit(&mut self, edit: Edit<'_>, origin: &Origin, now: Timestamp) -> Result<(), Error> {
        if edit.url.is_none()
            && edit.events.is_none()
            && edit.description.is_none()
            && edit.enabled.is_none()
        {
            return Err(Error::invalid(
                "give at least one of url, events, description and enabled",
            ));
        }
        if let Some(url) = edit.url {
            origin.admit(url)?;
        }
        let subscription = edit.events.map(Subscription::parse).transpose()?;
        let description = edit.description.map(description).transpose()?;
        if let Some(url) = edit.url
            && url != self.url
        {
            self.url = url.to_owned();
            self.failing_since = None;
        }
        if let Some(subscription) = subscription {
            self.subscription = subscription;
        }
        if let Some(description) = description {
            self.description = description;
        }
        if let Some(enabled) = edit.enabled {
            if enabled {
                self.disabled_reason = None;
                self.failing_since = None;
            }
            self.enabled = enabled;
        }
        self.updated_at = now;
        Ok(())
    }

    /// Disables the endpoint for failing (see [`crate::delivery::endpoint_after_attempt`]).
    pub fn disable_for_failing(&mut self, now: Timestamp) {
        self.enabled = false;
        self.disabled_reason = Some(DisabledReason::Failing);
        self.updated_at = now;
    }

    /// The endpoint's standing after `attempt`: its failing streak, and disabled for failing
    /// once every attempt has failed for 5 days. Returns whether anything changed (and must
    /// be stored).
    pub fn after_attempt(&mut self, attempt: &Attempt) -> bool {
        let (failing_since, disable) = endpoint_after_attempt(self.failing_since, attempt);
        let disabling = disable && self.enabled;
        let changed = failing_since != self.failing_since || disabling;
        self.failing_since = failing_since;
        if disabling {
            self.disable_for_failing(attempt.at);
        }
        changed
    }

    /// Whether the secret before the last rotation still signs at `now`.
    pub fn previous_secret_signs(&self, now: Timestamp) -> bool {
        self.previous_secret_expires_at
            .is_some_and(|until| now.unix() < until.unix())
    }

    /// The public view.
    pub fn view(&self, now: Timestamp) -> WebhookView<'_> {
        WebhookView {
            id: &self.id,
            url: &self.url,
            description: self.description.as_deref(),
            events: self.subscription.names(),
            enabled: self.enabled,
            disabled_reason: self.disabled_reason,
            failing_since: self.failing_since,
            created_at: self.created_at,
            created_by: &self.created_by,
            updated_at: self.updated_at,
            previous_secret_expires_at: self
                .previous_secret_expires_at
                .filter(|_| self.previous_secret_signs(now)),
            secret: None,
        }
    }
}

/// A description: trimmed; empty is none; at most [`MAX_DESCRIPTION_CHARS`] characters
/// without control characters.
fn description(text: Option<&str>) -> Result<Option<String>, Error> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid(format!(
            "description must be at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::invalid(
            "description must not hold control characters",
        ));
    }
    Ok(Some(text.to_owned()))
}

/// The webhook object of the API.
#[derive(Debug, Serialize)]
pub struct WebhookView<'a> {
    /// `wh_…`.
    pub id: &'a str,
    /// Where messages go.
    pub url: &'a str,
    /// What it is for.
    pub description: Option<&'a str>,
    /// `["*"]` or the event types.
    pub events: Vec<&'static str>,
    /// Whether messages are written and sent.
    pub enabled: bool,
    /// Why the service disabled it (`failing`), if it did.
    pub disabled_reason: Option<DisabledReason>,
    /// Since when every attempt has failed, if they have.
    pub failing_since: Option<Timestamp>,
    /// Creation instant.
    pub created_at: Timestamp,
    /// Creator.
    pub created_by: &'a Actor,
    /// Last change instant.
    pub updated_at: Timestamp,
    /// Until when the secret before the last rotation still signs (`null`: it no longer does).
    pub previous_secret_expires_at: Option<Timestamp>,
    /// The signing secret: only in the answer to a create or a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookView<'_> {
    /// This view with the secret shown once.
    pub fn with_secret(self, secret: String) -> Self {
        Self {
            secret: Some(secret),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn actor() -> Actor {
        Actor {
            id: "admin-1".to_owned(),
            name: Some("Ada".to_owned()),
        }
    }

    fn events(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn created() -> Webhook {
        let events = events(&["key.created"]);
        let create = Create {
            url: "https://hooks.example.com/a",
            events: &events,
            description: Some("  SIEM  "),
            enabled: None,
        };
        Webhook::create(
            "wh_1".into(),
            create,
            &Origin::parse("").unwrap(),
            &actor(),
            NOW,
        )
        .unwrap()
    }

    #[test]
    fn a_created_webhook_is_enabled_with_its_fields_checked() {
        let hook = created();
        assert!(hook.enabled);
        assert_eq!(hook.description.as_deref(), Some("SIEM"));
        let view = serde_json::to_value(hook.view(NOW)).unwrap();
        assert_eq!(view["events"], serde_json::json!(["key.created"]));
        assert_eq!(view["created_by"]["id"], "admin-1");
        assert_eq!(view["disabled_reason"], serde_json::Value::Null);
        assert!(view.get("secret").is_none());
        let shown = serde_json::to_value(hook.view(NOW).with_secret("whsec_x".into())).unwrap();
        assert_eq!(shown["secret"], "whsec_x");
    }

    #[test]
    fn a_create_outside_the_origin_or_with_bad_fields_is_refused() {
        let origin = Origin::parse("").unwrap();
        let ev = events(&["key.created"]);
        let bad_url = Create {
            url: "http://hooks.example.com/",
            events: &ev,
            description: None,
            enabled: None,
        };
        let err = Webhook::create("wh_1".into(), bad_url, &origin, &actor(), NOW).unwrap_err();
        assert_eq!(err.code(), "invalid_url");
        let long = "d".repeat(MAX_DESCRIPTION_CHARS + 1);
        let bad_description = Create {
            url: "https://hooks.example.com/",
            events: &ev,
            description: Some(&long),
            enabled: None,
        };
        let err =
            Webhook::create("wh_1".into(), bad_description, &origin, &actor(), NOW).unwrap_err();
        assert_eq!(err.code(), "validation_failed");
    }

    #[test]
    fn an_edit_changes_only_what_it_names_and_nothing_when_a_field_is_bad() {
        let origin = Origin::parse("").unwrap();
        let mut hook = created();
        let before = hook.clone();
        let bad = events(&["key.nope"]);
        let edit = Edit {
            description: Some(None),
            events: Some(&bad),
            ..Edit::default()
        };
        assert!(hook.edit(edit, &origin, NOW.plus_seconds(5)).is_err());
        assert_eq!(hook, before);
        let edit = Edit {
            description: Some(None),
            ..Edit::default()
        };
        hook.edit(edit, &origin, NOW.plus_seconds(5)).unwrap();
        assert_eq!(hook.description, None);
        assert_eq!(hook.url, before.url);
        assert_eq!(hook.updated_at, NOW.plus_seconds(5));
        assert_eq!(
            hook.edit(Edit::default(), &origin, NOW).unwrap_err().code(),
            "validation_failed"
        );
    }

    #[test]
    fn enabling_a_webhook_disabled_for_failing_clears_the_reason_and_streak() {
        let origin = Origin::parse("").unwrap();
        let mut hook = created();
        hook.failing_since = Some(NOW);
        hook.disable_for_failing(NOW.plus_seconds(10));
        assert!(!hook.enabled);
        assert_eq!(hook.disabled_reason, Some(DisabledReason::Failing));
        let edit = Edit {
            enabled: Some(true),
            ..Edit::default()
        };
        hook.edit(edit, &origin, NOW.plus_seconds(20)).unwrap();
        assert!(hook.enabled);
        assert_eq!((hook.disabled_reason, hook.failing_since), (None, None));
    }

    #[test]
    fn attempts_keep_the_failing_streak_and_disable_after_five_days() {
        let mut hook = created();
        let failed = |at: Timestamp| Attempt::answered(at, 500, 1);
        assert!(hook.after_attempt(&failed(NOW)), "a streak starts");
        assert_eq!(hook.failing_since, Some(NOW));
        assert!(
            !hook.after_attempt(&failed(NOW.plus_seconds(60))),
            "nothing new"
        );
        let five_days = NOW.plus_seconds(crate::delivery::DISABLE_AFTER_FAILING_SECS);
        assert!(hook.after_attempt(&failed(five_days)));
        assert_eq!(
            (hook.enabled, hook.disabled_reason),
            (false, Some(DisabledReason::Failing))
        );
        assert_eq!(hook.updated_at, five_days);
        assert!(
            !hook.after_attempt(&failed(five_days.plus_seconds(1))),
            "already disabled"
        );
        assert!(hook.after_attempt(&Attempt::answered(five_days, 204, 1)));
        assert_eq!(hook.failing_since, None, "a delivery ends the streak");
        assert!(!hook.enabled, "only an administrator enables it again");
    }

    #[test]
    fn a_rotated_secret_shows_its_end_only_while_it_still_signs() {
        let mut hook = created();
        hook.previous_secret_expires_at = Some(NOW.plus_seconds(ROTATION_OVERLAP_SECS));
        assert!(hook.previous_secret_signs(NOW));
        assert!(hook.view(NOW).previous_secret_expires_at.is_some());
        let later = NOW.plus_seconds(ROTATION_OVERLAP_SECS);
        assert!(!hook.previous_secret_signs(later));
        assert_eq!(hook.view(later).previous_secret_expires_at, None);
    }
}
