//! Warnings before the limit: when a subscription's known utilization of a
//! quota window reaches a configured threshold (`alert_thresholds`, by
//! default 50 %, 80 % and 95 %), Kage records a [`QuotaAlert`] once per
//! subscription, window, reset and threshold.
//!
//! The key of an alert ([`QuotaAlert::period`]) names the window's period:
//! its reset time rounded to [`RESET_ROUNDING`] (two reports of one window
//! may give its reset a few seconds apart), or, when no reset time was
//! reported, the start of the window's nominal period (5 hours, 7 days) that
//! `now` falls in. Recording is the store's job (idempotent on that key);
//! this module decides what to record.

use std::fmt;

use jiff::{SignedDuration, Timestamp};

use crate::{Outcome, SubscriptionId, SubscriptionName};

/// Reset times within this much of each other name the same period.
pub const RESET_ROUNDING: SignedDuration = SignedDuration::from_mins(10);

/// The window name used when a signal gave a utilization without naming
/// its window.
pub const UNNAMED_WINDOW: &str = "quota";

/// The thresholds, as shares of a window (0 < t ≤ 1), ascending and distinct.
#[derive(Clone, PartialEq, Debug)]
pub struct AlertThresholds(Vec<f64>);

#[derive(Clone, PartialEq, Debug, thiserror::Error)]
pub enum InvalidThresholds {
    #[error(
        "alert threshold {0} is out of range: give shares of the quota above 0 and at most 1 (0.8 for 80%)"
    )]
    OutOfRange(f64),
    #[error("alert threshold {0} is listed twice")]
    Repeated(f64),
}

impl Default for AlertThresholds {
    fn default() -> Self {
        Self(vec![0.5, 0.8, 0.95])
    }
}

impl AlertThresholds {
    /// Validate and sort `values`; an empty list turns alerts off.
    ///
    /// # Errors
    /// A value outside (0, 1], or one given twice.
    pub fn new(values: &[f64]) -> Result<Self, InvalidThresholds> {
        let mut sorted = Vec::with_capacity(values.len());
        for &value in values {
            if !(value.is_finite() && value > 0.0 && value <= 1.0) {
                return Err(InvalidThresholds::OutOfRange(value));
            }
            let permille = to_permille(value);
            if sorted.iter().any(|&known| to_permille(known) == permille) {
                return Err(InvalidThresholds::Repeated(value));
            }
            sorted.push(value);
        }
        sorted.sort_by(f64::total_cmp);
        Ok(Self(sorted))
    }

    pub fn values(&self) -> &[f64] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The thresholds `utilization` has reached, ascending.
    pub fn reached(&self, utilization: f64) -> impl Iterator<Item = f64> + '_ {
        self.0
            .iter()
            .copied()
            .filter(move |&threshold| utilization + 1e-9 >= threshold)
    }
}

/// A share in thousandths, as the store keys thresholds (`0.95` → 950).
pub fn to_permille(share: f64) -> u16 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "thresholds are validated to (0, 1]"
    )]
    let permille = (share * 1000.0).round().clamp(0.0, 1000.0) as u16;
    permille
}

/// One utilization reading of one window, taken from an outcome or a
/// status line.
#[derive(Clone, PartialEq, Debug)]
pub struct AlertReading {
    /// `five_hour`, `seven_day`, `seven_day_opus`, … ([`UNNAMED_WINDOW`]
    /// when the signal did not say).
    pub window: String,
    /// 0..1; may exceed 1.
    pub utilization: f64,
    pub resets_at: Option<Timestamp>,
}

impl AlertReading {
    /// The reading an outcome carries, if any.
    pub fn of(outcome: &Outcome) -> Option<Self> {
        match outcome {
            Outcome::ApproachingLimit {
                utilization,
                resets_at,
            } => Some(Self {
                window: UNNAMED_WINDOW.to_owned(),
                utilization: *utilization,
                resets_at: *resets_at,
            }),
            _ => None,
        }
    }

