//! Spread: parallel agents over idle subscriptions each get a different
//! one, whatever the strategy (issue 10, `design.md` Selection step 5).

use std::collections::BTreeSet;

use kage_domain::CredentialKind;

use super::harness::{World, json_lines};

/// `kage-agent run -j 3` with three idle subscriptions of different
/// priorities: the subscriptions of the three first attempts.
async fn first_attempts(strategy: Option<&str>) -> Vec<String> {
    let config = match strategy {
        Some(strategy) => format!("[subscriptions]\ndefault_priority = \"{strategy}\"\n"),
        None => String::new(),
    };
    let mut world = World::new(&config);
    let pool = world.pool().await;
    for (name, priority) in [("a", 200), ("b", 150), ("c", 100)] {
        world
            .add(&pool, name, priority, CredentialKind::OAuth, "ok", None)
            .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_parallel_agents_get_three_different_subscriptions_under_every_strategy() {
    for strategy in [
        None,
        Some("priority"),
        Some("least-used"),
        Some("round-robin"),
    ] {
        let used = first_attempts(strategy).await;
        let distinct: BTreeSet<&String> = used.iter().collect();
        assert_eq!(
            distinct.len(),
            3,
            "{strategy:?}: first attempts on {used:?}"
        );
    }
}
