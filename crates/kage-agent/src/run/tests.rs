//! The runner against in-memory ports and a scripted `sh` agent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kage_core::{Pool, PoolSettings};
use kage_domain::{
    CredentialKind, ErrorKind, Outcome, Priority, StateKind, Subscription, SubscriptionId,
    SubscriptionName, SubscriptionState, Timestamp,
};
use kage_ports::{Clock, SystemClock};
use tokio::sync::{Semaphore, mpsc, watch};
use uuid::Uuid;

use super::events::{EventSink, RunEvent, RunReport, TaskStatus};
use super::task::{CommandTemplate, Task};
use super::testing::{MemorySecrets, MemoryStore};
use super::{RunOptions, Runner, free_slot};

type TestPool = Pool<MemoryStore, Arc<MemorySecrets>, SystemClock>;

/// The fake agent: prints stream-json chosen by its credential, and logs
/// `SUBSCRIPTION ARGS…` and the names of its credential variables.
const SCRIPT: &str = r#"
log="$KAGE_TEST_LOG"
cred="${CLAUDE_CODE_OAUTH_TOKEN:-$ANTHROPIC_API_KEY}"
names=$(env | cut -d= -f1 | grep -E '^(ANTHROPIC_|CLAUDE_CODE_OAUTH|KAGE_SUBSCRIPTION$|KAGE_LEASE_ID$)' | sort | tr '\n' ' ')
args="$#:$(printf '%s' "$*" | tr '\n' '~')"
echo "$KAGE_SUBSCRIPTION|$args|$names" >> "$log"
if [ "$2" = "--resume" ]; then session="$3"; else session="sess-$KAGE_SUBSCRIPTION"; fi
init() { echo "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"$session\",\"model\":\"m\"}"; }
said() { echo "{\"type\":\"assistant\",\"message\":{\"id\":\"$1\",\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"usage\":{\"input_tokens\":10,\"output_tokens\":20}},\"session_id\":\"$session\"}"; }
ok() { echo "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done\",\"session_id\":\"$session\",\"total_cost_usd\":0.001,\"usage\":{\"input_tokens\":40,\"output_tokens\":60}}"; }
case "$cred" in
  limit*)
    init; said m1
    echo "{\"type\":\"rate_limit_event\",\"rate_limit_info\":{\"status\":\"rejected\",\"resetsAt\":4102444800,\"rateLimitType\":\"five_hour\"},\"session_id\":\"$session\"}"
    sleep 5; echo "$KAGE_SUBSCRIPTION|finished" >> "$log" ;;
  warn)
    init; said m1
    echo "{\"type\":\"rate_limit_event\",\"rate_limit_info\":{\"status\":\"allowed_warning\",\"resetsAt\":4102444800,\"rateLimitType\":\"five_hour\",\"utilization\":0.83},\"session_id\":\"$session\"}"
    ok ;;
  reject)
    init
    echo "{\"type\":\"system\",\"subtype\":\"api_retry\",\"attempt\":1,\"error_status\":401,\"error\":\"authentication_failed\",\"session_id\":\"$session\"}"
    sleep 5; echo "$KAGE_SUBSCRIPTION|finished" >> "$log" ;;
  slow)
    init; said m1; sleep 30 ;;
  slow-once)
    if [ -e "$log.slow" ]; then init; said m2; ok; else
      touch "$log.slow"; init; said m1; sleep 30
    fi ;;
  second)
    init; said m1; sleep 1; ok ;;
  overload-once)
    if [ -e "$log.overloaded" ]; then init; ok; else
      touch "$log.overloaded"; init
      echo "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"api_error_status\":529,\"result\":\"API Error: 529 Overloaded.\",\"session_id\":\"$session\"}"
      exit 1
    fi ;;
  *) init; said m1; ok ;;
esac
"#;

