//! manage-permissions: method access authorizations and company access restrictions of
//! keys, the method catalog and the company registry.

mod handlers;

keys_spin::export_http_handler!(handlers::dispatch);
