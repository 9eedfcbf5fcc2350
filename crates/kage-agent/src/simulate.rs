//! A simulated Claude Code for the demo and the benchmark
//! (`kage-agent simulate-claude`, hidden).
//!
//! It takes Claude Code's arguments (`-p PROMPT --output-format stream-json
//! --verbose [--resume ID]`) and prints stream-json in the shapes of
//! `claude-code-signals.md`, with Claude Code's exit codes. What it does is
//! chosen by the credential it receives (`CLAUDE_CODE_OAUTH_TOKEN` or
//! `ANTHROPIC_API_KEY`): the demo's fake credentials look like
//! `sk-ant-oat01-kage-demo-<behaviour>-<random>`, where the behaviour is one
//! of
//!
//! | behaviour | what it does |
//! |---|---|
//! | `ok` | works for a moment and succeeds |
//! | `limit-after-N` | its first N runs succeed; later ones hit the 5-hour limit |
//! | `burst-on-N` | its N-th run keeps getting 429s (`api_retry`) |
//! | `reject` | the credential is refused (OAuth 401) |
//! | `warn` | succeeds near its limit (`allowed_warning`, 85 %) |
//! | `instant` | succeeds at once (for the benchmark) |
//!
//! Runs are counted per behaviour across processes in the folder given by
//! `--simulate-state DIR` or `KAGE_SIMULATE_STATE` (a file created
//! atomically per run), which also
//! keeps the sessions so that `--resume` of an unknown session fails as
//! Claude Code's does. The credential itself is never printed.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

/// The folder the simulator counts runs and keeps sessions in.
pub const STATE_VARIABLE: &str = "KAGE_SIMULATE_STATE";
/// How long an `ok` run takes, in milliseconds (default 1500).
pub const PACE_VARIABLE: &str = "KAGE_SIMULATE_PACE_MS";
/// The prefix of the demo's fake credentials.
pub const FAKE_PREFIX: &str = "kage-demo-";

/// What a simulated run does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Behaviour {
    Ok,
    LimitAfter(u32),
    BurstOn(u32),
    Reject,
    Warn,
    Instant,
}

impl Behaviour {
    /// Read the behaviour out of a fake credential; `None` for anything
    /// else.
    pub fn from_credential(credential: &str) -> Option<Self> {
        let start = credential.find(FAKE_PREFIX)? + FAKE_PREFIX.len();
        let rest = &credential[start..];
        let word = |prefix: &str| -> Option<u32> {
            rest.strip_prefix(prefix)?.split('-').next()?.parse().ok()
        };
        if rest.starts_with("ok") {
            Some(Self::Ok)
        } else if rest.starts_with("reject") {
            Some(Self::Reject)
        } else if rest.starts_with("warn") {
            Some(Self::Warn)
        } else if rest.starts_with("instant") {
            Some(Self::Instant)
        } else if let Some(n) = word("limit-after-") {
            Some(Self::LimitAfter(n))
        } else {
            word("burst-on-").map(Self::BurstOn)
        }
    }

    /// The key runs are counted under.
    fn key(self) -> String {
        match self {
            Self::Ok => "ok".to_owned(),
            Self::LimitAfter(n) => format!("limit-after-{n}"),
            Self::BurstOn(n) => format!("burst-on-{n}"),
            Self::Reject => "reject".to_owned(),
            Self::Warn => "warn".to_owned(),
            Self::Instant => "instant".to_owned(),
        }
    }

    /// A fake credential for this behaviour (`sk-ant-oat01-…`).
    pub fn fake_credential(self, nonce: &str) -> String {
        format!("sk-ant-oat01-{FAKE_PREFIX}{}-{nonce}", self.key())
    }
}

/// What the arguments asked for.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
struct Arguments {
    prompt: String,
    resume: Option<String>,
    stream_json: bool,
    verbose: bool,
    /// `--simulate-state DIR` (else `KAGE_SIMULATE_STATE`).
    state: Option<PathBuf>,
    /// `--simulate-pace-ms N` (else `KAGE_SIMULATE_PACE_MS`).
    pace_ms: Option<u64>,
}

