//! What a report does, a scanner's (once verified) or the public one: one SQLite lookup of
//! every reported hash, then for each key concerned one run of the consistency protocol
//! (`keys::change`, as an administrator's deactivation); and the feedback a scanner expects.

use keys_domain::Error;
use keys_domain::events::{Changes, EventKind};
use keys_domain::model::{Actor, Leak, Status};
use keys_domain::time::Timestamp;
use keys_spin::db::{self, Db};
use keys_spin::keys;
use keys_spin::kv::Kv;
use leaks_domain::public_report::adds_nothing;
use leaks_domain::report::{
    Feedback, Label, LeakAction, MAX_PLACE_CHARS, Reporter, WellFormed, cut,
};
use spin_sdk::sqlite::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Every secret, live or retired, among the hashes `?1` … `?n`: hash, key id and end of
/// grace (`0` for a retired secret, which no longer works). The placeholders are written
/// by [`lookup_sql`]; the hashes are always bound.
const SQL_LOOKUP_HEAD: &str = "SELECT hash, key_id, valid_until FROM key_secrets WHERE hash IN (";
const SQL_LOOKUP_MIDDLE: &str =
    ") UNION ALL SELECT hash, key_id, 0 FROM retired_secrets WHERE hash IN (";
/// Whether this report was already recorded for the key (a replay).
const SQL_ALREADY_RECORDED: &str = "SELECT 1 FROM audit_events WHERE key_id = ?1 AND kind = ?2 \
     AND changes = ?3 LIMIT 1";
/// Ends the grace period of a replaced secret now (the change then deletes it).
const SQL_END_GRACE: &str = "UPDATE key_secrets SET valid_until = ?1 WHERE hash = ?2";

/// A reported secret as SQLite knows it.
struct Secret {
    key_id: String,
    /// `None`: the key's current secret; a time: a replaced secret's end of grace.
    valid_until: Option<Timestamp>,
}

/// The lookup of `count` hashes: `?1` … `?count`, in both halves of the union.
fn lookup_sql(count: usize) -> String {
    let placeholders: Vec<String> = (1..=count).map(|n| format!("?{n}")).collect();
    let list = placeholders.join(", ");
    format!("{SQL_LOOKUP_HEAD}{list}{SQL_LOOKUP_MIDDLE}{list})")
}

/// Every reported hash SQLite knows, in one query. A 64 KiB body holds well under 1,000
/// findings, far below SQLite's limit of 32,766 bound parameters.
async fn lookup(db: &Db, hashes: &BTreeSet<&str>) -> Result<BTreeMap<String, Secret>, Error> {
    if hashes.is_empty() {
        return Ok(BTreeMap::new());
    }
    let params = hashes
        .iter()
        .map(|h| Value::Text((*h).to_owned()))
        .collect();
    let rows = db.rows(&lookup_sql(hashes.len()), params).await?;
    let mut found = BTreeMap::new();
    for row in &rows {
        let secret = Secret {
            key_id: db::text(row, 1)?,
            valid_until: db::opt_int(row, 2).map(Timestamp::from_unix),
        };
        // A secret is in one table or the other; if both ever held it, the live row wins.
        found.entry(db::text(row, 0)?).or_insert(secret);
    }
    Ok(found)
}

/// What a report does to one key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A live secret, the key deactivated (`leak_action = deactivate`).
    Deactivated,
    /// A live secret, the key only flagged (`leak_action = report`).
    Flagged,
    /// A replaced or deleted secret: it no longer works, nothing to revoke.
    AlreadyRevoked,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Deactivated => "deactivated",
            Self::Flagged => "flagged",
            Self::AlreadyRevoked => "already_revoked",
        }
    }
}

/// One key's share of a report: the first finding that named it, and the secrets in a
/// grace period it named.
struct KeyReport<'a> {
    finding: &'a WellFormed<'a>,
    outcome: Outcome,
    replaced: Vec<&'a str>,
    /// Whether the key's current secret was among the findings.
    current: bool,
}

/// The hashes of a report that SQLite knows (live, replaced or deleted secrets).
pub type Known = BTreeSet<String>;

