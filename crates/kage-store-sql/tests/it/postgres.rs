//! PostgreSQL (`KAGE_TEST_DB_URL`, a fresh database per test): the
//! contract, plus the faults of a server: unreachable, refusing, wrong
//! credentials, missing database, newer and older schemas, and many hosts
//! migrating at once.

use std::time::{Duration, Instant};

use kage_ports::{StoreError, SubscriptionStore, UsageQuery};
use kage_store_sql::{PostgresOptions, PostgresStore, SCHEMA_VERSION, postgres_migrations};
use sqlx::{Connection, Executor, PgConnection};

use crate::contract::contract_tests;
use crate::support::*;

mod contract {
    use crate::support::with_postgres;

    super::contract_tests!(with_postgres);
}

/// The host and port of the test server, e.g. `127.0.0.1:5432`, or `None`
/// when there is none (skipped).
fn server_address() -> Option<String> {
    let url = pg_admin_url()?;
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap();
    Some(
        authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host)
            .to_owned(),
    )
}

fn fast() -> PostgresOptions {
    PostgresOptions {
        connect_timeout: Duration::from_secs(1),
        ..PostgresOptions::default()
    }
}

#[tokio::test]
async fn postgres_a_silent_server_fails_within_the_connect_timeout() {
    // A socket that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = format!("postgres://kage:hunter2@127.0.0.1:{port}/kage");
    let started = Instant::now();
    let result = PostgresStore::connect_with(&url, fast()).await;
    let elapsed = started.elapsed();
    hold.abort();
    match result {
        Err(error @ StoreError::Unavailable { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains(&format!("postgres://kage@127.0.0.1:{port}/kage")),
                "{message}"
            );
            assert!(message.contains("no answer within 1s"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

#[tokio::test]
async fn postgres_a_refused_connection_is_unavailable_at_once() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://kage:hunter2@127.0.0.1:{port}/kage");
    let started = Instant::now();
    match PostgresStore::connect_with(&url, fast()).await {
        Err(StoreError::Unavailable { location, detail }) => {
            assert_eq!(location, format!("postgres://kage@127.0.0.1:{port}/kage"));
            assert!(detail.to_lowercase().contains("refused"), "{detail}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn postgres_wrong_credentials_are_named_without_the_password() {
    let Some(address) = server_address() else {
        return;
    };
    let url = format!("postgres://kage_no_such_role:hunter2@{address}/test");
    match PostgresStore::connect_with(&url, fast()).await {
        Err(error @ StoreError::Unavailable { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("postgres://kage_no_such_role@"),
                "{message}"
            );
            assert!(message.contains("authentication failed"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn postgres_a_missing_database_is_named() {
    let Some(admin_url) = pg_admin_url() else {
        return;
    };
    let url = kage_testkit::with_database(&admin_url, "kage_no_such_database");
    match PostgresStore::connect_with(&url, fast()).await {
        Err(StoreError::Unavailable { detail, .. }) => {
            assert!(
                detail.contains("kage_no_such_database") && detail.contains("does not exist"),
                "{detail}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn postgres_a_malformed_url_is_unavailable() {
    match PostgresStore::connect("postgres://kage:hunter2@host:notaport/db").await {
        Err(error @ StoreError::Unavailable { .. }) => {
            let message = error.to_string();
            assert!(message.contains("not a valid PostgreSQL URL"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn postgres_a_database_from_a_newer_kage_is_refused() {
    with_pg_database(|url| async move {
        let store = PostgresStore::connect(&url).await.unwrap();
        store.insert_subscription(&subscription("work")).await.unwrap();
        store.close().await;
        let mut connection = PgConnection::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, 'from the future', TRUE, '\\x00', 0)",
        )
        .bind(SCHEMA_VERSION + 1)
        .execute(&mut connection)
        .await
        .unwrap();
        match PostgresStore::connect(&url).await {
            Err(StoreError::NewerSchema { found, supported, location }) => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
                assert!(location.starts_with("postgres"), "{location}");
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version > $1")
            .bind(SCHEMA_VERSION)
            .execute(&mut connection)
            .await
            .unwrap();
        connection.close().await.unwrap();
        let store = PostgresStore::connect(&url).await.unwrap();
        assert_eq!(store.list_subscriptions().await.unwrap().len(), 1, "nothing was lost");
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn postgres_an_older_database_is_migrated_with_its_data() {
    with_pg_database(|url| async move {
        let mut connection = PgConnection::connect(&url).await.unwrap();
        let first = postgres_migrations().iter().find(|m| m.version == 1).unwrap();
        connection.execute(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, \
             checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)",
        )
        .await
        .unwrap();
        connection.execute(first.sql.as_ref()).await.unwrap();
        sqlx::query("INSERT INTO _sqlx_migrations VALUES (1, $1, now(), TRUE, $2, 0)")
            .bind(first.description.as_ref())
            .bind(first.checksum.as_ref())
            .execute(&mut connection)
            .await
            .unwrap();
        let work = subscription("work");
        connection.execute(format!(
            "INSERT INTO subscriptions (id, name, priority, kind, credential_source, created_at) \
             VALUES ('{id}', 'work', 100, 'oauth', 'keychain', 1748736000000);
             INSERT INTO usage_records (lease_id, subscription_id, at, input_tokens, output_tokens, \
               cache_write_tokens, cache_read_tokens, total_tokens, cost_micros) VALUES \
               ('old-1', '{id}', 1748858400000, 40, 2, 0, 0, 42, 5), \
               ('old-2', '{id}', 1748858460000, 8, 0, 0, 0, 8, NULL);",
            id = work.id
        ).as_str())
        .await
        .unwrap();

        let store = PostgresStore::connect(&url).await.unwrap();
        assert_eq!(store.list_subscriptions().await.unwrap(), vec![work.clone()]);
        let query = UsageQuery {
            from: t("2025-06-02T00:00:00Z"),
            to: t("2025-06-03T00:00:00Z"),
            utc_offset_seconds: 0,
            subscription: None,
        };
        let lines = store.daily_usage(&query).await.unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!((lines[0].usage.input_tokens, lines[0].usage.cost_micros_usd, lines[0].leases), (48, Some(5), 2));
        store.close().await;
        let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut connection)
            .await
            .unwrap();
        let known: Vec<i64> = postgres_migrations().iter().map(|m| m.version).collect();
        assert_eq!(versions, known);
        connection.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn postgres_many_hosts_opening_a_new_database_migrate_it_once() {
    with_pg_database(|url| async move {
        let opens: Vec<_> = (0..6)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { PostgresStore::connect(&url).await })
            })
            .collect();
        for open in opens {
            open.await
                .unwrap()
                .expect("every concurrent open succeeds")
                .close()
                .await;
        }
        let mut connection = PgConnection::connect(&url).await.unwrap();
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&mut connection)
            .await
            .unwrap();
        assert_eq!(
            count,
            i64::try_from(postgres_migrations().iter().count()).unwrap()
        );
        connection.close().await.unwrap();
    })
    .await;
}

/// A store keeps the connection of its last acquire or release out of the
/// pool; dropped after its runtime has ended, it closes that connection
/// instead of handing it to a task of the gone runtime.
#[test]
fn postgres_a_store_dropped_after_its_runtime_closes_quietly() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(database) = runtime.block_on(PgTestDb::create()) else {
        return;
    };
    let store = runtime.block_on(async {
        let store = PostgresStore::connect(&database.url).await.unwrap();
        store
            .insert_subscription(&subscription("work"))
            .await
            .unwrap();
        let granted = store
            .acquire_lease(&acquire(secs(60)), t("2025-06-01T00:00:00Z"))
            .await
            .unwrap();
        assert!(matches!(granted, kage_ports::AcquireOutcome::Granted(_)));
        store
    });
    drop(runtime);
    drop(store);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(database.drop_database());
}

#[tokio::test]
async fn postgres_a_capped_claim_that_waited_for_the_lock_is_stamped_when_it_won_it() {
    with_pg_database(|url| async move {
        let asked = t("2025-06-02T10:00:00Z");
        let clock = std::sync::Arc::new(kage_ports::FixedClock::utc(asked));
        let store = PostgresStore::connect(&url)
            .await
            .unwrap()
            .with_clock(clock.clone());
        let mut capped = subscription("work");
        capped.max_concurrent = Some(1);
        store.insert_subscription(&capped).await.unwrap();

        // Another host holds the pool-wide acquire lock; the claim, asked
        // at 10:00:00, waits for it and wins it at 10:00:05.
        let mut other = PgConnection::connect(&url).await.unwrap();
        other.execute("BEGIN").await.unwrap();
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(kage_store_sql::ACQUIRE_LOCK_KEY)
            .execute(&mut other)
            .await
            .unwrap();
        let waiting = tokio::spawn({
            let store = store.clone();
            async move { granted(&store, &acquire(secs(60)), asked).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !waiting.is_finished(),
            "the claim did not wait for the lock"
        );
        clock.set(plus(asked, 5));
        other.execute("COMMIT").await.unwrap();
        let lease = waiting.await.unwrap();
        assert_eq!(lease.acquired_at, plus(asked, 5));
        assert_eq!(lease.expires_at, plus(asked, 65));
        other.close().await.unwrap();
        store.close().await;
    })
    .await;
}
