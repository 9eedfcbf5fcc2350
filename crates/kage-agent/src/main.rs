//! The `kage-agent` binary; everything lives in the library (`kage_agent`).

fn main() -> std::process::ExitCode {
    kage_agent::main()
}
