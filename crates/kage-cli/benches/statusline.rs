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

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::SignedDuration;

mod support;
use support::{RECORDS, SUBSCRIPTIONS, millis, percentile, real_now, seed};

const RUNS: usize = 200;
const GOAL: Duration = Duration::from_millis(10);
const INPUT: &str = r#"{"session_id":"c35c102e-2f6a-4729-b852-e6bb1986d38d","model":{"id":"claude-sonnet-5","display_name":"Sonnet 5"},"version":"2.1.197","rate_limits":{"five_hour":{"used_percentage":42,"resets_at":1796513551},"seven_day":{"used_percentage":18,"resets_at":1796913551}}}"#;

fn kage(kage: &Path, home: &Path) -> Command {
    let mut command = Command::new(kage);
    command
        .env_clear()
        .env("HOME", home.join("home"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env(
            "KAGE_SECRET_BACKEND",
            format!("insecure-test-file:{}", home.join("secrets").display()),
        )
        .env("RUST_LOG", "error");
    command
}

fn measure(mut make: impl FnMut() -> Command, input: &str) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..=RUNS {
        let started = Instant::now();
        let mut child = make()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        let output = child.wait_with_output()?;
        let elapsed = started.elapsed();
        anyhow::ensure!(
            output.status.success() && output.stderr.is_empty(),
            "kage failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if run == 0 {
            // The first run warms the page cache; it is not counted.
            continue;
        }
        times.push(elapsed);
    }
    times.sort();
    Ok(times)
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() -> anyhow::Result<()> {
    let binary = Path::new(env!("CARGO_BIN_EXE_kage"));
    let home = tempfile::Builder::new()
        .prefix("kage-statusline-bench")
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
    println!(
        "seeded {SUBSCRIPTIONS} subscriptions and {RECORDS} usage records in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let holder = runtime.block_on(kage_store_sql::SqliteStore::open(&database))?;

    let acquired = kage(binary, home.path())
        .args(["lease", "acquire", "--holder", "bench", "--ttl", "1h"])
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

    let version = measure(
        || {
            let mut command = kage(binary, home.path());
            command.arg("--version");
            command
        },
        "",
    )?;
    let statusline = measure(
        || {
            let mut command = kage(binary, home.path());
            command
                .arg("statusline")
                .env("KAGE_SUBSCRIPTION", &name)
                .env("KAGE_LEASE_ID", &lease);
            command
        },
        INPUT,
    )?;
    let check = kage(binary, home.path())
        .args(["subscription", "show", &name])
        .output()?;
    anyhow::ensure!(check.status.success(), "could not show {name}");

    runtime.block_on(holder.close());

    println!();
    println!(
        "{:<34} {:>5} {:>10} {:>10} {:>10}",
        "command (whole process)", "runs", "p50", "p99", "max"
    );
    for (label, times) in [
        ("kage --version", &version),
        ("kage statusline (records quota)", &statusline),
    ] {
        println!(
            "{label:<34} {:>5} {:>10} {:>10} {:>10}",
            times.len(),
            millis(percentile(times, 0.5)),
            millis(percentile(times, 0.99)),
            millis(*times.last().unwrap_or(&Duration::ZERO)),
        );
    }
    let p99 = percentile(&statusline, 0.99);
    println!();
    println!(
        "goal: `kage statusline` under {} at p99 — {} ({})",
        millis(GOAL),
        millis(p99),
        if p99 < GOAL { "met" } else { "NOT met" }
    );
    Ok(())
}
