//! Finding the time-based events: for every active key, the expiry reminder or expiry due,
//! the quota thresholds reached in the current period, rate limiting in the current or the
//! last hour, and disuse (`webhooks_domain::alerts`). Each alert is written to the outbox
//! once, with its record of being sent, in one transaction. Only the kinds some enabled
//! endpoint subscribes to are looked for, so that an endpoint subscribing later still gets
//! the alerts that are then due.

use keys_domain::Error;
use keys_domain::limits::{Limit, counter_value};
use keys_domain::model::{Status, StoredKey};
use keys_domain::time::Timestamp;
use keys_domain::usage::counter_key;
use keys_domain::verify::VerifyCode;
use keys_spin::db::Db;
use keys_spin::deadline::ADMIN_STORE_DEADLINE;
use keys_spin::keys::{self, ListFilter};
use keys_spin::kv::Kv;
use keys_spin::webhooks;
use serde_json::json;
use webhooks_domain::alerts::{self, Alert, ReminderDays};
use webhooks_domain::delivery;
use webhooks_domain::events::EventType;

/// Variable: the days before expiry at which reminders are sent (default `30,7,1`).
const VAR_REMINDER_DAYS: &str = "expiry_reminder_days";
/// Variable: the days without verification after which a key is reported unused (90).
const VAR_UNUSED_DAYS: &str = "unused_key_days";
/// Keys read per page.
const PAGE: u32 = 100;

/// What the enabled endpoints subscribe to, of the time-based types.
struct Wanted {
    expiry: bool,
    quota: bool,
    rate: bool,
    unused: bool,
}

/// Looks for the alerts due at `now`; returns how many were written.
pub async fn find(db: &Db, now: Timestamp) -> Result<usize, Error> {
    let subscribed =
        |t| async move { Ok::<_, Error>(!webhooks::subscribed(db, t).await?.is_empty()) };
    let wanted = Wanted {
        expiry: subscribed(EventType::KeyExpiring).await?
            || subscribed(EventType::KeyExpired).await?,
        quota: subscribed(EventType::KeyQuotaThreshold).await?,
        rate: subscribed(EventType::KeyRateLimited).await?,
        unused: subscribed(EventType::KeyUnused).await?,
    };
    if !(wanted.expiry || wanted.quota || wanted.rate || wanted.unused) {
        return Ok(0);
    }
    let variable = |name| async move { keys_spin::auth::variable(name).await };
    let reminders = ReminderDays::parse(&variable(VAR_REMINDER_DAYS).await?.unwrap_or_default())
        .map_err(Error::unexpected)?;
    let unused_days = alerts::unused_days(&variable(VAR_UNUSED_DAYS).await?.unwrap_or_default())
        .map_err(Error::unexpected)?;
    let kv = Kv::open(ADMIN_STORE_DEADLINE).await?;
    let mut filter = ListFilter {
        status: Some(Status::Active),
        label_contains: None,
        leaked: None,
        after: None,
        limit: PAGE,
    };
    let mut written = 0;
    loop {
        let (page, next) = keys::list(db, &filter).await?;
        let mut found: Vec<(&StoredKey, Alert, serde_json::Value)> = Vec::new();
        if wanted.expiry {
            for key in &page {
                if let Some(expires_at) = key.expires_at
                    && let Some(alert) = alerts::expiry(expires_at, now, &reminders)
                {
                    found.push((key, alert, expiry_detail(&alert)));
                }
            }
        }
        if wanted.quota {
            found.extend(quota_alerts(&kv, &page, now).await?);
        }
        if wanted.rate {
            found.extend(rate_alerts(&kv, &page, now).await?);
        }
        if wanted.unused {
            let ids: Vec<&str> = page.iter().map(|k| k.id.as_str()).collect();
            let used = keys::last_used_many(&kv, &ids).await?;
            for (key, last_used) in page.iter().zip(used) {
                if let Some(alert) = alerts::unused(key.created_at, last_used, now, unused_days) {
                    let Alert::Unused { since } = alert else {
                        continue;
                    };
                    let detail = json!({"unused_days": unused_days, "last_used_at": last_used, "since": since});
                    found.push((key, alert, detail));
                }
            }
        }
        for (key, alert, detail) in found {
            let event_type = alert.event_type();
            let body = delivery::body(
                event_type.as_str(),
                now,
                &json!({"key": key.view(None), "alert": detail}),
            );
            let sent = webhooks::send_alert_once(
                db,
                &key.id,
                alert.kind(),
                &alert.period(),
                event_type,
                &body,
                now,
            )
            .await?;
            written += usize::from(sent);
        }
        match next {
            Some(cursor) => filter.after = Some(cursor),
            None => return Ok(written),
        }
    }
}

