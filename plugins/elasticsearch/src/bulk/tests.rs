//! The bulk body against the documented format, and the handling of recorded bulk responses
//! (Elasticsearch is not installable on the test machines).

use std::collections::VecDeque;

use serde_json::{Value, json};
use weir_plugin::http::{HttpError, Response};
use weir_plugin::{ExportError, Sent};

use super::*;

fn docs(n: usize) -> Vec<(String, Value)> {
    (0..n)
        .map(|i| {
            (
                "logs-shop-2023.11.14".to_string(),
                json!({ "message": format!("line {i}") }),
            )
        })
        .collect()
}

/// A `post` that records request bodies and answers from a script.
struct Script {
    replies: VecDeque<(u16, &'static str)>,
    bodies: Vec<String>,
}

impl Script {
    fn new(replies: &[(u16, &'static str)]) -> Script {
        Script {
            replies: replies.iter().copied().collect(),
            bodies: Vec::new(),
        }
    }

    fn run(&mut self, docs: Vec<(String, Value)>, retries: u32) -> Result<Sent, ExportError> {
        let mut post = |_: &str, _: &[(&str, &str)], body: &[u8]| -> Result<Response, HttpError> {
            self.bodies.push(String::from_utf8(body.to_vec()).unwrap());
            let (status, text) = self.replies.pop_front().expect("an unexpected request");
            Ok(Response {
                status,
                headers: Vec::new(),
                body: text.as_bytes().to_vec(),
            })
        };
        send_all("http://es/_bulk", &[], docs, retries, &mut post)
    }
}

/// A real partial failure as Elasticsearch 8 answers it: one created, one mapping error, one
/// refused for load.
const PARTIAL: &str = r#"{"took":486,"errors":true,"items":[
 {"create":{"_index":"logs-shop-2023.11.14","_id":"AY1","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},
 {"create":{"_index":"logs-shop-2023.11.14","_id":"AY2","status":400,"error":{"type":"document_parsing_exception","reason":"[1:15] failed to parse field [severity_number] of type [long] in document with id 'AY2'. Preview of field's value: 'x'"}}},
 {"create":{"_index":"logs-shop-2023.11.14","_id":"AY3","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1, max_coordinating_and_primary_bytes=0]"}}}
]}"#;

const ONE_CREATED: &str = r#"{"took":3,"errors":false,"items":[{"create":{"_index":"logs-shop-2023.11.14","_id":"AY4","_version":1,"result":"created","status":201}}]}"#;

const ONE_REFUSED: &str = r#"{"took":1,"errors":true,"items":[{"create":{"_index":"logs-shop-2023.11.14","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected"}}}]}"#;

#[test]
fn the_body_is_ndjson_with_a_create_action_per_document() {
    let b = String::from_utf8(body(&docs(2))).unwrap();
    assert!(b.ends_with('\n'), "the last line needs its newline too");
    let lines: Vec<Value> = b
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["create"]["_index"], "logs-shop-2023.11.14");
    // Ids come from the content: the same document gets the same id, another one another.
    let id0 = lines[0]["create"]["_id"].as_str().unwrap();
    assert_eq!(id0, id("logs-shop-2023.11.14", &lines[1].to_string()));
    assert_eq!(id0.len(), 32);
    assert_ne!(Some(id0), lines[2]["create"]["_id"].as_str());
    assert_eq!(lines[1]["message"], "line 0");
    assert_eq!(lines[2]["create"]["_index"], "logs-shop-2023.11.14");
    assert_eq!(lines[3]["message"], "line 1");
    assert!(!b.contains("\n\n"));
}

#[test]
fn a_partial_failure_resends_only_the_items_refused_for_load() {
    let mut s = Script::new(&[(200, PARTIAL), (200, ONE_CREATED)]);
    let sent = s.run(docs(3), 2).unwrap();
    assert_eq!(sent.rejected, 1, "the mapping error");
    assert!(
        sent.message.contains("document_parsing_exception"),
        "{}",
        sent.message
    );
    // The second request carries only the third document.
    assert_eq!(s.bodies.len(), 2);
    assert!(s.bodies[1].contains("line 2") && !s.bodies[1].contains("line 0"));
    assert_eq!(s.bodies[1].lines().count(), 2);
}

#[test]
fn a_conflict_means_the_item_is_already_there() {
    const CONFLICT: &str = r#"{"took":2,"errors":true,"items":[{"create":{"_index":"logs-shop-2023.11.14","_id":"x","status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}}]}"#;
    let mut s = Script::new(&[(200, CONFLICT)]);
    assert_eq!(s.run(docs(1), 2).unwrap(), Sent::all());
}

#[test]
fn items_still_refused_after_the_retries_are_rejected() {
    let mut s = Script::new(&[(200, PARTIAL), (200, ONE_REFUSED), (200, ONE_REFUSED)]);
    let sent = s.run(docs(3), 2).unwrap();
    assert_eq!(sent.rejected, 2);
    assert!(
        sent.message.contains("still refused for load"),
        "{}",
        sent.message
    );
}

#[test]
fn a_whole_request_refused_first_is_retryable_for_the_host() {
    let mut s = Script::new(&[(503, "")]);
    assert!(matches!(
        s.run(docs(3), 2),
        Err(ExportError::Retryable { .. })
    ));
    let mut s = Script::new(&[(400, r#"{"error":"bad"}"#)]);
    assert!(matches!(s.run(docs(3), 2), Err(ExportError::Rejected(_))));
    let mut s = Script::new(&[(200, r#"{"errors":true,"items":[]}"#)]);
    assert!(
        matches!(s.run(docs(3), 2), Err(ExportError::Rejected(m)) if m.contains("0 items for 3"))
    );
}

#[test]
fn base64_for_basic_auth() {
    assert_eq!(base64(b"elastic:changeme"), "ZWxhc3RpYzpjaGFuZ2VtZQ==");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"abc"), "YWJj");
}
