//! What `kage claude` reads from Claude Code's session transcripts
//! (`$CLAUDE_CONFIG_DIR/projects/<encoded cwd>/<session id>.jsonl`): a limit
//! the session hit, and the prompt of the turn it interrupted.
//!
//! [`TranscriptFeed`] is the small interface the session loop reads new
//! lines through; [`TranscriptTail`] is a minimal implementation (new bytes
//! of the folder's `*.jsonl` files since it started, by byte offset).
//! The `usage` work brings a full transcript reader; it can stand behind
//! the same interface.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use kage_domain::Outcome;
use kage_domain::signal::{ClassifyContext, Signal, classify};
use serde_json::Value;

/// One new transcript line, with the session (the file's stem) it belongs to.
#[derive(Clone, Debug)]
pub(crate) struct TranscriptLine {
    pub(crate) session_id: String,
    pub(crate) value: Value,
}

/// Where the session loop gets new transcript lines from.
pub(crate) trait TranscriptFeed {
    /// Lines appended since the last call (complete lines only).
    ///
    /// # Errors
    /// When the folder or a file cannot be read.
    fn poll(&mut self) -> io::Result<Vec<TranscriptLine>>;

    /// Forget what is there now: later polls return only lines written
    /// after this call.
    ///
    /// # Errors
    /// When the folder cannot be read.
    fn skip_existing(&mut self) -> io::Result<()>;
}

/// `$CLAUDE_CONFIG_DIR` (else `~/.claude`) `/projects/<cwd, every character
/// other than a letter or digit turned into '-'>`.
pub(crate) fn project_folder(config_dir: &Path, cwd: &Path) -> PathBuf {
    let encoded: String = cwd
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    config_dir.join("projects").join(encoded)
}

/// Claude Code's config folder for a child with this environment.
pub(crate) fn config_dir(lookup: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(dir) = lookup("CLAUDE_CONFIG_DIR").filter(|dir| !dir.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    lookup("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| Path::new(&home).join(".claude"))
}

/// New lines of the top-level `*.jsonl` files of one folder (subagent
/// transcripts in nested folders are not read: a limit there also ends the
/// main session's turn).
#[derive(Debug)]
pub(crate) struct TranscriptTail {
    folder: PathBuf,
    /// Bytes consumed per file (up to the end of the last complete line).
    offsets: HashMap<PathBuf, u64>,
}

impl TranscriptTail {
    /// A tail that starts at the end of what the folder holds now.
    pub(crate) fn new(folder: PathBuf) -> io::Result<Self> {
        let mut tail = Self {
            folder,
            offsets: HashMap::new(),
        };
        tail.skip_existing()?;
        Ok(tail)
    }

    fn files(&self) -> io::Result<Vec<(PathBuf, u64)>> {
        let entries = match std::fs::read_dir(&self.folder) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "jsonl") {
                let metadata = entry.metadata()?;
                if metadata.is_file() {
                    files.push((path, metadata.len()));
                }
            }
        }
        Ok(files)
    }
}

impl TranscriptFeed for TranscriptTail {
    fn poll(&mut self) -> io::Result<Vec<TranscriptLine>> {
        let mut lines = Vec::new();
        for (path, len) in self.files()? {
            let offset = self.offsets.get(&path).copied().unwrap_or(0);
            if len <= offset {
                continue;
            }
            let mut file = File::open(&path)?;
            file.seek(SeekFrom::Start(offset))?;
            let mut bytes = Vec::with_capacity(usize::try_from(len - offset).unwrap_or(0));
            file.take(len - offset).read_to_end(&mut bytes)?;
            // Only complete lines; a line still being written is read next time.
            let Some(end) = bytes.iter().rposition(|&byte| byte == b'\n') else {
                continue;
            };
            let session_id = path
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_default();
            for line in bytes[..end].split(|&byte| byte == b'\n') {
                if let Ok(value) = serde_json::from_slice::<Value>(line) {
                    lines.push(TranscriptLine {
                        session_id: session_id.clone(),
                        value,
                    });
                }
            }
            self.offsets.insert(path, offset + end as u64 + 1);
        }
        Ok(lines)
    }

