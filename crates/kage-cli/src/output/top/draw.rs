//! Laying one [`View`] out on a ratatui frame: the header, the
//! subscriptions with a bar per quota window, the live leases, the waiting
//! agents, the selected subscription's detail, and the key line (or a
//! prompt). Overlays: help and routes.
//!
//! Colours are foreground colours and modifiers only (bold, dim,
//! reversed): never a background, so the screen reads the same on a light
//! or a dark terminal. Fits 80×24: every column but the name and the bar
//! has a fixed width, and those two take what is left.

use jiff::SignedDuration;
use kage_app::format;
use kage_domain::StateKind;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::ui::{KEYS, Mode, Ui};
use super::view::{SubscriptionRow, View, WindowBar, short_label};

/// Width of the fixed columns of a subscription line (everything but the
/// name and the bar).
const FIXED: usize = 2 + 1 + 9 + 1 + 3 + 1 + 7 + 1 + 5 + 1 + 8 + 1 + 5 + 1 + 6 + 1 + 7;
const MIN_NAME: usize = 12;
const MIN_BAR: usize = 6;

fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

fn state_style(state: StateKind) -> Style {
    match state {
        StateKind::Active => Style::new().fg(Color::Green),
        StateKind::RateLimited => Style::new().fg(Color::Yellow),
        StateKind::Exhausted => Style::new().fg(Color::Red),
        StateKind::Unhealthy => Style::new().fg(Color::Magenta),
        StateKind::Disabled => dim(),
    }
}

fn usage_style(utilization: f64) -> Style {
    if utilization >= 0.8 {
        Style::new().fg(Color::Red)
    } else if utilization >= 0.5 {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new().fg(Color::Green)
    }
}

/// `text` cut to `width` characters (with `…`) and padded to it.
fn fit(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        format!("{text:<width$}")
    } else if width == 0 {
        String::new()
    } else {
        let mut cut: String = text.chars().take(width - 1).collect();
        cut.push('…');
        cut
    }
}

fn right(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count >= width {
        text.chars().take(width).collect()
    } else {
        format!("{text:>width$}")
    }
}

/// A bar of `width` cells in eighths: `█████▍░░░░`.
pub(crate) fn bar(utilization: f64, width: usize) -> String {
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let share = utilization.clamp(0.0, 1.0);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a bar a few cells wide"
    )]
    let eighths = (share * (width * 8) as f64).round() as usize;
    let full = eighths / 8;
    let part = eighths % 8;
    let mut text = "█".repeat(full);
    if part > 0 && full < width {
        text.push(EIGHTHS[part]);
    }
    let drawn = full + usize::from(part > 0 && full < width);
    text.push_str(&"░".repeat(width.saturating_sub(drawn)));
    text
}

