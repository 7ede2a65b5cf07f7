//! manage-keys: the lifecycle of INGENEO third-party API keys (create, list, read, edit,
//! regenerate, deactivate, activate, delete), their audit trail, the rebuild of the
//! verification records, and the OpenAPI document.

mod handlers;

keys_spin::export_http_handler!(handlers::dispatch);
