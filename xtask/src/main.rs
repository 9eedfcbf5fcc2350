//! `cargo xtask`: Kage's developer commands, written in Rust so they behave the
//! same on every machine (matklad's xtask pattern; the alias lives in
//! `.cargo/config.toml`).
//!
//! - `cargo xtask test [-- NEXTEST-ARGS]`: the README's tests under cargo-nextest, as CI runs them (see [`test`](mod@test)).
//! - `cargo xtask ci`: every check CI runs, in order, stopping at the first failure (see [`ci`](mod@ci)).
//! - `cargo xtask bench [--only NAME] [--list]`: the benchmarks and their targets (see [`bench`](mod@bench)).
//! - `cargo xtask man`: the `kage(1)` man page into `target/man/` (see [`man`](mod@man)).
//! - `cargo xtask docs [--check]`: `docs/user-guide.md` from the real `kage` (see [`docs`](mod@docs)).
//!
//! Every check `ci` runs in-process (tidy, layering) is also a `#[test]`, so
//! `cargo nextest run -p xtask` runs them too.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "xtask is a terminal tool for developers: printing is its interface"
)]

mod bench;
mod ci;
mod deny;
mod docs;
mod layering;
mod man;
mod shell;
mod test;
mod tidy;

use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test [--profile NAME] [-- NEXTEST-ARGS]
                     run the whole test suite with cargo-nextest (what `cargo test --workspace`
                     runs, plus the keychain tests);
                     PostgreSQL and keychain tests run when their services are there and are
                     skipped with a loud banner otherwise (KAGE_REQUIRE_POSTGRES=1 and
                     KAGE_REQUIRE_KEYCHAIN=1 turn a skip into a failure)
  ci                 fmt, tidy, layering, clippy, test, doc, user guide and cargo-deny, stopping at the
                     first failure
  bench [--only NAME] [--list]
                     run the benchmarks and print their figures against the targets
  man                write the kage(1) man page to target/man/kage.1
  docs [--check]     regenerate docs/user-guide.md from the real kage; with --check, fail
                     when the committed guide differs (ids and times masked)
  help               print this help";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    match command.as_str() {
        "test" => test::run(&test::TestOptions::parse(rest)?).map(|_report| ()),
        "ci" => {
            no_arguments("ci", rest)?;
            ci::run()
        }
        "bench" => bench::run(&bench::BenchOptions::parse(rest)?),
        "man" => {
            no_arguments("man", rest)?;
            man::run()
        }
        "docs" => match rest {
            [] => docs::run(false),
            [flag] if flag == "--check" => docs::run(true),
            _ => bail!("`cargo xtask docs` takes only --check\n\n{USAGE}"),
        },
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

fn no_arguments(command: &str, rest: &[String]) -> Result<()> {
    if let Some(argument) = rest.first() {
        bail!("`cargo xtask {command}` takes no arguments, got `{argument}`\n\n{USAGE}");
    }
    Ok(())
}
