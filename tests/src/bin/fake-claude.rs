//! A fake Claude Code for Kage's end-to-end tests.
//!
//! It takes Claude Code's arguments (`-p PROMPT --output-format stream-json
//! --verbose [--resume SESSION_ID]`) and prints stream-json and exit codes
//! as `claude-code-signals.md` documents them. What it does is scripted by
//! the credential it receives (`CLAUDE_CODE_OAUTH_TOKEN` or
//! `ANTHROPIC_API_KEY`, exactly one of which must be set), of the form
//! `sk-ant-…-fake-<script>-<anything>`:
//!
//! | script | behaviour |
//! |---|---|
//! | `ok` | two assistant messages, a successful result |
//! | `limit-after-N` | the first N runs are `ok`; later ones get a `rate_limit_event` `rejected` (five_hour, `resetsAt`) and the limit text, exit 1 |
//! | `burst` | an assistant message, then `api_retry` 429 `rate_limit` ten times (Claude Code with an API key), then the 429 result, exit 1 |
//! | `reject` | OAuth 401: one `api_retry` 401 `authentication_failed`, then "Failed to authenticate", exit 1 |
//! | `overloaded-once` | the first run: `api_retry` 529 twice, then "529 Overloaded", exit 1; later runs `ok` |
//! | `slow` | an assistant message, then a line every 100 ms for a minute |
//! | `crash-once` | the first run: an assistant message, then it aborts (SIGABRT); later runs `ok` |
//!
//! A resumed run (`--resume ID`) keeps the session id, and fails as Claude
//! Code does when the session is unknown.
//!
//! For the test to check, every run appends one JSON line to the file named
//! by `FAKE_CLAUDE_LOG`: its pid, script and run number, its arguments with
//! the prompt replaced by `<prompt>`, the **names** (never the values) of
//! the Anthropic and Kage variables it saw, `KAGE_SUBSCRIPTION`, its working
//! directory, its session, the session it resumed, and the usage it reports
//! (written before it prints, counting only what it prints before a
//! stopping signal). Runs are counted per script in `FAKE_CLAUDE_STATE`.
#![allow(
    clippy::print_stdout,
    reason = "a fake agent's job is to print stream-json"
)]

use std::cell::Cell;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

const CREDENTIAL_VARIABLES: [&str; 3] = [
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
];

#[derive(Clone, Copy, Default)]
struct Usage {
    input: u64,
    output: u64,
    cache_write: u64,
    cache_read: u64,
    cost_micros: u64,
}

impl Usage {
    fn add(self, other: Usage) -> Usage {
        Usage {
            input: self.input + other.input,
            output: self.output + other.output,
            cache_write: self.cache_write + other.cache_write,
            cache_read: self.cache_read + other.cache_read,
            cost_micros: self.cost_micros + other.cost_micros,
        }
    }

    fn json(self) -> Value {
        json!({
            "input_tokens": self.input, "output_tokens": self.output,
            "cache_creation_input_tokens": self.cache_write, "cache_read_input_tokens": self.cache_read,
        })
    }
}

struct Fake {
    session_id: String,
    pace: Duration,
    /// Standard output is closed: the reader (Kage) stopped or died.
    closed: Cell<bool>,
}

impl Fake {
    fn print(&self, value: &Value) {
        if self.closed.get() {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "{value}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            self.closed.set(true);
        }
    }

    fn init(&self) {
        self.print(&json!({
            "type": "system", "subtype": "init", "cwd": cwd(), "session_id": self.session_id,
            "tools": ["Bash", "Edit", "Read"], "mcp_servers": [], "model": "claude-sonnet-4-5",
            "permissionMode": "default", "apiKeySource": "none", "uuid": uuid(),
        }));
    }

    fn message(&self, id: &str, usage: Usage) {
        self.print(&json!({
            "type": "assistant",
            "message": {
                "id": id, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": "Working on it."}],
                "stop_reason": null, "usage": usage.json(),
            },
            "parent_tool_use_id": null, "session_id": self.session_id, "uuid": uuid(),
        }));
    }

