//! What both backends do the same way: every operation of
//! [`kage_ports::SubscriptionStore`] but the two hot paths (acquire and
//! release, which each backend writes for itself in `sqlite.rs` and
//! `postgres.rs`), written once over [`Backend`], plus the pure parts of a
//! release ([`ReleasePlan`]) and of an acquire.
//!
//! The one `impl SubscriptionStore` (`store.rs`, generic over [`Backend`])
//! calls these functions; what differs between the backends is what
//! [`Backend`] asks: how a write transaction begins (`BEGIN IMMEDIATE` on
//! SQLite, `BEGIN` on PostgreSQL), the row locks of the reads before a
//! change (none on SQLite, whose write transactions are serial already),
//! the lock that keeps usage records out while a daily rollup is filled,
//! and the two hot paths themselves.

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use kage_domain::{
    Health, LeaseId, Outcome, PoolSnapshot, QuotaAlert, RouteEntry, RouteTarget, RoutingRules,
    StateKind, StatePolicy, Subscription, SubscriptionId, SubscriptionName, TransitionResult,
};
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, DailyUsage, Lease, LeaseError, ReadOffset,
    RecordedTransition, ReleaseLeaseRequest, ReleaseReport, RetiredSubscription, StoreError,
    UsageBatch, UsageQuery, Waiter,
};
use sqlx::pool::PoolConnection;
use sqlx::{Pool, Transaction};

use crate::codec::{
    Columns, EventRow, HealthParams, LeaseRow, LeaseWithSubscriptionRow, QuotaAlertRow,
    ReadOffsetRow, SettingsParams, SnapshotRow, SubscriptionRow, UsageParams, WaiterRow, after,
    before, to_i64, to_ms, truncate,
};
use crate::db::{Db, Query, Reads, read_row};
use crate::error::{Place, is_unique_violation_on};
use crate::sql;
use crate::usage::{DAILY_OFFSETS_KEPT, DailyPlan, merge_daily};

/// What the shared operations need of a backend.
#[async_trait]
pub(crate) trait Backend: Send + Sync {
    type Db: Db;

    /// Acquire a lease: a hot path, written for each backend (SQLite: one
    /// `BEGIN IMMEDIATE` transaction; PostgreSQL: claims without a lock,
    /// see `postgres.rs`).
    async fn acquire(
        &self,
        request: &AcquireLeaseRequest,
        now: Timestamp,
    ) -> Result<AcquireOutcome, StoreError>;

    /// Release a lease: a hot path, written for each backend (SQLite: one
    /// `BEGIN IMMEDIATE` transaction; PostgreSQL: one unlocked statement
    /// unless the health changes, see `postgres.rs`).
    async fn release(
        &self,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
    ) -> Result<ReleaseReport, LeaseError>;

    /// Where the store lives, for error messages.
    fn place(&self) -> &Place;

    /// The connections reads use.
    fn read_pool(&self) -> &Pool<Self::Db>;

    /// A connection for reads.
    async fn reader(&self, what: &str) -> Result<PoolConnection<Self::Db>, StoreError> {
        self.read_pool()
            .acquire()
            .await
            .map_err(|e| self.place().error(what, e))
    }

    /// Begin a write transaction.
    async fn begin_write(&self, what: &str) -> Result<Transaction<'static, Self::Db>, StoreError>;

    /// Keep usage records from being written until `tx` ends, waiting for
    /// those being written now. Nothing by default: a backend whose write
    /// transactions are serial already (SQLite's `BEGIN IMMEDIATE` holds
    /// the whole file) needs no lock.
    async fn lock_usage_records(
        &self,
        _tx: &mut Transaction<'static, Self::Db>,
        _what: &str,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// [`sql::LEASE_WITH_SUBSCRIPTION`] with the backend's row locks; by
    /// default none, for a backend whose write transaction holds the whole
    /// database (SQLite).
    fn lease_for_change_sql(&self) -> &'static str {
        &sql::LEASE_WITH_SUBSCRIPTION
    }

    /// [`sql::SUBSCRIPTION_BY_ID`] with the backend's row lock; by default
    /// none, as for [`Backend::lease_for_change_sql`].
    fn subscription_for_change_sql(&self) -> &'static str {
        &sql::SUBSCRIPTION_BY_ID
    }

    /// The time to write with once the write's lock is won
    /// ([`crate::lock_clock::LockClock::after_lock`]).
    fn after_lock(&self, now: Timestamp) -> Timestamp;
}

fn query<DB: Db>(sql: &str) -> Query<'_, DB> {
    sqlx::query(sql)
}

