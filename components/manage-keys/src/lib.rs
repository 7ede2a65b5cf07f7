//! manage-keys: the lifecycle of INGENEO third-party API keys (create, list, read, edit,
//! regenerate, deactivate, activate, delete), their audit trail and the rebuild of the
//! verification records.

mod handlers;

keys_spin::export_http_handler!(handlers::dispatch);
