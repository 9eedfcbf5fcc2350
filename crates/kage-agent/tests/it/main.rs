//! End-to-end tests of the `kage-agent` binary: failover with resume,
//! waiting, Ctrl-C, SIGKILL, exit codes and the demo, with the agents played
//! by the binary's own simulated Claude Code (`kage-agent simulate-claude`).

mod e2e;
mod harness;
