//! End-to-end tests of the `kage` binary, each in a hermetic environment
//! (see `env.rs`): the seed document's examples in order, every command's
//! output formats, `--help` snapshots, and the error cases with their exit
//! codes.

mod alerts;
mod canary;
mod commands;
mod doctor;
mod env;
mod errors;
mod exec;
mod help;
mod metrics_listen;
mod remove;
mod seed;
mod session;
mod top;
