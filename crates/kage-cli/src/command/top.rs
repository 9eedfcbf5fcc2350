//! `kage top`: the pool live, full screen, read from the store every
//! second (SQLite or a shared PostgreSQL pool alike): subscriptions with
//! their state, priority, a bar per known quota window and its reset, live
//! leases with their holders, agents waiting, today's tokens and cost, and
//! quota alerts. Keys move, disable (with a reason) and enable the selected
//! subscription, show the routes and help. `--once` prints one frame.
//!
//! The screen lives in `output/top/`; this file runs the loop: keys from a
//! reader thread, a one-second tick, and SIGTERM/SIGHUP (Ctrl-C arrives as
//! a key in raw mode; SIGINT from elsewhere is handled by `dispatch`). Every
//! way out drops the terminal guard, which gives the terminal back.

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use crossterm::event::Event;
use kage_app::exit::Interrupted;
use kage_app::pool::AppPool;
use kage_domain::SubscriptionName;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::command::Context;
use crate::output::top::terminal::TerminalGuard;
use crate::output::top::ui::{Action, Ui};
use crate::output::top::view::View;
use crate::output::top::{draw, print_frame};

const EXAMPLES: &str = "\
Examples:
  kage top
  kage top --once            one frame as text, for scripts
  COLUMNS=100 LINES=30 kage top --once";

/// How often the pool is read again.
const REFRESH: Duration = Duration::from_secs(1);

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct TopArgs {
    /// Print one frame as plain text and exit (size: the terminal, else COLUMNS × LINES, else 80×24)
    #[arg(long)]
    once: bool,
}

/// The size of the `--once` frame.
fn once_size() -> (u16, u16) {
    let from_env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.trim().parse::<u16>().ok())
            .filter(|value| *value > 0)
    };
    let terminal = if std::io::stdout().is_terminal() {
        crossterm::terminal::size().ok()
    } else {
        None
    };
    let width = from_env("COLUMNS")
        .or(terminal.map(|(width, _)| width))
        .unwrap_or(80);
    let height = from_env("LINES")
        .or(terminal.map(|(_, height)| height))
        .unwrap_or(24);
    (width, height)
}

impl TopArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let pool = &opened.pool;
        if self.once {
            let view = View::new(&pool.top().await?);
            let (width, height) = once_size();
            print_frame(context.printer, &view, width, height)?;
            return Ok(());
        }
        if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "kage top needs a terminal; run it in one, or use `kage top --once` for one frame as text"
            );
        }
        let mut view = View::new(&pool.top().await?);
        let mut terminal_signal = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        let mut guard = TerminalGuard::enter().context("cannot take over the terminal")?;
        let (keys, mut events) = mpsc::channel::<Event>(64);
        std::thread::spawn(move || {
            while let Ok(event) = crossterm::event::read() {
                if keys.blocking_send(event).is_err() {
                    break;
                }
            }
        });
        let mut ui = Ui::default();
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            guard
                .terminal
                .draw(|frame| draw::draw(frame, &view, &ui))
                .context("cannot draw the screen")?;
            tokio::select! {
                _ = tick.tick() => {
                    refresh(pool, &mut view, &mut ui).await;
                }
                event = events.recv() => {
                    let Some(event) = event else { break };
                    let Event::Key(key) = event else { continue };
                    let action = ui.key(key, &view);
                    if action == Action::Quit {
                        break;
                    }
                    if act(pool, action, &mut ui).await {
                        refresh(pool, &mut view, &mut ui).await;
                    }
                }
                _ = terminal_signal.recv() => {
                    drop(guard);
                    return Err(Interrupted.into());
                }
                _ = hangup.recv() => {
                    drop(guard);
                    return Err(Interrupted.into());
                }
            }
        }
        drop(guard);
        Ok(())
    }
}

/// Read the pool again; on failure keep the last view and say why.
async fn refresh(pool: &AppPool, view: &mut View, ui: &mut Ui) {
    match pool.top().await {
        Ok(snapshot) => {
            *view = View::new(&snapshot);
            ui.clamp(view);
        }
        Err(error) => ui.set_message(format!("cannot read the pool: {error}; retrying")),
    }
}

/// Do what a key asked; whether the pool changed.
async fn act(pool: &AppPool, action: Action, ui: &mut Ui) -> bool {
    let name = |text: &str| SubscriptionName::new(text).ok();
    match action {
        Action::Nothing | Action::Redraw | Action::Quit => false,
        Action::Disable { name: text, reason } => {
            let Some(subscription) = name(&text) else {
                return false;
            };
            let reason = Some(reason).filter(|reason| !reason.is_empty());
            match pool.disable(&subscription, reason.clone()).await {
                Ok(_) => ui.set_message(match reason {
                    Some(reason) => format!("disabled {text}: {reason}"),
                    None => format!("disabled {text}"),
                }),
                Err(error) => ui.set_message(format!("could not disable {text}: {error}")),
            }
            true
        }
        Action::Enable { name: text } => {
            let Some(subscription) = name(&text) else {
                return false;
            };
            match pool.enable(&subscription).await {
                Ok(_) => ui.set_message(format!("enabled {text}")),
                Err(error) => ui.set_message(format!("could not enable {text}: {error}")),
            }
            true
        }
        Action::Routes => {
            match pool.routes().await {
                Ok(routes) if routes.is_empty() => ui.show_routes(vec![
                    "no routes: every subscription serves every request".to_owned(),
                ]),
                Ok(routes) => ui.show_routes(
                    routes
                        .iter()
                        .map(|route| {
                            let entries: Vec<String> =
                                route.entries.iter().map(ToString::to_string).collect();
                            format!(
                                "{} → {} ({}{})",
                                route.target,
                                entries.join(", "),
                                route.source.as_str(),
                                if route.overridden {
                                    ", hidden by the config file"
                                } else {
                                    ""
                                }
                            )
                        })
                        .collect(),
                ),
                Err(error) => ui.set_message(format!("cannot read the routes: {error}")),
            }
            false
        }
    }
}
