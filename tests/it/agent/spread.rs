//! Spread: parallel agents over idle subscriptions each get a different
//! one, whatever the strategy (issue 10, `design.md` Selection step 5), on
//! the SQLite file and on PostgreSQL (a fresh database on the server
//! `kage_testkit` finds; skipped loudly without one, a failure under
//! `KAGE_REQUIRE_POSTGRES=1`).

use std::collections::BTreeSet;

use kage_domain::CredentialKind;
use sqlx::{Connection, Executor, PgConnection};

use super::harness::{World, json_lines};

/// `kage-agent run -j 3` with three idle subscriptions of different
/// priorities (in the PostgreSQL database `postgres` when given): the
/// subscriptions of the three first attempts.
async fn first_attempts(strategy: Option<&str>, postgres: Option<&str>) -> Vec<String> {
    let config = match strategy {
        Some(strategy) => format!("[subscriptions]\ndefault_priority = \"{strategy}\"\n"),
        None => String::new(),
    };
    let mut world = World::new(&config);
    let subscriptions = [("a", 200), ("b", 150), ("c", 100)];
    match postgres {
        Some(url) => {
            world.use_database_url(url);
            for (name, priority) in subscriptions {
                world.add_with_kage(name, priority, "ok");
            }
        }
        None => {
            let pool = world.pool().await;
            for (name, priority) in subscriptions {
                world
                    .add(&pool, name, priority, CredentialKind::OAuth, "ok", None)
                    .await;
            }
        }
    }
    let run_dir = world.run_dir();
    // Slow agents, so all three hold their leases at once.
    let output = world
        .kage_agent()
        .env(kage_agent::simulate::PACE_VARIABLE, "600")
        .args([
            "run",
            "--task",
            "one",
            "--task",
            "two",
            "--task",
            "three",
            "-j",
            "3",
            "--json",
            "--run-dir",
            run_dir.to_str().unwrap(),
        ])
        .output()
        .expect("run kage-agent");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let lines = json_lines(&output.stdout);
    let summary = lines
        .iter()
        .find(|line| line["type"] == "summary")
        .expect("a summary line");
    summary["data"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| {
            task["attempts"][0]["subscription"]
                .as_str()
                .expect("a first attempt")
                .to_owned()
        })
        .collect()
}

const STRATEGIES: [Option<&str>; 4] = [
    None,
    Some("priority"),
    Some("least-used"),
    Some("round-robin"),
];

fn assert_three_different(strategy: Option<&str>, used: &[String]) {
    let distinct: BTreeSet<&String> = used.iter().collect();
    assert_eq!(
        distinct.len(),
        3,
        "{strategy:?}: first attempts on {used:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_parallel_agents_get_three_different_subscriptions_under_every_strategy() {
    for strategy in STRATEGIES {
        let used = first_attempts(strategy, None).await;
        assert_three_different(strategy, &used);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_parallel_agents_spread_on_postgres_too() {
    let Some(admin_url) =
        kage_testkit::postgres_url("three_parallel_agents_spread_on_postgres_too")
    else {
        return;
    };
    for strategy in STRATEGIES {
        let name = format!("kage_spread_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.expect("connect");
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .expect("create the database");
        let url = kage_testkit::with_database(&admin_url, &name);
        let used = tokio::spawn(async move { first_attempts(strategy, Some(&url)).await }).await;
        admin
            .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
            .await
            .expect("drop the database");
        admin.close().await.expect("close");
        match used {
            Ok(used) => assert_three_different(strategy, &used),
            Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
        }
    }
}
