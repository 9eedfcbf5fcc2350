//! The command line of `kage-agent` (clap derive).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kage_config::Isolation;
use kage_domain::{Namespace, PriorityLevel, Tag};

#[derive(Parser, Debug)]
#[command(
    name = "kage-agent",
    version,
    about = "Run coding agents on leased subscriptions from the Kage pool",
    long_about = "Run coding agents on leased subscriptions from the Kage pool.\n\n\
Each agent gets the best subscription right now; when one hits its limit the agent \
is stopped at once and its conversation resumed on another subscription.\n\n\
Exit status: 0 every task succeeded, 1 a task failed, 2 usage error, \
75 no subscription became available, 78 config error, 130 interrupted."
)]
pub struct Cli {
    /// Read this config file instead of looking for one.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

const RUN_EXAMPLES: &str = "\
Examples:
  kage-agent run --task \"fix the flaky test in tests/api.rs\" --task \"update the changelog\"
  kage-agent run -j 8 --tasks tasks.jsonl --namespace backend --priority high
  kage-agent run --task \"review the diff\" -- my-agent --prompt {prompt}
  kage-agent run --tasks tasks.txt --json | jq -c 'select(.type == \"summary\")'

--json is a stream: JSON Lines, one event object per line as it happens.";

const DEMO_EXAMPLES: &str = "\
Examples:
  kage-agent demo
  kage-agent demo --keep
  kage-agent demo --json > demo.jsonl     # a stream: one JSON event per line";

const WORKTREES_EXAMPLES: &str = "\
Examples:
  kage-agent worktrees list
  kage-agent worktrees remove --merged";

const WORKTREES_LIST_EXAMPLES: &str = "\
Examples:
  kage-agent worktrees list
  kage-agent worktrees list --run RUN-ID --json | jq -r '.[].branch'
  kage-agent worktrees list --merged --cwd ~/src/app";

const WORKTREES_REMOVE_EXAMPLES: &str = "\
Examples:
  kage-agent worktrees remove --merged          # the branches you merged
  kage-agent worktrees remove --run RUN-ID      # one run's, merged or not
  kage-agent worktrees remove --all --json";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run tasks, each with an agent on a leased subscription.
    #[command(after_help = RUN_EXAMPLES)]
    Run(Box<RunArgs>),
    /// Show Kage at work on a throwaway pool: three fake subscriptions,
    /// a simulated agent, no credentials and no network.
    #[command(after_help = DEMO_EXAMPLES)]
    Demo(DemoArgs),
    /// List or remove the git worktrees and branches (kage/RUN-ID/TASK-ID)
    /// that `run` kept.
    #[command(after_help = WORKTREES_EXAMPLES)]
    Worktrees(WorktreesArgs),
    /// A simulated Claude Code (used by `demo` and the benchmark).
    #[command(hide = true)]
    SimulateClaude(SimulateArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// A task's prompt (repeat for more tasks).
    #[arg(long = "task", value_name = "TEXT", help_heading = "Tasks")]
    pub tasks: Vec<String>,

    /// A file of tasks: one prompt a line, or JSON Lines with
    /// id, prompt, namespace, priority, tags, model, cwd.
    #[arg(long = "tasks", value_name = "FILE", help_heading = "Tasks")]
    pub tasks_file: Option<PathBuf>,

    /// Working directory of every agent (default: the current one).
    #[arg(long, value_name = "DIR", help_heading = "Tasks")]
    pub cwd: Option<PathBuf>,

    /// Agents at once [default: config `agent.parallel`, 4].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u32).range(1..), allow_negative_numbers = true, help_heading = "Running")]
    pub parallel: Option<u32>,

    /// Namespace the tasks run under (routing rules pick subscriptions per namespace).
    #[arg(long, short = 'n', value_name = "NS", help_heading = "Routing")]
    pub namespace: Option<Namespace>,

    /// Priority level of the tasks: high, normal, low or batch.
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "normal",
        allow_negative_numbers = true,
        help_heading = "Routing"
    )]
    pub priority: PriorityLevel,

    /// Use only subscriptions carrying every one of these tags.
    #[arg(
        long,
        value_name = "TAG,…",
        value_delimiter = ',',
        help_heading = "Routing"
    )]
    pub tags: Vec<Tag>,

    /// The model the agents use (`claude-opus-4-5`, `opus`, `sonnet`):
    /// subscriptions at their limit for that model family are passed over.
    /// A `--model X` in the agent command itself wins. Kage does not add
    /// it to the agent command.
    #[arg(long, value_name = "MODEL", help_heading = "Routing")]
    pub model: Option<String>,

    /// Wait at most this long for a subscription when all are limited
    /// ("30s", "10m") [default: config `agent.max_wait`, 30m].
    #[arg(long, value_name = "DURATION", value_parser = kage_app::time::parse_wait, help_heading = "Running")]
    pub max_wait: Option<Duration>,

    /// Attempts per task, failovers included.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..), allow_negative_numbers = true, help_heading = "Running")]
    pub max_attempts: u32,

    /// Rate-limit retries an agent may make before it is stopped and moved
    /// [default: config `agent.max_api_retries`, 2].
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Running"
    )]
    pub max_api_retries: Option<u32>,

    /// Run each task in its own git worktree, on a new branch
    /// kage/RUN-ID/TASK-ID (the same as --isolation worktree).
    #[arg(long, conflicts_with = "isolation", help_heading = "Worktrees")]
    pub worktree: bool,

    /// worktree: each task in its own git worktree and branch, kept after
    /// the run when it changed something; none: every agent in the same
    /// folder [default: config `agent.isolation`, else worktree when the
    /// working directory is in a git repository and more than one agent
    /// runs at once, else none].
    #[arg(long, value_name = "MODE", value_parser = parse_isolation, help_heading = "Worktrees")]
    pub isolation: Option<Isolation>,

    /// The commit task worktrees start from [default: HEAD]; uncommitted
    /// changes of your tree are never carried over.
    #[arg(long, value_name = "REF", help_heading = "Worktrees")]
    pub base: Option<String>,

    /// Copy this untracked file or folder (such as .env) into every task's
    /// worktree; repeatable. Nothing else untracked is copied, and copies are
    /// never committed.
    #[arg(long = "copy", value_name = "PATH", help_heading = "Worktrees")]
    pub copy: Vec<PathBuf>,

    /// Keep each task's output here instead of a new folder under
    /// $XDG_STATE_HOME/kage/runs.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub run_dir: Option<PathBuf>,

    /// Stream events and the summary as JSON Lines on standard output (one
    /// JSON object per line, as they happen; not one document).
    #[arg(long, help_heading = "Output")]
    pub json: bool,

    /// Run even inside an agent that already holds a Kage lease.
    #[arg(long)]
    pub nested: bool,

    /// The agent command; `{prompt}` becomes the prompt (one argument, no
    /// shell) [default: config `agent.command`, Claude Code].
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct WorktreesArgs {
    #[command(subcommand)]
    pub command: WorktreesCommand,
}

