//! `cargo bench -p kage-cli --bench status`
//!
//! The goal: `kage subscription status` on a pool of 100 subscriptions with
//! 1,000,000 usage records answers in under 50 ms as a whole process.
//!
//! The bench seeds such a pool in a temporary SQLite file (`support`, shared
//! with the `statusline` bench): the schema and
//! the subscriptions through the store's API (`SqliteStore::open`,
//! `insert_subscription`), the usage records by batched multi-row inserts
//! (the store's rollup trigger keeps its hourly table up to date, as it does
//! for every release). Then it runs the real `kage` binary (built by cargo
//! for this bench, in the bench profile) ~20 times each for
//! `kage --version` (the cost of starting a process) and
//! `kage subscription status`, and prints p50/p99 wall times.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use jiff::SignedDuration;

mod support;
use support::{RECORDS, SUBSCRIPTIONS, millis, percentile, real_now, seed};

const RUNS: usize = 21;
const GOAL: Duration = Duration::from_millis(50);

fn measure(kage: &Path, home: &Path, args: &[&str]) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..=RUNS {
        let started = Instant::now();
        let output = Command::new(kage)
            .env_clear()
            .env("HOME", home.join("home"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env(
                "KAGE_SECRET_BACKEND",
                format!("insecure-test-file:{}", home.join("secrets").display()),
            )
            .env("RUST_LOG", "error")
            .args(args)
            .output()?;
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
    let kage = Path::new(env!("CARGO_BIN_EXE_kage"));
    let home = tempfile::Builder::new()
        .prefix("kage-status-bench")
        .tempdir()?;
    for folder in ["home", "config", "data/kage", "secrets"] {
        std::fs::create_dir_all(home.path().join(folder))?;
    }
    let database = home.path().join("data").join("kage").join("kage.db");
    let now = real_now();
    let seeding = Instant::now();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(seed(
            &database,
            now.checked_sub(SignedDuration::from_secs(1))?,
        ))?;
    let size = std::fs::metadata(&database)?.len();
    println!(
        "seeded {SUBSCRIPTIONS} subscriptions and {RECORDS} usage records in {:.1} s ({:.0} MiB)",
        seeding.elapsed().as_secs_f64(),
        size as f64 / (1024.0 * 1024.0)
    );

    let version = measure(kage, home.path(), &["--version"])?;
    let status = measure(kage, home.path(), &["subscription", "status"])?;
    let json = measure(kage, home.path(), &["subscription", "status", "--json"])?;

    println!();
    println!(
        "{:<34} {:>5} {:>10} {:>10} {:>10}",
        "command (whole process)", "runs", "p50", "p99", "max"
    );
    for (label, times) in [
        ("kage --version", &version),
        ("kage subscription status", &status),
        ("kage subscription status --json", &json),
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
