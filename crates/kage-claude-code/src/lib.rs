//! Claude Code's on-disk formats, read the way Kage needs them.
//!
//! Claude Code appends every message of a session to a JSON Lines
//! transcript: `$CLAUDE_CONFIG_DIR` (else `~/.claude`)
//! `/projects/<encoded cwd>/<session id>.jsonl`, its subagents' transcripts
//! in folders nested under it. [`TranscriptReader`] is the one reader of
//! those files: it reads each file incrementally by byte offset (complete
//! lines only) and yields the usage of every assistant message
//! ([`MessageUsage`], each message once) and, when asked, the top-level
//! lines themselves, in which [`limit_in_line`] finds a limit and
//! [`typed_prompt`] the prompt a person typed. A session's reader reads only
//! the files of the sessions that belong to it
//! ([`TranscriptReader::only_sessions`]).
//!
//! `kage claude` (the session loop), `kage usage import` and `kage-agent`
//! (whose stream-json carries the same message and request ids, so
//! [`message_key`] gives the same key) all go through this crate.

mod paths;
mod reader;
mod signals;
mod usage;

pub use paths::{config_dir, project_folder};
pub use reader::{Poll, TranscriptLine, TranscriptReader};
pub use signals::{limit_in_line, typed_prompt};
pub use usage::{MessageUsage, SYNTHETIC_MODEL, message_key, usage_in_line};
