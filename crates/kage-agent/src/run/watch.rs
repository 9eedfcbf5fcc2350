//! What an agent's output means while it runs and when it ends: the
//! failover decisions, as a pure state machine fed one line at a time.
//!
//! While the agent runs, [`AttemptWatch::observe`] says whether to let it
//! go on, to record an approaching limit, or to stop it at once (a window
//! limit, a rejected credential, an exhausted credit, or more than
//! `max_api_retries` rate-limit retries). When it has ended,
//! [`AttemptWatch::finish`] gives the outcome to release the lease with and
//! what the task does next.

use std::time::Duration;

use kage_domain::signal::{ClassifyContext, classify};
use kage_domain::{ErrorKind, Outcome, Usage};

use crate::stream_json::{Event, MessageTokens, ResultEvent, UsageTally, parse_line};

/// What to do with the running agent after a line.
#[derive(Clone, PartialEq, Debug)]
pub enum Verdict {
    Continue,
    /// Store this (an approaching limit) for selection; keep running.
    Record(Outcome),
    /// Stop the agent now: this subscription cannot finish the work.
    Stop(Outcome),
    /// Worth telling a person (Claude Code is retrying); keep running.
    Notice(String),
}

/// How the agent process ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Exit {
    /// Exited by itself with this code.
    Code(i32),
    /// Killed by a signal Kage did not send.
    Signal(i32),
    /// Kage stopped it (a stop verdict or Ctrl-C).
    StoppedByKage,
}

/// What the task does after an attempt.
#[derive(Clone, PartialEq, Debug)]
pub enum Next {
    /// The task is done.
    Done,
    /// The subscription is limited or rejected: lease another one now and
    /// resume there.
    Failover,
    /// Try again (on whatever subscription selection gives) after a pause:
    /// the service was overloaded or had a plain error.
    RetryAfterBackoff,
    /// Start the conversation afresh: the resumed session was not found.
    RestartFresh,
    /// The task failed; trying again would not help.
    Fail(String),
}

/// The result of one attempt.
#[derive(Clone, PartialEq, Debug)]
pub struct AttemptEnd {
    /// What to release the lease with.
    pub outcome: Outcome,
    pub usage: Usage,
    /// The conversation to resume, if the agent printed one.
    pub session_id: Option<String>,
    pub next: Next,
    /// One line a person can read: why the attempt ended as it did.
    pub reason: String,
}

/// The settings the watch needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WatchSettings {
    /// Rate-limit retries (`api_retry` with 429) tolerated before the agent
    /// is stopped (config `agent.max_api_retries`).
    pub max_api_retries: u32,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self { max_api_retries: 2 }
    }
}

/// How decisive an outcome is; the most decisive one seen in an attempt
/// is the one the lease is released with.
fn rank(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::QuotaExhausted { .. } | Outcome::ModelLimitReached { .. } => 6,
        Outcome::CredentialRejected { .. } | Outcome::CredentialUnreadable { .. } => 5,
        Outcome::RateLimited { .. } => 4,
        Outcome::Overloaded => 3,
        Outcome::Error { kind, .. } if kind.counts_against_subscription() => 2,
        Outcome::Error { .. } => 1,
        Outcome::Success | Outcome::ApproachingLimit { .. } | Outcome::QuotaReported { .. } => 0,
    }
}

fn has_time(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::QuotaExhausted {
            resets_at: Some(_),
            ..
        } | Outcome::ModelLimitReached {
            resets_at: Some(_),
            ..
        } | Outcome::RateLimited {
            retry_at: Some(_),
            ..
        }
    )
}

/// Reads one attempt's output.
#[derive(Clone, Debug)]
pub struct AttemptWatch {
    settings: WatchSettings,
    session_id: Option<String>,
    tally: UsageTally,
    /// `error` of the latest synthetic assistant message.
    last_error: Option<String>,
    rate_limit_retries: u32,
    /// The most decisive outcome seen so far.
    worst: Option<Outcome>,
    result: Option<ResultEvent>,
    stop: Option<Outcome>,
    spoke_stream_json: bool,
    resumed: bool,
}

