//! The key repository: keys, secrets and audit events in SQLite, and the verification
//! records in the key-value store kept in step with them.
//!
//! Consistency protocol (see docs/consistency.md): every change to a key runs inside a
//! SQLite write transaction, and its key-value records are written in two phases around the
//! `COMMIT`, so that no combination of failures leaves the store granting more than SQLite:
//!
//! 1. Before `COMMIT`: the records of secrets the change removed are deleted, and each
//!    secret kept by the change gets the [meet](VerificationRecord::meet) of its record
//!    before and after the change (what both grant). A secret the change added gets no
//!    record yet. Deleting the key deletes all its records.
//! 2. After `COMMIT`, again under the write lock: where the meet is not already the new
//!    record (the change widened access, or added a secret), the key's records are rewritten
//!    from what SQLite then holds. A narrowing change needs no second phase.
//!
//! If phase 1 or the commit fails, the transaction is rolled back and every record of the
//! key's old and new secrets is deleted, best effort: whichever deletes fail, each record is
//! the old one, the meet or absent, none granting more than the old state SQLite keeps. If
//! phase 2 fails, the change stays committed and the call answers 503; the records stay at
//! the meet, granting no more than the new state, until the call is repeated (a repeated
//! change rewrites the records even when it changes nothing) or the records are rebuilt.
//! Once an admin call returns 2xx, verification sees the new state.

mod list;

pub use list::{EventView, ListFilter, escape_like, list, list_events, list_where};

use crate::db::{self, Db, Step};
use crate::deadline::{ADMIN_STORE_DEADLINE, SQLITE_DEADLINE};
use crate::kv::Kv;
use crate::webhooks;
use keys_domain::Error;
use keys_domain::events::{Changes, EventKind};
use keys_domain::key::random_id;
use keys_domain::limits::{Limit, named_entries};
use keys_domain::model::{
    Actor, EVENT_ID_PREFIX, GraceSecret, Metadata, Status, StoredKey, StoredLeak,
    limits_from_stored, limits_to_stored,
};
use keys_domain::permissions::CompanyScope;
use keys_domain::record::{
    Limits, RECORD_KEY_PREFIX, VerificationRecord, last_used_key, last_used_value, record_key,
};
use keys_domain::time::Timestamp;
use serde::Serialize;
use spin_sdk::sqlite::{RowResult, Value};

const KEY_COLUMNS: &str = "id, label, hint, status, methods, companies, metadata, expires_at, \
     created_at, created_by_id, created_by_name, updated_at, seq, leak, limits";
const SQL_SELECT_KEY: &str = "SELECT id, label, hint, status, methods, companies, metadata, expires_at, \
     created_at, created_by_id, created_by_name, updated_at, seq, leak, limits FROM api_keys WHERE id = ?";
const SQL_INSERT_KEY: &str = "INSERT INTO api_keys (id, label, hint, status, methods, companies, metadata, \
     expires_at, leak, limits, created_at, created_by_id, created_by_name, updated_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const SQL_UPDATE_KEY: &str = "UPDATE api_keys SET label = ?, hint = ?, status = ?, methods = ?, companies = ?, \
     metadata = ?, expires_at = ?, leak = ?, limits = ?, updated_at = ? WHERE id = ?";
const SQL_DELETE_KEY: &str = "DELETE FROM api_keys WHERE id = ?";
const SQL_KEY_LABELS: &str = "SELECT id, label FROM api_keys ORDER BY seq";
const SQL_SECRETS_OF_KEY: &str =
    "SELECT hash, valid_until FROM key_secrets WHERE key_id = ? ORDER BY created_at, hash";
const SQL_INSERT_SECRET: &str = "INSERT INTO key_secrets (hash, key_id, created_at, valid_until, hint) \
     VALUES (?, ?, ?, NULL, ?)";
/// A key's replaced secrets still in their grace period at `?2`, the soonest ending first.
const SQL_GRACE_SECRETS: &str = "SELECT hint, valid_until FROM key_secrets \
     WHERE key_id = ?1 AND valid_until IS NOT NULL AND valid_until > ?2 ORDER BY valid_until, hash";