    fn retry(&self, attempt: u32, status: u16, error: &str) {
        self.print(&json!({
            "type": "system", "subtype": "api_retry", "attempt": attempt, "max_retries": 10,
            "retry_delay_ms": 500, "error_status": status, "error": error,
            "session_id": self.session_id, "uuid": uuid(),
        }));
    }

    fn synthetic(&self, error: &str, text: &str) {
        self.print(&json!({
            "type": "assistant",
            "message": {
                "id": uuid(), "model": "<synthetic>", "role": "assistant", "type": "message",
                "content": [{"type": "text", "text": text}], "usage": Usage::default().json(),
            },
            "parent_tool_use_id": null, "session_id": self.session_id, "uuid": uuid(),
            "error": error,
        }));
    }

    /// The `result` line; returns the exit code Claude Code would use.
    fn result(&self, is_error: bool, status: Option<u16>, text: &str, usage: Usage) -> i32 {
        let cost = usage.cost_micros as f64 / 1_000_000.0;
        self.print(&json!({
            "type": "result", "subtype": "success", "is_error": is_error,
            "api_error_status": status, "duration_ms": 300, "duration_api_ms": 250,
            "num_turns": 1, "result": text, "session_id": self.session_id,
            "total_cost_usd": cost, "usage": usage.json(),
            "modelUsage": {"claude-sonnet-4-5": {
                "inputTokens": usage.input, "outputTokens": usage.output,
                "cacheReadInputTokens": usage.cache_read,
                "cacheCreationInputTokens": usage.cache_write, "costUSD": cost,
            }},
            "permission_denials": [], "uuid": uuid(),
        }));
        i32::from(is_error)
    }

    fn ok(&self) -> i32 {
        let first = Usage {
            input: 100,
            output: 50,
            cache_write: 20,
            cache_read: 300,
            cost_micros: 0,
        };
        let second = Usage {
            input: 120,
            output: 80,
            cache_write: 0,
            cache_read: 400,
            cost_micros: 0,
        };
        self.rate_limit("allowed", None);
        std::thread::sleep(self.pace);
        let id = format!("msg_{}", uuid());
        self.message(&id, first);
        // A streamed message repeats its usage on every content block.
        self.message(&id, first);
        std::thread::sleep(self.pace);
        self.message(&format!("msg_{}", uuid()), second);
        let total = Usage {
            cost_micros: 2_500,
            ..first.add(second)
        };
        self.result(false, None, "Done.", total)
    }

    fn rate_limit(&self, status: &str, resets_at: Option<i64>) {
        self.print(&json!({
            "type": "rate_limit_event",
            "rate_limit_info": {
                "status": status, "resetsAt": resets_at.unwrap_or_else(|| now() + 5 * 3600),
                "rateLimitType": "five_hour", "isUsingOverage": false,
            },
            "uuid": uuid(), "session_id": self.session_id,
        }));
    }
}

/// What `ok` reports.
const OK_USAGE: Usage = Usage {
    input: 220,
    output: 130,
    cache_write: 20,
    cache_read: 700,
    cost_micros: 2_500,
};
const PARTIAL_USAGE: Usage = Usage {
    input: 100,
    output: 50,
    cache_write: 20,
    cache_read: 300,
    cost_micros: 0,
};

#[allow(
    clippy::disallowed_methods,
    reason = "the fake stands for Claude Code, which reads the real time"
)]
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn cwd() -> String {
    std::env::current_dir()
        .map(|dir| dir.display().to_string())
        .unwrap_or_default()
}

/// Count a run of `script`: 1 for its first run, and so on.
fn count_run(state: &Option<PathBuf>, script: &str) -> u32 {
    let Some(state) = state else { return 1 };
    let _ = std::fs::create_dir_all(state);
    (1..100_000)
        .find(|n| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(state.join(format!("run-{script}-{n}")))
                .is_ok()
        })
        .unwrap_or(0)
}

