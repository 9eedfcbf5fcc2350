//! `kage config path | check | show`.

use std::io;
use std::path::Path;

use comfy_table::Cell;
use kage_config::ResolvedEntry;
use serde::Serialize;

use super::json::{self, ResolvedJson};
use super::{Printer, table};

#[derive(Serialize)]
struct PathJson {
    path: String,
    chosen_by: String,
    exists: bool,
}

#[derive(Serialize)]
struct CheckJson {
    /// Absent when there is no config file.
    file: Option<String>,
    routes: usize,
    subscriptions: usize,
}

pub(crate) fn path(
    printer: &Printer,
    path: &Path,
    rule: &str,
    exists: bool,
    as_json: bool,
) -> io::Result<()> {
    if as_json {
        let data = PathJson {
            path: path.display().to_string(),
            chosen_by: rule.to_owned(),
            exists,
        };
        return printer.out(&json::document(&data));
    }
    printer.line(path.display())?;
    let state = if exists {
        "it exists"
    } else {
        "it does not exist yet, so the defaults apply; `kage config show` prints a commented example"
    };
    printer.hint(format_args!("chosen by {rule}; {state}"));
    Ok(())
}

pub(crate) fn checked(
    printer: &Printer,
    file: Option<&Path>,
    looked_at: Option<(&Path, &str)>,
    routes: usize,
    subscriptions: usize,
    as_json: bool,
) -> io::Result<()> {
    if as_json {
        let data = CheckJson {
            file: file.map(|file| file.display().to_string()),
            routes,
            subscriptions,
        };
        return printer.out(&json::document(&data));
    }
    let what = match file {
        Some(file) => format!("config OK: {}", file.display()),
        None => match looked_at {
            Some((path, rule)) => format!(
                "config OK: no config file at {} (chosen by {rule}), so the defaults apply",
                path.display()
            ),
            None => "config OK: no config file, so the defaults apply".to_owned(),
        },
    };
    printer.line(format_args!(
        "{what} ({routes} route(s) checked against {subscriptions} subscription(s))"
    ))
}

pub(crate) fn text(printer: &Printer, text: &str) -> io::Result<()> {
    if text.ends_with('\n') {
        printer.out(text)
    } else {
        printer.line(text)
    }
}

/// A TOML string value holding a path under the home directory, with `~`.
fn value(text: &str) -> String {
    match text
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
    {
        Some(inner) => format!("\"{}\"", super::format::home_relative(inner)),
        None => text.to_owned(),
    }
}

pub(crate) fn resolved(
    printer: &Printer,
    entries: &[ResolvedEntry],
    as_json: bool,
) -> io::Result<()> {
    if as_json {
        let values: Vec<ResolvedJson> = entries
            .iter()
            .map(|entry| ResolvedJson {
                key: entry.key.clone(),
                value: entry.value.clone(),
                source: entry.source.to_string(),
            })
            .collect();
        return printer.out(&json::document(&values));
    }
    let mut grid = table::new(&["Key", "Value", "Source"], printer);
    for entry in entries {
        grid.add_row(vec![
            Cell::new(&entry.key),
            Cell::new(value(&entry.value)),
            Cell::new(super::format::home_relative(&entry.source.to_string())),
        ]);
    }
    printer.out(&table::render(&grid))
}
