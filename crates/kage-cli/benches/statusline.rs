//! `cargo bench -p kage-cli --bench statusline`
//!
//! The goal: `kage statusline`, which Claude Code runs after every response,
//! answers in under 10 ms at p99 as a whole process, on a pool of 100
//! subscriptions with 1,000,000 usage records (seeded as for the `status`
//! bench, `support`).
//!
//! It leases one subscription (`kage lease acquire`), then runs the real
//! `kage` binary (the bench profile) 200 times each for `kage --version`
//! (the cost of starting a process, the baseline) and `kage statusline`
//! with a subscriber's status-line JSON on stdin and the lease in its
//! environment (each run records the quota: one read, one write), and
//! prints p50/p99 wall times. Meanwhile the bench holds the database open,
//! as the `kage claude` that leased the subscription does while its status
//! line runs (otherwise each `kage statusline` would be the database's last
//! connection and pay for a checkpoint when it closes).

use std::process::Command;
use std::time::Duration;

mod support;
use support::{SeededHome, millis, percentile, print_times, time_runs, verdict};

const RUNS: usize = 200;
const GOAL: Duration = Duration::from_millis(10);
/// A subscriber's status-line JSON, its windows resetting 2 hours and 5
/// days after `now` (seconds since the epoch).
fn input(now: i64) -> String {
    format!(
        r#"{{"session_id":"c35c102e-2f6a-4729-b852-e6bb1986d38d","model":{{"id":"claude-sonnet-5","display_name":"Sonnet 5"}},"version":"2.1.197","rate_limits":{{"five_hour":{{"used_percentage":42,"resets_at":{}}},"seven_day":{{"used_percentage":18,"resets_at":{}}}}}}}"#,
        now + 2 * 3600,
        now + 5 * 86_400
    )
}

/// `time_runs` with nothing on standard error allowed.
fn measure(make: impl FnMut() -> Command, input: &str) -> anyhow::Result<Vec<Duration>> {
    time_runs(RUNS, "kage", make, input, |_, output| {
        anyhow::ensure!(
            output.stderr.is_empty(),
            "kage failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    })
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() -> anyhow::Result<()> {
    let home = SeededHome::new("kage-statusline-bench")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let holder = runtime.block_on(kage_store_sql::SqliteStore::open(home.database()))?;

    let acquired = home
        .kage(&["lease", "acquire", "--holder", "bench", "--ttl", "1h"])
        .output()?;
    anyhow::ensure!(
        acquired.status.success(),
        "could not lease: {}",
        String::from_utf8_lossy(&acquired.stderr)
    );
    let stdout = String::from_utf8(acquired.stdout)?;
    let mut words = stdout.split_whitespace();
    let lease = words.next().unwrap_or_default().to_owned();
    let name = words.next().unwrap_or_default().to_owned();

    let version = measure(|| home.kage(&["--version"]), "")?;
    let statusline = measure(
        || {
            let mut command = home.kage(&["statusline"]);
            command
                .env("KAGE_SUBSCRIPTION", &name)
                .env("KAGE_LEASE_ID", &lease);
            command
        },
        &input(home.now.as_second()),
    )?;
    let check = home.kage(&["subscription", "show", &name]).output()?;
    anyhow::ensure!(check.status.success(), "could not show {name}");
    // Every run recorded both windows of the input as quota reports.
    let shown = String::from_utf8_lossy(&check.stdout);
    anyhow::ensure!(
        shown.contains("Quota:") && shown.contains("5h 42%") && shown.contains("7d 18%"),
        "the status line recorded no quota for {name}:\n{shown}"
    );

    runtime.block_on(holder.close());

    print_times(&[
        ("kage --version", &version),
        ("kage statusline (records quota)", &statusline),
    ]);
    let p99 = percentile(&statusline, 0.99);
    println!();
    println!(
        "goal: `kage statusline` under {} at p99 — {} ({})",
        millis(GOAL),
        millis(p99),
        verdict(p99 < GOAL)
    );
    Ok(())
}
