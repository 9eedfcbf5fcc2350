//! The picture below `kage subscription usage --period week|month`: for each
//! subscription, one horizontal bar of tokens per local day, drawn with
//! unicode blocks in eighths and fitted to a width. All subscriptions share
//! one scale (the busiest day), so their bars compare; those without usage
//! in the period are named on one line instead of drawn.
//!
//! Pure: a report and a width in, text out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::civil::Date;
use kage_core::UsageReport;

use super::format::tokens;
use super::usage::owner_label;

/// The blocks for 1 to 7 eighths of a cell (a full cell is `█`).
const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
const FULL: char = '█';
/// Left margin, day label (`Mon 06-02`) and the axis (` │`).
const INDENT: &str = "  ";
const LABEL_WIDTH: usize = 9;
const AXIS: &str = " │";
/// Bars never get narrower than this, however narrow the terminal.
const MIN_BAR_WIDTH: usize = 10;

/// The bar for `value` on a scale where `max` fills `width` cells: whole
/// blocks, then one partial block in eighths. Any usage at all shows at
/// least `▏`.
fn bar(value: u64, max: u64, width: usize) -> String {
    if value == 0 || max == 0 {
        return String::new();
    }
    let cells = u128::try_from(width).unwrap_or(u128::MAX);
    let eighths = (u128::from(value) * cells * 8 / u128::from(max)).max(1);
    let whole = usize::try_from(eighths / 8).unwrap_or(width);
    let partial = usize::try_from(eighths % 8).unwrap_or(0);
    let mut text: String = std::iter::repeat_n(FULL, whole).collect();
    if partial > 0 {
        text.push(EIGHTHS[partial]);
    }
    text
}

/// Every day from `from` to `to`, both included.
fn days(from: Date, to: Date) -> Vec<Date> {
    let mut days = Vec::new();
    let mut day = from;
    while day <= to {
        days.push(day);
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    days
}

/// The chart, `width` columns wide at most (bars shrink to fit, down to
/// [`MIN_BAR_WIDTH`]); empty when the report has no usage.
pub(crate) fn render(report: &UsageReport, width: usize) -> String {
    if report.rows.is_empty() {
        return String::new();
    }
    let mut per_day: BTreeMap<(String, Date), u64> = BTreeMap::new();
    for row in &report.rows {
        *per_day
            .entry((owner_label(&row.subscription), row.day))
            .or_default() += row.usage.total_tokens();
    }
    let max = per_day.values().copied().max().unwrap_or(0);
    let value_width = per_day
        .values()
        .map(|value| tokens(*value).chars().count())
        .max()
        .unwrap_or(1);
    let fixed = INDENT.len() + LABEL_WIDTH + AXIS.chars().count() + 1 + value_width;
    let bar_width = width.saturating_sub(fixed).max(MIN_BAR_WIDTH);
    let days = days(report.from, report.to);

    let mut out = String::new();
    let _ = writeln!(out, "\nTokens per day (a full bar: {})", tokens(max));
    let (drawn, idle): (Vec<_>, Vec<_>) = report
        .totals
        .iter()
        .map(|(owner, _)| owner_label(owner))
        .partition(|name| per_day.keys().any(|(with_usage, _)| with_usage == name));
    for name in drawn {
        let _ = writeln!(out, "\n{name}");
        for day in &days {
            let value = per_day.get(&(name.clone(), *day)).copied().unwrap_or(0);
            let bar = bar(value, max, bar_width);
            let padding = bar_width - bar.chars().count().min(bar_width);
            let _ = writeln!(
                out,
                "{INDENT}{label:<LABEL_WIDTH$}{AXIS}{bar}{blank} {value:>value_width$}",
                label = day.strftime("%a %m-%d").to_string(),
                blank = " ".repeat(padding),
                value = tokens(value),
            );
        }
    }
    if !idle.is_empty() {
        let _ = writeln!(out, "\nNo usage: {}", idle.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use insta::assert_snapshot;
    use jiff::civil::date;
    use kage_core::{Period, UsageOwner, UsageReport, UsageRow};
    use kage_domain::{SubscriptionName, Usage};

    use super::{bar, render};

    fn usage(total: u64) -> Usage {
        Usage {
            input_tokens: total,
            ..Usage::default()
        }
    }

    fn report() -> UsageReport {
        let owner = |name: &str| UsageOwner {
            name: SubscriptionName::new(name).unwrap(),
            retired: false,
        };
        let work = owner("work");
        let personal = owner("personal");
        let row = |day, name: &UsageOwner, total| UsageRow {
            day,
            subscription: name.clone(),
            usage: usage(total),
            leases: 1,
        };
        UsageReport {
            period: Period::Week,
            from: date(2025, 5, 27),
            to: date(2025, 6, 2),
            rows: vec![
                row(date(2025, 5, 27), &work, 120_000),
                row(date(2025, 5, 28), &work, 45_500),
                row(date(2025, 5, 28), &personal, 3_000),
                row(date(2025, 5, 30), &work, 250_000),
                row(date(2025, 6, 1), &personal, 61_250),
                row(date(2025, 6, 2), &work, 7),
            ],
            totals: vec![
                (owner("idle"), usage(0)),
                (personal.clone(), usage(64_250)),
                (work.clone(), usage(415_507)),
            ],
        }
    }

    #[test]
    fn bars_are_eighths_of_a_cell_and_any_usage_shows() {
        assert_eq!(bar(0, 100, 10), "");
        assert_eq!(bar(100, 100, 10), "██████████");
        assert_eq!(bar(50, 100, 10), "█████");
        assert_eq!(bar(55, 100, 10), "█████▌");
        assert_eq!(bar(52, 100, 10), "█████▏");
        assert_eq!(bar(1, 1_000_000, 10), "▏");
        assert_eq!(bar(u64::MAX, u64::MAX, 3), "███");
    }

    #[test]
    fn no_usage_no_chart() {
        let mut empty = report();
        empty.rows.clear();
        assert_eq!(render(&empty, 80), "");
    }

    #[test]
    fn every_line_fits_the_width() {
        for width in [40, 60, 80, 120, 200] {
            let chart = render(&report(), width);
            for line in chart.lines() {
                assert!(line.chars().count() <= width, "{width}: {line:?}");
            }
            let busiest = chart
                .lines()
                .find(|line| line.contains("Fri 05-30"))
                .unwrap();
            assert_eq!(
                busiest.chars().count(),
                width,
                "the busiest day fills the width"
            );
        }
    }

    #[test]
    fn chart_at_80_columns() {
        assert_snapshot!(render(&report(), 80));
    }

    #[test]
    fn chart_at_50_columns() {
        assert_snapshot!(render(&report(), 50));
    }
}