fn parse_arguments(args: &[String]) -> Arguments {
    let mut parsed = Arguments::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-p" | "--print" => parsed.prompt = iter.next().cloned().unwrap_or_default(),
            "--resume" | "-r" => parsed.resume = iter.next().cloned(),
            "--output-format" => {
                parsed.stream_json = iter.next().is_some_and(|f| f == "stream-json")
            }
            "--verbose" => parsed.verbose = true,
            "--simulate-state" => parsed.state = iter.next().map(PathBuf::from),
            "--simulate-pace-ms" => parsed.pace_ms = iter.next().and_then(|n| n.parse().ok()),
            _ => {}
        }
    }
    parsed
}

/// Run the simulator: print its output to `out`, return its exit code.
pub fn simulate(args: &[String], out: &mut impl Write) -> i32 {
    let arguments = parse_arguments(args);
    let credential = std::env::var("CLAUDE_CODE_OAUTH_TOKEN")
        .or_else(|_| std::env::var("ANTHROPIC_API_KEY"))
        .ok();
    let state = arguments
        .state
        .clone()
        .or_else(|| std::env::var_os(STATE_VARIABLE).map(PathBuf::from));
    let pace = arguments
        .pace_ms
        .or_else(|| {
            std::env::var(PACE_VARIABLE)
                .ok()
                .and_then(|value| value.parse().ok())
        })
        .unwrap_or(1500);
    let mut run = Run {
        out,
        session_id: String::new(),
        state,
        pace: Duration::from_millis(pace),
    };
    run.execute(&arguments, credential.as_deref()).unwrap_or(1)
}

struct Run<'a, W: Write> {
    out: &'a mut W,
    session_id: String,
    state: Option<PathBuf>,
    pace: Duration,
}