/// `45.2k`, `1.2M`, `—`.
fn compact_tokens(tokens: u64) -> String {
    #[allow(clippy::cast_precision_loss, reason = "a rounded figure for people")]
    let value = tokens as f64;
    match tokens {
        0 => format::NONE.to_owned(),
        1..=9_999 => tokens.to_string(),
        10_000..=999_999 => format!("{:.1}k", value / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", value / 1e6),
        _ => format!("{:.1}G", value / 1e9),
    }
}

/// `↻2h13m`, `↻4d3h`, `↻45s`: the time left until a reset.
pub(crate) fn countdown(at: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let left = at.duration_since(now);
    if !left.is_positive() {
        return "↻now".to_owned();
    }
    format!("↻{}", format::duration(left).replace(' ', ""))
}

/// Draw the whole frame.
pub(crate) fn draw(frame: &mut Frame, view: &View, ui: &Ui) {
    let area = frame.area();
    let lease_lines = if view.leases.is_empty() {
        1
    } else {
        view.leases.len() + 1
    };
    let waiter_lines = view.waiters.len();
    let [header, table, leases, waiters, detail, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(u16::try_from(lease_lines.min(7)).unwrap_or(7)),
        Constraint::Length(u16::try_from(waiter_lines.min(4)).unwrap_or(4)),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(header_lines(view, area.width)), header);
    frame.render_widget(
        Paragraph::new(subscription_lines(
            view,
            ui,
            usize::from(table.height),
            area.width,
        )),
        table,
    );
    frame.render_widget(Paragraph::new(lease_lines_of(view, area.width)), leases);
    frame.render_widget(Paragraph::new(waiter_lines_of(view, area.width)), waiters);
    frame.render_widget(Paragraph::new(detail_line(view, ui, area.width)), detail);
    frame.render_widget(Paragraph::new(footer_line(ui, area.width)), footer);
    match &ui.mode {
        Mode::Help => overlay(frame, "help", help_lines()),
        Mode::Routes(lines) => overlay(
            frame,
            "routes",
            lines.iter().map(|line| Line::from(line.clone())).collect(),
        ),
        _ => {}
    }
}

fn header_lines(view: &View, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width);
    let clock = view
        .now
        .to_zoned(view.zone.clone())
        .strftime("%H:%M:%S")
        .to_string();
    let mut first = vec![
        Span::styled("kage top", bold()),
        Span::raw(format!(" · {} subscriptions: ", view.rows.len())),
    ];
    let mut counts = Vec::new();
    for state in StateKind::ALL {
        let count = view.count(state);
        if count > 0 || state == StateKind::Active {
            counts.push(Span::styled(
                format!("{count} {}", format::state_short(state)),
                state_style(state),
            ));
            counts.push(Span::raw(" "));
        }
    }
    counts.pop();
    first.extend(counts);
    let used: usize = first.iter().map(|span| span.content.chars().count()).sum();
    let pad = width.saturating_sub(used + clock.len());
    first.push(Span::raw(" ".repeat(pad)));
    first.push(Span::styled(clock, dim()));

    let mut second = vec![Span::raw(format!(
        "{} live lease{}",
        view.leases.len(),
        if view.leases.len() == 1 { "" } else { "s" }
    ))];
    match view.waiting_until() {
        Some(until) => second.push(Span::styled(
            format!(
                " · {} waiting until {} ({})",
                view.waiters.len(),
                format::local_time(until, view.now, &view.zone),
                format::relative(until, view.now)
            ),
            Style::new().fg(Color::Yellow),
        )),
        None => second.push(Span::raw(" · no agent waiting")),
    }
    if let Some(alert) = view.alerts.first() {
        second.push(Span::raw(" · "));
        second.push(Span::styled(format!("! {alert}"), bold().fg(Color::Red)));
    }
    vec![Line::from(first), Line::from(second)]
}

fn subscription_lines(view: &View, ui: &Ui, height: usize, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width);
    // What is left goes to the bar first (4 cells), then the name (up to
    // 12 more), then the bar again.
    let spare = width.saturating_sub(FIXED + MIN_NAME + MIN_BAR);
    let name_width = MIN_NAME + spare.saturating_sub(4).min(12);
    let bar_width = width.saturating_sub(FIXED + name_width).max(MIN_BAR);
    let heading = format!(
        "  {} {} {} {} {} {} {} {} {} {}",
        fit("SUBSCRIPTION", name_width),
        fit("STATE", 9),
        right("PRI", 3),
        fit("QUOTA", 7 + 1 + bar_width),
        right("USED", 4),
        fit("RESETS", 8),
        right("LEASE", 5),
        right("TODAY", 6),
        right("COST", 7),
        ""
    );
    let mut lines = vec![Line::styled(heading.trim_end().to_owned(), bold())];
    let mut blocks: Vec<Vec<Line<'static>>> = view
        .rows
        .iter()
        .enumerate()
        .map(|(index, row)| row_lines(row, index == ui.selected, name_width, bar_width, view))
        .collect();
    // Keep the selected subscription in sight when the pool is taller
    // than the screen.
    let room = height.saturating_sub(1);
    let mut start = 0;
    while start < ui.selected
        && blocks[start..=ui.selected.min(blocks.len().saturating_sub(1))]
            .iter()
            .map(Vec::len)
            .sum::<usize>()
            > room
    {
        start += 1;
    }
    for block in blocks.drain(start..) {
        lines.extend(block);
    }
    if view.rows.is_empty() {
        lines.push(Line::styled(
            "  no subscriptions yet: kage subscription add --name NAME",
            dim(),
        ));
    }
    lines
}

