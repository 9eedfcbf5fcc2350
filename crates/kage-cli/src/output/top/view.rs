//! What one frame of `kage top` shows, made from a [`TopSnapshot`]: pure
//! values the drawing code lays out (and the tests read).
//!
//! A subscription's quota bars come from what Kage knows of its windows:
//! the latest report of each window (status line, rate-limit events,
//! warnings that name it), else a warning's unnamed utilization, with the
//! window's reset when known; a limit on one model family (`seven_day_opus`
//! rejected) is a full bar of that family's window counting down to the
//! limit's end; a limited subscription shows its limit as a full bar
//! counting down to its end.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use kage_app::format;
use kage_core::TopSnapshot;
use kage_domain::alert::{UNNAMED_WINDOW, window_label};
use kage_domain::{ModelFamily, QuotaAlert, QuotaWindow, StateKind};

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
                    && !windows
                        .iter()
                        .any(|window| window.utilization >= 1.0 && !is_model_scoped(&window.label))
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
    // The latest report of each window (status line, rate-limit events),
    // until that window resets.
    let mut windows: Vec<WindowBar> = health
        .quota
        .iter()
        .filter(|report| report.resets_at.is_none_or(|reset| reset > now))
        .map(|report| {
            let name = report.window.as_str();
            WindowBar {
                label: name.to_owned(),
                utilization: report.utilization,
                resets_at: report.resets_at,
                alert: alerts.iter().any(|alert| alert.window == name),
            }
        })
        .collect();
    // A warning that named no window.
    if windows.is_empty()
        && let Some((utilization, _)) = health.last_utilization
    {
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
    // A model family's window that ran out: full until the limit ends (an
    // earlier report of that window below 100% is out of date).
    for limit in health.model_limits_at(now) {
        let label = model_window(limit.family);
        windows.retain(|window| window.label != label || window.utilization >= 1.0);
        if !windows.iter().any(|window| window.label == label) {
            windows.push(WindowBar {
                alert: alerts.iter().any(|alert| alert.window == label),
                label,
                utilization: 1.0,
                resets_at: Some(limit.until),
            });
        }
    }
    windows
}

/// Whether a window counts for one model family only.
fn is_model_scoped(label: &str) -> bool {
    ModelFamily::ALL
        .into_iter()
        .any(|family| model_window(family) == label)
}

/// The quota window scoped to `family` (`seven_day_opus`).
fn model_window(family: ModelFamily) -> String {
    QuotaWindow::ALL
        .into_iter()
        .find(|window| window.family() == Some(family))
        .map_or_else(
            || format!("seven_day_{}", family.as_str()),
            |window| window.as_str().to_owned(),
        )
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

#[cfg(test)]
mod tests {
    use jiff::{SignedDuration, Timestamp};
    use kage_domain::{Health, ModelFamily, ModelLimit, QuotaReport, QuotaWindow};

    use super::{WindowBar, is_model_scoped, known_windows};

    fn report(window: QuotaWindow, utilization: f64, resets_at: Timestamp) -> QuotaReport {
        QuotaReport {
            window,
            utilization,
            resets_at: Some(resets_at),
            reported_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_model_limit_is_a_full_bar_of_its_window_until_it_ends() {
        let now: Timestamp = "2025-06-02T09:30:00Z".parse().unwrap();
        let later = |hours| now.checked_add(SignedDuration::from_hours(hours)).unwrap();
        let health = Health {
            quota: vec![
                report(QuotaWindow::FiveHour, 0.42, later(2)),
                report(QuotaWindow::SevenDayOpus, 0.9, later(50)),
            ],
            model_limits: vec![
                ModelLimit {
                    family: ModelFamily::Opus,
                    until: later(96),
                    reason: "7-day Opus limit".to_owned(),
                },
                ModelLimit {
                    family: ModelFamily::Haiku,
                    until: later(-1),
                    reason: "over".to_owned(),
                },
            ],
            ..Health::default()
        };
        let windows = known_windows(&health, now, &[]);
        assert_eq!(
            windows,
            [
                WindowBar {
                    label: "five_hour".to_owned(),
                    utilization: 0.42,
                    resets_at: Some(later(2)),
                    alert: false,
                },
                WindowBar {
                    label: "seven_day_opus".to_owned(),
                    utilization: 1.0,
                    resets_at: Some(later(96)),
                    alert: false,
                },
            ],
            "the limit replaces the older 90% report; the ended Haiku limit shows nothing"
        );
        assert!(is_model_scoped("seven_day_opus") && is_model_scoped("seven_day_haiku"));
        assert!(!is_model_scoped("seven_day") && !is_model_scoped("limit"));
    }
}
