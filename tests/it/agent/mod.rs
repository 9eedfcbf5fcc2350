//! End-to-end tests of `kage-agent` (issue 6): failover with resume,
//! waiting, Ctrl-C, SIGKILL, exit codes and the demo.

mod e2e;
mod harness;
mod spread;
