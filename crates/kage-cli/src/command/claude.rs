//! `kage claude [OPTIONS] [ARGS]…`: Claude Code on the pool, the short form
//! of `kage exec -- claude ARGS…` with Kage's status line and failover on
//! (see `crate::session`).

use std::ffi::OsString;

use clap::Args;

use crate::command::Context;
use crate::command::exec::LeaseOptions;

const EXAMPLES: &str = "\
Claude Code runs in this terminal with a leased subscription, Kage's status
line (`kage · work-premium · 5h 42% · 7d 18%`, in front of your own) and,
when the subscription hits a limit, the same conversation continued on the
next one (`claude --resume`, the interrupted prompt sent again).
Arguments after Kage's options go to claude; put `--` first when one of
them is also a Kage option (-v, -q, --config, --color).

Examples:
  kage claude
  kage claude --namespace backend --model opus
  kage claude --no-failover -- --verbose \"fix the failing test\"";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES, override_usage = "kage claude [OPTIONS] [-- ARGS...]")]
pub(crate) struct ClaudeArgs {
    #[command(flatten)]
    lease: LeaseOptions,

    /// Stay on the subscription when it hits a limit (the limit is still recorded)
    #[arg(long)]
    no_failover: bool,

    /// Arguments for claude
    #[arg(
        num_args = 0..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    arguments: Vec<OsString>,
}

impl ClaudeArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<u8> {
        let mut arguments = self.arguments;
        if arguments.first().is_some_and(|first| first == "--") {
            arguments.remove(0);
        }
        crate::session::run(
            context,
            &self.lease,
            OsString::from("claude"),
            arguments,
            !self.no_failover,
        )
        .await
    }
}
