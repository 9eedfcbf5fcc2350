//! `kage-agent demo`: Kage at work on a throwaway pool, with no
//! credentials and no network.
//!
//! A temporary data folder gets an embedded SQLite database and three fake
//! subscriptions whose credentials live only in memory. A dozen tasks run
//! through the built-in simulated Claude Code ([`crate::simulate`]), which
//! behaves according to the fake credential it receives:
//!
//! - `work-premium` (priority 150, 2 at once) hits its 5-hour limit after
//!   three tasks: it becomes `exhausted` for five hours and its agent's
//!   conversation resumes elsewhere;
//! - `personal` (priority 100, 2 at once) gets a burst of 429s on its
//!   second task: it is `rate_limited` for a few seconds;
//! - `backup` (priority 50) has a rejected credential: it is `unhealthy`.
//!
//! In between, every subscription is limited or busy for a while, so tasks
//! wait for the earliest recovery. At the end the pool's status and usage
//! are shown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kage_core::{AddSubscriptionRequest, CredentialInput, Pool, PoolSettings};
use kage_domain::{
    CredentialKind, Priority, PriorityLevel, StatePolicy, Strategy, SubscriptionName,
};
use kage_ports::{Clock, SecretString, SystemClock};
use kage_secrets::InMemorySecretStore;
use kage_store_sql::SqliteStore;

use crate::app::{create_run_dir, holder, run_with_screen};
use crate::cli::DemoArgs;
use crate::run::RunOptions;
use crate::run::task::{CommandTemplate, Task};
use crate::run::watch::WatchSettings;
use crate::screen::{self, Mode, TimeView};
use crate::simulate::Behaviour;

const PROMPTS: [&str; 12] = [
    "Add input validation to the signup form",
    "Fix the flaky test in the payments module",
    "Write docs for the public HTTP API",
    "Refactor the config loader into smaller functions",
    "Add a dark mode toggle to the settings page",
    "Upgrade the logging library and fix the warnings",
    "Add pagination to the orders endpoint",
    "Cache the exchange rates for an hour",
    "Make the CSV export stream instead of buffering",
    "Add a health check endpoint",
    "Remove the unused feature flags",
    "Write a migration that adds an index on users.email",
];

struct DemoSubscription {
    name: &'static str,
    description: &'static str,
    priority: u8,
    max_concurrent: Option<u32>,
    behaviour: Behaviour,
}

const SUBSCRIPTIONS: [DemoSubscription; 3] = [
    DemoSubscription {
        name: "work-premium",
        description: "hits its 5-hour limit after 3 tasks",
        priority: 150,
        max_concurrent: Some(2),
        behaviour: Behaviour::LimitAfter(3),
    },
    DemoSubscription {
        name: "personal",
        description: "gets a burst of 429s on its 2nd task",
        priority: 100,
        max_concurrent: Some(2),
        behaviour: Behaviour::BurstOn(2),
    },
    DemoSubscription {
        name: "backup",
        description: "its credential is rejected",
        priority: 50,
        max_concurrent: None,
        behaviour: Behaviour::Reject,
    },
];