impl AttemptWatch {
    /// `resumed`: this attempt continues an earlier session.
    pub fn new(settings: WatchSettings, resumed: Option<String>) -> Self {
        Self {
            settings,
            resumed: resumed.is_some(),
            session_id: resumed,
            tally: UsageTally::default(),
            last_error: None,
            rate_limit_retries: 0,
            worst: None,
            result: None,
            stop: None,
            spoke_stream_json: false,
        }
    }

    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// Tokens so far.
    pub fn tokens(&self) -> u64 {
        self.tally.tokens()
    }

    pub fn usage(&self) -> Usage {
        self.tally.usage()
    }

    /// Assistant messages complete since the last call (with `all`, the one
    /// being streamed too), to record as they come.
    pub fn take_messages(&mut self, all: bool) -> Vec<MessageTokens> {
        self.tally.take_complete(all)
    }

    /// Rate-limit retries seen so far.
    pub fn rate_limit_retries(&self) -> u32 {
        self.rate_limit_retries
    }

    /// Whether a stop verdict was given.
    pub fn stopping(&self) -> Option<&Outcome> {
        self.stop.as_ref()
    }

    fn note(&mut self, outcome: Outcome) {
        let replace = match &self.worst {
            None => true,
            Some(worst) => {
                rank(&outcome) > rank(worst)
                    || (rank(&outcome) == rank(worst) && has_time(&outcome) && !has_time(worst))
            }
        };
        if replace {
            self.worst = Some(outcome);
        }
    }

    fn stop_with(&mut self, outcome: Outcome) -> Verdict {
        self.note(outcome.clone());
        if self.stop.is_some() {
            return Verdict::Continue;
        }
        self.stop = Some(outcome.clone());
        Verdict::Stop(outcome)
    }

    /// Read one line of the agent's standard output.
    pub fn observe(&mut self, line: &str, context: &ClassifyContext) -> Verdict {
        let event = parse_line(line);
        self.observe_event(&event, context)
    }

    pub fn observe_event(&mut self, event: &Event, context: &ClassifyContext) -> Verdict {
        if !matches!(event, Event::NotJson | Event::Other { .. }) {
            self.spoke_stream_json = true;
        }
        if let Some(session_id) = event.session_id() {
            self.session_id = Some(session_id.to_owned());
        }
        self.tally.observe(event);
        match event {
            Event::RateLimit { .. } => match event.signal(None).and_then(|s| classify(&s, context))
            {
                Some(
                    outcome @ (Outcome::ApproachingLimit { .. } | Outcome::QuotaReported { .. }),
                ) => Verdict::Record(outcome),
                Some(
                    outcome @ (Outcome::QuotaExhausted { .. } | Outcome::ModelLimitReached { .. }),
                ) => self.stop_with(outcome),
                // A rejection without a window is the server's burst limit:
                // Claude Code ends the turn itself; the lease is released
                // `rate_limited` and the task moves on.
                Some(outcome @ Outcome::RateLimited { .. }) => {
                    self.note(outcome);
                    Verdict::Continue
                }
                _ => Verdict::Continue,
            },
            Event::ApiRetry {
                attempt,
                error_status,
                error,
                ..
            } => {
                let retry = retry_words(*attempt, *error_status, error.as_deref());
                match event.signal(None).and_then(|s| classify(&s, context)) {
                    Some(Outcome::RateLimited { retry_at, .. }) => {
                        self.rate_limit_retries += 1;
                        if self.rate_limit_retries > self.settings.max_api_retries {
                            let retries = self.rate_limit_retries;
                            self.stop_with(Outcome::RateLimited {
                                retry_at,
                                reason: format!("rate limited (429), {retries} retries"),
                            })
                        } else {
                            Verdict::Notice(format!(
                                "{retry} ({} of {} tolerated)",
                                self.rate_limit_retries, self.settings.max_api_retries
                            ))
                        }
                    }
                    Some(
                        outcome @ (Outcome::QuotaExhausted { .. }
                        | Outcome::ModelLimitReached { .. }
                        | Outcome::CredentialRejected { .. }),
                    ) => self.stop_with(outcome),
                    // 529, 5xx, timeouts: Claude Code's own retries may
                    // well succeed; the result says how it ended.
                    _ => Verdict::Notice(retry),
                }
            }
            Event::Assistant {
                error: Some(error), ..
            } => {
                self.last_error = Some(error.clone());
                if let Some(outcome) = event.signal(None).and_then(|s| classify(&s, context)) {
                    self.note(outcome);
                }
                Verdict::Continue
            }
            Event::Result(result) => {
                self.result = Some(result.clone());
                if result.is_error
                    && let Some(outcome) = event
                        .signal(self.last_error.as_deref())
                        .and_then(|s| classify(&s, context))
                {
                    self.note(outcome);
                }
                Verdict::Continue
            }
            _ => Verdict::Continue,
        }
    }