/// Acts on the well-formed findings of a report (a scanner's, once verified, or the public
/// one) and returns the hashes that were ours.
pub async fn act(
    db: &Db,
    kv: &Kv,
    reporter: Reporter,
    action: LeakAction,
    found: &[WellFormed<'_>],
) -> Result<Known, Error> {
    let now = Timestamp::now();
    let hashes: BTreeSet<&str> = found.iter().map(|f| f.hash.as_str()).collect();
    let known = lookup(db, &hashes).await?;
    let mut by_key: BTreeMap<&str, KeyReport<'_>> = BTreeMap::new();
    for finding in found {
        let Some(secret) = known.get(&finding.hash) else {
            continue;
        };
        let live = secret.valid_until.is_none_or(|until| until > now);
        let outcome = match (live, action) {
            (false, _) => Outcome::AlreadyRevoked,
            (true, LeakAction::Deactivate) => Outcome::Deactivated,
            (true, LeakAction::Report) => Outcome::Flagged,
        };
        let entry = by_key.entry(&secret.key_id).or_insert(KeyReport {
            finding,
            outcome,
            replaced: Vec::new(),
            current: false,
        });
        if live && entry.outcome == Outcome::AlreadyRevoked {
            // A live secret of the key outranks a retired one named earlier.
            *entry = KeyReport {
                finding,
                outcome,
                replaced: std::mem::take(&mut entry.replaced),
                current: entry.current,
            };
        }
        entry.current |= secret.valid_until.is_none();
        if live && secret.valid_until.is_some() {
            entry.replaced.push(&finding.hash);
        }
    }
    for (key_id, report) in &by_key {
        record(db, kv, key_id, report, reporter, action, now).await?;
    }
    Ok(known.into_keys().collect())
}

/// The feedback a scanner expects: one entry per well-formed finding, in report order.
pub fn feedback<'a>(found: &'a [WellFormed<'a>], known: &Known) -> Vec<Feedback<'a>> {
    found
        .iter()
        .map(|f| {
            let label = if known.contains(&f.hash) {
                Label::TruePositive
            } else {
                Label::FalsePositive
            };
            Feedback::new(f, label)
        })
        .collect()
}

/// The audit event's members: where and by whom the leak was found, and what was done.
/// Never the token. The same report gives the same text, which is how a scanner's replay is
/// told.
fn event_changes(report: &KeyReport<'_>, reporter: Reporter) -> Result<Changes, Error> {
    let finding = report.finding.finding;
    Changes::new()
        .set("scanner", &reporter.as_str())?
        .set(
            "url",
            &finding.url.as_deref().map(|u| cut(u, MAX_PLACE_CHARS)),
        )?
        .set(
            "source",
            &finding.source.as_deref().map(|s| cut(s, MAX_PLACE_CHARS)),
        )?
        .set("action", &report.outcome.as_str())
}

async fn already_recorded(db: &Db, key_id: &str, changes: &str) -> Result<bool, Error> {
    let params = vec![
        Value::Text(key_id.to_owned()),
        Value::Text(EventKind::LeakReported.as_str().to_owned()),
        Value::Text(changes.to_owned()),
    ];
    Ok(!db.rows(SQL_ALREADY_RECORDED, params).await?.is_empty())
}

/// Records the leak of one key: for a live secret, through the consistency protocol, so the
/// key's verification records say `DISABLED` before the report is answered; for a revoked
/// one, the audit event alone. A replay changes nothing: a report of a secret whose leak the
/// key still shows with the action in place ([`adds_nothing`]), from a scanner also the same
/// event as one already recorded.
async fn record(
    db: &Db,
    kv: &Kv,
    key_id: &str,
    report: &KeyReport<'_>,
    reporter: Reporter,
    action: LeakAction,
    now: Timestamp,
) -> Result<(), Error> {
    let actor = Actor {
        id: format!("secret-scanning:{}", reporter.as_str()),
        name: Some(reporter.display_name().to_owned()),
    };
    let event = || async {
        let changes = event_changes(report, reporter)?;
        keys::record_event(db, key_id, EventKind::LeakReported, &actor, now, changes).await
    };
    let recorded_before = || async {
        let json = event_changes(report, reporter)?.into_json();
        already_recorded(db, key_id, &json).await
    };
    if report.outcome == Outcome::AlreadyRevoked {
        db.transaction(Box::pin(async {
            if !recorded_before().await? {
                event().await?;
            }
            Ok(())
        }))
        .await?;
        eprintln!(
            "info: {} reported a revoked secret of key {key_id}",
            reporter.as_str()
        );
        return Ok(());
    }
    let finding = report.finding.finding;
    let url = finding.url.as_deref().map(|u| cut(u, MAX_PLACE_CHARS));
    let source = finding.source.as_deref().map(|s| cut(s, MAX_PLACE_CHARS));
    let recorded = std::cell::Cell::new(false);
    keys::change(
        db,
        kv,
        key_id,
        now,
        Box::pin(async {
            let Some(mut key) = keys::load(db, key_id).await? else {
                return Ok(());
            };
            // Nothing to do when the key still shows a leak covering this secret with the
            // action in place; a scanner's report must also be one already recorded (a leak
            // found at a new place is a new event). A regeneration clears the leak, so the
            // new secret found at the same place is a new leak, whatever the event's text.
            let in_place = adds_nothing(
                key.leak.as_ref(),
                report.current,
                action,
                key.status == Status::Active,
            );
            let replay = match reporter {
                Reporter::Scanner(_) => in_place && recorded_before().await?,
                Reporter::Public => in_place,
            };
            if replay {
                return Ok(());
            }
            let leak = Leak {
                reported_at: now,
                url: url.as_deref(),
                source: source.as_deref(),
                scanner: reporter.as_str(),
                live_secret: report.current,
            };
            key.leak = Some(leak.to_stored()?);
            if report.outcome == Outcome::Deactivated {
                key.status = Status::Inactive;
                for hash in &report.replaced {
                    let params = vec![Value::Integer(now.unix()), Value::Text((*hash).to_owned())];
                    db.exec(SQL_END_GRACE, params).await?;
                }
            }
            key.updated_at = now;
            keys::update(db, &key).await?;
            // After the update: the event's webhook messages carry the key as changed.
            event().await?;
            recorded.set(true);
            Ok(())
        }),
    )
    .await?;
    if recorded.get() {
        eprintln!(
            "info: {} reported a leak of key {key_id}: {}",
            reporter.as_str(),
            report.outcome.as_str()
        );
    } else {
        eprintln!(
            "info: {} sent again a leak of key {key_id} already recorded: nothing changed",
            reporter.as_str()
        );
    }
    Ok(())
}
