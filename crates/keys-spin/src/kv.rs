//! Key-value access: the `default` store holding the verification records. Every call has a
//! [deadline](crate::deadline): a store that does not answer fails the request with 503.
//!
//! Two ways to the same data, chosen by the `kv_backend` variable:
//! - `spin` (the default): Spin's key-value API, on whatever backend the runtime config gives
//!   the `default` store (SQLite file, Redis, …).
//! - `redis`: Redis (or Valkey) at `redis_host`, spoken to directly through Spin's outbound
//!   Redis API. The keys and values are the ones Spin's Redis key-value backend uses (the raw
//!   key name, the value as bytes), so nodes of either kind read each other's writes. The
//!   point is recovery: Spin 4.1's Redis key-value client retries a lost connection with
//!   growing back-off and holds every call meanwhile (up to about two minutes after Redis is
//!   back, measured in docs/deployment.md); here a failed connection is dropped and the next
//!   request opens a new one. One connection is kept per instance and shared by the requests
//!   it serves.
//!
//! Either way the store is opened once per component instance, not once per request.
//!
//! Counters ([`Kv::increment`]) and batched reads and deletes ([`Kv::get_many`],
//! [`Kv::delete_many`]) go, with the `spin` backend, through `wasi:keyvalue` (spin-sdk's
//! `experimental` bindings: Spin's own key-value API has no increment). Those calls are
//! synchronous: the deadline cannot interrupt them, and they hold the instance while they run.
//! They only follow a call that answered within its deadline (the verification record's
//! read, for verify-key), so a store that is down fails the request before them; a store
//! that stops answering between the two holds the request as long as Spin's client waits.

use crate::deadline::{Deadline, call};
use keys_domain::Error;
use spin_sdk::experimental::wasi::keyvalue::{atomics, batch, store as wasi_store};
use spin_sdk::key_value::Store;
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};
use spin_sdk::variables;
use spin_sdk::wit_bindgen::StreamResult;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// The store's name in errors and logs.
const STORE_NAME: &str = "key-value";
/// The label of the store, as `key_value_stores` in spin.toml names it.
const STORE_LABEL: &str = "default";
/// Keys per `MGET`/`DEL` sent to Redis, and per batched call to Spin.
const BATCH: usize = 512;
/// How long listing every key in one Redis reply may take: the only call whose size grows
/// with the data (the rebuild's, after every record was written).
const LISTING_DEADLINE: Duration = Duration::from_secs(10);
/// Keys read at least per read of Spin's key listing.
const LISTING_BATCH: usize = 1024;
/// Variable choosing the backend: `spin` or `redis`.
const VAR_BACKEND: &str = "kv_backend";
/// Variable naming Redis as `host:port` (also what `allowed_outbound_hosts` allows).
const VAR_REDIS_HOST: &str = "redis_host";
/// The log line of a component whose variables do not say how to reach the store (a 500:
/// the manifest or the deployment is wrong, not the request).
const MISCONFIGURED: &str = "the component needs the variables kv_backend (`spin` or `redis`), \
     redis_host and redis_password";
/// Variable holding Redis's password (empty: none).
const VAR_REDIS_PASSWORD: &str = "redis_password";

thread_local! {
    /// The Redis address (`None`: Spin's key-value API), read once per instance.
    static REDIS_ADDRESS: RefCell<Option<Option<Rc<str>>>> = const { RefCell::new(None) };
    /// This instance's Redis connection, dropped on any failure.
    static REDIS_CONNECTION: RefCell<Option<Rc<Connection>>> = const { RefCell::new(None) };
    /// This instance's handle on Spin's `default` store, opened by its first request.
    static SPIN_STORE: RefCell<Option<Rc<Store>>> = const { RefCell::new(None) };
    /// The same store through `wasi:keyvalue`, for counters and batches.
    static WASI_BUCKET: RefCell<Option<Rc<wasi_store::Bucket>>> = const { RefCell::new(None) };
}

enum Backend {
    Spin(Rc<Store>),
    Redis(Rc<Connection>),
}

/// The `default` key-value store, opened for one request.
pub struct Kv {
    backend: Backend,
    deadline: Deadline,
}

impl Kv {
    /// Opens the store; the opening and every later call must each finish within `limit`.
    pub async fn open(limit: Duration) -> Result<Self, Error> {
        let deadline = Deadline::new(STORE_NAME, limit);
        let backend = match redis_address().await? {
            None => Backend::Spin(spin_store(&deadline).await?),
            Some(address) => Backend::Redis(redis_connection(&deadline, &address).await?),
        };
        Ok(Self { backend, deadline })
    }

