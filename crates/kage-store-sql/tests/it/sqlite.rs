//! SQLite: the contract, plus the file itself: where and how it is created,
//! and what happens with a folder that cannot be written, a file that is not
//! Kage's, and databases of newer and older schema versions.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use kage_domain::Outcome;
use kage_ports::{StoreError, SubscriptionStore, UsageQuery};
use kage_store_sql::{SCHEMA_VERSION, SqliteStore, sqlite_migrations};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

use crate::contract::contract_tests;
use crate::support::*;

mod contract {
    use crate::support::with_sqlite;

    super::contract_tests!(with_sqlite);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn raw_connection(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

#[tokio::test]
async fn the_file_and_its_folder_are_created_private() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("data").join("kage").join("kage.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .insert_subscription(&subscription("work"))
        .await
        .unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    for suffix in ["-wal", "-shm"] {
        let side = path.with_file_name(format!("kage.db{suffix}"));
        if side.exists() {
            assert_eq!(mode(&side), 0o600, "{}", side.display());
        }
    }
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw_connection(&path).await)
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    store.close().await;
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("kage.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let work = subscription("work");
    store.insert_subscription(&work).await.unwrap();
    let now = t("2025-06-02T10:00:00Z");
    let lease = granted(&store, &acquire(secs(60)), now).await;
    store
        .release_lease(&release(lease.id, Outcome::Success, tokens(5, 6)), now)
        .await
        .unwrap();
    store.close().await;

    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(reopened.list_subscriptions().await.unwrap(), vec![work]);
    let query = UsageQuery {
        from: t("2025-06-02T00:00:00Z"),
        to: t("2025-06-03T00:00:00Z"),
        utc_offset_seconds: 0,
        subscription: None,
    };
    assert_eq!(
        reopened.daily_usage(&query).await.unwrap()[0]
            .usage
            .total_tokens(),
        11
    );
    reopened.close().await;
}

#[tokio::test]
async fn an_unwritable_folder_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let blocker = root.path().join("not-a-folder");
    std::fs::write(&blocker, "a file where the data folder should be").unwrap();
    let path = blocker.join("kage").join("kage.db");
    match SqliteStore::open(&path).await {
        Err(error @ StoreError::Unavailable { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains("cannot create its folder"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(&blocker).unwrap(),
        "a file where the data folder should be"
    );

    // A read-only folder stops everyone but root.
    let locked = root.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
    let is_root = std::fs::write(locked.join("probe"), "").is_ok();
    if !is_root {
        match SqliteStore::open(locked.join("kage.db")).await {
            Err(StoreError::Unavailable { location, detail }) => {
                assert!(location.ends_with("locked/kage.db"), "{location}");
                assert!(detail.contains("cannot create the file"), "{detail}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}

/// Open must refuse the file and leave every byte of it as it was.
async fn assert_refused_untouched(path: &Path, expected_detail: &str) {
    let before = std::fs::read(path).unwrap();
    // The quick open (`kage statusline`) refuses it as untouched as the full one.
    match SqliteStore::open_quick(path).await {
        Err(StoreError::NotADatabase { .. }) => {}
        other => panic!(
            "expected NotADatabase from the quick open of {}, got {other:?}",
            path.display()
        ),
    }
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "the quick open changed the file"
    );
    match SqliteStore::open(path).await {
        Err(error @ StoreError::NotADatabase { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains(expected_detail), "{message}");
            assert!(message.contains("left untouched"), "{message}");
        }
        other => panic!(
            "expected NotADatabase for {}, got {other:?}",
            path.display()
        ),
    }
    assert_eq!(std::fs::read(path).unwrap(), before, "the file was changed");
    for suffix in ["-wal", "-journal"] {
        let side = path.with_file_name(format!(
            "{}{suffix}",
            path.file_name().unwrap().to_string_lossy()
        ));
        assert!(
            !side.exists() || std::fs::metadata(&side).unwrap().len() == 0,
            "{}",
            side.display()
        );
    }
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_untouched() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("kage.db");
    std::fs::write(&path, "these are my notes, not a database\n").unwrap();
    assert_refused_untouched(&path, "does not start with the SQLite header").await;
}

#[tokio::test]
async fn a_corrupt_database_is_refused_untouched() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("kage.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend((0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&path, &bytes).unwrap();
    let before = std::fs::read(&path).unwrap();
    match SqliteStore::open(&path).await {
        Err(StoreError::NotADatabase { location, .. }) => {
            assert_eq!(location, path.display().to_string())
        }
        other => panic!("expected NotADatabase, got {other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn another_programs_database_is_refused_untouched() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("kage.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let mut connection = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::raw_sql("CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    assert_refused_untouched(&path, "another program").await;

    let other_app = root.path().join("other.db");
    let options = SqliteConnectOptions::new()
        .filename(&other_app)
        .create_if_missing(true);
    let mut connection = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::raw_sql("PRAGMA application_id = 42; CREATE TABLE t (x);")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    assert_refused_untouched(&other_app, "application id 0x2a").await;
}

#[tokio::test]
async fn a_folder_at_the_path_is_refused() {
    let root = tempfile::tempdir().unwrap();
    match SqliteStore::open(root.path()).await {
        Err(StoreError::NotADatabase { detail, .. }) => {
            assert!(detail.contains("folder"), "{detail}")
        }
        other => panic!("expected NotADatabase, got {other:?}"),
    }
}

#[tokio::test]
async fn a_database_from_a_newer_kage_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("kage.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .insert_subscription(&subscription("work"))
        .await
        .unwrap();
    store.close().await;
    let mut connection = raw_connection(&path).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, 'from the future', TRUE, x'00', 0)",
    )
    .bind(SCHEMA_VERSION + 1)
    .execute(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();

    match SqliteStore::open(&path).await {
        Err(error @ StoreError::NewerSchema { .. }) => {
            let StoreError::NewerSchema {
                ref location,
                found,
                supported,
            } = error
            else {
                unreachable!()
            };
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            assert_eq!(location, &path.display().to_string());
            assert!(error.to_string().contains("newer Kage"), "{error}");
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    // Nothing was lost: with the row gone the data is all there.
    let mut connection = raw_connection(&path).await;
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version > $1")
        .bind(SCHEMA_VERSION)
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.list_subscriptions().await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn an_older_database_is_migrated_with_its_data() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("kage.db");
    // A database at schema version 1, as an older Kage left it.
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let mut connection = SqliteConnection::connect_with(&options).await.unwrap();
    let first = sqlite_migrations().iter().find(|m| m.version == 1).unwrap();
    sqlx::raw_sql(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
         checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    sqlx::raw_sql(&first.sql)
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::query("INSERT INTO _sqlx_migrations VALUES (1, $1, CURRENT_TIMESTAMP, TRUE, $2, 0)")
        .bind(first.description.as_ref())
        .bind(first.checksum.as_ref())
        .execute(&mut connection)
        .await
        .unwrap();
    let work = subscription("work");
    sqlx::raw_sql(&format!(
        "INSERT INTO subscriptions (id, name, priority, kind, credential_source, created_at) \
         VALUES ('{id}', 'work', 100, 'oauth', 'keychain', 1748736000000);
         INSERT INTO usage_records (lease_id, subscription_id, at, input_tokens, output_tokens, \
           cache_write_tokens, cache_read_tokens, total_tokens, cost_micros) VALUES \
           ('old-1', '{id}', 1748858400000, 40, 2, 0, 0, 42, 5), \
           ('old-2', '{id}', 1748858460000, 8, 0, 0, 0, 8, NULL);",
        id = work.id
    ))
    .execute(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();

    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store.list_subscriptions().await.unwrap(),
        vec![work.clone()]
    );
    let query = UsageQuery {
        from: t("2025-06-02T00:00:00Z"),
        to: t("2025-06-03T00:00:00Z"),
        utc_offset_seconds: 0,
        subscription: None,
    };
    let lines = store.daily_usage(&query).await.unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (
            lines[0].usage.input_tokens,
            lines[0].usage.cost_micros_usd,
            lines[0].leases
        ),
        (48, Some(5), 2)
    );
    store.close().await;
    let mut connection = raw_connection(&path).await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    let known: Vec<i64> = sqlite_migrations().iter().map(|m| m.version).collect();
    assert_eq!(versions, known);
    let hourly: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_hourly")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(hourly, 1, "the old records were rolled up once");
}

#[tokio::test]
async fn an_empty_file_becomes_a_database() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("kage.db");
    std::fs::write(&path, "").unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .insert_subscription(&subscription("work"))
        .await
        .unwrap();
    store.close().await;
}

/// Another process's write transaction, held open on a raw connection.
async fn hold_write_lock(path: &Path) -> SqliteConnection {
    let mut other = raw_connection(path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    other
}

#[tokio::test]
async fn acquire_and_release_wait_for_another_writer_instead_of_failing() {
    let (_folder, store) = sqlite_store().await;
    store
        .insert_subscription(&subscription("work"))
        .await
        .unwrap();
    let now = t("2025-06-02T10:00:00Z");

    let mut other = hold_write_lock(store.path()).await;
    let acquiring = tokio::spawn({
        let store = store.clone();
        async move { granted(&store, &acquire(secs(60)), now).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !acquiring.is_finished(),
        "the acquire must wait for the lock"
    );
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    let lease = acquiring.await.unwrap();

    let mut other = hold_write_lock(store.path()).await;
    let releasing = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .release_lease(&release(lease.id, Outcome::Success, tokens(7, 8)), now)
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !releasing.is_finished(),
        "the release must wait for the lock"
    );
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    releasing.await.unwrap().expect("release after the lock");

    let day = store
        .daily_usage(&UsageQuery {
            subscription: None,
            from: t("2025-06-02T00:00:00Z"),
            to: t("2025-06-03T00:00:00Z"),
            utc_offset_seconds: 0,
        })
        .await
        .unwrap();
    assert_eq!(day.len(), 1);
    assert_eq!(day[0].usage.total_tokens(), 15, "counted once: {day:?}");
    store.close().await;
}

#[tokio::test]
async fn a_write_lock_held_past_the_busy_timeout_is_a_clear_busy_error() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("kage.db");
    let options = kage_store_sql::SqliteOptions {
        busy_timeout: std::time::Duration::from_millis(100),
        busy_retries: 1,
        ..Default::default()
    };
    let store = SqliteStore::open_with(&path, options).await.unwrap();
    store
        .insert_subscription(&subscription("work"))
        .await
        .unwrap();
    let _other = hold_write_lock(&path).await;

    let error = store
        .acquire_lease(&acquire(secs(60)), t("2025-06-02T10:00:00Z"))
        .await
        .expect_err("the lock is never given up");
    assert!(matches!(error, StoreError::Busy { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(path.to_str().unwrap()), "{message}");
    store.close().await;
}

#[tokio::test]
async fn a_database_with_only_a_view_is_refused_untouched() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("kage.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let mut connection = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::raw_sql("CREATE VIEW answers AS SELECT 42 AS answer;")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    assert_refused_untouched(&path, "another program").await;
}

#[tokio::test]
async fn another_programs_sqlx_migrations_are_not_blamed_on_kage() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("kage.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let mut connection = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
         checksum BLOB NOT NULL, execution_time BIGINT NOT NULL); \
         INSERT INTO _sqlx_migrations VALUES (1, 'theirs', CURRENT_TIMESTAMP, 1, x'00', 1); \
         CREATE TABLE subscriptions (newsletter TEXT);",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();
    let before = std::fs::read(&path).unwrap();
    let Err(error) = SqliteStore::open(&path).await else {
        panic!("the foreign file was adopted");
    };
    let message = error.to_string();
    assert!(!message.contains("another build of Kage"), "{message}");
    assert!(message.contains("another program"), "{message}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was changed"
    );
}

#[tokio::test]
async fn a_quick_open_reads_and_writes_an_up_to_date_database() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("kage.db");
    // A missing file gets the full open: created and migrated.
    let created = SqliteStore::open_quick(&path).await.unwrap();
    let work = subscription("work");
    created.insert_subscription(&work).await.unwrap();
    created.close().await;

    let quick = SqliteStore::open_quick(&path).await.unwrap();
    let found = quick
        .subscription_by_name(&work.name)
        .await
        .unwrap()
        .unwrap();
    let now = t("2025-06-02T10:00:00Z");
    let warning = Outcome::ApproachingLimit {
        utilization: 0.85,
        resets_at: Some(t("2025-06-02T12:00:00Z")),
    };
    quick
        .record_outcome(found.id, &warning, None, &Default::default(), now)
        .await
        .unwrap();
    quick.close().await;

    let full = SqliteStore::open(&path).await.unwrap();
    let health = full
        .subscription_by_name(&work.name)
        .await
        .unwrap()
        .unwrap()
        .health;
    assert_eq!(health.last_utilization, Some((0.85, now)));
    full.close().await;
}

#[tokio::test]
async fn a_quick_open_refuses_what_the_full_open_refuses() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("notes.db");
    std::fs::write(&path, "plain text, not a database").unwrap();
    let error = SqliteStore::open_quick(&path).await.unwrap_err();
    assert!(
        matches!(error, StoreError::NotADatabase { .. }),
        "{error:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "plain text, not a database"
    );
}

#[tokio::test]
async fn a_write_that_waited_for_the_lock_is_stamped_when_it_won_it() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("kage.db");
    let asked = t("2025-06-02T10:00:00Z");
    let clock = std::sync::Arc::new(kage_ports::FixedClock::utc(asked));
    let store = std::sync::Arc::new(
        SqliteStore::open(&path)
            .await
            .unwrap()
            .with_clock(clock.clone()),
    );
    store
        .insert_subscription(&subscription("work"))
        .await
        .unwrap();

    // Another process holds the write lock while the acquire, asked at
    // 10:00:00, waits; it wins the lock at 10:00:05.
    let mut other = raw_connection(&path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let waiting = tokio::spawn({
        let store = std::sync::Arc::clone(&store);
        async move { granted(&*store, &acquire(secs(60)), asked).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the acquire did not wait for the lock"
    );
    clock.set(plus(asked, 5));
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    let lease = waiting.await.unwrap();
    assert_eq!(lease.acquired_at, plus(asked, 5));
    assert_eq!(lease.expires_at, plus(asked, 65));

    // The same for its release.
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let releasing = tokio::spawn({
        let store = std::sync::Arc::clone(&store);
        async move {
            store
                .release_lease(
                    &release(lease.id, Outcome::Success, tokens(1, 1)),
                    plus(asked, 6),
                )
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    clock.set(plus(asked, 9));
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    let report = releasing.await.unwrap();
    assert_eq!(report.lease.released_at, Some(plus(asked, 9)));
    other.close().await.unwrap();
    store.close().await;
}
