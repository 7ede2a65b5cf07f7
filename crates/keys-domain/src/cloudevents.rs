//! The audit trail as CloudEvents 1.0 (JSON event format, structured mode, batched), for
//! SIEM import: which form a client asks for with `Accept`, each audit event as a CloudEvent,
//! and the `Link` header that carries a batch's next page.
//!
//! An audit event maps to:
//! - `id`: the audit event's id (`evt_…`, random, so unique with any `source`);
//! - `source`: the deployment's key collection, `/api/v1/keys` (a URI-reference, as the
//!   specification allows): the producer; `subject`: the key's id, the resource within it
//!   (`source` + `/` + `subject` is the key's URL);
//! - `type`: `com.ingeneo.apikeys.key.` + the audit type (`created`, `regenerated`, …);
//! - `time`: when it happened (RFC 3339, UTC);
//! - `datacontenttype`: `application/json`, `data`: the audit event as the JSON answer of
//!   the events routes has it.

use crate::time::Timestamp;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;

/// The media type of a batch of CloudEvents in the JSON event format.
pub const BATCH_MEDIA_TYPE: &str = "application/cloudevents-batch+json";
/// The CloudEvents specification version the events follow.
pub const SPEC_VERSION: &str = "1.0";
/// The prefix of every event `type`, followed by the audit type.
pub const TYPE_PREFIX: &str = "com.ingeneo.apikeys.key.";
/// The media type of `data`.
const DATA_CONTENT_TYPE: &str = "application/json";
/// The media type of the events routes' usual answer.
const JSON: &str = "application/json";

/// Characters escaped in a `Link` target: none a request path holds legitimately, all that
/// would end or break the `<…>` around it.
const LINK_TARGET: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>');

/// What an audit event's CloudEvent attributes are made of.
#[derive(Debug, Clone, Copy)]
pub struct Audited<'a> {
    /// The audit event's id.
    pub id: &'a str,
    /// The key concerned.
    pub key_id: &'a str,
    /// The audit type (`created`, `label_changed`, …).
    pub kind: &'a str,
    /// When it happened.
    pub at: Timestamp,
}

/// One CloudEvent in structured mode (JSON event format), carrying `data` as JSON.
#[derive(Debug, Serialize)]
pub struct CloudEvent<'a, D: Serialize> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    kind: String,
    subject: &'a str,
    time: Timestamp,
    datacontenttype: &'static str,
    data: &'a D,
}

/// The CloudEvent of an audit event, from the `source` it was produced in (the key
/// collection's path, e.g. `/api/v1/keys`) and the event as the JSON answer has it (`data`).
pub fn audit_event<'a, D: Serialize>(
    source: &'a str,
    event: Audited<'a>,
    data: &'a D,
) -> CloudEvent<'a, D> {
    CloudEvent {
        specversion: SPEC_VERSION,
        id: event.id,
        source,
        kind: format!("{TYPE_PREFIX}{}", event.kind),
        subject: event.key_id,
        time: event.at,
        datacontenttype: DATA_CONTENT_TYPE,
        data,
    }
}

/// Whether a request whose `Accept` header lines, joined with `,`, read `accept` gets the
/// batch of CloudEvents rather than the usual JSON page: when it names
/// [`BATCH_MEDIA_TYPE`] itself (a wildcard is not asking for it) with a weight above 0, at
/// least as high as the one `application/json` gets (from its own entry, else
/// `application/*`, else `*/*`; 0 when none matches). An entry whose `q` is not a valid
/// weight is ignored.
pub fn wants_batch(accept: &str) -> bool {
    let (mut batch, mut json) = (0u16, [None::<u16>; 3]);
    for entry in accept.split(',') {
        let mut parts = entry.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let Some(weight) = weight(parts) else {
            continue;
        };
        let slot = match range.as_str() {
            BATCH_MEDIA_TYPE => {
                batch = batch.max(weight);
                continue;
            }
            JSON => 0,
            "application/*" => 1,
            "*/*" => 2,
            _ => continue,
        };
        json[slot] = Some(json[slot].map_or(weight, |w| w.max(weight)));
    }
    let json = json.into_iter().flatten().next().unwrap_or(0);
    batch > 0 && batch >= json
}

