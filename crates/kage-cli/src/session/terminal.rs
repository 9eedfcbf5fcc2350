//! The terminal as it was before Claude Code took it: `kage claude` puts it
//! back after stopping Claude Code for a failover, in case Claude Code could
//! not (raw mode, hidden cursor, bracketed paste, focus and keyboard
//! reporting modes).

use std::io::IsTerminal as _;

use nix::sys::termios::{FlushArg, SetArg, Termios, tcflush, tcgetattr, tcsetattr};

use crate::output::Printer;

/// Turn off what a full-screen terminal program may have turned on: show
/// the cursor, leave bracketed paste, focus reporting and the kitty
/// keyboard mode, reset colors, start on a new line.
const RESET_MODES: &str = "\x1b[0m\x1b[?25h\x1b[?2004l\x1b[?1004l\x1b[?1000l\x1b[?1006l\x1b[<u\r\n";

/// The terminal settings of stdin, when stdin is a terminal.
pub(crate) struct SavedTerminal {
    termios: Termios,
}

impl SavedTerminal {
    pub(crate) fn capture() -> Option<Self> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        tcgetattr(&stdin).ok().map(|termios| Self { termios })
    }

    /// Put the saved settings back, drop unread input (keys typed for the
    /// stopped Claude Code, the terminal's answers to its queries: the next
    /// one must not read them as typing) and reset the display modes.
    pub(crate) fn restore(&self, printer: &Printer) {
        if let Err(error) = tcsetattr(std::io::stdin(), SetArg::TCSADRAIN, &self.termios) {
            tracing::debug!("could not restore the terminal settings: {error}");
        }
        if let Err(error) = tcflush(std::io::stdin(), FlushArg::TCIFLUSH) {
            tracing::debug!("could not drop the terminal's unread input: {error}");
        }
        if printer.stdout_is_terminal() {
            // A closed terminal has nobody to show it to.
            let _ = printer.out(RESET_MODES);
        }
    }
}
