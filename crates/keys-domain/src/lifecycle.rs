//! What the lifecycle changes of a key do to it, and what the audit trail records of them:
//! an edit (one event per kind of field changed), regeneration (a new secret; the old one
//! kept for a grace period, unless a scanner reported it) and deactivation / reactivation
//! (never of a published secret). The components read the key, call these, and write what
//! they say.

use crate::error::Error;
use crate::events::{Changes, EventKind, limits_changes};
use crate::model::{
    Label, LimitsPatch, MAX_GRACE_PERIOD_SECS, Metadata, Status, StoredKey, StoredLeak,
};
use crate::record::Limits;
use crate::time::Timestamp;

/// An edit of a key: each field `None` when the edit leaves it as it is.
pub struct Edit {
    /// The new label.
    pub label: Option<Label>,
    /// The new expiry (`Some(None)`: none).
    pub expires_at: Option<Option<Timestamp>>,
    /// The new metadata (`Some(None)`: none).
    pub metadata: Option<Option<Metadata>>,
    /// The new limits.
    pub limits: LimitsPatch,
}

/// What an edit did.
#[derive(Debug)]
pub struct Edited {
    /// One audit event per kind of field that changed (label, expiry, metadata, limits), in
    /// that order; none when nothing changed.
    pub events: Vec<(EventKind, Changes)>,
    /// The limits before the edit, when it changed them (their counters may be abandoned).
    pub old_limits: Option<Limits>,
}

/// Applies `edit` to `key` at `now`: only what differs counts as a change, and the key's
/// `updated_at` moves only when something changed.
pub fn edit(key: &mut StoredKey, edit: Edit, now: Timestamp) -> Result<Edited, Error> {
    let mut events = Vec::new();
    if let Some(label) = edit.label.filter(|l| l.as_str() != key.label) {
        let changes = Changes::new().change("label", &key.label, &label.as_str())?;
        events.push((EventKind::LabelChanged, changes));
        key.label = label.as_str().to_owned();
    }
    if let Some(expires_at) = edit.expires_at.filter(|e| *e != key.expires_at) {
        let changes = Changes::new().change("expires_at", &key.expires_at, &expires_at)?;
        events.push((EventKind::ExpiryChanged, changes));
        key.expires_at = expires_at;
    }
    if let Some(metadata) = edit.metadata.filter(|m| *m != key.metadata) {
        let changes = Changes::new().change("metadata", &key.metadata, &metadata)?;
        events.push((EventKind::MetadataChanged, changes));
        key.metadata = metadata;
    }
    let new_limits = edit.limits.apply(&key.limits);
    let mut old_limits = None;
    if let Some(changes) = limits_changes(&key.limits, &new_limits)? {
        events.push((EventKind::LimitsChanged, changes));
        old_limits = Some(std::mem::replace(&mut key.limits, new_limits));
    }
    if !events.is_empty() {
        key.updated_at = now;
    }
    Ok(Edited { events, old_limits })
}

/// Checks a requested grace period for the replaced secret, in seconds: at most
/// [`MAX_GRACE_PERIOD_SECS`] (7 days), 422 otherwise.
pub fn grace_period(requested_secs: u64) -> Result<u64, Error> {
    if requested_secs > u64::from(MAX_GRACE_PERIOD_SECS) {
        return Err(Error::invalid(format!(
            "grace_period_seconds must be at most {MAX_GRACE_PERIOD_SECS} (7 days)"
        )));
    }
    Ok(requested_secs)
}

/// The first second at which a secret replaced at `now` with `grace_secs` of grace no longer
/// works. `now` is the regeneration's instant cut down to its second, so the end is that second
/// plus one more than the grace: the old secret works for at least `grace_secs` seconds and at
/// most one second beyond, wherever in its second the regeneration fell.
pub fn grace_end(now: Timestamp, grace_secs: u64) -> Timestamp {
    // A grace period is at most 7 days: the conversion cannot wrap.
    now.plus_seconds(grace_secs as i64 + 1)
}

/// What a regeneration does besides the new secret.
#[derive(Debug)]
pub struct Regeneration {
    /// The first second at which the replaced secret no longer works (`None`: it stops now).
    pub grace_until: Option<Timestamp>,
    /// The audit record.
    pub changes: Changes,
}

