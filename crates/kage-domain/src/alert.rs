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
pub struct QuotaReading {
    /// `five_hour`, `seven_day`, `seven_day_opus`, … ([`UNNAMED_WINDOW`]
    /// when the signal did not say).
    pub window: String,
    /// 0..1; may exceed 1.
    pub utilization: f64,
    pub resets_at: Option<Timestamp>,
}

impl QuotaReading {
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
        write!(
            f,
            "{} passed {}% of its {} quota ({:.0}% used)",
            self.subscription_name,
            self.threshold_permille / 10,
            window_label(&self.window),
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
    reading: &QuotaReading,
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