    /// The attempt's outcome and the task's next step, once the agent has
    /// ended.
    pub fn finish(self, exit: Exit) -> AttemptEnd {
        let usage = self.tally.usage();
        let session_id = self.session_id.clone();
        let end = |outcome: Outcome, next: Next, reason: String| AttemptEnd {
            outcome,
            usage: usage.clone(),
            session_id: session_id.clone(),
            next,
            reason,
        };

        // A successful result finishes the task, whatever else was seen.
        if self.result.as_ref().is_some_and(|result| !result.is_error) {
            let outcome = match &self.worst {
                Some(worst) if worst.moves_work_elsewhere() => worst.clone(),
                _ => Outcome::Success,
            };
            return end(outcome, Next::Done, "completed".to_owned());
        }

        if let Some(worst) = self.worst.clone() {
            let reason = describe(&worst);
            let next = match &worst {
                Outcome::QuotaExhausted { .. }
                | Outcome::ModelLimitReached { .. }
                | Outcome::RateLimited { .. }
                | Outcome::CredentialRejected { .. }
                | Outcome::CredentialUnreadable { .. } => Next::Failover,
                Outcome::Overloaded => Next::RetryAfterBackoff,
                Outcome::Error { kind, .. } if kind.counts_against_subscription() => {
                    Next::RetryAfterBackoff
                }
                Outcome::Error { detail, .. } => {
                    if self.resumed && detail.contains("No conversation found") {
                        Next::RestartFresh
                    } else {
                        Next::Fail(reason.clone())
                    }
                }
                Outcome::Success
                | Outcome::ApproachingLimit { .. }
                | Outcome::QuotaReported { .. } => Next::Done,
            };
            return end(worst, next, reason);
        }

        match (self.result.as_ref(), exit) {
            // A failed result that classify had nothing to say about.
            (Some(result), _) => {
                let reason = first_line(&result.text)
                    .unwrap_or_else(|| format!("agent failed ({})", result.subtype));
                end(agent_error(&reason), Next::Fail(reason.clone()), reason)
            }
            (None, Exit::Code(0)) => end(Outcome::Success, Next::Done, "completed".to_owned()),
            (None, Exit::StoppedByKage) => {
                let reason = "stopped".to_owned();
                end(agent_error(&reason), Next::Fail(reason.clone()), reason)
            }
            (None, exit) => {
                let how = match exit {
                    Exit::Code(code) => format!("exited with status {code}"),
                    Exit::Signal(signal) => format!("was killed by signal {signal}"),
                    Exit::StoppedByKage => unreachable!("handled above"),
                };
                if self.spoke_stream_json && self.session_id.is_some() {
                    // Claude Code died mid-run: resume the conversation.
                    let reason = format!("the agent {how} before its result");
                    end(agent_error(&reason), Next::RetryAfterBackoff, reason)
                } else {
                    let reason = format!("the agent {how}");
                    end(agent_error(&reason), Next::Fail(reason.clone()), reason)
                }
            }
        }
    }
}

/// `retrying (attempt 2): HTTP 529 overloaded`.
fn retry_words(attempt: Option<u64>, status: Option<u16>, error: Option<&str>) -> String {
    let attempt = attempt.map(|n| format!(" {n}")).unwrap_or_default();
    let status = status.map_or_else(|| "no response".to_owned(), |code| format!("HTTP {code}"));
    match error {
        Some(error) => format!("Claude Code retry{attempt} after {status} {error}"),
        None => format!("Claude Code retry{attempt} after {status}"),
    }
}

