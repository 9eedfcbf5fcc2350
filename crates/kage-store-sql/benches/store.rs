//! The store's benchmark: acquire+release cycles and the status/usage
//! queries, on SQLite and PostgreSQL, each beside a raw baseline measured in
//! the same run on the same database.
//!
//! ```text
//! cargo bench -p kage-store-sql --bench store [-- --quick] [--only GROUP]
//! ```
//!
//! `--quick` runs fewer operations (a smoke test, not a measurement);
//! `--only` runs one group of rows: `sqlite-cycles`, `sqlite-status`,
//! `postgres-cycles`, `postgres-status` (or any part of those names).
//!
//! PostgreSQL rows use `KAGE_BENCH_DB_URL` or else `KAGE_TEST_DB_URL` (a
//! fresh database `kage_bench_<uuid>` is made there and dropped at the end);
//! without either they are skipped with a note. Multi-process rows spawn this
//! binary again (`store worker …`), one OS process per client.
//!
//! The goals printed beside the figures are those of `docs/benchmarks.md`:
//! SQLite ≥ 1,000 cycles/s in one process with p99 under 5 ms, ≥ 1,500/s
//! over 16 processes; PostgreSQL ≥ 1,000/s over 16 processes; status and a
//! month of usage on 1M records under 20 ms (p99).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kage_domain::{
    LeaseId, Outcome, Priority, SelectionPolicy, SelectionRequest, StatePolicy, Subscription,
    SubscriptionId, SubscriptionName, Usage,
};
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, Clock, ReleaseLeaseRequest, SubscriptionStore,
    SystemClock, UsageQuery,
};
use kage_store_sql::{PostgresStore, SqliteStore, redact_url};
use sqlx::{Connection, Executor};
use uuid::Uuid;

const CYCLE_POOL: usize = 10;
const STATUS_POOL: usize = 100;
const USAGE_RECORDS: i64 = 1_000_000;
const PROCESSES: usize = 16;

/// Latencies of one measured case, with the wall time they took.
#[derive(Clone)]
struct Sample {
    latencies_ns: Vec<u64>,
    wall: Duration,
    errors: u64,
}

impl Sample {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies_ns.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        Duration::from_nanos(sorted[rank.min(sorted.len() - 1)])
    }

    fn rate(&self) -> f64 {
        self.latencies_ns.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

struct Row {
    case: String,
    sample: Sample,
    baseline_what: String,
    baseline: Sample,
    target: String,
    pass: bool,
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}

fn print_table(rows: &[Row], notes: &[String]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    writeln!(
        out,
        "{:<46} {:>9} {:>10} {:>10} {:>10} {:>6} | {:<28} {:>10} {:>10} {:>10} | {:<26} verdict",
        "case", "ops", "ops/s", "p50", "p99", "errors", "baseline", "ops/s", "p50", "p99", "target",
    )?;
    writeln!(out, "{}", "-".repeat(200))?;
    for row in rows {
        writeln!(
            out,
            "{:<46} {:>9} {:>10.0} {:>10} {:>10} {:>6} | {:<28} {:>10.0} {:>10} {:>10} | {:<26} {}",
            row.case,
            row.sample.latencies_ns.len(),
            row.sample.rate(),
            ms(row.sample.percentile(50.0)),
            ms(row.sample.percentile(99.0)),
            row.sample.errors,
            row.baseline_what,
            row.baseline.rate(),
            ms(row.baseline.percentile(50.0)),
            ms(row.baseline.percentile(99.0)),
            row.target,
            if row.pass { "ok" } else { "MISSED" },
        )?;
    }
    for note in notes {
        writeln!(out, "{note}")?;
    }
    out.flush()?;
    Ok(())
}

fn progress(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "store bench: {text}");
}

fn subscription(index: usize, cap: Option<u32>) -> Subscription {
    let mut subscription = Subscription::new(
        SubscriptionId::from_uuid(Uuid::new_v4()),
        SubscriptionName::new(&format!("bench-{index:03}")).expect("valid name"),
        SystemClock.now(),
    );
    subscription.priority = Priority(100);
    subscription.max_concurrent = cap;
    subscription
}

