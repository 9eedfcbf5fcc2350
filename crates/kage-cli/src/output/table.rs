//! Tables in the seed's box style, fitted to the terminal (comfy-table).

use comfy_table::{Cell, ContentArrangement, Table};

/// The seed's style: full borders, a `├─┼─┤` line under the header, no
/// lines between rows.
pub(crate) const SEED_STYLE: &str = "││──├─┼┤│    ┬┴┌┐└┘";

/// A table with `headers`, fitted to the terminal width when stdout is a
/// terminal, unbounded otherwise (pipes and files get whole lines).
pub(crate) fn new(headers: &[&str], printer: &super::Printer) -> Table {
    let mut table = Table::new();
    table.load_preset(SEED_STYLE);
    if printer.stdout_is_terminal() {
        table.set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        table.force_no_tty();
        table.set_content_arrangement(ContentArrangement::Disabled);
    }
    if printer.stdout_color() {
        table.enforce_styling();
    }
    table.set_header(headers.iter().map(Cell::new));
    table
}

/// A cell colored when stdout is colored.
pub(crate) fn colored(text: &str, color: comfy_table::Color, printer: &super::Printer) -> Cell {
    let cell = Cell::new(text);
    if printer.stdout_color() {
        cell.fg(color)
    } else {
        cell
    }
}

/// The table as text, with a final newline.
pub(crate) fn render(table: &Table) -> String {
    let mut text = table.to_string();
    text.push('\n');
    text
}
