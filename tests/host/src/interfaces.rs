//! The Spin interfaces `spin:key-value@3.0.0`, `spin:sqlite@3.1.0` and `spin:variables@3.0.0`,
//! and `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics`, `batch`: the same key-value stores
//! as `spin:key-value`, as in Spin), implemented over [`Stores`] with the permissions of the
//! calling component, and `spin:redis@3.0.0`, which this host does not offer: every
//! connection fails to open (the components reach Redis only with `kv_backend = redis`,
//! which the tests run on real Spin).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use wasmtime::component::{
    Accessor, FutureReader, HasData, Linker, Resource, ResourceTable, StreamReader,
};

use crate::manifest::validate_variable_name;
use crate::stores::{INJECTED_FAULT, KvCall, SharedConnection, SqlValue, Stores, lock};

/// Host bindings generated from the WIT files in `wit/`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin-imports",
        imports: { default: trappable },
        with: {
            "spin:key-value/key-value.store": super::KvStore,
            "spin:sqlite/sqlite.connection": super::SqliteConnection,
            "spin:redis/redis.connection": super::RedisConnection,
            "wasi:keyvalue/store.bucket": super::KvBucket,
            "wasi:keyvalue/atomics.cas": super::KvCas,
        },
    });
}

use bindings::spin::key_value::key_value as kv;
use bindings::spin::redis::redis;
use bindings::spin::sqlite::sqlite;
use bindings::spin::variables::variables;
use bindings::wasi::keyvalue::{atomics, batch, store as wasi_kv};

/// What one component may use, from its manifest entry; shared by all its instances.
#[derive(Debug, Clone)]
pub struct Grants {
    /// The component id.
    pub component: String,
    /// The key-value store labels the component may open.
    pub key_value_stores: BTreeSet<String>,
    /// The SQLite database labels the component may open.
    pub sqlite_databases: BTreeSet<String>,
    /// The component's variables, resolved when the host started.
    pub variables: HashMap<String, String>,
    /// The components it may call through service chaining (`http://<id>.spin.internal` in
    /// its `allowed_outbound_hosts`).
    pub chained: BTreeSet<String>,
}

/// The Spin part of one instance's store data.
pub struct SpinState {
    /// The permissions and variables of the instance's component.
    pub grants: Arc<Grants>,
    /// The host's stores.
    pub stores: Arc<Stores>,
}

/// What the Spin interface implementations borrow from the store data.
pub struct SpinView<'a> {
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
    /// The instance's Spin state.
    pub state: &'a SpinState,
}

/// The resource behind a `spin:key-value` `store` handle.
pub struct KvStore {
    label: String,
}

/// The resource behind a `wasi:keyvalue` `bucket` handle: a store, as for `spin:key-value`.
pub struct KvBucket {
    label: String,
}

/// The resource behind a `wasi:keyvalue` `cas` handle: never created, as this host does not
/// offer compare-and-swap (no component uses it).
pub enum KvCas {}

/// The resource behind a `spin:sqlite` `connection` handle: its own SQLite connection.
pub struct SqliteConnection {
    conn: SharedConnection,
}

/// The resource behind a `spin:redis` `connection` handle: never created.
pub enum RedisConnection {}

/// Marks the Spin interfaces in the linker (see [`HasData`]).
pub struct SpinHost;

impl HasData for SpinHost {
    type Data<'a> = SpinView<'a>;
}

/// Adds the Spin interfaces and `wasi:keyvalue` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    getter: fn(&mut T) -> SpinView<'_>,
) -> wasmtime::Result<()> {
    bindings::SpinImports::add_to_linker::<T, SpinHost>(linker, getter)
}

fn shared<T>(accessor: &Accessor<T, SpinHost>) -> (Arc<Grants>, Arc<Stores>) {
    accessor.with(|mut access| {
        let view = access.get();
        (view.state.grants.clone(), view.state.stores.clone())
    })
}

fn kv_label<T>(
    accessor: &Accessor<T, SpinHost>,
    store: &Resource<KvStore>,
) -> wasmtime::Result<String> {
    accessor.with(|mut access| Ok(access.get().table.get(store)?.label.clone()))
}

fn kv_error(e: impl std::fmt::Display) -> kv::Error {
    kv::Error::Other(e.to_string())
}

fn injected_kv() -> kv::Error {
    kv::Error::Other(INJECTED_FAULT.to_string())
}

