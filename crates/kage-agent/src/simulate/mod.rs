//! The one simulated Claude Code, run as `kage-agent simulate-claude`
//! (hidden) by the demo, the benchmark and the end-to-end tests.
//!
//! It takes Claude Code's arguments (`-p PROMPT --output-format stream-json
//! --verbose [--resume ID]`) and prints stream-json in the shapes of
//! `claude-code-signals.md`, with Claude Code's exit codes. What it does is
//! scripted by the credential it receives (exactly one of
//! `CLAUDE_CODE_OAUTH_TOKEN`, `ANTHROPIC_API_KEY`, `ANTHROPIC_AUTH_TOKEN`),
//! of the form `sk-ant-…-fake-<script>-<anything>` ([`Behaviour`]):
//!
//! | script | what it does |
//! |---|---|
//! | `ok` | three assistant messages over the pace (the first streamed twice, same id), a successful result |
//! | `limit-after-N` | the first N runs are `ok`; later ones get a `rate_limit_event` `rejected` (five_hour, `resetsAt`) and the limit text, exit 1 |
//! | `burst` | a message, then `api_retry` 429 `rate_limit` ten times, then the 429 result, exit 1 |
//! | `burst-on-N` | the N-th run is a `burst`, the others `ok` |
//! | `reject` | OAuth 401: one `api_retry` 401 `authentication_failed`, then "Failed to authenticate", exit 1 |
//! | `warn` | `ok`, near its limit (`allowed_warning`, 85 %) |
//! | `instant` | one message and success at once (the benchmark) |
//! | `overloaded-once` | the first run: `api_retry` 529 twice, then "529 Overloaded", exit 1; later runs `ok` |
//! | `slow` | a message, then a ping every 100 ms for a minute; it ends when its output is closed |
//! | `crash-once` | the first run: a message, then it aborts (SIGABRT); later runs `ok` |
//!
//! Without a fake credential it answers as Claude Code does when logged out
//! or given a bad key. A resumed run (`--resume ID`) keeps the session id,
//! and fails as Claude Code does when the session is unknown.
//!
//! Settings come from the environment (or the flags, which win):
//! - `KAGE_SIMULATE_STATE` (`--simulate-state DIR`): the folder runs are
//!   counted in per script (a file created atomically per run) and sessions
//!   kept; without it every run is a first run and every session is known;
//! - `KAGE_SIMULATE_PACE_MS` (`--simulate-pace-ms N`): how long an `ok` run
//!   takes (default 1500);
//! - `KAGE_SIMULATE_LOG`: a file every run appends one JSON line to, for
//!   tests to check: its pid, script, run number and plan, its arguments with
//!   the prompt replaced by `<prompt>`, the **names** (never the values) of
//!   the Anthropic and Kage variables it saw, `KAGE_SUBSCRIPTION`,
//!   `KAGE_LEASE_ID`, its working directory, its session, the session it
//!   resumed, and the usage it reports (written before it prints, counting
//!   only what it prints before a stopping signal);
//! - `KAGE_SIMULATE_WRITE` (a path, relative to the working directory): the
//!   agent's edit. Every run with a fake credential and a known session
//!   appends `<session id> run <n> <plan>: <prompt on one line>` to it
//!   (making its folder) before it logs or prints anything, the limited
//!   ones included: a failed-over task's next attempt finds it. The log line
//!   carries what the file held before the run appended (`write_found`,
//!   `null` when there was no file), so a test sees what a resumed attempt
//!   found in its working directory.
//!
//! The credential itself is never printed or logged.

mod behaviour;
mod speech;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use self::behaviour::Plan;
pub use self::behaviour::{Behaviour, MARKER};
use self::speech::{Speaker, Tokens, uuid};

/// The folder the simulator counts runs and keeps sessions in.
pub const STATE_VARIABLE: &str = "KAGE_SIMULATE_STATE";
/// How long an `ok` run takes, in milliseconds (default 1500).
pub const PACE_VARIABLE: &str = "KAGE_SIMULATE_PACE_MS";
/// The file every run appends its JSON log line to.
pub const LOG_VARIABLE: &str = "KAGE_SIMULATE_LOG";
/// A file (relative to the working directory) every run that gets to work
/// appends a line to, as an agent's edit.
pub const WRITE_VARIABLE: &str = "KAGE_SIMULATE_WRITE";
/// The variables Claude Code reads a credential from.
pub const CREDENTIAL_VARIABLES: [&str; 3] = [
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
];