/// Read every row of `statement` on a read connection.
async fn read_rows<B: Backend>(
    store: &B,
    statement: Query<'_, B::Db>,
    what: &str,
) -> Result<Vec<<B::Db as sqlx::Database>::Row>, StoreError> {
    let mut reader = store.reader(what).await?;
    B::Db::fetch_all(statement, &mut reader)
        .await
        .map_err(|e| store.place().error(what, e))
}

/// Run one write statement in its own transaction; how many rows it
/// changed, or the error as `on_error` maps it.
async fn write_one<B: Backend>(
    store: &B,
    statement: Query<'_, B::Db>,
    what: &str,
    on_error: impl FnOnce(sqlx::Error) -> StoreError + Send,
) -> Result<u64, StoreError> {
    let mut tx = store.begin_write(what).await?;
    let changed = B::Db::execute(statement, &mut tx).await.map_err(on_error)?;
    tx.commit()
        .await
        .map_err(|e| store.place().error(what, e))?;
    Ok(changed)
}

/// The error of a write that may meet the unique name.
fn name_error(
    place: &Place,
    what: &str,
    name: &SubscriptionName,
    error: sqlx::Error,
) -> StoreError {
    if is_unique_violation_on(&error, "name") {
        StoreError::NameTaken(name.clone())
    } else {
        place.error(what, error)
    }
}

pub(crate) async fn insert_subscription<B: Backend>(
    store: &B,
    subscription: &Subscription,
) -> Result<(), StoreError> {
    let settings = SettingsParams::new(subscription)?;
    let created_at = settings.created_at;
    let health = HealthParams::new(&subscription.health);
    let statement = settings.bind(query(sql::INSERT_SUBSCRIPTION));
    let statement = health.bind(B::Db::bind_int(statement, Some(created_at)));
    let what = format!("adding subscription {}", subscription.name);
    write_one(store, statement, &what, |e| {
        name_error(store.place(), &what, &subscription.name, e)
    })
    .await
    .map(drop)
}

pub(crate) async fn update_subscription<B: Backend>(
    store: &B,
    subscription: &Subscription,
) -> Result<(), StoreError> {
    let statement = SettingsParams::new(subscription)?.bind(query(sql::UPDATE_SUBSCRIPTION));
    let what = format!("saving subscription {}", subscription.name);
    let updated = write_one(store, statement, &what, |e| {
        name_error(store.place(), &what, &subscription.name, e)
    })
    .await?;
    if updated == 0 {
        return Err(StoreError::SubscriptionNotFound(subscription.id));
    }
    Ok(())
}

pub(crate) async fn delete_subscription<B: Backend>(
    store: &B,
    id: SubscriptionId,
) -> Result<(), StoreError> {
    let what = format!("deleting subscription {id}");
    let statement = B::Db::bind_text(query(sql::DELETE_SUBSCRIPTION), Some(id.to_string()));
    let deleted = write_one(store, statement, &what, |e| store.place().error(&what, e)).await?;
    if deleted == 0 {
        return Err(StoreError::SubscriptionNotFound(id));
    }
    Ok(())
}

pub(crate) async fn retire_subscription<B: Backend>(
    store: &B,
    id: SubscriptionId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let what = format!("retiring subscription {id}");
    let statement = B::Db::bind_text(query(sql::RETIRE_SUBSCRIPTION), Some(id.to_string()));
    let statement = B::Db::bind_int(statement, Some(to_ms(truncate(now))));
    let retired = write_one(store, statement, &what, |e| store.place().error(&what, e)).await?;
    if retired == 0 {
        return Err(StoreError::SubscriptionNotFound(id));
    }
    Ok(())
}

pub(crate) async fn retired_subscriptions<B: Backend>(
    store: &B,
) -> Result<Vec<RetiredSubscription>, StoreError> {
    let what = "listing retired subscriptions";
    let rows = read_rows(store, query(&sql::LIST_RETIRED), what).await?;
    let mut retired = decode::<B::Db, _, _>(
        &rows,
        read_row::<SubscriptionRow, B::Db>,
        |row| {
            let at = row.retired_at;
            let subscription = row.into_domain()?;
            let retired_at = crate::codec::from_ms(at.unwrap_or_default(), "retirement time")?;
            Ok(RetiredSubscription {
                subscription,
                retired_at,
            })
        },
        store.place(),
        what,
    )?;
    retired.sort_by(|a, b| {
        (&a.subscription.name, a.retired_at).cmp(&(&b.subscription.name, b.retired_at))
    });
    Ok(retired)
}

