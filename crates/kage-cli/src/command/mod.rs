//! One module per command (`subscription/add.rs`, `lease/acquire.rs`, …),
//! each an args struct with `run`; [`dispatch`] runs the one that was asked
//! for and turns its result into an exit code.

pub(crate) mod backup;
pub(crate) mod claude;
pub(crate) mod completions;
pub(crate) mod config;
pub(crate) mod doctor;
pub(crate) mod exec;
pub(crate) mod generate_man;
pub(crate) mod lease;
pub(crate) mod metrics;
pub(crate) mod statusline;
pub(crate) mod subscription;
pub(crate) mod top;
pub(crate) mod usage;

use clap::{Args, ValueEnum};
use kage_config::{Config, ConfigError};
use kage_domain::{ModelFamily, Namespace, PriorityLevel, SelectionRequest, SubscriptionName, Tag};

use crate::cli::{Cli, Command, ConfigCommand, LeaseCommand, SubscriptionCommand, UsageCommand};
use crate::output::Printer;
use kage_app::exit::UsageError;
use kage_app::exit::{self, Interrupted};
use kage_app::pool::{self as app, AppPool, GlobalOptions};

/// What every command gets: where to print, and how to open the pool.
pub(crate) struct Context<'a> {
    pub(crate) printer: &'a Printer,
    pub(crate) options: GlobalOptions,
}

/// The pool and the config it was opened with.
pub(crate) struct Opened {
    pub(crate) pool: AppPool,
    pub(crate) config: Config,
    /// Where releases that cannot be written are kept (SQLite pools).
    pub(crate) spool: Option<kage_app::spool::Spool>,
}

impl Context<'_> {
    pub(crate) fn config(&self) -> Result<Config, ConfigError> {
        app::load_config(&self.options)
    }

    pub(crate) async fn open(&self) -> anyhow::Result<Opened> {
        let config = self.config()?;
        let pool = app::open_pool_with(&self.options, &config).await?;
        let spool = kage_app::spool::Spool::for_config(&config);
        if let Some(spool) = &spool {
            let recorded = spool.replay(&pool).await;
            if recorded > 0 {
                self.printer.info(format_args!(
                    "kage: recorded {recorded} release(s) kept from an earlier failed write"
                ));
            }
        }
        Ok(Opened {
            pool,
            config,
            spool,
        })
    }
}

/// A priority level as a flag value (`--priority high`), with its
/// possible values listed in `--help`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LevelArg {
    High,
    Normal,
    Low,
    Batch,
}

impl From<LevelArg> for PriorityLevel {
    fn from(level: LevelArg) -> Self {
        match level {
            LevelArg::High => Self::High,
            LevelArg::Normal => Self::Normal,
            LevelArg::Low => Self::Low,
            LevelArg::Batch => Self::Batch,
        }
    }
}

/// The flags of a request for a subscription, shared by every command that
/// selects one (`kage lease acquire`, `kage exec`, `kage claude`,
/// `kage subscription explain`).
#[derive(Args, Debug, Clone)]
pub(crate) struct SelectionArgs {
    /// The namespace the work runs under
    #[arg(long, value_name = "NS")]
    pub(crate) namespace: Option<Namespace>,

    /// The task's priority level
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = LevelArg::Normal, allow_negative_numbers = true)]
    pub(crate) priority: LevelArg,

    /// The model the work uses (`claude-opus-4-5`, `opus`, `sonnet`): subscriptions at their limit for that model family are passed over
    #[arg(long, value_name = "MODEL")]
    pub(crate) model: Option<String>,

    /// Tags the subscription must carry (comma-separated)
    #[arg(long, value_name = "TAGS", value_delimiter = ',')]
    pub(crate) tags: Vec<Tag>,
}

impl SelectionArgs {
    /// The selection these flags ask for.
    pub(crate) fn request(&self) -> SelectionRequest {
        SelectionRequest {
            namespace: self.namespace.clone(),
            level: self.priority.into(),
            required_tags: self.tags.clone(),
            model: self.model.as_deref().and_then(ModelFamily::of),
        }
    }
}