const SQL_DELETE_SECRETS_OF_KEY: &str = "DELETE FROM key_secrets WHERE key_id = ?";
const SQL_DELETE_DEAD_SECRETS: &str =
    "DELETE FROM key_secrets WHERE key_id = ? AND valid_until IS NOT NULL AND valid_until <= ?";
/// Ends the current secret at `?1` and brings every older secret's end forward to `?1` when
/// it is later: a regeneration's grace bounds every older secret of the key, so rotating
/// "with a 1 s grace" leaves no earlier secret alive for longer.
const SQL_RETIRE_SECRETS: &str =
    "UPDATE key_secrets SET valid_until = MIN(COALESCE(valid_until, ?1), ?1) WHERE key_id = ?2";
const SQL_INSERT_EVENT: &str = "INSERT INTO audit_events (id, key_id, kind, actor_id, actor_name, at, changes) VALUES (?, ?, ?, ?, ?, ?, ?)";
/// One page of the live secrets with their key (columns of [`KEY_COLUMNS`], then the hash and
/// the end of the grace period), in hash order after `?2`.
const SQL_LIVE_SECRETS_PAGE: &str = "SELECT k.id, k.label, k.hint, k.status, k.methods, k.companies, \
     k.metadata, k.expires_at, k.created_at, k.created_by_id, k.created_by_name, k.updated_at, k.seq, \
     k.leak, k.limits, s.hash, s.valid_until FROM key_secrets s JOIN api_keys k ON k.id = s.key_id \
     WHERE (s.valid_until IS NULL OR s.valid_until > ?1) AND s.hash > ?2 ORDER BY s.hash LIMIT ?3";
/// Live secrets read per query of the rebuild: every query stays far within the store
/// deadline whatever the number of keys.
const REBUILD_PAGE: i64 = 500;
/// Record writes the rebuild keeps in flight at once.
const REBUILD_WRITES_AT_ONCE: usize = 32;

fn unexpected(what: &str) -> Error {
    Error::unexpected(format!("stored data is corrupt: {what}"))
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, Error> {
    serde_json::from_slice(text.as_bytes()).map_err(|_| unexpected(what))
}

fn to_json_text(value: &impl Serialize) -> Result<String, Error> {
    serde_json::to_string(value).map_err(Error::unexpected)
}

/// Reads a key from a row of [`KEY_COLUMNS`]; returns it with its `seq` (list cursor).
fn key_from_row(row: &RowResult) -> Result<(StoredKey, i64), Error> {
    let metadata = db::opt_text(row, 6)
        .map(|m| Metadata::from_stored(&m).ok_or_else(|| unexpected("metadata")))
        .transpose()?;
    let key = StoredKey {
        id: db::text(row, 0)?,
        label: db::text(row, 1)?,
        hint: db::text(row, 2)?,
        status: Status::parse(&db::text(row, 3)?).ok_or_else(|| unexpected("status"))?,
        methods: parse_json(&db::text(row, 4)?, "methods")?,
        companies: parse_json::<CompanyScope>(&db::text(row, 5)?, "companies")?,
        metadata,
        expires_at: db::opt_int(row, 7).map(Timestamp::from_unix),
        created_at: Timestamp::from_unix(db::int(row, 8)?),
        created_by: Actor {
            id: db::text(row, 9)?,
            name: db::opt_text(row, 10),
        },
        updated_at: Timestamp::from_unix(db::int(row, 11)?),
        leak: db::opt_text(row, 13)
            .map(|l| StoredLeak::from_stored(&l).ok_or_else(|| unexpected("leak")))
            .transpose()?,
        limits: db::opt_text(row, 14)
            .map(|l| limits_from_stored(&l).ok_or_else(|| unexpected("limits")))
            .transpose()?
            .unwrap_or_default(),
    };
    Ok((key, db::int(row, 12)?))
}

/// Opens the two stores a key change on an admin route uses: SQLite, each statement within
/// [`SQLITE_DEADLINE`], and the key-value store, each call within [`ADMIN_STORE_DEADLINE`].
pub async fn open_stores() -> Result<(Db, Kv), Error> {
    Ok((
        Db::open(SQLITE_DEADLINE).await?,
        Kv::open(ADMIN_STORE_DEADLINE).await?,
    ))
}

/// Loads a key, or `None`.
pub async fn load(db: &Db, id: &str) -> Result<Option<StoredKey>, Error> {
    let rows = db
        .rows(SQL_SELECT_KEY, vec![Value::Text(id.to_owned())])
        .await?;
    rows.first()
        .map(|r| key_from_row(r).map(|(k, _)| k))
        .transpose()
}

/// Every key's id and label, oldest first.
pub async fn labels(db: &Db) -> Result<Vec<(String, String)>, Error> {
    let rows = db.rows(SQL_KEY_LABELS, Vec::new()).await?;
    rows.iter()
        .map(|row| Ok((db::text(row, 0)?, db::text(row, 1)?)))
        .collect()
}

/// Loads a key, or fails with 404.
pub async fn load_or_404(db: &Db, id: &str) -> Result<StoredKey, Error> {
    load(db, id).await?.ok_or_else(|| not_found(id))
}

/// The 404 of an unknown key id (the id is echoed only when it looks like one).
pub fn not_found(id: &str) -> Error {
    let shown = if id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        id
    } else {
        "…"
    };
    Error::NotFound(format!("no API key with id `{shown}`"))
}

