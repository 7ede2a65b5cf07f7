//! Messages and their delivery: what an attempt records, the retry schedule, when an
//! endpoint that keeps failing is disabled, and the body every message carries.
//!
//! A message is delivered when its endpoint answers 2xx within [`ATTEMPT_TIMEOUT_SECS`].
//! Otherwise it is tried again after each delay of [`RETRY_DELAYS_SECS`] in turn (5 s, 5 min,
//! 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27 h 35 min), then it has
//! `failed`. Every attempt carries the same `webhook-id`. An endpoint none of whose attempts
//! succeeded for [`DISABLE_AFTER_FAILING_SECS`] (5 days) is disabled, with the reason
//! `failing`, until an administrator enables it again.

use keys_domain::time::Timestamp;
use serde::{Deserialize, Serialize};

/// How long an endpoint has to answer an attempt, in seconds.
pub const ATTEMPT_TIMEOUT_SECS: u64 = 10;
/// The delays before each retry, in seconds.
pub const RETRY_DELAYS_SECS: [i64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
/// How long an endpoint may fail every attempt before it is disabled: 5 days.
pub const DISABLE_AFTER_FAILING_SECS: i64 = 5 * 86_400;
/// How long a dispatcher holds the messages it claimed before another may take them: more
/// than an attempt can last, so that two dispatchers never send one message at once, and a
/// dispatcher that died mid-way leaves its messages due again soon.
pub const CLAIM_SECS: i64 = 60;
/// Longest error text kept for an attempt, in characters.
pub const MAX_ERROR_CHARS: usize = 200;
/// The prefix of a message id (the `webhook-id`).
pub const MESSAGE_ID_PREFIX: &str = "msg_";

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not delivered yet; an attempt is due at `next_attempt_at`.
    Pending,
    /// An attempt got a 2xx answer.
    Delivered,
    /// Every scheduled attempt failed.
    Failed,
}

impl Status {
    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// Reads the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One attempt to deliver a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it was sent.
    pub at: Timestamp,
    /// The endpoint's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// Why it failed without an answer (timeout, connection refused, ...).
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

impl Attempt {
    /// An attempt the endpoint answered with `status`.
    pub fn answered(at: Timestamp, status: u16, duration_ms: u64) -> Self {
        Self {
            at,
            http_status: Some(status),
            error: None,
            duration_ms,
        }
    }

    /// An attempt that got no answer, for `error` (cut to [`MAX_ERROR_CHARS`]).
    pub fn unanswered(at: Timestamp, error: &str, duration_ms: u64) -> Self {
        Self {
            at,
            http_status: None,
            error: Some(error.chars().take(MAX_ERROR_CHARS).collect()),
            duration_ms,
        }
    }

    /// Whether it delivered the message: a 2xx answer.
    pub fn delivered(&self) -> bool {
        self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Where a message stands after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// Its status.
    pub status: Status,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<Timestamp>,
}

/// Where a message stands after `attempt`, its `count`th (1 for the first), given where it
/// stood before (`was`): delivered on a 2xx; otherwise retried on the schedule while attempts
/// remain, then failed. A failed message an administrator retries by hand stays failed when
/// that attempt fails too: the schedule is not started over.
pub fn after_attempt(was: Status, attempt: &Attempt, count: usize) -> Next {
    if attempt.delivered() {
        return Next {
            status: Status::Delivered,
            next_attempt_at: None,
        };
    }
    let retry = RETRY_DELAYS_SECS.get(count.wrapping_sub(1));
    match (was, retry) {
        (Status::Pending, Some(delay)) => Next {
            status: Status::Pending,
            next_attempt_at: Some(attempt.at.plus_seconds(*delay)),
        },
        (Status::Delivered, _) => Next {
            status: Status::Delivered,
            next_attempt_at: None,
        },
        _ => Next {
            status: Status::Failed,
            next_attempt_at: None,
        },
    }
}

/// An endpoint's standing after an attempt: since when every attempt has failed (`None`
/// once one succeeded), and whether it must now be disabled.
pub fn endpoint_after_attempt(
    failing_since: Option<Timestamp>,
    attempt: &Attempt,
) -> (Option<Timestamp>, bool) {
    if attempt.delivered() {
        return (None, false);
    }
    let since = failing_since.unwrap_or(attempt.at);
    let disable = attempt.at.unix() - since.unix() >= DISABLE_AFTER_FAILING_SECS;
    (Some(since), disable)
}

/// The body of a message (Standard Webhooks): `{"type", "timestamp", "data"}`.
pub fn body(event_type: &str, timestamp: Timestamp, data: &impl Serialize) -> String {
    #[derive(Serialize)]
    struct Body<'a, D> {
        r#type: &'a str,
        timestamp: Timestamp,
        data: &'a D,
    }
    serde_json::to_string(&Body {
        r#type: event_type,
        timestamp,
        data,
    })
    .unwrap_or_default()
}

/// A message as the delivery log shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    /// The message id, sent as `webhook-id`.
    pub id: String,
    /// Its event type.
    pub r#type: String,
    /// Where it stands.
    pub status: Status,
    /// When it was written to the outbox.
    pub created_at: Timestamp,
    /// Its attempts, oldest first.
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn failed_at(at: Timestamp) -> Attempt {
        Attempt::answered(at, 500, 12)
    }