/// Counts the opening of the key-value store `label` and tells whether it may be opened by
/// `grants`' component; both key-value interfaces open stores this way.
fn check_kv_open(grants: &Grants, stores: &Stores, label: &str) -> Result<(), kv::Error> {
    if stores.kv_call(KvCall::Open) {
        return Err(injected_kv());
    }
    if !grants.key_value_stores.contains(label) {
        return Err(kv::Error::AccessDenied);
    }
    if !stores.has_kv_label(label) {
        return Err(kv::Error::NoSuchStore);
    }
    Ok(())
}

impl<T> kv::HostStoreWithStore<T> for SpinHost {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<KvStore>, kv::Error>> {
        let (grants, stores) = shared(accessor);
        if let Err(e) = check_kv_open(&grants, &stores, &label) {
            return Ok(Err(e));
        }
        let store = accessor.with(|mut access| access.get().table.push(KvStore { label }))?;
        Ok(Ok(store))
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, kv::Error>> {
        let label = kv_label(accessor, &store)?;
        let (_, stores) = shared(accessor);
        if stores.kv_call(KvCall::Get) {
            return Ok(Err(injected_kv()));
        }
        Ok(stores.kv_get(&label, &key).map_err(kv_error))
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), kv::Error>> {
        let label = kv_label(accessor, &store)?;
        let (_, stores) = shared(accessor);
        if stores.kv_call(KvCall::Set) {
            return Ok(Err(injected_kv()));
        }
        Ok(stores.kv_set(&label, &key, &value).map_err(kv_error))
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), kv::Error>> {
        let label = kv_label(accessor, &store)?;
        let (_, stores) = shared(accessor);
        if stores.kv_call(KvCall::Delete) {
            return Ok(Err(injected_kv()));
        }
        Ok(stores.kv_delete(&label, &key).map_err(kv_error))
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, kv::Error>> {
        let label = kv_label(accessor, &store)?;
        let (_, stores) = shared(accessor);
        if stores.kv_call(KvCall::Other) {
            return Ok(Err(injected_kv()));
        }
        Ok(stores.kv_exists(&label, &key).map_err(kv_error))
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), kv::Error>>)> {
        let label = kv_label(accessor, &store)?;
        let (_, stores) = shared(accessor);
        let (keys, result) = if stores.kv_call(KvCall::Other) {
            (Vec::new(), Err(injected_kv()))
        } else {
            match stores.kv_keys(&label) {
                Ok(keys) => (keys, Ok(())),
                Err(e) => (Vec::new(), Err(kv_error(e))),
            }
        };
        accessor.with(|mut access| {
            let keys = StreamReader::new(&mut access, keys)?;
            let result = FutureReader::new(
                &mut access,
                std::future::ready(Ok::<_, wasmtime::Error>(result)),
            )?;
            Ok((keys, result))
        })
    }
}

impl kv::HostStore for SpinView<'_> {
    fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl kv::Host for SpinView<'_> {}

/// The `wasi:keyvalue` form of a `spin:key-value` error, as Spin maps it.
fn to_wasi_kv(e: kv::Error) -> wasi_kv::Error {
    match e {
        kv::Error::NoSuchStore => wasi_kv::Error::NoSuchStore,
        kv::Error::AccessDenied => wasi_kv::Error::AccessDenied,
        kv::Error::StoreTableFull => wasi_kv::Error::Other("store table full".to_string()),
        kv::Error::Other(message) => wasi_kv::Error::Other(message),
    }
}

fn wasi_kv_error(e: impl std::fmt::Display) -> wasi_kv::Error {
    wasi_kv::Error::Other(e.to_string())
}

/// Why `list-keys` refuses a cursor: it answers every key at once (as Spin does).
const NO_CURSOR: &str = "list-keys: cursor not supported";

/// Why `cas` cannot be created in this host.
const NO_CAS: &str = "unsupported: the test host does not offer compare-and-swap";

impl SpinView<'_> {
    /// The label of a bucket, after counting one call of kind `call` on it: `Err` when the
    /// call must fail with an injected fault.
    fn bucket_call(
        &self,
        bucket: &Resource<KvBucket>,
        call: KvCall,
    ) -> wasmtime::Result<Result<String, wasi_kv::Error>> {
        let label = self.table.get(bucket)?.label.clone();
        Ok(if self.state.stores.kv_call(call) {
            Err(wasi_kv_error(INJECTED_FAULT))
        } else {
            Ok(label)
        })
    }
}

