//! The one implementation of [`kage_ports::SubscriptionStore`], written once
//! and instantiated for each backend by [`impl_subscription_store!`].
//!
//! Both backends run the same SQL (sqlx binds `$1`-style parameters on
//! SQLite too); what differs is passed in: how a write transaction begins
//! (`BEGIN IMMEDIATE` on SQLite, `BEGIN` on PostgreSQL), the row-locking
//! clauses (none on SQLite, whose write transactions are serial already),
//! and the two hot paths, acquire and release, which each backend writes for
//! itself in `sqlite.rs` and `postgres.rs`.
//!
//! A backend type provides these inherent methods:
//! - `fn place(&self) -> &Place` and `fn pool(&self) -> &sqlx::Pool<DB>`;
//! - `async fn begin_write(&self, what: &str) -> Result<Transaction<'static, DB>, StoreError>`;
//! - `async fn acquire_lease_impl` and `async fn release_lease_impl`: the
//!   two hot paths, which each backend writes for itself (SQLite batches
//!   statements; PostgreSQL locks capped subscriptions and uses
//!   data-modifying CTEs);
//! - `async fn lock_usage_records(&self, tx: &mut Transaction<'static, DB>, what: &str) -> Result<(), StoreError>`.

/// The columns of `subscriptions s`, in [`crate::codec::SubscriptionRow`]'s names.
macro_rules! subscription_columns {
    () => {
        "s.id, s.name, s.description, s.priority, s.tags, s.kind, s.credential_source, \
         s.credential_ref, s.max_concurrent, s.state, s.state_until, s.state_reason, \
         s.consecutive_errors, s.unhealthy_relapses, s.last_utilization, s.last_utilization_at, \
         s.last_limited_at, s.created_at, s.quota"
    };
}

/// The columns of `leases l JOIN subscriptions s`, in [`crate::codec::LeaseRow`]'s names.
macro_rules! lease_columns {
    () => {
        "l.id AS lease_id, l.subscription_id, s.name AS subscription_name, \
         s.kind AS subscription_kind, l.namespace, l.level, l.holder, l.acquired_at, \
         l.expires_at, l.released_at"
    };
}

/// The usage sums of `daily_usage`, over a table holding the token columns.
macro_rules! usage_sums {
    ($cost:literal, $costed:literal, $leases:literal) => {
        concat!(
            "CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, ",
            "CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, ",
            "CAST(SUM(cache_write_tokens) AS BIGINT) AS cache_write_tokens, ",
            "CAST(SUM(cache_read_tokens) AS BIGINT) AS cache_read_tokens, ",
            $cost,
            " AS cost_micros, ",
            $costed,
            " AS costed, ",
            $leases,
            " AS leases"
        )
    };
}

/// Whether the partial last day of a `daily_usage` range is read from its
/// daily row: it may (`$21` is 1) and no record lies in `[$19, $20)`, the
/// rest of that day.
macro_rules! tail_from_daily {
    () => {
        "($21 = 1 AND NOT EXISTS (SELECT 1 FROM usage_records WHERE at >= $19 AND at < $20))"
    };
}

