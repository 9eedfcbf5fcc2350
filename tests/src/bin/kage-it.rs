//! `kage` built inside the tests package, so end-to-end tests find it through
//! `CARGO_BIN_EXE_kage-it` (a package's tests see only its own binaries). It
//! is the same program: `kage_cli::main`.

fn main() -> std::process::ExitCode {
    kage_cli::main()
}
