//! Real OS processes (`kage-store-worker`) on one database: caps hold under
//! contention, nothing surfaces "database is locked", usage adds up exactly,
//! and a process killed with SIGKILL loses nothing it had written while its
//! leases stop counting after their TTL.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kage_domain::{LeaseId, Priority, SelectionRequest, Tag};
use kage_ports::{AcquireOutcome, Clock, SystemClock, UsageQuery};

use crate::support::*;

const WORKER: &str = env!("CARGO_BIN_EXE_kage-store-worker");
/// Subscriptions of the stress pool and their caps.
const CAPS: [(&str, u32); 3] = [("cap-one", 1), ("cap-two", 2), ("cap-three", 3)];

async fn create_stress_pool(location: &str) {
    let store = AnyStore::open(location).await;
    for (name, cap) in CAPS {
        let mut capped = subscription(name);
        capped.max_concurrent = Some(cap);
        capped.priority = Priority(100);
        store.insert_subscription(&capped).await.unwrap();
    }
    store.close().await;
}

/// Wait for every child, failing with its stderr if it failed or hung.
fn wait_all(children: Vec<(Child, std::path::PathBuf)>, deadline: Duration) {
    let started = Instant::now();
    for (mut child, log) in children {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "worker failed ({status}): {}",
                    std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
                );
                break;
            }
            if started.elapsed() > deadline {
                let _ = child.kill();
                panic!("a worker was still running after {deadline:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct StressReport {
    leases: usize,
    unavailable: u64,
    tokens: u64,
    max_overlap: BTreeMap<String, u32>,
}

/// Run `processes` workers of `cycles` cycles each and check what they saw.
#[allow(
    clippy::print_stderr,
    reason = "the figures of a stress run are worth a look"
)]
async fn run_stress(location: &str, processes: usize, cycles: u64) -> StressReport {
    let logs = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let children: Vec<_> = (0..processes)
        .map(|index| {
            let log = logs.path().join(format!("worker-{index}.out"));
            let child = Command::new(WORKER)
                .args(["stress", location, &cycles.to_string()])
                .stdin(Stdio::null())
                .stdout(File::create(&log).unwrap())
                .stderr(File::create(log.with_extension("err")).unwrap())
                .spawn()
                .expect("spawn kage-store-worker");
            (child, log)
        })
        .collect();
    let logs_of: Vec<_> = children.iter().map(|(_, log)| log.clone()).collect();
    wait_all(children, Duration::from_secs(120));
    let wall = started.elapsed();

    let mut intervals: BTreeMap<String, Vec<(i128, i128)>> = BTreeMap::new();
    let mut report = StressReport {
        leases: 0,
        unavailable: 0,
        tokens: 0,
        max_overlap: BTreeMap::new(),
    };
    for log in logs_of {
        let text = std::fs::read_to_string(&log).unwrap();
        let errors = std::fs::read_to_string(log.with_extension("err")).unwrap();
        assert!(!errors.contains("locked"), "{errors}");
        let mut done = false;
        for line in text.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["lease", name, from, to, tokens] => {
                    intervals
                        .entry((*name).to_owned())
                        .or_default()
                        .push((from.parse().unwrap(), to.parse().unwrap()));
                    report.tokens += tokens.parse::<u64>().unwrap();
                    report.leases += 1;
                }
                ["done", count, unavailable] => {
                    assert_eq!(count.parse::<u64>().unwrap(), cycles);
                    report.unavailable += unavailable.parse::<u64>().unwrap();
                    done = true;
                }
                _ => panic!("unexpected worker output {line:?}"),
            }
        }
        assert!(done, "a worker did not finish: {text}");
    }
    for (name, held) in &intervals {
        // Sweep the held intervals: +1 at each start, -1 at each end (ends
        // first on ties: [a, b) and [b, c) do not overlap).
        let mut events: Vec<(i128, i32)> = held
            .iter()
            .flat_map(|(from, to)| [(*from, 1), (*to, -1)])
            .collect();
        events.sort();
        let (mut live, mut most) = (0, 0);
        for (_, step) in events {
            live += step;
            most = most.max(live);
        }
        report
            .max_overlap
            .insert(name.clone(), u32::try_from(most).unwrap());
    }
    eprintln!(
        "stress: {processes} processes x {cycles} cycles in {wall:?}; full-pool retries {}; overlap {:?}",
        report.unavailable, report.max_overlap
    );
    report
}

/// What the database holds after the stress run.
async fn audit(store: &AnyStore, expected_leases: usize, expected_tokens: u64) {
    let now = SystemClock.now();
    assert!(
        store.live_leases(now).await.unwrap().is_empty(),
        "every lease was released"
    );
    let query = UsageQuery {
        from: plus(now, -86_400),
        to: plus(now, 86_400),
        utc_offset_seconds: 0,
        subscription: None,
    };
    let lines = store.daily_usage(&query).await.unwrap();
    let tokens: u64 = lines.iter().map(|line| line.usage.input_tokens).sum();
    let leases: u64 = lines.iter().map(|line| line.leases).sum();
    assert_eq!(
        tokens, expected_tokens,
        "usage is exact: nothing lost, nothing counted twice"
    );
    assert_eq!(leases, u64::try_from(expected_leases).unwrap());
}