/// `daily_usage`: whole local days from the daily rollup (`$1` the offset
/// in ms, `$2..$3` the day numbers), the whole hours of the partial days at
/// either end from the hourly rollup (`$4..$5`, `$6..$7`), and the partial
/// hours at the very ends from the raw records (`$8..$15`); `$16` is the
/// subscription when one is asked for.
///
/// When the partial last day may come from its daily row
/// ([`tail_from_daily!`]), the day numbers are `$17..$18` instead and the
/// last day's hours and records are left out. Every range is its own part
/// with plain bind values as bounds, and the choice is a separate condition
/// that does not name the table (evaluated once): range bounds computed by
/// an expression, or ranges joined by OR, let the planner (SQLite's STAT4
/// estimates in particular) fall back to scanning the whole table. The
/// parts may repeat a (subscription, day); the merge adds them up.
macro_rules! daily_usage_sql {
    ($filter:literal) => {
        $crate::store_impl::daily_usage_sql!(
            @parts $filter,
            concat!(" AND ", $crate::store_impl::tail_from_daily!()),
            concat!(" AND NOT ", $crate::store_impl::tail_from_daily!())
        )
    };
    (@parts $filter:literal, $tail:expr, $no_tail:expr) => {
        concat!(
            // One text value instead of thousands of rows: a row costs more
            // to carry than to compute.
            "SELECT string_agg(subscription_id || ' ' || day || ' ' || input_tokens || ' ' || ",
            "output_tokens || ' ' || cache_write_tokens || ' ' || cache_read_tokens || ' ' || ",
            "cost_micros || ' ' || costed || ' ' || leases, ',') FROM (",
            $crate::store_impl::daily_usage_sql!(@daily "$17", "$18", $filter, $tail),
            " UNION ALL ",
            $crate::store_impl::daily_usage_sql!(@daily "$2", "$3", $filter, $no_tail),
            " UNION ALL ",
            $crate::store_impl::daily_usage_sql!(@hourly "$4", "$5", $filter, ""),
            " UNION ALL ",
            $crate::store_impl::daily_usage_sql!(@hourly "$6", "$7", $filter, $no_tail),
            " UNION ALL ",
            $crate::store_impl::daily_usage_sql!(@raw "$8", "$9", $filter, ""),
            " UNION ALL ",
            $crate::store_impl::daily_usage_sql!(@raw "$10", "$11", $filter, ""),
            " UNION ALL ",
            $crate::store_impl::daily_usage_sql!(@raw "$12", "$13", $filter, $no_tail),
            " UNION ALL ",
            $crate::store_impl::daily_usage_sql!(@raw "$14", "$15", $filter, $no_tail),
            ") parts"
        )
    };
    (@daily $first:literal, $end:literal, $filter:literal, $when:expr) => {
        concat!(
            "SELECT subscription_id, day, input_tokens, output_tokens, cache_write_tokens, ",
            "cache_read_tokens, cost_micros, costed, leases FROM usage_daily ",
            "WHERE utc_offset_ms = $1 AND day >= ",
            $first,
            " AND day < ",
            $end,
            $filter,
            $when
        )
    };
    (@hourly $start:literal, $end:literal, $filter:literal, $when:expr) => {
        concat!(
            "SELECT subscription_id, (hour_start + $1) / 86400000 AS day, ",
            $crate::store_impl::usage_sums!(
                "CAST(SUM(cost_micros) AS BIGINT)",
                "CAST(SUM(costed) AS BIGINT)",
                "CAST(SUM(leases) AS BIGINT)"
            ),
            " FROM usage_hourly WHERE hour_start >= ",
            $start,
            " AND hour_start < ",
            $end,
            $filter,
            $when,
            " GROUP BY 1, 2"
        )
    };
    (@raw $start:literal, $end:literal, $filter:literal, $when:expr) => {
        concat!(
            "SELECT subscription_id, (at + $1) / 86400000 AS day, ",
            $crate::store_impl::usage_sums!(
                "CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT)",
                "CAST(COUNT(cost_micros) AS BIGINT)",
                "CAST(COUNT(*) AS BIGINT)"
            ),
            " FROM usage_records WHERE at >= ",
            $start,
            " AND at < ",
            $end,
            $filter,
            $when,
            " GROUP BY 1, 2"
        )
    };
}

