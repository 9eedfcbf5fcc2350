//! The Anthropic API stand-in over plain HTTP: statuses, headers, error
//! bodies, streaming and what it records, per credential behaviour.

use std::io::{Read, Write};
use std::net::TcpStream;

use kage_tests::standin::{Behaviour, StandIn, Usage};
use serde_json::{Value, json};

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

/// One HTTP/1.1 request with `auth` (`("x-api-key", value)` or
/// `("authorization", "Bearer …")`), read to the end.
fn call(
    standin: &StandIn,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: &Value,
) -> Answer {
    let address = standin.base_url().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).unwrap();
    let body = body.to_string();
    let auth = auth.map_or_else(String::new, |(name, value)| format!("{name}: {value}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(n, v)| (n.to_lowercase(), v.to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn request(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5", "max_tokens": 100, "stream": stream,
        "messages": [
            {"role": "user", "content": "first turn"},
            {"role": "assistant", "content": [{"type": "text", "text": "reply"}]},
            {"role": "user", "content": [{"type": "text", "text": "second turn"}]},
        ],
        "tools": [{"name": "Bash"}],
    })
}

fn bearer(token: &str) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {token}")))
}

fn messages(standin: &StandIn, auth: Option<(&str, String)>, stream: bool) -> Answer {
    call(
        standin,
        "POST",
        "/v1/messages?beta=true",
        auth.as_ref().map(|(n, v)| (*n, v.as_str())),
        &request(stream),
    )
}

fn error_body(answer: &Answer, kind: &str) {
    let body = answer.json();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(body["error"]["message"].is_string());
    assert_eq!(body["request_id"], answer.header("request-id").unwrap());
}

#[test]
fn a_streamed_reply_has_the_event_flow_and_usage_and_is_recorded() {
    let standin = StandIn::start();
    standin.set("token-ok", Behaviour::Ok);
    let answer = messages(&standin, bearer("token-ok"), true);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    assert!(answer.header("request-id").unwrap().starts_with("req_"));
    assert_eq!(
        answer.header("anthropic-ratelimit-unified-status"),
        Some("allowed")
    );
    assert_eq!(
        answer.header("anthropic-ratelimit-unified-5h-utilization"),
        Some("0.01")
    );
    // Chunked transfer: keep the `data:` lines, whatever the chunk framing.
    let events: Vec<Value> = answer
        .body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let text: String = events
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Stand-in reply 1.");
    let served = standin.served("token-ok");
    assert_eq!(events[0]["message"]["usage"]["output_tokens"], 1);
    let last = &events[6]["usage"];
    assert_eq!(
        served,
        Usage {
            input_tokens: last["input_tokens"].as_u64().unwrap(),
            output_tokens: last["output_tokens"].as_u64().unwrap(),
            cache_creation_input_tokens: last["cache_creation_input_tokens"].as_u64().unwrap(),
            cache_read_input_tokens: last["cache_read_input_tokens"].as_u64().unwrap(),
        }
    );
    assert_eq!(served.input_tokens, 130, "100 + 10 per message");

    let recorded = standin.message_requests("token-ok");
    assert_eq!(recorded.len(), 1);
    assert!(recorded[0].bearer && recorded[0].stream && !recorded[0].is_side_query());
    assert_eq!(recorded[0].model.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(recorded[0].texts(), ["first turn", "reply", "second turn"]);
    assert_eq!(recorded[0].served, Some(served));
    assert!(
        recorded[0]
            .headers
            .iter()
            .all(|(name, _)| name != "authorization"),
        "credentials are not kept among the headers"
    );
}

#[test]
fn a_plain_reply_is_one_json_message_and_an_api_key_gets_the_documented_headers() {
    let standin = StandIn::start();
    standin.set("key-ok", Behaviour::Ok);
    let answer = messages(&standin, Some(("x-api-key", "key-ok".to_owned())), false);
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["text"], "Stand-in reply 1.");
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(
        body["usage"]["output_tokens"].as_u64(),
        Some(standin.served("key-ok").output_tokens)
    );
    assert_eq!(
        answer.header("anthropic-ratelimit-requests-limit"),
        Some("1000")
    );
    assert!(
        answer
            .header("anthropic-ratelimit-tokens-reset")
            .unwrap()
            .ends_with('Z')
    );
    assert!(
        answer
            .header("anthropic-ratelimit-unified-status")
            .is_none()
    );
    assert!(!standin.requests()[0].bearer);
}