// `wasi:keyvalue` functions are synchronous: they block the instance while they run, as in
// Spin; the key-value file answers within the host's own lock.
impl wasi_kv::Host for SpinView<'_> {
    fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<KvBucket>, wasi_kv::Error>> {
        if let Err(e) = check_kv_open(&self.state.grants, &self.state.stores, &identifier) {
            return Ok(Err(to_wasi_kv(e)));
        }
        Ok(Ok(self.table.push(KvBucket { label: identifier })?))
    }
}

impl wasi_kv::HostBucket for SpinView<'_> {
    fn get(
        &mut self,
        bucket: Resource<KvBucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        Ok(self.bucket_call(&bucket, KvCall::Get)?.and_then(|label| {
            self.state
                .stores
                .kv_get(&label, &key)
                .map_err(wasi_kv_error)
        }))
    }

    fn set(
        &mut self,
        bucket: Resource<KvBucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        Ok(self.bucket_call(&bucket, KvCall::Set)?.and_then(|label| {
            self.state
                .stores
                .kv_set(&label, &key, &value)
                .map_err(wasi_kv_error)
        }))
    }

    fn delete(
        &mut self,
        bucket: Resource<KvBucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        Ok(self
            .bucket_call(&bucket, KvCall::Delete)?
            .and_then(|label| {
                self.state
                    .stores
                    .kv_delete(&label, &key)
                    .map_err(wasi_kv_error)
            }))
    }

    fn exists(
        &mut self,
        bucket: Resource<KvBucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_kv::Error>> {
        Ok(self.bucket_call(&bucket, KvCall::Other)?.and_then(|label| {
            self.state
                .stores
                .kv_exists(&label, &key)
                .map_err(wasi_kv_error)
        }))
    }

    fn list_keys(
        &mut self,
        bucket: Resource<KvBucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_kv::KeyResponse, wasi_kv::Error>> {
        if cursor.is_some() {
            // Spin refuses a cursor before it reaches the store.
            return Ok(Err(wasi_kv_error(NO_CURSOR)));
        }
        Ok(self.bucket_call(&bucket, KvCall::Other)?.and_then(|label| {
            let keys = self.state.stores.kv_keys(&label).map_err(wasi_kv_error)?;
            Ok(wasi_kv::KeyResponse { keys, cursor: None })
        }))
    }

    fn drop(&mut self, bucket: Resource<KvBucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for SpinView<'_> {
    fn increment(
        &mut self,
        bucket: Resource<KvBucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_kv::Error>> {
        Ok(self
            .bucket_call(&bucket, KvCall::Increment)?
            .and_then(|label| {
                self.state
                    .stores
                    .kv_increment(&label, &key, delta)
                    .map_err(wasi_kv::Error::Other)
            }))
    }

    fn swap(
        &mut self,
        cas: Resource<KvCas>,
        _value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        match *self.table.get(&cas)? {}
    }
}

impl atomics::HostCas for SpinView<'_> {
    fn new(
        &mut self,
        _bucket: Resource<KvBucket>,
        _key: String,
    ) -> wasmtime::Result<Result<Resource<KvCas>, wasi_kv::Error>> {
        Ok(Err(wasi_kv_error(NO_CAS)))
    }

    fn current(
        &mut self,
        cas: Resource<KvCas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        match *self.table.get(&cas)? {}
    }

    fn drop(&mut self, _: Resource<KvCas>) -> wasmtime::Result<()> {
        Ok(())
    }
}

// Spin answers an empty batch before it reaches the store: such a call is not counted and
// cannot fail here either.
impl batch::Host for SpinView<'_> {
    fn get_many(
        &mut self,
        bucket: Resource<KvBucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error>> {
        if keys.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        Ok(self
            .bucket_call(&bucket, KvCall::GetMany)?
            .and_then(|label| {
                let found = self
                    .state
                    .stores
                    .kv_get_many(&label, &keys)
                    .map_err(wasi_kv_error)?;
                Ok(found
                    .into_iter()
                    .map(|(key, value)| (key, Some(value)))
                    .collect())
            }))
    }

    fn set_many(
        &mut self,
        bucket: Resource<KvBucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        if key_values.is_empty() {
            return Ok(Ok(()));
        }
        Ok(self
            .bucket_call(&bucket, KvCall::SetMany)?
            .and_then(|label| {
                self.state
                    .stores
                    .kv_set_many(&label, &key_values)
                    .map_err(wasi_kv_error)
            }))
    }

    fn delete_many(
        &mut self,
        bucket: Resource<KvBucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        if keys.is_empty() {
            return Ok(Ok(()));
        }
        Ok(self
            .bucket_call(&bucket, KvCall::DeleteMany)?
            .and_then(|label| {
                self.state
                    .stores
                    .kv_delete_many(&label, &keys)
                    .map_err(wasi_kv_error)
            }))
    }
}

fn sqlite_io(e: impl std::fmt::Display) -> sqlite::Error {
    sqlite::Error::Io(e.to_string())
}

/// Opens a new connection for `grants`' component, like Spin's file-backed default.
fn open_connection(
    grants: &Grants,
    stores: &Stores,
    database: &str,
) -> Result<SqliteConnection, sqlite::Error> {
    if stores.sqlite_open_call() {
        return Err(sqlite_io(INJECTED_FAULT));
    }
    if !grants.sqlite_databases.contains(database) {
        return Err(sqlite::Error::AccessDenied);
    }
    if !stores.has_sqlite_label(database) {
        return Err(sqlite::Error::NoSuchDatabase);
    }
    let conn = stores.sqlite_open(database).map_err(sqlite_io)?;
    Ok(SqliteConnection {
        conn: Arc::new(Mutex::new(conn)),
    })
}

fn to_sql_values(parameters: Vec<sqlite::Value>) -> Vec<SqlValue> {
    parameters
        .into_iter()
        .map(|p| match p {
            sqlite::Value::Integer(i) => SqlValue::Integer(i),
            sqlite::Value::Real(f) => SqlValue::Real(f),
            sqlite::Value::Text(t) => SqlValue::Text(t),
            sqlite::Value::Blob(b) => SqlValue::Blob(b),
            sqlite::Value::Null => SqlValue::Null,
        })
        .collect()
}

fn to_rows(rows: Vec<Vec<SqlValue>>) -> Vec<sqlite::RowResult> {
    rows.into_iter()
        .map(|row| sqlite::RowResult {
            values: row
                .into_iter()
                .map(|v| match v {
                    SqlValue::Integer(i) => sqlite::Value::Integer(i),
                    SqlValue::Real(f) => sqlite::Value::Real(f),
                    SqlValue::Text(t) => sqlite::Value::Text(t),
                    SqlValue::Blob(b) => sqlite::Value::Blob(b),
                    SqlValue::Null => sqlite::Value::Null,
                })
                .collect(),
        })
        .collect()
}

fn connection<T>(
    accessor: &Accessor<T, SpinHost>,
    conn: &Resource<SqliteConnection>,
) -> wasmtime::Result<SharedConnection> {
    accessor.with(|mut access| Ok(access.get().table.get(conn)?.conn.clone()))
}

/// The async triple of `execute-async`: column names, a stream of rows, a completion future.
type AsyncQueryResult = (
    Vec<String>,
    StreamReader<sqlite::RowResult>,
    FutureReader<Result<(), sqlite::Error>>,
);

impl<T> sqlite::HostConnectionWithStore<T> for SpinHost {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteConnection>, sqlite::Error>> {
        let (grants, stores) = shared(accessor);
        match open_connection(&grants, &stores, &database) {
            Ok(conn) => Ok(Ok(
                accessor.with(|mut access| access.get().table.push(conn))?
            )),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<Result<AsyncQueryResult, sqlite::Error>> {
        let conn = connection(accessor, &conn)?;
        let (_, stores) = shared(accessor);
        let parameters = to_sql_values(parameters);
        // SQLite may wait up to the busy timeout for another connection's lock: keep that
        // wait off the async executor so the lock holder can go on and commit.
        let result = tokio::task::spawn_blocking(move || {
            let conn = lock(&conn);
            stores.sqlite_execute(&conn, &statement, &parameters)
        })
        .await?;
        let (columns, rows) = match result {
            Ok(result) => result,
            Err(message) => return Ok(Err(sqlite::Error::Io(message))),
        };
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, to_rows(rows))?;
            let done = FutureReader::new(
                &mut access,
                std::future::ready(Ok::<_, wasmtime::Error>(Ok(()))),
            )?;
            Ok(Ok((columns, rows, done)))
        })
    }

    async fn last_insert_rowid_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<SqliteConnection>,
    ) -> wasmtime::Result<i64> {
        let conn = connection(accessor, &conn)?;
        shared(accessor).1.sqlite_infallible_call();
        Ok(lock(&conn).last_insert_rowid())
    }

    async fn changes_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<SqliteConnection>,
    ) -> wasmtime::Result<u64> {
        let conn = connection(accessor, &conn)?;
        shared(accessor).1.sqlite_infallible_call();
        Ok(lock(&conn).changes())
    }
}

