//! One attempt: one agent process on one lease, from spawn to exit.
//!
//! The loop reads the agent's standard output line by line as it arrives
//! (each line is also appended to the task's `.stdout` file), feeds it to
//! the [`AttemptWatch`], heartbeats the lease every third of its TTL, and
//! stops the agent (TERM to its process group, KILL after the grace period)
//! on a stop verdict or on Ctrl-C. The lease is released by the caller.

use std::fs::File;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use kage_core::Pool;
use kage_core::launch::ChildEnvironment;
use kage_domain::signal::ClassifyContext;
use kage_domain::{ErrorKind, Outcome};
use kage_ports::{
    Clock, KeyedUsage, Lease, LeaseError, SecretStore, SecretString, SubscriptionStore, UsageBatch,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::child::{self, ChildSignal};
use super::events::{EventSink, RunEvent, TaskRef};
use crate::stream_json::MessageTokens;

use super::watch::{AttemptEnd, AttemptWatch, Exit, Next, Verdict, WatchSettings, describe};

/// Everything one attempt needs besides the pool.
pub struct AttemptPlan<'a> {
    pub task: &'a TaskRef,
    pub attempt: u32,
    pub lease: &'a Lease,
    /// What the child's environment loses and gains ([`Pool::child_environment`]).
    pub environment: &'a ChildEnvironment,
    pub credential: &'a SecretString,
    pub argv: &'a [String],
    pub cwd: Option<&'a Path>,
    /// The session this attempt resumes.
    pub resume: Option<String>,
    pub stdout_log: &'a mut File,
    pub stderr_log: File,
    pub settings: WatchSettings,
    pub heartbeat_every: Duration,
    pub ttl: Duration,
    pub stop_grace: Duration,
    /// Start the agent through the parent-death shim.
    pub end_with_us: bool,
}

/// How the attempt ended.
pub struct AttemptRun {
    pub end: AttemptEnd,
    /// Ctrl-C stopped it.
    pub interrupted: bool,
}

