//! `kage exec [--namespace NS] -- COMMAND…`: lease one subscription for one
//! (interactive) command.
//!
//! Modelled on aws-vault's `exec`: refuses to nest, removes every Anthropic
//! credential variable (and every variable a subscription reads its
//! credential from) from the child's environment and sets exactly one
//! (plus `KAGE_SUBSCRIPTION` and `KAGE_LEASE_ID`), never puts the secret in
//! an argument list, heartbeats the lease every TTL/3 while the child runs,
//! forwards SIGTERM and SIGHUP (and SIGINT when the child does not share
//! our terminal, which already delivers Ctrl-C to it), releases the lease
//! when the child ends, and exits with the child's status.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use kage_core::launch::is_nested;
use kage_core::{AcquireRequest, ReleaseRequest};
use kage_domain::{ErrorKind, Outcome, Usage};
use kage_ports::{ExposeSecret, LeaseError};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use crate::command::{Context, SelectionArgs, lease};
use kage_app::exit::UsageError;
use kage_app::pool::AppPool;
use kage_app::time::{parse_ttl, parse_wait};

const EXAMPLES: &str = "\
The command gets the leased credential in its environment, as the only
Anthropic credential variable (CLAUDE_CODE_OAUTH_TOKEN or ANTHROPIC_API_KEY),
plus KAGE_SUBSCRIPTION and KAGE_LEASE_ID. kage exits with its status.

Examples:
  kage exec -- claude
  kage exec --namespace backend -- claude -p \"fix the failing test\"
  kage exec --priority batch --wait 30m -- ./nightly-refactor.sh";

/// The lease flags `kage exec` and `kage claude` share.
#[derive(Args, Debug, Clone)]
#[command(mut_arg("model", |arg| arg.help("The model the work uses (`claude-opus-4-5`, `opus`, `sonnet`): subscriptions at their limit for that model family are passed over; Claude Code gets it as its --model unless it has one")))]
pub(crate) struct LeaseOptions {
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,

    /// Wait up to DURATION for a subscription to come back
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    pub(crate) wait: Option<Duration>,

    /// Lease TTL; the lease is heartbeaten every TTL/3 (default: the config's lease_ttl)
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    pub(crate) ttl: Option<Duration>,

    /// Lease even inside a command that already holds a Kage lease (KAGE_SUBSCRIPTION is set)
    #[arg(long)]
    pub(crate) nested: bool,
}

impl LeaseOptions {
    /// Refuse to nest under another lease unless `--nested`.
    pub(crate) fn check_nesting(&self) -> Result<(), UsageError> {
        match is_nested(|name| std::env::var(name).ok()) {
            Some(subscription) if !self.nested => Err(UsageError(format!(
                "this shell already runs under a Kage lease on {subscription} (KAGE_SUBSCRIPTION is set); pass --nested to lease another subscription anyway"
            ))),
            _ => Ok(()),
        }
    }

    /// The acquire request for these flags; `max_wait` overrides `--wait`.
    pub(crate) fn request(
        &self,
        program: &str,
        ttl: Duration,
        max_wait: Option<Duration>,
    ) -> AcquireRequest {
        AcquireRequest {
            selection: self.selection.request(),
            ttl: Some(ttl),
            max_wait,
            holder: lease::holder(program, std::process::id()),
        }
    }
}

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES, override_usage = "kage exec [OPTIONS] -- <COMMAND>...")]
pub(crate) struct ExecArgs {
    #[command(flatten)]
    lease: LeaseOptions,

    /// For `claude`: stay on the subscription when it hits a limit (see `kage claude`)
    #[arg(long)]
    no_failover: bool,

    /// The command to run and its arguments
    #[arg(
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

/// The exit code of a finished child: its code, or 128 + the signal.
pub(crate) fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code.rem_euclid(256)).unwrap_or(kage_app::exit::FAILURE),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(kage_app::exit::FAILURE),
        (None, None) => kage_app::exit::FAILURE,
    }
}