fn key_params(key: &StoredKey) -> Result<[Value; 9], Error> {
    Ok([
        Value::Text(key.label.clone()),
        Value::Text(key.hint.clone()),
        Value::Text(key.status.as_str().to_owned()),
        Value::Text(to_json_text(&key.methods)?),
        Value::Text(to_json_text(&key.companies)?),
        db::opt_text_param(key.metadata.as_ref().map(Metadata::as_json)),
        db::opt_int_param(key.expires_at.map(Timestamp::unix)),
        db::opt_text_param(key.leak.as_ref().map(StoredLeak::as_json)),
        db::opt_text_param(limits_to_stored(&key.limits)?.as_deref()),
    ])
}

/// Inserts a new key and its first secret.
pub async fn insert(db: &Db, key: &StoredKey, secret_hash: &str) -> Result<(), Error> {
    let mut params = vec![Value::Text(key.id.clone())];
    params.extend(key_params(key)?);
    params.extend([
        Value::Integer(key.created_at.unix()),
        Value::Text(key.created_by.id.clone()),
        db::opt_text_param(key.created_by.name.as_deref()),
        Value::Integer(key.updated_at.unix()),
    ]);
    db.exec(SQL_INSERT_KEY, params).await?;
    add_secret(db, &key.id, secret_hash, &key.hint, key.created_at).await
}

/// Writes every mutable column of a key.
pub async fn update(db: &Db, key: &StoredKey) -> Result<(), Error> {
    let mut params = Vec::from(key_params(key)?);
    params.extend([
        Value::Integer(key.updated_at.unix()),
        Value::Text(key.id.clone()),
    ]);
    db.exec(SQL_UPDATE_KEY, params).await
}

/// Deletes a key, all its secrets and its access counts (its audit events stay).
pub async fn delete(db: &Db, id: &str) -> Result<(), Error> {
    db.exec(SQL_DELETE_SECRETS_OF_KEY, vec![Value::Text(id.to_owned())])
        .await?;
    crate::access::delete_key(db, id).await?;
    db.exec(SQL_DELETE_KEY, vec![Value::Text(id.to_owned())])
        .await
}

/// Adds a current secret to a key.
pub async fn add_secret(
    db: &Db,
    id: &str,
    hash: &str,
    hint: &str,
    now: Timestamp,
) -> Result<(), Error> {
    db.exec(
        SQL_INSERT_SECRET,
        vec![
            Value::Text(hash.to_owned()),
            Value::Text(id.to_owned()),
            Value::Integer(now.unix()),
            Value::Text(hint.to_owned()),
        ],
    )
    .await
}

