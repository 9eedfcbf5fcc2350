//! `cargo bench -p kage-cli --bench metrics_listen`
//!
//! The goal: `kage metrics --listen` on a pool of 100 subscriptions with
//! 1,000,000 usage records answers 50 concurrent scrapes, every one of them,
//! with a p99 under 50 ms.
//!
//! The bench seeds the pool (`support/mod.rs`, shared with the `status`
//! bench), starts the real `kage metrics --listen 127.0.0.1:0` (built by
//! cargo for this bench, in the bench profile) and sends rounds of 50
//! scrapes at once, each from its own thread, timing each from connect to
//! the last byte. Two baselines, measured in the same run against the same
//! server: `/healthz` 50 at once (the same connections without reading the
//! store), and `/metrics` one at a time (one scrape's own cost, without
//! waiting for the other 49).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use support::{SUBSCRIPTIONS, SeededHome, millis, percentile, spread, verdict};

const CONCURRENT: usize = 50;
const ROUNDS: usize = 10;
const GOAL: Duration = Duration::from_millis(50);

/// The running server, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(home: &SeededHome) -> anyhow::Result<(Server, SocketAddr)> {
    let mut child = home
        .kage(&["metrics", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let server = Server(child);
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .ok_or_else(|| anyhow::anyhow!("kage metrics --listen exited before listening"))??;
        if let Some((_, rest)) = line.split_once("http://") {
            let address = rest.split_once('/').map_or(rest, |(address, _)| address);
            break address.parse()?;
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Ok((server, address))
}

/// `GET path`: the status code, the body and the time from connect to the last byte.
fn get(address: SocketAddr, path: &str) -> anyhow::Result<(u16, String, Duration)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address)?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let elapsed = started.elapsed();
    let status = answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("not an HTTP answer: {answer:.80}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body, elapsed))
}

/// `count` scrapes of `GET path` one after the other; every answer's time,
/// sorted, and how many did not answer 200.
fn one_at_a_time(address: SocketAddr, path: &str, count: usize) -> (Vec<Duration>, usize) {
    let mut times = Vec::with_capacity(count);
    let mut failed = 0;
    for _ in 0..count {
        match get(address, path) {
            Ok((200, _, elapsed)) => times.push(elapsed),
            _ => failed += 1,
        }
    }
    times.sort();
    (times, failed)
}

/// `ROUNDS` rounds of `CONCURRENT` simultaneous `GET path`; every answer's
/// time, sorted, and how many did not answer 200.
fn rounds(address: SocketAddr, path: &'static str) -> (Vec<Duration>, usize) {
    let mut times = Vec::with_capacity(ROUNDS * CONCURRENT);
    let mut failed = 0;
    for _ in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(CONCURRENT));
        let threads: Vec<_> = (0..CONCURRENT)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    get(address, path)
                })
            })
            .collect();
        for thread in threads {
            match thread.join() {
                Ok(Ok((200, _, elapsed))) => times.push(elapsed),
                _ => failed += 1,
            }
        }
    }
    times.sort();
    (times, failed)
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() -> anyhow::Result<()> {
    let home = SeededHome::new("kage-metrics-bench")?;
    let (_server, address) = start(&home)?;
    // The first scrape warms the page cache and checks the body; not counted.
    let (status, body, first) = get(address, "/metrics")?;
    anyhow::ensure!(
        status == 200
            && body.contains(&format!(
                "kage_pool_subscriptions{{state=\"active\"}} {SUBSCRIPTIONS}"
            )),
        "unexpected first scrape ({status}):\n{body:.400}"
    );
    println!("first scrape: {} ({} bytes)", millis(first), body.len());

    let (single, single_failed) = one_at_a_time(address, "/metrics", CONCURRENT);
    let (health, health_failed) = rounds(address, "/healthz");
    let (metrics, metrics_failed) = rounds(address, "/metrics");

    println!();
    println!(
        "{:<44} {:>7} {:>7} {:>10} {:>10} {:>10}",
        "", "answers", "failed", "p50", "p99", "max"
    );
    for (label, times, failed) in [
        (
            "GET /metrics one at a time (baseline)".to_owned(),
            &single,
            single_failed,
        ),
        (
            format!("GET /healthz {CONCURRENT} at once (baseline)"),
            &health,
            health_failed,
        ),
        (
            format!("GET /metrics {CONCURRENT} at once, {ROUNDS} rounds"),
            &metrics,
            metrics_failed,
        ),
    ] {
        let [p50, p99, max] = spread(times);
        println!(
            "{label:<44} {:>7} {failed:>7} {p50:>10} {p99:>10} {max:>10}",
            times.len()
        );
    }
    let p99 = percentile(&metrics, 0.99);
    println!();
    println!(
        "goal: every scrape answers, p99 under {} — {} failed, p99 {} ({})",
        millis(GOAL),
        metrics_failed,
        millis(p99),
        verdict(metrics_failed == 0 && p99 < GOAL)
    );
    anyhow::ensure!(
        metrics_failed == 0 && health_failed == 0 && single_failed == 0,
        "{} scrapes and {health_failed} health checks did not answer 200",
        metrics_failed + single_failed
    );
    Ok(())
}