fn row_lines(
    row: &SubscriptionRow,
    selected: bool,
    name_width: usize,
    bar_width: usize,
    view: &View,
) -> Vec<Line<'static>> {
    let marker = match (selected, row.alert.is_some()) {
        (true, _) => "▶ ",
        (false, true) => "! ",
        (false, false) => "  ",
    };
    let name_style = if selected {
        bold().add_modifier(Modifier::REVERSED)
    } else {
        bold()
    };
    let leases = match row.max_concurrent {
        Some(cap) => format!("{}/{cap}", row.leases),
        None => row.leases.to_string(),
    };
    let empty = WindowBar {
        label: String::new(),
        utilization: 0.0,
        resets_at: None,
        alert: false,
    };
    let windows: Vec<&WindowBar> = if row.windows.is_empty() {
        vec![&empty]
    } else {
        row.windows.iter().collect()
    };
    windows
        .iter()
        .enumerate()
        .map(|(index, window)| {
            let mut spans = Vec::new();
            if index == 0 {
                spans.push(Span::styled(
                    marker,
                    if row.alert.is_some() {
                        bold().fg(Color::Red)
                    } else {
                        bold()
                    },
                ));
                spans.push(Span::styled(fit(&row.name, name_width), name_style));
                spans.push(Span::raw(" "));
                spans.push(Span::styled(
                    fit(format::state_short(row.state), 9),
                    state_style(row.state),
                ));
                spans.push(Span::raw(" "));
                spans.push(Span::raw(right(&row.priority.to_string(), 3)));
            } else {
                spans.push(Span::raw(" ".repeat(2 + name_width + 1 + 9 + 1 + 3)));
            }
            spans.push(Span::raw(" "));
            if window.label.is_empty() {
                spans.push(Span::styled(
                    fit("no quota reported", 7 + 1 + bar_width + 1 + 4 + 1 + 8),
                    dim(),
                ));
            } else {
                let style = if window.alert {
                    usage_style(window.utilization).add_modifier(Modifier::BOLD)
                } else {
                    usage_style(window.utilization)
                };
                let label = if window.label == "limit" || window.label == "quota" {
                    window.label.clone()
                } else {
                    short_label(&window.label)
                };
                spans.push(Span::raw(fit(&label, 7)));
                spans.push(Span::raw(" "));
                spans.push(Span::styled(bar(window.utilization, bar_width), style));
                #[allow(clippy::cast_possible_truncation, reason = "a percentage for people")]
                let percent = (window.utilization * 100.0).round() as i64;
                spans.push(Span::styled(right(&format!("{percent}%"), 5), style));
                spans.push(Span::raw(" "));
                let reset = window
                    .resets_at
                    .map_or_else(String::new, |at| countdown(at, view.now));
                spans.push(Span::raw(fit(&reset, 8)));
            }
            if index == 0 {
                spans.push(Span::raw(" "));
                spans.push(Span::raw(right(&leases, 5)));
                spans.push(Span::raw(" "));
                spans.push(Span::raw(right(&compact_tokens(row.tokens_today), 6)));
                spans.push(Span::raw(" "));
                spans.push(Span::raw(right(
                    &row.cost_today
                        .map_or_else(|| format::NONE.to_owned(), format::usd),
                    7,
                )));
            }
            Line::from(spans)
        })
        .collect()
}

fn lease_lines_of(view: &View, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width);
    if view.leases.is_empty() {
        return vec![Line::styled("no live lease", dim())];
    }
    let mut lines = vec![Line::styled(
        fit(
            &format!(
                "{} {} {} {} {} {}",
                fit("LEASED", 14),
                fit("HOLDER", 11),
                fit("HOST", 14),
                right("PID", 7),
                fit("FOR", 8),
                "TASK"
            ),
            width,
        )
        .trim_end()
        .to_owned(),
        bold(),
    )];
    for lease in view.leases.iter().take(6) {
        let held = format::duration(
            view.now
                .duration_since(lease.acquired_at)
                .max(SignedDuration::ZERO),
        );
        let text = format!(
            "{} {} {} {} {} {}",
            fit(&lease.subscription, 14),
            fit(&lease.program, 11),
            fit(&lease.host, 14),
            right(&lease.pid, 7),
            fit(&held, 8),
            lease.task
        );
        lines.push(Line::from(fit(&text, width).trim_end().to_owned()));
    }
    lines
}

