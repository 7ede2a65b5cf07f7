//! The seed's story through the API: create, copy, verify, list, rename, regenerate,
//! deactivate, reactivate, expire, delete, and the audit trail of it all.

use crate::helpers::{App, eventually};
use serde_json::json;

#[tokio::test]
async fn the_whole_lifecycle_of_a_key_follows_the_user_guide() {
    let app = App::start();

    // Create: the key is shown once, with its object.
    let (key, secret) = app.create_key(json!({ "label": "Welyb production" })).await;
    assert!(
        secret.starts_with("ingk_") && secret.len() == 54,
        "{secret}"
    );
    assert_eq!(key["label"], "Welyb production");
    assert_eq!(key["status"], "active");
    assert_eq!(key["methods"], json!([]));
    assert_eq!(key["companies"], "all");
    assert_eq!(
        key["created_by"],
        json!({ "id": "u-1001", "name": "Camille Martin" })
    );
    assert_eq!(
        key["hint"],
        format!("ingk_...{}", &secret[secret.len() - 4..])
    );
    let id = key["id"].as_str().unwrap().to_owned();

    // Verify: valid, but no method is granted yet (deny by default).
    let answer = app.verify(&secret, None, None).await;
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["code"], "VALID");
    assert_eq!(answer["key_id"], id.as_str());
    assert_eq!(answer["label"], "Welyb production");
    assert_eq!(
        app.code(&secret, Some("employees.read"), None).await,
        "METHOD_NOT_ALLOWED"
    );

    // Read and list never show the secret.
    let fetched = app.admin("GET", &format!("/api/v1/keys/{id}"), None).await;
    assert_eq!(fetched.status, 200);
    assert!(fetched.json().get("key").is_none());
    assert!(!fetched.text().contains(&secret));
    // The edge writes the last use with its usage batch, within about a second.
    let recorded = || async {
        let listed = app.admin("GET", "/api/v1/keys", None).await.json();
        match listed["data"][0]["last_used_at"].is_string() {
            true => Ok(listed),
            false => Err(listed.to_string()),
        }
    };
    let what = "the last use of the verification above";
    let (listed, _) = eventually(what, std::time::Duration::from_secs(10), recorded).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["id"], id.as_str());

    // Rename.
    let renamed = app
        .admin(
            "PATCH",
            &format!("/api/v1/keys/{id}"),
            Some(json!({ "label": "Welyb" })),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    assert_eq!(renamed.json()["label"], "Welyb");
    assert_eq!(app.verify(&secret, None, None).await["label"], "Welyb");

    // Regenerate without grace: the old secret is refused at once.
    let regenerated = app
        .admin("POST", &format!("/api/v1/keys/{id}/regenerate"), None)
        .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.text());
    let new_secret = regenerated.json()["key"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(app.code(&secret, None, None).await, "NOT_FOUND");
    assert_eq!(app.code(&new_secret, None, None).await, "VALID");

    // Deactivate: refused with details; reactivate: accepted again.
    let deactivated = app
        .admin("POST", &format!("/api/v1/keys/{id}/deactivate"), None)
        .await;
    assert_eq!(deactivated.json()["status"], "inactive");
    let refused = app.verify(&new_secret, None, None).await;
    assert_eq!(
        (refused["valid"].clone(), refused["code"].clone()),
        (json!(false), json!("DISABLED"))
    );
    assert_eq!(refused["key_id"], id.as_str());
    let again = app
        .admin("POST", &format!("/api/v1/keys/{id}/deactivate"), None)
        .await;
    assert_eq!(again.status, 200, "deactivate is idempotent");
    app.admin("POST", &format!("/api/v1/keys/{id}/activate"), None)
        .await;
    assert_eq!(app.code(&new_secret, None, None).await, "VALID");

    // Delete: gone for verification and for reads, but the audit trail stays.
    let deleted = app
        .admin("DELETE", &format!("/api/v1/keys/{id}"), None)
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(app.code(&new_secret, None, None).await, "NOT_FOUND");
    assert_eq!(
        app.admin("GET", &format!("/api/v1/keys/{id}"), None)
            .await
            .problem(404),
        "not_found"
    );

    let events = app
        .admin("GET", &format!("/api/v1/keys/{id}/events"), None)
        .await
        .json();
    let kinds: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "deleted",
            "activated",
            "deactivated",
            "regenerated",
            "label_changed",
            "created"
        ]
    );
    let rename = &events["data"][4];
    assert_eq!(
        rename["changes"]["label"],
        json!({ "from": "Welyb production", "to": "Welyb" })
    );
    assert_eq!(rename["actor"]["id"], "u-1001");
    assert!(
        !events.to_string().contains(&secret[5..])
            && !events.to_string().contains(&new_secret[5..])
    );
}

