//! `cargo bench -p kage-cli --bench status`
//!
//! The goal: `kage subscription status` on a pool of 100 subscriptions with
//! 1,000,000 usage records answers in under 50 ms as a whole process.
//!
//! The bench seeds such a pool in a temporary SQLite file: the schema and
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

use jiff::{SignedDuration, Timestamp};
use kage_domain::{Priority, Subscription, SubscriptionId, SubscriptionName};
use kage_ports::SubscriptionStore;
use kage_store_sql::SqliteStore;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

const SUBSCRIPTIONS: usize = 100;
const RECORDS: usize = 1_000_000;
const RUNS: usize = 21;
const GOAL: Duration = Duration::from_millis(50);
/// Rows per INSERT statement (11 parameters each, under SQLite's 32,766).
const ROWS_PER_STATEMENT: usize = 500;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: usize = 50_000;

#[allow(
    clippy::disallowed_methods,
    reason = "benchmark setup reads the real time"
)]
fn real_now() -> Timestamp {
    Timestamp::now()
}

async fn seed(path: &Path, now: Timestamp) -> anyhow::Result<()> {
    let store = SqliteStore::open(path).await?;
    let mut ids = Vec::with_capacity(SUBSCRIPTIONS);
    for index in 0..SUBSCRIPTIONS {
        let id = SubscriptionId::from_uuid(uuid::Uuid::new_v4());
        let name = SubscriptionName::new(&format!("sub-{index:03}"))?;
        let mut subscription = Subscription::new(id, name, now);
        subscription.priority = Priority(u8::try_from(index % 256).unwrap_or(100));
        store.insert_subscription(&subscription).await?;
        ids.push(id.to_string());
    }
    store.close().await;

    let options = SqliteConnectOptions::new().filename(path);
    let mut connection = SqliteConnection::connect_with(&options).await?;
    let span_ms: i64 = 30 * 24 * 3600 * 1000;
    let now_ms = now.as_millisecond();
    let mut written = 0;
    while written < RECORDS {
        let mut transaction = connection.begin().await?;
        let end = (written + ROWS_PER_TRANSACTION).min(RECORDS);
        while written < end {
            let rows = ROWS_PER_STATEMENT.min(end - written);
            let mut sql = String::from(
                "INSERT INTO usage_records (lease_id, subscription_id, at, input_tokens, output_tokens, \
                 cache_write_tokens, cache_read_tokens, total_tokens, cost_micros, model) VALUES ",
            );
            for row in 0..rows {
                if row > 0 {
                    sql.push(',');
                }
                sql.push_str("(NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
            }
            let mut query = sqlx::query(&sql);
            for row in written..written + rows {
                let index = i64::try_from(row)?;
                let at = now_ms - span_ms + span_ms * index / i64::try_from(RECORDS)?;
                let (input, output, write, read) = (
                    1000 + index % 700,
                    200 + index % 90,
                    index % 50,
                    index % 3000,
                );
                query = query
                    .bind(&ids[row % SUBSCRIPTIONS])
                    .bind(at)
                    .bind(input)
                    .bind(output)
                    .bind(write)
                    .bind(read)
                    .bind(input + output + write + read)
                    .bind(if row % 4 == 0 {
                        None
                    } else {
                        Some(index % 10_000)
                    })
                    .bind("claude-sonnet-4");
            }
            query.execute(&mut *transaction).await?;
            written += rows;
        }
        transaction.commit().await?;
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list"
    )]
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

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

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
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
