//! The pool the CLI benchmarks run on: 100 subscriptions and 1,000,000
//! usage records in a temporary SQLite file, seeded the same way for every
//! bench (`status`, `statusline`), and the figures they print.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use kage_domain::{Priority, Subscription, SubscriptionId, SubscriptionName};
use kage_ports::SubscriptionStore;
use kage_store_sql::SqliteStore;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

pub const SUBSCRIPTIONS: usize = 100;
pub const RECORDS: usize = 1_000_000;
/// Rows per INSERT statement (11 parameters each, under SQLite's 32,766).
const ROWS_PER_STATEMENT: usize = 500;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: usize = 50_000;

#[allow(
    clippy::disallowed_methods,
    reason = "benchmark setup reads the real time"
)]
pub fn real_now() -> Timestamp {
    Timestamp::now()
}

pub async fn seed(path: &Path, now: Timestamp) -> anyhow::Result<()> {
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

pub fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list"
    )]
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}


pub fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
