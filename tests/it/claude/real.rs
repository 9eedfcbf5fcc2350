//! The real Claude Code (tests/package.json) against the stand-in: print
//! mode, resuming on another credential, and an interactive session that hits
//! the 5-hour limit, as `/work/shared/claude-code-signals.md` and
//! `docs/signals.md` describe.

use std::time::Duration;

use kage_tests::claude::{ClaudeHome, Credential, binary, binary_in, fake_oauth_token};
use kage_tests::standin::{Behaviour, StandIn, Usage};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn result_usage(result: &Value) -> Usage {
    let usage = &result["usage"];
    let field = |name: &str| {
        usage[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} in {usage}"))
    };
    Usage {
        input_tokens: field("input_tokens"),
        output_tokens: field("output_tokens"),
        cache_creation_input_tokens: field("cache_creation_input_tokens"),
        cache_read_input_tokens: field("cache_read_input_tokens"),
    }
}

/// How Claude Code prints a reset time: `4am`, `11:32pm` (in `TZ=UTC`).
fn clock(epoch_seconds: i64) -> String {
    let time = jiff::Timestamp::from_second(epoch_seconds)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC);
    let hour = match time.hour() % 12 {
        0 => 12,
        hour => hour,
    };
    let suffix = if time.hour() < 12 { "am" } else { "pm" };
    if time.minute() == 0 {
        format!("{hour}{suffix}")
    } else {
        format!("{hour}:{:02}{suffix}", time.minute())
    }
}

#[test]
fn print_mode_usage_is_what_the_standin_served_and_a_limit_resumes_on_another_credential() {
    let standin = StandIn::start();
    let home = ClaudeHome::new(&standin.base_url());
    let alpha = fake_oauth_token("alpha");
    let beta = fake_oauth_token("beta");
    let reset = standin.five_hour_reset() - 2 * 3600;
    standin.set(
        &alpha,
        Behaviour::FiveHourLimit {
            at_request: 2,
            resets_at: Some(reset),
        },
    );
    standin.set(&beta, Behaviour::Ok);

    // Turn 1 succeeds: the result's usage is exactly what was served.
    let first = home.headless(
        &Credential::OAuth(alpha.clone()),
        "remember the word tangerine",
        &[],
    );
    assert!(first.status.success(), "{}\n{}", first.stdout, first.stderr);
    let result = first.result();
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result_usage(result), standin.served(&alpha));
    assert!(standin.served(&alpha).total() > 0);
    let allowed = first.events_of("rate_limit_event");
    assert_eq!(
        allowed[0]["rate_limit_info"]["status"], "allowed",
        "{allowed:?}"
    );
    assert_eq!(allowed[0]["rate_limit_info"]["resetsAt"], reset);
    let requests = standin.message_requests(&alpha);
    assert_eq!(requests.len(), 1, "print mode makes one request per turn");
    assert!(requests[0].bearer && requests[0].stream);
    assert!(
        requests[0]
            .beta
            .as_deref()
            .unwrap()
            .contains("oauth-2025-04-20")
    );
    assert!(
        standin
            .requests()
            .iter()
            .all(|r| r.credential.is_none() || r.is_message()),
        "nothing but /v1/messages carries a credential"
    );
    let session = first.session_id().to_owned();

    // Turn 2 on alpha hits the 5-hour limit: one request, no retry.
    let limited = home.headless(
        &Credential::OAuth(alpha.clone()),
        "now say the word",
        &["--resume", &session],
    );
    assert_eq!(limited.status.code(), Some(1));
    let result = limited.result();
    assert_eq!(result["is_error"], true);
    assert_eq!(result["api_error_status"], 429);
    let text = result["result"].as_str().unwrap();
    assert_eq!(
        text,
        format!(
            "You've hit your session limit · resets {} (UTC)",
            clock(reset)
        )
    );
    let rejected = limited.events_of("rate_limit_event");
    let info = &rejected.last().expect("a rate_limit_event")["rate_limit_info"];
    assert_eq!(info["status"], "rejected");
    assert_eq!(info["rateLimitType"], "five_hour");
    assert_eq!(info["resetsAt"], reset);
    assert_eq!(standin.message_requests(&alpha).len(), 2);

    // Resumed on beta: same session, and beta's request still holds turn 1.
    let resumed = home.headless(
        &Credential::OAuth(beta.clone()),
        "now say the word",
        &["--resume", &session],
    );
    assert!(
        resumed.status.success(),
        "{}\n{}",
        resumed.stdout,
        resumed.stderr
    );
    assert_eq!(resumed.session_id(), session);
    let beta_requests = standin.message_requests(&beta);
    assert_eq!(beta_requests.len(), 1);
    let texts = beta_requests[0].texts().join("\n");
    assert!(texts.contains("remember the word tangerine"), "{texts}");
    assert!(texts.contains("Stand-in reply 1."), "{texts}");
    assert_eq!(result_usage(resumed.result()), standin.served(&beta));

    // The transcript holds both successful turns' usage and the failed turn.
    let transcript = home.transcript(&session);
    let assistant: Vec<&Value> = transcript
        .iter()
        .filter(|line| line["type"] == "assistant")
        .collect();
    let errors: Vec<&&Value> = assistant
        .iter()
        .filter(|line| line["isApiErrorMessage"] == true)
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["error"], "rate_limit");
    assert_eq!(errors[0]["apiErrorStatus"], 429);
    assert_eq!(errors[0]["message"]["model"], "<synthetic>");
    // Each message id + request id once (streamed parts repeat a message).
    let mut seen = std::collections::BTreeSet::new();
    let mut from_transcript = Usage::default();
    for line in assistant
        .iter()
        .filter(|line| line["message"]["model"] != "<synthetic>")
    {
        if seen.insert((
            line["message"]["id"].to_string(),
            line["requestId"].to_string(),
        )) {
            from_transcript.add(result_usage(
                &serde_json::json!({"usage": line["message"]["usage"]}),
            ));
        }
    }
    let mut served = standin.served(&alpha);
    served.add(standin.served(&beta));
    assert_eq!(from_transcript, served);
}

