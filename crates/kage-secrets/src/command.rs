//! The command source: a subscription names a command whose standard output
//! is its credential (`pass show claude/work`, `op read op://vault/item/token`).
//!
//! - The command line is split into argv with shell-words rules (quotes and
//!   backslashes work as in a POSIX shell) and run directly, never through a
//!   shell, so no expansion, globbing or redirection happens.
//! - Standard input is `/dev/null`; the environment is inherited.
//! - The command must finish within a timeout (default
//!   [`DEFAULT_COMMAND_TIMEOUT`]); on timeout it is killed.
//! - Standard output is read into a zeroized buffer, at most
//!   [`MAX_OUTPUT_BYTES`]. Surrounding whitespace is trimmed; when several
//!   lines remain, the first one is the credential (the `pass` convention: the
//!   password is the first line, metadata follows).
//! - A non-zero exit status, or no output, is an error carrying the command
//!   line and its standard error (trimmed, capped at [`MAX_STDERR_CHARS`],
//!   with anything that looks like a credential masked), never its standard
//!   output.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use kage_domain::SubscriptionName;
use kage_ports::SecretError;
use secrecy::SecretString;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use zeroize::{Zeroize, Zeroizing};

/// How long a credential command may run before it is killed.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The most standard output a credential command may print.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// How much of a failed command's standard error an error message quotes.
pub const MAX_STDERR_CHARS: usize = 400;

/// How much standard error is kept at all; the rest is read and dropped.
const MAX_STDERR_BYTES: usize = 16 * 1024;

/// Prefix of every Anthropic credential; masked wherever it shows up in
/// a command's standard error.
const CREDENTIAL_PREFIX: &str = "sk-ant-";

/// Run `command` and return its trimmed standard output as the credential of
/// `subscription`.
///
/// # Errors
/// [`SecretError::CommandFailed`] when the command line cannot be split, the
/// program cannot be started, exits non-zero or prints something that is not
/// UTF-8 text or too long; [`SecretError::CommandTimedOut`];
/// [`SecretError::CommandEmpty`].
pub(crate) async fn run_credential_command(
    subscription: &SubscriptionName,
    command: &str,
    timeout: Duration,
) -> Result<SecretString, SecretError> {
    // The command line is shown in errors; should someone have put a
    // credential in it (`echo sk-ant-…`), it is masked there too.
    let shown_command = mask_credentials(command);
    let failed = |status: String, stderr: String| SecretError::CommandFailed {
        subscription: subscription.clone(),
        command: shown_command.clone(),
        status,
        stderr,
    };
    let argv = shell_words::split(command).map_err(|error| {
        failed(
            format!("the command line cannot be split into arguments: {error}"),
            format!(
                "; fix it with `kage subscription edit {subscription} --credential-command \"…\"`"
            ),
        )
    })?;
    let Some((program, arguments)) = argv.split_first() else {
        return Err(failed(
            "the command line is empty".to_owned(),
            format!(
                "; set one with `kage subscription edit {subscription} --credential-command \"…\"`"
            ),
        ));
    };

    let mut child = Command::new(program)
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| {
            let hint = if error.kind() == std::io::ErrorKind::NotFound {
                format!("; is `{program}` installed and on PATH?")
            } else {
                String::new()
            };
            failed(format!("it could not be started: {error}"), hint)
        })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(failed(
            "its output pipes could not be opened".to_owned(),
            String::new(),
        ));
    };

    let finished = tokio::time::timeout(timeout, async {
        tokio::join!(
            read_secret_output(stdout),
            read_capped(stderr),
            child.wait()
        )
    })
    .await;
    let (output, stderr_bytes, status) = match finished {
        Ok(results) => results,
        Err(_elapsed) => {
            // Best effort: the child may have exited on its own meanwhile.
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(SecretError::CommandTimedOut {
                subscription: subscription.clone(),
                command: shown_command,
                seconds: u64::try_from(timeout.as_millis().div_ceil(1000)).unwrap_or(u64::MAX),
            });
        }
    };
    let status =
        status.map_err(|error| failed(format!("waiting for it failed: {error}"), String::new()))?;
    let output = output.map_err(|error| {
        failed(
            format!("reading its standard output failed: {error}"),
            String::new(),
        )
    })?;
    let stderr_bytes = stderr_bytes.unwrap_or_default();

    let SecretOutput { bytes, overflowed } = output;
    let printed = std::str::from_utf8(&bytes)
        .map(str::trim)
        .unwrap_or_default();
    // Checked first: when Kage stops reading, the command may die of it.
    if overflowed {
        return Err(failed(
            format!(
                "it printed more than {} KiB on standard output",
                MAX_OUTPUT_BYTES / 1024
            ),
            quote_stderr(&stderr_bytes, printed),
        ));
    }
    if !status.success() {
        return Err(failed(
            describe_status(status),
            quote_stderr(&stderr_bytes, printed),
        ));
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Err(failed(
            "it printed something that is not UTF-8 text".to_owned(),
            quote_stderr(&stderr_bytes, ""),
        ));
    };
    let first_line = text
        .trim()
        .lines()
        .next()
        .map(str::trim)
        .unwrap_or_default();
    if first_line.is_empty() {
        return Err(SecretError::CommandEmpty {
            subscription: subscription.clone(),
            command: shown_command,
        });
    }
    Ok(SecretString::from(first_line.to_owned()))
}

