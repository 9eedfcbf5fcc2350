//! `cargo xtask man`: writes the `kage(1)` man page to `target/man/kage.1`.
//!
//! The page is generated from the CLI's own clap definition, so `kage` itself
//! renders it: kage-cli provides a hidden `kage generate-man --out-dir DIR`
//! subcommand (clap_mangen) that writes `DIR/kage.1`.

use anyhow::{Context, Result, bail};

use crate::shell;

pub(crate) fn run() -> Result<()> {
    let out_dir = shell::target_dir().join("man");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("could not create {}", out_dir.display()))?;
    let page = out_dir.join("kage.1");
    if page.exists() {
        std::fs::remove_file(&page)
            .with_context(|| format!("could not remove the old {}", page.display()))?;
    }

    shell::run(
        shell::cargo()
            .args(["run", "--quiet", "--package", "kage-cli", "--bin", "kage", "--", "generate-man", "--out-dir"])
            .arg(&out_dir),
    )
    .context("`kage generate-man` failed; kage-cli must provide a hidden `generate-man --out-dir DIR` subcommand that writes DIR/kage.1")?;

    if !page.is_file() {
        bail!(
            "`kage generate-man` succeeded but wrote no {}",
            page.display()
        );
    }
    eprintln!(
        "wrote {} (view it with `man {}`)",
        page.display(),
        page.display()
    );
    Ok(())
}
