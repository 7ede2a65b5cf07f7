//! The key-value stores and SQLite databases behind the Spin interfaces, with fault
//! injection, call counters and deterministic dumps for tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use rusqlite::types::ValueRef;

/// The message of every injected failure.
pub const INJECTED_FAULT: &str = "injected fault";

/// The length of a key-value counter: an `i64`, little-endian, as Spin's SQLite store keeps it.
const COUNTER_BYTES: usize = std::mem::size_of::<i64>();

/// How long a SQLite connection waits for a lock held by another connection.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which calls to a store kind fail with an injected error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// No call fails.
    #[default]
    None,
    /// Every call fails, opening a store or connection included.
    Always,
    /// Only the n-th call counted from when this fault is set fails (1-based).
    Nth(u64),
    /// Only writes fail: key-value `set`, `delete`, `increment`, `set-many` and `delete-many`;
    /// SQLite statements that are not read-only.
    Writes,
    /// Only the SQLite statements whose text is exactly this fail (e.g. `"COMMIT"`); no
    /// key-value call fails.
    Statement(&'static str),
    /// Every call fails once a SQLite statement whose text is exactly this has been run
    /// (whether it succeeded or failed) since the fault was set; that statement itself does
    /// not fail. `AfterStatement("COMMIT")` on the key-value store: the store becomes
    /// unreachable from the first commit on.
    AfterStatement(&'static str),
}

/// Numbers of calls the components made since the host started or the last reset.
///
/// Key-value calls are counted alike through `spin:key-value` and `wasi:keyvalue`, which
/// reach the same stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Key-value `get` calls.
    pub kv_get: u64,
    /// Key-value `set` calls.
    pub kv_set: u64,
    /// Key-value `delete` calls.
    pub kv_delete: u64,
    /// Key-value `increment` calls (`wasi:keyvalue/atomics`).
    pub kv_increment: u64,
    /// Key-value `get-many` calls (`wasi:keyvalue/batch`), whatever the number of keys.
    pub kv_get_many: u64,
    /// Key-value `set-many` calls (`wasi:keyvalue/batch`), whatever the number of keys.
    pub kv_set_many: u64,
    /// Key-value `delete-many` calls (`wasi:keyvalue/batch`), whatever the number of keys.
    pub kv_delete_many: u64,
    /// Other key-value calls: `open`, `exists`, `get-keys` / `list-keys`.
    pub kv_other: u64,
    /// SQLite `execute` and `execute-async` calls (statements).
    pub sqlite_execute: u64,
    /// Other SQLite calls: `open`, `open-async`, `changes`, `last-insert-rowid` (and async forms).
    pub sqlite_other: u64,
}

impl Counters {
    /// Every key-value call, of any kind: what [`Fault::Nth`] counts on the key-value store.
    pub fn kv_calls(&self) -> u64 {
        self.kv_get
            + self.kv_set
            + self.kv_delete
            + self.kv_increment
            + self.kv_get_many
            + self.kv_set_many
            + self.kv_delete_many
            + self.kv_other
    }
}

/// The kind of key-value call, for counters and faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvCall {
    /// `open`.
    Open,
    /// `get`.
    Get,
    /// `set`.
    Set,
    /// `delete`.
    Delete,
    /// `increment`.
    Increment,
    /// `get-many`.
    GetMany,
    /// `set-many`.
    SetMany,
    /// `delete-many`.
    DeleteMany,
    /// `exists`, `get-keys` or `list-keys`.
    Other,
}

impl KvCall {
    /// Whether the call writes, for [`Fault::Writes`].
    fn is_write(self) -> bool {
        match self {
            KvCall::Set
            | KvCall::Delete
            | KvCall::Increment
            | KvCall::SetMany
            | KvCall::DeleteMany => true,
            KvCall::Open | KvCall::Get | KvCall::GetMany | KvCall::Other => false,
        }
    }
}

/// A fault setting, the number of calls made since it was set, and whether the statement of
/// an [`Fault::AfterStatement`] has run since.
#[derive(Debug, Default)]
struct FaultSwitch {
    state: Mutex<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    fault: Fault,
    calls: u64,
    tripped: bool,
}