struct Harness {
    pool: Arc<TestPool>,
    secrets: Arc<MemorySecrets>,
    dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let secrets = Arc::new(MemorySecrets::default());
        Self {
            pool: Arc::new(Pool::new(
                MemoryStore::default(),
                Arc::clone(&secrets),
                SystemClock,
                PoolSettings::default(),
            )),
            secrets,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn add(
        &self,
        name: &str,
        priority: u8,
        kind: CredentialKind,
        credential: &str,
    ) -> SubscriptionId {
        let id = SubscriptionId::from_uuid(Uuid::new_v4());
        let mut subscription = Subscription::new(
            id,
            SubscriptionName::new(name).unwrap(),
            self.pool.clock().now(),
        );
        subscription.priority = Priority(priority);
        subscription.kind = kind;
        self.pool.store().add(subscription);
        self.secrets.put(id, credential);
        id
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn options(&self) -> RunOptions {
        // The log path travels in the script, not in our environment.
        let script = SCRIPT.replace("$KAGE_TEST_LOG", &self.log_path().display().to_string());
        let command = CommandTemplate::new(vec![
            "sh".into(),
            "-c".into(),
            script,
            "fake-agent".into(),
            "{prompt}".into(),
        ])
        .unwrap();
        let run_dir = self.dir.path().join("run");
        std::fs::create_dir_all(&run_dir).unwrap();
        let mut options = RunOptions::new(command, run_dir, "test@host:1".into());
        options.stop_grace = Duration::from_millis(500);
        options.retry_backoff = Duration::from_millis(10);
        options.max_wait = Some(Duration::from_millis(300));
        options
    }

    async fn run(
        &self,
        options: RunOptions,
        prompts: &[&str],
        cancel_on: Option<fn(&RunEvent) -> bool>,
    ) -> (RunReport, Vec<RunEvent>) {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let (cancel_sender, cancel) = watch::channel(false);
        let runner = Arc::new(Runner::new(
            Arc::clone(&self.pool),
            options,
            EventSink::new(sender),
            cancel,
        ));
        let tasks = prompts
            .iter()
            .enumerate()
            .map(|(i, prompt)| Task {
                index: i + 1,
                id: format!("task-{}", i + 1),
                prompt: (*prompt).to_owned(),
                namespace: None,
                level: Default::default(),
                tags: vec![],
                model: None,
                cwd: None,
            })
            .collect();
        let collector = tokio::spawn(async move {
            let mut events = Vec::new();
            while let Some(event) = receiver.recv().await {
                if cancel_on.is_some_and(|on| on(&event)) {
                    let _ = cancel_sender.send(true);
                }
                events.push(event);
            }
            events
        });
        let report = runner.run(tasks).await;
        let events = collector.await.unwrap();
        (report, events)
    }

    fn state(&self, name: &str) -> SubscriptionState {
        self.pool
            .store()
            .subscription(name)
            .health
            .state
            .effective(self.pool.clock().now())
    }
}

fn no_live_leases(harness: &Harness) -> bool {
    harness
        .pool
        .store()
        .leases()
        .iter()
        .all(|lease| lease.released_at.is_some())
}

#[tokio::test]
async fn a_task_runs_on_the_best_subscription_and_its_usage_is_recorded() {
    let harness = Harness::new();
    harness.add("alpha", 150, CredentialKind::OAuth, "ok");
    harness.add("beta", 100, CredentialKind::ApiKey, "ok");
    let (report, events) = harness.run(harness.options(), &["do it"], None).await;

    assert_eq!(report.tasks[0].status, TaskStatus::Succeeded);
    assert_eq!(report.exit_code(), 0);
    let alpha = harness.pool.store().usage_of("alpha");
    assert_eq!((alpha.input_tokens, alpha.output_tokens), (40, 60));
    assert_eq!(alpha.cost_micros_usd, Some(1000));
    assert_eq!(harness.pool.store().usage_of("beta").total_tokens(), 0);
    assert!(no_live_leases(&harness));
    let log = harness.log();
    assert_eq!(log.len(), 1);
    // The prompt is one argument; the markers and exactly one credential
    // variable reach the child.
    assert!(log[0].starts_with("alpha|1:do it|"), "{}", log[0]);
    assert!(
        log[0].ends_with("|CLAUDE_CODE_OAUTH_TOKEN KAGE_LEASE_ID KAGE_SUBSCRIPTION "),
        "{}",
        log[0]
    );
    assert!(events.iter().any(
        |e| matches!(e, RunEvent::Leased { subscription, .. } if subscription.as_str() == "alpha")
    ));
    let stdout = std::fs::read_to_string(report.run_dir.join("task-1.stdout")).unwrap();
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .contains("\"type\":\"result\"")
    );
}

#[tokio::test]
async fn a_window_limit_stops_the_agent_and_the_task_resumes_elsewhere() {
    let harness = Harness::new();
    harness.add("alpha", 150, CredentialKind::OAuth, "limit");
    harness.add("beta", 100, CredentialKind::ApiKey, "ok");
    let (report, events) = harness.run(harness.options(), &["build it"], None).await;

    let task = &report.tasks[0];
    assert_eq!(task.status, TaskStatus::Succeeded);
    assert_eq!(task.attempts.len(), 2);
    assert!(matches!(
        task.attempts[0].outcome,
        Outcome::QuotaExhausted { .. }
    ));
    assert_eq!(task.attempts[1].resumed.as_deref(), Some("sess-alpha"));

    // The limited subscription is exhausted until the event's resetsAt.
    let SubscriptionState::Exhausted { until, .. } = harness.state("alpha") else {
        panic!("alpha is {:?}", harness.state("alpha"));
    };
    assert_eq!(until, Timestamp::from_second(4_102_444_800).unwrap());

    // Each attempt's usage is on the subscription that spent it.
    assert_eq!(harness.pool.store().usage_of("alpha").total_tokens(), 30);
    assert_eq!(harness.pool.store().usage_of("beta").total_tokens(), 100);
    assert_eq!(report.usage().total_tokens(), 130);

    // Stopped at once (never finished its sleep), resumed with the session,
    // under the API-key variable on beta.
    std::thread::sleep(Duration::from_millis(200));
    let log = harness.log();
    assert!(!log.iter().any(|line| line == "alpha|finished"), "{log:?}");
    let resumed = log.iter().find(|line| line.starts_with("beta|")).unwrap();
    assert!(
        resumed.starts_with("beta|3:Continue from where you left off."),
        "{resumed}"
    );
    assert!(
        resumed.contains("build it --resume sess-alpha|"),
        "{resumed}"
    );
    assert!(
        resumed.ends_with("|ANTHROPIC_API_KEY KAGE_LEASE_ID KAGE_SUBSCRIPTION "),
        "{resumed}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::Stopping { .. }))
    );
    assert!(no_live_leases(&harness));
}

#[tokio::test]
async fn a_rejected_credential_is_marked_unhealthy_and_the_task_moves() {
    let harness = Harness::new();
    harness.add("alpha", 150, CredentialKind::OAuth, "reject");
    harness.add("beta", 100, CredentialKind::OAuth, "ok");
    let (report, _) = harness.run(harness.options(), &["x"], None).await;

    assert_eq!(report.tasks[0].status, TaskStatus::Succeeded);
    assert_eq!(harness.state("alpha").kind(), StateKind::Unhealthy);
    assert_eq!(harness.state("beta").kind(), StateKind::Active);
    let subscriptions: Vec<&str> = report.tasks[0]
        .subscriptions()
        .iter()
        .map(|name| name.as_str())
        .collect();
    assert_eq!(subscriptions, ["alpha", "beta"]);
}

#[tokio::test]
async fn an_overload_retries_without_marking_anyone() {
    let harness = Harness::new();
    harness.add("alpha", 150, CredentialKind::OAuth, "overload-once");
    let (report, events) = harness.run(harness.options(), &["x"], None).await;

    assert_eq!(report.tasks[0].status, TaskStatus::Succeeded);
    assert_eq!(report.tasks[0].attempts.len(), 2);
    assert_eq!(report.tasks[0].attempts[0].outcome, Outcome::Overloaded);
    assert_eq!(harness.state("alpha").kind(), StateKind::Active);
    assert!(events.iter().any(|e| matches!(e, RunEvent::Backoff { .. })));
}

#[tokio::test]
async fn parallel_tasks_all_complete_and_usage_adds_up() {
    let harness = Harness::new();
    harness.add("alpha", 100, CredentialKind::OAuth, "ok");
    harness.add("beta", 100, CredentialKind::OAuth, "ok");
    let mut options = harness.options();
    options.parallel = 3;
    let prompts = ["a", "b", "c", "d", "e", "f", "g"];
    let (report, _) = harness.run(options, &prompts, None).await;

    assert!(
        report
            .tasks
            .iter()
            .all(|t| t.status == TaskStatus::Succeeded)
    );
    let ids: Vec<&str> = report.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "task-1", "task-2", "task-3", "task-4", "task-5", "task-6", "task-7"
        ]
    );
    let alpha = harness.pool.store().usage_of("alpha").total_tokens();
    let beta = harness.pool.store().usage_of("beta").total_tokens();
    assert_eq!(alpha + beta, 700);
    assert!(
        alpha > 0 && beta > 0,
        "equal priorities take turns: {alpha} {beta}"
    );
    assert!(no_live_leases(&harness));
}

