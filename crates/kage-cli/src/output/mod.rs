//! Everything `kage` prints goes through here: stdout for data (tables,
//! ids, JSON Lines), stderr for people (confirmations, warnings, hints,
//! errors).
//!
//! Writes return `io::Result`, so a closed pipe (`kage … | head`) surfaces
//! as a `BrokenPipe` error that `main` turns into exit 0.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "this module is the one place that prints"
)]

pub(crate) mod config;
pub(crate) mod explain;
pub(crate) mod format;
pub(crate) mod json;
pub(crate) mod lease;
pub(crate) mod metrics;
pub(crate) mod routes;
pub(crate) mod status;
pub(crate) mod subscription;
pub(crate) mod table;
pub(crate) mod top;
pub(crate) mod usage;
pub(crate) mod usage_chart;

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use crate::cli::{ColorChoice, GlobalArgs};

/// Where and how to print.
#[derive(Clone, Debug)]
pub(crate) struct Printer {
    stdout_color: bool,
    stderr_color: bool,
    stdout_tty: bool,
    stderr_tty: bool,
    quiet: bool,
}

fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty())
        || std::env::var_os("TERM").is_some_and(|term| term == "dumb")
}

impl Printer {
    pub(crate) fn new(global: &GlobalArgs) -> Self {
        let stdout_tty = io::stdout().is_terminal();
        let stderr_tty = io::stderr().is_terminal();
        let decide = |tty: bool| match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color_env(),
        };
        Self {
            stdout_color: decide(stdout_tty),
            stderr_color: decide(stderr_tty),
            stdout_tty,
            stderr_tty,
            quiet: global.quiet,
        }
    }

    pub(crate) fn stdout_color(&self) -> bool {
        self.stdout_color
    }

    pub(crate) fn stderr_color(&self) -> bool {
        self.stderr_color
    }

    pub(crate) fn stdout_is_terminal(&self) -> bool {
        self.stdout_tty
    }

    /// How many columns stdout has: `COLUMNS` when set, the terminal's
    /// width when stdout is one, 80 otherwise.
    pub(crate) fn width(&self) -> usize {
        if let Some(columns) = std::env::var("COLUMNS")
            .ok()
            .and_then(|columns| columns.trim().parse::<usize>().ok())
            .filter(|columns| *columns > 0)
        {
            return columns;
        }
        if self.stdout_tty
            && let Some(width) = comfy_table::Table::new().width()
        {
            return usize::from(width);
        }
        DEFAULT_WIDTH
    }

    /// Write `text` to stdout as it is.
    pub(crate) fn out(&self, text: &str) -> io::Result<()> {
        let mut stdout = io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        stdout.flush()
    }

    /// Write one line to stdout.
    pub(crate) fn line(&self, text: impl Display) -> io::Result<()> {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "{text}")?;
        stdout.flush()
    }

    /// A message for people (a confirmation, progress): stderr, unless -q.
    pub(crate) fn info(&self, message: impl Display) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// A question on stderr, without a line break, for the answer typed
    /// after it (shown even with -q: the command waits for it).
    pub(crate) fn prompt(&self, question: impl Display) {
        let mut stderr = io::stderr().lock();
        let _ = write!(stderr, "{question}");
        let _ = stderr.flush();
    }

    /// `kage: warning: …` on stderr, unless -q.
    pub(crate) fn warn(&self, message: impl Display) {
        if !self.quiet {
            let label = paint(self.stderr_color, YELLOW_BOLD, "warning:");
            eprintln!("kage: {label} {message}");
        }
    }

    /// A hint on what to do next: stderr, only when it is a terminal.
    pub(crate) fn hint(&self, message: impl Display) {
        if !self.quiet && self.stderr_tty {
            let label = paint(self.stderr_color, DIM, "hint:");
            eprintln!("{label} {message}");
        }
    }

    /// `kage: …` on one line, always: the error and its causes, each
    /// said once (see [`one_line`]).
    pub(crate) fn error(&self, error: &anyhow::Error) {
        let label = paint(self.stderr_color, RED_BOLD, "kage:");
        eprintln!("{label} {}", one_line(error));
    }
}

pub(crate) use crate::exit::error_line as one_line;

/// The width assumed when stdout is not a terminal and `COLUMNS` is unset.
pub(crate) const DEFAULT_WIDTH: usize = 80;

pub(crate) const YELLOW_BOLD: &str = "1;33";
pub(crate) const RED_BOLD: &str = "1;31";
pub(crate) const DIM: &str = "2";

/// `text` in an ANSI style when `color` is on.
pub(crate) fn paint(color: bool, style: &str, text: &str) -> String {
    if color {
        format!("\x1b[{style}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// One line on stderr, before any [`Printer`] exists (the child shim).
pub(crate) fn plain_error(text: &str) {
    eprintln!("{text}");
}

/// Print a clap parse error (or help/version) and return its exit code:
/// 0 for help and version, 2 for usage errors.
pub(crate) fn clap_error(error: &clap::Error) -> ExitCode {
    let printed = error.print();
    match (printed, error.exit_code()) {
        (Err(io_error), _) if io_error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        (_, code) => ExitCode::from(u8::try_from(code).unwrap_or(kage_app::exit::USAGE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_not_said_twice() {
        let source = io::Error::new(io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(kage_config::ConfigError::Read {
            path: "/typo.toml".into(),
            source,
        });
        let line = one_line(&error);
        assert_eq!(line.matches("no such file").count(), 1, "{line}");
        let chained = anyhow::anyhow!("disk full").context("could not write the pool");
        assert_eq!(one_line(&chained), "could not write the pool: disk full");
    }
}