impl FaultSwitch {
    fn set(&self, fault: Fault) {
        *lock(&self.state) = FaultState {
            fault,
            ..FaultState::default()
        };
    }

    /// Records one call (`statement`: the SQL of a SQLite `execute`) and tells whether it
    /// must fail.
    fn hit(&self, is_write: bool, statement: Option<&str>) -> bool {
        let mut state = lock(&self.state);
        state.calls += 1;
        match state.fault {
            Fault::None => false,
            Fault::Always => true,
            Fault::Nth(n) => state.calls == n,
            Fault::Writes => is_write,
            Fault::Statement(sql) => statement == Some(sql),
            Fault::AfterStatement(_) => state.tripped,
        }
    }

    /// Notes that a SQLite statement ran: it trips an [`Fault::AfterStatement`] naming it.
    fn saw_statement(&self, statement: &str) {
        let mut state = lock(&self.state);
        if matches!(state.fault, Fault::AfterStatement(sql) if sql == statement) {
            state.tripped = true;
        }
    }
}

#[derive(Debug, Default)]
struct CounterCells {
    kv_get: AtomicU64,
    kv_set: AtomicU64,
    kv_delete: AtomicU64,
    kv_increment: AtomicU64,
    kv_get_many: AtomicU64,
    kv_set_many: AtomicU64,
    kv_delete_many: AtomicU64,
    kv_other: AtomicU64,
    sqlite_execute: AtomicU64,
    sqlite_other: AtomicU64,
}

/// All state shared by the requests of one host: stores, databases, faults and counters.
pub struct Stores {
    _temp_dir: Option<tempfile::TempDir>,
    dir: PathBuf,
    kv: Mutex<rusqlite::Connection>,
    kv_labels: BTreeSet<String>,
    sqlite_labels: BTreeSet<String>,
    kv_fault: FaultSwitch,
    sqlite_fault: FaultSwitch,
    counters: CounterCells,
}

/// A SQLite connection opened by a component, shared with the blocking thread running it.
pub type SharedConnection = Arc<Mutex<rusqlite::Connection>>;

/// A SQLite value, as the `spin:sqlite` interface carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// A 64-bit integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// NULL.
    Null,
}

/// The columns and rows a statement produced.
pub type SqlRows = (Vec<String>, Vec<Vec<SqlValue>>);

