//! The Anthropic API stand-in and the real Claude Code against it (issue 11,
//! item 5): `standin` checks the stand-in over plain HTTP, `real` runs the
//! pinned Claude Code (`npm ci` in tests/) in print mode and interactively.

mod real;
mod standin;
