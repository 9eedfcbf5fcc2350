//! `cargo xtask ci`: every check CI runs, cheapest first, stopping at the
//! first failure. `.ci/run` installs what a fresh machine lacks and calls this.
//!
//! Steps: fmt, tidy, layering, clippy, test (nextest profile `ci`), doc,
//! user guide (`docs --check`), deny.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::{deny, docs, layering, shell, test, tidy};

/// Lints raised from "warn" (the workspace default, so editing stays pleasant) to errors.
const CLIPPY_DENY: &[&str] = &[
    "warnings",
    "clippy::print_stdout",
    "clippy::print_stderr",
    "clippy::dbg_macro",
    "clippy::todo",
];

struct Step {
    name: &'static str,
    what: &'static str,
    run: fn() -> Result<Option<String>>,
}

const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        what: "cargo fmt --all --check",
        run: fmt,
    },
    Step {
        name: "tidy",
        what: "module docs, banned markers, [lints], clock calls",
        run: tidy,
    },
    Step {
        name: "layering",
        what: "crate dependency direction",
        run: layering,
    },
    Step {
        name: "clippy",
        what: "cargo clippy --workspace --all-targets --all-features --locked",
        run: clippy,
    },
    Step {
        name: "test",
        what: "cargo xtask test --profile ci",
        run: test,
    },
    Step {
        name: "doc",
        what: "RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps",
        run: doc,
    },
    Step {
        name: "guide",
        what: "cargo xtask docs --check (docs/user-guide.md matches the real kage)",
        run: guide,
    },
    Step {
        name: "deny",
        what: "cargo deny --offline check",
        run: deny,
    },
];

enum Outcome {
    Passed {
        took: Duration,
        note: Option<String>,
    },
    Failed {
        took: Duration,
    },
    NotRun,
}

pub(crate) fn run() -> Result<()> {
    let started = Instant::now();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(STEPS.len());
    let mut failure = None;

    for (index, step) in STEPS.iter().enumerate() {
        if failure.is_some() {
            outcomes.push(Outcome::NotRun);
            continue;
        }
        eprintln!(
            "\n==> [{}/{}] {}: {}",
            index + 1,
            STEPS.len(),
            step.name,
            step.what
        );
        let step_started = Instant::now();
        let result = (step.run)();
        let took = step_started.elapsed();
        match result {
            Ok(note) => {
                eprintln!("<== {} ok in {}", step.name, shell::human_duration(took));
                outcomes.push(Outcome::Passed { took, note });
            }
            Err(error) => {
                eprintln!(
                    "<== {} FAILED after {}",
                    step.name,
                    shell::human_duration(took)
                );
                outcomes.push(Outcome::Failed { took });
                failure = Some((step.name, error));
            }
        }
    }

    eprintln!(
        "\nci summary ({} in all):",
        shell::human_duration(started.elapsed())
    );
    for (step, outcome) in STEPS.iter().zip(&outcomes) {
        let line = match outcome {
            Outcome::Passed { took, note: None } => {
                format!("ok      {}", shell::human_duration(*took))
            }
            Outcome::Passed {
                took,
                note: Some(note),
            } => {
                format!("ok      {}  ({note})", shell::human_duration(*took))
            }
            Outcome::Failed { took } => format!("FAILED  {}", shell::human_duration(*took)),
            Outcome::NotRun => "not run".to_owned(),
        };
        eprintln!("  {:<9} {line}", step.name);
    }

    if let Some((name, error)) = failure {
        bail!("ci failed at step `{name}`: {error:#}");
    }
    eprintln!("\nci passed");
    Ok(())
}

fn fmt() -> Result<Option<String>> {
    shell::run(shell::cargo().args(["fmt", "--all", "--check"]))
        .map_err(|error| error.context("formatting differs; run `cargo fmt --all`"))?;
    Ok(None)
}

fn tidy() -> Result<Option<String>> {
    tidy::check(&shell::root())?;
    Ok(None)
}

fn layering() -> Result<Option<String>> {
    layering::check()?;
    Ok(None)
}

fn clippy() -> Result<Option<String>> {
    let mut command = shell::cargo();
    // --all-features: feature-gated code (kage-ports' mocks, kage-secrets' keychain tests) is linted too.
    command.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--locked",
        "--",
    ]);
    for lint in CLIPPY_DENY {
        command.args(["-D", lint]);
    }
    shell::run(&mut command)?;
    Ok(None)
}

fn test() -> Result<Option<String>> {
    let options = test::TestOptions {
        profile: Some("ci".to_owned()),
        nextest_args: Vec::new(),
    };
    let report = test::run(&options)?;
    Ok((!report.skipped.is_empty())
        .then(|| format!("SKIPPED: {} tests", report.skipped.join(" and "))))
}

fn doc() -> Result<Option<String>> {
    shell::run(
        shell::cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    Ok(None)
}

fn guide() -> Result<Option<String>> {
    docs::run(true)?;
    Ok(None)
}

fn deny() -> Result<Option<String>> {
    deny::check()?;
    Ok(None)
}