impl Stores {
    /// Creates the stores in `state_dir`, or in a fresh temporary directory deleted on drop.
    pub fn new(
        state_dir: Option<&Path>,
        kv_labels: BTreeSet<String>,
        sqlite_labels: BTreeSet<String>,
    ) -> anyhow::Result<Stores> {
        let (temp_dir, dir) = match state_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                (None, dir.to_path_buf())
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("spin-test-host-")
                    .tempdir()?;
                let dir = temp.path().to_path_buf();
                (Some(temp), dir)
            }
        };
        let kv = rusqlite::Connection::open(dir.join("sqlite_key_value.db"))?;
        kv.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
        kv.pragma_update(None, "journal_mode", "WAL")?;
        kv.pragma_update(None, "synchronous", "NORMAL")?;
        for label in &kv_labels {
            kv.execute(
                &format!(
                    "CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
                    kv_table(label)
                ),
                [],
            )?;
        }
        Ok(Stores {
            _temp_dir: temp_dir,
            dir,
            kv: Mutex::new(kv),
            kv_labels,
            sqlite_labels,
            kv_fault: FaultSwitch::default(),
            sqlite_fault: FaultSwitch::default(),
            counters: CounterCells::default(),
        })
    }

    /// The directory holding the key-value file and the SQLite databases.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a key-value store with this label exists.
    pub fn has_kv_label(&self, label: &str) -> bool {
        self.kv_labels.contains(label)
    }

    /// Whether a SQLite database with this label exists.
    pub fn has_sqlite_label(&self, label: &str) -> bool {
        self.sqlite_labels.contains(label)
    }

    /// Sets the key-value fault and restarts its call count.
    pub fn set_kv_fault(&self, fault: Fault) {
        self.kv_fault.set(fault);
    }

    /// Sets the SQLite fault and restarts its call count.
    pub fn set_sqlite_fault(&self, fault: Fault) {
        self.sqlite_fault.set(fault);
    }

    /// A snapshot of the call counters.
    pub fn counters(&self) -> Counters {
        let c = &self.counters;
        Counters {
            kv_get: c.kv_get.load(Ordering::SeqCst),
            kv_set: c.kv_set.load(Ordering::SeqCst),
            kv_delete: c.kv_delete.load(Ordering::SeqCst),
            kv_increment: c.kv_increment.load(Ordering::SeqCst),
            kv_get_many: c.kv_get_many.load(Ordering::SeqCst),
            kv_set_many: c.kv_set_many.load(Ordering::SeqCst),
            kv_delete_many: c.kv_delete_many.load(Ordering::SeqCst),
            kv_other: c.kv_other.load(Ordering::SeqCst),
            sqlite_execute: c.sqlite_execute.load(Ordering::SeqCst),
            sqlite_other: c.sqlite_other.load(Ordering::SeqCst),
        }
    }

    /// Sets every call counter back to zero.
    pub fn reset_counters(&self) {
        let c = &self.counters;
        for cell in [
            &c.kv_get,
            &c.kv_set,
            &c.kv_delete,
            &c.kv_increment,
            &c.kv_get_many,
            &c.kv_set_many,
            &c.kv_delete_many,
            &c.kv_other,
            &c.sqlite_execute,
            &c.sqlite_other,
        ] {
            cell.store(0, Ordering::SeqCst);
        }
    }

    /// Counts a key-value call and tells whether it must fail with an injected fault.
    pub fn kv_call(&self, call: KvCall) -> bool {
        let cell = match call {
            KvCall::Get => &self.counters.kv_get,
            KvCall::Set => &self.counters.kv_set,
            KvCall::Delete => &self.counters.kv_delete,
            KvCall::Increment => &self.counters.kv_increment,
            KvCall::GetMany => &self.counters.kv_get_many,
            KvCall::SetMany => &self.counters.kv_set_many,
            KvCall::DeleteMany => &self.counters.kv_delete_many,
            KvCall::Open | KvCall::Other => &self.counters.kv_other,
        };
        cell.fetch_add(1, Ordering::SeqCst);
        self.kv_fault.hit(call.is_write(), None)
    }

    /// Counts a SQLite call that cannot fail (`changes`, `last-insert-rowid`).
    pub fn sqlite_infallible_call(&self) {
        self.counters.sqlite_other.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a SQLite `open` and tells whether it must fail with an injected fault.
    pub fn sqlite_open_call(&self) -> bool {
        self.counters.sqlite_other.fetch_add(1, Ordering::SeqCst);
        self.sqlite_fault.hit(false, None)
    }

    /// Reads a key.
    pub fn kv_get(&self, label: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        select_value(&lock(&self.kv), label, key)
    }

    /// Writes a key.
    pub fn kv_set(&self, label: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
        upsert_value(&lock(&self.kv), label, key, value)
    }

    /// Deletes a key (no error when it is absent).
    pub fn kv_delete(&self, label: &str, key: &str) -> rusqlite::Result<()> {
        delete_value(&lock(&self.kv), label, key)
    }

    /// Adds `delta` to the counter under `key` and returns the new value, atomically: the read
    /// and the write are one transaction, under the lock every other key-value call takes.
    ///
    /// The counter is kept as Spin's SQLite key-value store keeps it, the `i64` as 8 bytes
    /// little-endian, so `get` reads it as those bytes; an absent key counts as 0, and the sum
    /// wraps on overflow as Spin's (built without overflow checks) does. A present value that
    /// is not 8 bytes long is an error here, where Spin's SQLite store panics (its
    /// `try_into().expect(...)`), which traps the calling instance.
    pub fn kv_increment(&self, label: &str, key: &str, delta: i64) -> Result<i64, String> {
        let mut kv = lock(&self.kv);
        let tx = kv
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| e.to_string())?;
        let current = match select_value(&tx, label, key).map_err(|e| e.to_string())? {
            None => 0,
            Some(bytes) => i64::from_le_bytes(bytes.as_slice().try_into().map_err(|_| {
                format!(
                    "the value of {key:?} is {} bytes long, not a counter ({COUNTER_BYTES} bytes)",
                    bytes.len()
                )
            })?),
        };
        let next = current.wrapping_add(delta);
        upsert_value(&tx, label, key, &next.to_le_bytes()).map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        Ok(next)
    }

    /// The keys among `keys` that are present, each once, with their values, in the order
    /// asked (Spin promises no order): like Spin's SQLite store, absent keys are left out
    /// rather than answered `none`.
    pub fn kv_get_many(
        &self,
        label: &str,
        keys: &[String],
    ) -> rusqlite::Result<Vec<(String, Vec<u8>)>> {
        let kv = lock(&self.kv);
        let mut asked = BTreeSet::new();
        let mut found = Vec::new();
        for key in keys {
            if asked.insert(key.as_str())
                && let Some(value) = select_value(&kv, label, key)?
            {
                found.push((key.clone(), value));
            }
        }
        Ok(found)
    }

    /// Writes many keys in one transaction (all or none, as Spin's SQLite store does).
    pub fn kv_set_many(&self, label: &str, entries: &[(String, Vec<u8>)]) -> rusqlite::Result<()> {
        let mut kv = lock(&self.kv);
        let tx = kv.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (key, value) in entries {
            upsert_value(&tx, label, key, value)?;
        }
        tx.commit()
    }

    /// Deletes many keys in one transaction (absent ones are skipped).
    pub fn kv_delete_many(&self, label: &str, keys: &[String]) -> rusqlite::Result<()> {
        let mut kv = lock(&self.kv);
        let tx = kv.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for key in keys {
            delete_value(&tx, label, key)?;
        }
        tx.commit()
    }

    /// Tells whether a key exists.
    pub fn kv_exists(&self, label: &str, key: &str) -> rusqlite::Result<bool> {
        Ok(self.kv_get(label, key)?.is_some())
    }

    /// Every key of a store.
    pub fn kv_keys(&self, label: &str) -> rusqlite::Result<Vec<String>> {
        let kv = lock(&self.kv);
        let mut stmt = kv.prepare_cached(&format!("SELECT key FROM {}", kv_table(label)))?;
        let keys = stmt.query_map([], |row| row.get(0))?;
        keys.collect()
    }

    /// Every key and value of a store, sorted by key.
    pub fn kv_dump(&self, label: &str) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
        anyhow::ensure!(self.has_kv_label(label), "no key-value store {label:?}");
        let kv = lock(&self.kv);
        let mut stmt = kv.prepare(&format!("SELECT key, value FROM {}", kv_table(label)))?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The path of a SQLite database file.
    pub fn sqlite_path(&self, label: &str) -> PathBuf {
        self.dir.join(format!("sqlite_db_{}.db", file_safe(label)))
    }

    /// Opens a new connection to a database (each component `open` gets its own).
    pub fn sqlite_open(&self, label: &str) -> rusqlite::Result<rusqlite::Connection> {
        open_reader(&self.sqlite_path(label))
    }

    /// Runs one statement on a connection, counting it and applying the SQLite fault.
    ///
    /// Blocks (SQLite may wait for a lock): call it off the async executor.
    pub fn sqlite_execute(
        &self,
        conn: &rusqlite::Connection,
        statement: &str,
        parameters: &[SqlValue],
    ) -> Result<SqlRows, String> {
        self.counters.sqlite_execute.fetch_add(1, Ordering::SeqCst);
        let prepared = conn.prepare_cached(statement);
        let is_write = prepared.as_ref().is_ok_and(|stmt| !stmt.readonly());
        let fails = self.sqlite_fault.hit(is_write, Some(statement));
        self.sqlite_fault.saw_statement(statement);
        self.kv_fault.saw_statement(statement);
        if fails {
            return Err(INJECTED_FAULT.to_string());
        }
        let mut stmt = prepared.map_err(|e| e.to_string())?;
        run_statement(&mut stmt, parameters).map_err(|e| e.to_string())
    }

    /// Every user table of a database, sorted by name, with every row ordered by all columns.
    pub fn sqlite_dump(&self, label: &str) -> anyhow::Result<String> {
        anyhow::ensure!(self.has_sqlite_label(label), "no SQLite database {label:?}");
        dump_database(&self.sqlite_open(label)?)
    }
}

