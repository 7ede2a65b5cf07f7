//! Domain of INGENEO third-party API keys, free of any Spin dependency: key format and
//! hashing, permissions, IP allowlists, the verification record and decision, token
//! introspection (RFC 7662), validation, the expiry policy, identity tokens, the audit trail
//! as CloudEvents, the counter increments sent to `kv-proxy` and the error type.
#![deny(missing_docs)]

pub mod access;
pub mod allowlist;
pub mod base64url;
pub mod breaker;
pub mod cache;
pub mod cloudevents;
pub mod error;
pub mod events;
pub mod expiry;
#[cfg(feature = "ext-authz")]
pub mod ext_authz;
pub mod identity;
pub mod increments;
pub mod introspection;
#[cfg(feature = "jwks")]
pub mod jwks;
pub mod key;
pub mod lease;
pub mod lifecycle;
pub mod limits;
#[cfg(feature = "mint")]
pub mod mint;
pub mod model;
pub mod permissions;
pub mod record;
pub mod time;
pub mod upstream;
pub mod usage;
pub mod verify;

pub use error::Error;