#[tokio::test]
async fn when_everything_is_limited_the_task_waits_then_gives_up() {
    let harness = Harness::new();
    harness.add("alpha", 100, CredentialKind::OAuth, "ok");
    let alpha = harness.pool.store().subscription("alpha");
    let until = Timestamp::from_second(4_102_444_800).unwrap();
    harness
        .pool
        .record_signal(
            &kage_ports::Lease {
                id: kage_domain::LeaseId::from_uuid(Uuid::new_v4()),
                subscription_id: alpha.id,
                subscription_name: alpha.name.clone(),
                kind: alpha.kind,
                namespace: None,
                level: Default::default(),
                holder: "setup".into(),
                acquired_at: until,
                expires_at: until,
                released_at: None,
            },
            &Outcome::QuotaExhausted {
                resets_at: Some(until),
                reason: "5-hour limit".into(),
            },
        )
        .await
        .unwrap();
    let (report, events) = harness.run(harness.options(), &["x"], None).await;

    assert!(matches!(report.tasks[0].status, TaskStatus::Unavailable(_)));
    assert_eq!(report.exit_code(), 75);
    assert!(harness.log().is_empty());
    assert!(events.iter().any(|e| matches!(
        e,
        RunEvent::Waiting { earliest: Some((name, at)), .. } if name.as_str() == "alpha" && *at == until
    )));
}

