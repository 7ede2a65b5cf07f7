//! manage-permissions: method access authorizations and company access restrictions of
//! keys, the method catalog and the company registry.

mod handlers;

use keys_spin::http::{ApiRequest, Response, respond};
use spin_sdk::http::Request;
use spin_sdk::http_service;

/// Entry point: reads the request and dispatches it.
#[http_service]
async fn handle_manage_permissions(req: Request) -> Response {
    let result = match ApiRequest::read(req).await {
        Ok(req) => handlers::dispatch(&req).await,
        Err(err) => Err(err),
    };
    respond(result)
}
