//! What one frame of `kage top` shows, made from a [`TopSnapshot`]: pure
//! values the drawing code lays out (and the tests read).
//!
//! A subscription's quota bars come from what Kage knows of its windows:
//! the latest utilization reported (status line, rate-limit events,
//! warnings), with the window's reset when known; a limited subscription
//! shows its limit as a full bar counting down to its end.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use kage_app::format;
use kage_core::TopSnapshot;
use kage_domain::alert::{UNNAMED_WINDOW, window_label};
use kage_domain::{QuotaAlert, StateKind};

/// One quota window of one subscription.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct WindowBar {
    /// `5h`, `7d`, `7d opus`, `quota`, `limit`.
    pub(crate) label: String,
    /// 0..1 (may exceed 1).
    pub(crate) utilization: f64,
    pub(crate) resets_at: Option<Timestamp>,
    /// A quota alert of this window is current.
    pub(crate) alert: bool,
}

/// One subscription row.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct SubscriptionRow {
    pub(crate) name: String,
    pub(crate) state: StateKind,
    /// `until 15:00 (in 2h 13m): 5-hour limit`, empty when active.
    pub(crate) detail: String,
    pub(crate) priority: u8,
    pub(crate) windows: Vec<WindowBar>,
    pub(crate) leases: u32,
    pub(crate) max_concurrent: Option<u32>,
    pub(crate) tokens_today: u64,
    pub(crate) cost_today: Option<u64>,
    /// The newest current alert, for the row's marker and the detail line.
    pub(crate) alert: Option<String>,
}

/// One live lease.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct LeaseRow {
    pub(crate) subscription: String,
    pub(crate) program: String,
    pub(crate) host: String,
    pub(crate) pid: String,
    pub(crate) task: String,
    pub(crate) acquired_at: Timestamp,
    pub(crate) expires_at: Timestamp,
}

/// One acquire waiting for a subscription.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct WaiterRow {
    pub(crate) holder: String,
    pub(crate) request: String,
    /// When it looks again, or gives up, whichever comes first.
    pub(crate) until: Timestamp,
    pub(crate) next: Option<String>,
}

/// Everything one frame shows.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct View {
    pub(crate) now: Timestamp,
    pub(crate) zone: TimeZone,
    pub(crate) rows: Vec<SubscriptionRow>,
    pub(crate) leases: Vec<LeaseRow>,
    pub(crate) waiters: Vec<WaiterRow>,
    /// Current alerts, newest first, as sentences.
    pub(crate) alerts: Vec<String>,
}

impl View {
    pub(crate) fn new(snapshot: &TopSnapshot) -> Self {
        let status = &snapshot.status;
        let now = status.now;
        let zone = status.time_zone.clone();
        let rows = status
            .subscriptions
            .iter()
            .map(|entry| {
                let subscription = &entry.subscription;
                let alerts: Vec<&QuotaAlert> = snapshot
                    .alerts
                    .iter()
                    .filter(|alert| alert.subscription_id == subscription.id)
                    .collect();
                let mut windows = known_windows(&subscription.health, now, &alerts);
                if let Some(until) = entry.state.until()
                    && matches!(
                        entry.state.kind(),
                        StateKind::Exhausted | StateKind::RateLimited
                    )
                    && !windows.iter().any(|window| window.utilization >= 1.0)
                {
                    windows.insert(
                        0,
                        WindowBar {
                            label: "limit".to_owned(),
                            utilization: 1.0,
                            resets_at: Some(until),
                            alert: false,
                        },
                    );
                }
                let detail = match entry.state.kind() {
                    StateKind::Active => String::new(),
                    _ => {
                        let long = format::state_long(&entry.state, now, &zone);
                        long.strip_prefix(entry.state.kind().as_str())
                            .unwrap_or(&long)
                            .trim_start_matches(':')
                            .trim()
                            .to_owned()
                    }
                };
                SubscriptionRow {
                    name: subscription.name.to_string(),
                    state: entry.state.kind(),
                    detail,
                    priority: subscription.priority.0,
                    windows,
                    leases: entry.live_leases,
                    max_concurrent: subscription.max_concurrent,
                    tokens_today: entry.today.total_tokens(),
                    cost_today: entry.today.cost_micros_usd,
                    alert: alerts.last().map(ToString::to_string),
                }
            })
            .collect();
        let leases = snapshot
            .leases
            .iter()
            .map(|lease| {
                let holder = kage_app::parse_holder(&lease.holder);
                LeaseRow {
                    subscription: lease.subscription_name.to_string(),
                    program: holder.program,
                    host: holder.host.unwrap_or_else(|| format::NONE.to_owned()),
                    pid: holder
                        .pid
                        .map_or_else(|| format::NONE.to_owned(), |pid| pid.to_string()),
                    task: holder.task.unwrap_or_else(|| format::NONE.to_owned()),
                    acquired_at: lease.acquired_at,
                    expires_at: lease.expires_at,
                }
            })
            .collect();
        let waiters = snapshot
            .waiters
            .iter()
            .map(|waiter| {
                let until = waiter
                    .deadline
                    .map_or(waiter.until, |deadline| deadline.max(waiter.until));
                WaiterRow {
                    holder: waiter.holder.clone(),
                    request: waiter.request.clone(),
                    until,
                    next: match (&waiter.earliest_name, waiter.earliest_recovery) {
                        (Some(name), Some(at)) => {
                            Some(format!("{name} back {}", format::relative(at, now)))
                        }
                        _ => None,
                    },
                }
            })
            .collect();
        let mut alerts: Vec<String> = snapshot.alerts.iter().map(ToString::to_string).collect();
        alerts.reverse();
        Self {
            now,
            zone,
            rows,
            leases,
            waiters,
            alerts,
        }
    }

    pub(crate) fn count(&self, state: StateKind) -> usize {
        self.rows.iter().filter(|row| row.state == state).count()
    }

    /// The last time any waiter waits until.
    pub(crate) fn waiting_until(&self) -> Option<Timestamp> {
        self.waiters.iter().map(|waiter| waiter.until).max()
    }
}

/// The quota windows Kage knows for a subscription at `now`.
fn known_windows(
    health: &kage_domain::Health,
    now: Timestamp,
    alerts: &[&QuotaAlert],
) -> Vec<WindowBar> {
    let mut windows = Vec::new();
    if let Some((utilization, _)) = health.last_utilization {
        let reset = alerts
            .iter()
            .rev()
            .find(|alert| alert.window == UNNAMED_WINDOW)
            .and_then(|alert| alert.resets_at);
        windows.push(WindowBar {
            label: UNNAMED_WINDOW.to_owned(),
            utilization,
            resets_at: reset.filter(|reset| *reset > now),
            alert: alerts.iter().any(|alert| alert.window == UNNAMED_WINDOW),
        });
    }
    windows
}

/// `5h`, `7d`, `7d opus` for a window name.
pub(crate) fn short_label(window: &str) -> String {
    match window {
        "five_hour" => "5h".to_owned(),
        "seven_day" => "7d".to_owned(),
        other => match other.strip_prefix("seven_day_") {
            Some(scope) => format!("7d {scope}"),
            None => window_label(other),
        },
    }
}
