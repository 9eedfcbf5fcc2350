//! `kage statusline`: Claude Code's status-line command under a Kage lease.
//!
//! Claude Code runs it after each response with a JSON object on stdin
//! (`session::status_input`). It records the live quota
//! (`rate_limits.five_hour` / `seven_day`) on the leased subscription (named
//! by `KAGE_SUBSCRIPTION`, the lease by `KAGE_LEASE_ID`) as an
//! `ApproachingLimit` outcome of the window nearest its limit, runs the
//! user's own status line (`KAGE_USER_STATUSLINE`, set by `kage claude`) and
//! prints one line: `kage · work-premium · 5h 42% · 7d 18%`, then the user's.
//!
//! It runs after every response, so it does as little as it can: the config,
//! the store, one indexed read of the subscription and one small write; no
//! secret store, no pool-wide read. Nothing here may break the user's status
//! line: without a lease, with bad input or a failing store it still prints
//! a line and exits 0 (failures go to the log at debug level).
//!
//! A window whose utilization reached one of `alert_thresholds` records a
//! quota alert (once per window, reset and threshold, whichever process
//! sees it first) and runs `notify_command` for it, bounded by
//! `notify_timeout`: only then does the status line wait for more than the
//! store.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use clap::Args;
use kage_app::notify::Notifier;
use kage_core::launch::{LEASE_VARIABLE, SUBSCRIPTION_VARIABLE};
use kage_domain::{LeaseId, Outcome, SubscriptionName};
use tokio::io::AsyncWriteExt as _;

use crate::command::Context;
use crate::output::json::{self, StatuslineJson, WindowJson};
use crate::session::settings::{USER_STATUSLINE_VARIABLE, plain_words};
use crate::session::status_input::{QuotaWindow, StatusInput};

const EXAMPLES: &str = "\
`kage claude` installs this for its session (through --settings) and runs
your own status line after it. For a claude started some other way inside
a leased shell (KAGE_LEASE_ID set), put it in your settings:
  {\"statusLine\": {\"type\": \"command\", \"command\": \"kage statusline\"}}

It always exits 0 and prints a line: a status line must never break.

Examples:
  kage statusline < input.json            # Claude Code's status-line JSON on stdin
  kage statusline --json < input.json | jq .five_hour.used_percentage";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct StatuslineArgs {
    /// Also copy the input to FILE (how `kage claude` watches the quota)
    #[arg(long, value_name = "FILE", hide = true)]
    report: Option<PathBuf>,

    /// Print one JSON document (the subscription, the quota windows, the line)
    #[arg(long)]
    json: bool,
}

impl StatuslineArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let mut raw = Vec::new();
        if let Err(error) = std::io::stdin().read_to_end(&mut raw) {
            tracing::debug!("could not read the status line input: {error}");
        }
        let input = match StatusInput::parse(&String::from_utf8_lossy(&raw)) {
            Ok(input) => input,
            Err(error) => {
                tracing::debug!("the status line input is not Claude Code's JSON: {error}");
                StatusInput::default()
            }
        };
        if let Some(report) = &self.report {
            write_report(report, &raw);
        }
        let env = &context.options.env;
        let lease = env
            .get(SUBSCRIPTION_VARIABLE)
            .and_then(|name| SubscriptionName::new(name).ok())
            .zip(
                env.get(LEASE_VARIABLE)
                    .and_then(|id| id.parse::<LeaseId>().ok()),
            );
        let user_command = env.get(USER_STATUSLINE_VARIABLE).map(str::to_owned);

        let record = async {
            if let Some((name, lease_id)) = &lease
                && let Some((_, window)) = input.binding_window()
                && let Err(error) = record(context, name, *lease_id, window, &input).await
            {
                tracing::debug!("could not record the quota of {name}: {error:#}");
            }
        };
        let ((), user_line) = tokio::join!(record, run_user_statusline(user_command, &raw));

        let line = match &lease {
            Some((name, _)) => kage_part(name, &input),
            None => "kage".to_owned(),
        };
        let text = match &user_line {
            Some(user) if lease.is_none() => user.clone(),
            Some(user) => format!("{line} · {user}"),
            None => format!("{line}\n"),
        };
        if self.json {
            let document = StatuslineJson {
                subscription: lease.as_ref().map(|(name, _)| name.to_string()),
                lease_id: lease.as_ref().map(|(_, id)| id.to_string()),
                five_hour: input.five_hour.as_ref().map(WindowJson::new),
                seven_day: input.seven_day.as_ref().map(WindowJson::new),
                line: text.trim_end().to_owned(),
            };
            context.printer.out(&json::document(&document))?;
        } else {
            context.printer.out(&text)?;
        }
        Ok(())
    }
}

