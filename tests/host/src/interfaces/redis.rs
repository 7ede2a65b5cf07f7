//! `spin:redis@3.0.0`, which this host does not offer: every connection fails to open.

use wasmtime::component::{Accessor, Resource};

use super::bindings::spin::redis::redis;
use super::{RedisConnection, SpinHost, SpinView};

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