fn log(entry: &Value) {
    let Some(path) = std::env::var_os("FAKE_CLAUDE_LOG") else {
        return;
    };
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = file.write_all(format!("{entry}\n").as_bytes());
    }
}

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(u8::try_from(run()).unwrap_or(1))
}

fn run() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut prompt = None;
    let mut resume = None;
    let mut shown_args = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        shown_args.push(arg.clone());
        match arg.as_str() {
            "-p" | "--print" => {
                prompt = iter.next().cloned();
                shown_args.push("<prompt>".to_owned());
            }
            "--resume" => {
                resume = iter.next().cloned();
                shown_args.push(resume.clone().unwrap_or_default());
            }
            _ => {}
        }
    }
    let stream_json = args
        .windows(2)
        .any(|w| w[0] == "--output-format" && w[1] == "stream-json");
    if !stream_json || !args.iter().any(|a| a == "--verbose") {
        println!("Error: When using --print, --output-format=stream-json requires --verbose");
        return 1;
    }
    let state = std::env::var_os("FAKE_CLAUDE_STATE").map(PathBuf::from);
    let pace = Duration::from_millis(
        std::env::var("FAKE_CLAUDE_PACE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(50),
    );
    let set: Vec<(&str, String)> = CREDENTIAL_VARIABLES
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| (*name, value)))
        .collect();
    let mut env_names: Vec<String> = std::env::vars()
        .map(|(name, _)| name)
        .filter(|name| {
            name.starts_with("ANTHROPIC_")
                || name.starts_with("CLAUDE_CODE_")
                || name.starts_with("KAGE_")
        })
        .collect();
    env_names.sort();
    let credential = match set.as_slice() {
        [(_, value)] => Some(value.clone()),
        _ => None,
    };
    let script = credential
        .as_deref()
        .and_then(|value| value.split("-fake-").nth(1))
        .map(|rest| {
            // `limit-after-2-x` → `limit-after-2`; `ok-x` → `ok`.
            let parts: Vec<&str> = rest.split('-').collect();
            match parts.as_slice() {
                ["limit", "after", n, ..] => format!("limit-after-{n}"),
                ["overloaded", "once", ..] => "overloaded-once".to_owned(),
                ["crash", "once", ..] => "crash-once".to_owned(),
                [first, ..] => (*first).to_owned(),
                [] => String::new(),
            }
        })
        .unwrap_or_else(|| "none".to_owned());

    let sessions = state.as_ref().map(|state| state.join("sessions"));
    let session_id = match &resume {
        Some(id) => id.clone(),
        None => uuid(),
    };
    let known_session = match (&resume, &sessions) {
        (Some(id), Some(dir)) => dir.join(id).is_file(),
        _ => true,
    };
    if resume.is_none()
        && let Some(dir) = &sessions
    {
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::write(dir.join(&session_id), "");
    }
    let run = count_run(&state, &script);
    let fake = Fake {
        session_id,
        pace,
        closed: Cell::new(false),
    };

    // What this run reports, decided before printing anything.
    let (plan, reported, resets_at) = if !known_session {
        ("unknown-session", Usage::default(), None)
    } else {
        match script.as_str() {
            "ok" => ("ok", OK_USAGE, None),
            s if s.starts_with("limit-after-") => {
                let limit: u32 = s["limit-after-".len()..].parse().unwrap_or(0);
                if run <= limit {
                    ("ok", OK_USAGE, None)
                } else {
                    ("limit", Usage::default(), Some(now() + 5 * 3600))
                }
            }
            "burst" => ("burst", PARTIAL_USAGE, None),
            "reject" => ("reject", Usage::default(), None),
            "overloaded-once" if run == 1 => ("overloaded", Usage::default(), None),
            "overloaded-once" => ("ok", OK_USAGE, None),
            "slow" => ("slow", PARTIAL_USAGE, None),
            "crash-once" if run == 1 => ("crash", PARTIAL_USAGE, None),
            "crash-once" => ("ok", OK_USAGE, None),
            _ => ("bad-credential", Usage::default(), None),
        }
    };
    log(&json!({
        "pid": std::process::id(),
        "script": script,
        "run": run,
        "plan": plan,
        "args": shown_args,
        "prompt_words": prompt.as_deref().map(|p| p.split_whitespace().count()),
        "env_names": env_names,
        "credential_variables": set.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        "subscription": std::env::var("KAGE_SUBSCRIPTION").ok(),
        "lease_id": std::env::var("KAGE_LEASE_ID").ok(),
        "cwd": cwd(),
        "session_id": fake.session_id,
        "resumed": resume,
        "reported": {
            "input_tokens": reported.input, "output_tokens": reported.output,
            "cache_write_tokens": reported.cache_write, "cache_read_tokens": reported.cache_read,
            "cost_micros_usd": reported.cost_micros,
        },
        "resets_at": resets_at,
    }));

    if !known_session {
        let id = resume.unwrap_or_default();
        fake.print(&json!({
            "type": "result", "subtype": "error_during_execution", "is_error": true,
            "duration_ms": 0, "num_turns": 0, "session_id": uuid(), "total_cost_usd": 0,
            "usage": Usage::default().json(),
            "errors": [format!("No conversation found with session ID: {id}")],
        }));
        return 1;
    }
    fake.init();
    match plan {
        "ok" => fake.ok(),
        "limit" => {
            fake.rate_limit("rejected", resets_at);
            let text = "You've hit your 5-hour limit · resets 10:52pm (UTC)";
            fake.synthetic("rate_limit", text);
            fake.result(true, Some(429), text, Usage::default())
        }
        "burst" => {
            fake.message(&format!("msg_{}", uuid()), PARTIAL_USAGE);
            for attempt in 1..=10 {
                fake.retry(attempt, 429, "rate_limit");
                std::thread::sleep(fake.pace);
            }
            let text = "API Error: Request rejected (429) · Rate limited";
            fake.synthetic("rate_limit", text);
            fake.result(true, Some(429), text, PARTIAL_USAGE)
        }
        "reject" => {
            fake.retry(1, 401, "authentication_failed");
            std::thread::sleep(fake.pace);
            let text = "Failed to authenticate. API Error: 401 Invalid bearer token";
            fake.synthetic("authentication_failed", text);
            fake.result(true, Some(401), text, Usage::default())
        }
        "overloaded" => {
            fake.retry(1, 529, "overloaded");
            fake.retry(2, 529, "overloaded");
            // A synthetic error: no HTTP status in the result.
            let text = "API Error: Repeated 529 Overloaded errors. The API is overloaded.";
            fake.synthetic("overloaded", text);
            fake.result(true, None, text, Usage::default())
        }
        "slow" => {
            fake.message(&format!("msg_{}", uuid()), PARTIAL_USAGE);
            for _ in 0..600 {
                std::thread::sleep(Duration::from_millis(100));
                fake.print(&json!({"type": "stream_event", "event": {"type": "ping"}, "session_id": fake.session_id}));
                if fake.closed.get() {
                    // Like Claude Code, end when nobody reads any more.
                    return 1;
                }
            }
            fake.result(false, None, "Done slowly.", PARTIAL_USAGE)
        }
        "crash" => {
            fake.message(&format!("msg_{}", uuid()), PARTIAL_USAGE);
            std::thread::sleep(fake.pace);
            std::process::abort();
        }
        _ => fake.result(
            true,
            None,
            if credential.is_none() {
                "Not logged in · Please run /login"
            } else {
                "Invalid API key · Fix external API key"
            },
            Usage::default(),
        ),
    }
}
