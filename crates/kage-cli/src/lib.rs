//! The `kage` command line, as a library.
//!
//! - [`main`] parses the command line, runs one command and turns its result
//!   into an exit code (`kage_app::exit`).
//! - The pool is opened by the shared composition root, `kage_app::pool`
//!   (config, store, secret store, clock), the same way `kage-agent` opens it.
//!
//! Commands live one per file under `command/` (`command/subscription/add.rs`
//! …), each an args struct with `run`; all printing happens in `output/`.

mod cli;
mod command;
mod complete;
mod credential;
mod http;
mod output;
mod session;

use std::process::ExitCode;

use clap::Parser;
use kage_app::exit;

pub use cli::command as clap_command;

/// Run `kage` with the process's arguments and environment.
pub fn main() -> ExitCode {
    if let Some(failure) = kage_app::parent_death::run_if_asked() {
        if let Some(message) = &failure.message {
            output::plain_error(message);
        }
        return failure.code;
    }
    // `COMPLETE=bash kage …`: a shell asking for completions at a Tab.
    if let Some(code) = complete::answer_if_asked() {
        return code;
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return output::clap_error(&error),
    };
    let printer = output::Printer::new(&cli.global);
    kage_app::logging::init_logging(cli.global.verbosity(), printer.stderr_color());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            printer.error(&anyhow::Error::new(error).context("could not start the async runtime"));
            return ExitCode::from(exit::FAILURE);
        }
    };
    let code = runtime.block_on(async {
        let code = command::dispatch(cli, &printer).await;
        kage_app::pool::store::close_all().await;
        code
    });
    // The store's background tasks must not keep the process alive.
    runtime.shutdown_background();
    ExitCode::from(code)
}
