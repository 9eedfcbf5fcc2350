//! JSON mode (`--json`): every event as a JSON Lines envelope
//! `{"type": …, "data": …}` on standard output, and the closing `summary`
//! record. The envelope and the usage record are `kage_app::json`'s, so
//! `kage --json` and `kage-agent --json` write them the same way.

use kage_app::json::UsageJson;
use kage_domain::{Outcome, Usage};
use serde_json::{Value, json};

use crate::run::events::{RunEvent, RunReport, TaskRef};
use crate::run::watch::describe;

fn usage_json(usage: &Usage) -> Value {
    UsageJson::value(usage)
}

fn outcome_json(outcome: &Outcome) -> Value {
    let mut value = json!({"kind": outcome.label(), "description": describe(outcome)});
    match outcome {
        Outcome::QuotaExhausted {
            resets_at: Some(at),
            ..
        } => value["resets_at"] = json!(kage_app::json::time(*at)),
        Outcome::RateLimited {
            retry_at: Some(at), ..
        } => value["retry_at"] = json!(kage_app::json::time(*at)),
        _ => {}
    }
    value
}

fn task_json(task: &TaskRef) -> Value {
    json!({"index": task.index, "id": task.id})
}

/// The ripgrep-style envelope of one event.
pub fn envelope(event: &RunEvent) -> Value {
    let (kind, data) = kind_and_data(event);
    kage_app::json::envelope(kind, &data)
}

/// One event as a JSON Lines record (`type` first), with its newline.
pub fn record(event: &RunEvent) -> String {
    let (kind, data) = kind_and_data(event);
    kage_app::json::record(kind, &data)
}

/// The summary as a JSON Lines record, with its newline.
pub fn summary_record(report: &RunReport) -> String {
    kage_app::json::record("summary", &summary_data(report))
}

fn kind_and_data(event: &RunEvent) -> (&'static str, Value) {
    match event {
        RunEvent::Started {
            run_dir,
            tasks,
            parallel,
        } => (
            "started",
            json!({"run_dir": run_dir.display().to_string(), "tasks": tasks, "parallel": parallel}),
        ),
        RunEvent::Waiting {
            task,
            until,
            earliest,
            earliest_reason,
            passed_over,
        } => (
            "waiting",
            json!({
                "task": task_json(task),
                "until": kage_app::json::time(*until),
                "earliest_subscription": earliest.as_ref().map(|(name, _)| name.to_string()),
                "earliest_reason": earliest_reason,
                "earliest_recovery": earliest.as_ref().map(|(_, at)| kage_app::json::time(*at)),
                "passed_over": passed_over,
            }),
        ),
        RunEvent::Leased {
            task,
            attempt,
            subscription,
            lease_id,
            waited,
            resume,
        } => (
            "leased",
            json!({
                "task": task_json(task),
                "attempt": attempt,
                "subscription": subscription.to_string(),
                "lease_id": lease_id.to_string(),
                "waited_ms": u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                "resume_session_id": resume,
            }),
        ),
        RunEvent::Progress { task, tokens } => (
            "progress",
            json!({"task": task_json(task), "tokens": tokens}),
        ),
        RunEvent::Note {
            task,
            subscription,
            text,
        } => (
            "note",
            json!({"task": task_json(task), "subscription": subscription.to_string(), "text": text}),
        ),
        RunEvent::QuotaAlert { task, alert } => {
            let mut data = serde_json::to_value(kage_app::json::QuotaAlertJson::new(alert))
                .unwrap_or_default();
            data["task"] = task_json(task);
            ("quota_alert", data)
        }
        RunEvent::Stopping {
            task,
            subscription,
            reason,
        } => (
            "stopping",
            json!({"task": task_json(task), "subscription": subscription.to_string(), "reason": reason}),
        ),
        RunEvent::AttemptEnded {
            task,
            attempt,
            subscription,
            outcome,
            reason,
            usage,
            change,
            next,
        } => (
            "attempt_ended",
            json!({
                "task": task_json(task),
                "attempt": attempt,
                "subscription": subscription.to_string(),
                "outcome": outcome_json(outcome),
                "reason": reason,
                "usage": usage_json(usage),
                "state_change": change.as_ref().map(|change| json!({
                    "from": change.from.as_str(),
                    "to": change.to.as_str(),
                    "until": change.until.map(kage_app::json::time),
                    "reason": change.reason,
                })),
                "next": next,
            }),
        ),
        RunEvent::Backoff {
            task,
            until,
            reason,
        } => (
            "backoff",
            json!({"task": task_json(task), "until": kage_app::json::time(*until), "reason": reason}),
        ),
        RunEvent::TaskFinished {
            task,
            status,
            attempts,
            usage,
        } => (
            "task_finished",
            json!({
                "task": task_json(task),
                "status": status.label(),
                "detail": status.detail(),
                "attempts": attempts,
                "usage": usage_json(usage),
            }),
        ),
        RunEvent::Pool(summary) => (
            "pool",
            json!({
                "total": summary.total,
                "active": summary.active,
                "rate_limited": summary.rate_limited,
                "exhausted": summary.exhausted,
                "unhealthy": summary.unhealthy,
                "disabled": summary.disabled,
                "live_leases": summary.live_leases,
            }),
        ),
        RunEvent::Warning { text } => ("warning", json!({"text": text})),
        RunEvent::Interrupting => ("interrupting", json!({})),
    }
}

