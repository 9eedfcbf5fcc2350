//! Everything `kage-agent` prints, one file per job (as `kage-cli`'s
//! `output/`):
//!
//! - `live` (standard error is a terminal): an indicatif view with one
//!   line per running agent, the pool at a glance and the waits;
//! - `plain` (not a terminal): one log line per event on standard error;
//! - `json` (`--json`): every event as a JSON Lines envelope
//!   `{"type": …, "data": …}` on standard output;
//! - `summary`: at the end, a table per task to standard output (or one
//!   `summary` record with `--json`); `worktree` adds each task's branch
//!   and changes, and the kept worktrees with the commands for them.
//!
//! This module picks the [`Mode`], shows how times read ([`TimeView`]) and
//! holds the few print helpers the rest of the binary calls. Numbers, money
//! and times are formatted by `kage_app::format`, as `kage` formats them. A
//! closed standard output (a broken pipe) is not an error.
#![allow(
    clippy::print_stderr,
    reason = "the screen module is where kage-agent talks to people"
)]

#[cfg(test)]
mod fixture;
mod json;
mod live;
mod plain;
mod summary;
mod worktree;

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use comfy_table::{Table, presets};
use jiff::tz::TimeZone;
use kage_domain::Timestamp;
use kage_domain::signal::{ClassifyContext, describe_time};
use tokio::sync::mpsc;

pub use self::json::{envelope, record, summary_json, summary_record};
pub use self::plain::plain_line;
pub use self::summary::{print_summary, state_words, summary_table};
use crate::run::events::RunEvent;

/// How events are shown.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Live,
    Plain,
    Json,
}

impl Mode {
    /// `--json` wins; else live on a terminal, plain otherwise.
    pub fn choose(json: bool) -> Self {
        if json {
            Self::Json
        } else if std::io::stderr().is_terminal() {
            Self::Live
        } else {
            Self::Plain
        }
    }
}

/// How times are shown: `15:00` today, `Nov 26 15:00` otherwise, in the
/// pool clock's zone.
#[derive(Clone)]
pub struct TimeView {
    zone: TimeZone,
    now: Arc<dyn Fn() -> Timestamp + Send + Sync>,
}

impl TimeView {
    /// `now` reads the pool's clock.
    pub fn new(zone: TimeZone, now: Arc<dyn Fn() -> Timestamp + Send + Sync>) -> Self {
        Self { zone, now }
    }

    pub fn at(&self, at: Timestamp) -> String {
        describe_time(at, &ClassifyContext::new((self.now)(), self.zone.clone()))
    }

    pub fn now(&self) -> Timestamp {
        (self.now)()
    }

    /// [`TimeView::at`], plus how long from now when it is within the hour:
    /// `17:50 (in 8s)`.
    pub fn at_relative(&self, at: Timestamp) -> String {
        let now = self.now();
        let absolute = describe_time(at, &ClassifyContext::new(now, self.zone.clone()));
        let seconds = at.as_second() - now.as_second();
        match seconds {
            1..60 => format!("{absolute} (in {seconds}s)"),
            60..3600 => format!("{absolute} (in {}m)", (seconds + 59) / 60),
            _ => absolute,
        }
    }
}

/// Write one line to standard output; a closed pipe is ignored.
pub(crate) fn stdout_line(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Show events until the sender side is dropped.
pub async fn show(mode: Mode, times: TimeView, mut events: mpsc::UnboundedReceiver<RunEvent>) {
    match mode {
        Mode::Json => {
            while let Some(event) = events.recv().await {
                stdout_line(record(&event).trim_end());
            }
        }
        Mode::Plain => {
            let mut waits = plain::WaitFilter::default();
            while let Some(event) = events.recv().await {
                if !waits.is_new(&event) {
                    continue;
                }
                if let Some(line) = plain_line(&event, &times) {
                    eprintln!("kage-agent: {line}");
                }
            }
        }
        Mode::Live => live::live(times, events).await,
    }
}

/// Print a table of rows to standard output.
pub fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    stdout_line(&table.to_string());
}

/// A line for people, on standard error.
pub fn say(line: &str) {
    eprintln!("{line}");
}

/// A line of data, on standard output.
pub fn data(line: &str) {
    stdout_line(line);
}

/// A whole JSON document (it ends with its newline), on standard output.
pub fn document(text: &str) {
    stdout_line(text.trim_end_matches('\n'));
}

/// One line on stderr as it is (the child shim's failure).
pub fn plain_error(text: &str) {
    eprintln!("{text}");
}

/// An error as `kage-agent: <chain>`.
pub fn error(error: &anyhow::Error) {
    eprintln!("kage-agent: {}", kage_app::exit::error_line(error));
}
