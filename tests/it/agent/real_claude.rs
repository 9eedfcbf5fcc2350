//! `kage-agent run` with its default agent command, the real Claude Code
//! (`npm ci` in tests/), against the Anthropic API stand-in: a subscription
//! hits its 5-hour limit and the task goes on, resumed, on the other one; the
//! pool's usage equals what the stand-in served.

use std::collections::BTreeMap;

use kage_domain::{CredentialKind, StateKind, Timestamp};
use kage_tests::standin::{Behaviour, StandIn};
use serde_json::Value;

use super::harness::{World, json_lines, state};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_hour_limit_fails_over_with_resume_and_usage_equals_what_was_served() {
    let standin = StandIn::start();
    let mut world = World::with_real_claude(
        "[subscriptions]\nrate_limit_cooldown = \"5m\"\nlease_ttl = \"30s\"\n",
        &standin,
    );
    let pool = world.pool().await;
    let reset = standin.five_hour_reset() - 3600;
    world
        .add(&pool, "alpha", 200, CredentialKind::OAuth, "real", None)
        .await;
    let alpha = world.last_credential().to_owned();
    standin.set(
        &alpha,
        Behaviour::FiveHourLimit {
            at_request: 2,
            resets_at: Some(reset),
        },
    );
    world
        .add(&pool, "beta", 100, CredentialKind::OAuth, "real", None)
        .await;
    let beta = world.last_credential().to_owned();
    standin.set(&beta, Behaviour::Ok);

    let output = world.run(&[
        "run",
        "--task",
        "remember the word tangerine",
        "--task",
        "now write the word down",
        "-j",
        "1",
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let lines = json_lines(&output.stdout);
    let summary = &lines
        .iter()
        .find(|line| line["type"] == "summary")
        .expect("a summary line")["data"];
    for task in summary["tasks"].as_array().unwrap() {
        assert_eq!(task["status"], "succeeded", "{task}");
    }

    // alpha served the first task, then refused the second with its 5-hour
    // limit; the second went on, resumed, on beta.
    let alpha_requests = standin.message_requests(&alpha);
    let statuses: Vec<u16> = alpha_requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 429], "{stdout}");
    let limited_prompt = alpha_requests[1].texts().join("\n");
    assert!(limited_prompt.contains("now write the word down"));
    let beta_requests = standin.message_requests(&beta);
    assert_eq!(beta_requests.len(), 1, "{stdout}");
    let resumed = beta_requests[0].texts().join("\n");
    assert!(
        resumed.contains("now write the word down")
            && resumed.contains("Continue from where you left off"),
        "beta's request holds the turn alpha refused and the continuation: {resumed}"
    );
    assert_eq!(
        beta_requests[0].claude_session_id, alpha_requests[1].claude_session_id,
        "the same Claude Code session went on"
    );
    let leased: Vec<&Value> = lines.iter().filter(|l| l["type"] == "leased").collect();
    assert!(
        leased.iter().any(|l| l["data"]["resume_session_id"]
            == alpha_requests[1].claude_session_id.as_deref().unwrap()),
        "{leased:?}"
    );

    // Both attempts wrote one transcript, the refused turn in it.
    let session = alpha_requests[1].claude_session_id.clone().unwrap();
    let transcript = world.claude_home().unwrap().transcript(&session);
    assert!(
        transcript
            .iter()
            .any(|line| line["isApiErrorMessage"] == true && line["apiErrorStatus"] == 429),
        "{transcript:?}"
    );

    // alpha is exhausted until the reset the stand-in gave.
    let alpha_state = state(&pool, "alpha").await;
    assert_eq!(alpha_state.kind(), StateKind::Exhausted, "{alpha_state:?}");
    assert_eq!(
        alpha_state,
        kage_domain::SubscriptionState::Exhausted {
            until: Timestamp::from_second(reset).unwrap(),
            reason: alpha_state.reason().unwrap().to_owned(),
        }
    );

    // `kage subscription usage --json`: each subscription's totals are what
    // the stand-in served it.
    let usage = world
        .kage()
        .args(["subscription", "usage", "--json"])
        .output()
        .unwrap();
    assert!(
        usage.status.success(),
        "{}",
        String::from_utf8_lossy(&usage.stderr)
    );
    // One JSON document: {"period", "from", "to", "days": […], "totals": […]}.
    let report: Value = serde_json::from_slice(&usage.stdout).expect("one JSON document");
    let totals: BTreeMap<String, Value> = report["totals"]
        .as_array()
        .expect("totals")
        .iter()
        .filter(|total| total["subscription"].is_string())
        .map(|total| {
            (
                total["subscription"].as_str().unwrap().to_owned(),
                total.clone(),
            )
        })
        .collect();
    for (name, credential) in [("alpha", &alpha), ("beta", &beta)] {
        let served = standin.served(credential);
        assert!(served.total() > 0);
        let total = &totals[name];
        assert_eq!(
            total["input_tokens"], served.input_tokens,
            "{name}: {total}"
        );
        assert_eq!(
            total["output_tokens"], served.output_tokens,
            "{name}: {total}"
        );
        assert_eq!(
            total["cache_write_tokens"], served.cache_creation_input_tokens,
            "{name}: {total}"
        );
        assert_eq!(
            total["cache_read_tokens"], served.cache_read_input_tokens,
            "{name}: {total}"
        );
        assert_eq!(total["total_tokens"], served.total(), "{name}: {total}");
    }

    // No credential reached the output.
    world.assert_no_secret("stdout", &stdout);
    world.assert_no_secret("stderr", &stderr);
    assert!(pool.live_leases().await.unwrap().is_empty());
}
