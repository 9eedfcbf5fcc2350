//! What a transcript line says about the session beyond usage: a limit it
//! hit (as Kage's signal classifier maps it), and the prompt a person typed
//! (the one `kage claude` sends again after a failover).

use kage_domain::Outcome;
use kage_domain::signal::{ClassifyContext, Signal, classify};
use serde_json::Value;

/// The limit a transcript line reports, as the classifier maps it: a
/// synthetic assistant message with `isApiErrorMessage` (or a top-level
/// `error`) whose text, status and error kind say the subscription cannot
/// go on. Other API errors (overloaded, server errors) are Claude Code's to
/// retry and return `None`.
pub fn limit_in_line(line: &Value, context: &ClassifyContext) -> Option<Outcome> {
    if line.get("type").and_then(Value::as_str) != Some("assistant") {
        return None;
    }
    let flagged = line.get("isApiErrorMessage").and_then(Value::as_bool) == Some(true);
    let error = line.get("error").and_then(Value::as_str).map(str::to_owned);
    if !flagged && error.is_none() {
        return None;
    }
    let api_error_status = line
        .get("apiErrorStatus")
        .and_then(Value::as_u64)
        .and_then(|status| u16::try_from(status).ok());
    let text = message_text(line.get("message")?).unwrap_or_default();
    let outcome = classify(
        &Signal::ErrorResult {
            api_error_status,
            error,
            text,
        },
        context,
    )?;
    outcome.moves_work_elsewhere().then_some(outcome)
}

/// The text a person typed, when the line is one: a `user` line of the main
/// conversation (not meta, not a sidechain, not a tool result, not a slash
/// command's bookkeeping).
pub fn typed_prompt(line: &Value) -> Option<String> {
    if line.get("type").and_then(Value::as_str) != Some("user")
        || line.get("isMeta").and_then(Value::as_bool) == Some(true)
        || line.get("isSidechain").and_then(Value::as_bool) == Some(true)
        || line.get("toolUseResult").is_some()
    {
        return None;
    }
    let text = message_text(line.get("message")?)?;
    let trimmed = text.trim_start();
    if trimmed.is_empty()
        || trimmed.starts_with("<command-")
        || trimmed.starts_with("<local-command")
        || trimmed.starts_with("Caveat: The messages below")
    {
        return None;
    }
    Some(text)
}

/// `message.content` as text: the string, or the text blocks joined (an
/// array holding a tool result is no text).
fn message_text(message: &Value) -> Option<String> {
    match message.get("content")? {
        Value::String(text) => Some(text.clone()),
        Value::Array(blocks) => {
            if blocks
                .iter()
                .any(|block| block.get("type").and_then(Value::as_str) == Some("tool_result"))
            {
                return None;
            }
            let texts: Vec<&str> = blocks
                .iter()
                .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|block| block.get("text").and_then(Value::as_str))
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use jiff::tz::TimeZone;

    use super::*;

    const SAMPLE: &str = include_str!("../tests/fixtures/transcript-session-limit-2.1.197.jsonl");

    fn context() -> ClassifyContext {
        let now: Timestamp = "2026-12-05T22:32:40Z".parse().expect("a time");
        ClassifyContext::new(now, TimeZone::UTC)
    }

    fn lines() -> Vec<Value> {
        SAMPLE
            .lines()
            .map(|line| serde_json::from_str(line).expect("json"))
            .collect()
    }

    #[test]
    fn the_sample_limit_is_found_with_its_reset_time() {
        let limits: Vec<Outcome> = lines()
            .iter()
            .filter_map(|line| limit_in_line(line, &context()))
            .collect();
        let expected_reset: Timestamp = "2026-12-05T23:32:00Z".parse().expect("a time");
        assert_eq!(
            limits,
            vec![Outcome::QuotaExhausted {
                resets_at: Some(expected_reset),
                reason: "5-hour limit, resets 23:32".to_owned(),
            }]
        );
    }

    #[test]
    fn the_interrupted_prompt_is_the_last_typed_one() {
        let prompts: Vec<String> = lines().iter().filter_map(typed_prompt).collect();
        assert_eq!(prompts, vec!["say hi", "say hi again"]);
    }

    #[test]
    fn only_failover_worthy_errors_count() {
        let line = |status: u64, error: &str, text: &str| {
            serde_json::json!({
                "type": "assistant", "isApiErrorMessage": true, "error": error,
                "apiErrorStatus": status,
                "message": {"model": "<synthetic>", "content": [{"type": "text", "text": text}]}
            })
        };
        let burst = limit_in_line(
            &line(
                429,
                "rate_limit",
                "API Error: Server is temporarily limiting requests (not your usage limit) · x",
            ),
            &context(),
        );
        assert!(
            matches!(burst, Some(Outcome::RateLimited { .. })),
            "{burst:?}"
        );
        let rejected = limit_in_line(
            &line(
                401,
                "authentication_failed",
                "Failed to authenticate. API Error: 401 Invalid bearer token",
            ),
            &context(),
        );
        assert!(
            matches!(rejected, Some(Outcome::CredentialRejected { .. })),
            "{rejected:?}"
        );
        let weekly = limit_in_line(
            &line(
                429,
                "rate_limit",
                "You've hit your weekly limit · resets Dec 9, 9:46pm (UTC)",
            ),
            &context(),
        );
        assert!(
            matches!(weekly, Some(Outcome::QuotaExhausted { ref reason, .. }) if reason.starts_with("weekly limit")),
            "{weekly:?}"
        );
        assert_eq!(
            limit_in_line(
                &line(529, "overloaded", "API Error: 529 Overloaded."),
                &context()
            ),
            None
        );
        assert_eq!(
            limit_in_line(
                &line(500, "server_error", "API Error: 500 Internal server error."),
                &context()
            ),
            None
        );
        let ordinary = serde_json::json!({
            "type": "assistant",
            "message": {"model": "claude-sonnet-5", "content": [{"type": "text", "text": "You've hit your limit of patience"}]}
        });
        assert_eq!(limit_in_line(&ordinary, &context()), None);
    }

    #[test]
    fn tool_results_commands_and_meta_lines_are_no_prompts() {
        let tool = serde_json::json!({"type": "user", "message": {"content": [{"type": "tool_result", "content": "x"}]}});
        let command = serde_json::json!({"type": "user", "message": {"content": "<command-name>/model</command-name>"}});
        let meta =
            serde_json::json!({"type": "user", "isMeta": true, "message": {"content": "hello"}});
        let blocks = serde_json::json!({"type": "user", "message": {"content": [{"type": "text", "text": "fix it"}, {"type": "image"}]}});
        assert_eq!(typed_prompt(&tool), None);
        assert_eq!(typed_prompt(&command), None);
        assert_eq!(typed_prompt(&meta), None);
        assert_eq!(typed_prompt(&blocks).as_deref(), Some("fix it"));
    }
}