/// Decode rows with `read`, then into the domain with `into_domain`.
fn decode<DB: Db, R, T>(
    rows: &[DB::Row],
    read: fn(&DB::Row) -> Result<R, sqlx::Error>,
    into_domain: fn(R) -> Result<T, StoreError>,
    place: &Place,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(|row| into_domain(read(row).map_err(|e| place.error(what, e))?))
        .collect()
}

pub(crate) async fn list_subscriptions<B: Backend>(
    store: &B,
) -> Result<Vec<Subscription>, StoreError> {
    let what = "listing subscriptions";
    let rows = read_rows(store, query(&sql::LIST_SUBSCRIPTIONS), what).await?;
    let mut subscriptions = decode::<B::Db, _, _>(
        &rows,
        read_row::<SubscriptionRow, B::Db>,
        SubscriptionRow::into_domain,
        store.place(),
        what,
    )?;
    subscriptions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(subscriptions)
}

pub(crate) async fn subscription_by_name<B: Backend>(
    store: &B,
    name: &SubscriptionName,
) -> Result<Option<Subscription>, StoreError> {
    let what = format!("reading subscription {name}");
    let statement = B::Db::bind_text(query(&sql::SUBSCRIPTION_BY_NAME), Some(name.to_string()));
    let rows = read_rows(store, statement, &what).await?;
    let found = decode::<B::Db, _, _>(
        &rows,
        read_row::<SubscriptionRow, B::Db>,
        SubscriptionRow::into_domain,
        store.place(),
        &what,
    )?;
    Ok(found.into_iter().next())
}

pub(crate) async fn record_outcome<B: Backend>(
    store: &B,
    id: SubscriptionId,
    outcome: &Outcome,
    lease_id: Option<LeaseId>,
    policy: &StatePolicy,
    now: Timestamp,
) -> Result<TransitionResult, StoreError> {
    let now = truncate(now);
    let what = format!("recording an outcome of subscription {id}");
    change_health(store, id, &what, lease_id, now, |health, now| {
        kage_domain::apply_outcome(health, outcome, now, policy)
    })
    .await
}

pub(crate) async fn set_disabled<B: Backend>(
    store: &B,
    id: SubscriptionId,
    disabled: Option<String>,
    now: Timestamp,
) -> Result<TransitionResult, StoreError> {
    let now = truncate(now);
    let what = match disabled {
        Some(_) => format!("disabling subscription {id}"),
        None => format!("enabling subscription {id}"),
    };
    change_health(store, id, &what, None, now, |health, now| match &disabled {
        Some(reason) => kage_domain::disable(health, reason, now),
        None => kage_domain::enable(health, now),
    })
    .await
}

/// Apply `change` to a subscription's health in one transaction, at `now`
/// as read once the lock is won.
async fn change_health<B: Backend>(
    store: &B,
    id: SubscriptionId,
    what: &str,
    lease_id: Option<LeaseId>,
    now: Timestamp,
    change: impl FnOnce(&Health, Timestamp) -> TransitionResult + Send,
) -> Result<TransitionResult, StoreError> {
    let place = store.place();
    let mut tx = store.begin_write(what).await?;
    let now = store.after_lock(now);
    let statement = B::Db::bind_text(
        query(store.subscription_for_change_sql()),
        Some(id.to_string()),
    );
    let row = B::Db::fetch_optional(statement, &mut tx)
        .await
        .map_err(|e| place.error(what, e))?;
    let Some(row) = row else {
        return Err(StoreError::SubscriptionNotFound(id));
    };
    let subscription = read_row::<SubscriptionRow, B::Db>(&row)
        .map_err(|e| place.error(what, e))?
        .into_domain()?;
    let result = change(&subscription.health, now);
    store_health_change::<B::Db>(&mut tx, place, &subscription, &result, lease_id).await?;
    tx.commit().await.map_err(|e| place.error(what, e))?;
    Ok(result)
}