#[tokio::test]
async fn ctrl_c_stops_the_agents_records_their_usage_and_releases_every_lease() {
    let harness = Harness::new();
    harness.add("alpha", 100, CredentialKind::OAuth, "slow");
    let mut options = harness.options();
    options.parallel = 1;
    let started = std::time::Instant::now();
    let (report, events) = harness
        .run(
            options,
            &["long one", "never started"],
            Some(|event| matches!(event, RunEvent::Progress { .. })),
        )
        .await;

    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(report.interrupted);
    assert_eq!(report.exit_code(), 130);
    assert_eq!(report.tasks[0].status, TaskStatus::Interrupted);
    assert_eq!(report.tasks[1].status, TaskStatus::NotStarted);
    assert_eq!(harness.pool.store().usage_of("alpha").total_tokens(), 30);
    assert!(no_live_leases(&harness));
    let releases = harness.pool.store().releases();
    assert_eq!(releases.len(), 1);
    assert!(matches!(
        &releases[0].1,
        Outcome::Error { kind: ErrorKind::Agent, detail } if detail == "interrupted"
    ));
    assert!(!releases[0].2);
    assert_eq!(harness.state("alpha").kind(), StateKind::Active);
    assert!(events.iter().any(|e| matches!(
        e,
        RunEvent::TaskFinished {
            status: TaskStatus::NotStarted,
            ..
        }
    )));
}