#[derive(Subcommand, Debug)]
pub enum WorktreesCommand {
    /// The kage/… branches of this repository: run, task, commits not in
    /// HEAD, merged or not, and the worktree folder.
    #[command(after_help = WORKTREES_LIST_EXAMPLES)]
    List(WorktreesListArgs),
    /// Remove kage/… branches and their worktrees (also ones a crash left
    /// half-made); say which with --run, --merged or --all.
    #[command(after_help = WORKTREES_REMOVE_EXAMPLES)]
    Remove(WorktreesRemoveArgs),
}

/// Which kage/… branches.
#[derive(Args, Debug, Clone, Default)]
pub struct WorktreesFilter {
    /// Only the branches of this run (the RUN-ID in kage/RUN-ID/…).
    #[arg(long = "run", value_name = "ID")]
    pub run: Option<String>,

    /// Only the branches HEAD already contains.
    #[arg(long)]
    pub merged: bool,

    /// The repository (default: the one of the current folder).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct WorktreesListArgs {
    #[command(flatten)]
    pub filter: WorktreesFilter,

    /// Print one JSON array of the branches on standard output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct WorktreesRemoveArgs {
    #[command(flatten)]
    pub filter: WorktreesFilter,

    /// Every kage/… branch, merged or not.
    #[arg(long, conflicts_with_all = ["run", "merged"])]
    pub all: bool,

    /// Print one JSON array of the removed branches on standard output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Stream events and the summary as JSON Lines on standard output (one
    /// JSON object per line, as they happen; not one document).
    #[arg(long)]
    pub json: bool,