    #[test]
    fn a_2xx_answer_delivers_and_anything_else_does_not() {
        for status in [200, 201, 204, 299] {
            assert!(Attempt::answered(T0, status, 1).delivered());
        }
        for status in [100, 199, 300, 301, 404, 500] {
            assert!(!Attempt::answered(T0, status, 1).delivered());
        }
        assert!(!Attempt::unanswered(T0, "timed out", 10_000).delivered());
    }

    #[test]
    fn failed_attempts_follow_the_schedule_then_the_message_fails() {
        let mut at = T0;
        let mut waited = Vec::new();
        for count in 1..=8 {
            let next = after_attempt(Status::Pending, &failed_at(at), count);
            match next.next_attempt_at {
                Some(due) => {
                    assert_eq!(next.status, Status::Pending);
                    waited.push(due.unix() - at.unix());
                    at = due;
                }
                None => {
                    assert_eq!((count, next.status), (8, Status::Failed));
                }
            }
        }
        assert_eq!(waited, RETRY_DELAYS_SECS.to_vec());
        let total: i64 = waited.iter().sum();
        assert_eq!(total, 27 * 3_600 + 35 * 60 + 5);
    }

    #[test]
    fn a_delivered_attempt_ends_the_schedule_whatever_came_before() {
        let next = after_attempt(Status::Pending, &Attempt::answered(T0, 204, 3), 5);
        assert_eq!(
            next,
            Next {
                status: Status::Delivered,
                next_attempt_at: None
            }
        );
        let next = after_attempt(Status::Failed, &Attempt::answered(T0, 200, 3), 9);
        assert_eq!(next.status, Status::Delivered);
    }

    #[test]
    fn a_failed_message_retried_by_hand_stays_failed_when_it_fails_again() {
        let next = after_attempt(Status::Failed, &failed_at(T0), 3);
        assert_eq!(
            next,
            Next {
                status: Status::Failed,
                next_attempt_at: None
            }
        );
    }

    #[test]
    fn an_endpoint_failing_for_five_days_is_disabled_and_a_success_clears_it() {
        let first = failed_at(T0);
        assert_eq!(endpoint_after_attempt(None, &first), (Some(T0), false));
        let almost = failed_at(T0.plus_seconds(DISABLE_AFTER_FAILING_SECS - 1));
        assert_eq!(endpoint_after_attempt(Some(T0), &almost), (Some(T0), false));
        let five_days = failed_at(T0.plus_seconds(DISABLE_AFTER_FAILING_SECS));
        assert_eq!(
            endpoint_after_attempt(Some(T0), &five_days),
            (Some(T0), true)
        );
        let ok = Attempt::answered(T0.plus_seconds(10), 200, 4);
        assert_eq!(endpoint_after_attempt(Some(T0), &ok), (None, false));
    }

    #[test]
    fn the_body_has_type_timestamp_and_data_and_an_error_is_cut() {
        let body = body(
            "key.created",
            T0,
            &serde_json::json!({"key": {"id": "key_1"}}),
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["type"], "key.created");
        assert_eq!(parsed["timestamp"], T0.to_string());
        assert_eq!(parsed["data"]["key"]["id"], "key_1");
        let long = "x".repeat(500);
        let cut = Attempt::unanswered(T0, &long, 1).error.unwrap();
        assert_eq!(cut.chars().count(), MAX_ERROR_CHARS);
    }
}