/// The replaced secrets of a key still in their grace period at `now`: hint (`None` for a
/// secret made before hints were kept) and end, the soonest ending first. Never the secret.
pub async fn grace_secrets(db: &Db, id: &str, now: Timestamp) -> Result<Vec<GraceSecret>, Error> {
    let params = vec![Value::Text(id.to_owned()), Value::Integer(now.unix())];
    let rows = db.rows(SQL_GRACE_SECRETS, params).await?;
    rows.iter()
        .map(|row| {
            Ok(GraceSecret {
                hint: db::opt_text(row, 0),
                valid_until: Timestamp::from_unix(db::int(row, 1)?),
            })
        })
        .collect()
}

/// Ends the current secret of a key: at once (deleted, together with any secret still in
/// a grace period) or at `grace_until`, and no older secret later than that.
pub async fn retire_current_secret(
    db: &Db,
    id: &str,
    grace_until: Option<Timestamp>,
) -> Result<(), Error> {
    match grace_until {
        None => {
            db.exec(SQL_DELETE_SECRETS_OF_KEY, vec![Value::Text(id.to_owned())])
                .await
        }
        Some(until) => {
            db.exec(
                SQL_RETIRE_SECRETS,
                vec![Value::Integer(until.unix()), Value::Text(id.to_owned())],
            )
            .await
        }
    }
}

/// One secret of a key: its hash and, for a replaced one, the end of its grace period.
struct SecretRow {
    hash: String,
    valid_until: Option<Timestamp>,
}

async fn secrets_of(db: &Db, id: &str) -> Result<Vec<SecretRow>, Error> {
    let rows = db
        .rows(SQL_SECRETS_OF_KEY, vec![Value::Text(id.to_owned())])
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SecretRow {
                hash: db::text(r, 0)?,
                valid_until: db::opt_int(r, 1).map(Timestamp::from_unix),
            })
        })
        .collect()
}

/// Appends an audit event, and writes its webhook messages in the same transaction (see
/// [`webhooks::enqueue_key_event`]): call it after the change, within its transaction, so
/// that the messages carry the key as changed (a deletion: before the key is deleted).
pub async fn record_event(
    db: &Db,
    key_id: &str,
    kind: EventKind,
    actor: &Actor,
    at: Timestamp,
    changes: Changes,
) -> Result<(), Error> {
    let id = random_id(EVENT_ID_PREFIX).map_err(|e| Error::unexpected(format!("random: {e}")))?;
    let changes = changes.into_json();
    db.exec(
        SQL_INSERT_EVENT,
        vec![
            Value::Text(id.clone()),
            Value::Text(key_id.to_owned()),
            Value::Text(kind.as_str().to_owned()),
            Value::Text(actor.id.clone()),
            db::opt_text_param(actor.name.as_deref()),
            Value::Integer(at.unix()),
            Value::Text(changes.clone()),
        ],
    )
    .await?;
    let event = webhooks::KeyEvent {
        id: &id,
        key_id,
        kind,
        actor,
        at,
        changes: &changes,
    };
    webhooks::enqueue_key_event(db, event).await
}

/// Applies a change to one key under the consistency protocol described in the module
/// docs. `body` reads and writes SQLite through `db` inside the transaction; the key's
/// verification records follow in two phases around the commit. Returns the key as
/// committed (`None` once deleted).
pub async fn change(
    db: &Db,
    kv: &Kv,
    key_id: &str,
    now: Timestamp,
    body: Step<'_>,
) -> Result<Option<StoredKey>, Error> {
    let mut touched: Vec<String> = Vec::new();
    let mut committed: Option<StoredKey> = None;
    let mut behind = false;
    let result = db
        .transaction(Box::pin(async {
            let old_key = load(db, key_id).await?;
            let before = secrets_of(db, key_id).await?;
            body.await?;
            db.exec(
                SQL_DELETE_DEAD_SECRETS,
                vec![Value::Text(key_id.to_owned()), Value::Integer(now.unix())],
            )
            .await?;
            let key = load(db, key_id).await?;
            let after = if key.is_some() {
                secrets_of(db, key_id).await?
            } else {
                Vec::new()
            };
            touched = before
                .iter()
                .chain(&after)
                .map(|s| s.hash.clone())
                .collect();
            behind = write_meet_records(
                kv,
                key_id,
                (old_key.as_ref(), &before),
                (key.as_ref(), &after),
            )
            .await?;
            committed = key;
            Ok(())
        }))
        .await;
    if let Err(err) = result {
        if !touched.is_empty() {
            fail_closed(kv, &touched).await;
        }
        return Err(err);
    }
    if behind {
        write_committed_records(db, kv, key_id)
            .await
            .map_err(Error::store_after_commit)?;
    }
    Ok(committed)
}