#[tokio::test]
async fn a_regenerated_key_with_a_grace_period_keeps_the_old_secret_until_then() {
    let app = App::start();
    let (key, first) = app.create_key(json!({ "label": "MyCompanyFile" })).await;
    let id = key["id"].as_str().unwrap();

    let rolled = app
        .admin(
            "POST",
            &format!("/api/v1/keys/{id}/regenerate"),
            Some(json!({ "grace_period_seconds": 3600 })),
        )
        .await;
    assert_eq!(rolled.status, 200, "{}", rolled.text());
    let second = rolled.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(
        app.code(&first, None, None).await,
        "VALID",
        "still in its grace period"
    );
    assert_eq!(app.code(&second, None, None).await, "VALID");

    // A second roll with grace keeps both earlier secrets in their grace periods.
    let third = app
        .admin(
            "POST",
            &format!("/api/v1/keys/{id}/regenerate"),
            Some(json!({ "grace_period_seconds": 60 })),
        )
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.code(&first, None, None).await, "VALID");
    assert_eq!(app.code(&second, None, None).await, "VALID");

    // A regenerate without grace ends every earlier secret.
    let fourth = app
        .admin("POST", &format!("/api/v1/keys/{id}/regenerate"), None)
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    for old in [&first, &second, &third] {
        assert_eq!(app.code(old, None, None).await, "NOT_FOUND");
    }
    assert_eq!(app.code(&fourth, None, None).await, "VALID");
}

#[tokio::test]
async fn deactivation_and_permission_changes_apply_to_secrets_in_their_grace_period() {
    let app = App::start();
    let (key, first) = app.create_key(json!({ "label": "Grace" })).await;
    let id = key["id"].as_str().unwrap();
    app.admin(
        "POST",
        &format!("/api/v1/keys/{id}/regenerate"),
        Some(json!({ "grace_period_seconds": 600 })),
    )
    .await;
    app.admin("POST", &format!("/api/v1/keys/{id}/deactivate"), None)
        .await;
    assert_eq!(app.code(&first, None, None).await, "DISABLED");
}

#[tokio::test]
async fn an_expiry_in_the_past_is_refused_and_a_near_one_expires_the_key() {
    let app = App::start();
    let past = app
        .admin(
            "POST",
            "/api/v1/keys",
            Some(json!({ "label": "Old", "expires_at": "2020-01-01T00:00:00Z" })),
        )
        .await;
    assert_eq!(past.problem(422), "validation_failed");

    let soon = keys_domain::time::Timestamp::now().plus_seconds(2);
    let (key, secret) = app
        .create_key(json!({ "label": "Short-lived", "expires_at": soon.to_string() }))
        .await;
    assert_eq!(key["expires_at"], soon.to_string());
    assert_eq!(app.code(&secret, None, None).await, "VALID");
    let expiry = || async {
        let answer = app.verify(&secret, None, None).await;
        match answer["code"] == "EXPIRED" {
            true => Ok(answer),
            false => Err(answer.to_string()),
        }
    };
    let what = "the key expired";
    let (expired, _) = eventually(what, std::time::Duration::from_secs(5), expiry).await;
    assert_eq!(expired["valid"], false);

    // Removing the expiry brings the key back; setting an earlier one takes effect at once.
    let id = key["id"].as_str().unwrap();
    let cleared = app
        .admin(
            "PATCH",
            &format!("/api/v1/keys/{id}"),
            Some(json!({ "expires_at": null })),
        )
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text());
    assert!(cleared.json()["expires_at"].is_null());
    assert_eq!(app.code(&secret, None, None).await, "VALID");
}

