//! `kage-agent`: runs coding agents on leased subscriptions.
//!
//! - [`run`]: the runner (leases, child processes, failover with resume,
//!   waiting, usage), generic over the ports;
//! - [`stream_json`]: Claude Code's stream-json output, parsed line by line;
//! - [`screen`]: everything the binary prints, one file per job (live view,
//!   plain log lines, JSON Lines, the summary);
//! - [`worktree`]: one git worktree per task ([`git`] runs git);
//!   [`worktrees`]: `kage-agent worktrees list|remove`;
//! - [`cli`]: the command line; [`app`]: `kage-agent run` wired to the pool
//!   `kage` uses; [`demo`]: the throwaway demo pool; [`simulate`]: the
//!   built-in simulated Claude Code the demo and the benchmark run.

pub mod app;
pub mod cli;
pub mod demo;
pub mod git;
pub mod run;
pub mod screen;
pub mod simulate;
pub mod stream_json;
pub mod worktree;
pub mod worktrees;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// Run `kage-agent` with the process's arguments; returns its exit status.
pub fn main() -> ExitCode {
    if let Some(failure) = kage_app::parent_death::run_if_asked() {
        if let Some(message) = &failure.message {
            screen::plain_error(message);
        }
        return failure.code;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    if let Command::SimulateClaude(args) = &cli.command {
        let code = simulate::simulate(&args.args, &mut std::io::stdout().lock());
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    kage_app::logging::init_logging(0, std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            screen::error(&anyhow::Error::new(error).context("could not start the async runtime"));
            return ExitCode::from(kage_app::exit::FAILURE);
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => match app::run(*args, cli.config).await {
                Ok(code) => code,
                Err(failure) => {
                    screen::error(&failure.error);
                    failure.code
                }
            },
            Command::Demo(args) => match demo::run(args).await {
                Ok(code) => code,
                Err(error) => {
                    screen::error(&error);
                    kage_app::exit::code_for(&error)
                }
            },
            Command::Worktrees(args) => match worktrees::run(args) {
                Ok(code) => code,
                Err(error) => {
                    screen::error(&error);
                    kage_app::exit::code_for(&error)
                }
            },
            Command::SimulateClaude(_) => unreachable!("handled above"),
        }
    });
    runtime.shutdown_background();
    ExitCode::from(code)
}