    /// Keep the demo's data folder (its database and run folder) and print
    /// where it is.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Claude Code's arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

fn parse_isolation(text: &str) -> Result<Isolation, String> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command with options of its own, and every group, shows an
    /// `Examples:` block in `--help` (as `kage`'s do).
    #[test]
    fn every_command_with_options_has_examples() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            let own_options = command.get_arguments().any(|arg| {
                !arg.is_global_set() && !matches!(arg.get_id().as_str(), "help" | "version")
            });
            let is_root = !path.trim().contains(' ');
            // clap's own `help` subcommand and its children.
            if command.get_name() == "help" {
                return;
            }
            if !is_root && !command.is_hide_set() && (own_options || command.has_subcommands()) {
                let help = command
                    .get_after_help()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                if !help.contains("Examples:") {
                    missing.push(path.trim().to_owned());
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let mut command = Cli::command();
        command.build();
        let mut missing = Vec::new();
        walk(&command, "", &mut missing);
        assert!(
            missing.is_empty(),
            "no Examples: block in --help of {missing:?}"
        );
    }

    #[test]
    fn run_takes_tasks_options_and_a_command_after_the_separator() {
        let cli = Cli::try_parse_from([
            "kage-agent",
            "run",
            "--task",
            "one",
            "--task",
            "two words",
            "-j",
            "3",
            "--namespace",
            "backend",
            "--priority",
            "high",
            "--tags",
            "api,fast",
            "--max-wait",
            "90s",
            "--",
            "my-agent",
            "--flag",
            "{prompt}",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run");
        };
        assert_eq!(args.tasks, ["one", "two words"]);
        assert_eq!(args.parallel, Some(3));
        assert_eq!(args.namespace.unwrap().as_str(), "backend");
        assert_eq!(args.priority, PriorityLevel::High);
        assert_eq!(args.tags.len(), 2);
        assert_eq!(args.max_wait, Some(Duration::from_secs(90)));
        assert_eq!(args.max_attempts, 5);
        assert_eq!(args.command, ["my-agent", "--flag", "{prompt}"]);
    }

    #[test]
    fn worktree_options_and_subcommands() {
        let cli = Cli::try_parse_from([
            "kage-agent",
            "run",
            "--task",
            "x",
            "--isolation",
            "none",
            "--base",
            "main",
            "--copy",
            ".env",
            "--copy",
            "config/local.toml",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run");
        };
        assert_eq!(args.isolation, Some(Isolation::None));
        assert!(!args.worktree);
        assert_eq!(args.base.as_deref(), Some("main"));
        assert_eq!(args.copy.len(), 2);
        let error = Cli::try_parse_from(["kage-agent", "run", "--worktree", "--isolation", "none"])
            .unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let error =
            Cli::try_parse_from(["kage-agent", "run", "--isolation", "branch"]).unwrap_err();
        assert!(error.to_string().contains("worktree"), "{error}");

        let cli =
            Cli::try_parse_from(["kage-agent", "worktrees", "remove", "--run", "r1"]).unwrap();
        let Command::Worktrees(WorktreesArgs {
            command: WorktreesCommand::Remove(remove),
        }) = cli.command
        else {
            panic!("not worktrees remove");
        };
        assert_eq!(remove.filter.run.as_deref(), Some("r1"));
        assert!(
            Cli::try_parse_from(["kage-agent", "worktrees", "remove", "--all", "--merged"])
                .is_err()
        );
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["kage-agent", "run", "--priority", "urgent"][..],
            &["kage-agent", "run", "--max-wait", "soon"],
            &["kage-agent", "run", "--namespace", "Bad Name"],
            &["kage-agent", "run", "--max-attempts", "0"],
            &["kage-agent", "run", "-j", "0"],
            &["kage-agent", "run", "--parallel", "-1"],
        ] {
            let error = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
        // A negative number is a bad value, not "unexpected argument '-1'".
        let error = Cli::try_parse_from(["kage-agent", "run", "--priority", "-1"]).unwrap_err();
        assert_eq!(
            error.kind(),
            clap::error::ErrorKind::ValueValidation,
            "{error}"
        );
    }

    #[test]
    fn simulate_takes_claude_arguments_verbatim() {
        let cli = Cli::try_parse_from([
            "kage-agent",
            "simulate-claude",
            "-p",
            "x",
            "--output-format",
            "stream-json",
            "--verbose",
        ])
        .unwrap();
        let Command::SimulateClaude(args) = cli.command else {
            panic!("not simulate");
        };
        assert_eq!(
            args.args,
            ["-p", "x", "--output-format", "stream-json", "--verbose"]
        );
    }
}
