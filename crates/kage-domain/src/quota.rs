//! Quota windows, model families and model-scoped limits.
//!
//! Claude Code reports a subscription's quota per window (`rateLimitType`:
//! `five_hour`, `seven_day`, and the model-scoped `seven_day_opus`,
//! `seven_day_sonnet`). A limit on a model-scoped window takes the
//! subscription out for that model family only; a request names a model id
//! (`claude-opus-4-5`, `sonnet`) and [`ModelFamily::of`] tells its family.

use std::fmt;

use jiff::Timestamp;

/// A family of Claude models that a quota window can be scoped to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum ModelFamily {
    Opus,
    Sonnet,
    Haiku,
}

impl ModelFamily {
    pub const ALL: [ModelFamily; 3] = [Self::Opus, Self::Sonnet, Self::Haiku];

    /// The family of a model id or alias: `claude-opus-4-5`, `opus`,
    /// `claude-3-5-sonnet-20241022`, `sonnet[1m]`, … `None` for ids that name
    /// no known family (then no model-scoped limit applies to the request).
    pub fn of(model: &str) -> Option<Self> {
        let lower = model.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|family| lower.contains(family.as_str()))
    }

    /// `opus`, `sonnet`, `haiku`: the word in model ids and on screens.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opus => "opus",
            Self::Sonnet => "sonnet",
            Self::Haiku => "haiku",
        }
    }

    /// `Opus`, `Sonnet`, `Haiku`: for sentences.
    pub fn title(self) -> &'static str {
        match self {
            Self::Opus => "Opus",
            Self::Sonnet => "Sonnet",
            Self::Haiku => "Haiku",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|family| family.as_str() == value)
    }
}

impl fmt::Display for ModelFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A quota window as Claude Code names it in `rateLimitType`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum QuotaWindow {
    FiveHour,
    SevenDay,
    SevenDayOpus,
    SevenDaySonnet,
    SevenDayOverageIncluded,
    Overage,
}

impl QuotaWindow {
    pub const ALL: [QuotaWindow; 6] = [
        Self::FiveHour,
        Self::SevenDay,
        Self::SevenDayOpus,
        Self::SevenDaySonnet,
        Self::SevenDayOverageIncluded,
        Self::Overage,
    ];

    /// The `rateLimitType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FiveHour => "five_hour",
            Self::SevenDay => "seven_day",
            Self::SevenDayOpus => "seven_day_opus",
            Self::SevenDaySonnet => "seven_day_sonnet",
            Self::SevenDayOverageIncluded => "seven_day_overage_included",
            Self::Overage => "overage",
        }
    }

    /// A `rateLimitType` value; `None` for one Kage does not know.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|window| window.as_str() == value)
    }

    /// The model family a window is scoped to; `None` for windows that
    /// cover every model.
    pub fn family(self) -> Option<ModelFamily> {
        match self {
            Self::SevenDayOpus => Some(ModelFamily::Opus),
            Self::SevenDaySonnet => Some(ModelFamily::Sonnet),
            _ => None,
        }
    }

    /// `5h`, `7d`, `7d opus`, …: short, for status lines.
    pub fn short(self) -> &'static str {
        match self {
            Self::FiveHour => "5h",
            Self::SevenDay => "7d",
            Self::SevenDayOpus => "7d opus",
            Self::SevenDaySonnet => "7d sonnet",
            Self::SevenDayOverageIncluded => "7d overage",
            Self::Overage => "overage",
        }
    }
}

impl fmt::Display for QuotaWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One window's utilization as a signal reported it.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct QuotaReading {
    pub window: QuotaWindow,
    /// 0..1; may exceed 1 when the window is overdrawn.
    pub utilization: f64,
    pub resets_at: Option<Timestamp>,
}

impl QuotaReading {
    /// The reading as the latest report of its window, made at `now`.
    pub fn at(self, now: Timestamp) -> QuotaReport {
        QuotaReport {
            window: self.window,
            utilization: self.utilization,
            resets_at: self.resets_at,
            reported_at: now,
        }
    }
}

/// The latest utilization reported for one window of a subscription.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct QuotaReport {
    pub window: QuotaWindow,
    /// 0..1; may exceed 1 when the window is overdrawn.
    pub utilization: f64,
    /// When the window resets, when it was reported.
    pub resets_at: Option<Timestamp>,
    pub reported_at: Timestamp,
}

impl QuotaReport {
    /// Whether the report still describes the window at `now`: reported at
    /// or after `since`, and the window has not reset since.
    pub fn is_current(&self, since: Timestamp, now: Timestamp) -> bool {
        self.reported_at >= since && self.resets_at.is_none_or(|reset| reset > now)
    }
}

/// A limit on one model family: the subscription stays `active` for other
/// models, and requests for this family pass it over until `until`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ModelLimit {
    pub family: ModelFamily,
    pub until: Timestamp,
    pub reason: String,
}

impl ModelLimit {
    pub fn is_in_force(&self, now: Timestamp) -> bool {
        self.until > now
    }
}