fn waiter_lines_of(view: &View, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width);
    view.waiters
        .iter()
        .take(4)
        .map(|waiter| {
            let holder = kage_app::parse_holder(&waiter.holder);
            let who = match (&holder.host, holder.pid) {
                (Some(host), Some(pid)) => format!("{}@{host}:{pid}", holder.program),
                _ => holder.program.clone(),
            };
            let mut text = format!(
                "waiting {who}{} ({}) until {}",
                holder
                    .task
                    .map(|task| format!(" {task}"))
                    .unwrap_or_default(),
                waiter.request,
                format::local_time(waiter.until, view.now, &view.zone),
            );
            if let Some(next) = &waiter.next {
                text.push_str(&format!("; {next}"));
            }
            Line::styled(
                fit(&text, width).trim_end().to_owned(),
                Style::new().fg(Color::Yellow),
            )
        })
        .collect()
}

fn detail_line(view: &View, ui: &Ui, width: u16) -> Line<'static> {
    let width = usize::from(width);
    if let Some(message) = &ui.message {
        return Line::styled(fit(message, width).trim_end().to_owned(), bold());
    }
    let Some(row) = view.rows.get(ui.selected) else {
        return Line::raw("");
    };
    let mut text = format!("{}: {}", row.name, row.state.as_str());
    if !row.detail.is_empty() {
        text.push(' ');
        text.push_str(&row.detail);
    }
    if let Some(alert) = &row.alert {
        text.push_str(" · ");
        text.push_str(alert);
    }
    Line::styled(fit(&text, width).trim_end().to_owned(), dim())
}

fn footer_line(ui: &Ui, width: u16) -> Line<'static> {
    let width = usize::from(width);
    match &ui.mode {
        Mode::Disable { name, reason } => Line::from(vec![
            Span::styled(format!("disable {name}, reason: "), bold()),
            Span::raw(format!("{reason}█")),
            Span::styled("  (Enter disables, Esc cancels)", dim()),
        ]),
        Mode::Enable { name } => Line::from(vec![
            Span::styled(format!("enable {name}? "), bold()),
            Span::styled("(Enter or y enables, Esc cancels)", dim()),
        ]),
        _ => Line::styled(
            fit(
                "↑↓ move  d disable  e enable  r routes  ? help  q quit",
                width,
            )
            .trim_end()
            .to_owned(),
            dim(),
        ),
    }
}

fn help_lines() -> Vec<Line<'static>> {
    let mut lines: Vec<Line<'static>> = KEYS
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!("{key:<5}"), bold()),
                Span::raw((*what).to_owned()),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Bars: the latest utilization reported per quota window; ↻ counts down to its reset.",
        dim(),
    ));
    lines.push(Line::styled(
        "! marks a subscription past an alert threshold (alert_thresholds).",
        dim(),
    ));
    lines
}

fn overlay(frame: &mut Frame, title: &str, lines: Vec<Line<'static>>) {
    let area = frame.area();
    let height = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(2));
    let width = area.width.saturating_sub(4).min(76);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" {title} · any key closes "))),
        rect,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_by_eighths_and_keep_their_width() {
        assert_eq!(bar(0.0, 8), "░░░░░░░░");
        assert_eq!(bar(0.5, 8), "████░░░░");
        assert_eq!(bar(0.83, 8), "██████▋░");
        assert_eq!(bar(1.0, 8), "████████");
        assert_eq!(bar(1.7, 8), "████████", "overdrawn windows stay full");
        for share in [0.0, 0.01, 0.33, 0.5, 0.99, 1.0] {
            assert_eq!(bar(share, 9).chars().count(), 9);
        }
    }

    #[test]
    fn countdowns_are_short() {
        let now: jiff::Timestamp = "2025-06-02T09:30:00Z".parse().unwrap();
        let at = |text: &str| text.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(countdown(at("2025-06-02T11:43:00Z"), now), "↻2h13m");
        assert_eq!(countdown(at("2025-06-06T12:30:00Z"), now), "↻4d3h");
        assert_eq!(countdown(at("2025-06-02T09:30:45Z"), now), "↻45s");
        assert_eq!(countdown(now, now), "↻now");
        assert_eq!(compact_tokens(45_230), "45.2k");
        assert_eq!(compact_tokens(1_250_000), "1.2M");
        assert_eq!(compact_tokens(0), "—");
        assert_eq!(fit("backend-dedicated", 12), "backend-ded…");
        assert_eq!(fit("ci", 4), "ci  ");
    }
}