#[test]
fn the_five_hour_limit_comes_at_the_nth_request_with_its_reset() {
    let standin = StandIn::start();
    let reset = standin.five_hour_reset() - 3600;
    standin.set(
        "token-limited",
        Behaviour::FiveHourLimit {
            at_request: 2,
            resets_at: Some(reset),
        },
    );
    let first = messages(&standin, bearer("token-limited"), true);
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("anthropic-ratelimit-unified-5h-utilization"),
        Some("0.50")
    );
    assert_eq!(
        first.header("anthropic-ratelimit-unified-5h-reset"),
        Some(reset.to_string().as_str())
    );
    let served_before = standin.served("token-limited");
    for _ in 0..2 {
        let limited = messages(&standin, bearer("token-limited"), true);
        assert_eq!(limited.status, 429);
        error_body(&limited, "rate_limit_error");
        assert_eq!(
            limited.header("anthropic-ratelimit-unified-status"),
            Some("rejected")
        );
        assert_eq!(
            limited.header("anthropic-ratelimit-unified-5h-status"),
            Some("rejected")
        );
        assert_eq!(
            limited.header("anthropic-ratelimit-unified-representative-claim"),
            Some("five_hour")
        );
        assert_eq!(
            limited.header("anthropic-ratelimit-unified-reset"),
            Some(reset.to_string().as_str())
        );
        let retry_after: i64 = limited.header("retry-after").unwrap().parse().unwrap();
        assert!((3500..=4 * 3600).contains(&retry_after), "{retry_after}");
    }
    assert_eq!(
        standin.served("token-limited"),
        served_before,
        "a 429 serves nothing"
    );
    let statuses: Vec<u16> = standin.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 429, 429]);
}

#[test]
fn burst_unauthorized_overloaded_and_near_limit_answer_as_the_real_api() {
    let standin = StandIn::start();
    standin.set(
        "burst",
        Behaviour::Burst {
            retry_after_secs: 7,
        },
    );
    standin.set("revoked", Behaviour::Unauthorized);
    standin.set("busy", Behaviour::Overloaded);
    standin.set("near", Behaviour::NearLimit { utilization: 0.91 });

    let burst = messages(&standin, bearer("burst"), true);
    assert_eq!(burst.status, 429);
    error_body(&burst, "rate_limit_error");
    assert_eq!(burst.header("retry-after"), Some("7"));
    assert_eq!(burst.header("x-should-retry"), Some("true"));
    assert!(
        burst
            .headers
            .iter()
            .all(|(n, _)| !n.starts_with("anthropic-ratelimit")),
        "a burst limit carries no window headers"
    );

    let revoked = messages(&standin, bearer("revoked"), true);
    assert_eq!(revoked.status, 401);
    error_body(&revoked, "authentication_error");
    let unknown = messages(&standin, Some(("x-api-key", "never-set".to_owned())), true);
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.json()["error"]["message"], "invalid x-api-key");

    let busy = messages(&standin, bearer("busy"), true);
    assert_eq!(busy.status, 529);
    error_body(&busy, "overloaded_error");

    let near = messages(&standin, bearer("near"), true);
    assert_eq!(near.status, 200);
    assert_eq!(
        near.header("anthropic-ratelimit-unified-status"),
        Some("allowed_warning")
    );
    assert_eq!(
        near.header("anthropic-ratelimit-unified-5h-utilization"),
        Some("0.91")
    );
    assert_eq!(
        near.header("anthropic-ratelimit-unified-5h-surpassed-threshold"),
        Some("0.9")
    );
    for credential in ["burst", "revoked", "busy", "never-set"] {
        assert_eq!(standin.served(credential), Usage::default());
    }
    assert!(standin.served("near").total() > 0);
}

#[test]
fn count_tokens_models_and_unknown_paths() {
    let standin = StandIn::start();
    let counted = call(
        &standin,
        "POST",
        "/v1/messages/count_tokens?beta=true",
        None,
        &request(false),
    );
    assert_eq!(counted.status, 200);
    assert_eq!(counted.json()["input_tokens"], 130);
    let models = call(&standin, "GET", "/v1/models?limit=1000", None, &Value::Null);
    assert_eq!(models.status, 200);
    assert!(models.json()["data"].as_array().unwrap().len() >= 3);
    let missing = call(&standin, "GET", "/v1/files", None, &Value::Null);
    assert_eq!(missing.status, 404);
    error_body(&missing, "not_found_error");
    let head = call(&standin, "HEAD", "/", None, &Value::Null);
    assert_eq!(head.status, 200);
    assert_eq!(standin.requests().len(), 4, "every request is recorded");
}
