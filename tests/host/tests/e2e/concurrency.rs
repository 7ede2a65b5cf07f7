//! Verifications racing admin calls: once an admin call that removes access has returned,
//! no verification started afterwards succeeds with the removed access. [`race`] also serves
//! the multi-node tests, with verifications at every edge.

use crate::helpers::{App, Call, Reply};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// When each verification started and whether it answered VALID.
type Seen = Vec<(Instant, bool)>;
/// The stop flag and the workers of a hammering.
type Hammer = (Arc<AtomicBool>, Vec<tokio::task::JoinHandle<Seen>>);

/// Runs `workers` tasks per node of `verifiers` verifying `key` for `method` in a loop until
/// stopped; returns, for each answer, when its request started and whether it was VALID.
fn hammer(
    verifiers: &[Arc<App>],
    key: String,
    method: Option<&'static str>,
    workers: usize,
) -> Hammer {
    let stop = Arc::new(AtomicBool::new(false));
    let handles = verifiers
        .iter()
        .flat_map(|app| std::iter::repeat_n(app, workers))
        .map(|app| {
            let (app, key, stop) = (app.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let valid = app.verify(&key, method, None).await["valid"] == true;
                    seen.push((started, valid));
                }
                seen
            })
        })
        .collect();
    (stop, handles)
}

async fn results((stop, handles): Hammer) -> Seen {
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all
}

/// An admin request: HTTP method, path, optional JSON body.
pub type AdminRequest<'a> = (&'a str, &'a str, Option<Value>);

/// Verifies `key` for `method` on every node of `verifiers` (6 tasks in all) while the
/// `admin` request runs on `app`; checks that it answered `status`, that access was granted
/// before, and that no verification started after it returned succeeded. Returns its answer.
pub async fn race(
    app: &App,
    verifiers: &[Arc<App>],
    key: &str,
    method: Option<&'static str>,
    (verb, path, body): AdminRequest<'_>,
    status: u16,
) -> Reply {
    let mut call = app.call(verb, path).admin();
    if let Some(body) = body {
        call = call.json(&body);
    }
    race_call(app, verifiers, key, method, call, status).await
}

/// [`race`] with any request (a secret scanner's report, say) in place of the admin one.
pub async fn race_call(
    app: &App,
    verifiers: &[Arc<App>],
    key: &str,
    method: Option<&'static str>,
    call: Call,
    status: u16,
) -> Reply {
    race_within(app, verifiers, key, method, call, status, Duration::ZERO)
        .await
        .0
}

/// [`race_call`] on edges that may answer from records read up to `bound` earlier
/// (`verify_cache_ms`): verifications go on for `bound` past the call's return and beyond,
/// and none started more than `bound` after it may succeed. Returns the call's answer and
/// how many verifications started after it returned still succeeded (within the bound).
pub async fn race_within(
    app: &App,
    verifiers: &[Arc<App>],
    key: &str,
    method: Option<&'static str>,
    call: Call,
    status: u16,
    bound: Duration,
) -> (Reply, usize) {
    let hammering = hammer(
        verifiers,
        key.to_owned(),
        method,
        6 / verifiers.len().max(1),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let reply = app.send(call).await;
    let returned = Instant::now();
    assert_eq!(reply.status, status, "{}", reply.text());
    tokio::time::sleep(bound + Duration::from_millis(150)).await;
    let seen = results(hammering).await;
    let before = seen.iter().filter(|(t, _)| *t < returned).count();
    let past_bound = returned + bound;
    let after: Vec<_> = seen.iter().filter(|(t, _)| *t >= past_bound).collect();
    assert!(
        before > 0 && !after.is_empty(),
        "the race ran: {before} before, {} after",
        after.len()
    );
    assert!(
        seen.iter().any(|(_, ok)| *ok),
        "access was granted before the change"
    );
    let leaked = after.iter().filter(|(_, ok)| *ok).count();
    assert_eq!(
        leaked,
        0,
        "{leaked} of {} verifications started {} ms or more after the call still succeeded",
        after.len(),
        bound.as_millis()
    );
    let stale = seen
        .iter()
        .filter(|(t, ok)| *ok && *t >= returned && *t < past_bound)
        .count();
    (reply, stale)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_verification_succeeds_with_the_old_secret_after_a_regeneration_returned() {
    let app = Arc::new(App::start());
    let (key, secret) = app.create_key(json!({ "label": "Rolled" })).await;
    let path = format!("/api/v1/keys/{}/regenerate", key["id"].as_str().unwrap());
    race(
        &app,
        std::slice::from_ref(&app),
        &secret,
        None,
        ("POST", &path, None),
        200,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_verification_succeeds_after_a_deactivation_returned() {
    let app = Arc::new(App::start());
    let (key, secret) = app.create_key(json!({ "label": "Stopped" })).await;
    let path = format!("/api/v1/keys/{}/deactivate", key["id"].as_str().unwrap());
    race(
        &app,
        std::slice::from_ref(&app),
        &secret,
        None,
        ("POST", &path, None),
        200,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_verification_succeeds_with_a_removed_method_after_the_change_returned() {
    let app = Arc::new(App::start());
    let (key, secret) = app
        .create_key(json!({ "label": "Narrowed", "methods": ["employees.read"] }))
        .await;
    let path = format!("/api/v1/keys/{}/permissions", key["id"].as_str().unwrap());
    let narrowing = json!({ "remove_methods": ["employees.read"] });
    let request = ("PATCH", path.as_str(), Some(narrowing));
    race(
        &app,
        std::slice::from_ref(&app),
        &secret,
        Some("employees.read"),
        request,
        200,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_verification_succeeds_after_a_delete_returned() {
    let app = Arc::new(App::start());
    let (key, secret) = app.create_key(json!({ "label": "Deleted" })).await;
    let path = format!("/api/v1/keys/{}", key["id"].as_str().unwrap());
    race(
        &app,
        std::slice::from_ref(&app),
        &secret,
        None,
        ("DELETE", &path, None),
        204,
    )
    .await;
}