impl<W: Write> Run<'_, W> {
    /// One line. A closed pipe ends the simulation, as it ends Claude Code.
    fn emit(&mut self, value: &Value) -> std::io::Result<()> {
        writeln!(self.out, "{value}")?;
        self.out.flush()
    }

    fn uuid() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    fn init(&mut self) -> std::io::Result<()> {
        let cwd = std::env::current_dir()
            .map(|cwd| cwd.display().to_string())
            .unwrap_or_default();
        let value = json!({
            "type": "system", "subtype": "init", "cwd": cwd,
            "session_id": self.session_id, "tools": ["Bash", "Read", "Edit"],
            "mcp_servers": [], "model": "claude-sonnet-4-5", "permissionMode": "default",
            "apiKeySource": "none", "uuid": Self::uuid(),
        });
        self.emit(&value)?;
        Ok(())
    }

    fn rate_limit(
        &mut self,
        status: &str,
        utilization: Option<f64>,
        resets_in: i64,
    ) -> std::io::Result<()> {
        let mut info = json!({
            "status": status, "resetsAt": now_epoch() + resets_in,
            "rateLimitType": "five_hour", "isUsingOverage": false,
        });
        if let Some(utilization) = utilization {
            info["utilization"] = json!(utilization);
            info["surpassedThreshold"] = json!(0.8);
        }
        let value = json!({
            "type": "rate_limit_event", "rate_limit_info": info,
            "uuid": Self::uuid(), "session_id": self.session_id,
        });
        self.emit(&value)?;
        Ok(())
    }

    fn assistant(
        &mut self,
        message: usize,
        text: &str,
        input: u64,
        output: u64,
    ) -> std::io::Result<()> {
        let value = json!({
            "type": "assistant",
            "message": {
                "id": format!("msg_sim_{}_{message}", &self.session_id[..8]),
                "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": text}],
                "stop_reason": null,
                "usage": {
                    "input_tokens": input, "output_tokens": output,
                    "cache_creation_input_tokens": 200, "cache_read_input_tokens": 1500,
                },
            },
            "parent_tool_use_id": null, "session_id": self.session_id, "uuid": Self::uuid(),
        });
        self.emit(&value)?;
        Ok(())
    }

    fn synthetic(&mut self, error: &str, text: &str) -> std::io::Result<()> {
        let value = json!({
            "type": "assistant",
            "message": {
                "id": Self::uuid(), "model": "<synthetic>", "role": "assistant",
                "type": "message", "stop_reason": "stop_sequence",
                "content": [{"type": "text", "text": text}],
                "usage": {"input_tokens": 0, "output_tokens": 0,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
            },
            "parent_tool_use_id": null, "session_id": self.session_id,
            "uuid": Self::uuid(), "error": error,
        });
        self.emit(&value)?;
        Ok(())
    }

    fn result(
        &mut self,
        status: Option<u16>,
        text: &str,
        usage: (u64, u64),
        cost: f64,
    ) -> std::io::Result<i32> {
        let is_error = status.is_some() || text.starts_with("API Error");
        let (input, output) = usage;
        let (cache_write, cache_read) = if input + output == 0 {
            (0, 0)
        } else {
            (200, 1500)
        };
        let value = json!({
            "type": "result", "subtype": "success", "is_error": is_error,
            "api_error_status": status, "duration_ms": 1200, "duration_api_ms": 1100,
            "num_turns": 1, "result": text, "session_id": self.session_id,
            "total_cost_usd": cost,
            "usage": {
                "input_tokens": input, "output_tokens": output,
                "cache_creation_input_tokens": cache_write, "cache_read_input_tokens": cache_read,
                "server_tool_use": {"web_search_requests": 0},
            },
            "modelUsage": {"claude-sonnet-4-5": {
                "inputTokens": input, "outputTokens": output,
                "cacheReadInputTokens": cache_read, "cacheCreationInputTokens": cache_write,
                "costUSD": cost,
            }},
            "permission_denials": [], "uuid": Self::uuid(),
        });
        self.emit(&value)?;
        Ok(i32::from(is_error))
    }

    fn sessions_dir(&self) -> Option<PathBuf> {
        self.state.as_ref().map(|state| state.join("sessions"))
    }

    /// Count this run of `key`: 1 for the first run ever, and so on.
    fn count_run(&self, key: &str) -> u32 {
        let Some(state) = &self.state else { return 1 };
        let _ = std::fs::create_dir_all(state);
        (1..10_000)
            .find(|n| {
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(state.join(format!("run-{key}-{n}")))
                    .is_ok()
            })
            .unwrap_or(10_000)
    }

    fn execute(&mut self, arguments: &Arguments, credential: Option<&str>) -> std::io::Result<i32> {
        if !arguments.stream_json || !arguments.verbose {
            writeln!(
                self.out,
                "Error: the simulator speaks only --output-format stream-json --verbose"
            )?;
            return Ok(1);
        }
        // Resume: the same session id, if the session is known.
        match &arguments.resume {
            Some(id) => {
                self.session_id = id.clone();
                let known = self
                    .sessions_dir()
                    .is_none_or(|dir| session_exists(&dir, id));
                if !known {
                    self.session_id = Self::uuid();
                    let value = json!({
                        "type": "result", "subtype": "error_during_execution", "is_error": true,
                        "duration_ms": 0, "num_turns": 0, "session_id": self.session_id,
                        "total_cost_usd": 0, "usage": {"input_tokens": 0, "output_tokens": 0},
                        "errors": [format!("No conversation found with session ID: {id}")],
                    });
                    self.emit(&value)?;
                    return Ok(1);
                }
            }
            None => {
                self.session_id = Self::uuid();
                if let Some(dir) = self.sessions_dir() {
                    let _ = std::fs::create_dir_all(&dir);
                    let _ = std::fs::write(dir.join(&self.session_id), "");
                }
            }
        }
        self.init()?;
        let Some(behaviour) = credential.and_then(Behaviour::from_credential) else {
            let text = if credential.is_none() {
                "Not logged in · Please run /login"
            } else {
                "Invalid API key · Fix external API key"
            };
            return self.result(None, text, (0, 0), 0.0);
        };
        let run = self.count_run(&behaviour.key());
        let words = arguments.prompt.split_whitespace().count() as u64;
        match behaviour {
            Behaviour::Reject => {
                let retry = json!({
                    "type": "system", "subtype": "api_retry", "attempt": 1, "max_retries": 10,
                    "retry_delay_ms": 600, "error_status": 401, "error": "authentication_failed",
                    "session_id": self.session_id, "uuid": Self::uuid(),
                });
                self.emit(&retry)?;
                std::thread::sleep(self.pace / 4);
                let text = "Failed to authenticate. API Error: 401 Invalid bearer token";
                self.synthetic("authentication_failed", text)?;
                self.result(Some(401), text, (0, 0), 0.0)
            }
            Behaviour::LimitAfter(n) if run > n => {
                let resets_in = 5 * 3600;
                self.rate_limit("rejected", None, resets_in)?;
                let reset = jiff::Timestamp::from_second(now_epoch() + resets_in)
                    .map(|at| at.strftime("%-I:%M%P").to_string())
                    .unwrap_or_default();
                let text = format!("You've hit your 5-hour limit · resets {reset} (UTC)");
                self.synthetic("rate_limit", &text)?;
                self.result(Some(429), &text, (0, 0), 0.0)
            }
            Behaviour::BurstOn(n) if run == n => {
                self.rate_limit("allowed", None, 5 * 3600)?;
                self.assistant(1, "Reading the code first.", 40 + words, 25)?;
                for attempt in 1..=10 {
                    std::thread::sleep(self.pace / 6);
                    let retry = json!({
                        "type": "system", "subtype": "api_retry", "attempt": attempt,
                        "max_retries": 10, "retry_delay_ms": 500 * attempt,
                        "error_status": 429, "error": "rate_limit",
                        "session_id": self.session_id, "uuid": Self::uuid(),
                    });
                    self.emit(&retry)?;
                }
                let text = "API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited";
                self.synthetic("rate_limit", text)?;
                self.result(Some(429), text, (40 + words, 25), 0.0004)
            }
            Behaviour::Instant => {
                self.assistant(1, "Done.", 10 + words, 5)?;
                self.result(None, "Done.", (10 + words, 5), 0.0001)
            }
            Behaviour::Ok | Behaviour::Warn | Behaviour::LimitAfter(_) | Behaviour::BurstOn(_) => {
                let (utilization, status) = if behaviour == Behaviour::Warn {
                    (Some(0.85), "allowed_warning")
                } else {
                    (None, "allowed")
                };
                self.rate_limit(status, utilization, 5 * 3600)?;
                let steps = 3;
                let mut input = 0;
                let mut output = 0;
                for step in 1..=steps {
                    std::thread::sleep(self.pace / steps);
                    let step_input = 120 + words * 3 + u64::from(step) * 7;
                    let step_output = 60 + u64::from(step) * 11;
                    input += step_input;
                    output += step_output;
                    let text = match step {
                        1 => "Reading the code.",
                        2 => "Making the change.",
                        _ => "Running the tests.",
                    };
                    self.assistant(step as usize, text, step_input, step_output)?;
                }
                let cost = (input as f64 * 3.0 + output as f64 * 15.0) / 1_000_000.0;
                let summary: String = arguments.prompt.chars().take(60).collect();
                self.result(None, &format!("Done: {summary}"), (input, output), cost)
            }
        }
    }
}