impl sqlite::HostConnection for SpinView<'_> {
    fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteConnection>, sqlite::Error>> {
        match open_connection(&self.state.grants, &self.state.stores, &database) {
            Ok(conn) => Ok(Ok(self.table.push(conn)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    fn execute(
        &mut self,
        conn: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<Result<sqlite::QueryResult, sqlite::Error>> {
        // The synchronous form blocks the calling thread (spin-sdk 7 only uses the async one).
        let conn = self.table.get(&conn)?.conn.clone();
        let result =
            self.state
                .stores
                .sqlite_execute(&lock(&conn), &statement, &to_sql_values(parameters));
        Ok(result
            .map(|(columns, rows)| sqlite::QueryResult {
                columns,
                rows: to_rows(rows),
            })
            .map_err(sqlite::Error::Io))
    }

    fn last_insert_rowid(&mut self, conn: Resource<SqliteConnection>) -> wasmtime::Result<i64> {
        self.state.stores.sqlite_infallible_call();
        Ok(lock(&self.table.get(&conn)?.conn).last_insert_rowid())
    }

    fn changes(&mut self, conn: Resource<SqliteConnection>) -> wasmtime::Result<u64> {
        self.state.stores.sqlite_infallible_call();
        Ok(lock(&self.table.get(&conn)?.conn).changes())
    }

    fn drop(&mut self, conn: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

impl sqlite::Host for SpinView<'_> {}

impl<T> variables::HostWithStore<T> for SpinHost {
    async fn get(
        accessor: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, variables::Error>> {
        let (grants, _) = shared(accessor);
        if let Err(reason) = validate_variable_name(&name) {
            return Ok(Err(variables::Error::InvalidName(reason)));
        }
        Ok(match grants.variables.get(&name) {
            Some(value) => Ok(value.clone()),
            None => Err(variables::Error::Undefined(format!(
                "no variable for {:?}.{name:?}",
                grants.component
            ))),
        })
    }
}

impl variables::Host for SpinView<'_> {}

/// Why outbound Redis fails in this host.
const NO_REDIS: &str =
    "the test host does not offer outbound Redis (kv_backend = redis runs on real Spin)";

fn no_redis<V>() -> wasmtime::Result<Result<V, redis::Error>> {
    Ok(Err(redis::Error::Other(NO_REDIS.to_owned())))
}

impl<T> redis::HostConnectionWithStore<T> for SpinHost {
    async fn open(
        _: &Accessor<T, Self>,
        _address: String,
    ) -> wasmtime::Result<Result<Resource<RedisConnection>, redis::Error>> {
        no_redis()
    }

    async fn publish(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _channel: String,
        _payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), redis::Error>> {
        no_redis()
    }

    async fn get(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, redis::Error>> {
        no_redis()
    }

    async fn set(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _key: String,
        _value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), redis::Error>> {
        no_redis()
    }

    async fn incr(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _key: String,
    ) -> wasmtime::Result<Result<i64, redis::Error>> {
        no_redis()
    }

    async fn del(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, redis::Error>> {
        no_redis()
    }

    async fn sadd(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _key: String,
        _values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, redis::Error>> {
        no_redis()
    }

    async fn smembers(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _key: String,
    ) -> wasmtime::Result<Result<Vec<String>, redis::Error>> {
        no_redis()
    }

    async fn srem(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _key: String,
        _values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, redis::Error>> {
        no_redis()
    }

    async fn execute(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _command: String,
        _arguments: Vec<redis::RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<redis::RedisResult>, redis::Error>> {
        no_redis()
    }
}

impl redis::HostConnection for SpinView<'_> {
    fn drop(&mut self, _: Resource<RedisConnection>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl redis::Host for SpinView<'_> {}