fn agent_error(detail: &str) -> Outcome {
    Outcome::Error {
        kind: ErrorKind::Agent,
        detail: detail.to_owned(),
    }
}

fn first_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(|line| line.chars().take(200).collect())
}

/// One line for a person.
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success => "completed".to_owned(),
        Outcome::ApproachingLimit { utilization, .. } => {
            format!("approaching its limit ({:.0}% used)", utilization * 100.0)
        }
        Outcome::QuotaReported { readings } => readings
            .iter()
            .map(|reading| {
                format!(
                    "{} at {:.0}%",
                    reading.window.short(),
                    reading.utilization * 100.0
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        Outcome::RateLimited { reason, .. }
        | Outcome::QuotaExhausted { reason, .. }
        | Outcome::ModelLimitReached { reason, .. } => reason.clone(),
        Outcome::CredentialRejected { reason } => format!("credential rejected: {reason}"),
        Outcome::CredentialUnreadable { detail } => format!("credential unreadable: {detail}"),
        Outcome::Error { kind, detail } => {
            if detail.is_empty() {
                kind.as_str().to_owned()
            } else {
                format!("{}: {detail}", kind.as_str())
            }
        }
        Outcome::Overloaded => "the service is overloaded (529)".to_owned(),
    }
}

/// The pause before try `attempt` (1-based) after an overload or a plain
/// error: `base`, doubling, at most 30 s.
pub fn backoff(base: Duration, failed_attempts: u32) -> Duration {
    let factor = 1u32
        .checked_shl(failed_attempts.saturating_sub(1).min(16))
        .unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use jiff::tz::TimeZone;

    use super::*;

    fn context() -> ClassifyContext {
        // 12:00 UTC.
        ClassifyContext::new(
            Timestamp::from_second(1_795_694_400).unwrap(),
            TimeZone::UTC,
        )
    }

    const INIT: &str =
        r#"{"type":"system","subtype":"init","session_id":"sess-1","model":"claude-sonnet-4-5"}"#;
    const ASSISTANT: &str = r#"{"type":"assistant","message":{"id":"m1","model":"claude-sonnet-4-5","content":[{"type":"text","text":"working"}],"usage":{"input_tokens":10,"output_tokens":20,"cache_creation_input_tokens":30,"cache_read_input_tokens":40}},"session_id":"sess-1"}"#;
    const OK: &str = r#"{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"sess-1","total_cost_usd":0.5,"usage":{"input_tokens":11,"output_tokens":21,"cache_creation_input_tokens":31,"cache_read_input_tokens":41}}"#;
    const RETRY_429: &str = r#"{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":500,"error_status":429,"error":"rate_limit","session_id":"sess-1"}"#;
    const RETRY_529: &str = r#"{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":500,"error_status":529,"error":"overloaded","session_id":"sess-1"}"#;
    const RETRY_401: &str = r#"{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":500,"error_status":401,"error":"authentication_failed","session_id":"sess-1"}"#;
    const REJECTED_5H: &str = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1795712400,"rateLimitType":"five_hour","isUsingOverage":false},"session_id":"sess-1"}"#;
    const WARNING: &str = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"allowed_warning","resetsAt":1795712400,"rateLimitType":"five_hour","utilization":0.91},"session_id":"sess-1"}"#;
    const ALLOWED: &str = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"allowed","resetsAt":1795712400,"rateLimitType":"five_hour"},"session_id":"sess-1"}"#;
    const LIMIT_TEXT_RESULT: &str = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"You've hit your 5-hour limit · resets 10:52pm (UTC)","session_id":"sess-1","total_cost_usd":0}"#;
    const SYNTH_401: &str = r#"{"type":"assistant","message":{"model":"<synthetic>","content":[{"type":"text","text":"Failed to authenticate. API Error: 401 Invalid bearer token"}]},"session_id":"sess-1","error":"authentication_failed"}"#;
    const RESULT_401: &str = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":401,"result":"Failed to authenticate. API Error: 401 Invalid bearer token","session_id":"sess-1"}"#;
    const RESULT_529: &str = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":529,"result":"API Error: 529 Overloaded. This is a server-side issue, usually temporary","session_id":"sess-1"}"#;
    const RESULT_500: &str = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":500,"result":"API Error: 500 Internal server error.","session_id":"sess-1"}"#;
    const RESULT_BURST: &str = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited","session_id":"sess-1"}"#;
    const REJECTED_BURST: &str = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","isUsingOverage":false},"session_id":"sess-1"}"#;
    const REJECTED_OPUS: &str = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1795729572,"rateLimitType":"seven_day_opus","isUsingOverage":false},"session_id":"sess-1"}"#;
    const OPUS_TEXT_RESULT: &str = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"You've hit your Opus limit · resets Nov 26, 9:46pm (UTC)","session_id":"sess-1","total_cost_usd":0}"#;
    const RESULT_CREDIT: &str = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":400,"result":"Credit balance is too low","session_id":"sess-1"}"#;
    const RESULT_MAX_TURNS: &str = r#"{"type":"result","subtype":"error_max_turns","is_error":true,"errors":["Reached maximum number of turns (3)"],"session_id":"sess-1"}"#;
    const RESULT_NO_CONVERSATION: &str = r#"{"type":"result","subtype":"error_during_execution","is_error":true,"errors":["No conversation found with session ID: sess-1"],"session_id":"sess-9"}"#;

    /// Feed lines; return the verdicts and the end.
    fn check(
        max_api_retries: u32,
        resumed: Option<&str>,
        lines: &[&str],
        exit: Exit,
    ) -> (Vec<Verdict>, AttemptEnd) {
        let mut watch = AttemptWatch::new(
            WatchSettings { max_api_retries },
            resumed.map(str::to_owned),
        );
        let verdicts = lines
            .iter()
            .map(|line| watch.observe(line, &context()))
            .collect();
        (verdicts, watch.finish(exit))
    }

    #[test]
    fn retries_that_do_not_stop_the_agent_are_told() {
        let (verdicts, _) = check(2, None, &[INIT, RETRY_429, RETRY_529], Exit::Code(0));
        assert_eq!(
            verdicts[1],
            Verdict::Notice(
                "Claude Code retry 1 after HTTP 429 rate_limit (1 of 2 tolerated)".into()
            )
        );
        assert_eq!(
            verdicts[2],
            Verdict::Notice("Claude Code retry 1 after HTTP 529 overloaded".into())
        );
    }

    fn stops(verdicts: &[Verdict]) -> Vec<usize> {
        verdicts
            .iter()
            .enumerate()
            .filter(|(_, v)| matches!(v, Verdict::Stop(_)))
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn success_records_the_result_usage() {
        let (verdicts, end) = check(2, None, &[INIT, ASSISTANT, ALLOWED, OK], Exit::Code(0));
        assert!(verdicts.iter().all(|v| *v == Verdict::Continue));
        assert_eq!(end.outcome, Outcome::Success);
        assert_eq!(end.next, Next::Done);
        assert_eq!(end.session_id.as_deref(), Some("sess-1"));
        assert_eq!(end.usage.total_tokens(), 104);
        assert_eq!(end.usage.cost_micros_usd, Some(500_000));
    }

    #[test]
    fn a_rejection_without_window_or_reset_is_a_burst_limit() {
        let (verdicts, end) = check(
            2,
            None,
            &[INIT, ASSISTANT, REJECTED_BURST, RESULT_BURST],
            Exit::Code(1),
        );
        assert!(
            stops(&verdicts).is_empty(),
            "Claude Code ends the turn itself"
        );
        let Outcome::RateLimited { retry_at, reason } = &end.outcome else {
            panic!("expected rate_limited, got {:?}", end.outcome);
        };
        assert_eq!(
            *retry_at, None,
            "the state machine applies rate_limit_cooldown"
        );
        assert!(reason.contains("temporarily limited"), "{reason}");
        assert_eq!(end.next, Next::Failover);
    }

    #[test]
    fn an_opus_limit_stops_at_once_and_limits_only_opus() {
        let (verdicts, end) = check(
            2,
            None,
            &[INIT, ASSISTANT, REJECTED_OPUS, OPUS_TEXT_RESULT],
            Exit::StoppedByKage,
        );
        assert_eq!(stops(&verdicts), vec![2]);
        let Outcome::ModelLimitReached {
            family, resets_at, ..
        } = &end.outcome
        else {
            panic!("expected a model limit, got {:?}", end.outcome);
        };
        assert_eq!(*family, kage_domain::ModelFamily::Opus);
        assert_eq!(
            *resets_at,
            Some(Timestamp::from_second(1_795_729_572).unwrap())
        );
        assert_eq!(end.next, Next::Failover);
    }

    #[test]
    fn window_limit_event_stops_at_once_with_its_reset_time() {
        let (verdicts, end) = check(
            2,
            None,
            &[INIT, ASSISTANT, REJECTED_5H, LIMIT_TEXT_RESULT],
            Exit::StoppedByKage,
        );
        assert_eq!(stops(&verdicts), vec![2]);
        let Outcome::QuotaExhausted { resets_at, reason } = &end.outcome else {
            panic!("expected exhausted, got {:?}", end.outcome);
        };
        // The event's resetsAt wins over the text's 10:52pm.
        assert_eq!(
            *resets_at,
            Some(Timestamp::from_second(1_795_712_400).unwrap())
        );
        assert!(reason.starts_with("5-hour limit"), "{reason}");
        assert_eq!(end.next, Next::Failover);
        // Usage seen before the stop is kept.
        assert_eq!(end.usage.total_tokens(), 100);
        assert_eq!(end.session_id.as_deref(), Some("sess-1"));
    }

    #[test]
    fn limit_text_alone_fails_over_with_the_parsed_time() {
        let (_, end) = check(2, None, &[INIT, LIMIT_TEXT_RESULT], Exit::Code(1));
        let Outcome::QuotaExhausted { resets_at, .. } = &end.outcome else {
            panic!("expected exhausted, got {:?}", end.outcome);
        };
        // 22:52 UTC on the context's day.
        assert_eq!(
            *resets_at,
            Some(Timestamp::from_second(1_795_733_520).unwrap())
        );
        assert_eq!(end.next, Next::Failover);
    }

    #[test]
    fn rate_limit_retries_stop_after_the_allowed_number() {
        let (verdicts, end) = check(
            2,
            None,
            &[INIT, RETRY_429, RETRY_429, RETRY_429, RETRY_429],
            Exit::StoppedByKage,
        );
        assert_eq!(stops(&verdicts), vec![3]);
        assert!(matches!(end.outcome, Outcome::RateLimited { .. }));
        assert_eq!(end.next, Next::Failover);

        let (verdicts, _) = check(0, None, &[INIT, RETRY_429], Exit::StoppedByKage);
        assert_eq!(stops(&verdicts), vec![1]);
    }

    #[test]
    fn rate_limit_retries_below_the_limit_then_success_is_success() {
        let (verdicts, end) = check(2, None, &[INIT, RETRY_429, RETRY_429, OK], Exit::Code(0));
        assert!(stops(&verdicts).is_empty());
        assert_eq!(end.outcome, Outcome::Success);
        assert_eq!(end.next, Next::Done);
    }

    #[test]
    fn authentication_retry_stops_and_rejects_the_credential() {
        let (verdicts, end) = check(2, None, &[INIT, RETRY_401], Exit::StoppedByKage);
        assert_eq!(stops(&verdicts), vec![1]);
        assert!(matches!(end.outcome, Outcome::CredentialRejected { .. }));
        assert_eq!(end.next, Next::Failover);
    }

    #[test]
    fn oauth_401_result_rejects_the_credential() {
        let (verdicts, end) = check(2, None, &[INIT, SYNTH_401, RESULT_401], Exit::Code(1));
        assert!(stops(&verdicts).is_empty());
        assert!(matches!(end.outcome, Outcome::CredentialRejected { .. }));
        assert_eq!(end.next, Next::Failover);
    }

    #[test]
    fn overload_retries_later_without_marking() {
        let (verdicts, end) = check(
            2,
            None,
            &[INIT, RETRY_529, RETRY_529, RETRY_529, RESULT_529],
            Exit::Code(1),
        );
        assert!(stops(&verdicts).is_empty());
        assert_eq!(end.outcome, Outcome::Overloaded);
        assert_eq!(end.next, Next::RetryAfterBackoff);
    }

    #[test]
    fn server_error_is_a_plain_error_that_retries() {
        let (_, end) = check(2, None, &[INIT, RESULT_500], Exit::Code(1));
        assert!(matches!(
            end.outcome,
            Outcome::Error {
                kind: ErrorKind::Server,
                ..
            }
        ));
        assert_eq!(end.next, Next::RetryAfterBackoff);
    }

    #[test]
    fn burst_and_credit_results_fail_over() {
        let (_, end) = check(2, None, &[INIT, RESULT_BURST], Exit::Code(1));
        assert!(matches!(end.outcome, Outcome::RateLimited { .. }));
        assert_eq!(end.next, Next::Failover);
        let (_, end) = check(2, None, &[INIT, RESULT_CREDIT], Exit::Code(1));
        assert!(matches!(end.outcome, Outcome::QuotaExhausted { .. }));
        assert_eq!(end.next, Next::Failover);
    }

    #[test]
    fn approaching_limit_is_recorded_and_the_agent_goes_on() {
        let (verdicts, end) = check(2, None, &[INIT, WARNING, OK], Exit::Code(0));
        assert!(matches!(
            verdicts[1],
            Verdict::Record(Outcome::ApproachingLimit { utilization, .. }) if utilization == 0.91
        ));
        assert_eq!(end.outcome, Outcome::Success);
    }

    #[test]
    fn agent_errors_fail_the_task_without_marking() {
        let (_, end) = check(2, None, &[INIT, RESULT_MAX_TURNS], Exit::Code(1));
        assert!(matches!(
            end.outcome,
            Outcome::Error {
                kind: ErrorKind::Agent,
                ..
            }
        ));
        assert!(matches!(end.next, Next::Fail(ref r) if r.contains("maximum number of turns")));
    }

    #[test]
    fn a_lost_session_restarts_fresh_only_when_resuming() {
        let (_, end) = check(2, Some("sess-1"), &[RESULT_NO_CONVERSATION], Exit::Code(1));
        assert_eq!(end.next, Next::RestartFresh);
        let (_, end) = check(2, None, &[RESULT_NO_CONVERSATION], Exit::Code(1));
        assert!(matches!(end.next, Next::Fail(_)));
    }

    #[test]
    fn crash_after_stream_json_resumes_but_a_plain_command_fails() {
        let (_, end) = check(2, None, &[INIT, ASSISTANT], Exit::Signal(9));
        assert_eq!(end.next, Next::RetryAfterBackoff);
        assert_eq!(end.session_id.as_deref(), Some("sess-1"));
        assert_eq!(end.usage.total_tokens(), 100);

        let (_, end) = check(2, None, &["building…", "tests failed"], Exit::Code(3));
        assert!(matches!(end.next, Next::Fail(ref r) if r.contains("status 3")));
        let (_, end) = check(2, None, &["all good"], Exit::Code(0));
        assert_eq!((end.outcome, end.next), (Outcome::Success, Next::Done));
    }

    #[test]
    fn a_resumed_attempt_keeps_the_session_id_it_was_given() {
        let (_, end) = check(2, Some("sess-1"), &["not json"], Exit::Signal(15));
        assert_eq!(end.session_id.as_deref(), Some("sess-1"));
    }

    #[test]
    fn success_after_a_stop_still_finishes_the_task_but_marks_the_limit() {
        let (_, end) = check(2, None, &[INIT, REJECTED_5H, OK], Exit::StoppedByKage);
        assert!(matches!(end.outcome, Outcome::QuotaExhausted { .. }));
        assert_eq!(end.next, Next::Done);
    }

    #[test]
    fn backoff_doubles_to_a_ceiling() {
        let base = Duration::from_millis(500);
        assert_eq!(backoff(base, 1), Duration::from_millis(500));
        assert_eq!(backoff(base, 2), Duration::from_secs(1));
        assert_eq!(backoff(base, 4), Duration::from_secs(4));
        assert_eq!(backoff(base, 40), Duration::from_secs(30));
    }
}
