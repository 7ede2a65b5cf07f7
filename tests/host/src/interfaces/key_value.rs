//! `spin:key-value@3.0.0` and `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics`, `batch`): both
//! open the same stores with the same permissions, and count and fault their calls alike.

use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use super::bindings::spin::key_value::key_value as kv;
use super::bindings::wasi::keyvalue::{atomics, batch, store as wasi_kv};
use super::{Grants, KvBucket, KvCas, KvStore, SpinHost, SpinView, shared};
use crate::stores::{INJECTED_FAULT, KvCall, Stores};

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
