//! The composition root `kage` and `kage-agent` share.
//!
//! - [`pool`]: the config, store, secret store and clock, opened the same way
//!   for both apps into one [`pool::AppPool`];
//! - [`exit`]: the exit codes and the errors that decide them;
//! - [`format`]: tokens, cost, states and times for people;
//! - [`time`]: parsing the durations, times, usage and money people type;
//! - [`json`]: the JSON Lines envelope and the records both apps print;
//! - [`logging`]: `tracing` to standard error;
//! - [`holder()`]: who holds a lease.
//!
//! This crate never prints: it formats, and the apps print (`kage-cli`'s
//! `output/`, `kage-agent`'s `screen/`).

pub mod exit;
pub mod format;
mod holder;
pub mod json;
pub mod logging;
pub mod pool;
pub mod time;

pub use holder::holder;
