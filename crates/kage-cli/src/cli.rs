//! The command line's shape: the top-level parser, global options and the
//! noun-verb command tree. Each leaf's arguments live beside its `run` in
//! `command/`.

use std::path::PathBuf;

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::command::{
    backup, claude, completions, config, doctor, exec, generate_man, lease, metrics, statusline,
    subscription, top, usage,
};

const KAGE_HELP: &str = "\
Examples:
  kage subscription add --name personal          # prompts for the token without echo
  kage subscription route --namespace backend --subscriptions work,personal
  kage subscription status
  kage exec --namespace backend -- claude
  kage doctor                                    # what is wrong, and how to fix it
  source <(kage completions bash)                # completion, subscription names included

Exit status:
  0    ok
  1    failure (also `kage doctor` finding a problem)
  2    usage error (bad flag or value, a taken name, a route to an unknown subscription)
  75   no subscription available (every one limited, busy or disabled)
  78   config error (the message names file:line:column)
  130  interrupted (Ctrl-C)
  A broken pipe (`kage … | head`) exits 0.";

const SUBSCRIPTION_EXAMPLES: &str = "\
Examples:
  kage subscription add --name work --credential-command \"pass show claude/work\"
  kage subscription list
  kage subscription status --json | jq .summary
  kage subscription usage --period week
  kage subscription explain --namespace backend";

const LEASE_EXAMPLES: &str = "\
Examples:
  lease=$(kage lease acquire --namespace ci --json | jq -r .id)
  kage lease heartbeat \"$lease\"
  kage lease release \"$lease\" --usage input=1200,output=340
  kage lease list";

const USAGE_EXAMPLES: &str = "\
Examples:
  kage usage import --subscription personal
  kage usage import --subscription work --since 5h ~/.claude/projects/-home-me-app";

const CONFIG_EXAMPLES: &str = "\
Examples:
  kage config path
  kage config check
  kage config show --resolved";

/// Pool several Claude Code subscriptions and lease the best one to each agent.
#[derive(Parser, Debug)]
#[command(
    name = "kage",
    version,
    about,
    long_about = "Pool several Claude Code subscriptions and lease the best one to each agent.\n\n\
        Kage keeps every subscription's health, priority, tags and usage, routes work by \
        namespace and priority level, and moves to another subscription when one hits its limit.",
    after_help = KAGE_HELP,
    after_long_help = KAGE_HELP,
    propagate_version = true,
    disable_help_subcommand = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub(crate) struct GlobalArgs {
    /// When to color output (NO_COLOR in the environment means never for `auto`)
    #[arg(
        long,
        value_enum,
        default_value_t = ColorChoice::Auto,
        global = true,
        value_name = "WHEN",
        help_heading = "Global options"
    )]
    pub(crate) color: ColorChoice,

    /// Say more on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, action = ArgAction::Count, global = true, help_heading = "Global options")]
    pub(crate) verbose: u8,

    /// Say nothing on stderr but errors
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Global options"
    )]
    pub(crate) quiet: bool,

    /// Read this config file instead of ~/.config/kage/config.toml (or KAGE_CONFIG)
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub(crate) config: Option<PathBuf>,
}

impl GlobalArgs {
    /// -1 for quiet, 0 by default, 1.. for each -v.
    pub(crate) fn verbosity(&self) -> i8 {
        if self.quiet {
            -1
        } else {
            i8::try_from(self.verbose).unwrap_or(i8::MAX)
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Manage the pool: add, route, watch status and usage
    #[command(visible_alias = "sub", subcommand, after_help = SUBSCRIPTION_EXAMPLES)]
    Subscription(SubscriptionCommand),

    /// Acquire, heartbeat, release and list leases (for scripts)
    #[command(subcommand, after_help = LEASE_EXAMPLES)]
    Lease(LeaseCommand),

    /// Import usage from Claude Code transcripts of sessions run outside Kage
    #[command(subcommand, after_help = USAGE_EXAMPLES)]
    Usage(UsageCommand),

    /// Run one command with a leased subscription in its environment
    Exec(exec::ExecArgs),

    /// Run Claude Code on the pool: status line, and failover that keeps the conversation
    Claude(claude::ClaudeArgs),

    /// Claude Code's status line: record the live quota, print one line
    Statusline(statusline::StatuslineArgs),

    /// The pool live, full screen: quota bars, leases, waiting agents, alerts
    Top(top::TopArgs),

    /// Print the pool's figures in Prometheus text format, or serve them over HTTP
    Metrics(metrics::MetricsArgs),

    /// Copy the SQLite pool database to a new file, safely while in use
    Backup(backup::BackupArgs),

    /// Find, check and show the config file
    #[command(subcommand, after_help = CONFIG_EXAMPLES)]
    Config(ConfigCommand),

    /// Check config, database, keychain, credentials and `claude`; say what to fix
    Doctor(doctor::DoctorArgs),

    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    Completions(completions::CompletionsArgs),

    /// Write man pages (used by `cargo xtask man`)
    #[command(hide = true)]
    GenerateMan(generate_man::GenerateManArgs),
}

#[derive(Subcommand, Debug)]
pub(crate) enum SubscriptionCommand {
    /// Register a subscription and store its credential
    Add(subscription::add::AddArgs),
    /// List the subscriptions and their settings
    List(subscription::list::ListArgs),
    /// Show one subscription: settings, state, leases, history, usage
    Show(subscription::show::ShowArgs),
    /// Change a subscription's settings or credential
    Edit(subscription::edit::EditArgs),
    /// Remove a subscription and its stored credential
    #[command(visible_alias = "rm")]
    Remove(subscription::remove::RemoveArgs),
    /// Put a subscription back in the pool at once
    Enable(subscription::enable::EnableArgs),
    /// Take a subscription out of the pool until enabled
    Disable(subscription::disable::DisableArgs),
    /// Route a namespace or a priority level to some subscriptions
    Route(subscription::route::RouteArgs),
    /// Delete a saved route
    Unroute(subscription::unroute::UnrouteArgs),
    /// Show every routing rule and where it comes from
    Routes(subscription::routes::RoutesArgs),
    /// Show which subscription a request would get now, and why
    Explain(subscription::explain::ExplainArgs),
    /// Show the pool's state and today's usage
    Status(subscription::status::StatusArgs),
    /// Show usage per day, with token kinds and cost
    Usage(subscription::usage::UsageArgs),
    /// Check that each subscription's credential can be read now
    Test(subscription::test::TestArgs),
}

#[derive(Subcommand, Debug)]
pub(crate) enum LeaseCommand {
    /// Lease the best subscription now; prints the lease id and subscription
    Acquire(lease::acquire::AcquireArgs),
    /// Keep a lease alive for another TTL
    Heartbeat(lease::heartbeat::HeartbeatArgs),
    /// End a lease, reporting its outcome and usage
    Release(lease::release::ReleaseArgs),
    /// List the live leases
    List(lease::list::ListArgs),
}

#[derive(Subcommand, Debug)]
pub(crate) enum UsageCommand {
    /// Record the usage of Claude Code sessions from their transcripts, each message once
    Import(usage::import::ImportArgs),
}

#[derive(Subcommand, Debug)]
pub(crate) enum ConfigCommand {
    /// Print the config file's path
    Path(config::path::PathArgs),
    /// Check the config file, its routes included, against the pool
    Check(config::check::CheckArgs),
    /// Print the config file, or every resolved value with its source
    Show(config::show::ShowArgs),
}

/// The whole clap command, for completions, man pages and help tests.
pub fn command() -> clap::Command {
    Cli::command()
}
