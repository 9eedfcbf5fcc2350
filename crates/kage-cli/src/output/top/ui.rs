//! The interactive state of `kage top` and what each key does: moving the
//! selection, the disable/enable prompts, the help and routes overlays.
//! Pure: a key changes the state and may ask the command for an
//! [`Action`]; the command does it and reports back with
//! [`Ui::set_message`].

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::view::View;

/// What the screen is showing on top of the pool.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Normal,
    /// Typing the reason to disable `name`.
    Disable {
        name: String,
        reason: String,
    },
    /// Confirming that `name` should be enabled.
    Enable {
        name: String,
    },
    Help,
    /// The routes, one line each.
    Routes(Vec<String>),
}

/// What the command should do after a key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Action {
    Nothing,
    /// Draw again (the state changed).
    Redraw,
    Quit,
    Disable {
        name: String,
        reason: String,
    },
    Enable {
        name: String,
    },
    /// Read the routes and show them ([`Ui::show_routes`]).
    Routes,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Ui {
    pub(crate) selected: usize,
    pub(crate) mode: Mode,
    /// The outcome of the last action (`disabled work-premium`), or an error.
    pub(crate) message: Option<String>,
}

impl Default for Ui {
    fn default() -> Self {
        Self {
            selected: 0,
            mode: Mode::Normal,
            message: None,
        }
    }
}

impl Ui {
    pub(crate) fn set_message(&mut self, message: impl Into<String>) {
        self.message = Some(message.into());
    }

    pub(crate) fn show_routes(&mut self, lines: Vec<String>) {
        self.mode = Mode::Routes(lines);
    }

    /// Keep the selection on a row after the pool changed size.
    pub(crate) fn clamp(&mut self, view: &View) {
        self.selected = self.selected.min(view.rows.len().saturating_sub(1));
    }

    fn selected_name<'a>(&self, view: &'a View) -> Option<&'a str> {
        view.rows.get(self.selected).map(|row| row.name.as_str())
    }

    /// Handle one key.
    pub(crate) fn key(&mut self, key: KeyEvent, view: &View) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::Nothing;
        }
        let control_c =
            key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
        if control_c {
            return Action::Quit;
        }
        match &mut self.mode {
            Mode::Disable { name, reason } => match key.code {
                KeyCode::Enter => {
                    let action = Action::Disable {
                        name: name.clone(),
                        reason: reason.trim().to_owned(),
                    };
                    self.mode = Mode::Normal;
                    action
                }
                KeyCode::Esc => {
                    self.mode = Mode::Normal;
                    self.message = Some("not disabled".to_owned());
                    Action::Redraw
                }
                KeyCode::Backspace => {
                    reason.pop();
                    Action::Redraw
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    if reason.chars().count() < 200 {
                        reason.push(c);
                    }
                    Action::Redraw
                }
                _ => Action::Nothing,
            },
            Mode::Enable { name } => match key.code {
                KeyCode::Enter | KeyCode::Char('y' | 'Y') => {
                    let action = Action::Enable { name: name.clone() };
                    self.mode = Mode::Normal;
                    action
                }
                KeyCode::Esc | KeyCode::Char('n' | 'N') => {
                    self.mode = Mode::Normal;
                    self.message = Some("not enabled".to_owned());
                    Action::Redraw
                }
                _ => Action::Nothing,
            },
            Mode::Help | Mode::Routes(_) => match key.code {
                KeyCode::Char('q') => Action::Quit,
                _ => {
                    self.mode = Mode::Normal;
                    Action::Redraw
                }
            },
            Mode::Normal => self.normal_key(key, view),
        }
    }

    fn normal_key(&mut self, key: KeyEvent, view: &View) -> Action {
        let last = view.rows.len().saturating_sub(1);
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                Action::Redraw
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(last);
                Action::Redraw
            }
            KeyCode::Home => {
                self.selected = 0;
                Action::Redraw
            }
            KeyCode::End => {
                self.selected = last;
                Action::Redraw
            }
            KeyCode::Char('d') => match self.selected_name(view) {
                Some(name) => {
                    self.mode = Mode::Disable {
                        name: name.to_owned(),
                        reason: String::new(),
                    };
                    Action::Redraw
                }
                None => Action::Nothing,
            },
            KeyCode::Char('e') => match self.selected_name(view) {
                Some(name) => {
                    self.mode = Mode::Enable {
                        name: name.to_owned(),
                    };
                    Action::Redraw
                }
                None => Action::Nothing,
            },
            KeyCode::Char('r') => Action::Routes,
            KeyCode::Char('?' | 'h') => {
                self.mode = Mode::Help;
                Action::Redraw
            }
            _ => Action::Nothing,
        }
    }
}