/// Opens a SQLite file that another process (a Spin server) may be writing, waiting for its
/// locks like the host's own connections do.
pub fn open_reader(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
    Ok(conn)
}

/// A deterministic text of a database: every user table, sorted by name, with its rows
/// ordered by all columns.
pub fn dump_database(conn: &rusqlite::Connection) -> anyhow::Result<String> {
    use std::fmt::Write;
    let tables: Vec<(String, String)> = conn
        .prepare(
            "SELECT name, sql FROM sqlite_schema \
             WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = String::new();
    for (name, sql) in tables {
        writeln!(out, "table {name:?}: {sql}")?;
        let stmt = conn.prepare(&format!("SELECT * FROM {}", quote_ident(&name)))?;
        let count = stmt.column_count();
        let order: Vec<String> = (1..=count).map(|i| i.to_string()).collect();
        let mut stmt = conn.prepare(&format!(
            "SELECT * FROM {} ORDER BY {}",
            quote_ident(&name),
            order.join(", ")
        ))?;
        let (_, rows) = run_statement(&mut stmt, &[])?;
        for row in rows {
            let values: Vec<String> = row.iter().map(render_value).collect();
            writeln!(out, "  ({})", values.join(", "))?;
        }
    }
    Ok(out)
}

fn run_statement(
    stmt: &mut rusqlite::Statement<'_>,
    parameters: &[SqlValue],
) -> rusqlite::Result<SqlRows> {
    let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    let params = rusqlite::params_from_iter(parameters.iter().map(|p| match p {
        SqlValue::Integer(i) => rusqlite::types::Value::Integer(*i),
        SqlValue::Real(f) => rusqlite::types::Value::Real(*f),
        SqlValue::Text(t) => rusqlite::types::Value::Text(t.clone()),
        SqlValue::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
        SqlValue::Null => rusqlite::types::Value::Null,
    }));
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => SqlValue::Null,
                ValueRef::Integer(i) => SqlValue::Integer(i),
                ValueRef::Real(f) => SqlValue::Real(f),
                ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
            });
        }
        out.push(values);
    }
    Ok((columns, out))
}