/// Regenerates `key` at `now` with a new secret whose hint is `new_hint`, keeping the old
/// secret for `grace_secs` (a [`grace_period`]) — or not at all when a secret scanner
/// reported the key: the published secret stops at once, and the report is cleared with it.
pub fn regenerate(
    key: &mut StoredKey,
    new_hint: String,
    grace_secs: u64,
    now: Timestamp,
) -> Result<Regeneration, Error> {
    let grace_secs = if key.leak.is_some() {
        0
    } else {
        grace_period(grace_secs)?
    };
    let grace_until = (grace_secs > 0).then(|| grace_end(now, grace_secs));
    let mut changes = Changes::new()
        .change("hint", &key.hint, &new_hint)?
        .set("grace_period_seconds", &grace_secs)?
        .set("previous_secret_valid_until", &grace_until)?;
    if let Some(leak) = key.leak.take() {
        changes = changes.change("leak", &leak, &None::<StoredLeak>)?;
    }
    key.hint = new_hint;
    key.updated_at = now;
    Ok(Regeneration {
        grace_until,
        changes,
    })
}

/// Sets `key`'s status at `now`: the event to record, or `None` when it already had it. A key
/// whose live secret a scanner reported is not reactivated (409 `leaked_secret`): it must be
/// regenerated first, so that the published secret never works again.
pub fn change_status(
    key: &mut StoredKey,
    status: Status,
    now: Timestamp,
) -> Result<Option<(EventKind, Changes)>, Error> {
    let published = key
        .leak
        .as_ref()
        .is_some_and(StoredLeak::concerns_live_secret);
    if status == Status::Active && key.status != Status::Active && published {
        return Err(Error::conflict(
            "leaked_secret",
            "a secret scanner reported this key's secret as published: regenerate the key \
             (which issues a new secret) before reactivating it",
        ));
    }
    if key.status == status {
        return Ok(None);
    }
    let kind = match status {
        Status::Active => EventKind::Activated,
        Status::Inactive => EventKind::Deactivated,
    };
    let changes = Changes::new().change("status", &key.status, &status)?;
    key.status = status;
    key.updated_at = now;
    Ok(Some((kind, changes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Actor, Leak};
    use crate::permissions::CompanyScope;
    use crate::record::Limits;

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn key() -> StoredKey {
        StoredKey {
            id: "key_1".into(),
            label: "Welyb".into(),
            hint: "ingk_...old1".into(),
            status: Status::Active,
            methods: vec![],
            companies: CompanyScope::All,
            metadata: None,
            expires_at: None,
            created_at: NOW,
            created_by: Actor {
                id: "u-1".into(),
                name: None,
            },
            updated_at: NOW,
            leak: None,
            limits: Limits::default(),
        }
    }

    fn leaked(live_secret: bool) -> StoredKey {
        let leak = Leak {
            reported_at: NOW,
            url: Some("https://github.com/p/a"),
            source: None,
            scanner: "github",
            live_secret,
        };
        StoredKey {
            leak: Some(leak.to_stored().unwrap()),
            status: Status::Inactive,
            ..key()
        }
    }

    fn no_edit() -> Edit {
        Edit {
            label: None,
            expires_at: None,
            metadata: None,
            limits: LimitsPatch::parse(None, None, None).unwrap(),
        }
    }

    #[test]
    fn an_edit_records_one_event_per_kind_of_field_that_changed() {
        let mut k = key();
        let later = NOW.plus_seconds(9);
        let edited = edit(
            &mut k,
            Edit {
                label: Some(Label::parse("Welyb prod").unwrap()),
                expires_at: Some(Some(NOW.plus_seconds(86_400))),
                limits: LimitsPatch::parse(Some(r#"{"limit":5,"window_seconds":60}"#), None, None)
                    .unwrap(),
                ..no_edit()
            },
            later,
        )
        .unwrap();
        let kinds: Vec<EventKind> = edited.events.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                EventKind::LabelChanged,
                EventKind::ExpiryChanged,
                EventKind::LimitsChanged
            ]
        );
        assert_eq!(edited.old_limits, Some(Limits::default()));
        assert_eq!((k.label.as_str(), k.updated_at), ("Welyb prod", later));
        assert_eq!(k.limits.rate_limit.map(|r| r.limit), Some(5));
    }

    #[test]
    fn an_edit_to_the_same_values_changes_nothing_and_records_nothing() {
        let mut k = key();
        let same = Edit {
            label: Some(Label::parse("Welyb").unwrap()),
            expires_at: Some(None),
            metadata: Some(None),
            ..no_edit()
        };
        let edited = edit(&mut k, same, NOW.plus_seconds(9)).unwrap();
        assert!(edited.events.is_empty());
        assert_eq!((edited.old_limits, k.updated_at), (None, NOW));
    }

    #[test]
    fn a_grace_period_is_at_most_seven_days() {
        assert_eq!(grace_period(0).unwrap(), 0);
        assert_eq!(grace_period(7 * 24 * 3600).unwrap(), 604_800);
        assert_eq!(grace_period(7 * 24 * 3600 + 1).unwrap_err().status(), 422);
    }

    #[test]
    fn a_regeneration_keeps_the_old_secret_for_its_grace_period_and_records_it() {
        let mut k = key();
        let later = NOW.plus_seconds(60);
        let r = regenerate(&mut k, "ingk_...new2".into(), 3_600, later).unwrap();
        assert_eq!(r.grace_until, Some(later.plus_seconds(3_601)));
        assert_eq!((k.hint.as_str(), k.updated_at), ("ingk_...new2", later));
        let changes = r.changes.into_json();
        assert!(changes.starts_with(r#"{"hint":{"from":"ingk_...old1","to":"ingk_...new2"},"grace_period_seconds":3600,"previous_secret_valid_until":"#), "{changes}");
        let none = regenerate(&mut k, "ingk_...new3".into(), 0, later).unwrap();
        assert_eq!(none.grace_until, None);
    }

    #[test]
    fn a_grace_period_lasts_at_least_its_seconds_wherever_in_its_second_the_regeneration_fell() {
        // A secret works while the clock's second is before its end (see verify's tests).
        // Regenerated at NOW + 0.999 s with 1 s of grace, it still works at NOW + 1.999 s (second
        // NOW + 1) and stops at NOW + 2 s; regenerated at NOW + 0 s, it stops 2 s later.
        assert_eq!(grace_end(NOW, 1), NOW.plus_seconds(2));
        assert_eq!(grace_end(NOW, 604_800), NOW.plus_seconds(604_801));
    }

    #[test]
    fn a_regeneration_keeps_the_key_s_expiry() {
        let expires_at = Some(NOW.plus_seconds(30 * 86_400));
        let mut k = StoredKey {
            expires_at,
            ..key()
        };
        let r = regenerate(&mut k, "ingk_...new2".into(), 0, NOW.plus_seconds(60)).unwrap();
        assert_eq!(k.expires_at, expires_at);
        assert!(!r.changes.into_json().contains("expires_at"));
    }

    #[test]
    fn a_reported_key_gets_no_grace_period_and_its_report_is_cleared() {
        let mut k = leaked(true);
        let r = regenerate(&mut k, "ingk_...new2".into(), 3_600, NOW).unwrap();
        assert_eq!(r.grace_until, None);
        assert!(k.leak.is_none());
        let changes = r.changes.into_json();
        assert!(changes.contains(r#""grace_period_seconds":0"#), "{changes}");
        assert!(changes.contains(r#""leak":{"from":{"#), "{changes}");
        assert!(changes.ends_with(r#""to":null}}"#), "{changes}");
    }

    #[test]
    fn a_regeneration_asking_more_than_seven_days_is_refused_before_anything_changes() {
        let mut k = key();
        let err = regenerate(&mut k, "ingk_...new2".into(), 604_801, NOW).unwrap_err();
        assert_eq!(err.status(), 422);
        assert_eq!(k.hint, "ingk_...old1");
    }

    #[test]
    fn a_status_change_is_recorded_once_and_a_repeat_records_nothing() {
        let mut k = key();
        let later = NOW.plus_seconds(5);
        let (kind, changes) = change_status(&mut k, Status::Inactive, later)
            .unwrap()
            .unwrap();
        assert_eq!(kind, EventKind::Deactivated);
        assert_eq!(
            changes.into_json(),
            r#"{"status":{"from":"active","to":"inactive"}}"#
        );
        assert_eq!((k.status, k.updated_at), (Status::Inactive, later));
        assert!(
            change_status(&mut k, Status::Inactive, later)
                .unwrap()
                .is_none()
        );
        let (kind, _) = change_status(&mut k, Status::Active, later)
            .unwrap()
            .unwrap();
        assert_eq!(kind, EventKind::Activated);
    }

    #[test]
    fn a_published_live_secret_is_never_reactivated_but_a_replaced_one_is_no_obstacle() {
        let mut published = leaked(true);
        let err = change_status(&mut published, Status::Active, NOW).unwrap_err();
        assert_eq!((err.status(), err.code()), (409, "leaked_secret"));
        assert_eq!(published.status, Status::Inactive);
        assert!(
            change_status(&mut published, Status::Inactive, NOW)
                .unwrap()
                .is_none()
        );
        let mut replaced = leaked(false);
        assert!(
            change_status(&mut replaced, Status::Active, NOW)
                .unwrap()
                .is_some()
        );
    }
}
