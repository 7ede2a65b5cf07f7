//! The Spin interfaces `spin:key-value@3.0.0`, `spin:sqlite@3.1.0` and `spin:variables@3.0.0`,
//! and `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics`, `batch`: the same key-value stores
//! as `spin:key-value`, as in Spin), implemented over [`Stores`] with the permissions of the
//! calling component, and `spin:redis@3.0.0`, which this host does not offer: every
//! connection fails to open (the components reach Redis only with `kv_backend = redis`,
//! which the tests run on real Spin).

mod key_value;
mod redis;
mod sqlite;
mod variables;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use wasmtime::component::{Accessor, HasData, Linker, ResourceTable};

use crate::stores::{SharedConnection, Stores};

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