/// What the arguments asked for.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
struct Arguments {
    prompt: Option<String>,
    resume: Option<String>,
    stream_json: bool,
    verbose: bool,
    /// `--simulate-state DIR`.
    state: Option<PathBuf>,
    /// `--simulate-pace-ms N`.
    pace_ms: Option<u64>,
    /// The arguments as the log shows them (the prompt masked).
    shown: Vec<String>,
}

fn parse_arguments(args: &[String]) -> Arguments {
    let mut parsed = Arguments::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        parsed.shown.push(arg.clone());
        match arg.as_str() {
            "-p" | "--print" => {
                parsed.prompt = iter.next().cloned();
                parsed.shown.push("<prompt>".to_owned());
            }
            "--resume" | "-r" => {
                parsed.resume = iter.next().cloned();
                parsed.shown.push(parsed.resume.clone().unwrap_or_default());
            }
            "--output-format" => {
                let format = iter.next();
                parsed.stream_json = format.is_some_and(|f| f == "stream-json");
                parsed.shown.extend(format.cloned());
            }
            "--verbose" => parsed.verbose = true,
            "--simulate-state" => parsed.state = iter.next().map(PathBuf::from),
            "--simulate-pace-ms" => parsed.pace_ms = iter.next().and_then(|n| n.parse().ok()),
            _ => {}
        }
    }
    parsed
}

/// What the run reads from its environment.
#[derive(Clone, Debug, Default)]
struct Surroundings {
    /// The credential variables that are set, with their values.
    credentials: Vec<(&'static str, String)>,
    /// The names of the `ANTHROPIC_*`, `CLAUDE_CODE_*` and `KAGE_*` variables.
    env_names: Vec<String>,
    subscription: Option<String>,
    lease_id: Option<String>,
    state: Option<PathBuf>,
    pace: Duration,
    log: Option<PathBuf>,
    write: Option<PathBuf>,
    cwd: String,
}

impl Surroundings {
    fn from_process(arguments: &Arguments) -> Self {
        let credentials = CREDENTIAL_VARIABLES
            .iter()
            .filter_map(|name| std::env::var(name).ok().map(|value| (*name, value)))
            .collect();
        let mut env_names: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .filter(|name| {
                name.starts_with("ANTHROPIC_")
                    || name.starts_with("CLAUDE_CODE_")
                    || name.starts_with("KAGE_")
            })
            .collect();
        env_names.sort();
        let pace_ms = arguments
            .pace_ms
            .or_else(|| std::env::var(PACE_VARIABLE).ok()?.parse().ok())
            .unwrap_or(1500);
        Self {
            credentials,
            env_names,
            subscription: std::env::var("KAGE_SUBSCRIPTION").ok(),
            lease_id: std::env::var("KAGE_LEASE_ID").ok(),
            state: arguments
                .state
                .clone()
                .or_else(|| std::env::var_os(STATE_VARIABLE).map(PathBuf::from)),
            pace: Duration::from_millis(pace_ms),
            log: std::env::var_os(LOG_VARIABLE).map(PathBuf::from),
            write: std::env::var_os(WRITE_VARIABLE).map(PathBuf::from),
            cwd: std::env::current_dir()
                .map(|dir| dir.display().to_string())
                .unwrap_or_default(),
        }
    }