    /// The nominal length of the window, for the period key when no reset
    /// time is known.
    fn nominal_length(&self) -> SignedDuration {
        if self.window.starts_with("seven_day") {
            SignedDuration::from_hours(7 * 24)
        } else {
            SignedDuration::from_hours(5)
        }
    }

    /// The key of the window's current period (see the module docs).
    pub fn period(&self, now: Timestamp) -> Timestamp {
        match self.resets_at {
            Some(reset) => round_to(reset, RESET_ROUNDING),
            None => floor_to(now, self.nominal_length()),
        }
    }
}

fn round_to(at: Timestamp, step: SignedDuration) -> Timestamp {
    let step_ms = step.as_millis().max(1);
    let ms = i128::from(at.as_millisecond());
    let rounded = (ms + step_ms / 2).div_euclid(step_ms) * step_ms;
    i64::try_from(rounded)
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .unwrap_or(at)
}

fn floor_to(at: Timestamp, step: SignedDuration) -> Timestamp {
    let step_ms = step.as_millis().max(1);
    let ms = i128::from(at.as_millisecond());
    let floored = ms.div_euclid(step_ms) * step_ms;
    i64::try_from(floored)
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .unwrap_or(at)
}

/// A threshold a subscription's window reached, recorded once.
#[derive(Clone, PartialEq, Debug)]
pub struct QuotaAlert {
    pub subscription_id: SubscriptionId,
    pub subscription_name: SubscriptionName,
    pub window: String,
    /// The key of the window's period (see the module docs).
    pub period: Timestamp,
    /// In thousandths (950 for 95 %).
    pub threshold_permille: u16,
    /// The utilization that reached it.
    pub utilization: f64,
    pub resets_at: Option<Timestamp>,
    pub at: Timestamp,
}

impl QuotaAlert {
    pub fn threshold(&self) -> f64 {
        f64::from(self.threshold_permille) / 1000.0
    }

    /// Whether the alert still describes the window at `now` (its reset,
    /// when known, is still ahead).
    pub fn is_current(&self, now: Timestamp) -> bool {
        self.resets_at.is_none_or(|reset| reset > now)
    }
}

impl fmt::Display for QuotaAlert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let window = if self.window == UNNAMED_WINDOW {
            String::new()
        } else {
            format!("{} ", window_label(&self.window))
        };
        write!(
            f,
            "{} passed {}% of its {window}quota ({:.0}% used)",
            self.subscription_name,
            self.threshold_permille / 10,
            self.utilization * 100.0
        )
    }
}

/// `5-hour`, `7-day`, `7-day opus`, …: a window's name in sentences.
pub fn window_label(window: &str) -> String {
    match window {
        "five_hour" => "5-hour".to_owned(),
        "seven_day" => "7-day".to_owned(),
        other => match other.strip_prefix("seven_day_") {
            Some(scope) => format!("7-day {}", scope.replace('_', " ")),
            None => other.replace('_', " "),
        },
    }
}

/// The alerts a reading may raise: one per threshold it reached. The store
/// keeps the ones not yet recorded for the period.
pub fn alerts_for(
    subscription_id: SubscriptionId,
    subscription_name: &SubscriptionName,
    reading: &AlertReading,
    thresholds: &AlertThresholds,
    now: Timestamp,
) -> Vec<QuotaAlert> {
    let period = reading.period(now);
    thresholds
        .reached(reading.utilization)
        .map(|threshold| QuotaAlert {
            subscription_id,
            subscription_name: subscription_name.clone(),
            window: reading.window.clone(),
            period,
            threshold_permille: to_permille(threshold),
            utilization: reading.utilization,
            resets_at: reading.resets_at,
            at: now,
        })
        .collect()
}

