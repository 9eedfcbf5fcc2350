//! The usage of one assistant message, read from one transcript line
//! without building the whole line: borrowed fields, everything else
//! skipped.

use std::borrow::Cow;

use kage_domain::{Timestamp, Usage};
use serde::Deserialize;

/// The model Claude Code writes on messages it made itself (API errors,
/// interruptions): no request was served, so no usage is counted.
pub const SYNTHETIC_MODEL: &str = "<synthetic>";

/// One assistant message's usage, as the transcript (or `kage-agent`'s
/// stream-json) reports it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MessageUsage {
    /// [`message_key`]: the same for every copy of the message.
    pub key: String,
    pub session_id: String,
    /// Input, output, cache-write and cache-read tokens and the model; no
    /// cost (Claude Code prices only in its print-mode result).
    pub usage: Usage,
    /// When the line was written, if it says.
    pub at: Option<Timestamp>,
}

/// The key of one API response: its message id and request id. A message
/// appears once per content block in the transcript, and again when a
/// sidechain is replayed or a session resumed into a new file; the pair is
/// the same every time. Claude Code's stream-json `assistant` events carry
/// the same pair (`message.id`, `request_id`), so `kage-agent` forms the
/// same key for the same message.
pub fn message_key(message_id: &str, request_id: Option<&str>) -> String {
    format!("claude:{message_id}:{}", request_id.unwrap_or(""))
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(rename = "requestId", borrow)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    uuid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Message<'a>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    usage: Option<Tokens>,
}

#[derive(Deserialize)]
struct Tokens {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

/// The usage of the assistant message on `line`, if it is one with usage
/// (not a `<synthetic>` one); `default_session` when the line names no
/// session. A line with no message id is keyed by its own `uuid`.
pub fn usage_in_line(line: &[u8], default_session: &str) -> Option<MessageUsage> {
    let line: Line<'_> = serde_json::from_slice(line).ok()?;
    if line.kind.as_deref() != Some("assistant") {
        return None;
    }
    let message = line.message?;
    let tokens = message.usage?;
    let model = message.model.filter(|model| model != SYNTHETIC_MODEL)?;
    let key = match (&message.id, &line.uuid) {
        (Some(id), _) => message_key(id, line.request_id.as_deref()),
        (None, Some(uuid)) => format!("claude-line:{uuid}"),
        (None, None) => return None,
    };
    Some(MessageUsage {
        key,
        session_id: line
            .session_id
            .map_or_else(|| default_session.to_owned(), Cow::into_owned),
        usage: Usage {
            input_tokens: tokens.input_tokens.unwrap_or(0),
            output_tokens: tokens.output_tokens.unwrap_or(0),
            cache_write_tokens: tokens.cache_creation_input_tokens.unwrap_or(0),
            cache_read_tokens: tokens.cache_read_input_tokens.unwrap_or(0),
            cost_micros_usd: None,
            model: Some(model.into_owned()),
        }
        .bounded(),
        at: line.timestamp.and_then(|at| at.parse().ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../tests/fixtures/transcript-session-limit-2.1.197.jsonl");

    #[test]
    fn the_sample_has_one_message_with_usage_and_the_synthetic_limit_is_skipped() {
        let found: Vec<MessageUsage> = SAMPLE
            .lines()
            .filter_map(|line| usage_in_line(line.as_bytes(), "file"))
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        let message = &found[0];
        assert_eq!(
            message.key,
            "claude:msg_stub914c5e97ebdd4aaca98a:req_stuba0ac42a726e943498da9224b"
        );
        assert_eq!(message.usage.input_tokens, 1856);
        assert_eq!(message.usage.output_tokens, 3);
        assert_eq!(message.usage.cache_write_tokens, 29873);
        assert_eq!(message.usage.cache_read_tokens, 0);
        assert_eq!(message.usage.model.as_deref(), Some("claude-sonnet-5"));
        assert_eq!(
            message.at,
            Some("2026-12-05T22:32:31.452Z".parse().expect("a time"))
        );
        assert_ne!(message.session_id, "file");
    }

    #[test]
    fn escaped_strings_absurd_counts_and_other_lines() {
        let line = br#"{"type":"assistant","sessionId":"s\"1","requestId":"r","message":{"id":"m\u0031","model":"claude-opus-5","content":[{"type":"text","text":"a\nb"}],"usage":{"input_tokens":99999999999999,"output_tokens":2}}}"#;
        let message = usage_in_line(line, "f").expect("usage");
        assert_eq!(message.key, "claude:m1:r");
        assert_eq!(message.session_id, "s\"1");
        assert_eq!(message.usage.input_tokens, kage_domain::MAX_PER_RECORD);
        assert_eq!(message.at, None);
        let user =
            br#"{"type":"user","message":{"id":"m","model":"x","usage":{"input_tokens":1}}}"#;
        assert_eq!(usage_in_line(user, "f"), None);
        let no_usage = br#"{"type":"assistant","message":{"id":"m","model":"x"}}"#;
        assert_eq!(usage_in_line(no_usage, "f"), None);
        assert_eq!(usage_in_line(b"{not json", "f"), None);
    }
}