    /// The credential, when exactly one variable holds one.
    fn credential(&self) -> Option<&str> {
        match self.credentials.as_slice() {
            [(_, value)] => Some(value),
            _ => None,
        }
    }
}

/// Run the simulator with the process's environment: print its output to
/// `out`, return its exit code.
pub fn simulate(args: &[String], out: &mut impl Write) -> i32 {
    let arguments = parse_arguments(args);
    let surroundings = Surroundings::from_process(&arguments);
    execute(&arguments, &surroundings, out).unwrap_or(1)
}

/// Count a run of `script`: 1 for its first run ever, and so on.
fn count_run(state: Option<&Path>, script: &str) -> u32 {
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

fn append_log(path: Option<&Path>, entry: &Value) {
    let Some(path) = path else { return };
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = file.write_all(format!("{entry}\n").as_bytes());
    }
}

/// The simulator stands for Claude Code, which reads the real time.
fn now_epoch() -> i64 {
    use kage_ports::Clock;
    kage_ports::SystemClock.now().as_second()
}

/// The three steps of an `ok` run, priced, for a prompt of `words` words.
fn ok_steps(words: u64) -> [(&'static str, Tokens); 3] {
    let step = |k: u64, text| {
        let cache_write = if k == 1 { 200 } else { 0 };
        (
            text,
            Tokens::priced(120 + words * 3 + k * 7, 60 + k * 11, cache_write, 1500),
        )
    };
    [
        step(1, "Reading the code."),
        step(2, "Making the change."),
        step(3, "Running the tests."),
    ]
}

/// What a run that stops early (burst, slow, crash) has printed.
fn partial(words: u64) -> Tokens {
    Tokens {
        input: 40 + words,
        output: 25,
        cache_write: 20,
        cache_read: 300,
        cost_micros: 0,
    }
}

fn execute(
    arguments: &Arguments,
    surroundings: &Surroundings,
    out: &mut impl Write,
) -> std::io::Result<i32> {
    if !arguments.stream_json || !arguments.verbose {
        writeln!(
            out,
            "Error: When using --print, --output-format=stream-json requires --verbose"
        )?;
        return Ok(1);
    }
    let credential = surroundings.credential();
    let behaviour = credential.and_then(Behaviour::from_credential);
    let script = behaviour.map_or_else(|| "none".to_owned(), Behaviour::script);

    let sessions = surroundings
        .state
        .as_ref()
        .map(|state| state.join("sessions"));
    let session_id = arguments.resume.clone().unwrap_or_else(uuid);
    let known_session = match (&arguments.resume, &sessions) {
        (Some(id), Some(dir)) => !id.contains('/') && dir.join(id).is_file(),
        _ => true,
    };
    if arguments.resume.is_none()
        && let Some(dir) = &sessions
    {
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::write(dir.join(&session_id), "");
    }
    let run = count_run(surroundings.state.as_deref(), &script);
    let plan = match behaviour {
        _ if !known_session => Plan::UnknownSession,
        Some(behaviour) => behaviour.plan(run),
        None => Plan::BadCredential,
    };

    // What this run reports, decided before printing anything.
    let words = arguments
        .prompt
        .as_deref()
        .map_or(0, |prompt| prompt.split_whitespace().count() as u64);
    let steps = ok_steps(words);
    let instant = Tokens::priced(10 + words, 5, 0, 0);
    let resets_at = now_epoch() + 5 * 3600;
    let reported = match plan {
        Plan::Ok | Plan::Warn => steps
            .iter()
            .fold(Tokens::default(), |sum, (_, tokens)| sum.add(*tokens)),
        Plan::Instant => instant,
        Plan::Burst | Plan::Slow | Plan::Crash => partial(words),
        Plan::Limit
        | Plan::Reject
        | Plan::Overloaded
        | Plan::UnknownSession
        | Plan::BadCredential => Tokens::default(),
    };
    let mut write_found = None;
    if let Some(path) = &surroundings.write
        && !matches!(plan, Plan::UnknownSession | Plan::BadCredential)
    {
        write_found = std::fs::read_to_string(path).ok();
        let prompt = arguments.prompt.as_deref().unwrap_or_default();
        let line = format!(
            "{session_id} run {run} {}: {}\n",
            plan.name(),
            prompt.replace('\n', " ")
        );
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?
            .write_all(line.as_bytes())?;
    }
    append_log(
        surroundings.log.as_deref(),
        &json!({
            "pid": std::process::id(),
            "script": script,
            "run": run,
            "plan": plan.name(),
            "args": arguments.shown,
            "prompt_words": arguments.prompt.as_ref().map(|_| words),
            "env_names": surroundings.env_names,
            "credential_variables": surroundings.credentials.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
            "subscription": surroundings.subscription,
            "lease_id": surroundings.lease_id,
            "cwd": surroundings.cwd,
            "session_id": session_id,
            "resumed": arguments.resume,
            "write_found": write_found,
            "reported": reported.logged(),
            "resets_at": (plan == Plan::Limit).then_some(resets_at),
        }),
    );

    let pace = surroundings.pace;
    let mut speaker = Speaker { out, session_id };
    if plan == Plan::UnknownSession {
        return speaker.unknown_session(arguments.resume.as_deref().unwrap_or_default());
    }
    speaker.init(&surroundings.cwd)?;
    match plan {
        Plan::Ok | Plan::Warn => {
            if plan == Plan::Warn {
                speaker.rate_limit("allowed_warning", resets_at, Some(0.85))?;
            } else {
                speaker.rate_limit("allowed", resets_at, None)?;
            }
            for (index, (text, tokens)) in steps.iter().enumerate() {
                std::thread::sleep(pace / 3);
                let id = format!("msg_{}", uuid());
                speaker.message(&id, text, *tokens)?;
                if index == 0 {
                    // A streamed message repeats its usage on every content block.
                    speaker.message(&id, text, *tokens)?;
                }
            }
            let summary: String = arguments
                .prompt
                .as_deref()
                .unwrap_or_default()
                .chars()
                .take(60)
                .collect();
            speaker.result(false, None, &format!("Done: {summary}"), reported)
        }
        Plan::Instant => {
            speaker.message(&format!("msg_{}", uuid()), "Done.", instant)?;
            speaker.result(false, None, "Done.", instant)
        }
        Plan::Limit => {
            speaker.rate_limit("rejected", resets_at, None)?;
            let reset = jiff::Timestamp::from_second(resets_at)
                .map(|at| at.strftime("%-I:%M%P").to_string())
                .unwrap_or_default();
            let text = format!("You've hit your 5-hour limit · resets {reset} (UTC)");
            speaker.synthetic("rate_limit", &text)?;
            speaker.result(true, Some(429), &text, Tokens::default())
        }
        Plan::Burst => {
            speaker.rate_limit("allowed", resets_at, None)?;
            speaker.message(
                &format!("msg_{}", uuid()),
                "Reading the code first.",
                reported,
            )?;
            for attempt in 1..=10 {
                std::thread::sleep(pace / 6);
                speaker.retry(attempt, 429, "rate_limit", 500 * attempt)?;
            }
            let text = "API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited";
            speaker.synthetic("rate_limit", text)?;
            speaker.result(true, Some(429), text, reported)
        }
        Plan::Reject => {
            speaker.retry(1, 401, "authentication_failed", 600)?;
            std::thread::sleep(pace / 4);
            let text = "Failed to authenticate. API Error: 401 Invalid bearer token";
            speaker.synthetic("authentication_failed", text)?;
            speaker.result(true, Some(401), text, Tokens::default())
        }
        Plan::Overloaded => {
            speaker.retry(1, 529, "overloaded", 500)?;
            speaker.retry(2, 529, "overloaded", 1000)?;
            // A synthetic error: no HTTP status in the result.
            let text = "API Error: Repeated 529 Overloaded errors. The API is overloaded.";
            speaker.synthetic("overloaded", text)?;
            speaker.result(true, None, text, Tokens::default())
        }
        Plan::Slow => {
            speaker.message(&format!("msg_{}", uuid()), "Thinking hard.", reported)?;
            for _ in 0..600 {
                std::thread::sleep(Duration::from_millis(100));
                // Like Claude Code, end when nobody reads any more (`?`).
                speaker.ping()?;
            }
            speaker.result(false, None, "Done slowly.", reported)
        }
        Plan::Crash => {
            speaker.message(&format!("msg_{}", uuid()), "Starting.", reported)?;
            std::thread::sleep(pace);
            std::process::abort();
        }
        Plan::UnknownSession | Plan::BadCredential => {
            let text = if credential.is_none() && surroundings.credentials.is_empty() {
                "Not logged in · Please run /login"
            } else {
                "Invalid API key · Fix external API key"
            };
            speaker.result(true, None, text, Tokens::default())
        }
    }
}

#[cfg(test)]
mod tests {
    use kage_domain::Outcome;
    use kage_domain::signal::ClassifyContext;

    use super::*;
    use crate::run::watch::{AttemptEnd, AttemptWatch, Exit, Next, WatchSettings};

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn arguments_like_claude_code() {
        let args = strings(&[
            "-p",
            "do it",
            "--output-format",
            "stream-json",
            "--verbose",
            "--resume",
            "s-1",
        ]);
        let parsed = parse_arguments(&args);
        assert_eq!(parsed.prompt.as_deref(), Some("do it"));
        assert_eq!(parsed.resume.as_deref(), Some("s-1"));
        assert!(parsed.stream_json && parsed.verbose);
        assert_eq!(
            parsed.shown,
            strings(&[
                "-p",
                "<prompt>",
                "--output-format",
                "stream-json",
                "--verbose",
                "--resume",
                "s-1"
            ])
        );
    }

    struct Ran {
        end: AttemptEnd,
        output: String,
        log: Value,
    }

    /// Run the simulator in this process with `credential` after
    /// `runs_before` earlier runs of the same script, and read its output
    /// with the real watch.
    fn simulated(credential: Option<&str>, runs_before: u32, resume: Option<&str>) -> Ran {
        let state = tempfile::tempdir().unwrap();
        let script = credential
            .and_then(Behaviour::from_credential)
            .map_or_else(|| "none".to_owned(), Behaviour::script);
        for n in 1..=runs_before {
            std::fs::write(state.path().join(format!("run-{script}-{n}")), "").unwrap();
        }
        let log = state.path().join("log.jsonl");
        let mut args = strings(&[
            "-p",
            "fix it",
            "--output-format",
            "stream-json",
            "--verbose",
        ]);
        if let Some(id) = resume {
            args.extend(strings(&["--resume", id]));
        }
        let surroundings = Surroundings {
            credentials: credential
                .map(|value| ("CLAUDE_CODE_OAUTH_TOKEN", value.to_owned()))
                .into_iter()
                .collect(),
            state: Some(state.path().to_owned()),
            pace: Duration::from_millis(3),
            log: Some(log.clone()),
            ..Surroundings::default()
        };
        let mut out = Vec::new();
        let code = execute(&parse_arguments(&args), &surroundings, &mut out).unwrap();
        let output = String::from_utf8(out).unwrap();
        let mut watch = AttemptWatch::new(
            WatchSettings {
                max_api_retries: 20,
            },
            None,
        );
        let context = ClassifyContext::new(jiff::Timestamp::UNIX_EPOCH, jiff::tz::TimeZone::UTC);
        for line in output.lines() {
            watch.observe(line, &context);
        }
        let log_text = std::fs::read_to_string(log).unwrap();
        Ran {
            end: watch.finish(Exit::Code(code)),
            output,
            log: serde_json::from_str(log_text.trim()).unwrap(),
        }
    }

    fn fake(behaviour: Behaviour) -> String {
        behaviour.fake_credential("canary-1234")
    }

    #[test]
    fn a_run_appends_its_edit_to_the_write_file_even_when_limited() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notes/shared.txt");
        for script in [Behaviour::LimitAfter(0), Behaviour::Ok] {
            let surroundings = Surroundings {
                credentials: vec![("CLAUDE_CODE_OAUTH_TOKEN", fake(script))],
                state: Some(dir.path().join("state")),
                write: Some(file.clone()),
                ..Surroundings::default()
            };
            let args = strings(&[
                "-p",
                "line\nbreak",
                "--output-format",
                "stream-json",
                "--verbose",
            ]);
            execute(&parse_arguments(&args), &surroundings, &mut Vec::new()).unwrap();
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with(" run 1 limit: line break"), "{text}");
        assert!(lines[1].ends_with(" run 1 ok: line break"), "{text}");
        // Without a credential nothing is written.
        let surroundings = Surroundings {
            write: Some(dir.path().join("untouched")),
            ..Surroundings::default()
        };
        let args = strings(&["-p", "x", "--output-format", "stream-json", "--verbose"]);
        execute(&parse_arguments(&args), &surroundings, &mut Vec::new()).unwrap();
        assert!(!dir.path().join("untouched").exists());
    }

    #[test]
    fn each_behaviour_reads_as_intended() {
        let ran = simulated(Some(&fake(Behaviour::Ok)), 0, None);
        assert_eq!(ran.end.next, Next::Done);
        assert!(ran.end.usage.total_tokens() > 0 && ran.end.usage.cost_micros_usd.unwrap() > 0);

        assert_eq!(
            simulated(Some(&fake(Behaviour::LimitAfter(2))), 1, None)
                .end
                .next,
            Next::Done
        );
        let ran = simulated(Some(&fake(Behaviour::LimitAfter(2))), 2, None);
        assert!(matches!(ran.end.outcome, Outcome::QuotaExhausted { .. }));
        assert_eq!(ran.end.next, Next::Failover);
        assert_eq!(ran.log["plan"], "limit");
        assert!(ran.log["resets_at"].is_i64());

        for burst in [Behaviour::Burst, Behaviour::BurstOn(1)] {
            let ran = simulated(Some(&fake(burst)), 0, None);
            assert!(
                matches!(ran.end.outcome, Outcome::RateLimited { .. }),
                "{burst:?}"
            );
            assert_eq!(ran.output.matches("\"api_retry\"").count(), 10);
        }
        assert_eq!(
            simulated(Some(&fake(Behaviour::BurstOn(1))), 1, None)
                .end
                .next,
            Next::Done
        );

        let ran = simulated(Some(&fake(Behaviour::Reject)), 0, None);
        assert!(matches!(
            ran.end.outcome,
            Outcome::CredentialRejected { .. }
        ));

        let ran = simulated(Some(&fake(Behaviour::OverloadedOnce)), 0, None);
        assert!(ran.output.contains("\"error_status\":529"));
        assert_eq!(ran.log["plan"], "overloaded");
        assert_eq!(
            simulated(Some(&fake(Behaviour::OverloadedOnce)), 1, None)
                .end
                .next,
            Next::Done
        );
        assert_eq!(
            simulated(Some(&fake(Behaviour::CrashOnce)), 1, None).log["plan"],
            "ok"
        );

        let ran = simulated(Some(&fake(Behaviour::Warn)), 0, None);
        assert!(ran.output.contains("allowed_warning"));
        assert_eq!(ran.end.next, Next::Done);

        assert_eq!(
            simulated(Some(&fake(Behaviour::Instant)), 0, None).end.next,
            Next::Done
        );
    }

    #[test]
    fn the_reported_usage_is_what_the_watch_counts() {
        for behaviour in [
            Behaviour::Ok,
            Behaviour::Warn,
            Behaviour::Instant,
            Behaviour::Burst,
        ] {
            let ran = simulated(Some(&fake(behaviour)), 0, None);
            let reported = &ran.log["reported"];
            let usage = &ran.end.usage;
            assert_eq!(
                reported["input_tokens"], usage.input_tokens,
                "{behaviour:?}"
            );
            assert_eq!(
                reported["output_tokens"], usage.output_tokens,
                "{behaviour:?}"
            );
            assert_eq!(
                reported["cache_write_tokens"], usage.cache_write_tokens,
                "{behaviour:?}"
            );
            assert_eq!(
                reported["cache_read_tokens"], usage.cache_read_tokens,
                "{behaviour:?}"
            );
            assert_eq!(
                reported["cost_micros_usd"],
                usage.cost_micros_usd.unwrap_or(0),
                "{behaviour:?}"
            );
        }
    }

    #[test]
    fn unknown_sessions_and_missing_credentials_fail_like_claude_code() {
        let ran = simulated(Some(&fake(Behaviour::Ok)), 0, Some("never-started"));
        assert!(
            ran.output
                .contains("No conversation found with session ID: never-started")
        );
        assert_eq!(ran.log["plan"], "unknown-session");

        let ran = simulated(None, 0, None);
        assert!(ran.output.contains("Not logged in"));
        assert_eq!(ran.log["plan"], "bad-credential");
        let ran = simulated(Some("sk-ant-oat01-real-looking"), 0, None);
        assert!(ran.output.contains("Invalid API key"));
    }

    #[test]
    fn the_credential_is_never_printed_or_logged() {
        let credential = fake(Behaviour::Ok);
        let ran = simulated(Some(&credential), 0, None);
        assert!(!ran.output.contains("canary-1234"));
        assert!(!ran.log.to_string().contains("canary-1234"));
    }
}