/// The keys, for the help overlay and the footer.
pub(crate) const KEYS: [(&str, &str); 7] = [
    ("↑ ↓", "move between subscriptions"),
    ("d", "disable the selected one (asks why)"),
    ("e", "enable the selected one"),
    ("r", "show the routes"),
    ("?", "this help"),
    ("q", "quit (also Esc, Ctrl-C)"),
    ("Esc", "close a prompt or an overlay"),
];

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use jiff::tz::TimeZone;
    use kage_domain::StateKind;

    use super::*;
    use crate::output::top::view::SubscriptionRow;

    fn view(names: &[&str]) -> View {
        View {
            now: jiff::Timestamp::UNIX_EPOCH,
            zone: TimeZone::UTC,
            rows: names
                .iter()
                .map(|name| SubscriptionRow {
                    name: (*name).to_owned(),
                    state: StateKind::Active,
                    detail: String::new(),
                    priority: 100,
                    windows: Vec::new(),
                    leases: 0,
                    max_concurrent: None,
                    tokens_today: 0,
                    cost_today: None,
                    alert: None,
                })
                .collect(),
            leases: Vec::new(),
            waiters: Vec::new(),
            alerts: Vec::new(),
        }
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(ui: &mut Ui, view: &View, text: &str) {
        for c in text.chars() {
            ui.key(key(KeyCode::Char(c)), view);
        }
    }

    #[test]
    fn arrows_move_within_the_pool() {
        let view = view(&["a", "b", "c"]);
        let mut ui = Ui::default();
        ui.key(key(KeyCode::Up), &view);
        assert_eq!(ui.selected, 0);
        for _ in 0..5 {
            ui.key(key(KeyCode::Down), &view);
        }
        assert_eq!(ui.selected, 2);
        ui.key(key(KeyCode::Char('k')), &view);
        assert_eq!(ui.selected, 1);
    }

    #[test]
    fn d_asks_for_a_reason_then_disables() {
        let view = view(&["a", "b"]);
        let mut ui = Ui::default();
        ui.key(key(KeyCode::Down), &view);
        assert_eq!(ui.key(key(KeyCode::Char('d')), &view), Action::Redraw);
        // Keys that would act in the normal mode are text in the prompt.
        typed(&mut ui, &view, "quota q");
        ui.key(key(KeyCode::Backspace), &view);
        ui.key(key(KeyCode::Backspace), &view);
        assert_eq!(
            ui.key(key(KeyCode::Enter), &view),
            Action::Disable {
                name: "b".to_owned(),
                reason: "quota".to_owned()
            }
        );
        assert_eq!(ui.mode, Mode::Normal);
        ui.key(key(KeyCode::Char('d')), &view);
        assert_eq!(ui.key(key(KeyCode::Esc), &view), Action::Redraw);
        assert_eq!(ui.mode, Mode::Normal);
        assert_eq!(ui.message.as_deref(), Some("not disabled"));
    }

    #[test]
    fn e_confirms_then_enables_and_q_quits() {
        let view = view(&["a"]);
        let mut ui = Ui::default();
        ui.key(key(KeyCode::Char('e')), &view);
        assert_eq!(
            ui.key(key(KeyCode::Char('y')), &view),
            Action::Enable {
                name: "a".to_owned()
            }
        );
        assert_eq!(ui.key(key(KeyCode::Char('r')), &view), Action::Routes);
        ui.key(key(KeyCode::Char('?')), &view);
        assert_eq!(ui.mode, Mode::Help);
        assert_eq!(ui.key(key(KeyCode::Char('x')), &view), Action::Redraw);
        assert_eq!(ui.mode, Mode::Normal);
        assert_eq!(ui.key(key(KeyCode::Char('q')), &view), Action::Quit);
        let control_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        ui.key(key(KeyCode::Char('d')), &view);
        assert_eq!(ui.key(control_c, &view), Action::Quit, "even in a prompt");
        let empty = super::super::view::View {
            rows: Vec::new(),
            ..view
        };
        let mut ui = Ui::default();
        assert_eq!(ui.key(key(KeyCode::Char('d')), &empty), Action::Nothing);
    }
}
