//! Key-value access: the `default` store holding the verification records. Every call has a
//! [deadline](crate::deadline): a store that does not answer fails the request with 503.
//!
//! Two ways to the same data, chosen by the `kv_backend` variable:
//! - `spin` (the default): Spin's key-value API, on whatever backend the runtime config gives
//!   the `default` store (SQLite file, Redis, …).
//! - `redis`: Redis (or Valkey) at `redis_host`, spoken to directly through Spin's outbound
//!   Redis API, over TLS when `redis_tls` is `true`. The keys and values are the ones Spin's
//!   Redis key-value backend uses (the raw key name, the value as bytes), so nodes of either
//!   kind read each other's writes. The point is recovery: Spin 4.1's Redis key-value client
//!   retries a lost connection with growing back-off and holds every call meanwhile (up to
//!   about two minutes after Redis is back, measured in docs/deployment.md); here a failed
//!   connection is dropped and the next request opens a new one. One connection is kept per
//!   instance and shared by the requests it serves.
//!
//! Either way the store is opened once per component instance, not once per request.
//!
//! No call here can hold the instance: every one is asynchronous and raced against its
//! deadline. Batched reads and deletes are single calls run side by side. Counters
//! ([`Kv::increment`]) are the exception Spin leaves: its key-value API has no increment and
//! `wasi:keyvalue`'s is synchronous, so with the `spin` backend they go to the `kv-proxy`
//! component over Spin's local service chaining (`keys_domain::increments`), an asynchronous
//! call abandoned at its deadline, behind a per-instance breaker (`keys_domain::breaker`):
//! after a failure, only a request whose own store call just answered may try again.

use crate::deadline::{Call, Deadline, call};
use crate::join;
use crate::outbound::{self, Outgoing};
use keys_domain::Error;
use keys_domain::breaker::Breaker;
use keys_domain::increments::{self, INCREMENT_PATH, Increment, MAX_INCREMENTS, PROXY_AUTHORITY};
use spin_sdk::key_value::Store;
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};
use spin_sdk::variables;
use spin_sdk::wasip3::clocks::monotonic_clock;
use spin_sdk::wit_bindgen::StreamResult;
use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// The store's name in errors and logs.
const STORE_NAME: &str = "key-value";
/// Keys per `MGET`/`DEL` sent to Redis.
const BATCH: usize = 512;
/// Calls to Spin's key-value API run side by side, at most.
const SIDE_BY_SIDE: usize = 32;
/// Largest answer read from `kv-proxy`: a value of up to 20 digits per increment.
const PROXY_MAX_ANSWER: usize = MAX_INCREMENTS * 21;
/// After this long, a probe of the breaker that never reported counts as failed.
const PROBE_LIMIT: Duration = Duration::from_secs(1);
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
     redis_host, redis_password and redis_tls (`true` or `false`)";
/// Variable saying whether Redis is reached over TLS (`true`) or not (`false`, the default).
const VAR_REDIS_TLS: &str = "redis_tls";
/// Variable holding Redis's password (empty: none).
const VAR_REDIS_PASSWORD: &str = "redis_password";

thread_local! {
    /// The Redis address (`None`: Spin's key-value API), read once per instance.
    static REDIS_ADDRESS: RefCell<Option<Option<Rc<str>>>> = const { RefCell::new(None) };
    /// This instance's Redis connection, dropped on any failure.
    static REDIS_CONNECTION: RefCell<Option<Rc<Connection>>> = const { RefCell::new(None) };
    /// This instance's handle on Spin's `default` store, opened by its first request.
    static SPIN_STORE: RefCell<Option<Rc<Store>>> = const { RefCell::new(None) };
    /// Whether this instance sends increments to `kv-proxy` (see [`Breaker`]).
    static PROXY_BREAKER: Cell<Breaker> = const { Cell::new(Breaker::Closed) };
}

enum Backend {
    Spin(Rc<Store>),
    Redis(Rc<Connection>),
}

/// The store of one request, opened by its first call: a request that turns out to need no
/// store call (an answer from the edge's record cache) opens nothing and cannot wait on it.
pub struct LazyKv {
    limit: Duration,
    budget: Duration,
    kv: OnceCell<Kv>,
}

