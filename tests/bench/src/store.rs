//! Data written straight into the stores a `spin up` reads, faster than through the admin
//! API: synthetic verification records (into Spin's key-value SQLite file in its state
//! directory, or Redis over RESP), each granting [`METHOD`] on [`COMPANY`] as the admin API
//! would have written it for such a key; access counts and keys in the app's SQLite database.

use crate::scenarios::{COMPANY, METHOD};
use anyhow::{Context, bail};
use keys_domain::key::{KeyHash, NewSecret, random_id};
use keys_domain::permissions::{CompanyId, CompanyScope};
use keys_domain::record::{Limits, VerificationRecord, record_key};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// Spin's key-value file in the state directory.
const SPIN_KV_FILE: &str = "sqlite_key_value.db";
/// Spin's `default` SQLite database in the state directory.
const SPIN_SQLITE_FILE: &str = "sqlite_db.db";
/// The catalog methods the access history counts (migrations/0002_default_catalog.sql).
const CATALOG_METHODS: &str = "SELECT name FROM api_methods ORDER BY name";
/// Adds one day's count of one method and company, as the fold writes them.
const SQL_ADD_ACCESS: &str = "INSERT INTO access_daily \
     (key_id, day, code, method, company, n, last_hour) VALUES (?1, ?2, 'VALID', ?3, ?4, ?5, ?6)";
/// Adds a key written straight into SQLite, active, granted [`METHOD`] on [`COMPANY`].
const SQL_ADD_KEY: &str = "INSERT INTO api_keys (id, label, hint, status, methods, companies, \
     metadata, expires_at, created_at, created_by_id, created_by_name, updated_at) \
     VALUES (?1, ?2, ?3, 'active', ?4, ?5, NULL, NULL, ?6, 'bench', 'Benchmark', ?6)";
/// Adds its one live secret.
const SQL_ADD_SECRET: &str =
    "INSERT INTO key_secrets (hash, key_id, created_at, valid_until) VALUES (?1, ?2, ?3, NULL)";
/// The hint of the keys written into SQLite (their secrets are never known).
const SQLITE_KEY_HINT: &str = "ingk_...bnch";
/// The store label of the records.
const STORE_LABEL: &str = "default";
/// Writes one record into Spin's one key-value table (created by Spin on its first write).
const SQL_PUT: &str =
    "INSERT OR REPLACE INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)";
/// How long a write waits for Spin's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// `SET`s sent to Redis before their replies are read.
const PIPELINE: usize = 1_000;
/// Redis's reply to a successful `SET`.
const REDIS_OK: &str = "+OK\r\n";

/// A synthetic key: its secret and the record stored for it.
pub struct SyntheticKey {
    /// The key text, as clients send it.
    pub secret: String,
    /// The key-value key of its record.
    pub record_key: String,
    /// The encoded record.
    pub record: Vec<u8>,
}

/// The error of the OS random source failing (getrandom's error is no `std` error).
fn no_randomness(err: getrandom::Error) -> anyhow::Error {
    anyhow::anyhow!("the OS random source failed: {err}")
}

/// The record of synthetic key number `n`, secret `secret`: active, no expiry or limits,
/// granted [`METHOD`] on [`COMPANY`] only.
fn synthetic_record(n: usize, secret: &NewSecret) -> anyhow::Result<VerificationRecord> {
    let company = CompanyId::parse(COMPANY).context("the benchmark's company id")?;
    Ok(VerificationRecord {
        key_id: random_id("key_").map_err(no_randomness)?,
        label: format!("Bench synthetic {n}"),
        hint: secret.hint(),
        active: true,
        methods: vec![METHOD.to_owned()],
        companies: CompanyScope::Only(vec![company]),
        expires_at: None,
        valid_until: None,
        created_at: keys_domain::time::Timestamp::now().unix(),
        metadata: None,
        limits: Limits::default(),
    })
}

/// `count` new synthetic keys.
pub fn synthetic_keys(count: usize) -> anyhow::Result<Vec<SyntheticKey>> {
    (0..count)
        .map(|n| {
            let secret = NewSecret::generate().map_err(no_randomness)?;
            let record = synthetic_record(n, &secret)?
                .encode()
                .map_err(|e| anyhow::anyhow!("cannot encode a synthetic record: {e}"))?;
            Ok(SyntheticKey {
                secret: secret.expose().to_owned(),
                record_key: record_key(&secret.hash().to_hex()),
                record,
            })
        })
        .collect()
}