/// Renders a value so that different values never render alike.
fn render_value(value: &SqlValue) -> String {
    match value {
        SqlValue::Integer(i) => i.to_string(),
        SqlValue::Real(f) => format!("{f:?}"),
        SqlValue::Text(t) => format!("{t:?}"),
        SqlValue::Blob(b) => {
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            format!("x'{hex}'")
        }
        SqlValue::Null => "NULL".to_string(),
    }
}

fn kv_table(label: &str) -> String {
    quote_ident(label)
}

/// Reads a key of the store `label` on `kv` (the key-value connection or a transaction on it).
fn select_value(
    kv: &rusqlite::Connection,
    label: &str,
    key: &str,
) -> rusqlite::Result<Option<Vec<u8>>> {
    use rusqlite::OptionalExtension;
    let mut stmt = kv.prepare_cached(&format!(
        "SELECT value FROM {} WHERE key = ?1",
        kv_table(label)
    ))?;
    stmt.query_row([key], |row| row.get(0)).optional()
}

/// Writes a key of the store `label` on `kv`.
fn upsert_value(
    kv: &rusqlite::Connection,
    label: &str,
    key: &str,
    value: &[u8],
) -> rusqlite::Result<()> {
    let mut stmt = kv.prepare_cached(&format!(
        "INSERT INTO {} (key, value) VALUES (?1, ?2) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        kv_table(label)
    ))?;
    stmt.execute(rusqlite::params![key, value])?;
    Ok(())
}

/// Deletes a key of the store `label` on `kv` (no error when it is absent).
fn delete_value(kv: &rusqlite::Connection, label: &str, key: &str) -> rusqlite::Result<()> {
    let mut stmt = kv.prepare_cached(&format!("DELETE FROM {} WHERE key = ?1", kv_table(label)))?;
    stmt.execute([key])?;
    Ok(())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A label as a file-name part: ASCII letters, digits, `-` and `_` kept, the rest hex-escaped.
fn file_safe(label: &str) -> String {
    label
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Locks a mutex, going on after a panic in another holder (the data stays usable).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