fn acquire_request() -> AcquireLeaseRequest {
    AcquireLeaseRequest {
        lease_id: LeaseId::from_uuid(Uuid::new_v4()),
        selection: SelectionRequest::default(),
        rules: Default::default(),
        policy: SelectionPolicy::default(),
        ttl: Duration::from_secs(120),
        holder: format!("kage-store-bench:{}", std::process::id()),
    }
}

/// A store of either backend, opened from a location (a PostgreSQL URL or
/// a SQLite path).
enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

async fn open_store(location: &str) -> anyhow::Result<AnyStore> {
    Ok(if location.starts_with("postgres://") {
        AnyStore::Postgres(PostgresStore::connect(location).await?)
    } else {
        AnyStore::Sqlite(SqliteStore::open(location).await?)
    })
}

impl AnyStore {
    async fn close(&self) {
        match self {
            Self::Sqlite(store) => store.close().await,
            Self::Postgres(store) => store.close().await,
        }
    }
}

impl std::ops::Deref for AnyStore {
    type Target = dyn SubscriptionStore;

    fn deref(&self) -> &Self::Target {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
        }
    }
}

/// One acquire+release cycle; `Ok(false)` when the pool was full.
async fn cycle(store: &AnyStore) -> anyhow::Result<bool> {
    let clock = SystemClock;
    let lease = match store.acquire_lease(&acquire_request(), clock.now()).await? {
        AcquireOutcome::Granted(lease) => lease,
        AcquireOutcome::Unavailable { .. } => return Ok(false),
    };
    let release = ReleaseLeaseRequest {
        lease_id: lease.id,
        outcome: Outcome::Success,
        usage: Usage {
            input_tokens: 1200,
            output_tokens: 300,
            ..Usage::default()
        },
        policy: StatePolicy::default(),
    };
    store.release_lease(&release, clock.now()).await?;
    Ok(true)
}

/// What a worker process does per operation.
#[derive(Clone, Copy)]
enum Work {
    Cycles,
    /// Two plain write transactions (as many as one cycle has) through
    /// sqlx on one SQLite connection: the floor of the driver and engine.
    BaselineSqlite,
    /// Two plain single-statement commits.
    BaselinePostgres,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Self::Cycles => "cycles",
            Self::BaselineSqlite => "baseline-sqlite",
            Self::BaselinePostgres => "baseline-postgres",
        }
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(match text {
            "cycles" => Self::Cycles,
            "baseline-sqlite" => Self::BaselineSqlite,
            "baseline-postgres" => Self::BaselinePostgres,
            other => bail!("unknown work {other:?}"),
        })
    }
}

/// Time `count` runs of `op` after `warmup` unmeasured ones; `Ok(false)` or
/// an error counts as an error.
async fn measure(
    count: usize,
    warmup: usize,
    mut op: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Sample> {
    for _ in 0..warmup {
        op().await?;
    }
    let mut latencies_ns = Vec::with_capacity(count);
    let mut errors = 0;
    let started = Instant::now();
    for _ in 0..count {
        let at = Instant::now();
        match op().await {
            Ok(true) => latencies_ns.push(at.elapsed().as_nanos() as u64),
            Ok(false) => errors += 1,
            Err(error) => {
                progress(&format!("operation failed: {error:#}"));
                errors += 1;
            }
        }
    }
    Ok(Sample {
        latencies_ns,
        wall: started.elapsed(),
        errors,
    })
}

/// Run `count` operations of `work`, after `warmup` unmeasured ones.
async fn run_ops(
    location: &str,
    work: Work,
    count: usize,
    warmup: usize,
) -> anyhow::Result<Sample> {
    match work {
        Work::Cycles => {
            let store = open_store(location).await?;
            let sample = measure(count, warmup, async || cycle(&store).await).await;
            store.close().await;
            sample
        }
        Work::BaselineSqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(location)
                .busy_timeout(Duration::from_secs(5))
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
            let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
            let sample = measure(count, warmup, async || {
                for _ in 0..2 {
                    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
                    sqlx::query("INSERT INTO bench_baseline (at) VALUES ($1)")
                        .bind(1_i64)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                }
                Ok(true)
            })
            .await;
            connection.close().await?;
            sample
        }
        Work::BaselinePostgres => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect(location)
                .await?;
            let sample = measure(count, warmup, async || {
                for _ in 0..2 {
                    sqlx::query("INSERT INTO bench_baseline (at) VALUES ($1)")
                        .bind(1_i64)
                        .execute(&pool)
                        .await?;
                }
                Ok(true)
            })
            .await;
            pool.close().await;
            sample
        }
    }
}

