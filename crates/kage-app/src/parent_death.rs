//! Children end with their holder: a child started by `kage exec` or
//! `kage-agent` is killed when the process that leased its credential dies,
//! even by `kill -9`, so it never keeps using a lease that expires and is
//! handed to someone else.
//!
//! Linux offers this as `PR_SET_PDEATHSIG`, but it must be set in the child
//! between fork and exec, which Rust only allows through an `unsafe`
//! `pre_exec` hook (the workspace forbids `unsafe`). So the child is started
//! through Kage's own binary: `kage __kage-child PARENT_PID PROGRAM ARGS…`
//! sets the parent-death signal on itself (a safe call in the running
//! process), checks that its parent is still `PARENT_PID` (else the parent
//! died before the signal was armed), and replaces itself with `PROGRAM`
//! (`execvp`). The signal survives `exec`, the pid stays the same, the
//! environment passes through untouched (the credential is never in the
//! argument list). See `docs/decisions.md`.
//!
//! Limits: the signal goes to the direct child only (its own children get
//! it only if the child passes it on); Linux ties it to the *thread* that
//! started the child, so children are spawned from threads that live as
//! long as the runtime (the main thread or a runtime worker, never a
//! blocking-pool thread). On other systems children are started directly.

use std::ffi::{OsStr, OsString};
use std::process::ExitCode;

/// The hidden first argument that makes `kage` or `kage-agent` the shim.
pub const SHIM_ARGUMENT: &str = "__kage-child";

/// A command that runs `program args`, started through the shim when
/// `through_shim` and Kage's own binary can be found.
pub fn command(program: &OsStr, args: &[OsString], through_shim: bool) -> tokio::process::Command {
    let shim = if through_shim && cfg!(target_os = "linux") {
        std::env::current_exe().ok()
    } else {
        None
    };
    match shim {
        Some(exe) => {
            let mut command = tokio::process::Command::new(exe);
            command
                .arg(SHIM_ARGUMENT)
                .arg(std::process::id().to_string())
                .arg(program)
                .args(args);
            command
        }
        None => {
            let mut command = tokio::process::Command::new(program);
            command.args(args);
            command
        }
    }
}

/// How the shim ended when it could not become the program: the exit code,
/// and the message the app prints (this crate never prints).
pub struct ShimFailure {
    pub code: ExitCode,
    pub message: Option<String>,
}

fn failure(code: u8, message: Option<String>) -> ShimFailure {
    ShimFailure {
        code: ExitCode::from(code),
        message,
    }
}

/// When this process was started as the shim, become the child; both
/// `main`s call this first. `None` for an ordinary start; otherwise the
/// program could not be started, and the caller prints the message and
/// exits with the code.
pub fn run_if_asked() -> Option<ShimFailure> {
    let mut arguments = std::env::args_os().skip(1);
    if arguments.next().as_deref() != Some(OsStr::new(SHIM_ARGUMENT)) {
        return None;
    }
    let parent = arguments.next();
    let argv: Vec<OsString> = arguments.collect();
    Some(become_child(parent.as_deref(), &argv))
}

#[cfg(target_os = "linux")]
fn become_child(parent: Option<&OsStr>, argv: &[OsString]) -> ShimFailure {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    use nix::sys::signal::Signal;

    let Some(program) = argv.first() else {
        return failure(
            crate::exit::USAGE,
            Some("kage: the child shim needs a program to run".to_owned()),
        );
    };
    let shown = program.to_string_lossy().into_owned();
    let parent = parent
        .and_then(OsStr::to_str)
        .and_then(|pid| pid.parse::<i32>().ok());
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() {
        return failure(
            crate::exit::FAILURE,
            Some(format!(
                "kage: could not tie `{shown}` to its holder (PR_SET_PDEATHSIG); it was not started"
            )),
        );
    }
    // The parent may have died before the signal was armed.
    if parent != Some(nix::unistd::getppid().as_raw()) {
        return failure(crate::exit::FAILURE, None);
    }
    let Ok(c_argv) = argv
        .iter()
        .map(|argument| CString::new(argument.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return failure(
            crate::exit::USAGE,
            Some(format!(
                "kage: could not run `{shown}`: an argument holds a NUL byte"
            )),
        );
    };
    let error = match nix::unistd::execvp(&c_argv[0], &c_argv) {
        Ok(never) => match never {},
        Err(error) => error,
    };
    let code = match error {
        nix::errno::Errno::ENOENT => 127,
        nix::errno::Errno::EACCES | nix::errno::Errno::ENOEXEC => 126,
        _ => crate::exit::FAILURE,
    };
    failure(
        code,
        Some(format!("kage: could not run `{shown}`: {error}")),
    )
}

#[cfg(not(target_os = "linux"))]
fn become_child(_parent: Option<&OsStr>, _argv: &[OsString]) -> ShimFailure {
    failure(
        crate::exit::FAILURE,
        Some("kage: the child shim runs on Linux only".to_owned()),
    )
}