/// Of newly recorded alerts, the ones worth telling a person: the highest
/// threshold per subscription and window (a jump from 30 % to 90 % records
/// 50 % and 80 % but tells only 80 %).
pub fn to_notify(recorded: &[QuotaAlert]) -> Vec<&QuotaAlert> {
    let mut chosen: Vec<&QuotaAlert> = Vec::new();
    for alert in recorded {
        match chosen.iter_mut().find(|known| {
            known.subscription_id == alert.subscription_id && known.window == alert.window
        }) {
            Some(known) if known.threshold_permille < alert.threshold_permille => *known = alert,
            Some(_) => {}
            None => chosen.push(alert),
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn reading(window: &str, utilization: f64, resets_at: Option<&str>) -> AlertReading {
        AlertReading {
            window: window.to_owned(),
            utilization,
            resets_at: resets_at.map(t),
        }
    }

    #[test]
    fn thresholds_are_checked_sorted_and_reached_inclusively() {
        let thresholds = AlertThresholds::new(&[0.95, 0.5, 0.8]).unwrap();
        assert_eq!(thresholds.values(), &[0.5, 0.8, 0.95]);
        assert_eq!(thresholds.reached(0.49).count(), 0);
        assert_eq!(thresholds.reached(0.8).collect::<Vec<_>>(), vec![0.5, 0.8]);
        assert_eq!(thresholds.reached(1.2).count(), 3);
        assert!(AlertThresholds::new(&[]).unwrap().is_empty());
        assert_eq!(
            AlertThresholds::new(&[0.5, 0.0]),
            Err(InvalidThresholds::OutOfRange(0.0))
        );
        assert_eq!(
            AlertThresholds::new(&[1.5]),
            Err(InvalidThresholds::OutOfRange(1.5))
        );
        assert_eq!(
            AlertThresholds::new(&[0.8, 0.8]),
            Err(InvalidThresholds::Repeated(0.8))
        );
        assert_eq!(AlertThresholds::default().values(), &[0.5, 0.8, 0.95]);
    }

    #[test]
    fn the_period_is_the_rounded_reset_or_the_nominal_window() {
        let now = t("2026-12-06T11:17:00Z");
        let exact = reading("five_hour", 0.6, Some("2026-12-06T15:00:00Z"));
        let jittered = reading("five_hour", 0.7, Some("2026-12-06T14:59:57Z"));
        assert_eq!(exact.period(now), jittered.period(now));
        assert_eq!(exact.period(now), t("2026-12-06T15:00:00Z"));
        let unknown = reading("five_hour", 0.6, None);
        assert_eq!(
            unknown.period(now),
            t("2026-12-06T08:00:00Z"),
            "5-hour periods counted from the epoch"
        );
        let weekly = reading("seven_day", 0.6, None);
        assert_eq!(
            weekly.period(now),
            t("2026-12-03T00:00:00Z"),
            "7-day periods counted from the epoch"
        );
    }

    #[test]
    fn alerts_are_one_per_reached_threshold_and_only_the_highest_is_told() {
        let id = SubscriptionId::from_uuid(uuid::Uuid::nil());
        let name = SubscriptionName::new("work").unwrap();
        let now = t("2026-12-06T11:00:00Z");
        let thresholds = AlertThresholds::default();
        let alerts = alerts_for(
            id,
            &name,
            &reading("five_hour", 0.91, Some("2026-12-06T15:00:00Z")),
            &thresholds,
            now,
        );
        let permille: Vec<u16> = alerts.iter().map(|a| a.threshold_permille).collect();
        assert_eq!(permille, vec![500, 800]);
        let mut other = alerts_for(
            id,
            &name,
            &reading("seven_day", 0.55, None),
            &thresholds,
            now,
        );
        let mut all = alerts.clone();
        all.append(&mut other);
        let told: Vec<(&str, u16)> = to_notify(&all)
            .into_iter()
            .map(|a| (a.window.as_str(), a.threshold_permille))
            .collect();
        assert_eq!(told, vec![("five_hour", 800), ("seven_day", 500)]);
        assert_eq!(
            alerts[1].to_string(),
            "work passed 80% of its 5-hour quota (91% used)"
        );
        assert!(alerts[1].is_current(now));
        assert!(!alerts[1].is_current(t("2026-12-06T15:00:00Z")));
    }

    #[test]
    fn window_labels_read_well() {
        assert_eq!(window_label("five_hour"), "5-hour");
        assert_eq!(window_label("seven_day_opus"), "7-day opus");
        assert_eq!(window_label("quota"), "quota");
    }
}
