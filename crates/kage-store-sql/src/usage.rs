//! Daily usage: which rollup answers which part of a range, and merging
//! the parts into one line per subscription and local day.
//!
//! A range `[from, to)` in a zone offset is cut into whole local days (read
//! from `usage_daily`, one row per subscription and day), the whole UTC hours
//! of the partial days at either end (`usage_hourly`), and the partial hours
//! at the very ends (the raw `usage_records`). Every part is exact, for any
//! offset, including those that are not whole hours; a month is about 30 rows
//! per subscription, "today" at most 24.

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use kage_domain::SubscriptionId;

use kage_domain::Usage;
use kage_ports::{DailyUsage, StoreError};

use crate::codec::{HOUR_MS, day_to_date, parse_subscription_id, to_u64};
use crate::db::{Db, Query};

const DAY_MS: i64 = 86_400_000;

/// How many zone offsets the daily rollup keeps (a zone with daylight saving
/// time uses two).
pub(crate) const DAILY_OFFSETS_KEPT: usize = 4;

/// The parts of one `daily_usage` range, as bind values (empty ranges are
/// `(0, 0)`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DailyPlan {
    pub(crate) offset_ms: i64,
    /// Day numbers `[first, end)` read from the daily rollup.
    pub(crate) days: (i64, i64),
    /// Two hour ranges `[start, end)` read from the hourly rollup.
    pub(crate) hours: [(i64, i64); 2],
    /// Four time ranges `[start, end)` read from the raw records.
    pub(crate) raw: [(i64, i64); 4],
    /// A partial last day `[its start, to)` that may be read from the daily
    /// rollup instead, if no record lies in `[to, its end)` (the usual case:
    /// `to` is now): `(day number, to, day end)`.
    pub(crate) tail_day: Option<(i64, i64, i64)>,
}

impl DailyPlan {
    pub(crate) fn new(from: i64, to: i64, offset_ms: i64) -> Self {
        let day_floor = |at: i64| (at + offset_ms).div_euclid(DAY_MS) * DAY_MS - offset_ms;
        let day_ceil = |at: i64| {
            let floor = day_floor(at);
            if floor == at { at } else { floor + DAY_MS }
        };
        let (first_day, last_day) = (day_ceil(from), day_floor(to));
        let days = if from < to && first_day < last_day {
            (
                (first_day + offset_ms) / DAY_MS,
                (last_day + offset_ms) / DAY_MS,
            )
        } else {
            (0, 0)
        };
        let head = (from, first_day.min(to));
        let tail = (last_day.max(first_day).max(from), to);
        let (head_hours, head_raw) = split_hours(head);
        let (tail_hours, tail_raw) = split_hours(tail);
        let tail_day = (tail.0 < tail.1 && tail.0 == last_day)
            .then(|| ((last_day + offset_ms) / DAY_MS, to, last_day + DAY_MS));
        Self {
            offset_ms,
            days,
            hours: [head_hours, tail_hours],
            raw: [head_raw[0], head_raw[1], tail_raw[0], tail_raw[1]],
            tail_day,
        }
    }

    pub(crate) fn needs_daily_rollup(&self) -> bool {
        self.days.0 < self.days.1 || self.tail_day.is_some()
    }