impl LazyKv {
    /// The store, to be opened as by [`Kv::open_within`].
    pub const fn within(limit: Duration, budget: Duration) -> Self {
        Self {
            limit,
            budget,
            kv: OnceCell::new(),
        }
    }

    /// The store, opened now if it was not.
    pub async fn get(&self) -> Result<&Kv, Error> {
        if let Some(kv) = self.kv.get() {
            return Ok(kv);
        }
        let kv = Kv::open_within(self.limit, self.budget).await?;
        Ok(self.kv.get_or_init(|| kv))
    }
}

/// The `default` key-value store, opened for one request.
pub struct Kv {
    backend: Backend,
    deadline: Deadline,
    /// Whether a call of this request answered within its deadline: the store was reachable
    /// moments ago (what lets a request probe an open breaker).
    answered: Cell<bool>,
}

impl Kv {
    /// Opens the store; the opening and every later call must each finish within `limit`.
    pub async fn open(limit: Duration) -> Result<Self, Error> {
        Self::open_with(Deadline::new(STORE_NAME, limit)).await
    }

    /// [`Kv::open`], every call of the request together bounded to `budget` as well.
    pub async fn open_within(limit: Duration, budget: Duration) -> Result<Self, Error> {
        Self::open_with(Deadline::new(STORE_NAME, limit).with_budget(budget)).await
    }

    async fn open_with(deadline: Deadline) -> Result<Self, Error> {
        let backend = match redis_address().await? {
            None => Backend::Spin(spin_store(&deadline).await?),
            Some(address) => Backend::Redis(redis_connection(&deadline, &address).await?),
        };
        Ok(Self {
            backend,
            deadline,
            answered: Cell::new(false),
        })
    }

    /// Runs one call within the deadline and notes that the store answered.
    async fn run<T>(&self, what: &str, call: Call<'_, T>) -> Result<T, Error> {
        let result = self.deadline.run(what, call).await;
        if result.is_ok() {
            self.answered.set(true);
        }
        result
    }

