//! `kage-agent` built inside the tests package, so its end-to-end tests
//! find it through `CARGO_BIN_EXE_kage-agent-it` (a package's tests see only
//! its own binaries). It is the same program: `kage_agent::main`.

fn main() -> std::process::ExitCode {
    kage_agent::main()
}