fn session_exists(dir: &Path, id: &str) -> bool {
    !id.contains('/') && dir.join(id).is_file()
}

/// The simulator stands for Claude Code, which reads the real time.
fn now_epoch() -> i64 {
    use kage_ports::Clock;
    kage_ports::SystemClock.now().as_second()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::watch::{AttemptWatch, Exit, Next, WatchSettings};
    use kage_domain::signal::ClassifyContext;

    #[test]
    fn behaviour_round_trips_through_the_fake_credential() {
        for behaviour in [
            Behaviour::Ok,
            Behaviour::LimitAfter(3),
            Behaviour::BurstOn(2),
            Behaviour::Reject,
            Behaviour::Warn,
            Behaviour::Instant,
        ] {
            let credential = behaviour.fake_credential("abc123");
            assert!(credential.starts_with("sk-ant-oat01-"));
            assert_eq!(Behaviour::from_credential(&credential), Some(behaviour));
        }
        assert_eq!(Behaviour::from_credential("sk-ant-oat01-real"), None);
    }

    #[test]
    fn arguments_like_claude_code() {
        let args: Vec<String> = [
            "-p",
            "do it",
            "--output-format",
            "stream-json",
            "--verbose",
            "--resume",
            "s-1",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            parse_arguments(&args),
            Arguments {
                prompt: "do it".into(),
                resume: Some("s-1".into()),
                stream_json: true,
                verbose: true,
                state: None,
                pace_ms: None,
            }
        );
    }

    /// The simulator's output, read by the real watch, means what the
    /// behaviour says. Runs in this process: the simulator reads no
    /// credential from here, so each case goes through `Run::execute`.
    fn watch_run(behaviour: Behaviour, runs_before: u32) -> crate::run::watch::AttemptEnd {
        let state = tempfile::tempdir().unwrap();
        for n in 1..=runs_before {
            std::fs::write(
                state.path().join(format!("run-{}-{n}", behaviour.key())),
                "",
            )
            .unwrap();
        }
        let mut out = Vec::new();
        let mut run = Run {
            out: &mut out,
            session_id: String::new(),
            state: Some(state.path().to_owned()),
            pace: Duration::from_millis(3),
        };
        let arguments = Arguments {
            prompt: "fix it".into(),
            stream_json: true,
            verbose: true,
            ..Arguments::default()
        };
        let code = run
            .execute(&arguments, Some(&behaviour.fake_credential("n")))
            .unwrap();
        let mut watch = AttemptWatch::new(WatchSettings { max_api_retries: 2 }, None);
        let context = ClassifyContext::new(jiff::Timestamp::UNIX_EPOCH, jiff::tz::TimeZone::UTC);
        for line in String::from_utf8(out).unwrap().lines() {
            watch.observe(line, &context);
        }
        watch.finish(Exit::Code(code))
    }

    #[test]
    fn each_behaviour_reads_as_intended() {
        let end = watch_run(Behaviour::Ok, 0);
        assert_eq!(end.next, Next::Done);
        assert!(end.usage.total_tokens() > 0 && end.usage.cost_micros_usd.unwrap() > 0);

        assert_eq!(watch_run(Behaviour::LimitAfter(2), 1).next, Next::Done);
        let end = watch_run(Behaviour::LimitAfter(2), 2);
        assert!(matches!(
            end.outcome,
            kage_domain::Outcome::QuotaExhausted { .. }
        ));
        assert_eq!(end.next, Next::Failover);

        let end = watch_run(Behaviour::BurstOn(1), 0);
        assert!(matches!(
            end.outcome,
            kage_domain::Outcome::RateLimited { .. }
        ));
        assert_eq!(watch_run(Behaviour::BurstOn(1), 1).next, Next::Done);

        let end = watch_run(Behaviour::Reject, 0);
        assert!(matches!(
            end.outcome,
            kage_domain::Outcome::CredentialRejected { .. }
        ));

        let end = watch_run(Behaviour::Instant, 0);
        assert_eq!(end.next, Next::Done);
    }
}