    /// Reads a value.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        match &self.backend {
            Backend::Spin(store) => self.deadline.run("get", call(store.get(key))).await,
            Backend::Redis(redis) => {
                let reply = redis_command(&self.deadline, redis, "GET", &[key.as_bytes()]).await?;
                match reply.into_iter().next() {
                    Some(RedisResult::Binary(value)) => Ok(Some(value)),
                    Some(RedisResult::Nil) | None => Ok(None),
                    Some(_) => Err(unexpected_reply()),
                }
            }
        }
    }

    /// Writes a value.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        match &self.backend {
            Backend::Spin(store) => self.deadline.run("set", call(store.set(key, value))).await,
            Backend::Redis(redis) => {
                redis_command(&self.deadline, redis, "SET", &[key.as_bytes(), value])
                    .await
                    .map(drop)
            }
        }
    }

    /// Deletes a value (absent is fine).
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        match &self.backend {
            Backend::Spin(store) => self.deadline.run("delete", call(store.delete(key))).await,
            Backend::Redis(redis) => redis_command(&self.deadline, redis, "DEL", &[key.as_bytes()])
                .await
                .map(drop),
        }
    }

    /// Adds `delta` to the counter `key` (absent: 0) and returns the new value, atomically
    /// across every client of the store. A counter must only ever be written by this.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        {
            match &self.backend {
                Backend::Spin(_) => {
                    let bucket = wasi_bucket()?;
                    atomics::increment(&bucket, key, delta).map_err(|e| wasi_error("increment", e))
                }
                Backend::Redis(redis) => {
                    let delta = delta.to_string();
                    let arguments: &[&[u8]] = &[key.as_bytes(), delta.as_bytes()];
                    let reply = redis_command(&self.deadline, redis, "INCRBY", arguments).await?;
                    match reply.into_iter().next() {
                        Some(RedisResult::Int64(n)) => Ok(n),
                        _ => Err(Error::store(
                            "key-value: INCRBY: unexpected reply from Redis",
                        )),
                    }
                }
            }
        }
    }

    /// Reads many values at once, in the order of `keys` (`None`: absent).
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let mut values = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH) {
            match &self.backend {
                Backend::Spin(_) => {
                    let bucket = wasi_bucket()?;
                    let found =
                        batch::get_many(&bucket, chunk).map_err(|e| wasi_error("get-many", e))?;
                    // Spin answers the keys it holds, in no particular order.
                    let mut found: std::collections::HashMap<String, Option<Vec<u8>>> =
                        found.into_iter().collect();
                    values.extend(chunk.iter().map(|k| found.remove(k).flatten()));
                }
                Backend::Redis(redis) => {
                    let arguments: Vec<&[u8]> = chunk.iter().map(|k| k.as_bytes()).collect();
                    let reply = redis_command(&self.deadline, redis, "MGET", &arguments).await?;
                    if reply.len() != chunk.len() {
                        return Err(Error::store("key-value: MGET: unexpected reply from Redis"));
                    }
                    values.extend(reply.into_iter().map(|item| match item {
                        RedisResult::Binary(value) => Some(value),
                        _ => None,
                    }));
                }
            }
        }
        Ok(values)
    }

    /// Deletes many keys at once (absent ones are fine).
    pub async fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        for chunk in keys.chunks(BATCH) {
            match &self.backend {
                Backend::Spin(_) => {
                    let bucket = wasi_bucket()?;
                    batch::delete_many(&bucket, chunk).map_err(|e| wasi_error("delete-many", e))?;
                }
                Backend::Redis(redis) => {
                    let arguments: Vec<&[u8]> = chunk.iter().map(|k| k.as_bytes()).collect();
                    redis_command(&self.deadline, redis, "DEL", &arguments).await?;
                }
            }
        }
        Ok(())
    }

    /// Every key in the store.
    pub async fn keys(&self) -> Result<Vec<String>, Error> {
        match &self.backend {
            Backend::Spin(store) => {
                // Read by read, each within the deadline: a long listing that makes progress
                // is fine, a stalled one fails.
                let (mut names, result) = store.get_keys().await.into_inner();
                let mut keys = Vec::new();
                loop {
                    if keys.len() == keys.capacity() {
                        keys.reserve(LISTING_BATCH);
                    }
                    let read = async { Ok::<_, ()>(names.read(keys).await) };
                    let (status, buffer) = self.deadline.run("get-keys", call(read)).await?;
                    keys = buffer;
                    if matches!(status, StreamResult::Dropped) {
                        break;
                    }
                }
                self.deadline
                    .run("get-keys", call(result.into_future()))
                    .await?;
                Ok(keys)
            }
            Backend::Redis(redis) => {
                let all: &[&[u8]] = &[b"*"];
                let listing =
                    redis_command_within(&self.deadline, redis, "KEYS", all, LISTING_DEADLINE);
                let names = listing.await?;
                Ok(names.into_iter().filter_map(key_name).collect())
            }
        }
    }
}

/// The configured Redis address, or `None` for Spin's key-value API.
async fn redis_address() -> Result<Option<Rc<str>>, Error> {
    if let Some(known) = REDIS_ADDRESS.with(|a| a.borrow().clone()) {
        return Ok(known);
    }
    let misconfigured = || Error::unexpected(MISCONFIGURED);
    let backend = variables::get(VAR_BACKEND)
        .await
        .map_err(|_| misconfigured())?;
    let address = match backend.as_str() {
        "" | "spin" => None,
        "redis" => {
            let host = variables::get(VAR_REDIS_HOST).await;
            let password = variables::get(VAR_REDIS_PASSWORD).await;
            let (Ok(host), Ok(password)) = (host, password) else {
                return Err(misconfigured());
            };
            Some(redis_url(&host, &password).into())
        }
        _ => return Err(misconfigured()),
    };
    REDIS_ADDRESS.with(|a| *a.borrow_mut() = Some(address.clone()));
    Ok(address)
}

