//! Sending a message: signed with the endpoint's secrets (Standard Webhooks), to its URL as
//! the origin still admits it, answered within 10 s; the attempt recorded with its outcome.

use keys_domain::Error;
use keys_domain::time::Timestamp;
use keys_spin::db::Db;
use keys_spin::deadline::Deadline;
use keys_spin::outbound::{self, Outgoing};
use keys_spin::webhooks::{self, Message};
use spin_sdk::wasip3::clocks::monotonic_clock;
use std::time::Duration;
use webhooks_domain::delivery::{ATTEMPT_TIMEOUT_SECS, Attempt, DeliveryView};
use webhooks_domain::origin::Origin;
use webhooks_domain::sealing::SealingKey;
use webhooks_domain::signing::{SigningSecret, signature_header};
use webhooks_domain::webhook::Webhook;

/// The largest answer read from an endpoint (its body is not used).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Messages sent at once by one dispatch.
const AT_ONCE: usize = 8;
/// The error of an attempt whose signing secret does not open.
const UNSEALABLE: &str = "not sent: the signing secret does not open with webhook_encryption_key";
/// The `user-agent` of every attempt.
const USER_AGENT: &str = "INGENEO-API-Keys-Webhooks/1";

/// The 404 of a message that is not there (or no longer).
pub fn no_message(id: &str) -> Error {
    Error::NotFound(format!("no message {id}"))
}

/// Makes one attempt at `message` of `hook` now and records it; returns the message as
/// recorded.
pub async fn attempt(
    db: &Db,
    key: &SealingKey,
    origin: &Origin,
    hook: &Webhook,
    message: &Message,
) -> Result<DeliveryView, Error> {
    let id = message.view.id.as_str();
    let attempt = match signing_secrets(db, key, hook).await? {
        Some(secrets) => deliver(origin, hook, message, &secrets).await,
        // Unsendable until the key is put back: the attempt says so, and the schedule goes
        // on (a message is never retried endlessly).
        None => {
            eprintln!(
                "error: the signing secret of webhook {} does not open with \
                 webhook_encryption_key (was the key changed?)",
                hook.id
            );
            Attempt::unanswered(Timestamp::now(), UNSEALABLE, 0)
        }
    };
    webhooks::record_attempt(db, id, attempt)
        .await?
        .ok_or_else(|| no_message(id))
}

/// Sends the claimed messages, [`AT_ONCE`] at a time; returns whether each was delivered
/// (a message whose sending could not even be recorded is logged and counts as not).
pub async fn claimed(db: &Db, key: &SealingKey, origin: &Origin, ids: &[String]) -> Vec<bool> {
    let mut delivered = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(AT_ONCE) {
        let sends: Vec<keys_spin::join::Boxed<'_, bool>> = chunk
            .iter()
            .map(|id| {
                let send: keys_spin::join::Boxed<'_, bool> = Box::pin(async move {
                    match claimed_one(db, key, origin, id).await {
                        Ok(view) => view.attempts.last().is_some_and(Attempt::delivered),
                        Err(err) => {
                            eprintln!("warning: webhook message {id} not sent: {err}");
                            false
                        }
                    }
                });
                send
            })
            .collect();
        delivered.extend(keys_spin::join::all(sends).await);
    }
    delivered
}

async fn claimed_one(
    db: &Db,
    key: &SealingKey,
    origin: &Origin,
    id: &str,
) -> Result<DeliveryView, Error> {
    let message = webhooks::message(db, id)
        .await?
        .ok_or_else(|| no_message(id))?;
    let hook = webhooks::load_or_404(db, &message.webhook_id).await?;
    attempt(db, key, origin, &hook, &message).await
}

/// The secrets that sign for `hook` now: the current one, and the one before the last
/// rotation while it still signs; `None` when one does not open with the sealing key.
async fn signing_secrets(
    db: &Db,
    key: &SealingKey,
    hook: &Webhook,
) -> Result<Option<Vec<SigningSecret>>, Error> {
    let sealed = webhooks::secrets(db, &hook.id).await?;
    let open = |stored: &str| key.open(&hook.id, stored).map(SigningSecret::from_bytes);
    let previous = sealed
        .previous
        .as_ref()
        .filter(|_| hook.previous_secret_signs(Timestamp::now()));
    let mut secrets = Vec::with_capacity(2);
    for stored in std::iter::once(&sealed.current).chain(previous.map(|(p, _)| p)) {
        match open(stored) {
            Some(secret) => secrets.push(secret),
            None => return Ok(None),
        }
    }
    Ok(Some(secrets))
}

/// One attempt: the signed `POST` and what came of it.
async fn deliver(
    origin: &Origin,
    hook: &Webhook,
    message: &Message,
    secrets: &[SigningSecret],
) -> Attempt {
    let at = Timestamp::now();
    let started = monotonic_clock::now();
    let elapsed_ms = || (monotonic_clock::now().saturating_sub(started)) / 1_000_000;
    let url = match origin.admit(&hook.url) {
        Ok(url) => url,
        Err(err) => return Attempt::unanswered(at, &err.to_string(), 0),
    };
    let body = message.body.as_bytes();
    let timestamp = at.unix().to_string();
    let signers: Vec<&SigningSecret> = secrets.iter().collect();
    let signature = signature_header(&signers, &message.view.id, at.unix(), body);
    let length = body.len().to_string();
    let headers = [
        ("content-type", "application/json"),
        ("content-length", length.as_str()),
        ("user-agent", USER_AGENT),
        ("webhook-id", message.view.id.as_str()),
        ("webhook-timestamp", timestamp.as_str()),
        ("webhook-signature", signature.as_str()),
    ];
    let request = Outgoing {
        scheme: &url.scheme,
        authority: &url.authority,
        path_and_query: &url.path_and_query,
        headers: &headers,
        body: Some(body),
    };
    let deadline = Deadline::new("endpoint", Duration::from_secs(ATTEMPT_TIMEOUT_SECS));
    match outbound::send(&deadline, "POST", request, MAX_ANSWER_BYTES).await {
        Ok(answer) => Attempt::answered(at, answer.status, elapsed_ms()),
        Err(err) => Attempt::unanswered(at, &attempt_error(&err), elapsed_ms()),
    }
}

/// Why an attempt got no answer, as the delivery log says it: the cause after the deadline's
/// `endpoint: POST: ` prefix.
fn attempt_error(err: &Error) -> String {
    match err {
        Error::StoreUnavailable(cause) => cause
            .strip_prefix("endpoint: POST: ")
            .unwrap_or(cause)
            .to_owned(),
        other => other.to_string(),
    }
}
