//! Routing: `route`/`unroute` confirmations and the `routes` table.

use std::io;

use comfy_table::Cell;
use kage_core::{RouteChange, RouteSource, RouteView};
use kage_domain::RouteTarget;

use super::format;
use super::json::{self, RouteJson};
use super::{Printer, table};

/// `route --json`, `unroute --json`: the change as one JSON object.
pub(crate) fn change_json(printer: &Printer, change: &RouteChange) -> io::Result<()> {
    printer.out(&json::document(&json::RouteChangeJson::new(change)))
}

/// After `route`.
pub(crate) fn routed(printer: &Printer, change: &RouteChange) {
    printer.info(format_args!(
        "Routed {} to {}",
        change.target,
        format::list(&change.entries)
    ));
    config_wins(printer, change);
}

/// After `unroute`.
pub(crate) fn unrouted(printer: &Printer, change: &RouteChange) {
    printer.info(format_args!(
        "Removed the saved route for {} (was {})",
        change.target,
        format::list(&change.entries)
    ));
    config_wins(printer, change);
}

fn config_wins(printer: &Printer, change: &RouteChange) {
    if let Some(config_rule) = &change.config_rule {
        printer.warn(format_args!(
            "the config file also routes {} (to {}), and the config file wins; edit it there, or remove it from the config file to use the saved route",
            change.target,
            format::list(config_rule)
        ));
    }
}

/// `kage subscription routes`.
pub(crate) fn list(
    printer: &Printer,
    views: &[RouteView],
    location: &dyn Fn(&RouteTarget) -> Option<String>,
    as_json: bool,
) -> io::Result<()> {
    let winner = |view: &RouteView| {
        views
            .iter()
            .find(|other| other.source == RouteSource::ConfigFile && other.target == view.target)
    };
    let same_as_file =
        |view: &RouteView| winner(view).is_some_and(|winner| winner.entries == view.entries);
    for view in views
        .iter()
        .filter(|view| view.overridden && !same_as_file(view))
    {
        let winner = winner(view);
        printer.warn(format_args!(
            "the saved route for {} ({}) conflicts with the config file's ({}); the config file wins",
            view.target,
            format::list(&view.entries),
            winner.map_or_else(|| format::NONE.to_owned(), |winner| format::list(&winner.entries)),
        ));
    }
    if as_json {
        let routes: Vec<RouteJson> = views.iter().map(RouteJson::new).collect();
        return printer.out(&json::document(&routes));
    }
    if views.is_empty() {
        return printer.line(
            "No routing rules: every request may use every subscription. Add one with `kage subscription route --namespace NS --subscriptions a,b`.",
        );
    }
    let mut grid = table::new(&["Route", "Subscriptions", "Source", "Note"], printer);
    for view in views {
        let source = match (view.source, location(&view.target)) {
            (RouteSource::ConfigFile, Some(at)) => {
                format!("config file ({})", format::home_relative(&at))
            }
            (source, _) => source.as_str().to_owned(),
        };
        let note = match (view.overridden, same_as_file(view)) {
            (true, true) => "the config file says the same",
            (true, false) => "overridden: the config file wins",
            (false, _) => "",
        };
        grid.add_row(vec![
            Cell::new(view.target.to_string()),
            Cell::new(format::list(&view.entries)),
            Cell::new(source),
            Cell::new(note),
        ]);
    }
    printer.out(&table::render(&grid))
}