fn expiry_detail(alert: &Alert) -> serde_json::Value {
    match alert {
        Alert::Expiring { days, expires_at } => {
            json!({"expires_at": expires_at, "reminder_days": days})
        }
        Alert::Expired { expires_at } => json!({"expires_at": expires_at}),
        _ => serde_json::Value::Null,
    }
}

/// The quota thresholds the keys of `page` reached in their current period.
async fn quota_alerts<'k>(
    kv: &Kv,
    page: &'k [StoredKey],
    now: Timestamp,
) -> Result<Vec<(&'k StoredKey, Alert, serde_json::Value)>, Error> {
    let limited: Vec<(&StoredKey, Limit)> = page
        .iter()
        .filter_map(|k| k.limits.quota.map(|q| (k, Limit::Quota(q))))
        .collect();
    let names: Vec<String> = limited
        .iter()
        .map(|(k, limit)| limit.counter_key(&k.id, limit.window(now).index))
        .collect();
    let counts = kv.get_many(&names).await?;
    let mut found = Vec::new();
    for ((key, limit), count) in limited.into_iter().zip(counts) {
        let used = count.as_deref().and_then(counter_value).unwrap_or(0).max(0) as u64;
        let window = limit.window(now);
        for alert in alerts::quota(limit.limit(), used, window.index) {
            let Alert::QuotaThreshold { percent, .. } = alert else {
                continue;
            };
            let detail = json!({
                "quota": key.limits.quota,
                "used": used,
                "threshold_percent": percent,
                "period_ends_at": now.plus_seconds(window.reset),
            });
            found.push((key, alert, detail));
        }
    }
    Ok(found)
}

/// The hours, this one and the last, in which the keys of `page` with a rate limit had
/// verifications refused by it.
async fn rate_alerts<'k>(
    kv: &Kv,
    page: &'k [StoredKey],
    now: Timestamp,
) -> Result<Vec<(&'k StoredKey, Alert, serde_json::Value)>, Error> {
    let hours = alerts::rate_hours(now);
    let limited: Vec<&StoredKey> = page
        .iter()
        .filter(|k| k.limits.rate_limit.is_some())
        .collect();
    let names: Vec<String> = limited
        .iter()
        .flat_map(|k| hours.map(|h| counter_key(h, &k.id, VerifyCode::RateLimited)))
        .collect();
    let counts = kv.get_many(&names).await?;
    let mut found = Vec::new();
    for (key, pair) in limited.into_iter().zip(counts.chunks(2)) {
        let refused = |n: usize| pair[n].as_deref().and_then(counter_value).unwrap_or(0);
        let refusals = [(hours[0], refused(0)), (hours[1], refused(1))];
        for (alert, refused) in alerts::rate_limited(refusals) {
            let Alert::RateLimited { hour } = alert else {
                continue;
            };
            let detail = json!({
                "rate_limit": key.limits.rate_limit,
                "hour_start": alerts::hour_start(hour),
                "refused_so_far": refused,
            });
            found.push((key, alert, detail));
        }
    }
    Ok(found)
}