/// The summary as one JSON value (the envelope of [`summary_record`]).
pub fn summary_json(report: &RunReport) -> Value {
    kage_app::json::envelope("summary", &summary_data(report))
}

fn summary_data(report: &RunReport) -> Value {
    let tasks: Vec<Value> = report
        .tasks
        .iter()
        .map(|task| {
            json!({
                "index": task.index,
                "id": task.id,
                "status": task.status.label(),
                "detail": task.status.detail(),
                "subscriptions": task.subscriptions().iter().map(|name| name.to_string()).collect::<Vec<_>>(),
                "attempts": task.attempts.iter().map(|attempt| json!({
                    "subscription": attempt.subscription.to_string(),
                    "outcome": outcome_json(&attempt.outcome),
                    "reason": attempt.reason,
                    "usage": usage_json(&attempt.usage),
                    "session_id": attempt.session_id,
                    "resumed_session_id": attempt.resumed,
                })).collect::<Vec<_>>(),
                "usage": usage_json(&task.usage()),
                "worktree": super::worktree::task_json(task.worktree.as_ref()),
            })
        })
        .collect();
    json!({
            "run_dir": report.run_dir.display().to_string(),
            "interrupted": report.interrupted,
            "elapsed_ms": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
            "exit_code": report.exit_code(),
            "worktrees": super::worktree::run_json(report.worktrees.as_ref()),
            "tasks": tasks,
            "usage": usage_json(&report.usage()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::fixture::report;

    #[test]
    fn json_summary_and_events_use_the_envelope() {
        let value = summary_json(&report());
        assert_eq!(value["type"], "summary");
        assert_eq!(value["data"]["exit_code"], 75);
        assert_eq!(value["data"]["tasks"][0]["subscriptions"][1], "personal");
        assert_eq!(
            value["data"]["tasks"][0]["attempts"][1]["resumed_session_id"],
            "sess"
        );
        assert_eq!(value["data"]["usage"]["total_tokens"], 3000);
        let event = envelope(&RunEvent::Warning { text: "w".into() });
        assert_eq!(event, json!({"type": "warning", "data": {"text": "w"}}));
        let line = record(&RunEvent::Warning { text: "w".into() });
        assert_eq!(line, "{\"type\":\"warning\",\"data\":{\"text\":\"w\"}}\n");
        assert_eq!(value["data"]["usage"]["cost_usd"], 0.0003);
    }
}