    /// Bind the 21 parameters of [`crate::sql::DAILY_USAGE`]: `$1` the
    /// offset, `$2..$3` the days, `$4..$7` the hours, `$8..$15` the raw
    /// ranges, `$16` the subscription (bound either way, so that the
    /// numbers after it stay), `$17..$21` the partial last day read from its
    /// daily row.
    pub(crate) fn bind<'q, DB: Db>(
        &self,
        query: Query<'q, DB>,
        subscription: Option<SubscriptionId>,
    ) -> Query<'q, DB> {
        let mut query = DB::bind_int(query, Some(self.offset_ms));
        let ranges = std::iter::once(self.days).chain(self.hours).chain(self.raw);
        for (start, end) in ranges {
            query = DB::bind_int(DB::bind_int(query, Some(start)), Some(end));
        }
        query = DB::bind_text(query, subscription.map(|id| id.to_string()));
        let (tail_days, tail_to, tail_end) = match self.tail_day {
            Some((day, to, end)) => {
                let first = if self.days.0 < self.days.1 {
                    self.days.0
                } else {
                    day
                };
                ((first, day + 1), to, end)
            }
            None => (self.days, 0, 0),
        };
        [
            tail_days.0,
            tail_days.1,
            tail_to,
            tail_end,
            i64::from(self.tail_day.is_some()),
        ]
        .into_iter()
        .fold(query, |query, value| DB::bind_int(query, Some(value)))
    }
}

/// Cut `[start, end)` into whole hours and the partial hours at either end.
fn split_hours((start, end): (i64, i64)) -> ((i64, i64), [(i64, i64); 2]) {
    if start >= end {
        return ((0, 0), [(0, 0), (0, 0)]);
    }
    let hour_ceil = start.div_euclid(HOUR_MS) * HOUR_MS
        + if start.rem_euclid(HOUR_MS) == 0 {
            0
        } else {
            HOUR_MS
        };
    let hour_floor = end.div_euclid(HOUR_MS) * HOUR_MS;
    if hour_ceil >= hour_floor {
        return ((0, 0), [(start, end), (0, 0)]);
    }
    let nonempty = |(start, end): (i64, i64)| if start < end { (start, end) } else { (0, 0) };
    (
        (hour_ceil, hour_floor),
        [nonempty((start, hour_ceil)), nonempty((hour_floor, end))],
    )
}

#[derive(Default)]
struct Sums {
    input_tokens: i64,
    output_tokens: i64,
    cache_write_tokens: i64,
    cache_read_tokens: i64,
    cost_micros: i64,
    costed: i64,
    leases: i64,
}