#[test]
fn an_interactive_session_shows_the_reply_then_the_session_limit_in_screen_transcript_and_status_line()
 {
    let standin = StandIn::start();
    let home = ClaudeHome::new(&standin.base_url());
    let token = fake_oauth_token("interactive");
    standin.set(&token, Behaviour::Ok);
    let settings = home.statusline_settings();
    let claude = home.interactive(
        &Credential::OAuth(token.clone()),
        &["--settings", &settings],
    );
    claude.wait_for_screen(WAIT, |screen| {
        screen.contains("Claude Code v") && screen.contains('❯')
    });

    // Turn 1: the reply shows, and the status line gets the 5-hour window.
    claude.submit("remember the word tangerine");
    claude.wait_for_screen(WAIT, |screen| screen.contains("Stand-in reply"));
    let turns = |standin: &StandIn| {
        standin
            .message_requests(&token)
            .into_iter()
            .filter(|r| !r.is_side_query())
            .collect::<Vec<_>>()
    };
    let first = turns(&standin);
    assert_eq!(first.len(), 1);
    let utilization = first[0].five_hour_utilization.unwrap();
    let reset = standin.five_hour_reset();
    let wanted = |input: &Value| {
        input["rate_limits"]["five_hour"]["used_percentage"].as_f64()
            == Some((utilization * 100.0).round())
            && input["rate_limits"]["five_hour"]["resets_at"] == reset
    };
    assert!(
        wait(WAIT, || home.statusline_inputs().iter().any(wanted)),
        "the status line got no rate_limits.five_hour: {:?}",
        home.statusline_inputs()
    );
    assert!(
        home.statusline_inputs()[0]["rate_limits"].is_null(),
        "the first call, before any response, has no rate_limits"
    );

    // Turn 2: the subscription is spent.
    let limit_reset = reset - 1800;
    standin.set(
        &token,
        Behaviour::FiveHourLimit {
            at_request: 1,
            resets_at: Some(limit_reset),
        },
    );
    claude.submit("now say the word");
    let text = format!(
        "You've hit your session limit · resets {} (UTC)",
        clock(limit_reset)
    );
    claude.wait_for_screen(WAIT, |screen| screen.contains(&text));
    let limited = turns(&standin);
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[1].status, 429);
    let texts = limited[1].texts().join("\n");
    assert!(
        texts.contains("remember the word tangerine") && texts.contains("now say the word"),
        "the limited request carries the whole conversation: {texts}"
    );

    let sessions = home.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let transcript_has_limit = || {
        home.transcript(&sessions[0]).iter().any(|line| {
            line["isApiErrorMessage"] == true
                && line["error"] == "rate_limit"
                && line["apiErrorStatus"] == 429
                && line["message"]["model"] == "<synthetic>"
                && line["message"]["content"][0]["text"] == text.as_str()
        })
    };
    assert!(
        wait(WAIT, transcript_has_limit),
        "{:?}",
        home.transcript(&sessions[0])
    );
    // No status-line call is guaranteed after the limit (it runs after a
    // response; docs/signals.md): whatever came holds no newer window.
    for input in home.statusline_inputs() {
        let five_hour = &input["rate_limits"]["five_hour"];
        assert!(
            five_hour.is_null()
                || five_hour["resets_at"] == reset
                || five_hour["resets_at"] == limit_reset
        );
    }
    // Claude Code offers its rate-limit menu and waits for the user.
    claude.wait_for_screen(WAIT, |screen| {
        screen.contains("Stop and wait for limit to reset")
    });
    assert!(!claude.exited());
}