/// Implement `SubscriptionStore` for `$store` over the sqlx database `$db`.
///
/// `$lock_lease` is appended to the select that reads a lease joined with
/// its subscription before changing them (`FOR UPDATE OF l FOR NO KEY
/// UPDATE OF s` on PostgreSQL); `$lock_subscription` to the select of a
/// subscription before changing its health.
macro_rules! impl_subscription_store {
    ($store:ty, $db:ty, $conn:ty, lock_lease = $lock_lease:literal, lock_subscription = $lock_subscription:literal $(,)?) => {
        const SNAPSHOT_SQL: &str = concat!(
            "SELECT ",
            $crate::store_impl::subscription_columns!(),
            ", (SELECT COUNT(*) FROM leases l WHERE l.subscription_id = s.id \
                 AND l.released_at IS NULL AND l.expires_at > $1) AS live_leases, \
               (SELECT MIN(l.expires_at) FROM leases l WHERE l.subscription_id = s.id \
                 AND l.released_at IS NULL AND l.expires_at > $1) AS earliest_lease_expiry, \
               (SELECT MAX(l.acquired_at) FROM leases l WHERE l.subscription_id = s.id) AS last_leased_at, \
               (SELECT CAST(COALESCE(SUM(r.total_tokens), 0) AS BIGINT) FROM usage_recent r \
                 WHERE r.subscription_id = s.id AND r.bucket_start > $2 - 10000 \
                 AND r.bucket_start < $1) AS window_tokens \
             FROM subscriptions s"
        );
        const LEASE_SQL: &str = concat!(
            "SELECT ",
            $crate::store_impl::lease_columns!(),
            " FROM leases l JOIN subscriptions s ON s.id = l.subscription_id WHERE l.id = $1"
        );
        const LEASE_FOR_CHANGE_SQL: &str = concat!(
            "SELECT ",
            $crate::store_impl::lease_columns!(),
            ", ",
            $crate::store_impl::subscription_columns!(),
            " FROM leases l JOIN subscriptions s ON s.id = l.subscription_id WHERE l.id = $1",
            $lock_lease
        );
        const SUBSCRIPTION_FOR_CHANGE_SQL: &str = concat!(
            "SELECT ",
            $crate::store_impl::subscription_columns!(),
            " FROM subscriptions s WHERE s.id = $1",
            $lock_subscription
        );
        const UPDATE_HEALTH_SQL: &str = "UPDATE subscriptions SET state = $2, state_until = $3, \
            state_reason = $4, consecutive_errors = $5, unhealthy_relapses = $6, \
            last_utilization = $7, last_utilization_at = $8, last_limited_at = $9, quota = $10 \
            WHERE id = $1";
        const INSERT_EVENT_SQL: &str = "INSERT INTO state_events \
            (subscription_id, at, from_state, to_state, until, reason, lease_id) \
            VALUES ($1, $2, $3, $4, $5, $6, $7)";

        impl $store {
            async fn read_snapshot<'e, E>(
                &self,
                executor: E,
                window: std::time::Duration,
                now: jiff::Timestamp,
            ) -> Result<kage_domain::PoolSnapshot, kage_ports::StoreError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                use crate::codec::{before, to_ms, SnapshotRow};
                let rows: Vec<SnapshotRow> = sqlx::query_as(SNAPSHOT_SQL)
                    .bind(to_ms(now))
                    .bind(to_ms(before(now, window)))
                    .fetch_all(executor)
                    .await
                    .map_err(|e| self.place().error("reading the pool", e))?;
                crate::lease::snapshot_from_rows(rows)
            }

            async fn fetch_lease(
                &self,
                connection: &mut $conn,
                id: kage_domain::LeaseId,
            ) -> Result<Option<kage_ports::Lease>, kage_ports::StoreError> {
                let row: Option<crate::codec::LeaseRow> = sqlx::query_as(LEASE_SQL)
                    .bind(id.to_string())
                    .fetch_optional(connection)
                    .await
                    .map_err(|e| self.place().error(&format!("reading lease {id}"), e))?;
                row.map(crate::codec::LeaseRow::into_domain).transpose()
            }

            async fn fetch_lease_for_change(
                &self,
                connection: &mut $conn,
                id: kage_domain::LeaseId,
            ) -> Result<Option<(kage_ports::Lease, kage_domain::Subscription)>, kage_ports::StoreError>
            {
                let row: Option<crate::codec::LeaseWithSubscriptionRow> =
                    sqlx::query_as(LEASE_FOR_CHANGE_SQL)
                        .bind(id.to_string())
                        .fetch_optional(connection)
                        .await
                        .map_err(|e| self.place().error(&format!("reading lease {id}"), e))?;
                row.map(|row| Ok((row.lease.into_domain()?, row.subscription.into_domain()?)))
                    .transpose()
            }

            async fn fetch_subscription_for_change(
                &self,
                connection: &mut $conn,
                id: kage_domain::SubscriptionId,
            ) -> Result<kage_domain::Subscription, kage_ports::StoreError> {
                let row: Option<crate::codec::SubscriptionRow> =
                    sqlx::query_as(SUBSCRIPTION_FOR_CHANGE_SQL)
                        .bind(id.to_string())
                        .fetch_optional(connection)
                        .await
                        .map_err(|e| self.place().error(&format!("reading subscription {id}"), e))?;
                match row {
                    Some(row) => row.into_domain(),
                    None => Err(kage_ports::StoreError::SubscriptionNotFound(id)),
                }
            }

            /// Store a health change and its transition event, if any.
            async fn store_health_change(
                &self,
                connection: &mut $conn,
                subscription: &kage_domain::Subscription,
                result: &kage_domain::TransitionResult,
                lease_id: Option<kage_domain::LeaseId>,
            ) -> Result<(), kage_ports::StoreError> {
                use crate::codec::{to_ms, HealthParams};
                let id = subscription.id;
                if result.health != subscription.health {
                    let health = HealthParams::new(&result.health);
                    sqlx::query(UPDATE_HEALTH_SQL)
                        .bind(id.to_string())
                        .bind(health.state)
                        .bind(health.until)
                        .bind(health.reason)
                        .bind(health.consecutive_errors)
                        .bind(health.unhealthy_relapses)
                        .bind(health.last_utilization)
                        .bind(health.last_utilization_at)
                        .bind(health.last_limited_at)
                        .bind(health.quota)
                        .execute(&mut *connection)
                        .await
                        .map_err(|e| {
                            self.place().error(&format!("updating the health of {}", subscription.name), e)
                        })?;
                }
                if let Some(transition) = &result.transition {
                    sqlx::query(INSERT_EVENT_SQL)
                        .bind(id.to_string())
                        .bind(to_ms(transition.at))
                        .bind(transition.from.as_str())
                        .bind(transition.to.as_str())
                        .bind(transition.until.map(to_ms))
                        .bind(transition.reason.as_str())
                        .bind(lease_id.map(|lease_id| lease_id.to_string()))
                        .execute(&mut *connection)
                        .await
                        .map_err(|e| {
                            self.place()
                                .error(&format!("recording a transition of {}", subscription.name), e)
                        })?;
                }
                Ok(())
            }

            /// Make sure the daily rollup keeps days of `offset_ms`: register
            /// the offset and fill it from the records (once), dropping the
            /// oldest offsets beyond [`crate::usage::DAILY_OFFSETS_KEPT`].
            async fn ensure_daily_rollup(&self, offset_ms: i64) -> Result<(), kage_ports::StoreError> {
                let what = format!("preparing daily usage for UTC offset {}s", offset_ms / 1000);
                let known: Option<i64> =
                    sqlx::query_scalar("SELECT utc_offset_ms FROM usage_daily_offsets WHERE utc_offset_ms = $1")
                        .bind(offset_ms)
                        .fetch_optional(self.pool())
                        .await
                        .map_err(|e| self.place().error(&what, e))?;
                if known.is_some() {
                    return Ok(());
                }
                let mut tx = self.begin_write(&what).await?;
                // No usage record may be written between the fill and the
                // registration becoming visible to the rollup trigger.
                self.lock_usage_records(&mut tx, &what).await?;
                let registered = sqlx::query(
                    "INSERT INTO usage_daily_offsets (utc_offset_ms, registered) \
                     SELECT $1, COALESCE(MAX(registered), 0) + 1 FROM usage_daily_offsets WHERE TRUE \
                     ON CONFLICT (utc_offset_ms) DO NOTHING",
                )
                .bind(offset_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.place().error(&what, e))?;
                if registered.rows_affected() == 1 {
                    sqlx::query(
                        "INSERT INTO usage_daily (utc_offset_ms, day, subscription_id, input_tokens, \
                         output_tokens, cache_write_tokens, cache_read_tokens, total_tokens, \
                         cost_micros, costed, leases) \
                         SELECT $1, (at + $1) / 86400000, subscription_id, SUM(input_tokens), \
                         SUM(output_tokens), SUM(cache_write_tokens), SUM(cache_read_tokens), \
                         SUM(total_tokens), COALESCE(SUM(cost_micros), 0), COUNT(cost_micros), COUNT(*) \
                         FROM usage_records GROUP BY 2, 3",
                    )
                    .bind(offset_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.place().error(&what, e))?;
                    let offsets: Vec<i64> = sqlx::query_scalar(
                        "SELECT utc_offset_ms FROM usage_daily_offsets ORDER BY registered DESC",
                    )
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(|e| self.place().error(&what, e))?;
                    for stale in offsets.into_iter().skip(crate::usage::DAILY_OFFSETS_KEPT) {
                        for sql in [
                            "DELETE FROM usage_daily WHERE utc_offset_ms = $1",
                            "DELETE FROM usage_daily_offsets WHERE utc_offset_ms = $1",
                        ] {
                            sqlx::query(sql)
                                .bind(stale)
                                .execute(&mut *tx)
                                .await
                                .map_err(|e| self.place().error(&what, e))?;
                        }
                    }
                }
                tx.commit().await.map_err(|e| self.place().error(&what, e))
            }

            /// Apply `change` to a subscription's health in one transaction.
            async fn change_health(
                &self,
                id: kage_domain::SubscriptionId,
                what: &str,
                lease_id: Option<kage_domain::LeaseId>,
                change: impl FnOnce(&kage_domain::Health) -> kage_domain::TransitionResult + Send,
            ) -> Result<kage_domain::TransitionResult, kage_ports::StoreError> {
                let mut tx = self.begin_write(what).await?;
                let subscription = self.fetch_subscription_for_change(&mut tx, id).await?;
                let result = change(&subscription.health);
                self.store_health_change(&mut tx, &subscription, &result, lease_id).await?;
                tx.commit().await.map_err(|e| self.place().error(what, e))?;
                Ok(result)
            }
        }

        #[async_trait::async_trait]
        impl kage_ports::SubscriptionStore for $store {
            async fn insert_subscription(
                &self,
                subscription: &kage_domain::Subscription,
            ) -> Result<(), kage_ports::StoreError> {
                use crate::codec::{HealthParams, SettingsParams};
                let settings = SettingsParams::new(subscription)?;
                let health = HealthParams::new(&subscription.health);
                let what = format!("adding subscription {}", subscription.name);
                let mut tx = self.begin_write(&what).await?;
                let inserted = sqlx::query(
                    "INSERT INTO subscriptions (id, name, description, priority, tags, kind, \
                     credential_source, credential_ref, max_concurrent, created_at, state, \
                     state_until, state_reason, consecutive_errors, unhealthy_relapses, \
                     last_utilization, last_utilization_at, last_limited_at, quota) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
                )
                .bind(settings.id)
                .bind(settings.name)
                .bind(settings.description)
                .bind(settings.priority)
                .bind(settings.tags)
                .bind(settings.kind)
                .bind(settings.credential_source)
                .bind(settings.credential_ref)
                .bind(settings.max_concurrent)
                .bind(settings.created_at)
                .bind(health.state)
                .bind(health.until)
                .bind(health.reason)
                .bind(health.consecutive_errors)
                .bind(health.unhealthy_relapses)
                .bind(health.last_utilization)
                .bind(health.last_utilization_at)
                .bind(health.last_limited_at)
                .bind(health.quota)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Err(e) if crate::error::is_unique_violation_on(&e, "name") => {
                        return Err(kage_ports::StoreError::NameTaken(subscription.name.clone()));
                    }
                    Err(e) => return Err(self.place().error(&what, e)),
                    Ok(_) => {}
                }
                tx.commit().await.map_err(|e| self.place().error(&what, e))
            }

            async fn update_subscription(
                &self,
                subscription: &kage_domain::Subscription,
            ) -> Result<(), kage_ports::StoreError> {
                let settings = crate::codec::SettingsParams::new(subscription)?;
                let what = format!("saving subscription {}", subscription.name);
                let mut tx = self.begin_write(&what).await?;
                let updated = sqlx::query(
                    "UPDATE subscriptions SET name = $2, description = $3, priority = $4, tags = $5, \
                     kind = $6, credential_source = $7, credential_ref = $8, max_concurrent = $9 \
                     WHERE id = $1",
                )
                .bind(settings.id)
                .bind(settings.name)
                .bind(settings.description)
                .bind(settings.priority)
                .bind(settings.tags)
                .bind(settings.kind)
                .bind(settings.credential_source)
                .bind(settings.credential_ref)
                .bind(settings.max_concurrent)
                .execute(&mut *tx)
                .await;
                match updated {
                    Err(e) if crate::error::is_unique_violation_on(&e, "name") => {
                        Err(kage_ports::StoreError::NameTaken(subscription.name.clone()))
                    }
                    Err(e) => Err(self.place().error(&what, e)),
                    Ok(done) if done.rows_affected() == 0 => {
                        Err(kage_ports::StoreError::SubscriptionNotFound(subscription.id))
                    }
                    Ok(_) => tx.commit().await.map_err(|e| self.place().error(&what, e)),
                }
            }

            async fn delete_subscription(
                &self,
                id: kage_domain::SubscriptionId,
            ) -> Result<(), kage_ports::StoreError> {
                let what = format!("deleting subscription {id}");
                let mut tx = self.begin_write(&what).await?;
                let deleted = sqlx::query("DELETE FROM subscriptions WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.place().error(&what, e))?;
                if deleted.rows_affected() == 0 {
                    return Err(kage_ports::StoreError::SubscriptionNotFound(id));
                }
                tx.commit().await.map_err(|e| self.place().error(&what, e))
            }

            async fn list_subscriptions(
                &self,
            ) -> Result<Vec<kage_domain::Subscription>, kage_ports::StoreError> {
                let rows: Vec<crate::codec::SubscriptionRow> =
                    sqlx::query_as(concat!("SELECT ", $crate::store_impl::subscription_columns!(), " FROM subscriptions s"))
                        .fetch_all(self.pool())
                        .await
                        .map_err(|e| self.place().error("listing subscriptions", e))?;
                let mut subscriptions = rows
                    .into_iter()
                    .map(crate::codec::SubscriptionRow::into_domain)
                    .collect::<Result<Vec<_>, _>>()?;
                subscriptions.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(subscriptions)
            }

            async fn subscription_by_name(
                &self,
                name: &kage_domain::SubscriptionName,
            ) -> Result<Option<kage_domain::Subscription>, kage_ports::StoreError> {
                let row: Option<crate::codec::SubscriptionRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store_impl::subscription_columns!(),
                    " FROM subscriptions s WHERE s.name = $1"
                ))
                .bind(name.as_str())
                .fetch_optional(self.pool())
                .await
                .map_err(|e| self.place().error(&format!("reading subscription {name}"), e))?;
                row.map(crate::codec::SubscriptionRow::into_domain).transpose()
            }

            async fn record_outcome(
                &self,
                id: kage_domain::SubscriptionId,
                outcome: &kage_domain::Outcome,
                lease_id: Option<kage_domain::LeaseId>,
                policy: &kage_domain::StatePolicy,
                now: jiff::Timestamp,
            ) -> Result<kage_domain::TransitionResult, kage_ports::StoreError> {
                let now = crate::codec::truncate(now);
                let what = format!("recording an outcome of subscription {id}");
                self.change_health(id, &what, lease_id, |health| {
                    kage_domain::apply_outcome(health, outcome, now, policy)
                })
                .await
            }

            async fn set_disabled(
                &self,
                id: kage_domain::SubscriptionId,
                disabled: Option<String>,
                now: jiff::Timestamp,
            ) -> Result<kage_domain::TransitionResult, kage_ports::StoreError> {
                let now = crate::codec::truncate(now);
                let what = match disabled {
                    Some(_) => format!("disabling subscription {id}"),
                    None => format!("enabling subscription {id}"),
                };
                self.change_health(id, &what, None, |health| match &disabled {
                    Some(reason) => kage_domain::disable(health, reason, now),
                    None => kage_domain::enable(health, now),
                })
                .await
            }

            async fn transitions(
                &self,
                id: kage_domain::SubscriptionId,
                limit: u32,
            ) -> Result<Vec<kage_ports::RecordedTransition>, kage_ports::StoreError> {
                let rows: Vec<crate::codec::EventRow> = sqlx::query_as(
                    "SELECT subscription_id, at, from_state, to_state, until, reason, lease_id \
                     FROM state_events WHERE subscription_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
                )
                .bind(id.to_string())
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.place().error(&format!("reading the transitions of {id}"), e))?;
                rows.into_iter().map(crate::codec::EventRow::into_domain).collect()
            }

            async fn transition_counts(
                &self,
            ) -> Result<
                Vec<(kage_domain::SubscriptionId, kage_domain::StateKind, u64)>,
                kage_ports::StoreError,
            > {
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    "SELECT subscription_id, to_state, CAST(COUNT(*) AS BIGINT) FROM state_events \
                     GROUP BY subscription_id, to_state",
                )
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.place().error("counting transitions", e))?;
                let mut counts = rows
                    .into_iter()
                    .map(|(id, state, count)| {
                        Ok((
                            crate::codec::parse_subscription_id(&id)?,
                            crate::codec::parse_state(&state)?,
                            crate::codec::to_u64(count),
                        ))
                    })
                    .collect::<Result<Vec<_>, kage_ports::StoreError>>()?;
                counts.sort();
                Ok(counts)
            }

            async fn save_route(
                &self,
                target: &kage_domain::RouteTarget,
                entries: &[kage_domain::RouteEntry],
            ) -> Result<(), kage_ports::StoreError> {
                let (kind, value) = crate::codec::route_key(target);
                let what = format!("saving the route for {target}");
                let mut tx = self.begin_write(&what).await?;
                sqlx::query(
                    "INSERT INTO routes (target_kind, target, entries) VALUES ($1, $2, $3) \
                     ON CONFLICT (target_kind, target) DO UPDATE SET entries = excluded.entries",
                )
                .bind(kind)
                .bind(value)
                .bind(crate::codec::join_route_entries(entries))
                .execute(&mut *tx)
                .await
                .map_err(|e| self.place().error(&what, e))?;
                tx.commit().await.map_err(|e| self.place().error(&what, e))
            }

            async fn delete_route(
                &self,
                target: &kage_domain::RouteTarget,
            ) -> Result<bool, kage_ports::StoreError> {
                let (kind, value) = crate::codec::route_key(target);
                let what = format!("deleting the route for {target}");
                let mut tx = self.begin_write(&what).await?;
                let deleted = sqlx::query("DELETE FROM routes WHERE target_kind = $1 AND target = $2")
                    .bind(kind)
                    .bind(value)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.place().error(&what, e))?;
                tx.commit().await.map_err(|e| self.place().error(&what, e))?;
                Ok(deleted.rows_affected() > 0)
            }

            async fn load_routes(&self) -> Result<kage_domain::RoutingRules, kage_ports::StoreError> {
                let rows: Vec<(String, String, String)> =
                    sqlx::query_as("SELECT target_kind, target, entries FROM routes")
                        .fetch_all(self.pool())
                        .await
                        .map_err(|e| self.place().error("reading the routes", e))?;
                let mut rules = kage_domain::RoutingRules::new();
                for (kind, value, entries) in rows {
                    let (target, entries) = crate::codec::parse_route(&kind, &value, &entries)?;
                    rules.set(target, entries);
                }
                Ok(rules)
            }

            async fn acquire_lease(
                &self,
                request: &kage_ports::AcquireLeaseRequest,
                now: jiff::Timestamp,
            ) -> Result<kage_ports::AcquireOutcome, kage_ports::StoreError> {
                self.acquire_lease_impl(request, now).await
            }

            async fn release_lease(
                &self,
                request: &kage_ports::ReleaseLeaseRequest,
                now: jiff::Timestamp,
            ) -> Result<kage_ports::ReleaseReport, kage_ports::LeaseError> {
                self.release_lease_impl(request, now).await
            }

            async fn heartbeat_lease(
                &self,
                id: kage_domain::LeaseId,
                ttl: std::time::Duration,
                now: jiff::Timestamp,
            ) -> Result<kage_ports::Lease, kage_ports::LeaseError> {
                use crate::codec::{after, to_ms};
                let now = crate::codec::truncate(now);
                let what = format!("renewing lease {id}");
                let mut tx = self.begin_write(&what).await?;
                let Some((mut lease, _)) = self.fetch_lease_for_change(&mut tx, id).await? else {
                    return Err(kage_ports::LeaseError::NotFound(id));
                };
                if lease.released_at.is_some() {
                    return Err(kage_ports::LeaseError::AlreadyReleased(id));
                }
                if lease.expires_at <= now {
                    return Err(kage_ports::LeaseError::Expired { id, expired_at: lease.expires_at });
                }
                lease.expires_at = after(now, ttl);
                sqlx::query("UPDATE leases SET expires_at = $2 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(to_ms(lease.expires_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.place().error(&what, e))?;
                tx.commit().await.map_err(|e| self.place().error(&what, e))?;
                Ok(lease)
            }

            async fn live_leases(
                &self,
                now: jiff::Timestamp,
            ) -> Result<Vec<kage_ports::Lease>, kage_ports::StoreError> {
                let rows: Vec<crate::codec::LeaseRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store_impl::lease_columns!(),
                    " FROM leases l JOIN subscriptions s ON s.id = l.subscription_id \
                     WHERE l.released_at IS NULL AND l.expires_at > $1 \
                     ORDER BY l.acquired_at, l.id"
                ))
                .bind(crate::codec::to_ms(crate::codec::truncate(now)))
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.place().error("listing live leases", e))?;
                rows.into_iter().map(crate::codec::LeaseRow::into_domain).collect()
            }

            async fn pool_snapshot(
                &self,
                window: std::time::Duration,
                now: jiff::Timestamp,
            ) -> Result<kage_domain::PoolSnapshot, kage_ports::StoreError> {
                self.read_snapshot(self.pool(), window, crate::codec::truncate(now)).await
            }

            async fn daily_usage(
                &self,
                query: &kage_ports::UsageQuery,
            ) -> Result<Vec<kage_ports::DailyUsage>, kage_ports::StoreError> {
                use crate::codec::to_ms;
                let plan = crate::usage::DailyPlan::new(
                    to_ms(query.from),
                    to_ms(query.to),
                    i64::from(query.utc_offset_seconds) * 1000,
                );
                if plan.needs_daily_rollup() {
                    self.ensure_daily_rollup(plan.offset_ms).await?;
                }
                let sql = match query.subscription {
                    Some(_) => $crate::store_impl::daily_usage_sql!(" AND subscription_id = $16"),
                    None => $crate::store_impl::daily_usage_sql!(""),
                };
                let mut statement = sqlx::query_scalar::<_, Option<String>>(sql)
                    .bind(plan.offset_ms)
                    .bind(plan.days.0)
                    .bind(plan.days.1);
                for (start, end) in plan.hours.into_iter().chain(plan.raw) {
                    statement = statement.bind(start).bind(end);
                }
                // `$16` is bound in both cases, so that `$17..$21` keep
                // their numbers.
                statement = statement.bind(query.subscription.map(|id| id.to_string()));
                let (tail_days, tail_to, tail_end) = match plan.tail_day {
                    Some((day, to, end)) => {
                        let first = if plan.days.0 < plan.days.1 { plan.days.0 } else { day };
                        ((first, day + 1), to, end)
                    }
                    None => (plan.days, 0, 0),
                };
                statement = statement
                    .bind(tail_days.0)
                    .bind(tail_days.1)
                    .bind(tail_to)
                    .bind(tail_end)
                    .bind(i64::from(plan.tail_day.is_some()));
                let packed = statement
                    .fetch_one(self.pool())
                    .await
                    .map_err(|e| self.place().error("reading usage", e))?;
                crate::usage::merge_daily(packed.as_deref().unwrap_or(""))
            }
        }
    };
}

