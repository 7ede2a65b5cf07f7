//! manage-keys: the lifecycle of INGENEO third-party API keys (create, list, read, edit,
//! regenerate, deactivate, activate, delete) and their audit trail.

mod handlers;

keys_spin::export_http_handler!(handlers::dispatch);
