//! The `kage` binary: everything lives in the `kage_cli` library.

fn main() -> std::process::ExitCode {
    kage_cli::main()
}
