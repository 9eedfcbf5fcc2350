//! Formatting for people: the shared, pure formatting of `kage_app::format`
//! (so `kage` and `kage-agent` show tokens, cost and times the same way),
//! plus the table colors only `kage` uses.

use kage_domain::StateKind;

pub(crate) use kage_app::format::*;

/// The ANSI color of a state, for tables.
pub(crate) fn state_color(kind: StateKind) -> comfy_table::Color {
    match kind {
        StateKind::Active => comfy_table::Color::Green,
        StateKind::RateLimited => comfy_table::Color::Yellow,
        StateKind::Exhausted | StateKind::Unhealthy => comfy_table::Color::Red,
        StateKind::Disabled => comfy_table::Color::DarkGrey,
    }
}
