//! The audit trail as CloudEvents 1.0 for SIEM import: `GET /api/v1/events` and
//! `/api/v1/keys/{id}/events` answer a batch (`application/cloudevents-batch+json`) when
//! `Accept` asks for it, with the next page in a `Link` header; otherwise their usual JSON.

use crate::helpers::{App, Reply};
use serde_json::{Value, json};

const BATCH: &str = "application/cloudevents-batch+json";

async fn get(app: &App, path: &str, accept: Option<&str>) -> Reply {
    let mut call = app.call("GET", path).admin();
    if let Some(accept) = accept {
        call = call.header("accept", accept);
    }
    app.send(call).await
}

/// A key with three events: created, deactivated, activated (newest first: activated).
async fn key_with_history(app: &App, label: &str) -> String {
    let (key, _) = app.create_key(json!({ "label": label })).await;
    let id = key["id"].as_str().unwrap().to_owned();
    for action in ["deactivate", "activate"] {
        let reply = app
            .admin("POST", &format!("/api/v1/keys/{id}/{action}"), None)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    id
}

/// Asserts a batch answer and returns its events.
fn batch(reply: &Reply) -> Vec<Value> {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some(BATCH));
    reply.json().as_array().expect("a JSON array").clone()
}

#[tokio::test]
async fn the_audit_trail_is_a_cloudevents_batch_carrying_each_event_when_accept_asks_for_it() {
    let app = App::start();
    let id = key_with_history(&app, "Exported").await;
    let other = key_with_history(&app, "Other").await;
    let path = format!("/api/v1/keys/{id}/events");
    let usual = get(&app, &path, None).await.json()["data"].clone();

    let events = batch(&get(&app, &path, Some(BATCH)).await);

    assert_eq!(events.len(), 3);
    for (event, audit) in events.iter().zip(usual.as_array().unwrap()) {
        let kind = audit["type"].as_str().unwrap();
        assert_eq!(
            event,
            &json!({
                "specversion": "1.0",
                "id": audit["id"],
                "source": "/api/v1/keys",
                "type": format!("com.ingeneo.apikeys.key.{kind}"),
                "subject": id,
                "time": audit["at"],
                "datacontenttype": "application/json",
                "data": audit,
            })
        );
    }
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "com.ingeneo.apikeys.key.activated",
            "com.ingeneo.apikeys.key.deactivated",
            "com.ingeneo.apikeys.key.created"
        ]
    );
    let all = batch(&get(&app, "/api/v1/events", Some(BATCH)).await);
    let subjects: Vec<&str> = all.iter().map(|e| e["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, [other.as_str(), &other, &other, &id, &id, &id]);
}

#[tokio::test]
async fn a_cloudevents_batch_gives_its_next_page_in_a_link_header() {
    let app = App::start();
    let id = key_with_history(&app, "Paged").await;
    let path = format!("/api/v1/keys/{id}/events");
    let usual = get(&app, &format!("{path}?limit=2"), None).await.json();
    let cursor = usual["next_cursor"].as_str().unwrap();

    let first = get(&app, &format!("{path}?limit=2"), Some(BATCH)).await;

    assert_eq!(batch(&first).len(), 2);
    let link = first.header("link").expect("a Link to the next page");
    assert_eq!(
        link,
        format!("<{path}?limit=2&cursor={cursor}>; rel=\"next\"")
    );
    let next = link.strip_prefix('<').unwrap().split_once('>').unwrap().0;
    let last = get(&app, next, Some(BATCH)).await;
    let rest = batch(&last);
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["type"], "com.ingeneo.apikeys.key.created");
    assert_eq!(last.header("link"), None, "no page after the last");
}

#[tokio::test]
async fn without_asking_for_cloudevents_the_audit_trail_keeps_its_usual_json() {
    let app = App::start();
    let id = key_with_history(&app, "Plain").await;
    let path = format!("/api/v1/keys/{id}/events");
    let usual = get(&app, &path, None).await;
    assert_eq!(usual.header("content-type"), Some("application/json"));

    for accept in [
        "*/*",
        "application/json",
        "application/*",
        "application/json, application/cloudevents-batch+json;q=0.5",
        "application/cloudevents-batch+json;q=0",
        "application/cloudevents+json",
    ] {
        let reply = get(&app, &path, Some(accept)).await;

        assert_eq!(reply.status, 200, "{accept}: {}", reply.text());
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.json(), usual.json(), "{accept}");
        assert_eq!(reply.header("link"), None, "{accept}");
    }
    let ghost = "/api/v1/keys/key_0000000000000000000000/events";
    let unknown = get(&app, ghost, Some(BATCH)).await;
    assert_eq!(unknown.problem(404), "not_found");
}