/// Writes `keys`' records into the `default` store of the Spin whose state directory is
/// `state_dir`, in one transaction. The table must exist: write through the app first.
pub fn fill_spin(state_dir: &Path, keys: &[SyntheticKey]) -> anyhow::Result<()> {
    let path = state_dir.join(SPIN_KV_FILE);
    anyhow::ensure!(
        path.exists(),
        "{} does not exist: nothing was written to the store yet",
        path.display()
    );
    let mut conn = rusqlite::Connection::open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let transaction = conn.transaction()?;
    {
        let mut put = transaction
            .prepare(SQL_PUT)
            .context("Spin's key-value table is not the one expected")?;
        for key in keys {
            put.execute((STORE_LABEL, &key.record_key, &key.record))?;
        }
    }
    transaction
        .commit()
        .context("cannot commit the synthetic records")?;
    Ok(())
}

/// Writes `days` days of access counts for `key_id`, up to today, straight into the app's
/// SQLite database (its schema applied by the admin calls made before): every catalog
/// method for each of `companies` companies (`C00`, `C01`, …), every day, a few calls each.
pub fn fill_access_history(
    state_dir: &Path,
    key_id: &str,
    days: u32,
    companies: usize,
) -> anyhow::Result<usize> {
    let path = state_dir.join(SPIN_SQLITE_FILE);
    let mut conn = rusqlite::Connection::open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let methods: Vec<String> = conn
        .prepare(CATALOG_METHODS)
        .context("the app's schema is not applied")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let today = keys_domain::time::Timestamp::now()
        .unix()
        .div_euclid(86_400);
    let transaction = conn.transaction()?;
    let mut rows = 0;
    {
        let mut add = transaction
            .prepare(SQL_ADD_ACCESS)
            .context("the access counts' table is not the one expected")?;
        for day in today - i64::from(days) + 1..=today {
            for (m, method) in methods.iter().enumerate() {
                for c in 0..companies {
                    let calls = 1 + (day + m as i64 + c as i64) % 7;
                    let last_hour = day * 24 + (c % 24) as i64;
                    let company = format!("C{c:02}");
                    add.execute((key_id, day, method, &company, calls, last_hour))?;
                    rows += 1;
                }
            }
        }
    }
    transaction
        .commit()
        .context("cannot commit the access history")?;
    Ok(rows)
}

/// Writes `count` keys, each with one live secret, straight into the app's SQLite database in
/// `state_dir` (its schema applied by the admin calls made before), in one transaction: what
/// the rebuild rewrites into the key-value store.
pub fn fill_sqlite_keys(state_dir: &Path, count: usize) -> anyhow::Result<()> {
    let path = state_dir.join(SPIN_SQLITE_FILE);
    let mut conn = rusqlite::Connection::open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    add_sqlite_keys(&mut conn, count)
}

/// [`fill_sqlite_keys`] on an open connection.
fn add_sqlite_keys(conn: &mut rusqlite::Connection, count: usize) -> anyhow::Result<()> {
    let methods = serde_json::json!([METHOD]).to_string();
    let companies = serde_json::json!([COMPANY]).to_string();
    let now = keys_domain::time::Timestamp::now().unix();
    let transaction = conn.transaction()?;
    {
        let mut add_key = transaction
            .prepare(SQL_ADD_KEY)
            .context("the keys' table is not the one expected")?;
        let mut add_secret = transaction
            .prepare(SQL_ADD_SECRET)
            .context("the secrets' table is not the one expected")?;
        for n in 0..count {
            let id = format!("key_bench{n:07}");
            let hash = KeyHash::of(&format!("bench-{n}")).to_hex();
            add_key.execute((
                &id,
                format!("Bench {n}"),
                SQLITE_KEY_HINT,
                &methods,
                &companies,
                now,
            ))?;
            add_secret.execute((&hash, &id, now))?;
        }
    }
    transaction
        .commit()
        .context("cannot commit the keys written into SQLite")?;
    Ok(())
}

