//! `kage top`'s screen: the view model ([`view`]), the keys and prompts
//! ([`ui`]), the layout ([`draw`]) and the full-screen terminal
//! ([`terminal`]). [`frame_text`] draws one frame as plain text, for
//! `kage top --once` and the tests.

pub(crate) mod draw;
pub(crate) mod terminal;
pub(crate) mod ui;
pub(crate) mod view;

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use self::ui::Ui;
use self::view::View;

/// One frame of `width` × `height` as text, one line per row, trailing
/// blanks cut.
/// Print one frame as plain text on stdout (`kage top --once`).
pub(crate) fn print_frame(
    printer: &crate::output::Printer,
    view: &View,
    width: u16,
    height: u16,
) -> std::io::Result<()> {
    printer.out(&frame_text(view, &Ui::default(), width, height))
}

pub(crate) fn frame_text(view: &View, ui: &Ui, width: u16, height: u16) -> String {
    let Ok(mut terminal) = Terminal::new(TestBackend::new(width.max(20), height.max(8)));
    if terminal.draw(|frame| draw::draw(frame, view, ui)).is_err() {
        return String::new();
    }
    let buffer = terminal.backend().buffer();
    let area = buffer.area;
    let mut text = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}
