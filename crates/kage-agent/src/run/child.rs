//! Starting and stopping an agent process.
//!
//! The child gets the leased credential only through its environment
//! (`design.md`, "Agents"): every Anthropic credential variable is removed,
//! exactly one is set, plus `KAGE_SUBSCRIPTION` and `KAGE_LEASE_ID`; the
//! rest of the user's environment is left as it is. It runs in its own
//! process group so that stopping it also stops the tools it started, and
//! so that a Ctrl-C at the terminal reaches Kage, which then stops it (TERM,
//! then KILL after a grace period) and still records its usage.

use std::fs::File;
use std::path::Path;
use std::process::Stdio;

use kage_core::launch::ChildEnvironment;
use kage_ports::{ExposeSecret, SecretString};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// Start `argv` with the leased credential in its environment; standard
/// output is piped, standard error goes to `stderr`. With `end_with_us`,
/// it is started through the parent-death shim
/// ([`kage_app::parent_death`]), so it ends when this process dies.
///
/// # Errors
/// The program could not be started (not found, not executable, bad cwd).
pub fn spawn(
    argv: &[String],
    cwd: Option<&Path>,
    environment: &ChildEnvironment,
    credential: &SecretString,
    stderr: File,
    end_with_us: bool,
) -> std::io::Result<Child> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    let mut command: Command =
        kage_app::parent_death::command(std::ffi::OsStr::new(program), &args, end_with_us);
    for variable in &environment.remove {
        command.env_remove(variable);
    }
    command.env(environment.credential_variable, credential.expose_secret());
    for (variable, value) in &environment.set {
        command.env(variable, value);
    }
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .kill_on_drop(true);
    command.spawn()
}

/// Send `signal` to the child's process group (the child and the tools it
/// started). A group that is already gone is not an error.
pub fn signal_group(pid: Option<u32>, signal: Signal) {
    let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) else {
        return;
    };
    let _ = killpg(Pid::from_raw(pid), signal);
}

pub use nix::sys::signal::Signal as ChildSignal;