/// `store worker WORK LOCATION COUNT START_AT_MS`: wait for the
/// common start, run, print `result ERRORS START_NS END_NS` and `lat NS…`.
async fn worker(work: Work, location: &str, count: usize, start_at_ms: i64) -> anyhow::Result<()> {
    // Open (and warm up) before the common start, so that only the measured
    // operations overlap.
    let sample_future = async {
        let wait_ms = start_at_ms - SystemClock.now().as_millisecond();
        if wait_ms > 0 {
            tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await;
        }
        let started = SystemClock.now().as_nanosecond();
        let sample = run_ops(location, work, count, 20).await?;
        let ended = SystemClock.now().as_nanosecond();
        anyhow::Ok((sample, started, ended))
    };
    let (sample, started, ended) = sample_future.await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "result {} {} {}", sample.errors, started, ended)?;
    let latencies: Vec<String> = sample.latencies_ns.iter().map(u64::to_string).collect();
    writeln!(out, "lat {}", latencies.join(" "))?;
    Ok(())
}

/// Run `processes` workers at once and merge what they measured. The
/// throughput is every operation over the span from the first start to the
/// last end.
fn run_processes(
    work: Work,
    location: &str,
    processes: usize,
    count: usize,
) -> anyhow::Result<Sample> {
    let exe = std::env::current_exe()?;
    let start_at = SystemClock.now().as_millisecond() + 1500;
    let children = (0..processes)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "worker",
                    work.name(),
                    location,
                    &count.to_string(),
                    &start_at.to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .context("spawn a bench worker")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut latencies_ns = Vec::new();
    let (mut errors, mut first, mut last) = (0, i128::MAX, i128::MIN);
    for child in children {
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!("a bench worker failed ({})", output.status);
        }
        for line in String::from_utf8(output.stdout)?.lines() {
            let mut words = line.split(' ');
            match words.next() {
                Some("result") => {
                    errors += words.next().context("errors")?.parse::<u64>()?;
                    first = first.min(words.next().context("start")?.parse()?);
                    last = last.max(words.next().context("end")?.parse()?);
                }
                Some("lat") => {
                    for word in words.filter(|word| !word.is_empty()) {
                        latencies_ns.push(word.parse()?);
                    }
                }
                _ => bail!("unexpected worker output {line:?}"),
            }
        }
    }
    let wall = Duration::from_nanos(u64::try_from(last - first).unwrap_or(0));
    Ok(Sample {
        latencies_ns,
        wall,
        errors,
    })
}

async fn create_cycle_pool(location: &str) -> anyhow::Result<()> {
    let store = open_store(location).await?;
    for index in 0..CYCLE_POOL {
        // Half the pool is capped (never full here: 10 x 4 > 16 clients).
        let cap = (index % 2 == 0).then_some(4);
        store.insert_subscription(&subscription(index, cap)).await?;
    }
    store.close().await;
    Ok(())
}