fn check_caps(report: &StressReport, processes: usize, cycles: u64) {
    assert_eq!(report.leases, processes * usize::try_from(cycles).unwrap());
    for (name, cap) in CAPS {
        let most = report.max_overlap.get(name).copied().unwrap_or(0);
        assert!(
            most <= cap,
            "{name} had {most} leases held at once, over its cap of {cap}"
        );
    }
    assert!(
        report.unavailable > 0,
        "the pool was never full: the caps were not exercised"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_32_processes_respect_caps_and_count_usage_exactly() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("kage.db");
    let location = path.to_str().unwrap().to_owned();
    create_stress_pool(&location).await;
    let report = run_stress(&location, 32, 100).await;
    check_caps(&report, 32, 100);
    let store = AnyStore::open(&location).await;
    audit(&store, report.leases, report.tokens).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_16_processes_respect_caps_and_count_usage_exactly() {
    with_pg_database(|url| async move {
        create_stress_pool(&url).await;
        let report = run_stress(&url, 16, 100).await;
        check_caps(&report, 16, 100);
        let store = AnyStore::open(&url).await;
        audit(&store, report.leases, report.tokens).await;
        store.close().await;
    })
    .await;
}

struct Killed {
    /// The leases the worker held when it died, with their expiry.
    held: Vec<(LeaseId, Timestamp)>,
    /// Releases the worker saw return before it died.
    released: u64,
}

/// Start a crash worker, let it release `releases` leases, SIGKILL it.
fn run_and_kill(location: &str, releases: u64) -> Killed {
    let mut child = Command::new(WORKER)
        .args(["crash", location, "held", "free", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kage-store-worker");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut killed = Killed {
        held: Vec::new(),
        released: 0,
    };
    let started = Instant::now();
    let parse = |line: &str, killed: &mut Killed| {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["held", id, expires] => killed.held.push((
                id.parse().unwrap(),
                Timestamp::from_millisecond(expires.parse().unwrap()).unwrap(),
            )),
            ["released", count] => killed.released = count.parse().unwrap(),
            _ => panic!("unexpected worker output {line:?}"),
        }
    };
    while killed.released < releases {
        let Some(line) = lines.next() else {
            let mut errors = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut errors).unwrap();
            panic!("the worker ended early: {errors}");
        };
        parse(&line.unwrap(), &mut killed);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the worker is too slow"
        );
    }
    // SIGKILL, most likely in the middle of a transaction.
    child.kill().unwrap();
    child.wait().unwrap();
    for line in lines {
        parse(&line.unwrap(), &mut killed);
    }
    assert_eq!(killed.held.len(), 2);
    killed
}

async fn create_crash_pool(location: &str) {
    let store = AnyStore::open(location).await;
    let mut held = subscription("held");
    held.max_concurrent = Some(2);
    held.tags = [Tag::new("held").unwrap()].into();
    let mut free = subscription("free");
    free.tags = [Tag::new("free").unwrap()].into();
    store.insert_subscription(&held).await.unwrap();
    store.insert_subscription(&free).await.unwrap();
    store.close().await;
}

async fn check_after_kill(location: &str, killed: &Killed) {
    let store = AnyStore::open(location).await;
    let now = SystemClock.now();
    // Every release the worker saw return is there; at most one more (the
    // one committed just before the kill, not yet printed).
    let query = UsageQuery {
        from: plus(now, -3600),
        to: plus(now, 3600),
        utc_offset_seconds: 0,
        subscription: None,
    };
    let lines = store.daily_usage(&query).await.unwrap();
    let tokens: u64 = lines.iter().map(|line| line.usage.input_tokens).sum();
    let leases: u64 = lines.iter().map(|line| line.leases).sum();
    assert!(
        leases == killed.released || leases == killed.released + 1,
        "{leases} releases stored, the worker saw {}",
        killed.released
    );
    assert_eq!(tokens, 7 * leases, "every stored release has its usage");

    // The dead worker's leases still count until their TTL runs out...
    let mut on_held = acquire(secs(60));
    on_held.selection = SelectionRequest {
        required_tags: vec![Tag::new("held").unwrap()],
        ..Default::default()
    };
    let first_expiry = killed.held.iter().map(|(_, at)| *at).min().unwrap();
    let last_expiry = killed.held.iter().map(|(_, at)| *at).max().unwrap();
    assert!(now < first_expiry, "the test ran longer than the lease TTL");
    match store.acquire_lease(&on_held, now).await.unwrap() {
        AcquireOutcome::Unavailable {
            earliest_recovery, ..
        } => assert_eq!(earliest_recovery, Some(first_expiry)),
        other => panic!("the held subscription should be full, got {other:?}"),
    }
    let live: Vec<LeaseId> = store
        .live_leases(now)
        .await
        .unwrap()
        .iter()
        .map(|lease| lease.id)
        .collect();
    for (id, _) in &killed.held {
        assert!(live.contains(id), "held lease {id} is live until its TTL");
    }
    // ...and not a moment longer: at the expiry both slots are free.
    granted(&*store, &on_held, last_expiry).await;
    on_held.lease_id = LeaseId::from_uuid(uuid::Uuid::new_v4());
    granted(&*store, &on_held, last_expiry).await;
    store.close().await;
}

async fn sqlite_integrity(path: &Path) {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let mut connection = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(verdict, "ok");
    let (records, rolled_up): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM usage_records), (SELECT COALESCE(SUM(leases), 0) FROM usage_hourly)",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    assert_eq!(records, rolled_up, "the rollup agrees with the records");
    connection.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_a_killed_worker_loses_nothing_and_its_leases_expire() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("kage.db");
    let location = path.to_str().unwrap().to_owned();
    create_crash_pool(&location).await;
    let killed = run_and_kill(&location, 40);
    sqlite_integrity(&path).await;
    check_after_kill(&location, &killed).await;
}

#[tokio::test]
async fn postgres_a_killed_worker_loses_nothing_and_its_leases_expire() {
    with_pg_database(|url| async move {
        create_crash_pool(&url).await;
        let killed = tokio::task::spawn_blocking({
            let url = url.clone();
            move || run_and_kill(&url, 40)
        })
        .await
        .unwrap();
        check_after_kill(&url, &killed).await;
    })
    .await;
}