    fn skip_existing(&mut self) -> io::Result<()> {
        self.offsets = self.files()?.into_iter().collect();
        Ok(())
    }
}

/// The limit a transcript line reports, as the classifier maps it: a
/// synthetic assistant message with `isApiErrorMessage` (or a top-level
/// `error`) whose text, status and error kind say the subscription cannot
/// go on. Other API errors (overloaded, server errors) are Claude Code's to
/// retry and return `None`.
pub(crate) fn limit_in_line(line: &Value, context: &ClassifyContext) -> Option<Outcome> {
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
    is_failover_outcome(&outcome).then_some(outcome)
}

/// Whether the session cannot go on on this subscription: a window limit,
/// a rate limit or a refused credential.
pub(crate) fn is_failover_outcome(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::QuotaExhausted { .. }
            | Outcome::RateLimited { .. }
            | Outcome::CredentialRejected { .. }
    )
}

/// The text a person typed, when the line is one: a `user` line of the main
/// conversation (not meta, not a sidechain, not a tool result, not a slash
/// command's bookkeeping).
pub(crate) fn typed_prompt(line: &Value) -> Option<String> {
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
    use std::io::Write as _;

    use jiff::Timestamp;
    use jiff::tz::TimeZone;

    use super::*;

    const SAMPLE: &str =
        include_str!("../../tests/fixtures/transcript-session-limit-2.1.197.jsonl");

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

    #[test]
    fn the_tail_reads_only_new_complete_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = dir.path().join("old.jsonl");
        std::fs::write(&old, "{\"type\":\"user\",\"n\":1}\n").expect("write");
        let mut tail = TranscriptTail::new(dir.path().to_path_buf()).expect("tail");
        assert!(tail.poll().expect("poll").is_empty());

        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&old)
            .expect("open");
        file.write_all(b"{\"n\":2}\n{\"n\":").expect("append");
        std::fs::write(dir.path().join("new.jsonl"), "{\"n\":10}\n").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "{\"n\":99}\n").expect("write");
        let mut seen: Vec<(String, u64)> = tail
            .poll()
            .expect("poll")
            .into_iter()
            .map(|line| (line.session_id, line.value["n"].as_u64().unwrap_or(0)))
            .collect();
        seen.sort();
        assert_eq!(seen, vec![("new".to_owned(), 10), ("old".to_owned(), 2)]);

        file.write_all(b"3}\n").expect("finish the line");
        let next: Vec<u64> = tail
            .poll()
            .expect("poll")
            .iter()
            .map(|line| line.value["n"].as_u64().unwrap_or(0))
            .collect();
        assert_eq!(next, vec![3]);

        file.write_all(b"{\"n\":4}\n").expect("append");
        tail.skip_existing().expect("skip");
        assert!(tail.poll().expect("poll").is_empty());
    }

    #[test]
    fn the_project_folder_encodes_the_working_directory() {
        let folder = project_folder(
            Path::new("/home/user/.claude"),
            Path::new("/home/user/my.project_x"),
        );
        assert_eq!(
            folder,
            Path::new("/home/user/.claude/projects/-home-user-my-project-x")
        );
        let lookup = |name: &str| match name {
            "HOME" => Some("/home/user".to_owned()),
            _ => None,
        };
        assert_eq!(
            config_dir(lookup),
            Some(PathBuf::from("/home/user/.claude"))
        );
        let with_dir = |name: &str| match name {
            "CLAUDE_CONFIG_DIR" => Some("/cfg".to_owned()),
            "HOME" => Some("/home/user".to_owned()),
            _ => None,
        };
        assert_eq!(config_dir(with_dir), Some(PathBuf::from("/cfg")));
    }
}
