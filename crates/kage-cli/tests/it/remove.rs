//! `kage subscription remove` keeps history (issue 14, item 11): a removed
//! subscription is retired, gone from selection and lists, its usage and
//! transitions counted in totals, its pending lease still releasable, its
//! name free; `--purge` erases it after a confirmation or `--yes`. On the
//! SQLite file and on PostgreSQL (the server `kage_testkit` finds:
//! `KAGE_TEST_DB_URL`, else 127.0.0.1:5432; a database per test).

use sqlx::{Connection, Executor, PgConnection};

use crate::commands::document;
use crate::env::TestEnv;

/// A PostgreSQL database made for one test on the server `kage_testkit`
/// finds, dropped when the test ends.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

impl PgDatabase {
    /// `None` (after a loud SKIPPED banner) without a server; a failure
    /// instead under `KAGE_REQUIRE_POSTGRES=1`.
    fn create(test: &str) -> Option<Self> {
        let admin_url = kage_testkit::postgres_url(test)?;
        let name = format!("kage_cli_{}", uuid::Uuid::new_v4().simple());
        block_on(async {
            let mut admin = PgConnection::connect(&admin_url).await.expect("connect");
            admin
                .execute(format!("CREATE DATABASE \"{name}\"").as_str())
                .await
                .expect("create the database");
            admin.close().await.expect("close");
        });
        let (base, _) = admin_url.rsplit_once('/').expect("a database in the URL");
        let url = format!("{base}/{name}");
        Some(Self {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        block_on(async {
            if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
                let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
                let _ = admin.execute(drop.as_str()).await;
                let _ = admin.close().await;
            }
        });
    }
}

/// `tokens_today` and `removed_tokens_today` of `subscription status --json`.
fn tokens_today(env: &TestEnv) -> (u64, u64) {
    let status = env.run(&["subscription", "status", "--json"]).success();
    let summary = &document(&status.stdout)["summary"];
    (
        summary["tokens_today"].as_u64().expect("tokens"),
        summary["removed_tokens_today"]
            .as_u64()
            .expect("removed tokens"),
    )
}

fn lease_on(env: &TestEnv, tags: &str) -> String {
    env.acquire(&["--tags", tags])
}

fn removed_subscription_keeps_its_history(env: &TestEnv) {
    env.add("work", &["--tags", "team", "--priority", "200"]);
    env.add("other", &["--tags", "team"]);
    env.spend(&["--tags", "team"], &["--usage", "input=100,output=50"]);
    // Transitions in its history.
    env.run(&[
        "subscription",
        "disable",
        "work",
        "--reason",
        "card expired",
    ])
    .success();
    env.run(&["subscription", "enable", "work"]).success();
    let pending = lease_on(env, "team");
    assert_eq!(tokens_today(env), (150, 0));

    let refused = env.run(&["subscription", "remove", "work"]).code(1);
    assert!(refused.stderr.contains("live lease"), "{}", refused.stderr);
    let removed = env
        .run(&["subscription", "remove", "work", "--force"])
        .success();
    assert!(
        removed.stderr.contains("its usage and history are kept"),
        "{}",
        removed.stderr
    );

    // Gone from the lists and from selection...
    let names = env.run(&["subscription", "list", "--names"]).success();
    assert_eq!(names.stdout, "other\n");
    let status = env.run(&["subscription", "status"]).success();
    assert!(!status.stdout.contains("work"), "{}", status.stdout);
    for _ in 0..2 {
        let granted = env
            .run(&["lease", "acquire", "--holder", "t", "--json"])
            .success();
        assert!(granted.stdout.contains("\"other\""), "{}", granted.stdout);
    }
    // ...shown by `list --all`, its usage counted in today's total.
    let all = env
        .run(&["subscription", "list", "--all", "--json"])
        .success();
    let listed = document(&all.stdout);
    let listed = listed.as_array().expect("one array");
    let work = listed
        .iter()
        .find(|row| row["name"] == "work")
        .expect("work in list --all");
    assert!(work["removed_at"].is_string(), "{work}");
    assert_eq!(work["credential"]["store"], "insecure test file store");
    assert!(
        listed
            .iter()
            .all(|row| row["name"] != "other" || row["removed_at"].is_null())
    );
    let table = env.run(&["subscription", "list", "--all"]).success();
    assert!(
        table.stdout.contains("removed 2025-06-02"),
        "{}",
        table.stdout
    );
    assert_eq!(tokens_today(env), (150, 150));
    let human = env.run(&["subscription", "status"]).success();
    assert!(
        human
            .stdout
            .contains("Total Usage:  150 tokens today (150 on removed subscriptions)"),
        "{}",
        human.stdout
    );

    // The pending lease cannot be renewed, but its release is recorded.
    let heartbeat = env.run(&["lease", "heartbeat", &pending]);
    assert_ne!(heartbeat.code, 0, "{}", heartbeat.both());
    assert!(
        heartbeat.stderr.contains("removed from the pool"),
        "{}",
        heartbeat.stderr
    );
    env.run(&["lease", "release", &pending, "--usage", "input=10"])
        .success();
    assert_eq!(tokens_today(env), (160, 160));
    let usage = env.run(&["subscription", "usage", "--json"]).success();
    let work_total = document(&usage.stdout)["totals"]
        .as_array()
        .and_then(|totals| totals.iter().find(|total| total["subscription"] == "work"))
        .cloned()
        .expect("work's total");
    assert_eq!(work_total["removed"], true, "{work_total}");
    assert_eq!(work_total["total_tokens"], 160, "{work_total}");
    let usage = env.run(&["subscription", "usage"]).success();
    assert!(usage.stdout.contains("work (removed)"), "{}", usage.stdout);

    // The name is free again; the new work starts with no history.
    env.add("work", &[]);
    let names = env.run(&["subscription", "list", "--names"]).success();
    assert_eq!(names.stdout, "other\nwork\n");
    let show = env
        .run(&["subscription", "show", "work", "--json"])
        .success();
    assert_eq!(
        document(&show.stdout)["transitions"],
        serde_json::json!([]),
        "{}",
        show.stdout
    );
    let removing_again = env.run(&["subscription", "remove", "work"]).success();
    assert!(removing_again.stderr.contains("Removed subscription work"));
    let again = env.run(&["subscription", "remove", "work"]).code(1);
    assert!(again.stderr.contains("already removed"), "{}", again.stderr);

    // --purge asks; without a terminal to ask on it wants --yes.
    let unconfirmed = env
        .run(&["subscription", "remove", "work", "--purge"])
        .code(2);
    assert!(
        unconfirmed.stderr.contains("--yes"),
        "{}",
        unconfirmed.stderr
    );
    assert_eq!(tokens_today(env), (160, 160));
    let purged = env
        .run(&[
            "subscription",
            "remove",
            "work",
            "--purge",
            "--yes",
            "--json",
        ])
        .success();
    assert!(
        purged.stderr.contains("Erased subscription work"),
        "{}",
        purged.stderr
    );
    let purged = document(&purged.stdout);
    assert_eq!(purged["removed"], "work");
    assert_eq!(purged["purged"], true);
    // Both subscriptions once named work, removed earlier, go with it.
    assert_eq!(purged["earlier_erased"], 2, "{purged}");
    let all = env
        .run(&["subscription", "list", "--all", "--names"])
        .success();
    assert_eq!(all.stdout, "other\n");
    assert_eq!(tokens_today(env), (0, 0));
}

#[test]
fn a_removed_subscription_keeps_its_history_on_sqlite() {
    removed_subscription_keeps_its_history(&TestEnv::new());
}

#[test]
fn a_removed_subscription_keeps_its_history_on_postgres() {
    let Some(database) = PgDatabase::create("a_removed_subscription_keeps_its_history_on_postgres")
    else {
        return;
    };
    let mut env = TestEnv::new();
    env.set_env("KAGE_DATABASE_URL", &database.url);
    removed_subscription_keeps_its_history(&env);
}

#[test]
fn purge_asks_on_the_terminal_and_erases_only_on_yes() {
    let env = TestEnv::new();
    env.add("old", &[]);
    env.spend(&[], &["--usage", "input=7"]);
    for (answer, erased) in [("n", false), ("y", true)] {
        let command = env.std_command(&["subscription", "remove", "old", "--purge"]);
        let mut session = rexpect::session::spawn_command(command, Some(20_000)).expect("pty");
        session
            .exp_string("cannot be undone. [y/N] ")
            .expect("kage asks before erasing");
        session.send_line(answer).expect("answer");
        let rest = session.exp_eof().expect("kage finishes");
        assert_eq!(rest.contains("Erased subscription old"), erased, "{rest}");
        assert_eq!(rest.contains("Nothing was erased"), !erased, "{rest}");
        let names = env
            .run(&["subscription", "list", "--all", "--names"])
            .success();
        assert_eq!(names.stdout, if erased { "" } else { "old\n" });
    }
}