/// The cycle rows of one backend: 1 process (SQLite only) and 16 processes.
async fn cycle_rows(
    backend: &str,
    location: &str,
    quick: bool,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    create_cycle_pool(location).await?;
    let is_sqlite = backend == "sqlite";
    let baseline_work = if is_sqlite {
        Work::BaselineSqlite
    } else {
        Work::BaselinePostgres
    };
    let baseline_what = if is_sqlite {
        "2 plain write txns, sqlx"
    } else {
        "2 plain commits (INSERT)"
    };
    let create_baseline = "CREATE TABLE IF NOT EXISTS bench_baseline (at BIGINT NOT NULL)";
    match open_store(location).await? {
        AnyStore::Sqlite(store) => {
            store.close().await;
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(location);
            let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
            connection.execute(create_baseline).await?;
            connection.close().await?;
        }
        AnyStore::Postgres(store) => {
            store.close().await;
            let mut connection = sqlx::PgConnection::connect(location).await?;
            connection.execute(create_baseline).await?;
            connection.close().await?;
        }
    }
    if is_sqlite {
        let count = if quick { 1000 } else { 10_000 };
        progress(&format!("{backend}: {count} cycles in 1 process"));
        let sample = run_ops(location, Work::Cycles, count, 200).await?;
        let baseline = run_ops(location, baseline_work, count, 200).await?;
        let pass = sample.rate() >= 1000.0
            && sample.percentile(99.0) < Duration::from_millis(5)
            && sample.errors == 0;
        rows.push(Row {
            case: "sqlite, 1 process: acquire+release".to_owned(),
            sample,
            baseline_what: baseline_what.to_owned(),
            baseline,
            target: ">= 1000/s, p99 < 5 ms".to_owned(),
            pass,
        });
    }
    let count = if quick { 100 } else { 1000 };
    progress(&format!(
        "{backend}: {PROCESSES} processes x {count} cycles"
    ));
    let sample = run_processes(Work::Cycles, location, PROCESSES, count)?;
    let baseline = run_processes(baseline_work, location, PROCESSES, count)?;
    let (target, floor) = if is_sqlite {
        (">= 1500/s total, 0 errors", 1500.0)
    } else {
        (">= 1000/s total, 0 errors", 1000.0)
    };
    let pass = sample.rate() >= floor && sample.errors == 0;
    rows.push(Row {
        case: format!("{backend}, {PROCESSES} processes: acquire+release"),
        sample,
        baseline_what: baseline_what.to_owned(),
        baseline,
        target: target.to_owned(),
        pass,
    });
    Ok(())
}

