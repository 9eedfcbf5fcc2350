//! The stream-json lines a simulated run prints, in the shapes of
//! `claude-code-signals.md`.

use std::io::Write;

use serde_json::{Value, json};

/// Tokens by kind and the cost, in millionths of a dollar.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(super) struct Tokens {
    pub(super) input: u64,
    pub(super) output: u64,
    pub(super) cache_write: u64,
    pub(super) cache_read: u64,
    pub(super) cost_micros: u64,
}

impl Tokens {
    /// A message's tokens, priced at $3/M input and $15/M output.
    pub(super) fn priced(input: u64, output: u64, cache_write: u64, cache_read: u64) -> Self {
        Self {
            input,
            output,
            cache_write,
            cache_read,
            cost_micros: input * 3 + output * 15,
        }
    }

    pub(super) fn add(self, other: Self) -> Self {
        Self {
            input: self.input + other.input,
            output: self.output + other.output,
            cache_write: self.cache_write + other.cache_write,
            cache_read: self.cache_read + other.cache_read,
            cost_micros: self.cost_micros + other.cost_micros,
        }
    }

    fn wire(self) -> Value {
        json!({
            "input_tokens": self.input, "output_tokens": self.output,
            "cache_creation_input_tokens": self.cache_write,
            "cache_read_input_tokens": self.cache_read,
        })
    }

    /// As the run log shows it.
    pub(super) fn logged(self) -> Value {
        json!({
            "input_tokens": self.input, "output_tokens": self.output,
            "cache_write_tokens": self.cache_write, "cache_read_tokens": self.cache_read,
            "cost_micros_usd": self.cost_micros,
        })
    }

    fn dollars(self) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "simulated costs are tiny")]
        let micros = self.cost_micros as f64;
        micros / 1_000_000.0
    }
}

/// Writes one session's lines. A closed output is an error, which ends the
/// run as a closed pipe ends Claude Code.
pub(super) struct Speaker<'a, W: Write> {
    pub(super) out: &'a mut W,
    pub(super) session_id: String,
}

pub(super) fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl<W: Write> Speaker<'_, W> {
    pub(super) fn emit(&mut self, value: &Value) -> std::io::Result<()> {
        writeln!(self.out, "{value}")?;
        self.out.flush()
    }

    pub(super) fn init(&mut self, cwd: &str) -> std::io::Result<()> {
        let value = json!({
            "type": "system", "subtype": "init", "cwd": cwd,
            "session_id": self.session_id, "tools": ["Bash", "Edit", "Read"],
            "mcp_servers": [], "model": "claude-sonnet-4-5", "permissionMode": "default",
            "apiKeySource": "none", "uuid": uuid(),
        });
        self.emit(&value)
    }

    /// A `rate_limit_event` for the 5-hour window; `utilization` adds the
    /// warning's fields.
    pub(super) fn rate_limit(
        &mut self,
        status: &str,
        resets_at: i64,
        utilization: Option<f64>,
    ) -> std::io::Result<()> {
        let mut info = json!({
            "status": status, "resetsAt": resets_at,
            "rateLimitType": "five_hour", "isUsingOverage": false,
        });
        if let Some(utilization) = utilization {
            info["utilization"] = json!(utilization);
            info["surpassedThreshold"] = json!(0.8);
        }
        let value = json!({
            "type": "rate_limit_event", "rate_limit_info": info,
            "uuid": uuid(), "session_id": self.session_id,
        });
        self.emit(&value)
    }

    pub(super) fn message(&mut self, id: &str, text: &str, tokens: Tokens) -> std::io::Result<()> {
        let value = json!({
            "type": "assistant",
            "message": {
                "id": id, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": text}],
                "stop_reason": null, "usage": tokens.wire(),
            },
            "parent_tool_use_id": null, "session_id": self.session_id, "uuid": uuid(),
        });
        self.emit(&value)
    }

    pub(super) fn retry(
        &mut self,
        attempt: u32,
        status: u16,
        error: &str,
        delay_ms: u32,
    ) -> std::io::Result<()> {
        let value = json!({
            "type": "system", "subtype": "api_retry", "attempt": attempt, "max_retries": 10,
            "retry_delay_ms": delay_ms, "error_status": status, "error": error,
            "session_id": self.session_id, "uuid": uuid(),
        });
        self.emit(&value)
    }

    /// Claude Code's synthetic assistant message for an API error.
    pub(super) fn synthetic(&mut self, error: &str, text: &str) -> std::io::Result<()> {
        let value = json!({
            "type": "assistant",
            "message": {
                "id": uuid(), "model": "<synthetic>", "role": "assistant", "type": "message",
                "stop_reason": "stop_sequence",
                "content": [{"type": "text", "text": text}], "usage": Tokens::default().wire(),
            },
            "parent_tool_use_id": null, "session_id": self.session_id, "uuid": uuid(),
            "error": error,
        });
        self.emit(&value)
    }

    pub(super) fn ping(&mut self) -> std::io::Result<()> {
        let value = json!({"type": "stream_event", "event": {"type": "ping"}, "session_id": self.session_id});
        self.emit(&value)
    }

    /// The `result` line; returns the exit code Claude Code would use.
    pub(super) fn result(
        &mut self,
        is_error: bool,
        status: Option<u16>,
        text: &str,
        tokens: Tokens,
    ) -> std::io::Result<i32> {
        let cost = tokens.dollars();
        let value = json!({
            "type": "result", "subtype": "success", "is_error": is_error,
            "api_error_status": status, "duration_ms": 1200, "duration_api_ms": 1100,
            "num_turns": 1, "result": text, "session_id": self.session_id,
            "total_cost_usd": cost, "usage": tokens.wire(),
            "modelUsage": {"claude-sonnet-4-5": {
                "inputTokens": tokens.input, "outputTokens": tokens.output,
                "cacheReadInputTokens": tokens.cache_read,
                "cacheCreationInputTokens": tokens.cache_write, "costUSD": cost,
            }},
            "permission_denials": [], "uuid": uuid(),
        });
        self.emit(&value)?;
        Ok(i32::from(is_error))
    }

    /// `--resume` of a session nobody started: Claude Code's error result
    /// under a new session id.
    pub(super) fn unknown_session(&mut self, id: &str) -> std::io::Result<i32> {
        let value = json!({
            "type": "result", "subtype": "error_during_execution", "is_error": true,
            "duration_ms": 0, "num_turns": 0, "session_id": uuid(), "total_cost_usd": 0,
            "usage": Tokens::default().wire(),
            "errors": [format!("No conversation found with session ID: {id}")],
        });
        self.emit(&value)?;
        Ok(1)
    }
}