pub(crate) fn forward(child: Option<u32>, signal: Signal) {
    if let Some(pid) = child.and_then(|pid| i32::try_from(pid).ok()) {
        // The child may have exited already; nothing to do then.
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
    }
}

pub(crate) async fn release(
    opened: &crate::command::Opened,
    context: &Context<'_>,
    lease_id: kage_domain::LeaseId,
    outcome: Outcome,
) {
    let request = ReleaseRequest {
        lease_id,
        outcome,
        usage: Usage::default(),
    };
    // Retried for up to a TTL while the database cannot take the write.
    let patience = opened.pool.settings().lease_ttl;
    match kage_app::spool::release_with_retry(
        &opened.pool,
        request,
        patience,
        opened.spool.as_ref(),
    )
    .await
    {
        Ok(report) => {
            if let Some(transition) = report.transition {
                context.printer.info(format_args!(
                    "{}: {} → {} ({})",
                    report.lease.subscription_name,
                    transition.from,
                    transition.to,
                    crate::output::format::printable(&transition.reason)
                ));
            }
        }
        Err(error) => context.printer.warn(format_args!(
            "could not release lease {lease_id}: {error:#}; it expires by itself"
        )),
    }
}

/// After the lease was lost (expired, released or removed under us), lease
/// the same subscription again if it is still free: the child already holds
/// its credential. Any other grant is given back at once.
pub(crate) async fn regain(
    pool: &AppPool,
    request: &AcquireRequest,
    lost: &kage_ports::Lease,
) -> Option<kage_ports::Lease> {
    let again = AcquireRequest {
        max_wait: None,
        ..request.clone()
    };
    let grant = pool.acquire(&again, |_| {}).await.ok()?;
    if grant.lease.subscription_id == lost.subscription_id {
        return Some(grant.lease);
    }
    let _ = pool
        .release(ReleaseRequest {
            lease_id: grant.lease.id,
            outcome: Outcome::Success,
            usage: Usage::default(),
        })
        .await;
    None
}

impl ExecArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<u8> {
        if crate::session::is_claude(&self.command[0]) {
            let (program, arguments) = self.command.split_first().expect("required = true");
            return crate::session::run(
                context,
                &self.lease,
                program.clone(),
                arguments.to_vec(),
                !self.no_failover,
            )
            .await;
        }
        let printer = context.printer;
        self.lease.check_nesting()?;
        let opened = context.open().await?;
        if let Some(spool) = &opened.spool {
            spool.check_room()?;
        }
        let pool = &opened.pool;
        let zone = pool.clock().time_zone();
        let ttl = self.lease.ttl.unwrap_or(pool.settings().lease_ttl);
        let request = self.lease.request("kage-exec", ttl, self.lease.wait);
        let granted = pool
            .acquire_with_credential(&request, |notice| {
                printer.info(lease::waiting_message(notice, pool.clock().now(), &zone));
            })
            .await
            .map_err(|error| {
                lease::unavailable(error, self.lease.wait, pool.clock().now(), &zone)
            })?;
        for unreadable in &granted.unreadable {
            printer.warn(format_args!(
                "{}: {}; marked unhealthy, trying the next subscription",
                unreadable.subscription, unreadable.error
            ));
        }
        let mut lease = granted.grant.lease;
        let secret = granted.credential;