/// Standard output, kept in memory that is wiped when dropped.
struct SecretOutput {
    bytes: Zeroizing<Vec<u8>>,
    overflowed: bool,
}

/// Read a pipe into a preallocated zeroized buffer (never reallocated, so no
/// stray copy of the secret is left behind), at most [`MAX_OUTPUT_BYTES`].
async fn read_secret_output(mut pipe: impl AsyncRead + Unpin) -> std::io::Result<SecretOutput> {
    let mut buffer = Zeroizing::new(vec![0_u8; MAX_OUTPUT_BYTES]);
    let mut filled = 0;
    let mut overflowed = false;
    loop {
        if filled == buffer.len() {
            let mut probe = [0_u8; 1];
            overflowed = pipe.read(&mut probe).await? > 0;
            probe.zeroize();
            break;
        }
        let read = pipe.read(&mut buffer[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    buffer.truncate(filled);
    Ok(SecretOutput {
        bytes: buffer,
        overflowed,
    })
}

/// Read a pipe to its end, keeping at most [`MAX_STDERR_BYTES`].
async fn read_capped(mut pipe: impl AsyncRead + Unpin) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let read = pipe.read(&mut chunk).await?;
        if read == 0 {
            return Ok(kept);
        }
        let room = MAX_STDERR_BYTES.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..read.min(room)]);
    }
}

fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    status.to_string()
}

/// `": <stderr>"` for an error message, or nothing when stderr was empty.
///
/// The text is put on one line, anything that looks like an Anthropic
/// credential is masked, so is the command's own standard output (`printed`)
/// should it be repeated there, and the result is capped at
/// [`MAX_STDERR_CHARS`].
fn quote_stderr(stderr: &[u8], printed: &str) -> String {
    let text = String::from_utf8_lossy(stderr);
    let mut text = text
        .trim()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let printed_lines = std::iter::once(printed).chain(printed.lines().map(str::trim));
    for secret_like in printed_lines {
        if secret_like.len() >= 4 && text.contains(secret_like) {
            text = text.replace(secret_like, "[redacted]");
        }
    }
    let text = mask_credentials(&text);
    if text.is_empty() {
        return String::new();
    }
    let mut shown: String = text.chars().take(MAX_STDERR_CHARS).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    format!(": {shown}")
}

/// Replace every `sk-ant-…` token with `sk-ant-[redacted]`.
pub(crate) fn mask_credentials(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(CREDENTIAL_PREFIX) {
        masked.push_str(&rest[..start]);
        masked.push_str(CREDENTIAL_PREFIX);
        masked.push_str("[redacted]");
        let token = &rest[start + CREDENTIAL_PREFIX.len()..];
        let end = token
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(token.len());
        rest = &token[end..];
    }
    masked.push_str(rest);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_credential_like_token() {
        assert_eq!(
            mask_credentials("bad sk-ant-oat01-AbC_d-9 and sk-ant-api03-x, ok"),
            "bad sk-ant-[redacted] and sk-ant-[redacted], ok"
        );
        assert_eq!(mask_credentials("nothing here"), "nothing here");
    }

    #[test]
    fn quoted_stderr_is_one_capped_line_without_the_output() {
        let stderr = format!(
            "line one\n\n  printed-value-1234 again\n{}",
            "x".repeat(1000)
        );
        let quoted = quote_stderr(stderr.as_bytes(), "printed-value-1234");
        assert!(
            quoted.starts_with(": line one; [redacted] again; xxx"),
            "{quoted}"
        );
        assert!(!quoted.contains('\n'));
        assert_eq!(quoted.chars().count(), 2 + MAX_STDERR_CHARS + 1);
        assert!(quoted.ends_with('…'));
        assert_eq!(quote_stderr(b"  \n ", ""), "");
    }
}
