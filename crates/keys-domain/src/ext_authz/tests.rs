use super::*;
use prost::Message;

fn check(headers: &[(&str, &str)], extensions: &[(&str, &str)], ip: Option<&str>) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            source: ip.map(|ip| Peer {
                address: Some(Address {
                    socket_address: Some(SocketAddress {
                        address: ip.to_owned(),
                    }),
                }),
            }),
            request: Some(RequestAttributes {
                http: Some(HttpRequest {
                    headers: headers
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    header_map: None,
                }),
            }),
            context_extensions: extensions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }),
    }
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn header_pairs(options: &[HeaderValueOption]) -> Vec<(String, String, i32)> {
    options
        .iter()
        .map(|o| {
            let h = o.header.as_ref().unwrap();
            (h.key.clone(), h.value.clone(), o.append_action)
        })
        .collect()
}

#[test]
fn a_frame_holds_one_uncompressed_length_prefixed_message() {
    let framed = encode_frame(b"hello");
    assert_eq!(framed, [0, 0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o']);
    assert_eq!(decode_frame(&framed), Ok(&b"hello"[..]));
    assert_eq!(decode_frame(&encode_frame(b"")), Ok(&b""[..]));
    let mut compressed = framed.clone();
    compressed[0] = 1;
    assert_eq!(decode_frame(&compressed), Err(FrameError::Compressed));
    for bad in [
        &[][..],
        &[0, 0, 0][..],
        &framed[..9],
        &[framed.clone(), framed.clone()].concat()[..],
    ] {
        assert_eq!(decode_frame(bad), Err(FrameError::Malformed), "{bad:?}");
    }
}

#[test]
fn a_check_request_reads_back_from_its_wire_form() {
    let request = check(
        &[("x-api-key", "k")],
        &[("method", "m")],
        Some("203.0.113.7"),
    );
    let bytes = request.encode_to_vec();
    assert_eq!(CheckRequest::decode(&bytes[..]).unwrap(), request);
}

#[test]
fn the_key_method_company_and_address_go_to_authorize_as_its_own_headers() {
    let request = check(
        &[
            ("x-api-key", "ingk_x"),
            ("x-api-method", "chosen.by.the.caller"),
            ("x-api-company", "ACME"),
            ("x-api-client-ip", "10.0.0.1"),
            ("cookie", "not forwarded"),
        ],
        &[("method", "payroll.read")],
        Some("203.0.113.7"),
    );
    let sent = authorize_headers(&request, &HeaderNames::default(), "x-api-client-ip");
    assert_eq!(
        sent,
        owned(&[
            ("x-api-key", "ingk_x"),
            ("x-api-method", "payroll.read"),
            ("x-api-company", "ACME"),
            ("x-api-client-ip", "203.0.113.7"),
        ])
    );
}

#[test]
fn by_default_the_method_is_the_routes_never_the_callers_header() {
    let request = check(&[("x-api-key", "k"), ("x-api-method", "forged")], &[], None);
    let sent = authorize_headers(&request, &HeaderNames::default(), "x-api-client-ip");
    assert_eq!(
        sent,
        owned(&[("x-api-key", "k")]),
        "no method: /authorize refuses unless `*`"
    );
}

#[test]
fn route_extensions_win_over_headers_and_header_names_are_configurable() {
    let request = check(
        &[
            ("authorization", "Bearer ingk_x"),
            ("x-api-method", "chosen.by.the.caller"),
            ("x-tenant", "GLOBEX"),
        ],
        &[("method", "employees.read")],
        None,
    );
    let names = HeaderNames::parse("x-operation", "X-Tenant").unwrap();
    let sent = authorize_headers(&request, &names, "X-Forwarded-For");
    assert_eq!(
        sent,
        owned(&[
            ("authorization", "Bearer ingk_x"),
            ("x-api-method", "employees.read"),
            ("x-api-company", "GLOBEX"),
        ])
    );
}

#[test]
fn headers_sent_as_a_list_are_read_too() {
    let mut request = check(&[], &[], None);
    let http = request
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .unwrap();
    http.header_map = Some(HeaderMap {
        headers: vec![HeaderValue {
            key: "X-Api-Key".to_owned(),
            value: String::new(),
            raw_value: b"ingk_raw".to_vec(),
        }],
    });
    let sent = authorize_headers(&request, &HeaderNames::default(), "x-api-client-ip");
    assert_eq!(sent, owned(&[("x-api-key", "ingk_raw")]));
    let empty = authorize_headers(&CheckRequest::default(), &HeaderNames::default(), "x");
    assert!(empty.is_empty());
}

#[test]
fn header_name_variables_default_and_refuse_what_is_not_a_name() {
    assert_eq!(HeaderNames::parse("", " ").unwrap(), HeaderNames::default());
    let named = HeaderNames::parse("X-Operation", "").unwrap();
    assert_eq!(named.method.as_deref(), Some("x-operation"));
    assert_eq!(named.company, "x-api-company");
    let err = HeaderNames::parse("x api", "").unwrap_err();
    assert!(err.contains("ext_authz_method_header"), "{err}");
    let err = HeaderNames::parse("", "x:y").unwrap_err();
    assert!(err.contains("ext_authz_company_header"), "{err}");
}

#[test]
fn an_allowed_check_sets_the_key_id_upstream_and_removes_the_key() {
    let answer_headers = owned(&[
        ("x-api-key-id", "key_1"),
        ("x-api-key-hint", "ingk_...abcd"),
        ("ratelimit-policy", "\"rate\";q=10;w=60"),
        ("cache-control", "no-store"),
    ]);
    let answer = AuthorizeAnswer {
        status: 204,
        headers: &answer_headers,
        body: "",
    };
    let sent = owned(&[("x-api-key", "ingk_x"), ("x-api-method", "m")]);
    let response = check_response(&answer, &sent);
    assert_eq!(response.status.as_ref().unwrap().code, code::OK);
    assert!(response.denied_response.is_none());
    let ok = response.ok_response.unwrap();
    assert_eq!(
        header_pairs(&ok.headers),
        vec![
            ("x-api-key-id".to_owned(), "key_1".to_owned(), 2),
            ("x-api-key-hint".to_owned(), "ingk_...abcd".to_owned(), 2),
        ],
        "overwriting whatever the caller sent"
    );
    assert_eq!(ok.headers_to_remove, vec!["x-api-key"]);
    assert_eq!(
        header_pairs(&ok.response_headers_to_add),
        vec![(
            "ratelimit-policy".to_owned(),
            "\"rate\";q=10;w=60".to_owned(),
            2
        )]
    );
}

#[test]
fn each_refusal_keeps_authorizes_status_body_and_headers() {
    let body = r#"{"code":"METHOD_NOT_ALLOWED"}"#;
    for (status, grpc) in [
        (400, code::INVALID_ARGUMENT),
        (401, code::UNAUTHENTICATED),
        (403, code::PERMISSION_DENIED),
        (429, code::RESOURCE_EXHAUSTED),
    ] {
        let headers = owned(&[
            ("content-type", "application/problem+json"),
            ("retry-after", "12"),
            ("x-api-key-id", "key_1"),
        ]);
        let answer = AuthorizeAnswer {
            status,
            headers: &headers,
            body,
        };
        let response = check_response(&answer, &[]);
        assert_eq!(response.status.unwrap().code, grpc, "{status}");
        let denied = response.denied_response.unwrap();
        assert_eq!(denied.status.unwrap().code, i32::from(status));
        assert_eq!(denied.body, body);
        let names: Vec<String> = header_pairs(&denied.headers)
            .into_iter()
            .map(|(n, ..)| n)
            .collect();
        assert_eq!(names, vec!["content-type", "retry-after"], "{status}");
    }
}

#[test]
fn any_other_answer_fails_closed_as_unavailable() {
    for status in [500, 502, 503, 200, 404] {
        let answer = AuthorizeAnswer {
            status,
            headers: &[],
            body: "",
        };
        let response = check_response(&answer, &[]);
        assert_eq!(response.status.unwrap().code, code::UNAVAILABLE);
        assert!(response.ok_response.is_none());
        let denied = response.denied_response.unwrap();
        assert_eq!(denied.status.unwrap().code, 503);
        let body: serde_json::Value = serde_json::from_str(&denied.body).unwrap();
        assert_eq!(body["status"], 503);
    }
    assert_eq!(unavailable().status.unwrap().code, code::UNAVAILABLE);
}
