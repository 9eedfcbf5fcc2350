//! kage-tests: the end-to-end tests' library.
//!
//! - [`standin`]: a local stand-in for the Anthropic Messages API, with
//!   per-credential behaviours (limits, errors) and a record of every request
//!   and of the tokens it served.
//! - [`claude`]: the real Claude Code (pinned in `tests/package.json`,
//!   installed with `npm ci` in `tests/`) in an isolated home pointed at a
//!   stand-in, run headless (`-p … --output-format stream-json`) or
//!   interactively in a private tmux server.

pub mod claude;
pub mod standin;
