//! The dispatcher's state (the internal token, the last look for alerts) and the nudge that
//! asks the `webhooks` component to send.

use super::{ENQUEUED, SQL_ANY_DUE, any_enabled, random, unexpected};
use crate::db::{self, Db};
use crate::deadline::{Deadline, SQLITE_DEADLINE};
use crate::outbound::{self, Outgoing};
use keys_domain::Error;
use keys_domain::time::Timestamp;
use spin_sdk::sqlite::Value;
use std::cell::{Cell, RefCell};
use std::time::Duration;
use webhooks_domain::alerts;

const SQL_DISPATCHER: &str =
    "SELECT internal_token, scanned_at FROM webhook_dispatcher WHERE id = 1";
const SQL_INIT_DISPATCHER: &str =
    "INSERT OR IGNORE INTO webhook_dispatcher (id, scanned_at, internal_token) VALUES (1, 0, ?)";
const SQL_SET_SCANNED: &str = "UPDATE webhook_dispatcher SET scanned_at = ? WHERE id = 1";
/// Where the `webhooks` component answers (Spin's local service chaining).
pub const WEBHOOKS_AUTHORITY: &str = "webhooks.spin.internal";
/// Its dispatch route.
pub const DISPATCH_PATH: &str = "/api/v1/webhooks/dispatch";
/// How often an instance with nothing enqueued nudges the dispatcher at most.
const NUDGE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a nudge may take: the dispatcher sends what is due before it answers.
const NUDGE_DEADLINE: Duration = Duration::from_secs(120);

thread_local! {
    /// When this instance last nudged the dispatcher (or, before its first nudge, served its
    /// first request), in monotonic nanoseconds.
    static LAST_NUDGE: Cell<Option<u64>> = const { Cell::new(None) };
    /// Whether this instance's nudge is under way.
    static IN_FLIGHT: Cell<bool> = const { Cell::new(false) };
    /// The token of messages enqueued while the nudge was under way: one more round after it.
    static AGAIN: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The token with which components ask the dispatcher to send, if one was made.
pub async fn existing_internal_token(db: &Db) -> Result<Option<String>, Error> {
    Ok(dispatcher_row(db).await?.map(|(token, _)| token))
}

/// The token with which components ask the dispatcher to send (made on first use).
pub async fn internal_token(db: &Db) -> Result<String, Error> {
    if let Some((token, _)) = dispatcher_row(db).await? {
        return Ok(token);
    }
    let token = random("wht_")?;
    db.exec(SQL_INIT_DISPATCHER, vec![Value::Text(token)])
        .await?;
    dispatcher_row(db)
        .await?
        .map(|(token, _)| token)
        .ok_or_else(|| unexpected("dispatcher"))
}

async fn dispatcher_row(db: &Db) -> Result<Option<(String, Timestamp)>, Error> {
    let rows = db.rows(SQL_DISPATCHER, vec![]).await?;
    rows.first()
        .map(|r| Ok((db::text(r, 0)?, Timestamp::from_unix(db::int(r, 1)?))))
        .transpose()
}

/// When the dispatcher last looked for time-based alerts (`None`: never).
pub async fn scanned_at(db: &Db) -> Result<Option<Timestamp>, Error> {
    Ok(dispatcher_row(db).await?.and_then(|(_, at)| last_scan(at)))
}

/// The stored time of the last look for alerts, `None` while there was none (stored as 0).
fn last_scan(stored: Timestamp) -> Option<Timestamp> {
    (stored.unix() > 0).then_some(stored)
}

/// Records that the dispatcher looked for time-based alerts at `now`.
pub async fn set_scanned(db: &Db, now: Timestamp) -> Result<(), Error> {
    internal_token(db).await?;
    db.exec(SQL_SET_SCANNED, vec![Value::Integer(now.unix())])
        .await
}

/// Once a request is answered: asks the dispatcher to send, in a task of its own, when this
/// request enqueued messages, or, when `may_check` (an administrator's request), at most once
/// a minute per instance (the first time a minute after its first request), when a message
/// is due or the alerts were not looked for in a minute. One nudge per instance is under way
/// at a time; messages enqueued meanwhile make it ask once more when it ends. Failures are
/// logged: the next nudge or the scheduled dispatch sends what this one did not.
pub fn nudge(may_check: bool) {
    let enqueued = ENQUEUED.with(|e| e.borrow_mut().take());
    let now_ns = spin_sdk::wasip3::clocks::monotonic_clock::now();
    let interval = u64::try_from(NUDGE_INTERVAL.as_nanos()).unwrap_or(u64::MAX);
    // An instance's first request starts its minute: a short-lived instance (and the test
    // host's, one per request) leaves the overdue work to the scheduled dispatch.
    let last = LAST_NUDGE.with(|l| {
        let last = l.get().unwrap_or(now_ns);
        l.set(Some(last));
        last
    });
    let overdue_check = may_check && now_ns.saturating_sub(last) >= interval;
    if enqueued.is_none() && !overdue_check {
        return;
    }
    if IN_FLIGHT.get() {
        // Folded into one more round once the nudge under way ends: a burst of changes makes
        // a few dispatches that each send many messages, not one dispatch per change.
        if enqueued.is_some() {
            AGAIN.with(|a| *a.borrow_mut() = enqueued);
        }
        return;
    }
    IN_FLIGHT.set(true);
    LAST_NUDGE.with(|l| l.set(Some(now_ns)));
    spin_sdk::wit_bindgen::spawn(async move {
        let mut round = enqueued;
        loop {
            if let Err(err) = send_nudge(round).await {
                eprintln!("warning: the webhook dispatcher was not reached: {err:#}");
            }
            round = AGAIN.with(|a| a.borrow_mut().take());
            if round.is_none() {
                break;
            }
        }
        IN_FLIGHT.set(false);
    });
}

/// Called by the dispatcher once it has sent what it wrote itself: nothing left to nudge
/// for, and no overdue check for another minute.
pub fn dispatched() {
    ENQUEUED.with(|e| e.borrow_mut().take());
    let now_ns = spin_sdk::wasip3::clocks::monotonic_clock::now();
    LAST_NUDGE.with(|l| l.set(Some(now_ns)));
}

async fn send_nudge(enqueued: Option<String>) -> Result<(), Error> {
    let token = match enqueued {
        Some(token) => token,
        None => {
            let db = Db::open(SQLITE_DEADLINE).await?;
            let now = Timestamp::now();
            let Some((token, scanned_at)) = dispatcher_row(&db).await? else {
                return Ok(());
            };
            if !any_enabled(&db).await? {
                return Ok(());
            }
            let due = !db
                .rows(SQL_ANY_DUE, vec![Value::Integer(now.unix())])
                .await?
                .is_empty();
            if !due && !alerts::scan_due(last_scan(scanned_at), now) {
                return Ok(());
            }
            token
        }
    };
    let authorization = format!("Bearer {token}");
    let request = Outgoing {
        scheme: "http",
        authority: WEBHOOKS_AUTHORITY,
        path_and_query: DISPATCH_PATH,
        headers: &[
            ("authorization", &authorization),
            ("content-type", "application/json"),
        ],
        body: Some(b"{}"),
    };
    let deadline = Deadline::new("webhooks component", NUDGE_DEADLINE);
    let answer = outbound::send(&deadline, "dispatch", request, 64 * 1024).await?;
    match answer.status {
        200 => Ok(()),
        status => Err(Error::unexpected(format!(
            "the dispatcher answered {status}"
        ))),
    }
}
