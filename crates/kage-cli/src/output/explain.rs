//! `kage subscription explain`: which subscription a request gets, and why
//! every other one was passed over.

use std::io;

use comfy_table::Cell;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kage_core::{Explanation, ExplanationLine};
use kage_domain::{PassOverReason, RouteTarget};

use super::format::{self, local_time, relative, state_color, thousands};
use super::json::{self, ExplainLineJson};
use super::{Printer, table};

/// Why a line got its verdict, in words.
pub(crate) fn reason(
    line: &ExplanationLine,
    rule: &dyn Fn(&RouteTarget) -> String,
    now: Timestamp,
    zone: &TimeZone,
) -> String {
    match &line.verdict {
        Ok(0) => "chosen: the best eligible subscription".to_owned(),
        Ok(rank) => ranked_lower(line.approaching_limit, *rank),
        Err(PassOverReason::NotRouted { rule: target }) => {
            format!(
                "not routed: the rule for {target} allows only {}",
                rule(target)
            )
        }
        Err(PassOverReason::MissingTags { missing }) => {
            format!("missing tag(s) {}", format::list(missing))
        }
        Err(PassOverReason::NotActive { state }) => {
            let mut text = format!("not active: {}", state.kind());
            if let Some(until) = state.until() {
                text.push_str(&format!(
                    " until {} ({})",
                    local_time(until, now, zone),
                    relative(until, now)
                ));
            }
            if let Some(why) = state.reason().filter(|why| !why.is_empty()) {
                text.push_str(&format!(" — {}", super::format::printable(why)));
            }
            text
        }
        Err(PassOverReason::AtCapacity {
            live_leases,
            max_concurrent,
            frees_at,
        }) => {
            let mut text = format!("at capacity: {live_leases} of {max_concurrent} leases in use");
            if let Some(at) = frees_at {
                text.push_str(&format!(
                    "; the first expires at {} ({})",
                    local_time(*at, now, zone),
                    relative(*at, now)
                ));
            }
            text
        }
    }
}

fn ranked_lower(approaching_limit: bool, rank: usize) -> String {
    if approaching_limit {
        format!(
            "eligible, ranked #{}: near its limit, so after the others",
            rank + 1
        )
    } else {
        format!("eligible, ranked #{}: another one goes first", rank + 1)
    }
}

pub(crate) fn print(
    printer: &Printer,
    explanation: &Explanation,
    strategy: &str,
    rule: &dyn Fn(&RouteTarget) -> String,
    now: Timestamp,
    zone: &TimeZone,
    as_json: bool,
) -> io::Result<()> {
    if as_json {
        let candidates: Vec<ExplainLineJson> = explanation
            .lines
            .iter()
            .map(|line| ExplainLineJson::new(line, reason(line, rule, now, zone)))
            .collect();
        return printer.out(&json::document(&candidates));
    }
    let request = &explanation.request;
    let mut out = String::new();
    out.push_str(&format!(
        "Request:   namespace {}, priority {}, tags {}\n",
        request
            .namespace
            .as_ref()
            .map_or(format::NONE, |n| n.as_str()),
        request.level,
        format::list(&request.required_tags),
    ));
    out.push_str(&format!("Strategy:  {strategy}\n"));
    match &explanation.chosen {
        Some(name) => out.push_str(&format!("Would use: {name}\n\n")),
        None => out.push_str("Would use: nothing is available now\n\n"),
    }
    if explanation.lines.is_empty() {
        out.push_str("No subscriptions yet; add one with `kage subscription add --name NAME`.\n");
        return printer.out(&out);
    }
    let mut grid = table::new(
        &[
            "#",
            "Subscription",
            "Priority",
            "State",
            "Leases",
            "Window Tokens",
            "Verdict",
        ],
        printer,
    );
    for line in &explanation.lines {
        let rank = match line.verdict {
            Ok(rank) => (rank + 1).to_string(),
            Err(_) => "-".to_owned(),
        };
        grid.add_row(vec![
            Cell::new(rank),
            Cell::new(line.name.as_str()),
            Cell::new(line.priority.to_string()),
            table::colored(
                line.state.kind().as_str(),
                state_color(line.state.kind()),
                printer,
            ),
            Cell::new(line.live_leases.to_string()),
            Cell::new(thousands(line.window_tokens)),
            Cell::new(reason(line, rule, now, zone)),
        ]);
    }
    out.push_str(&table::render(&grid));
    printer.out(&out)
}
