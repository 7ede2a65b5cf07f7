//! Key-value access: the `default` store holding the verification records.

use keys_domain::Error;
use spin_sdk::key_value::Store;

/// The `default` key-value store.
pub struct Kv(Store);

fn store_error(what: &str, err: impl std::fmt::Debug) -> Error {
    Error::store(format!("key-value: {what}: {err:?}"))
}

impl Kv {
    /// Opens the `default` store.
    pub async fn open() -> Result<Self, Error> {
        Store::open_default()
            .await
            .map(Self)
            .map_err(|e| store_error("open", e))
    }

    /// Reads a value.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.0.get(key).await.map_err(|e| store_error("get", e))
    }

    /// Writes a value.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.0
            .set(key, value)
            .await
            .map_err(|e| store_error("set", e))
    }

    /// Deletes a value (absent is fine).
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        self.0
            .delete(key)
            .await
            .map_err(|e| store_error("delete", e))
    }

    /// Every key in the store.
    pub async fn keys(&self) -> Result<Vec<String>, Error> {
        self.0
            .get_keys()
            .await
            .collect()
            .await
            .map_err(|e| store_error("get-keys", e))
    }
}