/// `kage · NAME · 5h 42% · 7d 18%` (the windows the input has).
fn kage_part(name: &SubscriptionName, input: &StatusInput) -> String {
    let mut line = format!("kage · {name}");
    for (label, window) in [("5h", &input.five_hour), ("7d", &input.seven_day)] {
        if let Some(window) = window {
            line.push_str(&format!(" · {label} {:.0}%", window.used_percentage));
        }
    }
    line
}

/// Copy the input to `path` (write a sibling, then rename, so a reader
/// never sees half of it).
fn write_report(path: &Path, raw: &[u8]) {
    let partial = path.with_extension("partial");
    let written = std::fs::write(&partial, raw).and_then(|()| std::fs::rename(&partial, path));
    if let Err(error) = written {
        tracing::debug!("could not write {}: {error}", path.display());
    }
}

/// The one write: the window nearest its limit as an `ApproachingLimit`
/// outcome of the lease's subscription. When a window's utilization reached
/// an alert threshold, the alert is recorded (once across every process)
/// and `notify_command` runs for the new ones.
async fn record(
    context: &Context<'_>,
    name: &SubscriptionName,
    lease_id: LeaseId,
    window: &QuotaWindow,
    input: &StatusInput,
) -> anyhow::Result<()> {
    let config = context.config()?;
    let clock: std::sync::Arc<dyn kage_ports::Clock> =
        kage_app::pool::clock(&context.options)?.into();
    let store = kage_app::pool::open_store_quick(&config, clock.clone()).await?;
    let Some(subscription) = store.subscription_by_name(name).await? else {
        tracing::debug!("no subscription named {name}; nothing recorded");
        return Ok(());
    };
    let outcome = Outcome::ApproachingLimit {
        utilization: window.utilization(),
        resets_at: window.resets_at,
    };
    store
        .record_outcome(
            subscription.id,
            &outcome,
            Some(lease_id),
            &config.state_policy(),
            clock.now(),
        )
        .await?;
    let readings = input.readings();
    let alerts = kage_core::record_quota_alerts(
        &store,
        &config.subscriptions().alert_thresholds,
        subscription.id,
        &subscription.name,
        &readings,
        clock.now(),
    )
    .await?;
    if !alerts.is_empty() {
        Notifier::from_config(&config).notify_all(&alerts).await;
    }
    Ok(())
}

/// Run the user's status line with the same input; its output, or `None`
/// when there is none or it fails (the failure is logged at debug level).
async fn run_user_statusline(command: Option<String>, input: &[u8]) -> Option<String> {
    let command = command?;
    let mut process = match plain_words(&command) {
        Some(words) => {
            let mut process = tokio::process::Command::new(&words[0]);
            process.args(&words[1..]);
            process
        }
        None => {
            let mut process = tokio::process::Command::new("sh");
            process.arg("-c").arg(&command);
            process
        }
    };
    process
        .env_remove(USER_STATUSLINE_VARIABLE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = match process.spawn() {
        Ok(child) => child,
        Err(error) => {
            tracing::debug!("could not run the status line `{command}`: {error}");
            return None;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input closes the pipe early.
        let _ = stdin.write_all(input).await;
    }
    match child.wait_with_output().await {
        Ok(output) if !output.stdout.is_empty() => {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            Some(text)
        }
        Ok(_) => None,
        Err(error) => {
            tracing::debug!("the status line `{command}` failed: {error}");
            None
        }
    }
}
