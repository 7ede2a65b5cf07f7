//! SQLite access: the `default` database, its migrations and write transactions. Every call
//! has a [deadline](crate::deadline): a database that does not answer fails the request with
//! 503.

use crate::deadline::{Deadline, call};
use keys_domain::Error;
use spin_sdk::sqlite::{Connection, RowResult, Value};
use std::cell::{Cell, RefCell};
use std::time::Duration;

/// A boxed step of work borrowing from its caller. Transaction bodies are passed this way,
/// rather than as generic closures, so the transaction code exists once per component
/// instead of once per caller (it keeps the `.wasm` files small).
pub type Step<'a> = crate::join::Boxed<'a, Result<(), Error>>;

/// The schema migrations, in order; the database's `user_version` is the number applied.
///
/// `0003_leaks.sql` (no comments in it: every admin component embeds the text) adds the leak
/// a secret scanner reported (`api_keys.leak`, JSON of `keys_domain::model::Leak`) and keeps
/// the hash of every deleted secret in `retired_secrets`, by a trigger, so that a scanner
/// reporting a replaced or deleted secret is told it was ours (docs/secret-scanning.md).
/// `0004_limits_usage.sql` adds a key's rate limit, quota and IP allowlist (`api_keys.limits`,
/// JSON of `keys_domain::model::limits_to_stored`) and the folded usage counts
/// (`usage_hourly`, `usage_daily` and the fold's cursor `usage_rollup`: `crate::usage`).
/// `0005_secret_hints.sql` keeps each secret's hint (`key_secrets.hint`), so that a key's page
/// can name the replaced secrets still in their grace period (`NULL` for secrets made
/// before it: they end within the 7 days a grace period lasts at most).
/// `0006_access_counts.sql` adds each key's calls by code, method and company per UTC day
/// (`access_daily`) and the last day each key used each method (`access_methods`), both
/// `crate::access`.
/// `0007_webhooks.sql` adds the webhooks (`webhooks`, signing secrets sealed), their outbox
/// (`webhook_messages`: one message per event and endpoint, written in the transaction of the
/// change that causes it, `body` the bytes signed, `attempts` a JSON array), the time-based
/// alerts already sent (`webhook_alerts`) and the dispatcher's one row (`webhook_dispatcher`:
/// when it last looked for alerts, and the token with which the components that record key
/// events ask it to send at once), all `crate::webhooks`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/0001_schema.sql"),
    include_str!("../../../migrations/0002_default_catalog.sql"),
    include_str!("../../../migrations/0003_leaks.sql"),
    include_str!("../../../migrations/0004_limits_usage.sql"),
    include_str!("../../../migrations/0005_secret_hints.sql"),
    include_str!("../../../migrations/0006_access_counts.sql"),
    include_str!("../../../migrations/0007_webhooks.sql"),
];

const SQL_USER_VERSION: &str = "PRAGMA user_version";
const SQL_BEGIN: &str = "BEGIN IMMEDIATE";
const SQL_COMMIT: &str = "COMMIT";
const SQL_ROLLBACK: &str = "ROLLBACK";

/// The database's name in errors and logs.
const STORE_NAME: &str = "sqlite";

/// Idle connections kept per instance: Spin runs up to 16 requests of one instance at once.
const MAX_IDLE_CONNECTIONS: usize = 16;

thread_local! {
    /// This instance's idle connections, left by requests that finished with them cleanly.
    /// Opening a connection costs Spin a new database handle, whose first statement reads
    /// the schema again: reusing one saves about half a millisecond per admin request.
    static IDLE: RefCell<Vec<Connection>> = const { RefCell::new(Vec::new()) };
    /// Whether this instance has seen the schema up to date (it is never downgraded).
    static SCHEMA_CURRENT: Cell<bool> = const { Cell::new(false) };
}

/// A connection to the `default` database with its schema up to date, held by one request
/// at a time. Dropped, it goes back to the instance's idle connections when every statement
/// it ran succeeded and no transaction is open; otherwise it is closed, which rolls back
/// whatever it left open.
pub struct Db {
    connection: Option<Connection>,
    deadline: Deadline,
    /// Statements begun and not finished with success: running (several may run side by
    /// side), abandoned or failed. A connection with any is never reused.
    unfinished: Cell<u32>,
    /// A transaction was begun and neither committed nor rolled back yet.
    in_transaction: Cell<bool>,
}

impl Drop for Db {
    fn drop(&mut self) {
        if self.unfinished.get() > 0 || self.in_transaction.get() {
            return;
        }
        if let Some(connection) = self.connection.take() {
            IDLE.with(|idle| {
                let mut idle = idle.borrow_mut();
                if idle.len() < MAX_IDLE_CONNECTIONS {
                    idle.push(connection);
                }
            });
        }
    }
}