/// A key (`None`: absent) and its secrets, as SQLite holds them before or after a change.
type KeyState<'a> = (Option<&'a StoredKey>, &'a [SecretRow]);

/// Phase 1, before `COMMIT`: deletes the records of secrets that are gone (and the key's
/// last use once it is deleted), and gives each secret that stays the meet of its old and
/// new record. Returns whether some live secret's record is below its new record (a secret
/// that is new has none yet), i.e. whether phase 2 must follow the commit.
async fn write_meet_records(
    kv: &Kv,
    key_id: &str,
    (old_key, before): KeyState<'_>,
    (key, after): KeyState<'_>,
) -> Result<bool, Error> {
    for gone in before
        .iter()
        .filter(|b| !after.iter().any(|a| a.hash == b.hash))
    {
        kv.delete(&record_key(&gone.hash)).await?;
    }
    let Some(key) = key else {
        kv.delete(&last_used_key(key_id)).await?;
        return Ok(false);
    };
    let mut behind = false;
    for secret in after {
        let record = key.record(secret.valid_until);
        let kept = old_key.zip(before.iter().find(|b| b.hash == secret.hash));
        let Some((old_key, old_secret)) = kept else {
            behind = true;
            continue;
        };
        let meet = record.meet(&old_key.record(old_secret.valid_until));
        behind |= meet != record;
        write_record(kv, &secret.hash, &meet).await?;
    }
    Ok(behind)
}

/// Phase 2, after `COMMIT`: writes the record of every secret of the key as SQLite now holds
/// it. Under the write lock and read afresh, rather than taken from the change just
/// committed: a change committed in between (say, a narrowing) must not have its records
/// overwritten with this change's older, wider state.
async fn write_committed_records(db: &Db, kv: &Kv, key_id: &str) -> Result<(), Error> {
    db.transaction(Box::pin(async {
        if let Some(key) = load(db, key_id).await? {
            for secret in secrets_of(db, key_id).await? {
                write_record(kv, &secret.hash, &key.record(secret.valid_until)).await?;
            }
        }
        Ok(())
    }))
    .await
}

async fn write_record(kv: &Kv, hash: &str, record: &VerificationRecord) -> Result<(), Error> {
    kv.set(&record_key(hash), &record.encode()?).await
}

/// After a failed phase 1 or commit: deletes the records of these secrets, best effort (each
/// one left behind is the old record or the meet, neither granting more than SQLite keeps).
async fn fail_closed(kv: &Kv, hashes: &[String]) {
    for hash in hashes {
        if let Err(err) = kv.delete(&record_key(hash)).await {
            eprintln!(
                "warning: could not remove a verification record after a failed change: {err:#}"
            );
        }
    }
}

/// When a key last verified successfully, from the key-value store (`None` if never, or if
/// the entry is unreadable: display information only). A store that does not answer is an
/// error: an answer must not claim "never used" when it could not tell.
pub async fn last_used(kv: &Kv, key_id: &str) -> Result<Option<Timestamp>, Error> {
    Ok(kv
        .get(&last_used_key(key_id))
        .await?
        .and_then(|b| last_used_value(&b)))
}

/// [`last_used`] of many keys in one key-value call, in the order of `key_ids`.
pub async fn last_used_many(kv: &Kv, key_ids: &[&str]) -> Result<Vec<Option<Timestamp>>, Error> {
    let names: Vec<String> = key_ids.iter().map(|id| last_used_key(id)).collect();
    let values = kv.get_many(&names).await?;
    Ok(values
        .into_iter()
        .map(|bytes| bytes.and_then(|b| last_used_value(&b)))
        .collect())
}

