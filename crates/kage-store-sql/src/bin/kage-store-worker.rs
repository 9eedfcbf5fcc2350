//! A worker process for the store's multi-process tests: real OS processes
//! hammering one database, as many agents on many machines do.
//!
//! ```text
//! kage-store-worker stress LOCATION CYCLES
//!     CYCLES acquire/hold/release cycles (retrying while the pool is full);
//!     prints `lease NAME HELD_FROM_NS HELD_TO_NS TOKENS` per cycle, where the
//!     interval is measured after the acquire returned and before the
//!     release began, then `done CYCLES UNAVAILABLE`.
//! kage-store-worker crash LOCATION HELD_TAG FREE_TAG TTL_SECONDS
//!     takes two leases on subscriptions tagged HELD_TAG and keeps them
//!     (prints `held LEASE_ID EXPIRES_AT_MS`), then acquires and releases
//!     with 7 input tokens on FREE_TAG forever, printing `released N` after
//!     each release returns. Meant to be killed.
//! ```
//!
//! LOCATION is a SQLite path or a PostgreSQL URL. Any store error ends the
//! process with a failure status and the error on stderr.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use kage_domain::{LeaseId, Outcome, SelectionPolicy, SelectionRequest, StatePolicy, Tag, Usage};
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, Clock, Lease, ReleaseLeaseRequest, SubscriptionStore,
    SystemClock,
};
use kage_store_sql::{PostgresStore, SqliteStore};
use uuid::Uuid;

fn request(tags: &[Tag], ttl: Duration) -> AcquireLeaseRequest {
    AcquireLeaseRequest {
        lease_id: LeaseId::from_uuid(Uuid::new_v4()),
        selection: SelectionRequest {
            required_tags: tags.to_vec(),
            ..SelectionRequest::default()
        },
        rules: Default::default(),
        policy: SelectionPolicy::default(),
        ttl,
        holder: format!("kage-store-worker:{}", std::process::id()),
    }
}

/// Acquire, waiting while every candidate is at its cap. Returns the lease
/// and how many times the pool was full.
async fn acquire_waiting(
    store: &dyn SubscriptionStore,
    tags: &[Tag],
    ttl: Duration,
) -> anyhow::Result<(Lease, u64)> {
    let clock = SystemClock;
    let mut unavailable = 0;
    loop {
        let request = request(tags, ttl);
        match store
            .acquire_lease(&request, clock.now())
            .await
            .context("acquire")?
        {
            AcquireOutcome::Granted(lease) => return Ok((lease, unavailable)),
            AcquireOutcome::Unavailable {
                earliest_recovery: None,
                passed_over,
            } => {
                bail!("nothing can ever be leased here: {passed_over:?}")
            }
            AcquireOutcome::Unavailable { .. } => {
                unavailable += 1;
                let jitter = u64::from(Uuid::new_v4().as_bytes()[0] % 4);
                tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
            }
        }
    }
}

async fn release(
    store: &dyn SubscriptionStore,
    lease: &Lease,
    input_tokens: u64,
) -> anyhow::Result<()> {
    let request = ReleaseLeaseRequest {
        lease_id: lease.id,
        outcome: Outcome::Success,
        usage: Usage {
            input_tokens,
            ..Usage::default()
        },
        policy: StatePolicy::default(),
    };
    store
        .release_lease(&request, SystemClock.now())
        .await
        .context("release")?;
    Ok(())
}

/// The store at `location`: a PostgreSQL URL, else a SQLite file.
async fn open(location: &str) -> anyhow::Result<Box<dyn SubscriptionStore>> {
    Ok(if location.starts_with("postgres://") {
        Box::new(PostgresStore::connect(location).await.context("connect")?)
    } else {
        Box::new(SqliteStore::open(location).await.context("open")?)
    })
}

async fn stress(location: &str, cycles: u64) -> anyhow::Result<()> {
    let store = open(location).await?;
    let clock = SystemClock;
    let mut out = std::io::stdout().lock();
    let mut unavailable_total = 0;
    let seed = u64::from(std::process::id());
    for cycle in 0..cycles {
        let (lease, unavailable) = acquire_waiting(&*store, &[], Duration::from_secs(60)).await?;
        unavailable_total += unavailable;
        let held_from = clock.now().as_nanosecond();
        // Held long enough against the acquires and releases of the other
        // workers that the pool fills up now and then: the stress test
        // checks that its caps were reached.
        tokio::time::sleep(Duration::from_millis(3)).await;
        let held_to = clock.now().as_nanosecond();
        let tokens = 1 + (seed * 7 + cycle) % 50;
        release(&*store, &lease, tokens).await?;
        writeln!(
            out,
            "lease {} {held_from} {held_to} {tokens}",
            lease.subscription_name
        )?;
    }
    writeln!(out, "done {cycles} {unavailable_total}")?;
    out.flush()?;
    Ok(())
}

async fn crash(
    location: &str,
    held_tag: &str,
    free_tag: &str,
    ttl: Duration,
) -> anyhow::Result<()> {
    let store = open(location).await?;
    let held = [Tag::new(held_tag)?];
    let free = [Tag::new(free_tag)?];
    let mut out = std::io::stdout();
    for _ in 0..2 {
        let (lease, _) = acquire_waiting(&*store, &held, ttl).await?;
        writeln!(
            out,
            "held {} {}",
            lease.id,
            lease.expires_at.as_millisecond()
        )?;
    }
    for released in 1u64.. {
        let (lease, _) = acquire_waiting(&*store, &free, ttl).await?;
        release(&*store, &lease, 7).await?;
        writeln!(out, "released {released}")?;
        out.flush()?;
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["stress", location, cycles] => stress(location, cycles.parse().context("CYCLES")?).await,
        ["crash", location, held_tag, free_tag, ttl] => {
            let ttl = Duration::from_secs(ttl.parse().context("TTL_SECONDS")?);
            crash(location, held_tag, free_tag, ttl).await
        }
        _ => bail!(
            "usage: kage-store-worker stress LOCATION CYCLES | \
             kage-store-worker crash LOCATION HELD_TAG FREE_TAG TTL_SECONDS"
        ),
    }
}
