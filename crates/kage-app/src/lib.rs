//! The composition root `kage` and `kage-agent` share.
//!
//! - [`pool`]: the config, store, secret store and clock, opened the same way
//!   for both apps into one [`pool::AppPool`];
//! - [`exit`]: the exit codes and the errors that decide them;
//! - [`format`](mod@format): tokens, cost, states and times for people;
//! - [`time`]: parsing the durations, times, usage and money people type;
//! - [`json`]: the JSON Lines envelope and the records both apps print;
//! - [`logging`]: `tracing` to standard error;
//! - [`notify`]: running `notify_command` for a quota alert;
//! - [`holder()`]: who holds a lease;
//! - [`parent_death`]: children that end with their holder;
//! - [`spool`]: releases retried, spooled and replayed when the database
//!   cannot be written.
//!
//! This crate never prints: it formats, and the apps print (`kage-cli`'s
//! `output/`, `kage-agent`'s `screen/`).

pub mod exit;
pub mod format;
mod holder;
pub mod json;
pub mod logging;
pub mod notify;
pub mod parent_death;
pub mod pool;
pub mod spool;
pub mod time;

pub use holder::{HolderParts, holder, parse_holder, with_task};