/// What a release changes, decided the same way on both backends: whether
/// the lease had expired, the outcome applied to the subscription's health,
/// and which optional parts of the release statement run (bit 0: the usage
/// record, bit 1: the health, bit 2: the transition event).
pub(crate) struct ReleasePlan {
    pub(crate) was_expired: bool,
    pub(crate) result: kage_domain::TransitionResult,
    pub(crate) parts: usize,
}

impl ReleasePlan {
    pub(crate) fn new(
        lease: &kage_ports::Lease,
        subscription: &kage_domain::Subscription,
        request: &kage_ports::ReleaseLeaseRequest,
        now: jiff::Timestamp,
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
}

/// One value bound to a statement, typed even when NULL (PostgreSQL takes a
/// parameter's type from what is bound).
pub(crate) enum SqlValue {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
}

impl ReleasePlan {
    /// The parameters of a release statement (`$1..$26`), in the order both
    /// backends' release SQL numbers them: $1 lease, $2 now, $3..$5 outcome,
    /// $6 subscription, $7..$13 usage, $14..$22 health, $23..$26 transition.
    pub(crate) fn values(
        &self,
        request: &kage_ports::ReleaseLeaseRequest,
        now: jiff::Timestamp,
        subscription: &kage_domain::Subscription,
    ) -> Vec<SqlValue> {
        use crate::codec::to_ms;
        use SqlValue::{Int, Real, Text};
        let usage = crate::codec::UsageParams::new(&request.usage);
        let health = crate::codec::HealthParams::new(&self.result.health);
        let transition = self.result.transition.as_ref();
        vec![
            Text(Some(request.lease_id.to_string())),
            Int(Some(to_ms(now))),
            Text(Some(request.outcome.label().to_owned())),
            Text(crate::codec::outcome_detail(&request.outcome)),
            Int(Some(i64::from(self.was_expired))),
            Text(Some(subscription.id.to_string())),
            Int(Some(usage.input_tokens)),
            Int(Some(usage.output_tokens)),
            Int(Some(usage.cache_write_tokens)),
            Int(Some(usage.cache_read_tokens)),
            Int(Some(usage.total_tokens)),
            Int(usage.cost_micros),
            Text(usage.model),
            Text(Some(health.state.to_owned())),
            Int(health.until),
            Text(health.reason),
            Int(Some(health.consecutive_errors)),
            Int(Some(health.unhealthy_relapses)),
            Real(health.last_utilization),
            Int(health.last_utilization_at),
            Int(health.last_limited_at),
            Text(health.quota),
            Text(transition.map(|t| t.from.as_str().to_owned())),
            Text(transition.map(|t| t.to.as_str().to_owned())),
            Int(transition.and_then(|t| t.until).map(to_ms)),
            Text(transition.map(|t| t.reason.clone())),
        ]
    }
}

/// Bind `$values` (a slice of [`SqlValue`]) to a sqlx query, in order.
macro_rules! bind_values {
    ($query:expr, $values:expr) => {{
        let mut query = $query;
        for value in $values {
            query = match value {
                $crate::store_impl::SqlValue::Int(value) => query.bind(*value),
                $crate::store_impl::SqlValue::Real(value) => query.bind(*value),
                $crate::store_impl::SqlValue::Text(value) => query.bind(value.as_deref()),
            };
        }
        query
    }};
}

pub(crate) use {
    bind_values, daily_usage_sql, impl_subscription_store, lease_columns, subscription_columns,
    tail_from_daily, usage_sums,
};
