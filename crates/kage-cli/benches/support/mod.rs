//! What the `kage` benchmarks share: a pool of 100 subscriptions and
//! 1,000,000 usage records seeded in a temporary SQLite file (the schema
//! and the subscriptions through the store's API, the usage records by
//! batched multi-row inserts; the store's rollup trigger keeps its hourly
//! table up to date, as it does for every release), the environment `kage`
//! runs in there, and percentiles.
#![allow(dead_code, reason = "each benchmark uses part of it")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use kage_domain::{Priority, Subscription, SubscriptionId, SubscriptionName};
use kage_ports::SubscriptionStore;
use kage_store_sql::SqliteStore;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

pub(crate) const SUBSCRIPTIONS: usize = 100;
pub(crate) const RECORDS: usize = 1_000_000;
/// Rows per INSERT statement (11 parameters each, under SQLite's 32,766).
const ROWS_PER_STATEMENT: usize = 500;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: usize = 50_000;

#[allow(
    clippy::disallowed_methods,
    reason = "benchmark setup reads the real time"
)]
pub(crate) fn real_now() -> Timestamp {
    Timestamp::now()
}

pub(crate) async fn seed(path: &Path, now: Timestamp) -> anyhow::Result<()> {
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

pub(crate) fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list"
    )]
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub(crate) fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// The sorted wall times of `runs` runs of the `kage` process `command`
/// makes, `input` on its standard input, after one more run that warms the
/// page cache and is not counted. Every run must exit 0 and pass `check`
/// (given the run's number, 0 for the warm-up); `label` names the command
/// in errors.
pub(crate) fn time_runs(
    runs: usize,
    label: &str,
    mut command: impl FnMut() -> Command,
    input: &str,
    mut check: impl FnMut(usize, &Output) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(runs);
    for run in 0..=runs {
        let started = Instant::now();
        let mut child = command()
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
            output.status.success(),
            "`{label}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        check(run, &output)?;
        if run > 0 {
            times.push(elapsed);
        }
    }
    times.sort();
    Ok(times)
}

/// The p50, p99 and max of `sorted`, in milliseconds.
pub(crate) fn spread(sorted: &[Duration]) -> [String; 3] {
    [
        millis(percentile(sorted, 0.5)),
        millis(percentile(sorted, 0.99)),
        millis(sorted.last().copied().unwrap_or(Duration::ZERO)),
    ]
}

/// A table of whole-process wall times: a row per command with its runs,
/// p50, p99 and max.
#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
pub(crate) fn print_times(rows: &[(&str, &[Duration])]) {
    println!();
    println!(
        "{:<34} {:>5} {:>10} {:>10} {:>10}",
        "command (whole process)", "runs", "p50", "p99", "max"
    );
    for (label, times) in rows {
        let [p50, p99, max] = spread(times);
        println!(
            "{label:<34} {:>5} {p50:>10} {p99:>10} {max:>10}",
            times.len()
        );
    }
}

/// How a goal line ends: whether the goal was met.
pub(crate) fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// A temporary home holding a seeded pool, where `kage` finds it.
pub(crate) struct SeededHome {
    pub(crate) dir: tempfile::TempDir,
    /// When the pool was seeded (its last usage record is a second
    /// earlier).
    pub(crate) now: Timestamp,
}

impl SeededHome {
    /// Seed the pool (printing how long it took) in a new temporary home.
    #[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
    pub(crate) fn new(prefix: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        for folder in ["home", "config", "data/kage", "secrets"] {
            std::fs::create_dir_all(dir.path().join(folder))?;
        }
        let database = Self::database_in(dir.path());
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
        #[allow(clippy::cast_precision_loss, reason = "a size in MiB for people")]
        let mib = size as f64 / (1024.0 * 1024.0);
        println!(
            "seeded {SUBSCRIPTIONS} subscriptions and {RECORDS} usage records in {:.1} s ({mib:.0} MiB)",
            seeding.elapsed().as_secs_f64(),
        );
        Ok(Self { dir, now })
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The pool's database file.
    pub(crate) fn database(&self) -> PathBuf {
        Self::database_in(self.dir.path())
    }

    fn database_in(home: &Path) -> PathBuf {
        home.join("data").join("kage").join("kage.db")
    }

    /// `kage ARGS` (the binary cargo built for the bench) in this home.
    pub(crate) fn kage(&self, args: &[&str]) -> Command {
        let home = self.dir.path();
        let mut command = Command::new(Path::new(env!("CARGO_BIN_EXE_kage")));
        command
            .env_clear()
            .env("HOME", home.join("home"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env(
                "KAGE_SECRET_BACKEND",
                format!("insecure-test-file:{}", home.join("secrets").display()),
            )
            .env("RUST_LOG", "error")
            .args(args);
        command
    }
}
