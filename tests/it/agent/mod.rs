//! End-to-end tests of `kage-agent` (issue 6): failover with resume,
//! waiting, Ctrl-C, SIGKILL, exit codes and the demo, with the simulated
//! Claude Code (`kage-agent simulate-claude`); `real_claude` runs the real one
//! against the API stand-in; `kage_claude` drives `kage claude`; `spread`
//! checks that parallel agents get different subscriptions; `worktree`: one
//! git worktree per task (issue 15).

mod e2e;
mod harness;
mod kage_claude;
mod real_claude;
mod spread;
mod worktree;