#[tokio::test]
async fn lists_filter_by_status_and_label_and_paginate_with_a_cursor() {
    let app = App::start();
    let mut ids = Vec::new();
    for label in [
        "Welyb prod",
        "Welyb test",
        "MyCompanyFile",
        "Payfit 100%",
        "Under_score",
    ] {
        ids.push(
            app.create_key(json!({ "label": label })).await.0["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    app.admin("POST", &format!("/api/v1/keys/{}/deactivate", ids[1]), None)
        .await;

    let welyb = app.admin("GET", "/api/v1/keys?q=welyb", None).await.json();
    assert_eq!(welyb["data"].as_array().unwrap().len(), 2);
    let percent = app.admin("GET", "/api/v1/keys?q=100%25", None).await.json();
    assert_eq!(
        percent["data"].as_array().unwrap().len(),
        1,
        "% is matched literally"
    );
    let underscore = app.admin("GET", "/api/v1/keys?q=r_s", None).await.json();
    assert_eq!(
        underscore["data"].as_array().unwrap().len(),
        1,
        "_ is matched literally"
    );
    let inactive = app
        .admin("GET", "/api/v1/keys?status=inactive", None)
        .await
        .json();
    assert_eq!(inactive["data"][0]["id"], ids[1].as_str());

    let mut seen = Vec::new();
    let mut path = "/api/v1/keys?limit=2".to_owned();
    loop {
        let page = app.admin("GET", &path, None).await.json();
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|k| k["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/keys?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "every key once, newest first");
}

#[tokio::test]
async fn the_global_audit_trail_lists_every_change_newest_first() {
    let app = App::start();
    let (a, _) = app.create_key(json!({ "label": "A" })).await;
    let (b, _) = app.create_key(json!({ "label": "B" })).await;
    app.admin(
        "PATCH",
        &format!("/api/v1/keys/{}", a["id"].as_str().unwrap()),
        Some(json!({ "metadata": { "crm": "42" } })),
    )
    .await;
    let events = app
        .admin("GET", "/api/v1/events?limit=10", None)
        .await
        .json();
    let summary: Vec<(String, String)> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key_id"].as_str().unwrap().to_owned(),
                e["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let (a, b) = (
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        summary,
        [
            (a.clone(), "metadata_changed".into()),
            (b, "created".into()),
            (a, "created".into())
        ]
    );
}

#[tokio::test]
async fn metadata_comes_back_as_sent_in_order_and_without_whitespace() {
    let app = App::start();
    let sent = "{\"label\": \"Welyb\", \"metadata\": {\n  \"zone\": \"eu\",\n  \"crm\": {\"id\": \"X 1\", \"tags\": [1, 2]}\n}}";
    let created = app
        .send(
            app.call("POST", "/api/v1/keys")
                .admin()
                .header("content-type", "application/json")
                .body(sent),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let compact = r#""metadata":{"zone":"eu","crm":{"id":"X 1","tags":[1,2]}}"#;
    assert!(created.text().contains(compact), "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let secret = created.json()["key"].as_str().unwrap().to_owned();
    let read = app.admin("GET", &format!("/api/v1/keys/{id}"), None).await;
    assert!(read.text().contains(compact), "{}", read.text());
    let verified = app
        .send(
            app.call("POST", "/api/v1/verify")
                .json(&json!({ "key": secret })),
        )
        .await;
    assert!(verified.text().contains(compact), "{}", verified.text());

    // The same object with other whitespace is no change: no event.
    let same = app
        .send(
            app.call("PATCH", &format!("/api/v1/keys/{id}"))
                .admin()
                .header("content-type", "application/json")
                .body(r#"{"metadata":{ "zone" : "eu", "crm" : { "id" : "X 1", "tags" : [ 1 , 2 ] } }}"#),
        )
        .await;
    assert_eq!(same.status, 200, "{}", same.text());
    let events = app
        .admin("GET", &format!("/api/v1/keys/{id}/events"), None)
        .await
        .json();
    assert_eq!(events["data"].as_array().unwrap().len(), 1, "{events}");

    // A member named twice is refused and changes nothing.
    let before = app.dump();
    let twice = app
        .send(
            app.call("PATCH", &format!("/api/v1/keys/{id}"))
                .admin()
                .header("content-type", "application/json")
                .body(r#"{"metadata":{"zone":"eu","zone":"us"}}"#),
        )
        .await;
    assert_eq!(twice.problem(400), "invalid_request");
    assert!(twice.text().contains("`zone` twice"), "{}", twice.text());
    assert_eq!(app.dump(), before);
}
