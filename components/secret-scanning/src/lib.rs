//! secret-scanning: the partner endpoints of GitHub's secret scanning and GitLab's secret
//! detection. A report of a published key, signed by the scanner, deactivates the key (or
//! only flags it, with `leak_action = report`) before it is answered, and records a
//! `leak_reported` audit event; the answer labels each well-formed token as ours or not.
//! The public report (`POST /api/v1/leaks`) takes the same path for keys anyone found
//! published, unauthenticated and rate-limited, and answers only how many entries it
//! received. See docs/secret-scanning.md.
//!
//! A component of its own: the ECDSA verification (p256) and the outgoing fetch of the
//! scanners' public keys stay out of the admin components, which have little room left under
//! their size budget.

mod public_keys;
mod public_report;
mod reports;

use keys_domain::Error;
use keys_domain::time::Timestamp;
use keys_spin::db::Db;
use keys_spin::deadline::{ADMIN_STORE_DEADLINE, SQLITE_DEADLINE};
use keys_spin::handler;
use keys_spin::http::{ApiRequest, Response, json};
use keys_spin::kv::Kv;
use keys_spin::routes::{self, Matched, NO_QUERY, Route};
use leaks_domain::public_report::PublicReport;
use leaks_domain::report::{LeakAction, Reporter, Scanner, parse_report, well_formed};
use spin_sdk::variables;

keys_spin::export_http_handler!(dispatch);

/// Variable: what a true positive does to a live key, `deactivate` (default) or `report`.
const VAR_LEAK_ACTION: &str = "leak_action";

/// The routes of secret-scanning: one per scanner (anyone may call them; a report must carry
/// the scanner's signature), and the public report (anyone, rate-limited).
const ROUTES: &[Route] = &[
    Route::public("POST", "/leaks", NO_QUERY, handler!(public)),
    Route::public(
        "POST",
        "/secret-scanning/github",
        NO_QUERY,
        handler!(github),
    ),
    Route::public(
        "POST",
        "/secret-scanning/gitlab",
        NO_QUERY,
        handler!(gitlab),
    ),
];

/// Answers the reports; once answered, nudges the webhook dispatcher, which sends the
/// `key.leak_reported` messages a report wrote (`keys_spin::webhooks::nudge`).
async fn dispatch(req: &ApiRequest) -> Result<Response, Error> {
    let answer = routes::serve_public(ROUTES, req).await;
    keys_spin::webhooks::nudge(false);
    answer
}

async fn github(m: &Matched<'_>) -> Result<Response, Error> {
    report(m.req, Scanner::GitHub).await
}

async fn gitlab(m: &Matched<'_>) -> Result<Response, Error> {
    report(m.req, Scanner::GitLab).await
}

/// Checks the report's signature, then handles every well-formed token it names.
async fn report(req: &ApiRequest, scanner: Scanner) -> Result<Response, Error> {
    let action = leak_action().await?;
    let source = public_keys::Source::configured(scanner).await?;
    let kv = Kv::open(ADMIN_STORE_DEADLINE).await?;
    public_keys::authenticate(scanner, &source, &kv, req).await?;
    let findings = parse_report(&req.body)?;
    let found = well_formed(&findings);
    let db = Db::open(SQLITE_DEADLINE).await?;
    let known = reports::act(&db, &kv, Reporter::Scanner(scanner), action, &found).await?;
    json(200, &reports::feedback(&found, &known))
}

/// The public report: read and bounded first (nothing counted for a malformed one), counted
/// against the caller's address and everyone, then handled as a scanner's report, every
/// well-formed entry looked up in one query. The answer is the number of entries received,
/// whatever they were.
async fn public(m: &Matched<'_>) -> Result<Response, Error> {
    let report = PublicReport::parse(m.req.json()?)?;
    let action = leak_action().await?;
    let kv = Kv::open(ADMIN_STORE_DEADLINE).await?;
    let client = public_report::client(m.req).await;
    public_report::admit(&kv, client, Timestamp::now()).await?;
    let findings = report.findings();
    let found = well_formed(&findings);
    let db = Db::open(SQLITE_DEADLINE).await?;
    reports::act(&db, &kv, Reporter::Public, action, &found).await?;
    json(202, &report.receipt())
}

/// The configured [`LeakAction`].
async fn leak_action() -> Result<LeakAction, Error> {
    let text = variables::get(VAR_LEAK_ACTION)
        .await
        .map_err(|_| misconfigured(VAR_LEAK_ACTION))?;
    LeakAction::parse(&text).ok_or_else(|| misconfigured(VAR_LEAK_ACTION))
}

/// The 500 of a deployment whose variable `name` is missing or wrong (logged, never shown).
fn misconfigured(name: &str) -> Error {
    Error::unexpected(format!("the variable {name} is missing or invalid"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_table_serves_the_documented_operations_spin_routes_here() {
        keys_spin::conformance::assert_documented("secret-scanning", super::ROUTES, &[]);
    }
}
