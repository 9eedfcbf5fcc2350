//! `notify_command`: what Kage runs when a quota alert is recorded, so that
//! people can wire desktop notifications or chat to it.
//!
//! The command is an argument list run without a shell. It reads the alert
//! as one JSON Lines record on stdin (`{"type":"quota_alert","data":{…}}`,
//! [`crate::json::QuotaAlertJson`]). It gets a small, fixed environment
//! ([`PASSED_VARIABLES`]: enough for a desktop notification or a network
//! call, never a credential: Kage's own process may hold one when it runs
//! under a lease), and it is stopped after `notify_timeout`. A command that
//! fails or times out is logged; it never fails the caller.

use std::process::Stdio;
use std::time::Duration;

use kage_domain::QuotaAlert;
use tokio::io::AsyncWriteExt as _;

use crate::json::{QuotaAlertJson, record};

/// The only variables the command inherits (when set).
pub const PASSED_VARIABLES: [&str; 14] = [
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "DBUS_SESSION_BUS_ADDRESS",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
];

/// How an alert ended up being told.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Notified {
    /// No command is configured.
    NoCommand,
    /// The command ran and exited with this status.
    Ran { success: bool },
    /// It did not finish within the timeout and was stopped.
    TimedOut,
    /// It could not be started (the message says why).
    NotStarted(String),
}

/// The configured command and its time limit.
#[derive(Clone, Debug)]
pub struct Notifier {
    command: Vec<String>,
    timeout: Duration,
}

impl Notifier {
    pub fn new(command: Vec<String>, timeout: Duration) -> Self {
        Self { command, timeout }
    }

    /// From the config's `notify_command` and `notify_timeout`.
    pub fn from_config(config: &kage_config::Config) -> Self {
        let subscriptions = config.subscriptions();
        Self::new(
            subscriptions.notify_command.clone(),
            subscriptions.notify_timeout,
        )
    }

    pub fn is_configured(&self) -> bool {
        !self.command.is_empty()
    }

    /// Run the command once per alert, one after the other.
    pub async fn notify_all(&self, alerts: &[QuotaAlert]) -> Vec<Notified> {
        let mut results = Vec::with_capacity(alerts.len());
        for alert in alerts {
            results.push(self.notify(alert).await);
        }
        results
    }

    /// Run the command for one alert (see the module docs).
    pub async fn notify(&self, alert: &QuotaAlert) -> Notified {
        let Some((program, arguments)) = self.command.split_first() else {
            return Notified::NoCommand;
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(arguments)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for variable in PASSED_VARIABLES {
            if let Some(value) = std::env::var_os(variable) {
                command.env(variable, value);
            }
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                let message = format!("cannot run notify_command `{program}`: {error}");
                tracing::warn!("{message}; check notify_command in the config file");
                return Notified::NotStarted(message);
            }
        };
        let input = record("quota_alert", &QuotaAlertJson::new(alert));
        let run = async {
            if let Some(mut stdin) = child.stdin.take() {
                // A command that does not read its input closes the pipe early.
                let _ = stdin.write_all(input.as_bytes()).await;
            }
            child.wait().await
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(status)) => {
                if !status.success() {
                    tracing::warn!("notify_command `{program}` failed ({status})");
                }
                Notified::Ran {
                    success: status.success(),
                }
            }
            Ok(Err(error)) => {
                let message = format!("notify_command `{program}` failed: {error}");
                tracing::warn!("{message}");
                Notified::NotStarted(message)
            }
            Err(_) => {
                let _ = child.kill().await;
                tracing::warn!(
                    "notify_command `{program}` ran longer than {} and was stopped; raise notify_timeout or make it quicker",
                    humantime::format_duration(self.timeout)
                );
                Notified::TimedOut
            }
        }
    }
}