/// Store a health change and its transition event, if any.
async fn store_health_change<DB: Db>(
    connection: &mut DB::Connection,
    place: &Place,
    subscription: &Subscription,
    result: &TransitionResult,
    lease_id: Option<LeaseId>,
) -> Result<(), StoreError> {
    let id = subscription.id.to_string();
    if result.health != subscription.health {
        let what = format!("updating the health of {}", subscription.name);
        let statement = DB::bind_text(query(sql::UPDATE_HEALTH), Some(id.clone()));
        let statement = HealthParams::new(&result.health).bind(statement);
        DB::execute(statement, connection)
            .await
            .map_err(|e| place.error(&what, e))?;
    }
    if let Some(transition) = &result.transition {
        let what = format!("recording a transition of {}", subscription.name);
        let statement = DB::bind_text(query(sql::INSERT_EVENT), Some(id));
        let statement = DB::bind_int(statement, Some(to_ms(transition.at)));
        let statement = DB::bind_text(statement, Some(transition.from.as_str().to_owned()));
        let statement = DB::bind_text(statement, Some(transition.to.as_str().to_owned()));
        let statement = DB::bind_int(statement, transition.until.map(to_ms));
        let statement = DB::bind_text(statement, Some(transition.reason.clone()));
        let statement = DB::bind_text(statement, lease_id.map(|id| id.to_string()));
        DB::execute(statement, connection)
            .await
            .map_err(|e| place.error(&what, e))?;
    }
    Ok(())
}

pub(crate) async fn transitions<B: Backend>(
    store: &B,
    id: SubscriptionId,
    limit: u32,
) -> Result<Vec<RecordedTransition>, StoreError> {
    let what = format!("reading the transitions of {id}");
    let statement = B::Db::bind_text(query(sql::TRANSITIONS), Some(id.to_string()));
    let statement = B::Db::bind_int(statement, Some(i64::from(limit)));
    let rows = read_rows(store, statement, &what).await?;
    decode::<B::Db, _, _>(
        &rows,
        read_row::<EventRow, B::Db>,
        EventRow::into_domain,
        store.place(),
        &what,
    )
}