/// A Redis command in RESP: an array of bulk strings.
fn resp_command(arguments: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", arguments.len()).into_bytes();
    for argument in arguments {
        out.extend_from_slice(format!("${}\r\n", argument.len()).as_bytes());
        out.extend_from_slice(argument);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Writes `keys`' records into the Redis at `addr` (plain `SET`s, as Spin's Redis key-value
/// backend stores them), [`PIPELINE`] commands at a time.
pub fn fill_redis(addr: SocketAddr, keys: &[SyntheticKey]) -> anyhow::Result<()> {
    let mut stream =
        TcpStream::connect(addr).with_context(|| format!("cannot connect to Redis at {addr}"))?;
    let mut replies = BufReader::new(stream.try_clone()?);
    let mut reply = String::new();
    for chunk in keys.chunks(PIPELINE) {
        let mut commands = Vec::new();
        for key in chunk {
            commands.extend(resp_command(&[
                b"SET",
                key.record_key.as_bytes(),
                &key.record,
            ]));
        }
        stream.write_all(&commands)?;
        for _ in chunk {
            reply.clear();
            replies.read_line(&mut reply)?;
            if reply != REDIS_OK {
                bail!("Redis refused a SET: {reply:?}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keys_domain::record::RecordView;
    use keys_domain::time::Timestamp;
    use keys_domain::verify::{VerifyCode, VerifyQuery, decide};

    #[test]
    fn a_synthetic_record_decodes_and_verifies_valid_for_the_benchmark_method_and_company() {
        let keys = synthetic_keys(1).unwrap();
        let view = RecordView::decode(&keys[0].record).expect("the record decodes");
        for strict in [false, true] {
            let query = VerifyQuery {
                method: Some(METHOD),
                company: Some(COMPANY),
                ip: None,
                strict,
            };
            assert_eq!(
                decide(Some(&view), Timestamp::now(), query),
                VerifyCode::Valid
            );
        }
    }

    #[test]
    fn a_synthetic_record_grants_nothing_else() {
        let keys = synthetic_keys(1).unwrap();
        let view = RecordView::decode(&keys[0].record).unwrap();
        let query = VerifyQuery {
            method: Some("payroll.read"),
            company: Some(COMPANY),
            ip: None,
            strict: false,
        };
        assert_eq!(
            decide(Some(&view), Timestamp::now(), query),
            VerifyCode::MethodNotAllowed
        );
    }

    #[test]
    fn a_synthetic_record_is_stored_under_its_secrets_hash() {
        let keys = synthetic_keys(2).unwrap();
        for key in &keys {
            let hash = keys_domain::key::KeyHash::of(&key.secret).to_hex();
            assert_eq!(key.record_key, record_key(&hash));
        }
        assert_ne!(keys[0].secret, keys[1].secret);
    }

    /// A database with the app's schema, as the admin components apply it.
    fn migrated() -> rusqlite::Connection {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for file in files {
            conn.execute_batch(&std::fs::read_to_string(&file).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        conn
    }

    #[test]
    fn keys_written_into_sqlite_are_active_with_one_live_secret_each_granted_the_bench_method() {
        let mut conn = migrated();
        add_sqlite_keys(&mut conn, 5).unwrap();
        let live: i64 = conn
            .query_row(
                "SELECT COUNT(DISTINCT k.id) FROM key_secrets s JOIN api_keys k ON k.id = s.key_id \
                 WHERE s.valid_until IS NULL AND k.status = 'active' AND k.methods = ?1 \
                 AND k.companies = ?2",
                (r#"["employees.read"]"#, r#"["ACME"]"#),
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(live, 5);
        let secrets: i64 = conn
            .query_row("SELECT COUNT(*) FROM key_secrets", [], |row| row.get(0))
            .unwrap();
        assert_eq!(secrets, 5);
    }

    #[test]
    fn a_resp_command_is_an_array_of_bulk_strings() {
        assert_eq!(
            resp_command(&[b"SET", b"vk:ab", b"x\ny"]),
            b"*3\r\n$3\r\nSET\r\n$5\r\nvk:ab\r\n$3\r\nx\ny\r\n"
        );
    }
}