/// The name in `names` nearest to `name`, if it is close enough to be a typo.
pub(crate) fn nearest<'a>(
    name: &str,
    names: impl IntoIterator<Item = &'a SubscriptionName>,
) -> Option<&'a SubscriptionName> {
    let names: Vec<&'a SubscriptionName> = names.into_iter().collect();
    let found = kage_domain::nearest(name, names.iter().map(|candidate| candidate.as_str()))?;
    names
        .into_iter()
        .find(|candidate| candidate.as_str() == found)
}

async fn run(command: Command, context: &Context<'_>) -> anyhow::Result<()> {
    match command {
        Command::Subscription(command) => match command {
            SubscriptionCommand::Add(args) => args.run(context).await,
            SubscriptionCommand::List(args) => args.run(context).await,
            SubscriptionCommand::Show(args) => args.run(context).await,
            SubscriptionCommand::Edit(args) => args.run(context).await,
            SubscriptionCommand::Remove(args) => args.run(context).await,
            SubscriptionCommand::Enable(args) => args.run(context).await,
            SubscriptionCommand::Disable(args) => args.run(context).await,
            SubscriptionCommand::Route(args) => args.run(context).await,
            SubscriptionCommand::Unroute(args) => args.run(context).await,
            SubscriptionCommand::Routes(args) => args.run(context).await,
            SubscriptionCommand::Explain(args) => args.run(context).await,
            SubscriptionCommand::Status(args) => args.run(context).await,
            SubscriptionCommand::Usage(args) => args.run(context).await,
            SubscriptionCommand::Test(args) => args.run(context).await,
        },
        Command::Lease(command) => match command {
            LeaseCommand::Acquire(args) => args.run(context).await,
            LeaseCommand::Heartbeat(args) => args.run(context).await,
            LeaseCommand::Release(args) => args.run(context).await,
            LeaseCommand::List(args) => args.run(context).await,
        },
        Command::Usage(UsageCommand::Import(args)) => args.run(context).await,
        Command::Metrics(args) => args.run(context).await,
        Command::Backup(args) => args.run(context).await,
        Command::Top(args) => args.run(context).await,
        Command::Config(command) => match command {
            ConfigCommand::Path(args) => args.run(context),
            ConfigCommand::Check(args) => args.run(context).await,
            ConfigCommand::Show(args) => args.run(context),
        },
        Command::Doctor(args) => args.run(context).await,
        Command::Completions(args) => args.run(context),
        Command::GenerateMan(args) => args.run(context),
        Command::Exec(_) | Command::Claude(_) | Command::Statusline(_) => {
            unreachable!("exec, claude and statusline are dispatched on their own")
        }
    }
}

/// Run the parsed command line; the exit code.
pub(crate) async fn dispatch(cli: Cli, printer: &Printer) -> u8 {
    let options = GlobalOptions::from_process().with_config_file(cli.global.config.clone());
    let context = Context { printer, options };
    let result = match cli.command {
        // exec handles signals itself: they go to the child.
        Command::Exec(args) => args.run(&context).await,
        Command::Claude(args) => args.run(&context).await,
        // Runs after every response of Claude Code: fast, and never fails
        // the user's status line.
        Command::Statusline(args) => args.run(&context).await.map(|()| exit::OK),
        // A credential prompt blocks this thread; Ctrl-C there must end the
        // process at once (the default action), not wait for the prompt.
        command @ Command::Subscription(
            SubscriptionCommand::Add(_) | SubscriptionCommand::Edit(_),
        ) => run(command, &context).await.map(|()| exit::OK),
        command => {
            tokio::select! {
                result = run(command, &context) => result.map(|()| exit::OK),
                _ = tokio::signal::ctrl_c() => Err(Interrupted.into()),
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(error) if exit::is_broken_pipe(&error) => exit::OK,
        Err(error) => {
            printer.error(&error);
            exit::code_for(&error)
        }
    }
}

/// Free text given with `flag` (a description, reason, holder or
/// credential command), refused when it holds a control character. The
/// message never quotes the text: it could repaint the terminal.
pub(crate) fn plain_text(flag: &str, value: Option<String>) -> Result<Option<String>, UsageError> {
    match value {
        Some(text) => kage_domain::plain_text("text", &text).map(Some).map_err(|_| {
            UsageError(format!(
                "{flag} holds a control character (an escape, a line break, a tab or a NUL); give one line of plain text"
            ))
        }),
        None => Ok(None),
    }
}
