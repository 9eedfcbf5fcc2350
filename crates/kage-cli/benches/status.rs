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

use std::time::Duration;

use support::{SUBSCRIPTIONS, SeededHome, millis, percentile, print_times, time_runs, verdict};

const RUNS: usize = 21;
const GOAL: Duration = Duration::from_millis(50);

fn measure(home: &SeededHome, args: &[&str]) -> anyhow::Result<Vec<Duration>> {
    let label = format!("kage {}", args.join(" "));
    time_runs(
        RUNS,
        &label,
        || home.kage(args),
        "",
        |run, output| {
            if run == 0 && args == ["subscription", "status"] {
                let stdout = String::from_utf8_lossy(&output.stdout);
                anyhow::ensure!(
                    stdout.contains(&format!("Active:       {SUBSCRIPTIONS}/{SUBSCRIPTIONS}")),
                    "unexpected status output:\n{stdout}"
                );
            }
            Ok(())
        },
    )
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

    print_times(&[
        ("kage --version", &version),
        ("kage subscription status", &status),
        ("kage subscription status --json", &json),
        ("kage top --once", &top),
    ]);
    let p50 = percentile(&status, 0.5);
    println!();
    println!(
        "goal: `kage subscription status` under {} — p50 {} ({})",
        millis(GOAL),
        millis(p50),
        verdict(p50 < GOAL)
    );
    Ok(())
}