/// The URL of Redis at `host` (`host:port`), with `password` when not empty.
fn redis_url(host: &str, password: &str) -> String {
    if password.is_empty() {
        return format!("redis://{host}");
    }
    // Every byte but ASCII letters and digits percent-encoded: the password may hold `@`,
    // `:` or `/`.
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut url = String::from("redis://:");
    for byte in password.bytes() {
        if byte.is_ascii_alphanumeric() {
            url.push(char::from(byte));
        } else {
            url.push('%');
            url.push(char::from(HEX[usize::from(byte >> 4)]));
            url.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    url.push('@');
    url.push_str(host);
    url
}

/// This instance's handle on Spin's `default` store, opened when there is none. One handle
/// serves every request of the instance (Spin reuses an instance for many requests): opening
/// is a host call, and with Spin's Redis backend a `PING` to Redis, on every request
/// otherwise.
async fn spin_store(deadline: &Deadline) -> Result<Rc<Store>, Error> {
    if let Some(open) = SPIN_STORE.with(|s| s.borrow().clone()) {
        return Ok(open);
    }
    let store = Rc::new(deadline.run("open", call(Store::open_default())).await?);
    SPIN_STORE.with(|s| *s.borrow_mut() = Some(store.clone()));
    Ok(store)
}

/// This instance's `wasi:keyvalue` handle on the `default` store, opened when there is none.
fn wasi_bucket() -> Result<Rc<wasi_store::Bucket>, Error> {
    if let Some(open) = WASI_BUCKET.with(|b| b.borrow().clone()) {
        return Ok(open);
    }
    let bucket = Rc::new(wasi_store::open(STORE_LABEL).map_err(|e| wasi_error("open", e))?);
    WASI_BUCKET.with(|b| *b.borrow_mut() = Some(bucket.clone()));
    Ok(bucket)
}

/// The 503 of a failed `wasi:keyvalue` call; drops the handle, so the next call reopens it.
fn wasi_error(what: &str, err: wasi_store::Error) -> Error {
    WASI_BUCKET.with(|b| b.borrow_mut().take());
    Error::store(format!("{STORE_NAME}: {what}: {err:?}"))
}

/// This instance's Redis connection, opened when there is none.
async fn redis_connection(deadline: &Deadline, address: &str) -> Result<Rc<Connection>, Error> {
    if let Some(open) = REDIS_CONNECTION.with(|c| c.borrow().clone()) {
        return Ok(open);
    }
    let connection = Rc::new(
        deadline
            .run("connect", call(Connection::open(address)))
            .await?,
    );
    REDIS_CONNECTION.with(|c| *c.borrow_mut() = Some(connection.clone()));
    Ok(connection)
}

/// Runs one Redis command; on failure drops this instance's connection.
async fn redis_command(
    deadline: &Deadline,
    redis: &Connection,
    command: &'static str,
    arguments: &[&[u8]],
) -> Result<Vec<RedisResult>, Error> {
    redis_command_within(deadline, redis, command, arguments, deadline.limit()).await
}

/// [`redis_command`] with a limit of its own (see [`LISTING_DEADLINE`]).
async fn redis_command_within(
    deadline: &Deadline,
    redis: &Connection,
    command: &'static str,
    arguments: &[&[u8]],
    limit: Duration,
) -> Result<Vec<RedisResult>, Error> {
    let arguments = arguments.iter().map(|a| RedisParameter::Binary(a.to_vec()));
    let reply = call(redis.execute(command, arguments));
    forget_on_error(deadline.run_within(command, reply, limit).await)
}

/// The error of a reply to `GET` that is neither a value nor nil.
fn unexpected_reply() -> Error {
    Error::store("key-value: GET: unexpected reply from Redis")
}

/// Passes `result` on; on failure drops this instance's Redis connection, so the next
/// request connects afresh instead of reusing a broken one.
fn forget_on_error<T>(result: Result<T, Error>) -> Result<T, Error> {
    if result.is_err() {
        REDIS_CONNECTION.with(|c| c.borrow_mut().take());
    }
    result
}

/// A key name from a `KEYS` reply.
fn key_name(item: RedisResult) -> Option<String> {
    match item {
        RedisResult::Binary(bytes) => String::from_utf8(bytes).ok(),
        RedisResult::Status(text) => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_url_carries_the_password_percent_encoded() {
        assert_eq!(redis_url("10.0.0.5:6379", ""), "redis://10.0.0.5:6379");
        assert_eq!(
            redis_url("cache:6380", "p@ss:w/rd"),
            "redis://:p%40ss%3Aw%2Frd@cache:6380"
        );
    }
}
