//! manage-keys: the lifecycle of INGENEO third-party API keys (create, list, read, edit,
//! regenerate, deactivate, activate, delete), their audit trail, the rebuild of the
//! verification records, and the OpenAPI document.

mod handlers;

use keys_spin::http::{ApiRequest, Response, respond};
use spin_sdk::http::Request;
use spin_sdk::http_service;

/// Entry point: reads the request and dispatches it.
#[http_service]
async fn handle_manage_keys(req: Request) -> Response {
    let result = match ApiRequest::read(req).await {
        Ok(req) => handlers::dispatch(&req).await,
        Err(err) => Err(err),
    };
    respond(result)
}