/// 100 subscriptions and 1,000,000 usage records over the last 30 days.
async fn seed_status_pool(location: &str) -> anyhow::Result<Duration> {
    let store = open_store(location).await?;
    let mut ids = Vec::new();
    for index in 0..STATUS_POOL {
        let subscription = subscription(index, None);
        ids.push(subscription.id.to_string());
        store.insert_subscription(&subscription).await?;
    }
    let is_sqlite = matches!(store, AnyStore::Sqlite(_));
    store.close().await;
    let now_ms = SystemClock.now().as_millisecond();
    let span_ms: i64 = 30 * 86_400_000;
    let start_ms = now_ms - span_ms;
    let values: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| format!("({index}, '{id}')"))
        .collect();
    let started = Instant::now();
    // Spread records evenly in pseudo-random order over the 30 days (the
    // multiplier is odd and large, so `n * k mod span` scatters n).
    let spread = format!("{start_ms} + (n * 2654435761) % {span_ms}");
    let insert = format!(
        "INSERT INTO usage_records (subscription_id, at, input_tokens, output_tokens, \
         cache_write_tokens, cache_read_tokens, total_tokens, cost_micros, model) \
         SELECT s.id, {spread}, 1000, 200, 0, 0, 1200, 15000, 'bench' FROM seq \
         JOIN bench_ids s ON s.idx = n % {STATUS_POOL}"
    );
    if is_sqlite {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(location)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
        let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
        // Seed with the rollup trigger set aside, roll the records up in
        // bulk, and put the trigger back, all in one transaction (SQLite has
        // only row triggers; it drops and recreates it).
        let trigger: String = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'usage_records_rollup'",
        )
        .fetch_one(&mut connection)
        .await?;
        connection
            .execute(
                format!(
                    "CREATE TEMP TABLE bench_ids (idx INTEGER PRIMARY KEY, id TEXT NOT NULL); \
                     INSERT INTO bench_ids VALUES {}; \
                     BEGIN IMMEDIATE; \
                     DROP TRIGGER usage_records_rollup; \
                     WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < {last}) {insert}; \
                     INSERT INTO usage_hourly SELECT subscription_id, at - at % 3600000, SUM(input_tokens), \
                       SUM(output_tokens), SUM(cache_write_tokens), SUM(cache_read_tokens), SUM(total_tokens), \
                       COALESCE(SUM(cost_micros), 0), COUNT(cost_micros), COUNT(*) \
                       FROM usage_records GROUP BY 1, 2; \
                     INSERT INTO usage_recent SELECT subscription_id, at - at % 10000, SUM(total_tokens) \
                       FROM usage_records WHERE at >= {recent} GROUP BY 1, 2; \
                     {trigger}; \
                     COMMIT; ANALYZE;",
                    values.join(", "),
                    last = USAGE_RECORDS - 1,
                    recent = now_ms - 86_400_000,
                )
                .as_str(),
            )
            .await?;
        connection.close().await?;
    } else {
        let mut connection = sqlx::PgConnection::connect(location).await?;
        connection
            .execute(
                format!(
                    "CREATE TEMP TABLE bench_ids (idx BIGINT PRIMARY KEY, id TEXT NOT NULL); \
                     INSERT INTO bench_ids VALUES {}; \
                     BEGIN; \
                     ALTER TABLE usage_records DISABLE TRIGGER usage_records_rollup; \
                     WITH seq(n) AS (SELECT generate_series(0, {last}::BIGINT)) {insert} ORDER BY 2; \
                     INSERT INTO usage_hourly SELECT subscription_id, at - at % 3600000, SUM(input_tokens), \
                       SUM(output_tokens), SUM(cache_write_tokens), SUM(cache_read_tokens), SUM(total_tokens), \
                       COALESCE(SUM(cost_micros), 0), COUNT(cost_micros), COUNT(*) \
                       FROM usage_records GROUP BY 1, 2; \
                     INSERT INTO usage_recent SELECT subscription_id, at - at % 10000, SUM(total_tokens) \
                       FROM usage_records WHERE at >= {recent} GROUP BY 1, 2; \
                     ALTER TABLE usage_records ENABLE TRIGGER usage_records_rollup; \
                     COMMIT; \
                     ANALYZE;",
                    values.join(", "),
                    last = USAGE_RECORDS - 1,
                    recent = now_ms - 86_400_000,
                )
                .as_str(),
            )
            .await?;
        // A million fresh rows would set autovacuum off in the middle of the
        // measurement (a p99 of 20 ms instead of 8 on this machine); vacuum
        // them now, as a pool that has run for a while has been (which also
        // marks the rollup's pages all-visible, so the usage window is read
        // from its index alone). VACUUM cannot run inside the seeding
        // batch's implicit transaction.
        connection.execute("VACUUM (ANALYZE) usage_records").await?;
        connection.execute("VACUUM (ANALYZE) usage_recent").await?;
        connection.close().await?;
    }
    Ok(started.elapsed())
}

/// Time `runs` calls of `operation` (after 3 unmeasured ones).
async fn time_queries<F>(runs: usize, mut operation: F) -> anyhow::Result<Sample>
where
    F: AsyncFnMut() -> anyhow::Result<()>,
{
    for _ in 0..3 {
        operation().await?;
    }
    let started = Instant::now();
    let mut latencies_ns = Vec::with_capacity(runs);
    for _ in 0..runs {
        let at = Instant::now();
        operation().await?;
        latencies_ns.push(at.elapsed().as_nanos() as u64);
    }
    Ok(Sample {
        latencies_ns,
        wall: started.elapsed(),
        errors: 0,
    })
}

/// The raw baseline of the usage rows: a month of raw records summed per
/// subscription, without the rollup.
async fn raw_month_sum(location: &str, from_ms: i64) -> anyhow::Result<()> {
    let sql = "SELECT subscription_id, COUNT(*), SUM(total_tokens) FROM usage_records WHERE at >= $1 \
               GROUP BY subscription_id";
    if location.starts_with("postgres") {
        let mut connection = sqlx::PgConnection::connect(location).await?;
        sqlx::query(sql)
            .bind(from_ms)
            .fetch_all(&mut connection)
            .await?;
        connection.close().await?;
    } else {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(location);
        let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
        sqlx::query(sql)
            .bind(from_ms)
            .fetch_all(&mut connection)
            .await?;
        connection.close().await?;
    }
    Ok(())
}

