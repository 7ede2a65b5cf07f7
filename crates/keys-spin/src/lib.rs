//! Spin adapter of the INGENEO API keys service, shared by every component: request
//! reading, the route tables' serving ([`routes`]) and the single error-to-response mapping,
//! identity checking, configuration read once per instance, SQLite (schema
//! migrations, transactions) and key-value access, and the key repository that keeps the
//! verification records in step with SQLite.
#![deny(missing_docs)]

pub mod access;
pub mod auth;
pub mod catalog;
pub mod config;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod db;
pub mod deadline;
pub mod health;
pub mod http;
pub mod join;
pub mod keys;
pub mod kv;
pub mod outbound;
pub mod paging;
pub mod routes;
pub mod usage;
pub mod webhooks;
