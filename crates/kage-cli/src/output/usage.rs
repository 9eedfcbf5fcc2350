//! `kage subscription usage`: usage per local day with token kinds and cost.

use std::collections::BTreeMap;
use std::io;

use comfy_table::Cell;
use kage_core::{Period, UsageOwner, UsageReport};
use kage_domain::Usage;

use super::format::{cost, thousands, tokens};
use super::json::{self, UsageJson, UsageReportJson, UsageRowJson, UsageTotalJson};
use super::{Printer, table, usage_chart};

/// How `kage subscription usage` shows its report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UsageStyle {
    /// The tables, then (for a week or a month) a bar chart per subscription.
    TablesAndChart,
    /// The tables only (`--plain`).
    Tables,
    /// One JSON document (`--json`).
    Json,
}

fn period_phrase(report: &UsageReport) -> String {
    match report.period {
        Period::Day => format!("today ({})", report.to),
        Period::Week | Period::Month => format!(
            "last {} days ({} to {})",
            report.period.days(),
            report.from,
            report.to
        ),
    }
}

/// A subscription's name; `NAME (removed)` for one removed from the pool.
pub(crate) fn owner_label(owner: &UsageOwner) -> String {
    if owner.retired {
        format!("{} (removed)", owner.name)
    } else {
        owner.name.to_string()
    }
}

/// The token counts and cost of `usage`, as the usage tables show them.
pub(crate) fn usage_cells(usage: &Usage) -> [Cell; 6] {
    [
        Cell::new(tokens(usage.input_tokens)),
        Cell::new(tokens(usage.output_tokens)),
        Cell::new(tokens(usage.cache_write_tokens)),
        Cell::new(tokens(usage.cache_read_tokens)),
        Cell::new(tokens(usage.total_tokens())),
        Cell::new(cost(usage.cost_micros_usd)),
    ]
}

pub(crate) fn print(
    printer: &Printer,
    report: &UsageReport,
    subscription: Option<&str>,
    style: UsageStyle,
) -> io::Result<()> {
    let mut leases: BTreeMap<&UsageOwner, u64> = BTreeMap::new();
    for row in &report.rows {
        *leases.entry(&row.subscription).or_default() += row.leases;
    }
    let grand_total = report.grand_total();

    if style == UsageStyle::Json {
        let total = |subscription: Option<String>, removed: bool, usage: &Usage| UsageTotalJson {
            subscription,
            removed,
            period: report.period.as_str(),
            from: report.from.to_string(),
            to: report.to.to_string(),
            usage: UsageJson::new(usage),
        };
        let mut totals: Vec<UsageTotalJson> = report
            .totals
            .iter()
            .map(|(name, usage)| total(Some(name.name.to_string()), name.retired, usage))
            .collect();
        if subscription.is_none() {
            totals.push(total(None, false, &grand_total));
        }
        let data = UsageReportJson {
            period: report.period.as_str(),
            from: report.from.to_string(),
            to: report.to.to_string(),
            days: report.rows.iter().map(UsageRowJson::new).collect(),
            totals,
        };
        return printer.out(&json::document(&data));
    }

    let mut out = String::new();
    match subscription {
        Some(name) => out.push_str(&format!("Usage of {name}, {}\n", period_phrase(report))),
        None => out.push_str(&format!("Usage, {}\n", period_phrase(report))),
    }
    out.push_str(&format!(
        "Total: {} tokens, cost {}\n\n",
        thousands(grand_total.total_tokens()),
        cost(grand_total.cost_micros_usd)
    ));

    out.push_str("By day\n");
    if report.rows.is_empty() {
        out.push_str("  no usage recorded in this period\n");
    } else {
        let mut headers = vec!["Day"];
        if subscription.is_none() {
            headers.push("Subscription");
        }
        headers.extend([
            "Input",
            "Output",
            "Cache Write",
            "Cache Read",
            "Total",
            "Cost",
        ]);
        let mut grid = table::new(&headers, printer);
        for row in &report.rows {
            let mut cells = vec![Cell::new(row.day.to_string())];
            if subscription.is_none() {
                cells.push(Cell::new(owner_label(&row.subscription)));
            }
            cells.extend(usage_cells(&row.usage));
            grid.add_row(cells);
        }
        out.push_str(&table::render(&grid));
    }

    if subscription.is_none() {
        out.push_str("\nBy subscription\n");
        let mut grid = table::new(
            &[
                "Subscription",
                "Input",
                "Output",
                "Cache Write",
                "Cache Read",
                "Total",
                "Cost",
                "Leases",
            ],
            printer,
        );
        for (name, usage) in &report.totals {
            let mut cells = vec![Cell::new(owner_label(name))];
            cells.extend(usage_cells(usage));
            cells.push(Cell::new(thousands(leases.get(name).copied().unwrap_or(0))));
            grid.add_row(cells);
        }
        let mut cells = vec![Cell::new("Total")];
        cells.extend(usage_cells(&grand_total));
        cells.push(Cell::new(thousands(leases.values().sum())));
        grid.add_row(cells);
        out.push_str(&table::render(&grid));
    }
    if style == UsageStyle::TablesAndChart && report.period != Period::Day {
        out.push_str(&usage_chart::render(report, printer.width()));
    }
    printer.out(&out)
}