/// One line per (day, subscription), by day then subscription id, from the
/// packed parts: `SUBSCRIPTION DAY INPUT OUTPUT CACHE_WRITE CACHE_READ COST
/// COSTED LEASES`, comma-separated (a (day, subscription) may come in several
/// parts: whole days, hours, raw records).
pub(crate) fn merge_daily(packed: &str) -> Result<Vec<DailyUsage>, StoreError> {
    let mut days: BTreeMap<(i64, &str), Sums> = BTreeMap::new();
    for part in packed.split(',').filter(|part| !part.is_empty()) {
        let mut fields = part.split(' ');
        let subscription = fields.next().unwrap_or_default();
        let mut number = || -> Result<i64, StoreError> {
            let text = fields.next().unwrap_or_default();
            text.parse().map_err(|_| {
                StoreError::Unknown(anyhow::anyhow!(
                    "the database returned usage that cannot be read: {part:?}"
                ))
            })
        };
        let day = number()?;
        let sums = days.entry((day, subscription)).or_default();
        sums.input_tokens += number()?;
        sums.output_tokens += number()?;
        sums.cache_write_tokens += number()?;
        sums.cache_read_tokens += number()?;
        sums.cost_micros += number()?;
        sums.costed += number()?;
        sums.leases += number()?;
    }
    let mut dates: HashMap<i64, Date> = HashMap::new();
    let mut ids: HashMap<&str, SubscriptionId> = HashMap::new();
    days.into_iter()
        .map(|((day, subscription), sums)| {
            let day = match dates.get(&day) {
                Some(date) => *date,
                None => *dates.entry(day).or_insert(day_to_date(day)?),
            };
            let subscription_id = match ids.get(subscription) {
                Some(id) => *id,
                None => *ids
                    .entry(subscription)
                    .or_insert(parse_subscription_id(subscription)?),
            };
            Ok(DailyUsage {
                subscription_id,
                day,
                usage: Usage {
                    input_tokens: to_u64(sums.input_tokens),
                    output_tokens: to_u64(sums.output_tokens),
                    cache_write_tokens: to_u64(sums.cache_write_tokens),
                    cache_read_tokens: to_u64(sums.cache_read_tokens),
                    cost_micros_usd: (sums.costed > 0).then(|| to_u64(sums.cost_micros)),
                    model: None,
                },
                leases: to_u64(sums.leases),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_MS;

    #[test]
    fn a_month_is_whole_days_plus_edges() {
        // From local midnight (UTC+2) 30 days ago to 10:30 local today.
        let offset = 2 * H;
        let from = 100 * DAY_MS - offset;
        let to = 130 * DAY_MS - offset + 10 * H + H / 2;
        let plan = DailyPlan::new(from, to, offset);
        assert_eq!(plan.days, (100, 130));
        assert_eq!(
            plan.hours,
            [
                (0, 0),
                (130 * DAY_MS - offset, 130 * DAY_MS - offset + 10 * H)
            ]
        );
        assert_eq!(
            plan.raw,
            [(0, 0), (0, 0), (0, 0), (130 * DAY_MS - offset + 10 * H, to)]
        );
    }

    #[test]
    fn today_is_read_by_the_hour_or_from_the_daily_row() {
        let from = 200 * DAY_MS;
        let to = from + 5 * H;
        let plan = DailyPlan::new(from, to, 0);
        assert_eq!(plan.days, (0, 0));
        assert_eq!(plan.hours, [(0, 0), (from, to)]);
        assert_eq!(plan.raw, [(0, 0), (0, 0), (0, 0), (0, 0)]);
        // ...unless the daily row of today can stand for it.
        assert_eq!(plan.tail_day, Some((200, to, from + DAY_MS)));
        assert!(plan.needs_daily_rollup());
    }

    #[test]
    fn half_hour_offsets_cut_days_at_local_midnight() {
        // India: UTC+5:30. Local midnight is 18:30 UTC.
        let offset = 5 * H + H / 2;
        let from = 10 * DAY_MS - offset;
        let to = 12 * DAY_MS - offset;
        let plan = DailyPlan::new(from, to, offset);
        assert_eq!(plan.days, (10, 12));
        assert_eq!(plan.hours, [(0, 0), (0, 0)]);
        // A range starting at 23:00 local: the half hour 23:00-23:30 local
        // (17:30-18:00 UTC) and 23:30-00:00 local are raw and hourly.
        let plan = DailyPlan::new(from - H, to, offset);
        assert_eq!(plan.days, (10, 12));
        assert_eq!(plan.hours[0], (0, 0));
        assert_eq!(plan.raw[0], (from - H, from));
    }

    #[test]
    fn packed_parts_of_one_day_are_added_up() {
        let id = "0b5ef3c2-56a4-4a54-9b2a-4bd4a3d4f6d1";
        let packed =
            format!("{id} 20000 10 1 0 0 0 0 1,{id} 20000 5 0 0 0 7 1 1,{id} 19999 2 0 0 0 0 0 1");
        let lines = merge_daily(&packed).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].day.to_string(), "2024-10-03");
        assert_eq!(lines[1].usage.input_tokens, 15);
        assert_eq!(lines[1].usage.cost_micros_usd, Some(7));
        assert_eq!(lines[1].leases, 2);
        assert_eq!(lines[0].usage.cost_micros_usd, None);
        assert!(merge_daily("").unwrap().is_empty());
        assert!(merge_daily(&format!("{id} 1 x")).is_err());
    }

    #[test]
    fn empty_and_backwards_ranges_read_nothing() {
        for (from, to) in [(5 * H, 5 * H), (6 * H, 5 * H)] {
            let plan = DailyPlan::new(from, to, 0);
            assert!(!plan.needs_daily_rollup());
            assert_eq!(plan.tail_day, None);
            assert_eq!(plan.hours, [(0, 0), (0, 0)]);
            assert_eq!(plan.raw, [(0, 0); 4]);
        }
    }
}
