//! `cargo bench -p kage-cli --bench status`
//!
//! The goal: `kage subscription status` on a pool of 100 subscriptions with
//! 1,000,000 usage records answers in under 50 ms as a whole process.
//!
//! The bench seeds such a pool in a temporary SQLite file (`support/mod.rs`,
//! shared with the `statusline` and `metrics-listen` benches). Then it runs the real `kage` binary (built by cargo
//! for this bench, in the bench profile) ~20 times each for
//! `kage --version` (the cost of starting a process),
//! `kage subscription status` and `kage top --once` (one frame of the live
//! view: the reads it makes every second, laid out at 80×24), and prints
//! p50/p99 wall times.

mod support;

use std::time::{Duration, Instant};

use support::{SUBSCRIPTIONS, SeededHome, millis, percentile};

const RUNS: usize = 21;
const GOAL: Duration = Duration::from_millis(50);

fn measure(home: &SeededHome, args: &[&str]) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..=RUNS {
        let started = Instant::now();
        let output = home.kage(args).output()?;
        let elapsed = started.elapsed();
        anyhow::ensure!(
            output.status.success(),
            "`kage {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        if run == 0 {
            // The first run warms the page cache; it is not counted.
            if args == ["subscription", "status"] {
                let stdout = String::from_utf8_lossy(&output.stdout);
                anyhow::ensure!(
                    stdout.contains(&format!("Active:       {SUBSCRIPTIONS}/{SUBSCRIPTIONS}")),
                    "unexpected status output:\n{stdout}"
                );
            }
            continue;
        }
        times.push(elapsed);
    }
    times.sort();
    Ok(times)
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() -> anyhow::Result<()> {
    let home = SeededHome::new("kage-status-bench")?;
    let version = measure(&home, &["--version"])?;
    let status = measure(&home, &["subscription", "status"])?;
    let json = measure(&home, &["subscription", "status", "--json"])?;
    // One `kage top` frame: the same reads plus leases, waiters and alerts,
    // laid out at 80×24 (what the live view does every second).
    let top = measure(&home, &["top", "--once"])?;

    println!();
    println!(
        "{:<34} {:>5} {:>10} {:>10} {:>10}",
        "command (whole process)", "runs", "p50", "p99", "max"
    );
    for (label, times) in [
        ("kage --version", &version),
        ("kage subscription status", &status),
        ("kage subscription status --json", &json),
        ("kage top --once", &top),
    ] {
        println!(
            "{label:<34} {:>5} {:>10} {:>10} {:>10}",
            times.len(),
            millis(percentile(times, 0.5)),
            millis(percentile(times, 0.99)),
            millis(*times.last().unwrap_or(&Duration::ZERO)),
        );
    }
    let p50 = percentile(&status, 0.5);
    println!();
    println!(
        "goal: `kage subscription status` under {} — p50 {} ({})",
        millis(GOAL),
        millis(p50),
        if p50 < GOAL { "met" } else { "NOT met" }
    );
    Ok(())
}