/// After a committed change of `key_id` from `old` limits to `new` (`None`: the key was
/// deleted), deletes the rate and quota counters nobody uses any more
/// ([`Limits::abandoned_by`]): those of the windows their pointer entries name, and the
/// pointers. Housekeeping: a failure is logged. An edge still verifying with the old record
/// (a verification in flight, a lease given back) can leave an entry behind.
pub async fn forget_limit_counters(kv: &Kv, key_id: &str, old: &Limits, new: Option<&Limits>) {
    let (rate, quota) = old.abandoned_by(new);
    let abandoned: Vec<Limit> = rate
        .map(Limit::Rate)
        .into_iter()
        .chain(quota.map(Limit::Quota))
        .collect();
    if abandoned.is_empty() {
        return;
    }
    let result = async {
        let pointers: Vec<String> = abandoned.iter().map(|l| l.pointer_key(key_id)).collect();
        let values = kv.get_many(&pointers).await?;
        let entries: Vec<String> = abandoned
            .iter()
            .zip(pointers)
            .zip(values)
            .flat_map(|((limit, pointer), value)| {
                named_entries(pointer, value.as_deref(), |i| limit.counter_key(key_id, i))
            })
            .collect();
        kv.delete_many(&entries).await
    };
    if let Err(err) = result.await {
        eprintln!("warning: could not delete a key's unused limit counters: {err:#}");
    }
}

/// [`last_used`] for the answer to a committed change: the change must be answered (a
/// regeneration's new secret is shown only there), so a store that does not answer gives
/// `None` and a warning in the log rather than an error.
pub async fn last_used_after_change(kv: &Kv, key_id: &str) -> Option<Timestamp> {
    last_used(kv, key_id)
        .await
        .inspect_err(|err| eprintln!("warning: last use unknown after a change: {err}"))
        .ok()
        .flatten()
}

/// What a rebuild did.
#[derive(Serialize)]
pub struct RebuildReport {
    /// Records written for live secrets.
    pub records_written: usize,
    /// Stale records removed (secrets SQLite no longer knows as live).
    pub stale_records_removed: usize,
}

/// Rewrites every verification record from SQLite and removes the ones SQLite does not know.
/// Runs inside a write transaction so no admin change interleaves.
pub async fn rebuild(db: &Db, kv: &Kv, now: Timestamp) -> Result<RebuildReport, Error> {
    let mut report = RebuildReport {
        records_written: 0,
        stale_records_removed: 0,
    };
    db.transaction(Box::pin(async {
        let mut live = std::collections::BTreeSet::new();
        let mut after = String::new();
        loop {
            let params = vec![
                Value::Integer(now.unix()),
                Value::Text(std::mem::take(&mut after)),
                Value::Integer(REBUILD_PAGE),
            ];
            let rows = db.rows(SQL_LIVE_SECRETS_PAGE, params).await?;
            let mut page = Vec::with_capacity(rows.len());
            for row in &rows {
                let (key, _) = key_from_row(row)?;
                let hash = db::text(row, 15)?;
                let valid_until = db::opt_int(row, 16).map(Timestamp::from_unix);
                page.push((record_key(&hash), key.record(valid_until).encode()?));
                live.insert(hash);
            }
            for writes in page.chunks(REBUILD_WRITES_AT_ONCE) {
                let steps = writes
                    .iter()
                    .map(|(name, bytes)| Box::pin(kv.set(name, bytes)) as Step<'_>)
                    .collect();
                crate::join::all_ok(steps).await?;
            }
            match live.last() {
                Some(last) if rows.len() as i64 == REBUILD_PAGE => after = last.clone(),
                _ => break,
            }
        }
        for name in kv.keys().await? {
            if let Some(hash) = name.strip_prefix(RECORD_KEY_PREFIX)
                && !live.contains(hash)
            {
                kv.delete(&name).await?;
                report.stale_records_removed += 1;
            }
        }
        report.records_written = live.len();
        Ok(())
    }))
    .await?;
    Ok(report)
}