#[test]
fn a_near_limit_subscription_and_an_api_key_in_print_mode() {
    let standin = StandIn::start();
    let home = ClaudeHome::new(&standin.base_url());
    let near = fake_oauth_token("near");
    standin.set(&near, Behaviour::NearLimit { utilization: 0.91 });
    let run = home.headless(&Credential::OAuth(near.clone()), "say hi", &[]);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let events = run.events_of("rate_limit_event");
    let info = &events.last().expect("a rate_limit_event")["rate_limit_info"];
    assert_eq!(info["status"], "allowed_warning", "{info}");
    assert_eq!(info["rateLimitType"], "five_hour");
    assert_eq!(info["utilization"], 0.91);
    assert_eq!(info["surpassedThreshold"], 0.9);
    assert_eq!(info["resetsAt"], standin.five_hour_reset());
    assert_eq!(result_usage(run.result()), standin.served(&near));

    let key = format!("sk-ant-api03-canary-{}-fake", uuid::Uuid::new_v4().simple());
    standin.set(&key, Behaviour::Ok);
    let run = home.headless(&Credential::ApiKey(key.clone()), "say hi", &[]);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.events_of("rate_limit_event").is_empty(),
        "API keys get no rate_limit_event"
    );
    assert_eq!(result_usage(run.result()), standin.served(&key));
    let requests = standin.message_requests(&key);
    assert_eq!(requests.len(), 1);
    assert!(!requests[0].bearer, "sent as x-api-key");
}

#[test]
fn without_npm_ci_the_tests_fail_saying_what_to_run() {
    let empty = tempfile::tempdir().unwrap();
    let message = binary_in(empty.path()).unwrap_err();
    assert!(message.contains("run `npm ci` in"), "{message}");
    assert!(
        message.contains(&empty.path().display().to_string()),
        "{message}"
    );
    let installed = binary_in(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(installed.is_ok(), "{installed:?}");
}

/// `kage claude` parses Claude Code's options from a copy of the pinned
/// client's `--help` (crates/kage-cli/tests/fixtures): a new pin must bring
/// a new copy, so the restart after a failover keeps every option's value.
#[test]
fn the_help_kage_claude_parses_options_from_is_the_pinned_clients() {
    let empty_home = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(binary())
        .arg("--help")
        .env("HOME", empty_home.path())
        .env("CLAUDE_CONFIG_DIR", empty_home.path())
        .output()
        .expect("run claude --help");
    assert!(output.status.success(), "{output:?}");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/kage-cli/tests/fixtures/claude-help-2.1.197.txt");
    let copy = std::fs::read_to_string(&fixture).expect("the fixture");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        copy,
        "the pinned Claude Code's --help changed: write it to {} (and rename it for the new version)",
        fixture.display()
    );
}

/// Poll `check` every 100 ms until it holds or `timeout` passes.
fn wait(timeout: Duration, check: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}