async fn status_rows(
    backend: &str,
    location: &str,
    quick: bool,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    progress(&format!(
        "{backend}: seeding {STATUS_POOL} subscriptions and {USAGE_RECORDS} usage records"
    ));
    let seeded = seed_status_pool(location).await?;
    notes.push(format!(
        "{backend}: seeded {USAGE_RECORDS} usage records in {:.1} s",
        seeded.as_secs_f64()
    ));
    let store = open_store(location).await?;
    let runs = if quick { 10 } else { 50 };
    let now = SystemClock.now();
    let today_start = now.checked_sub(jiff::SignedDuration::from_secs(
        now.as_second().rem_euclid(86_400),
    ))?;
    let month_start = today_start.checked_sub(jiff::SignedDuration::from_hours(29 * 24))?;
    let today = UsageQuery {
        from: today_start,
        to: now,
        utc_offset_seconds: 0,
        subscription: None,
    };
    let month = UsageQuery {
        from: month_start,
        to: now,
        utc_offset_seconds: 0,
        subscription: None,
    };
    let registering = Instant::now();
    store.daily_usage(&month).await?;
    notes.push(format!(
        "{backend}: first month query in a new zone offset (fills the daily rollup once): {:.2} s",
        registering.elapsed().as_secs_f64()
    ));
    let status = time_queries(runs, async || {
        let lines = store.daily_usage(&today).await?;
        let snapshot = store
            .pool_snapshot(SelectionPolicy::default().usage_window, SystemClock.now())
            .await?;
        let listed = store.list_subscriptions().await?;
        anyhow::ensure!(
            snapshot.entries.len() == listed.len() && !lines.is_empty(),
            "empty status"
        );
        Ok(())
    })
    .await?;
    let parts = [
        (
            "daily_usage(today)",
            time_queries(runs, async || {
                store.daily_usage(&today).await?;
                Ok(())
            })
            .await?,
        ),
        (
            "pool_snapshot",
            time_queries(runs, async || {
                store
                    .pool_snapshot(SelectionPolicy::default().usage_window, SystemClock.now())
                    .await?;
                Ok(())
            })
            .await?,
        ),
        (
            "list_subscriptions",
            time_queries(runs, async || {
                store.list_subscriptions().await?;
                Ok(())
            })
            .await?,
        ),
    ];
    for (part, sample) in &parts {
        notes.push(format!(
            "{backend}: status part {part}: p50 {:.3} ms, p99 {:.3} ms",
            sample.percentile(50.0).as_secs_f64() * 1e3,
            sample.percentile(99.0).as_secs_f64() * 1e3
        ));
    }
    let usage_month = time_queries(runs, async || {
        let lines = store.daily_usage(&month).await?;
        anyhow::ensure!(
            lines.len() >= STATUS_POOL * 29,
            "only {} lines",
            lines.len()
        );
        let total: u64 = lines.iter().map(|line| line.leases).sum();
        anyhow::ensure!(total > 0, "no usage");
        Ok(())
    })
    .await?;
    store.close().await;
    let from_ms = month_start.as_millisecond();
    let baseline = time_queries(runs.min(10), async || {
        raw_month_sum(location, from_ms).await
    })
    .await?;
    let baseline_again = time_queries(runs.min(10), async || {
        raw_month_sum(location, from_ms).await
    })
    .await?;
    let under = |sample: &Sample| sample.percentile(99.0) < Duration::from_millis(20);
    rows.push(Row {
        case: format!("{backend}, 100 subs/1M records: status"),
        pass: under(&status),
        sample: status,
        baseline_what: "raw month sum, no rollup".to_owned(),
        baseline,
        target: "< 20 ms (p99)".to_owned(),
    });
    rows.push(Row {
        case: format!("{backend}, 100 subs/1M records: usage month"),
        pass: under(&usage_month),
        sample: usage_month,
        baseline_what: "raw month sum, no rollup".to_owned(),
        baseline: baseline_again,
        target: "< 20 ms (p99)".to_owned(),
    });
    Ok(())
}