/// Run one attempt to its end.
pub async fn run_attempt<S, K, C>(
    pool: &Pool<S, K, C>,
    plan: AttemptPlan<'_>,
    events: &EventSink,
    cancel: &mut watch::Receiver<bool>,
) -> AttemptRun
where
    S: SubscriptionStore,
    K: SecretStore,
    C: Clock,
{
    let mut watch = AttemptWatch::new(plan.settings, plan.resume.clone());
    let mut process = match child::spawn(
        plan.argv,
        plan.cwd,
        plan.environment,
        plan.credential,
        plan.stderr_log,
        plan.end_with_us,
    ) {
        Ok(process) => process,
        Err(error) => {
            let where_ = plan
                .cwd
                .map(|cwd| format!(" in {}", cwd.display()))
                .unwrap_or_default();
            let reason = format!(
                "could not start `{}`{where_}: {error}; install it or set [agent] command in the config",
                plan.argv.first().map(String::as_str).unwrap_or("")
            );
            return AttemptRun {
                end: AttemptEnd {
                    outcome: Outcome::Error {
                        kind: ErrorKind::Agent,
                        detail: reason.clone(),
                    },
                    usage: kage_domain::Usage::default(),
                    session_id: plan.resume,
                    next: Next::Fail(reason.clone()),
                    reason,
                },
                interrupted: false,
            };
        }
    };
    let pid = process.id();
    let stdout = process.stdout.take().expect("stdout is piped");
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::with_capacity(4096);

    let mut heartbeat =
        tokio::time::interval_at(Instant::now() + plan.heartbeat_every, plan.heartbeat_every);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);

    let mut stdout_open = true;
    let mut exit: Option<std::process::ExitStatus> = None;
    let mut stop_requested = false;
    let mut kill_at: Option<Instant> = None;
    let mut drain_until: Option<Instant> = None;
    let mut interrupted = false;
    let mut cancel_open = true;
    let mut reported_tokens = 0;
    let mut lease_lost = false;
    let subscription = &plan.lease.subscription_name;

    let stop_grace = plan.stop_grace;

    loop {
        if !stdout_open && exit.is_some() {
            break;
        }
        let far = Instant::now() + Duration::from_secs(86_400);
        tokio::select! {
            read = reader.read_until(b'\n', &mut line), if stdout_open => {
                match read {
                    Ok(0) | Err(_) => stdout_open = false,
                    Ok(_) => {
                        let _ = plan.stdout_log.write_all(&line);
                        if !line.ends_with(b"\n") {
                            let _ = plan.stdout_log.write_all(b"\n");
                        }
                        let text = String::from_utf8_lossy(&line);
                        let context = ClassifyContext::new(pool.clock().now(), pool.clock().time_zone());
                        let verdict = watch.observe(text.trim_end(), &context);
                        line.clear();
                        record_messages(pool, plan.lease, watch.take_messages(false), events).await;
                        match verdict {
                            Verdict::Continue => {}
                            Verdict::Notice(text) => events.send(RunEvent::Note {
                                task: plan.task.clone(),
                                subscription: subscription.clone(),
                                text,
                            }),
                            Verdict::Record(outcome) => {
                                match pool.record_signal(plan.lease, &outcome).await {
                                    Ok(record) => {
                                        for alert in record.alerts {
                                            events.send(RunEvent::QuotaAlert {
                                                task: plan.task.clone(),
                                                alert,
                                            });
                                        }
                                    }
                                    Err(error) => events.send(RunEvent::Warning {
                                        text: format!("could not record a signal of {subscription}: {error:#}"),
                                    }),
                                }
                                events.send(RunEvent::Note {
                                    task: plan.task.clone(),
                                    subscription: subscription.clone(),
                                    text: describe(&outcome),
                                });
                            }
                            Verdict::Stop(outcome) => {
                                stop_requested = true;
                                events.send(RunEvent::Stopping {
                                    task: plan.task.clone(),
                                    subscription: subscription.clone(),
                                    reason: describe(&outcome),
                                });
                                request_stop(pid, exit.is_some(), stop_grace, &mut kill_at);
                            }
                        }
                        let tokens = watch.tokens();
                        if tokens != reported_tokens {
                            reported_tokens = tokens;
                            events.send(RunEvent::Progress { task: plan.task.clone(), tokens });
                        }
                    }
                }
            }
            status = process.wait(), if exit.is_none() => {
                match status {
                    Ok(status) => exit = Some(status),
                    Err(_) => exit = Some(std::process::ExitStatus::from_raw(1 << 8)),
                }
                // Whatever is still in the pipe is read; a tool that kept
                // the pipe open does not hold the attempt for long.
                drain_until = Some(Instant::now() + Duration::from_secs(2));
            }
            _ = heartbeat.tick(), if !lease_lost => {
                match pool.heartbeat(plan.lease.id, Some(plan.ttl)).await {
                    Ok(_) => {}
                    // Gone: the slot may already be someone else's. Stop the
                    // agent and fail over; the next lease is the best free
                    // subscription, this one again if it is still free.
                    Err(
                        error @ (LeaseError::Expired { .. }
                        | LeaseError::NotFound(_)
                        | LeaseError::AlreadyReleased(_)
                            | LeaseError::SubscriptionRetired { .. }),
                    ) => {
                        lease_lost = true;
                        events.send(RunEvent::Warning {
                            text: format!("the lease on {subscription} was lost ({error}); stopping the agent to resume on a new lease"),
                        });
                        request_stop(pid, exit.is_some(), stop_grace, &mut kill_at);
                    }
                    Err(error) => events.send(RunEvent::Warning {
                        text: format!("heartbeat of the lease on {subscription} failed: {error}"),
                    }),
                }
            }
            changed = cancel.changed(), if cancel_open && !interrupted => {
                match changed {
                    Ok(()) if *cancel.borrow() => {
                        interrupted = true;
                        request_stop(pid, exit.is_some(), stop_grace, &mut kill_at);
                    }
                    Ok(()) => {}
                    Err(_) => cancel_open = false,
                }
            }
            _ = tokio::time::sleep_until(kill_at.unwrap_or(far)), if kill_at.is_some() && exit.is_none() => {
                child::signal_group(pid, ChildSignal::SIGKILL);
                let _ = process.start_kill();
                kill_at = Some(far);
            }
            _ = tokio::time::sleep_until(drain_until.unwrap_or(far)), if drain_until.is_some() && stdout_open => {
                stdout_open = false;
            }
        }
    }
    let _ = plan.stdout_log.flush();
    record_messages(pool, plan.lease, watch.take_messages(true), events).await;

    let exit = match exit {
        _ if stop_requested || interrupted || lease_lost => Exit::StoppedByKage,
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Code(1),
        },
        None => Exit::Code(1),
    };
    let stopped_for_limit = watch.stopping().is_some();
    let mut end = watch.finish(exit);
    if interrupted && !stopped_for_limit && end.next != Next::Done {
        end.outcome = Outcome::Error {
            kind: ErrorKind::Agent,
            detail: "interrupted".to_owned(),
        };
        end.reason = "interrupted".to_owned();
        end.next = Next::Fail("interrupted".to_owned());
    }
    if lease_lost && !interrupted && !stopped_for_limit && end.next != Next::Done {
        end.outcome = Outcome::Error {
            kind: ErrorKind::Agent,
            detail: "the lease was lost".to_owned(),
        };
        end.reason = "the lease was lost".to_owned();
        end.next = Next::Failover;
    }
    AttemptRun { end, interrupted }
}

/// Record complete assistant messages' usage on the lease as they come, so
/// a kill -9 of `kage-agent` loses at most the message being streamed; the
/// release later adds only what these records do not hold.
async fn record_messages<S, K, C>(
    pool: &Pool<S, K, C>,
    lease: &Lease,
    messages: Vec<MessageTokens>,
    events: &EventSink,
) where
    S: SubscriptionStore,
    K: SecretStore,
    C: Clock,
{
    if messages.is_empty() {
        return;
    }
    let now = pool.clock().now();
    let batch = UsageBatch {
        subscription_id: lease.subscription_id,
        lease_id: Some(lease.id),
        records: messages
            .into_iter()
            .map(|message| KeyedUsage {
                key: message.key,
                usage: message.usage,
                at: now,
            })
            .collect(),
        offsets: Vec::new(),
    };
    if let Err(error) = pool.record_usage(&batch).await {
        events.send(RunEvent::Warning {
            text: format!(
                "could not record usage on {} as it came ({error:#}); the release records it",
                lease.subscription_name
            ),
        });
    }
}

/// TERM the agent's process group now and KILL it after `grace`, once.
/// A child already reaped is not signalled (its pid may be reused).
fn request_stop(pid: Option<u32>, exited: bool, grace: Duration, kill_at: &mut Option<Instant>) {
    if kill_at.is_none() && !exited {
        child::signal_group(pid, ChildSignal::SIGTERM);
        *kill_at = Some(Instant::now() + grace);
    }
}