impl Db {
    /// Opens the `default` database and applies any missing migration.
    ///
    /// Components apply the schema themselves (rather than `spin up --sqlite @file.sql`) so a
    /// fresh database works on every Spin host without manual steps; the check costs one
    /// `PRAGMA user_version` per instance, and verify-key never opens SQLite.
    ///
    /// Takes an idle connection of this instance when there is one. The opening and every
    /// later statement must each finish within `limit`.
    pub async fn open(limit: Duration) -> Result<Self, Error> {
        let deadline = Deadline::new(STORE_NAME, limit);
        let connection = match IDLE.with(|idle| idle.borrow_mut().pop()) {
            Some(idle) => idle,
            None => {
                deadline
                    .run("open", call(Connection::open_default()))
                    .await?
            }
        };
        let db = Self {
            connection: Some(connection),
            deadline,
            unfinished: Cell::new(0),
            in_transaction: Cell::new(false),
        };
        if !SCHEMA_CURRENT.with(Cell::get) {
            if db.user_version().await? < MIGRATIONS.len() as i64 {
                db.migrate().await?;
            }
            SCHEMA_CURRENT.with(|current| current.set(true));
        }
        Ok(db)
    }

    async fn user_version(&self) -> Result<i64, Error> {
        let rows = self.rows(SQL_USER_VERSION, vec![]).await?;
        Ok(rows.first().and_then(|r| r.get::<i64>(0)).unwrap_or(0))
    }

    async fn migrate(&self) -> Result<(), Error> {
        self.transaction(Box::pin(async {
            // Re-read inside the write lock: another instance may have migrated meanwhile.
            let applied = self.user_version().await?.max(0) as usize;
            for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
                for statement in statements(migration) {
                    self.exec(&statement, vec![]).await?;
                }
                self.exec(&format!("PRAGMA user_version = {}", index + 1), vec![])
                    .await?;
            }
            Ok(())
        }))
        .await
    }

    /// Runs a statement, discarding any rows.
    pub async fn exec(&self, sql: &str, params: Vec<Value>) -> Result<(), Error> {
        self.rows(sql, params).await.map(drop)
    }

    /// Runs a statement and collects its rows.
    pub async fn rows(&self, sql: &str, params: Vec<Value>) -> Result<Vec<RowResult>, Error> {
        let connection = self.connection.as_ref().expect("taken only by drop");
        let statement = async {
            let result = connection.execute(sql, params).await?;
            result.collect().await
        };
        self.unfinished.set(self.unfinished.get() + 1);
        let rows = self.deadline.run(sql, call(statement)).await?;
        self.unfinished.set(self.unfinished.get() - 1);
        Ok(rows)
    }

    /// Runs `body` inside `BEGIN IMMEDIATE` … `COMMIT`, rolling back when it fails. `body`
    /// must use this same connection.
    pub async fn transaction(&self, body: Step<'_>) -> Result<(), Error> {
        self.exec(SQL_BEGIN, vec![]).await?;
        self.in_transaction.set(true);
        match body.await {
            Ok(()) => {
                if let Err(err) = self.exec(SQL_COMMIT, vec![]).await {
                    self.rollback().await;
                    return Err(err);
                }
                self.in_transaction.set(false);
                Ok(())
            }
            Err(err) => {
                self.rollback().await;
                Err(err)
            }
        }
    }

    /// Best-effort rollback after a failure (the original error is what the caller sees).
    pub async fn rollback(&self) {
        match self.exec(SQL_ROLLBACK, vec![]).await {
            Ok(()) => self.in_transaction.set(false),
            Err(err) => eprintln!("warning: rollback failed: {err:#}"),
        }
    }
}

/// Splits a migration file into statements: each ends with `;` at the end of a line (a
/// trigger, whose body holds `;`, is written on one line); `--` comment lines are skipped.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

/// A text column, or a store error naming it when absent.
pub fn text(row: &RowResult, index: usize) -> Result<String, Error> {
    row.get::<&str>(index)
        .map(str::to_owned)
        .ok_or_else(|| Error::unexpected(format!("column {index} is not text")))
}

/// An optional text column.
pub fn opt_text(row: &RowResult, index: usize) -> Option<String> {
    row.get::<&str>(index).map(str::to_owned)
}

/// An integer column.
pub fn int(row: &RowResult, index: usize) -> Result<i64, Error> {
    row.get::<i64>(index)
        .ok_or_else(|| Error::unexpected(format!("column {index} is not an integer")))
}

/// An optional integer column.
pub fn opt_int(row: &RowResult, index: usize) -> Option<i64> {
    row.get::<i64>(index)
}

/// A text parameter, or NULL.
pub fn opt_text_param(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |v| Value::Text(v.to_owned()))
}

/// An integer parameter, or NULL.
pub fn opt_int_param(value: Option<i64>) -> Value {
    value.map_or(Value::Null, Value::Integer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_splits_into_complete_statements() {
        for migration in MIGRATIONS {
            let parts = statements(migration);
            assert!(!parts.is_empty());
            for part in parts {
                assert!(part.trim_end().ends_with(';'), "{part}");
                // A trigger's body is the one place a `;` may stand inside a statement,
                // with the whole trigger on one line.
                let inner = usize::from(part.starts_with("CREATE TRIGGER"));
                assert_eq!(
                    part.matches(';').count(),
                    1 + inner,
                    "one statement per part: {part}"
                );
            }
        }
    }
}