        let environment = match pool.child_environment(&lease).await {
            Ok(environment) => environment,
            Err(error) => {
                let outcome = Outcome::Error {
                    kind: ErrorKind::Agent,
                    detail: "kage could not list the credential variables to remove".to_owned(),
                };
                release(&opened, context, lease.id, outcome).await;
                return Err(anyhow::Error::new(error)
                    .context("could not list the subscriptions' credential variables"));
            }
        };
        let program = self.command[0].clone();
        let mut command = kage_app::parent_death::command(&program, &self.command[1..], true);
        for variable in &environment.remove {
            command.env_remove(variable);
        }
        command.env(environment.credential_variable, secret.expose_secret());
        for (variable, value) in &environment.set {
            command.env(variable, value);
        }
        drop(secret);
        printer.info(format_args!(
            "kage: leased {} for `{}` (lease {})",
            lease.subscription_name,
            program.to_string_lossy(),
            lease.id
        ));

        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                let outcome = Outcome::Error {
                    kind: ErrorKind::Agent,
                    detail: format!("could not start `{}`", program.to_string_lossy()),
                };
                release(&opened, context, lease.id, outcome).await;
                let code = match error.kind() {
                    std::io::ErrorKind::NotFound => 127,
                    std::io::ErrorKind::PermissionDenied => 126,
                    _ => kage_app::exit::FAILURE,
                };
                printer.error(
                    &anyhow::Error::new(error)
                        .context(format!("could not run `{}`", program.to_string_lossy())),
                );
                return Ok(code);
            }
        };
        let child_pid = child.id();
        // With a terminal, Ctrl-C already reaches the child (same process
        // group); forwarding it too would deliver it twice.
        let forward_interrupt = !std::io::stdin().is_terminal();
        let mut interrupt = signal(SignalKind::interrupt()).context("could not watch SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("could not watch SIGTERM")?;
        let mut hangup = signal(SignalKind::hangup()).context("could not watch SIGHUP")?;
        let period = (ttl / 3).max(Duration::from_millis(100));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        let mut lost_lease = false;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                _ = heartbeat.tick(), if !lost_lease => {
                    match pool.heartbeat(lease.id, Some(ttl)).await {
                        Ok(_) => {}
                        Err(
                            error @ (LeaseError::Expired { .. }
                            | LeaseError::NotFound(_)
                            | LeaseError::AlreadyReleased(_)
                            | LeaseError::SubscriptionRetired { .. }),
                        ) => match regain(pool, &request, &lease).await {
                            Some(again) => {
                                printer.warn(format_args!(
                                    "lease {} was lost ({error}); {} was still free, so the command goes on under lease {}",
                                    lease.id, lease.subscription_name, again.id
                                ));
                                lease = again;
                            }
                            None => {
                                printer.warn(format_args!(
                                    "lease {} was lost ({error}) and {} is no longer free; stopping `{}`, whose credential now belongs to someone else",
                                    lease.id,
                                    lease.subscription_name,
                                    program.to_string_lossy()
                                ));
                                lost_lease = true;
                                forward(child_pid, Signal::SIGTERM);
                            }
                        },
                        Err(error) => printer.warn(format_args!(
                            "could not heartbeat lease {}: {error}",
                            lease.id
                        )),
                    }
                }
                _ = interrupt.recv() => if forward_interrupt { forward(child_pid, Signal::SIGINT) },
                _ = terminate.recv() => forward(child_pid, Signal::SIGTERM),
                _ = hangup.recv() => forward(child_pid, Signal::SIGHUP),
            }
        };
        let status = match status {
            Ok(status) => status,
            Err(error) => {
                let outcome = Outcome::Error {
                    kind: ErrorKind::Agent,
                    detail: "lost track of the command".to_owned(),
                };
                release(&opened, context, lease.id, outcome).await;
                return Err(anyhow::Error::new(error).context("could not wait for the command"));
            }
        };
        let outcome = if lost_lease {
            Outcome::Error {
                kind: ErrorKind::Agent,
                detail: "stopped: the lease was lost and the subscription was taken".to_owned(),
            }
        } else if status.success() {
            Outcome::Success
        } else {
            Outcome::Error {
                kind: ErrorKind::Agent,
                detail: format!("`{}` exited with {status}", program.to_string_lossy()),
            }
        };
        release(&opened, context, lease.id, outcome).await;
        Ok(exit_code(status))
    }
}