pub(crate) async fn transition_counts<B: Backend>(
    store: &B,
) -> Result<Vec<(SubscriptionId, StateKind, u64)>, StoreError> {
    let what = "counting transitions";
    let rows = read_rows(store, query(sql::TRANSITION_COUNTS), what).await?;
    let read = |row: &<B::Db as sqlx::Database>::Row| {
        let row = Columns::<B::Db>(row);
        Ok::<_, sqlx::Error>((
            row.text("subscription_id")?,
            row.text("to_state")?,
            row.int("transitions")?,
        ))
    };
    let mut counts = rows
        .iter()
        .map(|row| {
            let (id, state, count) = read(row).map_err(|e| store.place().error(what, e))?;
            Ok((
                crate::codec::parse_subscription_id(&id)?,
                crate::codec::parse_state(&state)?,
                crate::codec::to_u64(count),
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    counts.sort();
    Ok(counts)
}

fn route_statement<'q, DB: Db>(sql: &'q str, target: &RouteTarget) -> Query<'q, DB> {
    let (kind, value) = crate::codec::route_key(target);
    DB::bind_text(
        DB::bind_text(query(sql), Some(kind.to_owned())),
        Some(value),
    )
}

pub(crate) async fn save_route<B: Backend>(
    store: &B,
    target: &RouteTarget,
    entries: &[RouteEntry],
) -> Result<(), StoreError> {
    let what = format!("saving the route for {target}");
    let statement = B::Db::bind_text(
        route_statement(sql::SAVE_ROUTE, target),
        Some(crate::codec::join_route_entries(entries)),
    );
    write_one(store, statement, &what, |e| store.place().error(&what, e))
        .await
        .map(drop)
}

pub(crate) async fn delete_route<B: Backend>(
    store: &B,
    target: &RouteTarget,
) -> Result<bool, StoreError> {
    let what = format!("deleting the route for {target}");
    let statement = route_statement(sql::DELETE_ROUTE, target);
    let deleted = write_one(store, statement, &what, |e| store.place().error(&what, e)).await?;
    Ok(deleted > 0)
}

pub(crate) async fn load_routes<B: Backend>(store: &B) -> Result<RoutingRules, StoreError> {
    let what = "reading the routes";
    let rows = read_rows(store, query(sql::LOAD_ROUTES), what).await?;
    let mut rules = RoutingRules::new();
    for row in &rows {
        let row = Columns::<B::Db>(row);
        let read = (|| {
            Ok::<_, sqlx::Error>((
                row.text("target_kind")?,
                row.text("target")?,
                row.text("entries")?,
            ))
        })();
        let (kind, value, entries) = read.map_err(|e| store.place().error(what, e))?;
        let (target, entries) = crate::codec::parse_route(&kind, &value, &entries)?;
        rules.set(target, entries);
    }
    Ok(rules)
}

pub(crate) async fn heartbeat_lease<B: Backend>(
    store: &B,
    id: LeaseId,
    ttl: Duration,
    now: Timestamp,
) -> Result<Lease, LeaseError> {
    let now = truncate(now);
    let what = format!("renewing lease {id}");
    let place = store.place();
    let mut tx = store.begin_write(&what).await?;
    let now = store.after_lock(now);
    // With whether its subscription was retired.
    let read: fn(LeaseWithSubscriptionRow) -> Result<(Lease, bool), StoreError> = |row| {
        let retired = row.subscription.retired_at.is_some();
        Ok((row.lease.into_domain()?, retired))
    };
    let found =
        read_lease::<B::Db, _, _>(&mut tx, store.lease_for_change_sql(), id, place, read).await?;
    let Some((mut lease, retired)) = found else {
        return Err(LeaseError::NotFound(id));
    };
    if lease.released_at.is_some() {
        return Err(LeaseError::AlreadyReleased(id));
    }
    if retired {
        return Err(LeaseError::SubscriptionRetired {
            id,
            name: lease.subscription_name,
        });
    }
    if lease.expires_at <= now {
        return Err(LeaseError::Expired {
            id,
            expired_at: lease.expires_at,
        });
    }
    lease.expires_at = after(now, ttl);
    let statement = B::Db::bind_text(query(sql::RENEW_LEASE), Some(id.to_string()));
    let statement = B::Db::bind_int(statement, Some(to_ms(lease.expires_at)));
    B::Db::execute(statement, &mut tx)
        .await
        .map_err(|e| place.error(&what, e))?;
    tx.commit().await.map_err(|e| place.error(&what, e))?;
    Ok(lease)
}

pub(crate) async fn live_leases<B: Backend>(
    store: &B,
    now: Timestamp,
) -> Result<Vec<Lease>, StoreError> {
    let what = "listing live leases";
    let statement = B::Db::bind_int(query(&sql::LIVE_LEASES), Some(to_ms(truncate(now))));
    let rows = read_rows(store, statement, what).await?;
    decode::<B::Db, _, _>(
        &rows,
        read_row::<LeaseRow, B::Db>,
        LeaseRow::into_domain,
        store.place(),
        what,
    )
}

pub(crate) async fn pool_snapshot<B: Backend>(
    store: &B,
    window: Duration,
    now: Timestamp,
) -> Result<PoolSnapshot, StoreError> {
    let mut reader = store.reader("reading the pool").await?;
    read_snapshot::<B::Db>(&mut reader, store.place(), window, truncate(now)).await
}

/// The pool as selection sees it, by name.
pub(crate) async fn read_snapshot<DB: Db>(
    connection: &mut DB::Connection,
    place: &Place,
    window: Duration,
    now: Timestamp,
) -> Result<PoolSnapshot, StoreError> {
    let (snapshot, _) =
        read_snapshot_with::<DB>(connection, place, &sql::SNAPSHOT, window, now).await?;
    Ok(snapshot)
}

/// The pool as `sql` (a [`sql::snapshot`]) reads it, by name, with each
/// entry's claims (PostgreSQL's `net_claims`; 0 when `sql` has none) in the
/// same order.
pub(crate) async fn read_snapshot_with<DB: Db>(
    connection: &mut DB::Connection,
    place: &Place,
    sql: &str,
    window: Duration,
    now: Timestamp,
) -> Result<(PoolSnapshot, Vec<i64>), StoreError> {
    let what = "reading the pool";
    let statement = DB::bind_int(query(sql), Some(to_ms(now)));
    let statement = DB::bind_int(statement, Some(to_ms(before(now, window))));
    let rows = DB::fetch_all(statement, connection)
        .await
        .map_err(|e| place.error(what, e))?;
    let mut entries = rows
        .iter()
        .map(|row| {
            let row = read_row::<SnapshotRow, DB>(row).map_err(|e| place.error(what, e))?;
            let claims = row.claims;
            Ok((row.into_domain()?, claims))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    entries.sort_by(|a, b| a.0.subscription.name.cmp(&b.0.subscription.name));
    let (entries, claims) = entries.into_iter().unzip();
    Ok((PoolSnapshot { entries }, claims))
}

/// One lease by id.
pub(crate) async fn fetch_lease<DB: Db>(
    connection: &mut DB::Connection,
    id: LeaseId,
    place: &Place,
) -> Result<Option<Lease>, StoreError> {
    read_lease::<DB, LeaseRow, _>(connection, &sql::LEASE, id, place, LeaseRow::into_domain).await
}

/// One lease by id with its subscription, read with `sql` (the backend's
/// [`sql::LEASE_WITH_SUBSCRIPTION`], with its locks).
pub(crate) async fn fetch_lease_for_change<DB: Db>(
    connection: &mut DB::Connection,
    sql: &str,
    id: LeaseId,
    place: &Place,
) -> Result<Option<(Lease, Subscription)>, StoreError> {
    let into_domain = LeaseWithSubscriptionRow::into_domain;
    read_lease::<DB, LeaseWithSubscriptionRow, _>(connection, sql, id, place, into_domain).await
}

/// Read the row of lease `id` with `sql` (`$1` the id) as an `R`.
async fn read_lease<DB: Db + Reads<R>, R, T>(
    connection: &mut DB::Connection,
    sql: &str,
    id: LeaseId,
    place: &Place,
    into_domain: fn(R) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let what = format!("reading lease {id}");
    let statement = DB::bind_text(query(sql), Some(id.to_string()));
    let row = DB::fetch_optional(statement, connection)
        .await
        .map_err(|e| place.error(&what, e))?;
    row.map(|row| into_domain(read_row::<R, DB>(&row).map_err(|e| place.error(&what, e))?))
        .transpose()
}

pub(crate) async fn daily_usage<B: Backend>(
    store: &B,
    usage_query: &UsageQuery,
) -> Result<Vec<DailyUsage>, StoreError> {
    let plan = DailyPlan::new(
        to_ms(usage_query.from),
        to_ms(usage_query.to),
        i64::from(usage_query.utc_offset_seconds) * 1000,
    );
    if plan.needs_daily_rollup() {
        ensure_daily_rollup(store, plan.offset_ms).await?;
    }
    let sql = match usage_query.subscription {
        Some(_) => &sql::DAILY_USAGE_OF_ONE,
        None => &sql::DAILY_USAGE,
    };
    let what = "reading usage";
    let statement = plan.bind(query(sql), usage_query.subscription);
    let rows = read_rows(store, statement, what).await?;
    let packed = match rows.first() {
        Some(row) => Columns::<B::Db>(row)
            .opt_text("packed")
            .map_err(|e| store.place().error(what, e))?,
        None => None,
    };
    merge_daily(packed.as_deref().unwrap_or(""))
}

/// Make sure the daily rollup keeps days of `offset_ms`: register the
/// offset and fill it from the records (once), dropping the oldest offsets
/// beyond [`DAILY_OFFSETS_KEPT`].
async fn ensure_daily_rollup<B: Backend>(store: &B, offset_ms: i64) -> Result<(), StoreError> {
    let what = format!("preparing daily usage for UTC offset {}s", offset_ms / 1000);
    let place = store.place();
    let by_offset = |sql| B::Db::bind_int(query(sql), Some(offset_ms));
    let known = read_rows(store, by_offset(sql::DAILY_OFFSET_KNOWN), &what).await?;
    if !known.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin_write(&what).await?;
    // No usage record may be written between the fill and the registration
    // becoming visible to the rollup trigger.
    store.lock_usage_records(&mut tx, &what).await?;
    let registered = B::Db::execute(by_offset(sql::REGISTER_DAILY_OFFSET), &mut tx)
        .await
        .map_err(|e| place.error(&what, e))?;
    if registered == 1 {
        B::Db::execute(by_offset(sql::FILL_DAILY), &mut tx)
            .await
            .map_err(|e| place.error(&what, e))?;
        let offsets = B::Db::fetch_all(query(sql::DAILY_OFFSETS_NEWEST_FIRST), &mut tx)
            .await
            .map_err(|e| place.error(&what, e))?;
        let offsets = offsets
            .iter()
            .map(|row| Columns::<B::Db>(row).int("utc_offset_ms"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| place.error(&what, e))?;
        for stale in offsets.into_iter().skip(DAILY_OFFSETS_KEPT) {
            for sql in [sql::DELETE_DAILY, sql::DELETE_DAILY_OFFSET] {
                let statement = B::Db::bind_int(query(sql), Some(stale));
                B::Db::execute(statement, &mut tx)
                    .await
                    .map_err(|e| place.error(&what, e))?;
            }
        }
    }
    tx.commit().await.map_err(|e| place.error(&what, e))
}

/// What a release changes, decided the same way on both backends: whether
/// the lease had expired, the outcome applied to the subscription's health,
/// and which optional parts of the release statement run (bit 0: the usage
/// record, bit 1: the health, bit 2: the transition event).
pub(crate) struct ReleasePlan {
    pub(crate) was_expired: bool,
    pub(crate) result: TransitionResult,
    pub(crate) parts: usize,
}

impl ReleasePlan {
    pub(crate) fn new(
        lease: &Lease,
        subscription: &Subscription,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
    ) -> Self {
        let result = kage_domain::apply_outcome(
            &subscription.health,
            &request.outcome,
            now,
            &request.policy,
        );
        let parts = usize::from(!request.usage.is_empty())
            | usize::from(result.health != subscription.health) << 1
            | usize::from(result.transition.is_some()) << 2;
        Self {
            was_expired: lease.expires_at <= now,
            result,
            parts,
        }
    }

    /// Whether the release changes the subscription's health.
    pub(crate) fn changes_health(&self) -> bool {
        self.parts & 2 != 0
    }

    /// Bind the parameters of a release statement (`$1..$26`), in the order
    /// both backends' release SQL numbers them: $1 lease, $2 now, $3..$5
    /// outcome, $6 subscription, $7..$13 usage, $14..$22 health, $23..$26
    /// transition.
    pub(crate) fn bind<'q, DB: Db>(
        &self,
        query: Query<'q, DB>,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
        subscription: &Subscription,
    ) -> Query<'q, DB> {
        let query = DB::bind_text(query, Some(request.lease_id.to_string()));
        let query = DB::bind_int(query, Some(to_ms(now)));
        let query = DB::bind_text(query, Some(request.outcome.label().to_owned()));
        let query = DB::bind_text(query, crate::codec::outcome_detail(&request.outcome));
        let query = DB::bind_int(query, Some(i64::from(self.was_expired)));
        let query = DB::bind_text(query, Some(subscription.id.to_string()));
        let query = UsageParams::new(&request.usage).bind(query);
        let query = HealthParams::new(&self.result.health).bind(query);
        let transition = self.result.transition.as_ref();
        let query = DB::bind_text(query, transition.map(|t| t.from.as_str().to_owned()));
        let query = DB::bind_text(query, transition.map(|t| t.to.as_str().to_owned()));
        let query = DB::bind_int(query, transition.and_then(|t| t.until).map(to_ms));
        DB::bind_text(query, transition.map(|t| t.reason.clone()))
    }
}

pub(crate) async fn record_quota_alerts<B: Backend>(
    store: &B,
    alerts: &[QuotaAlert],
) -> Result<Vec<QuotaAlert>, StoreError> {
    if alerts.is_empty() {
        return Ok(Vec::new());
    }
    let what = "recording quota alerts";
    let place = store.place();
    let mut tx = store.begin_write(what).await?;
    let mut recorded = Vec::new();
    for alert in alerts {
        let statement = B::Db::bind_text(
            query(sql::INSERT_QUOTA_ALERT),
            Some(alert.subscription_id.to_string()),
        );
        let statement = B::Db::bind_text(statement, Some(alert.window.clone()));
        let statement = B::Db::bind_int(statement, Some(to_ms(alert.period)));
        let statement = B::Db::bind_int(statement, Some(i64::from(alert.threshold_permille)));
        let statement = B::Db::bind_real(statement, Some(alert.utilization));
        let statement = B::Db::bind_int(statement, alert.resets_at.map(to_ms));
        let statement = B::Db::bind_int(statement, Some(to_ms(truncate(alert.at))));
        let inserted = B::Db::execute(statement, &mut tx)
            .await
            .map_err(|e| place.error(what, e))?;
        if inserted > 0 {
            let mut alert = alert.clone();
            alert.at = truncate(alert.at);
            recorded.push(alert);
        }
    }
    tx.commit().await.map_err(|e| place.error(what, e))?;
    Ok(recorded)
}

pub(crate) async fn record_usage<B: Backend>(
    store: &B,
    batch: &UsageBatch,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let what = "recording usage";
    let place = store.place();
    let mut tx = store.begin_write(what).await?;
    let subscription = batch.subscription_id.to_string();
    let stored = B::Db::fetch_optional(
        B::Db::bind_text(query(sql::SUBSCRIPTION_STORED), Some(subscription.clone())),
        &mut tx,
    )
    .await
    .map_err(|e| place.error(what, e))?;
    if stored.is_none() {
        return Err(StoreError::SubscriptionNotFound(batch.subscription_id));
    }
    let lease = batch.lease_id.map(|id| id.to_string());
    let mut recorded = 0;
    for record in &batch.records {
        let statement = B::Db::bind_text(query(sql::INSERT_KEYED_USAGE), Some(record.key.clone()));
        let statement = B::Db::bind_text(statement, lease.clone());
        let statement = B::Db::bind_text(statement, Some(subscription.clone()));
        let statement = B::Db::bind_int(statement, Some(to_ms(record.at)));
        let statement = UsageParams::new(&record.usage).bind(statement);
        recorded += B::Db::execute(statement, &mut tx)
            .await
            .map_err(|e| place.error(what, e))?;
    }
    let now = to_ms(now);
    for offset in &batch.offsets {
        let statement = B::Db::bind_text(
            query(sql::SAVE_TRANSCRIPT_OFFSET),
            Some(offset.path.clone()),
        );
        let statement = B::Db::bind_int(statement, Some(to_i64(offset.offset)));
        let statement = B::Db::bind_int(statement, Some(now));
        B::Db::execute(statement, &mut tx)
            .await
            .map_err(|e| place.error(what, e))?;
    }
    tx.commit().await.map_err(|e| place.error(what, e))?;
    Ok(recorded)
}

pub(crate) async fn read_offsets<B: Backend>(store: &B) -> Result<Vec<ReadOffset>, StoreError> {
    let what = "reading transcript offsets";
    let rows = read_rows(store, query(sql::TRANSCRIPT_OFFSETS), what).await?;
    decode::<B::Db, _, _>(
        &rows,
        read_row::<ReadOffsetRow, B::Db>,
        ReadOffsetRow::into_domain,
        store.place(),
        what,
    )
}

pub(crate) async fn quota_alerts<B: Backend>(
    store: &B,
    since: Timestamp,
) -> Result<Vec<QuotaAlert>, StoreError> {
    let what = "reading quota alerts";
    let statement = B::Db::bind_int(query(sql::QUOTA_ALERTS_SINCE), Some(to_ms(since)));
    let rows = read_rows(store, statement, what).await?;
    decode::<B::Db, _, _>(
        &rows,
        read_row::<QuotaAlertRow, B::Db>,
        QuotaAlertRow::into_domain,
        store.place(),
        what,
    )
}

pub(crate) async fn save_waiter<B: Backend>(
    store: &B,
    waiter: &Waiter,
    now: Timestamp,
) -> Result<(), StoreError> {
    let what = "saving a waiting acquire";
    let place = store.place();
    let mut tx = store.begin_write(what).await?;
    let expired = B::Db::bind_int(
        query(sql::DELETE_EXPIRED_WAITERS),
        Some(to_ms(truncate(now))),
    );
    B::Db::execute(expired, &mut tx)
        .await
        .map_err(|e| place.error(what, e))?;
    let statement = B::Db::bind_text(query(sql::SAVE_WAITER), Some(waiter.id.to_string()));
    let statement = B::Db::bind_text(statement, Some(waiter.holder.clone()));
    let statement = B::Db::bind_text(statement, Some(waiter.request.clone()));
    let statement = B::Db::bind_int(statement, Some(to_ms(truncate(waiter.since))));
    let statement = B::Db::bind_int(statement, Some(to_ms(truncate(waiter.until))));
    let statement = B::Db::bind_int(statement, waiter.deadline.map(|at| to_ms(truncate(at))));
    let statement = B::Db::bind_int(
        statement,
        waiter.earliest_recovery.map(|at| to_ms(truncate(at))),
    );
    let statement = B::Db::bind_text(
        statement,
        waiter.earliest_name.as_ref().map(ToString::to_string),
    );
    let statement = B::Db::bind_int(statement, Some(to_ms(truncate(waiter.expires_at))));
    B::Db::execute(statement, &mut tx)
        .await
        .map_err(|e| place.error(what, e))?;
    tx.commit().await.map_err(|e| place.error(what, e))?;
    Ok(())
}

pub(crate) async fn remove_waiter<B: Backend>(store: &B, id: LeaseId) -> Result<(), StoreError> {
    let what = "forgetting a waiting acquire";
    let statement = B::Db::bind_text(query(sql::DELETE_WAITER), Some(id.to_string()));
    write_one(store, statement, what, |e| store.place().error(what, e))
        .await
        .map(drop)
}

pub(crate) async fn waiters<B: Backend>(
    store: &B,
    now: Timestamp,
) -> Result<Vec<Waiter>, StoreError> {
    let what = "reading the waiting acquires";
    let statement = B::Db::bind_int(query(sql::WAITERS), Some(to_ms(truncate(now))));
    let rows = read_rows(store, statement, what).await?;
    decode::<B::Db, _, _>(
        &rows,
        read_row::<WaiterRow, B::Db>,
        WaiterRow::into_domain,
        store.place(),
        what,
    )
}
