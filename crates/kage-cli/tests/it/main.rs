//! End-to-end tests of the `kage` binary, each in a hermetic environment
//! (see `env.rs`): the seed document's examples in order, every command's
//! output formats, `--help` snapshots, and the error cases with their exit
//! codes.

/// `#[test]`s that run each story (`fn story(env: TestEnv)`) twice: on the
/// SQLite file (`sqlite::story`) and on a fresh PostgreSQL database
/// (`postgres::story`, on the server `kage_testkit` finds; skipped loudly
/// without one, a failure under `KAGE_REQUIRE_POSTGRES=1`).
macro_rules! on_both_backends {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $story() {
                super::$story(crate::env::TestEnv::new());
            })*
        }
        mod postgres {
            $(#[test]
            fn $story() {
                if let Some(env) = crate::env::TestEnv::postgres(stringify!($story)) {
                    super::$story(env);
                }
            })*
        }
    };
}

mod alerts;
mod canary;
mod commands;
mod doctor;
mod env;
mod errors;
mod exec;
mod help;
mod metrics_listen;
mod pg;
mod remove;
mod seed;
mod selection;
mod session;
mod top;
mod usage_import;