    /// Reads a value.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        match &self.backend {
            Backend::Spin(store) => self.run("get", call(store.get(key))).await,
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
            Backend::Spin(store) => self.run("set", call(store.set(key, value))).await,
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
            Backend::Spin(store) => self.run("delete", call(store.delete(key))).await,
            Backend::Redis(redis) => redis_command(&self.deadline, redis, "DEL", &[key.as_bytes()])
                .await
                .map(drop),
        }
    }

    /// Adds `delta` to the counter `key` (absent: 0) and returns the new value, atomically
    /// across every client of the store. A counter must only ever be written by this.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        let increment = Increment {
            counter: key.to_owned(),
            delta,
        };
        let values = self.increment_many(&[increment]).await?;
        values.first().copied().ok_or_else(unexpected_reply)
    }

    /// [`Kv::increment`] for many counters; their new values, in order. Stops at the first
    /// failure (the increments before it are made).
    pub async fn increment_many(&self, increments: &[Increment]) -> Result<Vec<i64>, Error> {
        let mut values = Vec::with_capacity(increments.len());
        match &self.backend {
            Backend::Spin(_) => {
                for chunk in increments.chunks(MAX_INCREMENTS) {
                    values.extend(self.proxied(chunk).await?);
                }
            }
            Backend::Redis(redis) => {
                for increment in increments {
                    let delta = increment.delta.to_string();
                    let arguments: &[&[u8]] = &[increment.counter.as_bytes(), delta.as_bytes()];
                    let reply = redis_command(&self.deadline, redis, "INCRBY", arguments).await?;
                    match reply.into_iter().next() {
                        Some(RedisResult::Int64(n)) => values.push(n),
                        _ => return Err(unexpected_reply()),
                    }
                }
            }
        }
        Ok(values)
    }

    /// Sends increments to `kv-proxy`, unless this instance's breaker is open.
    async fn proxied(&self, chunk: &[Increment]) -> Result<Vec<i64>, Error> {
        let now = monotonic_clock::now();
        let probe_limit = u64::try_from(PROBE_LIMIT.as_nanos()).unwrap_or(u64::MAX);
        let mut breaker = PROXY_BREAKER.get();
        let admitted = breaker.admit(now, self.answered.get(), probe_limit);
        PROXY_BREAKER.set(breaker);
        if !admitted {
            return Err(Error::store(
                "key-value: increment: not attempted: an increment failed earlier and the \
                 store has not answered since",
            ));
        }
        let result = self.send_increments(chunk).await;
        let mut breaker = PROXY_BREAKER.get();
        breaker.record(result.is_ok());
        PROXY_BREAKER.set(breaker);
        result
    }

    async fn send_increments(&self, chunk: &[Increment]) -> Result<Vec<i64>, Error> {
        let body = increments::encode(chunk).map_err(|e| Error::unexpected(e.0))?;
        let request = Outgoing {
            scheme: "http",
            authority: PROXY_AUTHORITY,
            path_and_query: INCREMENT_PATH,
            headers: &[("content-type", "text/plain")],
            body: Some(body.as_bytes()),
        };
        let answer = outbound::send(&self.deadline, "increment", request, PROXY_MAX_ANSWER).await?;
        if answer.status != 200 {
            let detail = String::from_utf8_lossy(&answer.body);
            return Err(Error::store(format!(
                "{STORE_NAME}: increment: kv-proxy answered {}: {detail}",
                answer.status
            )));
        }
        std::str::from_utf8(&answer.body)
            .ok()
            .and_then(|text| increments::parse_values(text, chunk.len()).ok())
            .ok_or_else(|| Error::store("key-value: increment: unreadable answer from kv-proxy"))
    }

    /// Reads many values at once, in the order of `keys` (`None`: absent).
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let mut values = Vec::with_capacity(keys.len());
        match &self.backend {
            Backend::Spin(store) => {
                for chunk in keys.chunks(SIDE_BY_SIDE) {
                    let reads = chunk.iter().map(|key| call(store.get(key))).collect();
                    let joined = Box::pin(async { join::all_ok(reads).await });
                    values.extend(self.run("get", joined).await?);
                }
            }
            Backend::Redis(redis) => {
                for chunk in keys.chunks(BATCH) {
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
        match &self.backend {
            Backend::Spin(store) => {
                for chunk in keys.chunks(SIDE_BY_SIDE) {
                    let deletes = chunk.iter().map(|key| call(store.delete(key))).collect();
                    let joined = Box::pin(async { join::all_ok(deletes).await });
                    self.run("delete", joined).await?;
                }
            }
            Backend::Redis(redis) => {
                for chunk in keys.chunks(BATCH) {
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
            let tls = variables::get(VAR_REDIS_TLS).await;
            let (Ok(host), Ok(password), Ok(tls)) = (host, password, tls) else {
                return Err(misconfigured());
            };
            let tls = match tls.trim() {
                "" | "false" => false,
                "true" => true,
                _ => return Err(misconfigured()),
            };
            Some(redis_url(&host, &password, tls).into())
        }
        _ => return Err(misconfigured()),
    };
    REDIS_ADDRESS.with(|a| *a.borrow_mut() = Some(address.clone()));
    Ok(address)
}

/// The URL of Redis at `host` (`host:port`), with `password` when not empty, over TLS
/// (`rediss://`) when `tls`.
fn redis_url(host: &str, password: &str, tls: bool) -> String {
    let mut url = String::from(if tls { "rediss://" } else { "redis://" });
    if !password.is_empty() {
        // Every byte but ASCII letters and digits percent-encoded: the password may hold `@`,
        // `:` or `/`.
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        url.push(':');
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
    }
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

/// The error of a reply of an unexpected shape.
fn unexpected_reply() -> Error {
    Error::store("key-value: unexpected reply from the store")
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
        assert_eq!(
            redis_url("10.0.0.5:6379", "", false),
            "redis://10.0.0.5:6379"
        );
        assert_eq!(
            redis_url("cache:6380", "p@ss:w/rd", false),
            "redis://:p%40ss%3Aw%2Frd@cache:6380"
        );
    }

    #[test]
    fn a_tls_redis_url_says_rediss() {
        assert_eq!(redis_url("cache:6380", "", true), "rediss://cache:6380");
        assert_eq!(
            redis_url("cache:6380", "pw", true),
            "rediss://:pw@cache:6380"
        );
    }
}