async fn bench(quick: bool, only: Option<&str>) -> anyhow::Result<()> {
    let wanted = |group: &str| only.is_none_or(|only| group.contains(only));
    let mut rows = Vec::new();
    let mut notes = vec![format!(
        "{} build; 2 x acquire/release per cycle; latencies per cycle (acquire + release) or per query",
        if cfg!(debug_assertions) {
            "DEBUG (figures are not meaningful)"
        } else {
            "release"
        }
    )];
    let folder = std::env::temp_dir().join(format!("kage-store-bench-{}", Uuid::new_v4().simple()));
    let sqlite = async {
        if wanted("sqlite-cycles") {
            let cycles_db = folder.join("cycles.db");
            let cycles_db = cycles_db.to_str().context("path")?;
            cycle_rows("sqlite", cycles_db, quick, &mut rows).await?;
        }
        if wanted("sqlite-status") {
            let status_db = folder.join("status.db");
            let status_db = status_db.to_str().context("path")?;
            status_rows("sqlite", status_db, quick, &mut rows, &mut notes).await?;
        }
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&folder);
    sqlite?;

    let admin_url = std::env::var("KAGE_BENCH_DB_URL")
        .or_else(|_| std::env::var("KAGE_TEST_DB_URL"))
        .ok()
        .filter(|url| !url.trim().is_empty());
    match admin_url {
        _ if !wanted("postgres-cycles") && !wanted("postgres-status") => {}
        None => notes.push(
            "!!! PostgreSQL rows SKIPPED: set KAGE_BENCH_DB_URL or KAGE_TEST_DB_URL \
             (e.g. postgres://postgres@127.0.0.1:5432/test) to measure them !!!"
                .to_owned(),
        ),
        Some(admin_url) => {
            notes.push(format!(
                "postgres: fresh databases on {}",
                redact_url(&admin_url)
            ));
            for purpose in ["cycles", "status"]
                .into_iter()
                .filter(|purpose| wanted(&format!("postgres-{purpose}")))
            {
                let (database, url) = create_database(&admin_url).await?;
                let result = if purpose == "cycles" {
                    cycle_rows("postgres", &url, quick, &mut rows).await
                } else {
                    status_rows("postgres", &url, quick, &mut rows, &mut notes).await
                };
                drop_database(&admin_url, &database).await?;
                result?;
            }
            let round_trips =
                postgres_round_trips(&admin_url, if quick { 200 } else { 2000 }).await?;
            notes.push(format!(
                "postgres round trip (SELECT 1, 1 client): p50 {}, p99 {}",
                ms(round_trips.percentile(50.0)),
                ms(round_trips.percentile(99.0))
            ));
        }
    }
    print_table(&rows, &notes)?;
    if rows.iter().any(|row| !row.pass) {
        progress("some targets were missed (see the table)");
    }
    Ok(())
}

async fn postgres_round_trips(url: &str, count: usize) -> anyhow::Result<Sample> {
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let sample = time_queries(count, async || {
        sqlx::query("SELECT 1").execute(&mut connection).await?;
        Ok(())
    })
    .await?;
    connection.close().await?;
    Ok(sample)
}

async fn create_database(admin_url: &str) -> anyhow::Result<(String, String)> {
    let database = format!("kage_bench_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .context("connect to the bench server")?;
    admin
        .execute(format!("CREATE DATABASE \"{database}\"").as_str())
        .await?;
    admin.close().await?;
    let url = kage_testkit::with_database(admin_url, &database);
    Ok((database, url))
}

async fn drop_database(admin_url: &str, database: &str) -> anyhow::Result<()> {
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)").as_str())
        .await?;
    admin.close().await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; the worker processes do not.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] => bench(false, None).await,
        ["--quick"] => bench(true, None).await,
        ["--only", group] => bench(false, Some(group)).await,
        ["--quick", "--only", group] => bench(true, Some(group)).await,
        ["worker", work, location, count, start_at] => {
            worker(
                Work::parse(work)?,
                location,
                count.parse()?,
                start_at.parse()?,
            )
            .await
        }
        _ => bail!(
            "usage: cargo bench -p kage-store-sql --bench store -- [--quick] [--only sqlite-cycles|sqlite-status|postgres-cycles|postgres-status]"
        ),
    }
}