/// With a slot free and Ctrl-C pressed at once, the cancellation wins every
/// time: a random choice (an unbiased `select!`) would hand out the slot in
/// about half of the rounds and the task would read "interrupted".
#[tokio::test]
async fn a_cancellation_wins_over_a_slot_freed_at_the_same_moment() {
    let semaphore = Arc::new(Semaphore::new(1));
    let (_running, mut running) = watch::channel(false);
    let slot = free_slot(&semaphore, &mut running).await;
    assert!(slot.is_some(), "a free slot is given while the run goes on");
    drop(slot);
    let (_cancelled, mut cancelled) = watch::channel(true);
    for round in 0..64 {
        assert!(
            free_slot(&semaphore, &mut cancelled).await.is_none(),
            "round {round}: a slot was given after Ctrl-C"
        );
    }
    assert_eq!(semaphore.available_permits(), 1);
}

#[tokio::test]
async fn an_agent_that_cannot_start_fails_its_task_and_gives_the_lease_back() {
    let harness = Harness::new();
    harness.add("alpha", 100, CredentialKind::OAuth, "ok");
    let mut options = harness.options();
    options.command =
        CommandTemplate::new(vec!["/nonexistent/agent".into(), "{prompt}".into()]).unwrap();
    let (report, _) = harness.run(options, &["x"], None).await;

    let TaskStatus::Failed(reason) = &report.tasks[0].status else {
        panic!("{:?}", report.tasks[0].status);
    };
    assert!(
        reason.contains("could not start `/nonexistent/agent`"),
        "{reason}"
    );
    assert_eq!(report.tasks[0].attempts.len(), 1);
    assert!(no_live_leases(&harness));
    assert_eq!(harness.state("alpha").kind(), StateKind::Active);
}

#[tokio::test]
async fn attempts_are_bounded() {
    let harness = Harness::new();
    harness.add("alpha", 100, CredentialKind::OAuth, "limit");
    harness.add("beta", 100, CredentialKind::OAuth, "limit");
    harness.add("gamma", 100, CredentialKind::OAuth, "limit");
    let mut options = harness.options();
    options.max_attempts = 2;
    let (report, _) = harness.run(options, &["x"], None).await;

    let TaskStatus::Failed(reason) = &report.tasks[0].status else {
        panic!("{:?}", report.tasks[0].status);
    };
    assert!(reason.starts_with("gave up after 2 attempts"), "{reason}");
    assert_eq!(report.tasks[0].attempts.len(), 2);
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test]
async fn heartbeats_keep_a_lease_alive_past_its_ttl() {
    let harness = Harness::new();
    harness.add("alpha", 100, CredentialKind::OAuth, "second");
    let mut options = harness.options();
    options.lease_ttl = Some(Duration::from_millis(300));
    let (report, _) = harness.run(options, &["x"], None).await;

    assert_eq!(report.tasks[0].status, TaskStatus::Succeeded);
    let releases = harness.pool.store().releases();
    assert_eq!(releases.len(), 1);
    assert!(
        !releases[0].2,
        "the lease expired although the agent was running"
    );
    let lease = &harness.pool.store().leases()[0];
    let held = lease.released_at.unwrap().duration_since(lease.acquired_at);
    assert!(
        held > kage_domain::SignedDuration::from_millis(900),
        "{held:?}"
    );
}