/// The weight of an `Accept` entry from its parameters, in thousandths: 1000 without `q`;
/// `None` when `q` is not a weight (RFC 9110 §12.4.2: `0`–`1`, at most three decimals).
fn weight<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        let value = value.trim();
        let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
        let digits_ok = fraction.len() <= 3 && fraction.bytes().all(|b| b.is_ascii_digit());
        let thousandths = match whole {
            "0" if digits_ok => format!("{fraction:0<3}").parse::<u16>().ok()?,
            "1" if digits_ok && fraction.bytes().all(|b| b == b'0') => 1000,
            _ => return None,
        };
        return Some(thousandths);
    }
    Some(1000)
}

/// The `Link` header value pointing at the next page of a batch: `path` (the request's, as
/// it was sent) with `limit` and the `cursor` a JSON page would give as `next_cursor`.
pub fn next_link(path: &str, limit: u32, cursor: &str) -> String {
    let path = utf8_percent_encode(path, LINK_TARGET);
    format!("<{path}?limit={limit}&cursor={cursor}>; rel=\"next\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_audit_event_becomes_a_structured_cloudevent_carrying_it_as_data() {
        let data = json!({ "id": "evt_1", "key_id": "key_9", "type": "deactivated",
            "actor": { "id": "u-1", "name": null }, "at": "2027-01-15T08:30:00Z",
            "changes": { "status": { "from": "active", "to": "inactive" } } });
        let at = Timestamp::parse_rfc3339("2027-01-15T08:30:00Z").unwrap();
        let event = Audited {
            id: "evt_1",
            key_id: "key_9",
            kind: "deactivated",
            at,
        };

        let cloud = serde_json::to_value(audit_event("/api/v1/keys", event, &data)).unwrap();

        assert_eq!(
            cloud,
            json!({
                "specversion": "1.0",
                "id": "evt_1",
                "source": "/api/v1/keys",
                "type": "com.ingeneo.apikeys.key.deactivated",
                "subject": "key_9",
                "time": "2027-01-15T08:30:00Z",
                "datacontenttype": "application/json",
                "data": data,
            })
        );
    }

    #[test]
    fn only_an_accept_naming_the_batch_type_at_least_as_high_as_json_asks_for_it() {
        for asks in [
            "application/cloudevents-batch+json",
            "Application/CloudEvents-Batch+JSON",
            "application/json, application/cloudevents-batch+json",
            "application/json;q=0.5, application/cloudevents-batch+json;q=0.5",
            "application/json;q=0.4,application/cloudevents-batch+json;q=0.9",
            "application/cloudevents-batch+json; charset=utf-8; q=0.1",
            "*/*;q=0.1, application/cloudevents-batch+json",
            "application/cloudevents-batch+json;q=0.3, */*, application/json;q=0.2",
        ] {
            assert!(wants_batch(asks), "{asks}");
        }
        for not in [
            "",
            "*/*",
            "application/*",
            "application/json",
            "application/cloudevents+json",
            "application/cloudevents-batch+json;q=0",
            "application/cloudevents-batch+json;q=0.000",
            "application/cloudevents-batch+json;q=0.5, application/json",
            "application/cloudevents-batch+json;q=0.5, */*",
            "application/cloudevents-batch+json;q=0.5, application/*;q=0.6",
            "application/cloudevents-batch+json;q=2",
            "application/cloudevents-batch+json;q=0.5555",
            "application/cloudevents-batch+json;q=abc",
        ] {
            assert!(!wants_batch(not), "{not}");
        }
    }

    #[test]
    fn weights_are_read_in_thousandths_and_malformed_ones_are_refused() {
        let w = |p: &str| weight(std::iter::once(p));
        assert_eq!(w("q=1"), Some(1000));
        assert_eq!(w("Q = 0.25"), Some(250));
        assert_eq!(w("q=0.5"), Some(500));
        assert_eq!(w("q=1.000"), Some(1000));
        assert_eq!(w("q=0"), Some(0));
        assert_eq!(w("charset=utf-8"), Some(1000));
        for bad in ["q=1.5", "q=.5", "q=", "q=-0", "q=0.1234", "q=1.001"] {
            assert_eq!(w(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_next_link_carries_the_path_the_limit_and_the_cursor() {
        assert_eq!(
            next_link("/api/v1/keys/key_9/events", 20, "1234"),
            "</api/v1/keys/key_9/events?limit=20&cursor=1234>; rel=\"next\""
        );
        assert_eq!(
            next_link("/api/v1/x<y>", 5, "7"),
            "</api/v1/x%3Cy%3E?limit=5&cursor=7>; rel=\"next\""
        );
    }
}
