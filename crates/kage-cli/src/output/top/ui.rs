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