#[tokio::test]
async fn a_warning_past_a_threshold_is_told_once_per_window() {
    let harness = Harness::new();
    harness.add("alpha", 150, CredentialKind::OAuth, "warn");
    let mut options = harness.options();
    options.parallel = 1;
    let (report, events) = harness.run(options, &["first", "second"], None).await;

    assert!(
        report
            .tasks
            .iter()
            .all(|task| task.status == TaskStatus::Succeeded)
    );
    let alerts: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            RunEvent::QuotaAlert { task, alert } => Some((task.id.clone(), alert.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "two warnings of one window, one alert: {alerts:?}"
    );
    let (task, alert) = &alerts[0];
    assert_eq!(task, "task-1");
    assert_eq!(alert.subscription_name.as_str(), "alpha");
    assert_eq!(
        alert.threshold_permille, 800,
        "the highest threshold crossed"
    );
    // `kage-agent run` prints it.
    let times =
        crate::screen::TimeView::new(jiff::tz::TimeZone::UTC, Arc::new(|| Timestamp::UNIX_EPOCH));
    let printed: Vec<String> = events
        .iter()
        .filter(|event| matches!(event, RunEvent::QuotaAlert { .. }))
        .filter_map(|event| crate::screen::plain_line(event, &times))
        .collect();
    // The warning named its window (`rateLimitType` `five_hour`), so the
    // alert does too.
    assert_eq!(
        printed,
        vec!["task-1: ! alpha passed 80% of its 5-hour quota (83% used)"]
    );
    // The lease names its task.
    assert!(
        harness
            .pool
            .store()
            .leases()
            .iter()
            .any(|lease| lease.holder == "test@host:1 task-2"),
        "{:?}",
        harness.pool.store().leases()
    );
}

#[tokio::test]
async fn no_other_subscriptions_credential_variable_reaches_the_agent() {
    // A variable the test process really has stands for another
    // subscription's `--credential-env` token.
    let variable = "CARGO_MANIFEST_DIR";
    assert!(
        std::env::var_os(variable).is_some(),
        "{variable} is set under cargo"
    );
    let harness = Harness::new();
    harness.add("alpha", 150, CredentialKind::OAuth, "ok");
    let other = SubscriptionId::from_uuid(Uuid::new_v4());
    let mut beta = Subscription::new(
        other,
        SubscriptionName::new("beta").unwrap(),
        harness.pool.clock().now(),
    );
    beta.credential = kage_domain::CredentialSource::Env(variable.to_owned());
    harness.pool.store().add(beta);

    let log = harness.log_path().display().to_string();
    let script = format!(
        r#"echo "${{{variable}-unset}}|$CLAUDE_CODE_OAUTH_TOKEN" >> "{log}"
echo '{{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"s","usage":{{"input_tokens":1,"output_tokens":1}}}}'"#
    );
    let mut options = harness.options();
    options.command =
        CommandTemplate::new(vec!["sh".into(), "-c".into(), script, "{prompt}".into()]).unwrap();
    let (report, _) = harness.run(options, &["do it"], None).await;
    assert_eq!(report.tasks[0].status, TaskStatus::Succeeded);
    assert_eq!(harness.log(), ["unset|ok"]);
}

#[tokio::test]
async fn a_lost_lease_stops_the_agent_and_the_task_resumes_on_a_new_lease() {
    let harness = Harness::new();
    harness.add("alpha", 100, CredentialKind::OAuth, "slow-once");
    let mut options = harness.options();
    options.lease_ttl = Some(Duration::from_millis(300));
    // Someone releases the running agent's lease under it.
    let pool = Arc::clone(&harness.pool);
    let thief = tokio::spawn(async move {
        loop {
            let live = pool
                .store()
                .leases()
                .into_iter()
                .find(|lease| lease.released_at.is_none());
            if let Some(lease) = live {
                tokio::time::sleep(Duration::from_millis(150)).await;
                pool.release(kage_core::ReleaseRequest {
                    lease_id: lease.id,
                    outcome: Outcome::Success,
                    usage: Default::default(),
                })
                .await
                .unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let (report, events) = harness.run(options, &["x"], None).await;
    thief.await.unwrap();

    assert_eq!(report.tasks[0].status, TaskStatus::Succeeded);
    let attempts = &report.tasks[0].attempts;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0].reason, "the lease was lost");
    assert!(events.iter().any(|event| matches!(
        event,
        RunEvent::Warning { text } if text.contains("was lost")
    )));
    assert!(no_live_leases(&harness));
}