/// Run the demo; returns the exit status.
pub async fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let folder = tempfile::Builder::new()
        .prefix("kage-demo-")
        .tempdir()
        .context("cannot create a temporary folder for the demo")?;
    let mode = Mode::choose(args.json);
    let say = |line: &str| {
        if mode != Mode::Json {
            screen::say(line);
        }
    };
    say(&format!(
        "Kage demo: a throwaway pool in {} (embedded SQLite, credentials in memory, no network).",
        folder.path().display()
    ));

    let store = SqliteStore::open(folder.path().join("kage.db"))
        .await
        .context("cannot create the demo database")?;
    let settings = PoolSettings {
        state_policy: StatePolicy {
            // Short enough to see a recovery within the demo.
            rate_limit_cooldown: Duration::from_secs(8),
            ..StatePolicy::default()
        },
        lease_ttl: Duration::from_secs(30),
        ..PoolSettings::default()
    };
    let mut settings = settings;
    settings.selection_policy.strategy = Strategy::Priority;
    let pool = Arc::new(Pool::new(
        store,
        InMemorySecretStore::new(),
        SystemClock,
        settings,
    ));

    let nonce = uuid::Uuid::new_v4().simple().to_string();
    for subscription in &SUBSCRIPTIONS {
        pool.add_subscription(AddSubscriptionRequest {
            name: SubscriptionName::new(subscription.name)?,
            description: Some(subscription.description.to_owned()),
            priority: Priority(subscription.priority),
            tags: Default::default(),
            kind: CredentialKind::OAuth,
            credential: CredentialInput::Keychain(SecretString::from(
                subscription
                    .behaviour
                    .fake_credential(&format!("kage-demo-{nonce}")),
            )),
            max_concurrent: subscription.max_concurrent,
        })
        .await
        .with_context(|| format!("cannot add the demo subscription {}", subscription.name))?;
        let cap = subscription
            .max_concurrent
            .map(|cap| format!(", {cap} at once"))
            .unwrap_or_default();
        say(&format!(
            "  {:<13} priority {:>3}{cap}: {}",
            subscription.name, subscription.priority, subscription.description
        ));
    }

    let executable = std::env::current_exe().context("cannot find the kage-agent executable")?;
    let state = folder.path().join("simulator");
    let command = CommandTemplate::new(vec![
        executable.display().to_string(),
        "simulate-claude".to_owned(),
        "-p".to_owned(),
        "{prompt}".to_owned(),
        "--output-format".to_owned(),
        "stream-json".to_owned(),
        "--verbose".to_owned(),
        "--simulate-state".to_owned(),
        state.display().to_string(),
    ])?;
    let run_dir = folder.path().join("run");
    create_run_dir(&run_dir)?;
    let mut options = RunOptions::new(command, run_dir, holder());
    options.children_end_with_us = true;
    options.parallel = 4;
    options.max_wait = Some(Duration::from_secs(60));
    options.max_attempts = 5;
    options.watch = WatchSettings { max_api_retries: 2 };
    options.stop_grace = Duration::from_secs(2);
    options.retry_backoff = Duration::from_millis(500);

    let tasks: Vec<Task> = PROMPTS
        .iter()
        .enumerate()
        .map(|(index, prompt)| Task {
            index: index + 1,
            id: format!("task-{}", index + 1),
            prompt: (*prompt).to_owned(),
            namespace: None,
            level: PriorityLevel::Normal,
            tags: Vec::new(),
            cwd: None,
        })
        .collect();
    say(&format!(
        "Running {} tasks, 4 agents at once, through a simulated Claude Code.\n",
        tasks.len()
    ));
    let report = run_with_screen(Arc::clone(&pool), options, tasks, mode).await?;

    // The pool afterwards.
    let status = pool.status().await?;
    if mode == Mode::Json {
        let subscriptions: Vec<serde_json::Value> = status
            .subscriptions
            .iter()
            .map(|entry| {
                serde_json::json!({
                    "name": entry.subscription.name.to_string(),
                    "state": entry.state.kind().as_str(),
                    "until": entry.state.until().map(|at| at.to_string()),
                    "reason": entry.state.reason(),
                    "today_tokens": entry.today.total_tokens(),
                    "today_cost_micros_usd": entry.today.cost_micros_usd,
                })
            })
            .collect();
        screen::data(
            &serde_json::json!({"type": "pool_status", "data": {"subscriptions": subscriptions}})
                .to_string(),
        );
    } else {
        let clock_pool = Arc::clone(&pool);
        let times = TimeView::new(
            pool.clock().time_zone(),
            Arc::new(move || clock_pool.clock().now()),
        );
        screen::data("\nThe pool now (`kage subscription status`):");
        let rows = status
            .subscriptions
            .iter()
            .map(|entry| {
                vec![
                    entry.subscription.name.to_string(),
                    screen::state_words(&entry.state, &times),
                    entry.subscription.priority.to_string(),
                    kage_app::format::tokens(entry.today.total_tokens()),
                    kage_app::format::cost(entry.today.cost_micros_usd),
                ]
            })
            .collect();
        screen::print_table(&["Name", "Status", "Priority", "Today Usage", "Cost"], rows);
    }
    pool.store().close().await;
    if args.keep {
        let kept = folder.keep();
        say(&format!(
            "The demo pool is kept in {} (database kage.db, agent output in run/).",
            kept.display()
        ));
    } else {
        say(
            "The demo pool and its run folder were temporary and are gone; nothing was written \
             anywhere else (`kage-agent demo --keep` keeps them).",
        );
    }
    Ok(report.exit_code())
}
